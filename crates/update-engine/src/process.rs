//! Child processes with a deadline. Hooks, command health checks and compose run in a process
//! group of their own; when their time is up, or when the step that started them is dropped,
//! the whole group is stopped: `SIGTERM`, a short grace, then `SIGKILL`. So a grandchild that
//! ignores `SIGTERM` does not outlive the step that started it either.
//!
//! # What this module does not do
//! It does not judge the result: callers read the exit status and the output. It does not
//! follow a process that leaves its group on purpose (`setsid`); such a program is a daemon
//! by design and has no place in a hook.

use std::collections::VecDeque;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

/// How long a stopped group gets between `SIGTERM` and `SIGKILL`: enough for a well-behaved
/// program to clean up, short enough that a stuck one does not hold an update up.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(2);

/// The most of each output stream kept, from its end: enough for the last lines that say why
/// something failed, and no more, whatever the program writes.
const OUTPUT_TAIL: usize = 64 * 1024;

/// A child's process group, stopped when dropped.
#[derive(Debug)]
pub(crate) struct Group {
    leader: Option<Pid>,
}

impl Group {
    /// Starts `command` as the leader of a new process group.
    pub(crate) fn spawn(command: &mut Command) -> io::Result<(Child, Self)> {
        command.process_group(0).kill_on_drop(true);
        let child = command.spawn()?;
        let leader = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        Ok((child, Self { leader }))
    }

    /// Stops the group: `SIGTERM` to all of it, up to [`STOP_GRACE`] for `child` to exit,
    /// then `SIGKILL` to whatever is left, and reaps `child`.
    pub(crate) async fn stop(&mut self, child: &mut Child) {
        self.signal(Signal::TERM);
        let _ = tokio::time::timeout(STOP_GRACE, child.wait()).await;
        self.kill();
        let _ = child.wait().await;
    }

    /// `SIGKILL` to the whole group: what remains of it once its leader has exited (children
    /// it left running) or everything, when time is up.
    pub(crate) fn kill(&mut self) {
        self.signal(Signal::KILL);
        self.leader = None;
    }

    fn signal(&self, signal: Signal) {
        if let Some(leader) = self.leader {
            // No such group: everything in it has exited already.
            let _ = rustix::process::kill_process_group(leader, signal);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How a command run by [`run`] ended.
#[derive(Debug)]
pub(crate) enum Ran {
    /// It exited (or was killed by a signal) in time.
    Exited {
        /// Its status.
        status: ExitStatus,
        /// The end of what it wrote to stderr.
        stderr: Vec<u8>,
    },
    /// It was still running after its time and was stopped, with its whole group.
    TimedOut,
}

/// Runs `command` with no input and its stderr captured (stdout is not read: messages come
/// from stderr), for at most `timeout`; then stops its process group, whatever it left behind
/// included.
pub(crate) async fn run(command: &mut Command, timeout: Duration) -> io::Result<Ran> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (mut child, mut group) = Group::spawn(command)?;
    let stderr = child.stderr.take().map(|pipe| tokio::spawn(tail(pipe)));
    let finished = tokio::time::timeout(timeout, child.wait()).await;
    // The leader is done (or out of time); nothing it started may stay behind. This also
    // closes the pipes a lingering grandchild held open, so the readers below end.
    let status = match finished {
        Ok(status) => {
            group.kill();
            Some(status?)
        }
        Err(_) => {
            group.stop(&mut child).await;
            None
        }
    };
    let collect = |reader: Option<tokio::task::JoinHandle<Vec<u8>>>| async move {
        match reader {
            // A process that left the group (setsid) may still hold the pipe: do not wait
            // for it beyond the grace.
            Some(reader) => tokio::time::timeout(STOP_GRACE, reader)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            None => Vec::new(),
        }
    };
    let stderr = collect(stderr).await;
    Ok(match status {
        Some(status) => Ran::Exited { status, stderr },
        None => Ran::TimedOut,
    })
}

/// Reads `pipe` to its end, keeping the last [`OUTPUT_TAIL`] bytes.
async fn tail(mut pipe: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = VecDeque::with_capacity(8 * 1024);
    let mut buffer = [0_u8; 8 * 1024];
    while let Ok(read) = pipe.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        kept.extend(&buffer[..read]);
        let excess = kept.len().saturating_sub(OUTPUT_TAIL);
        kept.drain(..excess);
    }
    kept.into()
}

/// The last non-empty line of `output`, trimmed, for messages.
pub(crate) fn last_line(output: &[u8]) -> String {
    String::from_utf8_lossy(output)
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// Kills process `pid` and every process below it, children first seen from `/proc`. For a
/// process this crate did not start as a group leader (a command the Docker Engine runs in a
/// container): the Engine offers no way to stop it.
pub(crate) fn kill_tree(pid: i64) {
    let Some(root) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let mut doomed = vec![root];
    let mut index = 0;
    let parents = parent_table();
    while let Some(&parent) = doomed.get(index) {
        doomed.extend(
            parents
                .iter()
                .filter(|(_, of)| *of == parent)
                .map(|(child, _)| *child),
        );
        index += 1;
    }
    for pid in doomed {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
}

/// Every process and its parent, from `/proc/PID/stat`.
fn parent_table() -> Vec<(Pid, Pid)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The command name in parentheses may hold spaces; the fields follow its end.
            let after_name = &stat[stat.rfind(')')? + 1..];
            let parent: i32 = after_name.split_whitespace().nth(1)?.parse().ok()?;
            Some((Pid::from_raw(pid)?, Pid::from_raw(parent)?))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Whether `pid` still runs a moment after it was killed (a signal takes effect when the
    /// process is next scheduled). Zombies count as gone: they no longer run.
    async fn alive(pid: i32) -> bool {
        let runs = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                !stat[stat.rfind(')').unwrap() + 1..]
                    .trim_start()
                    .starts_with('Z')
            })
        };
        for _ in 0..50 {
            if !runs() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    }

    #[tokio::test]
    async fn a_command_in_time_gives_its_status_and_last_words() {
        let ran = run(
            Command::new("sh").args(["-c", "echo out; echo first >&2; echo last >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let Ran::Exited { status, stderr } = ran else {
            panic!("timed out");
        };
        assert_eq!(status.code(), Some(3));
        assert_eq!(last_line(&stderr), "last");
    }

    #[tokio::test]
    async fn a_grandchild_that_ignores_sigterm_is_killed_at_the_deadline() {
        let pid_file = tempfile::NamedTempFile::new().unwrap();
        let script = format!(
            "sh -c 'trap \"\" TERM; echo $$ > {}; while :; do sleep 1; done' & wait",
            pid_file.path().display()
        );
        let ran = run(
            Command::new("sh").args(["-c", &script]),
            Duration::from_millis(500),
        )
        .await
        .unwrap();
        assert!(matches!(ran, Ran::TimedOut), "{ran:?}");
        let grandchild: i32 = std::fs::read_to_string(pid_file.path())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            !alive(grandchild).await,
            "process {grandchild} outlived its step"
        );
    }

    #[tokio::test]
    async fn what_a_finished_command_left_running_is_stopped_too() {
        let pid_file = tempfile::NamedTempFile::new().unwrap();
        let script = format!(
            "sleep 1000 & echo $! > {}; exit 0",
            pid_file.path().display()
        );
        let ran = run(
            Command::new("sh").args(["-c", &script]),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert!(matches!(ran, Ran::Exited { .. }), "{ran:?}");
        let left: i32 = std::fs::read_to_string(pid_file.path())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!alive(left).await, "process {left} outlived its step");
    }

    #[test]
    fn output_keeps_only_its_end() {
        let big = vec![b'x'; OUTPUT_TAIL * 3];
        let kept = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(tail(&big[..]));
        assert_eq!(kept.len(), OUTPUT_TAIL);
    }
}
