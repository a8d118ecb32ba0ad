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
//! gateway is done with it. A connection gets 429, before anything reaches a site, for:
//! - a request beyond [`MAX_IN_FLIGHT`] in the gateway's hands (reset streams whose
//!   exchange goes on count, unlike in HTTP/2's own limit): twice the stream limit, as
//!   nginx's guard allows;
//! - every request, for the rest of its life, once it has abandoned [`MAX_ABANDONED`]
//!   requests (ended with no answer written: reset streams) and more than half of all it
//!   made. A browser cancels loads when its citizen navigates away, but never most of
//!   them; nginx, HAProxy and Cloudflare judge a connection by its resets the same way.
//!
//! Each HTTP/2 request also holds a connection slot ([`ConnectionSlots`]) while in flight:
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

/// Requests a connection may abandon before its resets are held against it.
pub const MAX_ABANDONED: u32 = 100;

/// Requests of one connection the gateway may be serving at once.
pub const MAX_IN_FLIGHT: u32 = 200;

/// The HTTP/2 connections being served, each with what its requests did.
#[derive(Debug)]
pub struct StreamsInFlight {
    /// The connection slots each request also takes (per address and in total).
    slots: Arc<ConnectionSlots>,
    /// Keyed by the address of the connection's socket digest, one `Arc` that pingora
    /// shares between the connection and every one of its streams; an entry lives exactly
    /// as long as its connection ([`OpenConnection`]).
    connections: Mutex<HashMap<usize, Record>>,
}

/// What one connection's requests did.
#[derive(Debug, Default, Clone, Copy)]
struct Record {
    started: u32,
    abandoned: u32,
    in_flight: u32,
}

impl Record {
    fn refused(&self) -> bool {
        self.in_flight >= MAX_IN_FLIGHT
            || (self.abandoned >= MAX_ABANDONED && self.abandoned * 2 > self.started)
    }
}

/// An HTTP/2 connection being served; its record goes when this is dropped.
#[derive(Debug)]
pub struct OpenConnection {
    owner: Arc<StreamsInFlight>,
    key: usize,
}

/// One HTTP/2 request in the gateway's hands (until dropped), counted against its
/// connection when it is [`finish`](Self::finish)ed without an answer.
#[derive(Debug)]
pub struct StreamTicket {
    owner: Arc<StreamsInFlight>,
    key: usize,
    _slot: Slot,
}

/// Why an HTTP/2 request is refused (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooMany {
    /// Its connection has too many requests in the gateway's hands, or abandoned too many.
    OnTheConnection,
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
        socket.map(|digest| self.open_key(Arc::as_ptr(&digest) as usize))
    }

    fn open_key(self: &Arc<Self>, key: usize) -> OpenConnection {
        self.lock().insert(key, Record::default());
        OpenConnection {
            owner: Arc::clone(self),
            key,
        }
    }

    /// A ticket for `session`'s request if it came over an HTTP/2 connection being counted
    /// (`None` for HTTP/1: one request at a time by construction).
    pub fn enter(self: &Arc<Self>, session: &Session) -> Result<Option<StreamTicket>, TooMany> {
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
        self.enter_key(Arc::as_ptr(digest) as usize, peer)
    }

    fn enter_key(
        self: &Arc<Self>,
        key: usize,
        peer: Option<std::net::IpAddr>,
    ) -> Result<Option<StreamTicket>, TooMany> {
        let mut connections = self.lock();
        let Some(record) = connections.get_mut(&key) else {
            return Ok(None);
        };
        if record.refused() {
            return Err(TooMany::OnTheConnection);
        }
        let slot = self.slots.take(peer).map_err(TooMany::Slots)?;
        record.started = record.started.saturating_add(1);
        record.in_flight += 1;
        Ok(Some(StreamTicket {
            owner: Arc::clone(self),
            key,
            _slot: slot,
        }))
    }
}

impl StreamTicket {
    /// The request is over; `answered`: a response was written (otherwise the client went
    /// away first, which on HTTP/2 is a reset stream).
    pub fn finish(self, answered: bool) {
        if answered {
            return;
        }
        if let Some(record) = self.owner.lock().get_mut(&self.key) {
            record.abandoned = record.abandoned.saturating_add(1);
        }
    }
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
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
        Arc::new(StreamsInFlight::new(ConnectionSlots::new(
            10_000,
            10_000,
            Vec::new(),
        )))
    }

    #[test]
    fn an_addresss_requests_take_its_connection_slots_while_in_flight() {
        let streams = Arc::new(StreamsInFlight::new(ConnectionSlots::new(
            100,
            3,
            Vec::new(),
        )));
        let _open = streams.open_key(1);
        let ip = Some("192.0.2.7".parse().expect("ip"));
        let held: Vec<_> = (0..3)
            .map(|_| streams.enter_key(1, ip).expect("a slot"))
            .collect();
        assert_eq!(
            streams.enter_key(1, ip).err(),
            Some(TooMany::Slots(Crowded::PerAddress))
        );
        drop(held);
        assert!(streams.enter_key(1, ip).is_ok());
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
    fn a_connection_that_abandons_most_of_its_requests_is_refused_from_then_on() {
        let streams = streams();
        let _open = streams.open_key(1);
        requests(&streams, 1, MAX_ABANDONED - 1, false);
        assert!(streams.enter_key(1, None).is_ok(), "not yet");
        requests(&streams, 1, 1, false);
        assert_eq!(
            streams.enter_key(1, None).err(),
            Some(TooMany::OnTheConnection)
        );
    }

    #[test]
    fn a_browser_that_cancels_some_loads_among_many_answered_is_never_refused() {
        let streams = streams();
        let _open = streams.open_key(1);
        for _ in 0..10 {
            requests(&streams, 1, 30, true);
            requests(&streams, 1, 20, false);
        }
        assert!(streams.enter_key(1, None).expect("served").is_some());
    }

    #[test]
    fn a_connection_gets_no_more_requests_served_at_once_than_the_cap() {
        let streams = streams();
        let _open = streams.open_key(1);
        let mut held: Vec<StreamTicket> = (0..MAX_IN_FLIGHT)
            .map(|_| {
                streams
                    .enter_key(1, None)
                    .expect("under the cap")
                    .expect("counted")
            })
            .collect();
        assert_eq!(
            streams.enter_key(1, None).err(),
            Some(TooMany::OnTheConnection)
        );
        held.pop();
        assert!(streams.enter_key(1, None).is_ok());
    }

    #[test]
    fn each_connection_is_judged_alone_and_forgotten_when_it_closes() {
        let streams = streams();
        let open = streams.open_key(1);
        let _other = streams.open_key(2);
        requests(&streams, 1, MAX_ABANDONED, false);
        assert!(streams.enter_key(1, None).is_err());
        assert!(streams.enter_key(2, None).expect("served").is_some());
        drop(open);
        assert!(streams.lock().get(&1).is_none());
        // A request of a connection not being counted (HTTP/1, or already closed).
        assert!(streams.enter_key(1, None).expect("served").is_none());
    }
}
