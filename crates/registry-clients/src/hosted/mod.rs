//! The hosted registries' own HTTP APIs, beside their OCI Distribution API: Docker Hub's tag
//! metadata and pull-limit headers ([`hub`]), Quay's v1 tag listing ([`quay`]), Amazon ECR's
//! authorization tokens with their AWS Signature Version 4 ([`ecr`]). GitHub releases, a
//! version source for components that are not images, are in [`crate::releases`] and use the
//! helpers here.
//!
//! Each client takes its base URL (the real one is a named constant in its module) and a `reqwest::Client`, pages to the end with a page cap, follows a
//! next-page link only on its base URL's scheme, host and port, reads listing pages under
//! 16 MiB and tokens and error bodies under 64 KiB, and maps the service's error bodies to
//! [`ErrorKind`]s.
//!
//! # What this module does not do
//! It does not implement [`Registry`](crate::Registry): the OCI client and the `Registry`
//! impls compose these clients. It does not retry, queue or budget requests (the transport
//! does), and it does not read the clock except through the [`Clock`] each client holds
//! (the real one unless a test gives a
//! [`ManualClock`](upkeep_versioning_core::ManualClock)). GHCR has no web API here: it is
//! plain OCI with an anonymous token, and the facts the OCI client needs about it are the
//! constants below.

pub mod ecr;
pub mod hub;
pub mod quay;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use serde::de::DeserializeOwned;
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::clock::{Clock, SystemClock};
use url::Url;

use crate::body::{HOSTED_LISTING_LIMIT, read_capped};
use crate::error::ErrorKind;

/// GHCR's registry host, as written in image references; names under it are lower case.
pub const GHCR_HOST: &str = "ghcr.io";
/// The realm of GHCR's Bearer challenge, where anonymous and Basic-authenticated token
/// requests go.
pub const GHCR_TOKEN_REALM: &str = "https://ghcr.io/token";
/// The `service` GHCR's challenge names and its token request repeats.
pub const GHCR_SERVICE: &str = "ghcr.io";
/// Tags GHCR returns per `tags/list` page when `n` is not given; it sends a `Link` to the next
/// page. Large `n` values have returned whole lists, but only `Link` says a list is complete
/// (observed).
pub const GHCR_DEFAULT_TAG_PAGE_SIZE: u32 = 100;
/// The page cap Renovate uses for GHCR tag lists; a backstop, not an expected size
/// (observed).
pub const GHCR_MAX_TAG_PAGES: usize = 1000;

/// The clock a client reads until it is given another: the real time.
pub(crate) fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// Parses one of this module's URL constants.
pub(crate) fn constant_url(text: &'static str) -> Url {
    // The constants are checked by a test; a typo there must fail loudly, not at a user's.
    Url::parse(text).unwrap_or_else(|error| unreachable!("constant URL '{text}': {error}"))
}

/// `base` with `segments` appended to its path, each percent-encoded as one segment. The
/// base's own path is kept, so GitHub Enterprise's `https://host/api/v3` works as a base.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, ErrorKind> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| ErrorKind::Malformed {
            reason: format!("base URL '{base}' cannot take a path; give an http(s) URL"),
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The code and message of a hosted API's error body. Each service shapes it differently:
/// Docker Hub `{"message"}`, Quay `{"detail","error_type"}` (RFC 7807), GitHub
/// `{"message"}`, AWS `{"__type","message"}`; anything else is kept as text, cut short.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ErrorBody {
    pub(crate) code: Option<String>,
    pub(crate) message: String,
}

fn parse_error_body(body: &str) -> ErrorBody {
    let text = |value: &serde_json::Value, keys: &[&str]| {
        keys.iter()
            .find_map(|key| value.get(key)?.as_str().map(str::to_owned))
    };
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(value) if value.is_object() => ErrorBody {
            code: text(&value, &["__type", "error_type", "code"]),
            message: text(
                &value,
                &["message", "Message", "detail", "error_message", "error"],
            )
            .unwrap_or_default(),
        },
        _ => ErrorBody {
            code: None,
            message: body.trim().chars().take(200).collect(),
        },
    }
}

/// An error body, read under [`crate::body::SMALL_LIMIT`]; a body cut short gives what arrived, a body
/// over the cap is [`ErrorKind::BodyTooLarge`].
pub(crate) async fn read_error_body(response: Response) -> Result<ErrorBody, ErrorKind> {
    let body = crate::body::read_error_text(response).await?;
    Ok(parse_error_body(&body))
}

/// The error kind for an unsuccessful status, by status alone: the services below have no
/// shared code vocabulary. `what` names the thing looked for ("repository").
pub(crate) fn status_kind(
    status: StatusCode,
    body: ErrorBody,
    what: &str,
    retry_after: Option<Duration>,
) -> ErrorKind {
    let ErrorBody { code, message } = body;
    match status {
        StatusCode::NOT_FOUND => ErrorKind::NotFound {
            what: what.to_owned(),
            code,
        },
        StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized { message, code },
        StatusCode::FORBIDDEN => ErrorKind::Denied { message },
        StatusCode::TOO_MANY_REQUESTS => ErrorKind::RateLimited { retry_after },
        status if status.is_server_error() => ErrorKind::Server {
            status: status.as_u16(),
            message,
        },
        status => ErrorKind::Refused {
            status: status.as_u16(),
            code,
            message,
        },
    }
}

/// The wait a `Retry-After` header asks for, relative to `now` when it is a date.
pub(crate) fn retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    crate::transport::parse_retry_after(value, now)
}

/// The wait until a reset time given in Unix seconds (`X-RateLimit-Reset`), zero if past.
pub(crate) fn wait_until_epoch(reset: u64, now: Timestamp) -> Duration {
    let reset = i64::try_from(reset)
        .ok()
        .and_then(|seconds| Timestamp::from_timestamp(seconds, 0))
        .unwrap_or(Timestamp::MAX_UTC);
    wait_until(reset, now)
}

/// The wait from `now` until `then`, zero if past.
pub(crate) fn wait_until(then: Timestamp, now: Timestamp) -> Duration {
    (then - now).to_std().unwrap_or(Duration::ZERO)
}

/// A header's value as an unsigned number, if it is one.
pub(crate) fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Reads a JSON listing page of at most [`HOSTED_LISTING_LIMIT`] into `T`: a page of 100
/// tags or releases is far smaller, so a larger body is a broken or hostile server. The error
/// is [`ErrorKind::Malformed`], [`ErrorKind::BodyTooLarge`], or the transport error that cut
/// the body short.
pub(crate) async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, ErrorKind> {
    let body = read_capped(response, HOSTED_LISTING_LIMIT).await?;
    serde_json::from_slice(&body).map_err(|error| ErrorKind::Malformed {
        reason: format!("response is not the JSON the API documents: {error}"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn url_constants_parse() {
        for text in [
            GHCR_TOKEN_REALM,
            hub::DEFAULT_BASE_URL,
            quay::DEFAULT_BASE_URL,
            ecr::ECR_PUBLIC_API_URL,
            ecr::ECR_PUBLIC_TOKEN_URL,
        ] {
            assert_eq!(
                constant_url(text).as_str().trim_end_matches('/'),
                text.trim_end_matches('/')
            );
        }
    }

    #[test]
    fn endpoints_keep_the_base_path_and_encode_segments() {
        let cases = [
            (
                "https://hub.docker.com",
                &["v2", "repositories", "library", "nginx", "tags"][..],
                "https://hub.docker.com/v2/repositories/library/nginx/tags",
            ),
            (
                "https://ghe.example/api/v3/",
                &["repos", "o", "r", "releases"][..],
                "https://ghe.example/api/v3/repos/o/r/releases",
            ),
            (
                "https://quay.io/?x=1",
                &["api", "v1", "repository", "ns", "a b", "tag", ""][..],
                "https://quay.io/api/v1/repository/ns/a%20b/tag/",
            ),
        ];
        for (base, segments, expected) in cases {
            let url = endpoint(&Url::parse(base).unwrap(), segments).unwrap();
            assert_eq!(url.as_str(), expected);
        }
        let error = endpoint(&Url::parse("data:text/plain,x").unwrap(), &["a"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed response: base URL 'data:text/plain,x' cannot take a path; give an \
             http(s) URL"
        );
    }

    #[test]
    fn error_bodies_of_each_service() {
        let cases = [
            (
                r#"{"txnid":"REPOSREQ-1","message":"object not found","errinfo":{}}"#,
                None,
                "object not found",
            ),
            (
                r#"{"detail":"Requires authentication","error_message":"Requires authentication",
                    "error_type":"invalid_token","title":"invalid_token","status":401}"#,
                Some("invalid_token"),
                "Requires authentication",
            ),
            (
                r#"{"__type":"AccessDeniedException","Message":"not authorized"}"#,
                Some("AccessDeniedException"),
                "not authorized",
            ),
            (
                r#"{"message":"Bad credentials","documentation_url":"x"}"#,
                None,
                "Bad credentials",
            ),
            (
                "  <html>bad gateway</html>\n",
                None,
                "<html>bad gateway</html>",
            ),
            ("[1,2]", None, "[1,2]"),
        ];
        for (body, code, message) in cases {
            assert_eq!(
                parse_error_body(body),
                ErrorBody {
                    code: code.map(str::to_owned),
                    message: message.to_owned()
                },
                "{body}"
            );
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        let body = || ErrorBody {
            code: Some("c".to_owned()),
            message: "m".to_owned(),
        };
        let wait = Some(Duration::from_secs(3));
        let cases = [
            (404, "repository not found (c)"),
            (401, "authentication failed (c): m"),
            (403, "access denied: m"),
            (429, "rate limited; retry after 3 s"),
            (503, "server error 503: m"),
            (400, "request refused with status 400 (c): m"),
        ];
        for (status, expected) in cases {
            let kind = status_kind(
                StatusCode::from_u16(status).unwrap(),
                body(),
                "repository",
                wait,
            );
            assert_eq!(kind.to_string(), expected, "{status}");
        }
    }

    #[test]
    fn waits_until_an_epoch_reset() {
        let now = Timestamp::from_timestamp(1_000, 0).unwrap();
        assert_eq!(wait_until_epoch(1_060, now), Duration::from_secs(60));
        assert_eq!(wait_until_epoch(900, now), Duration::ZERO);
        // A reset beyond what a time can hold is a very long wait, not none.
        assert!(wait_until_epoch(u64::MAX, now) > Duration::from_secs(1_000_000_000));
    }
}
