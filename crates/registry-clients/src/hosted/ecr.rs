//! Amazon ECR's authorization tokens (registry-reference §6): ECR has no token server, so a
//! client asks the ECR API's `GetAuthorizationToken` for a 12-hour password and sends it as
//! Basic credentials on every registry request. This module makes that call, signed with
//! AWS Signature Version 4 (implemented here with `sha2` and `hmac`), for private ECR and
//! for ECR Public; reads AWS credentials from the environment and the shared files; parses
//! ECR registry hosts; and caches the password until shortly before it expires.
//!
//! # What this module does not do
//! It does not talk to the registry (`*.dkr.ecr.*`); the OCI client does, with the
//! credentials this module returns. Of the AWS credential chain it covers the parts that
//! work offline (environment variables and static keys in the shared files); SSO, assumed
//! roles, credential processes, web identity and instance metadata are not supported. It
//! does not read the clock: callers pass `now`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;
use upkeep_versioning_core::Timestamp;
use url::Url;

use super::{ErrorBody, constant_url, read_error_body, status_kind};
use crate::body::{SMALL_LIMIT, read_capped};
use crate::error::{ErrorKind, RegistryError};

/// The SigV4 service name of private ECR's API (registry-reference §6.1).
pub const SERVICE: &str = "ecr";
/// `X-Amz-Target` of private ECR's `GetAuthorizationToken` (registry-reference §6.1).
pub const GET_AUTHORIZATION_TOKEN_TARGET: &str =
    "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
/// ECR Public's registry host, as written in image references (registry-reference §6.2).
pub const PUBLIC_REGISTRY: &str = "public.ecr.aws";
/// ECR Public's API, which exists only in us-east-1 (registry-reference §6.2).
pub const ECR_PUBLIC_API_URL: &str = "https://api.ecr-public.us-east-1.amazonaws.com/";
/// The only region ECR Public's API is in (registry-reference §6.2).
pub const ECR_PUBLIC_REGION: &str = "us-east-1";
/// The SigV4 service name of ECR Public's API (registry-reference §6.2).
pub const ECR_PUBLIC_SERVICE: &str = "ecr-public";
/// `X-Amz-Target` of ECR Public's `GetAuthorizationToken` (registry-reference §6.2). The
/// caller also needs IAM's `sts:GetServiceBearerToken`.
pub const ECR_PUBLIC_TARGET: &str = "SpencerFrontendService.GetAuthorizationToken";
/// ECR Public's anonymous token endpoint, the realm of its Bearer challenge; it answers
/// `{"token":"..."}` like any Docker token server (registry-reference §6.2).
pub const ECR_PUBLIC_TOKEN_URL: &str = "https://public.ecr.aws/token/";
/// The `service` of ECR Public's Bearer challenge (registry-reference §6.2).
pub const ECR_PUBLIC_TOKEN_SERVICE: &str = "public.ecr.aws";
/// The `scope` of ECR Public's Bearer challenge: `aws`, not a repository scope
/// (registry-reference §6.2).
pub const ECR_PUBLIC_TOKEN_SCOPE: &str = "aws";
/// How long ECR's passwords last, for both flavours (registry-reference §6.1, §6.2); the
/// answer's `expiresAt` is what counts.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// [`EcrTokenCache`] fetches a new password this long before the old one expires, so that
/// no request goes out with a password about to lapse.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The AWS JSON 1.1 protocol's content type.
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The SigV4 algorithm name, in the string to sign and the `Authorization` header.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

// ---------------------------------------------------------------------------------------------
// Hosts

/// A private ECR registry host, `{account}.dkr.ecr.{region}.amazonaws.com`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    /// The host, lower case, as it names the registry in errors.
    pub host: String,
    /// The 12-digit AWS account id.
    pub account: String,
    /// The AWS region (`eu-central-1`).
    pub region: String,
    /// True for the FIPS endpoints (`dkr.ecr-fips.`).
    pub fips: bool,
    /// True for China regions (`.amazonaws.com.cn`).
    pub china: bool,
}

impl EcrHost {
    /// Parses a registry host matching
    /// `^\d{12}\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$` (registry-reference
    /// §6.1), case-insensitively; `None` for any other host.
    pub fn parse(host: &str) -> Option<Self> {
        let host = host.to_ascii_lowercase();
        let (rest, china) = match host.strip_suffix(".amazonaws.com.cn") {
            Some(rest) => (rest, true),
            None => (host.strip_suffix(".amazonaws.com")?, false),
        };
        let (account, rest) = rest.split_once(".dkr.")?;
        let (fips, region) = match rest.strip_prefix("ecr-fips.") {
            Some(region) => (true, region),
            None => (false, rest.strip_prefix("ecr.")?),
        };
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !account_ok || !region_ok {
            return None;
        }
        Some(Self {
            account: account.to_owned(),
            region: region.to_owned(),
            fips,
            china,
            host,
        })
    }

    /// The ECR API endpoint for this registry's region: `https://api.ecr.{region}.amazonaws.com/`
    /// (`.com.cn` in China), or the FIPS endpoint `https://ecr-fips.{region}.amazonaws.com/`
    /// (AWS's ECR endpoint list).
    pub fn api_url(&self) -> Url {
        let domain = if self.china {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        let text = if self.fips {
            format!("https://ecr-fips.{}.{domain}/", self.region)
        } else {
            format!("https://api.ecr.{}.{domain}/", self.region)
        };
        // The region was checked to be `[a-z0-9-]+`, which always makes a valid host.
        Url::parse(&text).unwrap_or_else(|error| unreachable!("ECR API URL '{text}': {error}"))
    }
}

// ---------------------------------------------------------------------------------------------
// AWS credentials

/// AWS credentials for signing: an access key, and a session token for temporary ones.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// The access key id (`AKIA…`, or `ASIA…` for temporary credentials).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials, sent as `X-Amz-Security-Token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where the AWS credential chain looks: environment variables and the two shared files.
/// Gathered at the edge ([`from_process`](Self::from_process)) or built by hand (tests), so
/// nothing below depends on the real environment.
#[derive(Clone, Default)]
pub struct AwsSources {
    /// Environment variables; only the `AWS_*` ones are read.
    pub variables: BTreeMap<String, String>,
    /// The shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
    /// `~/.aws/credentials`), if there is a path for it.
    pub credentials_file: Option<PathBuf>,
    /// The shared config file (`AWS_CONFIG_FILE`, else `~/.aws/config`), if there is a path
    /// for it.
    pub config_file: Option<PathBuf>,
}

impl std::fmt::Debug for AwsSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The variables hold the secret key; their names are enough to debug with.
        f.debug_struct("AwsSources")
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .field("credentials_file", &self.credentials_file)
            .field("config_file", &self.config_file)
            .finish()
    }
}

/// Why AWS credentials or settings could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AwsConfigError {
    /// Neither the environment nor the shared files hold credentials for the profile.
    #[error(
        "no AWS credentials for profile '{profile}': set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or add the profile with aws_access_key_id and \
         aws_secret_access_key to {credentials_file}"
    )]
    NoCredentials {
        /// The profile looked for.
        profile: String,
        /// The credentials file looked in, or a note that there was none.
        credentials_file: String,
    },
    /// One of the two key variables is set without the other.
    #[error("{present} is set but {missing} is not; set both, or neither to use the shared files")]
    PartialEnvironment {
        /// The variable that is set.
        present: &'static str,
        /// The variable that is missing.
        missing: &'static str,
    },
    /// A profile has one of the two keys without the other.
    #[error("profile '{profile}' in {path} has no {missing}; add it")]
    PartialProfile {
        /// The profile.
        profile: String,
        /// The file it is in.
        path: String,
        /// The missing key.
        missing: &'static str,
    },
    /// A profile gets its credentials in a way that needs the network or another program.
    #[error(
        "profile '{profile}' in {path} gets its credentials through '{key}', which upkeep \
         cannot use; export static credentials instead (`aws configure export-credentials \
         --format env`)"
    )]
    UnsupportedProfile {
        /// The profile.
        profile: String,
        /// The file it is in.
        path: String,
        /// The key that names the unsupported source.
        key: &'static str,
    },
    /// A shared file exists but could not be read.
    #[error("cannot read {path}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl From<AwsConfigError> for ErrorKind {
    fn from(error: AwsConfigError) -> Self {
        // `Credentials` keeps a text only, so the IO cause joins the message here.
        let reason = match &error {
            AwsConfigError::Unreadable { source, .. } => format!("{error}: {source}"),
            _ => error.to_string(),
        };
        Self::Credentials { reason }
    }
}

/// Profile keys that name a credential source this module cannot use offline.
const UNSUPPORTED_PROFILE_KEYS: [&str; 6] = [
    "role_arn",
    "sso_session",
    "sso_start_url",
    "credential_process",
    "web_identity_token_file",
    "credential_source",
];

impl AwsSources {
    /// Sources from `variables`, with the shared files at `AWS_SHARED_CREDENTIALS_FILE` and
    /// `AWS_CONFIG_FILE` when set, else under `home/.aws/`.
    pub fn new(variables: BTreeMap<String, String>, home: Option<&Path>) -> Self {
        let file = |variable: &str, name: &str| {
            non_empty(&variables, variable)
                .map(PathBuf::from)
                .or_else(|| home.map(|home| home.join(".aws").join(name)))
        };
        Self {
            credentials_file: file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            config_file: file("AWS_CONFIG_FILE", "config"),
            variables,
        }
    }

    /// Sources from this process's environment (`AWS_*` variables, `HOME`, or
    /// `USERPROFILE` on Windows).
    pub fn from_process() -> Self {
        let variables = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(name, _)| name.starts_with("AWS_"))
            .collect();
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .map(PathBuf::from);
        Self::new(variables, home.as_deref())
    }

    /// The profile to read: `AWS_PROFILE`, else `default`.
    pub fn profile(&self) -> &str {
        non_empty(&self.variables, "AWS_PROFILE").unwrap_or("default")
    }

    /// The credentials, from the first source that has them: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; then the profile's
    /// `aws_access_key_id`, `aws_secret_access_key` and `aws_session_token` in the
    /// credentials file; then the same keys in the config file. The environment wins over
    /// `AWS_PROFILE`, as in AWS's own SDKs.
    pub fn credentials(&self) -> Result<AwsCredentials, AwsConfigError> {
        let id = non_empty(&self.variables, "AWS_ACCESS_KEY_ID");
        let secret = non_empty(&self.variables, "AWS_SECRET_ACCESS_KEY");
        match (id, secret) {
            (Some(id), Some(secret)) => {
                return Ok(AwsCredentials {
                    access_key_id: id.to_owned(),
                    secret_access_key: secret.to_owned(),
                    session_token: non_empty(&self.variables, "AWS_SESSION_TOKEN")
                        .map(str::to_owned),
                });
            }
            (Some(_), None) => {
                return Err(AwsConfigError::PartialEnvironment {
                    present: "AWS_ACCESS_KEY_ID",
                    missing: "AWS_SECRET_ACCESS_KEY",
                });
            }
            (None, Some(_)) => {
                return Err(AwsConfigError::PartialEnvironment {
                    present: "AWS_SECRET_ACCESS_KEY",
                    missing: "AWS_ACCESS_KEY_ID",
                });
            }
            (None, None) => {}
        }
        let profile = self.profile();
        let files = [
            (self.credentials_file.as_deref(), false),
            (self.config_file.as_deref(), true),
        ];
        let mut unsupported = None;
        for (path, is_config) in files {
            let Some(path) = path else { continue };
            let Some(text) = read_optional(path)? else {
                continue;
            };
            let Some(section) = profile_section(&text, profile, is_config) else {
                continue;
            };
            if let Some(credentials) = section_credentials(&section, profile, path)? {
                return Ok(credentials);
            }
            if unsupported.is_none()
                && let Some(key) = UNSUPPORTED_PROFILE_KEYS
                    .into_iter()
                    .find(|key| section.contains_key(*key))
            {
                unsupported = Some(AwsConfigError::UnsupportedProfile {
                    profile: profile.to_owned(),
                    path: path.display().to_string(),
                    key,
                });
            }
        }
        Err(
            unsupported.unwrap_or_else(|| AwsConfigError::NoCredentials {
                profile: profile.to_owned(),
                credentials_file: self.credentials_file.as_ref().map_or_else(
                    || "~/.aws/credentials (no home directory found)".to_owned(),
                    |path| path.display().to_string(),
                ),
            }),
        )
    }

    /// The default region: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's
    /// `region` in the config file; `None` when none is set. ECR takes the region from the
    /// registry host instead ([`EcrHost`]).
    pub fn region(&self) -> Result<Option<String>, AwsConfigError> {
        if let Some(region) = non_empty(&self.variables, "AWS_REGION")
            .or_else(|| non_empty(&self.variables, "AWS_DEFAULT_REGION"))
        {
            return Ok(Some(region.to_owned()));
        }
        let Some(path) = self.config_file.as_deref() else {
            return Ok(None);
        };
        let Some(text) = read_optional(path)? else {
            return Ok(None);
        };
        Ok(profile_section(&text, self.profile(), true)
            .and_then(|mut section| section.remove("region"))
            .filter(|region| !region.is_empty()))
    }
}

/// A variable's value, if set and not empty (AWS tools treat empty as unset).
fn non_empty<'a>(variables: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    variables
        .get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
}

/// A file's text; `None` when it does not exist, which is normal for the shared files.
fn read_optional(path: &Path) -> Result<Option<String>, AwsConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AwsConfigError::Unreadable {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The keys (lower case) of a profile's section in an AWS ini file. The credentials file
/// names sections `[name]`; the config file `[profile name]`, and `[default]` for the
/// default profile. Indented lines are sub-properties or continuations (as in Python's
/// configparser, which the AWS CLI uses) and are skipped.
fn profile_section(text: &str, profile: &str, is_config: bool) -> Option<BTreeMap<String, String>> {
    let wanted = |name: &str| {
        let words: Vec<&str> = name.split_whitespace().collect();
        match (is_config, words.as_slice()) {
            (false, [only]) => *only == profile,
            (true, ["profile", only]) => *only == profile,
            (true, [only]) => *only == "default" && profile == "default",
            _ => false,
        }
    };
    let mut section = None::<BTreeMap<String, String>>;
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim_end();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            inside = wanted(name);
            if inside && section.is_none() {
                section = Some(BTreeMap::new());
            }
            continue;
        }
        if inside
            && let Some((key, value)) = line.split_once('=')
            && let Some(section) = section.as_mut()
        {
            section.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    section
}

fn section_credentials(
    section: &BTreeMap<String, String>,
    profile: &str,
    path: &Path,
) -> Result<Option<AwsCredentials>, AwsConfigError> {
    let value = |key: &str| {
        section
            .get(key)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    };
    let partial = |missing| AwsConfigError::PartialProfile {
        profile: profile.to_owned(),
        path: path.display().to_string(),
        missing,
    };
    match (value("aws_access_key_id"), value("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Some(AwsCredentials {
            access_key_id: id.to_owned(),
            secret_access_key: secret.to_owned(),
            session_token: value("aws_session_token").map(str::to_owned),
        })),
        (Some(_), None) => Err(partial("aws_secret_access_key")),
        (None, Some(_)) => Err(partial("aws_access_key_id")),
        (None, None) => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------------
// The token and its client

/// Registry credentials from `GetAuthorizationToken`: send them as Basic credentials on every
/// registry request until `expires_at`.
#[derive(Clone, PartialEq, Eq)]
pub struct EcrCredentials {
    /// The user name, always `AWS`.
    pub user: String,
    /// The password (a signed token, valid 12 hours).
    pub password: String,
    /// When ECR stops accepting it.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for EcrCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcrCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl EcrCredentials {
    /// The `Authorization` header value for registry requests: `Basic base64(user:password)`,
    /// byte for byte the `authorizationToken` ECR sent (registry-reference §6.1).
    pub fn basic_authorization(&self) -> String {
        format!(
            "Basic {}",
            BASE64.encode(format!("{}:{}", self.user, self.password))
        )
    }

    /// True while the credentials are good for at least `margin` more at `now`.
    pub fn is_fresh(&self, now: Timestamp, margin: Duration) -> bool {
        let margin = chrono::TimeDelta::from_std(margin).unwrap_or(chrono::TimeDelta::MAX);
        now.checked_add_signed(margin)
            .is_some_and(|deadline| deadline < self.expires_at)
    }
}

/// Which ECR API answers: they differ in target, SigV4 service and answer shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EcrApi {
    Private,
    Public,
}

/// A client for ECR's `GetAuthorizationToken`, private or Public.
#[derive(Debug, Clone)]
pub struct EcrClient {
    api_url: Url,
    registry: String,
    region: String,
    api: EcrApi,
    http: reqwest::Client,
}

impl EcrClient {
    /// A client for private ECR's API at `api_url` in `region`, naming `registry` (the
    /// registry host) in its errors. `api_url`'s path is signed as given; the real endpoints
    /// are at `/`.
    pub fn new(api_url: Url, registry: &str, region: &str, http: reqwest::Client) -> Self {
        Self {
            api_url,
            registry: registry.to_owned(),
            region: region.to_owned(),
            api: EcrApi::Private,
            http,
        }
    }

    /// A client for the registry at `host`, using its region's API endpoint.
    pub fn for_host(host: &EcrHost, http: reqwest::Client) -> Self {
        Self::new(host.api_url(), &host.host, &host.region, http)
    }

    /// A client for ECR Public's API at `api_url` (normally [`ECR_PUBLIC_API_URL`]), signed
    /// for us-east-1, the only region it is in.
    pub fn new_public(api_url: Url, http: reqwest::Client) -> Self {
        Self {
            api_url,
            registry: PUBLIC_REGISTRY.to_owned(),
            region: ECR_PUBLIC_REGION.to_owned(),
            api: EcrApi::Public,
            http,
        }
    }

    /// A client for the real ECR Public API, at [`ECR_PUBLIC_API_URL`].
    pub fn ecr_public(http: reqwest::Client) -> Self {
        Self::new_public(constant_url(ECR_PUBLIC_API_URL), http)
    }

    /// The registry this client fetches passwords for.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Calls `GetAuthorizationToken` with `credentials`, signing the request as made at
    /// `now`, and returns the registry user and password with their expiry.
    pub async fn authorization_token(
        &self,
        credentials: &AwsCredentials,
        now: Timestamp,
    ) -> Result<EcrCredentials, RegistryError> {
        let error = |kind| RegistryError::new(&self.registry, None, kind);
        let (target, service) = match self.api {
            EcrApi::Private => (GET_AUTHORIZATION_TOKEN_TARGET, SERVICE),
            EcrApi::Public => (ECR_PUBLIC_TARGET, ECR_PUBLIC_SERVICE),
        };
        let host = host_header(&self.api_url).ok_or_else(|| {
            error(ErrorKind::Malformed {
                reason: format!("ECR API URL '{}' has no host", self.api_url),
            })
        })?;
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        // `registryIds` is deprecated: the token is good for every registry the caller can
        // read (registry-reference §6.1).
        let body: &[u8] = b"{}";
        let mut signed_headers = vec![
            ("content-type", JSON_CONTENT_TYPE),
            ("host", host.as_str()),
            ("x-amz-date", amz_date.as_str()),
            ("x-amz-target", target),
        ];
        if let Some(token) = &credentials.session_token {
            signed_headers.push(("x-amz-security-token", token));
        }
        let authorization = sign_v4(
            credentials,
            &SigningRequest {
                method: "POST",
                path: self.api_url.path(),
                headers: &signed_headers,
                body,
            },
            &self.region,
            service,
            &amz_date,
        );
        let mut request = self
            .http
            .post(self.api_url.clone())
            .header(CONTENT_TYPE, JSON_CONTENT_TYPE)
            .header("x-amz-target", target)
            .header("x-amz-date", &amz_date)
            .header(AUTHORIZATION, authorization)
            .body(body);
        if let Some(token) = &credentials.session_token {
            request = request.header("x-amz-security-token", token);
        }
        let response = request
            .send()
            .await
            .map_err(|source| error(ErrorKind::Transport(source)))?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = read_error_body(response).await.map_err(error)?;
            return Err(error(aws_error_kind(status, &headers, body)));
        }
        // A token answer is a few hundred bytes.
        let body = read_capped(response, SMALL_LIMIT).await.map_err(error)?;
        let credentials = parse_token_answer(&body).map_err(error)?;
        tracing::debug!(
            registry = %self.registry,
            expires_at = %credentials.expires_at,
            "fetched an ECR registry password"
        );
        Ok(credentials)
    }
}

/// The `Host` header reqwest sends for `url`: the host, and the port when not the default.
fn host_header(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// Keeps one ECR password and fetches a new one [`REFRESH_MARGIN`] before it expires. One
/// fetch at a time: callers that arrive during a fetch wait for its result.
#[derive(Debug)]
pub struct EcrTokenCache {
    client: EcrClient,
    credentials: AwsCredentials,
    margin: Duration,
    current: Mutex<Option<EcrCredentials>>,
}

impl EcrTokenCache {
    /// A cache that fetches passwords with `client`, signing with `credentials`.
    pub fn new(client: EcrClient, credentials: AwsCredentials) -> Self {
        Self {
            client,
            credentials,
            margin: REFRESH_MARGIN,
            current: Mutex::new(None),
        }
    }

    /// Fetches a new password `margin` before the old one expires, instead of
    /// [`REFRESH_MARGIN`].
    #[must_use]
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The password to use at `now`: the cached one while it has more than the margin left,
    /// else a new one.
    pub async fn get(&self, now: Timestamp) -> Result<EcrCredentials, RegistryError> {
        let mut current = self.current.lock().await;
        if let Some(credentials) = current.as_ref()
            && credentials.is_fresh(now, self.margin)
        {
            return Ok(credentials.clone());
        }
        let fresh = self
            .client
            .authorization_token(&self.credentials, now)
            .await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets the cached password, for when the registry refused it before its time.
    pub async fn invalidate(&self) {
        *self.current.lock().await = None;
    }
}

// ---------------------------------------------------------------------------------------------
// Answers and errors

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    authorization_data: AuthorizationDataShape,
}

/// Private ECR answers a list, ECR Public a single object (registry-reference §6.2).
#[derive(Deserialize)]
#[serde(untagged)]
enum AuthorizationDataShape {
    List(Vec<AuthorizationData>),
    One(AuthorizationData),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationData {
    authorization_token: String,
    expires_at: f64,
}

fn parse_token_answer(body: &[u8]) -> Result<EcrCredentials, ErrorKind> {
    let malformed = |reason: String| ErrorKind::Malformed { reason };
    // serde's messages may quote the values they choke on, and a value here may be the
    // password; only the position goes into the error.
    let answer: TokenAnswer = serde_json::from_slice(body).map_err(|error| {
        malformed(format!(
            "GetAuthorizationToken answer is not the documented JSON (line {}, column {})",
            error.line(),
            error.column()
        ))
    })?;
    let data = match answer.authorization_data {
        AuthorizationDataShape::One(data) => data,
        AuthorizationDataShape::List(list) => list.into_iter().next().ok_or_else(|| {
            malformed("GetAuthorizationToken answered with no authorizationData".to_owned())
        })?,
    };
    let decoded = BASE64
        .decode(data.authorization_token.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| malformed("authorizationToken is not base64 text".to_owned()))?;
    let (user, password) = decoded
        .split_once(':')
        .filter(|(user, password)| !user.is_empty() && !password.is_empty())
        .ok_or_else(|| malformed("authorizationToken is not 'user:password'".to_owned()))?;
    let expires_at = epoch_seconds(data.expires_at).ok_or_else(|| {
        malformed(format!(
            "expiresAt {} is not a time in Unix seconds",
            data.expires_at
        ))
    })?;
    Ok(EcrCredentials {
        user: user.to_owned(),
        password: password.to_owned(),
        expires_at,
    })
}

/// Unix seconds with a fraction, as AWS JSON protocols send times, to the millisecond (the
/// precision AWS uses; finer digits would be float noise).
fn epoch_seconds(value: f64) -> Option<Timestamp> {
    if !value.is_finite() || value < 0.0 || value >= i64::MAX as f64 {
        return None;
    }
    let millis = (value * 1000.0).round() as i64;
    Timestamp::from_timestamp_millis(millis)
}

/// Maps an AWS JSON error (`{"__type": "...Exception", "message": "..."}`, usually a 400) by
/// its type first and its status second.
fn aws_error_kind(status: StatusCode, headers: &HeaderMap, body: ErrorBody) -> ErrorKind {
    let code = body.code.clone().or_else(|| {
        headers
            .get("x-amzn-errortype")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    });
    // Types may come qualified (`com.amazonaws.ecr#AccessDeniedException`) or with a
    // suffix (`AccessDeniedException:http://...`); the bare name is what identifies them.
    let short = code.as_deref().map(|code| {
        let code = code.rsplit('#').next().unwrap_or(code);
        code.split(':').next().unwrap_or(code).to_owned()
    });
    let ErrorBody { message, .. } = body;
    match short.as_deref() {
        Some("AccessDeniedException") => ErrorKind::Denied { message },
        Some(
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
            | "MissingAuthenticationTokenException"
            | "ExpiredTokenException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch",
        ) => ErrorKind::Unauthorized {
            message,
            code: short,
        },
        Some(
            "ThrottlingException"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded",
        ) => ErrorKind::RateLimited { retry_after: None },
        Some(
            "ServerException"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "ServiceUnavailableException",
        ) => ErrorKind::Server {
            status: status.as_u16(),
            message,
        },
        _ => status_kind(
            status,
            ErrorBody {
                code: short,
                message,
            },
            "ECR API",
            None,
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// AWS Signature Version 4

/// What SigV4 signs of a request. The AWS JSON protocols have no query string, so none is
/// taken; `path` must already be URI-encoded.
struct SigningRequest<'a> {
    method: &'a str,
    path: &'a str,
    /// Every header to sign, `host` and `x-amz-date` included.
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
}

/// The `Authorization` header for `request` as made at `amz_date` (`20250101T000000Z`) for
/// `region` and `service`.
fn sign_v4(
    credentials: &AwsCredentials,
    request: &SigningRequest<'_>,
    region: &str,
    service: &str,
    amz_date: &str,
) -> String {
    let (canonical_request, signed_headers) = canonical_request(request);
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = string_to_sign(&canonical_request, amz_date, &scope);
    let key = signing_key(&credentials.secret_access_key, date, region, service);
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    )
}

fn string_to_sign(canonical_request: &str, amz_date: &str, scope: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The canonical request and the signed-header list: header names lower-cased and sorted,
/// values trimmed with inner runs of spaces made one, repeated names joined by commas.
fn canonical_request(request: &SigningRequest<'_>) -> (String, String) {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers {
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        headers
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value);
    }
    let canonical_headers: String = headers
        .iter()
        .map(|(name, values)| format!("{name}:{}\n", values.join(",")))
        .collect();
    let signed_headers = headers.keys().cloned().collect::<Vec<_>>().join(";");
    let canonical = format!(
        "{}\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        request.path,
        hex(&Sha256::digest(request.body))
    );
    (canonical, signed_headers)
}

/// The key chain `"AWS4" + secret` → date → region → service → `aws4_request`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let key = hmac_sha256(&key, region.as_bytes());
    let key = hmac_sha256(&key, service.as_bytes());
    hmac_sha256(&key, b"aws4_request")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|byte| {
            [
                char::from(DIGITS[usize::from(byte >> 4)]),
                char::from(DIGITS[usize::from(byte & 0x0f)]),
            ]
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use serde_json::json;
    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    /// The credentials of AWS's SigV4 test suite.
    fn suite_credentials() -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: None,
        }
    }

    /// The example key pair of AWS's documentation.
    fn example_credentials() -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: None,
        }
    }

    fn time(text: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    // --- SigV4 --------------------------------------------------------------------------------

    #[test]
    fn signing_key_matches_the_documented_derivation() {
        // AWS's "derive a signing key" example (IAM) and the test suite's scope.
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert_eq!(
            hex(&signing_key(secret, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        assert_eq!(
            hex(&signing_key(secret, "20150830", "us-east-1", "service")),
            "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75"
        );
    }

    #[test]
    fn aws_sigv4_test_suite() {
        /// One case of AWS's SigV4 test suite (credentials [`suite_credentials`], region
        /// us-east-1, service `service`, 20150830T123600Z).
        struct Vector {
            name: &'static str,
            method: &'static str,
            headers: &'static [(&'static str, &'static str)],
            body: &'static [u8],
            canonical_request: String,
            canonical_request_hash: &'static str,
            signed_headers: &'static str,
            signature: &'static str,
        }
        const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        const BASE: &[(&str, &str)] = &[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
        ];
        let vectors = [
            Vector {
                name: "get-vanilla",
                method: "GET",
                headers: BASE,
                body: b"",
                canonical_request: format!(
                    "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                     host;x-amz-date\n{EMPTY}"
                ),
                canonical_request_hash:
                    "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
                signed_headers: "host;x-amz-date",
                signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            },
            Vector {
                name: "post-vanilla",
                method: "POST",
                headers: BASE,
                body: b"",
                canonical_request: format!(
                    "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                     host;x-amz-date\n{EMPTY}"
                ),
                canonical_request_hash:
                    "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
                signed_headers: "host;x-amz-date",
                signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            },
            Vector {
                name: "post-x-www-form-urlencoded",
                method: "POST",
                headers: &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Host", "example.amazonaws.com"),
                    ("X-Amz-Date", "20150830T123600Z"),
                ],
                body: b"Param1=value1",
                canonical_request: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n\
                                    host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                                    content-type;host;x-amz-date\n\
                                    9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
                    .to_owned(),
                canonical_request_hash:
                    "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
                signed_headers: "content-type;host;x-amz-date",
                signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            },
        ];
        let scope = "20150830/us-east-1/service/aws4_request";
        for vector in vectors {
            let name = vector.name;
            let request = SigningRequest {
                method: vector.method,
                path: "/",
                headers: vector.headers,
                body: vector.body,
            };
            let (canonical, signed_headers) = canonical_request(&request);
            assert_eq!(canonical, vector.canonical_request, "{name}");
            assert_eq!(signed_headers, vector.signed_headers, "{name}");
            assert_eq!(
                string_to_sign(&canonical, "20150830T123600Z", scope),
                format!(
                    "AWS4-HMAC-SHA256\n20150830T123600Z\n{scope}\n{}",
                    vector.canonical_request_hash
                ),
                "{name}"
            );
            assert_eq!(
                sign_v4(
                    &suite_credentials(),
                    &request,
                    "us-east-1",
                    "service",
                    "20150830T123600Z"
                ),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, SignedHeaders={}, \
                     Signature={}",
                    vector.signed_headers, vector.signature
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn canonical_headers_are_trimmed_folded_and_joined() {
        let request = SigningRequest {
            method: "GET",
            path: "/",
            headers: &[("X-B", "  two   words "), ("x-a", "1"), ("x-b", "3")],
            body: b"",
        };
        let (canonical, signed) = canonical_request(&request);
        assert_eq!(signed, "x-a;x-b");
        assert!(
            canonical.contains("\nx-a:1\nx-b:two words,3\n\n"),
            "{canonical}"
        );
    }

    /// The GetAuthorizationToken request of registry-reference §6.1. The expected values
    /// were computed with Python's `hmac` and `hashlib`, an independent implementation that
    /// reproduces the test-suite vectors above.
    #[test]
    fn get_authorization_token_signature_is_stable() {
        let headers = [
            ("content-type", JSON_CONTENT_TYPE),
            ("host", "api.ecr.us-east-1.amazonaws.com"),
            ("x-amz-date", "20250101T000000Z"),
            ("x-amz-target", GET_AUTHORIZATION_TOKEN_TARGET),
        ];
        let request = SigningRequest {
            method: "POST",
            path: "/",
            headers: &headers,
            body: b"{}",
        };
        let (canonical, signed_headers) = canonical_request(&request);
        assert_eq!(signed_headers, "content-type;host;x-amz-date;x-amz-target");
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/x-amz-json-1.1\n\
             host:api.ecr.us-east-1.amazonaws.com\nx-amz-date:20250101T000000Z\n\
             x-amz-target:AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken\n\n\
             content-type;host;x-amz-date;x-amz-target\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            string_to_sign(
                &canonical,
                "20250101T000000Z",
                "20250101/us-east-1/ecr/aws4_request"
            ),
            "AWS4-HMAC-SHA256\n20250101T000000Z\n20250101/us-east-1/ecr/aws4_request\n\
             c7ccf7ae63bc81cec0968802204699b39b6a8c311ce8d08d5fe75d1263c10b6e"
        );
        let authorization = sign_v4(
            &example_credentials(),
            &request,
            "us-east-1",
            "ecr",
            "20250101T000000Z",
        );
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/ecr/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
             Signature=460eb27fe6587aa01c1fbfbef8814ff7f62abb5154d0d88a93d8ded62113015d"
        );
        // Signing twice gives the same answer: nothing but the inputs goes in.
        let again = sign_v4(
            &example_credentials(),
            &request,
            "us-east-1",
            "ecr",
            "20250101T000000Z",
        );
        assert_eq!(again, authorization);
    }

    // --- hosts --------------------------------------------------------------------------------

    #[test]
    fn ecr_hosts() {
        let host = |host: &str, account: &str, region: &str, fips, china, api: &str| {
            let parsed = EcrHost::parse(host).unwrap();
            assert_eq!(
                parsed,
                EcrHost {
                    host: host.to_ascii_lowercase(),
                    account: account.to_owned(),
                    region: region.to_owned(),
                    fips,
                    china,
                },
                "{host}"
            );
            assert_eq!(parsed.api_url().as_str(), api, "{host}");
        };
        host(
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
            "123456789012",
            "eu-central-1",
            false,
            false,
            "https://api.ecr.eu-central-1.amazonaws.com/",
        );
        host(
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            "123456789012",
            "us-east-1",
            true,
            false,
            "https://ecr-fips.us-east-1.amazonaws.com/",
        );
        host(
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "123456789012",
            "cn-north-1",
            false,
            true,
            "https://api.ecr.cn-north-1.amazonaws.com.cn/",
        );
        host(
            "123456789012.DKR.ECR.US-WEST-2.AMAZONAWS.COM",
            "123456789012",
            "us-west-2",
            false,
            false,
            "https://api.ecr.us-west-2.amazonaws.com/",
        );
        for other in [
            "public.ecr.aws",
            "12345678901.dkr.ecr.us-east-1.amazonaws.com",
            "1234567890123.dkr.ecr.us-east-1.amazonaws.com",
            "12345678901a.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr..amazonaws.com",
            "123456789012.dkr.ecr.us_east_1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com:443",
            "123456789012.dkr.ecr.a.b.amazonaws.com",
            "ghcr.io",
        ] {
            assert_eq!(EcrHost::parse(other), None, "{other}");
        }
    }

    // --- credentials --------------------------------------------------------------------------

    /// A directory under the system's temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "upkeep-ecr-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(path.join(".aws")).unwrap();
            Self(path)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(".aws").join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn variables(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn keys(id: &str, secret: &str, token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: id.to_owned(),
            secret_access_key: secret.to_owned(),
            session_token: token.map(str::to_owned),
        }
    }

    const CREDENTIALS_FILE: &str = "\
# comment
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = default-secret

[ci]
AWS_ACCESS_KEY_ID=ASIACI
aws_secret_access_key=ci-secret
aws_session_token = ci-token
; another comment

[half]
aws_access_key_id = AKIAHALF
";

    const CONFIG_FILE: &str = "\
[default]
region = eu-west-1
s3 =
  region = not-this-one

[profile ci]
region = us-west-2

[profile fromconfig]
aws_access_key_id = AKIACONFIG
aws_secret_access_key = config-secret

[profile sso]
sso_session = corp
sso_account_id = 123456789012
";

    #[test]
    fn the_credential_chain() {
        let home = TempDir::new();
        home.write("credentials", CREDENTIALS_FILE);
        home.write("config", CONFIG_FILE);
        let sources = |pairs: &[(&str, &str)]| AwsSources::new(variables(pairs), Some(&home.0));
        let cases: [(&[(&str, &str)], AwsCredentials); 5] = [
            (&[], keys("AKIADEFAULT", "default-secret", None)),
            (
                &[("AWS_PROFILE", "ci")],
                keys("ASIACI", "ci-secret", Some("ci-token")),
            ),
            (
                &[("AWS_PROFILE", "fromconfig")],
                keys("AKIACONFIG", "config-secret", None),
            ),
            // The environment wins over the profile, as in AWS's SDKs.
            (
                &[
                    ("AWS_PROFILE", "ci"),
                    ("AWS_ACCESS_KEY_ID", "AKIAENV"),
                    ("AWS_SECRET_ACCESS_KEY", "env-secret"),
                    ("AWS_SESSION_TOKEN", "env-token"),
                ],
                keys("AKIAENV", "env-secret", Some("env-token")),
            ),
            // Empty variables count as unset.
            (
                &[
                    ("AWS_ACCESS_KEY_ID", ""),
                    ("AWS_SECRET_ACCESS_KEY", " "),
                    ("AWS_PROFILE", ""),
                ],
                keys("AKIADEFAULT", "default-secret", None),
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(sources(pairs).credentials().unwrap(), expected, "{pairs:?}");
        }

        let credentials_path = home
            .0
            .join(".aws")
            .join("credentials")
            .display()
            .to_string();
        let config_path = home.0.join(".aws").join("config").display().to_string();
        let failures: [(&[(&str, &str)], String); 4] = [
            (
                &[("AWS_ACCESS_KEY_ID", "AKIAENV")],
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both, or \
                 neither to use the shared files"
                    .to_owned(),
            ),
            (
                &[("AWS_PROFILE", "half")],
                format!(
                    "profile 'half' in {credentials_path} has no aws_secret_access_key; add it"
                ),
            ),
            (
                &[("AWS_PROFILE", "sso")],
                format!(
                    "profile 'sso' in {config_path} gets its credentials through 'sso_session', \
                     which upkeep cannot use; export static credentials instead (`aws configure \
                     export-credentials --format env`)"
                ),
            ),
            (
                &[("AWS_PROFILE", "nobody")],
                format!(
                    "no AWS credentials for profile 'nobody': set AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY, or add the profile with aws_access_key_id and \
                     aws_secret_access_key to {credentials_path}"
                ),
            ),
        ];
        for (pairs, expected) in failures {
            assert_eq!(
                sources(pairs).credentials().unwrap_err().to_string(),
                expected,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn file_locations_come_from_the_environment_or_home() {
        let home = TempDir::new();
        let elsewhere = home.write(
            "elsewhere",
            "[default]\naws_access_key_id=AKIAX\naws_secret_access_key=x\n",
        );
        let sources = AwsSources::new(
            variables(&[("AWS_SHARED_CREDENTIALS_FILE", elsewhere.to_str().unwrap())]),
            Some(&home.0),
        );
        assert_eq!(
            sources.credentials_file.as_deref(),
            Some(elsewhere.as_path())
        );
        assert_eq!(
            sources.config_file,
            Some(home.0.join(".aws").join("config"))
        );
        assert_eq!(sources.credentials().unwrap(), keys("AKIAX", "x", None));

        let homeless = AwsSources::new(variables(&[]), None);
        assert_eq!(homeless.credentials_file, None);
        assert_eq!(
            homeless.credentials().unwrap_err().to_string(),
            "no AWS credentials for profile 'default': set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or add the profile with aws_access_key_id and \
             aws_secret_access_key to ~/.aws/credentials (no home directory found)"
        );
        assert_eq!(homeless.region().unwrap(), None);
    }

    #[test]
    fn regions() {
        let home = TempDir::new();
        home.write("config", CONFIG_FILE);
        let region = |pairs: &[(&str, &str)]| {
            AwsSources::new(variables(pairs), Some(&home.0))
                .region()
                .unwrap()
        };
        assert_eq!(region(&[]), Some("eu-west-1".to_owned()));
        assert_eq!(
            region(&[("AWS_PROFILE", "ci")]),
            Some("us-west-2".to_owned())
        );
        assert_eq!(region(&[("AWS_PROFILE", "fromconfig")]), None);
        assert_eq!(
            region(&[("AWS_DEFAULT_REGION", "ap-south-1"), ("AWS_PROFILE", "ci")]),
            Some("ap-south-1".to_owned())
        );
        assert_eq!(
            region(&[
                ("AWS_REGION", "sa-east-1"),
                ("AWS_DEFAULT_REGION", "ap-south-1")
            ]),
            Some("sa-east-1".to_owned())
        );
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let home = TempDir::new();
        // A directory where the file should be cannot be read as one.
        std::fs::create_dir_all(home.0.join(".aws").join("credentials")).unwrap();
        let error = AwsSources::new(variables(&[]), Some(&home.0))
            .credentials()
            .unwrap_err();
        let path = home
            .0
            .join(".aws")
            .join("credentials")
            .display()
            .to_string();
        assert_eq!(error.to_string(), format!("cannot read {path}"));
        let ErrorKind::Credentials { reason } = ErrorKind::from(error) else {
            panic!("expected a credentials error");
        };
        assert!(
            reason.starts_with(&format!("cannot read {path}: ")),
            "{reason}"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let credentials = keys("AKIAID", "very-secret", Some("session-secret"));
        let ecr = EcrCredentials {
            user: "AWS".to_owned(),
            password: "registry-secret".to_owned(),
            expires_at: time("2025-01-01T12:00:00Z"),
        };
        let sources = AwsSources::new(variables(&[("AWS_SECRET_ACCESS_KEY", "env-secret")]), None);
        let printed = format!("{credentials:?} {ecr:?} {sources:?}");
        for secret in [
            "very-secret",
            "session-secret",
            "registry-secret",
            "env-secret",
        ] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("AKIAID") && printed.contains("AWS_SECRET_ACCESS_KEY"));
    }

    // --- GetAuthorizationToken ----------------------------------------------------------------

    /// `AWS:examplepassword`, the reference's example token.
    const EXAMPLE_TOKEN: &str = "QVdTOmV4YW1wbGVwYXNzd29yZA==";

    fn private_answer(expires_at: f64) -> serde_json::Value {
        json!({"authorizationData": [{
            "authorizationToken": EXAMPLE_TOKEN,
            "expiresAt": expires_at,
            "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
        }]})
    }

    fn private_client(server: &MockServer) -> EcrClient {
        EcrClient::new(
            Url::parse(&server.uri()).unwrap(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "us-east-1",
            reqwest::Client::new(),
        )
    }

    /// Checks a received request's signature by signing what arrived again.
    fn assert_signed(
        request: &wiremock::Request,
        credentials: &AwsCredentials,
        region: &str,
        service: &str,
        signed_header_names: &str,
    ) {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        let names: Vec<&str> = signed_header_names.split(';').collect();
        let values: Vec<String> = names.iter().map(|name| header(name)).collect();
        let pairs: Vec<(&str, &str)> = names
            .iter()
            .copied()
            .zip(values.iter().map(String::as_str))
            .collect();
        let amz_date = header("x-amz-date");
        let expected = sign_v4(
            credentials,
            &SigningRequest {
                method: request.method.as_str(),
                path: request.url.path(),
                headers: &pairs,
                body: &request.body,
            },
            region,
            service,
            &amz_date,
        );
        assert_eq!(header("authorization"), expected);
    }

    #[tokio::test]
    async fn get_authorization_token_end_to_end() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header("x-amz-target", GET_AUTHORIZATION_TOKEN_TARGET))
            .and(header("content-type", "application/x-amz-json-1.1"))
            .and(header("x-amz-date", "20250101T000000Z"))
            .and(body_string("{}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(private_answer(1_735_732_800.0)))
            .expect(1)
            .mount(&server)
            .await;
        let credentials = example_credentials();
        let token = private_client(&server)
            .authorization_token(&credentials, time("2025-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(
            token,
            EcrCredentials {
                user: "AWS".to_owned(),
                password: "examplepassword".to_owned(),
                expires_at: time("2025-01-01T12:00:00Z"),
            }
        );
        assert_eq!(
            token.basic_authorization(),
            format!("Basic {EXAMPLE_TOKEN}")
        );

        let requests = server.received_requests().await.unwrap();
        let authorization = requests[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/ecr/aws4_request, \
                      SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=";
        assert!(authorization.starts_with(prefix), "{authorization}");
        let signature = &authorization[prefix.len()..];
        assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(requests[0].headers.get("x-amz-security-token"), None);
        assert_signed(
            &requests[0],
            &credentials,
            "us-east-1",
            "ecr",
            "content-type;host;x-amz-date;x-amz-target",
        );
    }

    #[tokio::test]
    async fn temporary_credentials_send_and_sign_the_session_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(header("x-amz-security-token", "session-token-example"))
            .respond_with(ResponseTemplate::new(200).set_body_json(private_answer(1_735_732_800.5)))
            .expect(1)
            .mount(&server)
            .await;
        let credentials = AwsCredentials {
            session_token: Some("session-token-example".to_owned()),
            ..example_credentials()
        };
        let token = private_client(&server)
            .authorization_token(&credentials, time("2025-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(token.expires_at, time("2025-01-01T12:00:00.5Z"));
        let requests = server.received_requests().await.unwrap();
        assert_signed(
            &requests[0],
            &credentials,
            "us-east-1",
            "ecr",
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target",
        );
    }

    #[tokio::test]
    async fn ecr_public_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header("x-amz-target", ECR_PUBLIC_TARGET))
            .and(body_string("{}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "authorizationData": {"authorizationToken": EXAMPLE_TOKEN, "expiresAt": 1735732800}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let client =
            EcrClient::new_public(Url::parse(&server.uri()).unwrap(), reqwest::Client::new());
        assert_eq!(client.registry(), "public.ecr.aws");
        let credentials = example_credentials();
        let token = client
            .authorization_token(&credentials, time("2025-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(token.password, "examplepassword");
        assert_eq!(token.expires_at, time("2025-01-01T12:00:00Z"));
        let requests = server.received_requests().await.unwrap();
        let authorization = requests[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/ecr-public/aws4_request, "
            ),
            "{authorization}"
        );
        assert_signed(
            &requests[0],
            &credentials,
            "us-east-1",
            "ecr-public",
            "content-type;host;x-amz-date;x-amz-target",
        );
    }

    #[tokio::test]
    async fn aws_errors() {
        let cases = [
            (
                400,
                json!({"__type": "AccessDeniedException",
                       "message": "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken on resource: *"}),
                "access denied: User: arn:aws:iam::123456789012:user/ci is not authorized to \
                 perform: ecr:GetAuthorizationToken on resource: *, from \
                 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                400,
                json!({"__type": "UnrecognizedClientException",
                       "message": "The security token included in the request is invalid."}),
                "authentication failed (UnrecognizedClientException): The security token included \
                 in the request is invalid., from 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                400,
                json!({"__type": "com.amazon.coral.service#InvalidSignatureException",
                       "Message": "The request signature we calculated does not match"}),
                "authentication failed (InvalidSignatureException): The request signature we \
                 calculated does not match, from 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                400,
                json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
                "rate limited, from 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                500,
                json!({"__type": "ServerException", "message": "internal"}),
                "server error 500: internal, from 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                400,
                json!({"__type": "InvalidParameterException", "message": "bad registry id"}),
                "request refused with status 400 (InvalidParameterException): bad registry id, \
                 from 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
        ];
        for (status, body, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status).set_body_json(body))
                .mount(&server)
                .await;
            let error = private_client(&server)
                .authorization_token(&example_credentials(), time("2025-01-01T00:00:00Z"))
                .await
                .unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn the_error_type_header_names_the_exception_when_the_body_does_not() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/"
                .parse()
                .unwrap(),
        );
        let kind = aws_error_kind(
            StatusCode::BAD_REQUEST,
            &headers,
            ErrorBody {
                code: None,
                message: "denied".to_owned(),
            },
        );
        assert_eq!(kind.to_string(), "access denied: denied");
    }

    #[test]
    fn malformed_token_answers() {
        let cases = [
            (
                json!({"authorizationData": []}),
                "GetAuthorizationToken answered with no authorizationData",
            ),
            (
                json!({"authorizationData": [{"authorizationToken": "%%%", "expiresAt": 1.0}]}),
                "authorizationToken is not base64 text",
            ),
            (
                // base64 of "AWSexamplepassword": no colon.
                json!({"authorizationData": [{"authorizationToken": "QVdTZXhhbXBsZXBhc3N3b3Jk", "expiresAt": 1.0}]}),
                "authorizationToken is not 'user:password'",
            ),
            (
                json!({"authorizationData": [{"authorizationToken": EXAMPLE_TOKEN, "expiresAt": -5.0}]}),
                "expiresAt -5 is not a time in Unix seconds",
            ),
            (
                json!({"authorizationData": [{"authorizationToken": "c2VjcmV0", "expiresAt": "soon"}]}),
                "GetAuthorizationToken answer is not the documented JSON (line 1, column 76)",
            ),
        ];
        for (answer, expected) in cases {
            let body = serde_json::to_vec(&answer).unwrap();
            let error = parse_token_answer(&body).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("malformed response: {expected}"),
                "{answer}"
            );
            // The password must never reach an error, even when the shape is wrong.
            assert!(!error.to_string().contains("c2VjcmV0"));
        }
    }

    #[test]
    fn epoch_seconds_to_the_millisecond() {
        assert_eq!(
            epoch_seconds(1_735_732_800.0),
            Some(time("2025-01-01T12:00:00Z"))
        );
        assert_eq!(
            epoch_seconds(1_735_732_800.123),
            Some(time("2025-01-01T12:00:00.123Z"))
        );
        assert_eq!(epoch_seconds(f64::NAN), None);
        assert_eq!(epoch_seconds(f64::INFINITY), None);
        assert_eq!(epoch_seconds(-1.0), None);
    }

    // --- the cache ----------------------------------------------------------------------------

    #[tokio::test]
    async fn the_cache_refreshes_shortly_before_expiry() {
        let server = MockServer::start().await;
        // First answer: expires at 12:00; the second, fetched at 11:56, at 23:56.
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(private_answer(1_735_732_800.0)))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"authorizationData": [{
                    "authorizationToken": "QVdTOnNlY29uZA==", "expiresAt": 1_735_775_760.0
                }]})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let cache = EcrTokenCache::new(private_client(&server), example_credentials());

        let first = cache.get(time("2025-01-01T00:00:00Z")).await.unwrap();
        assert_eq!(first.password, "examplepassword");
        // Still more than five minutes left: no request.
        let cached = cache.get(time("2025-01-01T11:54:59Z")).await.unwrap();
        assert_eq!(cached, first);
        // Five minutes or less left: a new password.
        let second = cache.get(time("2025-01-01T11:56:00Z")).await.unwrap();
        assert_eq!(second.password, "second");
        assert_eq!(second.expires_at, time("2025-01-01T23:56:00Z"));
        let again = cache.get(time("2025-01-01T12:30:00Z")).await.unwrap();
        assert_eq!(again, second);
    }

    #[tokio::test]
    async fn invalidating_the_cache_fetches_again() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(private_answer(1_735_732_800.0)))
            .expect(2)
            .mount(&server)
            .await;
        let cache = EcrTokenCache::new(private_client(&server), example_credentials())
            .with_margin(Duration::ZERO);
        let now = time("2025-01-01T11:59:59Z");
        cache.get(now).await.unwrap();
        cache.get(now).await.unwrap();
        cache.invalidate().await;
        cache.get(now).await.unwrap();
        // At expiry itself the password is no longer fresh, even with no margin.
        let credentials = cache.get(now).await.unwrap();
        assert!(!credentials.is_fresh(time("2025-01-01T12:00:00Z"), Duration::ZERO));
    }
}
