//! Quay's API v1 tag listing: the live tags of a repository with
//! their push times and manifest digests, paged by `page` and `has_additional`. Renovate
//! prefers it to Quay's `tags/list`, whose pages are capped at 100 and carry opaque cursors.
//!
//! # What this module does not do
//! It does not use the registry API (`quay.io/v2/`), and it does not fall back to it when v1
//! refuses a private repository without an API token: the `Registry` impl decides that. It
//! returns no tag history (moved or deleted tags), and it does not sort tags.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde::Deserialize;
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::clock::Clock;
use upkeep_versioning_core::reference::Digest;
use url::Url;

use super::{
    constant_url, endpoint, read_error_body, read_json, retry_after, status_kind, system_clock,
};
use crate::TagMetadata;
use crate::error::{ErrorKind, RegistryError};

/// Quay.io; Red Hat Quay installations serve the same API at their own host.
pub const DEFAULT_BASE_URL: &str = "https://quay.io";
/// Tags asked for per page: the API's maximum.
pub const PAGE_SIZE: u32 = 100;
/// A backstop against `has_additional` never turning false: 100,000 live tags.
pub const MAX_PAGES: u32 = 1000;
/// The registry named in errors for quay.io.
pub const REGISTRY: &str = "quay.io";

/// A client for Quay's v1 tag listing.
#[derive(Clone)]
pub struct QuayClient {
    base_url: Url,
    registry: String,
    http: reqwest::Client,
    token: Option<String>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for QuayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuayClient")
            .field("base_url", &self.base_url)
            .field("registry", &self.registry)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl QuayClient {
    /// A client for the Quay API at `base_url`, naming `registry` (the host in image
    /// references, such as `quay.io`) in its errors.
    pub fn new(base_url: Url, registry: &str, http: reqwest::Client) -> Self {
        Self {
            base_url,
            registry: registry.to_owned(),
            http,
            token: None,
            clock: system_clock(),
        }
    }

    /// Reads the time from `clock` (for `Retry-After` dates) instead of the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A client for quay.io, at [`DEFAULT_BASE_URL`].
    pub fn quay_io(http: reqwest::Client) -> Self {
        Self::new(constant_url(DEFAULT_BASE_URL), REGISTRY, http)
    }

    /// Sends `token` (a Quay OAuth application token) as `Authorization: Bearer`; only
    /// private repositories need one. A robot account's password
    /// is for the registry API, not this one.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The live tags of `repository` (`namespace/name`) with their push times and manifest
    /// digests, from every page, in Quay's order (newest first), each name once.
    pub async fn tag_metadata(&self, repository: &str) -> Result<Vec<TagMetadata>, RegistryError> {
        let error = |kind| RegistryError::new(&self.registry, Some(repository), kind);
        let mut segments = vec!["api", "v1", "repository"];
        segments.extend(repository.split('/'));
        // The route ends in `tag/`; the empty segment keeps its slash.
        segments.extend(["tag", ""]);
        let base = endpoint(&self.base_url, &segments).map_err(error)?;

        let mut tags = Vec::new();
        let mut seen = BTreeSet::new();
        for page_number in 1..=MAX_PAGES {
            let mut url = base.clone();
            url.query_pairs_mut()
                // Without it the API also returns the history of moved and deleted tags.
                .append_pair("onlyActiveTags", "true")
                .append_pair("limit", &PAGE_SIZE.to_string())
                .append_pair("page", &page_number.to_string());
            let page = self.page(url).await.map_err(error)?;
            for tag in page.tags {
                if seen.insert(tag.name.clone()) {
                    tags.push(tag.into_metadata());
                }
            }
            if !page.has_additional {
                return Ok(tags);
            }
        }
        Err(error(ErrorKind::Malformed {
            reason: format!("tag list did not end after {MAX_PAGES} pages"),
        }))
    }

    async fn page(&self, url: Url) -> Result<TagPage, ErrorKind> {
        let mut request = self.http.get(url).header(ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request.send().await.map_err(ErrorKind::Transport)?;
        let status = response.status();
        if status.is_success() {
            return read_json(response).await;
        }
        let wait = retry_after(response.headers(), self.clock.now());
        let body = read_error_body(response).await?;
        Err(status_kind(status, body, "repository", wait))
    }
}

#[derive(Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Vec<QuayTag>,
    #[serde(default)]
    has_additional: bool,
}

#[derive(Deserialize)]
struct QuayTag {
    name: String,
    start_ts: Option<i64>,
    manifest_digest: Option<String>,
    last_modified: Option<String>,
}

impl QuayTag {
    fn into_metadata(self) -> TagMetadata {
        // `start_ts` is when the tag got its manifest; `last_modified` is the same instant
        // as text, used only when the number is missing.
        let pushed_at = self
            .start_ts
            .and_then(|seconds| Timestamp::from_timestamp(seconds, 0))
            .or_else(|| self.last_modified.as_deref().and_then(parse_quay_date));
        let digest = self.manifest_digest.as_deref().and_then(|text| {
            match text.parse::<Digest>() {
                Ok(digest) => Some(digest),
                Err(error) => {
                    tracing::debug!(tag = %self.name, %error, "ignoring quay's manifest digest");
                    None
                }
            }
        });
        TagMetadata {
            tag: self.name,
            pushed_at,
            digest,
        }
    }
}

/// Reads Quay's `Tue, 25 Feb 2025 15:12:53 -0000` (RFC 2822; `-0000` is UTC here).
fn parse_quay_date(text: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|time| time.to_utc())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const D083: &str = "sha256:d083d083d083d083d083d083d083d083d083d083d083d083d083d083d083d083";
    const AAAA: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn client(server: &MockServer) -> QuayClient {
        QuayClient::new(
            Url::parse(&server.uri()).unwrap(),
            REGISTRY,
            reqwest::Client::new(),
        )
    }

    fn at(seconds: i64) -> Option<Timestamp> {
        Timestamp::from_timestamp(seconds, 0)
    }

    #[test]
    fn quay_dates() {
        assert_eq!(
            parse_quay_date("Tue, 25 Feb 2025 15:12:53 -0000"),
            at(1_740_496_373)
        );
        assert_eq!(
            parse_quay_date("Tue, 25 Feb 2025 16:12:53 +0100"),
            at(1_740_496_373)
        );
        assert_eq!(parse_quay_date("2025-02-25"), None);
    }

    #[tokio::test]
    async fn pages_while_has_additional() {
        let server = MockServer::start().await;
        let tags_path = "/api/v1/repository/coreos/etcd/tag/";
        Mock::given(method("GET"))
            .and(path(tags_path))
            .and(query_param("onlyActiveTags", "true"))
            .and(query_param("limit", "100"))
            .and(query_param("page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "tags": [
                    {"name": "test", "reversion": false, "start_ts": 1740496373,
                     "manifest_digest": D083, "is_manifest_list": false, "size": 2280303,
                     "last_modified": "Tue, 25 Feb 2025 15:12:53 -0000"},
                    {"name": "v3.5", "reversion": false,
                     "manifest_digest": AAAA, "is_manifest_list": true, "size": null,
                     "last_modified": "Mon, 24 Feb 2025 10:00:00 -0000"}
                ],
                "page": 1, "has_additional": true
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(tags_path))
            .and(query_param("onlyActiveTags", "true"))
            .and(query_param("page", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "tags": [
                    // A name seen on page 1 (a tag moved while paging) is not repeated.
                    {"name": "test", "reversion": false, "start_ts": 1740495442,
                     "end_ts": 1740496373, "manifest_digest": D083},
                    {"name": "old", "manifest_digest": "not a digest"}
                ],
                "page": 2, "has_additional": false
            })))
            .expect(1)
            .mount(&server)
            .await;

        let tags = client(&server).tag_metadata("coreos/etcd").await.unwrap();
        assert_eq!(
            tags,
            vec![
                TagMetadata {
                    tag: "test".to_owned(),
                    pushed_at: at(1_740_496_373),
                    digest: Some(D083.parse().unwrap()),
                },
                TagMetadata {
                    tag: "v3.5".to_owned(),
                    pushed_at: at(1_740_391_200),
                    digest: Some(AAAA.parse().unwrap()),
                },
                TagMetadata {
                    tag: "old".to_owned(),
                    pushed_at: None,
                    digest: None,
                },
            ]
        );
    }

    #[tokio::test]
    async fn sends_the_token_when_given() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(header("authorization", "Bearer oauth-app-token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"tags": [], "page": 1, "has_additional": false})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let client = client(&server).with_token("oauth-app-token");
        assert!(!format!("{client:?}").contains("oauth-app-token"));
        assert_eq!(client.tag_metadata("org/private").await.unwrap(), vec![]);
    }

    #[tokio::test]
    async fn errors_keep_quays_message() {
        let cases = [
            (
                401,
                json!({"detail": "Requires authentication", "error_message": "Requires authentication",
                       "error_type": "invalid_token", "title": "invalid_token",
                       "type": "https://quay.io/api/v1/error/invalid_token", "status": 401}),
                "authentication failed (invalid_token): Requires authentication, from quay.io for \
                 repository 'org/private'",
            ),
            (
                403,
                json!({"detail": "Unauthorized", "error_type": "insufficient_scope", "status": 403}),
                "access denied: Unauthorized, from quay.io for repository 'org/private'",
            ),
            (
                404,
                json!({"detail": "Not Found", "error_type": "not_found", "status": 404}),
                "repository not found (not_found), from quay.io for repository 'org/private'",
            ),
        ];
        for (status, body, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(status).set_body_json(body))
                .mount(&server)
                .await;
            let error = client(&server)
                .tag_metadata("org/private")
                .await
                .unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
    }

    #[tokio::test]
    async fn paging_stops_at_the_cap() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"tags": [], "has_additional": true})),
            )
            .expect(u64::from(MAX_PAGES))
            .mount(&server)
            .await;
        let error = client(&server).tag_metadata("a/b").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed response: tag list did not end after 1000 pages, from quay.io for \
             repository 'a/b'"
        );
    }
}
