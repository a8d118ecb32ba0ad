//! One stored answer as L1 keeps it and L2 stores it: its metadata, its body, its weight,
//! its encoding and how long it is kept.

use crate::cache::shares::Owner;
use bytes::Bytes;
use pingora::cache::key::HashBinary;
use pingora::cache::CacheMeta;
use pingora::http::ResponseHeader;
use pingora::Result;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What an object in L2 starts with (format version).
pub(super) const MAGIC: &[u8; 4] = b"EGC1";

/// An answer's metadata, kept decoded: a hit rebuilds pingora's `CacheMeta` from it without
/// decompressing a serialised header (pingora compresses stored headers with zstd, which cost
/// ~5 % of a hit's CPU).
pub(super) struct Meta {
    pub(super) header: ResponseHeader,
    pub(super) fresh_until: SystemTime,
    pub(super) created: SystemTime,
    pub(super) updated: SystemTime,
    pub(super) stale_while_revalidate: u32,
    pub(super) stale_if_error: u32,
    pub(super) variance: Option<HashBinary>,
}

impl Meta {
    pub(super) fn of(meta: &CacheMeta) -> Meta {
        Meta {
            header: meta.response_header_copy(),
            fresh_until: meta.fresh_until(),
            created: meta.created(),
            updated: meta.updated(),
            stale_while_revalidate: meta.stale_while_revalidate_sec(),
            stale_if_error: meta.stale_if_error_sec(),
            variance: meta.variance(),
        }
    }

    /// The `CacheMeta` this was made of (its age counts from the last revalidation).
    pub(super) fn rebuild(&self) -> CacheMeta {
        let mut meta = CacheMeta::new(
            self.fresh_until,
            self.created,
            self.stale_while_revalidate,
            self.stale_if_error,
            self.header.clone(),
        );
        if self.updated != self.created {
            meta.set_epoch_override(self.updated);
        }
        if let Some(v) = self.variance {
            meta.set_variance_key(v);
        }
        meta
    }
}

/// What one header field of a stored answer costs beyond its name and value (see
/// [`Object::weight`]).
pub(super) const HEADER_FIELD_OVERHEAD: usize = 224;
/// What one stored answer costs beyond its header fields and body (see [`Object::weight`]).
pub(super) const OBJECT_OVERHEAD: usize = 512;

/// One stored answer: its metadata and the (adapted) body.
#[derive(Clone)]
pub(super) struct Object {
    pub(super) meta: Arc<Meta>,
    pub(super) body: Bytes,
    /// Until when the object is kept (stale windows, revalidation).
    pub(super) until: SystemTime,
    /// The service it is an answer of, and its ministry (their shares of L1).
    pub(super) owner: Owner,
}

impl Object {
    pub(super) fn new(meta: &CacheMeta, body: Bytes, owner: Owner) -> Object {
        Object {
            meta: Arc::new(Meta::of(meta)),
            body,
            until: until(meta),
            owner,
        }
    }

    /// The bytes the object holds in memory, as L1's size counts them: its body, and for
    /// each header field its name and value plus [`HEADER_FIELD_OVERHEAD`] (a field lives in
    /// two maps, `http`'s and pingora's case map, each a hashed bucket and its own
    /// allocations), plus [`OBJECT_OVERHEAD`] (the cache's entry, the key, the metadata).
    /// Found when tried: 64,290 small pages counted as 67 MB grew the process by 212 MB
    /// (3.3 KB a page against 1,044 B counted), so L1 held three times its configured size.
    pub(super) fn weight(&self) -> u32 {
        let header: usize = self
            .meta
            .header
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + HEADER_FIELD_OVERHEAD)
            .sum();
        u32::try_from(header + self.body.len() + OBJECT_OVERHEAD).unwrap_or(u32::MAX)
    }
}

/// The L2 form of an answer: pingora's serialised metadata, then the body.
pub(super) fn encode(meta: &CacheMeta, body: &[u8]) -> Result<Vec<u8>> {
    let (internal, header) = meta.serialize()?;
    let mut out = Vec::with_capacity(12 + internal.len() + header.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(internal.len() as u32).to_be_bytes());
    out.extend_from_slice(&internal);
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    Ok(out)
}

pub(super) fn decode(raw: Vec<u8>, owner: Owner) -> Option<Object> {
    let raw = Bytes::from(raw);
    if raw.get(..4)? != MAGIC {
        return None;
    }
    let len = |at: usize| -> Option<usize> {
        Some(u32::from_be_bytes(raw.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let il = len(4)?;
    let internal = raw.get(8..8 + il)?;
    let hl = len(8 + il)?;
    let header = raw.get(12 + il..12 + il + hl)?;
    let meta = CacheMeta::deserialize(internal, header).ok()?;
    Some(Object::new(&meta, raw.slice(12 + il + hl..), owner))
}

/// How long past its freshness an answer with a validator (`ETag`, `Last-Modified`) is
/// kept, so it can be revalidated (a 304 is cheaper than the page).
pub(super) const KEEP_FOR_REVALIDATION: Duration = Duration::from_secs(600);

/// Until when `meta`'s object is kept: its stale windows, and a while for revalidation when
/// it has a validator.
pub(super) fn until(meta: &CacheMeta) -> SystemTime {
    let stale = Duration::from_secs(u64::from(
        meta.stale_while_revalidate_sec()
            .max(meta.stale_if_error_sec()),
    ));
    let headers = meta.headers();
    let revalidate = if headers.contains_key(http::header::ETAG)
        || headers.contains_key(http::header::LAST_MODIFIED)
    {
        KEEP_FOR_REVALIDATION
    } else {
        Duration::ZERO
    };
    meta.fresh_until() + stale.max(revalidate)
}

pub(super) fn remaining(until: SystemTime) -> Duration {
    until
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

pub(super) struct Lifetime;

impl moka::Expiry<HashBinary, Object> for Lifetime {
    fn expire_after_create(&self, _: &HashBinary, v: &Object, _: Instant) -> Option<Duration> {
        Some(remaining(v.until))
    }

    fn expire_after_update(
        &self,
        _: &HashBinary,
        v: &Object,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(remaining(v.until))
    }
}
