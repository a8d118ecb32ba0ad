//! Which connections the portal listeners take in, and the header deadline on each.
//!
//! [`Admission`] wraps pingora's HTTP application: each accepted connection takes a slot
//! ([`ConnectionSlots`]) for its whole life and is wrapped in a [`HeadDeadline`]; then the
//! wrapped application serves every request of the connection. A connection over a cap is
//! refused politely, with a minimal HTTP answer (429 for one address's share, 503 for the
//! process) and `Connection: close`, or HTTP/2's GOAWAY to a client that speaks it, written
//! with a short deadline so a refused client cannot hold the task either.

use super::connections::{ConnectionSlots, Crowded};
use super::head_deadline::HeadDeadline;
use super::keepalive::IdleTimer;
use super::penalty::{Offender, Penalties};
use super::streams::StreamsInFlight;
use super::tls::{self, HandshakeError, TlsPorts};
use super::ConnectionLimits;
use crate::registry::Registry;
use crate::telemetry::Telemetry;
use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{GetSocketDigest, Ssl, Stream, ALPN};
use pingora::server::ShutdownWatch;
use prometheus::{IntCounter, IntGauge};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The counters an SRE watches for floods.
#[derive(Clone)]
pub struct AdmissionMetrics {
    pub open: IntGauge,
    pub refused_per_address: IntCounter,
    pub refused_total: IntCounter,
    pub header_timeouts: IntCounter,
    /// HTTP/2 connections closed for abandoning requests (rapid reset), counted with the
    /// requests refused for it (`egov_rate_limited_total{scope="h2_streams"}`).
    pub closed_for_resets: IntCounter,
    /// HTTP/2 connections closed for sending more frames that carry nothing than they
    /// earned (`egov_rate_limited_total{scope="h2_frames"}`, see [`super::h2_frames`]).
    pub closed_for_floods: IntCounter,
    /// TLS handshakes that did not finish within the header deadline (counted as header
    /// timeouts as well: `egov_tls_handshakes_failed_total{reason="timeout"}`) ...
    pub tls_timed_out: IntCounter,
    /// ... and those that failed (`{reason="error"}`).
    pub tls_failed: IntCounter,
    /// Connections closed at accept for their address's flood penalty
    /// (`egov_connections_refused_total{reason="penalized"}`, see [`super::penalty`]).
    pub refused_penalized: IntCounter,
    /// Where a refusal that was answered is written in the access log.
    pub telemetry: Arc<Telemetry>,
}

/// Pingora's application `A`, behind connection caps and a header deadline.
pub struct Admission<A> {
    inner: Arc<A>,
    slots: Arc<ConnectionSlots>,
    header_timeout: Duration,
    /// How long a kept-alive HTTP/1 connection waits for its next request; `None`: no
    /// keep-alive.
    keepalive: Option<Duration>,
    streams: Arc<StreamsInFlight>,
    penalties: Arc<Penalties>,
    /// Whose running snapshot says which peers are trusted proxies (read at each accept, so
    /// a reload that lists or removes a load balancer takes effect from its next
    /// connection; one open before keeps what it was given, as after an nginx reload).
    registry: Arc<Registry>,
    metrics: AdmissionMetrics,
    /// Refused connections lingering now (see [`refuse`]).
    lingering: AtomicUsize,
    /// The listeners that speak TLS, handshaken here once a slot is taken.
    tls: TlsPorts,
    /// Refused TLS connections in their short handshake now: they hold no slot, so they are
    /// bounded here (see [`MAX_REFUSAL_HANDSHAKES`]).
    refusing: AtomicUsize,
}

impl<A> Admission<A> {
    pub fn new(
        inner: A,
        limits: &ConnectionLimits,
        registry: Arc<Registry>,
        metrics: AdmissionMetrics,
    ) -> Self {
        Self {
            inner: Arc::new(inner),
            slots: Arc::clone(&limits.slots),
            header_timeout: limits.header_timeout,
            keepalive: limits.keepalive_timeout,
            streams: Arc::clone(&limits.streams),
            penalties: Arc::clone(&limits.penalties),
            registry,
            metrics,
            lingering: AtomicUsize::new(0),
            tls: TlsPorts::default(),
            refusing: AtomicUsize::new(0),
        }
    }

    /// The listeners in `tls` speak TLS: their connections are handshaken once they hold a
    /// slot, within the header deadline (see [`super::tls`]).
    pub fn with_tls(mut self, tls: TlsPorts) -> Self {
        self.tls = tls;
        self
    }
}

fn peer_ip(stream: &Stream) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    let addr = digest.peer_addr()?;
    addr.as_inet().map(|a| a.ip())
}

/// Makes closing `stream` a reset (`SO_LINGER` 0): no FIN exchange, and no `TIME_WAIT`
/// entry left in the kernel for each of a reconnecting flood's connections (the side that
/// closes first keeps one for a minute; 8,800 a second would fill the kernel's table).
fn reset_on_close(stream: &Stream) {
    use std::os::fd::BorrowedFd;
    let fd = stream.id();
    if fd < 0 {
        return;
    }
    // SAFETY: `fd` is the socket `stream` owns, open for as long as this borrow (the
    // stream outlives the call).
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = socket2::SockRef::from(&socket).set_linger(Some(Duration::ZERO));
}

const REFUSED_PER_ADDRESS: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 10\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 41\r\nConnection: close\r\n\r\nToo many connections from your address.\r\n";
const REFUSED_TOTAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 37\r\nConnection: close\r\n\r\nThe portal is busy, try again soon.\r\n";

/// HTTP/2's refusal of a whole connection: the server's preface (an empty SETTINGS frame,
/// RFC 9113 §3.4) and a GOAWAY that processed no stream, with `code` and `why` as its debug
/// data. A client that speaks HTTP/2 reads HTTP/1 bytes as a malformed frame (found when
/// tried: an h2c client over its address's share saw FRAME_SIZE_ERROR, not a refusal).
fn h2_refusal(code: u32, why: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + 9 + 8 + why.len());
    out.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    let length = (8 + why.len()) as u32;
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(why);
    out
}

/// GOAWAY's code for a peer that asks for too much (RFC 9113 §7).
const ENHANCE_YOUR_CALM: u32 = 0xb;
/// GOAWAY's code for a refusal that is nobody's fault: no stream was processed, so the
/// client may retry.
const NO_ERROR: u32 = 0;

/// Whether a refused connection speaks HTTP/2: by ALPN, or, in plain text, by the first
/// bytes of the h2c preface if they come at once (a client sends its preface or request
/// as soon as it connects; the wait is short so refused connections are not held). An
/// HTTP/1 client's request is waited for in TLS too: an answer that arrives before the
/// request is sent is one no client reads (found by the suite: hyper's `UnexpectedMessage`).
async fn speaks_h2(stream: &mut Stream) -> bool {
    if stream.selected_alpn_proto() == Some(ALPN::H2) {
        return true;
    }
    let mut first = [0u8; 3];
    let read = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut first)).await;
    stream.get_ssl_digest().is_none()
        && stream.selected_alpn_proto().is_none()
        && matches!(read, Ok(Ok(n)) if n > 0 && H2_PREFACE.starts_with(&first[..n]))
}

/// A refusal answered: when it began, the bytes of the answer written (none if the client
/// did not take them within a second), and how long that took.
struct Refused {
    at: std::time::SystemTime,
    bytes: usize,
    took: Duration,
}

/// Answers a refused connection and closes it.
async fn refuse(mut stream: Stream, crowded: Crowded, lingering: &AtomicUsize) -> Refused {
    let at = std::time::SystemTime::now();
    let began = std::time::Instant::now();
    let answer = match (speaks_h2(&mut stream).await, crowded) {
        (false, Crowded::PerAddress) => REFUSED_PER_ADDRESS.to_vec(),
        (false, Crowded::Total) => REFUSED_TOTAL.to_vec(),
        (true, Crowded::PerAddress) => {
            h2_refusal(ENHANCE_YOUR_CALM, b"too many connections from your address")
        }
        (true, Crowded::Total) => h2_refusal(NO_ERROR, b"the portal is busy, try again soon"),
    };
    let write = async {
        stream.write_all(&answer).await?;
        stream.flush().await
    };
    let written = match tokio::time::timeout(Duration::from_secs(1), write).await {
        Ok(Ok(())) => answer.len(),
        _ => 0,
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
    let answered = Refused {
        at,
        bytes: written,
        took: began.elapsed(),
    };
    // A lingering close (nginx's `lingering_close`), short and bounded: what the client still
    // sends (the rest of its preface, its request) is read and dropped until it closes. A
    // socket closed with unread bytes is reset by the kernel, and the client may lose the
    // refusal it had not read yet (found when tried: an HTTP/2 client saw a broken pipe,
    // not the GOAWAY, once in a full run). Never when the portal is full (descriptors are
    // what is short then), and for at most `MAX_LINGERING` connections at once: a flood of
    // refused connections must not hold a descriptor each for half a second (review).
    if crowded == Crowded::Total {
        return answered;
    }
    let Some(_lingers) = Bounded::take(lingering, MAX_LINGERING) else {
        return answered;
    };
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut dropped = 0usize;
        while dropped < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => dropped += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
    answered
}

/// One of at most `max` at once (refused connections lingering, or in their short
/// handshake), counted back when dropped: also if the task holding it ends early.
struct Bounded<'a>(&'a AtomicUsize);

impl<'a> Bounded<'a> {
    fn take(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        if count.fetch_add(1, Ordering::Relaxed) >= max {
            count.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Self(count))
    }
}

impl Drop for Bounded<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a TLS connection refused for its address's share may take to handshake, so that
/// it can read its refusal ...
const REFUSAL_HANDSHAKE: Duration = Duration::from_secs(1);

/// ... and how many may, at once, per listener: such a connection holds a descriptor and no
/// slot (found in review: one address opening silent connections held one each for the
/// second, without bound).
const MAX_REFUSAL_HANDSHAKES: usize = 64;

/// Refused connections that may linger at once, per listener.
const MAX_LINGERING: usize = 64;

/// How long, and for how many bytes, a refused connection is read from before it closes.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 64 * 1024;

impl<A: HttpServerApp + Send + Sync + 'static> Admission<A> {
    /// Serves a connection. HTTP/2 (by ALPN or by h2c's preface, as pingora decides) is
    /// pingora's to serve whole. HTTP/1 is served request by request as pingora would, with
    /// one difference: between two requests the connection waits in
    /// [`HeadDeadline::next_request`], holding nothing of pingora's per-request state (a
    /// future of over 10 KiB and a 4 KiB header buffer), which is made only when the next
    /// request's bytes arrive. That is what 10,000 idle keep-alive connections cost. It waits
    /// `limits.keepalive_timeout` at most, then closes the connection and frees its slot.
    async fn serve(
        self: &Arc<Self>,
        mut stream: Box<HeadDeadline>,
        offender: Option<Offender>,
        shutdown: &ShutdownWatch,
    ) {
        match self.protocol(&mut stream).await {
            Protocol::Http1 => {}
            // The client sent no preface in time, or the peek failed: pingora would close.
            Protocol::Gone => return,
            protocol @ (Protocol::Http2 | Protocol::Custom) => {
                // A flood's address is refused for a while: reconnecting would get it a fresh
                // budget each time.
                if protocol == Protocol::Http2 {
                    stream
                        .count_h2_frames(self.metrics.closed_for_floods.clone(), offender.clone());
                }
                // Its requests are judged together while it lasts (rapid reset), and it is
                // closed when they abandon too many.
                let counted = self.streams.open(stream.get_socket_digest());
                let serve = async {
                    let mut handed: Stream = stream;
                    while let Some(reused) =
                        ServerApp::process_new(&self.inner, handed, shutdown).await
                    {
                        handed = reused;
                    }
                };
                match counted.as_ref().map(|c| c.closing()) {
                    Some(closing) => tokio::select! {
                        () = serve => {}
                        () = closing.notified() => {
                            self.metrics.closed_for_resets.inc();
                            if let Some(offender) = &offender {
                                offender.strike();
                            }
                        }
                    },
                    None => serve.await,
                }
                return;
            }
        }
        let mut persistent: Option<HttpPersistentSettings> = None;
        let mut next: Stream = stream;
        let mut idle_timer = IdleTimer::new(self.keepalive.unwrap_or_default());
        let mut shutting_down = shutdown.clone();
        loop {
            let mut session = ServerSession::new_http1(next);
            // Pingora counts it in whole seconds; the wait below is exact. (Pingora itself
            // turns keep-alive off after reading the request when shutting down, and the
            // proxy when `limits.keepalive_timeout` is "off".)
            let seconds = self.keepalive.map_or(0, |wait| wait.as_secs().max(1));
            session.set_keepalive(Some(seconds));
            match persistent.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => session.set_keepalive_reuses_remaining(
                    self.inner
                        .server_options()
                        .and_then(|o| o.keepalive_request_limit),
                ),
            }
            let Some(reused) = self.inner.process_new_http(session, shutdown).await else {
                return;
            };
            let (stream, settings) = reused.consume();
            persistent = settings;
            let Ok(mut idle) = stream.into_any().downcast::<HeadDeadline>() else {
                // Always the wrapper this connection was given; if not, close it.
                return;
            };
            let arrived = tokio::select! {
                // A request already waiting is served without looking at the timers.
                biased;
                r = idle.next_request() => matches!(r, Ok(true)),
                () = idle_timer.expired() => false,
                _ = shutting_down.changed() => false,
            };
            if !arrived {
                return;
            }
            next = idle;
        }
    }

    /// Who serves the connection: pingora, whole, for HTTP/2 by ALPN, a custom protocol,
    /// or (plain text, with h2c on) a client that starts with HTTP/2's preface; this loop
    /// for HTTP/1. The same test as pingora's own, but decided by the first byte that
    /// differs from the preface rather than by a peek of all 24 bytes.
    async fn protocol(&self, stream: &mut HeadDeadline) -> Protocol {
        match stream.selected_alpn_proto() {
            Some(ALPN::H2) => return Protocol::Http2,
            Some(ALPN::Custom(_)) => return Protocol::Custom,
            _ => {}
        }
        let options = self.inner.server_options();
        if options.is_some_and(|o| o.force_custom) {
            return Protocol::Custom;
        }
        let h2c = options.is_some_and(|o| o.h2c) && stream.get_ssl_digest().is_none();
        if !h2c {
            return Protocol::Http1;
        }
        // Pingora peeks again, finds the bytes already read (kept by the wrapper) and so
        // takes the connection as HTTP/2, as this test found.
        match stream.starts_with(H2_PREFACE).await {
            Ok(true) => Protocol::Http2,
            Ok(false) => Protocol::Http1,
            // Nothing telling within the header deadline (counted once), or an error.
            Err(_) => Protocol::Gone,
        }
    }
}

/// Who serves a connection (see [`Admission::protocol`]): pingora whole for HTTP/2 and a
/// custom protocol, the keep-alive loop for HTTP/1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http2,
    Custom,
    Http1,
    Gone,
}

/// HTTP/2's connection preface (RFC 9113, section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Admission<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let peer = peer_ip(&stream);
        let snapshot = self.registry.peek();
        let trusted_proxies = &snapshot.portal.settings.trusted_proxies;
        if self.penalties.refuses(peer, trusted_proxies) {
            // Closed before a byte is read or written: what a flood costs is its accept.
            self.metrics.refused_penalized.inc();
            reset_on_close(&stream);
            return None;
        }
        let acceptor = self.tls.acceptor_for(&stream);
        let trusted = peer.is_some_and(|ip| trusted_proxies.trusts(ip));
        // The address a flood on this connection would be penalized under, if any.
        let offender = self.penalties.offender(peer, trusted_proxies);
        drop(snapshot);
        let slot = match self.slots.take(peer, trusted) {
            Ok(slot) => slot,
            Err(crowded) => {
                match crowded {
                    Crowded::PerAddress => self.metrics.refused_per_address.inc(),
                    Crowded::Total => self.metrics.refused_total.inc(),
                }
                let stream = match (&acceptor, crowded) {
                    (None, _) => stream,
                    // Descriptors are what is short: no handshake, the socket is closed.
                    (Some(_), Crowded::Total) => return None,
                    // A short handshake, for the refusal to be read, a few at a time (they hold
                    // no slot); past that, closed as when the process is full.
                    (Some(acceptor), Crowded::PerAddress) => {
                        let refusing = Bounded::take(&self.refusing, MAX_REFUSAL_HANDSHAKES)?;
                        let shaken = tls::handshake(acceptor, stream, REFUSAL_HANDSHAKE).await;
                        drop(refusing);
                        match shaken {
                            Ok(stream) => stream,
                            Err(_) => return None,
                        }
                    }
                };
                let refused = refuse(stream, crowded, &self.lingering).await;
                let status = match crowded {
                    Crowded::PerAddress => 429,
                    Crowded::Total => 503,
                };
                let telemetry = &self.metrics.telemetry;
                telemetry.connection_refused(peer, status, refused.at, refused.bytes, refused.took);
                return None;
            }
        };
        self.metrics.open.inc();
        let began = tokio::time::Instant::now();
        let stream = match acceptor {
            None => stream,
            Some(acceptor) => match tls::handshake(&acceptor, stream, self.header_timeout).await {
                Ok(stream) => stream,
                Err(e) => {
                    if matches!(e, HandshakeError::TimedOut(_)) {
                        self.metrics.header_timeouts.inc();
                        self.metrics.tls_timed_out.inc();
                    } else {
                        self.metrics.tls_failed.inc();
                    }
                    // Debug only: scanners and floods fail handshakes by the thousand (pingora
                    // logged each as an error); the counter is what an SRE watches.
                    tracing::debug!(error = %e, "portal connection closed in its TLS handshake");
                    self.metrics.open.dec();
                    return None;
                }
            },
        };
        let mut stream = HeadDeadline::since(
            stream,
            began,
            self.header_timeout,
            self.metrics.header_timeouts.clone(),
        );
        stream.watch_unreadable(Arc::clone(&self.metrics.telemetry), peer);
        // Every request of this connection is served here, so the slot lives exactly as
        // long as the connection.
        self.serve(Box::new(stream), offender, shutdown).await;
        self.metrics.open.dec();
        drop(slot);
        None
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_so_many_are_held_at_once_and_each_is_given_back_when_dropped() {
        let count = AtomicUsize::new(0);
        let first = Bounded::take(&count, 2).expect("first");
        let second = Bounded::take(&count, 2).expect("second");
        assert!(Bounded::take(&count, 2).is_none());
        drop(first);
        let _third = Bounded::take(&count, 2).expect("room again");
        drop(second);
        assert_eq!(count.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_refusals_are_well_formed_http() {
        for answer in [REFUSED_PER_ADDRESS, REFUSED_TOTAL] {
            let text = std::str::from_utf8(answer).expect("ascii");
            let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.parse().ok())
                .expect("length");
            assert_eq!(body.len(), length, "{text}");
        }
    }
}
