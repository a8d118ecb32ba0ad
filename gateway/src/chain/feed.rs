//! Feeding a response body through its rewriting, chunk by chunk, from pingora's body
//! phase (which is synchronous and wants the context `Sync`).

use bytes::Bytes;
use egov_adapters::body::{BodyError, BodyPipeline};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One response's body rewriting. (A mutex only because pingora wants the context `Sync`;
/// one task uses it at a time, through `&mut`, so it is never contended.)
pub struct BodyFeed(Mutex<BodyPipeline>, Option<Instant>);

/// How long the start of a page is held to find its charset before the charset is decided
/// with what came (when the next piece arrives), as browsers wait.
const SNIFF_PATIENCE: Duration = Duration::from_millis(500);

/// Why a body could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("body rewrite: {0}")]
    Rewrite(#[from] BodyError),
    #[error("body rewrite poisoned by an earlier panic")]
    Poisoned,
}

impl BodyFeed {
    pub fn new(pipeline: BodyPipeline) -> Self {
        Self(Mutex::new(pipeline), None)
    }

    /// Replaces `body` (this chunk, maybe none) with its rewritten bytes; at
    /// `end_of_stream`, with whatever the pipeline still held too.
    pub fn feed(&mut self, body: &mut Option<Bytes>, end_of_stream: bool) -> Result<(), FeedError> {
        let pipeline = self.0.get_mut().map_err(|_| FeedError::Poisoned)?;
        let mut out = match body.as_deref() {
            Some(chunk) if !chunk.is_empty() => pipeline.feed(chunk)?,
            _ => Vec::new(),
        };
        if pipeline.is_sniffing() {
            let since = *self.1.get_or_insert_with(Instant::now);
            if since.elapsed() >= SNIFF_PATIENCE {
                out.extend_from_slice(&pipeline.settle_charset()?);
            }
        }
        if end_of_stream {
            out.extend_from_slice(&pipeline.finish()?);
        }
        *body = Some(Bytes::from(out));
        Ok(())
    }
}
