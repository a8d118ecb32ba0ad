//! What one poll of the files registry costs with 5,000 service files that did not change,
//! against reading and hashing every file (the least a poll that reads every file costs, as
//! polls did before they looked at file metadata first), in one run.
//!
//! ```text
//! cargo run --release -p egov-gateway --example registry_scan
//! ```
//!
//! The 56 service files of `config/services` are copied ~90 times into a scratch directory
//! (removed afterwards). The registry polls every `registry.watch_interval` (2 s by default).

use egov_gateway::registry::store::files::FileStore;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SERVICES: usize = 5_000;
const POLLS: u32 = 20;

/// Every `<ministry>/<id>.toml` under `dir`.
fn service_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for ministry in std::fs::read_dir(dir).expect("services dir").flatten() {
        let name = ministry.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(ministry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if file.path().extension().is_some_and(|e| e == "toml") {
                out.push((name.clone(), file.path()));
            }
        }
    }
    out.sort();
    out
}

/// The mean of `POLLS` runs of `poll`.
fn mean(mut poll: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..POLLS {
        poll();
    }
    start.elapsed() / POLLS
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let originals = service_files(&root.join("config/services"));
    let scratch = std::env::temp_dir().join(format!("egov-registry-scan-{}", std::process::id()));
    let services = scratch.join("services");
    for i in 0..SERVICES {
        let (ministry, path) = &originals[i % originals.len()];
        let dir = services.join(ministry);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let stem = path.file_stem().expect("stem").to_string_lossy();
        std::fs::copy(path, dir.join(format!("{stem}-{i}.toml"))).expect("copy");
    }
    let files = service_files(&services);
    let store = FileStore::open(&services, &scratch.join("history.jsonl")).expect("open");
    // Past the window in which a file's metadata is too fresh to trust, then one poll that
    // takes every file's stamp.
    // (4 s: the store's racy window.)
    std::thread::sleep(Duration::from_millis(4_200));
    store.absorb_edits().expect("poll");

    let read_all = mean(|| {
        for (_, path) in &files {
            let bytes = std::fs::read(path).expect("read");
            std::hint::black_box(Sha256::digest(&bytes));
        }
    });
    let poll = mean(|| {
        let (edits, broken) = store.absorb_edits().expect("poll");
        assert_eq!((edits, broken.len()), (0, 0), "nothing changed");
    });
    std::fs::remove_dir_all(&scratch).expect("clean up");

    println!("{} service files, mean of {POLLS} polls", files.len());
    println!("reference: read and hash every file  {read_all:>10.2?}");
    println!("a poll, nothing changed              {poll:>10.2?}");
    println!(
        "poll / reference: {:.2}",
        poll.as_secs_f64() / read_all.as_secs_f64()
    );
}
