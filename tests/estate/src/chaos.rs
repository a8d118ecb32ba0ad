//! Seeded chaos: the latency of `slow` sites, the 502s of `flaky` sites and
//! the session ids of `jsessionid` sites.
//!
//! Every decision is a pure function of (seed, site index, per-site request
//! number) through splitmix64, never of thread timing, so a run with the same
//! seed and the same request sequence makes the same decisions, and tests can
//! check the distributions without sleeping or sending thousands of requests.

use std::time::Duration;

/// Share of a `flaky` site's responses that fail with `502`.
pub const FLAKY_RATE: f64 = 0.05;

/// Median latency of a `slow` site.
pub const SLOW_MEDIAN: Duration = Duration::from_millis(900);

/// Log-normal spread of the latency: puts the 90th percentile near 1.5 s.
const SLOW_SIGMA: f64 = 0.40;
const SLOW_MIN: Duration = Duration::from_millis(150);
const SLOW_MAX: Duration = Duration::from_secs(8);

const SALT_FLAKY: u64 = 0x666c_616b_7900_0001;
const SALT_LATENCY_A: u64 = 0x736c_6f77_0000_0002;
const SALT_LATENCY_B: u64 = 0x736c_6f77_0000_0003;
const SALT_SESSION_HI: u64 = 0x6a73_6573_7300_0004;
const SALT_SESSION_LO: u64 = 0x6a73_6573_7300_0005;

/// The splitmix64 finaliser: a fast, well-mixed 64-bit hash.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hash behind one decision.
fn draw(seed: u64, site_index: usize, n: u64, salt: u64) -> u64 {
    let mut h = splitmix64(seed);
    h = splitmix64(h ^ site_index as u64);
    h = splitmix64(h ^ n);
    splitmix64(h ^ salt)
}

/// Maps a hash to a float uniform in `[0, 1)`.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether request number `n` to the site at `site_index` fails with `502`.
pub fn flaky_failure(seed: u64, site_index: usize, n: u64) -> bool {
    unit(draw(seed, site_index, n, SALT_FLAKY)) < FLAKY_RATE
}

/// Latency of request number `n` to a `slow` site, before the [`crate::Latency`] policy.
///
/// Log-normal with median [`SLOW_MEDIAN`], clamped to 150 ms – 8 s.
pub fn slow_latency(seed: u64, site_index: usize, n: u64) -> Duration {
    // Box-Muller: two uniforms give one standard normal sample.
    let u1 = 1.0 - unit(draw(seed, site_index, n, SALT_LATENCY_A)); // (0, 1]
    let u2 = unit(draw(seed, site_index, n, SALT_LATENCY_B));
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let sampled = SLOW_MEDIAN.mul_f64((SLOW_SIGMA * z).exp());
    sampled.clamp(SLOW_MIN, SLOW_MAX)
}

/// The `n`-th session id of a `jsessionid` site: 32 uppercase hex digits, like Tomcat's.
pub fn session_id(seed: u64, site_index: usize, n: u64) -> String {
    format!(
        "{:016X}{:016X}",
        draw(seed, site_index, n, SALT_SESSION_HI),
        draw(seed, site_index, n, SALT_SESSION_LO)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_differ_between_sites_and_requests() {
        assert_ne!(session_id(42, 1, 0), session_id(42, 2, 0));
        assert_ne!(session_id(42, 1, 0), session_id(42, 1, 1));
        assert_eq!(session_id(42, 1, 0), session_id(42, 1, 0));
        assert_eq!(session_id(42, 1, 0).len(), 32);
    }
}
