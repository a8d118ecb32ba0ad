//! The portal's TLS certificates: read at start, read again on every reload, and their
//! expiry published.
//!
//! Certificates are renewed in place: an ACME client (certbot, lego) or a ministry's PKI
//! writes the new pair over the old files and tells the server to reload, and nginx reads
//! them again on `nginx -s reload`. Found when tried: the gateway read them once, at start,
//! so after a renewal and a SIGHUP (logged "configuration reloaded, no change") every
//! citizen was still shown the old certificate, until it expired for all of them at once.
//! Each TLS listener's handshakes now ask its [`ListenerCertificate`] (a rustls certificate
//! resolver) for the pair it holds, which [`ListenerCertificate::reload`] replaces in one
//! swap; a connection already up keeps the certificate it was handshaken with.
//!
//! One loader ([`load`]) for every reader of the files: the configuration's validation
//! (`check`, `serve`, a reload) and the listeners, so what `check` accepts is what serves.

use arc_swap::ArcSwap;
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{ClientHello, CryptoProvider, ResolvesServerCert};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a certificate and key cannot serve (each message names the files).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CertificateError {
    #[error("the certificate's and key's paths must be UTF-8")]
    NotUtf8,
    #[error("{} or {} cannot be read: {reason}", cert.display(), key.display())]
    Unreadable {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error(
        "{} holds no PEM certificate or {} no PEM private key (PKCS#1, PKCS#8 or SEC1)",
        cert.display(),
        key.display()
    )]
    Missing { cert: PathBuf, key: PathBuf },
    #[error("the key {} cannot sign TLS handshakes: {reason}", key.display())]
    UnsupportedKey { key: PathBuf, reason: String },
    #[error("the key {} is not the certificate {}'s: {reason}", key.display(), cert.display())]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("{} is not an X.509 certificate: {reason}", cert.display())]
    Unparsable { cert: PathBuf, reason: String },
    /// Only a replacement is refused for this: at start there is nothing better to serve.
    #[error(
        "{} is not valid now (from {} to {}); the certificate in use, valid until {}, is kept",
        cert.display(),
        utc(*not_before),
        utc(*not_after),
        utc(*kept_until)
    )]
    NotValidNow {
        cert: PathBuf,
        not_before: i64,
        not_after: i64,
        kept_until: i64,
    },
}

/// A certificate chain and its key, ready for handshakes, and what an SRE needs to know of
/// it: its validity (Unix seconds) and its subject.
pub struct Identity {
    key: Arc<CertifiedKey>,
    pub not_before: i64,
    pub not_after: i64,
    pub subject: String,
}

impl Identity {
    /// Whether the certificate is within its validity at `now` (Unix seconds).
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Whether `other` presents the same leaf certificate.
    fn same_certificate(&self, other: &Identity) -> bool {
        self.key.end_entity_cert().ok() == other.key.end_entity_cert().ok()
    }
}

/// Reads `cert` (a PEM chain, the server's certificate first) and `key` (a PEM private
/// key), and checks that the key is the certificate's and that TLS can sign with it.
pub fn load(cert: &Path, key: &Path) -> Result<Identity, CertificateError> {
    let (Some(cert_path), Some(key_path)) = (cert.to_str(), key.to_str()) else {
        return Err(CertificateError::NotUtf8);
    };
    let (chain, private_key) = match pingora::tls::load_certs_and_key_files(cert_path, key_path) {
        Ok(Some(pair)) => pair,
        Ok(None) => {
            return Err(CertificateError::Missing {
                cert: cert.into(),
                key: key.into(),
            })
        }
        Err(e) => {
            return Err(CertificateError::Unreadable {
                cert: cert.into(),
                key: key.into(),
                reason: e.to_string(),
            })
        }
    };
    pingora::tls::install_default_crypto_provider();
    let provider =
        CryptoProvider::get_default().ok_or_else(|| CertificateError::UnsupportedKey {
            key: key.into(),
            reason: "no TLS crypto provider is installed".into(),
        })?;
    let signing_key = provider
        .key_provider
        .load_private_key(private_key)
        .map_err(|e| CertificateError::UnsupportedKey {
            key: key.into(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| CertificateError::KeyMismatch {
            cert: cert.into(),
            key: key.into(),
            reason: e.to_string(),
        })?;
    let unparsable = |reason: String| CertificateError::Unparsable {
        cert: cert.into(),
        reason,
    };
    let leaf = certified
        .end_entity_cert()
        .map_err(|e| unparsable(e.to_string()))?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| unparsable(e.to_string()))?;
    // Every certificate of the chain, not the server's alone: found in a bypass probe, an
    // intermediate missing a line of its PEM was taken and sent, and every client's
    // handshake then failed while the metrics said "renewed".
    for (i, der) in certified.cert.iter().enumerate().skip(1) {
        x509_parser::parse_x509_certificate(der)
            .map_err(|e| unparsable(format!("the chain's certificate {}: {e}", i + 1)))?;
    }
    let validity = parsed.validity();
    Ok(Identity {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        subject: parsed.subject().to_string(),
        key: Arc::new(certified),
    })
}

/// What a reload did to one listener's certificate.
pub enum Reloaded {
    /// The files hold the certificate already in use.
    Unchanged,
    /// New handshakes present the files' certificate; `previous` was in use until now.
    Renewed { previous: Arc<Identity> },
}

/// One TLS listener's certificate: the files it is read from and the pair in use, which
/// its handshakes ask for ([`ResolvesServerCert`]) and a reload replaces.
pub struct ListenerCertificate {
    pub listen: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<Identity>,
}

impl std::fmt::Debug for ListenerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerCertificate")
            .field("listen", &self.listen)
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl ListenerCertificate {
    /// Reads listener `listen`'s pair from `cert` and `key`.
    pub fn load(listen: SocketAddr, cert: &Path, key: &Path) -> Result<Self, CertificateError> {
        let identity = load(cert, key)?;
        Ok(Self {
            listen,
            cert: cert.into(),
            key: key.into(),
            current: ArcSwap::from_pointee(identity),
        })
    }

    /// The pair new handshakes present.
    pub fn current(&self) -> Arc<Identity> {
        self.current.load_full()
    }

    /// Reads the files again and, when they hold another certificate, presents it from the
    /// next handshake on. A pair that does not load, or a certificate not valid at `now`
    /// (Unix seconds) while the one in use is (the wrong file copied, a clock off, a renewal
    /// not yet valid), leaves the one in use in place.
    pub fn reload(&self, now: i64) -> Result<Reloaded, CertificateError> {
        let next = load(&self.cert, &self.key)?;
        let current = self.current();
        if next.same_certificate(&current) {
            return Ok(Reloaded::Unchanged);
        }
        if !next.valid_at(now) && current.valid_at(now) {
            return Err(CertificateError::NotValidNow {
                cert: self.cert.clone(),
                not_before: next.not_before,
                not_after: next.not_after,
                kept_until: current.not_after,
            });
        }
        let previous = self.current.swap(Arc::new(next));
        Ok(Reloaded::Renewed { previous })
    }
}

impl ResolvesServerCert for ListenerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.load().key))
    }
}

/// Prometheus handles of the certificates (the telemetry room owns the registry).
#[derive(Clone)]
pub struct CertificateMetrics {
    /// `egov_tls_certificate_expiry_timestamp_seconds{listener}`: each listener's `notAfter`.
    pub expiry: prometheus::IntGaugeVec,
    /// `egov_tls_certificate_reloads_total{result}`: `renewed` or `refused`.
    pub reloads: prometheus::IntCounterVec,
}

/// Every TLS listener's certificate, read again together on a reload.
#[derive(Default)]
pub struct PortalCertificates {
    listeners: Vec<Arc<ListenerCertificate>>,
    metrics: Option<CertificateMetrics>,
}

impl PortalCertificates {
    /// Reads each listener's pair (`(listen, cert, key)`). A certificate not valid now is
    /// served (there is nothing better) with an `ERROR` line, and its expiry published.
    pub fn load<'a>(
        listeners: impl IntoIterator<Item = (SocketAddr, &'a Path, &'a Path)>,
        metrics: Option<CertificateMetrics>,
    ) -> Result<Self, (SocketAddr, CertificateError)> {
        let mut loaded = Vec::new();
        for (listen, cert, key) in listeners {
            let l = ListenerCertificate::load(listen, cert, key).map_err(|e| (listen, e))?;
            let identity = l.current();
            if !identity.valid_at(unix_now()) {
                tracing::error!(
                    listener = %listen,
                    cert = %cert.display(),
                    not_before = %utc(identity.not_before),
                    not_after = %utc(identity.not_after),
                    "this TLS certificate is not valid now: browsers refuse it; renew it and reload"
                );
            }
            loaded.push(Arc::new(l));
        }
        let certificates = Self {
            listeners: loaded,
            metrics,
        };
        certificates.publish();
        Ok(certificates)
    }

    /// The certificate of the TLS listener on `listen`, if there is one.
    pub fn for_listener(&self, listen: SocketAddr) -> Option<Arc<ListenerCertificate>> {
        self.listeners.iter().find(|l| l.listen == listen).cloned()
    }

    /// Reads every listener's files again (off the async threads: they are files), logs
    /// each renewal and refusal, and counts them. A refusal keeps that listener's pair and
    /// does not hold the others back. Returns how many were refused.
    pub async fn reload(self: &Arc<Self>) -> usize {
        let this = Arc::clone(self);
        let now = unix_now();
        let outcomes = tokio::task::spawn_blocking(move || {
            this.listeners
                .iter()
                .map(|l| (l.listen, l.reload(now)))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "TLS certificates not read again: the reading stopped");
            Vec::new()
        });
        let mut refused = 0;
        for (listen, outcome) in outcomes {
            match outcome {
                Ok(Reloaded::Unchanged) => {}
                Ok(Reloaded::Renewed { previous }) => {
                    let current = self.for_listener(listen).map(|l| l.current());
                    tracing::info!(
                        listener = %listen,
                        subject = current.as_ref().map(|c| c.subject.as_str()).unwrap_or(""),
                        not_after = %current.as_ref().map(|c| utc(c.not_after)).unwrap_or_default(),
                        previous_not_after = %utc(previous.not_after),
                        "TLS certificate renewed: new handshakes present it"
                    );
                    self.count("renewed");
                }
                Err(e) => {
                    refused += 1;
                    tracing::error!(listener = %listen, "TLS certificate not renewed: {e}");
                    self.count("refused");
                }
            }
        }
        self.publish();
        refused
    }

    fn count(&self, result: &str) {
        if let Some(m) = &self.metrics {
            m.reloads.with_label_values(&[result]).inc();
        }
    }

    fn publish(&self) {
        let Some(m) = &self.metrics else { return };
        for l in &self.listeners {
            m.expiry
                .with_label_values(&[&l.listen.to_string()])
                .set(l.current().not_after);
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `t` (Unix seconds) as an HTTP date, in UTC.
fn utc(t: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    httpdate::fmt_http_date(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of the test's own, removed on drop.
    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    impl Dir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("egov-certificates-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&path).expect("dir");
            Self(path)
        }

        fn cert(&self) -> PathBuf {
            self.0.join("portal.crt")
        }

        fn key(&self) -> PathBuf {
            self.0.join("portal.key")
        }

        /// Writes `pair` over the listener's files, as a renewal does.
        fn write(&self, pair: &Pair) {
            std::fs::write(self.cert(), &pair.cert).expect("cert");
            std::fs::write(self.key(), &pair.key).expect("key");
        }
    }

    /// A self-signed certificate for `localhost` and its key, as PEM.
    struct Pair {
        cert: String,
        key: String,
    }

    /// Valid from `from` to `until` (years, 1 January).
    fn pair(from: i32, until: i32) -> Pair {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn listen() -> SocketAddr {
        "127.0.0.1:8443".parse().expect("addr")
    }

    /// The leaf certificate a handshake would present.
    fn presented(l: &ListenerCertificate) -> Vec<u8> {
        l.current()
            .key
            .end_entity_cert()
            .expect("a leaf")
            .as_ref()
            .to_vec()
    }

    /// 2030-01-01, within every test certificate's validity but the expired ones.
    const NOW: i64 = 1_893_456_000;

    #[test]
    fn a_pair_renewed_in_place_is_presented_after_a_reload() {
        let dir = Dir::new("renewed");
        dir.write(&pair(2020, 2040));
        let l = ListenerCertificate::load(listen(), &dir.cert(), &dir.key()).expect("loads");
        let before = presented(&l);
        dir.write(&pair(2021, 2041));
        let Ok(Reloaded::Renewed { previous }) = l.reload(NOW) else {
            panic!("the renewal was not taken");
        };
        assert_ne!(presented(&l), before);
        assert_eq!(
            previous.key.end_entity_cert().expect("leaf").as_ref(),
            before
        );
        assert_eq!(l.current().not_after, 2_240_611_200, "2041-01-01");
    }

    #[test]
    fn a_reload_of_the_same_files_changes_nothing() {
        let dir = Dir::new("same");
        dir.write(&pair(2020, 2040));
        let l = ListenerCertificate::load(listen(), &dir.cert(), &dir.key()).expect("loads");
        assert!(matches!(l.reload(NOW), Ok(Reloaded::Unchanged)));
    }

    #[test]
    fn a_replacement_that_does_not_load_keeps_the_pair_in_use() {
        let dir = Dir::new("broken");
        let first = pair(2020, 2040);
        dir.write(&first);
        let l = ListenerCertificate::load(listen(), &dir.cert(), &dir.key()).expect("loads");
        let before = presented(&l);
        // Half a renewal: the new certificate beside the old key.
        std::fs::write(dir.cert(), pair(2021, 2041).cert).expect("cert");
        let mismatch = l.reload(NOW).err().expect("another certificate's key");
        assert!(matches!(mismatch, CertificateError::KeyMismatch { .. }));
        assert!(mismatch.to_string().contains("portal.key"), "{mismatch}");
        std::fs::write(dir.key(), "junk\n").expect("key");
        let junk = l.reload(NOW).err().expect("junk");
        assert!(junk.to_string().contains("no PEM private key"), "{junk}");
        std::fs::remove_file(dir.cert()).expect("rm");
        assert!(matches!(
            l.reload(NOW),
            Err(CertificateError::Unreadable { .. })
        ));
        assert_eq!(presented(&l), before);
    }

    #[test]
    fn a_chain_with_a_damaged_certificate_after_the_servers_is_refused() {
        let dir = Dir::new("chain");
        let leaf = pair(2020, 2040);
        let intermediate = pair(2020, 2040).cert;
        // One line of the intermediate's body gone, its armour intact.
        let mut lines: Vec<&str> = intermediate.lines().collect();
        lines.remove(2);
        let damaged = lines.join("\n") + "\n";
        std::fs::write(dir.cert(), format!("{}{damaged}", leaf.cert)).expect("cert");
        std::fs::write(dir.key(), &leaf.key).expect("key");
        let refused = load(&dir.cert(), &dir.key())
            .err()
            .expect("a damaged chain");
        assert!(
            refused.to_string().contains("the chain's certificate 2"),
            "{refused}"
        );
        std::fs::write(dir.cert(), format!("{}{intermediate}", leaf.cert)).expect("cert");
        load(&dir.cert(), &dir.key()).expect("the same chain whole");
    }

    #[test]
    fn an_expired_or_future_replacement_keeps_a_valid_pair_in_use() {
        let dir = Dir::new("expired");
        dir.write(&pair(2020, 2040));
        let l = ListenerCertificate::load(listen(), &dir.cert(), &dir.key()).expect("loads");
        let before = presented(&l);
        for (from, until) in [(2010, 2011), (2035, 2045)] {
            dir.write(&pair(from, until));
            let refused = l.reload(NOW).err().expect("not valid now");
            assert!(
                matches!(refused, CertificateError::NotValidNow { .. }),
                "{refused}"
            );
            assert!(
                refused
                    .to_string()
                    .contains("valid until Sun, 01 Jan 2040 00:00:00 GMT, is kept"),
                "{refused}"
            );
            assert_eq!(presented(&l), before);
        }
    }

    #[test]
    fn an_expired_pair_in_use_gives_way_to_any_that_loads() {
        let dir = Dir::new("both-expired");
        dir.write(&pair(2010, 2011));
        let l = ListenerCertificate::load(listen(), &dir.cert(), &dir.key()).expect("loads");
        dir.write(&pair(2012, 2013));
        assert!(matches!(l.reload(NOW), Ok(Reloaded::Renewed { .. })));
    }

    #[test]
    fn each_listeners_expiry_is_published_and_moves_with_a_renewal() {
        let dir = Dir::new("published");
        dir.write(&pair(2020, 2040));
        let expiry =
            prometheus::IntGaugeVec::new(prometheus::Opts::new("expiry", "expiry"), &["listener"])
                .expect("gauge");
        let reloads = prometheus::IntCounterVec::new(
            prometheus::Opts::new("reloads", "reloads"),
            &["result"],
        )
        .expect("counter");
        let metrics = CertificateMetrics {
            expiry: expiry.clone(),
            reloads: reloads.clone(),
        };
        let (cert, key) = (dir.cert(), dir.key());
        let certificates = Arc::new(
            PortalCertificates::load([(listen(), cert.as_path(), key.as_path())], Some(metrics))
                .expect("loads"),
        );
        let gauge = expiry.with_label_values(&["127.0.0.1:8443"]);
        assert_eq!(gauge.get(), 2_208_988_800, "2040-01-01");
        dir.write(&pair(2021, 2041));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert_eq!(runtime.block_on(certificates.reload()), 0);
        assert_eq!(gauge.get(), 2_240_611_200, "2041-01-01");
        assert_eq!(reloads.with_label_values(&["renewed"]).get(), 1);
        std::fs::write(dir.key(), "junk\n").expect("key");
        assert_eq!(runtime.block_on(certificates.reload()), 1);
        assert_eq!(reloads.with_label_values(&["refused"]).get(), 1);
        assert_eq!(gauge.get(), 2_240_611_200, "the pair in use is kept");
    }
}
