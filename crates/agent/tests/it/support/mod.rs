//! Services the agent's tests start for themselves.

pub(crate) mod agent_process;
pub(crate) mod postgres;
