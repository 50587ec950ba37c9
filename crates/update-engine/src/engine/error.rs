//! Why the engine cannot do what was asked.

use std::path::PathBuf;

use upkeep_registry_clients::RegistryError;
use upkeep_versioning_core::manifest::ManifestError;

use crate::config::ConfigError;
use crate::hint::Hint;
use crate::lock::Holder;
use crate::runtime::{ComposeFileError, RuntimeError};
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
    /// There is no manifest yet ([`Hint::Init`] creates it).
    #[error("no {} in {}", crate::store::MANIFEST_FILE, .0.display())]
    NoManifest(PathBuf),
    /// A manifest transition refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A service asked for is not in the manifest ([`Hint::Track`] adds it).
    #[error("unknown service `{service}`; the manifest has {known}")]
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
    /// The tag asked for is not in the registry ([`Hint::ListTags`] lists what is).
    #[error("{image}:{tag} is not in the registry")]
    TagNotFound {
        /// The image repository.
        image: String,
        /// The tag asked for.
        tag: String,
    },
    /// A tag set by hand is no version under the deployment's scheme, and was not marked as
    /// a custom tag.
    #[error(
        "{tag} is not a version under the {scheme} scheme; pin it as a custom tag to keep it anyway"
    )]
    NotAVersion {
        /// The tag.
        tag: String,
        /// The deployment's scheme, in words.
        scheme: String,
    },
    /// The manifest names an image that is no image reference.
    #[error("the manifest's image `{image}` is not an image reference: {problem}")]
    BadImage {
        /// The image as written.
        image: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A compose file cannot be read or understood.
    #[error(transparent)]
    ComposeFile(#[from] ComposeFileError),
    /// A compose service's image line does not let upkeep choose its version.
    #[error(
        "{}: services.{service}.image is {found}, so upkeep cannot choose its version; write `image: ${{{variable}}}` there (upkeep's versions.env gives {variable} its value)",
        file.display()
    )]
    ImageNotChosen {
        /// The compose file.
        file: PathBuf,
        /// The service.
        service: String,
        /// What the image line holds, in words.
        found: String,
        /// The variable it should name.
        variable: String,
    },
    /// The container an interrupted change was for is gone, so recovery cannot restore it.
    #[error(
        "the container `{container}` of {service} is gone; recreate it from {image} (`docker run ...` as before), then recover again"
    )]
    ContainerGone {
        /// The service.
        service: String,
        /// The container's name.
        container: String,
        /// The image it ran before the change.
        image: String,
    },
    /// Setting up the state directory from a compose file or a configuration refused.
    #[error("{}: {problem}", file.display())]
    Setup {
        /// The file at fault.
        file: PathBuf,
        /// What is wrong and how to go on.
        problem: String,
    },
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
    /// An earlier change was cut short and not recovered yet; the journal holds one change
    /// ([`Hint::Recover`] finishes or undoes it).
    #[error("the change of {service} from {from} to {to} was cut short and is not recovered yet")]
    Unrecovered {
        /// The service the interrupted change was for.
        service: String,
        /// Its tag before.
        from: String,
        /// The tag it was going to.
        to: String,
    },
}

impl EngineError {
    /// What the user can do about it, when there is one thing to do.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::NoManifest(_) => Some(Hint::Init),
            Self::UnknownService { service, .. } => Some(Hint::Track {
                service: service.clone(),
            }),
            Self::TagNotFound { image, .. } => Some(Hint::ListTags {
                image: image.clone(),
            }),
            Self::Unrecovered { .. } | Self::ContainerGone { .. } => Some(Hint::Recover),
            _ => None,
        }
    }

    /// Whether the request is at fault (a name, a tag or a file the user gave), rather than
    /// a registry, the engine or the state files.
    pub fn is_invalid_request(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::UnknownService { .. }
                | Self::TagNotFound { .. }
                | Self::NotAVersion { .. }
                | Self::BadImage { .. }
                | Self::ComposeFile(_)
                | Self::ImageNotChosen { .. }
                | Self::Setup { .. }
        )
    }
}
