//! A deadline for a complete request header (nginx's `client_header_timeout`).
//!
//! Pingora's read timeout applies to each read, so a slowloris client that sends one header
//! byte every few seconds keeps its connection forever. [`HeadDeadline`] wraps the accepted
//! stream and watches the bytes go by: from the connection's start, and on a kept-alive
//! connection from the next request's first byte, the header must be complete (a blank
//! line) before `limit`, or reads fail with `TimedOut` and pingora closes the connection.
//! Request bodies are not watched (pingora's per-read timeout covers them); the watch
//! starts again when a final response head (`HTTP/1.x` non-1xx) is written. An HTTP/2
//! connection's client preface must arrive within the same deadline: over TLS with ALPN
//! `h2`, pingora waits for it without one (found when tried: such a connection sent nothing
//! and was held until the client went); h2c's preface is read as a header is. After it,
//! HTTP/2's frames are not request lines and have no deadline here; their heads are counted
//! instead, once [`HeadDeadline::count_h2_frames`] is called, for the flood guard of
//! [`super::h2_frames`]: the one wrapper sees every byte either way.

use super::h2_frames::FrameBudget;
use super::penalty::Offender;
use bytes::Bytes;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::TlsRef;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use prometheus::IntCounter;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: no deadline until the next request's first byte.
    Idle,
    /// Inside a request header, which must end before the deadline.
    Head,
    /// The header is complete; the body and the response are not watched.
    Body,
    /// HTTP/2 by ALPN: its client's preface must be in before the deadline (pingora waits
    /// for it without one), then [`Phase::Off`].
    Preface,
    /// HTTP/2: never watched.
    Off,
}

/// The accepted stream, with a deadline on each request header.
#[derive(Debug)]
pub struct HeadDeadline {
    inner: Stream,
    limit: Duration,
    phase: Phase,
    /// When the current header must be complete: from the connection's start for the
    /// first, from the first read of the next one that did not bring it whole otherwise.
    deadline: Option<Instant>,
    /// The timer that wakes a read waiting past [`Self::deadline`]; made and set only when
    /// a read of an incomplete header has to wait. A header that arrives in one read (nearly
    /// every request of a keep-alive connection) costs no timer operation at all.
    timer: Option<Pin<Box<Sleep>>>,
    /// End-of-header scanner: 0 inside a line, 1 after `\n`, 2 after `\n\r`.
    newlines: u8,
    /// Whether a byte other than CR/LF was seen in this header (leading blank lines do not
    /// end a header).
    content: bool,
    timeouts: IntCounter,
    /// Bytes read while the connection waited between requests ([`Self::next_request`]),
    /// already through the header watch, served before anything else is read.
    stash: Bytes,
    /// [`Phase::Preface`]: bytes of the client's preface still to come.
    preface_left: u8,
    /// HTTP/2: the frames that carry nothing, counted as the bytes go by (see
    /// [`super::h2_frames`]); `None` for HTTP/1.
    frames: Option<Box<FrameBudget>>,
    /// Where a request pingora could not read is told ([`Self::watch_unreadable`]).
    unreadable: Option<Box<Unreadable>>,
}

/// The head of the answer pingora writes itself to a request it could not parse (a
/// control byte in a header, an invalid request line), with no phase of the gateway's
/// run: the only sign such a request leaves.
const PINGORA_UNREADABLE: &[u8] = b"HTTP/1.1 400 Bad Request\r\nServer: Pingora\r\n";

/// Who is told of a request pingora refused unread, and the client's address.
struct Unreadable {
    telemetry: Arc<crate::telemetry::Telemetry>,
    client_ip: Option<std::net::IpAddr>,
}

impl std::fmt::Debug for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unreadable")
            .field("client_ip", &self.client_ip)
            .finish_non_exhaustive()
    }
}

/// The length of HTTP/2's client preface (RFC 9113 §3.4).
const H2_PREFACE_BYTES: u8 = 24;

/// The most [`HeadDeadline::next_request`] reads at once (pingora's first header buffer).
const FIRST_READ: usize = 4096;

impl HeadDeadline {
    /// Wraps `inner`; the first header's deadline starts now.
    pub fn new(inner: Stream, limit: Duration, timeouts: IntCounter) -> Self {
        Self::since(inner, Instant::now(), limit, timeouts)
    }

    /// Wraps `inner`, whose connection began at `began`: the first header is due `limit`
    /// after it. A TLS handshake is part of the first header's time (it ran under the
    /// same limit); starting the deadline after it gave a client that handshook at the
    /// last moment the whole limit again, twice the time to hold its slot.
    pub fn since(inner: Stream, began: Instant, limit: Duration, timeouts: IntCounter) -> Self {
        let h2 = matches!(inner.selected_alpn_proto(), Some(ALPN::H2));
        Self::starting(inner, began, limit, timeouts, h2)
    }

    /// [`Self::since`], for a connection that speaks HTTP/2 from its first byte (`h2`) or
    /// starts with a request header.
    fn starting(
        inner: Stream,
        began: Instant,
        limit: Duration,
        timeouts: IntCounter,
        h2: bool,
    ) -> Self {
        Self {
            inner,
            limit,
            phase: if h2 { Phase::Preface } else { Phase::Head },
            preface_left: H2_PREFACE_BYTES,
            deadline: Some(began + limit),
            timer: None,
            newlines: 0,
            content: false,
            timeouts,
            stash: Bytes::new(),
            frames: None,
            unreadable: None,
        }
    }

    /// From now on, a request pingora answers 400 itself, unparsed, is in the access log
    /// and the portal's metrics, as nginx logs its 400s: found when tried, 300 requests
    /// with a control byte in a header left no line and moved no counter. (Lines share the
    /// refusals' budget a second, [`crate::telemetry::REFUSAL_LINES_PER_SECOND`].)
    pub fn watch_unreadable(
        &mut self,
        telemetry: Arc<crate::telemetry::Telemetry>,
        client_ip: Option<std::net::IpAddr>,
    ) {
        self.unreadable = Some(Box::new(Unreadable {
            telemetry,
            client_ip,
        }));
    }

    /// Looks at a response head about to be written: pingora's own answer to a request it
    /// could not read is told once ([`Self::watch_unreadable`]).
    fn answering(&mut self, head: &[u8]) {
        if matches!(self.phase, Phase::Head | Phase::Body) && head.starts_with(PINGORA_UNREADABLE) {
            if let Some(watch) = self.unreadable.take() {
                let began = self
                    .deadline
                    .map(|d| d.checked_sub(self.limit).unwrap_or(d));
                let took = began.map_or(Duration::ZERO, |b| b.elapsed());
                // Pingora's answer is this head alone (`Content-Length: 0`).
                watch
                    .telemetry
                    .request_unreadable(watch.client_ip, took, head.len());
            }
        }
    }

    /// The HTTP/2 streams pingora refused unread since the last look
    /// ([`FrameBudget::refused_unread`]), each told as HTTP/1's one is.
    fn tell_refused_unread(&mut self) {
        let refused = self.frames.as_mut().map_or(0, |f| f.refused_unread());
        if let (Some(watch), true) = (&self.unreadable, refused > 0) {
            for _ in 0..refused {
                // The answer: a frame's head and its one byte of header block.
                watch
                    .telemetry
                    .request_unreadable(watch.client_ip, Duration::ZERO, 10);
            }
        }
    }

    /// From now on the connection is HTTP/2, its bytes read from the client's preface on
    /// (kept or not yet read): its frames are held to a [`FrameBudget`], and once it is
    /// over, every read fails, `closed` counts the connection and `offender` is penalized.
    pub fn count_h2_frames(&mut self, closed: IntCounter, offender: Option<Offender>) {
        self.frames = Some(Box::new(FrameBudget::new(closed, offender)));
    }

    /// Waits, between two requests of a kept-alive connection, for the next request's
    /// first bytes, and keeps them for the parser: `Ok(false)` when the client closed the
    /// connection instead. Nothing is held while waiting (the read buffer lives on the
    /// stack of each poll), so an idle connection costs its socket and this wrapper, not
    /// the proxy's per-request state and buffers, which are made once bytes arrive.
    pub async fn next_request(&mut self) -> std::io::Result<bool> {
        std::future::poll_fn(|cx| {
            // Not zeroed: a 4 KiB memset on every poll cost more than the rest of the wait.
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); FIRST_READ];
            let mut read = ReadBuf::uninit(&mut buf);
            match Pin::new(&mut *self).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => Poll::Ready(Ok(false)),
                Poll::Ready(Ok(())) => {
                    self.stash = Bytes::copy_from_slice(read.filled());
                    Poll::Ready(Ok(true))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Reads the connection's first bytes until they tell whether it starts with `prefix`
    /// (HTTP/2's preface): as soon as one byte differs, or once `prefix.len()` arrived, or
    /// at the end of the stream. The bytes stay for whoever reads next. A peek of exactly
    /// `prefix.len()` bytes (pingora's test) leaves a whole request shorter than that
    /// (`GET / HTTP/1.0\r\n\r\n`, 18 bytes: a load balancer's health check) unanswered
    /// until the header deadline; this answers it at once. Under the header deadline.
    pub async fn starts_with(&mut self, prefix: &[u8]) -> std::io::Result<bool> {
        // The whole test runs under the header deadline: the scanner stops watching once
        // it sees the preface begin (or a blank line inside it), so a client that sends
        // part of the preface and falls silent would otherwise hold the connection forever.
        let at = self.deadline_from_now_if_unset();
        match tokio::time::timeout_at(at, self.read_until_told(prefix)).await {
            Ok(verdict) => verdict,
            Err(_) => Err(self.timed_out()),
        }
    }

    async fn read_until_told(&mut self, prefix: &[u8]) -> std::io::Result<bool> {
        let mut first = std::mem::take(&mut self.stash).to_vec();
        let verdict = loop {
            let n = first.len().min(prefix.len());
            if first[..n] != prefix[..n] {
                break Ok(false);
            }
            if n == prefix.len() {
                break Ok(true);
            }
            let read = std::future::poll_fn(|cx| {
                let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); FIRST_READ];
                let mut read = ReadBuf::uninit(&mut buf);
                match self.poll_watched(cx, &mut read) {
                    Poll::Ready(Ok(())) => {
                        first.extend_from_slice(read.filled());
                        Poll::Ready(Ok(read.filled().len()))
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            match read {
                Ok(0) => break Ok(false),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        };
        self.stash = Bytes::from(first);
        verdict
    }

    fn start_head(&mut self) {
        self.phase = Phase::Head;
        self.newlines = 0;
        self.content = false;
        // Set by the first read that leaves this header incomplete.
        self.deadline = None;
    }

    /// The header is still incomplete after a read: its deadline starts now if it had none,
    /// and `TimedOut` once it has passed.
    fn check_deadline(&mut self) -> std::io::Result<()> {
        let now = Instant::now();
        match self.deadline {
            None => self.deadline = Some(now + self.limit),
            Some(at) if now >= at => return Err(self.timed_out()),
            Some(_) => {}
        }
        Ok(())
    }

    /// The current header's deadline, starting now if no read has set it yet.
    fn deadline_from_now_if_unset(&mut self) -> Instant {
        *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.limit)
    }

    /// A read of an incomplete header has to wait: wake it at the deadline.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> std::io::Result<()> {
        let at = self.deadline_from_now_if_unset();
        let timer = match &mut self.timer {
            Some(timer) => {
                if timer.deadline() != at {
                    timer.as_mut().reset(at);
                }
                timer
            }
            None => self.timer.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        if timer.as_mut().poll(cx).is_ready() {
            return Err(self.timed_out());
        }
        Ok(())
    }

    fn timed_out(&self) -> std::io::Error {
        self.timeouts.inc();
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "request header not complete within limits.header_timeout",
        )
    }

    /// Feeds header bytes; true once the blank line ending the header was seen. Jumps from
    /// line end to line end (`memchr`), looking only at each line's first bytes: a header
    /// costs a few instructions per line, not per byte.
    fn scan(&mut self, bytes: &[u8]) -> bool {
        if !self.content && bytes.starts_with(b"PRI * HTTP/2") {
            self.phase = Phase::Off;
            return false;
        }
        let only_cr = |line: &[u8]| line.iter().all(|&b| b == b'\r');
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', bytes) {
            let line = &bytes[start..end];
            if only_cr(line) {
                // A blank line: the end, unless nothing came before it (leading CRLFs), or
                // this is the rest of a line that had content in an earlier read.
                if self.content && self.newlines > 0 {
                    return true;
                }
            } else {
                self.content = true;
            }
            self.newlines = 1;
            start = end + 1;
        }
        let rest = &bytes[start..];
        if !rest.is_empty() {
            if only_cr(rest) {
                if self.newlines == 1 {
                    self.newlines = 2;
                }
            } else {
                self.newlines = 0;
                self.content = true;
            }
        }
        false
    }
}

impl AsyncRead for HeadDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = if this.stash.is_empty() {
            this.poll_watched(cx, buf)
        } else {
            // Read (and watched) while the connection was idle, or to tell its protocol.
            let n = this.stash.len().min(buf.remaining());
            buf.put_slice(&this.stash.split_to(n));
            Poll::Ready(Ok(()))
        };
        if let (Some(frames), Poll::Ready(Ok(()))) = (&mut this.frames, &polled) {
            if let Err(flood) = frames.received(&buf.filled()[before..]) {
                return Poll::Ready(Err(std::io::Error::other(flood)));
            }
        }
        polled
    }
}

impl HeadDeadline {
    /// A read of the socket, its bytes watched for the end of the header and the deadline.
    fn poll_watched(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if !new.is_empty() {
                    if this.phase == Phase::Idle {
                        this.start_head();
                    }
                    if this.phase == Phase::Head {
                        if this.scan(new) {
                            this.phase = Phase::Body;
                        } else if let Err(e) = this.check_deadline() {
                            // A client trickling its header never lets a read wait.
                            return Poll::Ready(Err(e));
                        }
                    } else if this.phase == Phase::Preface {
                        // At most 24.
                        let n = new.len().min(usize::from(this.preface_left)) as u8;
                        this.preface_left -= n;
                        if this.preface_left == 0 {
                            this.phase = Phase::Off;
                            // Its wake-up would be for nothing now.
                            this.timer = None;
                        } else if let Err(e) = this.check_deadline() {
                            return Poll::Ready(Err(e));
                        }
                    }
                }
            }
            Poll::Pending if matches!(this.phase, Phase::Head | Phase::Preface) => {
                if let Err(e) = this.poll_deadline(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            _ => {}
        }
        polled
    }
}

impl AsyncWrite for HeadDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.unreadable.is_some() {
            self.answering(buf);
        }
        // A final response head: the next bytes read belong to the next request.
        if self.phase == Phase::Body
            && buf.len() > 9
            && buf.starts_with(b"HTTP/1.")
            && buf[9] != b'1'
        {
            self.phase = Phase::Idle;
        }
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let (Some(frames), Poll::Ready(Ok(n))) = (&mut self.frames, &written) {
            frames.sent(&buf[..(*n).min(buf.len())]);
            self.tell_refused_unread();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.unreadable.is_some() {
            if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
                self.answering(first);
            }
        }
        if self.phase == Phase::Body {
            if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
                if first.len() > 9 && first.starts_with(b"HTTP/1.") && first[9] != b'1' {
                    self.phase = Phase::Idle;
                }
            }
        }
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let (Some(frames), Poll::Ready(Ok(n))) = (&mut self.frames, &written) {
            let mut left = *n;
            for buf in bufs {
                if left == 0 {
                    break;
                }
                let part = buf.len().min(left);
                frames.sent(&buf[..part]);
                left -= part;
            }
            self.tell_refused_unread();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait::async_trait]
impl Shutdown for HeadDeadline {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for HeadDeadline {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeadDeadline {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for HeadDeadline {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for HeadDeadline {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for HeadDeadline {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait::async_trait]
impl Peek for HeadDeadline {
    /// Pingora peeks for the HTTP/2 preface before reading anything: a client that sends
    /// nothing waits here, so the deadline applies here too.
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        if !self.stash.is_empty() {
            // Bytes were taken off the socket already: peeking would skip them.
            return Ok(false);
        }
        if self.phase != Phase::Head {
            return self.inner.try_peek(buf).await;
        }
        let at = self.deadline_from_now_if_unset();
        match tokio::time::timeout_at(at, self.inner.try_peek(buf)).await {
            Ok(peeked) => peeked,
            Err(_) => {
                self.timeouts.inc();
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no request within limits.header_timeout",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Real time, kept short: the behaviour, not the speed, is under test.
    const LIMIT: Duration = Duration::from_millis(300);

    fn counter() -> IntCounter {
        IntCounter::new("t", "t").expect("counter")
    }

    fn pair(limit: Duration) -> (HeadDeadline, tokio::io::DuplexStream) {
        let (server, client) = tokio::io::duplex(4096);
        (
            HeadDeadline::new(Box::new(server), limit, counter()),
            client,
        )
    }

    /// One request read and answered: the connection is now between requests.
    async fn serve_one(server: &mut HeadDeadline, client: &mut tokio::io::DuplexStream) {
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .expect("write");
        read_some(server).await.expect("header");
        server
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .expect("response");
    }

    async fn read_some(s: &mut HeadDeadline) -> std::io::Result<usize> {
        let mut buf = [0u8; 512];
        s.read(&mut buf).await
    }

    #[tokio::test]
    async fn a_header_sent_a_byte_at_a_time_is_cut_off_at_the_deadline() {
        let (mut server, mut client) = pair(LIMIT);
        let mut last = Ok(0);
        for _ in 0..30 {
            client.write_all(b"X").await.expect("write");
            last = read_some(&mut server).await;
            if last.is_err() {
                break;
            }
            tokio::time::sleep(LIMIT / 10).await;
        }
        let err = last.expect_err("the deadline passed");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(server.timeouts.get(), 1);
    }

    #[tokio::test]
    async fn a_connection_that_began_before_it_was_wrapped_has_only_the_rest_of_the_limit() {
        let (server, mut client) = tokio::io::duplex(4096);
        let began = Instant::now();
        tokio::time::sleep(LIMIT * 2 / 3).await; // its TLS handshake
        let mut server = HeadDeadline::since(Box::new(server), began, LIMIT, counter());
        client
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        read_some(&mut server)
            .await
            .expect("half a header, in time");
        let err = read_some(&mut server)
            .await
            .expect_err("the rest never came");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let waited = began.elapsed();
        // The whole limit again from the wrap would be 500 ms.
        assert!(waited < LIMIT * 3 / 2, "cut off {waited:?} after it began");

        // A whole header already there when the time is up is served all the same.
        let (server, mut client) = tokio::io::duplex(4096);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .expect("write");
        let late = Instant::now() - LIMIT * 2;
        let mut server = HeadDeadline::since(Box::new(server), late, LIMIT, counter());
        assert!(read_some(&mut server).await.expect("the header") > 0);
    }

    #[tokio::test]
    async fn part_of_the_http2_preface_then_silence_is_cut_off_at_the_deadline() {
        for sent in [
            &b"PRI * HTTP/2.0\r\n"[..],
            &b"PRI * HTTP/2.0\r\n\r\nS"[..],
            b"PR",
        ] {
            let (mut server, mut client) = pair(LIMIT);
            client.write_all(sent).await.expect("write");
            let err = server
                .starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .expect_err("the deadline passed");
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{sent:?}");
            assert_eq!(server.timeouts.get(), 1, "{sent:?}");
        }
    }

    /// A connection that speaks HTTP/2 from its first byte (TLS with ALPN `h2`).
    fn h2_pair(limit: Duration) -> (HeadDeadline, tokio::io::DuplexStream) {
        let (server, client) = tokio::io::duplex(4096);
        (
            HeadDeadline::starting(Box::new(server), Instant::now(), limit, counter(), true),
            client,
        )
    }

    #[tokio::test]
    async fn an_alpn_http2_connection_that_never_sends_its_preface_is_cut_off_at_the_deadline() {
        for sent in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
            let (mut server, mut client) = h2_pair(LIMIT);
            client.write_all(sent).await.expect("write");
            let cut = tokio::time::timeout(LIMIT * 10, async {
                loop {
                    if let Err(e) = read_some(&mut server).await {
                        return e;
                    }
                }
            })
            .await;
            let err = cut.expect("cut off, not waiting for ever");
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{sent:?}");
            assert_eq!(server.timeouts.get(), 1, "{sent:?}");
        }
    }

    #[tokio::test]
    async fn after_its_preface_an_alpn_http2_connection_may_stay_silent() {
        let (mut server, mut client) = h2_pair(LIMIT);
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(read_some(&mut server).await.expect("the preface"), 24);
        let silent = tokio::time::timeout(LIMIT * 3, read_some(&mut server)).await;
        assert!(silent.is_err(), "still waiting, not cut off: {silent:?}");
        assert_eq!(server.timeouts.get(), 0);
    }

    #[tokio::test]
    async fn a_request_shorter_than_the_http2_preface_is_told_at_once_and_kept() {
        let (mut server, mut client) = pair(LIMIT);
        client
            .write_all(b"GET / HTTP/1.0\r\n\r\n")
            .await
            .expect("write");
        let h2 = server
            .starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("told");
        assert!(!h2);
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.expect("kept");
        assert_eq!(&buf[..n], b"GET / HTTP/1.0\r\n\r\n");
    }

    #[tokio::test]
    async fn bytes_that_arrive_while_idle_are_kept_for_the_parser_and_watched() {
        let (mut server, mut client) = pair(LIMIT);
        serve_one(&mut server, &mut client).await;
        client
            .write_all(b"GET /next HTTP/1.1\r\n")
            .await
            .expect("write");
        assert!(server.next_request().await.expect("bytes"));
        // The parser reads exactly what arrived, then the rest from the socket.
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.expect("stashed");
        assert_eq!(&buf[..n], b"GET /next HTTP/1.1\r\n");
        // The header watch started with those bytes: the rest must come in time.
        tokio::time::sleep(2 * LIMIT).await;
        let err = read_some(&mut server).await.expect_err("deadline");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn headers_that_arrive_whole_never_set_a_timer() {
        let (mut server, mut client) = pair(LIMIT);
        serve_one(&mut server, &mut client).await;
        for _ in 0..3 {
            client
                .write_all(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .expect("write");
            assert!(server.next_request().await.expect("bytes"));
            read_some(&mut server).await.expect("header");
            server
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await
                .expect("response");
        }
        assert!(server.timer.is_none(), "no read of a header had to wait");
        assert_eq!(server.timeouts.get(), 0);
    }

    #[tokio::test]
    async fn a_header_whose_read_waits_sets_the_timer_that_cuts_it_off() {
        let (mut server, mut client) = pair(LIMIT);
        client
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        read_some(&mut server).await.expect("first line");
        // Nothing more comes: the read waits, and only the timer can end the wait.
        let err = read_some(&mut server).await.expect_err("deadline");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(server.timer.is_some());
        assert_eq!(server.timeouts.get(), 1);
    }

    #[tokio::test]
    async fn a_client_that_closes_while_idle_ends_the_wait() {
        let (mut server, client) = pair(LIMIT);
        drop(client);
        assert!(!server.next_request().await.expect("end of stream"));
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_is_cut_off_too() {
        let (mut server, _client) = pair(LIMIT);
        let err = read_some(&mut server).await.expect_err("deadline");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_complete_header_stops_the_clock_for_the_body() {
        let (mut server, mut client) = pair(LIMIT);
        client
            .write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
            .await
            .expect("write");
        read_some(&mut server).await.expect("header");
        tokio::time::sleep(3 * LIMIT).await;
        client.write_all(b"hello").await.expect("write");
        assert_eq!(read_some(&mut server).await.expect("body"), 5);
    }

    #[tokio::test]
    async fn a_kept_alive_connection_waits_idle_and_times_the_next_header_from_its_first_byte() {
        let (mut server, mut client) = pair(LIMIT);
        serve_one(&mut server, &mut client).await;
        let mut sink = [0u8; 64];
        let _ = client.read(&mut sink).await;
        // Idle between requests is pingora's keep-alive timeout's business, not this one's.
        tokio::time::sleep(3 * LIMIT).await;
        client.write_all(b"GET /next").await.expect("write");
        read_some(&mut server)
            .await
            .expect("first byte of the next request");
        let err = read_some(&mut server)
            .await
            .expect_err("deadline of the second header");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn an_interim_100_continue_does_not_restart_the_clock_on_the_body() {
        let (mut server, mut client) = pair(LIMIT);
        client
            .write_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
            .await
            .expect("write");
        read_some(&mut server).await.expect("header");
        server
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .expect("interim");
        tokio::time::sleep(3 * LIMIT).await;
        client.write_all(b"abc").await.expect("body");
        assert_eq!(read_some(&mut server).await.expect("body"), 3);
    }

    #[tokio::test]
    async fn leading_blank_lines_do_not_count_as_a_complete_header() {
        let (mut server, mut client) = pair(LIMIT);
        client.write_all(b"\r\n\r\n").await.expect("write");
        read_some(&mut server).await.expect("blank lines");
        let err = read_some(&mut server)
            .await
            .expect_err("still a header to come");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn the_end_of_a_header_is_found_wherever_the_reads_split_it() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n"[..],
            &b"\r\nGET / HTTP/1.1\nHost: a\n\n"[..],
        ] {
            for cut in 0..head.len() {
                for second in cut..head.len() {
                    let (server, _client) = tokio::io::duplex(64);
                    let mut d = HeadDeadline::new(Box::new(server), LIMIT, counter());
                    let parts = [&head[..cut], &head[cut..second], &head[second..]];
                    let ended: Vec<bool> = parts.iter().map(|p| d.scan(p)).collect();
                    let expected = [
                        cut == head.len(),
                        second == head.len() && cut < head.len(),
                        second < head.len(),
                    ];
                    assert_eq!(ended, expected, "{:?} cut at {cut} and {second}", head);
                }
            }
        }
    }

    #[tokio::test]
    async fn http2_connections_are_not_watched() {
        let (mut server, mut client) = pair(LIMIT);
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("preface");
        read_some(&mut server).await.expect("preface");
        tokio::time::sleep(3 * LIMIT).await;
        client.write_all(b"\x00\x00\x00").await.expect("frame");
        assert_eq!(read_some(&mut server).await.expect("frame"), 3);
    }
}
