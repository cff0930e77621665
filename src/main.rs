//! `retain`: the command line. Parses flags (clap), sets up logging (tracing), resolves
//! settings and calls the library crates; everything else lives in `crates/`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use retain_config::{PipelineConfig, Stage};
use retain_pipeline::schedule::{self, BackfillStep, Every};
use retain_pipeline::{RunReport, Settings};
use retain_store::Location;
use retain_synth::SynthOptions;

mod actions;
mod models;
mod output;
mod runs;

/// Batch retention pipeline: staged tables, point-in-time features, churn and
/// repeat-purchase models, risk scores and next-best actions, as Parquet on object storage.
#[derive(Debug, Parser)]
#[command(name = "retain", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter (tracing EnvFilter syntax), e.g. `debug` or `retain_pipeline=debug`.
    /// RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    log: String,
    /// Log line format on stderr: `pretty` for people, `json` for log shippers (one JSON
    /// object per line).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "pretty",
        env = "RETAIN_LOG_FORMAT"
    )]
    log_format: output::LogFormat,
    /// Only warnings and errors on stderr (no info lines, no progress bars); the
    /// command's result still prints on stdout.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Debug logs from retain's own crates (the SQL plans, every file and object touched)
    /// and, on failure, the error's chain of causes one per line after the one-line
    /// error.
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a synthetic shop and run the whole pipeline on it.
    ///
    /// Writes raw exports to `OUT/raw/` and every table under `OUT` (`--out`), then prints rows
    /// per stage, the models' out-of-time AUC, customers per lifecycle stage, risk tier
    /// and action, and where the tables are.
    Demo(DemoArgs),
    /// Generate a synthetic shop's raw exports (customers, orders, tickets, events,
    /// contacts), seeded and deterministic.
    Synth(SynthArgs),
    /// Run a pipeline file's stages (ingest, features, clv, train, score, actions) as of
    /// a date, or backfill a range of dates (`--from D1 --to D2 --every week`).
    ///
    /// Exit codes: 0 done, 1 failed, 2 usage or configuration error, 3 data-quality
    /// threshold breached (nothing published), 4 nothing to do (every date of a backfill
    /// already published; `--force` reruns them).
    Run(PipelineRunArgs),
    /// Check a pipeline file without running anything: parse it, its model specs and
    /// policy, resolve every source URL and read the files' headers, and plan every SQL
    /// job with DataFusion against the schemas the stage before it declares.
    Validate(ValidateArgs),
    /// Run only the ingest stage of a pipeline file: stage every source into staged/
    /// and quarantine/ (all sources or nothing) and print the row accounting.
    Ingest(RunArgs),
    /// Ingest, then publish the customer feature table as of one or more dates
    /// (features/customer/as_of=D/), without training or scoring.
    Features(FeaturesArgs),
    /// Customer-lifetime models (BG/NBD purchases, Gamma-Gamma spend): fit and register
    /// them, or show a registered version and its model checks.
    #[command(subcommand)]
    Clv(ClvCommand),
    /// Train model specs on a pipeline's data: fit, calibrate, evaluate out of time
    /// against a naive recency baseline, and register each as a new version (with
    /// report.html). `--compare` trains several side by side on identical data.
    Train(models::TrainArgs),
    /// The model registry: list versions, show one, promote one to champion.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Score every customer as of a date with the champion models (no ingest, no
    /// training): scores/customer_risk/as_of=D/, with drift against the training data.
    /// Reuses the published features as of D, else computes them from the staged tables.
    Score(actions::ScoreArgs),
    /// Decide the next best action of every customer with the policy file, from the
    /// published scores as of a date: scores/next_best_action/as_of=D/.
    Actions(actions::ActionsArgs),
    /// The run history the warehouse keeps (runs/<run_id>.json): `retain runs` lists
    /// runs newest first, `retain runs show RUN_ID` shows one.
    Runs(runs::RunsArgs),
    /// Measure the actions decided as of a date: completed orders of treated against
    /// control customers in the horizon after it, per action, with 95% intervals.
    EvaluateActions(actions::EvaluateArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell), e.g.
    /// `retain completions bash > /etc/bash_completion.d/retain`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `retain man > retain.1 && man ./retain.1`.
    Man,
}

/// A command line that parsed but makes no sense (exit 2, like clap's own errors).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[derive(Debug, Subcommand)]
enum ClvCommand {
    /// Ingest, fit the models as of the as-of date, check them against a holdout period
    /// and register them as the champion of models/clv/ (with report.html).
    Fit(RunArgs),
    /// Print a registered version's parameters and model checks (the champion unless a
    /// VERSION is given), and where its HTML report is.
    Report(ClvReportArgs),
}

#[derive(Debug, Args)]
struct ClvReportArgs {
    /// Pipeline file (TOML) naming the warehouse.
    pipeline: PathBuf,
    /// Warehouse URL or path, overriding the pipeline's `warehouse`.
    #[arg(long)]
    out: Option<String>,
    /// Version to show (e.g. v0002); the champion when absent.
    #[arg(value_name = "VERSION")]
    model_version: Option<String>,
}

#[derive(Debug, Args)]
struct FeaturesArgs {
    #[command(flatten)]
    run: RunArgs,
    /// More snapshot dates (YYYY-MM-DD, repeatable); `--as-of` (or the pipeline's
    /// `as-of`) is always included.
    #[arg(long = "also", value_name = "DATE")]
    also: Vec<NaiveDate>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Warehouse URL or path for every output.
    #[arg(long, default_value = "./warehouse")]
    out: String,
    /// Number of synthetic customers.
    #[arg(long, default_value_t = 50_000)]
    customers: u64,
    /// Random seed: the same seed gives the same files and the same scores.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Debug, Args)]
struct SynthArgs {
    /// Where to write the raw exports (path or URL).
    #[arg(long, default_value = "./warehouse/raw")]
    out: String,
    /// Number of customers.
    #[arg(long, default_value_t = 50_000)]
    customers: u64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// First day of history (YYYY-MM-DD).
    #[arg(long, default_value = "2024-11-01")]
    start: NaiveDate,
    /// Day after the last day of history (YYYY-MM-DD, exclusive).
    #[arg(long, default_value = "2026-11-01")]
    end: NaiveDate,
    /// Share of rows to corrupt with realistic bad input (0 to 0.5), for ingest tests.
    #[arg(long, default_value_t = 0.0)]
    dirty: f64,
    /// Also write the latent truth per customer to _truth/customers.csv.
    #[arg(long)]
    truth: bool,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Pipeline file (TOML), e.g. pipelines/demo.toml.
    pipeline: PathBuf,
    /// Scoring date (YYYY-MM-DD): features use only facts strictly before it. Defaults
    /// to the pipeline's `as-of`.
    #[arg(long)]
    as_of: Option<NaiveDate>,
    /// Warehouse URL or path, overriding the pipeline's `warehouse`.
    #[arg(long)]
    out: Option<String>,
}

#[derive(Debug, Args)]
struct PipelineRunArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Run only these stages (comma-separated: ingest, features, clv, train, score,
    /// actions), in pipeline order, instead of the pipeline's `stages`. A stage left out
    /// is not redone: later stages read what earlier runs published.
    #[arg(long, value_delimiter = ',', value_name = "STAGES")]
    stages: Vec<Stage>,
    /// Backfill: the first as-of date (YYYY-MM-DD); needs --to.
    #[arg(long, requires = "to", conflicts_with = "as_of", value_name = "DATE")]
    from: Option<NaiveDate>,
    /// Backfill: the last as-of date (included); needs --from.
    #[arg(long, requires = "from", value_name = "DATE")]
    to: Option<NaiveDate>,
    /// Backfill: the step between dates.
    #[arg(long, value_enum, default_value = "day", requires = "from")]
    every: EveryArg,
    /// Backfill: rerun dates whose outputs are already published (otherwise skipped).
    #[arg(long)]
    force: bool,
    /// Print the plan (stages, dates, inputs, outputs) and run nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EveryArg {
    Day,
    Week,
    Month,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Print the checks as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `--verbose`'s log filter: debug from retain's crates, info from the libraries.
const VERBOSE_FILTER: &str = "info,retain=debug,retain_pipeline=debug,retain_store=debug,retain_sql=debug,retain_read=debug,retain_model=debug,retain_score=debug,retain_policy=debug";

/// Exit code: nothing to do (docs/cli.md).
const NOTHING_TO_DO: u8 = retain_pipeline::error::EXIT_NOTHING_TO_DO;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // A filter that does not parse is a usage error, not a silent fallback.
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&cli.log) {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "error: invalid --log filter `{}`: {e} (see `retain --help`)",
                cli.log
            );
        }
        return ExitCode::from(2);
    }
    let filter = if cli.verbose && cli.log == "info" {
        VERBOSE_FILTER.to_owned()
    } else {
        cli.log.clone()
    };
    let bars = output::init(&output::LogOptions {
        filter,
        format: cli.log_format,
        quiet: cli.quiet,
    });
    if let Some(bars) = bars {
        let _ = PROGRESS.set(bars);
    }
    let json = cli.log_format == output::LogFormat::Json;
    let verbose = cli.verbose;
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // One line, whatever the error chain: some DataFusion messages span several.
            let line = retain_pipeline::one_line(err.as_ref());
            let code = exit_code(&err);
            // With --verbose, the causes one per line, outermost first.
            let causes: Vec<String> = if verbose {
                err.chain().skip(1).map(|c| c.to_string()).collect()
            } else {
                Vec::new()
            };
            #[allow(clippy::print_stderr)]
            if json {
                // Every stderr line stays a JSON object for the log shipper, shaped like
                // the log events (written directly: a log filter must not hide it).
                let event = serde_json::json!({
                    "timestamp": chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "level": "ERROR",
                    "fields": {"message": line, "exit_code": code, "causes": causes},
                });
                eprintln!("{event}");
            } else {
                eprintln!("error: {line}");
                for c in &causes {
                    eprintln!(
                        "  caused by: {}",
                        retain_pipeline::error::collapse_whitespace(c)
                    );
                }
            }
            ExitCode::from(code)
        }
    }
}

/// Exit codes (docs/cli.md): 0 success, 1 failure, 2 usage or configuration error
/// (a pipeline file, model spec or policy that does not parse or does not fit the data),
/// 3 data-quality threshold breached (nothing published), 4 nothing to do.
fn exit_code(err: &anyhow::Error) -> u8 {
    use retain_pipeline::error::{EXIT_FAILURE, EXIT_USAGE};
    for e in err.chain() {
        if let Some(e) = e.downcast_ref::<retain_pipeline::Error>() {
            return e.exit_code();
        }
        if e.downcast_ref::<UsageError>().is_some()
            || e.downcast_ref::<retain_config::Error>().is_some()
        {
            return EXIT_USAGE;
        }
    }
    EXIT_FAILURE
}

/// Help and version print as clap renders them; a usage error is one line and exit 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.exit_code() == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .next()
        .unwrap_or("error: invalid arguments");
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{first} (see `retain --help`)");
    }
    ExitCode::from(2)
}

/// The progress display, when stderr is a terminal that wants one (see `output::init`).
static PROGRESS: std::sync::OnceLock<Arc<output::Bars>> = std::sync::OnceLock::new();

/// [`Settings::resolve`], with the progress display attached when there is one.
pub(crate) fn resolve_settings(pipeline: PipelineConfig, out: Option<String>) -> Settings {
    let mut settings = Settings::resolve(pipeline, out);
    if let Some(bars) = PROGRESS.get() {
        settings.progress = Some(bars.clone() as Arc<dyn retain_store::Progress>);
    }
    settings
}

/// Load a pipeline file and resolve its settings with `--out`.
fn load_settings(pipeline: &std::path::Path, out: Option<String>) -> Result<Settings> {
    Ok(resolve_settings(PipelineConfig::load(pipeline)?, out))
}

fn run(cli: Cli) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        match cli.command {
            Command::Demo(args) => demo(args).await,
            Command::Synth(args) => synth(args).await,
            Command::Run(args) => run_pipeline(args).await,
            Command::Validate(args) => validate(args).await,
            Command::Ingest(args) => ingest(args).await,
            Command::Features(args) => features(args).await,
            Command::Clv(ClvCommand::Fit(args)) => clv_fit(args).await,
            Command::Clv(ClvCommand::Report(args)) => clv_report(args).await,
            Command::Train(args) => models::train(args).await,
            Command::Models(cmd) => models::models(cmd).await,
            Command::Score(args) => actions::score(args).await,
            Command::Actions(args) => actions::actions(args).await,
            Command::EvaluateActions(args) => actions::evaluate(args).await,
            Command::Runs(args) => runs::runs(args).await,
            Command::Completions { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                // Into memory first: clap_complete panics on a failed write.
                let mut out = Vec::new();
                clap_complete::generate(shell, &mut cmd, "retain", &mut out);
                write_stdout(&out)
            }
            Command::Man => {
                let cmd = <Cli as clap::CommandFactory>::command();
                let mut out = Vec::new();
                clap_mangen::Man::new(cmd)
                    .render(&mut out)
                    .context("rendering the man page")?;
                write_stdout(&out)
            }
        }
    })
}

async fn synth(args: SynthArgs) -> Result<ExitCode> {
    let opts = SynthOptions {
        customers: args.customers,
        seed: args.seed,
        start: args.start,
        end: args.end,
        dirty_rate: args.dirty,
        write_truth: args.truth,
    };
    let started = Instant::now();
    let summary = write_synth(&args.out, &opts).await?;
    let out = Location::parse(&args.out)?.url();
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

async fn write_synth(out: &str, opts: &SynthOptions) -> Result<retain_synth::SynthSummary> {
    let loc = Location::parse(out)?;
    retain_synth::generate(loc.store.clone(), &loc.prefix, opts)
        .await
        .with_context(|| format!("generating the synthetic shop into {}", loc.url()))
}

async fn run_pipeline(args: PipelineRunArgs) -> Result<ExitCode> {
    let mut settings = load_settings(&args.run.pipeline, args.run.out)?;
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
    // already published unless --force.
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
    if to_run.is_empty() {
        print_out(&format!(
            "nothing to do: all {} dates from {} to {} are published (--force reruns them)",
            dates.len(),
            dates.first().map(|d| d.to_string()).unwrap_or_default(),
            dates.last().map(|d| d.to_string()).unwrap_or_default(),
        ));
        return Ok(ExitCode::from(NOTHING_TO_DO));
    }
    let started = Instant::now();
    let skipped = dates.len() - to_run.len();
    print_out(&format!(
        "backfill of {} dates ({} to run, {skipped} already published)",
        dates.len(),
        to_run.len()
    ));
    let ran = schedule::backfill(&settings, &plan, |step| match step {
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
    print_out(&format!(
        "\nbackfill done: {ran} dates run, {skipped} skipped, {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Where a run's HTML report is (`runs/<run_id>.html`, written with its record).
fn run_report_url(warehouse: &str, run_id: &str) -> String {
    format!("{}/runs/{run_id}.html", warehouse.trim_end_matches('/'))
}

/// `retain run --dry-run`: the dates, what is skipped, and each stage's inputs and
/// outputs.
fn format_plan(plan: &schedule::RunPlan) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let names = |stages: &[Stage]| {
        stages
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "plan for pipeline `{}` on {} (dry run: nothing is run)\nstages: {}",
        plan.pipeline,
        plan.warehouse,
        names(&plan.stages)
    );
    let _ = writeln!(out, "\nas-of dates:");
    for d in &plan.dates {
        let state = if d.skip {
            "skip: published".to_owned()
        } else if d.published.is_empty() {
            "run".to_owned()
        } else {
            format!("run (rerun: {} published)", names(&d.published))
        };
        let _ = writeln!(out, "  {}  {state}", d.as_of);
    }
    if let Some(d) = plan.ingest_as_of
        && plan.dates.len() > 1
    {
        let _ = writeln!(out, "\ningest runs once, as of {d}, before the dates");
    }
    if let Some(first) = plan.to_run().next() {
        let _ = writeln!(out, "\nstages as of {first}:");
        for s in &plan.detail {
            let _ = writeln!(out, "  {}", s.stage);
            for i in &s.inputs {
                let _ = writeln!(out, "    in   {i}");
            }
            for o in &s.outputs {
                let _ = writeln!(out, "    out  {o}");
            }
        }
    } else {
        let _ = writeln!(out, "\nnothing to do (--force reruns published dates)");
    }
    out.trim_end().to_owned()
}

async fn validate(args: ValidateArgs) -> Result<ExitCode> {
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

async fn ingest(args: RunArgs) -> Result<ExitCode> {
    let settings = load_settings(&args.pipeline, args.out)?;
    let as_of = settings.as_of(args.as_of)?;
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

async fn features(args: FeaturesArgs) -> Result<ExitCode> {
    let settings = load_settings(&args.run.pipeline, args.run.out)?;
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

async fn clv_fit(args: RunArgs) -> Result<ExitCode> {
    let settings = load_settings(&args.pipeline, args.out)?;
    let as_of = settings.as_of(args.as_of)?;
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

async fn clv_report(args: ClvReportArgs) -> Result<ExitCode> {
    let settings = load_settings(&args.pipeline, args.out)?;
    let report = retain_pipeline::clv_show(&settings, args.model_version.as_deref()).await?;
    let mut out = String::new();
    print_clv(&mut out, &report);
    print_out(out.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// A CLV model version: parameters, fit quality and the holdout check.
fn print_clv(out: &mut String, r: &retain_pipeline::clv::ClvReport) {
    use std::fmt::Write;
    let m = &r.model;
    let s = &m.summary;
    let _ = writeln!(
        out,
        "CLV models {} as of {} (orders before it; time unit {} days)\n  {}",
        r.version, m.as_of, m.time_unit_days, r.location
    );
    let se = |v: Option<f64>| v.map(|v| format!("(SE {v:.4})")).unwrap_or_default();
    let bg = &m.bg_nbd;
    let bse = bg.standard_errors;
    let _ = writeln!(
        out,
        "\nBG/NBD purchases: {} customers ({} fitted, {} with repeat purchases), log-likelihood {:.1}",
        s.customers, s.fitted_customers, s.repeat_customers, bg.report.log_likelihood
    );
    for (name, v, e) in [
        ("r", bg.params.r, bse.map(|p| p.r)),
        ("alpha", bg.params.alpha, bse.map(|p| p.alpha)),
        ("a", bg.params.a, bse.map(|p| p.a)),
        ("b", bg.params.b, bse.map(|p| p.b)),
    ] {
        let _ = writeln!(out, "  {name:<6} {v:>10.4} {}", se(e));
    }
    match (&m.gamma_gamma, &m.gamma_gamma_error) {
        (Some(g), _) => {
            let gse = g.standard_errors;
            let _ = writeln!(
                out,
                "Gamma-Gamma spend: {} repeat customers, log-likelihood {:.1}",
                g.report.n_customers, g.report.log_likelihood
            );
            for (name, v, e) in [
                ("p", g.params.p, gse.map(|p| p.p)),
                ("q", g.params.q, gse.map(|p| p.q)),
                ("gamma", g.params.gamma, gse.map(|p| p.gamma)),
            ] {
                let _ = writeln!(out, "  {name:<6} {v:>10.4} {}", se(e));
            }
            if let Some(c) = g.frequency_spend_correlation {
                let _ = writeln!(
                    out,
                    "  correlation of frequency and mean spend: {c:.3} (the model assumes none; distrust CLV when far from 0)"
                );
            }
        }
        (None, Some(reason)) => {
            let _ = writeln!(
                out,
                "Gamma-Gamma spend: not fitted: {reason} (clv_12m is null)"
            );
        }
        (None, None) => {}
    }
    if let (Some(mean), Some(total)) = (r.metrics.mean_clv_12m, r.metrics.total_clv_12m) {
        let _ = writeln!(
            out,
            "clv_12m: mean {mean:.2}, total {total:.2} ({:.0}% a year discount, margin {})",
            100.0 * m.annual_discount_rate,
            m.margin
        );
    }
    match (&r.metrics.checks, &r.metrics.checks_error) {
        (Some(c), _) => {
            let _ = writeln!(
                out,
                "\nholdout check: refitted on orders before {}, {} customers; repeat purchases in the {} days from then:",
                c.calibration_end, c.calibration_customers, c.holdout_days
            );
            let _ = writeln!(
                out,
                "  {:<10} {:>10} {:>9} {:>9}",
                "frequency", "customers", "actual", "expected"
            );
            for f in &c.by_frequency {
                let _ = writeln!(
                    out,
                    "  {:<10} {:>10} {:>9.3} {:>9.3}",
                    f.frequency, f.customers, f.actual, f.expected
                );
            }
            let _ = writeln!(
                out,
                "  {:<10} {:>10} {:>9.0} {:>9.0}",
                "total", c.calibration_customers, c.holdout_actual_total, c.holdout_expected_total
            );
        }
        (None, Some(reason)) => {
            let _ = writeln!(out, "\nholdout check: not possible: {reason}");
        }
        (None, None) => {}
    }
    let _ = writeln!(out, "\nreport: {}/report.html", r.location);
}

async fn demo(args: DemoArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let opts = SynthOptions {
        customers: args.customers,
        seed: args.seed,
        ..SynthOptions::default()
    };
    let raw = Location::parse(&args.out)?.resolve("raw")?;
    let summary = write_synth(&raw.url(), &opts).await?;
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

/// Print to stdout; a closed pipe (`retain demo | head`) is not an error worth a panic.
/// Write generated text to stdout; a closed pipe (`retain man | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<ExitCode> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to stdout"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

pub(crate) fn print_out(s: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{s}");
}

/// An AUC to three places, or `n/a` when the labels had one class only.
fn auc(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |a| format!("{a:.3}"))
}

/// The ingest accounting, one line per source under its heading.
fn print_ingest(out: &mut String, reports: &[retain_pipeline::IngestReport]) {
    use std::fmt::Write;
    out.push_str("ingest (read = staged + quarantined + duplicates):\n");
    for i in reports {
        let _ = writeln!(
            out,
            "  {:<18} read {:>9}  staged {:>9}  quarantined {:>6}  duplicates {:>6}  ({} files, {:.1}s)",
            i.table,
            i.read,
            i.staged,
            i.quarantined,
            i.duplicates,
            i.files.len(),
            i.elapsed_ms as f64 / 1000.0
        );
        if !i.reasons.is_empty() {
            let reasons: Vec<String> = i.reasons.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(out, "  {:<18} quarantined: {}", "", reasons.join(", "));
        }
    }
}

/// One stage of a run: name, time, rows, detail.
pub(crate) fn stage_line(out: &mut String, s: &retain_pipeline::StageReport) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "  {:<28} {:>8.1}s  {:>9} rows  {}",
        s.stage,
        s.elapsed.as_secs_f64(),
        s.rows,
        s.detail
    );
}

fn print_report(r: &RunReport, synth: Option<std::time::Duration>) {
    let mut out = String::new();
    use std::fmt::Write;
    let _ = writeln!(out, "\nstages (run {}):", r.run_id);
    if let Some(d) = synth {
        let _ = writeln!(out, "  {:<28} {:>8.1}s", "synth", d.as_secs_f64());
    }
    for s in &r.stages {
        stage_line(&mut out, s);
    }
    if !r.ingest.is_empty() {
        out.push('\n');
        print_ingest(&mut out, &r.ingest);
    }
    if !r.models.is_empty() || r.clv.is_some() {
        let _ = writeln!(out, "\nmodels (out-of-time validation):");
    }
    for m in &r.models {
        let _ = writeln!(
            out,
            "  {:<16} {}  AUC {} (naive baseline {}, train {}), ECE {}  validated on {} ({} rows, base rate {:.1}%), trained on {} snapshots / {} rows; {}",
            m.name,
            m.version,
            auc(m.validation_auc),
            auc(m.baseline.as_ref().and_then(|b| b.roc_auc)),
            auc(m.train_auc),
            auc(m.validation.ece),
            m.validation_snapshot,
            m.validation_rows,
            100.0 * m.validation_base_rate,
            m.training_snapshots,
            m.training_rows,
            m.promotion
        );
    }
    if let Some(c) = &r.clv {
        let p = &c.model.bg_nbd.params;
        let _ = writeln!(
            out,
            "  {:<16} {}  BG/NBD r {:.3} alpha {:.3} a {:.3} b {:.3}{}",
            "clv",
            c.version,
            p.r,
            p.alpha,
            p.a,
            p.b,
            c.metrics
                .checks
                .as_ref()
                .map(|k| format!(
                    "; holdout repeat purchases {:.0} expected, {:.0} actual",
                    k.holdout_expected_total, k.holdout_actual_total
                ))
                .unwrap_or_default()
        );
    }
    for (title, counts) in [
        ("lifecycle stage", &r.lifecycle_stages),
        ("shopper type", &r.shopper_types),
        ("risk tier", &r.risk_tiers),
    ] {
        if counts.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\ncustomers per {title}:");
        for (k, v) in counts {
            let _ = writeln!(out, "  {k:<22} {v:>9}");
        }
    }
    actions::print_drift(&mut out, &r.drift);
    if let Some(p) = &r.policy {
        let _ = writeln!(out, "\nnext best actions:");
        actions::print_policy(&mut out, p);
    }
    let _ = writeln!(out, "\ntables under {}:", r.warehouse);
    for t in &r.tables {
        if t.table.starts_with("features/") || t.table.starts_with("training/") {
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<34} {:>9} rows  {}",
            format!("{}/{}", t.table, t.partition).trim_end_matches('/'),
            t.rows,
            t.url
        );
    }
    let features: Vec<_> = r
        .tables
        .iter()
        .filter(|t| t.table == "features/customer")
        .collect();
    if !features.is_empty() {
        let _ = writeln!(
            out,
            "  features/customer: {} as-of partitions",
            features.len()
        );
    }
    if !r.models.is_empty() {
        let _ = writeln!(
            out,
            "  training/<model>/run_as_of={}; models/<model>/<version>/",
            r.as_of
        );
    }
    let _ = writeln!(
        out,
        "\nrun report: {}",
        run_report_url(&r.warehouse, &r.run_id)
    );
    print_out(out.trim_end());
}
