//! The pipeline: ingest → features → labels → train → score → next best action, each a
//! job that reads published tables and publishes tables under one warehouse.
//!
//! SQL jobs run through [`retain_sql::Engine`]; Rust here does only the glue SQL cannot:
//! registering sources and published partitions, splitting staged rows from quarantined
//! ones, choosing snapshot dates, fitting models and scoring.
//!
//! The layers, top down (a module only uses the ones below it):
//! - [`commands`]: what a caller runs (`run`, `ingest`, `features`, `train_models`,
//!   `score_customers`, ...): each resolves its context, takes the warehouse lock when it
//!   writes, runs stages, and writes the run record; [`schedule`] plans and runs
//!   backfills on top of them; [`validate`] plans every job without running it.
//! - the stages: `ingest`, `features`, [`clv`], `train`, `score`, `actions`: each takes
//!   the context and the as-of date, and returns what it published and decided.
//! - the record and its pages: `run_log` (collected by the commands), [`runs`] (the
//!   record format), `reports` (HTML pages rendered from records).
//! - the kernel: [`kernel`] (settings, context), [`error`], [`contract`], [`registry`].
//! - the data: [`records`], what the stages read and produced as plain types; it uses no
//!   other module of this crate, and [`error`] uses only it.

mod actions;
pub mod clv;
pub mod commands;
pub mod contract;
pub mod error;
mod features;
mod horizon;
mod ingest;
pub mod interrupt;
pub mod kernel;
pub mod records;
pub mod registry;
pub mod reports;
mod run_log;
pub mod runs;
pub mod schedule;
mod score;
#[cfg(test)]
mod test_support;
mod train;
pub mod validate;

pub use actions::{ActionEffect, ActionEvaluation, load_policy, next_best_action_schema};
pub use commands::{
    ActionsRun, ClvRun, FeaturesReport, ModelVersion, ModelVersions, ScoreRun, TrainRun, clv_fit,
    clv_show, decide_actions, evaluate_actions, features, ingest, models_list, models_promote,
    models_show, run, score_customers, train_models,
};
pub use error::{Error, Result, one_line};
pub use kernel::{Settings, new_run_id};
pub use records::ingest::{FileAccount, IngestReport};
pub use records::run::{RunReport, StageReport, TableReport};
pub use records::training::ModelReport;
pub use retain_policy::Summary as PolicySummary;
pub use retain_score::DriftRow;
pub use runs::{
    ActionRecord, ActionsRecord, DriftInput, DriftRecord, MODEL_SCORED, MODEL_TRAINED, ModelRecord,
    RUN_FORMAT, RunRecord, ShownRun, SourceRecord, open_warehouse, runs_list, runs_show,
};
pub use train::Promote;

pub(crate) use error::df_err;
pub(crate) use kernel::{Ctx, toml_params};
