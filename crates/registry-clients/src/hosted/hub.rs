//! Docker Hub's web API: every tag of a repository with its push
//! time and its index digest, which the OCI API does not give; and the pull-limit headers
//! of §3.3, parsed so the transport can slow down before the limit is spent.
//!
//! # What this module does not do
//! It does not use the registry API (`registry-1.docker.io`): manifests, digests and pulls
//! are the OCI client's, and the pull-limit headers arrive on its responses. It does not log
//! in, so it sees public repositories only. It does not sort tags.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap};
use serde::Deserialize;
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::clock::Clock;
use upkeep_versioning_core::reference::Digest;
use url::Url;

use super::{
    constant_url, endpoint, header_number, read_error_body, read_json, retry_after, status_kind,
    system_clock, wait_until_epoch,
};
use crate::TagMetadata;
use crate::error::{ErrorKind, RegistryError};

/// Docker Hub's web API.
pub const DEFAULT_BASE_URL: &str = "https://hub.docker.com";
/// Tags asked for per page: Hub's maximum; larger values are clamped (observed).
pub const PAGE_SIZE: u32 = 100;
/// A backstop against a `next` chain that never ends: 20,000 tags, far more than the largest
/// official repositories hold (python had 1,464 when last counted).
pub const MAX_PAGES: usize = 200;
/// The registry named in errors: Hub's canonical reference domain.
pub const REGISTRY: &str = "docker.io";
/// The namespace of official images in every Hub API.
pub const OFFICIAL_NAMESPACE: &str = "library";

/// Most recently updated tags first, the order Hub documents.
const ORDERING: &str = "last_updated";
/// Hub's API rate-limit reset header, in Unix seconds (observed).
const API_RATE_LIMIT_RESET: &str = "x-ratelimit-reset";

/// A client for Docker Hub's tag listing.
#[derive(Debug, Clone)]
pub struct HubClient {
    base_url: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl HubClient {
    /// A client for the Hub API at `base_url` (normally [`DEFAULT_BASE_URL`]).
    pub fn new(base_url: Url, http: reqwest::Client) -> Self {
        Self {
            base_url,
            http,
            clock: system_clock(),
        }
    }

    /// Reads the time from `clock` (for `Retry-After` dates and rate-limit resets) instead
    /// of the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A client for the real Docker Hub, at [`DEFAULT_BASE_URL`].
    pub fn docker_hub(http: reqwest::Client) -> Self {
        Self::new(constant_url(DEFAULT_BASE_URL), http)
    }

    /// Every tag of `repository` (`library/nginx`, or `nginx`, which means the same) with its
    /// push time and index digest, from every page, most recently updated first and without
    /// duplicates. Old tags may lack a time or a digest; those fields are then `None`.
    pub async fn tag_metadata(&self, repository: &str) -> Result<Vec<TagMetadata>, RegistryError> {
        let repository = hub_repository(repository);
        let error = |kind| RegistryError::new(REGISTRY, Some(&repository), kind);
        let mut segments = vec!["v2", "repositories"];
        segments.extend(repository.split('/'));
        segments.push("tags");
        let mut url = endpoint(&self.base_url, &segments).map_err(error)?;
        url.query_pairs_mut()
            .append_pair("page_size", &PAGE_SIZE.to_string())
            .append_pair("page", "1")
            .append_pair("ordering", ORDERING);

        let mut tags = Vec::new();
        let mut seen = BTreeSet::new();
        let mut visited = BTreeSet::new();
        for _ in 0..MAX_PAGES {
            if !visited.insert(url.to_string()) {
                return Err(error(ErrorKind::Malformed {
                    reason: format!("tag pages loop back to {url}"),
                }));
            }
            let page = self.page(&url).await.map_err(error)?;
            for tag in page.results.into_iter().flatten() {
                // Tags pushed while we page move to the front and repeat on a later page.
                if seen.insert(tag.name.clone()) {
                    tags.push(tag.into_metadata());
                }
            }
            match page.next.filter(|next| !next.is_empty()) {
                None => return Ok(tags),
                Some(next) => {
                    let next = url.join(&next).map_err(|parse| {
                        error(ErrorKind::Malformed {
                            reason: format!("'next' link '{next}' is not a URL: {parse}"),
                        })
                    })?;
                    if next.origin() != self.base_url.origin() {
                        return Err(error(ErrorKind::CrossOriginLink {
                            link: next.to_string(),
                            origin: self.base_url.origin().ascii_serialization(),
                        }));
                    }
                    url = next;
                }
            }
        }
        Err(error(ErrorKind::Malformed {
            reason: format!("tag list did not end after {MAX_PAGES} pages"),
        }))
    }

    async fn page(&self, url: &Url) -> Result<TagPage, ErrorKind> {
        let response = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(ErrorKind::Transport)?;
        let status = response.status();
        if status.is_success() {
            return read_json(response).await;
        }
        let now = self.clock.now();
        let wait = retry_after(response.headers(), now).or_else(|| {
            header_number(response.headers(), API_RATE_LIMIT_RESET)
                .map(|reset| wait_until_epoch(reset, now))
        });
        let body = read_error_body(response).await?;
        Err(status_kind(status, body, "repository", wait))
    }
}

/// The repository as Hub's APIs name it: official images (one path component) live under
/// `library/`.
pub fn hub_repository(repository: &str) -> String {
    if repository.contains('/') {
        repository.to_owned()
    } else {
        format!("{OFFICIAL_NAMESPACE}/{repository}")
    }
}

/// Docker Hub's pull limit as a manifest response reports it.
///
/// A response without these headers is not limited (a paid account or a sponsored image).
/// Only manifest GETs count as pulls; HEADs carry the headers but cost nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRateLimit {
    /// Pulls allowed per window (`ratelimit-limit`).
    pub limit: u32,
    /// Pulls left in the current window (`ratelimit-remaining`).
    pub remaining: u32,
    /// The window the numbers count over (the `;w=` parameter, in seconds), if given.
    pub window: Option<Duration>,
    /// Who the limit is counted for (`docker-ratelimit-source`): the client's IP address, or
    /// the account's id when authenticated.
    pub source: Option<String>,
}

impl HubRateLimit {
    /// Reads the pull-limit headers; `None` when the limit or the remaining count is absent
    /// or not a number.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let (limit, limit_window) =
            parse_limit_value(headers.get("ratelimit-limit")?.to_str().ok()?)?;
        let (remaining, remaining_window) =
            parse_limit_value(headers.get("ratelimit-remaining")?.to_str().ok()?)?;
        let source = headers
            .get("docker-ratelimit-source")
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty());
        Some(Self {
            limit,
            remaining,
            window: remaining_window.or(limit_window),
            source,
        })
    }

    /// True when `reserve` pulls or fewer are left: the moment to stop GETting manifests, as
    /// Hub asks: stop GETs before `ratelimit-remaining` reaches 0.
    pub fn is_nearly_spent(&self, reserve: u32) -> bool {
        self.remaining <= reserve
    }
}

/// Reads `100;w=21600` (also `100, 100;w=21600`, the IETF draft's form) into the count and
/// the window.
fn parse_limit_value(value: &str) -> Option<(u32, Option<Duration>)> {
    let mut parts = value.split([';', ',']);
    let count = parts.next()?.trim().parse().ok()?;
    let window = parts.find_map(|part| {
        let (key, seconds) = part.split_once('=')?;
        (key.trim() == "w").then_some(())?;
        seconds.trim().parse().ok().map(Duration::from_secs)
    });
    Some((count, window))
}

#[derive(Deserialize)]
struct TagPage {
    next: Option<String>,
    results: Option<Vec<HubTag>>,
}

/// One entry of `results`; every field but the name may be missing or null on old tags
///, so none of them fails the page.
#[derive(Deserialize)]
struct HubTag {
    name: String,
    digest: Option<String>,
    last_updated: Option<String>,
    tag_last_pushed: Option<String>,
}

impl HubTag {
    fn into_metadata(self) -> TagMetadata {
        // `tag_last_pushed` is the push; `last_updated` also moves on metadata edits.
        let pushed_at = [
            self.tag_last_pushed.as_deref(),
            self.last_updated.as_deref(),
        ]
        .into_iter()
        .flatten()
        .find_map(parse_rfc3339);
        let digest = self
            .digest
            .as_deref()
            .and_then(|text| match text.parse::<Digest>() {
                Ok(digest) => Some(digest),
                Err(error) => {
                    tracing::debug!(tag = %self.name, %error, "ignoring docker hub's digest");
                    None
                }
            });
        TagMetadata {
            tag: self.name,
            pushed_at,
            digest,
        }
    }
}

fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.to_utc())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use reqwest::header::HeaderValue;
    use serde_json::json;
    use upkeep_versioning_core::ManualClock;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    use super::*;

    const INDEX: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const OTHER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn client(server: &MockServer) -> HubClient {
        HubClient::new(Url::parse(&server.uri()).unwrap(), reqwest::Client::new())
    }

    fn time(text: &str) -> Option<Timestamp> {
        Some(chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc())
    }

    fn tag(name: &str, pushed_at: Option<Timestamp>, digest: Option<&str>) -> TagMetadata {
        TagMetadata {
            tag: name.to_owned(),
            pushed_at,
            digest: digest.map(|digest| digest.parse().unwrap()),
        }
    }

    #[test]
    fn official_images_live_under_library() {
        assert_eq!(hub_repository("nginx"), "library/nginx");
        assert_eq!(hub_repository("library/nginx"), "library/nginx");
        assert_eq!(hub_repository("grafana/grafana"), "grafana/grafana");
    }

    #[tokio::test]
    async fn follows_next_to_the_end() {
        let server = MockServer::start().await;
        let next = format!(
            "{}/v2/repositories/library/python/tags?page=2&page_size=100",
            server.uri()
        );
        Mock::given(method("GET"))
            .and(path("/v2/repositories/library/python/tags"))
            .and(query_param("page", "1"))
            .and(query_param("page_size", "100"))
            .and(query_param("ordering", "last_updated"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "count": 4, "previous": null, "next": next,
                "results": [
                    {"id": 136071364, "name": "3.12.1-slim", "digest": INDEX,
                     "last_updated": "2024-01-10T02:13:55.123456Z",
                     "tag_last_pushed": "2024-01-10T02:13:55Z",
                     "tag_last_pulled": "2024-05-01T00:00:00Z", "tag_status": "active",
                     "full_size": 45811744,
                     "media_type": "application/vnd.oci.image.index.v1+json",
                     "last_updater_username": "doijanky", "repository": 1234, "v2": true,
                     "images": [{"architecture": "amd64", "os": "linux", "variant": null,
                                 "digest": OTHER, "size": 45811744, "status": "active",
                                 "last_pulled": "2024-05-01T00:00:00Z",
                                 "last_pushed": "2024-01-10T02:13:55Z"}]},
                    {"name": "3.12", "digest": OTHER,
                     "last_updated": "2024-01-09T00:00:00Z", "tag_last_pushed": null}
                ]
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v2/repositories/library/python/tags"))
            .and(query_param("page", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "count": 4, "previous": "x", "next": null,
                "results": [
                    // Re-pushed while paging: already seen on page 1, not repeated.
                    {"name": "3.12", "digest": INDEX, "last_updated": "2024-01-11T00:00:00Z"},
                    {"name": "2.7", "digest": null, "last_updated": null,
                     "tag_last_pushed": null, "images": null},
                    {"name": "odd", "digest": "md5:not-a-digest!", "last_updated": "yesterday"}
                ]
            })))
            .expect(1)
            .mount(&server)
            .await;

        let tags = client(&server).tag_metadata("python").await.unwrap();
        assert_eq!(
            tags,
            vec![
                tag("3.12.1-slim", time("2024-01-10T02:13:55Z"), Some(INDEX)),
                tag("3.12", time("2024-01-09T00:00:00Z"), Some(OTHER)),
                tag("2.7", None, None),
                tag("odd", None, None),
            ]
        );
    }

    #[tokio::test]
    async fn unknown_repository_is_not_found() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v2/repositories/library/nope/tags"))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({
                "txnid": "REPOSREQ-8a33f2e3", "message": "object not found",
                "errinfo": {"api_call_name": "ListRepositoryTags"}
            })))
            .mount(&server)
            .await;
        let error = client(&server).tag_metadata("nope").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "repository not found, from docker.io for repository 'library/nope'"
        );
        assert!(matches!(
            error.kind(),
            ErrorKind::NotFound { code: None, .. }
        ));
    }

    #[tokio::test]
    async fn rate_limits_carry_the_wait() {
        let cases = [
            (
                ResponseTemplate::new(429).insert_header("retry-after", "30"),
                Some(30),
            ),
            (
                ResponseTemplate::new(429)
                    .insert_header("x-ratelimit-limit", "180")
                    .insert_header("x-ratelimit-remaining", "0")
                    .insert_header("x-ratelimit-reset", "1700000045"),
                Some(45),
            ),
            (
                ResponseTemplate::new(429).set_body_string("Too Many Requests"),
                None,
            ),
        ];
        for (response, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(response)
                .mount(&server)
                .await;
            let client = client(&server).with_clock(Arc::new(ManualClock::new(
                Timestamp::from_timestamp(1_700_000_000, 0).unwrap(),
            )));
            let error = client.tag_metadata("library/nginx").await.unwrap_err();
            match error.kind() {
                ErrorKind::RateLimited { retry_after } => {
                    assert_eq!(*retry_after, expected.map(Duration::from_secs));
                }
                other => panic!("expected a rate limit, got {other:?}"),
            }
            assert!(error.is_transient());
        }
    }

    #[tokio::test]
    async fn a_next_link_to_another_origin_is_not_followed() {
        let server = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        let next = format!(
            "{}/v2/repositories/library/nginx/tags?page=2",
            elsewhere.uri()
        );
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"next": next, "results": [{"name": "a"}]})),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
            .expect(0)
            .mount(&elsewhere)
            .await;
        let error = client(&server).tag_metadata("nginx").await.unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::CrossOriginLink { link, .. } if *link == next),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_next_link_back_to_a_seen_page_is_malformed() {
        let server = MockServer::start().await;
        let again = format!(
            "{}/v2/repositories/library/nginx/tags?page_size=100&page=1&ordering=last_updated",
            server.uri()
        );
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"next": again, "results": [{"name": "a"}]})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let error = client(&server).tag_metadata("nginx").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "malformed response: tag pages loop back to {again}, from docker.io for \
                 repository 'library/nginx'"
            )
        );
    }

    /// Answers every page with a link to the one after it; relative, because wiremock's
    /// request URL does not know its port.
    struct EndlessPages;

    impl Respond for EndlessPages {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let page: u32 = request
                .url
                .query_pairs()
                .find(|(key, _)| key == "page")
                .and_then(|(_, value)| value.parse().ok())
                .unwrap_or(1);
            let next = format!("{}?page={}", request.url.path(), page + 1);
            ResponseTemplate::new(200)
                .set_body_json(json!({"next": next, "results": [{"name": page.to_string()}]}))
        }
    }

    #[tokio::test]
    async fn paging_stops_at_the_cap() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(EndlessPages)
            .expect(MAX_PAGES as u64)
            .mount(&server)
            .await;
        let error = client(&server).tag_metadata("nginx").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed response: tag list did not end after 200 pages, from docker.io for \
             repository 'library/nginx'"
        );
    }

    #[tokio::test]
    async fn a_body_that_is_not_the_documented_json_is_malformed() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
            .mount(&server)
            .await;
        let error = client(&server).tag_metadata("nginx").await.unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::Malformed { reason } if reason.starts_with("response is not the JSON the API documents: ")),
            "{error:?}"
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn pull_limit_headers() {
        let six_hours = Some(Duration::from_secs(21_600));
        let cases = [
            (
                headers(&[
                    ("ratelimit-limit", "100;w=21600"),
                    ("ratelimit-remaining", "20;w=21600"),
                    ("docker-ratelimit-source", "192.0.2.1"),
                ]),
                Some(HubRateLimit {
                    limit: 100,
                    remaining: 20,
                    window: six_hours,
                    source: Some("192.0.2.1".to_owned()),
                }),
            ),
            (
                headers(&[
                    ("ratelimit-limit", "200, 200;w=21600"),
                    ("ratelimit-remaining", " 0 "),
                ]),
                Some(HubRateLimit {
                    limit: 200,
                    remaining: 0,
                    window: six_hours,
                    source: None,
                }),
            ),
            (
                headers(&[
                    ("ratelimit-limit", "100"),
                    ("ratelimit-remaining", "7; w = 3600"),
                ]),
                Some(HubRateLimit {
                    limit: 100,
                    remaining: 7,
                    window: Some(Duration::from_secs(3600)),
                    source: None,
                }),
            ),
            // No headers: the pull is not limited.
            (headers(&[]), None),
            (headers(&[("ratelimit-limit", "100;w=21600")]), None),
            (
                headers(&[("ratelimit-limit", "lots"), ("ratelimit-remaining", "1")]),
                None,
            ),
        ];
        for (headers, expected) in cases {
            assert_eq!(
                HubRateLimit::from_headers(&headers),
                expected,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn nearly_spent_at_the_reserve() {
        let limit = |remaining| HubRateLimit {
            limit: 100,
            remaining,
            window: None,
            source: None,
        };
        assert!(limit(0).is_nearly_spent(0));
        assert!(limit(5).is_nearly_spent(5));
        assert!(!limit(6).is_nearly_spent(5));
    }
}
