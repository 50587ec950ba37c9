//! registry-clients' one integration-test binary: the clients against in-process servers
//! that play a registry's documented shapes and faults (`mock_registry`).
#![allow(clippy::unwrap_used)]

mod mock_registry;
