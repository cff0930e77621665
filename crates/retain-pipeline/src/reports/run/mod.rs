//! `runs/<run_id>.html`: one command's run as a self-contained page (retain-report: SVG
//! charts inlined, nothing loaded from elsewhere), written beside its run record.
//!
//! [`html`] renders from the [`RunRecord`] alone, so any record can be rendered again
//! (`retain runs show --json` prints one) and the page is tested without a warehouse. The
//! same record gives the same bytes. A section whose work the command did not do (no
//! ingest in `retain score`, no scoring in `retain ingest`, ...) says so in one line
//! instead of drawing an empty chart.
mod actions;
mod drift;
mod models;
mod sources;

use retain_report::{Chart, HorizontalBarChart, Report, fmt_num};

use crate::runs::RunRecord;

/// The section headings, in page order.
pub const SECTIONS: [&str; 6] = [
    "Timings per stage",
    "Rows in, staged and quarantined",
    "Feature null rates and drift",
    "Model metrics",
    "Action mix",
    "Tables published",
];

/// A chart shows at most this many rows (the largest); its table lists every one.
pub const MAX_CHART_ROWS: usize = 80;

/// Quarantine reasons listed.
const TOP_REASONS: usize = 10;

/// The run report of `r`.
pub fn html(r: &RunRecord) -> Result<String, retain_report::Error> {
    let mut page = Report::new(format!("Run {} (retain {})", r.run_id, r.command));
    header(&mut page, r);
    timings(&mut page, r)?;
    sources::section(&mut page, r)?;
    drift::section(&mut page, r)?;
    models::section(&mut page, r)?;
    actions::section(&mut page, r)?;
    tables(&mut page, r);
    Ok(page.to_html())
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{}%", fmt_num(100.0 * part / whole))
    } else {
        "n/a".to_owned()
    }
}

fn share(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{}%", fmt_num(100.0 * v)))
}

/// A number as the tables print it; beyond a billion in scientific notation (a training
/// mean can be absurd, and should still fit its cell).
fn num(v: Option<f64>) -> String {
    match v {
        None => "n/a".to_owned(),
        Some(v) if v.abs() >= 1e9 => format!("{v:.3e}"),
        Some(v) => fmt_num(v),
    }
}

fn auc(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.4}"))
}

fn money(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "n/a".to_owned()
    }
}

fn count(v: Option<u64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
}

fn strings(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// A horizontal bar chart of at most [`MAX_CHART_ROWS`] rows: beyond that, the rows with
/// the largest first-series values, in their order, and a note saying so.
fn bars(
    page: &mut Report,
    title: &str,
    x_label: &str,
    categories: Vec<String>,
    series: Vec<(String, Vec<f64>)>,
    references: Vec<(String, f64)>,
) -> Result<(), retain_report::Error> {
    let n = categories.len();
    let keep: Vec<usize> = if n > MAX_CHART_ROWS {
        let first = series.first().map(|(_, v)| v.as_slice()).unwrap_or(&[]);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let (va, vb) = (first.get(a).copied(), first.get(b).copied());
            vb.partial_cmp(&va)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
        order.truncate(MAX_CHART_ROWS);
        order.sort_unstable();
        page.paragraph(&format!(
            "The chart below shows the {MAX_CHART_ROWS} largest of {n} rows; the table lists every one."
        ));
        order
    } else {
        (0..n).collect()
    };
    let pick = |v: &[f64]| keep.iter().filter_map(|&i| v.get(i).copied()).collect();
    page.chart(&Chart::HorizontalBars(HorizontalBarChart {
        title: title.to_owned(),
        x_label: x_label.to_owned(),
        categories: keep.iter().map(|&i| categories[i].clone()).collect(),
        series: series
            .iter()
            .map(|(name, v)| (name.clone(), pick(v)))
            .collect(),
        references,
    }))?;
    Ok(())
}

fn header(page: &mut Report, r: &RunRecord) {
    let failed = r.status != "succeeded";
    page.paragraph(&if failed {
        format!(
            "retain {} of pipeline {} as of {} failed after {}: {}",
            r.command,
            r.pipeline,
            r.as_of,
            seconds(r.elapsed_ms),
            r.error.as_deref().unwrap_or("no error recorded")
        )
    } else {
        format!(
            "retain {} of pipeline {} as of {} succeeded in {}.",
            r.command,
            r.pipeline,
            r.as_of,
            seconds(r.elapsed_ms)
        )
    });
    let time = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let mut rows = vec![
        strings(&["run id", &r.run_id]),
        strings(&["command", &format!("retain {}", r.command)]),
        strings(&["pipeline", &r.pipeline]),
        strings(&["as of", &r.as_of.to_string()]),
        strings(&["status", &r.status]),
    ];
    if !r.selected_stages.is_empty() {
        let names: Vec<&str> = r.selected_stages.iter().map(|s| s.as_str()).collect();
        let all = r.selected_stages == retain_config::Stage::ALL;
        rows.push(strings(&[
            "stages asked for",
            &format!("{}{}", names.join(", "), if all { " (all)" } else { "" }),
        ]));
    }
    if let Some(e) = &r.error {
        rows.push(strings(&["error", e]));
    }
    for o in &r.overrides {
        rows.push(strings(&["override", o]));
    }
    rows.extend([
        strings(&["started", &time(&r.started_at)]),
        strings(&["finished", &time(&r.finished_at)]),
        strings(&["total time", &seconds(r.elapsed_ms)]),
        strings(&[
            "warehouse",
            if r.warehouse.is_empty() {
                "not recorded"
            } else {
                &r.warehouse
            },
        ]),
        strings(&["record", &format!("runs/{}.json ({})", r.run_id, r.format)]),
    ]);
    page.table("", &[], &rows);
}

fn timings(page: &mut Report, r: &RunRecord) -> Result<(), retain_report::Error> {
    page.heading(SECTIONS[0]);
    if r.stages.is_empty() {
        page.paragraph(if r.status == "succeeded" {
            "This run recorded no stage timings."
        } else {
            "No stage finished before the run failed, so there are no stage timings."
        });
        return Ok(());
    }
    let secs: Vec<f64> = r.stages.iter().map(|s| s.elapsed.as_secs_f64()).collect();
    let staged: f64 = secs.iter().sum();
    let total = r.elapsed_ms as f64 / 1000.0;
    page.paragraph(&format!(
        "{} stages took {} s of the run's {} s; the rest is opening the warehouse, the \
         write lock, clean-up and this record.",
        r.stages.len(),
        fmt_num(staged),
        fmt_num(total)
    ));
    bars(
        page,
        "Time per stage",
        "seconds",
        r.stages.iter().map(|s| s.stage.clone()).collect(),
        vec![("seconds".to_owned(), secs.clone())],
        vec![],
    )?;
    let rows: Vec<Vec<String>> = r
        .stages
        .iter()
        .zip(&secs)
        .map(|(s, t)| {
            vec![
                s.stage.clone(),
                fmt_num(*t),
                percent(*t, total),
                s.rows.to_string(),
                s.detail.clone(),
            ]
        })
        .collect();
    page.table(
        "Stages in order",
        &["stage", "seconds", "share of the run", "rows", "detail"],
        &rows,
    );
    Ok(())
}

fn tables(page: &mut Report, r: &RunRecord) {
    page.heading(SECTIONS[5]);
    if r.tables.is_empty() {
        page.paragraph("This command published no table.");
        return;
    }
    let rows: Vec<Vec<String>> = r
        .tables
        .iter()
        .map(|t| {
            vec![
                t.table.clone(),
                t.partition.clone(),
                t.rows.to_string(),
                t.url.clone(),
                inputs_cell(&t.inputs),
            ]
        })
        .collect();
    page.table(
        "Partitions published (each with its _manifest.json), with what each was computed from",
        &["table", "partition", "rows", "location", "inputs"],
        &rows,
    );
}

/// A partition's inputs in one cell: up to three, then how many more (a source of
/// many files lists them all in its manifest).
fn inputs_cell(inputs: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut cell = inputs
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if inputs.len() > SHOWN {
        cell.push_str(&format!("; +{} more", inputs.len() - SHOWN));
    }
    cell
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use chrono::{NaiveDate, TimeZone, Utc};

    use super::*;
    use crate::runs::{
        ActionRecord, ActionsRecord, DriftInput, DriftRecord, MODEL_SCORED, MODEL_TRAINED,
        ModelRecord, RUN_FORMAT, SourceRecord,
    };
    use crate::{StageReport, TableReport};

    fn stage(name: &str, ms: u64, rows: u64) -> StageReport {
        StageReport {
            stage: name.to_owned(),
            elapsed: Duration::from_millis(ms),
            rows,
            detail: format!("{name} detail"),
        }
    }

    fn input(model: &str, feature: &str, shift: Option<f64>, nulls: (f64, f64)) -> DriftInput {
        DriftInput {
            model: model.to_owned(),
            feature: feature.to_owned(),
            training_mean: Some(10.0),
            scoring_mean: shift.map(|s| 10.0 + 2.0 * s),
            training_null_share: Some(nulls.0),
            scoring_null_share: Some(nulls.1),
            shift_in_sd: shift,
            drifted: shift.is_none_or(|s| s > 0.5) || (nulls.1 - nulls.0).abs() > 0.1,
        }
    }

    /// A record with nothing done: what a command that failed at once leaves.
    fn empty(status: &str, error: Option<&str>) -> RunRecord {
        RunRecord {
            format: RUN_FORMAT.to_owned(),
            run_id: "20261101T060000Z-00ab".to_owned(),
            command: "score".to_owned(),
            pipeline: "demo".to_owned(),
            as_of: NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
            started_at: Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap(),
            finished_at: Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 3).unwrap(),
            elapsed_ms: 3_000,
            status: status.to_owned(),
            error: error.map(str::to_owned),
            rows_read: 0,
            rows_staged: 0,
            rows_quarantined: 0,
            quarantine_reasons: BTreeMap::new(),
            selected_stages: vec![],
            stages: vec![],
            tables: vec![],
            models_registered: BTreeMap::new(),
            models_used: BTreeMap::new(),
            warehouse: "file:///data/warehouse".to_owned(),
            sources: vec![],
            drift: None,
            models: vec![],
            actions: None,
            overrides: Vec::new(),
        }
    }

    /// A whole `retain run`: every section has something to show.
    fn full() -> RunRecord {
        let mut r = empty("succeeded", None);
        r.command = "run".to_owned();
        r.selected_stages = retain_config::Stage::ALL.to_vec();
        r.elapsed_ms = 41_000;
        r.stages = vec![
            stage("ingest", 9_000, 1_200),
            stage("features", 4_000, 500),
            stage("train churn", 12_000, 2_400),
            stage("train repeat_purchase", 8_000, 900),
            stage("score", 3_000, 500),
            stage("next best action", 2_000, 500),
        ];
        r.sources = vec![
            SourceRecord {
                table: "customers".to_owned(),
                source: "file:///data/raw/customers.csv".to_owned(),
                read: 500,
                staged: 497,
                quarantined: 3,
                duplicates: 0,
                reasons: BTreeMap::from([("missing_customer_id".to_owned(), 3)]),
            },
            SourceRecord {
                table: "orders".to_owned(),
                source: "file:///data/warehouse/raw/orders.csv".to_owned(),
                read: 712,
                staged: 700,
                quarantined: 10,
                duplicates: 2,
                reasons: BTreeMap::from([
                    ("bad_amount".to_owned(), 7),
                    ("unparseable_date".to_owned(), 3),
                ]),
            },
        ];
        r.rows_read = 1_212;
        r.rows_staged = 1_197;
        r.rows_quarantined = 13;
        r.quarantine_reasons = BTreeMap::from([
            ("bad_amount".to_owned(), 7),
            ("missing_customer_id".to_owned(), 3),
            ("unparseable_date".to_owned(), 3),
        ]);
        r.drift = Some(DriftRecord {
            shift_threshold: 0.5,
            null_share_threshold: 0.1,
            inputs: vec![
                input("churn", "recency_days", Some(0.1), (0.0, 0.0)),
                input("churn", "tenure_days", Some(0.9), (0.0, 0.0)),
                DriftInput {
                    training_mean: Some(8.985_041e28),
                    ..input("churn", "p_alive", Some(0.2), (0.05, 0.3))
                },
                input("repeat_purchase", "recency_days", Some(0.05), (0.0, 0.0)),
                input("repeat_purchase", "sessions_trend", None, (0.2, 1.0)),
            ],
        });
        r.models = vec![
            ModelRecord {
                model: "churn".to_owned(),
                version: "v0002".to_owned(),
                role: MODEL_TRAINED.to_owned(),
                algorithm: "logistic".to_owned(),
                validation_snapshot: NaiveDate::from_ymd_opt(2026, 8, 3),
                validation_auc: Some(0.8123),
                baseline_auc: Some(0.7345),
                train_auc: Some(0.83),
                ece: Some(0.012),
                training_rows: Some(2_000),
                validation_rows: Some(400),
                promotion: Some("promoted to champion".to_owned()),
            },
            ModelRecord {
                model: "churn".to_owned(),
                version: "v0002".to_owned(),
                role: MODEL_SCORED.to_owned(),
                algorithm: "logistic".to_owned(),
                validation_snapshot: NaiveDate::from_ymd_opt(2026, 8, 3),
                validation_auc: Some(0.8123),
                baseline_auc: None,
                train_auc: None,
                ece: None,
                training_rows: Some(2_000),
                validation_rows: None,
                promotion: None,
            },
        ];
        r.models_registered = BTreeMap::from([("churn".to_owned(), "v0002".to_owned())]);
        r.models_used = BTreeMap::from([("churn".to_owned(), "v0002".to_owned())]);
        let action = |selected, control, spent| ActionRecord {
            selected,
            treated: selected - control,
            control,
            spent,
            expected_value: spent * 3.0,
            capacity: None,
            budget: Some(1_000.0),
        };
        r.actions = Some(ActionsRecord {
            policy: "retention@0123abcd".to_owned(),
            customers: 500,
            actions: BTreeMap::from([
                ("service_recovery".to_owned(), action(40, 4, 180.0)),
                ("welcome_offer".to_owned(), action(75, 8, 335.0)),
            ]),
            no_action: BTreeMap::from([
                ("not eligible".to_owned(), 300),
                ("below cost".to_owned(), 85),
            ]),
            controls: 12,
            spent: 515.0,
            budget: None,
            expected_value: 1_545.0,
        });
        r.overrides = vec![
            "as-of 2030-01-01 is beyond the data (last facts: orders 2026-10-31), allowed by --allow-as-of-beyond-data".to_owned(),
        ];
        r.tables = vec![TableReport {
            table: "scores/next_best_action".to_owned(),
            partition: "as_of=2026-11-01".to_owned(),
            rows: 500,
            url: "file:///data/warehouse/scores/next_best_action/as_of=2026-11-01".to_owned(),
            table_version: Some(4),
            inputs: vec![
                "scores/customer_risk/as_of=2026-11-01 (20261101T020000Z-0001)".to_owned(),
                "features/customer/as_of=2026-11-01 (20261101T020000Z-0001)".to_owned(),
            ],
        }];
        r
    }

    fn render(r: &RunRecord) -> String {
        html(r).unwrap_or_else(|e| panic!("renders: {e}"))
    }

    #[test]
    fn a_full_run_renders_every_section_with_its_numbers_deterministically() {
        let r = full();
        let page = render(&r);
        assert_eq!(page, render(&r.clone()), "same record, same bytes");
        for h in SECTIONS {
            assert!(page.contains(&format!("<h2>{h}</h2>")), "no section {h}");
        }
        // Charts: stages, sources, null shares, one shift chart per model, AUC, actions,
        // no_action reasons.
        assert_eq!(page.matches("<img ").count(), 8, "{page}");
        for needle in [
            // The totals row of the sources table.
            "<tr><td>total</td><td class=\"num\">1212</td><td class=\"num\">1197</td><td class=\"num\">13</td><td class=\"num\">2</td>",
            // A source under the warehouse is shown relative to it, another in full.
            "<td class=\"num\">0.6%</td><td>file:///data/raw/customers.csv</td></tr>",
            "<td class=\"num\">1.4%</td><td>raw/orders.csv</td></tr>",
            // Top quarantine reason first.
            "<tr><td>orders</td><td>bad_amount</td><td class=\"num\">7</td>",
            "Top quarantine reasons (3 of 3 by rows",
            // Drift: the summary names the drifted inputs, the table marks them.
            "3 of 5 inputs",
            "churn tenure_days, churn p_alive, repeat_purchase sessions_trend",
            "<td>tenure_days</td><td class=\"num\">10</td><td class=\"num\">11.8</td><td class=\"num\">0%</td><td class=\"num\">0%</td><td class=\"num\">0.9</td><td>DRIFTED</td>",
            "alt=\"Mean shift per input, churn\"",
            "alt=\"Mean shift per input, repeat_purchase\"",
            "1 inputs of repeat_purchase have no mean shift",
            // An absurd mean still fits its cell.
            "<td>p_alive</td><td class=\"num\">8.985e28</td>",
            // Models.
            "<tr><td>churn</td><td>v0002</td><td>trained</td><td class=\"num\">0.8123</td><td class=\"num\">0.7345</td><td class=\"num\">0.8300</td><td class=\"num\">0.0120</td><td class=\"num\">2000</td><td class=\"num\">400</td></tr>",
            "<tr><td>churn</td><td>v0002</td><td>scored with</td><td class=\"num\">0.8123</td><td>n/a</td>",
            "<tr><td>churn</td><td>v0002</td><td>trained</td><td>logistic</td><td>2026-08-03</td><td>promoted to champion</td></tr>",
            // Actions.
            "<tr><td>welcome_offer</td><td class=\"num\">75</td><td class=\"num\">67</td><td class=\"num\">8</td><td class=\"num\">335.00</td>",
            "<tr><td>total</td><td class=\"num\">115</td><td class=\"num\">103</td><td class=\"num\">12</td><td class=\"num\">515.00</td>",
            "(no overall budget)",
            "<tr><td>not eligible</td><td class=\"num\">300</td>",
            // Header and stages.
            "<td>warehouse</td><td>file:///data/warehouse</td>",
            "<td>total time</td><td>41.0 s</td>",
            "<td>stages asked for</td><td>ingest, features, clv, train, score, actions (all)</td>",
            "<tr><td>train repeat_purchase</td><td class=\"num\">8</td>",
            // Each partition with what it was computed from.
            "<td>scores/customer_risk/as_of=2026-11-01 (20261101T020000Z-0001); features/customer/as_of=2026-11-01 (20261101T020000Z-0001)</td></tr>",
            // The override of a check, in the header.
            "<td>override</td><td>as-of 2030-01-01 is beyond the data",
        ] {
            assert!(page.contains(needle), "no `{needle}` in the page");
        }
        assert!(!page.contains("could not"), "{page}");
    }

    #[test]
    fn a_failed_run_shows_its_error() {
        let r = empty(
            "failed",
            Some("registry: model `churn` has no champion <run retain train>"),
        );
        let page = render(&r);
        assert!(page.contains("<td>status</td><td>failed</td>"), "{page}");
        assert!(
            page.contains(
                "retain score of pipeline demo as of 2026-11-01 failed after 3.0 s: registry: \
                 model `churn` has no champion &lt;run retain train&gt;"
            ),
            "{page}"
        );
        assert!(page.contains("<td>error</td><td>registry: model `churn` has no champion"));
        assert!(page.contains("No stage finished before the run failed"));
    }

    #[test]
    fn work_not_done_is_one_line_not_an_empty_chart() {
        let page = render(&empty("succeeded", None));
        assert_eq!(page.matches("<img ").count(), 0, "{page}");
        for h in SECTIONS {
            assert!(page.contains(&format!("<h2>{h}</h2>")), "no section {h}");
        }
        for line in [
            "This run recorded no stage timings.",
            "This command did not ingest",
            "This command did not score",
            "This command trained no model and scored with none.",
            "This command decided no actions.",
            "This command published no table.",
        ] {
            assert!(page.contains(line), "no `{line}` in {page}");
        }
        // Some work with nothing to chart: scoring whose inputs have no nulls, a policy that
        // selected nobody, an ingest that quarantined nothing.
        let mut r = full();
        for s in &mut r.sources {
            s.staged += s.quarantined;
            s.quarantined = 0;
            s.reasons.clear();
        }
        r.rows_quarantined = 0;
        r.quarantine_reasons.clear();
        if let Some(d) = &mut r.drift {
            for i in &mut d.inputs {
                i.training_null_share = Some(0.0);
                i.scoring_null_share = Some(0.0);
            }
        }
        if let Some(a) = &mut r.actions {
            a.actions.clear();
            a.no_action.clear();
        }
        let page = render(&r);
        for line in [
            "No row was quarantined.",
            "No model input has missing values",
            "No customer was selected for any action.",
            "Every customer got an action.",
        ] {
            assert!(page.contains(line), "no `{line}`");
        }
    }

    #[test]
    fn long_charts_keep_the_largest_rows_and_the_table_keeps_all() {
        let mut r = full();
        let n = MAX_CHART_ROWS + 20;
        r.drift = Some(DriftRecord {
            shift_threshold: 0.5,
            null_share_threshold: 0.1,
            inputs: (0..n)
                .map(|i| input("churn", &format!("f{i}"), Some(i as f64 / 10.0), (0.0, 0.0)))
                .collect(),
        });
        let page = render(&r);
        assert!(page.contains(&format!("shows the {MAX_CHART_ROWS} largest of {n} rows")));
        assert!(page.contains(&format!("<td>f{}</td>", n - 1)));
        assert!(page.contains("<td>f0</td>"));
    }

    /// A record written before the report's fields parses, and renders what it has.
    #[test]
    fn an_old_record_parses_and_renders() {
        let old = r#"{
          "format": "retain.run/1", "run_id": "20261101T060000Z-0001", "command": "ingest",
          "pipeline": "demo", "as_of": "2026-11-01",
          "started_at": "2026-11-01T06:00:00Z", "finished_at": "2026-11-01T06:00:09Z",
          "elapsed_ms": 9000, "status": "succeeded", "error": null,
          "rows_read": 100, "rows_staged": 98, "rows_quarantined": 2,
          "quarantine_reasons": {"bad_amount": 2}, "stages": [], "tables": [],
          "models_registered": {}, "models_used": {"churn": "v0001"}
        }"#;
        let r: RunRecord = serde_json::from_str(old).expect("an old record parses");
        assert!(r.sources.is_empty() && r.drift.is_none() && r.warehouse.is_empty());
        let page = render(&r);
        assert!(page.contains("this record has no per-source accounting"));
        assert!(
            page.contains("<tr><td>all sources</td><td>bad_amount</td><td class=\"num\">2</td>")
        );
        assert!(page.contains("<td>warehouse</td><td>not recorded</td>"));
        assert!(page.contains("<td>churn</td><td>v0001</td><td>scored with</td>"));
    }

    /// `no_action` is not an action: its customers are counted by reason.
    #[test]
    fn the_policy_summary_is_recorded_without_no_action() {
        let action = |selected, treated| retain_policy::ActionSummary {
            selected,
            treated,
            control: selected - treated,
            ..Default::default()
        };
        let summary = crate::PolicySummary {
            customers: 10,
            actions: BTreeMap::from([
                ("no_action".to_owned(), action(7, 0)),
                ("win_back".to_owned(), action(3, 2)),
            ]),
            no_action: BTreeMap::from([("below cost".to_owned(), 7)]),
            controls: 1,
            ..Default::default()
        };
        let a = ActionsRecord::new("p@1".to_owned(), &summary);
        assert_eq!(a.actions.keys().collect::<Vec<_>>(), ["win_back"]);
        let mut r = empty("succeeded", None);
        r.actions = Some(a);
        let page = render(&r);
        assert!(page.contains("3 selected for one of 1 actions (2 treated, 1 held out as controls), 7 without an action"), "{page}");
    }

    /// serde_json writes a NaN as null; the record must still read back.
    #[test]
    fn non_finite_numbers_round_trip() {
        let mut r = full();
        if let Some(a) = &mut r.actions {
            a.spent = f64::NAN;
            a.expected_value = f64::INFINITY;
        }
        let json = serde_json::to_string(&r).expect("serialises");
        let back: RunRecord = serde_json::from_str(&json).expect("reads back");
        let a = back.actions.as_ref().expect("actions");
        assert!(a.spent.is_nan() && a.expected_value.is_nan());
        let page = render(&back);
        assert!(page.contains("Spent n/a"), "{page}");
    }
}
