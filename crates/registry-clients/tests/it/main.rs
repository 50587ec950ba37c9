//! registry-clients' one integration-test binary: the clients against real registries
//! (Debian's docker-registry, started per test by `upkeep-test-registry`, without auth, with htpasswd Basic
//! auth and with token auth), through a fault-injecting proxy, against in-process servers
//! that play documented shapes a real registry cannot show (`mock_registry`), and against
//! hostile ones (`hostile_registry`).
#![allow(clippy::unwrap_used)]

mod fault_proxy;
mod faults;
mod harness;
mod hosted;
mod hostile_registry;
mod mock_registry;
mod real_registry;
