//! NDJSON: the column names from the keys of a file's first objects, and the
//! line-to-row loop that turns a line that is not a JSON object into a row that says
//! why.

use std::io::{BufRead, BufReader};
use std::sync::Arc;

use object_store::ObjectStore;
use serde_json::Value;

use crate::batcher::{Batcher, RowError, field_text};
use crate::compression::{TextReader, io_error, with_text};
use crate::file::{RawFile, ReadError};
use crate::options::{Compression, ReadOptions};
use crate::provenance::reason;

/// The column names of an NDJSON source: the keys of the first file's first 1,000
/// objects, in the order they first appear.
pub(crate) async fn columns(
    store: &Arc<dyn ObjectStore>,
    first: &RawFile,
    options: &ReadOptions,
) -> Result<Vec<String>, ReadError> {
    with_text(store, first, options, keys).await
}

fn keys(r: TextReader, file: &RawFile, options: &ReadOptions) -> Result<Vec<String>, ReadError> {
    let compression = options.compression_of(file);
    let mut r = BufReader::new(r);
    let mut keys: Vec<String> = Vec::new();
    let mut buf = Vec::new();
    let mut objects = 0;
    for _ in 0..1000 {
        if !next_line(&mut r, &mut buf, file, compression)? {
            break;
        }
        if let Ok(Value::Object(map)) = serde_json::from_slice(strip_bom(&buf)) {
            objects += 1;
            for k in map.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    if objects == 0 {
        return Err(ReadError::new(
            file,
            "no JSON object in the first 1,000 lines (is it NDJSON?)",
        ));
    }
    Ok(keys)
}

/// The rows of one NDJSON file, one a non-blank line, sent batch by batch through `out`;
/// stops early when the consumer went away.
pub(crate) fn read_ndjson(
    r: TextReader,
    file: &RawFile,
    columns: &[String],
    options: &ReadOptions,
    out: &mut Batcher<'_>,
) -> Result<(), ReadError> {
    let compression = options.compression_of(file);
    let mut r = BufReader::with_capacity(256 * 1024, r);
    let mut buf = Vec::new();
    let mut line = 0u64;
    while next_line(&mut r, &mut buf, file, compression)? {
        line += 1;
        let raw = strip_bom(&buf);
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue; // blank line: no record
        }
        let (values, error) = parse_line(raw, columns, options.max_field_bytes);
        if !out.push(values.iter().map(|v| v.as_deref()), line, error) {
            return Ok(());
        }
    }
    Ok(())
}

/// Read the next line (with its line break) into `buf`; false at the end of the input.
fn next_line(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    file: &RawFile,
    compression: Compression,
) -> Result<bool, ReadError> {
    buf.clear();
    let n = r
        .read_until(b'\n', buf)
        .map_err(|e| io_error(file, &e, compression))?;
    Ok(n > 0)
}

/// The values of `columns` in one line, with what is wrong with it: not UTF-8, not a
/// JSON object (every value null then), or an invalid or overlong field.
fn parse_line(
    raw: &[u8],
    columns: &[String],
    max_field_bytes: usize,
) -> (Vec<Option<String>>, Option<RowError>) {
    let broken = |reason, detail| {
        let error = RowError {
            reason,
            column: None,
            detail,
        };
        (vec![None; columns.len()], Some(error))
    };
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text,
        Err(e) => {
            return broken(
                reason::INVALID_UTF8,
                format!("bytes that are not UTF-8 at offset {}", e.valid_up_to()),
            );
        }
    };
    let map = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        Ok(other) => {
            return broken(
                reason::BROKEN_JSON,
                format!("a JSON {} where an object was expected", kind(&other)),
            );
        }
        Err(e) => return broken(reason::BROKEN_JSON, e.to_string()),
    };
    let mut error = None;
    let values = columns
        .iter()
        .map(|c| {
            let t = match map.get(c) {
                None | Some(Value::Null) => return None,
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            Some(field_text(t.as_bytes(), c, max_field_bytes, &mut error).into_owned())
        })
        .collect();
    (values, error)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn strip_bom(line: &[u8]) -> &[u8] {
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}
