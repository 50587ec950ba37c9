//! The HTTP layer every client shares: TLS (rustls), timeouts, proxies, which hosts may be
//! reached over plain HTTP (redirects included: a redirect to plain HTTP elsewhere is
//! refused, and reqwest drops `Authorization` on a redirect to another host), and politeness: a per-registry concurrency limit and request
//! budget, `429` and `Retry-After` honoured, and retries with jittered exponential backoff for
//! 5xx and transport failures (never for other 4xx).
//!
//! # What this module does not do
//! It does not authenticate or read response bodies; the clients above it do.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::{Response, StatusCode};
use tokio::sync::Semaphore;
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::clock::{Clock, SystemClock};

use crate::error::{ErrorKind, RegistryError};
use crate::hosted::hub::HubRateLimit;

/// How a [`Transport`] treats registries; the defaults suit a person's machine.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Hosts (`host` or `host:port`) that may be reached over plain HTTP besides loopback,
    /// as Docker's `insecure-registries`.
    pub insecure_hosts: BTreeSet<String>,
    /// Requests in flight to one registry at once.
    pub concurrency: usize,
    /// Requests one registry may receive over the transport's life; `None` for no limit.
    pub budget: Option<u32>,
    /// Retries after a 5xx, a transport failure or a 429.
    pub max_retries: u32,
    /// The first backoff; doubled for each retry, with jitter.
    pub initial_backoff: Duration,
    /// The longest wait a `Retry-After` may ask for before the client gives up and reports
    /// [`ErrorKind::RateLimited`] instead of sleeping.
    pub max_retry_after: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Manifest GETs kept in reserve: when a registry reports (as Docker Hub does) that this
    /// many pulls or fewer are left, manifest GETs stop until its window passes; HEADs, which
    /// do not count as pulls, go on.
    pub pull_reserve: u32,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            insecure_hosts: BTreeSet::new(),
            concurrency: 4,
            budget: None,
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            pull_reserve: 5,
        }
    }
}

/// A shared HTTP client for one registry host, with its politeness state.
#[derive(Debug, Clone)]
pub struct Transport {
    host: String,
    client: reqwest::Client,
    config: Arc<TransportConfig>,
    permits: Arc<Semaphore>,
    requests: Arc<AtomicU32>,
    pull_limit: Arc<std::sync::Mutex<Option<HubRateLimit>>>,
    /// The wall clock, for `Retry-After` dates; the clients above read it too.
    clock: Arc<dyn Clock>,
}

impl Transport {
    /// A transport to `host` (`docker.io`, `127.0.0.1:5000`) built on `client`.
    pub fn new(host: &str, client: reqwest::Client, config: Arc<TransportConfig>) -> Self {
        Self {
            host: host.to_owned(),
            client,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            requests: Arc::new(AtomicU32::new(0)),
            pull_limit: Arc::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads the time from `clock` instead of the system's: for `Retry-After` dates here,
    /// and for token and cache expiry in the clients built on this transport.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The clock this transport and the clients on it read the time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The pull limit the registry last reported (Docker Hub's `ratelimit-*` headers).
    pub fn pull_limit(&self) -> Option<HubRateLimit> {
        self.pull_limit.lock().ok().and_then(|limit| limit.clone())
    }

    /// The registry host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The underlying client, for building requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// How many HTTP requests this transport has sent, retries included.
    pub fn requests_sent(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// True when `host` may be reached over plain HTTP: loopback, or listed as insecure.
    pub fn allows_plain_http(&self, host: &str) -> bool {
        is_loopback(host) || self.config.insecure_hosts.contains(host)
    }

    /// Sends the request that `build` makes, retrying transient failures. `build` is called
    /// again for each attempt, so the request is rebuilt rather than cloned.
    pub async fn send(
        &self,
        repository: Option<&str>,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let mut attempt = 0;
        loop {
            let outcome = self.send_once(repository, &build).await;
            let wait = match &outcome {
                Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                    let retry_after = retry_after(response, self.clock.now());
                    match retry_after {
                        Some(wait) if wait > self.config.max_retry_after => {
                            return Err(self.error(
                                repository,
                                ErrorKind::RateLimited {
                                    retry_after: Some(wait),
                                },
                            ));
                        }
                        Some(wait) => wait,
                        None => self.backoff(attempt),
                    }
                }
                Ok(response) if response.status().is_server_error() => self.backoff(attempt),
                Ok(_) => return outcome,
                Err(error) if error.is_transient() => self.backoff(attempt),
                Err(_) => return outcome,
            };
            if attempt >= self.config.max_retries {
                return match outcome {
                    Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                        let retry_after = retry_after(&response, self.clock.now());
                        Err(self.error(repository, ErrorKind::RateLimited { retry_after }))
                    }
                    other => other,
                };
            }
            tracing::debug!(
                registry = %self.host,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying registry request"
            );
            // A wait is an elapsed duration, not a wall-clock decision: tokio's timer measures
            // it, so a clock set back cannot stretch it and tests with paused time can skip it.
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn send_once(
        &self,
        repository: Option<&str>,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, RegistryError> {
        if let Some(budget) = self.config.budget
            && self.requests.load(Ordering::Relaxed) >= budget
        {
            return Err(self.error(repository, ErrorKind::BudgetSpent { budget }));
        }
        let request = build(&self.client)
            .build()
            .map_err(|error| self.error(repository, ErrorKind::Transport(error)))?;
        if request.method() == reqwest::Method::GET
            && request.url().path().contains("/manifests/")
            && let Some(limit) = self.pull_limit()
            && limit.is_nearly_spent(self.config.pull_reserve)
        {
            // Stop before the registry's count reaches zero.
            return Err(self.error(
                repository,
                ErrorKind::RateLimited {
                    retry_after: limit.window,
                },
            ));
        }
        // The semaphore is never closed, so acquiring only fails if it were; then go on
        // without a permit rather than fail the request.
        let _permit = self.permits.acquire().await.ok();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|error| self.error(repository, request_error_kind(error)))?;
        if let Some(limit) = HubRateLimit::from_headers(response.headers())
            && let Ok(mut recorded) = self.pull_limit.lock()
        {
            *recorded = Some(limit);
        }
        Ok(response)
    }

    /// Jittered exponential backoff: `initial * 2^attempt`, scaled by a random 50-100 %.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .config
            .initial_backoff
            .saturating_mul(1 << attempt.min(10));
        base.mul_f64(rand::random_range(0.5..=1.0))
    }

    pub(crate) fn error(&self, repository: Option<&str>, kind: ErrorKind) -> RegistryError {
        RegistryError::new(&self.host, repository, kind)
    }
}

/// Redirects followed for one request before giving up, as browsers and reqwest do.
const MAX_REDIRECTS: usize = 10;

/// Builds the shared HTTP client: rustls, timeouts, proxies from the environment
/// (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, which reqwest reads), and redirects that never
/// carry `Authorization` to another host (reqwest drops it when the host or port changes)
/// nor go to plain HTTP on a host not allowed it (a same-host, same-port downgrade would keep
/// `Authorization`, so it is refused here).
pub fn http_client(config: &TransportConfig) -> Result<reqwest::Client, reqwest::Error> {
    let insecure_hosts = config.insecure_hosts.clone();
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(TooManyRedirects);
        }
        let url = attempt.url();
        let host = url_host(url);
        if url.scheme() != "https" && !(is_loopback(&host) || insecure_hosts.contains(&host)) {
            let refused = RefusedRedirect {
                url: url.to_string(),
            };
            return attempt.error(refused);
        }
        attempt.follow()
    });
    reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(concat!("upkeep/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .redirect(redirects)
        .build()
}

/// `host` or `host:port` of `url`, as [`TransportConfig::insecure_hosts`] lists hosts.
pub(crate) fn url_host(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => String::new(),
    }
}

/// A redirect to plain HTTP on a host not allowed it, stopped before it was sent.
#[derive(Debug, thiserror::Error)]
#[error("redirect to plain HTTP refused: {url}")]
struct RefusedRedirect {
    url: String,
}

#[derive(Debug, thiserror::Error)]
#[error("more than {MAX_REDIRECTS} redirects")]
struct TooManyRedirects;

/// The kind of a failed request: [`ErrorKind::InsecureRefused`] when the redirect policy
/// stopped it, [`ErrorKind::Transport`] otherwise.
fn request_error_kind(error: reqwest::Error) -> ErrorKind {
    let mut cause = std::error::Error::source(&error);
    while let Some(current) = cause {
        if let Some(refused) = current.downcast_ref::<RefusedRedirect>() {
            return ErrorKind::InsecureRefused {
                url: refused.url.clone(),
            };
        }
        cause = current.source();
    }
    ErrorKind::Transport(error)
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date relative to `now`.
pub fn retry_after(response: &Response, now: Timestamp) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    parse_retry_after(value, now)
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = Timestamp::from(httpdate::parse_http_date(value).ok()?);
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

/// True for `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3:80",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "docker.io",
            "10.0.0.1:5000",
            "192.168.1.2",
            "[::2]:5000",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = Timestamp::from_timestamp(1_760_000_000, 0).unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let http_date = |time: Timestamp| httpdate::fmt_http_date(time.into());
        let later = http_date(now + chrono::TimeDelta::seconds(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = http_date(now - chrono::TimeDelta::seconds(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_with_jitter() {
        let config = Arc::new(TransportConfig::default());
        let transport = Transport::new("example.com", reqwest::Client::new(), config);
        for attempt in 0..4 {
            let wait = transport.backoff(attempt);
            let base = Duration::from_millis(200) * (1 << attempt);
            assert!(wait >= base / 2 && wait <= base, "{attempt}: {wait:?}");
        }
    }

    #[test]
    fn plain_http_only_for_loopback_and_listed_hosts() {
        let config = TransportConfig {
            insecure_hosts: BTreeSet::from(["registry.lan:5000".to_owned()]),
            ..TransportConfig::default()
        };
        let transport = Transport::new("x", reqwest::Client::new(), Arc::new(config));
        assert!(transport.allows_plain_http("127.0.0.1:5000"));
        assert!(transport.allows_plain_http("registry.lan:5000"));
        assert!(!transport.allows_plain_http("registry.lan"));
        assert!(!transport.allows_plain_http("ghcr.io"));
    }
}
