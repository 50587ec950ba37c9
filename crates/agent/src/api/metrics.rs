//! What the agent counts, for `/metrics`: counters the daemon increments as it works, written
//! out in Prometheus's text exposition format (version 0.0.4).
//!
//! The daemon creates one [`Metrics`], hands a clone of its `Arc` to
//! [`ApiState::new`](super::ApiState::new), and increments the fields as things happen:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use upkeep_agent::api::Metrics;
//!
//! let metrics = Arc::new(Metrics::default());
//! metrics.checks.inc();
//! metrics.registry_requests.add(3);
//! metrics.record_cycle(Duration::from_millis(1500));
//! assert!(metrics.render().contains("\nupkeep_agent_checks_total 1\n"));
//! ```
//!
//! Every value is read on its own, without a lock: a scrape taken during
//! [`Metrics::record_cycle`] may see the new count before the new sum.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A number that only grows, from 0 when the agent starts.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The agent's metrics. The daemon increments the counters; the webhook route counts its own
/// deliveries.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Registry checks of a deployment, whatever their outcome: one per deployment checked.
    pub checks: Counter,
    /// Updates applied and healthy.
    pub updates_applied: Counter,
    /// Updates rolled back, by the engine after a failed health check or through the API.
    pub rollbacks: Counter,
    /// Updates cut short because the Docker Engine stopped answering; recovery finishes or
    /// undoes them.
    pub updates_interrupted: Counter,
    /// HTTP requests made to registries, cached answers not included.
    pub registry_requests: Counter,
    /// Registry answers with status 429 (rate limited).
    pub registry_rate_limited: Counter,
    /// Notifications delivered to a target.
    pub notifications_sent: Counter,
    /// Notifications given up on after their retries.
    pub notifications_failed: Counter,
    /// Webhook deliveries accepted (counted by the webhook route).
    pub webhooks_accepted: Counter,
    /// Webhook deliveries refused: bad credentials, unreadable, from a registry not allowed
    /// (counted by the webhook route).
    pub webhooks_refused: Counter,
    cycles: Counter,
    cycle_micros_total: Counter,
    last_cycle_micros: AtomicU64,
}

impl Metrics {
    /// Records that a cycle over every deployment took `duration`.
    pub fn record_cycle(&self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.last_cycle_micros.store(micros, Ordering::Relaxed);
        self.cycle_micros_total.add(micros);
        self.cycles.inc();
    }

    /// The metrics in Prometheus's text exposition format: for each metric a `# HELP` line, a
    /// `# TYPE` line and its samples, all names prefixed `upkeep_agent_`.
    pub fn render(&self) -> String {
        let counters: [(&str, &str, &Counter); 10] = [
            (
                "checks_total",
                "Registry checks of a deployment, whatever their outcome.",
                &self.checks,
            ),
            (
                "updates_applied_total",
                "Updates applied and healthy.",
                &self.updates_applied,
            ),
            ("rollbacks_total", "Updates rolled back.", &self.rollbacks),
            (
                "updates_interrupted_total",
                "Updates cut short because the Docker Engine stopped answering.",
                &self.updates_interrupted,
            ),
            (
                "registry_requests_total",
                "HTTP requests made to registries.",
                &self.registry_requests,
            ),
            (
                "registry_rate_limited_total",
                "Registry answers with status 429 (rate limited).",
                &self.registry_rate_limited,
            ),
            (
                "notifications_sent_total",
                "Notifications delivered.",
                &self.notifications_sent,
            ),
            (
                "notifications_failed_total",
                "Notifications given up on after their retries.",
                &self.notifications_failed,
            ),
            (
                "webhooks_accepted_total",
                "Webhook deliveries accepted.",
                &self.webhooks_accepted,
            ),
            (
                "webhooks_refused_total",
                "Webhook deliveries refused.",
                &self.webhooks_refused,
            ),
        ];
        let mut text = String::new();
        for (name, help, counter) in counters {
            family(&mut text, name, help, "counter");
            sample(&mut text, name, counter.get());
        }
        family(
            &mut text,
            "last_cycle_duration_seconds",
            "How long the last cycle over every deployment took.",
            "gauge",
        );
        sample(
            &mut text,
            "last_cycle_duration_seconds",
            seconds(self.last_cycle_micros.load(Ordering::Relaxed)),
        );
        family(
            &mut text,
            "cycle_duration_seconds",
            "How long cycles over every deployment took.",
            "summary",
        );
        sample(
            &mut text,
            "cycle_duration_seconds_sum",
            seconds(self.cycle_micros_total.get()),
        );
        sample(&mut text, "cycle_duration_seconds_count", self.cycles.get());
        text
    }
}

/// The `Content-Type` of [`Metrics::render`]'s text.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const PREFIX: &str = "upkeep_agent_";

fn family(text: &mut String, name: &str, help: &str, kind: &str) {
    // Writing to a `String` cannot fail.
    let _ = writeln!(text, "# HELP {PREFIX}{name} {help}");
    let _ = writeln!(text, "# TYPE {PREFIX}{name} {kind}");
}

fn sample(text: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(text, "{PREFIX}{name} {value}");
}

/// Microseconds as seconds; `Display` of an `f64` is a valid sample value (`1.5`, `0`).
fn seconds(micros: u64) -> f64 {
    // Exact below 2^53 µs (285 years).
    micros as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_a_gauge_and_a_summary() {
        let metrics = Metrics::default();
        metrics.record_cycle(Duration::from_millis(1500));
        metrics.record_cycle(Duration::from_millis(250));
        let text = metrics.render();
        let tail: Vec<&str> = text.lines().skip(10 * 3).collect();
        assert_eq!(
            tail,
            [
                "# HELP upkeep_agent_last_cycle_duration_seconds How long the last cycle over every deployment took.",
                "# TYPE upkeep_agent_last_cycle_duration_seconds gauge",
                "upkeep_agent_last_cycle_duration_seconds 0.25",
                "# HELP upkeep_agent_cycle_duration_seconds How long cycles over every deployment took.",
                "# TYPE upkeep_agent_cycle_duration_seconds summary",
                "upkeep_agent_cycle_duration_seconds_sum 1.75",
                "upkeep_agent_cycle_duration_seconds_count 2",
            ]
        );
    }
}
