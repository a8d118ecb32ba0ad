//! The `X-Request-Id` every request carries: assigned by the gateway, shown on error pages,
//! sent to the legacy site and logged, so a citizen's complaint can be traced end to end.

use http::{HeaderName, HeaderValue};

/// The header that carries it, on the request to the legacy site and on every answer.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A request id: 32 lowercase hex characters (128 random bits), or an id a trusted proxy
/// already assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A fresh random id.
    pub fn generate() -> Self {
        let v: u128 = rand::random();
        let s = format!("{v:032x}");
        // 32 hex digits are always a valid header value.
        Self(HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("0")))
    }

    /// A placeholder until the request is admitted (never sent anywhere).
    pub fn unassigned() -> Self {
        Self(HeaderValue::from_static("-"))
    }

    /// The request's trace id, used as its request id when no trusted proxy gave one, so
    /// support staff quote one reference that finds both the log line and the trace.
    pub fn from_trace(trace_id: &str) -> Option<Self> {
        HeaderValue::from_str(trace_id).ok().map(Self)
    }

    /// Accepts an id from a trusted upstream proxy if it is short visible ASCII.
    pub fn from_trusted(value: &HeaderValue) -> Option<Self> {
        let b = value.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c));
        ok.then(|| Self(value.clone()))
    }

    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_hex() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn trusted_ids_must_be_plain_tokens() {
        assert!(RequestId::from_trusted(&HeaderValue::from_static("lb-42.a")).is_some());
        assert!(RequestId::from_trusted(&HeaderValue::from_static("a b")).is_none());
    }
}
