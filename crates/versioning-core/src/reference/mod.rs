//! Image references: `[host[:port]/]path[:tag][@digest]`, parsed and normalised the way Docker
//! does, with validated [`Tag`]s and [`Digest`]s.
//!
//! # Grammar
//!
//! This follows the grammar of Docker's `distribution/reference`:
//!
//! - **Registry**: the first `/`-separated component is a host when it contains `.` or `:` or
//!   is exactly `localhost`; otherwise the reference is on Docker Hub (`foo/bar` is the Hub user
//!   repository `foo/bar`, not the host `foo`). Recent Docker versions also read an upper-case
//!   first component (`Foo/bar`) as a host; here it is a repository with an upper-case error,
//!   since a registry without `.`, `:` or `localhost` is almost always a typo. A host is
//!   domain labels `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?` joined by `.`, or an IPv6 address
//!   in brackets (`[::1]`), with an optional `:port` from 1 to 65535.
//! - **Repository**: path components `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*` joined by `/`.
//!   Upper-case letters are an error that suggests the lower-case spelling.
//! - **Tag**: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, after the first `:` that follows the last `/`
//!   (so `localhost:5000` alone is the Hub image `localhost` at tag `5000`, as in Docker).
//! - **Digest**: `sha256:` and 64, or `sha512:` and 128, lower-case hex characters, after `@`.
//!
//! # Normalisation
//!
//! - No registry means Docker Hub, written `docker.io`; `index.docker.io` and
//!   `registry-1.docker.io` are Docker Hub too.
//! - A Docker Hub repository with one component gets `library/` (`nginx` is
//!   `docker.io/library/nginx`).
//! - Hosts are lower-cased (DNS and IPv6 are case-insensitive; Docker keeps them as written) and
//!   a port loses its leading zeros, so that one registry has one spelling. `docker.io:443` is
//!   not normalised: only the bare names above are Docker Hub.
//! - Without a tag and a digest the tag is `latest`; [`ImageRef::is_tag_implied`] remembers that
//!   it was not written. That flag is presentation only: it is ignored by equality, ordering
//!   and hashing (`nginx` equals `nginx:latest`), and the canonical form always writes the tag.
//! - A reference that is exactly 64 hex characters is refused as an image id, as Docker does.
//! - The name with its registry (`docker.io/library/nginx`) may be at most 255 characters.
//!
//! [`ImageRef`]'s `Display` gives the canonical form, `docker.io/library/nginx:latest` (with
//! `@digest` when there is one, and both as `name:tag@digest`). [`ImageRef::short`] gives the
//! familiar form the `docker` CLI shows: without `docker.io/`, without `library/` and without
//! an implied `:latest`. Both parse back to an equal reference.
//!
//! ```
//! use upkeep_versioning_core::reference::ImageRef;
//!
//! let nginx: ImageRef = "nginx".parse()?;
//! assert_eq!(nginx.to_string(), "docker.io/library/nginx:latest");
//! assert_eq!(nginx.short().to_string(), "nginx");
//! assert_eq!(nginx, "index.docker.io/library/nginx:latest".parse()?);
//!
//! let app: ImageRef = "ghcr.io/owner/app:v1.2.3".parse()?;
//! assert_eq!((app.registry(), app.repository()), ("ghcr.io", "owner/app"));
//!
//! let err = "Nginx".parse::<ImageRef>().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid image reference 'Nginx': repository names must be lower-case; did you mean 'nginx'?"
//! );
//! # Ok::<(), upkeep_versioning_core::reference::ReferenceError>(())
//! ```
//!
//! # Layout
//!
//! The submodules are private; this one re-exports their public items. `types` holds
//! [`Tag`], [`Digest`] and [`ImageRef`] with their accessors, forms and serde; `parse` reads
//! the grammar above; `normalise` holds Docker's defaults and the one spelling of a name
//! (Docker Hub and its aliases, `library/`, lower-case hosts); `error` holds
//! [`ReferenceError`], its messages and its suggestions. Each keeps its own unit tests;
//! `test_support` has the helpers they share.
//!
//! # What this module does not do
//!
//! It does not talk to registries: it neither resolves tags to digests nor knows registry API
//! endpoints (Docker Hub's API host `registry-1.docker.io` is the registry clients' business).
//! It does not read Docker's configuration (mirrors, insecure registries, credentials), and it
//! accepts only the `sha256` and `sha512` digest algorithms, not the open-ended algorithm
//! grammar of the OCI spec.

mod error;
mod normalise;
mod parse;
mod types;

#[cfg(test)]
mod test_support;

pub use error::{ReferenceError, ReferencePart};
pub use types::{Digest, DigestAlgorithm, ImageRef, ShortRef, Tag};

/// The registry name of Docker Hub in the canonical form.
pub const DOCKER_HUB: &str = "docker.io";

/// The most characters a name with its registry (`docker.io/library/nginx`) may have.
pub const MAX_NAME_LEN: usize = 255;

/// The most characters a tag may have.
pub const MAX_TAG_LEN: usize = 128;
