//! `retain tables`: the published tables as their Delta logs list them, and the files of
//! one table at any version (to read it as it was, with any Parquet reader).

use std::fmt::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::models::Place;
use crate::print::print_out;

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// One table (`scores/customer_risk`, `staged/orders`, …): print its files at the
    /// newest version (or `--table-version`), one `<partition>\t<url>\t<bytes>` line each.
    table: Option<String>,
    /// The Delta version to read the table at (see the `version` column of
    /// `retain tables`, or the `table_version` in each partition's `_manifest.json`).
    #[arg(long, requires = "table")]
    table_version: Option<u64>,
    #[command(flatten)]
    place: Place,
}

pub async fn tables(args: TablesArgs) -> Result<ExitCode> {
    let settings = args.place.settings()?;
    let wh = retain_pipeline::open_warehouse(&settings).await?;
    let mut out = String::new();
    match args.table {
        Some(table) => {
            let (version, files) = wh.table_files(&table, args.table_version).await?;
            let _ = writeln!(out, "# {table} at version {version}: {} files", files.len());
            for (partition, url, bytes) in files {
                let _ = writeln!(out, "{partition}\t{url}\t{bytes}");
            }
        }
        None => {
            let tables = wh.tables().await?;
            let w = tables.iter().map(String::len).max().unwrap_or(0).max(5);
            if tables.is_empty() {
                let _ = writeln!(out, "no published tables in {}", wh.root.url());
            } else {
                let _ = writeln!(
                    out,
                    "{:<w$} {:>7} {:>10} {:>6}",
                    "table", "version", "partitions", "files"
                );
            }
            for table in tables {
                let (version, files) = wh.table_files(&table, None).await?;
                let mut partitions: Vec<&str> = files.iter().map(|(p, _, _)| p.as_str()).collect();
                partitions.dedup();
                let _ = writeln!(
                    out,
                    "{table:<w$} {version:>7} {:>10} {:>6}",
                    partitions.len(),
                    files.len()
                );
            }
        }
    }
    print_out(out.trim_end());
    Ok(ExitCode::SUCCESS)
}
