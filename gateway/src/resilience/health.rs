//! Active health checks, on pingora's health-check machinery: a `GET <path>` answered 2xx or
//! 3xx (legacy sites redirect their front page more often than not), or a TCP (and TLS)
//! connection, with thresholds of consecutive results before a backend flips. The checks
//! live in the service's balancer, so their state survives every registry swap that keeps
//! the service's `[upstream]`; `upstream::health` runs them in the background.

use crate::config::HealthCheckConfig;
use pingora::http::RequestHeader;
use pingora::lb::health_check::{HealthCheck, HttpHealthCheck, TcpHealthCheck};
use pingora::{Error, ErrorType};

/// The check `config` describes, for backends reached with `tls` and `host` (the `Host`
/// header and SNI the service's requests use).
pub fn build(
    config: &HealthCheckConfig,
    host: &str,
    tls: bool,
) -> Result<Box<dyn HealthCheck + Send + Sync + 'static>, String> {
    let healthy = config.healthy_threshold as usize;
    let unhealthy = config.unhealthy_threshold as usize;
    match &config.http_path {
        Some(path) => {
            let mut check = HttpHealthCheck::new(host, tls);
            let mut req = RequestHeader::build("GET", path.as_bytes(), None)
                .map_err(|e| format!("health check request: {e}"))?;
            req.append_header("Host", host)
                .and_then(|_| req.append_header("User-Agent", "egov-gateway-health-check"))
                .map_err(|e| format!("health check request: {e}"))?;
            check.req = req;
            check.consecutive_success = healthy;
            check.consecutive_failure = unhealthy;
            check.peer_template.options.connection_timeout = Some(config.timeout);
            check.peer_template.options.read_timeout = Some(config.timeout);
            check.peer_template.options.write_timeout = Some(config.timeout);
            check.validator = Some(Box::new(|resp| {
                if resp.status.is_success() || resp.status.is_redirection() {
                    Ok(())
                } else {
                    Error::e_explain(
                        ErrorType::CustomCode("health check status", resp.status.as_u16()),
                        "the backend answered the health check with an error",
                    )
                }
            }));
            Ok(Box::new(check))
        }
        None => {
            let mut check = if tls {
                TcpHealthCheck::new_tls(host)
            } else {
                TcpHealthCheck::new()
            };
            check.consecutive_success = healthy;
            check.consecutive_failure = unhealthy;
            check.peer_template.options.connection_timeout = Some(config.timeout);
            Ok(check)
        }
    }
}
