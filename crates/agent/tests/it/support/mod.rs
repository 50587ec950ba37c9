//! Services the agent's tests start for themselves.

pub(crate) mod postgres;
