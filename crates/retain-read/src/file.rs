//! One input file and the error that names it: [`RawFile`] and [`ReadError`], a file
//! that cannot be read at all.

use object_store::path::Path;

/// One input file.
#[derive(Debug, Clone)]
pub struct RawFile {
    /// URL, as reported in errors and in [`SOURCE_FILE`](crate::SOURCE_FILE).
    pub url: String,
    /// Path in the store.
    pub path: Path,
    /// Size in bytes (from the listing).
    pub size: u64,
}

/// A file that cannot be read at all.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read `{file}`: {message}")]
pub struct ReadError {
    pub file: String,
    pub message: String,
}

impl ReadError {
    pub(crate) fn new(file: &RawFile, message: impl Into<String>) -> Self {
        Self {
            file: file.url.clone(),
            message: message.into(),
        }
    }
}
