//! Notification targets, each written as one URL, the way Shoutrrr and Apprise users write
//! them.
//!
//! Parsing checks everything that can be checked without the network, so that a target that
//! parses can only fail at send time for reasons outside upkeep (the service is down, the
//! token was revoked). Secrets in the URL never leave this module unmasked: errors, `Display`
//! and `Debug` all show the redacted form.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use lettre::message::Mailbox;
use percent_encoding::percent_decode_str;
use upkeep_versioning_core::UpdateKind;
use url::{Position, Url};

/// Where one copy of each notice goes, and which notices it wants.
///
/// # Syntax
///
/// | URL | sends |
/// | --- | --- |
/// | `https://host/path`, `http://host/path` | the notice as a JSON object, POSTed |
/// | `slack://hooks.slack.com/services/T/B/X` | `{"text": …}` to `https://hooks.slack.com/services/T/B/X` |
/// | `slack://T/B/X` | the same (Apprise's short form) |
/// | `discord://discord.com/api/webhooks/ID/TOKEN` | `{"content": …}` to `https://discord.com/api/webhooks/ID/TOKEN` |
/// | `discord://ID/TOKEN`, `discord://TOKEN@ID` | the same (Apprise's and Shoutrrr's short forms) |
/// | `ntfy://ntfy.sh/topic` | the text to `https://ntfy.sh/topic`, with `Title`, `Priority` and `Tags` headers |
/// | `smtps://user:pass@host:465/?from=…&to=…` | an email over implicit TLS |
/// | `smtp://user:pass@host:587/?from=…&to=…&starttls=true` | an email over STARTTLS |
///
/// `slack+http://`, `discord+http://` and `ntfy+http://` use plain HTTP, for a self-hosted
/// ntfy or a local test receiver. User and password in the URL become HTTP basic auth (or SMTP
/// credentials), and are percent-decoded.
///
/// Every target takes `threshold=major|minor|patch|all` (default `all`): see [`Threshold`].
/// Email targets also take `from=` (one address), `to=` (one or more addresses, separated by
/// commas or given as several `to=`), `starttls=true|false` and `danger_plaintext=true`. Query
/// values are percent-decoded without turning `+` into a space, so `ops+upkeep@example.com`
/// can be written as it is. Other query parameters of HTTP targets are passed on to the
/// service (Discord's `thread_id`, a webhook's own token); on email targets they are ignored
/// with a warning.
///
/// # Plain SMTP
///
/// `smtp://` without `starttls=true` sends the mail, and any password, unencrypted. That is
/// accepted for a relay on this machine (`localhost`, `127.0.0.1`, `[::1]`); for any other
/// host the URL must say `danger_plaintext=true`. Encryption is never opportunistic: with
/// `starttls=true` a server that does not offer STARTTLS gets nothing.
#[derive(Clone)]
pub struct Target {
    pub(super) destination: Destination,
    threshold: Threshold,
    redacted: String,
}

/// The smallest update a target is told about.
///
/// Applies to "update available" and "update applied" notices only: a rollback, failed or
/// not, is always sent. Sizes below patch (build, pre-release) and sizes that are not on the
/// scale (a downgrade, a move between tags that are not versions) pass only `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum Threshold {
    /// Every update.
    #[default]
    All,
    /// Patch, minor and major updates.
    Patch,
    /// Minor and major updates.
    Minor,
    /// Major updates only.
    Major,
}

/// Why a target URL was refused: the URL (its secrets masked), the problem and the fix.
#[derive(Clone, PartialEq, Eq)]
pub struct TargetError {
    target: String,
    problem: Problem,
}

/// What the sending side needs to reach one target.
#[derive(Clone)]
pub(super) enum Destination {
    /// An HTTP service, at the `http` or `https` address that is actually posted to.
    Http { service: Service, url: Url },
    /// An SMTP relay and the envelope.
    Email(Box<Email>),
}

/// Which HTTP service a target is, which decides the shape of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Service {
    /// A generic JSON webhook.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A Discord webhook.
    Discord,
    /// An ntfy topic.
    Ntfy,
}

/// An SMTP relay, how to reach it, and who the mail is from and to.
#[derive(Clone)]
pub(super) struct Email {
    /// Host name or IP address, without the brackets of an IPv6 literal.
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) security: Security,
    /// User and password, percent-decoded.
    pub(super) credentials: Option<(String, String)>,
    pub(super) from: Mailbox,
    pub(super) to: Vec<Mailbox>,
}

/// How an SMTP connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Security {
    /// TLS from the first byte (`smtps://`).
    Tls,
    /// Plain first, then STARTTLS, which the server must offer.
    StartTls,
    /// Never encrypted.
    Plain,
}

impl Target {
    /// The smallest update this target is told about.
    pub fn threshold(&self) -> Threshold {
        self.threshold
    }

    /// True if a notice of this kind and size should go to this target.
    pub fn wants(&self, kind: super::EventKind, update: UpdateKind) -> bool {
        use super::EventKind;
        match kind {
            EventKind::UpdateAvailable | EventKind::UpdateApplied => self.threshold.admits(update),
            EventKind::UpdateRolledBack | EventKind::RollbackFailed => true,
        }
    }
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let url = Url::parse(text).map_err(|error| TargetError {
            target: redact_text(text),
            problem: Problem::NotUrl(error.to_string()),
        })?;
        let (base, transport) = match url.scheme().split_once('+') {
            Some((base, transport)) => (base, Some(transport)),
            None => (url.scheme(), None),
        };
        let kind = match (base, transport) {
            ("http" | "https", None) => Kind::Webhook,
            ("slack", _) => Kind::Slack,
            ("discord", _) => Kind::Discord,
            ("ntfy", _) => Kind::Ntfy,
            ("smtp" | "smtps", None) => Kind::Email,
            _ => {
                return Err(TargetError {
                    target: redact(&url, Secret::None),
                    problem: Problem::UnknownScheme(url.scheme().to_owned()),
                });
            }
        };
        let plain_http = match transport {
            None | Some("https") => false,
            Some("http") => true,
            Some(_) => {
                return Err(TargetError {
                    target: redact(&url, Secret::None),
                    problem: Problem::UnknownScheme(url.scheme().to_owned()),
                });
            }
        };
        let redacted = redact(&url, kind.secret(&url));
        let fail = |problem| TargetError {
            target: redacted.clone(),
            problem,
        };
        let query = Query::parse(&url, kind.own_parameters());
        let threshold = match query.single("threshold").map_err(fail)? {
            Some(word) => Threshold::from_word(word)
                .ok_or_else(|| fail(Problem::BadThreshold(word.to_owned())))?,
            None => Threshold::All,
        };
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(fail(Problem::NoHost(kind)));
        }
        let destination = match kind {
            Kind::Webhook => Destination::Http {
                service: Service::Webhook,
                url: forward(&url, "", &query).map_err(fail)?,
            },
            Kind::Slack => Destination::Http {
                service: Service::Slack,
                url: slack(&url, plain_http, &query).map_err(fail)?,
            },
            Kind::Discord => Destination::Http {
                service: Service::Discord,
                url: discord(&url, plain_http, &query).map_err(fail)?,
            },
            Kind::Ntfy => {
                if path_segments(&url).is_empty() {
                    return Err(fail(Problem::NoTopic));
                }
                let scheme = if plain_http { "http" } else { "https" };
                Destination::Http {
                    service: Service::Ntfy,
                    url: forward(&url, scheme, &query).map_err(fail)?,
                }
            }
            Kind::Email => {
                for key in &query.unknown {
                    tracing::warn!(
                        target_url = %redacted,
                        parameter = %key,
                        "unknown parameter of an email notification target; ignored"
                    );
                }
                Destination::Email(Box::new(email(&url, &query).map_err(fail)?))
            }
        };
        Ok(Self {
            destination,
            threshold,
            redacted,
        })
    }
}

impl fmt::Display for Target {
    /// The URL with its password, tokens and secret parameters masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for Target {
    // Hand-written so that the parsed URL, which still holds the secrets, is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.redacted)
            .field("threshold", &self.threshold)
            .finish()
    }
}

impl Threshold {
    /// True if an update of this size reaches the threshold.
    pub fn admits(self, update: UpdateKind) -> bool {
        match self {
            Self::All => true,
            Self::Patch => matches!(
                update,
                UpdateKind::Patch | UpdateKind::Minor | UpdateKind::Major
            ),
            Self::Minor => matches!(update, UpdateKind::Minor | UpdateKind::Major),
            Self::Major => update == UpdateKind::Major,
        }
    }

    /// The threshold a URL's `threshold=` word names, if any.
    fn from_word(word: &str) -> Option<Self> {
        [Self::All, Self::Patch, Self::Minor, Self::Major]
            .into_iter()
            .find(|threshold| threshold.as_str() == word)
    }

    /// The word used in URLs: `all`, `patch`, `minor` or `major`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Patch => "patch",
            Self::Minor => "minor",
            Self::Major => "major",
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TargetError {
    /// The target URL as written, with its secrets masked.
    pub fn target(&self) -> &str {
        &self.target
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "notification target '{}': {}", self.target, self.problem)
    }
}

impl fmt::Debug for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for TargetError {}

/// The kind of target a URL names, by its scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Webhook,
    Slack,
    Discord,
    Ntfy,
    Email,
}

impl Kind {
    /// The query parameters upkeep reads, and so does not pass on to the service.
    fn own_parameters(self) -> &'static [&'static str] {
        match self {
            Self::Email => &["threshold", "from", "to", "starttls", "danger_plaintext"],
            Self::Webhook | Self::Slack | Self::Discord | Self::Ntfy => &["threshold"],
        }
    }

    /// Which part of a URL of this kind is a secret besides the password.
    fn secret(self, url: &Url) -> Secret {
        match self {
            // The last path segment of a Slack or Discord webhook is its token.
            Self::Slack => Secret::LastSegment,
            Self::Discord if !url.username().is_empty() => Secret::Username,
            Self::Discord => Secret::LastSegment,
            // Anyone who knows an ntfy topic can read and post to it: the name is the secret.
            Self::Ntfy => Secret::LastSegment,
            Self::Webhook | Self::Email => Secret::None,
        }
    }

    fn example(self) -> &'static str {
        match self {
            Self::Webhook => "https://example.com/hooks/upkeep",
            Self::Slack => "slack://hooks.slack.com/services/T000/B000/XXXX",
            Self::Discord => "discord://discord.com/api/webhooks/ID/TOKEN",
            Self::Ntfy => "ntfy://ntfy.sh/my-topic",
            Self::Email => {
                "smtps://user:pass@mail.example.com/?from=upkeep@example.com&to=ops@example.com"
            }
        }
    }
}

/// Everything that can be wrong with a target URL, each with its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    NotUrl(String),
    UnknownScheme(String),
    NoHost(Kind),
    NoWebhookPath(Kind),
    NoTopic,
    Missing {
        parameter: &'static str,
        example: &'static str,
    },
    Repeated(String),
    BadThreshold(String),
    BadBool {
        parameter: &'static str,
        value: String,
    },
    BadMailbox {
        parameter: &'static str,
        value: String,
        reason: String,
    },
    BadHost(String),
    Plaintext,
    StartTlsOnSmtps,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotUrl(reason) => write!(
                f,
                "not a URL ({reason}); write it as scheme://…, e.g. {} or {}",
                Kind::Webhook.example(),
                Kind::Ntfy.example()
            ),
            Self::UnknownScheme(scheme) => write!(
                f,
                "unknown scheme '{scheme}'; use https, http, slack, discord, ntfy, smtp or smtps \
                 (slack+http, discord+http and ntfy+http for plain HTTP)"
            ),
            Self::NoHost(kind) => write!(f, "no host; write it after '//', e.g. {}", kind.example()),
            Self::NoWebhookPath(Kind::Slack) => f.write_str(
                "no webhook path; take Slack's incoming-webhook URL and replace https:// with slack://",
            ),
            Self::NoWebhookPath(_) => f.write_str(
                "no webhook path; take Discord's webhook URL and replace https:// with discord://",
            ),
            Self::NoTopic => write!(
                f,
                "no topic; add it as the path, e.g. {}",
                Kind::Ntfy.example()
            ),
            Self::Missing { parameter, example } => {
                write!(f, "no '{parameter}' address; add {parameter}={example}")
            }
            Self::Repeated(parameter) => {
                write!(f, "'{parameter}' is given more than once; keep one")
            }
            Self::BadThreshold(word) => write!(
                f,
                "unknown threshold '{word}'; use threshold=major, minor, patch or all"
            ),
            Self::BadBool { parameter, value } => write!(
                f,
                "{parameter}='{value}' is neither true nor false; write {parameter}=true or leave it out"
            ),
            Self::BadMailbox {
                parameter,
                value,
                reason,
            } => write!(
                f,
                "'{value}' in '{parameter}' is not an email address ({reason}); write it as \
                 name@example.com or \"Name <name@example.com>\""
            ),
            Self::BadHost(reason) => write!(f, "the host is not valid ({reason}); check the spelling"),
            Self::Plaintext => f.write_str(
                "smtp:// without STARTTLS sends mail and password unencrypted to another machine; \
                 add starttls=true, use smtps://, or add danger_plaintext=true if the network is trusted",
            ),
            Self::StartTlsOnSmtps => f.write_str(
                "smtps:// is encrypted from the start, so starttls=true does not apply; drop it, \
                 or use smtp://…?starttls=true for a server that wants STARTTLS",
            ),
        }
    }
}

/// The query of a target URL: the parameters upkeep reads, percent-decoded, and the rest as
/// written.
struct Query {
    own: Vec<(String, String)>,
    /// Raw `key=value` pieces that belong to the service.
    passed_on: Vec<String>,
    /// Keys of the pieces in `passed_on`, decoded, for warnings.
    unknown: Vec<String>,
}

impl Query {
    fn parse(url: &Url, own_keys: &[&str]) -> Self {
        let mut query = Self {
            own: Vec::new(),
            passed_on: Vec::new(),
            unknown: Vec::new(),
        };
        for piece in url.query().unwrap_or_default().split('&') {
            if piece.is_empty() {
                continue;
            }
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            let key = decode(key);
            if own_keys.contains(&key.as_str()) {
                query.own.push((key, decode(value)));
            } else {
                query.passed_on.push(piece.to_owned());
                query.unknown.push(key);
            }
        }
        query
    }

    /// The value of a parameter that may appear once.
    fn single(&self, key: &str) -> Result<Option<&str>, Problem> {
        let mut values = self.all(key);
        let first = values.next();
        if values.next().is_some() {
            return Err(Problem::Repeated(key.to_owned()));
        }
        Ok(first)
    }

    fn all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> {
        self.own
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }

    fn flag(&self, key: &'static str) -> Result<bool, Problem> {
        match self.single(key)? {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(Problem::BadBool {
                parameter: key,
                value: other.to_owned(),
            }),
        }
    }
}

/// Percent-decodes `text`, leaving `+` alone (addresses such as `ops+upkeep@…` are common).
fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn path_segments(url: &Url) -> Vec<&str> {
    url.path_segments()
        .map(|segments| segments.filter(|segment| !segment.is_empty()).collect())
        .unwrap_or_default()
}

/// The URL to send to: `url` with its scheme replaced by `scheme` (unless empty), and with
/// only the query parameters that belong to the service.
fn forward(url: &Url, scheme: &str, query: &Query) -> Result<Url, Problem> {
    let scheme = if scheme.is_empty() {
        url.scheme()
    } else {
        scheme
    };
    let mut text = format!(
        "{scheme}://{}",
        &url[Position::BeforeUsername..Position::AfterPath]
    );
    if !query.passed_on.is_empty() {
        text.push('?');
        text.push_str(&query.passed_on.join("&"));
    }
    Url::parse(&text).map_err(|error| Problem::BadHost(error.to_string()))
}

fn slack(url: &Url, plain_http: bool, query: &Query) -> Result<Url, Problem> {
    let segments = path_segments(url);
    let host = url.host_str().unwrap_or_default();
    // Apprise's `slack://TokenA/TokenB/TokenC`: the "host" is the first token.
    if !host.contains('.') && host != "localhost" && url.port().is_none() && segments.len() == 2 {
        let text = format!(
            "https://hooks.slack.com/services/{host}/{}/{}",
            segments[0], segments[1]
        );
        return Url::parse(&text).map_err(|error| Problem::BadHost(error.to_string()));
    }
    if segments.is_empty() {
        return Err(Problem::NoWebhookPath(Kind::Slack));
    }
    forward(url, if plain_http { "http" } else { "https" }, query)
}

fn discord(url: &Url, plain_http: bool, query: &Query) -> Result<Url, Problem> {
    let segments = path_segments(url);
    let host = url.host_str().unwrap_or_default();
    let numeric_host = host.bytes().all(|byte| byte.is_ascii_digit());
    let short = |id: &str, token: &str| {
        let mut text = format!("https://discord.com/api/webhooks/{id}/{token}");
        if !query.passed_on.is_empty() {
            text.push('?');
            text.push_str(&query.passed_on.join("&"));
        }
        Url::parse(&text).map_err(|error| Problem::BadHost(error.to_string()))
    };
    // Shoutrrr's `discord://TOKEN@ID` and Apprise's `discord://ID/TOKEN`.
    if numeric_host && !url.username().is_empty() && segments.is_empty() {
        return short(host, url.username());
    }
    if numeric_host && url.username().is_empty() && segments.len() == 1 {
        return short(host, segments[0]);
    }
    if segments.is_empty() {
        return Err(Problem::NoWebhookPath(Kind::Discord));
    }
    forward(url, if plain_http { "http" } else { "https" }, query)
}

fn email(url: &Url, query: &Query) -> Result<Email, Problem> {
    let tls = url.scheme() == "smtps";
    let starttls = query.flag("starttls")?;
    let danger_plaintext = query.flag("danger_plaintext")?;
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let security = match (tls, starttls) {
        (true, true) => return Err(Problem::StartTlsOnSmtps),
        (true, false) => Security::Tls,
        (false, true) => Security::StartTls,
        (false, false) if is_loopback(&host) || danger_plaintext => Security::Plain,
        (false, false) => return Err(Problem::Plaintext),
    };
    let port = url.port().unwrap_or(match security {
        Security::Tls => 465,
        Security::StartTls => 587,
        Security::Plain => 25,
    });
    let credentials = (!url.username().is_empty()).then(|| {
        (
            decode(url.username()),
            url.password().map(decode).unwrap_or_default(),
        )
    });
    let mailbox = |parameter: &'static str, value: &str| {
        value
            .trim()
            .parse::<Mailbox>()
            .map_err(|error| Problem::BadMailbox {
                parameter,
                value: value.to_owned(),
                reason: error.to_string().to_lowercase(),
            })
    };
    let from = match query.single("from")? {
        Some(value) => mailbox("from", value)?,
        None => {
            return Err(Problem::Missing {
                parameter: "from",
                example: "upkeep@example.com",
            });
        }
    };
    let to = query
        .all("to")
        .flat_map(|value| value.split(','))
        .filter(|value| !value.trim().is_empty())
        .map(|value| mailbox("to", value))
        .collect::<Result<Vec<_>, _>>()?;
    if to.is_empty() {
        return Err(Problem::Missing {
            parameter: "to",
            example: "ops@example.com",
        });
    }
    Ok(Email {
        host,
        port,
        security,
        credentials,
        from,
        to,
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// Which part of a URL, besides the password, is a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secret {
    None,
    LastSegment,
    Username,
}

/// The mask that replaces a secret.
const MASK: &str = "****";

/// Query parameters whose values are masked wherever they appear.
const SECRET_PARAMETERS: &[&str] = &[
    "token",
    "access_token",
    "auth",
    "key",
    "apikey",
    "api_key",
    "secret",
    "password",
    "pass",
    "sig",
    "signature",
];

/// `url` as it may be shown: password, secret parameters and the named secret masked.
fn redact(url: &Url, secret: Secret) -> String {
    let mut shown = url.clone();
    // Setting these fails only for URLs that cannot have them, which then have nothing to mask.
    if shown.password().is_some() {
        let _ = shown.set_password(Some(MASK));
    }
    if secret == Secret::Username && !shown.username().is_empty() {
        let _ = shown.set_username(MASK);
    }
    if secret == Secret::LastSegment {
        let mut segments: Vec<String> = path_segments(url).into_iter().map(str::to_owned).collect();
        if let Some(last) = segments.last_mut() {
            MASK.clone_into(last);
            shown.set_path(&format!("/{}", segments.join("/")));
        }
    }
    if let Some(query) = url.query() {
        let masked: Vec<String> = query
            .split('&')
            .map(|piece| match piece.split_once('=') {
                Some((key, _))
                    if SECRET_PARAMETERS.contains(&decode(key).to_ascii_lowercase().as_str()) =>
                {
                    format!("{key}={MASK}")
                }
                _ => piece.to_owned(),
            })
            .collect();
        shown.set_query(Some(&masked.join("&")));
    }
    shown.to_string()
}

/// Best-effort masking of the password in text that is not a URL, for error messages.
fn redact_text(text: &str) -> String {
    let start = text.find("://").map_or(0, |index| index + 3);
    let rest = &text[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:{MASK}{}",
                &text[..start],
                &authority[..colon],
                &text[start + at..]
            ),
            None => text.to_owned(),
        },
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[track_caller]
    fn parse(text: &str) -> Target {
        match text.parse::<Target>() {
            Ok(target) => target,
            Err(error) => panic!("{text} should parse, got: {error}"),
        }
    }

    #[track_caller]
    fn parse_err(text: &str) -> String {
        match text.parse::<Target>() {
            Ok(target) => panic!("{text} should fail, parsed as {target:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn address(target: &Target) -> String {
        match &target.destination {
            Destination::Http { url, .. } => url.to_string(),
            Destination::Email(email) => format!(
                "{:?} {}:{} {:?} from={} to={}",
                email.security,
                email.host,
                email.port,
                email.credentials,
                email.from,
                email
                    .to
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    #[test]
    fn http_targets_and_where_they_send() {
        let cases = [
            (
                "https://example.com/hook?threshold=minor&token=abc",
                "https://example.com/hook?token=abc",
                Threshold::Minor,
                "https://example.com/hook?threshold=minor&token=****",
            ),
            (
                "http://bob:s3cret@127.0.0.1:8080/in",
                "http://bob:s3cret@127.0.0.1:8080/in",
                Threshold::All,
                "http://bob:****@127.0.0.1:8080/in",
            ),
            (
                "slack://hooks.slack.com/services/T1/B2/XSECRET",
                "https://hooks.slack.com/services/T1/B2/XSECRET",
                Threshold::All,
                "slack://hooks.slack.com/services/T1/B2/****",
            ),
            (
                "slack://T1/B2/XSECRET?threshold=major",
                "https://hooks.slack.com/services/T1/B2/XSECRET",
                Threshold::Major,
                "slack://T1/B2/****?threshold=major",
            ),
            (
                "slack+http://127.0.0.1:9000/services/T/B/X",
                "http://127.0.0.1:9000/services/T/B/X",
                Threshold::All,
                "slack+http://127.0.0.1:9000/services/T/B/****",
            ),
            (
                "discord://discord.com/api/webhooks/123/TOKEN?thread_id=7",
                "https://discord.com/api/webhooks/123/TOKEN?thread_id=7",
                Threshold::All,
                "discord://discord.com/api/webhooks/123/****?thread_id=7",
            ),
            (
                "discord://123/TOKEN",
                "https://discord.com/api/webhooks/123/TOKEN",
                Threshold::All,
                "discord://123/****",
            ),
            (
                "discord://TOKEN@123?threshold=patch",
                "https://discord.com/api/webhooks/123/TOKEN",
                Threshold::Patch,
                "discord://****@123?threshold=patch",
            ),
            (
                "ntfy://ntfy.sh/upkeep",
                "https://ntfy.sh/upkeep",
                Threshold::All,
                "ntfy://ntfy.sh/****",
            ),
            (
                "ntfy+http://me:pw@localhost:8081/alerts?threshold=minor",
                "http://me:pw@localhost:8081/alerts",
                Threshold::Minor,
                "ntfy+http://me:****@localhost:8081/****?threshold=minor",
            ),
        ];
        for (text, sends_to, threshold, shown) in cases {
            let target = parse(text);
            assert_eq!(address(&target), sends_to, "{text}");
            assert_eq!(target.threshold(), threshold, "{text}");
            assert_eq!(target.to_string(), shown, "{text}");
            assert!(!format!("{target:?}").contains("s3cret"), "{text}");
        }
    }

    #[test]
    fn email_targets() {
        let cases = [
            (
                "smtps://bob:p%40ss@mail.example.com/?from=upkeep@example.com&to=ops@example.com",
                r#"Tls mail.example.com:465 Some(("bob", "p@ss")) from=upkeep@example.com to=ops@example.com"#,
                "smtps://bob:****@mail.example.com/?from=upkeep@example.com&to=ops@example.com",
            ),
            (
                "smtp://mail.example.com?starttls=true&from=Upkeep%20%3Cu@example.com%3E&to=a@example.com,b+c@example.com&to=d@example.com",
                r#"StartTls mail.example.com:587 None from=Upkeep <u@example.com> to=a@example.com,b+c@example.com,d@example.com"#,
                "smtp://mail.example.com?starttls=true&from=Upkeep%20%3Cu@example.com%3E&to=a@example.com,b+c@example.com&to=d@example.com",
            ),
            (
                "smtp://127.0.0.1:2525/?from=u@example.com&to=ops@example.com",
                "Plain 127.0.0.1:2525 None from=u@example.com to=ops@example.com",
                "smtp://127.0.0.1:2525/?from=u@example.com&to=ops@example.com",
            ),
            (
                "smtp://[::1]/?from=u@example.com&to=ops@example.com",
                "Plain ::1:25 None from=u@example.com to=ops@example.com",
                "smtp://[::1]/?from=u@example.com&to=ops@example.com",
            ),
            (
                "smtp://relay.lan/?from=u@example.com&to=ops@example.com&danger_plaintext=true&threshold=major",
                "Plain relay.lan:25 None from=u@example.com to=ops@example.com",
                "smtp://relay.lan/?from=u@example.com&to=ops@example.com&danger_plaintext=true&threshold=major",
            ),
        ];
        for (text, sends_to, shown) in cases {
            let target = parse(text);
            assert_eq!(address(&target), sends_to, "{text}");
            assert_eq!(target.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn errors_name_the_url_the_problem_and_the_fix() {
        let cases = [
            (
                "hooks.example.com/x",
                "notification target 'hooks.example.com/x': not a URL (relative URL without a base); \
                 write it as scheme://…, e.g. https://example.com/hooks/upkeep or ntfy://ntfy.sh/my-topic",
            ),
            (
                "gotify://bob:hunter2@push.example.com/",
                "notification target 'gotify://bob:****@push.example.com/': unknown scheme 'gotify'; \
                 use https, http, slack, discord, ntfy, smtp or smtps (slack+http, discord+http and ntfy+http for plain HTTP)",
            ),
            (
                "slack+ftp://hooks.slack.com/services/T/B/X",
                "notification target 'slack+ftp://hooks.slack.com/services/T/B/X': unknown scheme 'slack+ftp'; \
                 use https, http, slack, discord, ntfy, smtp or smtps (slack+http, discord+http and ntfy+http for plain HTTP)",
            ),
            (
                "slack://hooks.slack.com",
                "notification target 'slack://hooks.slack.com': no webhook path; \
                 take Slack's incoming-webhook URL and replace https:// with slack://",
            ),
            (
                "discord://discord.com/",
                "notification target 'discord://discord.com/': no webhook path; \
                 take Discord's webhook URL and replace https:// with discord://",
            ),
            (
                "ntfy:///topic",
                "notification target 'ntfy:///****': no host; write it after '//', e.g. ntfy://ntfy.sh/my-topic",
            ),
            (
                "ntfy://ntfy.sh",
                "notification target 'ntfy://ntfy.sh': no topic; add it as the path, e.g. ntfy://ntfy.sh/my-topic",
            ),
            (
                "https://example.com/hook?threshold=huge",
                "notification target 'https://example.com/hook?threshold=huge': unknown threshold 'huge'; \
                 use threshold=major, minor, patch or all",
            ),
            (
                "https://example.com/hook?threshold=minor&threshold=major",
                "notification target 'https://example.com/hook?threshold=minor&threshold=major': \
                 'threshold' is given more than once; keep one",
            ),
            (
                "smtps://bob:hunter2@mail.example.com/?to=ops@example.com",
                "notification target 'smtps://bob:****@mail.example.com/?to=ops@example.com': \
                 no 'from' address; add from=upkeep@example.com",
            ),
            (
                "smtps://bob:hunter2@mail.example.com/?from=u@example.com",
                "notification target 'smtps://bob:****@mail.example.com/?from=u@example.com': \
                 no 'to' address; add to=ops@example.com",
            ),
            (
                "smtps://mail.example.com/?from=u@example.com&to=ops",
                "notification target 'smtps://mail.example.com/?from=u@example.com&to=ops': \
                 'ops' in 'to' is not an email address (invalid input); \
                 write it as name@example.com or \"Name <name@example.com>\"",
            ),
            (
                "smtp://bob:hunter2@mail.example.com/?from=u@example.com&to=ops@example.com",
                "notification target 'smtp://bob:****@mail.example.com/?from=u@example.com&to=ops@example.com': \
                 smtp:// without STARTTLS sends mail and password unencrypted to another machine; \
                 add starttls=true, use smtps://, or add danger_plaintext=true if the network is trusted",
            ),
            (
                "smtps://mail.example.com/?from=u@example.com&to=ops@example.com&starttls=true",
                "notification target 'smtps://mail.example.com/?from=u@example.com&to=ops@example.com&starttls=true': \
                 smtps:// is encrypted from the start, so starttls=true does not apply; drop it, \
                 or use smtp://…?starttls=true for a server that wants STARTTLS",
            ),
            (
                "smtp://mail.example.com/?from=u@example.com&to=ops@example.com&starttls=yes",
                "notification target 'smtp://mail.example.com/?from=u@example.com&to=ops@example.com&starttls=yes': \
                 starttls='yes' is neither true nor false; write starttls=true or leave it out",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_err(text), expected, "{text}");
        }
    }

    #[test]
    fn passwords_are_masked_even_when_the_url_does_not_parse() {
        assert_eq!(
            redact_text("smtp://bob:hunter 2@[bad/x"),
            "smtp://bob:****@[bad/x"
        );
        assert_eq!(redact_text("bob:pw@host"), "bob:****@host");
        assert_eq!(redact_text("no-secrets-here"), "no-secrets-here");
        let error = parse_err("smtp://bob:hunter2@[bad/");
        assert!(!error.contains("hunter2"), "{error}");
        assert!(
            error.starts_with("notification target 'smtp://bob:****@[bad/': not a URL ("),
            "{error}"
        );
    }

    #[test]
    fn thresholds_admit_updates_of_their_size_and_larger() {
        use UpdateKind::*;
        let sizes = [Build, Prerelease, Patch, Minor, Major, Downgrade, Unknown];
        let admitted = |threshold: Threshold| -> Vec<UpdateKind> {
            sizes
                .into_iter()
                .filter(|size| threshold.admits(*size))
                .collect()
        };
        assert_eq!(admitted(Threshold::All), sizes.to_vec());
        assert_eq!(admitted(Threshold::Patch), [Patch, Minor, Major]);
        assert_eq!(admitted(Threshold::Minor), [Minor, Major]);
        assert_eq!(admitted(Threshold::Major), [Major]);
    }

    #[test]
    fn rollbacks_pass_any_threshold() {
        use super::super::EventKind;
        let target = parse("ntfy://ntfy.sh/t?threshold=major");
        assert!(!target.wants(EventKind::UpdateAvailable, UpdateKind::Minor));
        assert!(!target.wants(EventKind::UpdateApplied, UpdateKind::Patch));
        assert!(target.wants(EventKind::UpdateApplied, UpdateKind::Major));
        assert!(target.wants(EventKind::UpdateRolledBack, UpdateKind::Patch));
        assert!(target.wants(EventKind::RollbackFailed, UpdateKind::Build));
    }
}
