//! The version manifest (`version-manifest.yaml`): for each compose service, the image
//! repository, the tag and digest now deployed, whether that tag is a pinned custom tag, and
//! the last [`MAX_HISTORY`] deployments; the pure transitions that change it, its YAML form and
//! the `versions.env` it generates.
//!
//! # File format (version 1)
//!
//! ```yaml
//! version: 1
//! services:
//!   outpost:
//!     image: public.ecr.aws/dagknows/outpost
//!     current_tag: latest
//!     image_digest: sha256:cbd982440a966d1b814c7853caa89c430f0ddc0f5bb1ca3ebf11ec62c3fa4a00
//!     custom: false
//!     history:
//!     - tag: latest
//!       digest: sha256:cbd982440a966d1b814c7853caa89c430f0ddc0f5bb1ca3ebf11ec62c3fa4a00
//!       deployed_at: 2026-01-12T12:29:08Z
//!       reason: pull_latest
//!     - tag: '1.63'
//!       deployed_at: 2026-01-12T12:20:31Z
//!       reason: initial
//!       note: migrated from the old proxy
//! ```
//!
//! `version`, `services`, and each service's `image` and `current_tag` are required;
//! `image_digest`, `custom` (default false), `history` (default empty), an entry's `digest` and
//! `note` may be left out; a `rollback` entry that undid a failed update names its tag in
//! `failed`, and the digest of the image that failed in `failed_digest` when it was known. Reasons are `initial`, `update`, `pull_latest`, `set` (a pinned
//! custom tag), `rollback` and `rollback_to`. Times are RFC 3339; they are written in UTC.
//! Values are read as the text written, so an unquoted `current_tag: 1.40` is the tag `1.40`,
//! not the number 1.4; [`Manifest::to_yaml`] quotes such values anyway. Unknown keys are not
//! errors but [`Warning`]s, and they are not written back.
//!
//! # Invariants
//!
//! Checked on every read, kept by every transition:
//!
//! 1. the history is newest first: `deployed_at` never increases down the list;
//! 2. it holds at most [`MAX_HISTORY`] entries; a new entry drops the oldest;
//! 3. when it is not empty, its first entry is the current deployment: same tag and digest as
//!    `current_tag` and `image_digest`;
//! 4. when it is not empty, `custom` is true exactly when that first entry's reason is `set`,
//!    that is when the current deployment came from [`Manifest::pin`];
//! 5. no two services share a `versions.env` key ([`ServiceName::env_key`]).
//!
//! An empty history is accepted on read (a hand-written manifest); transitions always record
//! an entry, so it never becomes empty again.
//!
//! # Transitions
//!
//! [`Manifest::deploy`], [`Manifest::pin`], [`Manifest::roll_back`] and
//! [`Manifest::roll_back_to`] take `now` and return a [`Change`]; on error the manifest is left
//! exactly as it was. Each recorded change puts a new entry at the head of the history, with
//! the time `now`, which may not be earlier than the newest entry (a clock gone backwards is an
//! error rather than a history out of order). A rollback is recorded like any deployment, so
//! the history shows it, and it clears `custom` (invariant 4): the rolled-back-to tag was not
//! pinned by this step; pin it again to mark it custom. Because the rollback itself becomes the
//! newest entry, two rollbacks in a row return to where they started, like `cd -`; to go
//! further back, roll back to a named tag.
//!
//! Two revisions are *distinct* when their tags differ or both digests are known and differ
//! ([`Revision::is_distinct_from`]): `latest` with an unknown digest is not a version to roll
//! back to from `latest`.
//!
//! # Layout
//!
//! The submodules are private; this one re-exports their public items. `model` holds the
//! types (services, revisions, history entries, reasons, changes) and the checks on their
//! values; `transition` the operations that change a manifest and their rules; `error` the
//! error type and its messages; `yaml` the file format: reading with its validation messages
//! and warnings, and writing. Each keeps its own unit tests; `test_support` has the helpers
//! they share.
//!
//! # What this module does not do
//!
//! No IO: reading and writing the files, atomic replacement and backups belong to the engine;
//! this module turns text into a model and back. It does not parse image references: `image`
//! is a repository string compared exactly (`vault` and `docker.io/library/vault` differ). It
//! does not pull images or resolve digests: digests come in as arguments.

mod error;
mod model;
mod transition;
mod yaml;

#[cfg(test)]
mod test_support;

pub use error::ManifestError;
pub use model::{
    Change, DeployReason, HistoryEntry, Manifest, Reason, Revision, ServiceName, ServiceVersion,
};
pub use yaml::Warning;

/// How many deployments each service's history keeps; a new one drops the oldest.
pub const MAX_HISTORY: usize = 5;

/// The manifest format version this module reads and writes (`version: 1`).
pub const FORMAT_VERSION: u32 = 1;
