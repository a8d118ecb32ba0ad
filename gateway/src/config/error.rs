//! Configuration errors that name the file and the field.
//!
//! An operator fixing a broken deployment reads these first, so every error says where
//! (`config/services/interior/cnie-renewal.toml`), which key (`upstream.url`) and what is
//! wrong with it, and loading collects all of them instead of stopping at the first.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in, as the operator named it (relative paths stay relative).
    pub file: PathBuf,
    /// Dotted path of the offending key (`upstream.timeouts.connect`), empty for file-level
    /// problems such as a syntax error.
    pub field: String,
    /// What is wrong, in words an operator can act on.
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: &Path, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(
                f,
                "{}: {}: {}",
                self.file.display(),
                self.field,
                self.reason
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading a configuration; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

/// Collects errors for one file while validation goes on, so one pass reports everything.
pub(crate) struct Problems<'a> {
    file: &'a Path,
    errors: &'a mut Vec<ConfigError>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(file: &'a Path, errors: &'a mut Vec<ConfigError>) -> Self {
        Self { file, errors }
    }

    pub(crate) fn file(&self) -> &Path {
        self.file
    }

    pub(crate) fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ConfigError::new(self.file, field, reason));
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub(crate) fn check<T, E: fmt::Display>(
        &mut self,
        field: impl Into<String>,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }
}
