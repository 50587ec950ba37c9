//! Crash points for testing recovery: the end-to-end tests prove that an update killed at
//! any step is finished or undone by the next run, so they need the process to die at an
//! exact step, as a `kill -9` or a power cut would leave it.
//!
//! When the environment variable [`CRASH_AT`] names a point, the process aborts there: no
//! destructors, no flushing, no cleanup. Nothing else reads it; unset, a point costs one
//! environment lookup.

/// The environment variable that names the crash point, such as `after-stop`.
pub const CRASH_AT: &str = "UPKEEP_TEST_CRASH_AT";

/// The points an update passes, in order.
pub const POINTS: &[&str] = &[
    "after-intent",
    "after-pull",
    "after-keep",
    "after-stop",
    "after-create",
    "after-start",
    "before-record",
    "after-record",
];

/// Aborts the process if [`CRASH_AT`] names `point`.
pub fn point(point: &str) {
    if std::env::var(CRASH_AT).is_ok_and(|wanted| wanted == point) {
        // Standard error is unbuffered, so the test sees where the process died.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("upkeep: crashing at {point} ({CRASH_AT} is set)");
        }
        std::process::abort();
    }
}
