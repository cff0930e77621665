//! `models/<model>/<version>/report.html`: what a data scientist checks before trusting
//! a version. Self-contained (retain-report: plotters SVG inlined, no CDN).

use retain_model::metrics::{self, Metrics};
use retain_report::{BarChart, Chart, Histogram, LineChart, Report, Series, fmt_num};

use crate::records::training::Trained;

/// At most this many points per curve (ROC and PR curves have one per distinct score).
const MAX_POINTS: usize = 400;

fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let step = (points.len() - 1) as f64 / (MAX_POINTS - 1) as f64;
    (0..MAX_POINTS)
        .map(|i| points[((i as f64 * step).round() as usize).min(points.len() - 1)])
        .collect()
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.4}"))
}

fn metric_row(name: &str, m: &Metrics) -> Vec<String> {
    vec![
        name.to_owned(),
        m.rows.to_string(),
        format!("{:.2}%", 100.0 * m.base_rate),
        opt(m.roc_auc),
        opt(m.pr_auc),
        format!("{:.4}", m.log_loss),
        format!("{:.4}", m.brier),
        opt(m.ece),
        opt(m.lift_top_decile),
        opt(m.capture_top_decile),
    ]
}

/// Render the report of a trained version.
pub(crate) fn html(t: &Trained) -> Result<String, retain_report::Error> {
    let a = &t.artifact;
    let m = &t.metrics;
    let mut r = Report::new(format!("{} {} ({})", a.name, a.version, m.algorithm));
    r.paragraph(&format!(
        "Trained on {} snapshots ({} to {}), {} rows fitted and {} held out by customer for \
         calibration ({}); evaluated out of time on the {} snapshot ({} rows, base rate \
         {:.2}%), which no training label looks into. Label: {} with a {}-day horizon{}.",
        a.training.training_snapshots.len(),
        a.training
            .training_snapshots
            .first()
            .map_or("", String::as_str),
        a.training
            .training_snapshots
            .last()
            .map_or("", String::as_str),
        a.training.fit_rows,
        a.training.calibration_rows,
        match a.calibration {
            retain_model::Calibration::None => "none",
            retain_model::Calibration::Platt { .. } => "Platt scaling",
            retain_model::Calibration::Isotonic { .. } => "isotonic",
        },
        m.validation_snapshot,
        m.validation.rows,
        100.0 * m.validation.base_rate,
        a.training.label_sql,
        a.training.horizon_days,
        a.training
            .population
            .as_ref()
            .map(|p| format!(", population {p}"))
            .unwrap_or_default()
    ));

    r.heading("Metrics");
    let mut rows = vec![
        metric_row("model (calibrated), validation", &m.validation),
        metric_row(
            "model (uncalibrated), validation",
            &m.validation_uncalibrated,
        ),
    ];
    if let Some(b) = &m.baseline {
        rows.push(metric_row(
            &format!("naive baseline ({} rank), validation", b.feature),
            &b.validation,
        ));
    }
    rows.push(metric_row("model, fitted rows (in-sample)", &m.train));
    if let Some(c) = &m.calibration {
        rows.push(metric_row("model, calibration slice", c));
    }
    r.table(
        "Out-of-time metrics (validation snapshot) and in-sample ones. ECE: expected calibration error over 10 equal-width bins. Lift and capture: top decile by score.",
        &[
            "scores", "rows", "base rate", "ROC AUC", "PR AUC", "log loss", "Brier", "ECE",
            "lift@10%", "capture@10%",
        ],
        &rows,
    );
    if let (Some(b), Some(ours)) = (
        m.baseline
            .as_ref()
            .and_then(|b| b.validation.roc_auc.map(|x| (b, x))),
        m.validation.roc_auc,
    ) {
        r.paragraph(&format!(
            "Against the naive baseline (customers ranked by {} alone, {} is riskier): ROC AUC \
             {ours:.4} vs {:.4}, top-decile lift {} vs {}.",
            b.0.feature,
            b.0.direction,
            b.1,
            opt(m.validation.lift_top_decile),
            opt(b.0.validation.lift_top_decile)
        ));
    }

    // ROC and PR curves: model and baseline.
    let y = &t.y_val;
    let mut roc = Vec::new();
    let mut pr = Vec::new();
    let mut gains = Vec::new();
    let mut scored: Vec<(&str, &[f64])> = vec![("model", &t.p_val)];
    if let Some(b) = &t.baseline_val {
        scored.push(("naive baseline", b));
    }
    for (name, p) in &scored {
        if let Ok(Some(c)) = metrics::roc_curve(p, y) {
            roc.push(Series {
                name: (*name).to_owned(),
                points: thin(c.iter().map(|q| (q.fpr, q.tpr)).collect()),
            });
        }
        if let Ok(Some(c)) = metrics::pr_curve(p, y) {
            pr.push(Series {
                name: (*name).to_owned(),
                points: thin(c.iter().map(|q| (q.recall, q.precision)).collect()),
            });
        }
        if let Ok(Some(c)) = metrics::gains_curve(p, y, 50) {
            gains.push(Series {
                name: (*name).to_owned(),
                points: c
                    .iter()
                    .map(|q| (q.share_of_rows, q.share_of_positives))
                    .collect(),
            });
        }
    }
    r.heading("Ranking");
    r.chart(&Chart::Line(LineChart {
        title: "ROC curve (validation)".into(),
        x_label: "false positive rate".into(),
        y_label: "true positive rate".into(),
        series: roc,
        diagonal: true,
    }))?;
    r.chart(&Chart::Line(LineChart {
        title: "Precision-recall curve (validation)".into(),
        x_label: "recall".into(),
        y_label: "precision".into(),
        series: pr,
        diagonal: false,
    }))?;
    r.chart(&Chart::Line(LineChart {
        title: "Cumulative gains (validation)".into(),
        x_label: "share of customers targeted, highest score first".into(),
        y_label: "share of positives reached".into(),
        series: gains,
        diagonal: true,
    }))?;

    r.heading("Calibration");
    let mut cal = Vec::new();
    for (name, p) in [("calibrated", &t.p_val), ("uncalibrated", &t.raw_val)] {
        if let Ok(bins) = metrics::calibration_curve(p, y) {
            cal.push(Series {
                name: name.to_owned(),
                points: bins
                    .iter()
                    .map(|b| (b.mean_predicted, b.observed_rate))
                    .collect(),
            });
        }
    }
    r.chart(&Chart::Line(LineChart {
        title: "Calibration (validation, 10 bins)".into(),
        x_label: "mean predicted probability".into(),
        y_label: "observed rate".into(),
        series: cal,
        diagonal: true,
    }))?;
    let bins: Vec<f64> = (0..=20).map(|i| f64::from(i) / 20.0).collect();
    let hist = |label: bool| -> Vec<f64> {
        let mut counts = vec![0.0; 20];
        let n = y.iter().filter(|&&l| l == label).count().max(1) as f64;
        for (p, _) in t.p_val.iter().zip(y).filter(|(_, l)| **l == label) {
            let i = ((p * 20.0).floor() as usize).min(19);
            counts[i] += 1.0 / n;
        }
        counts
    };
    let positives = hist(true);
    let negatives = hist(false);
    r.chart(&Chart::Histogram(Histogram {
        title: "Score distribution by label (validation, share of each label)".into(),
        x_label: "calibrated probability".into(),
        bins,
        series: vec![
            ("label true".into(), positives),
            ("label false".into(), negatives),
        ],
    }))?;

    r.heading("Features");
    let mut imp: Vec<(String, f64)> = a
        .features()
        .iter()
        .cloned()
        .zip(a.estimator.importance())
        .collect();
    imp.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let top: Vec<(String, f64)> = imp.iter().take(15).cloned().collect();
    r.chart(&Chart::Bars(BarChart {
        title: format!(
            "Feature importance ({})",
            if a.estimator.kind() == "logistic" {
                "|coefficient| on standardised features, share of total"
            } else {
                "split gain, share of total"
            }
        ),
        x_label: "feature".into(),
        y_label: "share".into(),
        categories: top.iter().map(|(f, _)| f.clone()).collect(),
        series: vec![("importance".into(), top.iter().map(|(_, v)| *v).collect())],
    }))?;
    let stats: Vec<Vec<String>> = imp
        .iter()
        .filter_map(|(f, v)| {
            a.feature_stats.iter().find(|s| &s.name == f).map(|s| {
                vec![
                    f.clone(),
                    format!("{v:.4}"),
                    fmt_num(s.mean),
                    fmt_num(s.std),
                    format!("{:.1}%", 100.0 * s.null_share),
                ]
            })
        })
        .collect();
    r.table(
        "Features by importance, with their training statistics (the reference for drift checks at scoring)",
        &["feature", "importance", "mean", "std", "missing"],
        &stats,
    );

    r.heading("Data");
    let snapshots: Vec<Vec<String>> = m
        .snapshots
        .iter()
        .map(|s| {
            vec![
                s.as_of.to_string(),
                s.split.to_owned(),
                s.rows.to_string(),
                s.positives.to_string(),
                s.label_rate
                    .map_or_else(|| "n/a".into(), |r| format!("{:.2}%", 100.0 * r)),
            ]
        })
        .collect();
    r.table(
        "Labelled snapshots (training snapshots are split by customer into fitted and calibration rows)",
        &["snapshot", "split", "rows", "positives", "label rate"],
        &snapshots,
    );
    r.paragraph(&format!(
        "Hyperparameters: {}. Seed {}.",
        a.training.hyperparameters, a.training.seed
    ));
    Ok(r.to_html())
}
