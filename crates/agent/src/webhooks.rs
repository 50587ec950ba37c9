//! Registry webhooks: check that a delivery from Docker Hub, GitHub, Quay or a Distribution
//! registry comes from the sender the user configured, and read the image pushes it reports.
//!
//! The agent's HTTP route hands each delivery to [`parse`], then checks the deployments that
//! follow the pushed repositories at once instead of at the next scheduled check. A [`Push`] is
//! a hint, not a fact: the agent re-resolves the tag through the registry API before it acts, so
//! a stale or replayed delivery can at worst cause an early check.
//!
//! # Authenticity
//!
//! Every source needs a secret in [`WebhookSecrets`]; a source without one is refused
//! ([`WebhookError::SourceDisabled`]), so a missing secret never means "accept anything".
//!
//! - **GitHub** signs each delivery: `X-Hub-Signature-256: sha256=<hex>` is the HMAC-SHA256 of
//!   the raw body, keyed with the webhook's secret. Set the same secret in the webhook's
//!   settings on GitHub and in [`WebhookSecrets::github`].
//! - **Docker Hub, Quay and Distribution** sign nothing, and Docker Hub and Quay cannot add
//!   headers: the one thing all three can send is the URL they were given. So the user puts a
//!   random token in the `token` query parameter of the webhook URL, such as
//!   `https://agent.example/webhooks/docker-hub?token=3f9c...`, and the agent compares it with
//!   the source's secret. For Distribution that is the `url` of the endpoint in the registry's
//!   `notifications.endpoints`; its static `headers` are not used. Because the token travels in
//!   the URL, the route must not log query strings.
//!
//! Secrets are compared in constant time: [`WebhookSecret`] has no `==`, only a comparison that
//! runs HMAC-SHA256 over both sides and compares the tags with `hmac`'s constant-time check.
//!
//! # What a delivery yields
//!
//! [`parse`] returns the pushes of image tags a delivery reports, each normalised the way
//! [`ImageRef`] normalises references, so that it
//! matches deployments by `registry/repository`: Docker Hub is `docker.io` and its official
//! images are `library/NAME`, hosts are lower-case. Deliveries that are genuine but report no
//! push of a tag give `Ok(vec![])`: GitHub's `ping`, packages that are not containers, untagged
//! manifests (the per-platform halves of a multi-arch push), Quay build events, and
//! Distribution's pulls, deletes, blob events and pushes by digest. A push from a registry
//! that is not in the [`RegistryAllowlist`] fails the whole delivery.
//!
//! # What this module does not do
//!
//! It runs no HTTP server and reads no configuration; it does not limit the size of bodies
//! (the route does, before calling [`parse`]); it does not dedupe repeated deliveries (GitHub's
//! `X-GitHub-Delivery`, the registries' retries): that is the caller's, as is re-resolving a
//! pushed tag.

mod distribution;
mod docker_hub;
mod github;
mod quay;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use upkeep_versioning_core::reference::{
    DOCKER_HUB, Digest, ImageRef, MAX_NAME_LEN, MAX_TAG_LEN, ReferenceError, Tag,
};

/// The sender of a webhook delivery. Each has its own route, payload format and way of proving
/// who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Source {
    /// Docker Hub's repository webhooks (`push_data`, `repository`). Unsigned: token in the URL.
    DockerHub,
    /// GitHub's `package` and `registry_package` events for GitHub Container Registry.
    /// Signed with `X-Hub-Signature-256`.
    GitHub,
    /// Quay's "Push to Repository" notification with the webhook method (`updated_tags`).
    /// Unsigned: token in the URL.
    Quay,
    /// The notifications of a CNCF Distribution registry (`registry:2`, Debian's
    /// `docker-registry`): an envelope of `events`. Unsigned: token in the URL.
    Distribution,
}

impl Source {
    /// Every source, in the order of the routes.
    pub const ALL: [Self; 4] = [
        Self::DockerHub,
        Self::GitHub,
        Self::Quay,
        Self::Distribution,
    ];

    /// The name in routes and configuration: `docker-hub`, `github`, `quay` or `distribution`.
    /// [`FromStr`] parses it back.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DockerHub => "docker-hub",
            Self::GitHub => "github",
            Self::Quay => "quay",
            Self::Distribution => "distribution",
        }
    }

    /// The name people know the sender by, for messages.
    fn title(self) -> &'static str {
        match self {
            Self::DockerHub => "Docker Hub",
            Self::GitHub => "GitHub",
            Self::Quay => "Quay",
            Self::Distribution => "Distribution",
        }
    }
}

/// The name people know the sender by ("Docker Hub"); [`Source::as_str`] gives the route name.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

impl FromStr for Source {
    type Err = UnknownSourceError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|source| source.as_str() == name)
            .ok_or_else(|| UnknownSourceError {
                name: truncated(name),
            })
    }
}

/// Deserialises from the route name, so that a route can take `Path<Source>`.
impl<'de> serde::Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A webhook source name that is none of [`Source::as_str`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown webhook source '{name}'; expected 'docker-hub', 'github', 'quay' or 'distribution'"
)]
pub struct UnknownSourceError {
    name: String,
}

/// One image push that a delivery reports: which tag of which repository now points at new
/// content.
///
/// `registry` and `repository` are normalised as in [`ImageRef`], so
/// `format!("{registry}/{repository}")` equals the [`ImageRef::name`] of the deployments to
/// check.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Push {
    /// The registry host with its port, lower-case: `docker.io`, `ghcr.io`, `quay.io`,
    /// `127.0.0.1:5000`.
    pub registry: String,
    /// The repository path: `library/nginx`, `owner/app`.
    pub repository: String,
    /// The tag pushed. `None` when the sender did not say (a Docker Hub delivery without
    /// `push_data.tag`): check every deployment of the repository.
    pub tag: Option<String>,
    /// The manifest digest the tag now points at, when the sender gave a well-formed one (GitHub
    /// and Distribution do; Docker Hub and Quay do not).
    pub digest: Option<String>,
}

impl Push {
    /// `registry/repository`, the name deployments are matched by.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// `registry/repository[:tag][@digest]`, as in an image reference.
impl fmt::Display for Push {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// A webhook secret: GitHub's signing key, or the token of an unsigned source.
///
/// It deliberately has no `PartialEq`: the only comparison is the constant-time one [`parse`]
/// uses. `Debug` does not show it.
#[derive(Clone)]
pub struct WebhookSecret(Box<[u8]>);

impl WebhookSecret {
    /// The secret, or `None` when it is empty (an empty token would accept `?token=`).
    ///
    /// The text is used exactly as given: trim a trailing newline from a secret file first.
    pub fn new(secret: impl Into<String>) -> Option<Self> {
        let secret = secret.into();
        (!secret.is_empty()).then(|| Self(secret.into_bytes().into_boxed_slice()))
    }

    /// True when `presented` is this secret, in time that depends on neither.
    ///
    /// Both sides are MACed under one fixed key and the tags compared with `verify_slice`, which
    /// is constant time; comparing tags of equal length also hides the secret's length.
    fn matches(&self, presented: &[u8]) -> bool {
        const KEY: &[u8] = b"upkeep webhook token comparison";
        let mut expected = hmac_sha256(KEY);
        expected.update(&self.0);
        let expected = expected.finalize().into_bytes();
        let mut presented_mac = hmac_sha256(KEY);
        presented_mac.update(presented);
        presented_mac.verify_slice(&expected).is_ok()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The secret of each source; a source without one is refused.
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    /// The secret set in the GitHub webhook's settings, which keys `X-Hub-Signature-256`.
    pub github: Option<WebhookSecret>,
    /// The `token` query parameter of Docker Hub's webhook URLs.
    pub docker_hub: Option<WebhookSecret>,
    /// The `token` query parameter of Quay's webhook URLs.
    pub quay: Option<WebhookSecret>,
    /// The `token` query parameter of the Distribution registry's notification endpoint URL.
    pub distribution: Option<WebhookSecret>,
}

impl WebhookSecrets {
    /// One token for every unsigned source (Docker Hub, Quay, Distribution) and GitHub's
    /// secret: the agent configuration's `webhooks.token_env` and
    /// `webhooks.github_secret_env`.
    pub fn shared(token: Option<WebhookSecret>, github: Option<WebhookSecret>) -> Self {
        Self {
            github,
            docker_hub: token.clone(),
            quay: token.clone(),
            distribution: token,
        }
    }

    /// The secret of `source`, when one is configured.
    pub fn for_source(&self, source: Source) -> Option<&WebhookSecret> {
        match source {
            Source::GitHub => self.github.as_ref(),
            Source::DockerHub => self.docker_hub.as_ref(),
            Source::Quay => self.quay.as_ref(),
            Source::Distribution => self.distribution.as_ref(),
        }
    }
}

/// The registries whose pushes the agent accepts, normalised like [`Push::registry`].
///
/// The secrets prove who sent a delivery, not which registry it speaks for: a Distribution
/// registry reports whatever host its clients used, and one GitHub webhook secret covers every
/// package of an organisation. The allowlist bounds what a sender can make the agent look at.
/// An empty list allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryAllowlist(BTreeSet<String>);

impl RegistryAllowlist {
    /// The allowlist of these registry hosts (`docker.io`, `ghcr.io`, `registry.local:5000`).
    /// They are normalised as image references are: lower-case, and Docker Hub's other names
    /// (`index.docker.io`, `registry-1.docker.io`) as `docker.io`.
    pub fn new<I, S>(registries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self(
            registries
                .into_iter()
                .map(|registry| normalise_registry(registry.as_ref()))
                .collect(),
        )
    }

    /// True when pushes from `registry` (as in [`Push::registry`]) are allowed.
    pub fn contains(&self, registry: &str) -> bool {
        self.0.contains(registry)
    }

    /// The allowed registries, normalised, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl<S: AsRef<str>> FromIterator<S> for RegistryAllowlist {
    fn from_iter<I: IntoIterator<Item = S>>(registries: I) -> Self {
        Self::new(registries)
    }
}

/// What [`parse`] needs besides the delivery: the secrets and the allowed registries.
#[derive(Debug, Clone, Default)]
pub struct WebhookConfig {
    /// The secret of each source.
    pub secrets: WebhookSecrets,
    /// The registries whose pushes are accepted.
    pub allowed_registries: RegistryAllowlist,
}

/// Checks that a delivery comes from `source` and returns the image pushes it reports.
///
/// - `query` is the request URI's query string without the `?` (axum: `RawQuery`, or
///   `uri.query()`); the unsigned sources carry their `token` there.
/// - `headers` are the request headers; GitHub's signature and event name are there.
/// - `body` is the raw body, before any JSON parsing: GitHub signs these exact bytes.
///
/// The credentials are checked before the body is read. `Ok(vec![])` means the delivery was
/// genuine but reported no push of a tag (see the [module docs](self)); answer it with a 2xx so
/// that the sender does not retry. On error, answer [`WebhookError::status`] with the message.
///
/// ```
/// use http::HeaderMap;
/// use upkeep_agent::webhooks::{self, RegistryAllowlist, Source, WebhookConfig, WebhookSecret};
///
/// let mut config = WebhookConfig::default();
/// config.secrets.docker_hub = WebhookSecret::new("3f9c0a");
/// config.allowed_registries = RegistryAllowlist::new(["docker.io"]);
///
/// let body = br#"{"push_data":{"tag":"1.27"},"repository":{"repo_name":"nginx"}}"#;
/// let headers = HeaderMap::new();
/// let pushes = webhooks::parse(Source::DockerHub, Some("token=3f9c0a"), &headers, body, &config)?;
/// assert_eq!(pushes[0].to_string(), "docker.io/library/nginx:1.27");
///
/// let guess = webhooks::parse(Source::DockerHub, Some("token=guess"), &headers, body, &config);
/// assert_eq!(guess.unwrap_err().status(), 401);
/// # Ok::<(), webhooks::WebhookError>(())
/// ```
pub fn parse(
    source: Source,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    config: &WebhookConfig,
) -> Result<Vec<Push>, WebhookError> {
    let secret = config
        .secrets
        .for_source(source)
        .ok_or(WebhookError::SourceDisabled { sender: source })?;
    let pushes = match source {
        Source::GitHub => {
            verify_signature(headers, body, secret)?;
            github::parse(headers, body)?
        }
        Source::DockerHub => {
            verify_token(source, query, secret)?;
            docker_hub::parse(body)?
        }
        Source::Quay => {
            verify_token(source, query, secret)?;
            quay::parse(body)?
        }
        Source::Distribution => {
            verify_token(source, query, secret)?;
            distribution::parse(body)?
        }
    };
    if let Some(push) = pushes
        .iter()
        .find(|push| !config.allowed_registries.contains(&push.registry))
    {
        return Err(WebhookError::RegistryNotAllowed {
            sender: source,
            registry: push.registry.clone(),
            repository: push.repository.clone(),
        });
    }
    Ok(dedupe(pushes))
}

/// Why a delivery was refused. Each message says what was wrong and how to fix the sender's
/// configuration; [`WebhookError::status`] gives the HTTP status to answer with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The agent has no secret for this source, so it accepts none of its deliveries.
    #[error(
        "webhooks from {sender} are disabled: the agent has no {sender} webhook secret; \
         configure one to accept them"
    )]
    SourceDisabled {
        /// The source.
        sender: Source,
    },
    /// A GitHub delivery without `X-Hub-Signature-256`.
    #[error(
        "missing `X-Hub-Signature-256` header: GitHub signs deliveries only when the webhook has \
         a secret; set the webhook's secret on GitHub to the agent's GitHub webhook secret"
    )]
    MissingSignature,
    /// `X-Hub-Signature-256` is not `sha256=` followed by 64 hex digits.
    #[error(
        "malformed `X-Hub-Signature-256` header: expected 'sha256=' followed by 64 hex digits; \
         is this delivery from GitHub?"
    )]
    MalformedSignature,
    /// The signature does not match the body under the configured secret.
    #[error(
        "bad `X-Hub-Signature-256` signature: the body was not signed with the agent's GitHub \
         webhook secret; set the same secret in the webhook's settings on GitHub"
    )]
    BadSignature,
    /// An unsigned source's delivery without the `token` query parameter.
    #[error(
        "missing `token` query parameter: add `?token=<secret>` to the webhook URL ({}), with \
         the agent's {sender} webhook secret",
        webhook_url_setting(*sender)
    )]
    MissingToken {
        /// The source.
        sender: Source,
    },
    /// The `token` query parameter is not the source's secret.
    #[error(
        "wrong `token` query parameter: the token in the webhook URL ({}) is not the agent's \
         {sender} webhook secret",
        webhook_url_setting(*sender)
    )]
    BadToken {
        /// The source.
        sender: Source,
    },
    /// A GitHub delivery without `X-GitHub-Event`.
    #[error("missing `X-GitHub-Event` header: is this delivery from GitHub?")]
    MissingEvent,
    /// A GitHub event that never reports a push (`ping` is accepted and ignored, not this).
    #[error(
        "GitHub event '{event}' reports no image push: in the webhook's settings on GitHub, \
         choose \"Let me select individual events\" and select only \"Packages\" (or \"Registry \
         packages\")"
    )]
    UnsupportedEvent {
        /// The `X-GitHub-Event` header, shortened if long.
        event: String,
    },
    /// The body is not JSON, or its JSON does not have the documented shape (a string where an
    /// object belongs, say). The cause has serde's description.
    #[error(
        "cannot read the {sender} webhook's JSON at line {line}, column {column}; {}",
        payload_hint(*sender)
    )]
    MalformedJson {
        /// The source.
        sender: Source,
        /// The line of the problem, from 1.
        line: usize,
        /// The column of the problem, from 1 (0 for an empty body).
        column: usize,
        /// serde's error.
        #[source]
        error: serde_json::Error,
    },
    /// A field the push cannot be read without is missing or null.
    #[error("the {sender} webhook has no `{path}`; {}", payload_hint(*sender))]
    MissingField {
        /// The source.
        sender: Source,
        /// The JSON path of the field, such as `repository.repo_name` or
        /// `events[2].target.repository`.
        path: String,
    },
    /// A repository name or tag that is not valid in an image reference.
    #[error("invalid `{path}` in the {sender} webhook")]
    InvalidReference {
        /// The source.
        sender: Source,
        /// The JSON path of the field.
        path: String,
        /// What is wrong with it, quoting it. Boxed to keep results small.
        #[source]
        error: Box<ReferenceError>,
    },
    /// A field that cannot be part of an image reference for another reason.
    #[error("invalid `{path}` in the {sender} webhook: {reason}")]
    InvalidField {
        /// The source.
        sender: Source,
        /// The JSON path of the field.
        path: String,
        /// What is wrong with it, quoting it.
        reason: String,
    },
    /// A push from a registry that is not in the allowlist.
    #[error(
        "pushes from registry '{registry}' are not allowed ({sender} reported '{registry}/\
         {repository}'): add '{registry}' to the agent's allowed webhook registries, or stop \
         sending its webhooks here"
    )]
    RegistryNotAllowed {
        /// The source.
        sender: Source,
        /// The registry, as in [`Push::registry`].
        registry: String,
        /// The repository of the first push from it.
        repository: String,
    },
}

impl WebhookError {
    /// The HTTP status to answer with: 400 for a payload the agent cannot read, 401 for
    /// missing or wrong credentials, 403 for a disabled source or a registry that is not
    /// allowed.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingEvent
            | Self::UnsupportedEvent { .. }
            | Self::MalformedJson { .. }
            | Self::MissingField { .. }
            | Self::InvalidReference { .. }
            | Self::InvalidField { .. } => 400,
            Self::MissingSignature
            | Self::MalformedSignature
            | Self::BadSignature
            | Self::MissingToken { .. }
            | Self::BadToken { .. } => 401,
            Self::SourceDisabled { .. } | Self::RegistryNotAllowed { .. } => 403,
        }
    }
}

/// Where the user sets the webhook URL of a source.
fn webhook_url_setting(sender: Source) -> &'static str {
    match sender {
        Source::DockerHub => "the repository's Webhooks tab on Docker Hub",
        Source::GitHub => "the webhook's settings on GitHub",
        Source::Quay => "the repository's notification settings on Quay",
        Source::Distribution => "`notifications.endpoints[].url` in the registry's configuration",
    }
}

/// How to fix a payload the agent cannot read.
fn payload_hint(sender: Source) -> String {
    match sender {
        Source::Quay => "a JSON template in Quay's notification settings must keep `docker_url` \
                         and `updated_tags`, or be removed"
            .to_owned(),
        _ => format!("is this a {sender} webhook? each source has its own URL on the agent"),
    }
}

// ---------------------------------------------------------------------------------------------
// Authenticity
// ---------------------------------------------------------------------------------------------

/// The header that carries GitHub's signature.
const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Checks GitHub's `X-Hub-Signature-256` over the raw body.
fn verify_signature(
    headers: &HeaderMap,
    body: &[u8],
    secret: &WebhookSecret,
) -> Result<(), WebhookError> {
    let header = headers
        .get(SIGNATURE_HEADER)
        .ok_or(WebhookError::MissingSignature)?;
    let signature = header
        .to_str()
        .ok()
        .and_then(|text| text.trim().strip_prefix("sha256="))
        .and_then(decode_hex)
        .filter(|signature| signature.len() == 32)
        .ok_or(WebhookError::MalformedSignature)?;
    let mut mac = hmac_sha256(&secret.0);
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| WebhookError::BadSignature)
}

/// Checks the `token` query parameter of an unsigned source.
fn verify_token(
    source: Source,
    query: Option<&str>,
    secret: &WebhookSecret,
) -> Result<(), WebhookError> {
    let token = query
        .and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "token")
        })
        .map(|(_, value)| value)
        .ok_or(WebhookError::MissingToken { sender: source })?;
    if secret.matches(token.as_bytes()) {
        Ok(())
    } else {
        Err(WebhookError::BadToken { sender: source })
    }
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    let Ok(mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac
}

/// Lower- or upper-case hex to bytes; `None` for an odd length or a non-hex character.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    fn nibble(byte: u8) -> Option<u8> {
        char::from(byte)
            .to_digit(16)
            .and_then(|digit| u8::try_from(digit).ok())
    }
    let hex = hex.as_bytes();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => Some(nibble(*high)? << 4 | nibble(*low)?),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Helpers for the sources
// ---------------------------------------------------------------------------------------------

/// The longest field value that is quoted in full in a message or handed to the reference
/// parser; longer ones cannot be valid (names have at most 255 characters, tags 128).
const MAX_FIELD_LEN: usize = 2 * MAX_NAME_LEN;

/// Deserialises a payload, keeping serde's position for the message.
fn from_json<T: DeserializeOwned>(sender: Source, body: &[u8]) -> Result<T, WebhookError> {
    serde_json::from_slice(body).map_err(|error| WebhookError::MalformedJson {
        sender,
        line: error.line(),
        column: error.column(),
        error,
    })
}

fn missing(sender: Source, path: impl Into<String>) -> WebhookError {
    WebhookError::MissingField {
        sender,
        path: path.into(),
    }
}

/// Builds a push, normalising and checking the name as an image reference does.
///
/// Each of `registry`, `repository` and `tag` comes with the JSON path of its field, for
/// messages. A digest that is not well-formed is dropped: it is only a hint.
fn push(
    sender: Source,
    (registry, registry_path): (&str, &str),
    (repository, repository_path): (&str, &str),
    tag: Option<(&str, &str)>,
    digest: Option<&str>,
) -> Result<Push, WebhookError> {
    let invalid = |path: &str, reason: String| WebhookError::InvalidField {
        sender,
        path: path.to_owned(),
        reason,
    };
    if !is_host(registry) {
        return Err(invalid(
            registry_path,
            format!(
                "'{}' is not a registry host that image references can name; a registry host \
                 has a '.' or a ':port', or is 'localhost'",
                truncated(registry)
            ),
        ));
    }
    if registry.len() + repository.len() >= MAX_FIELD_LEN {
        return Err(invalid(
            repository_path,
            format!(
                "the name is {} characters long; image names have at most {MAX_NAME_LEN}",
                registry.chars().count() + repository.chars().count() + 1
            ),
        ));
    }
    if repository.contains([':', '@']) {
        return Err(invalid(
            repository_path,
            format!("'{repository}' is not a repository name: it has a ':' or '@'"),
        ));
    }
    let name: ImageRef = format!("{registry}/{repository}")
        .parse()
        .map_err(|error| WebhookError::InvalidReference {
            sender,
            path: repository_path.to_owned(),
            error: Box::new(error),
        })?;
    let tag = match tag {
        Some((tag, path)) if tag.len() > MAX_FIELD_LEN => {
            return Err(invalid(
                path,
                format!(
                    "the tag is {} characters long; tags have at most {MAX_TAG_LEN}",
                    tag.chars().count()
                ),
            ));
        }
        Some((tag, path)) => {
            Some(
                tag.parse::<Tag>()
                    .map_err(|error| WebhookError::InvalidReference {
                        sender,
                        path: path.to_owned(),
                        error: Box::new(error),
                    })?,
            )
        }
        None => None,
    };
    Ok(Push {
        registry: name.registry().to_owned(),
        repository: name.repository().to_owned(),
        tag: tag.map(|tag| tag.as_str().to_owned()),
        digest: digest
            .and_then(|digest| digest.parse::<Digest>().ok())
            .map(|digest| digest.as_str().to_owned()),
    })
}

/// True when image references read `host` as a registry rather than as the first component of
/// a Docker Hub repository.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && !host.contains('/')
        && (host.contains(['.', ':']) || host.eq_ignore_ascii_case("localhost"))
}

/// A registry host as [`ImageRef`] spells it: lower-case, Docker Hub as `docker.io`.
fn normalise_registry(registry: &str) -> String {
    let registry = registry.trim();
    if is_host(registry)
        && let Ok(name) = format!("{registry}/upkeep").parse::<ImageRef>()
    {
        return name.registry().to_owned();
    }
    // Not a host: it can never match a push, whose registries are all hosts. Docker Hub is
    // the exception, when written without its `.io`.
    if registry.eq_ignore_ascii_case("docker") {
        DOCKER_HUB.to_owned()
    } else {
        registry.to_ascii_lowercase()
    }
}

/// Drops repeated pushes, keeping the first of each.
fn dedupe(pushes: Vec<Push>) -> Vec<Push> {
    let mut seen = BTreeSet::new();
    pushes
        .into_iter()
        .filter(|push| seen.insert(push.clone()))
        .collect()
}

/// Text from a sender, shortened for a message.
fn truncated(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    use super::*;

    /// Name, source, `X-GitHub-Event`, body, and the pushes as references.
    type PayloadCase<'a> = (&'a str, Source, &'a str, &'a [u8], &'a [&'a str]);
    /// Name, source, `X-GitHub-Event`, body, status and message with its causes.
    type ErrorCase<'a> = (&'a str, Source, &'a str, &'a [u8], u16, &'a str);
    /// Name, headers, and `Ok` or the status and message.
    type SignatureCase<'a> = (&'a str, &'a [(&'a str, &'a str)], Expected<'a>);
    /// Name, query, and `Ok` or the status and message.
    type TokenCase<'a> = (&'a str, Option<&'a str>, Expected<'a>);
    type Expected<'a> = Result<(), (u16, &'a str)>;

    const TOKEN: &str = "c2f1b7e0-webhook-token";
    // GitHub's documented test secret; see `github_test_vector`.
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";

    fn config() -> WebhookConfig {
        WebhookConfig {
            secrets: WebhookSecrets::shared(
                WebhookSecret::new(TOKEN),
                WebhookSecret::new(GITHUB_SECRET),
            ),
            allowed_registries: RegistryAllowlist::new([
                "docker.io",
                "ghcr.io",
                "quay.io",
                "127.0.0.1:5057",
            ]),
        }
    }

    fn fixture(name: &str) -> &'static [u8] {
        match name {
            "docker-hub-push" => include_bytes!("../tests/webhooks/docker-hub-push.json"),
            "github-package-published" => {
                include_bytes!("../tests/webhooks/github-package-published.json")
            }
            "github-registry-package-published" => {
                include_bytes!("../tests/webhooks/github-registry-package-published.json")
            }
            "github-package-untagged" => {
                include_bytes!("../tests/webhooks/github-package-untagged.json")
            }
            "github-ping" => include_bytes!("../tests/webhooks/github-ping.json"),
            "quay-repo-push" => include_bytes!("../tests/webhooks/quay-repo-push.json"),
            "quay-repo-push-legacy" => {
                include_bytes!("../tests/webhooks/quay-repo-push-legacy.json")
            }
            "distribution-events" => include_bytes!("../tests/webhooks/distribution-events.json"),
            _ => panic!("no fixture {name}"),
        }
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = hmac_sha256(secret.as_bytes());
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let hex: String = tag.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("sha256={hex}")
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                    HeaderValue::from_str(value).expect("header value"),
                )
            })
            .collect()
    }

    /// A delivery with the right credentials: a good signature for GitHub (with `event` as
    /// `X-GitHub-Event`), the right token for the others.
    fn deliver(source: Source, event: &str, body: &[u8]) -> Result<Vec<Push>, WebhookError> {
        let query = format!("token={TOKEN}");
        let signature = sign(GITHUB_SECRET, body);
        let headers = match source {
            Source::GitHub => headers(&[
                ("x-github-event", event),
                ("x-hub-signature-256", &signature),
                ("content-type", "application/json"),
            ]),
            _ => HeaderMap::new(),
        };
        parse(source, Some(&query), &headers, body, &config())
    }

    fn image(reference: &str) -> Push {
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => (name, Some(digest.to_owned())),
            None => (reference, None),
        };
        let (name, tag) = match name.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag.to_owned())),
            _ => (name, None),
        };
        let (registry, repository) = name.split_once('/').expect("registry/repository");
        Push {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag,
            digest,
        }
    }

    /// The message with its causes, one per line, as the agent logs it.
    fn chain(error: &WebhookError) -> String {
        let mut text = error.to_string();
        let mut cause = error.source();
        while let Some(error) = cause {
            text.push_str("\ncaused by: ");
            text.push_str(&error.to_string());
            cause = error.source();
        }
        text
    }

    #[track_caller]
    fn assert_error(result: Result<Vec<Push>, WebhookError>, status: u16, message: &str) {
        match result {
            Ok(pushes) => panic!("expected an error, got {pushes:?}"),
            Err(error) => {
                assert_eq!(chain(&error), message);
                assert_eq!(error.status(), status, "status of: {error}");
            }
        }
    }

    const DIGEST_A: &str =
        "sha256:4c7ab6ee0a0d1a5b3b7f2f6b1e0a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e";
    const DIGEST_B: &str =
        "sha256:9e2d4b8a7c6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d";
    const DIGEST_C: &str =
        "sha256:1e6462cb35a5d3f05e8f1c55c1f5d0e1b4f7a9d3c2b8e6f0a1d4c7b9e2f5a8d3";

    #[test]
    fn real_shaped_payloads() {
        let cases: &[PayloadCase<'_>] = &[
            (
                "Docker Hub push",
                Source::DockerHub,
                "",
                fixture("docker-hub-push"),
                &["docker.io/acme/storefront:1.4.2"],
            ),
            (
                "Docker Hub official image gets library/",
                Source::DockerHub,
                "",
                br#"{"push_data":{"tag":"1.27.3"},"repository":{"repo_name":"nginx"}}"#,
                &["docker.io/library/nginx:1.27.3"],
            ),
            (
                "Docker Hub without a tag checks the whole repository",
                Source::DockerHub,
                "",
                br#"{"push_data":{"pushed_at":1.7e9},"repository":{"repo_name":"acme/web"}}"#,
                &["docker.io/acme/web"],
            ),
            (
                "Docker Hub without repo_name uses namespace and name",
                Source::DockerHub,
                "",
                br#"{"push_data":{"tag":"2"},"repository":{"namespace":"acme","name":"web"}}"#,
                &["docker.io/acme/web:2"],
            ),
            (
                "GitHub package event",
                Source::GitHub,
                "package",
                fixture("github-package-published"),
                &[&format!("ghcr.io/octo-org/storefront:2.1.0@{DIGEST_A}")],
            ),
            (
                "GitHub registry_package event, nested name, owner in capitals",
                Source::GitHub,
                "registry_package",
                fixture("github-registry-package-published"),
                &[&format!("ghcr.io/octocat/tools/cli:v0.9.1@{DIGEST_B}")],
            ),
            (
                "GitHub without package_url uses namespace and name",
                Source::GitHub,
                "package",
                br#"{"action":"updated","package":{"name":"web","namespace":"Octo-Org",
                     "package_type":"CONTAINER","package_version":{"version":"sha256:short",
                     "container_metadata":{"tag":{"name":"edge","digest":""}}}}}"#,
                &["ghcr.io/octo-org/web:edge"],
            ),
            (
                "GitHub untagged manifest of a multi-arch push is ignored",
                Source::GitHub,
                "package",
                fixture("github-package-untagged"),
                &[],
            ),
            (
                "GitHub npm package is ignored",
                Source::GitHub,
                "package",
                br#"{"action":"published","package":{"name":"lib","namespace":"octo-org",
                     "package_type":"npm","ecosystem":"npm","package_version":{"version":"1.0.0"}}}"#,
                &[],
            ),
            (
                "GitHub ping is ignored",
                Source::GitHub,
                "ping",
                fixture("github-ping"),
                &[],
            ),
            (
                "Quay repo_push",
                Source::Quay,
                "",
                fixture("quay-repo-push"),
                &["quay.io/acme/billing:latest", "quay.io/acme/billing:3.2.0"],
            ),
            (
                "Quay repo_push, early format with a map of tags",
                Source::Quay,
                "",
                fixture("quay-repo-push-legacy"),
                &["quay.io/acme/billing:3.2.0", "quay.io/acme/billing:latest"],
            ),
            (
                "Quay build event is ignored",
                Source::Quay,
                "",
                br#"{"repository":"acme/billing","namespace":"acme","name":"billing",
                     "docker_url":"quay.io/acme/billing","build_id":"296ec063",
                     "docker_tags":["latest"]}"#,
                &[],
            ),
            (
                "Distribution: only tag pushes of image manifests and indexes",
                Source::Distribution,
                "",
                fixture("distribution-events"),
                &[
                    &format!("127.0.0.1:5057/test/app:1.0.0@{DIGEST_A}"),
                    &format!("127.0.0.1:5057/test/app:1.0.0-multi@{DIGEST_B}"),
                    &format!("127.0.0.1:5057/archive/app:1.1.0@{DIGEST_C}"),
                ],
            ),
            (
                "Distribution: repeated events give one push",
                Source::Distribution,
                "",
                format!(
                    r#"{{"events":[{0},{0}]}}"#,
                    r#"{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json",
                        "repository":"test/app","tag":"2"},"request":{"host":"127.0.0.1:5057"}}"#
                )
                .leak()
                .as_bytes(),
                &["127.0.0.1:5057/test/app:2"],
            ),
            (
                "Distribution: host from target.url when request.host is missing",
                Source::Distribution,
                "",
                br#"{"events":[{"action":"push","target":{
                     "mediaType":"application/vnd.docker.distribution.manifest.v2+json",
                     "repository":"test/app","tag":"3",
                     "url":"http://127.0.0.1:5057/v2/test/app/manifests/3"}}]}"#,
                &["127.0.0.1:5057/test/app:3"],
            ),
            (
                "Distribution: an empty envelope",
                Source::Distribution,
                "",
                br#"{"events":[]}"#,
                &[],
            ),
        ];
        for (name, source, event, body, expected) in cases {
            let expected: Vec<Push> = expected.iter().map(|reference| image(reference)).collect();
            match deliver(*source, event, body) {
                Ok(pushes) => assert_eq!(pushes, expected, "{name}"),
                Err(error) => panic!("{name}: {}", chain(&error)),
            }
        }
    }

    #[test]
    fn github_test_vector() {
        // From GitHub's "Validating webhook deliveries".
        let secret = WebhookSecret::new(GITHUB_SECRET).expect("non-empty");
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let check = |value: &str| {
            verify_signature(
                &headers(&[("X-Hub-Signature-256", value)]),
                b"Hello, World!",
                &secret,
            )
        };
        assert!(check(good).is_ok());
        assert!(check(&good.to_ascii_uppercase().replacen("SHA256", "sha256", 1)).is_ok());
        assert!(matches!(
            check(&good.replace("e17", "e18")),
            Err(WebhookError::BadSignature)
        ));
    }

    #[test]
    fn github_signatures() {
        const MISSING: &str = "missing `X-Hub-Signature-256` header: GitHub signs deliveries only \
                               when the webhook has a secret; set the webhook's secret on GitHub \
                               to the agent's GitHub webhook secret";
        const MALFORMED: &str = "malformed `X-Hub-Signature-256` header: expected 'sha256=' \
                                 followed by 64 hex digits; is this delivery from GitHub?";
        let body = fixture("github-package-published");
        let good = sign(GITHUB_SECRET, body);
        let wrong_secret = sign("another secret", body);
        let cases: &[SignatureCase<'_>] = &[
            ("good", &[("x-hub-signature-256", &good)], Ok(())),
            (
                "signed with another secret",
                &[("x-hub-signature-256", &wrong_secret)],
                Err((
                    401,
                    "bad `X-Hub-Signature-256` signature: the body was not signed with the \
                     agent's GitHub webhook secret; set the same secret in the webhook's settings \
                     on GitHub",
                )),
            ),
            ("missing", &[], Err((401, MISSING))),
            (
                "only the legacy SHA-1 signature",
                &[(
                    "x-hub-signature",
                    "sha1=b41050eb19815f29b573ba5405dd347265041014",
                )],
                Err((401, MISSING)),
            ),
            (
                "no sha256= prefix",
                &[("x-hub-signature-256", good.trim_start_matches("sha256="))],
                Err((401, MALFORMED)),
            ),
            (
                "truncated",
                &[("x-hub-signature-256", &good[..good.len() - 2])],
                Err((401, MALFORMED)),
            ),
            (
                "not hex",
                &[("x-hub-signature-256", "sha256=zz")],
                Err((401, MALFORMED)),
            ),
        ];
        for (name, signature, expected) in cases {
            let mut headers = headers(signature);
            headers.insert("x-github-event", HeaderValue::from_static("package"));
            let result = parse(Source::GitHub, None, &headers, body, &config());
            match expected {
                Ok(()) => assert!(result.is_ok(), "{name}: {result:?}"),
                Err((status, message)) => {
                    let error = result.expect_err(name);
                    assert_eq!(
                        (error.status(), error.to_string().as_str()),
                        (*status, *message),
                        "{name}"
                    );
                }
            }
        }
    }

    #[test]
    fn signature_covers_the_exact_body() {
        let body = fixture("github-package-published");
        let signature = sign(GITHUB_SECRET, body);
        // Re-serialising the JSON changes the bytes, and with them the signature.
        let reformatted = serde_json::to_vec(
            &serde_json::from_slice::<serde_json::Value>(body).expect("fixture is JSON"),
        )
        .expect("serialises");
        let headers = headers(&[
            ("x-github-event", "package"),
            ("x-hub-signature-256", &signature),
        ]);
        let result = parse(Source::GitHub, None, &headers, &reformatted, &config());
        assert!(
            matches!(result, Err(WebhookError::BadSignature)),
            "{result:?}"
        );
    }

    #[test]
    fn github_form_encoded_delivery() {
        let json = fixture("github-package-published");
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", std::str::from_utf8(json).expect("UTF-8"))
            .finish();
        let signature = sign(GITHUB_SECRET, body.as_bytes());
        let headers = headers(&[
            ("x-github-event", "package"),
            ("x-hub-signature-256", &signature),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        let pushes = parse(Source::GitHub, None, &headers, body.as_bytes(), &config())
            .expect("form-encoded payload");
        assert_eq!(
            pushes,
            [image(&format!(
                "ghcr.io/octo-org/storefront:2.1.0@{DIGEST_A}"
            ))]
        );
    }

    #[test]
    fn tokens() {
        const WRONG: &str = "wrong `token` query parameter: the token in the webhook URL (the \
                             repository's Webhooks tab on Docker Hub) is not the agent's Docker \
                             Hub webhook secret";
        const MISSING: &str = "missing `token` query parameter: add `?token=<secret>` to the \
                               webhook URL (the repository's Webhooks tab on Docker Hub), with \
                               the agent's Docker Hub webhook secret";
        let body = fixture("docker-hub-push");
        let good = format!("token={TOKEN}");
        let among_others = format!("from=hub&token={TOKEN}&x");
        let encoded = format!("token={}", TOKEN.replace('-', "%2D"));
        let misnamed = format!("secret={TOKEN}");
        let cases: &[TokenCase<'_>] = &[
            ("good", Some(&good), Ok(())),
            ("among other parameters", Some(&among_others), Ok(())),
            ("percent-encoded", Some(&encoded), Ok(())),
            (
                "wrong",
                Some("token=c2f1b7e0-webhook-tokem"),
                Err((401, WRONG)),
            ),
            (
                "a prefix of the secret",
                Some("token=c2f1b7e0"),
                Err((401, WRONG)),
            ),
            ("empty", Some("token="), Err((401, WRONG))),
            ("no query", None, Err((401, MISSING))),
            (
                "another parameter only",
                Some(&misnamed),
                Err((401, MISSING)),
            ),
        ];
        for (name, query, expected) in cases {
            let result = parse(
                Source::DockerHub,
                *query,
                &HeaderMap::new(),
                body,
                &config(),
            );
            match expected {
                Ok(()) => assert!(result.is_ok(), "{name}: {result:?}"),
                Err((status, message)) => {
                    let error = result.expect_err(name);
                    assert_eq!(
                        (error.status(), error.to_string().as_str()),
                        (*status, *message),
                        "{name}"
                    );
                }
            }
        }
    }

    #[test]
    fn tokens_are_checked_before_the_body_is_read() {
        let result = parse(
            Source::Quay,
            Some("token=nope"),
            &HeaderMap::new(),
            b"{",
            &config(),
        );
        assert!(matches!(
            result,
            Err(WebhookError::BadToken {
                sender: Source::Quay
            })
        ));
        let result = parse(Source::GitHub, None, &HeaderMap::new(), b"{", &config());
        assert!(matches!(result, Err(WebhookError::MissingSignature)));
    }

    #[test]
    fn a_source_without_a_secret_is_disabled() {
        let mut config = config();
        config.secrets.quay = None;
        let result = parse(
            Source::Quay,
            Some(&format!("token={TOKEN}")),
            &HeaderMap::new(),
            fixture("quay-repo-push"),
            &config,
        );
        assert_error(
            result,
            403,
            "webhooks from Quay are disabled: the agent has no Quay webhook secret; configure \
             one to accept them",
        );
        assert!(
            WebhookSecret::new("").is_none(),
            "an empty secret would accept `?token=`"
        );
    }

    /// Secrets are compared only through `matches` and `verify_slice`, both constant time:
    /// `WebhookSecret` has no `PartialEq` through which a short-circuiting `==` could creep in.
    #[test]
    fn secrets_compare_only_in_constant_time() {
        trait Fallback {
            const IMPLEMENTS_PARTIAL_EQ: bool = false;
        }
        struct Probe<T>(std::marker::PhantomData<T>);
        impl<T> Fallback for Probe<T> {}
        impl<T: PartialEq> Probe<T> {
            #[allow(dead_code)]
            const IMPLEMENTS_PARTIAL_EQ: bool = true;
        }
        const { assert!(Probe::<String>::IMPLEMENTS_PARTIAL_EQ, "the probe works") };
        const { assert!(!Probe::<WebhookSecret>::IMPLEMENTS_PARTIAL_EQ) };

        let secret = WebhookSecret::new("correct horse").expect("non-empty");
        assert!(secret.matches(b"correct horse"));
        for wrong in [
            &b""[..],
            b"correct hors",
            b"correct horse ",
            b"Correct horse",
            b"x",
        ] {
            assert!(
                !secret.matches(wrong),
                "{:?}",
                String::from_utf8_lossy(wrong)
            );
        }
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
        assert!(!format!("{:?}", config()).contains(TOKEN));
    }

    #[test]
    fn payload_errors() {
        let cases: &[ErrorCase<'_>] = &[
            (
                "malformed JSON",
                Source::DockerHub,
                "",
                b"{\n  \"push_data\": {\"tag\": \"1\"},\n  \"repository\": {\"repo_name\": \"acme/web\",}\n}",
                400,
                "cannot read the Docker Hub webhook's JSON at line 3, column 42; is this a Docker Hub webhook? each source has its own URL on the agent\n\
                 caused by: trailing comma at line 3 column 42",
            ),
            (
                "empty body",
                Source::Distribution,
                "",
                b"",
                400,
                "cannot read the Distribution webhook's JSON at line 1, column 0; is this a Distribution webhook? each source has its own URL on the agent\n\
                 caused by: EOF while parsing a value at line 1 column 0",
            ),
            (
                "wrong type",
                Source::Quay,
                "",
                br#"{"docker_url":"quay.io/acme/billing","updated_tags":"latest"}"#,
                400,
                "cannot read the Quay webhook's JSON at line 1, column 60; a JSON template in Quay's notification settings must keep `docker_url` and `updated_tags`, or be removed\n\
                 caused by: invalid type: string \"latest\", expected a list of tags or a map \
                 from tags to image ids at line 1 column 60",
            ),
            (
                "Docker Hub without a repository",
                Source::DockerHub,
                "",
                br#"{"push_data":{"tag":"1"},"repository":{"namespace":"acme"}}"#,
                400,
                "the Docker Hub webhook has no `repository.repo_name`; is this a Docker Hub webhook? each source has its own URL on the agent",
            ),
            (
                "Docker Hub without push_data",
                Source::DockerHub,
                "",
                br#"{"repository":{"repo_name":"acme/web"}}"#,
                400,
                "the Docker Hub webhook has no `push_data`; is this a Docker Hub webhook? each source has its own URL on the agent",
            ),
            (
                "Quay template without docker_url",
                Source::Quay,
                "",
                br#"{"repository":"acme/billing","updated_tags":["1"]}"#,
                400,
                "the Quay webhook has no `docker_url`; a JSON template in Quay's notification settings must keep `docker_url` and `updated_tags`, or be removed",
            ),
            (
                "Quay without updated_tags",
                Source::Quay,
                "",
                br#"{"docker_url":"quay.io/acme/billing"}"#,
                400,
                "the Quay webhook has no `updated_tags`; a JSON template in Quay's notification settings must keep `docker_url` and `updated_tags`, or be removed",
            ),
            (
                "Distribution without events",
                Source::Distribution,
                "",
                br#"{"event":[]}"#,
                400,
                "the Distribution webhook has no `events`; is this a Distribution webhook? each source has its own URL on the agent",
            ),
            (
                "Distribution push without a repository",
                Source::Distribution,
                "",
                br#"{"events":[{"action":"pull"},{"action":"push","target":{
                     "mediaType":"application/vnd.oci.image.manifest.v1+json","tag":"1"},
                     "request":{"host":"127.0.0.1:5057"}}]}"#,
                400,
                "the Distribution webhook has no `events[1].target.repository`; is this a Distribution webhook? each source has its own URL on the agent",
            ),
            (
                "Distribution push without a host",
                Source::Distribution,
                "",
                br#"{"events":[{"action":"push","target":{
                     "mediaType":"application/vnd.oci.image.manifest.v1+json","tag":"1",
                     "repository":"test/app"}}]}"#,
                400,
                "the Distribution webhook has no `events[0].request.host`; is this a Distribution webhook? each source has its own URL on the agent",
            ),
            (
                "Distribution repository in capitals",
                Source::Distribution,
                "",
                br#"{"events":[{"action":"push","target":{
                     "mediaType":"application/vnd.oci.image.manifest.v1+json","tag":"1",
                     "repository":"Test/App"},"request":{"host":"127.0.0.1:5057"}}]}"#,
                400,
                "invalid `events[0].target.repository` in the Distribution webhook\n\
                 caused by: invalid image reference '127.0.0.1:5057/Test/App': repository names \
                 must be lower-case; did you mean '127.0.0.1:5057/test/app'?",
            ),
            (
                "Distribution host that references cannot name",
                Source::Distribution,
                "",
                br#"{"events":[{"action":"push","target":{
                     "mediaType":"application/vnd.oci.image.manifest.v1+json","tag":"1",
                     "repository":"test/app"},"request":{"host":"registry"}}]}"#,
                400,
                "invalid `events[0].request.host` in the Distribution webhook: 'registry' is not a \
                 registry host that image references can name; a registry host has a '.' or a \
                 ':port', or is 'localhost'",
            ),
            (
                "Quay docker_url without a repository",
                Source::Quay,
                "",
                br#"{"docker_url":"quay.io","updated_tags":["1"]}"#,
                400,
                "invalid `docker_url` in the Quay webhook: 'quay.io' names no repository; \
                 expected 'host/namespace/repository'",
            ),
            (
                "bad tag",
                Source::Quay,
                "",
                br#"{"docker_url":"quay.io/acme/billing","updated_tags":["ok","-bad"]}"#,
                400,
                "invalid `updated_tags[1]` in the Quay webhook\n\
                 caused by: invalid tag '-bad': a tag must start with a letter, digit or '_', not \
                 '-'",
            ),
            (
                "GitHub event without a push",
                Source::GitHub,
                "issues",
                br#"{"action":"opened"}"#,
                400,
                "GitHub event 'issues' reports no image push: in the webhook's settings on \
                 GitHub, choose \"Let me select individual events\" and select only \"Packages\" \
                 (or \"Registry packages\")",
            ),
            (
                "GitHub package event without its package",
                Source::GitHub,
                "package",
                br#"{"action":"published"}"#,
                400,
                "the GitHub webhook has no `package`; is this a GitHub webhook? each source has its own URL on the agent",
            ),
        ];
        for (name, source, event, body, status, message) in cases {
            let result = deliver(*source, event, body);
            let error = result.expect_err(name);
            assert_eq!(
                (error.status(), chain(&error)),
                (*status, (*message).to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn github_without_event_header() {
        let body = fixture("github-ping");
        let headers = headers(&[("x-hub-signature-256", &sign(GITHUB_SECRET, body))]);
        assert_error(
            parse(Source::GitHub, None, &headers, body, &config()),
            400,
            "missing `X-GitHub-Event` header: is this delivery from GitHub?",
        );
    }

    #[test]
    fn registry_not_allowed() {
        let body = br#"{"docker_url":"registry.example.com/acme/billing","updated_tags":["1"]}"#;
        assert_error(
            deliver(Source::Quay, "", body),
            403,
            "pushes from registry 'registry.example.com' are not allowed (Quay reported \
             'registry.example.com/acme/billing'): add 'registry.example.com' to the agent's \
             allowed webhook registries, or stop sending its webhooks here",
        );
        // One push from elsewhere fails the whole delivery.
        let body = br#"{"events":[
            {"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "repository":"test/app","tag":"1"},"request":{"host":"127.0.0.1:5057"}},
            {"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "repository":"test/app","tag":"1"},"request":{"host":"localhost:5057"}}]}"#;
        let error = deliver(Source::Distribution, "", body).expect_err("localhost not allowed");
        assert!(
            matches!(&error, WebhookError::RegistryNotAllowed { registry, .. } if registry == "localhost:5057"),
            "{error:?}"
        );
        assert_eq!(error.status(), 403);
    }

    #[test]
    fn allowlist_normalises_like_references() {
        let allowlist = RegistryAllowlist::new([
            "index.docker.io",
            " GHCR.IO ",
            "Registry.Local:05000",
            "docker",
        ]);
        assert_eq!(
            allowlist.iter().collect::<Vec<_>>(),
            ["docker.io", "ghcr.io", "registry.local:5000"]
        );
        assert!(RegistryAllowlist::default().iter().next().is_none());
    }

    #[test]
    fn statuses() {
        let reference = "A".parse::<ImageRef>().expect_err("upper case");
        let json = serde_json::from_slice::<serde_json::Value>(b"{").expect_err("EOF");
        let cases = [
            (
                WebhookError::SourceDisabled {
                    sender: Source::Quay,
                },
                403,
            ),
            (WebhookError::MissingSignature, 401),
            (WebhookError::MalformedSignature, 401),
            (WebhookError::BadSignature, 401),
            (
                WebhookError::MissingToken {
                    sender: Source::Quay,
                },
                401,
            ),
            (
                WebhookError::BadToken {
                    sender: Source::Quay,
                },
                401,
            ),
            (WebhookError::MissingEvent, 400),
            (
                WebhookError::UnsupportedEvent {
                    event: "issues".into(),
                },
                400,
            ),
            (
                WebhookError::MalformedJson {
                    sender: Source::Quay,
                    line: 1,
                    column: 1,
                    error: json,
                },
                400,
            ),
            (
                WebhookError::MissingField {
                    sender: Source::Quay,
                    path: "x".into(),
                },
                400,
            ),
            (
                WebhookError::InvalidReference {
                    sender: Source::Quay,
                    path: "x".into(),
                    error: Box::new(reference),
                },
                400,
            ),
            (
                WebhookError::InvalidField {
                    sender: Source::Quay,
                    path: "x".into(),
                    reason: "y".into(),
                },
                400,
            ),
            (
                WebhookError::RegistryNotAllowed {
                    sender: Source::Quay,
                    registry: "r".into(),
                    repository: "x".into(),
                },
                403,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(error.status(), status, "{error}");
        }
    }

    #[test]
    fn source_names() {
        for source in Source::ALL {
            assert_eq!(source.as_str().parse::<Source>(), Ok(source));
            let json = format!("\"{}\"", source.as_str());
            assert_eq!(
                serde_json::from_str::<Source>(&json).expect("deserialises"),
                source
            );
        }
        assert_eq!(
            "dockerhub"
                .parse::<Source>()
                .expect_err("unknown")
                .to_string(),
            "unknown webhook source 'dockerhub'; expected 'docker-hub', 'github', 'quay' or \
             'distribution'"
        );
        assert_eq!(Source::DockerHub.to_string(), "Docker Hub");
    }

    #[test]
    fn absurd_values_are_refused_briefly() {
        let long = "a".repeat(100_000);
        let body = format!(
            r#"{{"push_data":{{"tag":"{long}"}},"repository":{{"repo_name":"acme/web"}}}}"#
        );
        let error = deliver(Source::DockerHub, "", body.as_bytes()).expect_err("tag too long");
        assert_eq!(
            error.to_string(),
            "invalid `push_data.tag` in the Docker Hub webhook: the tag is 100000 characters \
             long; tags have at most 128"
        );
        let body =
            format!(r#"{{"push_data":{{"tag":"1"}},"repository":{{"repo_name":"{long}"}}}}"#);
        let error = deliver(Source::DockerHub, "", body.as_bytes()).expect_err("name too long");
        assert!(chain(&error).len() < 300, "{}", chain(&error));
        let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let error = deliver(Source::Distribution, "", nested.as_bytes()).expect_err("too deep");
        assert_eq!(error.status(), 400);
        let event = format!("{long}\u{e9}");
        let error = deliver(Source::GitHub, &event, b"{}").expect_err("unknown event");
        assert!(error.to_string().len() < 400, "{error}");
    }

    #[test]
    fn push_display_and_name() {
        let push = image(&format!("ghcr.io/octo-org/storefront:2.1.0@{DIGEST_A}"));
        assert_eq!(push.name(), "ghcr.io/octo-org/storefront");
        assert_eq!(
            push.to_string(),
            format!("ghcr.io/octo-org/storefront:2.1.0@{DIGEST_A}")
        );
    }

    /// A replacement for a string of a fixture: `None` keeps it.
    fn json_string() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof![
            any::<String>(),
            "[a-z0-9._:/@-]{0,40}",
            Just(String::new()),
            Just("push".to_owned()),
            Just("application/vnd.oci.image.index.v1+json".to_owned()),
            Just("127.0.0.1:5057".to_owned()),
        ])
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            for source in Source::ALL {
                let _ = deliver(source, "package", &body);
            }
        }

        /// Fixtures with their strings replaced by arbitrary text, so that parsing gets past the
        /// JSON into the name and tag checks.
        #[test]
        fn parse_never_panics_on_payload_shapes(
            values in proptest::collection::vec(json_string(), 16),
        ) {
            let fixtures = [
                (Source::DockerHub, "package", "docker-hub-push"),
                (Source::GitHub, "package", "github-package-published"),
                (Source::GitHub, "registry_package", "github-registry-package-published"),
                (Source::Quay, "package", "quay-repo-push"),
                (Source::Quay, "package", "quay-repo-push-legacy"),
                (Source::Distribution, "package", "distribution-events"),
            ];
            for (source, event, name) in fixtures {
                let mut json: serde_json::Value =
                    serde_json::from_slice(fixture(name)).expect("fixture is JSON");
                let mut values = values.iter().cycle();
                replace_strings(&mut json, &mut values);
                let body = serde_json::to_vec(&json).expect("serialises");
                if let Ok(pushes) = deliver(source, event, &body) {
                    for push in pushes {
                        // Every push is a valid image name.
                        prop_assert!(push.name().parse::<ImageRef>().is_ok(), "{push}");
                    }
                }
            }
        }
    }

    fn replace_strings<'a>(
        json: &mut serde_json::Value,
        values: &mut impl Iterator<Item = &'a Option<String>>,
    ) {
        match json {
            serde_json::Value::String(text) => {
                if let Some(Some(value)) = values.next() {
                    value.clone_into(text);
                }
            }
            serde_json::Value::Array(items) => {
                items
                    .iter_mut()
                    .for_each(|item| replace_strings(item, values));
            }
            serde_json::Value::Object(fields) => {
                fields
                    .values_mut()
                    .for_each(|field| replace_strings(field, values));
            }
            _ => {}
        }
    }
}
