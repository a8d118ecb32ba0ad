//! "Not what I meant": a citizen tells the portal that a routed answer was wrong and picks the
//! right service. Each answer is kept as a candidate example for the ministry that runs the
//! right service (and the one that got the query by mistake):
//!
//! - the query *redacted* exactly as the LLM path redacts it (no CIN, phone, name...), the
//!   language, the routed and the chosen service, and the time: no session, no address;
//! - in Redis when `[redis]` is configured (a set per service, shared by every instance),
//!   else appended to a JSON-lines file (`[portal] feedback_log`);
//! - capped ([`MAX_PER_SERVICE`] per service, in either store; [`MAX_FILE_ENTRIES`] per file) and expiring
//!   after [`KEEP`].
//!
//! Ministries read the entries of their services through the admin API; `egov-gateway
//! feedback export` turns them into `examples` lines for a service file.

use crate::kv::Kv;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long an answer is kept: the form tells the citizen so, and past it the answer is
/// deleted within [`SWEEP_EVERY`] ([`FeedbackLog::forget_expired`]).
pub const KEEP: Duration = Duration::from_secs(90 * 24 * 3600);
/// How often the answers past [`KEEP`] are looked for. Found in review: they were only
/// hidden from reads, and deleted when a service's set passed 500 answers (in Redis, whose
/// set lived on while answers came) or when the file reached 20,000 lines.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Answers kept per service in the shared store (the oldest go first).
pub const MAX_PER_SERVICE: usize = 500;
/// Lines kept in the file before it is compacted to the newest half.
pub const MAX_FILE_ENTRIES: usize = 20_000;

/// One answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedbackEntry {
    /// Unix seconds.
    pub at: u64,
    /// The service the citizen chose (the right one).
    pub service: String,
    /// The service the router answered with.
    pub routed: Option<String>,
    /// The query, redacted.
    pub query: String,
    /// The page's language (`ar`, `zgh`, `fr`, `en`).
    pub lang: String,
}

impl FeedbackEntry {
    /// Whether the entry concerns `service` (chosen or routed to it).
    pub fn concerns(&self, service: &str) -> bool {
        self.service == service || self.routed.as_deref() == Some(service)
    }

    fn expired(&self, now: u64) -> bool {
        now.saturating_sub(self.at) > KEEP.as_secs()
    }
}

/// Why an answer could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("the feedback file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the shared store: {0}")]
    Store(#[from] crate::kv::KvError),
}

/// Where answers are kept.
pub enum FeedbackLog {
    /// Not kept (`feedback_log = "off"` without Redis).
    Off,
    /// Appended to a JSON-lines file.
    File {
        path: PathBuf,
        /// Serialises appends and compactions (lines are counted so the cap needs no read).
        lines: Arc<tokio::sync::Mutex<Option<usize>>>,
    },
    /// A set per service in the shared store.
    Shared(Arc<dyn Kv>),
}

impl FeedbackLog {
    /// The file log at `path`.
    pub fn file(path: PathBuf) -> Self {
        FeedbackLog::File {
            path,
            lines: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Keeps `entry` (under both services it concerns, in the shared store).
    pub async fn record(&self, entry: &FeedbackEntry) -> Result<(), FeedbackError> {
        match self {
            FeedbackLog::Off => Ok(()),
            FeedbackLog::Shared(kv) => {
                let member = serde_json::to_string(entry).unwrap_or_default();
                let mut services = vec![entry.service.as_str()];
                services.extend(entry.routed.as_deref().filter(|r| *r != entry.service));
                for service in services {
                    let key = kv.key("feedback", service);
                    kv.set_add(&key, &member, KEEP).await?;
                    trim_set(kv.as_ref(), &key, Trim::PastTheCap).await?;
                }
                Ok(())
            }
            FeedbackLog::File { path, lines } => {
                let mut lines = lines.lock().await;
                let line = serde_json::to_string(entry).unwrap_or_default();
                let known = *lines;
                let count = on_file(path, move |p| append_line(&p, &line, known)).await?;
                *lines = Some(count);
                Ok(())
            }
        }
    }

    /// Deletes the answers past [`KEEP`]: in the shared store, those of `services` (a
    /// deleted service's set expires [`KEEP`] after its last answer); in the file, every
    /// one (rewritten without them, through a temporary file). Returns how many went.
    pub async fn forget_expired(&self, services: &[String]) -> Result<usize, FeedbackError> {
        match self {
            FeedbackLog::Off => Ok(0),
            FeedbackLog::Shared(kv) => {
                // One service's failure does not keep the others' old answers.
                let (mut gone, mut failed) = (0, None);
                for service in services {
                    match trim_set(kv.as_ref(), &kv.key("feedback", service), Trim::Expired).await {
                        Ok(n) => gone += n,
                        Err(e) => failed = Some(e),
                    }
                }
                failed.map_or(Ok(gone), Err)
            }
            FeedbackLog::File { path, lines } => {
                let mut lines = lines.lock().await;
                let (kept, gone) = on_file(path, |p| rewrite_without_expired(&p)).await?;
                if gone > 0 {
                    *lines = Some(kept);
                }
                Ok(gone)
            }
        }
    }

    /// Runs [`Self::forget_expired`] every [`SWEEP_EVERY`], for the services `services`
    /// names at each turn (the registry's, as it is then).
    pub async fn sweep(self: Arc<Self>, services: impl Fn() -> Vec<String> + Send + 'static) {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match self.forget_expired(&services()).await {
                Ok(0) => {}
                Ok(gone) => tracing::info!(gone, "routing feedback past its 90 days deleted"),
                Err(e) => {
                    tracing::warn!(error = %e, "routing feedback past its 90 days not deleted")
                }
            }
        }
    }

    /// The live answers concerning `service`, newest first.
    pub async fn for_service(&self, service: &str) -> Result<Vec<FeedbackEntry>, FeedbackError> {
        let now = crate::sso::session::now_secs();
        let mut entries: Vec<FeedbackEntry> = match self {
            FeedbackLog::Off => Vec::new(),
            FeedbackLog::Shared(kv) => kv
                .set_members(&kv.key("feedback", service))
                .await?
                .iter()
                .filter_map(|m| serde_json::from_str(m).ok())
                .collect(),
            FeedbackLog::File { path, lines } => {
                let _guard = lines.lock().await;
                read_file(path).map_err(|source| FeedbackError::File {
                    path: path.clone(),
                    source,
                })?
            }
        };
        entries.retain(|e| e.concerns(service) && !e.expired(now));
        entries.sort_by_key(|e| std::cmp::Reverse(e.at));
        Ok(entries)
    }
}

/// Runs `work` on the feedback file at `path` on a thread that may block, its failure said
/// with the file's name.
async fn on_file<T: Send + 'static>(
    path: &std::path::Path,
    work: impl FnOnce(PathBuf) -> std::io::Result<T> + Send + 'static,
) -> Result<T, FeedbackError> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || work(owned))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        .map_err(|source| FeedbackError::File {
            path: path.to_path_buf(),
            source,
        })
}

/// What a trim of a service's set is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trim {
    /// After an answer is kept: only a set past [`MAX_PER_SERVICE`] is read through (from
    /// review: every answer parsed and sorted the whole set, which a flood of answers
    /// drives; the hourly sweep deletes the expired ones).
    PastTheCap,
    /// The hourly sweep: the answers past [`KEEP`] too.
    Expired,
}

/// Drops the members of the set at `key` past [`KEEP`] (or unreadable), and the oldest
/// beyond [`MAX_PER_SERVICE`]; returns how many went.
async fn trim_set(kv: &dyn Kv, key: &str, trim: Trim) -> Result<usize, FeedbackError> {
    let members = kv.set_members(key).await?;
    if trim == Trim::PastTheCap && members.len() <= MAX_PER_SERVICE {
        return Ok(0);
    }
    let now = crate::sso::session::now_secs();
    let mut dated: Vec<(u64, String)> = members
        .into_iter()
        .map(|m| {
            let at = serde_json::from_str::<FeedbackEntry>(&m)
                .ok()
                .filter(|e| !e.expired(now))
                .map_or(0, |e| e.at);
            (at, m)
        })
        .collect();
    dated.sort_by_key(|d| std::cmp::Reverse(d.0));
    let live = dated.iter().take_while(|(at, _)| *at > 0).count();
    let drop: Vec<String> = dated
        .split_off(live.min(MAX_PER_SERVICE))
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    if !drop.is_empty() {
        kv.set_remove(key, &drop).await?;
    }
    Ok(drop.len())
}

/// Rewrites the file without its answers past [`KEEP`] (and unreadable lines), if it has
/// any: `(lines kept, lines gone)`.
fn rewrite_without_expired(path: &std::path::Path) -> std::io::Result<(usize, usize)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    let now = crate::sso::session::now_secs();
    let all = text.lines().count();
    let live: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<FeedbackEntry>(l)
                .ok()
                .is_some_and(|e| !e.expired(now))
        })
        .collect();
    if live.len() == all {
        return Ok((all, 0));
    }
    let mut kept = String::with_capacity(text.len());
    for line in &live {
        kept.push_str(line);
        kept.push('\n');
    }
    let tmp = path.with_extension("jsonl.tmp");
    crate::private_file::write(&tmp, kept.as_bytes())?;
    std::fs::rename(&tmp, path)?;
    Ok((live.len(), all - live.len()))
}

/// Every readable, live line of the file (a missing file is an empty log; an unreadable
/// line, e.g. a torn last write, is skipped).
fn read_file(path: &std::path::Path) -> std::io::Result<Vec<FeedbackEntry>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Appends `line`; past [`MAX_FILE_ENTRIES`] lines, rewrites the file with the newest half of
/// its live entries (through a temporary file and a rename, so a crash loses nothing
/// already kept). Returns the file's line count.
fn append_line(path: &std::path::Path, line: &str, known: Option<usize>) -> std::io::Result<usize> {
    use std::io::Write;
    let count = match known {
        Some(n) => n,
        None => match std::fs::read_to_string(path) {
            Ok(t) => t.lines().count(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        },
    };
    if count >= MAX_FILE_ENTRIES {
        let now = crate::sso::session::now_secs();
        let mut entries = read_file(path)?;
        entries.retain(|e| !e.expired(now));
        // The new answer counts in its services' caps, as in the shared store.
        entries.extend(serde_json::from_str::<FeedbackEntry>(line).ok());
        let mut keep = newest_per_service(entries);
        let keep = keep.split_off(keep.len().saturating_sub(MAX_FILE_ENTRIES / 2));
        let tmp = path.with_extension("jsonl.tmp");
        let mut text = String::new();
        for e in &keep {
            text.push_str(&serde_json::to_string(e).unwrap_or_default());
            text.push('\n');
        }
        crate::private_file::write(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, path)?;
        return Ok(keep.len());
    }
    let mut file = crate::private_file::append(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    Ok(count + 1)
}

/// The entries among the newest of a service they concern, in their order: the file's cap
/// per service, [`MAX_PER_SERVICE`] as the shared store's sets have, or each service's
/// equal share of the compacted file's half when that is less, so that what is kept fits
/// it whatever the answers are about. Found when tried: a flood of answers about two
/// services (24,000 in 38 s from 40 addresses, each within its rate) compacted every other
/// service's answers out of the file; then, in a bypass probe, one spread over 25 services
/// (25 × 500 past the half the file keeps).
fn newest_per_service(entries: Vec<FeedbackEntry>) -> Vec<FeedbackEntry> {
    let services: std::collections::HashSet<&str> = entries
        .iter()
        .flat_map(|e| std::iter::once(e.service.as_str()).chain(e.routed.as_deref()))
        .collect();
    let cap = MAX_PER_SERVICE.min(MAX_FILE_ENTRIES / 2 / services.len().max(1));
    let mut kept = vec![false; entries.len()];
    {
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, e) in entries.iter().enumerate().rev() {
            let mut within = false;
            let routed = e.routed.as_deref().filter(|r| *r != e.service);
            for service in std::iter::once(e.service.as_str()).chain(routed) {
                let n = seen.entry(service).or_default();
                *n += 1;
                within |= *n <= cap;
            }
            kept[i] = within;
        }
    }
    entries
        .into_iter()
        .zip(kept)
        .filter_map(|(e, k)| k.then_some(e))
        .collect()
}

/// The `examples = [...]` lines a ministry can paste into the service file of `service`:
/// each distinct redacted query the citizens who chose it typed, TOML-quoted.
pub fn export_examples(entries: &[FeedbackEntry], service: &str) -> String {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = format!(
        "# Candidate examples for {service}, from \"not what I meant\" answers (redacted).\n\
         # Review each before adding it to the service file's `examples`.\n"
    );
    for e in entries.iter().filter(|e| e.service == service) {
        if seen.insert(e.query.as_str()) {
            let quoted = toml::Value::String(e.query.clone()).to_string();
            let routed = e.routed.as_deref().unwrap_or("-");
            out.push_str(&format!(
                "  {quoted}, # {} · was routed to {routed}\n",
                e.lang
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    fn entry(at: u64, service: &str, routed: &str, query: &str) -> FeedbackEntry {
        FeedbackEntry {
            at,
            service: service.into(),
            routed: Some(routed.into()),
            query: query.into(),
            lang: "fr".into(),
        }
    }

    fn now() -> u64 {
        crate::sso::session::now_secs()
    }

    #[tokio::test]
    async fn the_file_log_keeps_entries_across_reopening_and_reads_them_per_service() {
        let dir = std::env::temp_dir().join(format!(
            "egov-feedback-{}",
            crate::sso::session::random_token()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("feedback.jsonl");
        let log = FeedbackLog::file(path.clone());
        log.record(&entry(now(), "a", "b", "q1"))
            .await
            .expect("kept");
        log.record(&entry(now() + 1, "c", "d", "q2"))
            .await
            .expect("kept");
        let reopened = FeedbackLog::file(path);
        assert_eq!(reopened.for_service("a").await.expect("read").len(), 1);
        assert_eq!(
            reopened.for_service("b").await.expect("read")[0].query,
            "q1"
        );
        assert!(reopened.for_service("z").await.expect("read").is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn expired_entries_are_not_shown() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new("t:"));
        let log = FeedbackLog::Shared(kv);
        log.record(&entry(now() - KEEP.as_secs() - 10, "a", "b", "old"))
            .await
            .expect("kept");
        log.record(&entry(now(), "a", "b", "new"))
            .await
            .expect("kept");
        let entries = log.for_service("a").await.expect("read");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].query, "new");
    }

    /// Found in review: an answer past its 90 days was hidden from reads but stayed stored
    /// (in Redis while the service's set got answers, in the file until 20,000 lines),
    /// while the form tells the citizen it is kept 90 days.
    #[tokio::test]
    async fn answers_past_their_90_days_are_deleted_from_the_shared_store() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new("t:"));
        let aged = serde_json::to_string(&entry(now() - KEEP.as_secs() - 10, "a", "b", "old"))
            .expect("json");
        // Aged where it lies: stored when it was young, as any answer is.
        kv.set_add(&kv.key("feedback", "a"), &aged, KEEP)
            .await
            .expect("stored");
        let log = FeedbackLog::Shared(Arc::clone(&kv));
        log.record(&entry(now(), "a", "c", "new"))
            .await
            .expect("kept");
        let services = ["a".to_string(), "b".to_string()];
        let gone = log.forget_expired(&services).await.expect("swept");
        assert_eq!(gone, 1, "the sweep, not the answer after it, takes it out");
        kv.set_add(&kv.key("feedback", "b"), &aged, KEEP)
            .await
            .expect("stored");
        let gone = log.forget_expired(&services).await.expect("swept");
        assert_eq!(gone, 1);
        for service in ["a", "b"] {
            let members = kv
                .set_members(&kv.key("feedback", service))
                .await
                .expect("members");
            assert!(
                !members.iter().any(|m| m.contains("\"old\"")),
                "{members:?}"
            );
        }
    }

    #[tokio::test]
    async fn answers_past_their_90_days_are_deleted_from_the_file() {
        let aged = serde_json::to_string(&entry(now() - KEEP.as_secs() - 10, "a", "b", "old"))
            .expect("json");
        let dir = std::env::temp_dir().join(format!(
            "egov-feedback-{}",
            crate::sso::session::random_token()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("feedback.jsonl");
        std::fs::write(&path, format!("{aged}\n")).expect("an aged file");
        let file = FeedbackLog::file(path.clone());
        file.record(&entry(now(), "a", "c", "new"))
            .await
            .expect("kept");
        assert_eq!(file.forget_expired(&[]).await.expect("swept"), 1);
        let text = std::fs::read_to_string(&path).expect("the file");
        assert!(
            !text.contains("\"old\"") && text.contains("\"new\""),
            "{text}"
        );
        assert_eq!(file.forget_expired(&[]).await.expect("swept"), 0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn the_shared_log_keeps_only_the_newest_per_service() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new("t:"));
        let log = FeedbackLog::Shared(kv);
        let start = now() - 10_000;
        for i in 0..(MAX_PER_SERVICE as u64 + 5) {
            log.record(&entry(start + i, "a", "b", &format!("q{i}")))
                .await
                .expect("kept");
        }
        let entries = log.for_service("a").await.expect("read");
        assert_eq!(entries.len(), MAX_PER_SERVICE);
        assert_eq!(entries[0].query, format!("q{}", MAX_PER_SERVICE + 4));
        assert!(!entries.iter().any(|e| e.query == "q0"));
    }

    /// A feedback file at its [`MAX_FILE_ENTRIES`]: one genuine answer about `genuine`, then
    /// a flood of answers each about the service `flooded(i)` names, all routed to `b`.
    /// Returns its directory (to remove) and path.
    fn a_flooded_file(flooded: impl Fn(u64) -> String) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "egov-feedback-{}",
            crate::sso::session::random_token()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("feedback.jsonl");
        let start = now() - 100_000;
        let mut text = serde_json::to_string(&entry(start, "genuine", "b", "vendre ma voiture"))
            .expect("json");
        text.push('\n');
        for i in 0..MAX_FILE_ENTRIES as u64 {
            let flood = entry(start + 1 + i, &flooded(i), "b", &format!("f{i}"));
            text.push_str(&serde_json::to_string(&flood).expect("json"));
            text.push('\n');
        }
        std::fs::write(&path, text).expect("a full file");
        (dir, path)
    }

    /// Found when tried: 24,000 answers about two services, sent in 38 s from 40 addresses
    /// each within its rate, compacted every other service's answers out of the file.
    #[tokio::test]
    async fn a_flood_of_answers_about_one_service_leaves_the_others_in_the_file() {
        let (dir, path) = a_flooded_file(|_| "flooded".into());
        let log = FeedbackLog::file(path);
        log.record(&entry(now(), "flooded", "b", "one more"))
            .await
            .expect("kept");
        let genuine = log.for_service("genuine").await.expect("read");
        assert_eq!(genuine.len(), 1, "{genuine:?}");
        let flooded = log.for_service("flooded").await.expect("read");
        assert_eq!(
            flooded.len(),
            MAX_PER_SERVICE,
            "the newest, as in the shared store"
        );
        assert_eq!(flooded[0].query, "one more");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Found in a bypass probe: a flood spread over 25 services (500 each, past the 10,000
    /// lines a compaction keeps) still pushed the other services' answers out.
    #[tokio::test]
    async fn a_flood_spread_over_many_services_leaves_the_others_in_the_file() {
        let (dir, path) = a_flooded_file(|i| format!("flooded-{}", i % 25));
        let log = FeedbackLog::file(path.clone());
        log.record(&entry(now(), "flooded-0", "b", "one more"))
            .await
            .expect("kept");
        let genuine = log.for_service("genuine").await.expect("read");
        assert_eq!(genuine.len(), 1, "{genuine:?}");
        let lines = std::fs::read_to_string(&path)
            .expect("the file")
            .lines()
            .count();
        assert!(lines <= MAX_FILE_ENTRIES / 2, "{lines} lines kept");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_export_is_toml_quoted_and_deduplicated() {
        let entries = [
            entry(2, "a", "b", "bghit \"la carte\""),
            entry(1, "a", "b", "bghit \"la carte\""),
            entry(1, "b", "a", "other way"),
        ];
        let text = export_examples(&entries, "a");
        assert_eq!(text.matches("bghit").count(), 1, "{text}");
        // A valid TOML string, whichever quoting TOML picks for it.
        let line = text.lines().find(|l| l.contains("bghit")).expect("a line");
        let value = line.trim().split(", #").next().expect("a value");
        let parsed: toml::Value = toml::from_str(&format!("x = {value}")).expect("toml");
        assert_eq!(parsed["x"].as_str(), Some("bghit \"la carte\""), "{text}");
        assert!(!text.contains("other way"), "{text}");
    }
}
