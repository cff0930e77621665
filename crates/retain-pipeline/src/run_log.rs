//! What a writing command did, collected by the command layer from what its stages
//! return, and written as the run record (`runs/<run_id>.json`, [`crate::runs`]) with its
//! HTML report (`runs/<run_id>.html`, [`crate::reports::run`]) when the command ends.
//!
//! Architecture invariant: stages never see a `RunLog`; they return their manifests,
//! counts, model versions and drift, and the command layer adds them here.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use retain_config::Stage;
use retain_store::{Manifest, Warehouse};

use crate::records::ingest::IngestReport;
use crate::runs::{ActionsRecord, DriftRecord, ModelRecord, RUN_FORMAT, RunRecord, SourceRecord};
use crate::{StageReport, TableReport};

/// One writing command's account of itself, for its run record.
#[derive(Debug, Clone)]
pub(crate) struct RunLog {
    pub run_id: String,
    /// `run`, `ingest`, `features`, `clv fit`, `train`, `score`, `actions`.
    pub command: String,
    pub as_of: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub selected_stages: Vec<Stage>,
    pub stages: Vec<StageReport>,
    pub tables: Vec<TableReport>,
    pub ingest: Vec<IngestReport>,
    pub models_registered: BTreeMap<String, String>,
    pub models_used: BTreeMap<String, String>,
    pub drift: Option<DriftRecord>,
    pub models: Vec<ModelRecord>,
    pub actions: Option<ActionsRecord>,
    /// Checks the user overrode (an as-of beyond the data), one sentence each.
    pub overrides: Vec<String>,
}

impl RunLog {
    pub(crate) fn new(run_id: &str, command: &str, as_of: NaiveDate) -> Self {
        RunLog {
            run_id: run_id.to_owned(),
            command: command.to_owned(),
            as_of,
            started_at: Utc::now(),
            selected_stages: Vec::new(),
            stages: Vec::new(),
            tables: Vec::new(),
            ingest: Vec::new(),
            models_registered: BTreeMap::new(),
            models_used: BTreeMap::new(),
            drift: None,
            models: Vec::new(),
            actions: None,
            overrides: Vec::new(),
        }
    }

    /// Record a finished stage (and log it, as `stage finished` with rows and elapsed_ms).
    pub(crate) fn stage(&mut self, stage: &str, started: Instant, rows: u64, detail: String) {
        let elapsed = started.elapsed();
        tracing::info!(
            stage,
            rows,
            elapsed_ms = elapsed.as_millis() as u64,
            "stage finished"
        );
        self.stages.push(StageReport {
            stage: stage.to_owned(),
            elapsed,
            rows,
            detail,
        });
    }

    /// Record published partitions, and return their summary rows.
    pub(crate) fn published<'a>(
        &mut self,
        wh: &Warehouse,
        manifests: impl IntoIterator<Item = &'a Manifest>,
    ) -> Vec<TableReport> {
        let tables: Vec<TableReport> = manifests
            .into_iter()
            .map(|m| TableReport::of(wh, m))
            .collect();
        self.tables.extend(tables.iter().cloned());
        tables
    }

    /// The record of this run so far, ending now with `error` (None: succeeded).
    pub(crate) fn record(
        &self,
        pipeline: &str,
        warehouse: &str,
        error: Option<String>,
    ) -> RunRecord {
        let finished_at = Utc::now();
        let mut reasons = BTreeMap::new();
        for r in &self.ingest {
            for (k, v) in &r.reasons {
                *reasons.entry(k.clone()).or_insert(0) += v;
            }
        }
        RunRecord {
            format: RUN_FORMAT.into(),
            run_id: self.run_id.clone(),
            command: self.command.clone(),
            pipeline: pipeline.to_owned(),
            as_of: self.as_of,
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
            rows_read: self.ingest.iter().map(|r| r.read).sum(),
            rows_staged: self.ingest.iter().map(|r| r.staged).sum(),
            rows_quarantined: self.ingest.iter().map(|r| r.quarantined).sum(),
            quarantine_reasons: reasons,
            selected_stages: self.selected_stages.clone(),
            stages: self.stages.clone(),
            tables: self.tables.clone(),
            models_registered: self.models_registered.clone(),
            models_used: self.models_used.clone(),
            warehouse: warehouse.to_owned(),
            sources: self.ingest.iter().map(SourceRecord::from).collect(),
            drift: self.drift.clone(),
            models: self.models.clone(),
            actions: self.actions.clone(),
            overrides: self.overrides.clone(),
        }
    }

    /// Write the run record and its HTML report beside it (a failure to write either is
    /// logged, not raised: the run's own outcome matters more).
    pub(crate) async fn write(&self, wh: &Warehouse, pipeline: &str, error: Option<String>) {
        let record = self.record(pipeline, &wh.root.url(), error);
        if let Err(e) = wh
            .put_json(&crate::runs::record_path(&record.run_id), &record)
            .await
        {
            tracing::warn!(error = %e, "could not write the run record");
        }
        let report = crate::runs::report_path(&record.run_id);
        match crate::reports::run::html(&record) {
            Ok(html) => {
                let at = wh.root.child(&report);
                if let Err(e) = wh.root.put(&at, html.into_bytes()).await {
                    tracing::warn!(error = %e, "could not write the run report");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not render the run report"),
        }
    }
}
