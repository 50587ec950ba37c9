//! Health checks that decide whether an updated service is well: an HTTP endpoint answering
//! an expected status, a TCP port accepting connections, or a command exiting 0; each with a
//! timeout, a number of attempts and an interval between them.
//!
//! A failed check says which check failed and how, in words a person can act on; the engine
//! rolls back on it.
//!
//! # What this module does not do
//! Checks that ask the container runtime (running and not restarting, the image's own
//! `HEALTHCHECK`) belong to the runtime; this module probes from the outside.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error_chain;
use crate::process::{Ran, STOP_GRACE, last_line};
use crate::runtime::Exited;
use crate::target::Target;

/// One way to tell that a service is well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Probe {
    /// `GET url` answers `expected_status` (any 2xx when absent).
    Http {
        /// The URL, such as `http://127.0.0.1:8080/health`.
        url: String,
        /// The status to expect.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_status: Option<u16>,
    },
    /// A TCP connection to `address` (`host:port`) is accepted.
    Tcp {
        /// The address.
        address: String,
    },
    /// `command` exits with status 0 when run inside the service's container, as `docker
    /// exec` runs it. Health commands declared by container labels are of this kind: a
    /// container's labels may come from its image, and an image's publisher must not run
    /// anything on this host.
    Exec {
        /// The program and its arguments.
        command: Vec<String>,
    },
    /// `program args...` exits with status 0, run on this host. Only an operator's own file
    /// (`upkeep.yaml`, the agent's configuration) declares one.
    Command {
        /// The program.
        program: String,
        /// Its arguments.
        #[serde(default)]
        args: Vec<String>,
    },
}

/// How often and how patiently a probe is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patience {
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts before the check fails.
    pub attempts: u32,
    /// The wait between attempts.
    pub interval: Duration,
}

impl Default for Patience {
    /// Five attempts, two seconds apart, five seconds each: a service gets about half a
    /// minute to come up.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            attempts: 5,
            interval: Duration::from_secs(2),
        }
    }
}

/// Why a probe failed, on its last attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhealthy {
    /// The probe, as `http GET URL`, `tcp ADDRESS` or `command PROGRAM`.
    pub check: String,
    /// What the last attempt saw.
    pub reason: String,
    /// How many attempts were made.
    pub attempts: u32,
}

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "health check {} failed after {} attempt{}: {}",
            self.check,
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.reason
        )
    }
}

impl std::error::Error for Unhealthy {}

impl Probe {
    /// How the probe is named in messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Http { url, .. } => format!("http GET {url}"),
            Self::Tcp { address } => format!("tcp {address}"),
            Self::Exec { command } => format!("exec {}", command.join(" ")),
            Self::Command { program, args } => {
                let mut line = format!("command {program}");
                for arg in args {
                    line.push(' ');
                    line.push_str(arg);
                }
                line
            }
        }
    }

    /// Tries the probe until it passes or `patience` runs out. Returns how many attempts
    /// it took.
    pub async fn wait_until_healthy(&self, patience: Patience) -> Result<u32, Unhealthy> {
        let attempts = patience.attempts.max(1);
        let mut reason = String::new();
        for attempt in 1..=attempts {
            match tokio::time::timeout(patience.timeout, self.attempt(patience.timeout)).await {
                Ok(Ok(())) => return Ok(attempt),
                Ok(Err(why)) => reason = why,
                Err(_) => reason = no_answer(patience.timeout),
            }
            if attempt < attempts {
                tokio::time::sleep(patience.interval).await;
            }
        }
        Err(Unhealthy {
            check: self.describe(),
            reason,
            attempts,
        })
    }

    /// Tries the probe once, giving it `timeout`; on failure, says what it saw.
    pub async fn attempt(&self, timeout: Duration) -> Result<(), String> {
        match self {
            Self::Http {
                url,
                expected_status,
            } => {
                let client = reqwest::Client::builder()
                    .timeout(timeout)
                    .build()
                    .map_err(|error| format!("cannot build an HTTP client: {error}"))?;
                let response = client
                    .get(url)
                    .send()
                    .await
                    .map_err(|error| format!("no answer: {}", error_chain(&error)))?;
                let status = response.status().as_u16();
                match expected_status {
                    Some(expected) if status == *expected => Ok(()),
                    Some(expected) => Err(format!("answered {status}, expected {expected}")),
                    None if response.status().is_success() => Ok(()),
                    None => Err(format!("answered {status}, expected a 2xx status")),
                }
            }
            Self::Tcp { address } => {
                match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(error)) => Err(format!("connection refused or failed: {error}")),
                    Err(_) => Err(no_answer(timeout)),
                }
            }
            Self::Command { program, args } => {
                let mut command = tokio::process::Command::new(program);
                command.args(args);
                match crate::process::run(&mut command, timeout).await {
                    Err(error) => Err(format!("cannot run it: {error}")),
                    Ok(Ran::TimedOut) => Err(no_answer(timeout)),
                    Ok(Ran::Exited { status, .. }) if status.success() => Ok(()),
                    Ok(Ran::Exited { status, stderr, .. }) => {
                        let last = last_line(&stderr);
                        Err(if last.is_empty() {
                            status.to_string()
                        } else {
                            format!("{status}: {last}")
                        })
                    }
                }
            }
            Self::Exec { .. } => {
                Err("runs inside the service's container; try it with `attempt_in`".to_owned())
            }
        }
    }

    /// Tries the probe once for the service running as `target`, giving it `timeout`: an
    /// [`Exec`](Self::Exec) probe runs inside the target, the others as
    /// [`attempt`](Self::attempt) does. Whatever happens, it returns within the timeout and
    /// the time it takes to stop what the attempt started.
    pub async fn attempt_in(&self, timeout: Duration, target: &dyn Target) -> Result<(), String> {
        let attempt = async {
            match self {
                Self::Exec { command } => match target.run_inside(command, timeout).await {
                    Ok(Exited::Code { code: 0, .. }) => Ok(()),
                    Ok(Exited::Code { code, last_line }) => Err(if last_line.is_empty() {
                        format!("exit status: {code}")
                    } else {
                        format!("exit status: {code}: {last_line}")
                    }),
                    Ok(Exited::TimedOut) => Err(no_answer(timeout)),
                    Err(error) => Err(format!("cannot run it: {}", error_chain(&error))),
                },
                probe => probe.attempt(timeout).await,
            }
        };
        // Each kind keeps its own deadline; this one is the backstop for a call that would
        // not (an engine that stops answering mid-exec, say).
        let backstop = timeout + STOP_GRACE + Duration::from_secs(1);
        tokio::time::timeout(backstop, attempt)
            .await
            .unwrap_or_else(|_| Err(no_answer(timeout)))
    }
}

/// What a probe that overran its time saw.
pub(crate) fn no_answer(timeout: Duration) -> String {
    format!("no answer within {} ms", timeout.as_millis())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn quick(attempts: u32) -> Patience {
        Patience {
            timeout: Duration::from_millis(500),
            attempts,
            interval: Duration::from_millis(20),
        }
    }

    #[tokio::test]
    async fn http_checks_compare_the_status() {
        let server = MockServer::start().await;
        Mock::given(path("/health"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        Mock::given(path("/sick"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        let healthy = Probe::Http {
            url: format!("{}/health", server.uri()),
            expected_status: None,
        };
        assert_eq!(healthy.wait_until_healthy(quick(3)).await, Ok(1));
        let sick = Probe::Http {
            url: format!("{}/sick", server.uri()),
            expected_status: Some(200),
        };
        let failure = sick.wait_until_healthy(quick(3)).await.unwrap_err();
        assert_eq!(
            failure.to_string(),
            format!(
                "health check http GET {}/sick failed after 3 attempts: answered 500, expected 200",
                server.uri()
            )
        );
    }

    #[tokio::test]
    async fn http_checks_wait_for_a_late_starter() {
        let server = MockServer::start().await;
        Mock::given(path("/health"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(2)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(path("/health"))
            .respond_with(ResponseTemplate::new(200))
            .with_priority(2)
            .mount(&server)
            .await;
        let probe = Probe::Http {
            url: format!("{}/health", server.uri()),
            expected_status: Some(200),
        };
        assert_eq!(probe.wait_until_healthy(quick(5)).await, Ok(3));
    }

    #[tokio::test]
    async fn tcp_checks_need_a_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let open = Probe::Tcp {
            address: address.clone(),
        };
        assert_eq!(open.wait_until_healthy(quick(1)).await, Ok(1));
        drop(listener);
        let failure = open.wait_until_healthy(quick(2)).await.unwrap_err();
        assert_eq!(failure.check, format!("tcp {address}"));
        assert_eq!(failure.attempts, 2);
        assert!(
            failure.reason.starts_with("connection refused or failed"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn command_checks_need_exit_zero() {
        let ok = Probe::Command {
            program: "sh".to_owned(),
            args: vec!["-c".to_owned(), "exit 0".to_owned()],
        };
        assert_eq!(ok.wait_until_healthy(quick(1)).await, Ok(1));
        let failing = Probe::Command {
            program: "sh".to_owned(),
            args: vec![
                "-c".to_owned(),
                "echo 'database unreachable' >&2; exit 4".to_owned(),
            ],
        };
        let failure = failing.wait_until_healthy(quick(1)).await.unwrap_err();
        assert_eq!(
            failure.to_string(),
            "health check command sh -c echo 'database unreachable' >&2; exit 4 failed after 1 \
             attempt: exit status: 4: database unreachable"
        );
        let slow = Probe::Command {
            program: "sleep".to_owned(),
            args: vec!["5".to_owned()],
        };
        let failure = slow.wait_until_healthy(quick(1)).await.unwrap_err();
        assert_eq!(failure.reason, "no answer within 500 ms");
    }

    #[test]
    fn probes_read_from_configuration() {
        let probe: Probe = serde_json::from_str(
            r#"{"type":"http","url":"http://127.0.0.1:8080/cgi-bin/health","expected_status":200}"#,
        )
        .unwrap();
        assert_eq!(
            probe.describe(),
            "http GET http://127.0.0.1:8080/cgi-bin/health"
        );
    }
}
