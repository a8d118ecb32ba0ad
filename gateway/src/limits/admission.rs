//! Which connections the portal listeners take in, and the header deadline on each.
//!
//! [`Admission`] wraps pingora's HTTP application: each accepted connection takes a slot
//! ([`ConnectionSlots`]) for its whole life and is wrapped in a [`HeadDeadline`]; then the
//! wrapped application serves every request of the connection. A connection over a cap is
//! refused politely, with a minimal HTTP answer (429 for one address's share, 503 for the
//! process) and `Connection: close`, written with a short deadline so a refused client
//! cannot hold the task either.

use super::connections::{ConnectionSlots, Crowded};
use super::head_deadline::HeadDeadline;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use prometheus::{IntCounter, IntGauge};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The counters an SRE watches for floods.
#[derive(Clone)]
pub struct AdmissionMetrics {
    pub open: IntGauge,
    pub refused_per_address: IntCounter,
    pub refused_total: IntCounter,
    pub header_timeouts: IntCounter,
}

/// Pingora's application `A`, behind connection caps and a header deadline.
pub struct Admission<A> {
    inner: Arc<A>,
    slots: Arc<ConnectionSlots>,
    header_timeout: Duration,
    metrics: AdmissionMetrics,
}

impl<A> Admission<A> {
    pub fn new(
        inner: A,
        slots: Arc<ConnectionSlots>,
        header_timeout: Duration,
        metrics: AdmissionMetrics,
    ) -> Self {
        Self {
            inner: Arc::new(inner),
            slots,
            header_timeout,
            metrics,
        }
    }
}

fn peer_ip(stream: &Stream) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    let addr = digest.peer_addr()?;
    addr.as_inet().map(|a| a.ip())
}

const REFUSED_PER_ADDRESS: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 10\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 41\r\nConnection: close\r\n\r\nToo many connections from your address.\r\n";
const REFUSED_TOTAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 37\r\nConnection: close\r\n\r\nThe portal is busy, try again soon.\r\n";

async fn refuse(mut stream: Stream, answer: &[u8]) {
    let write = async {
        stream.write_all(answer).await?;
        stream.flush().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Admission<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let slot = match self.slots.take(peer_ip(&stream)) {
            Ok(slot) => slot,
            Err(Crowded::PerAddress) => {
                self.metrics.refused_per_address.inc();
                refuse(stream, REFUSED_PER_ADDRESS).await;
                return None;
            }
            Err(Crowded::Total) => {
                self.metrics.refused_total.inc();
                refuse(stream, REFUSED_TOTAL).await;
                return None;
            }
        };
        self.metrics.open.inc();
        let mut stream: Stream = Box::new(HeadDeadline::new(
            stream,
            self.header_timeout,
            self.metrics.header_timeouts.clone(),
        ));
        // Every request of this connection is served here, so the slot lives exactly as
        // long as the connection.
        while let Some(reused) = self.inner.process_new(stream, shutdown).await {
            stream = reused;
        }
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
