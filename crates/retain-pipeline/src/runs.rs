//! Run history: every writing command leaves `runs/<run_id>.json` in the warehouse
//! (`retain.run/1`, docs/storage.md) when it ends, succeeded or failed, and
//! `retain runs` / `retain runs show` read them back.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{Ctx, Error, Result, Settings, StageReport, TableReport, open_with};

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
    /// Stages with their time and rows (`retain run`; empty for single-stage commands).
    pub stages: Vec<StageReport>,
    /// Partitions published.
    pub tables: Vec<TableReport>,
    /// Model versions this run registered, by model.
    pub models_registered: BTreeMap<String, String>,
    /// Champion versions this run scored with, by model.
    pub models_used: BTreeMap<String, String>,
}

fn path(run_id: &str) -> String {
    format!("runs/{run_id}.json")
}

impl Ctx {
    /// The record of this run so far, ending now with `error` (None: succeeded).
    pub(crate) fn record(&self, error: Option<String>) -> RunRecord {
        let finished_at = Utc::now();
        let mut reasons = BTreeMap::new();
        for r in &self.ingest_reports {
            for (k, v) in &r.reasons {
                *reasons.entry(k.clone()).or_insert(0) += v;
            }
        }
        RunRecord {
            format: RUN_FORMAT.into(),
            run_id: self.settings.run_id.clone(),
            command: self.command.clone(),
            pipeline: self.settings.pipeline.name.clone(),
            as_of: self.settings.as_of,
            started_at: self.started_at,
            finished_at,
            elapsed_ms: (finished_at - self.started_at).num_milliseconds().max(0) as u64,
            status: if error.is_none() {
                "succeeded"
            } else {
                "failed"
            }
            .into(),
            error,
            rows_read: self.ingest_reports.iter().map(|r| r.read).sum(),
            rows_staged: self.ingest_reports.iter().map(|r| r.staged).sum(),
            rows_quarantined: self.ingest_reports.iter().map(|r| r.quarantined).sum(),
            quarantine_reasons: reasons,
            selected_stages: self.selected_stages.clone(),
            stages: self.stages.clone(),
            tables: self.tables.clone(),
            models_registered: self.models_registered.clone(),
            models_used: self.models_used.clone(),
        }
    }

    /// Write this run's record (a failure to write it is logged, not raised: the run's
    /// own outcome matters more).
    pub(crate) async fn write_record(&self, error: Option<String>) {
        let record = self.record(error);
        if let Err(e) = self.wh.put_json(&path(&record.run_id), &record).await {
            tracing::warn!(error = %e, "could not write the run record");
        }
    }
}

/// Every recorded run, newest first (run ids start with their UTC start time).
pub async fn runs_list(settings: Settings) -> Result<Vec<RunRecord>> {
    let ctx = open_with(&settings).await?;
    let mut out = Vec::new();
    for meta in ctx.wh.root.list(&ctx.wh.root.child("runs")).await? {
        let Some(name) = meta.location.filename() else {
            continue;
        };
        let Some(id) = name.strip_suffix(".json") else {
            continue;
        };
        match ctx.wh.get_json::<RunRecord>(&path(id)).await {
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

/// One recorded run.
pub async fn runs_show(settings: Settings, run_id: &str) -> Result<RunRecord> {
    let ctx = open_with(&settings).await?;
    ctx.wh
        .get_json::<RunRecord>(&path(run_id))
        .await?
        .ok_or_else(|| Error::Stage {
            stage: "runs",
            message: format!(
                "no run `{run_id}` in {} (see `retain runs`)",
                ctx.wh.root.url()
            ),
        })
}
