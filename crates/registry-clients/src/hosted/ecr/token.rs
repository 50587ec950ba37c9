//! The registry password `GetAuthorizationToken` returns, and the cache that keeps it until
//! shortly before it expires.
//!
//! It does not read the clock: callers pass `now`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::sync::Mutex;
use upkeep_versioning_core::Timestamp;

use super::{AwsCredentials, EcrClient};
use crate::error::RegistryError;

/// How long ECR's passwords last, for both flavours; the
/// answer's `expiresAt` is what counts.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// [`EcrTokenCache`] fetches a new password this long before the old one expires, so that
/// no request goes out with a password about to lapse.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Registry credentials from `GetAuthorizationToken`: send them as Basic credentials on every
/// registry request until `expires_at`.
#[derive(Clone, PartialEq, Eq)]
pub struct EcrCredentials {
    /// The user name, always `AWS`.
    pub user: String,
    /// The password (a signed token, valid 12 hours).
    pub password: String,
    /// When ECR stops accepting it.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for EcrCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcrCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl EcrCredentials {
    /// The `Authorization` header value for registry requests: `Basic base64(user:password)`,
    /// byte for byte the `authorizationToken` ECR sent.
    pub fn basic_authorization(&self) -> String {
        format!(
            "Basic {}",
            BASE64.encode(format!("{}:{}", self.user, self.password))
        )
    }

    /// True while the credentials are good for at least `margin` more at `now`.
    pub fn is_fresh(&self, now: Timestamp, margin: Duration) -> bool {
        let margin = chrono::TimeDelta::from_std(margin).unwrap_or(chrono::TimeDelta::MAX);
        now.checked_add_signed(margin)
            .is_some_and(|deadline| deadline < self.expires_at)
    }
}

/// Keeps one ECR password and fetches a new one [`REFRESH_MARGIN`] before it expires. One
/// fetch at a time: callers that arrive during a fetch wait for its result.
#[derive(Debug)]
pub struct EcrTokenCache {
    client: EcrClient,
    credentials: AwsCredentials,
    margin: Duration,
    current: Mutex<Option<EcrCredentials>>,
}

impl EcrTokenCache {
    /// A cache that fetches passwords with `client`, signing with `credentials`.
    pub fn new(client: EcrClient, credentials: AwsCredentials) -> Self {
        Self {
            client,
            credentials,
            margin: REFRESH_MARGIN,
            current: Mutex::new(None),
        }
    }

    /// Fetches a new password `margin` before the old one expires, instead of
    /// [`REFRESH_MARGIN`].
    #[must_use]
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The password to use at `now`: the cached one while it has more than the margin left,
    /// else a new one.
    pub async fn get(&self, now: Timestamp) -> Result<EcrCredentials, RegistryError> {
        let mut current = self.current.lock().await;
        if let Some(credentials) = current.as_ref()
            && credentials.is_fresh(now, self.margin)
        {
            return Ok(credentials.clone());
        }
        let fresh = self
            .client
            .authorization_token(&self.credentials, now)
            .await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets the cached password, for when the registry refused it before its time.
    pub async fn invalidate(&self) {
        *self.current.lock().await = None;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::fixtures::{example_credentials, private_answer, private_client, time};
    use super::*;

    #[tokio::test]
    async fn the_cache_refreshes_shortly_before_expiry() {
        let server = MockServer::start().await;
        // First answer: expires at 12:00; the second, fetched at 11:56, at 23:56.
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(private_answer(1_735_732_800.0)))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"authorizationData": [{
                    "authorizationToken": "QVdTOnNlY29uZA==", "expiresAt": 1_735_775_760.0
                }]})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let cache = EcrTokenCache::new(private_client(&server), example_credentials());

        let first = cache.get(time("2025-01-01T00:00:00Z")).await.unwrap();
        assert_eq!(first.password, "examplepassword");
        // Still more than five minutes left: no request.
        let cached = cache.get(time("2025-01-01T11:54:59Z")).await.unwrap();
        assert_eq!(cached, first);
        // Five minutes or less left: a new password.
        let second = cache.get(time("2025-01-01T11:56:00Z")).await.unwrap();
        assert_eq!(second.password, "second");
        assert_eq!(second.expires_at, time("2025-01-01T23:56:00Z"));
        let again = cache.get(time("2025-01-01T12:30:00Z")).await.unwrap();
        assert_eq!(again, second);
    }

    #[tokio::test]
    async fn invalidating_the_cache_fetches_again() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(private_answer(1_735_732_800.0)))
            .expect(2)
            .mount(&server)
            .await;
        let cache = EcrTokenCache::new(private_client(&server), example_credentials())
            .with_margin(Duration::ZERO);
        let now = time("2025-01-01T11:59:59Z");
        cache.get(now).await.unwrap();
        cache.get(now).await.unwrap();
        cache.invalidate().await;
        cache.get(now).await.unwrap();
        // At expiry itself the password is no longer fresh, even with no margin.
        let credentials = cache.get(now).await.unwrap();
        assert!(!credentials.is_fresh(time("2025-01-01T12:00:00Z"), Duration::ZERO));
    }
}
