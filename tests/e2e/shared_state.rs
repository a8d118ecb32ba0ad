//! The shared-state seam: one suite of promises run against every implementation of the
//! gateway's key-value trait (the in-memory default, a real standalone `redis-server` and a
//! real three-master Redis Cluster), and against the session store built on it. A store
//! written against the trait behaves the same on one machine and on many.

use egov_gateway::config::{RedisSettings, SecretRef, Secrets};
use egov_gateway::kv::{Kv, MemoryKv, RedisKv, SharedState, Write};
use egov_gateway::sso::session::{now_secs, random_token, Session};
use egov_gateway::sso::store::{SessionStore, SharedStore, UpdateOutcome};
use egov_integration::redis::{command, RedisCluster, RedisServer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn redis(urls: Vec<String>, prefix: &str) -> Arc<dyn Kv> {
    let mut settings = RedisSettings::new(urls);
    settings.key_prefix = prefix.to_string();
    Arc::new(RedisKv::new(&settings, None).expect("a valid Redis configuration"))
}

/// Every promise of the trait, on `kv`.
async fn the_contract(kv: &dyn Kv, counts: bool) {
    values_are_written_read_and_deleted(kv).await;
    conditional_writes_never_resurrect_or_overwrite(kv).await;
    a_taken_value_is_taken_once(kv).await;
    only_one_of_two_writers_that_read_the_same_value_wins(kv).await;
    values_expire_with_their_ttl(kv).await;
    counters_add_and_expire_from_their_creation(kv).await;
    sets_add_list_and_remove_members(kv).await;
    lifetimes_are_moved_later_never_earlier(kv).await;
    a_published_message_reaches_a_follower(kv).await;
    live_keys_are_counted_where_the_store_can(kv, counts).await;
    distinct_members_are_counted_across_keys_of_one_hash_tag(kv).await;
}

/// What `egov_sso_sessions_active` is built on where no store can be walked: distinct counts
/// per window, summed over two windows in one command (one slot: the `{active}` tag).
async fn distinct_members_are_counted_across_keys_of_one_hash_tag(kv: &dyn Kv) {
    let (a, b) = (kv.key("{active}", "t1"), kv.key("{active}", "t2"));
    let ttl = Duration::from_secs(60);
    for (key, member) in [(&a, "x"), (&a, "y"), (&a, "x"), (&b, "y"), (&b, "z")] {
        kv.distinct_add(key, member, ttl).await.expect("add");
    }
    assert_eq!(kv.distinct_count(&[a.clone(), b]).await.expect("count"), 3);
    assert_eq!(kv.distinct_count(&[a]).await.expect("count"), 2);
}

async fn values_are_written_read_and_deleted(kv: &dyn Kv) {
    let key = kv.key("t", "plain");
    assert!(kv.key("t", "plain").ends_with("t:plain"));
    assert_eq!(kv.get(&key).await.expect("get"), None);
    assert!(kv
        .set(&key, b"\x00bytes\xff", None, Write::Always)
        .await
        .expect("set"));
    assert_eq!(
        kv.get(&key).await.expect("get").as_deref(),
        Some(&b"\x00bytes\xff"[..])
    );
    assert!(kv.delete(&key).await.expect("delete"));
    assert!(!kv.delete(&key).await.expect("delete again"));
    assert_eq!(kv.get(&key).await.expect("get"), None);
}

async fn conditional_writes_never_resurrect_or_overwrite(kv: &dyn Kv) {
    let key = kv.key("t", "cond");
    assert!(
        !kv.set(&key, b"a", None, Write::IfPresent)
            .await
            .expect("xx"),
        "an update brought back a key that does not exist"
    );
    assert_eq!(kv.get(&key).await.expect("get"), None);
    assert!(kv
        .set(&key, b"first", None, Write::IfAbsent)
        .await
        .expect("nx"));
    assert!(!kv
        .set(&key, b"second", None, Write::IfAbsent)
        .await
        .expect("nx"));
    assert!(kv
        .set(&key, b"third", None, Write::IfPresent)
        .await
        .expect("xx"));
    assert_eq!(
        kv.get(&key).await.expect("get").as_deref(),
        Some(&b"third"[..])
    );
    kv.delete(&key).await.expect("delete");
}

async fn a_taken_value_is_taken_once(kv: &dyn Kv) {
    let key = kv.key("t", "take");
    kv.set(&key, b"once", Some(Duration::from_secs(60)), Write::Always)
        .await
        .expect("set");
    assert_eq!(
        kv.take(&key).await.expect("take").as_deref(),
        Some(&b"once"[..])
    );
    assert_eq!(kv.take(&key).await.expect("take again"), None);
}

async fn only_one_of_two_writers_that_read_the_same_value_wins(kv: &dyn Kv) {
    let key = kv.key("t", "cas");
    assert!(kv.compare_and_set(&key, None, b"v1").await.expect("create"));
    assert!(
        !kv.compare_and_set(&key, None, b"other").await.expect("cas"),
        "created twice"
    );
    // Both read v1; the first writer wins, the second finds v2 and loses.
    assert!(kv
        .compare_and_set(&key, Some(b"v1"), b"v2")
        .await
        .expect("cas"));
    assert!(!kv
        .compare_and_set(&key, Some(b"v1"), b"v3")
        .await
        .expect("cas"));
    assert_eq!(
        kv.get(&key).await.expect("get").as_deref(),
        Some(&b"v2"[..])
    );
    // A value that expires: replaced only over what was read, with its expiry.
    assert!(!kv
        .replace_if(&key, b"v1", b"v4", Duration::from_millis(300))
        .await
        .expect("replace"));
    assert!(kv
        .replace_if(&key, b"v2", b"v5", Duration::from_millis(300))
        .await
        .expect("replace"));
    assert_eq!(
        kv.get(&key).await.expect("get").as_deref(),
        Some(&b"v5"[..])
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kv.get(&key).await.expect("get"), None, "it expired");
    kv.delete(&key).await.expect("delete");
}

async fn values_expire_with_their_ttl(kv: &dyn Kv) {
    let key = kv.key("t", "ttl");
    kv.set(&key, b"v", Some(Duration::from_millis(300)), Write::Always)
        .await
        .expect("set");
    assert!(kv.get(&key).await.expect("get").is_some());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(kv.get(&key).await.expect("get"), None, "outlived its TTL");
    assert!(
        !kv.set(&key, b"w", None, Write::IfPresent)
            .await
            .expect("xx"),
        "an update brought back an expired key"
    );
}

async fn counters_add_and_expire_from_their_creation(kv: &dyn Kv) {
    let key = kv.key("t", "counter");
    let window = Some(Duration::from_millis(500));
    assert_eq!(kv.incr(&key, 1, window).await.expect("incr"), 1);
    assert_eq!(kv.incr(&key, 5, window).await.expect("incr"), 6);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Counting again does not push the window's end back.
    assert_eq!(kv.incr(&key, 1, window).await.expect("incr"), 7);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        kv.incr(&key, 1, window).await.expect("incr"),
        1,
        "the window ended"
    );
    kv.delete(&key).await.expect("delete");
}

async fn sets_add_list_and_remove_members(kv: &dyn Kv) {
    let key = kv.key("t", "set");
    let ttl = Duration::from_secs(60);
    assert!(kv.set_members(&key).await.expect("members").is_empty());
    for m in ["a", "b", "c", "a"] {
        kv.set_add(&key, m, ttl).await.expect("add");
    }
    let mut members = kv.set_members(&key).await.expect("members");
    members.sort();
    assert_eq!(members, ["a", "b", "c"]);
    kv.set_remove(&key, &["a".into(), "c".into(), "zz".into()])
        .await
        .expect("remove");
    assert_eq!(kv.set_members(&key).await.expect("members"), ["b"]);
    kv.set_remove(&key, &["b".into()]).await.expect("remove");
    assert!(kv.set_members(&key).await.expect("members").is_empty());
    assert_eq!(
        kv.get(&key).await.ok().flatten(),
        None,
        "an empty set is no key"
    );
}

/// A set a long-lived member relies on is not cut short by a short-lived one added after
/// it; `extend` moves a key's end later only, and makes no key.
async fn lifetimes_are_moved_later_never_earlier(kv: &dyn Kv) {
    let set = kv.key("t", "index");
    kv.set_add(&set, "long", Duration::from_millis(1500))
        .await
        .expect("add");
    kv.set_add(&set, "short", Duration::from_millis(200))
        .await
        .expect("add");
    let value = kv.key("t", "extended");
    kv.set(
        &value,
        b"v",
        Some(Duration::from_millis(300)),
        Write::Always,
    )
    .await
    .expect("set");
    kv.extend(&value, Duration::from_millis(1500))
        .await
        .expect("extend");
    kv.extend(&value, Duration::from_millis(100))
        .await
        .expect("extend");
    let absent = kv.key("t", "never-made");
    kv.extend(&absent, Duration::from_secs(60))
        .await
        .expect("extend");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(kv.set_members(&set).await.expect("members").len(), 2);
    assert!(kv.get(&value).await.expect("get").is_some(), "not extended");
    assert_eq!(kv.get(&absent).await.expect("get"), None);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(kv.set_members(&set).await.expect("members").is_empty());
    assert_eq!(kv.get(&value).await.expect("get"), None, "extended forever");
}

/// Publishes on `channel` through `kv` until `seen` holds `message` (a follower subscribes
/// asynchronously), for at most 10 s.
async fn publish_until_seen(kv: &dyn Kv, channel: &str, message: &str, seen: &Mutex<Vec<String>>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.lock().expect("lock").iter().any(|m| m == message) {
        assert!(Instant::now() < deadline, "{message:?} never arrived");
        let _ = kv.publish(channel, message).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_published_message_reaches_a_follower(kv: &dyn Kv) {
    let channel = kv.channel("contract");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let follow = kv.follow(
        &channel,
        Box::new(move |m| sink.lock().expect("lock").push(m)),
        Box::new(|| {}),
    );
    tokio::select! {
        _ = follow => panic!("the follower stopped"),
        _ = publish_until_seen(kv, &channel, "hello", &seen) => {}
    }
}

async fn live_keys_are_counted_where_the_store_can(kv: &dyn Kv, counts: bool) {
    for i in 0..3 {
        kv.set(
            &kv.key("counted", &i.to_string()),
            b"1",
            Some(Duration::from_secs(60)),
            Write::Always,
        )
        .await
        .expect("set");
    }
    let n = kv.count("counted").await.expect("count");
    if counts {
        assert_eq!(n, Some(3));
    } else {
        assert_eq!(n, None, "a Cluster cannot count without walking every node");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_in_memory_store_keeps_the_shared_state_contract() {
    the_contract(&MemoryKv::new("egov-test:"), true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standalone_redis_keeps_the_shared_state_contract() {
    let server = RedisServer::start();
    the_contract(&*redis(vec![server.url()], "egov-test:"), true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_that_requires_a_password_is_reached_with_redis_password() {
    let server = RedisServer::start();
    server
        .command(&["CONFIG", "SET", "requirepass", "s3cret-pw"])
        .expect("requirepass");
    let mut settings = RedisSettings::new(vec![server.url()]);
    settings.password = Some(SecretRef::Env("EGOV_TEST_REDIS_PASSWORD".into()));
    let secrets = Secrets::default().with_env("EGOV_TEST_REDIS_PASSWORD", "s3cret-pw");
    let shared = SharedState::new(Some(&settings), &secrets).expect("shared state");
    values_are_written_read_and_deleted(&*shared.store()).await;

    settings.password = None;
    let without = SharedState::new(Some(&settings), &secrets).expect("shared state");
    let refused = without
        .store()
        .ping()
        .await
        .expect_err("no password, no access");
    assert!(
        refused.to_string().to_ascii_lowercase().contains("auth"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_password_that_cannot_be_read_is_a_clear_error_at_start() {
    let mut settings = RedisSettings::new(vec!["redis://127.0.0.1:1".into()]);
    settings.password = Some(SecretRef::Env("EGOV_TEST_UNSET_REDIS_PASSWORD".into()));
    let Err(e) = SharedState::new(Some(&settings), &Secrets::default()) else {
        panic!("a missing password was not reported");
    };
    let e = e.to_string();
    assert!(
        e.contains("redis.password") && e.contains("EGOV_TEST_UNSET_REDIS_PASSWORD"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_cluster_keeps_the_shared_state_contract() {
    let cluster = RedisCluster::start();
    the_contract(&*redis(cluster.urls(), "egov-test:"), false).await;
}

/// A fresh session of `sub` in provider session `sid`.
fn session(sub: &str, sid: &str) -> Session {
    let now = now_secs();
    Session {
        id: random_token(),
        public_id: random_token(),
        sub: sub.into(),
        issuer: "https://idp.test".into(),
        idp_sid: Some(sid.into()),
        name: None,
        acr: None,
        professional: false,
        id_token: String::new(),
        access_token: String::new(),
        refresh_token: None,
        access_expires_at: now + 300,
        created_at: now,
        last_seen: now,
        absolute_expires_at: now + 3600,
    }
}

/// The session store's promises, on `kv`.
async fn the_session_contract(kv: Arc<dyn Kv>) {
    let store = SharedStore::new(kv);
    let ttl = Duration::from_secs(60);
    let mut session = session("amina", "op-1");
    store.create(&session, ttl).await.expect("create");
    let read = store.get(&session.id).await.expect("get").expect("live");
    assert_eq!(read.sub, "amina");
    session.access_token = "refreshed".into();
    assert_eq!(
        store.update(&session, ttl).await.expect("update"),
        UpdateOutcome::Written
    );
    // A back-channel logout lands while a request holds the session...
    assert_eq!(
        store.revoke_idp_sid("op-1").await.expect("revoke"),
        std::slice::from_ref(&session.id)
    );
    // ...and that request's write-back must not bring it back.
    assert_eq!(
        store.update(&session, ttl).await.expect("update"),
        UpdateOutcome::Gone
    );
    assert!(store.get(&session.id).await.expect("get").is_none());
    assert!(store.remember_jti("j1", ttl).await.expect("jti"));
    assert!(!store.remember_jti("j1", ttl).await.expect("replay"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_keep_their_promises_in_memory_and_in_redis() {
    the_session_contract(Arc::new(MemoryKv::new("egov-test:"))).await;
    let server = RedisServer::start();
    the_session_contract(redis(vec![server.url()], "egov-test:")).await;
    let cluster = RedisCluster::start();
    the_session_contract(redis(cluster.urls(), "egov-test:")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_survives_the_loss_of_the_node_it_subscribed_through() {
    let mut cluster = RedisCluster::start();
    let addrs = cluster.addrs();
    let kv = redis(cluster.urls(), "egov-test:");
    let channel = kv.channel("revoked");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let gaps = Arc::new(AtomicUsize::new(0));
    let (sink, gap) = (Arc::clone(&seen), Arc::clone(&gaps));
    let follower = {
        let kv = Arc::clone(&kv);
        let channel = channel.clone();
        tokio::spawn(async move {
            kv.follow(
                &channel,
                Box::new(move |m| sink.lock().expect("lock").push(m)),
                Box::new(move || {
                    gap.fetch_add(1, Ordering::SeqCst);
                }),
            )
            .await
        })
    };
    // Subscribed through the first seed node.
    publish_until_seen(&*kv, &channel, "before", &seen).await;
    cluster.stop_node(0);
    // Published through a node that is still up: PUBLISH needs no slot, so it works while
    // the cluster reports the lost shard.
    let survivor = addrs[1];
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen.lock().expect("lock").iter().any(|m| m == "after") {
        assert!(
            Instant::now() < deadline,
            "the follower stayed deaf after its node died (gaps seen: {})",
            gaps.load(Ordering::SeqCst)
        );
        let _ = command(survivor, &["PUBLISH", &channel, "after"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        gaps.load(Ordering::SeqCst) >= 1,
        "the follower was not told it may have missed messages"
    );
    follower.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn how_full_redis_is_is_its_fullest_masters_share_of_its_maxmemory() {
    // What the response cache looks at before writing to the Redis that holds sessions.
    let server = RedisServer::start();
    let standalone = redis(vec![server.url()], "egov-test:");
    assert_eq!(
        standalone.fullness().await.expect("INFO"),
        None,
        "no maxmemory"
    );
    server
        .command(&["CONFIG", "SET", "maxmemory", "1000000000"])
        .expect("maxmemory");
    let (used, limit) = standalone
        .fullness()
        .await
        .expect("INFO")
        .expect("a maxmemory");
    assert_eq!(limit, 1_000_000_000);
    assert!(used > 0 && used < limit);

    let cluster = RedisCluster::start();
    let kv = redis(cluster.urls(), "egov-test:");
    assert_eq!(kv.fullness().await.expect("INFO"), None, "no maxmemory");
    let full = cluster.addrs()[cluster.a_master()];
    for addr in cluster.addrs() {
        let limit = if addr == full {
            egov_integration::redis::used_memory(addr) + 100_000
        } else {
            1_000_000_000
        };
        command(addr, &["CONFIG", "SET", "maxmemory", &limit.to_string()]).expect("maxmemory");
    }
    let (used, limit) = kv.fullness().await.expect("INFO").expect("a maxmemory");
    assert!(
        limit < 1_000_000_000 && used * 10 > limit * 9,
        "the nearly full master: {used} of {limit}"
    );
}

/// The citizens' "not what I meant" answers on a real Redis, as every instance keeps them:
/// an answer past its 90 days is deleted by the sweep (not only hidden from reads), in each
/// service's set, while the young ones stay and are read back.
#[tokio::test(flavor = "multi_thread")]
async fn routing_feedback_past_its_90_days_is_deleted_from_a_real_redis() {
    use egov_gateway::portal::feedback::{FeedbackEntry, FeedbackLog, KEEP};
    let server = RedisServer::start();
    let kv = redis(vec![server.url()], "egov-test:");
    let answer = |at: u64, service: &str, query: &str| FeedbackEntry {
        at,
        service: service.into(),
        routed: Some("cnie-renewal".into()),
        query: query.into(),
        lang: "fr".into(),
    };
    let log = FeedbackLog::Shared(Arc::clone(&kv));
    log.record(&answer(now_secs(), "vat-declaration", "new"))
        .await
        .expect("kept");
    // Aged where it lies: stored when it was young, as any answer is (two services' sets).
    let aged = answer(
        now_secs() - KEEP.as_secs() - 60,
        "passport-application",
        "old",
    );
    let aged = serde_json::to_string(&aged).expect("json");
    for service in ["passport-application", "cnie-renewal"] {
        kv.set_add(&kv.key("feedback", service), &aged, KEEP)
            .await
            .expect("stored");
    }

    let services = ["passport-application", "cnie-renewal", "vat-declaration"].map(String::from);
    assert_eq!(log.forget_expired(&services).await.expect("swept"), 2);
    for service in ["passport-application", "cnie-renewal"] {
        let members = kv
            .set_members(&kv.key("feedback", service))
            .await
            .expect("members");
        assert!(
            !members.iter().any(|m| m.contains(r#""old""#)),
            "{service}: {members:?}"
        );
    }
    let read = log.for_service("cnie-renewal").await.expect("read");
    assert_eq!(
        read.iter().map(|e| e.query.as_str()).collect::<Vec<_>>(),
        ["new"],
        "the young answer is read back through the service it was routed to"
    );
    assert_eq!(log.forget_expired(&services).await.expect("swept"), 0);
}

/// What the gateway warns about at start and every five minutes: a Redis that evicts keys
/// when full loses sessions and the registry's history without a word (found when tried:
/// under `allkeys-lru` the history answered an empty list).
#[tokio::test(flavor = "multi_thread")]
async fn a_redis_that_evicts_keys_is_told_apart_from_one_that_does_not() {
    let server = RedisServer::start();
    let mut settings = RedisSettings::new(vec![server.url()]);
    settings.key_prefix = "egov-test:".into();
    let redis = RedisKv::new(&settings, None).expect("a valid Redis configuration");
    server
        .command(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])
        .expect("policy");
    assert_eq!(
        redis.eviction_policy().await.expect("INFO"),
        None,
        "without a maxmemory Redis never evicts"
    );
    server
        .command(&["CONFIG", "SET", "maxmemory", "1000000000"])
        .expect("maxmemory");
    server
        .command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .expect("policy");
    assert_eq!(redis.eviction_policy().await.expect("INFO"), None);
    server
        .command(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])
        .expect("policy");
    assert_eq!(
        redis.eviction_policy().await.expect("INFO").as_deref(),
        Some("allkeys-lru")
    );
}
