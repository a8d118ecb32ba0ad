//! What the process's open-file limit allows: the default of `limits.max_connections`,
//! which the connection caps (`limits`) hold citizens to and the per-service bulkheads
//! (`resilience::bulkhead`, sized by the registry) take their share of.

/// The default global cap: what the open-file limit leaves once every connection may have
/// an upstream connection of its own and the process keeps a reserve for its files, pools
/// and side listeners. Raises the soft limit to the hard one first, as nginx's
/// `worker_rlimit_nofile` would.
pub fn default_max_connections() -> usize {
    let limit = raise_open_file_limit();
    (limit.saturating_sub(RESERVED_DESCRIPTORS) / 2).max(64)
}

/// Descriptors kept for everything that is not a citizen's connection.
const RESERVED_DESCRIPTORS: usize = 256;

fn raise_open_file_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
}
