//! Passive outlier ejection: a backend that fails several exchanges in a row is taken out of
//! the rotation for a while, longer each time it is ejected again.
//!
//! Only *gateway* failures count (could not connect, timed out, reset, or the backend said
//! 502/503/504 itself): a 500 on one page is that page's problem, and counting it would let
//! any citizen eject a healthy backend by asking for a broken URL. At most half of a
//! service's backends are ejected at once, so one always stays (a service with one backend
//! is never ejected: its circuit breaker does that job).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use crate::config::OutlierConfig as OutlierSettings;

#[derive(Debug)]
struct BackendState {
    addr: SocketAddr,
    failures: AtomicU32,
    /// Times ejected since it last answered well after an ejection.
    ejections: AtomicU32,
    /// Nanoseconds since `epoch` until which it is out; 0 when in.
    ejected_until: AtomicU64,
}

/// The ejection state of one service's backends.
#[derive(Debug)]
pub struct Outliers {
    settings: OutlierSettings,
    epoch: Instant,
    backends: Vec<BackendState>,
}

/// What a reported result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ejection {
    None,
    /// The backend was just ejected for this long.
    Ejected(Duration),
}

impl Outliers {
    pub fn new(settings: OutlierSettings, backends: &[SocketAddr]) -> Self {
        Self {
            settings,
            epoch: Instant::now(),
            backends: backends
                .iter()
                .map(|&addr| BackendState {
                    addr,
                    failures: AtomicU32::new(0),
                    ejections: AtomicU32::new(0),
                    ejected_until: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    fn now(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn state(&self, addr: SocketAddr) -> Option<&BackendState> {
        self.backends.iter().find(|b| b.addr == addr)
    }

    /// Whether any backend was ever ejected and not yet found back in: when none was, a
    /// backend choice needs neither the clock nor a lookup.
    pub fn any_marked(&self) -> bool {
        self.backends
            .iter()
            .any(|b| b.ejected_until.load(Ordering::Relaxed) != 0)
    }

    /// Whether `addr` is out of the rotation at `at`.
    pub fn is_ejected(&self, addr: SocketAddr, at: Instant) -> bool {
        self.state(addr)
            .is_some_and(|b| b.ejected_until.load(Ordering::Acquire) > self.now(at))
    }

    fn ejected_now(&self, at: Instant) -> usize {
        let now = self.now(at);
        self.backends
            .iter()
            .filter(|b| b.ejected_until.load(Ordering::Acquire) > now)
            .count()
    }

    /// `addr` answered (or failed) an exchange at `at`.
    pub fn record(&self, addr: SocketAddr, gateway_failure: bool, at: Instant) -> Ejection {
        let Some(b) = self.state(addr) else {
            return Ejection::None;
        };
        if !gateway_failure {
            // Every answer passes here: writing only when there is something to reset keeps
            // the backend's cache line shared between worker threads instead of bouncing it.
            if b.failures.load(Ordering::Relaxed) != 0 {
                b.failures.store(0, Ordering::Release);
            }
            let until = b.ejected_until.load(Ordering::Acquire);
            if until != 0 && until <= self.now(at) {
                b.ejections.store(0, Ordering::Release);
                b.ejected_until.store(0, Ordering::Release);
            }
            return Ejection::None;
        }
        let threshold = self.settings.consecutive_failures;
        let failures = b.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if threshold == 0 || failures < threshold || self.backends.len() < 2 {
            return Ejection::None;
        }
        // One backend always stays in.
        if (self.ejected_now(at) + 1) * 2 > self.backends.len() {
            return Ejection::None;
        }
        let n = b.ejections.fetch_add(1, Ordering::AcqRel).min(16);
        let length = self
            .settings
            .base_ejection
            .saturating_mul(1 << n)
            .min(self.settings.max_ejection);
        b.failures.store(0, Ordering::Release);
        b.ejected_until
            .store(self.now(at) + length.as_nanos() as u64, Ordering::Release);
        Ejection::Ejected(length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(n: u16) -> Vec<SocketAddr> {
        (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 1000 + i)))
            .collect()
    }

    fn settings() -> OutlierSettings {
        OutlierSettings {
            consecutive_failures: 3,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(60),
        }
    }

    #[test]
    fn consecutive_gateway_failures_eject_a_backend_for_a_while() {
        let b = addrs(2);
        let o = Outliers::new(settings(), &b);
        let t = Instant::now();
        assert_eq!(o.record(b[0], true, t), Ejection::None);
        assert_eq!(o.record(b[0], true, t), Ejection::None);
        assert_eq!(
            o.record(b[0], true, t),
            Ejection::Ejected(Duration::from_secs(10))
        );
        assert!(o.is_ejected(b[0], t + Duration::from_secs(9)));
        assert!(!o.is_ejected(b[0], t + Duration::from_secs(11)));
        assert!(!o.is_ejected(b[1], t));
    }

    #[test]
    fn a_success_in_between_resets_the_count() {
        let b = addrs(2);
        let o = Outliers::new(settings(), &b);
        let t = Instant::now();
        o.record(b[0], true, t);
        o.record(b[0], true, t);
        o.record(b[0], false, t);
        assert_eq!(o.record(b[0], true, t), Ejection::None);
    }

    #[test]
    fn each_new_ejection_lasts_twice_as_long_up_to_the_maximum() {
        let b = addrs(2);
        let o = Outliers::new(settings(), &b);
        let mut t = Instant::now();
        let mut lengths = Vec::new();
        for _ in 0..4 {
            for _ in 0..3 {
                if let Ejection::Ejected(d) = o.record(b[0], true, t) {
                    lengths.push(d.as_secs());
                }
            }
            t += Duration::from_secs(120);
        }
        assert_eq!(lengths, [10, 20, 40, 60]);
    }

    #[test]
    fn at_most_half_the_backends_are_ejected_and_a_single_one_never() {
        let b = addrs(2);
        let o = Outliers::new(settings(), &b);
        let t = Instant::now();
        for _ in 0..3 {
            o.record(b[0], true, t);
        }
        for _ in 0..3 {
            assert_eq!(o.record(b[1], true, t), Ejection::None);
        }
        assert!(!o.is_ejected(b[1], t));
        let one = addrs(1);
        let single = Outliers::new(settings(), &one);
        for _ in 0..10 {
            assert_eq!(single.record(one[0], true, t), Ejection::None);
        }
    }
}
