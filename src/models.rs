//! `retain train` and `retain models …`: training, comparison and the registry.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use retain_config::{ModelSpec, PipelineConfig};
use retain_pipeline::{ModelReport, Promote, Settings};

use crate::print::print_out;
use crate::settings::resolve_settings;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Model spec files (models/*.toml). Several need --compare.
    #[arg(required = true, value_name = "SPEC")]
    specs: Vec<PathBuf>,
    #[command(flatten)]
    place: Place,
    /// Scoring date (YYYY-MM-DD): the validation snapshot is this minus the horizon.
    /// Defaults to the pipeline's `as-of`.
    #[arg(value_parser = crate::cli::date, long)]
    as_of: Option<NaiveDate>,
    /// Train several specs on identical data (same snapshots, same feature partitions)
    /// and print their metrics side by side.
    #[arg(long)]
    compare: bool,
    /// Make a new version champion if its out-of-time ROC AUC beats the champion's on
    /// the same validation snapshot (or if the model has no champion yet).
    #[arg(long, conflicts_with = "promote")]
    promote_if_better: bool,
    /// Make the new version champion whatever its metrics.
    #[arg(long)]
    promote: bool,
}

/// Where the data and the warehouse are.
#[derive(Debug, Args)]
pub struct Place {
    /// Pipeline file naming the sources and the warehouse. Default: pipelines/demo.toml
    /// when it exists, else the embedded demo pipeline.
    #[arg(long, short = 'p', env = "RETAIN_PIPELINE")]
    pipeline: Option<PathBuf>,
    /// Warehouse URL or path, overriding the pipeline's `warehouse`.
    #[arg(long)]
    out: Option<String>,
}

impl Place {
    pub(crate) fn settings(&self) -> Result<Settings> {
        let pipeline = match &self.pipeline {
            Some(p) => PipelineConfig::load(p)?,
            None if Path::new("pipelines/demo.toml").exists() => {
                PipelineConfig::load(Path::new("pipelines/demo.toml"))?
            }
            None => PipelineConfig::demo(),
        };
        Ok(resolve_settings(pipeline, self.out.clone()))
    }
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List every registered model and version, marking the champion.
    List(ListArgs),
    /// Show one version (the champion unless VERSION is given): metrics against the
    /// baseline, files with their verified SHA-256, where the report is.
    Show(ShowArgs),
    /// Make VERSION the champion that scoring uses (after verifying its files).
    Promote(PromoteArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    place: Place,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Model name (e.g. churn).
    model: String,
    /// Version (e.g. v0002); the champion when absent.
    #[arg(value_name = "VERSION")]
    model_version: Option<String>,
    #[command(flatten)]
    place: Place,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Model name (e.g. churn).
    model: String,
    /// Version to promote (e.g. v0003).
    #[arg(value_name = "VERSION")]
    model_version: String,
    #[command(flatten)]
    place: Place,
}

pub async fn train(args: TrainArgs) -> Result<ExitCode> {
    if args.specs.len() > 1 && !args.compare {
        return Err(crate::UsageError(
            "several specs given: add --compare to train them side by side".into(),
        )
        .into());
    }
    let specs = args
        .specs
        .iter()
        .map(|p| ModelSpec::from_path(p))
        .collect::<Result<Vec<_>, _>>()?;
    let settings = args.place.settings()?;
    let as_of = settings.as_of(args.as_of)?;
    let promote = if args.promote {
        Promote::Always
    } else if args.promote_if_better {
        Promote::IfBetter
    } else {
        Promote::Never
    };
    let run = retain_pipeline::train_models(&settings, as_of, &specs, promote)
        .await
        .context("training failed")?;
    let mut out = String::new();
    if run.models.len() == 1 {
        print_one(&mut out, &run.models[0]);
    } else {
        print_compare(&mut out, &run.models);
    }
    print_out(out.trim_end());
    Ok(ExitCode::SUCCESS)
}

fn f4(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.4}"))
}

/// Metric rows: (name, value of a report's metrics).
type Row = (&'static str, fn(&retain_model::Metrics) -> String);
const ROWS: &[Row] = &[
    ("ROC AUC", |m| f4(m.roc_auc)),
    ("PR AUC", |m| f4(m.pr_auc)),
    ("log loss", |m| format!("{:.4}", m.log_loss)),
    ("Brier score", |m| format!("{:.4}", m.brier)),
    ("ECE (10 bins)", |m| f4(m.ece)),
    ("lift, top decile", |m| f4(m.lift_top_decile)),
    ("capture, top decile", |m| f4(m.capture_top_decile)),
];

fn print_one(out: &mut String, m: &ModelReport) {
    let _ = writeln!(
        out,
        "{} {} ({}, {})\n  trained on {} snapshots: {} rows fitted + {} held out for calibration, fit in {:.1}s\n  validated out of time on {}: {} rows, base rate {:.2}%\n",
        m.name,
        m.version,
        m.algorithm,
        m.spec,
        m.training_snapshots,
        m.training_rows,
        m.calibration_rows,
        m.fit_seconds,
        m.validation_snapshot,
        m.validation_rows,
        100.0 * m.validation_base_rate
    );
    let _ = writeln!(
        out,
        "  {:<22} {:>10} {:>13} {:>15}",
        "metric (validation)", "model", "uncalibrated", "naive baseline"
    );
    for (name, f) in ROWS {
        let _ = writeln!(
            out,
            "  {:<22} {:>10} {:>13} {:>15}",
            name,
            f(&m.validation),
            f(&m.uncalibrated),
            m.baseline.as_ref().map_or_else(|| "n/a".into(), f)
        );
    }
    let _ = writeln!(
        out,
        "\n  naive baseline: customers ranked by recency_days alone (isotonic-calibrated on the calibration slice)\n  {}\n  report: {}/report.html",
        m.promotion, m.location
    );
}

fn print_compare(out: &mut String, models: &[ModelReport]) {
    let label = |m: &ModelReport| {
        let stem = Path::new(m.spec.trim_end_matches(" (embedded)"))
            .file_stem()
            .map_or_else(|| m.name.clone(), |s| s.to_string_lossy().into_owned());
        format!("{stem} {}", m.version)
    };
    let w = models
        .iter()
        .map(|m| label(m).len())
        .max()
        .unwrap_or(10)
        .max(12);
    let _ = write!(out, "{:<22}", "metric (validation)");
    for m in models {
        let _ = write!(out, " {:>w$}", label(m));
    }
    let _ = writeln!(out, " {:>15}", "naive baseline");
    let _ = write!(out, "{:<22}", "algorithm");
    for m in models {
        let _ = write!(out, " {:>w$}", m.algorithm);
    }
    let _ = writeln!(out, " {:>15}", "recency rank");
    for (name, f) in ROWS {
        let _ = write!(out, "{name:<22}");
        for m in models {
            let _ = write!(out, " {:>w$}", f(&m.validation));
        }
        let base = models
            .first()
            .and_then(|m| m.baseline.as_ref())
            .map_or_else(|| "n/a".into(), f);
        let _ = writeln!(out, " {base:>15}");
    }
    let _ = write!(out, "{:<22}", "fit seconds");
    for m in models {
        let _ = write!(out, " {:>w$.1}", m.fit_seconds);
    }
    let _ = writeln!(out);
    let _ = write!(out, "{:<22}", "rows fitted");
    for m in models {
        let _ = write!(out, " {:>w$}", m.training_rows);
    }
    let _ = writeln!(out);
    if let Some(first) = models.first() {
        let _ = writeln!(
            out,
            "\nall validated out of time on {} ({} rows, base rate {:.2}%)",
            first.validation_snapshot,
            first.validation_rows,
            100.0 * first.validation_base_rate
        );
    }
    for m in models {
        let _ = writeln!(out, "  {}: {}", label(m), m.promotion);
    }
}

pub async fn models(cmd: ModelsCommand) -> Result<ExitCode> {
    match cmd {
        ModelsCommand::List(a) => list(a).await,
        ModelsCommand::Show(a) => show(a).await,
        ModelsCommand::Promote(a) => promote(a).await,
    }
}

fn summary_f(v: &serde_json::Value, key: &str) -> String {
    v.get(key)
        .and_then(serde_json::Value::as_f64)
        .map_or_else(|| "-".into(), |x| format!("{x:.4}"))
}

async fn list(a: ListArgs) -> Result<ExitCode> {
    let settings = a.place.settings()?;
    let warehouse = settings.warehouse.clone();
    let models = retain_pipeline::models_list(&settings).await?;
    let mut out = String::new();
    if models.is_empty() {
        let _ = writeln!(
            out,
            "no registered models in {warehouse}: `retain train models/churn.toml` registers one"
        );
    }
    for m in &models {
        let champion = m.champion.as_ref().map(|c| c.version.as_str());
        let _ = writeln!(out, "{} (champion {})", m.model, champion.unwrap_or("none"));
        let _ = writeln!(
            out,
            "    {:<7} {:<20} {:<14} {:<12} {:>8} {:>8} {:>9}  spec",
            "version", "created", "algorithm", "validated", "ROC AUC", "ECE", "baseline"
        );
        for v in &m.versions {
            let s = &v.summary;
            let _ = writeln!(
                out,
                "  {} {:<7} {:<20} {:<14} {:<12} {:>8} {:>8} {:>9}  {}",
                if champion == Some(v.version.as_str()) {
                    '*'
                } else {
                    ' '
                },
                v.version,
                v.created_at,
                s.get("algorithm").and_then(|x| x.as_str()).unwrap_or("-"),
                s.get("validation_snapshot")
                    .and_then(|x| x.as_str())
                    .unwrap_or("-"),
                summary_f(s, "roc_auc"),
                summary_f(s, "ece"),
                summary_f(s, "baseline_roc_auc"),
                s.get("spec").and_then(|x| x.as_str()).unwrap_or("-"),
            );
        }
    }
    print_out(out.trim_end());
    Ok(ExitCode::SUCCESS)
}

async fn show(a: ShowArgs) -> Result<ExitCode> {
    let settings = a.place.settings()?;
    let v = retain_pipeline::models_show(&settings, &a.model, a.model_version.as_deref()).await?;
    let m = &v.manifest;
    let mut out = String::new();
    let is_champion = v.champion.as_ref().is_some_and(|c| c.version == m.version);
    let _ = writeln!(
        out,
        "{} {}{}\n  registered {} by run {} (as of {})\n  {}",
        m.model,
        m.version,
        if is_champion { " (champion)" } else { "" },
        m.created_at,
        m.run_id,
        m.as_of,
        v.location
    );
    if let Some(c) = &v.champion {
        let _ = writeln!(
            out,
            "  champion: {}{}",
            c.version,
            c.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    let metrics = &v.metrics;
    if metrics.get("validation").is_some() {
        let get = |k: &str| -> Option<retain_model::Metrics> {
            serde_json::from_value(metrics.get(k)?.clone()).ok()
        };
        let val = get("validation");
        let unc = get("validation_uncalibrated");
        let base: Option<retain_model::Metrics> = metrics
            .get("baseline")
            .and_then(|b| b.get("validation"))
            .and_then(|b| serde_json::from_value(b.clone()).ok());
        let _ = writeln!(
            out,
            "\n  {} on the validation snapshot {}",
            metrics
                .get("algorithm")
                .and_then(|x| x.as_str())
                .unwrap_or("?"),
            metrics
                .get("validation_snapshot")
                .and_then(|x| x.as_str())
                .unwrap_or("?")
        );
        let _ = writeln!(
            out,
            "  {:<22} {:>10} {:>13} {:>15}",
            "metric", "model", "uncalibrated", "naive baseline"
        );
        for (name, f) in ROWS {
            let cell =
                |m: &Option<retain_model::Metrics>| m.as_ref().map_or_else(|| "n/a".into(), f);
            let _ = writeln!(
                out,
                "  {:<22} {:>10} {:>13} {:>15}",
                name,
                cell(&val),
                cell(&unc),
                cell(&base)
            );
        }
    } else {
        let _ = writeln!(out, "\n  summary: {}", m.summary);
    }
    let _ = writeln!(out, "\n  files (SHA-256 verified):");
    for (name, d) in &m.files {
        let _ = writeln!(out, "    {name:<14} {:>9} bytes  {}", d.bytes, d.sha256);
    }
    print_out(out.trim_end());
    Ok(ExitCode::SUCCESS)
}

async fn promote(a: PromoteArgs) -> Result<ExitCode> {
    let settings = a.place.settings()?;
    let c = retain_pipeline::models_promote(&settings, &a.model, &a.model_version).await?;
    print_out(&format!(
        "{} champion is now {} (was {})",
        a.model,
        c.version,
        c.previous.as_deref().unwrap_or("none")
    ));
    Ok(ExitCode::SUCCESS)
}
