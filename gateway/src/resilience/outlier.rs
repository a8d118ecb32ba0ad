//! Passive outlier ejection: a backend that fails several exchanges in a row is taken out of
//! the rotation for a while, longer each time it is ejected again.
//!
//! Only *gateway* failures count (could not connect, timed out, reset, or the backend said
//! 502/503/504 itself): a 500 on one page is that page's problem, and counting it would let
//! any citizen eject a healthy backend by asking for a broken URL. A run of failures a client
//! could have chosen (a slow page's timeouts) ejects only once three addresses met them, as
//! for the breaker ([`super::breaker::Failure`]): found when tried, ten requests for a slow
//! page from one address ejected a healthy backend, for twice as long each time. At most half of a
//! service's backends are ejected at once, so one always stays (a service with one backend
//! is never ejected: its circuit breaker does that job).

use super::breaker::{Askers, Failure};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
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
    /// Who met the current run of failures (locked on failures only).
    askers: Mutex<Askers>,
}

impl BackendState {
    fn askers(&self) -> std::sync::MutexGuard<'_, Askers> {
        // A plain value: a panic elsewhere cannot leave it half-written.
        self.askers.lock().unwrap_or_else(|p| p.into_inner())
    }
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
                    askers: Mutex::default(),
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

    /// `addr` answered an exchange at `at` (`failure` is `None`), or failed it.
    pub fn record(&self, addr: SocketAddr, failure: Option<Failure>, at: Instant) -> Ejection {
        let Some(b) = self.state(addr) else {
            return Ejection::None;
        };
        let Some(failure) = failure else {
            // Every answer passes here: writing only when there is something to reset keeps
            // the backend's cache line shared between worker threads instead of bouncing it.
            if b.failures.load(Ordering::Relaxed) != 0 {
                b.failures.store(0, Ordering::Release);
                *b.askers() = Askers::default();
            }
            let until = b.ejected_until.load(Ordering::Acquire);
            if until != 0 && until <= self.now(at) {
                b.ejections.store(0, Ordering::Release);
                b.ejected_until.store(0, Ordering::Release);
            }
            return Ejection::None;
        };
        let now = self.now(at);
        if b.ejected_until.load(Ordering::Acquire) > now {
            // Out already: a failure of a request sent before the ejection counts for no
            // run (found when tried: two reported at once each ejected it, the second
            // doubling the first's length).
            return Ejection::None;
        }
        let threshold = self.settings.consecutive_failures;
        let failures = b.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let enough = {
            let mut askers = b.askers();
            askers.add(failure);
            askers.enough()
        };
        if threshold == 0 || failures < threshold || !enough || self.backends.len() < 2 {
            return Ejection::None;
        }
        // One backend always stays in.
        if (self.ejected_now(at) + 1) * 2 > self.backends.len() {
            return Ejection::None;
        }
        let until = b.ejected_until.load(Ordering::Acquire);
        if until > now {
            return Ejection::None;
        }
        let n = b.ejections.load(Ordering::Acquire).min(16);
        let length = self
            .settings
            .base_ejection
            .saturating_mul(1 << n)
            .min(self.settings.max_ejection);
        // One of two failures reported at once ejects.
        let out_until = now + length.as_nanos() as u64;
        if b.ejected_until
            .compare_exchange(until, out_until, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Ejection::None;
        }
        b.ejections.fetch_add(1, Ordering::AcqRel);
        b.failures.store(0, Ordering::Release);
        *b.askers() = Askers::default();
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

    const ANYONE: Option<Failure> = Some(Failure::Anyone);

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
        assert_eq!(o.record(b[0], ANYONE, t), Ejection::None);
        assert_eq!(o.record(b[0], ANYONE, t), Ejection::None);
        assert_eq!(
            o.record(b[0], ANYONE, t),
            Ejection::Ejected(Duration::from_secs(10))
        );
        assert!(o.is_ejected(b[0], t + Duration::from_secs(9)));
        assert!(!o.is_ejected(b[0], t + Duration::from_secs(11)));
        assert!(!o.is_ejected(b[1], t));
    }

    fn asked_by(last_octet: u8) -> Option<Failure> {
        Some(Failure::AskedBy(Some(std::net::IpAddr::from([
            10, 0, 0, last_octet,
        ]))))
    }

    #[test]
    fn failures_one_address_asked_for_never_eject_however_many() {
        let b = addrs(2);
        let o = Outliers::new(settings(), &b);
        let t = Instant::now();
        for _ in 0..20 {
            assert_eq!(o.record(b[0], asked_by(7), t), Ejection::None);
        }
        assert!(!o.is_ejected(b[0], t));
    }

    #[test]
    fn failures_asked_for_from_three_addresses_eject() {
        let b = addrs(2);
        let o = Outliers::new(settings(), &b);
        let t = Instant::now();
        assert_eq!(o.record(b[0], asked_by(1), t), Ejection::None);
        assert_eq!(o.record(b[0], asked_by(2), t), Ejection::None);
        assert_eq!(
            o.record(b[0], asked_by(3), t),
            Ejection::Ejected(Duration::from_secs(10))
        );
    }

    #[test]
    fn failures_met_while_out_do_not_eject_it_again() {
        let b = addrs(2);
        let o = Outliers::new(settings(), &b);
        let t = Instant::now();
        let ejections = (0..6)
            .filter(|_| o.record(b[0], ANYONE, t) != Ejection::None)
            .count();
        assert_eq!(
            ejections, 1,
            "requests sent before the ejection fail after it"
        );
        let later = t + Duration::from_secs(11);
        let lengths: Vec<Ejection> = (0..3).map(|_| o.record(b[0], ANYONE, later)).collect();
        assert_eq!(
            lengths[2],
            Ejection::Ejected(Duration::from_secs(20)),
            "the next step"
        );
    }

    #[test]
    fn a_success_in_between_resets_the_count() {
        let b = addrs(2);
        let o = Outliers::new(settings(), &b);
        let t = Instant::now();
        o.record(b[0], ANYONE, t);
        o.record(b[0], ANYONE, t);
        o.record(b[0], None, t);
        assert_eq!(o.record(b[0], ANYONE, t), Ejection::None);
    }

    #[test]
    fn each_new_ejection_lasts_twice_as_long_up_to_the_maximum() {
        let b = addrs(2);
        let o = Outliers::new(settings(), &b);
        let mut t = Instant::now();
        let mut lengths = Vec::new();
        for _ in 0..4 {
            for _ in 0..3 {
                if let Ejection::Ejected(d) = o.record(b[0], ANYONE, t) {
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
            o.record(b[0], ANYONE, t);
        }
        for _ in 0..3 {
            assert_eq!(o.record(b[1], ANYONE, t), Ejection::None);
        }
        assert!(!o.is_ejected(b[1], t));
        let one = addrs(1);
        let single = Outliers::new(settings(), &one);
        for _ in 0..10 {
            assert_eq!(single.record(one[0], ANYONE, t), Ejection::None);
        }
    }
}
