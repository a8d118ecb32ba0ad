//! How an estate run behaves: the seed of every random decision and how much
//! of the chaos (latency, flakiness) is switched on. Tests turn chaos off to be
//! fast and exact; the demo keeps it realistic.

use std::time::Duration;

/// Longest latency a scaled policy can produce (a factor from the command
/// line must not be able to overflow a `Duration` or park a request forever).
const MAX_LATENCY: Duration = Duration::from_secs(300);

/// How the `slow` sites' latency is applied.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Latency {
    /// The sampled latency as is (median about 900 ms).
    #[default]
    Realistic,
    /// The sampled latency multiplied by this factor (e.g. `0.01` for tests).
    Scaled(f64),
    /// No added latency at all.
    Off,
}

impl Latency {
    /// Applies this policy to a sampled delay.
    pub fn apply(self, sampled: Duration) -> Duration {
        match self {
            Latency::Realistic => sampled,
            Latency::Scaled(factor) if factor.is_finite() && factor > 0.0 => {
                Duration::try_from_secs_f64(sampled.as_secs_f64() * factor)
                    .unwrap_or(MAX_LATENCY)
                    .min(MAX_LATENCY)
            }
            Latency::Scaled(_) | Latency::Off => Duration::ZERO,
        }
    }
}

/// Options of one estate run.
#[derive(Debug, Clone, PartialEq)]
pub struct EstateOptions {
    /// Seed of every random decision (latency, flakiness, session ids).
    pub seed: u64,
    /// Latency policy for `slow` sites.
    pub latency: Latency,
    /// Whether `flaky` sites answer some requests with `502`.
    pub flaky: bool,
    /// The portal whose identity assertions the sites trust (its origin, e.g.
    /// `http://127.0.0.1:8080`); its keys are read from `<origin>/.well-known/jwks.json`.
    /// `None`: `__estate/whoami` refuses every assertion.
    pub portal: Option<String>,
}

impl Default for EstateOptions {
    fn default() -> Self {
        EstateOptions {
            seed: 42,
            latency: Latency::Realistic,
            flaky: true,
            portal: None,
        }
    }
}

impl EstateOptions {
    /// Options with every chaos switched off (no latency, no 502s).
    pub fn calm(seed: u64) -> Self {
        EstateOptions {
            seed,
            latency: Latency::Off,
            flaky: false,
            portal: None,
        }
    }
}
