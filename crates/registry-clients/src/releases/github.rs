//! GitHub releases as a [`ReleaseSource`]: every release of a repository (`owner/repo`) with
//! its tag, flags, publication time, notes and assets, paged by the `Link` header, with
//! GitHub's rate-limit headers read and honoured.
//!
//! # What this module does not do
//! It does not read GHCR package versions (GitHub's packages API) or git
//! tags that have no release. It does not pick a release: drafts and prereleases come back
//! flagged, in GitHub's order, for the version logic to choose from.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, USER_AGENT};
use reqwest::{Response, StatusCode};
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::clock::Clock;
use url::Url;

use super::{Release, ReleaseSource};
use crate::error::{ErrorKind, RegistryError};
use crate::hosted::{
    ErrorBody, constant_url, endpoint, header_number, read_error_body, read_json, retry_after,
    status_kind, system_clock, wait_until,
};

/// GitHub's REST API; GitHub Enterprise Server serves it at `https://<host>/api/v3`.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";
/// The media type GitHub recommends asking for.
pub const MEDIA_TYPE: &str = "application/vnd.github+json";
/// The REST API version this client is written against (`X-GitHub-Api-Version`).
pub const API_VERSION: &str = "2022-11-28";
/// Releases asked for per page: the API's maximum.
pub const PER_PAGE: u32 = 100;
/// A backstop against a `Link` chain that never ends: 10,000 releases.
pub const MAX_PAGES: usize = 100;
/// The name errors carry in the place of a registry.
pub const REGISTRY: &str = "github.com";

/// How long to wait after a secondary rate limit that gives no `retry-after`: GitHub's
/// guidance is "at least one minute".
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// GitHub refuses requests without a `User-Agent`; a bare `reqwest::Client` sends none.
const USER_AGENT_VALUE: &str = concat!("upkeep/", env!("CARGO_PKG_VERSION"));

/// A client for GitHub's releases API.
pub struct GitHubClient {
    base_url: Url,
    http: reqwest::Client,
    token: Option<String>,
    /// The rate limit the last answer reported, to stop before GitHub refuses.
    rate_limit: Mutex<Option<GitHubRateLimit>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for GitHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubClient")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("rate_limit", &self.rate_limit())
            .finish_non_exhaustive()
    }
}

/// GitHub's primary rate limit as a response reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubRateLimit {
    /// Requests allowed per hour (`x-ratelimit-limit`), if given.
    pub limit: Option<u64>,
    /// Requests left in the current window (`x-ratelimit-remaining`).
    pub remaining: u64,
    /// When the window resets (`x-ratelimit-reset`, Unix seconds), if given.
    pub reset_at: Option<Timestamp>,
}

impl GitHubRateLimit {
    /// Reads the rate-limit headers; `None` without a numeric `x-ratelimit-remaining`.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Some(Self {
            limit: header_number(headers, "x-ratelimit-limit"),
            remaining: header_number(headers, "x-ratelimit-remaining")?,
            reset_at: header_number(headers, "x-ratelimit-reset")
                .and_then(|seconds| i64::try_from(seconds).ok())
                .and_then(|seconds| Timestamp::from_timestamp(seconds, 0)),
        })
    }

    /// How long until the window resets, as seen at `now`; `None` when the reset is unknown.
    pub fn wait_for_reset(&self, now: Timestamp) -> Option<Duration> {
        Some(wait_until(self.reset_at?, now))
    }
}

impl GitHubClient {
    /// A client for the API at `base_url` (normally [`DEFAULT_BASE_URL`]), anonymous until
    /// [`with_token`](Self::with_token).
    pub fn new(base_url: Url, http: reqwest::Client) -> Self {
        Self {
            base_url,
            http,
            token: None,
            rate_limit: Mutex::new(None),
            clock: system_clock(),
        }
    }

    /// A client for github.com, at [`DEFAULT_BASE_URL`].
    pub fn github_com(http: reqwest::Client) -> Self {
        Self::new(constant_url(DEFAULT_BASE_URL), http)
    }

    /// Sends `token` as `Authorization: Bearer`: anonymous callers get 60 requests an hour,
    /// token holders 5,000. The token goes to the base URL's origin only.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Reads the time from `clock` (for `Retry-After` dates and rate-limit resets) instead
    /// of the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The rate limit the last response reported, if it carried one.
    pub fn rate_limit(&self) -> Option<GitHubRateLimit> {
        self.rate_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One page and the link to the next.
    async fn page(&self, url: &Url) -> Result<(Vec<Release>, Option<Url>), ErrorKind> {
        let now = self.clock.now();
        // Asking again while the limit is spent only counts against the integration.
        if let Some(limit) = self.rate_limit()
            && limit.remaining == 0
            && let Some(wait) = limit.wait_for_reset(now)
            && !wait.is_zero()
        {
            return Err(ErrorKind::RateLimited {
                retry_after: Some(wait),
            });
        }
        let mut request = self
            .http
            .get(url.clone())
            .header(ACCEPT, MEDIA_TYPE)
            .header("x-github-api-version", API_VERSION)
            .header(USER_AGENT, USER_AGENT_VALUE);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request.send().await.map_err(ErrorKind::Transport)?;
        let limit = GitHubRateLimit::from_headers(response.headers());
        if limit.is_some() {
            *self
                .rate_limit
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = limit.clone();
        }
        if !response.status().is_success() {
            return Err(error_kind(response, limit, now).await);
        }
        let next = crate::oci::next_link(response.headers(), url);
        let releases = read_json(response).await?;
        Ok((releases, next))
    }
}

#[async_trait]
impl ReleaseSource for GitHubClient {
    /// Every release of `project`, `owner/repo`, from every page, in GitHub's order (newest
    /// first).
    async fn releases(&self, project: &str) -> Result<Vec<Release>, RegistryError> {
        let error = |kind| RegistryError::new(REGISTRY, Some(project), kind);
        let (owner, repo) = owner_and_repo(project).ok_or_else(|| {
            error(ErrorKind::InvalidProject {
                project: project.to_owned(),
                expected: "'owner/repo'",
            })
        })?;
        let mut url =
            endpoint(&self.base_url, &["repos", owner, repo, "releases"]).map_err(error)?;
        url.query_pairs_mut()
            .append_pair("per_page", &PER_PAGE.to_string());

        let mut releases = Vec::new();
        for _ in 0..MAX_PAGES {
            let (page, next) = self.page(&url).await.map_err(error)?;
            releases.extend(page);
            match next {
                None => return Ok(releases),
                Some(next) if next.origin() != self.base_url.origin() => {
                    // The requests carry the GitHub token.
                    return Err(error(ErrorKind::CrossOriginLink {
                        link: next.to_string(),
                        origin: self.base_url.origin().ascii_serialization(),
                    }));
                }
                Some(next) => url = next,
            }
        }
        Err(error(ErrorKind::Malformed {
            reason: format!("release list did not end after {MAX_PAGES} pages"),
        }))
    }
}

/// `owner/repo` taken apart; `None` for anything else. GitHub's names have no `/` and no
/// blanks, so a name with them can only be a mistake, and would change the path asked for.
fn owner_and_repo(project: &str) -> Option<(&str, &str)> {
    let (owner, repo) = project.split_once('/')?;
    let valid = |name: &str| {
        !matches!(name, "" | "." | "..")
            && !name.contains(['/', '\\'])
            && !name.chars().any(char::is_whitespace)
    };
    (valid(owner) && valid(repo)).then_some((owner, repo))
}

/// Maps an unsuccessful answer, telling rate limits apart from refusals: GitHub answers both
/// with 403 or 429. A rate limit has `retry-after`, or `x-ratelimit-remaining: 0`, or (a
/// secondary limit) a message saying so.
async fn error_kind(
    response: Response,
    limit: Option<GitHubRateLimit>,
    now: Timestamp,
) -> ErrorKind {
    let status = response.status();
    let wait = retry_after(response.headers(), now);
    let body = match read_error_body(response).await {
        Ok(body) => body,
        Err(kind) => return kind,
    };
    if matches!(
        status,
        StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    ) {
        if let Some(wait) = wait {
            return ErrorKind::RateLimited {
                retry_after: Some(wait),
            };
        }
        if let Some(limit) = limit.filter(|limit| limit.remaining == 0) {
            return ErrorKind::RateLimited {
                retry_after: limit.wait_for_reset(now),
            };
        }
        if mentions_rate_limit(&body) {
            return ErrorKind::RateLimited {
                retry_after: Some(SECONDARY_LIMIT_WAIT),
            };
        }
    }
    status_kind(status, body, "repository", wait)
}

fn mentions_rate_limit(body: &ErrorBody) -> bool {
    body.message.to_ascii_lowercase().contains("rate limit")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use upkeep_versioning_core::{ManualClock, TimeDelta};
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::ReleaseAsset;
    use super::*;

    /// 2023-11-14T22:13:20Z.
    fn now() -> Timestamp {
        Timestamp::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn client(server: &MockServer) -> GitHubClient {
        client_at(server, Arc::new(ManualClock::new(now())))
    }

    fn client_at(server: &MockServer, clock: Arc<ManualClock>) -> GitHubClient {
        GitHubClient::new(Url::parse(&server.uri()).unwrap(), reqwest::Client::new())
            .with_clock(clock)
    }

    fn time(text: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// A release as the API documents it, with the fields this client ignores.
    fn release_json(id: u32, tag: &str, prerelease: bool) -> serde_json::Value {
        json!({
            "url": format!("https://api.github.com/repos/octocat/Hello-World/releases/{id}"),
            "html_url": format!("https://github.com/octocat/Hello-World/releases/{tag}"),
            "assets_url": format!("https://api.github.com/repos/octocat/Hello-World/releases/{id}/assets"),
            "upload_url": "https://uploads.github.com/repos/octocat/Hello-World/releases/1/assets{?name,label}",
            "tarball_url": format!("https://api.github.com/repos/octocat/Hello-World/tarball/{tag}"),
            "zipball_url": format!("https://api.github.com/repos/octocat/Hello-World/zipball/{tag}"),
            "id": id, "node_id": "MDc6UmVsZWFzZTE=", "tag_name": tag, "target_commitish": "master",
            "name": tag, "body": "Description of the release", "draft": false,
            "prerelease": prerelease, "created_at": "2013-02-27T19:35:32Z",
            "published_at": "2013-02-27T19:35:32Z",
            "author": {"login": "octocat", "id": 1, "type": "User", "site_admin": false},
            "assets": [{
                "url": "https://api.github.com/repos/octocat/Hello-World/releases/assets/1",
                "browser_download_url": format!("https://github.com/octocat/Hello-World/releases/download/{tag}/example.zip"),
                "id": 1, "node_id": "MDEyOlJlbGVhc2VBc3NldDE=", "name": "example.zip",
                "label": "short description", "state": "uploaded", "content_type": "application/zip",
                "size": 1024, "download_count": 42, "created_at": "2013-02-27T19:35:32Z",
                "updated_at": "2013-02-27T19:35:32Z", "uploader": null
            }]
        })
    }

    fn release(tag: &str, prerelease: bool) -> Release {
        Release {
            tag_name: tag.to_owned(),
            name: Some(tag.to_owned()),
            draft: false,
            prerelease,
            published_at: Some(time("2013-02-27T19:35:32Z")),
            body: Some("Description of the release".to_owned()),
            html_url: format!("https://github.com/octocat/Hello-World/releases/{tag}"),
            assets: vec![ReleaseAsset {
                name: "example.zip".to_owned(),
                size: 1024,
                browser_download_url: format!(
                    "https://github.com/octocat/Hello-World/releases/download/{tag}/example.zip"
                ),
                content_type: "application/zip".to_owned(),
            }],
        }
    }

    #[tokio::test]
    async fn follows_link_to_the_end() {
        let server = MockServer::start().await;
        let uri = server.uri();
        let page_two = format!("{uri}/repositories/1296269/releases?per_page=100&page=2");
        Mock::given(method("GET"))
            .and(path("/repos/octocat/Hello-World/releases"))
            .and(query_param("per_page", "100"))
            .and(header("accept", MEDIA_TYPE))
            .and(header("x-github-api-version", API_VERSION))
            .and(header("authorization", "Bearer ghp_secret"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header(
                        "link",
                        format!("<{page_two}>; rel=\"next\", <{page_two}>; rel=\"last\"").as_str(),
                    )
                    .insert_header("x-ratelimit-limit", "5000")
                    .insert_header("x-ratelimit-remaining", "4999")
                    .insert_header("x-ratelimit-reset", "1700003600")
                    .set_body_json(json!([
                        release_json(2, "v1.1.0-rc.1", true),
                        release_json(1, "v1.0.0", false)
                    ])),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/repositories/1296269/releases"))
            .and(query_param("page", "2"))
            .and(header("authorization", "Bearer ghp_secret"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header(
                        "link",
                        format!("<{uri}/repositories/1296269/releases?per_page=100&page=1>; rel=\"prev\"").as_str(),
                    )
                    .insert_header("x-ratelimit-limit", "5000")
                    .insert_header("x-ratelimit-remaining", "4998")
                    .insert_header("x-ratelimit-reset", "1700003600")
                    .set_body_json(json!([
                        release_json(0, "v0.9.0", false),
                        {"tag_name": "v0.1.0", "name": null, "draft": true, "prerelease": false,
                         "published_at": null, "body": null,
                         "html_url": "https://github.com/octocat/Hello-World/releases/tag/untagged-1",
                         "assets": []}
                    ])),
            )
            .expect(1)
            .mount(&server)
            .await;

        let client = client(&server).with_token("ghp_secret");
        let releases = client.releases("octocat/Hello-World").await.unwrap();
        assert_eq!(
            releases,
            vec![
                release("v1.1.0-rc.1", true),
                release("v1.0.0", false),
                release("v0.9.0", false),
                Release {
                    tag_name: "v0.1.0".to_owned(),
                    name: None,
                    draft: true,
                    prerelease: false,
                    published_at: None,
                    body: None,
                    html_url: "https://github.com/octocat/Hello-World/releases/tag/untagged-1"
                        .to_owned(),
                    assets: vec![],
                },
            ]
        );
        assert_eq!(
            client.rate_limit(),
            Some(GitHubRateLimit {
                limit: Some(5000),
                remaining: 4998,
                reset_at: Some(time("2023-11-14T23:13:20Z")),
            })
        );
        assert!(!format!("{client:?}").contains("ghp_secret"));
    }

    #[tokio::test]
    async fn anonymous_requests_send_no_authorization() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .expect(1)
            .mount(&server)
            .await;
        // Through the trait object a component updater will hold.
        let source: Box<dyn ReleaseSource> = Box::new(client(&server));
        assert_eq!(source.releases("o/r").await.unwrap(), vec![]);
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests[0].headers.get("authorization"), None);
        assert_eq!(
            requests[0].headers.get("user-agent").unwrap(),
            USER_AGENT_VALUE
        );
    }

    #[tokio::test]
    async fn refusals_and_rate_limits() {
        let primary = json!({
            "message": "API rate limit exceeded for 192.0.2.1. (But here's the good news: \
                        Authenticated requests get a higher rate limit. Check out the \
                        documentation for more details.)",
            "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
        });
        let cases = [
            // Primary limit: remaining 0, wait until the reset.
            (
                ResponseTemplate::new(403)
                    .insert_header("x-ratelimit-limit", "60")
                    .insert_header("x-ratelimit-remaining", "0")
                    .insert_header("x-ratelimit-reset", "1700000900")
                    .set_body_json(primary),
                "rate limited; retry after 900 s, from github.com for repository 'o/r'",
            ),
            // Secondary limit with retry-after.
            (
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "120")
                    .insert_header("x-ratelimit-remaining", "4000")
                    .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
                "rate limited; retry after 120 s, from github.com for repository 'o/r'",
            ),
            // Secondary limit without retry-after: at least a minute.
            (
                ResponseTemplate::new(403)
                    .insert_header("x-ratelimit-remaining", "4000")
                    .set_body_json(json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."})),
                "rate limited; retry after 60 s, from github.com for repository 'o/r'",
            ),
            (
                ResponseTemplate::new(403)
                    .insert_header("x-ratelimit-remaining", "4000")
                    .set_body_json(json!({"message": "Resource not accessible by personal access token"})),
                "access denied: Resource not accessible by personal access token, from github.com \
                 for repository 'o/r'",
            ),
            (
                ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/rest", "status": "401"})),
                "authentication failed: Bad credentials, from github.com for repository 'o/r'",
            ),
            (
                ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found",
                    "documentation_url": "https://docs.github.com/rest/releases/releases#list-releases",
                    "status": "404"})),
                "repository not found, from github.com for repository 'o/r'",
            ),
        ];
        for (response, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(response)
                .mount(&server)
                .await;
            let error = client(&server).releases("o/r").await.unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
    }

    #[tokio::test]
    async fn a_spent_limit_stops_the_next_request_until_reset() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-ratelimit-remaining", "0")
                    .insert_header("x-ratelimit-reset", "1700000030")
                    .set_body_json(json!([])),
            )
            .expect(1)
            .mount(&server)
            .await;
        let clock = Arc::new(ManualClock::new(now()));
        let client = client_at(&server, clock.clone());
        client.releases("o/r").await.unwrap();
        let error = client.releases("o/r").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "rate limited; retry after 30 s, from github.com for repository 'o/r'"
        );
        // Once the window has reset, requests go out again.
        clock.advance(TimeDelta::seconds(31));
        server.verify().await;
        server.reset().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(client.releases("o/r").await.unwrap(), vec![]);
    }

    #[tokio::test]
    async fn the_token_never_follows_a_link_to_another_origin() {
        let server = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header(
                        "link",
                        format!("<{}/steal?page=2>; rel=\"next\"", elsewhere.uri()).as_str(),
                    )
                    .set_body_json(json!([])),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .expect(0)
            .mount(&elsewhere)
            .await;
        let error = client(&server)
            .with_token("ghp_secret")
            .releases("o/r")
            .await
            .unwrap_err();
        assert!(
            matches!(
                error.kind(),
                ErrorKind::CrossOriginLink { link, origin }
                    if link.starts_with(&elsewhere.uri()) && *origin == server.uri()
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn projects_must_be_owner_slash_repo() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .expect(0)
            .mount(&server)
            .await;
        let client = client(&server);
        for project in [
            "",
            "octocat",
            "/r",
            "o/",
            "o/r/releases",
            "o/..",
            "o /r",
            "o\\r/x",
        ] {
            let error = client.releases(project).await.unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "'{project}' is not a project name this source reads; expected 'owner/repo', \
                     from github.com for repository '{project}'"
                ),
            );
        }
    }

    #[test]
    fn the_default_base_url_parses() {
        assert_eq!(
            constant_url(DEFAULT_BASE_URL)
                .as_str()
                .trim_end_matches('/'),
            DEFAULT_BASE_URL
        );
    }

    #[test]
    fn rate_limit_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(GitHubRateLimit::from_headers(&headers), None);
        headers.insert("x-ratelimit-remaining", "12".parse().unwrap());
        assert_eq!(
            GitHubRateLimit::from_headers(&headers),
            Some(GitHubRateLimit {
                limit: None,
                remaining: 12,
                reset_at: None
            })
        );
        headers.insert("x-ratelimit-reset", "1700000060".parse().unwrap());
        let limit = GitHubRateLimit::from_headers(&headers).unwrap();
        assert_eq!(limit.wait_for_reset(now()), Some(Duration::from_secs(60)));
        assert_eq!(
            limit.wait_for_reset(now() + TimeDelta::seconds(120)),
            Some(Duration::ZERO)
        );
    }
}
