//! What one client, one connection and everyone together may ask of the portal.
//!
//! - [`connections`]: connections held per client address and in total, capped below the
//!   open-file limit;
//! - [`head_deadline`]: a complete request header within `limits.header_timeout`
//!   (slowloris);
//! - [`keepalive`]: how long a kept-alive connection waits for its next request;
//! - [`tls`]: TLS handshakes under the connection caps and the header deadline;
//! - [`admission`]: the four above around pingora's application, per accepted connection;
//! - [`streams`]: the requests one HTTP/2 connection keeps the gateway serving (rapid reset);
//! - [`h2_frames`]: the frames one HTTP/2 connection may send that carry nothing (control
//!   frame floods);
//! - [`penalty`]: an address whose connection was closed for a flood, refused at accept for
//!   a while (a flood that reconnects);
//! - [`rate`]: request rates;
//! - [`legacy_head`]: how much header a legacy answer may carry.

pub mod admission;
pub mod connections;
pub mod h2_frames;
pub mod head_deadline;
pub mod keepalive;
pub mod penalty;
pub mod rate;
pub mod streams;
pub mod tls;

pub use admission::{Admission, AdmissionMetrics};
pub use connections::{ConnectionSlots, Crowded};

use crate::config::LimitsSettings;
use std::sync::Arc;
use std::time::Duration;

/// The connection limits of the portal listeners, built once at start.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub slots: Arc<ConnectionSlots>,
    pub header_timeout: Duration,
    /// `None`: no keep-alive.
    pub keepalive_timeout: Option<Duration>,
    /// The HTTP/2 connections being served and what their requests did (rapid reset).
    pub streams: Arc<streams::StreamsInFlight>,
    /// The addresses refused at accept for a flood (`limits.flood_penalty`).
    pub penalties: Arc<penalty::Penalties>,
}

impl ConnectionLimits {
    /// From `[limits]`.
    pub fn new(settings: &LimitsSettings) -> Self {
        let total = settings
            .max_connections
            .unwrap_or_else(connections::default_max_connections);
        let slots = ConnectionSlots::new(total, settings.max_connections_per_ip);
        Self {
            streams: Arc::new(streams::StreamsInFlight::new(Arc::clone(&slots))),
            penalties: penalty::Penalties::new(settings.flood_penalty),
            slots,
            header_timeout: settings.header_timeout,
            keepalive_timeout: settings.keepalive_timeout,
        }
    }
}

/// The most header a legacy answer may carry, names and values together: 64 KiB.
/// pingora reads up to a mebibyte; a header that size is a broken site (a cookie that grows
/// at every visit) or a hostile one, and browsers give up on it anyway (Chrome at 256 KiB)
/// after the gateway has held it and, for a shared page, stored it. nginx refuses a header
/// over its 4–8 KiB `proxy_buffer_size` ("upstream sent too big header", 502); this bound
/// leaves room for legacy sites' many cookies.
pub const LEGACY_HEAD_BYTES: usize = 64 * 1024;

/// A legacy answer whose header is over [`LEGACY_HEAD_BYTES`] is the site's error: the
/// citizen gets the 502 page, none of that header. Found when tried: a 200 KB header went
/// through to the citizen.
pub fn legacy_head(answer: &pingora::http::ResponseHeader) -> pingora::Result<()> {
    // ": " and CRLF per field, as on the wire.
    let bytes: usize = answer
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes <= LEGACY_HEAD_BYTES {
        return Ok(());
    }
    // Not an upstream error: the site answered (and was counted so), and a citizen who
    // finds a page that reflects his request into its header must not eject its backend.
    Err(pingora::Error::explain(
        pingora::ErrorType::HTTPStatus(502),
        format!("the legacy site's answer header is {bytes} bytes, over {LEGACY_HEAD_BYTES}"),
    ))
}

/// Whether an answer with `status` ends the HTTP exchange: a final one, or a `101`, after
/// which the bytes are another protocol's. The request's latency and the site's time end
/// there. Found when tried: a `101` is informational, so a WebSocket's whole life was
/// counted as its handshake's latency, and a dozen citizens chatting for a few seconds paged
/// the latency alert and showed a healthy service "degraded" on the status page.
pub fn ends_the_exchange(status: http::StatusCode) -> bool {
    !status.is_informational() || status == http::StatusCode::SWITCHING_PROTOCOLS
}

/// The legacy site accepted an upgrade (`101`): from now on the citizen's bytes are read as
/// one long body, each read waiting at most `limits.upgraded_idle_timeout` instead of
/// pingora's fixed minute (pingora waits on both sides at once, and a message either way
/// starts both waits again: the connection ends after that long with nothing either way).
/// Set only then, so a request that merely asks for an upgrade (an
/// `Upgrade` header on a slowly sent body) keeps pingora's limit on its reads.
///
/// A `101` to a request that did not ask for an upgrade (`asked`: an HTTP/1.1 `Upgrade`) is
/// the site's error, a 502 (RFC 9110 §15.2.2: a server must not switch to a protocol the
/// client did not ask for; nginx tunnels only when the client's request had `Upgrade`).
/// Found when tried: the gateway passed such a 101 on and then the site's bytes raw, a whole
/// second answer whose `Set-Cookie; Domain`, `Clear-Site-Data` and HSTS no adapter saw and
/// the browser obeyed; over HTTP/2 the citizen was told his request was bad. So is a `101`
/// switching to another protocol than the one asked for, a WebSocket (the only upgrade
/// let through: `crate::guard::only_websocket_upgrades`): RFC 9110 §7.8 (found when tried:
/// a site's `101` with `Upgrade: h2c` to a WebSocket handshake was passed on). Checked
/// before the attempt takes a `101` for an exchange that succeeded: a refused one is the
/// site's failure to its breaker (found in review: each closed the breaker's trial).
pub fn upgraded(
    session: &mut pingora::proxy::Session,
    answer: &pingora::http::ResponseHeader,
    asked: bool,
    limits: Option<&LimitsSettings>,
) -> pingora::Result<()> {
    if answer.status != http::StatusCode::SWITCHING_PROTOCOLS {
        return Ok(());
    }
    let refused = if !asked {
        Some("a 101 to a request that did not ask for an upgrade")
    } else if !egov_adapters::headers::upgrade_is_websocket(&answer.headers) {
        Some("a 101 to a WebSocket handshake switching to another protocol")
    } else {
        None
    };
    if let Some(why) = refused {
        let mut e = pingora::Error::new_up(pingora::ErrorType::InvalidHTTPHeader);
        e.set_context(why);
        return Err(e);
    }
    if let Some(limits) = limits {
        session.set_read_timeout(Some(limits.upgraded_idle_timeout));
    }
    Ok(())
}

/// Whether error `e`, on a connection the site upgraded, is its end at
/// `limits.upgraded_idle_timeout` (a read that waited that long: the site's side, as the
/// citizen's), which a WebSocket rightly reaches: no failure of the site. Found when tried:
/// each was counted in `egov_upstream_errors_total{kind="timeout"}`, which the error-rate
/// rules read, and logged as pingora's `ERROR` naming the site.
pub fn idle_end(upgraded: bool, e: &pingora::Error) -> bool {
    upgraded && e.etype() == &pingora::ErrorType::ReadTimedout
}
