//! Helpers shared by the policy module's and the planner's unit tests.
#![allow(clippy::unwrap_used)]

use crate::{TimeDelta, Timestamp};

pub(crate) fn base() -> Timestamp {
    Timestamp::from_timestamp(1_760_000_000, 0).unwrap()
}

/// `base()` moved by `minutes`.
pub(crate) fn at(minutes: i64) -> Timestamp {
    base() + TimeDelta::minutes(minutes)
}
