//! The command line's shape: the clap structs behind `retain --help`. Each command's
//! arguments live here unless its own module holds them (`models`, `actions`, `runs`).

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use retain_config::Stage;

use crate::{actions, models, output, runs, tables};

/// Batch retention pipeline: staged tables, point-in-time features, churn and
/// repeat-purchase models, risk scores and next-best actions, as Parquet on object storage.
#[derive(Debug, Parser)]
#[command(name = "retain", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log filter (tracing EnvFilter syntax), e.g. `debug` or `retain_pipeline=debug`.
    /// RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    pub log: String,
    /// Log line format on stderr: `pretty` for people, `json` for log shippers (one JSON
    /// object per line).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "pretty",
        env = "RETAIN_LOG_FORMAT"
    )]
    pub log_format: output::LogFormat,
    /// Only warnings and errors on stderr (no info lines, no progress bars); the
    /// command's result still prints on stdout.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Debug logs from retain's own crates (the SQL plans, every file and object touched)
    /// and, on failure, the error's chain of causes one per line after the one-line
    /// error.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// published and current; `--force` reruns them).
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
    /// The published tables as their Delta logs list them: `retain tables` lists each
    /// with its newest version, `retain tables TABLE [--table-version N]` prints the files of
    /// one version (to read the table as it was with any Parquet reader).
    Tables(tables::TablesArgs),
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

#[derive(Debug, Subcommand)]
pub enum ClvCommand {
    /// Ingest, fit the models as of the as-of date, check them against a holdout period
    /// and register them as the champion of models/clv/ (with report.html).
    Fit(ClvFitArgs),
    /// Print a registered version's parameters and model checks (the champion unless a
    /// VERSION is given), and where its HTML report is.
    Report(ClvReportArgs),
}

#[derive(Debug, Args)]
pub struct ClvFitArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub horizon: HorizonArgs,
}

#[derive(Debug, Args)]
pub struct ClvReportArgs {
    /// Pipeline file (TOML) naming the warehouse.
    pub pipeline: PathBuf,
    /// Warehouse URL or path, overriding the pipeline's `warehouse`.
    #[arg(long)]
    pub out: Option<String>,
    /// Version to show (e.g. v0002); the champion when absent.
    #[arg(value_name = "VERSION")]
    pub model_version: Option<String>,
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub horizon: HorizonArgs,
    /// More snapshot dates (YYYY-MM-DD, repeatable); `--as-of` (or the pipeline's
    /// `as-of`) is always included.
    #[arg(value_parser = crate::cli::date, long = "also", value_name = "DATE")]
    pub also: Vec<NaiveDate>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Warehouse URL or path for every output.
    #[arg(long, default_value = "./warehouse")]
    pub out: String,
    /// Number of synthetic customers.
    #[arg(long, default_value_t = 50_000)]
    pub customers: u64,
    /// Random seed: the same seed gives the same files and the same scores.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Where to write the raw exports (path or URL).
    #[arg(long, default_value = "./warehouse/raw")]
    pub out: String,
    /// Number of customers.
    #[arg(long, default_value_t = 50_000)]
    pub customers: u64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First day of history (YYYY-MM-DD).
    #[arg(value_parser = crate::cli::date, long, default_value = "2024-11-01")]
    pub start: NaiveDate,
    /// Day after the last day of history (YYYY-MM-DD, exclusive).
    #[arg(value_parser = crate::cli::date, long, default_value = "2026-11-01")]
    pub end: NaiveDate,
    /// Share of rows to corrupt with realistic bad input (0 to 0.5), for ingest tests.
    #[arg(long, default_value_t = 0.0)]
    pub dirty: f64,
    /// Also write the latent truth per customer to _truth/customers.csv.
    #[arg(long)]
    pub truth: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline file (TOML), e.g. pipelines/demo.toml.
    pub pipeline: PathBuf,
    /// Scoring date (YYYY-MM-DD): features use only facts strictly before it. Defaults
    /// to the pipeline's `as-of`.
    #[arg(value_parser = crate::cli::date, long)]
    pub as_of: Option<NaiveDate>,
    /// Warehouse URL or path, overriding the pipeline's `warehouse`.
    #[arg(long)]
    pub out: Option<String>,
}

/// The override of the data-horizon check, for the commands that describe the shop as
/// of a date.
#[derive(Debug, Args)]
pub struct HorizonArgs {
    /// Go on when the as-of date lies beyond the staged data's last fact by more than
    /// `[quality] as-of-tolerance-days` (otherwise exit code 2); the run record and
    /// report say it was allowed.
    #[arg(long)]
    pub allow_as_of_beyond_data: bool,
}

/// Which champion scores an as-of date.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum ChampionArg {
    /// The champion in force at the as-of date: the latest promoted version trained as
    /// of that date or earlier (a backfill scores each date with what was knowable then).
    #[default]
    InForce,
    /// Today's champion, even on dates before its training as-of (the run record says so).
    Latest,
}

impl ChampionArg {
    pub fn at(self) -> retain_pipeline::registry::ChampionAt {
        match self {
            ChampionArg::InForce => retain_pipeline::registry::ChampionAt::InForce,
            ChampionArg::Latest => retain_pipeline::registry::ChampionAt::Latest,
        }
    }
}

#[derive(Debug, Args)]
pub struct PipelineRunArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub horizon: HorizonArgs,
    /// Which champion scores the as-of date.
    #[arg(long, value_enum, default_value_t = ChampionArg::InForce)]
    pub champion: ChampionArg,
    /// Run only these stages (comma-separated: ingest, features, clv, train, score,
    /// actions), in pipeline order, instead of the pipeline's `stages`. A stage left out
    /// is not redone: later stages read what earlier runs published.
    #[arg(long, value_delimiter = ',', value_name = "STAGES")]
    pub stages: Vec<Stage>,
    /// Backfill: the first as-of date (YYYY-MM-DD); needs --to.
    #[arg(value_parser = crate::cli::date, long, requires = "to", conflicts_with = "as_of", value_name = "DATE")]
    pub from: Option<NaiveDate>,
    /// Backfill: the last as-of date (included); needs --from.
    #[arg(value_parser = crate::cli::date, long, requires = "from", value_name = "DATE")]
    pub to: Option<NaiveDate>,
    /// Backfill: the step between dates.
    #[arg(long, value_enum, default_value = "day", requires = "from")]
    pub every: EveryArg,
    /// Backfill: rerun dates whose outputs are published and current (otherwise skipped).
    #[arg(long)]
    pub force: bool,
    /// Print the plan (stages, dates, inputs, outputs) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EveryArg {
    Day,
    Week,
    Month,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Print the checks as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A date argument: `YYYY-MM-DD`, and an error that says so (chrono's own says only
/// `input is out of range` or `premature end of input`).
pub fn date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| format!("not a date YYYY-MM-DD ({e})"))
}
