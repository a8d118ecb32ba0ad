//! A retry budget: failovers may add at most a fifth to a service's traffic.
//!
//! When a backend is down, every request would try it and then another: under load that
//! doubles the connections to a struggling site exactly when it can least take them. Each
//! request deposits a fifth of a token, each failover withdraws one; the bucket holds at
//! most `MAX_TOKENS`, and starts full so a quiet service can still fail over.

use std::sync::atomic::{AtomicU64, Ordering};

/// Thousandths of a token.
const SCALE: u64 = 1000;
/// What one request deposits: 20 % of a retry.
const DEPOSIT: u64 = SCALE / 5;
/// The most retries saved up.
const MAX_TOKENS: u64 = 10;

#[derive(Debug)]
pub struct RetryBudget {
    tokens: AtomicU64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            tokens: AtomicU64::new(MAX_TOKENS * SCALE),
        }
    }
}

impl RetryBudget {
    /// A request starts.
    pub fn deposit(&self) {
        let cap = MAX_TOKENS * SCALE;
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t < cap).then(|| (t + DEPOSIT).min(cap))
            });
    }

    /// Whether a failover would be allowed now (nothing is withdrawn).
    pub fn has_one(&self) -> bool {
        self.tokens.load(Ordering::Acquire) >= SCALE
    }

    /// A failover wants to happen: whether the budget allows it.
    pub fn withdraw(&self) -> bool {
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_sub(SCALE)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_service_may_fail_over_a_few_times() {
        let b = RetryBudget::default();
        for _ in 0..MAX_TOKENS {
            assert!(b.withdraw());
        }
        assert!(!b.withdraw(), "the saved-up retries are spent");
    }

    #[test]
    fn under_load_retries_are_a_fifth_of_requests() {
        let b = RetryBudget::default();
        while b.withdraw() {}
        let mut retried = 0;
        for _ in 0..1000 {
            b.deposit();
            if b.withdraw() {
                retried += 1;
            }
        }
        assert_eq!(retried, 200);
    }
}
