//! The circuit breaker in front of the routing LLM.
//!
//! When the LLM endpoint is down, slow, rate-limiting us or answering nonsense, every citizen
//! request that asks it would wait for its deadline and then fall back to the local ranker
//! anyway. After a run of consecutive failures the breaker *opens*: calls are refused at once,
//! with no network traffic, for a cool-down period. Then it lets exactly one trial call
//! through (*half-open*); the trial's success closes it again, its failure re-opens it for
//! another period.
//!
//! The breaker is pure state behind a mutex that is never held across an `.await`, and takes
//! the current time as an argument, so its whole life can be tested without sleeping. A call
//! holds a [`Permit`]; a permit dropped without a verdict (the caller gave up on the future)
//! counts as neither success nor failure, and frees the half-open trial slot for the next call.

use std::fmt;
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
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
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
        Breaker {
            inner: Arc::new(Inner {
                failures_to_open: failures_to_open.max(1),
                open_for,
                state: Mutex::new(State::Closed { failures: 0 }),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state as seen at `now`: an open breaker whose cool-down has ended reports
    /// [`BreakerState::HalfOpen`], since the next call would be its trial.
    pub fn state(&self, now: Instant) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a call at `now`: `None` while open (or while the half-open trial is in
    /// flight), otherwise a [`Permit`].
    pub fn acquire(&self, now: Instant) -> Option<Permit> {
        let mut state = self.lock();
        let trial = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => return None,
            State::HalfOpen {
                trial_in_flight: true,
            } => return None,
            State::Open { .. }
            | State::HalfOpen {
                trial_in_flight: false,
            } => {
                *state = State::HalfOpen {
                    trial_in_flight: true,
                };
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
        *self.breaker.lock() = State::Closed { failures: 0 };
    }

    /// The call failed at `now`. Returns `true` when this failure opened the breaker.
    pub fn failure(mut self, now: Instant) -> bool {
        self.settled = true;
        let inner = &self.breaker.inner;
        let mut state = self.breaker.lock();
        let open = State::Open {
            until: now + inner.open_for,
        };
        match *state {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= inner.failures_to_open {
                    *state = open;
                    true
                } else {
                    *state = State::Closed { failures };
                    false
                }
            }
            State::HalfOpen { .. } => {
                *state = open;
                true
            }
            // Another call already opened it; keep its cool-down.
            State::Open { .. } => false,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled && self.trial {
            let mut state = self.breaker.lock();
            if let State::HalfOpen { .. } = *state {
                *state = State::HalfOpen {
                    trial_in_flight: false,
                };
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
    fn zero_failures_to_open_behaves_as_one() {
        let breaker = Breaker::new(0, OPEN_FOR);
        let now = Instant::now();
        assert!(breaker.acquire(now).is_some(), "a new breaker is closed");
        assert!(fail(&breaker, now));
    }
}
