//! Commands a deployment runs around its updates and rollbacks: before (a failing one stops
//! the change) and after (a failing one is reported, the change stands). Each runs with a
//! timeout and is told what is happening through its environment.
//!
//! The environment a hook sees, besides upkeep's own: `UPKEEP_EVENT` (`pre-update`,
//! `post-update`, `pre-rollback`, `post-rollback`), `UPKEEP_SERVICE`, `UPKEEP_FROM` and
//! `UPKEEP_TO` (the tags).
//!
//! # What this module does not do
//! Hooks run on this host, as this user, never fetched from anywhere: upkeep runs no remote
//! script.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::process::{Ran, last_line};

/// The default time a hook may take.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookEvent {
    /// Before an update; failing stops the update.
    PreUpdate,
    /// After an update that passed its health checks.
    PostUpdate,
    /// Before a rollback; failing stops a rollback the user asked for (never an automatic
    /// one, which must restore service).
    PreRollback,
    /// After a rollback.
    PostRollback,
}

impl HookEvent {
    /// The event's name, as in `UPKEEP_EVENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreUpdate => "pre-update",
            Self::PostUpdate => "post-update",
            Self::PreRollback => "pre-rollback",
            Self::PostRollback => "post-rollback",
        }
    }
}

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// The program and its arguments; no shell unless the first word is one.
    pub command: Vec<String>,
    /// How long it may take.
    #[serde(default = "default_timeout", with = "seconds")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    DEFAULT_HOOK_TIMEOUT
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

/// What a change is about, for the hook's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookContext<'a> {
    /// The service.
    pub service: &'a str,
    /// The tag before the change.
    pub from: &'a str,
    /// The tag after the change.
    pub to: &'a str,
}

/// Why a hook failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookFailed {
    /// When it ran.
    pub event: HookEvent,
    /// The command line.
    pub command: String,
    /// What happened: the exit status and the last line of stderr, a timeout, or a start
    /// failure.
    pub reason: String,
}

impl fmt::Display for HookFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hook `{}` failed: {}",
            self.event.as_str(),
            self.command,
            self.reason
        )
    }
}

impl std::error::Error for HookFailed {}

impl Hook {
    /// Runs the hook for `event` about `context`.
    pub async fn run(&self, event: HookEvent, context: &HookContext<'_>) -> Result<(), HookFailed> {
        let failed = |reason: String| HookFailed {
            event,
            command: self.command.join(" "),
            reason,
        };
        let Some((program, args)) = self.command.split_first() else {
            return Err(failed(
                "the command is empty; give at least a program".to_owned(),
            ));
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .env("UPKEEP_EVENT", event.as_str())
            .env("UPKEEP_SERVICE", context.service)
            .env("UPKEEP_FROM", context.from)
            .env("UPKEEP_TO", context.to);
        // The hook and whatever it starts run in their own process group, stopped whole when
        // the time is up or the change is dropped.
        let ran = crate::process::run(&mut command, self.timeout)
            .await
            .map_err(|error| failed(format!("cannot start it: {error}")))?;
        let (status, stderr) = match ran {
            Ran::Exited { status, stderr, .. } => (status, stderr),
            Ran::TimedOut => {
                return Err(failed(format!(
                    "still running after {}; it was stopped with everything it started (raise its timeout if it needs longer)",
                    readable(self.timeout)
                )));
            }
        };
        if status.success() {
            return Ok(());
        }
        let last = last_line(&stderr);
        Err(failed(if last.is_empty() {
            status.to_string()
        } else {
            format!("{status}: {last}")
        }))
    }
}

/// `750 ms`, `5 s`, `2 min`: a timeout as a person reads it.
fn readable(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else if duration.as_secs().is_multiple_of(60) {
        format!("{} min", duration.as_secs() / 60)
    } else {
        format!("{} s", duration.as_secs())
    }
}

/// A deployment's hooks, by event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    /// Before an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_update: Option<Hook>,
    /// After an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_update: Option<Hook>,
    /// Before a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_rollback: Option<Hook>,
    /// After a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_rollback: Option<Hook>,
}

impl Hooks {
    /// Runs the hook for `event`, if there is one.
    pub async fn run(&self, event: HookEvent, context: &HookContext<'_>) -> Result<(), HookFailed> {
        let hook = match event {
            HookEvent::PreUpdate => &self.pre_update,
            HookEvent::PostUpdate => &self.post_update,
            HookEvent::PreRollback => &self.pre_rollback,
            HookEvent::PostRollback => &self.post_rollback,
        };
        match hook {
            Some(hook) => hook.run(event, context).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CONTEXT: HookContext<'static> = HookContext {
        service: "web",
        from: "1.0.0",
        to: "1.0.1",
    };

    fn shell(script: &str, timeout: Duration) -> Hook {
        Hook {
            command: vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()],
            timeout,
        }
    }

    #[tokio::test]
    async fn hooks_see_the_change_in_their_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("seen");
        let hook = shell(
            &format!(
                "echo \"$UPKEEP_EVENT $UPKEEP_SERVICE $UPKEEP_FROM $UPKEEP_TO\" > {}",
                out.display()
            ),
            DEFAULT_HOOK_TIMEOUT,
        );
        hook.run(HookEvent::PreUpdate, &CONTEXT).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "pre-update web 1.0.0 1.0.1\n"
        );
    }

    #[tokio::test]
    async fn a_hook_past_its_time_leaves_no_process_behind() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // The grandchild ignores SIGTERM, as a careless backup script's child might.
        let hook = shell(
            &format!(
                "sh -c 'trap \"\" TERM; echo $$ > {}; while :; do sleep 1; done' & wait",
                pid_file.display()
            ),
            Duration::from_millis(500),
        );
        let error = hook.run(HookEvent::PreUpdate, &CONTEXT).await.unwrap_err();
        assert!(
            error.reason.starts_with("still running after 500 ms"),
            "{error}"
        );
        let grandchild = std::fs::read_to_string(&pid_file).unwrap();
        let stat = format!("/proc/{}/stat", grandchild.trim());
        let mut gone = false;
        for _ in 0..50 {
            // Gone, or a zombie waiting for init to reap it: either way it no longer runs.
            gone = std::fs::read_to_string(&stat).map_or(true, |stat| stat.contains(") Z "));
            if gone {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            gone,
            "the hook's grandchild {} still runs",
            grandchild.trim()
        );
    }

    #[tokio::test]
    async fn failures_say_which_hook_and_why() {
        let failing = shell("echo 'backup disk full' >&2; exit 2", DEFAULT_HOOK_TIMEOUT);
        let error = failing
            .run(HookEvent::PreUpdate, &CONTEXT)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "pre-update hook `sh -c echo 'backup disk full' >&2; exit 2` failed: exit status: 2: backup disk full"
        );
        let slow = shell("sleep 10", Duration::from_millis(200));
        let error = slow.run(HookEvent::PostUpdate, &CONTEXT).await.unwrap_err();
        assert_eq!(
            error.reason,
            "still running after 200 ms; it was stopped with everything it started (raise its timeout if it needs longer)"
        );
        assert_eq!(readable(Duration::from_secs(90)), "90 s");
        assert_eq!(readable(DEFAULT_HOOK_TIMEOUT), "1 min");
        let missing = Hook {
            command: vec!["/nonexistent/hook".to_owned()],
            timeout: DEFAULT_HOOK_TIMEOUT,
        };
        let error = missing
            .run(HookEvent::PreRollback, &CONTEXT)
            .await
            .unwrap_err();
        assert!(error.reason.starts_with("cannot start it: "), "{error}");
        let empty = Hook {
            command: Vec::new(),
            timeout: DEFAULT_HOOK_TIMEOUT,
        };
        let error = empty.run(HookEvent::PreUpdate, &CONTEXT).await.unwrap_err();
        assert_eq!(
            error.reason,
            "the command is empty; give at least a program"
        );
    }

    #[tokio::test]
    async fn absent_hooks_pass_and_configuration_reads() {
        let hooks: Hooks =
            serde_json::from_str(r#"{"pre_update":{"command":["sh","-c","exit 1"],"timeout":5}}"#)
                .unwrap();
        assert_eq!(
            hooks.pre_update.as_ref().unwrap().timeout,
            Duration::from_secs(5)
        );
        assert!(hooks.run(HookEvent::PostUpdate, &CONTEXT).await.is_ok());
        assert!(hooks.run(HookEvent::PreUpdate, &CONTEXT).await.is_err());
    }
}
