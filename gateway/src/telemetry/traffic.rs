//! The per-service request series every proxied request updates (requests by status class,
//! request and upstream duration histograms, response bytes), counted in one shard per
//! worker thread and summed when Prometheus scrapes.
//!
//! With `prometheus`'s own counters and histograms, every request made about a dozen atomic
//! read-modify-writes on cache lines that all worker threads write (a histogram's observation
//! alone is four, its sum a compare-and-swap loop), so at two threads and more the lines
//! bounce between cores on every request. Here a thread only writes its own shard (its own
//! cache lines, allocated the first time that thread serves the service, so an idle service
//! costs a pointer per shard), the sum is integer nanoseconds (one add), and the cost of
//! adding the shards up is paid by the scrape. The requests in flight are counted the same
//! way. The exported families, names, labels and buckets are the ones the dashboards and
//! alerts read.

use crossbeam_utils::CachePadded;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Shards per service: threads beyond this many share shards (still correct, as every
/// update is atomic, only no longer alone on their lines).
const SHARDS: usize = 16;

/// Upper bounds of the latency buckets, in seconds: 1 ms doubling to ~33 s (legacy sites
/// are slow; p50 of some is near 1 s).
pub fn latency_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.001, 2.0, BUCKETS).unwrap_or_default()
}

/// How many latency buckets there are (plus `+Inf`, which is the count).
const BUCKETS: usize = 16;

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, the same for every service: threads are numbered as they first
    /// record a request.
    static SHARD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

fn this_shard() -> usize {
    SHARD.with(|s| *s)
}

/// One histogram's counts in one shard: per bucket (not cumulative), the count and the sum.
#[derive(Default)]
struct HistogramShard {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl HistogramShard {
    fn observe(&self, bounds: &[u64; BUCKETS], d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        if let Some(i) = bounds.iter().position(|b| nanos <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// One thread's counts for one service.
#[derive(Default)]
struct Shard {
    /// By status class: 1xx, 2xx, 3xx, 4xx, 5xx.
    requests: [AtomicU64; 5],
    /// Of them, by class, those the gateway answered itself without asking the legacy site.
    refused: [AtomicU64; 5],
    bytes: AtomicU64,
    duration: HistogramShard,
    upstream: HistogramShard,
}

/// One service's request series (or the portal's own): what a request updates.
pub struct ServiceTraffic {
    shards: [OnceLock<Box<CachePadded<Shard>>>; SHARDS],
    bounds: Arc<[u64; BUCKETS]>,
}

impl ServiceTraffic {
    fn new(bounds: Arc<[u64; BUCKETS]>) -> Self {
        Self {
            shards: std::array::from_fn(|_| OnceLock::new()),
            bounds,
        }
    }

    fn shard(&self) -> &Shard {
        let i = this_shard();
        self.shards[i].get_or_init(Box::default)
    }

    /// One request ended with `status` after `duration`, the legacy site having answered its
    /// header after `upstream`, `bytes` sent.
    pub fn record(&self, status: u16, duration: Duration, upstream: Option<Duration>, bytes: u64) {
        let shard = self.shard();
        shard.requests[status_class(status)].fetch_add(1, Ordering::Relaxed);
        shard.duration.observe(&self.bounds, duration);
        if let Some(u) = upstream {
            shard.upstream.observe(&self.bounds, u);
        }
        shard.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// One request the gateway answered itself with `status`, `bytes` sent, without asking
    /// the legacy site: a refusal (4xx: a limit, a malformed request, a closed path, a
    /// missing login) or, on a legacy service, a redirect (3xx: to the login, to the
    /// service's own origin) or one of the gateway's own endpoints (`/__egov/keep-alive`). Counted among the requests answered and as refused, and left
    /// out of the duration histogram. It says nothing of the service, so it must not weigh
    /// in its SLIs: a flood of cheap requests the gateway refuses (or sends to the login)
    /// made a service failing a third of its citizens look healthy, in its error ratio and
    /// in its latency (found when tried).
    pub fn refuse(&self, status: u16, bytes: u64) {
        let shard = self.shard();
        shard.requests[status_class(status)].fetch_add(1, Ordering::Relaxed);
        shard.refused[status_class(status)].fetch_add(1, Ordering::Relaxed);
        shard.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The shards added up.
    fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for shard in self.shards.iter().filter_map(OnceLock::get) {
            for (total, c) in t.requests.iter_mut().zip(&shard.requests) {
                *total += c.load(Ordering::Relaxed);
            }
            for (total, c) in t.refused.iter_mut().zip(&shard.refused) {
                *total += c.load(Ordering::Relaxed);
            }
            t.bytes += shard.bytes.load(Ordering::Relaxed);
            t.duration.add(&shard.duration);
            t.upstream.add(&shard.upstream);
        }
        t
    }
}

#[derive(Default)]
struct HistogramTotals {
    buckets: [u64; BUCKETS],
    count: u64,
    sum_nanos: u64,
}

impl HistogramTotals {
    fn add(&mut self, shard: &HistogramShard) {
        for (total, b) in self.buckets.iter_mut().zip(&shard.buckets) {
            *total += b.load(Ordering::Relaxed);
        }
        // The count is read after the buckets: a request counted in between shows in the
        // count (`+Inf`) and not yet in a bucket, never the other way round.
        self.count += shard.count.load(Ordering::Relaxed);
        self.sum_nanos += shard.sum_nanos.load(Ordering::Relaxed);
    }

    fn proto(&self, bounds: &[f64]) -> Histogram {
        let mut h = Histogram::default();
        h.set_sample_count(self.count);
        h.set_sample_sum(self.sum_nanos as f64 / 1e9);
        let mut cumulative = 0;
        let buckets = bounds
            .iter()
            .zip(self.buckets)
            .map(|(bound, n)| {
                cumulative += n;
                let mut b = Bucket::default();
                b.set_cumulative_count(cumulative.min(self.count));
                b.set_upper_bound(*bound);
                b
            })
            .collect();
        h.set_bucket(buckets);
        h
    }
}

#[derive(Default)]
struct Totals {
    requests: [u64; 5],
    refused: [u64; 5],
    bytes: u64,
    duration: HistogramTotals,
    upstream: HistogramTotals,
}

/// The status classes, as the `class` label, in [`status_class`]'s order.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index of `status`'s class in [`CLASSES`]; anything that is not 1xx–4xx counts as a
/// server error.
pub fn status_class(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

/// Every service's [`ServiceTraffic`], exported as five metric families, and the requests
/// in flight (`egov_http_requests_in_flight`).
pub struct TrafficCollector {
    /// Requests begun minus requests finished, per thread (a request that ends on another
    /// thread than it began on leaves one shard high and the other low; the sum is right).
    in_flight: [CachePadded<AtomicI64>; SHARDS],
    in_flight_desc: Desc,
    requests: Desc,
    refused: Desc,
    duration: Desc,
    upstream: Desc,
    bytes: Desc,
    bounds_seconds: Vec<f64>,
    bounds: Arc<[u64; BUCKETS]>,
    /// By `(service, ministry)`.
    services: Mutex<BTreeMap<(String, String), Arc<ServiceTraffic>>>,
}

fn desc(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<Desc> {
    Desc::new(
        name.to_string(),
        help.to_string(),
        labels.iter().map(|l| (*l).to_string()).collect(),
        Default::default(),
    )
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

fn counter(labels: Vec<LabelPair>, value: u64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value as f64);
    let mut m = Metric::from_label(labels);
    m.set_counter(c);
    m
}

fn family(d: &Desc, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(d.fq_name.clone());
    f.set_help(d.help.clone());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

impl TrafficCollector {
    pub fn new() -> prometheus::Result<Self> {
        let sm = &["service", "ministry"];
        let bounds_seconds = latency_buckets();
        let mut bounds = [u64::MAX; BUCKETS];
        for (b, s) in bounds.iter_mut().zip(&bounds_seconds) {
            *b = (s * 1e9).round() as u64;
        }
        Ok(Self {
            in_flight: std::array::from_fn(|_| CachePadded::new(AtomicI64::new(0))),
            in_flight_desc: desc(
                "egov_http_requests_in_flight",
                "Requests being served now.",
                &[],
            )?,
            requests: desc(
                "egov_http_requests_total",
                "Requests answered, by service, ministry and status class.",
                &["service", "ministry", "class"],
            )?,
            refused: desc(
                "egov_http_requests_refused_total",
                "Of the requests answered, by class, those the gateway answered itself without asking the legacy site: refusals (4xx: limits, malformed requests, closed paths, a missing login) and, on a service, its redirects (3xx: to the login, to its own origin) and the gateway's own endpoints (/__egov/*). Not the service's traffic: left out of its SLIs.",
                &["service", "ministry", "class"],
            )?,
            duration: desc(
                "egov_http_request_duration_seconds",
                "Time from request to the response header leaving for the citizen (the body's download is the citizen's connection's as much as the service's), less the time the citizen took to send the request body; requests the gateway refused itself are not in it.",
                sm,
            )?,
            upstream: desc(
                "egov_upstream_duration_seconds",
                "Time the legacy site took to answer the response header, once it had the whole request.",
                sm,
            )?,
            bytes: desc(
                "egov_http_response_bytes_total",
                "Response body bytes sent to citizens.",
                sm,
            )?,
            bounds_seconds,
            bounds: Arc::new(bounds),
            services: Mutex::new(BTreeMap::new()),
        })
    }

    fn services(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Arc<ServiceTraffic>>> {
        // A panic while the map was held cannot leave it half-changed (inserts and removes
        // are single calls), so a poisoned lock's map is still good.
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The series of `service` of `ministry`: the same ones again when a new version of the
    /// service is loaded, so its counts carry on.
    pub fn for_service(&self, service: &str, ministry: &str) -> Arc<ServiceTraffic> {
        let mut services = self.services();
        Arc::clone(
            services
                .entry((service.to_string(), ministry.to_string()))
                .or_insert_with(|| Arc::new(ServiceTraffic::new(Arc::clone(&self.bounds)))),
        )
    }

    /// A request has begun.
    pub fn begin(&self) {
        self.in_flight[this_shard()].fetch_add(1, Ordering::Relaxed);
    }

    /// A request has ended.
    pub fn end(&self) {
        self.in_flight[this_shard()].fetch_sub(1, Ordering::Relaxed);
    }

    /// Stops exporting every series of service `id` (it left the registry).
    pub fn forget_service(&self, id: &str, ministry: Option<&str>) {
        self.services()
            .retain(|(service, m), _| service != id || ministry.is_some_and(|x| x != m));
    }
}

impl Collector for TrafficCollector {
    fn desc(&self) -> Vec<&Desc> {
        vec![
            &self.in_flight_desc,
            &self.requests,
            &self.refused,
            &self.duration,
            &self.upstream,
            &self.bytes,
        ]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (mut requests, mut refused, mut duration, mut upstream, mut bytes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // The map is held while the shards are read: loads only, and a registry load waits
        // for them at most.
        for ((service, ministry), traffic) in self.services().iter() {
            let t = traffic.totals();
            // Label pairs sorted by name, as Prometheus's own vectors make them.
            let pairs = || vec![label("ministry", ministry), label("service", service)];
            // Refusals exported at 0 too, so that a rule can subtract them without
            // completing them.
            for (class, (n, r)) in CLASSES.iter().zip(t.requests.iter().zip(t.refused)) {
                let labels = || {
                    vec![
                        label("class", class),
                        label("ministry", ministry),
                        label("service", service),
                    ]
                };
                requests.push(counter(labels(), *n));
                refused.push(counter(labels(), r));
            }
            let mut m = Metric::from_label(pairs());
            m.set_histogram(t.duration.proto(&self.bounds_seconds));
            duration.push(m);
            let mut m = Metric::from_label(pairs());
            m.set_histogram(t.upstream.proto(&self.bounds_seconds));
            upstream.push(m);
            bytes.push(counter(pairs(), t.bytes));
        }
        let mut in_flight = Gauge::default();
        in_flight.set_value(
            self.in_flight
                .iter()
                .map(|n| n.load(Ordering::Relaxed))
                .sum::<i64>() as f64,
        );
        let mut m = Metric::from_label(Vec::new());
        m.set_gauge(in_flight);
        vec![
            family(&self.in_flight_desc, MetricType::GAUGE, vec![m]),
            family(&self.requests, MetricType::COUNTER, requests),
            family(&self.refused, MetricType::COUNTER, refused),
            family(&self.duration, MetricType::HISTOGRAM, duration),
            family(&self.upstream, MetricType::HISTOGRAM, upstream),
            family(&self.bytes, MetricType::COUNTER, bytes),
        ]
    }
}

/// The collector as the registry holds it, beside the [`Metrics`](super::metrics::Metrics)
/// that hand out its series.
pub struct Registered(pub Arc<TrafficCollector>);

impl Collector for Registered {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.0.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gathered(c: &Arc<TrafficCollector>) -> Vec<MetricFamily> {
        let r = prometheus::Registry::new();
        r.register(Box::new(Registered(Arc::clone(c))))
            .expect("register");
        r.gather()
    }

    fn family<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
        families
            .iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("{name} is exported"))
    }

    #[test]
    fn requests_counted_on_many_threads_add_up_when_scraped() {
        let c = Arc::new(TrafficCollector::new().expect("collector"));
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let s = c.for_service("cnie-renewal", "interior");
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        s.record(
                            200,
                            Duration::from_millis(3),
                            Some(Duration::from_millis(1)),
                            10,
                        );
                    }
                    s.record(503, Duration::from_secs(60), None, 0);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let families = gathered(&c);
        let requests = family(&families, "egov_http_requests_total");
        let value = |class: &str| {
            requests
                .get_metric()
                .iter()
                .find(|m| m.get_label().iter().any(|l| l.value() == class))
                .map(|m| m.get_counter().value())
        };
        assert_eq!(value("2xx"), Some(20_000.0));
        assert_eq!(value("5xx"), Some(20.0));
        assert_eq!(value("3xx"), Some(0.0));
        let duration = family(&families, "egov_http_request_duration_seconds").get_metric()[0]
            .get_histogram()
            .clone();
        assert_eq!(duration.sample_count(), 20_020);
        assert!((duration.sample_sum() - (20_000.0 * 0.003 + 20.0 * 60.0)).abs() < 1e-6);
        let upstream = family(&families, "egov_upstream_duration_seconds").get_metric()[0]
            .get_histogram()
            .clone();
        assert_eq!(upstream.sample_count(), 20_000);
        let bytes = family(&families, "egov_http_response_bytes_total").get_metric()[0]
            .get_counter()
            .value();
        assert_eq!(bytes, 200_000.0);
    }

    #[test]
    fn a_refusal_is_a_request_answered_and_refused_but_no_latency_of_the_service() {
        let c = Arc::new(TrafficCollector::new().expect("collector"));
        let s = c.for_service("cnie-renewal", "interior");
        s.record(200, Duration::from_millis(3), None, 10);
        for _ in 0..3 {
            s.refuse(413, 100);
        }
        let families = gathered(&c);
        let four = family(&families, "egov_http_requests_total")
            .get_metric()
            .iter()
            .find(|m| m.get_label().iter().any(|l| l.value() == "4xx"))
            .map(|m| m.get_counter().value());
        assert_eq!(four, Some(3.0));
        let refused: Vec<(String, f64)> = family(&families, "egov_http_requests_refused_total")
            .get_metric()
            .iter()
            .map(|m| {
                (
                    m.get_label()[0].value().to_string(),
                    m.get_counter().value(),
                )
            })
            .filter(|(_, v)| *v > 0.0)
            .collect();
        assert_eq!(refused, [("4xx".to_string(), 3.0)]);
        let duration = family(&families, "egov_http_request_duration_seconds").get_metric()[0]
            .get_histogram()
            .sample_count();
        assert_eq!(duration, 1, "only the request the service answered");
        let bytes = family(&families, "egov_http_response_bytes_total").get_metric()[0]
            .get_counter()
            .value();
        assert_eq!(bytes, 310.0);
    }

    #[test]
    fn a_service_with_no_refusal_exports_its_refused_count_at_zero() {
        let c = Arc::new(TrafficCollector::new().expect("collector"));
        c.for_service("cnie-renewal", "interior")
            .record(200, Duration::ZERO, None, 1);
        let families = gathered(&c);
        let refused = family(&families, "egov_http_requests_refused_total").get_metric();
        assert_eq!(refused.len(), CLASSES.len(), "one per class");
        assert!(refused.iter().all(|m| m.get_counter().value() == 0.0));
    }

    #[test]
    fn requests_in_flight_are_those_begun_and_not_ended_whichever_thread_ends_them() {
        let c = Arc::new(TrafficCollector::new().expect("collector"));
        for _ in 0..5 {
            c.begin();
        }
        let other = Arc::clone(&c);
        std::thread::spawn(move || {
            other.end();
            other.end();
        })
        .join()
        .expect("thread");
        let families = gathered(&c);
        let value = family(&families, "egov_http_requests_in_flight").get_metric()[0]
            .get_gauge()
            .value();
        assert_eq!(value, 3.0);
    }

    #[test]
    fn a_duration_lands_in_the_bucket_prometheus_would_put_it_in() {
        let c = Arc::new(TrafficCollector::new().expect("collector"));
        let ours = c.for_service("s", "m");
        let theirs = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new("x", "x").buckets(latency_buckets()),
        )
        .expect("histogram");
        let samples = [
            Duration::ZERO,
            Duration::from_micros(999),
            Duration::from_millis(1),
            Duration::from_nanos(1_000_001),
            Duration::from_millis(2),
            Duration::from_millis(3),
            Duration::from_millis(1024),
            Duration::from_millis(32_768),
            Duration::from_millis(32_769),
            Duration::from_secs(3600),
        ];
        for d in samples {
            ours.record(200, d, None, 0);
            theirs.observe(d.as_secs_f64());
        }
        let families = gathered(&c);
        let ours = family(&families, "egov_http_request_duration_seconds").get_metric()[0]
            .get_histogram()
            .clone();
        let theirs = theirs.collect()[0].get_metric()[0].get_histogram().clone();
        let buckets = |h: &Histogram| {
            h.get_bucket()
                .iter()
                .map(|b| (b.upper_bound(), b.cumulative_count()))
                .collect::<Vec<_>>()
        };
        assert_eq!(buckets(&ours), buckets(&theirs));
        assert_eq!(ours.sample_count(), theirs.sample_count());
        assert!((ours.sample_sum() - theirs.sample_sum()).abs() < 1e-9);
    }

    #[test]
    fn a_reloaded_service_keeps_its_counts_and_a_forgotten_one_is_no_longer_exported() {
        let c = Arc::new(TrafficCollector::new().expect("collector"));
        c.for_service("a", "m").record(200, Duration::ZERO, None, 5);
        c.for_service("a", "m").record(200, Duration::ZERO, None, 5);
        c.for_service("b", "m").record(200, Duration::ZERO, None, 1);
        let bytes = |families: &[MetricFamily], service: &str| {
            family(families, "egov_http_response_bytes_total")
                .get_metric()
                .iter()
                .find(|m| m.get_label().iter().any(|l| l.value() == service))
                .map(|m| m.get_counter().value())
        };
        let before = gathered(&c);
        assert_eq!(bytes(&before, "a"), Some(10.0));
        c.forget_service("a", None);
        let after = gathered(&c);
        assert_eq!(bytes(&after, "a"), None);
        assert_eq!(bytes(&after, "b"), Some(1.0));
    }

    /// Found when tried: a service moved to another ministry was exported under both, the
    /// old series frozen for the life of the process.
    #[test]
    fn a_moved_service_loses_its_old_ministrys_series_and_keeps_the_new_ones() {
        let c = Arc::new(TrafficCollector::new().expect("collector"));
        c.for_service("a", "old")
            .record(200, Duration::ZERO, None, 5);
        c.for_service("a", "new")
            .record(200, Duration::ZERO, None, 7);
        c.forget_service("a", Some("old"));
        let families = gathered(&c);
        let ministries: Vec<String> = family(&families, "egov_http_response_bytes_total")
            .get_metric()
            .iter()
            .flat_map(|m| m.get_label().iter())
            .filter(|l| l.name() == "ministry")
            .map(|l| l.value().to_string())
            .collect();
        assert_eq!(ministries, ["new"]);
    }
}
