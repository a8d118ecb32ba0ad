//! The first stage: the request's snapshot, its client (and whether the peer is a trusted
//! proxy), the citizen's address, its telemetry (trace and in-flight count) and its id, and
//! whether its connection is offered keep-alive. It never answers; every later stage and
//! phase relies on what it sets.

use super::{RequestCtx, Stage, Step};
use crate::forwarded::Client;
use crate::registry::Registry;
use crate::request_id::{self, RequestId};
use crate::telemetry::Telemetry;
use pingora::proxy::Session;
use std::sync::Arc;

pub struct Identify {
    registry: Arc<Registry>,
    telemetry: Arc<Telemetry>,
    /// `limits.keepalive_timeout` is not `"off"`. How long an idle connection waits is the
    /// admission layer's; whether an answer offers keep-alive is decided here, once pingora
    /// has read the request (it applies the client's own `Connection` wish as it reads).
    keepalive: bool,
    /// Set when a SIGTERM's grace period begins or a SIGQUIT hands the listeners over
    /// ([`crate::app::App::closing_connections`]): every answer from then on closes its
    /// connection, so clients holding one move to another instance (or the new process)
    /// while this one still serves. Found when tried: answers kept offering keep-alive, and
    /// the connections were cut when the grace period ended; then, in a reload probe, the
    /// same at an upgrade: every busy kept-alive connection lost the request it had just
    /// sent when the old process stopped, 5 s after the SIGQUIT.
    closing_connections: Arc<std::sync::atomic::AtomicBool>,
}

impl Identify {
    pub fn new(
        registry: Arc<Registry>,
        telemetry: Arc<Telemetry>,
        keepalive: bool,
        closing_connections: Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        Self {
            registry,
            telemetry,
            keepalive,
            closing_connections,
        }
    }
}

impl Stage for Identify {
    fn name(&self) -> &'static str {
        "identify"
    }

    async fn run(&self, session: &mut Session, ctx: &mut RequestCtx) -> Step {
        let closing = self
            .closing_connections
            .load(std::sync::atomic::Ordering::Relaxed);
        if !self.keepalive || closing {
            session.set_keepalive(None);
        }
        let snap = self.registry.snapshot();
        // Every answer, the gateway's own first ones included, goes to a client that may
        // stop reading (limits.send_timeout).
        session.set_write_timeout(Some(snap.config.gateway.limits.send_timeout));
        let settings = &snap.portal.settings;
        let peer_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let client = Client::new(peer_ip, &settings.trusted_proxies, tls);
        let req = session.req_header();
        let citizen_ip = client.citizen_ip(&req.headers, &settings.trusted_proxies);
        let obs = self.telemetry.begin(
            &req.headers,
            client.trusted,
            req.method.as_str(),
            req.uri.path(),
            citizen_ip,
        );
        ctx.request_id = client
            .trusted
            .then(|| {
                req.headers
                    .get(&request_id::HEADER)
                    .and_then(RequestId::from_trusted)
            })
            .flatten()
            .or_else(|| RequestId::from_trace(obs.trace_id.as_str()))
            .unwrap_or_else(RequestId::generate);
        ctx.obs = Some(obs);
        ctx.client = Some(client);
        ctx.citizen_ip = citizen_ip;
        // By its /64 for IPv6: one host has endless addresses in it (found in review).
        ctx.attempts.asked_by = citizen_ip.map(crate::client_address::address_key);
        ctx.portal_elsewhere = crate::host::request_host(req)
            .is_some_and(|h| crate::host::normalize(h) != snap.portal.host);
        ctx.snapshot = Some(snap);
        Step::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::testing::{request, telemetry};

    fn stage() -> Identify {
        let snap = crate::registry::fixtures::snapshot();
        let registry = Arc::new(Registry::new(
            Arc::try_unwrap(snap).unwrap_or_else(|_| panic!("one owner")),
        ));
        Identify::new(registry, telemetry(), true, Default::default())
    }

    #[tokio::test]
    async fn every_request_gets_an_id_a_trace_and_a_snapshot() {
        let mut session = request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let mut ctx = RequestCtx::default();
        assert!(matches!(
            stage().run(&mut session, &mut ctx).await,
            Step::Continue
        ));
        assert_eq!(ctx.request_id.as_str().len(), 32, "the trace id");
        assert!(ctx.obs.is_some() && ctx.snapshot.is_some() && ctx.client.is_some());
    }

    #[tokio::test]
    async fn an_untrusted_clients_request_id_is_not_believed() {
        let mut session =
            request(b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: forged-id\r\n\r\n").await;
        let mut ctx = RequestCtx::default();
        stage().run(&mut session, &mut ctx).await;
        assert_ne!(ctx.request_id.as_str(), "forged-id");
    }
}
