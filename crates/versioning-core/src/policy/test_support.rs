//! Helpers shared by the policy module's unit tests.
#![allow(clippy::unwrap_used)]

use crate::{TimeDelta, Timestamp};

pub(super) fn base() -> Timestamp {
    Timestamp::from_timestamp(1_760_000_000, 0).unwrap()
}

/// `base()` moved by `minutes`.
pub(super) fn at(minutes: i64) -> Timestamp {
    base() + TimeDelta::minutes(minutes)
}
