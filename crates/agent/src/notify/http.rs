//! Delivery over HTTP: the generic JSON webhook, Slack, Discord and ntfy.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use url::Url;

use super::target::Service;
use super::{AttemptError, EventKind, Notice};

/// How much of an error answer's body is kept for the error message.
const BODY_EXCERPT: usize = 300;

/// Discord refuses content longer than this many characters.
const DISCORD_LIMIT: usize = 2000;

/// Sends one attempt of `notice` to the HTTP `service` at `url`.
pub(super) async fn send(
    client: &reqwest::Client,
    service: Service,
    url: &Url,
    notice: &Notice,
) -> Result<(), AttemptError> {
    let request = client.post(url.clone());
    let request = match service {
        Service::Webhook => request.json(&Payload::new(notice)),
        Service::Slack => {
            request.json(&serde_json::json!({ "text": slack_escape(&notice.text()) }))
        }
        Service::Discord => request.json(&serde_json::json!({
            "content": truncate(&notice.text(), DISCORD_LIMIT),
            // Error texts come from outside (a health check's answer); they must not be
            // able to ping @everyone.
            "allowed_mentions": { "parse": [] },
        })),
        Service::Ntfy => {
            let mut request = request
                .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                .header("Title", header_text(&notice.title()))
                .header("Priority", ntfy_priority(notice.kind))
                .header("Tags", ntfy_tag(notice.kind))
                .body(notice.text());
            if let Some(link) = notice
                .release_notes
                .as_deref()
                .and_then(|link| HeaderValue::from_str(link).ok())
            {
                request = request.header("Click", link);
            }
            request
        }
    };
    // The URL can hold a token (Slack, Discord, a webhook's `?token=`); errors must not.
    let response = request
        .send()
        .await
        .map_err(|error| AttemptError::Request(error.without_url()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(AttemptError::Status {
        status,
        body: truncate(body.trim(), BODY_EXCERPT),
    })
}

/// The generic webhook's JSON: every field of the notice, plus the text chat services get.
#[derive(Serialize)]
struct Payload<'a> {
    kind: &'static str,
    deployment: &'a str,
    image: &'a str,
    from: &'a str,
    to: &'a str,
    update: String,
    message: &'a str,
    release_notes: Option<&'a str>,
    at: &'a DateTime<Utc>,
    text: String,
}

impl<'a> Payload<'a> {
    fn new(notice: &'a Notice) -> Self {
        Self {
            kind: notice.kind.as_str(),
            deployment: &notice.deployment,
            image: &notice.image,
            from: &notice.from,
            to: &notice.to,
            update: notice.update.to_string(),
            message: &notice.message,
            release_notes: notice.release_notes.as_deref(),
            at: &notice.at,
            text: notice.text(),
        }
    }
}

/// Slack reads `&`, `<` and `>` as markup; escaped, they show as written.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `text` cut to at most `limit` characters, with an ellipsis when cut.
fn truncate(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > limit => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

/// A header value for any text: as it is when it is plain ASCII, else RFC 2047-encoded, which
/// ntfy decodes.
fn header_text(text: &str) -> HeaderValue {
    if text.bytes().all(|byte| (b' '..=b'~').contains(&byte))
        && let Ok(value) = HeaderValue::from_str(text)
    {
        return value;
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    HeaderValue::from_str(&format!("=?UTF-8?B?{encoded}?="))
        .unwrap_or_else(|_| HeaderValue::from_static("upkeep"))
}

fn ntfy_priority(kind: EventKind) -> &'static str {
    match kind {
        EventKind::UpdateAvailable | EventKind::UpdateApplied => "default",
        EventKind::UpdateRolledBack => "high",
        EventKind::RollbackFailed => "urgent",
    }
}

/// ntfy shows these tags as emoji.
fn ntfy_tag(kind: EventKind) -> &'static str {
    match kind {
        EventKind::UpdateAvailable => "arrow_up",
        EventKind::UpdateApplied => "white_check_mark",
        EventKind::UpdateRolledBack => "warning",
        EventKind::RollbackFailed => "rotating_light",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("→→→→", 3), "→→…");
    }

    #[test]
    fn headers_carry_any_title() {
        assert_eq!(header_text("upkeep: web updated"), "upkeep: web updated");
        assert_eq!(header_text("upkeep: wéb"), "=?UTF-8?B?dXBrZWVwOiB3w6li?=");
    }

    #[test]
    fn slack_markup_is_escaped() {
        assert_eq!(slack_escape("a <b> & c"), "a &lt;b&gt; &amp; c");
    }
}
