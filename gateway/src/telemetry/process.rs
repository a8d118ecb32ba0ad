//! The process's own series, under the names every Prometheus client library gives them
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_start_time_seconds`, `process_open_fds`, `process_max_fds`), read from
//! `/proc/self` at each scrape (Linux; elsewhere they stay at 0).
//!
//! Why an SRE needs them from the gateway itself: requests per CPU-second of each instance
//! (what decides how many machines a country needs), its memory under load, a restart or
//! an upgrade seen as a new start time (found when tried: during an upgrade, `/metrics` on
//! the shared port answered from either process, and nothing told which), and descriptors
//! running out, which fails every service at once. Nothing here runs per request.

use prometheus::{Counter, Gauge, IntGauge, Registry};

/// The registered series and what the last scrape read of CPU time.
pub struct ProcessMetrics {
    cpu_seconds: Counter,
    resident_bytes: IntGauge,
    start_time: Gauge,
    open_fds: IntGauge,
    max_fds: IntGauge,
}

impl ProcessMetrics {
    /// Registers the series in `r`; the start time is read now, once.
    pub fn register(r: &Registry) -> prometheus::Result<Self> {
        let cpu_seconds = Counter::new(
            "process_cpu_seconds_total",
            "CPU time the process has used, user and system, in seconds.",
        )?;
        let resident_bytes = IntGauge::new(
            "process_resident_memory_bytes",
            "The process's resident memory in bytes.",
        )?;
        let start_time = Gauge::new(
            "process_start_time_seconds",
            "When the process started, in seconds since the Unix epoch.",
        )?;
        let open_fds = IntGauge::new("process_open_fds", "Open file descriptors.")?;
        let max_fds = IntGauge::new(
            "process_max_fds",
            "The process's limit on open file descriptors.",
        )?;
        for collector in [&resident_bytes, &open_fds, &max_fds] {
            r.register(Box::new(collector.clone()))?;
        }
        r.register(Box::new(cpu_seconds.clone()))?;
        r.register(Box::new(start_time.clone()))?;
        if let Some(start) = start_time_seconds() {
            start_time.set(start);
        }
        Ok(Self {
            cpu_seconds,
            resident_bytes,
            start_time,
            open_fds,
            max_fds,
        })
    }

    /// Reads the figures that change, before a scrape is rendered.
    pub fn read(&self) {
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds
                .set(i64::try_from(entries.count()).unwrap_or(i64::MAX));
        }
        if let Some(limit) = open_files_limit() {
            self.max_fds.set(limit);
        }
        if let Some(stat) = Stat::read() {
            // A counter only goes up: it is moved by what was used since the last scrape.
            let used = stat.cpu_seconds() - self.cpu_seconds.get();
            if used > 0.0 {
                self.cpu_seconds.inc_by(used);
            }
            self.resident_bytes.set(stat.resident_bytes());
        }
        if self.start_time.get() == 0.0 {
            if let Some(start) = start_time_seconds() {
                self.start_time.set(start);
            }
        }
    }
}

/// The soft limit on open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<i64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse::<i64>()
        .ok()
}

/// What `/proc/self/stat` says of the process (proc(5)): CPU time in clock ticks, start
/// time in ticks since boot, resident pages.
#[derive(Debug, PartialEq)]
struct Stat {
    utime: u64,
    stime: u64,
    starttime: u64,
    rss_pages: i64,
}

impl Stat {
    fn read() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/self/stat").ok()?)
    }

    /// The fields after the command name, which is in parentheses and may hold spaces and
    /// parentheses itself: read from the last `)`.
    fn parse(text: &str) -> Option<Self> {
        let rest = &text[text.rfind(')')? + 1..];
        // `rest` starts at field 3 (state); utime is field 14, stime 15, starttime 22, rss 24.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).copied();
        Some(Self {
            utime: field(14)?.parse().ok()?,
            stime: field(15)?.parse().ok()?,
            starttime: field(22)?.parse().ok()?,
            rss_pages: field(24)?.parse().ok()?,
        })
    }

    fn cpu_seconds(&self) -> f64 {
        (self.utime + self.stime) as f64 / ticks_per_second()
    }

    // `c_long` is `i32` on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    fn resident_bytes(&self) -> i64 {
        self.rss_pages.saturating_mul(i64::from(page_size()))
    }
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn page_size() -> libc::c_long {
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size
    } else {
        4096
    }
}

/// The process's start: the boot time (`btime` of `/proc/stat`) plus its start in ticks.
fn start_time_seconds() -> Option<f64> {
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(boot + Stat::read()?.starttime as f64 / ticks_per_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let line = "4242 (egov) gw (x)) S 1 4242 4242 0 -1 4194560 9 0 0 0 \
                    250 75 0 0 20 0 3 0 123456 1000000 2560 18446744073709551615";
        assert_eq!(
            Stat::parse(line),
            Some(Stat {
                utime: 250,
                stime: 75,
                starttime: 123456,
                rss_pages: 2560
            })
        );
        assert_eq!(Stat::parse("4242 (cut short) S 1"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_scrape_reads_cpu_time_memory_start_and_descriptors_of_this_process() {
        let r = Registry::new();
        let process = ProcessMetrics::register(&r).expect("registered");
        // Some CPU time to count.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        process.read();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        let start = process.start_time.get();
        assert!(
            start > now - 3600.0 && start <= now + 1.0,
            "{start} vs {now}"
        );
        assert!(process.cpu_seconds.get() > 0.0);
        assert!(process.resident_bytes.get() > 1 << 20, "at least a MiB");
        let (open, max) = (process.open_fds.get(), process.max_fds.get());
        assert!(open >= 3 && max >= open, "{open} of {max}");
        let before = process.cpu_seconds.get();
        process.read();
        assert!(
            process.cpu_seconds.get() >= before,
            "a counter never goes down"
        );
    }
}
