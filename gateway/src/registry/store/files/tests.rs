use super::stamp::RACY;
use super::*;
use crate::registry::store::Action;
use serde_json::json;
use std::time::Duration;

/// Found in a bypass probe: a secret hand-written in a service file came back from the
/// API's read and stayed in the history.
#[test]
fn a_secret_written_in_a_file_never_reaches_its_document() {
    let text = r#"
id = "x"
[[adapters]]
step = "basic-auth"
username = "svc"
password = "hunter2"
[[adapters]]
step = "api-key"
key = { value = "k-hunter2" }
[[adapters]]
step = "basic-auth"
password = { env = "EGOV_SECRET_X" }
"#;
    let doc = document_of(text).expect("a document");
    assert!(!doc.to_string().contains("hunter2"), "{doc}");
    assert_eq!(doc["adapters"][0]["password"], WRITTEN_SECRET);
    assert_eq!(doc["adapters"][1]["key"], WRITTEN_SECRET);
    assert_eq!(
        doc["adapters"][2]["password"],
        json!({ "env": "EGOV_SECRET_X" })
    );
}

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch() -> Dir {
    let d = std::env::temp_dir().join(format!(
        "egov-files-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(d.join("services/m")).expect("dir");
    Dir(d)
}

fn by(action: Action) -> Author {
    Author {
        actor: "test".into(),
        action,
    }
}

#[tokio::test]
async fn a_written_service_is_a_file_and_a_version_in_the_history() {
    let d = scratch();
    let store = FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
    let v = store
        .put(
            "svc",
            "m",
            &json!({"id": "svc", "names": {"fr": "S"}}),
            Expect::Absent,
            &by(Action::Create),
        )
        .await
        .expect("put");
    assert_eq!(v, 1);
    let text = std::fs::read_to_string(d.0.join("services/m/svc.toml")).expect("file");
    assert_eq!(
        document_of(&text).expect("toml"),
        json!({"id": "svc", "names": {"fr": "S"}})
    );
    // A second store over the same files knows the version from the history.
    let again = FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
    assert_eq!(
        again
            .get("svc")
            .await
            .expect("get")
            .expect("record")
            .version,
        1
    );
    assert!(matches!(
        again
            .put(
                "svc",
                "m",
                &json!({}),
                Expect::Version(0),
                &by(Action::Replace)
            )
            .await,
        Err(StoreError::Conflict { current: Some(1) })
    ));
}

/// Found when tried: a history whose last append was cut short stopped `serve`, with an
/// error naming neither the file nor the line.
#[tokio::test]
async fn a_service_found_on_disk_keeps_its_files_version_in_the_history_at_its_first_change() {
    let d = scratch();
    let found = json!({"id": "svc", "names": {"fr": "Du dépôt"}});
    let text = toml_of(&found).expect("toml");
    std::fs::write(d.0.join("services/m/svc.toml"), text).expect("write");
    let gone = json!({"id": "old", "names": {"fr": "Ancien"}});
    std::fs::write(
        d.0.join("services/m/old.toml"),
        toml_of(&gone).expect("toml"),
    )
    .expect("write");
    let store = FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
    assert_eq!(
        store.get("svc").await.expect("get").expect("svc").version,
        0
    );

    let changed = json!({"id": "svc", "names": {"fr": "Changé"}});
    let v = store
        .put(
            "svc",
            "m",
            &changed,
            Expect::Version(0),
            &by(Action::Replace),
        )
        .await
        .expect("put");
    let history = store.history("svc").await.expect("history");
    let kept: Vec<_> = history
        .iter()
        .map(|c| (c.version, c.action, c.actor.as_str(), c.document.clone()))
        .collect();
    assert_eq!(
        kept,
        [
            (1, Action::FileEdit, "file", Some(found)),
            (2, Action::Replace, "test", Some(changed)),
        ]
    );
    assert_eq!(v, 2);

    // A deletion is its first change too.
    store
        .delete("old", Expect::Any, &by(Action::Delete))
        .await
        .expect("delete");
    let history = store.history("old").await.expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0].document, Some(gone));
    assert_eq!(history[1].document, None);
}

#[tokio::test]
async fn edits_and_removals_made_while_no_gateway_ran_are_recorded_when_it_opens() {
    let d = scratch();
    let open = || FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl"));
    let store = open().expect("open");
    for id in ["kept", "edited", "removed"] {
        store
            .put(
                id,
                "m",
                &json!({"id": id, "names": {"fr": "Avant"}}),
                Expect::Absent,
                &by(Action::Create),
            )
            .await
            .expect("put");
    }
    drop(store);
    let edited = json!({"id": "edited", "ministry": "m", "names": {"fr": "Après"}});
    std::fs::write(
        d.0.join("services/m/edited.toml"),
        toml_of(&edited).expect("toml"),
    )
    .expect("edit");
    std::fs::remove_file(d.0.join("services/m/removed.toml")).expect("remove");

    let store = open().expect("open again");
    let record = store.get("edited").await.expect("get").expect("edited");
    assert_eq!((record.version, &record.document), (4, &edited));
    let history = store.history("edited").await.expect("history");
    let last = history.last().expect("a change");
    assert_eq!(
        (last.action, last.actor.as_str()),
        (Action::FileEdit, "file")
    );
    assert_eq!(
        last.diff["/names/fr"],
        json!({"from": "Avant", "to": "Après"})
    );
    let removed = store.history("removed").await.expect("history");
    assert_eq!(
        removed.last().map(|c| (c.version, c.document.is_none())),
        Some((5, true))
    );
    assert_eq!(
        store.get("kept").await.expect("get").map(|r| r.version),
        Some(1)
    );
    // Opened once more, nothing more is recorded.
    drop(store);
    assert_eq!(
        open()
            .expect("a third time")
            .version()
            .await
            .expect("version"),
        5
    );
}

#[tokio::test]
async fn a_history_cut_short_loses_only_its_torn_line_and_goes_on() {
    let d = scratch();
    let history = d.0.join("history.jsonl");
    let store = FileStore::open(&d.0.join("services"), &history).expect("open");
    let doc = json!({"id": "svc", "names": {"fr": "S"}});
    store
        .put("svc", "m", &doc, Expect::Absent, &by(Action::Create))
        .await
        .expect("put");
    let mut text = std::fs::read_to_string(&history).expect("history");
    text.push_str("{\"version\": 2, \"id\": \"svc\", \"act");
    std::fs::write(&history, &text).expect("tear");
    let again = FileStore::open(&d.0.join("services"), &history).expect("a torn line is left out");
    let v = again
        .put("svc", "m", &doc, Expect::Version(1), &by(Action::Replace))
        .await
        .expect("put after the torn line");
    assert_eq!(v, 2);
    assert_eq!(read_history(&history).expect("read").len(), 2);
}

#[tokio::test]
async fn a_services_history_is_read_from_its_own_lines_only() {
    let d = scratch();
    let history = d.0.join("history.jsonl");
    let store = FileStore::open(&d.0.join("services"), &history).expect("open");
    for id in ["svc", "other"] {
        store
            .put(
                id,
                "m",
                &json!({ "id": id }),
                Expect::Absent,
                &by(Action::Create),
            )
            .await
            .expect("put");
    }
    // Another service's line that no parser would take: never parsed for "svc".
    let mut text = std::fs::read_to_string(&history).expect("history");
    text.push_str("{\"version\":3,\"id\":\"other\",\"document\":[[[\n");
    std::fs::write(&history, &text).expect("write");
    let changes = store.history("svc").await.expect("svc's history");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].id, "svc");
    assert!(
        read_history(&history).is_err(),
        "the whole file is still checked"
    );
}

/// Makes the history at `path` refuse every append (a directory in its place, as a
/// full disk would refuse them); returns what it held.
fn refuse_appends(path: &Path) -> Vec<u8> {
    let kept = std::fs::read(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    std::fs::create_dir(path).expect("a directory in its place");
    kept
}

/// Found when tried, with a full disk: the API answered 503 "nothing was changed" while
/// the service file was already rewritten (or removed), and the next scan recorded it
/// as a hand edit with no trace of who made it.
#[tokio::test]
async fn a_change_the_history_refuses_leaves_the_service_file_as_it_was() {
    let d = scratch();
    let history = d.0.join("history.jsonl");
    let store = FileStore::open(&d.0.join("services"), &history).expect("open");
    let doc = json!({"id": "svc", "names": {"fr": "Avant"}});
    store
        .put("svc", "m", &doc, Expect::Absent, &by(Action::Create))
        .await
        .expect("put");
    let file = service_file(&d.0.join("services"), "m", "svc");
    let before = std::fs::read(&file).expect("the service file");
    refuse_appends(&history);
    let changed = json!({"id": "svc", "names": {"fr": "Après"}});
    assert!(store
        .put("svc", "m", &changed, Expect::Any, &by(Action::Replace))
        .await
        .is_err());
    assert_eq!(std::fs::read(&file).expect("still there"), before);
    assert!(store
        .put("new", "m", &changed, Expect::Absent, &by(Action::Create))
        .await
        .is_err());
    assert!(!service_file(&d.0.join("services"), "m", "new").exists());
    assert!(store
        .delete("svc", Expect::Any, &by(Action::Delete))
        .await
        .is_err());
    assert_eq!(std::fs::read(&file).expect("not removed"), before);
    let kept = store.get("svc").await.expect("get").expect("still known");
    assert_eq!(kept.version, 1);
    assert_eq!(store.version().await.expect("version"), 1);
}

/// Found in review: documents hold Arabic as it is, and a full disk may cut a line
/// inside a character; the whole history then could not be read.
#[tokio::test]
async fn a_history_cut_inside_a_character_loses_only_its_torn_line() {
    let d = scratch();
    let history = d.0.join("history.jsonl");
    let store = FileStore::open(&d.0.join("services"), &history).expect("open");
    let doc = json!({"id": "svc", "names": {"ar": "خدمة"}});
    store
        .put("svc", "m", &doc, Expect::Absent, &by(Action::Create))
        .await
        .expect("put");
    let mut bytes = std::fs::read(&history).expect("history");
    let line = bytes.clone();
    let cut = line
        .windows(2)
        .position(|w| w == "خ".as_bytes())
        .expect("an Arabic letter")
        + 1;
    bytes.extend_from_slice(&line[..cut]);
    std::fs::write(&history, &bytes).expect("tear");
    assert_eq!(read_history(&history).expect("read").len(), 1);
    assert_eq!(store.history("svc").await.expect("history").len(), 1);
}

#[test]
fn an_unreadable_history_line_is_named_with_its_file_and_line() {
    let d = scratch();
    let history = d.0.join("history.jsonl");
    std::fs::write(&history, "not json\n{}\n").expect("write");
    let e = read_history(&history).expect_err("corrupt").to_string();
    assert!(e.contains("history.jsonl: line 1"), "{e}");
    let secrets = secrets_file(&history);
    std::fs::write(&secrets, "{\"a\": \"b\", trunc").expect("write");
    let e = read_secrets(&secrets).expect_err("corrupt").to_string();
    assert!(e.contains("registry-secrets.json"), "{e}");
}

/// Found in review: a service file removed by hand whose record the history refused
/// was forgotten by the store at once, and its removal never recorded.
#[tokio::test]
async fn a_hand_removal_the_history_refuses_is_recorded_by_the_next_scan() {
    let d = scratch();
    let file = d.0.join("services/m/svc.toml");
    std::fs::write(&file, "id = \"svc\"\nministry = \"m\"\n").expect("write");
    let history = d.0.join("history.jsonl");
    let store = FileStore::open(&d.0.join("services"), &history).expect("open");
    std::fs::remove_file(&file).expect("removed by hand");
    let kept = refuse_appends(&history);
    assert!(store.absorb_edits().is_err());
    std::fs::remove_dir(&history).expect("remove");
    std::fs::write(&history, kept).expect("put back");
    assert_eq!(store.absorb_edits().expect("scan").0, 1);
    let h = store.history("svc").await.expect("history");
    let last = h.last().expect("recorded");
    assert_eq!(last.action, Action::FileEdit);
    assert!(last.document.is_none(), "a removal");
    assert_eq!(store.version().await.expect("version"), last.version);
}

#[tokio::test]
async fn an_edit_by_hand_is_found_and_recorded_and_a_broken_one_reported() {
    let d = scratch();
    std::fs::write(
        d.0.join("services/m/svc.toml"),
        "id = \"svc\"\nministry = \"m\"\n",
    )
    .expect("write");
    let store = FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
    assert_eq!(
        store.absorb_edits().expect("scan").0,
        0,
        "nothing changed yet"
    );
    std::fs::write(
        d.0.join("services/m/svc.toml"),
        "id = \"svc\"\nministry = \"m\"\nx = 1\n",
    )
    .expect("write");
    assert_eq!(store.absorb_edits().expect("scan").0, 1);
    let h = store.history("svc").await.expect("history");
    assert_eq!(h.last().map(|c| c.action), Some(Action::FileEdit));
    // The file as it was found is a version of its own, to roll back to.
    let found = h
        .first()
        .and_then(|c| c.document.clone())
        .expect("the file as found");
    assert_eq!(found.get("x"), None, "{found}");
    assert_eq!(h.len(), 2, "{h:?}");
    std::fs::write(d.0.join("services/m/svc.toml"), "id = [broken\n").expect("write");
    let (edits, broken) = store.absorb_edits().expect("scan");
    assert_eq!(edits, 0);
    assert_eq!(broken.len(), 1, "{broken:?}");
}

#[test]
fn a_poll_reads_only_the_files_whose_metadata_moved() {
    let d = scratch();
    let file = d.0.join("services/m/svc.toml");
    std::fs::write(&file, "id = \"svc\"\nministry = \"m\"\nx = 1\n").expect("write");
    // Past the racy window, so the stamp taken at open is trusted.
    std::thread::sleep(RACY + Duration::from_millis(100));
    let store = FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
    let reads = || store.reads.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(store.absorb_edits().expect("scan").0, 0);
    assert_eq!(store.absorb_edits().expect("scan").0, 0);
    assert_eq!(reads(), 0, "an unchanged file was read again");

    // The same length and modification time, as a copy that keeps times leaves it.
    let modified = std::fs::metadata(&file)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::write(&file, "id = \"svc\"\nministry = \"m\"\nx = 2\n").expect("write");
    std::fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(modified))
        .expect("set mtime");
    // Past the racy window again, so the stamp is compared, not distrusted.
    std::thread::sleep(RACY + Duration::from_millis(100));
    assert_eq!(
        store.absorb_edits().expect("scan").0,
        1,
        "the change time gives the edit away"
    );
}

#[test]
fn a_broken_file_is_read_and_reported_at_every_poll() {
    let d = scratch();
    let file = d.0.join("services/m/svc.toml");
    std::fs::write(&file, "id = \"svc\"\nministry = \"m\"\n").expect("write");
    let store = FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
    std::fs::write(&file, "id = [broken\n").expect("write");
    std::thread::sleep(RACY + Duration::from_millis(100));
    for _ in 0..2 {
        let (edits, broken) = store.absorb_edits().expect("scan");
        assert_eq!((edits, broken.len()), (0, 1), "{broken:?}");
    }
}

/// Found when tried: a ministry copied another's service file into its own directory,
/// and the later directory in sort order took the service over, unreported.
#[tokio::test]
async fn a_second_file_with_a_known_id_is_reported_and_the_owners_kept() {
    let d = scratch();
    std::fs::write(
        d.0.join("services/m/svc.toml"),
        "id = \"svc\"\nministry = \"m\"\nx = 1\n",
    )
    .expect("write");
    let store = FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
    std::fs::create_dir_all(d.0.join("services/z")).expect("dir");
    std::fs::write(
        d.0.join("services/z/svc.toml"),
        "id = \"svc\"\nministry = \"m\"\nx = 2\n",
    )
    .expect("write");
    for _ in 0..2 {
        let (edits, broken) = store.absorb_edits().expect("scan");
        assert_eq!(edits, 0, "the copy was taken");
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].file.ends_with("z/svc.toml"), "{broken:?}");
        assert!(broken[0].reason.contains("m/svc.toml"), "{broken:?}");
    }
    let records = store.list().await.expect("list").records;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].ministry, "m");
    assert_eq!(records[0].document["x"], 1);
}

/// Found when tried: a dangling link ended the scan, and an edit found in it before was
/// never applied; a FIFO named `.toml` held the registry forever.
#[test]
fn a_link_to_nothing_a_fifo_or_a_huge_file_is_reported_and_the_rest_still_read() {
    let d = scratch();
    let dir = d.0.join("services/m");
    let store = FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
    std::os::unix::fs::symlink(d.0.join("nowhere"), dir.join("a-dangling.toml")).expect("link");
    let fifo = dir.join("b-fifo.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let huge = std::fs::File::create(dir.join("c-huge.toml")).expect("create");
    huge.set_len(crate::config::MAX_FILE_BYTES + 1)
        .expect("sparse");
    std::fs::write(dir.join("d-new.toml"), "id = \"d-new\"\nministry = \"m\"\n").expect("write");
    let (edits, broken) = store.absorb_edits().expect("scan");
    assert_eq!(edits, 1, "the good file after them was read");
    let mut reasons: Vec<String> = broken.iter().map(|b| b.reason.clone()).collect();
    reasons.sort();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].starts_with("cannot read"), "{reasons:?}");
    assert!(reasons[1].contains("at most"), "{reasons:?}");
    assert_eq!(reasons[2], "is not a regular file");
}

/// Found in a reload probe: a service file put at the top of `services/`, or one level too
/// deep, was skipped by the running instance without a word, and the next start (and
/// `check`) refused the configuration for it.
#[test]
fn a_file_in_the_wrong_place_is_reported_as_a_start_would_refuse_it() {
    let d = scratch();
    let services = d.0.join("services");
    let store = FileStore::open(&services, &d.0.join("history.jsonl")).expect("open");
    std::fs::write(services.join("stray.toml"), "id = \"stray\"\n").expect("write");
    std::fs::create_dir_all(services.join("m/old")).expect("dir");
    std::fs::write(services.join("m/old/svc.toml"), "id = \"svc\"\n").expect("write");
    // Found in a bypass probe: dropped without a word by a start, `check` and the poll.
    std::fs::write(services.join("m/shouting.TOML"), "id = \"shouting\"\n").expect("write");
    let (_, broken) = store.absorb_edits().expect("scan");
    let mut files: Vec<&std::path::Path> = broken.iter().map(|b| b.file.as_path()).collect();
    files.sort();
    assert_eq!(
        files,
        [
            services.join("m/old"),
            services.join("m/shouting.TOML"),
            services.join("stray.toml")
        ]
    );
    assert!(
        broken.iter().all(|b| b.reason == crate::config::MISPLACED),
        "{broken:?}"
    );
}

/// Found when tried: a ministry linked `gateway.toml` into its own directory and read
/// it back, admin keys' hashes included, through the admin API and the history.
#[tokio::test]
async fn a_file_that_is_not_the_service_its_place_names_is_never_taken_in() {
    let d = scratch();
    let store = FileStore::open(&d.0.join("services"), &d.0.join("history.jsonl")).expect("open");
    let dir = d.0.join("services/m");
    std::fs::write(
        d.0.join("gateway.toml"),
        "[admin]\nkeys = [\"secret-hash\"]\n",
    )
    .expect("write");
    std::os::unix::fs::symlink(d.0.join("gateway.toml"), dir.join("leak.toml")).expect("link");
    std::fs::write(dir.join("other.toml"), "id = \"other\"\nministry = \"z\"\n").expect("write");
    std::fs::write(dir.join("renamed.toml"), "id = \"svc\"\nministry = \"m\"\n").expect("write");
    let (edits, broken) = store.absorb_edits().expect("scan");
    assert_eq!(edits, 0, "{broken:?}");
    assert_eq!(broken.len(), 3, "{broken:?}");
    assert!(store.list().await.expect("list").records.is_empty());
    let history = std::fs::read_to_string(d.0.join("history.jsonl")).unwrap_or_default();
    assert!(!history.contains("secret-hash"), "{history}");
}

#[test]
fn a_toml_problem_says_its_line_and_column_on_one_line() {
    let reason = document_of("id = \"x\"\nname = [broken\n").expect_err("broken");
    assert!(reason.starts_with("line 2, column "), "{reason}");
    assert!(!reason.contains('\n'), "{reason}");
}

/// A document of service `id` of about `kb` kilobytes, different at each `n`.
fn large(id: &str, n: u32, kb: usize) -> Value {
    json!({ "id": id, "n": n, "padding": "x".repeat(kb * 1024) })
}

/// The bytes `ministry`'s lines hold in the history at `path`.
fn lines_of(path: &Path, ministry: &str) -> u64 {
    read_history(path)
        .expect("history")
        .iter()
        .filter(|c| c.ministry == ministry)
        .map(line_len)
        .sum()
}

#[tokio::test]
async fn past_its_budget_a_ministrys_oldest_lines_leave_the_history_and_no_other_ministrys() {
    let d = scratch();
    let history = d.0.join("history.jsonl");
    let store = FileStore::open(&d.0.join("services"), &history)
        .expect("open")
        .with_history_per_ministry(1 << 20);
    store
        .put(
            "theirs",
            "o",
            &large("theirs", 0, 100),
            Expect::Absent,
            &by(Action::Create),
        )
        .await
        .expect("the other ministry's service");
    for n in 0..40 {
        store
            .put(
                "churn",
                "m",
                &large("churn", n, 100),
                Expect::Any,
                &by(Action::Replace),
            )
            .await
            .expect("change");
    }
    let held = lines_of(&history, "m");
    assert!(held <= 1 << 20, "{held} bytes of a 1 MiB budget");
    let kept = store.history("churn").await.expect("history");
    assert!(kept.len() >= 3, "the newest stay ({} kept)", kept.len());
    assert_eq!(
        kept.last().and_then(|c| c.document.clone()),
        Some(large("churn", 39, 100))
    );
    assert_eq!(store.history("theirs").await.expect("history").len(), 1);
    // A store opened over the trimmed history knows every service's version.
    let version = store.version().await.expect("version");
    let again = FileStore::open(&d.0.join("services"), &history).expect("open again");
    assert_eq!(again.version().await.expect("version"), version);
    assert_eq!(
        again.get("churn").await.expect("get").map(|r| r.version),
        kept.last().map(|c| c.version)
    );
}

#[tokio::test]
async fn a_deleted_services_lines_go_but_a_services_last_line_and_the_version_stay() {
    let d = scratch();
    let history = d.0.join("history.jsonl");
    let store = FileStore::open(&d.0.join("services"), &history)
        .expect("open")
        .with_history_per_ministry(1 << 20);
    for id in ["gone", "kept"] {
        store
            .put(
                id,
                "m",
                &large(id, 0, 300),
                Expect::Absent,
                &by(Action::Create),
            )
            .await
            .expect("create");
    }
    store
        .delete("gone", Expect::Any, &by(Action::Delete))
        .await
        .expect("delete");
    for n in 1..8 {
        store
            .put(
                "kept",
                "m",
                &large("kept", n, 300),
                Expect::Any,
                &by(Action::Replace),
            )
            .await
            .expect("change");
    }
    assert!(store.history("gone").await.expect("history").is_empty());
    let kept = store.history("kept").await.expect("history");
    assert_eq!(
        kept.last().and_then(|c| c.document.clone()),
        Some(large("kept", 7, 300))
    );
    let version = store.version().await.expect("version");
    let again = FileStore::open(&d.0.join("services"), &history).expect("open again");
    assert_eq!(again.version().await.expect("version"), version);
}

#[tokio::test]
async fn a_churn_of_created_and_deleted_ids_stays_within_the_budget() {
    let d = scratch();
    let history = d.0.join("history.jsonl");
    let store = FileStore::open(&d.0.join("services"), &history)
        .expect("open")
        .with_history_per_ministry(1 << 20);
    for n in 0..30 {
        let id = format!("churn-{n}");
        store
            .put(
                &id,
                "m",
                &large(&id, n, 100),
                Expect::Absent,
                &by(Action::Create),
            )
            .await
            .expect("create");
        store
            .delete(&id, Expect::Any, &by(Action::Delete))
            .await
            .expect("delete");
    }
    let held = lines_of(&history, "m");
    assert!(
        held <= (1 << 20) + (1 << 18),
        "{held} bytes of a 1 MiB budget"
    );
}

#[tokio::test]
async fn a_secret_only_forgotten_versions_named_is_forgotten_with_them() {
    let d = scratch();
    let history = d.0.join("history.jsonl");
    let store = FileStore::open(&d.0.join("services"), &history)
        .expect("open")
        .with_history_per_ministry(1 << 20);
    let with_secret = |n: u32| {
        let mut doc = large("svc", n, 100);
        doc["password"] = json!({ "stored": format!("svc:/password:{n}") });
        doc
    };
    for n in 0..30 {
        store
            .put_secrets("svc", &[(format!("svc:/password:{n}"), "s3cret".into())])
            .await
            .expect("secret");
        store
            .put(
                "svc",
                "m",
                &with_secret(n),
                Expect::Any,
                &by(Action::Replace),
            )
            .await
            .expect("change");
    }
    let kept = store.history("svc").await.expect("history");
    let secrets: Vec<String> = store
        .secrets()
        .await
        .expect("secrets")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(kept.len() < 30, "some versions were forgotten");
    assert_eq!(secrets.len(), kept.len(), "{secrets:?}");
    assert!(secrets.contains(&"svc:/password:29".to_string()));
}
