//! Purges that every instance sees. A whole service is purged by moving its *generation*, a
//! number inside every key of that service: old objects are never looked up again and expire
//! on their own (no SCAN, so it works on a Redis Cluster). One URL is purged by deleting its
//! object from L2 and telling every instance to drop its L1 copy.
//!
//! Generations live in the shared state (`rc:gen:<service>`); each instance keeps them in
//! memory, updated by the `rc:purged` channel and re-read whenever messages may have been
//! missed and every half minute, so an instance that starts after a purge never serves
//! objects from before it. A generation the shared state lost (a Redis restarted empty) is
//! written back by the instances that hold it, as the registry is; one no purge can have
//! made (past tomorrow's clock) is not believed.

use super::storage::TieredStorage;
use crate::kv::Kv;
use pingora::cache::key::HashBinary;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long after a URL purge it is made again (see [`Generations::purge_object`]): far
/// longer than a message takes to reach the other instances.
const PURGE_AGAIN_AFTER: Duration = Duration::from_secs(2);

/// The passes of a URL purge.
#[derive(Clone, Copy)]
enum Pass {
    First,
    Again,
}

/// How often generations are re-read even without a message.
const RESYNC: Duration = Duration::from_secs(30);
/// How far past this instance's clock a generation may be and still be one a purge made
/// (generations are purge times in milliseconds, or one more than the last): instances'
/// clocks a little apart, and purges in one millisecond, stay far below it.
const MAX_AHEAD_MS: u64 = 24 * 3600 * 1000;

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A generation read from the shared state or a message, if a purge can have made it.
/// Found when tried: `u64::MAX` written under a service's key was raised to by every
/// instance, and since generations only go up, every later purge of the service was
/// answered `purged: all` and purged nothing, until every instance restarted.
fn believable(raw: &str) -> Option<u64> {
    let generation = raw.trim().parse::<u64>().ok()?;
    (generation <= now_ms().saturating_add(MAX_AHEAD_MS)).then_some(generation)
}

/// The generation of each service's objects.
pub struct Generations {
    kv: Arc<dyn Kv>,
    current: RwLock<HashMap<String, u64>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PurgeError(String);

impl From<crate::kv::KvError> for PurgeError {
    fn from(e: crate::kv::KvError) -> Self {
        PurgeError(format!("the shared state is unavailable: {e}"))
    }
}

fn parse_hex(s: &str) -> Option<HashBinary> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

impl Generations {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        Self {
            kv,
            current: RwLock::new(HashMap::new()),
        }
    }

    /// The generation of `service`'s objects on this instance.
    pub fn of(&self, service: &str) -> u64 {
        self.current
            .read()
            .ok()
            .and_then(|m| m.get(service).copied())
            .unwrap_or(0)
    }

    fn raise(&self, service: &str, generation: u64) {
        if let Ok(mut m) = self.current.write() {
            let slot = m.entry(service.to_string()).or_insert(0);
            *slot = (*slot).max(generation);
        }
    }

    /// Moves `service` to a new generation on every instance; the new generation.
    ///
    /// A new generation must be above every one an instance holds, also when the shared
    /// state lost its counter (a Redis restarted empty: a counter starting again at 1 was
    /// below what the instances held, and the first purge after it purged nothing while it
    /// answered `purged: all`). So it is the time in milliseconds, or one more than the
    /// shared or this instance's generation if that is higher (clocks a little apart).
    pub async fn purge_service(&self, service: &str) -> Result<u64, PurgeError> {
        let key = self.kv.key("rc:gen", service);
        // Compare-and-set, so that of two purges at once neither lowers what the other
        // stored (a later purge reading the lower value could then fall below what an
        // instance holds).
        let mut attempts = 0;
        let generation = loop {
            let current = self.kv.get(&key).await?;
            let shared = current
                .as_deref()
                .and_then(|raw| believable(std::str::from_utf8(raw).ok()?))
                .unwrap_or_else(|| {
                    if current.is_some() {
                        tracing::warn!(
                            service,
                            "cache purge: the stored generation is none a purge can have made; replaced"
                        );
                    }
                    0
                });
            let generation = now_ms()
                .max(shared.saturating_add(1))
                .max(self.of(service).saturating_add(1));
            let stored = self
                .kv
                .compare_and_set(&key, current.as_deref(), generation.to_string().as_bytes())
                .await?;
            attempts += 1;
            if stored {
                break generation;
            }
            if attempts == 5 {
                return Err(PurgeError(
                    "other purges of this service kept landing first; nothing was purged by \
                     this one, try again"
                        .into(),
                ));
            }
        };
        self.raise(service, generation);
        let channel = self.kv.channel("rc:purged");
        if let Err(e) = self
            .kv
            .publish(&channel, &format!("gen {service} {generation}"))
            .await
        {
            tracing::warn!(error = %e, service, "cache purge: other instances will see it at their next resync");
        }
        Ok(generation)
    }

    /// Deletes the object at `hash` from L2 and from every instance's L1; whether it was
    /// found here. The same is done again [`PURGE_AGAIN_AFTER`] later: another instance's
    /// fill of the URL that ended before it heard of the purge wrote the old page back into
    /// L2 (from review), and an instance may have read it from there meanwhile.
    pub async fn purge_object(
        self: &Arc<Self>,
        storage: &'static TieredStorage,
        hash: &HashBinary,
    ) -> Result<bool, PurgeError> {
        let found = self.delete_everywhere(storage, hash, Pass::First).await?;
        let again = Arc::clone(self);
        let hash = *hash;
        tokio::spawn(async move {
            tokio::time::sleep(PURGE_AGAIN_AFTER).await;
            if let Err(e) = again.delete_everywhere(storage, &hash, Pass::Again).await {
                tracing::warn!(error = %e, "cache purge: the second pass of a URL purge failed");
            }
        });
        Ok(found)
    }

    /// One pass of [`Self::purge_object`]. Only the first is the purge's moment, which
    /// fills begun before it are judged by (`PurgedUrls`); the second deletes what is stored
    /// then (written back, or a fill stored since, which costs one fetch again), and a fill
    /// still on its way then is kept.
    async fn delete_everywhere(
        &self,
        storage: &TieredStorage,
        hash: &HashBinary,
        pass: Pass,
    ) -> Result<bool, PurgeError> {
        let kind = match pass {
            Pass::First => {
                storage.purged.note(hash);
                "url"
            }
            Pass::Again => "url-again",
        };
        let found = storage.remove(hash).await;
        let channel = self.kv.channel("rc:purged");
        self.kv
            .publish(&channel, &format!("{kind} {}", hex::encode(hash)))
            .await?;
        Ok(found)
    }

    /// Reads the generations of `services` from the shared state, and writes back the
    /// ones it lost that this instance holds. Found when tried: after a Redis restarted
    /// empty, an instance that held a service's generation kept it while one started then
    /// began at 0, so the two keyed the same page apart; neither found the other's copies
    /// in L2, and a page purged through one stayed in the other's, until the next purge of
    /// the whole service. The same holds for a Redis restored from an older snapshot
    /// (lower than held) and for a value no purge made: each is replaced by what this
    /// instance holds, only if it is still what was read.
    pub async fn resync<'a>(&self, services: impl IntoIterator<Item = &'a str>) {
        for service in services {
            let key = self.kv.key("rc:gen", service);
            match self.kv.get(&key).await {
                Ok(current) => {
                    let shared = current
                        .as_deref()
                        .and_then(|raw| believable(std::str::from_utf8(raw).ok()?));
                    match shared {
                        Some(g) if g >= self.of(service) => self.raise(service, g),
                        _ => self.restore(service, &key, current.as_deref()).await,
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cache generations: shared state unavailable");
                    return;
                }
            }
        }
    }

    /// Writes this instance's generation of `service` over `current` in the shared state
    /// (lost, older or unbelievable), if nothing else was written since, and tells the
    /// others, which raise theirs to it. Of two instances holding different generations,
    /// the higher one's wins: the lower one's write is then below what the other holds,
    /// which writes its own over it at its next look.
    async fn restore(&self, service: &str, key: &str, current: Option<&[u8]>) {
        let held = self.of(service);
        if held == 0 {
            return;
        }
        let value = held.to_string();
        match self
            .kv
            .compare_and_set(key, current, value.as_bytes())
            .await
        {
            Ok(true) => {
                tracing::info!(
                    service,
                    generation = held,
                    "cache purge: the shared state had lost this service's generation; restored"
                );
                let channel = self.kv.channel("rc:purged");
                let _ = self
                    .kv
                    .publish(&channel, &format!("gen {service} {held}"))
                    .await;
            }
            // Another instance wrote first: read at the next resync.
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(error = %e, "cache generations: shared state unavailable")
            }
        }
    }

    /// Follows purges made on other instances until the process ends. `services` names the
    /// services to resynchronise (the live registry's).
    pub async fn follow(
        self: Arc<Self>,
        storage: &'static TieredStorage,
        services: Arc<dyn Fn() -> Vec<String> + Send + Sync>,
    ) {
        let wake = Arc::new(tokio::sync::Notify::new());
        let follower = {
            let me = Arc::clone(&self);
            let channel = self.kv.channel("rc:purged");
            let on_gap = Arc::clone(&wake);
            let kv = Arc::clone(&self.kv);
            async move {
                kv.follow(
                    &channel,
                    Box::new(move |message| me.apply(storage, &message)),
                    Box::new(move || on_gap.notify_one()),
                )
                .await
            }
        };
        let resync = async {
            loop {
                let ids = services();
                self.resync(ids.iter().map(String::as_str)).await;
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(RESYNC) => {}
                }
            }
        };
        tokio::join!(follower, resync);
    }

    /// One message of the `rc:purged` channel.
    fn apply(&self, storage: &TieredStorage, message: &str) {
        let mut parts = message.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("gen"), Some(service), Some(g)) => {
                if let Some(g) = believable(g) {
                    self.raise(service, g);
                    storage.forget_service(service);
                }
            }
            (Some(kind @ ("url" | "url-again")), Some(h), None) => {
                if let Some(hash) = parse_hex(h) {
                    if kind == "url" {
                        storage.purged.note(&hash);
                    }
                    storage.forget_local(&hash);
                }
            }
            _ => tracing::debug!(message, "cache purge: unknown message ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    #[tokio::test]
    async fn a_service_purge_moves_its_generation_and_only_its_own() {
        let g = Generations::new(Arc::new(MemoryKv::new("t:")));
        assert_eq!(g.of("a"), 0);
        let moved = g.purge_service("a").await.expect("purged");
        assert!(moved > 0);
        assert_eq!(g.of("a"), moved);
        assert_eq!(g.of("b"), 0);
        let again = g.purge_service("a").await.expect("purged");
        assert!(again > moved, "{again} after {moved}");
    }

    /// Found when tried: after Redis restarted empty, its counter began again at 1, below
    /// what every instance held, and the first purge purged nothing.
    #[tokio::test]
    async fn a_purge_after_the_shared_state_was_lost_still_moves_every_instance() {
        let before = Generations::new(Arc::new(MemoryKv::new("t:")));
        let held = before.purge_service("a").await.expect("purged");
        // Both instances held `held`; the shared state is new and empty.
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new("t:"));
        let (one, other) = (Generations::new(Arc::clone(&kv)), Generations::new(kv));
        one.raise("a", held);
        other.raise("a", held);
        let moved = one.purge_service("a").await.expect("purged");
        assert!(moved > held, "{moved} is not past {held}");
        other.resync(["a"]).await;
        assert_eq!(other.of("a"), moved);
    }

    #[tokio::test]
    async fn a_generation_the_shared_state_lost_is_written_back_and_a_new_instance_reads_it() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new("t:"));
        let old = Generations::new(Arc::clone(&kv));
        let held = old.purge_service("a").await.expect("purged");
        // The shared state restarted empty; a new instance starts beside the old one.
        assert!(kv.delete(&kv.key("rc:gen", "a")).await.expect("deleted"));
        let new = Generations::new(Arc::clone(&kv));
        new.resync(["a"]).await;
        assert_eq!(new.of("a"), 0, "nothing to read yet");
        old.resync(["a"]).await;
        new.resync(["a"]).await;
        assert_eq!(new.of("a"), held, "both key the same page alike again");
        assert_eq!(old.of("a"), held);
    }

    #[tokio::test]
    async fn a_generation_no_purge_can_have_made_is_not_believed_and_the_next_purge_works() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new("t:"));
        let g = Generations::new(Arc::clone(&kv));
        let before = g.purge_service("a").await.expect("purged");
        let key = kv.key("rc:gen", "a");
        let planted = u64::MAX.to_string();
        kv.set(&key, planted.as_bytes(), None, crate::kv::Write::Always)
            .await
            .expect("planted");
        g.resync(["a"]).await;
        assert_eq!(g.of("a"), before, "not raised to it");
        let after = g.purge_service("a").await.expect("purged");
        assert!(after > before && after < u64::MAX, "{after}");
        assert_eq!(g.of("a"), after, "the purge moved the service");
        let stored = kv.get(&key).await.expect("read").expect("a generation");
        assert_eq!(
            stored,
            after.to_string().into_bytes(),
            "and replaced the planted one"
        );
    }

    /// From review: a Redis restored from an older snapshot holds a generation below what
    /// the instances hold; a new instance must not key pages by it.
    #[tokio::test]
    async fn an_older_generation_in_the_shared_state_is_replaced_by_the_one_held() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new("t:"));
        let old = Generations::new(Arc::clone(&kv));
        let first = old.purge_service("a").await.expect("purged");
        let held = old.purge_service("a").await.expect("purged");
        let key = kv.key("rc:gen", "a");
        kv.set(
            &key,
            first.to_string().as_bytes(),
            None,
            crate::kv::Write::Always,
        )
        .await
        .expect("the older snapshot");
        old.resync(["a"]).await;
        let new = Generations::new(Arc::clone(&kv));
        new.resync(["a"]).await;
        assert_eq!(new.of("a"), held);
        assert_eq!(old.of("a"), held, "never lowered");
    }

    #[tokio::test]
    async fn an_instance_starting_after_a_purge_reads_the_generation() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new("t:"));
        let first = Generations::new(Arc::clone(&kv));
        first.purge_service("a").await.expect("purged");
        first.purge_service("a").await.expect("purged");
        let last = first.of("a");
        let later = Generations::new(kv);
        later.resync(["a", "b"]).await;
        assert_eq!(later.of("a"), last);
        assert_eq!(later.of("b"), 0);
    }

    #[test]
    fn hashes_survive_their_message_form() {
        let h: HashBinary = [7u8; 16];
        assert_eq!(parse_hex(&hex::encode(h)), Some(h));
        assert_eq!(parse_hex("zz"), None);
    }
}
