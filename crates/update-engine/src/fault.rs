//! Crash points for testing recovery: the end-to-end tests prove that an update killed at
//! any step is finished or undone by the next run, so they need the process to die at an
//! exact step, as a `kill -9` or a power cut would leave it.
//!
//! Built only with the `crash-points` feature, which the CLI's tests turn on: then, when the
//! environment variable [`CRASH_AT`] names a point, the process aborts there (no destructors,
//! no flushing, no cleanup). Without the feature a point is an empty function, and nothing
//! reads the environment: a shipped binary cannot be made to crash this way.

/// The environment variable that names the crash point, such as `after-stop`.
#[cfg_attr(not(feature = "crash-points"), allow(dead_code))]
pub(crate) const CRASH_AT: &str = "UPKEEP_TEST_CRASH_AT";

/// The points an update passes, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrashPoint {
    /// The journal records the intent; nothing is touched.
    AfterIntent,
    /// The new image is pulled.
    AfterPull,
    /// The running image is kept for a rollback.
    AfterKeep,
    /// The running container is stopped.
    AfterStop,
    /// The new container is created.
    AfterCreate,
    /// The new container is started.
    AfterStart,
    /// The new version is healthy; the manifest is about to record it.
    BeforeRecord,
    /// The manifest records the new version; the journal is still there.
    AfterRecord,
}

impl CrashPoint {
    /// The name [`CRASH_AT`] gives it.
    #[cfg_attr(not(feature = "crash-points"), allow(dead_code))]
    fn as_str(self) -> &'static str {
        match self {
            Self::AfterIntent => "after-intent",
            Self::AfterPull => "after-pull",
            Self::AfterKeep => "after-keep",
            Self::AfterStop => "after-stop",
            Self::AfterCreate => "after-create",
            Self::AfterStart => "after-start",
            Self::BeforeRecord => "before-record",
            Self::AfterRecord => "after-record",
        }
    }
}

/// Aborts the process if [`CRASH_AT`] names `point`.
#[cfg(feature = "crash-points")]
pub(crate) fn point(point: CrashPoint) {
    let point = point.as_str();
    if std::env::var(CRASH_AT).is_ok_and(|wanted| wanted == point) {
        // Standard error is unbuffered, so the test sees where the process died.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("upkeep: crashing at {point} ({CRASH_AT} is set)");
        }
        std::process::abort();
    }
}

/// Nothing: this build has no crash points.
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub(crate) fn point(_point: CrashPoint) {}
