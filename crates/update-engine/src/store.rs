//! Where the CLI keeps its state: `version-manifest.yaml`, its timestamped backups in
//! `.version-backups/`, and the generated `versions.env`, in one directory.
//!
//! Every write is atomic: the new content goes to a temporary file in the same directory,
//! is flushed to disk, and replaces the old file by a rename, after which the directory is
//! flushed too. A crash leaves either the old file or the new one, never half of either.
//! Before the manifest changes, the current one is copied to `.version-backups/`.
//!
//! # What this module does not do
//! It does not decide what the manifest says: the core's [`Manifest`] transitions do. It
//! keeps backups forever; pruning them is the user's choice.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::journal::JournalEntry;
use upkeep_versioning_core::manifest::{Manifest, ManifestError, Warning};

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "version-manifest.yaml";
/// The generated environment file for compose.
pub const ENV_FILE: &str = "versions.env";
/// The folder of manifest backups.
pub const BACKUP_DIR: &str = ".version-backups";
/// The journal of the update in progress, present only while one is.
pub const JOURNAL_FILE: &str = ".upkeep-journal.json";

/// Why the state files could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done: "read", "write", "back up", ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The manifest is not valid; the message says where and how to restore a backup.
    // The problem is in the message, before the fix, and so not also a `source`.
    #[error("{} is not a valid manifest: {problem}{}", path.display(), restore_hint(.newest_backup.as_deref(), path))]
    Invalid {
        /// The manifest file.
        path: PathBuf,
        /// The newest backup, if there is one.
        newest_backup: Option<PathBuf>,
        /// What is wrong, with the field or line (boxed: it is large and rare).
        problem: Box<ManifestError>,
    },
    /// The journal of an interrupted update cannot be read.
    #[error(
        "{} cannot be read ({problem}); an update was interrupted: check the service with `docker ps`, then delete the file",
        path.display()
    )]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

fn restore_hint(backup: Option<&Path>, path: &Path) -> String {
    match backup {
        Some(backup) => format!(
            "; fix it, or restore the newest backup with `cp {} {}`",
            backup.display(),
            path.display()
        ),
        None => "; fix it by hand (there is no backup in .version-backups/)".to_owned(),
    }
}

/// The state files of one directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    directory: PathBuf,
}

impl StateDir {
    /// The state files in `directory`.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        Self {
            directory: directory.into(),
        }
    }

    /// The directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The manifest's path.
    pub fn manifest_path(&self) -> PathBuf {
        self.directory.join(MANIFEST_FILE)
    }

    /// The environment file's path.
    pub fn env_path(&self) -> PathBuf {
        self.directory.join(ENV_FILE)
    }

    /// The backup folder's path.
    pub fn backup_dir(&self) -> PathBuf {
        self.directory.join(BACKUP_DIR)
    }

    /// Reads the manifest; `None` when there is none yet. Unknown keys come back as
    /// warnings.
    pub fn load(&self) -> Result<Option<(Manifest, Vec<Warning>)>, StoreError> {
        let path = self.manifest_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        Manifest::from_yaml(&text)
            .map(Some)
            .map_err(|source| StoreError::Invalid {
                newest_backup: self.backups().ok().and_then(|mut all| all.pop()),
                path,
                problem: Box::new(source),
            })
    }

    /// Writes `manifest`, first copying the current file to `.version-backups/` with `now` in
    /// its name, then `versions.env` from it; both atomically.
    pub fn save(&self, manifest: &Manifest, now: Timestamp) -> Result<(), StoreError> {
        let path = self.manifest_path();
        if path.exists() {
            self.back_up(&path, now)?;
        }
        write_atomically(&path, manifest.to_yaml().as_bytes())?;
        self.write_env(manifest)
    }

    /// Regenerates `versions.env` from `manifest`.
    pub fn write_env(&self, manifest: &Manifest) -> Result<(), StoreError> {
        write_atomically(&self.env_path(), manifest.versions_env().as_bytes())
    }

    /// The journal's path.
    pub fn journal_path(&self) -> PathBuf {
        self.directory.join(JOURNAL_FILE)
    }

    /// Records the update in progress, atomically, before its next step acts.
    pub fn write_journal(&self, entry: &JournalEntry) -> Result<(), StoreError> {
        let path = self.journal_path();
        let text = serde_json::to_vec_pretty(entry).map_err(|error| StoreError::Journal {
            path: path.clone(),
            problem: error.to_string(),
        })?;
        write_atomically(&path, &text)
    }

    /// The update that was in progress when upkeep last stopped, if one was.
    pub fn read_journal(&self) -> Result<Option<JournalEntry>, StoreError> {
        let path = self.journal_path();
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|error| StoreError::Journal {
                        path,
                        problem: error.to_string(),
                    })
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Removes the journal once the update is finished or undone.
    pub fn clear_journal(&self) -> Result<(), StoreError> {
        let path = self.journal_path();
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io {
                action: "remove",
                path,
                source,
            }),
        }
    }

    /// The backups, oldest first.
    pub fn backups(&self) -> Result<Vec<PathBuf>, StoreError> {
        let dir = self.backup_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StoreError::Io {
                    action: "list",
                    path: dir,
                    source,
                });
            }
        };
        let prefix = format!("{MANIFEST_FILE}.");
        let mut backups: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(&prefix) && !name.ends_with(".tmp"))
            })
            .collect();
        // The stamp sorts as text in time order.
        backups.sort();
        Ok(backups)
    }

    fn back_up(&self, path: &Path, now: Timestamp) -> Result<PathBuf, StoreError> {
        let dir = self.backup_dir();
        fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            action: "create",
            path: dir.clone(),
            source,
        })?;
        let stamp = now.format("%Y%m%dT%H%M%S%.6fZ");
        let mut backup = dir.join(format!("{MANIFEST_FILE}.{stamp}"));
        // Two saves in one microsecond (tests, scripts) get distinct names.
        let mut counter = 1;
        while backup.exists() {
            backup = dir.join(format!("{MANIFEST_FILE}.{stamp}-{counter}"));
            counter += 1;
        }
        let bytes = fs::read(path).map_err(|source| StoreError::Io {
            action: "back up",
            path: path.to_owned(),
            source,
        })?;
        write_atomically(&backup, &bytes)?;
        Ok(backup)
    }
}

/// Replaces `path` with `bytes`: a temporary file beside it, flushed, renamed over it, and
/// the directory flushed so the rename itself survives a crash.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io_error = |action, source| StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("state");
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        // Flushing the directory makes the rename durable; not every platform allows it.
        if let Ok(directory) = File::open(dir) {
            let _ = directory.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(|source| io_error("write", source))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use upkeep_versioning_core::manifest::{DeployReason, ServiceName};

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_timestamp(1_764_000_000 + seconds, 0).unwrap()
    }

    fn sample() -> Manifest {
        let mut manifest = Manifest::new();
        let service = ServiceName::parse("web").unwrap();
        manifest
            .deploy(
                &service,
                Some("127.0.0.1:5000/test/web"),
                "1.0.0",
                None,
                DeployReason::Update,
                at(0),
            )
            .unwrap();
        manifest
    }

    #[test]
    fn a_missing_manifest_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(StateDir::new(dir.path()).load().unwrap().is_none());
    }

    #[test]
    fn saves_round_trip_and_back_up_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let mut manifest = sample();
        state.save(&manifest, at(1)).unwrap();
        assert!(
            state.backups().unwrap().is_empty(),
            "nothing to back up the first time"
        );
        let first = fs::read_to_string(state.manifest_path()).unwrap();

        let service = ServiceName::parse("web").unwrap();
        manifest
            .deploy(&service, None, "1.0.1", None, DeployReason::Update, at(2))
            .unwrap();
        state.save(&manifest, at(2)).unwrap();
        let backups = state.backups().unwrap();
        assert_eq!(backups.len(), 1);
        assert_eq!(fs::read_to_string(&backups[0]).unwrap(), first);
        assert!(
            backups[0]
                .to_string_lossy()
                .ends_with("version-manifest.yaml.20251124T160002.000000Z")
        );
        let (loaded, warnings) = state.load().unwrap().unwrap();
        assert_eq!(loaded, manifest);
        assert!(warnings.is_empty());
        assert_eq!(
            fs::read_to_string(state.env_path()).unwrap(),
            manifest.versions_env()
        );
        // No temporary file is left behind.
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_broken_manifest_names_the_problem_and_the_backup_to_restore() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        state.save(&sample(), at(1)).unwrap();
        state.save(&sample(), at(2)).unwrap();
        fs::write(
            state.manifest_path(),
            "version: 1\nservices:\n  web: [unclosed\n",
        )
        .unwrap();
        let error = state.load().unwrap_err().to_string();
        let backup = state.backups().unwrap().pop().unwrap();
        assert!(
            error.starts_with(&format!(
                "{} is not a valid manifest: ",
                state.manifest_path().display()
            )),
            "{error}"
        );
        assert!(
            error.contains("line"),
            "the message names the line: {error}"
        );
        assert!(
            error.ends_with(&format!(
                "; fix it, or restore the newest backup with `cp {} {}`",
                backup.display(),
                state.manifest_path().display()
            )),
            "{error}"
        );
    }

    #[test]
    fn the_journal_is_written_read_and_cleared() {
        use upkeep_versioning_core::journal::{JournalVersion, Step};
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(state.read_journal().unwrap(), None);
        let version = |tag: &str| JournalVersion {
            tag: tag.to_owned(),
            digest: None,
        };
        let mut entry = JournalEntry::begin("web", version("1.0.0"), version("1.0.1"), at(0));
        entry.advance(Step::Stop);
        state.write_journal(&entry).unwrap();
        assert_eq!(state.read_journal().unwrap(), Some(entry));
        state.clear_journal().unwrap();
        state.clear_journal().unwrap();
        assert_eq!(state.read_journal().unwrap(), None);
        fs::write(state.journal_path(), "{half").unwrap();
        let error = state.read_journal().unwrap_err().to_string();
        assert!(error.contains("an update was interrupted"), "{error}");
    }

    #[test]
    fn writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        write_atomically(&path, b"a long first version").unwrap();
        write_atomically(&path, b"short").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"short");
        let error = write_atomically(&dir.path().join("missing/file"), b"x").unwrap_err();
        assert!(error.to_string().starts_with("cannot write "), "{error}");
    }
}
