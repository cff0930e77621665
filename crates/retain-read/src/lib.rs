//! Tolerant readers for raw exports.
//!
//! A shop's exports are CSV, NDJSON or Parquet files, plain or compressed (`.gz`, `.zst`),
//! on any object store. This crate turns each file into a stream of Arrow batches with
//! the file and the row of every record ([`SOURCE_FILE`], [`SOURCE_ROW`]), and turns a
//! record that cannot be parsed into a row that says why ([`READ_ERROR`],
//! [`READ_COLUMN`], [`READ_DETAIL`]) instead of failing the whole read. Staging SQL then
//! types and validates the rows, and quarantines those with a read error.
//!
//! Why not DataFusion's CSV and JSON readers: they fail the whole query on one line with
//! the wrong number of fields or one broken JSON line, and they do not report line
//! numbers. The parsing itself is `csv-core` (quoting, BOM) and `serde_json`; the
//! decompression is `flate2` and `zstd`; Parquet is the `parquet` crate. What is written
//! by hand here is only the record-to-batch loop, the line counting (the `csv` crate's
//! positions drift after blank lines and CRLF endings) and the decision of which records
//! are bad.
//!
//! Text formats (CSV, NDJSON) produce every data column as nullable `Utf8`; Parquet keeps
//! its own types. A file that cannot be read at all (not found, zero bytes, a missing
//! column, a corrupt footer, a truncated gzip stream) is a [`ReadError`] naming the file.
//!
//! Modules: `source` opens a source and streams its files ([`RawSource`]); one module a
//! format (`csv`, `ndjson`, `parquet`) reads it; they share `file` (the file and the
//! error), `options`, `provenance` (the provenance columns and reason codes),
//! `compression` (text files as decompressed blocking readers) and `batcher` (batches of
//! text rows). The format modules use the shared ones, never the reverse.

mod batcher;
mod compression;
mod csv;
mod file;
mod ndjson;
mod options;
mod parquet;
mod provenance;
mod source;

pub use file::{RawFile, ReadError};
pub use options::{Compression, CsvOptions, Format, ReadOptions};
pub use provenance::{READ_COLUMN, READ_DETAIL, READ_ERROR, SOURCE_FILE, SOURCE_ROW, reason};
pub use source::RawSource;

#[cfg(test)]
mod tests;
