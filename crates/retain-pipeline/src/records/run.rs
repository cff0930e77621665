//! What a command did, as the CLI prints it: stage timings, the tables published, and
//! `retain run`'s whole report.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use retain_policy::Summary as PolicySummary;
use retain_score::DriftRow;
use serde::Serialize;

use super::clv::ClvReport;
use super::ingest::IngestReport;
use super::training::ModelReport;

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
    /// The version of the table's Delta log that published the partition: a Delta
    /// reader reads exactly this run's tables at these versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_version: Option<u64>,
    /// What it was computed from, from its manifest: `location (version)`, locations
    /// inside the warehouse relative to it (docs/storage.md, "Time").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
}

impl TableReport {
    /// The summary row of a partition `wh` published.
    pub(crate) fn of(wh: &retain_store::Warehouse, m: &retain_store::Manifest) -> Self {
        TableReport {
            table: m.table.clone(),
            partition: m.partition.clone(),
            rows: m.rows,
            url: wh.root.url_of(&wh.partition_path(&m.table, &m.partition)),
            table_version: m.table_version,
            inputs: m
                .inputs
                .iter()
                .map(|i| {
                    let place = under_warehouse(&wh.root.url(), &i.location);
                    match &i.version {
                        Some(v) => format!("{place} ({v})"),
                        None => place.to_owned(),
                    }
                })
                .collect(),
        }
    }
}

/// `location` relative to the warehouse URL when it lies inside it, else in full (the
/// run report's tables stay narrow).
pub fn under_warehouse<'a>(warehouse: &str, location: &'a str) -> &'a str {
    let root = format!("{}/", warehouse.trim_end_matches('/'));
    match location.strip_prefix(&root) {
        Some(rel) if !warehouse.is_empty() => rel,
        _ => location,
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
    pub clv: Option<ClvReport>,
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

#[cfg(test)]
mod tests {
    use super::under_warehouse;

    #[test]
    fn only_locations_inside_the_warehouse_are_shortened() {
        let wh = "file:///data/wh";
        assert_eq!(
            under_warehouse(wh, "file:///data/wh/raw/orders.csv"),
            "raw/orders.csv"
        );
        assert_eq!(
            under_warehouse("file:///data/wh/", "file:///data/wh/staged/orders"),
            "staged/orders"
        );
        // A sibling whose name starts with the warehouse's is not inside it.
        assert_eq!(
            under_warehouse(wh, "file:///data/wh2/x"),
            "file:///data/wh2/x"
        );
        assert_eq!(under_warehouse("", "raw/orders.csv"), "raw/orders.csv");
    }
}
