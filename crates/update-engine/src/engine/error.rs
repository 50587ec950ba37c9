//! Why the engine cannot do what was asked.

use std::path::PathBuf;

use upkeep_registry_clients::RegistryError;
use upkeep_versioning_core::manifest::ManifestError;

use crate::config::ConfigError;
use crate::lock::Holder;
use crate::runtime::RuntimeError;
use crate::store::StoreError;

/// Why the engine cannot do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A state file cannot be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// There is no manifest yet.
    #[error("no {} in {}; create it with `upkeep init --from-running` or `upkeep init --compose FILE`", crate::store::MANIFEST_FILE, .0.display())]
    NoManifest(PathBuf),
    /// A manifest transition refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A service named on the command line is not in the manifest.
    #[error(
        "unknown service `{service}`; the manifest has {known}; add it with `upkeep pin {service} TAG` after `upkeep init`"
    )]
    UnknownService {
        /// The name given.
        service: String,
        /// The services known, listed.
        known: String,
    },
    /// A registry could not answer.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The container runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// Another process is changing the same state directory.
    #[error("{holder} is changing this state directory; wait for it to finish, or stop it")]
    Busy {
        /// Who holds the directory.
        holder: Holder,
    },
    /// The journal's change is still being made by a live process, which holds no lock (an
    /// older upkeep): it is not interrupted, and recovering it would undo it mid-way.
    #[error(
        "the change of {service} from {from} to {to} is still being made by {owner}; wait for it to finish"
    )]
    ChangeUnderWay {
        /// The service.
        service: String,
        /// Its tag before.
        from: String,
        /// The tag it is going to.
        to: String,
        /// The process making it.
        owner: String,
    },
    /// An earlier change was cut short and not recovered yet; the journal holds one change.
    #[error(
        "the change of {service} from {from} to {to} was cut short and is not recovered yet; run `upkeep recover` first"
    )]
    Unrecovered {
        /// The service the interrupted change was for.
        service: String,
        /// Its tag before.
        from: String,
        /// The tag it was going to.
        to: String,
    },
}
