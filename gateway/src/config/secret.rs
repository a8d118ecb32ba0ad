//! References to secrets (service-account passwords, API keys) that live outside the TOML.
//!
//! A service file only says where a secret is (`{ env = "..." }` or `{ file = "..." }`);
//! the value is read when the registry is built, so a missing secret is a load error that
//! names the variable or file, and the value itself never appears in config, logs or errors.

use std::fmt;
use std::path::PathBuf;

/// Where to read a secret from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable of the gateway process; one trailing newline is ignored
    /// (Kubernetes puts a secret made `--from-file` into a variable with the file's newline).
    Env(String),
    /// A file (e.g. a mounted Kubernetes secret); one trailing newline is ignored.
    File(PathBuf),
    /// A secret a ministry gave the admin API (write-only), kept by the registry store under
    /// this key (`<service id>:<JSON pointer>`).
    Stored(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
            SecretRef::Stored(key) => write!(f, "stored:{key}"),
        }
    }
}

/// The longest secret, from a file, the environment or a ministry through the admin API: a
/// password, an API key or a token, with room for a PEM key. Found in a reload probe: a
/// 50 MB file given as a service account's password was read whole, sent in a header on
/// every request (each one a 502) and took the process from 82 to 653 MB.
pub const MAX_SECRET_BYTES: usize = 16 * 1024;

/// Why a secret could not be read; says where it looked, never what it found.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secret file {0} is empty")]
    FileEmpty(PathBuf),
    #[error(
        "secret {0} is longer than {MAX_SECRET_BYTES} bytes, more than any password, key or token"
    )]
    TooLong(String),
    #[error("no stored secret {0} (give it again through the admin API)")]
    StoredMissing(String),
}

/// A secret value. Its `Debug` never prints the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Resolves [`SecretRef`]s: from the process environment and files, with optional
/// in-memory values that take precedence over environment variables.
///
/// The overrides exist so `demo` and the test harness can hand the simulated estate's
/// credentials to a gateway in the same process without mutating the process environment
/// (which is not safe once threads run).
#[derive(Clone, Default)]
pub struct Secrets {
    env_overrides: std::collections::HashMap<String, String>,
    /// Secrets kept by the registry store, by key.
    stored: std::collections::HashMap<String, String>,
    /// Nothing is read: every reference resolves to a placeholder (see [`Secrets::unread`]).
    unread: bool,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("overrides", &self.env_overrides.len())
            .field("stored", &self.stored.len())
            .field("unread", &self.unread)
            .finish()
    }
}

impl Secrets {
    /// Secrets from the process environment and the file system only.
    pub fn from_process() -> Self {
        Self::default()
    }

    /// Resolves every reference to a placeholder and reads nothing: `check --no-secrets`
    /// still builds the registry (and so runs every check across services, such as two
    /// services whose names read the same) on a machine that does not hold the secrets.
    /// Skipping the build instead let `check` say ok to a configuration `serve` refused
    /// (found when tried).
    pub fn unread() -> Self {
        Self {
            unread: true,
            ..Self::default()
        }
    }

    /// Whether these are [`Secrets::unread`]: nothing of the deployment's environment is
    /// at hand, its DNS included.
    pub fn are_unread(&self) -> bool {
        self.unread
    }

    /// Provides the value of environment variable `name` without touching the environment.
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env_overrides.insert(name.into(), value.into());
        self
    }

    /// Adds the secrets the registry store keeps (replacing any with the same key).
    pub fn with_stored(mut self, stored: impl IntoIterator<Item = (String, String)>) -> Self {
        self.stored.extend(stored);
        self
    }

    /// Reads the secret now.
    pub fn resolve(&self, reference: &SecretRef) -> Result<Secret, SecretError> {
        if self.unread {
            return Ok(Secret("unread-secret".to_string()));
        }
        match reference {
            SecretRef::Stored(key) => match self.stored.get(key) {
                Some(v) if !v.is_empty() => Ok(Secret(v.clone())),
                _ => Err(SecretError::StoredMissing(key.clone())),
            },
            SecretRef::Env(name) => {
                let value = match self.env_overrides.get(name) {
                    Some(v) => Some(v.clone()),
                    None => std::env::var(name).ok(),
                };
                match value.as_deref().map(without_line_end) {
                    Some("") => Err(SecretError::EnvEmpty(name.clone())),
                    Some(v) if v.len() > MAX_SECRET_BYTES => {
                        Err(SecretError::TooLong(format!("environment variable {name}")))
                    }
                    Some(v) => Ok(Secret(v.to_string())),
                    None => Err(SecretError::EnvMissing(name.clone())),
                }
            }
            SecretRef::File(path) => {
                let file_error = |source| SecretError::File {
                    path: path.clone(),
                    source,
                };
                // Room for a line ending after the longest secret.
                let limit = MAX_SECRET_BYTES + 2;
                let bytes = read_at_most(path, limit).map_err(file_error)?;
                if bytes.len() > limit {
                    return Err(SecretError::TooLong(format!("file {}", path.display())));
                }
                let raw = String::from_utf8(bytes).map_err(|e| {
                    file_error(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        e.utf8_error(),
                    ))
                })?;
                let v = without_line_end(&raw);
                if v.is_empty() {
                    return Err(SecretError::FileEmpty(path.clone()));
                }
                if v.len() > MAX_SECRET_BYTES {
                    return Err(SecretError::TooLong(format!("file {}", path.display())));
                }
                Ok(Secret(v.to_string()))
            }
        }
    }
}

/// The bytes of the file at `path`, read no further than one past `limit` (a longer file
/// is told by its length, not read whole). Only a regular file is read: found in a bypass probe, a FIFO named as a secret held
/// `check`, the registry's poll and every later reload until something wrote to it.
fn read_at_most(path: &std::path::Path, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A secret's value without the one line ending (`\n` or `\r\n`) that the file it came
/// from ends with: no password or key ends with one, and sent along it would fail as a wrong
/// secret, which says nothing of the newline.
fn without_line_end(value: &str) -> &str {
    let v = value.strip_suffix('\n').unwrap_or(value);
    v.strip_suffix('\r').unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(secrets: &Secrets, reference: SecretRef) -> Result<String, SecretError> {
        secrets.resolve(&reference).map(|s| s.expose().to_string())
    }

    #[test]
    fn an_environment_secret_ignores_one_trailing_newline_like_a_file() {
        let secrets = Secrets::default()
            .with_env("LF", "hunter2\n")
            .with_env("CRLF", "hunter2\r\n")
            .with_env("TWO", "hunter2\n\n")
            .with_env("INSIDE", "hun\nter2");
        let env = |n: &str| resolved(&secrets, SecretRef::Env(n.to_string())).ok();
        assert_eq!(env("LF").as_deref(), Some("hunter2"));
        assert_eq!(env("CRLF").as_deref(), Some("hunter2"));
        assert_eq!(env("TWO").as_deref(), Some("hunter2\n"));
        assert_eq!(env("INSIDE").as_deref(), Some("hun\nter2"));
    }

    /// Found in a reload probe: a 50 MB file given as a password was read whole and sent
    /// on every request. The longest secret is 16 KiB, from a file or the environment.
    #[test]
    fn a_secret_longer_than_any_credential_or_not_a_regular_file_is_refused_saying_where() {
        let dir = std::env::temp_dir().join(format!("egov-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (longest, longer) = (dir.join("longest"), dir.join("longer"));
        std::fs::write(&longest, format!("{}\r\n", "k".repeat(MAX_SECRET_BYTES))).expect("w");
        std::fs::write(&longer, "k".repeat(50 * MAX_SECRET_BYTES)).expect("write");
        let secrets = Secrets::default()
            .with_env("LONGEST", "e".repeat(MAX_SECRET_BYTES))
            .with_env("LONGER", "e".repeat(MAX_SECRET_BYTES + 1));
        let file = |p: &std::path::Path| resolved(&secrets, SecretRef::File(p.to_path_buf()));
        let env = |n: &str| resolved(&secrets, SecretRef::Env(n.to_string()));
        assert_eq!(file(&longest).map(|s| s.len()).ok(), Some(MAX_SECRET_BYTES));
        assert_eq!(env("LONGEST").map(|s| s.len()).ok(), Some(MAX_SECRET_BYTES));
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let said = file(&fifo).expect_err("a FIFO").to_string();
        assert!(said.contains("is not a regular file"), "{said}");
        for refused in [file(&longer), env("LONGER")] {
            let said = refused.expect_err("too long").to_string();
            assert!(said.contains("longer than 16384 bytes"), "{said}");
            assert!(!said.contains("kkkk") && !said.contains("eeee"), "{said}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_environment_secret_that_is_only_a_newline_is_empty() {
        let secrets = Secrets::default().with_env("NL", "\n");
        assert!(matches!(
            resolved(&secrets, SecretRef::Env("NL".into())),
            Err(SecretError::EnvEmpty(name)) if name == "NL"
        ));
    }
}
