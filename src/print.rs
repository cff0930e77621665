//! What the commands print on stdout: the summary tables of runs, ingest, CLV models,
//! drift and actions, shared by several commands, and the writers that put text on stdout.

use std::fmt::Write;
use std::process::ExitCode;

use anyhow::Result;
use retain_config::Stage;
use retain_pipeline::schedule;
use retain_pipeline::{DriftRow, PolicySummary, RunReport};

/// Print to stdout; a closed pipe (`retain demo | head`) is not an error worth a panic.
pub(crate) fn print_out(s: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{s}");
}

/// Write generated text to stdout; a closed pipe (`retain man | head`) is not an error.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<ExitCode> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to stdout"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// An AUC to three places, or `n/a` when the labels had one class only.
fn auc(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |a| format!("{a:.3}"))
}

/// The ingest accounting, one line per source under its heading.
pub(crate) fn print_ingest(out: &mut String, reports: &[retain_pipeline::IngestReport]) {
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
    let _ = writeln!(
        out,
        "  {:<28} {:>8.1}s  {:>9} rows  {}",
        s.stage,
        s.elapsed.as_secs_f64(),
        s.rows,
        s.detail
    );
}

pub(crate) fn print_report(r: &RunReport, synth: Option<std::time::Duration>) {
    let mut out = String::new();
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
    print_drift(&mut out, &r.drift);
    if let Some(p) = &r.policy {
        let _ = writeln!(out, "\nnext best actions:");
        print_policy(&mut out, p);
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

/// Where a run's HTML report is (`runs/<run_id>.html`, written with its record).
pub(crate) fn run_report_url(warehouse: &str, run_id: &str) -> String {
    format!("{}/runs/{run_id}.html", warehouse.trim_end_matches('/'))
}

pub(crate) fn print_drift(out: &mut String, drift: &[DriftRow]) {
    if drift.is_empty() {
        let _ = writeln!(
            out,
            "\ndrift: none (every model input within its thresholds of the training data)"
        );
        return;
    }
    let _ = writeln!(out, "\ndrift against the champions' training data:");
    for d in drift {
        let _ = writeln!(
            out,
            "  {:<16} {:<28} mean {} (training {:.3}, {} sd), missing {:.1}% (training {:.1}%)",
            d.model,
            d.feature,
            d.scoring_mean
                .map_or_else(|| "n/a".into(), |m| format!("{m:.3}")),
            d.training_mean,
            d.shift.map_or_else(|| "n/a".into(), |s| format!("{s:.2}")),
            100.0 * d.scoring_null_share,
            100.0 * d.training_null_share
        );
    }
}

/// The policy summary: per action, selected / treated / control, spend and value.
pub(crate) fn print_policy(out: &mut String, s: &PolicySummary) {
    let _ = writeln!(
        out,
        "  {:<22} {:>9} {:>9} {:>8} {:>11} {:>14}  limit",
        "action", "customers", "treated", "control", "spent", "expected value"
    );
    for (name, a) in &s.actions {
        if name == "no_action" {
            continue;
        }
        let limit = match (a.capacity, a.budget) {
            (Some(c), Some(b)) => format!("capacity {c}, budget {b:.2}"),
            (Some(c), None) => format!("capacity {c}"),
            (None, Some(b)) => format!("budget {b:.2}"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<22} {:>9} {:>9} {:>8} {:>11.2} {:>14.2}  {limit}",
            name, a.selected, a.treated, a.control, a.spent, a.expected_value
        );
    }
    let none = s.actions.get("no_action").map_or(0, |a| a.selected);
    let reasons: Vec<String> = s
        .no_action
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "  {:<22} {:>9}  ({})",
        "no_action",
        none,
        reasons.join(", ")
    );
    let _ = writeln!(
        out,
        "  total: {} customers, spent {:.2}{}, expected value {:.2}, {} held out as controls",
        s.customers,
        s.spent,
        s.budget
            .map(|b| format!(" of a {b:.2} budget"))
            .unwrap_or_default(),
        s.expected_value,
        s.controls
    );
}

/// `retain run --dry-run`: the dates, what is skipped, and each stage's inputs and
/// outputs.
pub(crate) fn format_plan(plan: &schedule::RunPlan) -> String {
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
        let mut state = if d.skip {
            "skip: published and current".to_owned()
        } else if d.published.is_empty() {
            "run".to_owned()
        } else {
            format!("run (rerun: {} published)", names(&d.published))
        };
        for (stage, why) in &d.stale {
            let _ = write!(state, "; {stage} stale: {why}");
        }
        let _ = writeln!(out, "  {}  {state}", d.as_of);
    }
    if let Some(d) = plan.ingest_as_of
        && plan.dates.len() > 1
    {
        let _ = writeln!(
            out,
            "\ningest runs once, first (its run labelled {d}); the dates are checked again against what it stages"
        );
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

/// A CLV model version: parameters, fit quality and the holdout check.
pub(crate) fn print_clv(out: &mut String, r: &retain_pipeline::clv::ClvReport) {
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
