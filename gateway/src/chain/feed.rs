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
    /// `end_of_stream`, with whatever the pipeline still held too. Returns the pause pingora
    /// is to make before the next chunk: [`PAUSE`] after a chunk whose rewriting took
    /// [`COSTLY`] or more, so other requests on the thread run between such chunks.
    pub fn feed(
        &mut self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
    ) -> Result<Option<Duration>, FeedError> {
        let started = Instant::now();
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
        Ok((started.elapsed() >= COSTLY).then_some(PAUSE))
    }
}

/// A chunk whose rewriting took this long is followed by [`PAUSE`]. Found in a probe: a
/// legacy site streaming pages dense with links (6 ms of rewriting a chunk) kept its task
/// busy for the 128 reads and writes tokio lets a task make before it yields, and every
/// other request on the thread, of any service and the portal's own, waited up to 2.8 s
/// (nginx with `sub_filter` under the same stream: 46 ms). An ordinary page's chunk takes
/// well under a millisecond and is never paused.
const COSTLY: Duration = Duration::from_millis(1);

/// See [`COSTLY`]: the timer's resolution, enough for the thread to run what waits.
const PAUSE: Duration = Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;
    use egov_adapters::body::{plan, BodyPlan, BodyPolicy};
    use egov_adapters::links::{LinkMapBuilder, ServiceLinks};
    use std::sync::Arc;

    fn feed_for_links() -> BodyFeed {
        let mut map = LinkMapBuilder::new();
        map.add_legacy("www.cnie.ma", "/cnie-renewal", "/s/cnie-renewal")
            .expect("a mount");
        let policy = BodyPolicy {
            transcode_fallback: None,
            links: Some((
                Arc::new(map.build()),
                ServiceLinks::new("www.cnie.ma", "/s/cnie-renewal"),
            )),
            banner: None,
        };
        let BodyPlan::Transform(t) = plan(200, Some("text/html; charset=utf-8"), None, &policy)
        else {
            panic!("a page to rewrite");
        };
        BodyFeed::new(BodyPipeline::new(&t, &policy).expect("a pipeline"))
    }

    #[test]
    fn a_chunk_costly_to_rewrite_is_followed_by_a_pause_for_the_others_on_the_thread() {
        let link = r#"<a href='http://www.cnie.ma/cnie-renewal/x' style='background:url(http://www.cnie.ma/c)' onclick='location="http://www.cnie.ma/d"'>x</a>"#;
        let mut body = Some(Bytes::from(link.repeat(20_000)));
        let pause = feed_for_links().feed(&mut body, false).expect("rewritten");
        assert_eq!(pause, Some(PAUSE));
        assert!(body.is_some_and(|b| !b.is_empty()));
    }

    #[test]
    fn an_empty_chunk_costs_nothing_and_is_not_paused() {
        let mut body = None;
        let pause = feed_for_links().feed(&mut body, false).expect("fed");
        assert_eq!(pause, None);
    }
}
