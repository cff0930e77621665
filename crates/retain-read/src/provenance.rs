//! The provenance columns every row carries ([`SOURCE_FILE`], [`SOURCE_ROW`],
//! [`READ_ERROR`], [`READ_COLUMN`], [`READ_DETAIL`]), the [`reason`] codes of records
//! that could not be parsed, and the schema of the data columns of a text source.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, Field};

use crate::file::{RawFile, ReadError};

/// URL of the file a row came from.
pub const SOURCE_FILE: &str = "_source_file";
/// Line of the record in a CSV or NDJSON file (1-based, the header is line 1), or the
/// 1-based row number in a Parquet file.
pub const SOURCE_ROW: &str = "_source_row";
/// Reason code when the record could not be parsed, otherwise null.
pub const READ_ERROR: &str = "_read_error";
/// Column the read error concerns, when there is one.
pub const READ_COLUMN: &str = "_read_column";
/// Human-readable detail of the read error.
pub const READ_DETAIL: &str = "_read_detail";

/// Reason codes of records that could not be parsed.
pub mod reason {
    /// A CSV record with more or fewer fields than the header.
    pub const WRONG_COLUMN_COUNT: &str = "wrong_column_count";
    /// A quoted CSV field that never closes (it swallowed a line break).
    pub const UNTERMINATED_QUOTE: &str = "unterminated_quote";
    /// Bytes that are not UTF-8.
    pub const INVALID_UTF8: &str = "invalid_utf8";
    /// An NDJSON line that is not a JSON object.
    pub const BROKEN_JSON: &str = "broken_json";
    /// A field longer than the configured limit (kept truncated in the quarantine).
    pub const FIELD_TOO_LONG: &str = "field_too_long";
}

/// The provenance columns, in the order they follow the data columns.
pub(crate) fn provenance_fields() -> Vec<Field> {
    vec![
        Field::new(SOURCE_FILE, DataType::Utf8, false),
        Field::new(SOURCE_ROW, DataType::Int64, false),
        Field::new(READ_ERROR, DataType::Utf8, true),
        Field::new(READ_COLUMN, DataType::Utf8, true),
        Field::new(READ_DETAIL, DataType::Utf8, true),
    ]
}

/// The [`SOURCE_FILE`] column of `rows` rows from the file at `url`.
pub(crate) fn file_column(url: &str, rows: usize) -> ArrayRef {
    let mut files = StringBuilder::with_capacity(rows, rows * url.len());
    for _ in 0..rows {
        files.append_value(url);
    }
    Arc::new(files.finish())
}

/// The data columns of a CSV or NDJSON source: nullable `Utf8`, named, unique, and not
/// taking a provenance column's name.
pub(crate) fn text_fields(file: &RawFile, names: &[String]) -> Result<Vec<Field>, ReadError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for n in names {
        if n.is_empty() {
            return Err(ReadError::new(file, "the header has an empty column name"));
        }
        if n.starts_with("_source_") || n.starts_with("_read_") {
            return Err(ReadError::new(
                file,
                format!("column name `{n}` is reserved for provenance"),
            ));
        }
        if !seen.insert(n.clone()) {
            return Err(ReadError::new(
                file,
                format!("column `{n}` appears twice in the header"),
            ));
        }
        out.push(Field::new(n, DataType::Utf8, true));
    }
    Ok(out)
}
