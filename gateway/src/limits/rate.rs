//! Request rates: token buckets per client address, per session, per service and global.
//!
//! Each bucket is a GCRA cell (one theoretical arrival time in an atomic), so a check is a
//! map lookup and a compare-and-swap, with no lock and no allocation once the bucket exists.
//! Buckets live in a bounded map that forgets idle ones. With `[limits.rate] shared`, each
//! check also counts in the shared store (a fixed window per key, one `INCR`), so every
//! instance sees the same count; if the store does not answer, the local bucket decides
//! alone (a Redis outage must not refuse every citizen).

use crate::config::Rate;
use crate::kv::Kv;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a bucket counts, for its key and for `egov_rate_limited_total{scope}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    PerIp,
    PerSession,
    Login,
    Route,
    /// An address's calls to the router's LLM (`limits.rate.llm_per_ip`): never a 429, a
    /// question past it is answered without the LLM.
    Llm,
    ServicePerIp,
    ServiceTotal,
    /// A ministry's changes through the admin API.
    AdminChanges,
}

impl Scope {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::PerIp => "per_ip",
            Scope::PerSession => "per_session",
            Scope::Login => "login",
            Scope::Route => "route",
            Scope::Llm => "llm",
            Scope::ServicePerIp | Scope::ServiceTotal => "service",
            Scope::AdminChanges => "admin_changes",
        }
    }
}

/// A refused request: when the bucket will take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub retry_after: Duration,
}

/// How long the shared counters are left alone after a failure.
const SHARED_PAUSE: Duration = Duration::from_secs(1);

/// Buckets kept at once; beyond it the least used are forgotten (they start full again).
const MAX_BUCKETS: u64 = 500_000;
/// A bucket idle this long is full again for every rate up to this period, so forgetting it
/// changes nothing for those.
const IDLE: Duration = Duration::from_secs(3600);

/// Every bucket of this process, and the shared counters when configured.
pub struct RateLimiter {
    buckets: moka::sync::Cache<u64, Arc<AtomicU64>>,
    hasher: std::hash::RandomState,
    epoch: Instant,
    shared: Option<Arc<dyn Kv>>,
    /// The shared counters are left alone for a second after a failure: a Redis behind a
    /// black hole added its whole response timeout (800 ms) to every request, the home
    /// page's too (found when tried). Meanwhile the local buckets count alone.
    shared_resting: crate::kv::Resting,
}

impl RateLimiter {
    /// `shared`: the store every instance counts in (`[limits.rate] shared`).
    pub fn new(shared: Option<Arc<dyn Kv>>) -> Self {
        Self {
            buckets: moka::sync::Cache::builder()
                .max_capacity(MAX_BUCKETS)
                .time_to_idle(IDLE)
                .build(),
            hasher: std::hash::RandomState::new(),
            epoch: Instant::now(),
            shared,
            shared_resting: crate::kv::Resting::new(SHARED_PAUSE),
        }
    }

    /// Takes one request from the bucket of `scope` and `key` (an address, a session
    /// digest, a service id...), or says when to come back.
    pub async fn check(&self, scope: Scope, key: &[u8], rate: Rate) -> Result<(), Limited> {
        self.check_local(scope, key, rate)?;
        if let Some(kv) = self.shared.as_ref().filter(|_| !self.shared_resting.now()) {
            self.check_shared(kv.as_ref(), scope, key, rate).await?;
        }
        Ok(())
    }

    fn check_local(&self, scope: Scope, key: &[u8], rate: Rate) -> Result<(), Limited> {
        let mut h = self.hasher.build_hasher();
        scope.hash(&mut h);
        key.hash(&mut h);
        let cell = self
            .buckets
            .get_with(h.finish(), || Arc::new(AtomicU64::new(0)));
        let now = self.epoch.elapsed().as_nanos() as u64;
        let period = rate.per.as_nanos() as u64;
        let emission = (period / u64::from(rate.count.max(1))).max(1);
        let mut tat = cell.load(Ordering::Acquire);
        loop {
            let next = tat.max(now) + emission;
            if next - now > period {
                let wait = next - now - period;
                return Err(Limited {
                    scope,
                    retry_after: Duration::from_nanos(wait),
                });
            }
            match cell.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }

    async fn check_shared(
        &self,
        kv: &dyn Kv,
        scope: Scope,
        key: &[u8],
        rate: Rate,
    ) -> Result<(), Limited> {
        let period = rate.per.as_secs().max(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let window = now / period;
        let name = format!("{}:{}:{window}", scope.label(), shared_digest(scope, key));
        let counted = kv
            .incr(
                &kv.key("rl", &name),
                1,
                Some(Duration::from_secs(period * 2)),
            )
            .await;
        match counted {
            Ok(n) if n > i64::from(rate.count) => Err(Limited {
                scope,
                retry_after: Duration::from_secs((window + 1) * period - now),
            }),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::debug!(error = %e, "rate limit: shared store unavailable, local buckets only for a moment");
                self.shared_resting.failed();
                Ok(())
            }
        }
    }
}

/// The same digest on every instance (the local map uses a per-process hash instead), and
/// never the raw key: session ids must not become Redis key names.
fn shared_digest(scope: Scope, key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut d = Sha256::new();
    d.update(scope.label().as_bytes());
    d.update(key);
    let out = d.finalize();
    out[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// The seconds of a `Retry-After` header: at least one, rounded up.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    fn rate(count: u32, secs: u64) -> Rate {
        Rate {
            count,
            per: Duration::from_secs(secs),
        }
    }

    #[tokio::test]
    async fn a_bucket_takes_its_burst_then_refuses_with_the_wait() {
        let limiter = RateLimiter::new(None);
        for i in 0..5 {
            assert!(
                limiter.check(Scope::PerIp, b"a", rate(5, 60)).await.is_ok(),
                "request {i}"
            );
        }
        let refused = limiter
            .check(Scope::PerIp, b"a", rate(5, 60))
            .await
            .expect_err("the sixth");
        assert_eq!(refused.scope, Scope::PerIp);
        // One token comes back every 12 s.
        assert!(refused.retry_after <= Duration::from_secs(12));
        assert!(refused.retry_after > Duration::from_secs(11));
    }

    #[tokio::test]
    async fn keys_and_scopes_have_buckets_of_their_own() {
        let limiter = RateLimiter::new(None);
        assert!(limiter.check(Scope::PerIp, b"a", rate(1, 60)).await.is_ok());
        assert!(limiter
            .check(Scope::PerIp, b"a", rate(1, 60))
            .await
            .is_err());
        assert!(limiter.check(Scope::PerIp, b"b", rate(1, 60)).await.is_ok());
        assert!(limiter.check(Scope::Login, b"a", rate(1, 60)).await.is_ok());
    }

    #[tokio::test]
    async fn tokens_come_back_with_time() {
        let limiter = RateLimiter::new(None);
        let fast = Rate {
            count: 2,
            per: Duration::from_millis(100),
        };
        assert!(limiter.check(Scope::Global, b"", fast).await.is_ok());
        assert!(limiter.check(Scope::Global, b"", fast).await.is_ok());
        assert!(limiter.check(Scope::Global, b"", fast).await.is_err());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(limiter.check(Scope::Global, b"", fast).await.is_ok());
    }

    #[tokio::test]
    async fn instances_sharing_a_store_share_the_count() {
        let store: Arc<dyn Kv> = Arc::new(MemoryKv::new("t:"));
        let one = RateLimiter::new(Some(Arc::clone(&store)));
        let two = RateLimiter::new(Some(store));
        assert!(one.check(Scope::Login, b"ip", rate(3, 3600)).await.is_ok());
        assert!(two.check(Scope::Login, b"ip", rate(3, 3600)).await.is_ok());
        assert!(one.check(Scope::Login, b"ip", rate(3, 3600)).await.is_ok());
        let refused = two
            .check(Scope::Login, b"ip", rate(3, 3600))
            .await
            .expect_err("the fourth, on the second instance");
        assert!(refused.retry_after <= Duration::from_secs(3600));
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
