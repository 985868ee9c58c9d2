//! Keeping a measured balancer and the load apart on a shared host: the balancer on one
//! CPU, the load generator on another, so neither's work lands in the other's figures.
use anyhow::Context as _;

/// The CPU a measured balancer runs on.
pub(crate) const BALANCER: usize = 0;
/// The CPU the load generator runs on: apart from the balancer's.
pub(crate) const LOAD: usize = 1;

/// Whether this host has a CPU for each (a host with one CPU cannot keep them apart).
pub(crate) fn can_pin() -> bool {
    std::thread::available_parallelism().map_or(1, |n| n.get()) > LOAD
}

/// The host's online CPUs as a cpuset list (`0-1`): where a container ran before it was
/// pinned.
pub(crate) fn online() -> String {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map(|text| text.trim().to_string())
        .ok()
        .filter(|cpus| !cpus.is_empty())
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            format!("0-{}", n - 1)
        })
}

/// sched_setaffinity for the calling thread only.
pub(crate) fn pin_this_thread(cpu: usize) -> anyhow::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET stays within it for cpu < CPU_SETSIZE, and
    // pid 0 names the calling thread.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        anyhow::ensure!(cpu < libc::CPU_SETSIZE as usize, "no CPU {cpu}");
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if result != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("pinning this thread to CPU {cpu}"));
    }
    Ok(())
}
