//! One `docker-registry serve` child process on 127.0.0.1 with its own config, storage, log
//! and (in token mode) token issuer, all in one temporary directory; killed on drop.
//!
//! It does not fill the registry (`fixtures.rs` does) and never touches the system service or
//! `/etc/docker/registry`.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::token::{Access, TOKEN_ISSUER, TokenIssuer};
use super::{HarnessError, tools};

/// The user name of the test credentials (Basic and token modes).
pub const USER: &str = "testuser";
/// The password of the test credentials (Basic and token modes).
pub const PASSWORD: &str = "testpass";
/// The registry's token `service` (and the JWT `aud`).
pub const SERVICE: &str = "test-registry";

/// The htpasswd realm, as it appears in `WWW-Authenticate: Basic realm="test-registry"`.
const BASIC_REALM: &str = "test-registry";
/// How long the registry may take to answer `GET /v2/`.
const START_DEADLINE: Duration = Duration::from_secs(20);
/// How often to try another port when the free one was taken before the registry bound it.
const START_ATTEMPTS: usize = 3;
const LOG_FILE: &str = "registry.log";
/// Log lines are long (every request's fields); failure messages show this much of each.
const LOG_LINE_CHARS: usize = 400;

/// How the registry authenticates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous pull and push.
    None,
    /// htpasswd (bcrypt) Basic auth with one user.
    Basic {
        /// The user name.
        user: &'static str,
        /// The password.
        password: &'static str,
    },
    /// Docker token auth: the registry sends `Bearer` challenges pointing at a token issuer
    /// the harness runs, which takes [`USER`]:[`PASSWORD`].
    Token,
}

impl Auth {
    /// Basic auth with [`USER`] and [`PASSWORD`].
    pub fn basic() -> Self {
        Self::Basic {
            user: USER,
            password: PASSWORD,
        }
    }

    /// The user name and password a client needs, if any.
    pub fn credentials(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::None => None,
            Self::Basic { user, password } => Some((user, password)),
            Self::Token => Some((USER, PASSWORD)),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { user, .. } => f
                .debug_struct("Basic")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Self::Token => f.write_str("Token"),
        }
    }
}

/// A running registry. Independent of every other one (own port, own directory), so tests
/// may run in parallel. Dropping it kills the process and deletes its directory; if the test
/// is panicking, the log's last lines go to stderr first.
pub struct TestRegistry {
    child: Child,
    port: u16,
    auth: Auth,
    issuer: Option<TokenIssuer>,
    http: reqwest::Client,
    // Declared last: dropped after `Drop::drop` has killed the process.
    directory: TempDir,
}

impl TestRegistry {
    /// Starts a registry and waits until `GET /v2/` answers.
    pub async fn start(auth: Auth) -> Result<Self, HarnessError> {
        Self::start_notifying(auth, None).await
    }

    /// [`start`](Self::start), with the registry's notifications of manifest pushes and
    /// deletes POSTed to `notify` when given.
    pub async fn start_notifying(auth: Auth, notify: Option<&str>) -> Result<Self, HarnessError> {
        tools::require_programs()?;
        let directory = tempfile::Builder::new()
            .prefix("upkeep-registry-")
            .tempdir()
            .map_err(|source| HarnessError::Io {
                action: "create a directory in",
                path: std::env::temp_dir(),
                source,
            })?;
        let (auth_section, issuer) = match &auth {
            Auth::None => (String::new(), None),
            Auth::Basic { user, password } => {
                let htpasswd = directory.path().join("htpasswd");
                let entry = tools::run(
                    "htpasswd",
                    ["-Bbn", user, password],
                    directory.path(),
                    &[password],
                )
                .await?;
                write(&htpasswd, &entry)?;
                (
                    format!(
                        "auth:\n  htpasswd:\n    realm: {BASIC_REALM}\n    path: {}\n",
                        htpasswd.display()
                    ),
                    None,
                )
            }
            Auth::Token => {
                let issuer = TokenIssuer::start(directory.path(), SERVICE, USER, PASSWORD).await?;
                (
                    format!(
                        "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    \
                         issuer: {}\n    rootcertbundle: {}\n",
                        issuer.realm(),
                        TOKEN_ISSUER,
                        TokenIssuer::certificate_path(directory.path()).display()
                    ),
                    Some(issuer),
                )
            }
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| HarnessError::Http {
                what: "building the harness's HTTP client".to_owned(),
                source,
            })?;

        // Delivered at once, and retried quickly, so tests need not wait.
        let notifications = notify.map_or_else(String::new, |url| {
            format!(
                "notifications:\n  endpoints:\n    - name: upkeep-test\n      url: {url}\n      \
                 timeout: 2s\n      threshold: 1\n      backoff: 200ms\n      ignore:\n        \
                 mediatypes: [application/octet-stream]\n        actions: [pull]\n"
            )
        });
        let sections = format!("{auth_section}{notifications}");
        let mut attempt = 1;
        let (child, port) = loop {
            match launch(directory.path(), &http, &sections).await {
                Ok(launched) => break launched,
                Err(Launch::PortTaken(_)) if attempt < START_ATTEMPTS => attempt += 1,
                Err(Launch::PortTaken(failure) | Launch::Failed(failure)) => return Err(failure),
            }
        };
        Ok(Self {
            child,
            port,
            auth,
            issuer,
            http,
            directory,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `127.0.0.1:PORT`, as written in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The auth mode it was started with.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The user name and password a client needs (Basic and token modes).
    pub fn credentials(&self) -> Option<(&'static str, &'static str)> {
        self.auth.credentials()
    }

    /// The token endpoint (token mode), `http://127.0.0.1:PORT/token`.
    pub fn token_realm(&self) -> Option<String> {
        self.issuer.as_ref().map(TokenIssuer::realm)
    }

    /// How many requests reached the token issuer (answered or refused) since start or since
    /// the last [`Self::fill_standard`], which resets it; 0 outside token mode.
    pub fn token_requests(&self) -> usize {
        self.issuer.as_ref().map_or(0, TokenIssuer::requests)
    }

    /// The `scope` parameters of those requests, one entry per request (several scopes of one
    /// request joined by a space).
    pub fn token_scopes(&self) -> Vec<String> {
        self.issuer
            .as_ref()
            .map_or_else(Vec::new, TokenIssuer::scopes)
    }

    /// Forgets the token requests counted so far.
    pub fn reset_token_requests(&self) {
        if let Some(issuer) = &self.issuer {
            issuer.reset_counts();
        }
    }

    /// The registry's temporary directory (config, storage, log, keys).
    pub fn directory(&self) -> &Path {
        self.directory.path()
    }

    /// The file the registry's stdout and stderr go to.
    pub fn log_path(&self) -> PathBuf {
        self.directory.path().join(LOG_FILE)
    }

    /// The last `lines` lines of the registry's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(self.directory.path(), lines)
    }

    /// The harness's own HTTP client (no proxy, 10 s timeout).
    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The `Authorization` value the harness's own requests use for `repositories`: Basic
    /// credentials, a token minted without the issuer's endpoint (so not counted), or none.
    pub(super) fn harness_authorization(
        &self,
        repositories: &[&str],
    ) -> Result<Option<String>, HarnessError> {
        use base64::Engine as _;
        match (&self.auth, &self.issuer) {
            (Auth::None, _) => Ok(None),
            (Auth::Basic { user, password }, _) => Ok(Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ))),
            (Auth::Token, Some(issuer)) => {
                let access: Vec<Access> = repositories
                    .iter()
                    .map(|repository| Access::pull_push(repository))
                    .collect();
                Ok(Some(format!("Bearer {}", issuer.mint(USER, &access)?)))
            }
            (Auth::Token, None) => Err(HarnessError::Malformed {
                what: "token mode".to_owned(),
                detail: "the registry has no token issuer".to_owned(),
            }),
        }
    }

    fn kill(&mut self) {
        // Errors mean the process is gone already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestRegistry {
    #[allow(clippy::print_stderr)] // The log explains a failing test; it would be deleted next.
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- test registry {} log (last lines) ---\n{}",
                self.host(),
                self.log_tail(20)
            );
        }
    }
}

/// Why a start attempt failed.
enum Launch {
    /// Another process took the port first: worth another attempt.
    PortTaken(HarnessError),
    /// Anything else.
    Failed(HarnessError),
}

/// One start attempt on a fresh port: writes the config, spawns the registry and waits until
/// `GET /v2/` answers (any status). On failure the process is dead.
async fn launch(
    directory: &Path,
    http: &reqwest::Client,
    auth_section: &str,
) -> Result<(Child, u16), Launch> {
    let port = free_port(directory).map_err(Launch::Failed)?;
    let config_path = directory.join("config.yml");
    write(
        &config_path,
        config(directory, port, auth_section).as_bytes(),
    )
    .map_err(Launch::Failed)?;
    let mut child = spawn(directory, &config_path).map_err(Launch::Failed)?;
    let started = Instant::now();
    let probe = format!("http://127.0.0.1:{port}/v2/");
    let reason = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break format!("the registry exited ({status})");
        }
        let answer = http
            .get(&probe)
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        if answer.is_ok() {
            return Ok((child, port));
        }
        if started.elapsed() > START_DEADLINE {
            break format!("the registry did not answer GET {probe} within {START_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Errors mean the process is gone already.
    let _ = child.kill();
    let _ = child.wait();
    let log_tail = log_tail(directory, 20);
    let port_taken = log_tail.contains("address already in use");
    let failure = HarnessError::StartUp { reason, log_tail };
    Err(if port_taken {
        Launch::PortTaken(failure)
    } else {
        Launch::Failed(failure)
    })
}

/// The last `lines` lines of the log, each cut to [`LOG_LINE_CHARS`] characters.
fn log_tail(directory: &Path, lines: usize) -> String {
    let log = std::fs::read_to_string(directory.join(LOG_FILE)).unwrap_or_default();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| match line.char_indices().nth(LOG_LINE_CHARS) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => (*line).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A port nobody listens on now. Another process may take it before the registry binds it;
/// `start` then tries another.
fn free_port(directory: &Path) -> Result<u16, HarnessError> {
    crate::docker::unused_port().map_err(|source| HarnessError::Io {
        action: "bind a loopback port for",
        path: directory.to_owned(),
        source,
    })
}

fn config(directory: &Path, port: u16, auth_section: &str) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: info\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: fixed-test-secret\n\
         {auth_section}",
        directory.join("storage").display()
    )
}

fn spawn(directory: &Path, config_path: &Path) -> Result<Child, HarnessError> {
    let log_path = directory.join(LOG_FILE);
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| HarnessError::Io {
            action: "create",
            path: log_path.clone(),
            source,
        })?;
    let log_for_stderr = log.try_clone().map_err(|source| HarnessError::Io {
        action: "open",
        path: log_path,
        source,
    })?;
    let mut command = Command::new("docker-registry");
    command
        .arg("serve")
        .arg(config_path)
        .current_dir(directory)
        .stdin(Stdio::null())
        // The log goes to stderr; stdout gets the access log when it is enabled.
        .stdout(log)
        .stderr(log_for_stderr);
    // `REGISTRY_<SECTION>_<KEY>` variables override the config file; ours must win.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("REGISTRY_") {
            command.env_remove(name);
        }
    }
    command.spawn().map_err(|source| HarnessError::Spawn {
        program: "docker-registry".to_owned(),
        source,
    })
}

fn write(path: &Path, contents: &[u8]) -> Result<(), HarnessError> {
    std::fs::write(path, contents).map_err(|source| HarnessError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    })
}
