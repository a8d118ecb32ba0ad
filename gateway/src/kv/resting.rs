//! A caller of the shared state that rests for a moment after a failure, instead of making
//! every request wait for a Redis behind a black hole again: the response cache's shared
//! tier and the shared rate limits each keep one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Whether the shared state is worth asking now.
#[derive(Debug)]
pub struct Resting {
    /// Nanoseconds since `epoch` until which the caller does without the shared state.
    until: AtomicU64,
    epoch: Instant,
    pause: Duration,
}

impl Resting {
    /// Rests `pause` after each failure.
    pub fn new(pause: Duration) -> Self {
        Self {
            until: AtomicU64::new(0),
            epoch: Instant::now(),
            pause,
        }
    }

    /// Whether a failure was seen within the last pause.
    pub fn now(&self) -> bool {
        self.elapsed() < self.until.load(Ordering::Relaxed)
    }

    /// A call failed: rest from now on.
    pub fn failed(&self) {
        let until = self.elapsed().saturating_add(self.pause.as_nanos() as u64);
        self.until.store(until, Ordering::Relaxed);
    }

    /// The shared state was seen to work again: no more rest.
    pub fn recovered(&self) {
        self.until.store(0, Ordering::Relaxed);
    }

    fn elapsed(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_rests_the_caller_for_its_pause_only() {
        let r = Resting::new(Duration::from_millis(50));
        assert!(!r.now());
        r.failed();
        assert!(r.now());
        std::thread::sleep(Duration::from_millis(60));
        assert!(!r.now());
    }
}
