//! Stateless instances on a real Redis Cluster of three masters and three replicas: three
//! gateways behave as one (a login on one, browsing on another, logout on the third; a
//! service registered on one serving on another; a purge on one emptying every cache; one
//! rate limit counted across all), and when a master dies the cluster fails over and the
//! gateways recover without a restart, with the errors of the failover window bounded.

use egov_gateway::assist::llm::ResponseFormatMode;
use egov_gateway::config::LlmConfig;
use egov_gateway::config::{AdminKey, Config, KeyHolder, RegistryStoreKind, SecretRef};
use egov_integration::admin::AdminApi;
use egov_integration::browser::Browser;
use egov_integration::llm_server::{Behaviour, FakeLlm};
use egov_integration::scratch::TempDir;
use egov_integration::sso::{SsoOptions, SsoWorld, Store, Tweak};
use egov_integration::TestGateway;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const CITIZEN_PAGE: &str = "/s/criminal-record-extract/__estate/whoami";
/// A public service whose `[cache]` stores this page (the estate says it may).
const CACHED: &str =
    "/s/cnie-first-application/__estate/cacheable?tag=scale&cc=public%2C%20max-age%3D600";
/// A public service given its own rate during the test.
const LIMITED: &str = "/s/cnie-renewal/__estate/echo";
const PAIRWISE_ENV: &str = "EGOV_TEST_SCALE_PAIRWISE";

/// What every instance of the deployment shares: the identity key and pairwise secret, one
/// admin key, the registry, the response cache's second tier and the rate counters in Redis.
struct Shared {
    llm: String,
    signing_key: PathBuf,
    admin_id: String,
    admin_key: String,
    admin_hash: String,
}

impl Shared {
    fn new(llm: &FakeLlm, dir: &TempDir) -> Self {
        let signing_key = dir.path().join("identity.pem");
        let pem = egov_gateway::sso::identity::new_signing_key_pem().expect("a key");
        std::fs::write(&signing_key, pem).expect("the key file");
        std::env::set_var(PAIRWISE_ENV, "one-pairwise-secret-for-every-instance");
        let admin_id = "scale-platform".to_string();
        let (admin_key, admin_hash) = egov_gateway::admin::auth::new_key(&admin_id);
        Self {
            llm: llm.base_url(),
            signing_key,
            admin_id,
            admin_key,
            admin_hash,
        }
    }

    /// The configuration change of every instance; `portal`: the first instance's public URL,
    /// which the others share (one deployment, one origin, one issuer of assertions).
    fn tweak(&self, portal: Option<egov_gateway::config::PublicUrl>) -> Tweak {
        let (key, id, hash, llm) = (
            self.signing_key.clone(),
            self.admin_id.clone(),
            self.admin_hash.clone(),
            self.llm.clone(),
        );
        Box::new(move |c: &mut Config| {
            if let Some(url) = portal {
                c.gateway.portal.public_url = url;
            }
            c.gateway.identity.signing_keys = vec![key];
            c.gateway.identity.pairwise_secret = Some(SecretRef::Env(PAIRWISE_ENV.into()));
            c.gateway.admin.keys = vec![AdminKey {
                id,
                holder: KeyHolder::Platform,
                hash,
            }];
            c.gateway.admin.upstream_allow = vec![std::net::IpAddr::from([127, 0, 0, 1]).into()];
            c.gateway.registry.store = RegistryStoreKind::Redis;
            c.gateway.limits.rate.shared = true;
            c.gateway.cache.shared = true;
            c.gateway.assist.llm = Some(LlmConfig {
                base_url: llm,
                model: "fake-model".into(),
                api_key: None,
                deadline: Duration::from_secs(2),
                retries: 0,
                response_format: ResponseFormatMode::JsonSchema,
                max_tokens: 32,
                breaker_failures: 5,
                breaker_open_for: Duration::from_secs(60),
                max_in_flight: 64,
            });
            // Every request reads its session from Redis (no in-process copy to hide behind).
            c.gateway.sessions.cache_ttl = Duration::from_millis(50);
        })
    }
}

fn admin(gateway: &TestGateway, shared: &Shared) -> AdminApi {
    AdminApi::new(gateway.admin, Some(&shared.admin_key))
}

async fn status(browser: &Browser, url: String) -> u16 {
    browser.get(url).await.status().as_u16()
}

async fn cache_status(url: String) -> String {
    let resp = egov_integration::client()
        .get(url)
        .send()
        .await
        .expect("an answer");
    resp.headers()
        .get("x-cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_on_a_replicated_cluster_act_as_one_and_survive_a_master_failover() {
    let fake = FakeLlm::start(Behaviour::answer("vat-declaration"));
    // The keys live as long as the test (removed on drop).
    let keys = TempDir::new("scale-keys");
    let shared = Shared::new(&fake, &keys);
    let mut options = SsoOptions::new(Store::ReplicatedCluster);
    options.tweak = Some(shared.tweak(None));
    let mut world = SsoWorld::start(options);
    let portal = world
        .gateway
        .registry
        .snapshot()
        .portal
        .settings
        .public_url
        .clone();
    let two = world.second_instance_with(Some(shared.tweak(Some(portal.clone()))));
    let three = world.second_instance_with(Some(shared.tweak(Some(portal))));
    let one = &world.gateway;
    let estate = world.estate.addr();

    // Log in through one, browse through two, log out through three.
    let browser = Browser::new();
    let first = world.login(&browser, CITIZEN_PAGE, "amina").await;
    let subject_on_one: serde_json::Value = first.json().await.expect("whoami");
    let on_two = browser.get(two.url(CITIZEN_PAGE)).await;
    assert_eq!(
        on_two.status(),
        200,
        "the session is not known on instance two"
    );
    let subject_on_two: serde_json::Value = on_two.json().await.expect("whoami");
    assert_eq!(
        subject_on_one["claims"]["sub"], subject_on_two["claims"]["sub"],
        "one citizen, one subject, whichever instance asserts it"
    );
    browser.logout(&three.url("/auth/logout")).await;
    assert_eq!(
        status(&browser, two.url(CITIZEN_PAGE)).await,
        302,
        "still logged in on two"
    );

    // Live sessions are counted without walking the cluster: a distinct count under one
    // hash tag, which a Cluster can answer (SCAN cannot).
    let window = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 1800)
        .unwrap_or(0);
    let marked = world
        .cluster
        .as_ref()
        .expect("a cluster")
        .urls()
        .iter()
        .filter_map(|url| {
            let client = redis::Client::open(url.as_str()).ok()?;
            let mut c = client.get_connection().ok()?;
            redis::cmd("PFCOUNT")
                .arg(format!("egov:{{active}}:{window}"))
                .query::<u64>(&mut c)
                .ok()
        })
        .max()
        .unwrap_or(0);
    assert!(marked >= 1, "no session marked active in the cluster");

    // A service registered through one serves on three.
    let created = admin(one, &shared)
        .post(
            "/services",
            &json!({
                "id": "scale-new", "ministry": "interior", "category": "identity",
                "access": "public",
                "names": { "ar": "خدمة", "fr": "Service", "en": "Service" },
                "descriptions": { "ar": "خدمة.", "fr": "Service.", "en": "Service." },
                "legacy": { "hostname": "scale-new.legacy.gov.ma" },
                "upstream": { "url": format!("http://{estate}/cnie-renewal"),
                              "host": "www.cnie.ma" }
            }),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let mut served = false;
    for _ in 0..40 {
        if status(&browser, three.url("/s/scale-new/")).await == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        served,
        "instance three never served the service registered on one"
    );

    // Stored through one, a hit on three (the shared tier), gone everywhere after a purge
    // through two.
    assert_eq!(cache_status(one.url(CACHED)).await, "MISS");
    // (Stored once the answer has gone out.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(cache_status(one.url(CACHED)).await, "HIT");
    assert_eq!(
        cache_status(three.url(CACHED)).await,
        "HIT",
        "not shared through Redis"
    );
    let purged = admin(&two, &shared)
        .post("/services/cnie-first-application/purge", &json!({}))
        .await;
    assert_eq!(purged.status.as_u16(), 200, "{}", purged.body);
    let mut gone = false;
    for _ in 0..40 {
        if cache_status(three.url(CACHED)).await != "HIT" {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "instance three still serves the purged page");

    // The LLM's advice, asked through one, is the cache's answer on three.
    let route = |g: &TestGateway| {
        let url = g.url("/api/route");
        async move {
            egov_integration::client()
                .post(url)
                .json(&json!({ "query": "declaration" }))
                .send()
                .await
                .expect("an answer")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    assert_eq!(route(one).await["source"], "llm");
    let cached = route(&three).await;
    assert_eq!(cached["source"], "cache", "{cached}");
    assert_eq!(
        fake.request_count(),
        1,
        "asked twice: the decision cache is not shared"
    );

    // "Not what I meant", told to one, is read by the ministry through two.
    let told = browser
        .post_form(
            &one.url("/feedback"),
            &[
                ("q", "report card of my kid"),
                ("routed", "cnie-renewal"),
                ("chosen", "massar-school-results"),
            ],
        )
        .await;
    assert_eq!(told.status(), 200);
    let read = admin(&two, &shared)
        .get("/services/massar-school-results/feedback")
        .await;
    assert_eq!(read.status.as_u16(), 200, "{}", read.body);
    assert_eq!(
        read.body["feedback"][0]["query"], "report card of my kid",
        "{}",
        read.body
    );

    // One rate (6 a minute from one address), set through one, counted across all three.
    let limited = admin(one, &shared)
        .patch(
            "/services/cnie-renewal",
            &json!({ "limits": { "rate_per_ip": "6/min" } }),
            None,
        )
        .await;
    assert_eq!(limited.status.as_u16(), 200, "{}", limited.body);
    let rated = |g: &TestGateway| {
        g.registry
            .snapshot()
            .service("cnie-renewal")
            .is_some_and(|s| s.config.limits.rate_per_ip.is_some())
    };
    for _ in 0..40 {
        if rated(one) && rated(&two) && rated(&three) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        rated(&two) && rated(&three),
        "the new rate did not reach every instance"
    );
    let mut refused = 0;
    for i in 0..12 {
        let g = [one, &two, &three][i % 3];
        if status(&browser, g.url(LIMITED)).await == 429 {
            refused += 1;
        }
    }
    assert!(
        refused >= 5,
        "12 requests against 6/min across three instances: {refused} refused"
    );

    // The master holding a signed-in citizen's session dies: its replica takes over, and the
    // gateways follow without a restart.
    let browser = Browser::new();
    world.login(&browser, CITIZEN_PAGE, "amina").await;
    let cookie = browser
        .cookie(&two.url("/"), "egov_session")
        .expect("a session cookie");
    let session = egov_gateway::sso::session::SessionHandle::of_cookie(&cookie);
    let cluster = world.cluster.as_mut().expect("a cluster");
    let victim = cluster
        .owner_of(&format!("egov:s:{}", session.as_str()))
        .expect("the session is stored in the cluster");
    let killed = Instant::now();
    cluster.stop_node(victim);
    let (mut errors, mut last_error) = (0u32, None);
    let mut recovered_at = None;
    while killed.elapsed() < Duration::from_secs(30) {
        let code = status(&browser, two.url(CITIZEN_PAGE)).await;
        if code == 200 {
            if recovered_at.is_none() && killed.elapsed() > Duration::from_secs(1) {
                recovered_at = Some(killed.elapsed());
            }
            if recovered_at.is_some_and(|r| killed.elapsed() > r + Duration::from_secs(3)) {
                break;
            }
        } else {
            errors += 1;
            assert_eq!(
                code,
                503,
                "a failover answer other than 503 at {:?}",
                killed.elapsed()
            );
            last_error = Some((code, killed.elapsed()));
            recovered_at = None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = recovered_at.expect("the gateways never recovered from the failover");
    eprintln!(
        "failover: {errors} failed requests, last {last_error:?}, serving again at {recovered:?}"
    );
    assert!(
        errors > 0,
        "the session's master died and no request noticed: not a failover test"
    );
    // (Every failed request was a clean 503, checked as it came: never a 500 or a wrong page.)
    // And counted where an SRE looks: instance two's 5xx for the service.
    let metrics = egov_integration::client()
        .get(format!("http://{}/metrics", two.metrics))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let counted: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("egov_http_requests_total{")
                && l.contains("service=\"criminal-record-extract\"")
                && l.contains("class=\"5xx\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        counted >= f64::from(errors),
        "{errors} failed requests, {counted} counted:\n{metrics}"
    );
    assert!(
        recovered < Duration::from_secs(20),
        "serving again only after {recovered:?}"
    );
    // And a new login after the failover works, browsing through the other two.
    let browser = Browser::new();
    let page = world.login(&browser, CITIZEN_PAGE, "youssef").await;
    assert_eq!(page.status(), 200);
    assert_eq!(status(&browser, three.url(CITIZEN_PAGE)).await, 200);
    assert_eq!(status(&browser, two.url(CITIZEN_PAGE)).await, 200);
}
