//! The bearer token of the routes that change something, and the layer that asks for it.

use std::fmt;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use http::header::AUTHORIZATION;
use sha2::Sha256;

use super::ApiState;
use super::error::ApiError;

/// The agent's API token: the secret that `Authorization: Bearer` must carry.
///
/// It has no `==`: the only comparison is the constant-time one of the routes. `Debug` does
/// not show it.
#[derive(Clone)]
pub struct ApiToken(Box<[u8]>);

impl ApiToken {
    /// The token, or `None` when it is empty (an empty token would accept `Bearer `).
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        (!token.is_empty()).then(|| Self(token.into_bytes().into_boxed_slice()))
    }

    /// True when `presented` is this token, in time that depends on neither.
    ///
    /// Both sides are MACed under one fixed key and the tags compared with `verify_slice`,
    /// which is constant time; comparing tags of equal length also hides the token's length.
    fn matches(&self, presented: &[u8]) -> bool {
        const KEY: &[u8] = b"upkeep api token comparison";
        let expected = mac(KEY, &self.0).finalize().into_bytes();
        mac(KEY, presented).verify_slice(&expected).is_ok()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// The layer of [`Access::BearerToken`](super::Access::BearerToken) routes: passes the request
/// on only with the configured token.
pub(super) async fn require_token(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    match check(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(error) => {
            // The path only: the query string is not the API's to log.
            tracing::warn!(
                method = %request.method(),
                path = request.uri().path(),
                status = error.status().as_u16(),
                "refused an API request without the right token"
            );
            error.into_response()
        }
    }
}

fn check(state: &ApiState, request: &Request) -> Result<(), ApiError> {
    let Some(token) = &state.settings.api_token else {
        return Err(ApiError::forbidden(
            "this route changes the agent's state and is disabled: set api_token_env in the \
             configuration to enable it, then send the token as `Authorization: Bearer <token>`",
        ));
    };
    let header = request.headers().get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            "missing `Authorization: Bearer <token>` header: send the token of the \
                 environment variable that api_token_env names",
        )
    })?;
    // The scheme is case-insensitive (RFC 9110); the token is taken as it is.
    let presented = header
        .as_bytes()
        .split_at_checked(7)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
        .map(|(_, presented)| presented)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "malformed `Authorization` header: expected `Bearer <token>`, with the token of \
                 the environment variable that api_token_env names",
            )
        })?;
    if token.matches(presented) {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "wrong bearer token: send the token of the environment variable that api_token_env \
             names",
        ))
    }
}

fn mac(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(message);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves() {
        let Some(token) = ApiToken::new("s3cret") else {
            panic!("a non-empty token is a token")
        };
        assert!(token.matches(b"s3cret"));
        for other in [&b""[..], b"s3cre", b"s3cret ", b"S3CRET", b"s3cret\n"] {
            assert!(!token.matches(other), "{other:?}");
        }
        assert!(ApiToken::new("").is_none());
        assert_eq!(format!("{token:?}"), "ApiToken(<redacted>)");
    }
}
