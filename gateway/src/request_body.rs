//! Request bodies the gateway waits for: in full, for the few endpoints it answers itself
//! with a body (back-channel logout, the SOAP facade, intent routing), and the start of an
//! HTTP/2 body before it goes to a legacy site ([`settle`]). Bounded in size, so a client
//! cannot make the gateway buffer without limit, and in time ([`BodyPace`]), so a body that
//! never comes holds nothing for long. And the pieces of a body streamed to a legacy site,
//! gathered ([`Gathered`]) so that a body sent a byte at a time reaches the site in pieces of
//! kilobytes.

use crate::config::LimitsSettings;
use crate::response::LocalResponse;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use pingora::proxy::Session;
use std::time::{Duration, Instant};

/// Why a request body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is (or announces itself as) larger than the endpoint accepts: 413.
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The client went away, timed out or sent a malformed body: 400 (if anyone still
    /// listens).
    #[error("could not read the body: {0}")]
    Read(#[source] Box<pingora::Error>),
    /// The body did not keep the portal's pace ([`BodyPace`]): 408.
    #[error("the request body arrives slower than the portal's limits.body_min_rate")]
    TooSlow,
}

impl BodyError {
    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
            BodyError::TooSlow => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// The JSON error answer (`too_large` or `unreadable_body`).
    pub fn response(&self) -> LocalResponse {
        let code = match self {
            BodyError::TooLarge { .. } => "too_large",
            BodyError::Read(_) => "unreadable_body",
            BodyError::TooSlow => "body_timeout",
        };
        LocalResponse::json_error(self.status(), code, self.to_string())
    }
}

/// Callers that only want a message (the back-channel logout answers every refusal alike).
impl From<BodyError> for String {
    fn from(e: BodyError) -> String {
        e.to_string()
    }
}

/// How long a request body may take to arrive: `limits.body_grace` for all of it, plus a
/// second for every `limits.body_min_rate` bytes received (Apache's `mod_reqtimeout`,
/// `body=20,MinRate=500`). One pace for a body streamed to a legacy site
/// (`pipeline::limits::check_body`), the start of one waited for before ([`settle`]) and
/// one the gateway reads itself ([`read_limited`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPace {
    /// The time any body may take (`limits.body_grace`).
    pub grace: Duration,
    /// The bytes a second that earn it a second more (`limits.body_min_rate`).
    pub min_rate: u64,
}

impl BodyPace {
    /// The portal's pace, from `[limits]`.
    pub fn of(limits: &LimitsSettings) -> Self {
        Self {
            grace: limits.body_grace,
            min_rate: limits.body_min_rate.max(1),
        }
    }

    /// How long a body may have taken once `read` bytes of it have come.
    pub fn allows(&self, read: u64) -> Duration {
        self.grace + Duration::from_millis(read.saturating_mul(1000) / self.min_rate.max(1))
    }
}

/// The next piece of the body, waited for only as long as the pace allows the `read` bytes
/// that came since `started`. pingora's HTTP/2 body read has no deadline of its own (its
/// HTTP/1 read has a minute per read), so this is the one that ends a body that never comes.
async fn next_piece(
    session: &mut Session,
    pace: BodyPace,
    started: Instant,
    read: usize,
) -> Result<Option<Bytes>, BodyError> {
    let left = pace.allows(read as u64).saturating_sub(started.elapsed());
    match tokio::time::timeout(left, session.read_request_body()).await {
        Ok(Ok(piece)) => Ok(piece),
        Ok(Err(e)) => Err(BodyError::Read(e)),
        Err(_) => Err(BodyError::TooSlow),
    }
}

/// How much of an HTTP/2 body [`settle`] waits for: pingora's retry buffer (64 KiB, what
/// it replays to the site) less one `DATA` frame (16 KiB, the most the gateway's HTTP/2
/// settings let a client send in one), so that buffer never overflows and loses a piece.
const SETTLE_BYTES: usize = RETRY_BUFFER_BYTES - MAX_FRAME_BYTES;
/// pingora's retry buffer for a request body (`BODY_BUF_LIMIT`, not exported).
const RETRY_BUFFER_BYTES: usize = 64 * 1024;
/// HTTP/2's `SETTINGS_MAX_FRAME_SIZE` as pingora's server leaves it (the protocol's default).
const MAX_FRAME_BYTES: usize = 16 * 1024;

/// Waits for an HTTP/2 request's body, within `pace` and `limit`, before a legacy site is
/// asked: all of it, or its first [`SETTLE_BYTES`], kept in pingora's retry buffer, which
/// pingora sends on first. Found when tried: a `GET` whose stream never ended was sent on
/// at once, with `Transfer-Encoding: chunked`, and held its legacy connection for as long
/// as the client liked (five streams, five of the site's connections, still held after
/// minutes), since pingora waits for an HTTP/2 body with no deadline. Over HTTP/1 a body
/// must announce itself, and pingora's reads have a deadline.
///
/// A body longer than that streams on as before, its pace checked piece by piece; a site
/// waiting for its rest ends the wait with its read timeout (408, `body_stalled`). But a
/// method whose body sites ignore (`GET`, `HEAD`, `OPTIONS`, `DELETE`, `TRACE`) must end
/// within it, or 413: such a site answers at once, and would then wait with pingora for a
/// rest that need never come (found in review: 48 KiB and then silence held the site's
/// connection as before).
pub async fn settle(
    session: &mut Session,
    limit: Option<u64>,
    pace: BodyPace,
) -> Result<(), BodyError> {
    if !session.is_http2() || session.is_body_done() {
        return Ok(());
    }
    session.as_downstream_mut().enable_retry_buffering();
    let started = Instant::now();
    let mut read = 0;
    let whole = body_ignored(&session.req_header().method);
    loop {
        let Some(piece) = next_piece(session, pace, started, read).await? else {
            break;
        };
        read += piece.len();
        if let Some(limit) = limit.filter(|&limit| read as u64 > limit) {
            return Err(BodyError::TooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            });
        }
        if read >= SETTLE_BYTES {
            if whole {
                return Err(BodyError::TooLarge {
                    limit: SETTLE_BYTES - 1,
                });
            }
            break;
        }
    }
    if session.as_downstream().retry_buffer_truncated() {
        // Only with frames larger than the gateway lets a client send: never sent on short.
        return Err(BodyError::Read(pingora::Error::explain(
            pingora::ErrorType::InternalError,
            "the start of the HTTP/2 body overflowed the buffer it is kept in",
        )));
    }
    Ok(())
}

/// Whether sites commonly answer `method` without reading a body it carries.
fn body_ignored(method: &http::Method) -> bool {
    use http::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::DELETE,
        Method::TRACE,
    ]
    .contains(method)
}

/// The body of the request, within `pace`, refused before reading when its `Content-Length`
/// already exceeds `limit`. Generic over the error so a caller can take [`BodyError`] (to
/// tell 413 from 400 and 408) or just its message.
pub async fn read_limited<E: From<BodyError>>(
    session: &mut Session,
    limit: usize,
    pace: BodyPace,
) -> Result<Bytes, E> {
    Ok(read(session, limit, pace).await?)
}

async fn read(session: &mut Session, limit: usize, pace: BodyPace) -> Result<Bytes, BodyError> {
    let result = read_all(session, limit, pace).await;
    if result.is_err() {
        // The rest of the body was not read: the connection cannot carry another request
        // (and pingora must not try to drain an oversized body before reusing it).
        session.set_keepalive(None);
    }
    result
}

async fn read_all(session: &mut Session, limit: usize, pace: BodyPace) -> Result<Bytes, BodyError> {
    let announced = crate::content_length::declared(&session.req_header().headers);
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let started = Instant::now();
    let mut buf = BytesMut::new();
    while let Some(chunk) = next_piece(session, pace, started, buf.len()).await? {
        if buf.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_over_the_limit_is_413_and_an_unreadable_one_400() {
        let too_large = BodyError::TooLarge { limit: 10 };
        assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let gone = BodyError::Read(pingora::Error::new(pingora::ErrorType::ConnectionClosed));
        assert_eq!(gone.status(), StatusCode::BAD_REQUEST);
        assert_eq!(gone.response().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_slow_body_is_408() {
        assert_eq!(BodyError::TooSlow.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            BodyError::TooSlow.response().status,
            StatusCode::REQUEST_TIMEOUT
        );
    }

    #[test]
    fn the_pace_allows_the_grace_and_a_second_for_every_min_rate_bytes() {
        let pace = BodyPace {
            grace: Duration::from_secs(20),
            min_rate: 500,
        };
        assert_eq!(pace.allows(0), Duration::from_secs(20));
        assert_eq!(pace.allows(500), Duration::from_secs(21));
        assert_eq!(pace.allows(250), Duration::from_millis(20_500));
        assert_eq!(
            pace.allows(u64::MAX),
            Duration::from_secs(20) + Duration::from_millis(u64::MAX / 500),
            "no overflow"
        );
    }
}

/// A body streamed to a legacy site goes on in pieces of at least this many bytes while
/// its pieces come quickly (the last may be shorter).
pub const GATHER_BYTES: usize = 16 * 1024;

/// A small piece goes on at once if the last write to the site was at least this long ago:
/// a slow upload's pieces reach the site as they come (each write restarts the site's read
/// timeout, so holding them would look like a stalled body), a flood's are gathered.
pub const GATHER_WITHIN: Duration = Duration::from_millis(10);

/// The pieces of a body going to a legacy site, gathered: found when tried, an HTTP/1
/// upload in chunks of one byte (six on the wire for each) went on a chunk at a time, a
/// write to the site for each, and two such connections kept both cores busy. Small pieces
/// that come within [`GATHER_WITHIN`] of the last write wait until they make
/// [`GATHER_BYTES`] (nginx reads a whole body before it asks the site,
/// `proxy_request_buffering`). Not for an upgraded connection (a conversation). Nothing
/// flushes on a timer (the filter runs only when a piece arrives): a client that sends two
/// messages on one unfinished body within 10 ms and then waits for an answer holds the
/// second until its next piece or the body's end, so two-way streams over one request
/// body are not served (none of the legacy sites speaks one; WebSockets are upgrades).
#[derive(Debug, Default)]
pub struct Gathered {
    held: BytesMut,
    last_write: Option<Instant>,
}

impl Gathered {
    /// `piece` of the body (`None`: the body ended) at `now`: what goes on to the site is
    /// left in `piece`, an empty piece for nothing yet.
    pub fn gather(&mut self, piece: &mut Option<Bytes>, end: bool, now: Instant) {
        // No piece is the end, whatever the flag says (an HTTP/2 body's trailers).
        let end = end || piece.is_none();
        let recent = self
            .last_write
            .is_some_and(|at| now.saturating_duration_since(at) < GATHER_WITHIN);
        match piece {
            // A large piece, or one that ends the body or comes after a pause, with
            // nothing held: it goes on as it is.
            Some(p) if self.held.is_empty() && (p.len() >= GATHER_BYTES || end || !recent) => {}
            Some(p) => {
                // Sized once for the batch (after a `split` it holds nothing): one-byte
                // pieces grew it a doubling at a time, a dozen copies a batch.
                self.held
                    .reserve(p.len().max(GATHER_BYTES.saturating_sub(self.held.len())));
                self.held.extend_from_slice(p);
                *p = if end || !recent || self.held.len() >= GATHER_BYTES {
                    self.held.split().freeze()
                } else {
                    Bytes::new()
                };
            }
            None if self.held.is_empty() => {}
            None => *piece = Some(self.held.split().freeze()),
        }
        if piece.as_ref().is_some_and(|p| !p.is_empty()) {
            self.last_write = Some(now);
        }
    }

    /// Whether small pieces are held now.
    pub fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// What is held goes on before `piece`, whatever it is: the connection was upgraded
    /// mid-body (a `101` before the body ended), and its bytes are a conversation now.
    pub fn release(&mut self, piece: &mut Option<Bytes>) {
        if self.held.is_empty() {
            return;
        }
        if let Some(p) = piece.as_ref() {
            self.held.extend_from_slice(p);
        }
        *piece = Some(self.held.split().freeze());
    }

    /// A new attempt at the site: pingora sends its retry buffer (what was read) again.
    pub fn restart(&mut self) {
        self.held.clear();
        self.last_write = None;
    }
}

#[cfg(test)]
mod gather_tests {
    use super::*;

    /// What reaches the site of `pieces` (each `gap` after the one before) then the end.
    fn passed(pieces: &[&[u8]], gap: Duration) -> Vec<Vec<u8>> {
        let mut gathered = Gathered::default();
        let mut now = Instant::now();
        let mut out = Vec::new();
        let mut feed = |piece: Option<Bytes>, end: bool, now: Instant| {
            let mut piece = piece;
            gathered.gather(&mut piece, end, now);
            if let Some(p) = piece.filter(|p| !p.is_empty()) {
                out.push(p.to_vec());
            }
        };
        for p in pieces {
            feed(Some(Bytes::copy_from_slice(p)), false, now);
            now += gap;
        }
        feed(None, true, now);
        out
    }

    #[test]
    fn a_body_sent_a_byte_at_a_time_goes_on_in_pieces_of_sixteen_kibibytes() {
        let bytes = vec![b'x'; 40_000];
        let pieces: Vec<&[u8]> = bytes.chunks(1).collect();
        let out = passed(&pieces, Duration::ZERO);
        let sizes: Vec<usize> = out.iter().map(Vec::len).collect();
        // The first goes on at once (nothing written yet), then 16 KiB at a time.
        assert_eq!(
            sizes,
            [1, GATHER_BYTES, GATHER_BYTES, 40_000 - 1 - 2 * GATHER_BYTES]
        );
        assert_eq!(out.concat(), bytes);
    }

    #[test]
    fn a_slow_uploads_pieces_go_on_as_they_come() {
        let piece = vec![b's'; 1_000];
        let out = passed(&[&piece, &piece, &piece], Duration::from_millis(250));
        assert_eq!(out, [piece.clone(), piece.clone(), piece]);
    }

    #[test]
    fn large_pieces_pass_as_they_are() {
        let big = vec![b'y'; GATHER_BYTES];
        let out = passed(&[&big, &big], Duration::ZERO);
        assert_eq!(out, [big.clone(), big]);
    }

    #[test]
    fn small_pieces_before_a_large_one_go_on_with_it_in_order() {
        let big = vec![b'b'; GATHER_BYTES];
        let out = passed(&[b"ab", b"cd", &big, b"e"], Duration::ZERO);
        assert_eq!(out.concat(), [&b"abcd"[..], &big, b"e"].concat());
        let sizes: Vec<usize> = out.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2 + GATHER_BYTES, 1]);
    }

    #[test]
    fn the_end_takes_what_is_held() {
        let mut gathered = Gathered::default();
        let now = Instant::now();
        let mut first = Some(Bytes::from_static(b"first"));
        gathered.gather(&mut first, false, now);
        let mut held = Some(Bytes::from_static(b"held"));
        gathered.gather(&mut held, false, now);
        assert_eq!(held.as_deref(), Some(&b""[..]), "held");
        let mut last = Some(Bytes::from_static(b" and last"));
        gathered.gather(&mut last, true, now);
        assert_eq!(last.as_deref(), Some(&b"held and last"[..]));
    }

    #[test]
    fn a_new_attempt_starts_with_nothing_held() {
        let mut gathered = Gathered::default();
        let now = Instant::now();
        for piece in [&b"a"[..], b"b"] {
            gathered.gather(&mut Some(Bytes::copy_from_slice(piece)), false, now);
        }
        gathered.restart();
        let mut end = None;
        gathered.gather(&mut end, true, now);
        assert!(end.is_none(), "what was held is in pingora's retry buffer");
    }

    #[test]
    fn what_is_held_goes_before_the_first_piece_of_an_upgraded_connection() {
        let mut gathered = Gathered::default();
        let now = Instant::now();
        for piece in [&b"a"[..], b"b"] {
            gathered.gather(&mut Some(Bytes::copy_from_slice(piece)), false, now);
        }
        let mut upgraded = Some(Bytes::from_static(b"hello"));
        gathered.release(&mut upgraded);
        assert_eq!(upgraded.as_deref(), Some(&b"bhello"[..]));
        assert!(!gathered.holds());
    }

    #[test]
    fn no_piece_is_the_end_of_the_body() {
        let mut gathered = Gathered::default();
        let now = Instant::now();
        for piece in [&b"a"[..], b"b"] {
            gathered.gather(&mut Some(Bytes::copy_from_slice(piece)), false, now);
        }
        let mut none = None;
        gathered.gather(&mut none, false, now);
        assert_eq!(none.as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn an_empty_body_stays_empty() {
        assert!(passed(&[], Duration::ZERO).is_empty());
    }
}
