//! The `upkeep-agent` binary run as a user runs it, for tests of what happens to the process
//! itself: signals, restarts, the Docker Engine going away under it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The token the tests give the API (through `AGENT_TOKEN`).
pub(crate) const TOKEN: &str = "agent-secret";
/// The webhooks' shared token (through `HOOK_TOKEN`).
#[allow(dead_code)] // Each test binary that includes this module uses a part of it.
pub(crate) const HOOK_TOKEN: &str = "hook-secret";

/// A running `upkeep-agent --config FILE`; killed when dropped.
pub(crate) struct AgentProcess {
    child: Child,
    api: String,
    log: PathBuf,
}

impl AgentProcess {
    /// Starts the agent on `config` (whose `api_token_env` must be `AGENT_TOKEN`), its
    /// log in `log`, and waits until its API answers.
    pub(crate) async fn start(config: &Path, listen_port: u16, log: &Path) -> Self {
        Self::start_with(config, listen_port, log, &[]).await
    }

    /// Starts the agent on a configuration of its own in `dir` (`agent.yaml`: the API on a
    /// free loopback port with `AGENT_TOKEN`, SQLite and state in `dir`, then `more`), its
    /// log in `dir/agent.log`, with more arguments `args`.
    #[allow(dead_code)] // Each test binary that includes this module uses a part of it.
    pub(crate) async fn start_in(dir: &Path, more: &str, args: &[&str]) -> Self {
        let port = upkeep_test_registry::docker::free_port();
        let config = dir.join("agent.yaml");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\napi_token_env: AGENT_TOKEN\ndatabase: agent.db\nstate: state\n{more}"
            ),
        )
        .unwrap();
        Self::start_with(&config, port, &dir.join("agent.log"), args).await
    }

    /// [`AgentProcess::start`] with more arguments, such as `--log-format json`.
    pub(crate) async fn start_with(
        config: &Path,
        listen_port: u16,
        log: &Path,
        args: &[&str],
    ) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_upkeep-agent"))
            .arg("--config")
            .arg(config)
            .args(args)
            .env("AGENT_TOKEN", TOKEN)
            .env("HOOK_TOKEN", HOOK_TOKEN)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut agent = Self {
            child,
            api: format!("http://127.0.0.1:{listen_port}"),
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{}/health", agent.api)).await.is_err() {
            if let Some(status) = agent.child.try_wait().unwrap() {
                panic!(
                    "the agent exited ({status}) before serving:\n{}",
                    agent.log()
                );
            }
            assert!(Instant::now() < deadline, "no API:\n{}", agent.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        agent
    }

    /// The API's base URL, such as `http://127.0.0.1:8686`.
    #[allow(dead_code)] // Each test binary that includes this module uses a part of it.
    pub(crate) fn api(&self) -> &str {
        &self.api
    }

    /// What it has logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process still runs.
    pub(crate) fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends `signal` (such as `TERM` or `KILL`).
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {signal}: {status}");
    }

    /// Waits for the process to end, at most `within`.
    pub(crate) async fn exited(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the agent still runs after {within:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET path` on the API, as JSON, with the status.
    pub(crate) async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::get(format!("{}{path}", self.api)).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Asks for a check of `deployment` now (the next cycle starts at once).
    #[allow(dead_code)] // Each test binary that includes this module uses a part of it.
    pub(crate) async fn check_now(&self, deployment: &str) {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/api/v1/deployments/{deployment}/check",
                self.api
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202, "check {deployment}");
    }

    /// The kinds of the events logged so far, in order, such as `applied`.
    pub(crate) async fn event_kinds(&self) -> Vec<String> {
        let (_, page) = self.get("/api/v1/events?limit=1000").await;
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until an event of `kind` is logged, at most `within`; returns all kinds.
    pub(crate) async fn wait_for_event(&mut self, kind: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let kinds = self.event_kinds().await;
            if kinds.iter().any(|logged| logged == kind) {
                return kinds;
            }
            assert!(self.running(), "the agent exited:\n{}", self.log());
            assert!(
                Instant::now() < deadline,
                "no `{kind}` event within {within:?}; events {kinds:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The image a container runs now (`docker inspect`), or empty while it has no container of
/// that name (it is briefly free while the container is replaced).
pub(crate) fn running_image(container: &str) -> String {
    let output = Command::new("docker")
        .args(["inspect", "--format", "{{.Config.Image}}", container])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Waits until `container` runs `image`, at most `within`.
#[allow(dead_code)] // Each test binary that includes this module uses a part of it.
pub(crate) async fn wait_until_running(container: &str, image: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while running_image(container) != image {
        assert!(
            Instant::now() < deadline,
            "{container} runs `{}`, not {image}",
            running_image(container)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
