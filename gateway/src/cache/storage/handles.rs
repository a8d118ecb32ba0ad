//! pingora's handles on one stored answer: a hit read out in chunks (and seeked for a
//! range), a miss written in as it streams.

use super::object::Object;
use super::{storage_error, TieredStorage, CHUNK};
use crate::cache::shares::Owner;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::cache::eviction::CacheEntryId;
use pingora::cache::key::{CacheKey, HashBinary};
use pingora::cache::storage::{HandleHit, HandleMiss, MissFinishType, Storage};
use pingora::cache::trace::SpanHandle;
use pingora::cache::CacheMeta;
use pingora::Result;
use std::any::Any;
use std::time::Instant;

/// The stored answer's framing once its whole body is known: a `Content-Length`, instead of
/// the chunked encoding a rewritten page streamed with, so a hit goes out in two writes
/// (header, body) rather than three, and can answer byte ranges.
pub(super) fn framed(meta: &mut CacheMeta, len: usize) {
    let status = meta.response_header().status.as_u16();
    if matches!(status, 100..=199 | 204 | 304) {
        return;
    }
    let header = meta.response_header_mut();
    header.remove_header(&http::header::TRANSFER_ENCODING);
    if let Err(e) = header.insert_header(http::header::CONTENT_LENGTH, len) {
        tracing::debug!(error = %e, "response cache: cannot frame a stored answer");
    }
}

/// Reading one stored body.
pub(super) struct Hit {
    pub(super) body: Bytes,
    pub(super) at: usize,
    pub(super) end: Option<usize>,
}

#[async_trait]
impl HandleHit for Hit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        let end = self.end.unwrap_or(self.body.len()).min(self.body.len());
        if self.at >= end {
            return Ok(None);
        }
        let next = (self.at + CHUNK).min(end);
        let chunk = self.body.slice(self.at..next);
        self.at = next;
        Ok(Some(chunk))
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        if start > self.body.len() || end.is_some_and(|e| e < start) {
            return Err(storage_error("seek beyond the stored body"));
        }
        self.at = start;
        self.end = end;
        Ok(())
    }

    fn get_eviction_weight(&self) -> usize {
        self.body.len()
    }

    fn entry_id(&self) -> Option<CacheEntryId> {
        None
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

/// Writing one answer as it streams to the citizen.
pub(super) struct Miss {
    pub(super) storage: &'static TieredStorage,
    pub(super) hash: HashBinary,
    /// The URL's primary slot (what a URL purge names), and when the request began.
    pub(super) slot: HashBinary,
    pub(super) began: Instant,
    pub(super) owner: Owner,
    /// The answer's metadata (pingora's is not `Clone`: a copy made once per miss).
    pub(super) meta: CacheMeta,
    pub(super) body: BytesMut,
}

#[async_trait]
impl HandleMiss for Miss {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        self.body.extend_from_slice(&data);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<MissFinishType> {
        let Miss {
            storage,
            hash,
            slot,
            began,
            owner,
            mut meta,
            body,
        } = *self;
        if storage.purged.since(&slot, began) {
            // Its URL was purged while it was fetched: what it carries is what the purge
            // meant to remove.
            tracing::debug!("response cache: a fill begun before its URL's purge is not kept");
            return Ok(MissFinishType::Created(0));
        }
        framed(&mut meta, body.len());
        let object = Object::new(&meta, body.freeze(), owner);
        let size = object.body.len();
        storage.put_l2(hash, &object.owner, &meta, &object.body);
        storage.put_l1(hash, object);
        Ok(MissFinishType::Created(size))
    }
}
