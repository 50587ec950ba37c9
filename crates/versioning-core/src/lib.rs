//! The pure heart of upkeep: everything that can be decided from values alone.
//!
//! - [`reference`](mod@reference): image references (`[host[:port]/]path[:tag][@digest]`), normalised the way
//!   Docker does, with validated tags and digests.
//! - [`version`]: tags read as versions under a [`Scheme`] (`docker`, `semver`, `loose`,
//!   `regex`), their total order, compatibility and the classification of a move.
//! - [`range`]: semver-style ranges (`^1.2`, `~1.2.3`, `>=1.2 <2`, `1.x`).
//! - [`select`]: choosing the update target from a tag list under constraints.
//! - [`policy`]: per-deployment update policies.
//! - [`planner`]: what to do for one deployment (move, hold with a reason, nothing), from
//!   its facts, the user's overrides and what the registry said; when a move may start; what
//!   one cycle of the agent does.
//! - [`manifest`]: the version manifest with its deployment history, and its YAML form.
//! - [`suggest`]: "did you mean …?" for likely typos.
//! - [`window`]: update windows, cron expressions read in a time zone.
//! - [`journal`]: the journal of an update in progress and how to recover one cut short.
//! - [`clock`]: the [`Clock`] the crates around the core read the time from, the real one
//!   and a manual one for tests.
//!
//! # What this crate does not do
//! No IO, no async, no environment, and no clock in its logic: the current time is always an
//! argument (`now`), tag lists and push times come in as data, and YAML comes in and goes
//! out as text. [`SystemClock`] is the one reader of the real time, for the other crates to
//! hold; nothing in the core calls it. Its `clippy.toml` forbids reading the clock (but
//! there), the environment and the file system, and CI checks that no crate doing IO is
//! among its dependencies.

#![warn(missing_docs)]

pub mod clock;
pub mod journal;
pub mod manifest;
pub mod planner;
pub mod policy;
pub mod range;
pub mod reference;
pub mod select;
pub mod suggest;
pub mod version;
pub mod window;

pub use clock::{Clock, ManualClock, SystemClock};
pub use version::{Scheme, UpdateKind, Version, regex_problem};

/// A point in time, always passed in by the caller; the core never reads the clock.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A span of time, such as a check interval or a minimum tag age.
pub use chrono::TimeDelta;
