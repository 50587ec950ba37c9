//! Where the current time comes from, for the crates around the core that must ask: a
//! [`Clock`] is handed to them, so tests can fix and move time with a [`ManualClock`].
//!
//! # What this module does not do
//! Nothing else in the core reads a clock: its functions keep taking `now` as an argument.
//! [`SystemClock`] is the one place that reads the real time, for frontends and clients to
//! pass around; the core's own logic never calls it.

use std::sync::{Mutex, PoisonError};

use crate::{TimeDelta, Timestamp};

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The time now.
    fn now(&self) -> Timestamp;
}

/// The real time, from the operating system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one sanctioned read of the clock: the crate's clippy.toml forbids it everywhere
    // else, so that the core's decisions stay functions of their arguments.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        Timestamp::from(std::time::SystemTime::now())
    }
}

/// A clock that shows the time it is set to until it is set or advanced again; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: Timestamp) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// Shows `now` from here on.
    pub fn set(&self, now: Timestamp) {
        *self.lock() = now;
    }

    /// Moves the time forward by `by` (backward when negative); a move past the end of
    /// representable time stops there.
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.lock();
        *now = now
            .checked_add_signed(by)
            .unwrap_or(if by < TimeDelta::zero() {
                Timestamp::MIN_UTC
            } else {
                Timestamp::MAX_UTC
            });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        // A panic while holding the lock cannot leave a half-written time behind.
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn time(text: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_manual_clock_shows_what_it_is_set_to() {
        let clock = ManualClock::new(time("2025-01-01T00:00:00Z"));
        assert_eq!(clock.now(), time("2025-01-01T00:00:00Z"));
        assert_eq!(clock.now(), time("2025-01-01T00:00:00Z"));
        clock.advance(TimeDelta::minutes(90));
        assert_eq!(clock.now(), time("2025-01-01T01:30:00Z"));
        clock.advance(TimeDelta::seconds(-30));
        assert_eq!(clock.now(), time("2025-01-01T01:29:30Z"));
        clock.set(time("2024-06-01T12:00:00Z"));
        assert_eq!(clock.now(), time("2024-06-01T12:00:00Z"));
        clock.advance(TimeDelta::MAX);
        assert_eq!(clock.now(), Timestamp::MAX_UTC);
    }

    #[test]
    fn clocks_are_shared_as_trait_objects() {
        let manual = Arc::new(ManualClock::new(time("2025-01-01T00:00:00Z")));
        let shared: Arc<dyn Clock> = manual.clone();
        manual.advance(TimeDelta::hours(1));
        assert_eq!(shared.now(), time("2025-01-01T01:00:00Z"));
        let system: Arc<dyn Clock> = Arc::new(SystemClock);
        assert!(system.now() > time("2025-01-01T00:00:00Z"));
    }
}
