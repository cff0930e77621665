//! The crate's one error type and its `Result` alias, and `toml_message`, which flattens
//! toml's multi-line parse errors into the single line the CLI prints.

use std::path::PathBuf;

/// Errors reading or validating configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the expected keys and types.
    #[error("invalid {what} `{path}`: {message}")]
    Parse {
        what: &'static str,
        path: String,
        message: String,
    },
    /// A value parsed but makes no sense (e.g. a negative horizon).
    #[error("invalid {what} `{path}`: {message}")]
    Invalid {
        what: &'static str,
        path: String,
        message: String,
    },
    /// A model named by the pipeline is neither a file nor an embedded spec.
    #[error("model spec `{0}` not found (looked for models/{0}.toml and the embedded specs)")]
    UnknownModel(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// toml's errors span several lines with a source excerpt; the CLI prints one line.
pub(crate) fn toml_message(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && !l.chars().all(|c| c == '^')
                && !l
                    .split_once(" |")
                    .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
