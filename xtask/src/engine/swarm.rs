//! Swarm objects: services, tasks, secrets, overlay networks, nodes.
