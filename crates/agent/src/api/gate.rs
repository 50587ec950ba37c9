//! What keeps a burst of webhook deliveries from becoming a burst of checks: GitHub's replayed
//! deliveries are recognised by their `X-GitHub-Delivery` id, and the checks pushes trigger
//! run at most once per deployment per interval, later pushes folded into one check at the
//! interval's end.
//!
//! It decides only; the webhook route queues the checks.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many GitHub delivery ids are remembered: GitHub redelivers within minutes, and far
/// fewer than this arrive in that time.
const RECENT_DELIVERIES: usize = 4096;
/// The longest delivery id kept; GitHub's are 36-character UUIDs.
const MAX_DELIVERY_ID: usize = 128;

/// The webhook route's memory of deliveries and of the checks they triggered.
#[derive(Default)]
pub(super) struct WebhookGate {
    deliveries: Mutex<RecentDeliveries>,
    deployments: Mutex<BTreeMap<String, Triggered>>,
}

/// When a push's check of a deployment may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// Now.
    Now,
    /// After this wait: the deployment was checked by a push less than an interval ago.
    After(Duration),
    /// Not at all: a check after the wait is already queued, and covers this push too.
    Coalesced,
}

#[derive(Default)]
struct RecentDeliveries {
    order: VecDeque<String>,
    known: HashSet<String>,
}

struct Triggered {
    /// When the last check by push ran (or was queued).
    at: Instant,
    /// Whether a check waits for the interval's end.
    deferred: bool,
}

impl WebhookGate {
    /// True the first time delivery `id` is seen, among the recent ones.
    pub(super) fn first_delivery(&self, id: &str) -> bool {
        let id: String = id.chars().take(MAX_DELIVERY_ID).collect();
        let Ok(mut recent) = self.deliveries.lock() else {
            return true;
        };
        if recent.known.contains(&id) {
            return false;
        }
        recent.known.insert(id.clone());
        recent.order.push_back(id);
        if recent.order.len() > RECENT_DELIVERIES
            && let Some(oldest) = recent.order.pop_front()
        {
            recent.known.remove(&oldest);
        }
        true
    }

    /// When a check of `deployment` asked for by a push at `now` may run, given at most one
    /// per `interval`; records the answer.
    pub(super) fn admit(&self, deployment: &str, now: Instant, interval: Duration) -> Admission {
        let Ok(mut deployments) = self.deployments.lock() else {
            return Admission::Now;
        };
        let Some(triggered) = deployments.get_mut(deployment) else {
            deployments.insert(
                deployment.to_owned(),
                Triggered {
                    at: now,
                    deferred: false,
                },
            );
            return Admission::Now;
        };
        if triggered.deferred {
            return Admission::Coalesced;
        }
        let since = now.saturating_duration_since(triggered.at);
        if since >= interval {
            triggered.at = now;
            Admission::Now
        } else {
            triggered.deferred = true;
            Admission::After(interval - since)
        }
    }

    /// Records that the deferred check of `deployment` runs at `now`.
    pub(super) fn deferred_ran(&self, deployment: &str, now: Instant) {
        if let Ok(mut deployments) = self.deployments.lock()
            && let Some(triggered) = deployments.get_mut(deployment)
        {
            triggered.at = now;
            triggered.deferred = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_one_check_now_and_one_at_the_interval_end() {
        let gate = WebhookGate::default();
        let start = Instant::now();
        let interval = Duration::from_secs(30);
        let at = |seconds| start + Duration::from_secs(seconds);
        assert_eq!(gate.admit("web", at(0), interval), Admission::Now);
        assert_eq!(
            gate.admit("web", at(10), interval),
            Admission::After(Duration::from_secs(20))
        );
        assert_eq!(gate.admit("web", at(11), interval), Admission::Coalesced);
        assert_eq!(gate.admit("api", at(11), interval), Admission::Now);
        gate.deferred_ran("web", at(30));
        assert_eq!(
            gate.admit("web", at(40), interval),
            Admission::After(Duration::from_secs(20))
        );
        gate.deferred_ran("web", at(60));
        assert_eq!(gate.admit("web", at(95), interval), Admission::Now);
    }

    #[test]
    fn deliveries_are_remembered_up_to_a_bound() {
        let gate = WebhookGate::default();
        assert!(gate.first_delivery("a"));
        assert!(!gate.first_delivery("a"));
        for n in 0..RECENT_DELIVERIES {
            assert!(gate.first_delivery(&n.to_string()));
        }
        // `a` is the oldest, and forgotten.
        assert!(gate.first_delivery("a"));
        assert!(!gate.first_delivery("4095"));
    }
}
