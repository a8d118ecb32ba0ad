//! Helpers for the unit tests of every room: requests, telemetry and the parts the portal
//! is built from. It imports none of the rooms that use it: the repository's configuration
//! is `config::fixtures`', a snapshot of it `registry::fixtures`', a portal
//! `portal::fixtures`'.

use std::sync::Arc;

pub use crate::config::fixtures::config_without_secrets;

// What the stages' (and the portal's) unit tests build requests and parts from.

use crate::assist::Assist;
use crate::config::TelemetrySettings;
use crate::kv::MemoryKv;
use crate::sso::Sso;
use crate::telemetry::Telemetry;
use pingora::proxy::Session;
use tokio::io::AsyncWriteExt;

/// A pingora session that has read `raw` (a whole HTTP/1.1 request head, and body).
pub async fn request(raw: &[u8]) -> Session {
    let (mut client, server) = tokio::io::duplex(128 * 1024);
    client.write_all(raw).await.expect("write the request");
    // Kept open: the session may read a body after the head.
    std::mem::forget(client);
    let mut session = Session::new_h1(Box::new(server));
    assert!(
        session.read_request().await.expect("a request"),
        "no request"
    );
    session
}

pub fn telemetry() -> Arc<Telemetry> {
    let settings = TelemetrySettings {
        access_log: crate::config::AccessLogTarget::Off,
        otlp_endpoint: None,
        sampling_ratio: 1.0,
        service_name: "egov-gateway-test".into(),
        metrics: true,
    };
    Arc::new(Telemetry::new(&settings).expect("telemetry"))
}

/// SSO (no provider: the unit-test configuration has none), the router and telemetry.
pub struct Parts {
    pub sso: Arc<Sso>,
    pub assist: Arc<Assist>,
    pub telemetry: Arc<Telemetry>,
}

pub fn parts() -> Parts {
    let config = crate::testing::config_without_secrets();
    let secrets = crate::config::Secrets::from_process();
    let telemetry = telemetry();
    let metrics = Arc::clone(&telemetry.metrics);
    let sso = Sso::new(
        &config,
        &secrets,
        Arc::new(MemoryKv::default()),
        Arc::clone(&metrics),
    )
    .expect("sso");
    let mut assist_settings = config.gateway.assist.clone();
    assist_settings.llm = None;
    let assist = Assist::new(
        &assist_settings,
        config.gateway.identity.pairwise_secret.as_ref(),
        &secrets,
        Arc::new(MemoryKv::default()),
        metrics,
    )
    .expect("router");
    Parts {
        sso: Arc::new(sso),
        assist: Arc::new(assist),
        telemetry,
    }
}

/// The log lines written on this thread while the guard lives (tests of what is logged:
/// an audit line's content, a warning logged once).
#[derive(Clone, Default)]
pub struct LogLines(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogLines {
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|l| l.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut lines) = self.0.lock() {
            lines.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures this thread's logs (run the test on a current-thread runtime) while the
/// returned guard lives.
///
/// One capture at a time in the process: setting and dropping a thread's subscriber makes
/// `tracing` work out again, for every thread, which levels anyone listens to, and two
/// threads doing so at once could leave the level at "nobody listens" while one of them
/// still did; its test then saw no line at all (found when tried: once in a full run).
///
/// And one listener that never goes: while a single subscriber is registered, `tracing`
/// decides whether a log line is wanted, the first time any thread reaches it, by asking
/// only *that thread's* subscriber. Another test's thread (none) reaching the audit line
/// first made it "never wanted" for every thread, the capturing one included (found when
/// tried: CI, once). With two registered, every one of them is asked.
pub fn capture_logs() -> (LogLines, Capture) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    static ALWAYS_REGISTERED: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    ALWAYS_REGISTERED
        .get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::new()));
    let serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let lines = LogLines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .fmt_fields(crate::telemetry::log_fields::SafeFields)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let default = tracing::subscriber::set_default(subscriber);
    (
        lines,
        Capture {
            _default: default,
            _serial: serial,
        },
    )
}

/// What [`capture_logs`] holds: the thread's subscriber, dropped first, then the turn.
pub struct Capture {
    _default: tracing::subscriber::DefaultGuard,
    _serial: std::sync::MutexGuard<'static, ()>,
}

#[cfg(test)]
mod tests {
    /// One log line, from one place in the code (one `tracing` callsite).
    fn log_the_probe_line() {
        tracing::info!("the probe line");
    }

    /// Found when tried (CI, once): another test's thread was first to reach the audit's
    /// log line while this thread captured, and `tracing` asked that thread's subscriber
    /// (none) whether anyone listened. The line was then skipped everywhere, the capture's
    /// thread included, and the audit test saw no line.
    #[test]
    fn a_line_first_reached_on_another_thread_is_still_captured() {
        let (lines, _guard) = super::capture_logs();
        std::thread::spawn(log_the_probe_line)
            .join()
            .expect("the other thread");
        log_the_probe_line();
        assert_eq!(
            lines.text().matches("the probe line").count(),
            1,
            "{}",
            lines.text()
        );
    }
}
