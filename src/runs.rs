//! `retain runs` and `retain runs show`: the run history the warehouse keeps.

use std::fmt::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use retain_config::Stage;
use retain_pipeline::RunRecord;

use crate::models::Place;
use crate::print::{print_out, stage_line};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    command: Option<RunsCommand>,
    #[command(flatten)]
    place: Place,
    /// Show at most this many runs, newest first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// One run: its stages with times and rows, ingest accounting, tables published,
    /// models registered and used, its error if it failed, and where its HTML report
    /// (`runs/<run_id>.html`) is.
    Show {
        /// The run id (see `retain runs`).
        run_id: String,
        #[command(flatten)]
        place: Place,
        /// Print the record as JSON (retain.run/1).
        #[arg(long)]
        json: bool,
    },
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn models(r: &RunRecord) -> String {
    let mut parts: Vec<String> = r
        .models_registered
        .iter()
        .map(|(m, v)| format!("{m} {v} (new)"))
        .collect();
    parts.extend(
        r.models_used
            .iter()
            .filter(|(m, _)| !r.models_registered.contains_key(*m))
            .map(|(m, v)| format!("{m} {v}")),
    );
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

pub async fn runs(args: RunsArgs) -> Result<ExitCode> {
    match args.command {
        Some(RunsCommand::Show {
            run_id,
            place,
            json,
        }) => {
            let shown = retain_pipeline::runs_show(&place.settings()?, &run_id).await?;
            if json {
                print_out(&serde_json::to_string_pretty(&shown.record)?);
            } else {
                print_out(show(&shown.record, shown.report.as_deref()).trim_end());
            }
        }
        None => {
            let settings = args.place.settings()?;
            let url = settings.warehouse.clone();
            let all = retain_pipeline::runs_list(&settings).await?;
            // The command column fits the longest shown (`run:features,score,actions`).
            let w = all
                .iter()
                .take(args.limit)
                .map(|r| what(r).len())
                .max()
                .unwrap_or(0)
                .max("command".len());
            let mut out = String::new();
            if all.is_empty() {
                let _ = writeln!(out, "no runs recorded in {url}");
            } else {
                let _ = writeln!(
                    out,
                    "{:<23} {:<10} {:<w$} {:<9} {:>8} {:>9} {:>9} {:>11} {:>9}  models",
                    "run",
                    "as of",
                    "command",
                    "status",
                    "time",
                    "rows in",
                    "staged",
                    "quarantined",
                    "rows out"
                );
            }
            for r in all.iter().take(args.limit) {
                let _ = writeln!(
                    out,
                    "{:<23} {:<10} {:<w$} {:<9} {:>8} {:>9} {:>9} {:>11} {:>9}  {}",
                    r.run_id,
                    r.as_of,
                    what(r),
                    r.status,
                    seconds(r.elapsed_ms),
                    r.rows_read,
                    r.rows_staged,
                    r.rows_quarantined,
                    rows_out(r),
                    models(r)
                );
            }
            if all.len() > args.limit {
                let _ = writeln!(
                    out,
                    "({} older runs; --limit N shows more)",
                    all.len() - args.limit
                );
            }
            print_out(out.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The command, and for `run` the stages when not all of them (`run:score,actions`).
fn what(r: &RunRecord) -> String {
    if r.selected_stages.is_empty() || r.selected_stages == Stage::ALL {
        return r.command.clone();
    }
    let names: Vec<&str> = r.selected_stages.iter().map(|s| s.as_str()).collect();
    format!("{}:{}", r.command, names.join(","))
}

/// Rows published beyond the staged tables (features, training sets, scores, actions):
/// what the run produced, where `staged` and `quarantined` count what it took in.
fn rows_out(r: &RunRecord) -> u64 {
    r.tables
        .iter()
        .filter(|t| !t.table.starts_with("staged/") && !t.table.starts_with("quarantine/"))
        .map(|t| t.rows)
        .sum()
}

fn show(r: &RunRecord, report: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} ({} of pipeline {}, as of {}): {} in {}",
        r.run_id,
        r.command,
        r.pipeline,
        r.as_of,
        r.status,
        seconds(r.elapsed_ms)
    );
    let _ = writeln!(
        out,
        "started {}, finished {}",
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        r.finished_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(e) = &r.error {
        let _ = writeln!(out, "error: {e}");
    }
    let _ = writeln!(
        out,
        "report: {}",
        report.unwrap_or("none (recorded before run reports were written, or not written)")
    );
    if !r.stages.is_empty() {
        let _ = writeln!(out, "\nstages:");
        for s in &r.stages {
            stage_line(&mut out, s);
        }
    }
    if r.rows_read > 0 {
        let _ = writeln!(
            out,
            "\ningest: {} rows read, {} staged, {} quarantined",
            r.rows_read, r.rows_staged, r.rows_quarantined
        );
        for (k, v) in &r.quarantine_reasons {
            let _ = writeln!(out, "  {k:<28} {v:>9}");
        }
    }
    let _ = writeln!(out, "\nmodels: {}", models(r));
    if !r.tables.is_empty() {
        let _ = writeln!(out, "\ntables published:");
        for t in &r.tables {
            let _ = writeln!(
                out,
                "  {:<44} {:>9} rows",
                format!("{}/{}", t.table, t.partition).trim_end_matches('/'),
                t.rows
            );
        }
    }
    out
}
