//! A local multi-node Docker Swarm (placeholder, being written).
pub(crate) mod command;
