//! Run history: every writing command leaves `runs/<run_id>.json` in the warehouse
//! (`retain.run/1`, docs/storage.md) and its report `runs/<run_id>.html`
//! (`reports::run`) when it ends, succeeded or failed, and `retain runs` /
//! `retain runs show` read them back.
//!
//! The record keeps its own copies of what the report shows (sources, drift, models,
//! actions) rather than the pipeline's report types, so that those can change without
//! making old records unreadable; every field added after the first records is
//! `#[serde(default)]`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{
    Ctx, DriftRow, Error, IngestReport, ModelReport, PolicySummary, Result, Settings, StageReport,
    TableReport,
};

/// Format tag of a run record.
pub const RUN_FORMAT: &str = "retain.run/1";

/// One command's run, as recorded in the warehouse.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub format: String,
    pub run_id: String,
    /// `run`, `ingest`, `features`, `clv fit`, `train`, `score`, `actions`.
    pub command: String,
    /// The pipeline file's `name`.
    pub pipeline: String,
    pub as_of: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub elapsed_ms: u64,
    /// `succeeded` or `failed`.
    pub status: String,
    /// The error, in one line, when it failed.
    pub error: Option<String>,
    /// Ingest accounting (0 when the command did not ingest).
    pub rows_read: u64,
    pub rows_staged: u64,
    pub rows_quarantined: u64,
    /// Quarantined rows by reason, over every source.
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// The stages `retain run` was asked to run (empty for the single-stage commands,
    /// whose `command` says what they did).
    #[serde(default)]
    pub selected_stages: Vec<retain_config::Stage>,
    /// Stages with their time and rows, in order (the stages that finished, for commands
    /// other than `retain run`, when the command failed).
    pub stages: Vec<StageReport>,
    /// Partitions published.
    pub tables: Vec<TableReport>,
    /// Model versions this run registered, by model.
    pub models_registered: BTreeMap<String, String>,
    /// Champion versions this run scored with, by model.
    pub models_used: BTreeMap<String, String>,
    /// The warehouse URL.
    #[serde(default)]
    pub warehouse: String,
    /// Ingest accounting per source, in ingest order (empty when the command did not
    /// ingest). On a quarantine-threshold breach: what the refused ingest counted.
    #[serde(default)]
    pub sources: Vec<SourceRecord>,
    /// Every input of the scoring models compared with the champion's training data (None
    /// when the command did not score).
    #[serde(default)]
    pub drift: Option<DriftRecord>,
    /// Models trained in this run, then the champions it scored with, with their metrics.
    #[serde(default)]
    pub models: Vec<ModelRecord>,
    /// What the next-best-action policy decided (None when the command decided nothing).
    #[serde(default)]
    pub actions: Option<ActionsRecord>,
    /// Checks the user overrode for this run (an as-of beyond the data), one sentence
    /// each; absent when there were none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
}

/// One source's ingest accounting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The canonical table (`orders`, ...).
    pub table: String,
    /// Where it was read (or why an optional source was skipped).
    pub source: String,
    pub read: u64,
    pub staged: u64,
    pub quarantined: u64,
    /// Exact duplicates dropped.
    pub duplicates: u64,
    /// Quarantined rows by reason code.
    pub reasons: BTreeMap<String, u64>,
}

impl From<&IngestReport> for SourceRecord {
    fn from(r: &IngestReport) -> Self {
        SourceRecord {
            table: r.table.clone(),
            source: r.source.clone(),
            read: r.read,
            staged: r.staged,
            quarantined: r.quarantined,
            duplicates: r.duplicates,
            reasons: r.reasons.clone(),
        }
    }
}

/// Scoring drift: the thresholds (`[score] drift_shift`, `drift_null_share`) and every
/// model input, drifted or not, in model then input order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftRecord {
    /// An input drifted when its mean moved more than this many training standard
    /// deviations...
    #[serde(deserialize_with = "f64_or_nan")]
    pub shift_threshold: f64,
    /// ...or its null share changed by more than this (absolute).
    #[serde(deserialize_with = "f64_or_nan")]
    pub null_share_threshold: f64,
    pub inputs: Vec<DriftInput>,
}

/// One model input at scoring against the champion's training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftInput {
    pub model: String,
    pub feature: String,
    pub training_mean: Option<f64>,
    /// None when no scored row had a value.
    pub scoring_mean: Option<f64>,
    pub training_null_share: Option<f64>,
    pub scoring_null_share: Option<f64>,
    /// |scoring mean − training mean| / training standard deviation.
    pub shift_in_sd: Option<f64>,
    pub drifted: bool,
}

impl DriftRecord {
    pub(crate) fn new(thresholds: retain_score::DriftThresholds, rows: &[DriftRow]) -> Self {
        let finite = |v: f64| v.is_finite().then_some(v);
        DriftRecord {
            shift_threshold: thresholds.shift,
            null_share_threshold: thresholds.null_share,
            inputs: rows
                .iter()
                .map(|r| DriftInput {
                    model: r.model.clone(),
                    feature: r.feature.clone(),
                    training_mean: finite(r.training_mean),
                    scoring_mean: r.scoring_mean.and_then(finite),
                    training_null_share: finite(r.training_null_share),
                    scoring_null_share: finite(r.scoring_null_share),
                    shift_in_sd: r.shift.and_then(finite),
                    drifted: r.drifted,
                })
                .collect(),
        }
    }
}

/// `trained`: registered by this run; `scored`: a champion this run scored with.
pub const MODEL_TRAINED: &str = "trained";
pub const MODEL_SCORED: &str = "scored";

/// A model version with its headline metrics (out of time unless said otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub model: String,
    pub version: String,
    /// [`MODEL_TRAINED`] or [`MODEL_SCORED`].
    pub role: String,
    pub algorithm: String,
    pub validation_snapshot: Option<NaiveDate>,
    /// ROC AUC on the validation snapshot.
    pub validation_auc: Option<f64>,
    /// ROC AUC of the naive recency baseline on the same snapshot.
    pub baseline_auc: Option<f64>,
    /// ROC AUC on the rows it was fitted on.
    pub train_auc: Option<f64>,
    /// Expected calibration error on the validation snapshot.
    pub ece: Option<f64>,
    /// Rows the estimator was fitted on.
    pub training_rows: Option<u64>,
    pub validation_rows: Option<u64>,
    /// What happened to the champion pointer (trained models).
    pub promotion: Option<String>,
}

impl ModelRecord {
    pub(crate) fn trained(r: &ModelReport) -> Self {
        ModelRecord {
            model: r.name.clone(),
            version: r.version.clone(),
            role: MODEL_TRAINED.into(),
            algorithm: r.algorithm.clone(),
            validation_snapshot: Some(r.validation_snapshot),
            validation_auc: r.validation_auc,
            baseline_auc: r.baseline.as_ref().and_then(|b| b.roc_auc),
            train_auc: r.train_auc,
            ece: r.validation.ece,
            training_rows: Some(r.training_rows),
            validation_rows: Some(r.validation_rows),
            promotion: Some(r.promotion.clone()),
        }
    }

    /// A champion this run scored with, its metrics from the version's `metrics.json`
    /// (hash-verified). Metrics that cannot be read are left out, with a warning: the
    /// record is not worth failing a run for.
    pub(crate) async fn scored(ctx: &Ctx, model: &retain_model::ModelArtifact) -> Self {
        let mut r = ModelRecord {
            model: model.name.clone(),
            version: model.version.clone(),
            role: MODEL_SCORED.into(),
            algorithm: model.estimator.kind().into(),
            validation_snapshot: model.training.validation_snapshot.parse().ok(),
            validation_auc: None,
            baseline_auc: None,
            train_auc: None,
            ece: None,
            training_rows: Some(model.training.fit_rows),
            validation_rows: None,
            promotion: None,
        };
        let metrics =
            crate::registry::read_verified(&ctx.wh, &model.name, &model.version, "metrics.json")
                .await
                .and_then(|bytes| {
                    serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|source| {
                        crate::registry::RegistryError::Unreadable {
                            path: format!("models/{}/{}/metrics.json", model.name, model.version),
                            expected: "JSON",
                            source,
                        }
                        .into()
                    })
                });
        match metrics {
            Ok(m) => {
                let f = |v: &serde_json::Value| v.as_f64().filter(|x| x.is_finite());
                r.validation_auc = f(&m["validation"]["roc_auc"]);
                r.ece = f(&m["validation"]["ece"]);
                r.validation_rows = m["validation"]["rows"].as_u64();
                r.baseline_auc = f(&m["baseline"]["validation"]["roc_auc"]);
                r.train_auc = f(&m["train"]["roc_auc"]);
            }
            Err(e) => tracing::warn!(
                model = %model.name,
                version = %model.version,
                error = %e,
                "could not read the champion's metrics for the run record"
            ),
        }
        r
    }
}

/// What the next-best-action policy decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionsRecord {
    /// `name@fingerprint` of the policy, as in the table's `policy` column.
    pub policy: String,
    /// Customers decided for.
    pub customers: u64,
    /// Per action, by name (`no_action` is not one: see `no_action`).
    pub actions: BTreeMap<String, ActionRecord>,
    /// Customers without an action, by the kind of reason.
    pub no_action: BTreeMap<String, u64>,
    /// Customers held out as controls, over every action.
    pub controls: u64,
    /// Cost of the treated customers, and the policy's overall budget if it has one.
    #[serde(deserialize_with = "f64_or_nan")]
    pub spent: f64,
    pub budget: Option<f64>,
    /// Expected value of the treated customers.
    #[serde(deserialize_with = "f64_or_nan")]
    pub expected_value: f64,
}

/// One action's counts in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// Treated + control.
    pub selected: u64,
    pub treated: u64,
    pub control: u64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub spent: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub expected_value: f64,
    pub capacity: Option<u64>,
    pub budget: Option<f64>,
}

impl ActionsRecord {
    pub(crate) fn new(policy: String, s: &PolicySummary) -> Self {
        ActionsRecord {
            policy,
            customers: s.customers,
            actions: s
                .actions
                .iter()
                .filter(|(name, _)| name.as_str() != retain_config::policy::NO_ACTION)
                .map(|(name, a)| {
                    (
                        name.clone(),
                        ActionRecord {
                            selected: a.selected,
                            treated: a.treated,
                            control: a.control,
                            spent: a.spent,
                            expected_value: a.expected_value,
                            capacity: a.capacity,
                            budget: a.budget,
                        },
                    )
                })
                .collect(),
            no_action: s.no_action.clone(),
            controls: s.controls,
            spent: s.spent,
            budget: s.budget,
            expected_value: s.expected_value,
        }
    }
}

/// A float written by serde_json, where a NaN or an infinity was written as `null`.
fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Where a run's record is, relative to the warehouse.
pub(crate) fn record_path(run_id: &str) -> String {
    format!("runs/{run_id}.json")
}

/// Where a run's report is, relative to the warehouse.
pub(crate) fn report_path(run_id: &str) -> String {
    format!("runs/{run_id}.html")
}

/// One recorded run, as `retain runs show` prints it.
#[derive(Debug, Clone)]
pub struct ShownRun {
    pub record: RunRecord,
    /// URL of the run's report (`runs/<run_id>.html`); None when there is none (a run
    /// recorded before run reports were written, or one whose report could not be).
    pub report: Option<String>,
}

/// Every recorded run, newest first (run ids start with their UTC start time).
/// The warehouse of `settings`, to read what is published (`retain tables`): no lock,
/// no clean-up.
pub async fn open_warehouse(settings: &Settings) -> Result<retain_store::Warehouse> {
    Ok(Ctx::open(settings, "").await?.wh)
}

pub async fn runs_list(settings: &Settings) -> Result<Vec<RunRecord>> {
    let ctx = Ctx::open(settings, "").await?;
    let mut out = Vec::new();
    for meta in ctx.wh.root.list(&ctx.wh.root.child("runs")).await? {
        let Some(name) = meta.location.filename() else {
            continue;
        };
        let Some(id) = name.strip_suffix(".json") else {
            continue;
        };
        match ctx.wh.get_json::<RunRecord>(&record_path(id)).await {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(e) => tracing::warn!(run = id, error = %e, "skipping an unreadable run record"),
        }
    }
    out.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then(b.run_id.cmp(&a.run_id))
    });
    Ok(out)
}

/// One recorded run and where its report is.
pub async fn runs_show(settings: &Settings, run_id: &str) -> Result<ShownRun> {
    let ctx = Ctx::open(settings, "").await?;
    let record = ctx
        .wh
        .get_json::<RunRecord>(&record_path(run_id))
        .await?
        .ok_or_else(|| Error::NoRun {
            run_id: run_id.to_owned(),
            root: ctx.wh.root.url(),
        })?;
    let at = ctx.wh.root.child(&report_path(run_id));
    let report = if ctx.wh.root.exists(&at).await? {
        Some(ctx.wh.root.url_of(&at))
    } else {
        None
    };
    Ok(ShownRun { record, report })
}
