//! How to read a source: [`Format`], [`Compression`], the CSV dialect ([`CsvOptions`])
//! and the batch and field limits ([`ReadOptions`]).

use crate::file::RawFile;

/// File format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
    Parquet,
}

/// Compression of a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From the file name: `.gz` is gzip, `.zst`/`.zstd` is zstd, anything else plain.
    pub fn from_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".gz") || lower.ends_with(".gzip") {
            Self::Gzip
        } else if lower.ends_with(".zst") || lower.ends_with(".zstd") {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// CSV dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub quote: u8,
    /// The first line names the columns.
    pub header: bool,
    /// Column names when there is no header line.
    pub columns: Vec<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            quote: b'"',
            header: true,
            columns: Vec::new(),
        }
    }
}

/// How to read a source.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub format: Format,
    pub csv: CsvOptions,
    /// `None`: from each file's extension.
    pub compression: Option<Compression>,
    /// Rows per batch.
    pub batch_size: usize,
    /// Longer text fields are truncated and the row gets
    /// [`reason::FIELD_TOO_LONG`](crate::reason::FIELD_TOO_LONG).
    pub max_field_bytes: usize,
}

impl ReadOptions {
    /// The compression of `file`: as configured, or from its name.
    pub fn compression_of(&self, file: &RawFile) -> Compression {
        self.compression
            .unwrap_or_else(|| Compression::from_name(&file.url))
    }

    pub fn new(format: Format) -> Self {
        Self {
            format,
            csv: CsvOptions::default(),
            compression: None,
            batch_size: 8192,
            max_field_bytes: 64 * 1024,
        }
    }
}
