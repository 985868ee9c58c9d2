//! The Swarm target.
