//! `retain demo`, `synth`, `run`, `validate`, `ingest`, `features` and `clv`: generating
//! a synthetic shop and running a pipeline file's stages, one date or a backfill.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use retain_config::PipelineConfig;
use retain_pipeline::schedule::{self, BackfillStep, Every};
use retain_store::{Location, LockInfo, Warehouse};
use retain_synth::SynthOptions;

use crate::cli::{
    ClvFitArgs, ClvReportArgs, DemoArgs, EveryArg, FeaturesArgs, PipelineRunArgs, RunArgs,
    SynthArgs, ValidateArgs,
};
use crate::print::{
    format_plan, print_clv, print_ingest, print_out, print_report, run_report_url, stage_line,
};
use crate::settings::{load_settings, resolve_settings};

/// Exit code: nothing to do (docs/cli.md).
const NOTHING_TO_DO: u8 = retain_pipeline::error::EXIT_NOTHING_TO_DO;

pub async fn synth(args: SynthArgs) -> Result<ExitCode> {
    let opts = SynthOptions {
        customers: args.customers,
        seed: args.seed,
        start: args.start,
        end: args.end,
        dirty_rate: args.dirty,
        write_truth: args.truth,
    };
    let started = Instant::now();
    let loc = Location::parse(&args.out)?;
    // `raw/` of a warehouse (the layout `retain ingest` reads by default): written under
    // that warehouse's lock. Elsewhere there is no warehouse to lock.
    let summary = match warehouse_of_raw(&loc) {
        Some(wh) => under_lock(&wh, "synth", write_synth(&args.out, &opts)).await?,
        None => write_synth(&args.out, &opts).await?,
    };
    let out = loc.url();
    print_out(&format!(
        "synthetic shop written to {out} in {:.1}s: {} customers, {} orders, {} support tickets, {} engagement events, {} contacts",
        started.elapsed().as_secs_f64(),
        summary.customers,
        summary.orders,
        summary.support_tickets,
        summary.engagement_events,
        summary.contacts
    ));
    if !summary.dirty.is_empty() {
        let injected: u64 = summary.dirty.values().sum();
        print_out(&format!(
            "injected {injected} bad rows: {:?}",
            summary.dirty
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The warehouse whose `raw/` folder `loc` is, if it is one.
fn warehouse_of_raw(loc: &Location) -> Option<Location> {
    let parts: Vec<_> = loc.prefix.parts().collect();
    let (last, parent) = parts.split_last()?;
    (last.as_ref() == "raw").then(|| Location {
        prefix: parent.iter().cloned().collect(),
        ..loc.clone()
    })
}

/// Run `work` holding the warehouse's write lock: `synth` and `demo` write `raw/`, which
/// an ingest of another run reads, so two of them at once cannot leave (or read) a mix
/// of two shops (issue 20, finding 10). The lock is released whatever `work` returns.
async fn under_lock<T>(
    warehouse: &Location,
    command: &str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let run_id = retain_pipeline::new_run_id();
    let wh = Warehouse::new(warehouse.clone(), run_id.as_str());
    let stale_after = PipelineConfig::demo().lock_stale_after.0;
    wh.lock(&LockInfo::here(&run_id, command, None), stale_after)
        .await?;
    let out = work.await;
    if let Err(e) = wh.unlock().await {
        tracing::warn!(error = %e, "could not release the warehouse lock");
    }
    out
}

async fn write_synth(out: &str, opts: &SynthOptions) -> Result<retain_synth::SynthSummary> {
    let loc = Location::parse(out)?;
    retain_synth::generate(loc.store.clone(), &loc.prefix, opts)
        .await
        .with_context(|| format!("generating the synthetic shop into {}", loc.url()))
}

pub async fn run_pipeline(args: PipelineRunArgs) -> Result<ExitCode> {
    let mut settings = load_settings(&args.run.pipeline, args.run.out)?;
    settings.allow_as_of_beyond_data = args.horizon.allow_as_of_beyond_data;
    settings.champion_at = args.champion.at();
    if !args.stages.is_empty() {
        let mut stages = args.stages.clone();
        stages.sort();
        stages.dedup();
        settings.pipeline.stages = stages;
    }
    let backfill = args.from.zip(args.to);
    let as_of = settings.as_of(args.run.as_of.or(args.from))?;
    if backfill.is_none() && !args.dry_run {
        let report = retain_pipeline::run(&settings, as_of)
            .await
            .context("pipeline run failed")?;
        print_report(&report, None);
        return Ok(ExitCode::SUCCESS);
    }
    let every = match args.every {
        EveryArg::Day => Every::Day,
        EveryArg::Week => Every::Week,
        EveryArg::Month => Every::Month,
    };
    let dates = match backfill {
        Some((from, to)) => schedule::backfill_dates(from, to, every)?,
        None => vec![as_of],
    };
    // One date always runs (it was asked for by name); a backfill skips the dates
    // published and current unless --force.
    let plan = schedule::plan(&settings, &dates, args.force || backfill.is_none()).await?;
    let to_run: Vec<NaiveDate> = plan.to_run().collect();
    if args.dry_run {
        print_out(&format_plan(&plan));
        return Ok(if to_run.is_empty() {
            ExitCode::from(NOTHING_TO_DO)
        } else {
            ExitCode::SUCCESS
        });
    }
    let nothing = |after: &str| {
        format!(
            "nothing to do: all {} dates from {} to {} are published and current{after} (--force reruns them)",
            dates.len(),
            dates.first().map(|d| d.to_string()).unwrap_or_default(),
            dates.last().map(|d| d.to_string()).unwrap_or_default(),
        )
    };
    if to_run.is_empty() {
        print_out(&nothing(""));
        return Ok(ExitCode::from(NOTHING_TO_DO));
    }
    let started = Instant::now();
    print_out(&format!(
        "backfill of {} dates ({} to run, {} published and current)",
        dates.len(),
        to_run.len(),
        dates.len() - to_run.len(),
    ));
    let done = schedule::backfill(&settings, &plan, args.force, |step| match step {
        BackfillStep::Ingest(report) => {
            let mut out = format!("\ningest as of {} (run {}):\n", report.as_of, report.run_id);
            for s in &report.stages {
                stage_line(&mut out, s);
            }
            print_out(out.trim_end());
        }
        BackfillStep::Date(report) => {
            let mut out = format!("\nas of {} (run {}):\n", report.as_of, report.run_id);
            for s in &report.stages {
                stage_line(&mut out, s);
            }
            out.push_str(&format!(
                "  report: {}\n",
                run_report_url(&report.warehouse, &report.run_id)
            ));
            print_out(out.trim_end());
        }
    })
    .await?;
    if done.ran == 0 {
        // The ingest staged what the dates were computed from after all.
        print_out(&nothing(" after the ingest"));
        return Ok(ExitCode::from(NOTHING_TO_DO));
    }
    print_out(&format!(
        "\nbackfill done: {} dates run, {} skipped, {:.1}s",
        done.ran,
        done.skipped,
        started.elapsed().as_secs_f64()
    ));
    Ok(ExitCode::SUCCESS)
}

pub async fn validate(args: ValidateArgs) -> Result<ExitCode> {
    let settings = load_settings(&args.run.pipeline, args.run.out)?;
    let as_of = settings.as_of(args.run.as_of)?;
    let v = retain_pipeline::validate::validate(&settings, as_of).await?;
    if args.json {
        let text = serde_json::to_string_pretty(&v).context("writing JSON")?;
        print_out(&text);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "{} is valid as of {} (nothing was run):\n",
        args.run.pipeline.display(),
        v.as_of
    );
    for c in &v.checks {
        out.push_str(&format!("  ok  {:<28} {}\n", c.what, c.detail));
    }
    for w in &v.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
    print_out(out.trim_end());
    Ok(ExitCode::SUCCESS)
}

pub async fn ingest(args: RunArgs) -> Result<ExitCode> {
    let settings = load_settings(&args.pipeline, args.out)?;
    // Staging depends on no as-of date: the date only labels the run record, so an
    // undated pipeline ingests as of today.
    let as_of = settings
        .as_of(args.as_of)
        .unwrap_or_else(|_| chrono::Utc::now().date_naive());
    let started = Instant::now();
    let reports = retain_pipeline::ingest(&settings, as_of)
        .await
        .context("ingest failed")?;
    let mut out = String::new();
    print_ingest(&mut out, &reports);
    let read: u64 = reports.iter().map(|r| r.read).sum();
    let secs = started.elapsed().as_secs_f64();
    out.push_str(&format!(
        "\n{read} rows in {secs:.1}s ({:.0} rows/s)",
        read as f64 / secs.max(1e-9)
    ));
    print_out(&out);
    Ok(ExitCode::SUCCESS)
}

pub async fn features(args: FeaturesArgs) -> Result<ExitCode> {
    let mut settings = load_settings(&args.run.pipeline, args.run.out)?;
    settings.allow_as_of_beyond_data = args.horizon.allow_as_of_beyond_data;
    let as_of = settings.as_of(args.run.as_of)?;
    let mut dates = vec![as_of];
    dates.extend(args.also);
    dates.sort();
    dates.dedup();
    let started = Instant::now();
    let report = retain_pipeline::features(&settings, as_of, &dates)
        .await
        .context("features failed")?;
    let mut out = String::new();
    print_ingest(&mut out, &report.ingest);
    if !report.absent_sources.is_empty() {
        out.push_str(&format!(
            "\nabsent sources (their features are null): {}\n",
            report.absent_sources.join(", ")
        ));
    }
    out.push_str("\nfeatures:\n");
    for t in &report.tables {
        out.push_str(&format!(
            "  {:<12} {:>9} customers  {}\n",
            t.partition, t.rows, t.url
        ));
    }
    out.push_str(&format!("\ntotal {:.1}s", started.elapsed().as_secs_f64()));
    print_out(&out);
    Ok(ExitCode::SUCCESS)
}

pub async fn clv_fit(args: ClvFitArgs) -> Result<ExitCode> {
    let mut settings = load_settings(&args.run.pipeline, args.run.out)?;
    settings.allow_as_of_beyond_data = args.horizon.allow_as_of_beyond_data;
    let as_of = settings.as_of(args.run.as_of)?;
    let started = Instant::now();
    let run = retain_pipeline::clv_fit(&settings, as_of)
        .await
        .context("the CLV fit failed")?;
    let mut out = String::new();
    print_ingest(&mut out, &run.ingest);
    out.push('\n');
    print_clv(&mut out, &run.report);
    out.push_str(&format!("\ntotal {:.1}s", started.elapsed().as_secs_f64()));
    print_out(&out);
    Ok(ExitCode::SUCCESS)
}

pub async fn clv_report(args: ClvReportArgs) -> Result<ExitCode> {
    let settings = load_settings(&args.pipeline, args.out)?;
    let report = retain_pipeline::clv_show(&settings, args.model_version.as_deref()).await?;
    let mut out = String::new();
    print_clv(&mut out, &report);
    print_out(out.trim_end());
    Ok(ExitCode::SUCCESS)
}

pub async fn demo(args: DemoArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let opts = SynthOptions {
        customers: args.customers,
        seed: args.seed,
        ..SynthOptions::default()
    };
    let warehouse = Location::parse(&args.out)?;
    let raw = warehouse.resolve("raw")?;
    // The lock is released between writing the shop and running the pipeline, which
    // takes it again: another synth in between replaces the shop whole, never in part.
    let summary = under_lock(&warehouse, "demo", write_synth(&raw.url(), &opts)).await?;
    let synth_elapsed = started.elapsed();
    let pipeline = PipelineConfig::demo();
    let settings = resolve_settings(pipeline, Some(args.out));
    let report = retain_pipeline::run(&settings, opts.end)
        .await
        .context("demo pipeline failed")?;
    print_out(&format!(
        "retain demo: {} synthetic customers (seed {}), {} orders, {} tickets, {} events, as of {}",
        summary.customers,
        opts.seed,
        summary.orders,
        summary.support_tickets,
        summary.engagement_events,
        report.as_of
    ));
    print_report(&report, Some(synth_elapsed));
    print_out(&format!("\ntotal {:.1}s", started.elapsed().as_secs_f64()));
    Ok(ExitCode::SUCCESS)
}
