//! `egov-gateway keys generate --out DIR`: what every instance of one deployment must share
//! to speak as one issuer: an identity signing key (EC P-256, PKCS#8 PEM) and the pairwise
//! secret ministries' subjects are derived with. Written readable by this user only; never
//! over an existing file. Prints the `[identity]` lines that point at them.

use anyhow::Context;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The files written, under `--out`.
pub const SIGNING_KEY_FILE: &str = "identity-signing-key.pem";
pub const PAIRWISE_FILE: &str = "identity-pairwise-secret";

/// `keys generate`.
pub fn generate(out: &Path) -> anyhow::Result<ExitCode> {
    let (key_path, secret_path) = write_identity_files(out)?;
    println!("wrote {} and {}", key_path.display(), secret_path.display());
    println!("give every instance the same files, and add to gateway.toml:\n");
    println!("[identity]");
    println!("signing_keys = [{:?}]", key_path.display().to_string());
    println!(
        "pairwise_secret = {{ file = {:?} }}",
        secret_path.display().to_string()
    );
    Ok(ExitCode::SUCCESS)
}

/// Makes a new signing key and pairwise secret under `out` (never over existing files) and
/// returns their absolute paths: the key's, then the secret's. Absolute, because a path in
/// gateway.toml is relative to that file, not to where this ran (found when tried: `--out
/// keys` printed lines that pointed nowhere once pasted).
pub fn write_identity_files(out: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let out = &std::fs::canonicalize(out).with_context(|| format!("finding {}", out.display()))?;
    let key = crate::sso::identity::new_signing_key_pem().context("generating the signing key")?;
    let secret: String = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    };
    let key_path = out.join(SIGNING_KEY_FILE);
    let secret_path = out.join(PAIRWISE_FILE);
    for path in [&key_path, &secret_path] {
        if path.exists() {
            anyhow::bail!(
                "{} exists: keys are never overwritten (an instance still signing with the old \
                 key would disagree); remove it or choose another --out",
                path.display()
            );
        }
    }
    write_private(&key_path, key.as_bytes())?;
    write_private(&secret_path, secret.as_bytes())?;
    Ok((key_path, secret_path))
}

/// Creates `path` (never over an existing file), readable by this user only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}
