//! One writer per state directory. Every change (update, rollback, pin, pull, resolve, init)
//! and every recovery holds an exclusive lock on `.upkeep.lock` in the directory for as long
//! as it runs, so a second process can neither change the same services at the same time nor
//! "recover" a change that is still being made. The lock is the operating system's (`flock`):
//! it goes with the process, however the process ends, so a killed writer never leaves a
//! stale lock behind.
//!
//! The holder writes who it is into the file (pid and what it does), for the message a
//! second writer shows while it waits or when it gives up. The journal of a change records
//! its [`Owner`] too, so that a journal whose owner still runs is never taken for an
//! interrupted one.
//!
//! # What this module does not do
//! It does not wait: [`StateLock::try_acquire`] answers at once, and the engine decides how
//! long to wait and what to say meanwhile. Readers (status, plan, history) take no lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

use upkeep_versioning_core::journal::Owner;

use crate::store::StoreError;

/// The lock file's name in the state directory.
pub const LOCK_FILE: &str = ".upkeep.lock";

/// Who holds a state directory's lock, as the holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The holder's process id.
    pub pid: u32,
    /// What it does, such as `the update of web`.
    pub doing: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} by pid {}", self.doing, self.pid)
    }
}

/// The exclusive right to change a state directory; released when dropped (or when the
/// process ends, however it ends).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock of `directory` for `doing` (such as `the update of web`), or says who
    /// holds it. Creates the directory's lock file when there is none.
    pub fn try_acquire(directory: &Path, doing: &str) -> Result<Result<Self, Holder>, StoreError> {
        let path = directory.join(LOCK_FILE);
        let io = |action, source| StoreError::Io {
            action,
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| io("open", source))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Err(read_holder(&path))),
            Err(TryLockError::Error(source)) => return Err(io("lock", source)),
        }
        let who = format!("{}\n{doing}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.write_all(who.as_bytes()))
            .map_err(|source| io("write", source))?;
        Ok(Ok(Self { _file: file }))
    }
}

/// What the holder wrote; a file caught half-written names an unknown change.
fn read_holder(path: &Path) -> Holder {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    let pid = lines.next().and_then(|pid| pid.parse().ok()).unwrap_or(0);
    let doing = lines
        .next()
        .filter(|doing| !doing.is_empty())
        .unwrap_or("a change")
        .to_owned();
    Holder { pid, doing }
}

/// This process, as a journal records its owner: its pid, the machine's boot id and when the
/// process started, which together tell it apart from a later process that got the same pid.
pub fn this_process() -> Owner {
    let pid = std::process::id();
    Owner {
        pid,
        boot_id: boot_id().unwrap_or_default(),
        started: start_time(pid).unwrap_or_default(),
    }
}

/// Process `pid` as a journal would record it, while it runs.
pub fn owner_of(pid: u32) -> Option<Owner> {
    Some(Owner {
        pid,
        boot_id: boot_id()?,
        started: start_time(pid)?,
    })
}

/// Whether `owner` still runs: same boot, and its pid is the same process (same start time).
/// An owner recorded on another boot, or whose pid is gone or reused, is dead.
pub fn is_alive(owner: &Owner) -> bool {
    let same_boot = boot_id().is_some_and(|boot| boot == owner.boot_id);
    same_boot && start_time(owner.pid).is_some_and(|started| started == owner.started)
}

/// The kernel's id of this boot.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_owned())
}

/// When `pid` started, in clock ticks since boot (field 22 of `/proc/PID/stat`); `None` when
/// no such process runs (a zombie no longer runs either).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: count fields after its end.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // After the name: state is field 3, start time field 22.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// A journal's owner for messages: `pid 4121`.
pub fn describe(owner: &Owner) -> String {
    format!("pid {}", owner.pid)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::try_acquire(dir.path(), "the update of web")
            .unwrap()
            .unwrap();
        // A second open of the file is a second writer, even in the same process.
        let holder = StateLock::try_acquire(dir.path(), "recovery")
            .unwrap()
            .unwrap_err();
        assert_eq!(
            holder.to_string(),
            format!("the update of web by pid {}", std::process::id())
        );
        drop(first);
        let again = StateLock::try_acquire(dir.path(), "recovery").unwrap();
        assert!(again.is_ok(), "the lock is free once its holder is dropped");
    }

    #[test]
    fn this_process_is_alive_and_a_reused_or_old_pid_is_not() {
        let me = this_process();
        assert!(is_alive(&me));
        let reused = Owner {
            started: me.started + 1,
            ..me.clone()
        };
        assert!(!is_alive(&reused), "same pid, another process");
        let other_boot = Owner {
            boot_id: "00000000-0000-0000-0000-000000000000".to_owned(),
            ..me
        };
        assert!(!is_alive(&other_boot));
    }
}
