//! `egov-gateway admin-key`: a new API key for the ministries' API. The key is printed once
//! (give it to the ministry); the line to add to `[admin] keys` holds only its hash.

use crate::admin::auth::{key_entry, new_key};
use crate::config::{values, KeyHolder};
use std::process::ExitCode;

pub fn run(
    ministry: Option<String>,
    platform: bool,
    id: Option<String>,
) -> anyhow::Result<ExitCode> {
    let holder = match (ministry, platform) {
        (Some(m), false) => {
            values::slug(&m).map_err(|e| anyhow::anyhow!("--ministry {m:?}: {e}"))?;
            KeyHolder::Ministry(m)
        }
        (None, true) => KeyHolder::Platform,
        _ => anyhow::bail!("give exactly one of --ministry <id> or --platform"),
    };
    let id = match id {
        Some(id) => id,
        None => {
            let stem = match &holder {
                KeyHolder::Platform => "platform",
                KeyHolder::Ministry(m) => m.as_str(),
            };
            format!("{stem}-{:06x}", rand::random::<u32>() & 0x00ff_ffff)
        }
    };
    values::slug(&id).map_err(|e| anyhow::anyhow!("--id {id:?}: {e}"))?;
    let (key, hash) = new_key(&id);
    let entry = key_entry(&id, &holder, &hash);
    println!("key (give it to its holder; it is shown only now):\n  {key}\n");
    println!("add to [admin] keys in gateway.toml:\n  {entry}");
    Ok(ExitCode::SUCCESS)
}
