//! Telling people what the agent did or could do: an update is available, was applied, failed
//! and was rolled back, or could not be rolled back.
//!
//! A [`Notice`] says what happened; a [`Notifier`] delivers it to every configured [`Target`]
//! (a JSON webhook, Slack, Discord, ntfy or email, each written as one URL) at once, with
//! retries, and reports one [`Delivery`] per target.
//!
//! What this module does not do: decide whether a notice is worth sending (the engine does),
//! or remember what was sent. Deduplication belongs to the store, which keys on
//! [`Notice::dedup_key`]. Nothing here waits for a person or for a failing service for long:
//! every attempt has a timeout and the number of attempts is bounded, and the agent's cycle
//! spawns [`Notifier::send`] rather than awaiting it.
//!
//! ```no_run
//! # async fn example(now: chrono::DateTime<chrono::Utc>) -> Result<(), Box<dyn std::error::Error>> {
//! use upkeep_agent::notify::{Notice, Notifier, RetryPolicy, Target};
//! use upkeep_versioning_core::UpdateKind;
//!
//! let targets = ["ntfy://ntfy.sh/my-upkeep?threshold=minor", "slack://hooks.slack.com/services/T/B/X"]
//!     .into_iter()
//!     .map(str::parse::<Target>)
//!     .collect::<Result<Vec<_>, _>>()?;
//! let notifier = Notifier::new(targets, RetryPolicy::default())?;
//! let notice = Notice::update_available(
//!     "web", "nginx", "1.0.1", "1.1.0", UpdateKind::Minor, None, now,
//! );
//! let sender = notifier.clone();
//! tokio::spawn(async move { sender.send(&notice).await });
//! # Ok(())
//! # }
//! ```

mod email;
mod http;
mod target;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use upkeep_versioning_core::UpdateKind;

pub use target::{Target, TargetError, Threshold};

use target::Destination;

/// What happened to a deployment, as far as people are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A newer version exists and the policy leaves applying it to a person.
    UpdateAvailable,
    /// The deployment was moved to a newer version and passed its health check.
    UpdateApplied,
    /// The new version failed and the deployment was put back on the old one.
    UpdateRolledBack,
    /// The new version failed and putting back the old one failed too.
    RollbackFailed,
}

/// One thing to tell people about one deployment.
///
/// Build it with [`Notice::update_available`], [`Notice::update_applied`],
/// [`Notice::update_rolled_back`] or [`Notice::rollback_failed`], which also write
/// [`message`](Self::message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The deployment's name, as in the manifest.
    pub deployment: String,
    /// The image, without a tag (`nginx`, `ghcr.io/acme/web`).
    pub image: String,
    /// The tag the deployment was on.
    pub from: String,
    /// The tag it moves, moved or tried to move to.
    pub to: String,
    /// What happened.
    pub kind: EventKind,
    /// How big the move from `from` to `to` is.
    pub update: UpdateKind,
    /// One short line for people, such as "web: 1.0.1 → 1.1.0 available (minor)".
    pub message: String,
    /// Where the release notes of `to` are, when known.
    pub release_notes: Option<String>,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// How hard [`Notifier::send`] tries each target.
///
/// An attempt that fails is retried after `first_backoff`, then after twice that, and so on,
/// until `attempts` attempts were made. A refusal that will not change by retrying (an HTTP
/// 4xx other than 408 and 429, an SMTP 5xx) ends the tries early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per target, the first one included; 0 counts as 1.
    pub attempts: u32,
    /// The wait before the second attempt; each later wait doubles.
    pub first_backoff: Duration,
    /// How long one attempt may take, connecting and reading the answer included.
    pub attempt_timeout: Duration,
}

/// Sends notices to a fixed set of targets.
///
/// Cheap to clone: clones share the targets and the HTTP connection pool, so the agent can
/// move a clone into a spawned task for each notice.
#[derive(Debug, Clone)]
pub struct Notifier {
    targets: Arc<[Target]>,
    retry: RetryPolicy,
    client: reqwest::Client,
}

/// The outcome of sending one notice to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The target's URL with its secrets masked.
    pub target: String,
    /// True if the target accepted the notice.
    pub ok: bool,
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// Why the last attempt failed, with its causes, when `ok` is false.
    pub error: Option<String>,
}

/// Why a [`Notifier`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifierError {
    /// The HTTP client could not be set up (its TLS backend failed to load).
    #[error("could not set up the HTTP client for notifications")]
    HttpClient(#[source] reqwest::Error),
}

/// The error for a word that names no [`EventKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event kind '{0}': expected update_available, update_applied, update_rolled_back or rollback_failed"
)]
pub struct UnknownEventKind(pub String);

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 4] = [
        Self::UpdateAvailable,
        Self::UpdateApplied,
        Self::UpdateRolledBack,
        Self::RollbackFailed,
    ];

    /// The kind's name in JSON and in the store: `update_available`, `update_applied`,
    /// `update_rolled_back` or `rollback_failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpdateAvailable => "update_available",
            Self::UpdateApplied => "update_applied",
            Self::UpdateRolledBack => "update_rolled_back",
            Self::RollbackFailed => "rollback_failed",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == word)
            .ok_or_else(|| UnknownEventKind(word.to_owned()))
    }
}

impl Notice {
    /// A newer version is available and waits for a person: "web: 1.0.1 → 1.1.0 available
    /// (minor)".
    pub fn update_available(
        deployment: impl Into<String>,
        image: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
        update: UpdateKind,
        release_notes: Option<String>,
        at: DateTime<Utc>,
    ) -> Self {
        let mut notice = Self::bare(
            EventKind::UpdateAvailable,
            deployment,
            image,
            from,
            to,
            update,
            at,
        );
        notice.message = format!(
            "{}: {} → {} available ({})",
            notice.deployment, notice.from, notice.to, notice.update
        );
        notice.release_notes = release_notes;
        notice
    }

    /// The deployment was updated and is healthy: "web updated 1.0.0 → 1.0.1".
    pub fn update_applied(
        deployment: impl Into<String>,
        image: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
        update: UpdateKind,
        at: DateTime<Utc>,
    ) -> Self {
        let mut notice = Self::bare(
            EventKind::UpdateApplied,
            deployment,
            image,
            from,
            to,
            update,
            at,
        );
        notice.message = format!(
            "{} updated {} → {}",
            notice.deployment, notice.from, notice.to
        );
        notice
    }

    /// `to` failed and the deployment is back on `from`: "web: 1.1.0 failed (health check
    /// … answered 500); rolled back to 1.0.1". `reason` says what failed, in a few words.
    pub fn update_rolled_back(
        deployment: impl Into<String>,
        image: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
        update: UpdateKind,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Self {
        let mut notice = Self::bare(
            EventKind::UpdateRolledBack,
            deployment,
            image,
            from,
            to,
            update,
            at,
        );
        notice.message = format!(
            "{}: {} failed ({}); rolled back to {}",
            notice.deployment,
            notice.to,
            one_line(reason),
            notice.from
        );
        notice
    }

    /// `to` failed and going back to `from` failed too, so the deployment may be down:
    /// "ROLLBACK FAILED for web: going back from 1.1.0 to 1.0.1 failed (…); it needs a
    /// person". `reason` says what failed, in a few words.
    pub fn rollback_failed(
        deployment: impl Into<String>,
        image: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
        update: UpdateKind,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Self {
        let mut notice = Self::bare(
            EventKind::RollbackFailed,
            deployment,
            image,
            from,
            to,
            update,
            at,
        );
        notice.message = format!(
            "ROLLBACK FAILED for {}: going back from {} to {} failed ({}); it needs a person",
            notice.deployment,
            notice.to,
            notice.from,
            one_line(reason)
        );
        notice
    }

    /// `deployment|to|kind`: two notices with the same key tell the same news, so the store
    /// sends only the first.
    pub fn dedup_key(&self) -> String {
        format!("{}|{}|{}", self.deployment, self.to, self.kind)
    }

    /// A title for channels that have one (an email's subject, ntfy's `Title`).
    pub fn title(&self) -> String {
        let deployment = &self.deployment;
        match self.kind {
            EventKind::UpdateAvailable => format!("upkeep: update available for {deployment}"),
            EventKind::UpdateApplied => format!("upkeep: {deployment} updated"),
            EventKind::UpdateRolledBack => format!("upkeep: {deployment} rolled back"),
            EventKind::RollbackFailed => format!("upkeep: ROLLBACK FAILED for {deployment}"),
        }
    }

    /// The text chat services get: the message, then the release notes link when known.
    pub fn text(&self) -> String {
        match &self.release_notes {
            Some(link) => format!("{}\nrelease notes: {link}", self.message),
            None => self.message.clone(),
        }
    }

    fn bare(
        kind: EventKind,
        deployment: impl Into<String>,
        image: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
        update: UpdateKind,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            deployment: deployment.into(),
            image: image.into(),
            from: from.into(),
            to: to.into(),
            kind,
            update,
            message: String::new(),
            release_notes: None,
            at,
        }
    }
}

impl Default for RetryPolicy {
    /// Three attempts, 200 ms then 400 ms apart, 10 s each: a notice is given up on after
    /// about half a minute.
    fn default() -> Self {
        Self {
            attempts: 3,
            first_backoff: Duration::from_millis(200),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl Notifier {
    /// A notifier for `targets`, which may be empty.
    pub fn new(targets: Vec<Target>, retry: RetryPolicy) -> Result<Self, NotifierError> {
        // No timeouts on the client: each attempt as a whole runs under `attempt_timeout`,
        // the same for HTTP and SMTP, so that a timeout always reads the same.
        let client = reqwest::Client::builder()
            .user_agent(concat!("upkeep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(NotifierError::HttpClient)?;
        Ok(Self {
            targets: targets.into(),
            retry,
            client,
        })
    }

    /// The targets, in the order given.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Sends `notice` to every target that wants it, all at once, and returns one
    /// [`Delivery`] per target it was sent to, in target order.
    ///
    /// Targets whose [`Threshold`] the update does not reach are skipped and get no
    /// `Delivery`. Failures are logged and reported, never raised: one target's failure does
    /// not stop or delay the others. The whole call takes at most about `attempts ×
    /// attempt_timeout` plus the backoffs.
    pub async fn send(&self, notice: &Notice) -> Vec<Delivery> {
        let sends = self.targets.iter().filter_map(|target| {
            if target.wants(notice.kind, notice.update) {
                Some(self.send_to(target, notice))
            } else {
                tracing::trace!(
                    target_url = %target,
                    threshold = %target.threshold(),
                    update = %notice.update,
                    "notice below the target's threshold; not sent"
                );
                None
            }
        });
        futures_util::future::join_all(sends).await
    }

    async fn send_to(&self, target: &Target, notice: &Notice) -> Delivery {
        let attempts = self.retry.attempts.max(1);
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match tokio::time::timeout(
                self.retry.attempt_timeout,
                self.attempt(target, notice),
            )
            .await
            {
                Ok(result) => result,
                Err(_elapsed) => Err(AttemptError::Timeout(self.retry.attempt_timeout)),
            };
            let error = match result {
                Ok(()) => {
                    tracing::debug!(target_url = %target, kind = %notice.kind, attempt, "notice delivered");
                    return Delivery {
                        target: target.to_string(),
                        ok: true,
                        attempts: attempt,
                        error: None,
                    };
                }
                Err(error) => error,
            };
            let error_text = chain(&error);
            if attempt < attempts && !error.is_permanent() {
                tracing::debug!(
                    target_url = %target,
                    attempt,
                    retry_in = ?backoff,
                    error = %error_text,
                    "notice not delivered; retrying"
                );
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
                continue;
            }
            tracing::warn!(
                target_url = %target,
                kind = %notice.kind,
                deployment = %notice.deployment,
                attempts = attempt,
                error = %error_text,
                "notice not delivered; giving up"
            );
            return Delivery {
                target: target.to_string(),
                ok: false,
                attempts: attempt,
                error: Some(error_text),
            };
        }
    }

    async fn attempt(&self, target: &Target, notice: &Notice) -> Result<(), AttemptError> {
        match &target.destination {
            Destination::Email(relay) => {
                email::send(relay, notice, self.retry.attempt_timeout).await
            }
            Destination::Http { service, url } => {
                http::send(&self.client, *service, url, notice).await
            }
        }
    }
}

/// Why one attempt to deliver a notice failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("could not reach the target")]
    Request(#[source] reqwest::Error),
    #[error("the target answered {status}{}", excerpt(.body))]
    Status {
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not write the email")]
    Email(#[source] lettre::error::Error),
    #[error("the SMTP server did not take the email")]
    Smtp(#[source] lettre::transport::smtp::Error),
}

impl AttemptError {
    /// True if trying again cannot help.
    fn is_permanent(&self) -> bool {
        match self {
            Self::Status { status, .. } => {
                status.is_client_error()
                    && *status != reqwest::StatusCode::REQUEST_TIMEOUT
                    && *status != reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            Self::Email(_) => true,
            Self::Smtp(error) => error.is_permanent(),
            Self::Request(_) | Self::Timeout(_) => false,
        }
    }
}

fn excerpt(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// The error and its causes on one line, for [`Delivery::error`] and the log.
///
/// Some libraries repeat a cause's text in their own message (lettre does with the server's
/// answer); a cause already said is left out.
fn chain(error: &dyn std::error::Error) -> String {
    upkeep_update_engine::error_chain(error)
}

/// `reason` on one line and at most 300 characters, so that a health check's HTML error page
/// does not become the notice.
fn one_line(reason: &str) -> String {
    const LIMIT: usize = 300;
    let line = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_323_045, 0).unwrap_or_default()
    }

    #[test]
    fn messages() {
        let cases = [
            (
                Notice::update_available(
                    "web",
                    "nginx",
                    "1.0.1",
                    "1.1.0",
                    UpdateKind::Minor,
                    None,
                    at(),
                ),
                "web: 1.0.1 → 1.1.0 available (minor)",
                "upkeep: update available for web",
            ),
            (
                Notice::update_applied("web", "nginx", "1.0.0", "1.0.1", UpdateKind::Patch, at()),
                "web updated 1.0.0 → 1.0.1",
                "upkeep: web updated",
            ),
            (
                Notice::update_rolled_back(
                    "web",
                    "nginx",
                    "1.0.1",
                    "1.1.0",
                    UpdateKind::Minor,
                    "health check http://web:8080/healthz\nanswered 500",
                    at(),
                ),
                "web: 1.1.0 failed (health check http://web:8080/healthz answered 500); rolled back to 1.0.1",
                "upkeep: web rolled back",
            ),
            (
                Notice::rollback_failed(
                    "web",
                    "nginx",
                    "1.0.1",
                    "1.1.0",
                    UpdateKind::Minor,
                    "image nginx:1.0.1 is gone",
                    at(),
                ),
                "ROLLBACK FAILED for web: going back from 1.1.0 to 1.0.1 failed (image nginx:1.0.1 is gone); it needs a person",
                "upkeep: ROLLBACK FAILED for web",
            ),
        ];
        for (notice, message, title) in cases {
            assert_eq!(notice.message, message);
            assert_eq!(notice.text(), message);
            assert_eq!(notice.title(), title);
        }
    }

    #[test]
    fn text_carries_the_release_notes_link() {
        let notice = Notice::update_available(
            "web",
            "nginx",
            "1.0.1",
            "1.1.0",
            UpdateKind::Minor,
            Some("https://nginx.org/en/CHANGES".to_owned()),
            at(),
        );
        assert_eq!(
            notice.text(),
            "web: 1.0.1 → 1.1.0 available (minor)\nrelease notes: https://nginx.org/en/CHANGES"
        );
    }

    #[test]
    fn long_reasons_are_cut() {
        let reason = "x".repeat(1000);
        let notice =
            Notice::update_rolled_back("web", "nginx", "1", "2", UpdateKind::Major, &reason, at());
        assert_eq!(
            notice.message,
            format!("web: 2 failed ({}…); rolled back to 1", "x".repeat(300))
        );
    }

    #[test]
    fn dedup_key_and_kind_names() {
        let notice =
            Notice::update_applied("web", "nginx", "1.0.0", "1.0.1", UpdateKind::Patch, at());
        assert_eq!(notice.dedup_key(), "web|1.0.1|update_applied");
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
        assert_eq!(
            "applied".parse::<EventKind>().map_err(|error| error.to_string()),
            Err("unknown event kind 'applied': expected update_available, update_applied, update_rolled_back or rollback_failed".to_owned())
        );
    }

    #[test]
    fn permanent_and_transient_http_answers() {
        let status = |code: u16| AttemptError::Status {
            status: reqwest::StatusCode::from_u16(code).unwrap_or_default(),
            body: String::new(),
        };
        assert!(status(404).is_permanent());
        assert!(status(400).is_permanent());
        assert!(!status(429).is_permanent());
        assert!(!status(408).is_permanent());
        assert!(!status(500).is_permanent());
        assert!(!status(503).is_permanent());
    }
}
