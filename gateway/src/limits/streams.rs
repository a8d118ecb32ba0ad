//! What one HTTP/2 connection may make the gateway send to legacy sites: the rapid-reset
//! guard (CVE-2023-44487).
//!
//! HTTP/2 caps the streams a client has *open* (pingora advertises 100), not the requests
//! it makes the gateway send on: a client that opens 100 streams, waits for the gateway to
//! send them to the legacy site, then resets them all has its slots back at once, and
//! starts again. Found when tried: one connection drove 24 to 30 times the traffic to a slow
//! legacy site that a client at the stream limit could, and four such connections opened
//! that service's breaker for every citizen.
//!
//! So every HTTP/2 connection is counted while it is served ([`StreamsInFlight::open`], by
//! the admission wrapper) and each of its requests holds a [`StreamTicket`] until the
//! gateway is done with it:
//! - a request beyond [`MAX_IN_FLIGHT`] in the gateway's hands (reset streams whose
//!   exchange goes on count, unlike in HTTP/2's own limit) gets 429 before anything
//!   reaches a site: twice the stream limit, as nginx's guard allows;
//! - a connection that abandons requests (they end with no answer written: reset streams) faster than
//!   [`ABANDON_RATE`] a second beyond a burst of [`ABANDON_BURST`]: the connection is then
//!   closed, as nginx and HAProxy close it. A browser cancels a page's loads when its
//!   citizen navigates away (110 of 122 requests in a few seconds, tried), never hundreds a
//!   second for long; a first version that judged the share of abandoned requests refused
//!   such a browser.
//!
//! Each HTTP/2 request to a site also holds a connection slot ([`ConnectionSlots`]) while in flight:
//! its exchange needs a connection to the site of its own, as an HTTP/1 connection's does.
//! Without it, 200 connections from one address (under its share of 256) with 100 streams
//! each held 20,000 sockets to a slow site and ran the process out of file descriptors:
//! every service, the health checks and `/metrics` failed (found when tried). So an
//! address's streams count against its share, and all of them against the process's cap
//! below the open-file limit (429 and 503 beyond, as for connections).

use super::connections::{ConnectionSlots, Crowded, Slot};
use pingora::protocols::SocketDigest;
use pingora::proxy::Session;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::Notify;

/// Requests a connection may abandon in a burst ...
pub const ABANDON_BURST: f64 = 150.0;

/// ... and then every second, as long as it lasts.
pub const ABANDON_RATE: f64 = 20.0;

/// Requests of one connection the gateway may be serving at once.
pub const MAX_IN_FLIGHT: u32 = 200;

/// The HTTP/2 connections being served, each with what its requests did.
#[derive(Debug)]
pub struct StreamsInFlight {
    /// The connection slots each request to a site also takes (per address and in total).
    slots: Arc<ConnectionSlots>,
    /// Keyed by the address of the connection's socket digest, one `Arc` that pingora
    /// shares between the connection and every one of its streams (and which its
    /// [`OpenConnection`] holds, so the address is not reused while the entry lives).
    connections: Mutex<HashMap<usize, Record>>,
}

/// What one connection's requests did.
#[derive(Debug, Clone)]
struct Record {
    in_flight: u32,
    /// Requests it may still abandon: a token bucket of [`ABANDON_BURST`], refilled at
    /// [`ABANDON_RATE`] a second since `refilled`.
    may_abandon: f64,
    refilled: Instant,
    /// It abandoned more: it is being closed.
    tripped: bool,
    /// Told when the connection is to be closed.
    closing: Arc<Notify>,
}

impl Record {
    fn new(now: Instant) -> Self {
        Self {
            in_flight: 0,
            may_abandon: ABANDON_BURST,
            refilled: now,
            tripped: false,
            closing: Arc::default(),
        }
    }

    /// One more request abandoned at `now`.
    fn abandoned(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.may_abandon = (self.may_abandon + elapsed * ABANDON_RATE).min(ABANDON_BURST) - 1.0;
        self.refilled = now;
        if self.may_abandon < 0.0 && !self.tripped {
            self.tripped = true;
            self.closing.notify_one();
        }
    }
}

/// An HTTP/2 connection being served; its record goes when this is dropped.
#[derive(Debug)]
pub struct OpenConnection {
    owner: Arc<StreamsInFlight>,
    key: usize,
    closing: Arc<Notify>,
    _digest: Option<Arc<SocketDigest>>,
}

/// One HTTP/2 request in the gateway's hands (until dropped), counted against its
/// connection when it is [`finish`](Self::finish)ed without an answer.
#[derive(Debug)]
pub struct StreamTicket {
    owner: Arc<StreamsInFlight>,
    key: usize,
    finished: bool,
    _slot: Option<Slot>,
}

/// Why an HTTP/2 request is refused (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooMany {
    /// Its connection has [`MAX_IN_FLIGHT`] requests in the gateway's hands.
    InFlight,
    /// Its connection abandoned too many requests; it is being closed.
    Abandoned,
    /// Its address, or the process, holds as many connection slots as it may.
    Slots(Crowded),
}

impl StreamsInFlight {
    pub fn new(slots: Arc<ConnectionSlots>) -> Self {
        Self {
            slots,
            connections: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<usize, Record>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection pingora serves whole (HTTP/2) starts, known by its socket digest.
    pub fn open(self: &Arc<Self>, socket: Option<Arc<SocketDigest>>) -> Option<OpenConnection> {
        let digest = socket?;
        Some(self.open_key(Arc::as_ptr(&digest) as usize, Some(digest)))
    }

    fn open_key(self: &Arc<Self>, key: usize, digest: Option<Arc<SocketDigest>>) -> OpenConnection {
        let record = Record::new(Instant::now());
        let closing = Arc::clone(&record.closing);
        self.lock().insert(key, record);
        OpenConnection {
            owner: Arc::clone(self),
            key,
            closing,
            _digest: digest,
        }
    }

    /// A ticket for `session`'s request if it came over an HTTP/2 connection being counted
    /// (`None` for HTTP/1: one request at a time by construction). `to_a_site`: the
    /// request goes on to a legacy site, so it takes a connection slot too (counted only
    /// against the total when the peer is a `trusted` proxy).
    pub fn enter(
        self: &Arc<Self>,
        session: &Session,
        to_a_site: bool,
        trusted: bool,
    ) -> Result<Option<StreamTicket>, TooMany> {
        if !session.is_http2() {
            return Ok(None);
        }
        let Some(digest) = session.digest().and_then(|d| d.socket_digest.as_ref()) else {
            return Ok(None);
        };
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let slot = match to_a_site {
            true => Some(self.slots.take(peer, trusted).map_err(TooMany::Slots)?),
            false => None,
        };
        self.enter_key(Arc::as_ptr(digest) as usize, slot)
    }

    fn enter_key(
        self: &Arc<Self>,
        key: usize,
        slot: Option<Slot>,
    ) -> Result<Option<StreamTicket>, TooMany> {
        let mut connections = self.lock();
        let Some(record) = connections.get_mut(&key) else {
            return Ok(None);
        };
        if record.tripped {
            return Err(TooMany::Abandoned);
        }
        if record.in_flight >= MAX_IN_FLIGHT {
            return Err(TooMany::InFlight);
        }
        record.in_flight += 1;
        Ok(Some(StreamTicket {
            owner: Arc::clone(self),
            key,
            finished: false,
            _slot: slot,
        }))
    }
}

impl OpenConnection {
    /// Resolves when the connection is to be closed ([`TooMany::Abandoned`]).
    pub fn closing(&self) -> Arc<Notify> {
        Arc::clone(&self.closing)
    }
}

impl StreamTicket {
    /// The request is over; `answered`: a response was written (otherwise the client went
    /// away first, which on HTTP/2 is a reset stream).
    pub fn finish(mut self, answered: bool) {
        self.finished = true;
        if let Some(record) = self.owner.lock().get_mut(&self.key) {
            record.in_flight = record.in_flight.saturating_sub(1);
            if !answered {
                record.abandoned(Instant::now());
            }
        }
    }
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(record) = self.owner.lock().get_mut(&self.key) {
            record.in_flight = record.in_flight.saturating_sub(1);
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.owner.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams() -> Arc<StreamsInFlight> {
        Arc::new(StreamsInFlight::new(ConnectionSlots::new(10_000, 10_000)))
    }

    /// Starts `n` requests on connection `key` and ends them, answered or not.
    fn requests(streams: &Arc<StreamsInFlight>, key: usize, n: u32, answered: bool) {
        for _ in 0..n {
            let ticket = streams
                .enter_key(key, None)
                .expect("served")
                .expect("counted");
            ticket.finish(answered);
        }
    }

    #[test]
    fn a_connection_that_keeps_abandoning_requests_is_refused_and_closed() {
        let streams = streams();
        let open = streams.open_key(1, None);
        requests(&streams, 1, ABANDON_BURST as u32, false);
        assert!(streams.enter_key(1, None).is_ok(), "a burst is allowed");
        requests(&streams, 1, 1, false);
        assert_eq!(streams.enter_key(1, None).err(), Some(TooMany::Abandoned));
        let closing = open.closing();
        let told = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(1), closing.notified())
                    .await
                    .is_ok()
            });
        assert!(told, "the connection is told to close");
    }

    #[test]
    fn a_browser_that_cancels_a_pages_loads_now_and_then_is_never_refused() {
        let start = Instant::now();
        let mut record = Record::new(start);
        // Three pages of 110 cancelled loads, ten seconds apart.
        for page in 0..3u64 {
            let at = start + std::time::Duration::from_secs(10 * page);
            for _ in 0..110 {
                record.abandoned(at);
            }
        }
        assert!(!record.tripped);
        // Hundreds a second for long are not a browser.
        let later = start + std::time::Duration::from_secs(31);
        for _ in 0..300 {
            record.abandoned(later);
        }
        assert!(record.tripped);
    }

    #[test]
    fn a_connection_gets_no_more_requests_served_at_once_than_the_cap() {
        let streams = streams();
        let _open = streams.open_key(1, None);
        let mut held: Vec<StreamTicket> = (0..MAX_IN_FLIGHT)
            .map(|_| {
                streams
                    .enter_key(1, None)
                    .expect("under the cap")
                    .expect("counted")
            })
            .collect();
        assert_eq!(streams.enter_key(1, None).err(), Some(TooMany::InFlight));
        held.pop();
        assert!(streams.enter_key(1, None).is_ok());
    }

    #[test]
    fn a_ticket_gives_its_connection_slot_back_when_dropped() {
        let slots = ConnectionSlots::new(100, 3);
        let streams = Arc::new(StreamsInFlight::new(Arc::clone(&slots)));
        let _open = streams.open_key(1, None);
        let ip = "192.0.2.7".parse().ok();
        let held: Vec<_> = (0..3)
            .map(|_| {
                let slot = slots.take(ip, false).expect("a slot");
                streams.enter_key(1, Some(slot)).expect("served")
            })
            .collect();
        assert_eq!(slots.take(ip, false).err(), Some(Crowded::PerAddress));
        drop(held);
        assert!(slots.take(ip, false).is_ok());
    }

    #[test]
    fn each_connection_is_judged_alone_and_forgotten_when_it_closes() {
        let streams = streams();
        let open = streams.open_key(1, None);
        let _other = streams.open_key(2, None);
        requests(&streams, 1, ABANDON_BURST as u32 + 1, false);
        assert!(streams.enter_key(1, None).is_err());
        assert!(streams.enter_key(2, None).expect("served").is_some());
        drop(open);
        assert!(streams.lock().get(&1).is_none());
        // A request of a connection not being counted (HTTP/1, or already closed).
        assert!(streams.enter_key(1, None).expect("served").is_none());
    }
}
