//! Registry credentials, found the way the Docker CLI finds them.
//!
//! [`CredentialStore::lookup`] answers "which credential for this registry host?" from, in
//! order:
//!
//! 1. **upkeep's own variable** `UPKEEP_AUTH_<HOST>=username:password`, where `<HOST>` is the
//!    registry host upper-cased with every character other than a letter or digit written
//!    as `_`: `UPKEEP_AUTH_GHCR_IO`, `UPKEEP_AUTH_LOCALHOST_5000`, and for Docker Hub
//!    `UPKEEP_AUTH_DOCKER_IO`. The value is split at its first `:`, so a token may contain
//!    colons. An empty variable counts as unset. (Hosts that differ only in punctuation share a
//!    variable; [`override_variable`] gives the name.)
//! 2. **`DOCKER_AUTH_CONFIG`**, a JSON document with the `auths` of a `config.json`, which
//!    newer Docker CLIs prefer to the file.
//! 3. **`config.json`** from `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: the
//!    host's credential helper (`credHelpers`), else the default one (`credsStore`), else
//!    the `auths` entry. As in Docker, once a helper is configured for a host its answer is
//!    final: "not found" means no credentials, and `auths` is not consulted.
//!
//! `auths` keys match the host exactly or after stripping a scheme and path
//! (`https://ghcr.io/v2/` is `ghcr.io`); Docker Hub's key is `https://index.docker.io/v1/`,
//! and `docker.io`, `index.docker.io` and `registry-1.docker.io` are read as Hub too.
//!
//! A missing `config.json` means no credentials; a malformed one is a [`ConfigError`] naming
//! the file and what is wrong. A bad entry (an `auth` that is not base64 of `user:password`)
//! is reported only when its host is looked up, so one typo does not stop every registry.
//!
//! Credential helpers run as `docker-credential-NAME get` with the server URL on stdin,
//! under a timeout ([`DEFAULT_HELPER_TIMEOUT`]), found on the `PATH` of the injected
//! [`Environment`] and given only that environment. Their output is never logged or put in
//! an error message.
//!
//! # What this module does not do
//! It never writes credentials (`docker login`, helper `store`/`erase`), does not read
//! Podman's `auth.json` (`REGISTRY_AUTH_FILE`), and does not turn `AWS_*` or `GITHUB_TOKEN`
//! into registry credentials. It reads the process environment only in
//! [`Environment::from_process`]; everything else takes the environment as an argument, so
//! tests never touch the real one. Answers are not cached: the router asks once per host.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

use crate::error::{ErrorKind, RegistryError};
use crate::router::CredentialSource;

/// The server address Docker files Docker Hub's credentials under, in `auths` and when asking
/// a helper.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// How long a credential helper may take to answer before it is killed. Helpers such as
/// `ecr-login` make a network call; one that waits for a locked keychain never answers.
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(15);

/// The most a credential helper may print on stdout or stderr; an answer is one small JSON
/// object, so a helper printing more is broken, and is killed rather than read to the end.
const HELPER_OUTPUT_LIMIT: u64 = 64 * 1024;

/// The prefix of upkeep's per-host credential variables; see [`override_variable`].
pub const OVERRIDE_PREFIX: &str = "UPKEEP_AUTH_";

/// Hosts that all mean Docker Hub.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The host every Docker Hub spelling is reduced to.
const DOCKER_HUB_HOST: &str = "docker.io";

/// What a helper prints when it has nothing for the server.
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";

/// The `Username` a helper answers with when `Secret` is an identity token.
const HELPER_TOKEN_USERNAME: &str = "<token>";

/// The environment variable that holds `auths` as JSON and overrides the file.
const AUTH_CONFIG_VARIABLE: &str = "DOCKER_AUTH_CONFIG";

/// How often to retry starting a helper that the OS reports as busy (see `spawn`).
const SPAWN_ATTEMPTS: u32 = 5;

/// A credential for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and a password or access token, sent as Basic auth or to the token server.
    Basic {
        /// The user name.
        username: String,
        /// The password or personal access token.
        password: String,
    },
    /// An OAuth2 refresh token (Docker's `identitytoken`), exchanged for access tokens with
    /// the refresh grant.
    IdentityToken(String),
    /// A bearer token sent to the registry as it is (Docker's `registrytoken`).
    RegistryToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &Redacted)
                .finish(),
            Self::IdentityToken(_) => f.debug_tuple("IdentityToken").field(&Redacted).finish(),
            Self::RegistryToken(_) => f.debug_tuple("RegistryToken").field(&Redacted).finish(),
        }
    }
}

/// Stands in for a secret in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The environment variables the store reads (`DOCKER_CONFIG`, `DOCKER_AUTH_CONFIG`,
/// `UPKEEP_AUTH_*`) and hands to credential helpers (`PATH` to find them, and whatever
/// else they need, such as `AWS_*`).
///
/// Its `Debug` output lists the variables' names only, since values may be secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment {
    variables: BTreeMap<String, String>,
}

impl Environment {
    /// An environment holding exactly `variables`.
    pub fn new<K, V>(variables: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            variables: variables
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }

    /// The environment of this process. Variables whose name or value is not UTF-8 are left
    /// out (none of those the store reads can be used if they are not UTF-8).
    pub fn from_process() -> Self {
        Self {
            variables: std::env::vars_os()
                .filter_map(|(name, value)| {
                    Some((name.into_string().ok()?, value.into_string().ok()?))
                })
                .collect(),
        }
    }

    /// The value of `name`, if set.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(String::as_str)
    }

    /// The value of `name` if set and not empty.
    fn non_empty(&self, name: &str) -> Option<&str> {
        self.var(name).filter(|value| !value.is_empty())
    }

    /// The user's home directory from `HOME` (or `USERPROFILE` on Windows), if set.
    pub fn home_dir(&self) -> Option<PathBuf> {
        let name = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
        self.non_empty(name).map(PathBuf::from)
    }

    /// Where Docker's `config.json` is: `$DOCKER_CONFIG/config.json` when `DOCKER_CONFIG` is
    /// set and not empty, else `.docker/config.json` under `home`.
    pub fn docker_config_path(&self, home: Option<&Path>) -> Option<PathBuf> {
        match self.non_empty("DOCKER_CONFIG") {
            Some(directory) => Some(Path::new(directory).join("config.json")),
            None => home.map(|home| home.join(".docker").join("config.json")),
        }
    }

    /// The program `name` in the first directory of `PATH` that has it as an executable
    /// file. Empty entries (which mean the working directory) are skipped on purpose.
    fn find_program(&self, name: &str) -> Option<PathBuf> {
        let path = self.var("PATH")?;
        let file_name = if cfg!(windows) {
            format!("{name}.exe")
        } else {
            name.to_owned()
        };
        std::env::split_paths(path)
            .filter(|directory| !directory.as_os_str().is_empty())
            .map(|directory| directory.join(&file_name))
            .find(|candidate| is_executable(candidate))
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("names", &self.variables.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// The name of upkeep's credential variable for `host`: [`OVERRIDE_PREFIX`] and the host
/// upper-cased, with every character other than a letter or digit written as `_`
/// (`ghcr.io` → `UPKEEP_AUTH_GHCR_IO`). Docker Hub's spellings all give
/// `UPKEEP_AUTH_DOCKER_IO`.
pub fn override_variable(host: &str) -> String {
    let host = registry_host(host);
    let suffix: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{OVERRIDE_PREFIX}{suffix}")
}

/// The registry host a server address or `auths` key names: scheme and path stripped,
/// lower-cased, and every Docker Hub spelling reduced to `docker.io`
/// (`https://index.docker.io/v1/` → `docker.io`, `http://localhost:5000/v2/` →
/// `localhost:5000`).
pub fn registry_host(address: &str) -> String {
    let address = address.trim();
    let without_scheme = ["https://", "http://"]
        .iter()
        .find_map(|scheme| {
            let prefix = address.get(..scheme.len())?;
            prefix
                .eq_ignore_ascii_case(scheme)
                .then(|| address.get(scheme.len()..))
                .flatten()
        })
        .unwrap_or(address);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if DOCKER_HUB_HOSTS.contains(&host.as_str()) {
        DOCKER_HUB_HOST.to_owned()
    } else {
        host
    }
}

/// The server address Docker uses for `host` in `auths` and with helpers: Docker Hub's
/// [`DOCKER_HUB_SERVER`], the bare host otherwise.
pub fn server_address(host: &str) -> String {
    let host = registry_host(host);
    if host == DOCKER_HUB_HOST {
        DOCKER_HUB_SERVER.to_owned()
    } else {
        host
    }
}

/// A `config.json` (or `DOCKER_AUTH_CONFIG`) as read: `auths` with each entry decoded, and
/// the credential helpers it names. Keys other than `auths`, `credsStore` and `credHelpers`
/// are ignored, as Docker's config holds many unrelated settings. The default is an empty
/// config, which gives no credentials.
#[derive(Clone, Default)]
pub struct DockerConfig {
    /// Where it came from, as shown in messages (`~/.docker/config.json`).
    origin: String,
    /// Whether it is a file or `DOCKER_AUTH_CONFIG`.
    kind: ConfigKind,
    /// `auths` by key as written, each entry decoded or the problem with it.
    auths: BTreeMap<String, DecodedEntry>,
    /// `credsStore`, if set and not empty.
    creds_store: Option<String>,
    /// `credHelpers` by key as written.
    cred_helpers: BTreeMap<String, String>,
}

/// An `auths` entry: its credential (`None` for a `{}` placeholder), or what is wrong with it.
type DecodedEntry = Result<Option<Credential>, String>;

/// Where a [`DockerConfig`] came from, which decides what it may hold and how to fix it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ConfigKind {
    /// A `config.json`.
    #[default]
    File,
    /// `DOCKER_AUTH_CONFIG`, of which only `auths` counts.
    Variable,
}

impl ConfigKind {
    /// What to do about a malformed document.
    fn fix(self) -> &'static str {
        match self {
            Self::File => "fix the file or set DOCKER_CONFIG to another directory",
            Self::Variable => "fix or unset DOCKER_AUTH_CONFIG",
        }
    }

    /// What to do about a bad `auths` entry for `host`.
    fn entry_fix(self, host: &str) -> String {
        match self {
            Self::File if host == DOCKER_HUB_HOST => {
                "log in again with `docker login` or fix the entry".to_owned()
            }
            Self::File => format!("log in again with `docker login {host}` or fix the entry"),
            Self::Variable => self.fix().to_owned(),
        }
    }
}

impl DockerConfig {
    /// Reads a `config.json` document; `origin` names it in messages (a path, or `"test"`).
    /// Empty text is an empty config, as Docker reads it.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::parse_with(text, origin.to_owned(), ConfigKind::File)
    }

    /// Reads the file at `path`; a missing file is an empty config. `home` only shortens
    /// the path shown in messages to `~/…`.
    pub fn load(path: &Path, home: Option<&Path>) -> Result<Self, ConfigError> {
        let origin = shown_path(path, home);
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse_with(&text, origin, ConfigKind::File),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Self {
                origin,
                ..Self::default()
            }),
            Err(error) => Err(ConfigError {
                origin,
                problem: format!("cannot be read ({error})"),
                fix: ConfigKind::File.fix(),
            }),
        }
    }

    fn parse_with(text: &str, origin: String, kind: ConfigKind) -> Result<Self, ConfigError> {
        let error = |problem: String| ConfigError {
            origin: origin.clone(),
            problem,
            fix: kind.fix(),
        };
        let mut config = Self {
            origin: origin.clone(),
            kind,
            ..Self::default()
        };
        if text.trim().is_empty() {
            return Ok(config);
        }
        // Read into a `Value` first: its errors are all syntax errors, whose messages never
        // quote the input. Type errors are then reported here by JSON path, without values.
        let document: Value = serde_json::from_str(text).map_err(|json| {
            error(format!(
                "invalid JSON at line {} column {} ({})",
                json.line(),
                json.column(),
                syntax_message(&json)
            ))
        })?;
        let Value::Object(top) = document else {
            return Err(error("the top level is not a JSON object".to_owned()));
        };
        for (key, entry) in object_field(&top, "auths")
            .map_err(error)?
            .into_iter()
            .flatten()
        {
            let decoded = match entry {
                Value::Null => Ok(None),
                Value::Object(fields) => decode_entry(key, fields).map_err(error)?,
                _ => return Err(error(format!("auths[{key:?}] is not an object"))),
            };
            config.auths.insert(key.clone(), decoded);
        }
        if kind == ConfigKind::File {
            config.creds_store = string_field(&top, "credsStore", "credsStore")
                .map_err(error)?
                .map(str::to_owned);
            let helpers = object_field(&top, "credHelpers").map_err(error)?;
            for (key, helper) in helpers.into_iter().flatten() {
                match helper {
                    Value::Null => {}
                    Value::String(helper) if helper.is_empty() => {}
                    Value::String(helper) => {
                        config.cred_helpers.insert(key.clone(), helper.clone());
                    }
                    _ => return Err(error(format!("credHelpers[{key:?}] is not a string"))),
                }
            }
        }
        Ok(config)
    }

    /// The `auths` entry for `host`: the key equal to its server address, else the first
    /// key (in sorted order) that names the same host.
    fn auth_entry(&self, host: &str, server: &str) -> Option<&DecodedEntry> {
        self.auths.get(server).or_else(|| {
            self.auths
                .iter()
                .find(|(key, _)| registry_host(key) == host)
                .map(|(_, entry)| entry)
        })
    }

    /// The helper configured for `host` and where it was configured.
    fn helper(&self, host: &str, server: &str) -> Option<(&str, String)> {
        let per_host = self.cred_helpers.get_key_value(server).or_else(|| {
            self.cred_helpers
                .iter()
                .find(|(key, _)| registry_host(key) == host)
        });
        match per_host {
            Some((key, helper)) => Some((helper.as_str(), format!("credHelpers[{key:?}]"))),
            None => self
                .creds_store
                .as_deref()
                .map(|helper| (helper, "credsStore".to_owned())),
        }
    }
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("origin", &self.origin)
            .field("auths", &self.auths.keys().collect::<Vec<_>>())
            .field("creds_store", &self.creds_store)
            .field("cred_helpers", &self.cred_helpers)
            .finish()
    }
}

/// serde_json's description of a syntax error without its " at line L column C" suffix.
fn syntax_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// An object-valued field of `object`; `None` when absent or `null`.
fn object_field<'a>(
    object: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(fields)) => Ok(Some(fields)),
        Some(_) => Err(format!("{name} is not an object")),
    }
}

/// A string-valued field of `object`; absent, `null` and empty are `None`. `path` names it
/// in the message.
fn string_field<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<&'a str>, String> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("{path} is not a string")),
    }
}

/// Decodes one `auths` entry. The outer error is a wrong type (the file is malformed); the
/// inner one a bad value, reported when the entry's host is looked up.
fn decode_entry(key: &str, fields: &Map<String, Value>) -> Result<DecodedEntry, String> {
    let field = |name: &str| string_field(fields, name, &format!("auths[{key:?}].{name}"));
    let auth = field("auth")?;
    let username = field("username")?;
    let password = field("password")?;
    let identity_token = field("identitytoken")?;
    let registry_token = field("registrytoken")?;
    // Docker's order: a registry token is used as it is, an identity token replaces the
    // password, and `auth` wins over the plain `username`/`password` fields.
    if let Some(token) = registry_token {
        return Ok(Ok(Some(Credential::RegistryToken(token.to_owned()))));
    }
    if let Some(token) = identity_token {
        return Ok(Ok(Some(Credential::IdentityToken(token.to_owned()))));
    }
    if let Some(auth) = auth {
        return Ok(decode_auth(auth)
            .map(Some)
            .map_err(|problem| format!("auths[{key:?}].auth {problem}")));
    }
    Ok(Ok(username.map(|username| Credential::Basic {
        username: username.to_owned(),
        password: password.unwrap_or_default().to_owned(),
    })))
}

/// Decodes `auth`, base64 of `username:password`. Problems never quote the value.
fn decode_auth(auth: &str) -> Result<Credential, &'static str> {
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = LENIENT
        .decode(auth.trim())
        .map_err(|_| "is not valid base64")?;
    let text = String::from_utf8(bytes).map_err(|_| "does not decode to UTF-8 text")?;
    let (username, password) = text
        .trim_end_matches('\0')
        .split_once(':')
        .ok_or("does not decode to 'username:password'")?;
    Ok(Credential::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// `path` with the home directory written as `~`.
fn shown_path(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|home| path.strip_prefix(home).ok()) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

/// A `config.json` or `DOCKER_AUTH_CONFIG` that cannot be read: names it, says what is wrong
/// and how to fix it. Never quotes the file's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {problem}; {fix}")]
pub struct ConfigError {
    origin: String,
    problem: String,
    fix: &'static str,
}

impl ConfigError {
    /// The file or variable that is malformed, as shown in the message.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl From<ConfigError> for RegistryError {
    fn from(error: ConfigError) -> Self {
        Self::new(
            "(any)",
            None,
            ErrorKind::Credentials {
                reason: error.to_string(),
            },
        )
    }
}

/// Docker-compatible credentials for every registry host; see the module documentation for
/// where they come from and in which order.
///
/// Build it with [`CredentialStore::load`] (or [`CredentialStore::from_process`]), or, in
/// tests, from a parsed config with [`CredentialStore::from_parts`].
#[derive(Debug, Clone)]
pub struct CredentialStore {
    config: DockerConfig,
    /// `DOCKER_AUTH_CONFIG`, preferred to the file's `auths` when it has the host.
    auth_config_variable: Option<DockerConfig>,
    environment: Environment,
    helper_timeout: Duration,
}

impl CredentialStore {
    /// Reads `DOCKER_AUTH_CONFIG` and the `config.json` that `environment` and `home` point
    /// to (see [`Environment::docker_config_path`]). Without either, only the
    /// `UPKEEP_AUTH_*` variables give credentials.
    pub fn load(environment: Environment, home: Option<&Path>) -> Result<Self, ConfigError> {
        let config = match environment.docker_config_path(home) {
            Some(path) => DockerConfig::load(&path, home)?,
            None => DockerConfig::default(),
        };
        let auth_config_variable = environment
            .non_empty(AUTH_CONFIG_VARIABLE)
            .map(|text| {
                DockerConfig::parse_with(
                    text,
                    AUTH_CONFIG_VARIABLE.to_owned(),
                    ConfigKind::Variable,
                )
            })
            .transpose()?;
        Ok(Self {
            config,
            auth_config_variable,
            environment,
            helper_timeout: DEFAULT_HELPER_TIMEOUT,
        })
    }

    /// [`CredentialStore::load`] with this process's environment and home directory.
    pub fn from_process() -> Result<Self, ConfigError> {
        let environment = Environment::from_process();
        let home = environment.home_dir();
        Self::load(environment, home.as_deref())
    }

    /// A store over an already parsed `config`, with `environment` for the `UPKEEP_AUTH_*`
    /// variables and the helpers' `PATH`; `DOCKER_AUTH_CONFIG` is not read.
    pub fn from_parts(config: DockerConfig, environment: Environment) -> Self {
        Self {
            config,
            auth_config_variable: None,
            environment,
            helper_timeout: DEFAULT_HELPER_TIMEOUT,
        }
    }

    /// Gives credential helpers `timeout` to answer instead of [`DEFAULT_HELPER_TIMEOUT`].
    #[must_use]
    pub fn with_helper_timeout(mut self, timeout: Duration) -> Self {
        self.helper_timeout = timeout;
        self
    }

    /// The credential for registry `host` (`ghcr.io`, `localhost:5000`, `docker.io`), or
    /// `None` to go anonymous. Errors (a bad entry or variable, a failing helper) are
    /// [`ErrorKind::Credentials`] errors that name the host, the source and the fix, never
    /// the secret.
    pub async fn lookup(&self, host: &str) -> Result<Option<Credential>, RegistryError> {
        let registry = registry_host(host);
        if registry.is_empty() {
            return Ok(None);
        }
        let error = |reason: String| {
            RegistryError::new(registry.as_str(), None, ErrorKind::Credentials { reason })
        };
        let variable = override_variable(&registry);
        if let Some(value) = self.environment.non_empty(&variable) {
            return match value.split_once(':') {
                Some((username, password)) if !username.is_empty() && !password.is_empty() => {
                    Ok(Some(Credential::Basic {
                        username: username.to_owned(),
                        password: password.to_owned(),
                    }))
                }
                _ => Err(error(format!(
                    "{variable} is not 'username:password'; set it to the user name, a colon \
                     and the password or token"
                ))),
            };
        }
        let server = server_address(&registry);
        if let Some(config) = &self.auth_config_variable
            && let Some(credential) =
                entry_credential(config, &registry, &server).map_err(&error)?
        {
            return Ok(Some(credential));
        }
        if let Some((helper, configured_in)) = self.config.helper(&registry, &server) {
            return self
                .run_helper(helper, &configured_in, &server)
                .await
                .map_err(error);
        }
        entry_credential(&self.config, &registry, &server).map_err(error)
    }

    /// Asks helper `docker-credential-NAME` for `server`'s credential. The error is the
    /// reason only; the caller adds the host.
    async fn run_helper(
        &self,
        name: &str,
        configured_in: &str,
        server: &str,
    ) -> Result<Option<Credential>, String> {
        let origin = &self.config.origin;
        if name.contains(['/', '\\']) {
            return Err(format!(
                "credential helper name '{name}' ({configured_in} in {origin}) contains a path \
                 separator; name the part after 'docker-credential-' of a program on PATH"
            ));
        }
        let program = format!("docker-credential-{name}");
        let Some(path) = self.environment.find_program(&program) else {
            return Err(format!(
                "credential helper '{program}' ({configured_in} in {origin}) is not on PATH; \
                 install it or remove {configured_in} from the file"
            ));
        };
        tracing::debug!(helper = %program, server, "asking a credential helper");
        let mut command = Command::new(&path);
        command
            .arg("get")
            .env_clear()
            .envs(&self.environment.variables)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let run = async {
            let mut child = spawn(&mut command).await?;
            if let Some(mut stdin) = child.stdin.take() {
                // A helper may answer without reading its input; a closed pipe is no error.
                match stdin.write_all(server.as_bytes()).await {
                    Err(error) if error.kind() != io::ErrorKind::BrokenPipe => return Err(error),
                    _ => {}
                }
            }
            // Both pipes at once, so that a helper filling one is not blocked on the other; a
            // pipe over the cap ends the run, and dropping the child kills it.
            let (stdout, stderr) = tokio::try_join!(
                read_helper_pipe(child.stdout.take()),
                read_helper_pipe(child.stderr.take()),
            )?;
            let status = child.wait().await?;
            Ok(std::process::Output {
                status,
                stdout,
                stderr,
            })
        };
        // On timeout the future is dropped with the child, which `kill_on_drop` kills. A
        // deadline is an elapsed duration, so tokio's monotonic timer keeps it, not the Clock.
        let output = match tokio::time::timeout(self.helper_timeout, run).await {
            Ok(Ok(output)) => output,
            Ok(Err(error)) if error.kind() == io::ErrorKind::FileTooLarge => {
                return Err(format!(
                    "credential helper '{program}' printed more than {}; a Docker credential \
                     helper answers with one small JSON object",
                    crate::error::size_text(HELPER_OUTPUT_LIMIT)
                ));
            }
            Ok(Err(error)) => {
                return Err(format!(
                    "credential helper '{program}' could not be run ({error})"
                ));
            }
            Err(_) => {
                return Err(format!(
                    "credential helper '{program}' did not answer within {} s; check that it \
                     does not wait for input (such as a locked keychain)",
                    self.helper_timeout.as_secs_f64()
                ));
            }
        };
        if !output.status.success() {
            let says_not_found =
                |bytes: &[u8]| String::from_utf8_lossy(bytes).trim() == HELPER_NOT_FOUND;
            if says_not_found(&output.stdout) || says_not_found(&output.stderr) {
                tracing::debug!(helper = %program, server, "credential helper has no credentials");
                return Ok(None);
            }
            return Err(format!(
                "credential helper '{program}' failed ({}); run `printf '%s' '{server}' | \
                 {program} get` to see why",
                output.status
            ));
        }
        let reply: HelperReply = serde_json::from_slice(&output.stdout).map_err(|_| {
            format!(
                "credential helper '{program}' answered with something other than \
                 {{\"ServerURL\", \"Username\", \"Secret\"}} JSON; check that it is a Docker \
                 credential helper"
            )
        })?;
        Ok(reply.into_credential())
    }
}

#[async_trait]
impl CredentialSource for CredentialStore {
    async fn credential(&self, host: &str) -> Result<Option<Credential>, RegistryError> {
        self.lookup(host).await
    }
}

/// The credential of `config`'s `auths` entry for the host; the error names the entry and
/// how to fix it.
fn entry_credential(
    config: &DockerConfig,
    registry: &str,
    server: &str,
) -> Result<Option<Credential>, String> {
    match config.auth_entry(registry, server) {
        None | Some(Ok(None)) => Ok(None),
        Some(Ok(Some(credential))) => Ok(Some(credential.clone())),
        Some(Err(problem)) => Err(format!(
            "{}: {problem}; {}",
            config.origin,
            config.kind.entry_fix(registry)
        )),
    }
}

/// What a helper printed on one pipe, or an error of kind `FileTooLarge` past
/// [`HELPER_OUTPUT_LIMIT`].
async fn read_helper_pipe(pipe: Option<impl AsyncRead + Unpin>) -> io::Result<Vec<u8>> {
    let mut output = Vec::new();
    if let Some(pipe) = pipe {
        pipe.take(HELPER_OUTPUT_LIMIT + 1)
            .read_to_end(&mut output)
            .await?;
    }
    if output.len() as u64 > HELPER_OUTPUT_LIMIT {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            "credential helper output over the cap",
        ));
    }
    Ok(output)
}

/// Starts `command`. Linux refuses to run a file that another process has open for writing
/// (`ETXTBSY`); that happens briefly when a helper was just installed, or when a concurrent
/// fork inherited the descriptor, so a busy file is tried again a few times.
async fn spawn(command: &mut Command) -> io::Result<tokio::process::Child> {
    let mut attempt = 1;
    loop {
        match command.spawn() {
            Err(error)
                if error.kind() == io::ErrorKind::ExecutableFileBusy
                    && attempt < SPAWN_ATTEMPTS =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            result => return result,
        }
    }
}

/// A helper's answer to `get`. No `Debug`: it holds the secret.
#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl HelperReply {
    fn into_credential(self) -> Option<Credential> {
        if self.username == HELPER_TOKEN_USERNAME {
            return (!self.secret.is_empty()).then_some(Credential::IdentityToken(self.secret));
        }
        if self.username.is_empty() && self.secret.is_empty() {
            return None;
        }
        Some(Credential::Basic {
            username: self.username,
            password: self.secret,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    use super::*;

    /// Every secret the tests use; none may show up in `Debug` output or in a message.
    const SECRETS: [&str; 9] = [
        "testpass",
        "pass:with:colons",
        "refresh-secret",
        "registry-bearer-secret",
        "helper-secret",
        "identity-secret",
        "override-secret",
        "helper-internal-secret",
        "malformed-secret-value",
    ];

    fn base64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn basic(username: &str, password: &str) -> Credential {
        Credential::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }

    fn store(json: &str, variables: &[(&str, &str)]) -> CredentialStore {
        CredentialStore::from_parts(
            DockerConfig::parse(json, "config.json").unwrap(),
            Environment::new(variables.iter().copied()),
        )
    }

    /// A fresh directory under the system's temporary directory, removed when dropped.
    /// (Written here so the tests need no extra crate.)
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "upkeep-credentials-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            // A crashed earlier run with the same process id may have left it behind.
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[track_caller]
    fn assert_no_secret(text: &str) {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret:?} leaked into: {text}");
        }
    }

    /// The error of a failed lookup, checked for secrets in both `Display` and `Debug`.
    async fn lookup_error(store: &CredentialStore, host: &str) -> String {
        let error = store.lookup(host).await.unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::Credentials { .. }),
            "{error:?}"
        );
        assert_no_secret(&format!("{error:?}"));
        let message = error.to_string();
        assert_no_secret(&message);
        message
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let cases = [
            (
                basic("testuser", "testpass"),
                r#"Basic { username: "testuser", password: <redacted> }"#,
            ),
            (
                Credential::IdentityToken("refresh-secret".to_owned()),
                "IdentityToken(<redacted>)",
            ),
            (
                Credential::RegistryToken("registry-bearer-secret".to_owned()),
                "RegistryToken(<redacted>)",
            ),
        ];
        for (credential, expected) in cases {
            assert_eq!(format!("{credential:?}"), expected);
            assert!(format!("{credential:#?}").contains("<redacted>"));
            assert_no_secret(&format!("{credential:#?}"));
        }
    }

    #[tokio::test]
    async fn auths_entries_decode_as_docker_reads_them() {
        let cases: Vec<(String, Option<Credential>)> = vec![
            // The reference's own example: testuser:testpass.
            (
                r#"{"auth": "dGVzdHVzZXI6dGVzdHBhc3M="}"#.to_owned(),
                Some(basic("testuser", "testpass")),
            ),
            (
                format!(r#"{{"auth": "{}"}}"#, base64("u:pass:with:colons")),
                Some(basic("u", "pass:with:colons")),
            ),
            (
                format!(r#"{{"auth": "{}"}}"#, base64("u:testpass\0\0")),
                Some(basic("u", "testpass")),
            ),
            // Without base64 padding.
            (
                r#"{"auth": "dGVzdHVzZXI6dGVzdHBhc3M"}"#.to_owned(),
                Some(basic("testuser", "testpass")),
            ),
            (
                r#"{"auth": "dGVzdHVzZXI6dGVzdHBhc3M=", "email": "x@example.com"}"#.to_owned(),
                Some(basic("testuser", "testpass")),
            ),
            (
                r#"{"identitytoken": "refresh-secret"}"#.to_owned(),
                Some(Credential::IdentityToken("refresh-secret".to_owned())),
            ),
            // ACR writes a placeholder user beside the identity token; the token wins.
            (
                format!(
                    r#"{{"auth": "{}", "identitytoken": "refresh-secret"}}"#,
                    base64("00000000-0000-0000-0000-000000000000:")
                ),
                Some(Credential::IdentityToken("refresh-secret".to_owned())),
            ),
            (
                r#"{"registrytoken": "registry-bearer-secret", "identitytoken": "x"}"#.to_owned(),
                Some(Credential::RegistryToken(
                    "registry-bearer-secret".to_owned(),
                )),
            ),
            (
                r#"{"username": "plain", "password": "testpass"}"#.to_owned(),
                Some(basic("plain", "testpass")),
            ),
            (
                format!(
                    r#"{{"auth": "{}", "username": "other", "password": "x"}}"#,
                    base64("a:b")
                ),
                Some(basic("a", "b")),
            ),
            (r#"{"password": "testpass"}"#.to_owned(), None),
            ("{}".to_owned(), None),
            (r#"{"auth": ""}"#.to_owned(), None),
            (r#"{"auth": null}"#.to_owned(), None),
            ("null".to_owned(), None),
        ];
        for (entry, expected) in cases {
            let store = store(&format!(r#"{{"auths": {{"ghcr.io": {entry}}}}}"#), &[]);
            assert_eq!(store.lookup("ghcr.io").await.unwrap(), expected, "{entry}");
        }
    }

    #[tokio::test]
    async fn auths_keys_match_by_host() {
        let cases = [
            ("https://index.docker.io/v1/", "docker.io", true),
            ("https://index.docker.io/v1/", "index.docker.io", true),
            ("https://index.docker.io/v1/", "registry-1.docker.io", true),
            ("docker.io", "docker.io", true),
            ("index.docker.io", "docker.io", true),
            ("registry-1.docker.io", "docker.io", true),
            ("https://index.docker.io/v1/", "ghcr.io", false),
            ("ghcr.io", "ghcr.io", true),
            ("https://ghcr.io", "ghcr.io", true),
            ("https://ghcr.io/v2/", "ghcr.io", true),
            ("http://ghcr.io/token", "ghcr.io", true),
            ("HTTPS://GHCR.IO/", "ghcr.io", true),
            ("ghcr.io", "GHCR.io", true),
            ("localhost:5000", "localhost:5000", true),
            ("http://localhost:5000/v2/", "localhost:5000", true),
            ("localhost:5000", "localhost", false),
            ("localhost", "localhost:5000", false),
            ("ghcr.io.evil.example", "ghcr.io", false),
            ("evil.example/ghcr.io", "ghcr.io", false),
            ("quay.io", "ghcr.io", false),
        ];
        for (key, host, matches) in cases {
            let store = store(
                &format!(r#"{{"auths": {{"{key}": {{"auth": "dGVzdHVzZXI6dGVzdHBhc3M="}}}}}}"#),
                &[],
            );
            let expected = matches.then(|| basic("testuser", "testpass"));
            assert_eq!(
                store.lookup(host).await.unwrap(),
                expected,
                "key {key}, host {host}"
            );
        }
    }

    #[tokio::test]
    async fn the_exact_key_wins_over_a_reduced_one() {
        let json = format!(
            r#"{{"auths": {{
                "docker.io": {{"auth": "{}"}},
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "https://ghcr.io/v2/": {{"auth": "{}"}},
                "ghcr.io": {{"auth": "{}"}}
            }}}}"#,
            base64("reduced:x"),
            base64("exact:y"),
            base64("reduced:x"),
            base64("exact:y"),
        );
        let store = store(&json, &[]);
        assert_eq!(
            store.lookup("docker.io").await.unwrap(),
            Some(basic("exact", "y"))
        );
        assert_eq!(
            store.lookup("ghcr.io").await.unwrap(),
            Some(basic("exact", "y"))
        );
    }

    #[test]
    fn hosts_servers_and_variables() {
        let cases = [
            (
                "docker.io",
                "docker.io",
                DOCKER_HUB_SERVER,
                "UPKEEP_AUTH_DOCKER_IO",
            ),
            (
                "https://index.docker.io/v1/",
                "docker.io",
                DOCKER_HUB_SERVER,
                "UPKEEP_AUTH_DOCKER_IO",
            ),
            (
                "registry-1.docker.io",
                "docker.io",
                DOCKER_HUB_SERVER,
                "UPKEEP_AUTH_DOCKER_IO",
            ),
            ("ghcr.io", "ghcr.io", "ghcr.io", "UPKEEP_AUTH_GHCR_IO"),
            ("GHCR.IO", "ghcr.io", "ghcr.io", "UPKEEP_AUTH_GHCR_IO"),
            (
                "localhost:5000",
                "localhost:5000",
                "localhost:5000",
                "UPKEEP_AUTH_LOCALHOST_5000",
            ),
            (
                "http://127.0.0.1:5000/v2/",
                "127.0.0.1:5000",
                "127.0.0.1:5000",
                "UPKEEP_AUTH_127_0_0_1_5000",
            ),
            (
                "my-registry.example.com",
                "my-registry.example.com",
                "my-registry.example.com",
                "UPKEEP_AUTH_MY_REGISTRY_EXAMPLE_COM",
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "UPKEEP_AUTH_123456789012_DKR_ECR_US_EAST_1_AMAZONAWS_COM",
            ),
            ("", "", "", "UPKEEP_AUTH_"),
        ];
        for (address, host, server, variable) in cases {
            assert_eq!(registry_host(address), host, "{address}");
            assert_eq!(server_address(address), server, "{address}");
            assert_eq!(override_variable(address), variable, "{address}");
        }
    }

    #[test]
    fn malformed_configs_name_the_problem_and_the_fix() {
        const FIX: &str = "fix the file or set DOCKER_CONFIG to another directory";
        let cases = [
            (
                "{\n  \"auths\": {\n    \"ghcr.io\" {}\n  }\n}",
                "invalid JSON at line 3 column 15 (expected `:`)",
            ),
            (
                r#"{"auths": {"ghcr.io": {"auth": "x"},}}"#,
                "invalid JSON at line 1 column 37 (trailing comma)",
            ),
            (
                "{",
                "invalid JSON at line 1 column 1 (EOF while parsing an object)",
            ),
            ("[]", "the top level is not a JSON object"),
            (r#"{"auths": []}"#, "auths is not an object"),
            (
                r#"{"auths": {"ghcr.io": "malformed-secret-value"}}"#,
                r#"auths["ghcr.io"] is not an object"#,
            ),
            (
                r#"{"auths": {"ghcr.io": {"auth": 12345}}}"#,
                r#"auths["ghcr.io"].auth is not a string"#,
            ),
            (
                r#"{"auths": {"ghcr.io": {"identitytoken": ["malformed-secret-value"]}}}"#,
                r#"auths["ghcr.io"].identitytoken is not a string"#,
            ),
            (r#"{"credsStore": true}"#, "credsStore is not a string"),
            (
                r#"{"credHelpers": "gcloud"}"#,
                "credHelpers is not an object",
            ),
            (
                r#"{"credHelpers": {"gcr.io": 1}}"#,
                r#"credHelpers["gcr.io"] is not a string"#,
            ),
        ];
        for (text, problem) in cases {
            let error = DockerConfig::parse(text, "~/.docker/config.json").unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("~/.docker/config.json: {problem}; {FIX}"),
                "{text}"
            );
            assert_eq!(error.origin(), "~/.docker/config.json");
            assert_no_secret(&format!("{error:?}"));
        }
    }

    #[tokio::test]
    async fn odd_but_valid_configs_read_as_empty() {
        let cases = [
            "",
            "  \n",
            "{}",
            r#"{"auths": null, "credsStore": null, "credHelpers": null}"#,
            r#"{"auths": {}, "credsStore": "", "credHelpers": {"ghcr.io": ""}}"#,
            r#"{"psFormat": "table", "proxies": {"default": {}}, "auths": {"ghcr.io": {}}}"#,
        ];
        for text in cases {
            let store = store(text, &[("PATH", "/nonexistent")]);
            assert_eq!(store.lookup("ghcr.io").await.unwrap(), None, "{text:?}");
        }
    }

    #[tokio::test]
    async fn a_bad_entry_fails_only_its_own_host() {
        let json = format!(
            r#"{{"auths": {{
                "ghcr.io": {{"auth": "!!!"}},
                "nocolon.example": {{"auth": "{}"}},
                "binary.example": {{"auth": "//79"}},
                "https://index.docker.io/v1/": {{"auth": "%%%"}},
                "quay.io": {{"auth": "{}"}}
            }}}}"#,
            base64("malformed-secret-value"),
            base64("quser:testpass"),
        );
        let store = store(&json, &[]);
        let cases = [
            (
                "ghcr.io",
                "credentials unavailable: config.json: auths[\"ghcr.io\"].auth is not valid \
                 base64; log in again with `docker login ghcr.io` or fix the entry, from ghcr.io",
            ),
            (
                "nocolon.example",
                "credentials unavailable: config.json: auths[\"nocolon.example\"].auth does not \
                 decode to 'username:password'; log in again with `docker login \
                 nocolon.example` or fix the entry, from nocolon.example",
            ),
            (
                "binary.example",
                "credentials unavailable: config.json: auths[\"binary.example\"].auth does not \
                 decode to UTF-8 text; log in again with `docker login binary.example` or fix \
                 the entry, from binary.example",
            ),
            (
                "docker.io",
                "credentials unavailable: config.json: \
                 auths[\"https://index.docker.io/v1/\"].auth is not valid base64; log in again \
                 with `docker login` or fix the entry, from docker.io",
            ),
        ];
        for (host, message) in cases {
            assert_eq!(lookup_error(&store, host).await, message);
        }
        assert_eq!(
            store.lookup("quay.io").await.unwrap(),
            Some(basic("quser", "testpass"))
        );
    }

    /// A home directory with `.docker/config.json` holding `json`.
    fn home_with_config(json: &str) -> TempDir {
        let home = TempDir::new();
        std::fs::create_dir(home.path().join(".docker")).unwrap();
        std::fs::write(home.path().join(".docker/config.json"), json).unwrap();
        home
    }

    const GHCR_TESTUSER: &str = r#"{"auths": {"ghcr.io": {"auth": "dGVzdHVzZXI6dGVzdHBhc3M="}}}"#;

    #[tokio::test]
    async fn the_file_comes_from_home_or_docker_config() {
        let home = home_with_config(GHCR_TESTUSER);
        let elsewhere = TempDir::new();
        std::fs::write(
            elsewhere.path().join("config.json"),
            format!(
                r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}}}"#,
                base64("other:x")
            ),
        )
        .unwrap();
        let elsewhere_path = elsewhere.path().to_str().unwrap();
        let cases = [
            (vec![], Some(basic("testuser", "testpass"))),
            (
                vec![("DOCKER_CONFIG", "")],
                Some(basic("testuser", "testpass")),
            ),
            (
                vec![("DOCKER_CONFIG", elsewhere_path)],
                Some(basic("other", "x")),
            ),
            (vec![("DOCKER_CONFIG", "/nonexistent/upkeep-test")], None),
        ];
        for (variables, expected) in cases {
            let store =
                CredentialStore::load(Environment::new(variables.clone()), Some(home.path()))
                    .unwrap();
            assert_eq!(
                store.lookup("ghcr.io").await.unwrap(),
                expected,
                "{variables:?}"
            );
        }
    }

    #[tokio::test]
    async fn no_file_and_no_home_mean_no_credentials() {
        let empty_home = TempDir::new();
        let store = CredentialStore::load(Environment::default(), Some(empty_home.path())).unwrap();
        assert_eq!(store.lookup("ghcr.io").await.unwrap(), None);

        let store = CredentialStore::load(
            Environment::new([("UPKEEP_AUTH_GHCR_IO", "octo:override-secret")]),
            None,
        )
        .unwrap();
        assert_eq!(
            store.lookup("ghcr.io").await.unwrap(),
            Some(basic("octo", "override-secret"))
        );
        assert_eq!(store.lookup("quay.io").await.unwrap(), None);
    }

    #[test]
    fn a_malformed_file_is_named_with_its_home_relative_path() {
        let home = home_with_config("{\n  \"auths\": {\n    \"ghcr.io\": {\"auth\": 1,}\n  }\n}");
        let error = CredentialStore::load(Environment::default(), Some(home.path())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "~/.docker/config.json: invalid JSON at line 3 column 27 (trailing comma); fix the \
             file or set DOCKER_CONFIG to another directory"
        );
        let as_registry_error = RegistryError::from(error);
        assert_eq!(
            as_registry_error.to_string(),
            "credentials unavailable: ~/.docker/config.json: invalid JSON at line 3 column 27 \
             (trailing comma); fix the file or set DOCKER_CONFIG to another directory, from (any)"
        );

        // Outside the home directory the full path is shown.
        let elsewhere = TempDir::new();
        std::fs::write(elsewhere.path().join("config.json"), "[]").unwrap();
        let environment = Environment::new([("DOCKER_CONFIG", elsewhere.path().to_str().unwrap())]);
        let error = CredentialStore::load(environment, Some(home.path())).unwrap_err();
        let shown = elsewhere.path().join("config.json");
        assert_eq!(error.origin(), shown.to_str().unwrap());
    }

    #[test]
    fn an_unreadable_file_is_an_error() {
        let home = TempDir::new();
        std::fs::create_dir_all(home.path().join(".docker/config.json")).unwrap();
        let error = CredentialStore::load(Environment::default(), Some(home.path())).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("~/.docker/config.json: cannot be read ("),
            "{message}"
        );
        assert!(
            message.ends_with("); fix the file or set DOCKER_CONFIG to another directory"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn docker_auth_config_is_preferred_to_the_file() {
        let home = home_with_config(
            r#"{"auths": {
                "ghcr.io": {"auth": "dGVzdHVzZXI6dGVzdHBhc3M="},
                "quay.io": {"auth": "dGVzdHVzZXI6dGVzdHBhc3M="}
            }}"#,
        );
        let variable = format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}, "quay.io": {{}}}},
                "credsStore": "ignored-here"}}"#,
            base64("from-variable:x")
        );
        let environment = Environment::new([("DOCKER_AUTH_CONFIG", variable.as_str())]);
        let store = CredentialStore::load(environment, Some(home.path())).unwrap();
        let cases = [
            ("ghcr.io", Some(basic("from-variable", "x"))),
            // An empty entry in the variable falls back to the file.
            ("quay.io", Some(basic("testuser", "testpass"))),
            ("docker.io", None),
        ];
        for (host, expected) in cases {
            assert_eq!(store.lookup(host).await.unwrap(), expected, "{host}");
        }

        let environment = Environment::new([("DOCKER_AUTH_CONFIG", "{\"auths\": ")]);
        let error = CredentialStore::load(environment, Some(home.path())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "DOCKER_AUTH_CONFIG: invalid JSON at line 1 column 10 (EOF while parsing a value); \
             fix or unset DOCKER_AUTH_CONFIG"
        );

        let environment = Environment::new([(
            "DOCKER_AUTH_CONFIG",
            r#"{"auths": {"ghcr.io": {"auth": "!!!"}}}"#,
        )]);
        let store = CredentialStore::load(environment, Some(home.path())).unwrap();
        assert_eq!(
            lookup_error(&store, "ghcr.io").await,
            "credentials unavailable: DOCKER_AUTH_CONFIG: auths[\"ghcr.io\"].auth is not valid \
             base64; fix or unset DOCKER_AUTH_CONFIG, from ghcr.io"
        );
    }

    #[tokio::test]
    async fn upkeep_variables_override_everything() {
        let json = r#"{"auths": {"ghcr.io": {"auth": "dGVzdHVzZXI6dGVzdHBhc3M="}},
                "credsStore": "not-installed"}"#;
        let variables = [
            ("UPKEEP_AUTH_GHCR_IO", "octo:override:secret"),
            ("UPKEEP_AUTH_DOCKER_IO", "hubuser:override-secret"),
            ("UPKEEP_AUTH_LOCALHOST_5000", "local:override-secret"),
            ("UPKEEP_AUTH_QUAY_IO", ""),
            ("PATH", "/nonexistent"),
        ];
        let store = store(json, &variables);
        let cases = [
            ("ghcr.io", basic("octo", "override:secret")),
            ("docker.io", basic("hubuser", "override-secret")),
            ("index.docker.io", basic("hubuser", "override-secret")),
            ("localhost:5000", basic("local", "override-secret")),
        ];
        for (host, expected) in cases {
            assert_eq!(store.lookup(host).await.unwrap(), Some(expected), "{host}");
        }
        // An empty variable is unset: the store's helper is asked, and it is missing.
        assert_eq!(
            lookup_error(&store, "quay.io").await,
            "credentials unavailable: credential helper 'docker-credential-not-installed' \
             (credsStore in config.json) is not on PATH; install it or remove credsStore from \
             the file, from quay.io"
        );
    }

    #[tokio::test]
    async fn a_malformed_variable_is_named_but_not_shown() {
        for value in ["override-secret", ":override-secret", "user:"] {
            let store = store("{}", &[("UPKEEP_AUTH_GHCR_IO", value)]);
            assert_eq!(
                lookup_error(&store, "ghcr.io").await,
                "credentials unavailable: UPKEEP_AUTH_GHCR_IO is not 'username:password'; set \
                 it to the user name, a colon and the password or token, from ghcr.io",
                "{value}"
            );
        }
    }

    #[test]
    fn environment_debug_shows_names_only() {
        let environment = Environment::new([
            ("UPKEEP_AUTH_GHCR_IO", "octo:override-secret"),
            ("PATH", "/usr/bin"),
        ]);
        assert_eq!(
            format!("{environment:?}"),
            r#"Environment { names: ["PATH", "UPKEEP_AUTH_GHCR_IO"] }"#
        );
        assert_eq!(environment.var("PATH"), Some("/usr/bin"));
        assert_eq!(environment.var("HOME"), None);
    }

    #[tokio::test]
    async fn no_secret_in_any_debug_output() {
        let home = home_with_config(&format!(
            r#"{{"auths": {{
                "ghcr.io": {{"auth": "{}"}},
                "quay.io": {{"identitytoken": "refresh-secret"}},
                "r.example": {{"registrytoken": "registry-bearer-secret"}},
                "bad.example": {{"auth": "{}"}}
            }}, "credHelpers": {{"gcr.io": "gcloud"}}}}"#,
            base64("u:pass:with:colons"),
            base64("malformed-secret-value"),
        ));
        let environment = Environment::new([
            ("UPKEEP_AUTH_LOCALHOST_5000", "local:override-secret"),
            (
                "DOCKER_AUTH_CONFIG",
                r#"{"auths": {"x.example": {"identitytoken": "identity-secret"}}}"#,
            ),
        ]);
        let store = CredentialStore::load(environment, Some(home.path())).unwrap();
        let debug = format!("{store:?} {store:#?}");
        assert_no_secret(&debug);
        assert!(
            debug.contains("ghcr.io") && debug.contains("gcloud"),
            "{debug}"
        );
        for host in [
            "ghcr.io",
            "quay.io",
            "r.example",
            "localhost:5000",
            "x.example",
        ] {
            let credential = store.lookup(host).await.unwrap().unwrap();
            assert_no_secret(&format!("{credential:?}"));
        }
        lookup_error(&store, "bad.example").await;
    }

    // -----------------------------------------------------------------------------------------
    // Credential helpers, played by shell scripts on a PATH given only to the child.

    /// A directory of fake `docker-credential-*` helpers and the `PATH` that finds them.
    #[cfg(unix)]
    struct Helpers {
        directory: TempDir,
    }

    #[cfg(unix)]
    impl Helpers {
        fn new() -> Self {
            let helpers = Self {
                directory: TempDir::new(),
            };
            // Answers by server, the way real helpers do; asserts the action and the input.
            helpers.write(
                "fake",
                r#"[ "$1" = get ] || { echo "unexpected action $1"; exit 1; }
server=$(cat)
case "$server" in
  ghcr.io) printf '{"ServerURL":"ghcr.io","Username":"octo","Secret":"helper-secret"}' ;;
  https://index.docker.io/v1/)
    printf '{"ServerURL":"%s","Username":"<token>","Secret":"identity-secret"}' "$server" ;;
  env.example) printf '{"Username":"%s","Secret":"%s"}' "$INJECTED" "${HOME:-no-home}" ;;
  garbage.example) echo "helper-secret is not JSON" ;;
  empty.example) echo '{}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"#,
            );
            helpers.write(
                "fail",
                "echo 'something broke near helper-internal-secret'\nexit 3\n",
            );
            helpers.write("hang", "exec sleep 30\n");
            helpers.write("flood", "exec yes helper-secret\n");
            helpers.write(
                "stderr",
                "echo 'credentials not found in native keychain' >&2\nexit 1\n",
            );
            std::fs::write(
                helpers.directory.path().join("docker-credential-noexec"),
                "",
            )
            .unwrap();
            helpers
        }

        fn write(&self, name: &str, body: &str) {
            use std::os::unix::fs::PermissionsExt as _;
            let path = self
                .directory
                .path()
                .join(format!("docker-credential-{name}"));
            std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        /// `PATH` with the helpers first and the system's tools (`cat`, `sleep`) after.
        fn path(&self) -> String {
            format!("{}:/usr/bin:/bin", self.directory.path().to_str().unwrap())
        }

        fn store(&self, json: &str) -> CredentialStore {
            store(json, &[("PATH", &self.path()), ("INJECTED", "from-env")])
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn helpers_answer_by_the_protocol() {
        let helpers = Helpers::new();
        let store = helpers.store(
            r#"{"credsStore": "fake",
                "auths": {"ghcr.io": {}, "other.example": {"auth": "dGVzdHVzZXI6dGVzdHBhc3M="}}}"#,
        );
        let cases = [
            ("ghcr.io", Some(basic("octo", "helper-secret"))),
            // Docker Hub is asked for as https://index.docker.io/v1/; `<token>` is an identity
            // token.
            (
                "docker.io",
                Some(Credential::IdentityToken("identity-secret".to_owned())),
            ),
            (
                "index.docker.io",
                Some(Credential::IdentityToken("identity-secret".to_owned())),
            ),
            // "Not found" is no credential, and `auths` is not consulted once a helper is set.
            ("other.example", None),
            ("empty.example", None),
            // The child sees the injected environment and nothing else (no HOME here).
            ("env.example", Some(basic("from-env", "no-home"))),
        ];
        for (host, expected) in cases {
            assert_eq!(store.lookup(host).await.unwrap(), expected, "{host}");
        }
        // Through the router's trait too.
        assert_eq!(
            store.credential("ghcr.io").await.unwrap(),
            Some(basic("octo", "helper-secret"))
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_host_helper_overrides_the_store() {
        let helpers = Helpers::new();
        let store = helpers.store(
            r#"{"credsStore": "fail",
                "credHelpers": {"ghcr.io": "fake", "https://index.docker.io/v1/": "fake",
                                "https://quay.io/": "stderr"}}"#,
        );
        assert_eq!(
            store.lookup("ghcr.io").await.unwrap(),
            Some(basic("octo", "helper-secret"))
        );
        assert_eq!(
            store.lookup("docker.io").await.unwrap(),
            Some(Credential::IdentityToken("identity-secret".to_owned()))
        );
        // A key with a scheme still names the host; "not found" on stderr counts as well.
        assert_eq!(store.lookup("quay.io").await.unwrap(), None);
        assert_eq!(
            lookup_error(&store, "registry.example.com").await,
            "credentials unavailable: credential helper 'docker-credential-fail' failed (exit \
             status: 3); run `printf '%s' 'registry.example.com' | docker-credential-fail get` to \
             see why, from registry.example.com"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn helper_failures_name_the_helper_and_the_host() {
        let helpers = Helpers::new();
        let configured = helpers.store(
            r#"{"credHelpers": {
                "fail.example": "fake-missing",
                "noexec.example": "noexec",
                "evil.example": "../../bin/evil",
                "garbage.example": "fake"
            }}"#,
        );
        let cases = [
            (
                "fail.example",
                "credentials unavailable: credential helper 'docker-credential-fake-missing' \
                 (credHelpers[\"fail.example\"] in config.json) is not on PATH; install it or \
                 remove credHelpers[\"fail.example\"] from the file, from fail.example",
            ),
            (
                "noexec.example",
                "credentials unavailable: credential helper 'docker-credential-noexec' \
                 (credHelpers[\"noexec.example\"] in config.json) is not on PATH; install it or \
                 remove credHelpers[\"noexec.example\"] from the file, from noexec.example",
            ),
            (
                "evil.example",
                "credentials unavailable: credential helper name '../../bin/evil' \
                 (credHelpers[\"evil.example\"] in config.json) contains a path separator; name \
                 the part after 'docker-credential-' of a program on PATH, from evil.example",
            ),
            (
                "garbage.example",
                "credentials unavailable: credential helper 'docker-credential-fake' answered \
                 with something other than {\"ServerURL\", \"Username\", \"Secret\"} JSON; check \
                 that it is a Docker credential helper, from garbage.example",
            ),
        ];
        for (host, message) in cases {
            assert_eq!(lookup_error(&configured, host).await, message, "{host}");
        }

        // Without PATH no helper can be found.
        let without_path = store(r#"{"credsStore": "fake"}"#, &[]);
        assert_eq!(
            lookup_error(&without_path, "ghcr.io").await,
            "credentials unavailable: credential helper 'docker-credential-fake' (credsStore in \
             config.json) is not on PATH; install it or remove credsStore from the file, from \
             ghcr.io"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_helper_that_never_stops_printing_is_cut_off_at_64_kib() {
        let helpers = Helpers::new();
        let store = helpers.store(r#"{"credsStore": "flood"}"#);
        assert_eq!(
            lookup_error(&store, "ghcr.io").await,
            "credentials unavailable: credential helper 'docker-credential-flood' printed more \
             than 64 KiB; a Docker credential helper answers with one small JSON object, from \
             ghcr.io"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_hanging_helper_is_killed_after_the_timeout() {
        let helpers = Helpers::new();
        let store = helpers
            .store(r#"{"credsStore": "hang"}"#)
            .with_helper_timeout(Duration::from_millis(300));
        let started = Instant::now();
        assert_eq!(
            lookup_error(&store, "ghcr.io").await,
            "credentials unavailable: credential helper 'docker-credential-hang' did not answer \
             within 0.3 s; check that it does not wait for input (such as a locked keychain), \
             from ghcr.io"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
