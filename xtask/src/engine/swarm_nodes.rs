//! Swarm mode calls: init, join, leave (placeholder, being written).
