//! The pipeline's error type, the exit code each variant means (docs/cli.md), and the
//! one renderer of an error chain as one line (run records, the CLI's stderr). The
//! typed problems of the CLV stage, training and the registry are submodules here, so
//! this module depends on no stage.
//!
//! Architecture invariant: `error` uses only [`crate::records`] inside the crate.

use chrono::NaiveDate;
use datafusion::arrow::error::ArrowError;

use crate::records::ingest::IngestReport;

pub mod clv;
pub mod registry;
pub mod train;

pub use clv::{ClvError, ClvFitError, FitResult, SummaryProblem};
pub use registry::RegistryError;
pub use train::TrainProblem;

/// Errors of a pipeline run. Each says which stage and table it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] retain_config::Error),
    #[error(transparent)]
    Store(#[from] retain_store::Error),
    #[error(transparent)]
    Sql(#[from] retain_sql::Error),
    #[error(transparent)]
    Model(#[from] retain_model::Error),
    #[error(transparent)]
    Score(#[from] retain_score::Error),
    /// A raw source could not be read.
    #[error("source `{table}` at `{location}`: {message}")]
    Source {
        table: String,
        location: String,
        message: String,
    },
    /// A staging query does not produce the canonical table.
    #[error("staging SQL `{origin}` for `{table}` {message}")]
    Contract {
        table: String,
        origin: String,
        message: String,
    },
    /// The model registry (`models/<model>/`) lacks what was asked for, or holds a file
    /// that does not verify.
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
    /// The CLV models could not be fitted or applied as of a date.
    #[error("clv: {0}")]
    ClvFit(#[from] ClvFitError),
    /// A CLV query returned something the CLV stage cannot read, or a registered CLV
    /// version is missing or unreadable.
    #[error("clv: {0}")]
    Clv(#[from] ClvError),
    /// A model cannot be trained on this data.
    #[error("train: model `{model}`: {problem}")]
    Train {
        model: String,
        problem: TrainProblem,
    },
    /// SIGINT or SIGTERM stopped the run; its record says so and the lock is released.
    #[error("stopped by {}: nothing more was published; rerun the command to redo it", signal.name())]
    Interrupted { signal: crate::interrupt::Signal },
    /// A model spec's feature selection does not fit the training set.
    #[error("train: model spec {origin}: {source}")]
    Spec {
        origin: String,
        #[source]
        source: retain_model::Error,
    },
    /// `retain actions` needs the scores of its date, which are not published.
    #[error(
        "next best action: no scores/customer_risk/{partition} in {root}: run `retain score --as-of {as_of}` first"
    )]
    NoScores {
        partition: String,
        root: String,
        as_of: NaiveDate,
    },
    /// A command needs a staged table that no ingest has published.
    #[error("staged tables: {table} is not in {root}: run `retain ingest` (or `retain run`) first")]
    NotStaged { table: String, root: String },
    /// `retain runs show` names a run that has no record.
    #[error("runs: no run `{run_id}` in {root} (see `retain runs`)")]
    NoRun { run_id: String, root: String },
    /// A table name without a contract in `contract.rs`: a programming error (the table
    /// lists are out of step), never the user's input.
    #[error("no contract for `{table}`")]
    NoContract { table: String },
    /// A parameter value in a pipeline or model file that a SQL job cannot bind.
    #[error("parameters: parameter `{name}` for `{origin}`: {message}")]
    Parameter {
        name: String,
        origin: String,
        message: String,
    },
    /// Rows read did not equal rows staged + quarantined + duplicates: nothing of the
    /// table is published rather than a table that lost rows silently.
    #[error(
        "ingest: {table}: row accounting does not add up ({read} read, {staged} staged, {quarantined} quarantined, {duplicates} duplicates)"
    )]
    Accounting {
        table: String,
        read: u64,
        staged: u64,
        quarantined: u64,
        duplicates: u64,
    },
    /// A blocking task (a model fit) panicked or was cancelled.
    #[error("{stage}: {what} stopped: {source}")]
    Stopped {
        stage: &'static str,
        what: String,
        #[source]
        source: tokio::task::JoinError,
    },
    /// An HTML page (model or CLV report) could not be drawn.
    #[error("{stage}: rendering {what}: {source}")]
    Render {
        stage: &'static str,
        what: String,
        #[source]
        source: retain_report::Error,
    },
    /// A document (manifest, model file, summary) could not be written as JSON.
    #[error("{stage}: serialising {what}: {source}")]
    Serialise {
        stage: &'static str,
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// An Arrow operation on a stage's own intermediate data failed.
    #[error("{context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: ArrowError,
    },
    /// A configuration file (pipeline, model spec, policy) or command line that parsed
    /// but does not fit the data: a feature that is not a column, a policy expression
    /// that is not a boolean, a backfill that ends before it starts. Exit code 2.
    #[error("{stage}: {message}")]
    Invalid {
        stage: &'static str,
        message: String,
    },
    /// Neither the command line nor the pipeline file gives an as-of date. Exit code 2.
    #[error("no as-of date: pass --as-of YYYY-MM-DD or set `as-of` in the pipeline file")]
    NoAsOf,
    /// A published partition a command reads was computed from an input that has since
    /// been replaced (scores from features recomputed after them). Exit code 1.
    #[error(
        "{partition} was computed from {input} of run {recorded}, which run {current} has since replaced; {fix}"
    )]
    StaleInput {
        partition: String,
        input: String,
        recorded: String,
        current: String,
        fix: String,
    },
    /// The as-of date lies beyond the staged data by more than the tolerance: its tables
    /// would describe days the data does not reach. Exit code 2.
    #[error(
        "as-of {as_of} is beyond the data: the latest staged fact is from {last_day} ({sources}), \
         and [quality] as-of-tolerance-days = {tolerance_days} allows as-of dates up to {latest}; \
         ingest newer exports, choose an earlier --as-of, or pass --allow-as-of-beyond-data"
    )]
    BeyondData {
        as_of: NaiveDate,
        last_day: NaiveDate,
        latest: NaiveDate,
        tolerance_days: u16,
        sources: String,
    },
    /// A source breached the quarantine threshold: nothing was published. Carries what
    /// the refused ingest counted, for the run record. Exit code 3.
    #[error(
        "data quality: {message}; nothing was published (see docs/pipeline-file.md, [quality])"
    )]
    Quality {
        message: String,
        /// Every source's accounting, as counted before the ingest was refused.
        counted: Vec<IngestReport>,
    },
    /// A backfill stopped at one of its dates (or at its single ingest, `date` None).
    #[error("{}", backfill_message(*date, *ingest_as_of, *done, *total))]
    Backfill {
        /// The as-of date that failed; None when the backfill's ingest failed.
        date: Option<NaiveDate>,
        /// The as-of date of the backfill's ingest.
        ingest_as_of: Option<NaiveDate>,
        /// Dates done before it.
        done: usize,
        /// Dates the backfill had to run.
        total: usize,
        #[source]
        source: Box<Error>,
    },
    #[error("{context}: {source}")]
    DataFusion {
        context: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
}

fn backfill_message(
    date: Option<NaiveDate>,
    ingest_as_of: Option<NaiveDate>,
    done: usize,
    total: usize,
) -> String {
    match date {
        Some(d) => format!(
            "backfill stopped at {d} ({done} of {total} dates done; rerun to resume: published dates are skipped)"
        ),
        None => format!(
            "backfill stopped at the ingest as of {}",
            ingest_as_of.map(|d| d.to_string()).unwrap_or_default()
        ),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a failure worth retrying (missing source files, an unreachable store, no
/// champion, the lock held...).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: a usage or configuration error (do not retry: fix the file or the flags).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a data-quality threshold was breached; nothing was published.
pub const EXIT_QUALITY: u8 = 3;
/// Exit code: nothing to do (every date of a backfill is published and current).
pub const EXIT_NOTHING_TO_DO: u8 = 4;

impl Error {
    /// The process exit code this error means (docs/cli.md's table).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Invalid { .. } | Error::NoAsOf | Error::BeyondData { .. } => {
                EXIT_USAGE
            }
            // A SQL file of the user's that is not a query is configuration.
            Error::Sql(retain_sql::Error::NotAQuery { .. }) => EXIT_USAGE,
            Error::Quality { .. } => EXIT_QUALITY,
            Error::Interrupted { signal } => signal.exit_code(),
            Error::Backfill { source, .. } => source.exit_code(),
            // Written out, not `_`: a new variant has to choose its code.
            Error::Store(_)
            | Error::Sql(_)
            | Error::Model(_)
            | Error::Score(_)
            | Error::Source { .. }
            | Error::Contract { .. }
            | Error::Registry(_)
            | Error::ClvFit(_)
            | Error::Clv(_)
            | Error::Train { .. }
            | Error::Spec { .. }
            | Error::NoScores { .. }
            | Error::StaleInput { .. }
            | Error::NotStaged { .. }
            | Error::NoRun { .. }
            | Error::NoContract { .. }
            | Error::Parameter { .. }
            | Error::Accounting { .. }
            | Error::Stopped { .. }
            | Error::Render { .. }
            | Error::Arrow { .. }
            | Error::Serialise { .. }
            | Error::DataFusion { .. } => EXIT_FAILURE,
        }
    }
}

pub(crate) fn df_err(
    context: impl Into<String>,
) -> impl FnOnce(datafusion::error::DataFusionError) -> Error {
    let context = context.into();
    move |e| Error::DataFusion {
        context,
        source: Box::new(e),
    }
}

/// An error and its causes in one line (run records, the CLI's stderr): the
/// workspace's one renderer, defined in retain-store.
pub use retain_store::chain_line as one_line;

/// `s` with every run of whitespace (newlines included) replaced by one space, other
/// control characters escaped and the length bounded ([`retain_store::line()`]).
pub use retain_store::line as collapse_whitespace;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_causes_once_and_collapses_whitespace() {
        let inner = Error::Parameter {
            name: "window".into(),
            origin: "models/churn.toml".into(),
            message: "not a\n  number".into(),
        };
        let outer = Error::Backfill {
            date: NaiveDate::from_ymd_opt(2026, 1, 2),
            ingest_as_of: None,
            done: 1,
            total: 3,
            source: Box::new(inner),
        };
        assert_eq!(
            one_line(&outer),
            "backfill stopped at 2026-01-02 (1 of 3 dates done; rerun to resume: published \
             dates are skipped): parameters: parameter `window` for `models/churn.toml`: not a number"
        );
    }

    #[test]
    fn exit_codes_follow_the_variant_through_a_backfill() {
        let quality = Error::Quality {
            message: "x".into(),
            counted: vec![],
        };
        assert_eq!(quality.exit_code(), EXIT_QUALITY);
        assert_eq!(Error::NoAsOf.exit_code(), EXIT_USAGE);
        let wrapped = Error::Backfill {
            date: None,
            ingest_as_of: None,
            done: 0,
            total: 2,
            source: Box::new(quality),
        };
        assert_eq!(wrapped.exit_code(), EXIT_QUALITY);
        let failure = Error::NoRun {
            run_id: "r".into(),
            root: "file:///w".into(),
        };
        assert_eq!(failure.exit_code(), EXIT_FAILURE);
    }
}
