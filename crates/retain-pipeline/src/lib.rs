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

mod actions;
pub mod clv;
pub mod commands;
pub mod contract;
pub mod error;
mod evaluation;
mod features;
mod ingest;
pub mod kernel;
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

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Serialize;

pub use actions::{ActionEffect, ActionEvaluation, load_policy, next_best_action_schema};
pub use commands::{
    ActionsRun, ClvRun, FeaturesReport, ModelVersion, ModelVersions, ScoreRun, TrainRun, clv_fit,
    clv_show, decide_actions, evaluate_actions, features, ingest, models_list, models_promote,
    models_show, run, score_customers, train_models,
};
pub use error::{Error, Result, one_line};
pub use evaluation::ModelReport;
pub use ingest::{FileAccount, IngestReport};
pub use kernel::{Settings, new_run_id};
pub use retain_policy::Summary as PolicySummary;
pub use retain_score::DriftRow;
pub use runs::{
    ActionRecord, ActionsRecord, DriftInput, DriftRecord, MODEL_SCORED, MODEL_TRAINED, ModelRecord,
    RUN_FORMAT, RunRecord, ShownRun, SourceRecord, runs_list, runs_show,
};
pub use train::Promote;

pub(crate) use error::df_err;
pub(crate) use kernel::{Ctx, toml_params};

/// How long a stage took and what it produced.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StageReport {
    pub stage: String,
    pub elapsed: Duration,
    pub rows: u64,
    pub detail: String,
}

/// A published table, for the summary.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TableReport {
    pub table: String,
    pub partition: String,
    pub rows: u64,
    pub url: String,
}

impl TableReport {
    /// The summary row of a partition `wh` published.
    pub(crate) fn of(wh: &retain_store::Warehouse, m: &retain_store::Manifest) -> Self {
        TableReport {
            table: m.table.clone(),
            partition: m.partition.clone(),
            rows: m.rows,
            url: wh.root.url_of(&wh.partition_path(&m.table, &m.partition)),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub as_of: NaiveDate,
    pub warehouse: String,
    pub stages: Vec<StageReport>,
    pub ingest: Vec<IngestReport>,
    pub models: Vec<ModelReport>,
    /// The CLV models registered by this run; None when disabled or not identifiable.
    pub clv: Option<clv::ClvReport>,
    pub tables: Vec<TableReport>,
    pub lifecycle_stages: BTreeMap<String, u64>,
    pub shopper_types: BTreeMap<String, u64>,
    pub risk_tiers: BTreeMap<String, u64>,
    /// What the next-best-action policy decided: customers per action (`no_action`
    /// included), budget, controls, reasons; None when the run did not decide actions.
    pub policy: Option<PolicySummary>,
    /// Model inputs whose scored distribution moved away from the training data.
    pub drift: Vec<DriftRow>,
}
