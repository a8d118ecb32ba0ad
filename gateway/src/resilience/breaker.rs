//! A circuit breaker: in front of the routing LLM, and in front of each service's backends.
//!
//! When a dependency is down, slow, rate-limiting us or answering nonsense, every request
//! that asks it would wait for its deadline and fail anyway (the LLM's callers then fall
//! back to the local ranker; a service's get the maintenance page or a stale copy). After a run of consecutive failures the breaker *opens*: calls are refused at once,
//! with no network traffic, for a cool-down period. Then it lets exactly one trial call
//! through (*half-open*); the trial's success closes it again, its failure re-opens it for
//! another period.
//!
//! The breaker is pure state behind a mutex that is never held across an `.await` (with an
//! atomic mirror of "closed, nothing counted" so the common case takes no lock), and takes
//! the current time as an argument, so its whole life can be tested without sleeping. A call
//! holds a [`Permit`]; a permit dropped without a verdict (the caller gave up on the future)
//! counts as neither success nor failure, and frees the half-open trial slot for the next call.
//!
//! A breaker may own a gauge ([`Breaker::with_gauge`]) that it sets on every change of state,
//! under the same lock, so the exported value can never disagree with the breaker. The one
//! change no call makes, open → half-open when the cool-down ends, is published by
//! [`Breaker::publish`], which the owner schedules for [`Breaker::open_until`] (the LLM client
//! does so with a timer when the breaker opens).

use prometheus::IntGauge;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the breaker currently does with a new call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; failures are being counted.
    Closed,
    /// Calls are refused without any network traffic until the cool-down ends.
    Open,
    /// The cool-down is over: one trial call may go through (or is in flight).
    HalfOpen,
}

impl BreakerState {
    /// The value of the `egov_circuit_breaker_state` gauge: 0 closed, 1 half-open, 2 open.
    pub fn gauge_value(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        failures: u32,
        by: Askers,
    },
    Open {
        until: Instant,
    },
    /// Since when the trial has been in flight, if one is.
    HalfOpen {
        trial_since: Option<Instant>,
    },
}

/// How many different client addresses a run of failures the askers could have caused must
/// come from before it opens a breaker ([`Failure::AskedBy`]).
pub const ADDRESSES_TO_OPEN: usize = 3;

/// What a failure says of the dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It failed whoever asked: a connection refused or timed out, the LLM down.
    Anyone,
    /// It failed what this client (its address, when known) asked: a page that timed out,
    /// a connection reset, a 502/503/504 the site answered. One client could have chosen
    /// it (a slow search, a page the site answers 503 to): found when tried, ten requests
    /// for a slow page from one address opened a service's breaker, and every citizen got
    /// the maintenance page for 30 s, as often as the attacker liked.
    AskedBy(Option<std::net::IpAddr>),
}

/// Who the failures of the current run came from: anyone's, or the first
/// [`ADDRESSES_TO_OPEN`] different askers. A breaker's run, and a backend's run before it is
/// ejected ([`super::outlier`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Askers {
    anyone: bool,
    seen: [Option<Option<std::net::IpAddr>>; ADDRESSES_TO_OPEN],
}

impl Askers {
    pub(crate) fn add(&mut self, failure: Failure) {
        match failure {
            Failure::Anyone => self.anyone = true,
            // An unknown asker is no one's address: it never helps a run open the breaker.
            Failure::AskedBy(None) => {}
            Failure::AskedBy(who) => {
                if !self.seen.contains(&Some(who)) {
                    if let Some(free) = self.seen.iter_mut().find(|s| s.is_none()) {
                        *free = Some(who);
                    }
                }
            }
        }
    }

    /// Whether the run may open the breaker: a failure anyone would meet, or askers enough.
    pub(crate) fn enough(&self) -> bool {
        self.anyone || self.seen.iter().all(Option::is_some)
    }
}

impl State {
    const CLEAN: State = State::Closed {
        failures: 0,
        by: Askers {
            anyone: false,
            seen: [None; ADDRESSES_TO_OPEN],
        },
    };

    fn seen_at(self, now: Instant) -> BreakerState {
        match self {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// A consecutive-failure circuit breaker with a single half-open trial.
#[derive(Debug, Clone)]
pub struct Breaker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    failures_to_open: u32,
    open_for: Duration,
    state: Mutex<State>,
    gauge: Option<IntGauge>,
    /// Whether the state is closed with no failure counted: the common case, in which a
    /// call needs no lock to be let through nor to report a success (a service's breaker is
    /// asked on every request).
    clean: AtomicBool,
}

/// The right to make one call, handed out by [`Breaker::acquire`]. Report its outcome with
/// [`Permit::success`] or [`Permit::failure`]; dropping it without a verdict is neutral.
#[derive(Debug)]
#[must_use = "report the call's outcome with success() or failure()"]
pub struct Permit {
    breaker: Breaker,
    trial: bool,
    settled: bool,
}

impl Breaker {
    /// A closed breaker that opens after `failures_to_open` consecutive failures (at least 1)
    /// and stays open for `open_for`.
    pub fn new(failures_to_open: u32, open_for: Duration) -> Breaker {
        Self::build(failures_to_open, open_for, None)
    }

    /// Like [`Breaker::new`], publishing every change of state to `gauge` (0 closed,
    /// 1 half-open, 2 open), starting with 0 now.
    pub fn with_gauge(failures_to_open: u32, open_for: Duration, gauge: IntGauge) -> Breaker {
        gauge.set(BreakerState::Closed.gauge_value());
        Self::build(failures_to_open, open_for, Some(gauge))
    }

    fn build(failures_to_open: u32, open_for: Duration, gauge: Option<IntGauge>) -> Breaker {
        Breaker {
            inner: Arc::new(Inner {
                failures_to_open: failures_to_open.max(1),
                open_for,
                state: Mutex::new(State::CLEAN),
                gauge,
                clean: AtomicBool::new(true),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the gauge (if any) to `state` as seen at `now`; called with the lock held.
    fn publish_locked(&self, state: &State, now: Instant) {
        self.inner.clean.store(
            matches!(state, State::Closed { failures: 0, .. }),
            Ordering::Release,
        );
        if let Some(gauge) = &self.inner.gauge {
            gauge.set(state.seen_at(now).gauge_value());
        }
    }

    /// The state as seen at `now`: an open breaker whose cool-down has ended reports
    /// [`BreakerState::HalfOpen`], since the next call would be its trial. Also refreshes the
    /// gauge, so any look at the breaker corrects a value that time has made stale.
    pub fn state(&self, now: Instant) -> BreakerState {
        let state = self.lock();
        self.publish_locked(&state, now);
        state.seen_at(now)
    }

    /// Publishes the state as seen at `now` to the gauge: for the change that happens by
    /// time alone, open → half-open at [`Breaker::open_until`].
    pub fn publish(&self, now: Instant) {
        let state = self.lock();
        self.publish_locked(&state, now);
    }

    /// When the cool-down ends, while the breaker is open.
    pub fn open_until(&self) -> Option<Instant> {
        match *self.lock() {
            State::Open { until } => Some(until),
            _ => None,
        }
    }

    /// Asks to make a call at `now`: `None` while open (or while the half-open trial is in
    /// flight, for one cool-down at most), otherwise a [`Permit`].
    pub fn acquire(&self, now: Instant) -> Option<Permit> {
        if self.inner.clean.load(Ordering::Acquire) {
            return Some(Permit {
                breaker: self.clone(),
                trial: false,
                settled: false,
            });
        }
        let mut state = self.lock();
        let trial = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => return None,
            // A trial holds the half-open state for one cool-down at most, then another may
            // go: found when tried, a trial that was a slow upload (a 60 MB body at 700 B a
            // second) kept a recovered service in maintenance for as long as it lasted. Its
            // verdict still counts when it comes.
            State::HalfOpen {
                trial_since: Some(since),
            } if now.saturating_duration_since(since) < self.inner.open_for => return None,
            State::Open { .. } | State::HalfOpen { .. } => {
                *state = State::HalfOpen {
                    trial_since: Some(now),
                };
                self.publish_locked(&state, now);
                true
            }
        };
        Some(Permit {
            breaker: self.clone(),
            trial,
            settled: false,
        })
    }
}

impl Permit {
    /// Whether this call is the half-open trial.
    pub fn is_trial(&self) -> bool {
        self.trial
    }

    /// The call succeeded: the breaker closes and its failure count resets.
    pub fn success(mut self) {
        self.settled = true;
        if !self.trial && self.breaker.inner.clean.load(Ordering::Acquire) {
            return; // already closed with nothing counted
        }
        let mut state = self.breaker.lock();
        *state = State::CLEAN;
        self.breaker.publish_locked(&state, Instant::now());
    }

    /// The call failed at `now`, whoever asked ([`Failure::Anyone`]). Returns `true` when
    /// this failure opened the breaker.
    pub fn failure(self, now: Instant) -> bool {
        self.failed(now, Failure::Anyone)
    }

    /// The call failed at `now` as `failure` says. A run of failures opens the breaker once
    /// it is long enough and either one of them was [`Failure::Anyone`]'s or they came from
    /// [`ADDRESSES_TO_OPEN`] different addresses. Returns `true` when this one opened it.
    pub fn failed(mut self, now: Instant, failure: Failure) -> bool {
        self.settled = true;
        let inner = &self.breaker.inner;
        let mut state = self.breaker.lock();
        let open = State::Open {
            until: now + inner.open_for,
        };
        let opened = match *state {
            State::Closed { failures, mut by } => {
                let failures = failures.saturating_add(1);
                by.add(failure);
                if failures >= inner.failures_to_open && by.enough() {
                    *state = open;
                    true
                } else {
                    *state = State::Closed { failures, by };
                    false
                }
            }
            State::HalfOpen { .. } => match failure {
                Failure::Anyone => {
                    *state = open;
                    true
                }
                // One address that won the trial with a slow page would keep the service
                // in maintenance for ever, a cool-down at a time (found in review): the
                // breaker closes again, its run at its length, waiting for more askers.
                Failure::AskedBy(_) => {
                    let mut by = Askers::default();
                    by.add(failure);
                    *state = State::Closed {
                        failures: inner.failures_to_open,
                        by,
                    };
                    false
                }
            },
            // Another call already opened it; keep its cool-down.
            State::Open { .. } => false,
        };
        self.breaker.publish_locked(&state, now);
        opened
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled && self.trial {
            let mut state = self.breaker.lock();
            if let State::HalfOpen { .. } = *state {
                *state = State::HalfOpen { trial_since: None };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_FOR: Duration = Duration::from_secs(30);

    fn fail(breaker: &Breaker, now: Instant) -> bool {
        breaker.acquire(now).expect("a permit").failure(now)
    }

    #[test]
    fn opens_after_the_configured_number_of_consecutive_failures() {
        let breaker = Breaker::new(3, OPEN_FOR);
        let now = Instant::now();
        assert!(!fail(&breaker, now));
        assert!(!fail(&breaker, now));
        assert_eq!(breaker.state(now), BreakerState::Closed);
        assert!(fail(&breaker, now), "the third failure opens it");
        assert_eq!(breaker.state(now), BreakerState::Open);
        assert!(breaker.acquire(now).is_none(), "open refuses calls");
    }

    fn asked_by(breaker: &Breaker, now: Instant, last_octet: u8) -> bool {
        let who = std::net::IpAddr::from([198, 51, 100, last_octet]);
        breaker
            .acquire(now)
            .expect("a permit")
            .failed(now, Failure::AskedBy(Some(who)))
    }

    #[test]
    fn failures_one_address_asked_for_never_open_it_however_many() {
        let breaker = Breaker::new(3, OPEN_FOR);
        let now = Instant::now();
        for _ in 0..100 {
            assert!(!asked_by(&breaker, now, 7));
        }
        assert_eq!(breaker.state(now), BreakerState::Closed);
    }

    #[test]
    fn failures_asked_for_from_three_addresses_open_it() {
        let breaker = Breaker::new(3, OPEN_FOR);
        let now = Instant::now();
        assert!(!asked_by(&breaker, now, 1));
        assert!(!asked_by(&breaker, now, 1));
        assert!(!asked_by(&breaker, now, 2));
        assert!(asked_by(&breaker, now, 3), "the third address opens it");
    }

    #[test]
    fn a_failure_anyone_meets_lets_the_run_open_it_whoever_asked_the_rest() {
        let breaker = Breaker::new(3, OPEN_FOR);
        let now = Instant::now();
        assert!(!asked_by(&breaker, now, 1));
        assert!(!asked_by(&breaker, now, 1));
        assert!(
            fail(&breaker, now),
            "a refused connection is no one's choice"
        );
    }

    #[test]
    fn a_success_forgets_who_asked_for_the_failures_before_it() {
        let breaker = Breaker::new(2, OPEN_FOR);
        let now = Instant::now();
        assert!(!asked_by(&breaker, now, 1));
        assert!(!asked_by(&breaker, now, 2));
        breaker.acquire(now).expect("permit").success();
        assert!(!asked_by(&breaker, now, 3));
        assert!(
            !asked_by(&breaker, now, 3),
            "two addresses since the success"
        );
    }

    #[test]
    fn failures_of_unknown_askers_never_open_it() {
        let breaker = Breaker::new(2, OPEN_FOR);
        let now = Instant::now();
        assert!(!asked_by(&breaker, now, 1));
        assert!(!asked_by(&breaker, now, 2));
        for _ in 0..10 {
            let permit = breaker.acquire(now).expect("a permit");
            assert!(!permit.failed(now, Failure::AskedBy(None)));
        }
        assert_eq!(breaker.state(now), BreakerState::Closed);
    }

    #[test]
    fn a_trial_one_address_failed_closes_it_again_and_more_askers_reopen_it() {
        let breaker = Breaker::new(2, OPEN_FOR);
        let now = Instant::now();
        assert!(!fail(&breaker, now));
        assert!(fail(&breaker, now), "the site refused two connections");
        let later = now + OPEN_FOR;
        assert!(!asked_by(&breaker, later, 9), "the trial, a slow page");
        assert_eq!(breaker.state(later), BreakerState::Closed);
        assert!(breaker.acquire(later).is_some(), "citizens are served");
        assert!(!asked_by(&breaker, later, 9), "the same address again");
        assert!(!asked_by(&breaker, later, 10));
        assert!(asked_by(&breaker, later, 11), "a third address reopens it");
    }

    #[test]
    fn a_success_resets_the_consecutive_failure_count() {
        let breaker = Breaker::new(2, OPEN_FOR);
        let now = Instant::now();
        assert!(!fail(&breaker, now));
        breaker.acquire(now).expect("permit").success();
        assert!(
            !fail(&breaker, now),
            "the count restarted after the success"
        );
        assert_eq!(breaker.state(now), BreakerState::Closed);
    }

    #[test]
    fn after_the_cool_down_exactly_one_trial_goes_through() {
        let breaker = Breaker::new(1, OPEN_FOR);
        let now = Instant::now();
        assert!(fail(&breaker, now));
        let later = now + OPEN_FOR;
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        let trial = breaker.acquire(later).expect("the trial");
        assert!(trial.is_trial());
        assert!(breaker.acquire(later).is_none(), "only one trial at a time");
        trial.success();
        assert_eq!(breaker.state(later), BreakerState::Closed);
        assert!(breaker.acquire(later).is_some());
    }

    #[test]
    fn a_trial_still_in_flight_after_a_cool_down_lets_another_go() {
        let breaker = Breaker::new(1, OPEN_FOR);
        let now = Instant::now();
        assert!(fail(&breaker, now));
        let later = now + OPEN_FOR;
        let slow_upload = breaker.acquire(later).expect("the trial");
        assert!(breaker.acquire(later + OPEN_FOR / 2).is_none());
        let next = breaker
            .acquire(later + OPEN_FOR)
            .expect("another trial, a cool-down on");
        assert!(next.is_trial());
        next.success();
        assert_eq!(breaker.state(later + OPEN_FOR), BreakerState::Closed);
        drop(slow_upload);
        assert_eq!(breaker.state(later + OPEN_FOR), BreakerState::Closed);
    }

    #[test]
    fn a_failed_trial_reopens_for_another_cool_down() {
        let breaker = Breaker::new(1, OPEN_FOR);
        let now = Instant::now();
        assert!(fail(&breaker, now));
        let later = now + OPEN_FOR + Duration::from_secs(1);
        assert!(breaker.acquire(later).expect("trial").failure(later));
        assert_eq!(breaker.state(later), BreakerState::Open);
        assert!(breaker.acquire(later + OPEN_FOR / 2).is_none());
        assert!(breaker.acquire(later + OPEN_FOR).is_some());
    }

    #[test]
    fn an_abandoned_trial_frees_the_slot_without_a_verdict() {
        let breaker = Breaker::new(1, OPEN_FOR);
        let now = Instant::now();
        assert!(fail(&breaker, now));
        let later = now + OPEN_FOR;
        drop(breaker.acquire(later).expect("trial"));
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        assert!(breaker.acquire(later).expect("a new trial").is_trial());
    }

    #[test]
    fn the_gauge_follows_every_change_of_state_including_the_end_of_the_cool_down() {
        let gauge = IntGauge::new("breaker_state", "test").expect("a gauge");
        gauge.set(7);
        let breaker = Breaker::with_gauge(1, OPEN_FOR, gauge.clone());
        assert_eq!(gauge.get(), 0, "a new breaker is closed");
        let now = Instant::now();
        assert!(fail(&breaker, now));
        assert_eq!(gauge.get(), 2);
        let until = breaker.open_until().expect("open");
        assert_eq!(until, now + OPEN_FOR);
        breaker.publish(until);
        assert_eq!(
            gauge.get(),
            1,
            "half-open once the cool-down is over, no call needed"
        );
        let trial = breaker.acquire(until).expect("the trial");
        assert_eq!(gauge.get(), 1);
        trial.success();
        assert_eq!(gauge.get(), 0);
        assert_eq!(breaker.open_until(), None);
    }

    #[test]
    fn reading_the_state_corrects_a_stale_gauge() {
        let gauge = IntGauge::new("breaker_state", "test").expect("a gauge");
        let breaker = Breaker::with_gauge(1, OPEN_FOR, gauge.clone());
        let now = Instant::now();
        assert!(fail(&breaker, now));
        assert_eq!(gauge.get(), 2);
        assert_eq!(breaker.state(now + OPEN_FOR), BreakerState::HalfOpen);
        assert_eq!(gauge.get(), 1);
    }

    #[test]
    fn zero_failures_to_open_behaves_as_one() {
        let breaker = Breaker::new(0, OPEN_FOR);
        let now = Instant::now();
        assert!(breaker.acquire(now).is_some(), "a new breaker is closed");
        assert!(fail(&breaker, now));
    }
}
