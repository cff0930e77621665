//! A sample report with one chart of each kind, on made-up but plausible retention numbers
//! (computed from formulas: no randomness, so the page is the same every time).
//! retain-report's chart and browser tests check it, and `examples/sample_report.rs`
//! writes it for the docs screenshot (`docs/images/report-charts.png`).

use retain_report::{BarChart, Chart, HeatMap, Histogram, LineChart, Report, Result, Series};

/// Title of [`report`]'s page.
pub const TITLE: &str = "Churn model report — sample";

/// The four sample charts: calibration (line), churn by segment (bars), cohort retention
/// (heat map), score distribution (histogram).
pub fn charts() -> Vec<Chart> {
    vec![
        Chart::Line(calibration()),
        Chart::Bars(segments()),
        Chart::HeatMap(cohorts()),
        Chart::Histogram(scores()),
    ]
}

/// The sample page: headings, text, a metrics table and [`charts`].
pub fn report() -> Result<Report> {
    let mut r = Report::new(TITLE);
    r.paragraph(
        "Out-of-time evaluation of the churn model on the last snapshot. Numbers are \
         synthetic, for showing the report layout.",
    );
    r.heading("Metrics").table(
        "Hold-out metrics",
        &["model", "AUC", "log loss", "Brier", "customers"],
        &[
            row(&["churn_90d (champion)", "0.812", "0.431", "0.142", "18204"]),
            row(&["churn_90d (challenger)", "0.798", "0.447", "0.149", "18204"]),
        ],
    );
    r.heading("Calibration")
        .paragraph("Observed churn rate against the predicted probability, in ten bins.")
        .chart(&Chart::Line(calibration()))?;
    r.heading("Segments").chart(&Chart::Bars(segments()))?;
    r.heading("Cohorts")
        .paragraph("Share of each first-order cohort still buying n months later.")
        .chart(&Chart::HeatMap(cohorts()))?;
    r.heading("Scores").chart(&Chart::Histogram(scores()))?;
    Ok(r)
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

fn calibration() -> LineChart {
    let curve = |bend: f64| {
        (0..10)
            .map(|i| {
                let p = (f64::from(i) + 0.5) / 10.0;
                (p, (p + bend * p * (1.0 - p) * (p - 0.3)).clamp(0.0, 1.0))
            })
            .collect()
    };
    LineChart {
        title: "Calibration, churn_90d".to_owned(),
        x_label: "predicted churn probability".to_owned(),
        y_label: "observed churn rate".to_owned(),
        series: vec![
            Series {
                name: "champion".to_owned(),
                points: curve(0.4),
            },
            Series {
                name: "challenger".to_owned(),
                points: curve(-1.1),
            },
        ],
        diagonal: true,
    }
}

fn segments() -> BarChart {
    BarChart {
        title: "Churn rate by segment".to_owned(),
        x_label: "segment".to_owned(),
        y_label: "churn rate".to_owned(),
        categories: ["new", "active", "at risk", "lapsing", "VIP"]
            .map(str::to_owned)
            .to_vec(),
        series: vec![
            ("predicted".to_owned(), vec![0.42, 0.18, 0.55, 0.71, 0.08]),
            ("observed".to_owned(), vec![0.45, 0.16, 0.58, 0.66, 0.07]),
        ],
    }
}

fn cohorts() -> HeatMap {
    let months = [
        "2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06", "2024-07", "2024-08",
    ];
    let n = months.len();
    let values = (0..n)
        .map(|c| {
            (0..n)
                .map(|m| {
                    let m = m + 1;
                    if c + m > n {
                        f64::NAN // not observed yet
                    } else {
                        // Cohorts differ a little; each loses about a tenth a month.
                        let quality = 1.0 + 0.06 * ((c * 5 % 4) as f64) - 0.02 * c as f64;
                        0.42 * quality * (-0.11 * m as f64).exp()
                    }
                })
                .collect()
        })
        .collect();
    HeatMap {
        title: "Cohort retention".to_owned(),
        x_label: "months since first order".to_owned(),
        y_label: "first-order month".to_owned(),
        x_labels: (1..=n).map(|m| m.to_string()).collect(),
        y_labels: months.map(str::to_owned).to_vec(),
        values,
        value_label: "share still buying".to_owned(),
    }
}

fn scores() -> Histogram {
    let bins: Vec<f64> = (0..=20).map(|i| f64::from(i) / 20.0).collect();
    let bump = |centre: f64, width: f64, total: f64| -> Vec<f64> {
        let w: Vec<f64> = bins
            .windows(2)
            .map(|e| {
                let x = (e[0] + e[1]) / 2.0;
                (-((x - centre) / width).powi(2) / 2.0).exp()
            })
            .collect();
        let sum: f64 = w.iter().sum();
        w.iter().map(|v| (v / sum * total).round()).collect()
    };
    Histogram {
        title: "Predicted churn probability".to_owned(),
        x_label: "predicted churn probability".to_owned(),
        series: vec![
            ("retained".to_owned(), bump(0.22, 0.12, 12000.0)),
            ("churned".to_owned(), bump(0.62, 0.16, 6200.0)),
        ],
        bins,
    }
}
