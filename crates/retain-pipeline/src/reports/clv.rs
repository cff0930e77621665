//! `report.html` of a registered CLV version (`models/clv/<version>/`).

use chrono::NaiveDate;

use crate::records::clv::{ClvMetrics, ClvModel};

/// `report.html` of a registered version: parameters, the holdout and tracking checks,
/// P(alive) over frequency and recency, and the distribution of `clv_12m`.
pub fn html(
    version: &str,
    model: &ClvModel,
    metrics: &ClvMetrics,
    clv_12m: &[f64],
) -> Result<String, retain_report::Error> {
    use retain_report::{BarChart, Chart, HeatMap, Histogram, LineChart, Report, Series, fmt_num};
    let s = &model.summary;
    let mut r = Report::new(format!("CLV models {version}, as of {}", model.as_of));
    r.paragraph(&format!(
        "BG/NBD (purchases) and Gamma-Gamma (spend per purchase) fitted on the completed \
         orders before {}: {} customers, {} of them with repeat purchases. Times are in units \
         of {} days; a purchase is a customer's day with at least one completed order.",
        model.as_of, s.customers, s.repeat_customers, model.time_unit_days
    ));
    r.heading("Parameters");
    let se = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "n/a".into());
    let bg = &model.bg_nbd;
    let bse = bg.standard_errors;
    let mut rows = vec![
        vec![
            "BG/NBD".into(),
            "r".into(),
            fmt_num(bg.params.r),
            se(bse.map(|p| p.r)),
        ],
        vec![
            "BG/NBD".into(),
            "alpha".into(),
            fmt_num(bg.params.alpha),
            se(bse.map(|p| p.alpha)),
        ],
        vec![
            "BG/NBD".into(),
            "a".into(),
            fmt_num(bg.params.a),
            se(bse.map(|p| p.a)),
        ],
        vec![
            "BG/NBD".into(),
            "b".into(),
            fmt_num(bg.params.b),
            se(bse.map(|p| p.b)),
        ],
        vec![
            "BG/NBD".into(),
            "log-likelihood".into(),
            format!("{:.1}", bg.report.log_likelihood),
            String::new(),
        ],
    ];
    if let Some(g) = &model.gamma_gamma {
        let gse = g.standard_errors;
        rows.extend([
            vec![
                "Gamma-Gamma".into(),
                "p".into(),
                fmt_num(g.params.p),
                se(gse.map(|p| p.p)),
            ],
            vec![
                "Gamma-Gamma".into(),
                "q".into(),
                fmt_num(g.params.q),
                se(gse.map(|p| p.q)),
            ],
            vec![
                "Gamma-Gamma".into(),
                "gamma".into(),
                fmt_num(g.params.gamma),
                se(gse.map(|p| p.gamma)),
            ],
            vec![
                "Gamma-Gamma".into(),
                "log-likelihood".into(),
                format!("{:.1}", g.report.log_likelihood),
                String::new(),
            ],
        ]);
    }
    r.table(
        "Fitted parameters",
        &["model", "parameter", "value", "standard error"],
        &rows,
    );
    match (&model.gamma_gamma, &model.gamma_gamma_error) {
        (Some(g), _) => {
            r.paragraph(&format!(
                "The spend model assumes spend independent of purchase frequency. Correlation \
                 of frequency and mean repeat spend over its {} customers: {}.",
                g.report.n_customers,
                g.frequency_spend_correlation
                    .map(|c| format!("{c:.3}"))
                    .unwrap_or_else(|| "undefined (no variation)".into())
            ));
        }
        (None, Some(reason)) => {
            r.paragraph(&format!(
                "The spend model was not fitted: {reason}. clv_12m is null."
            ));
        }
        (None, None) => {}
    }
    match (&metrics.checks, &metrics.checks_error) {
        (Some(c), _) => {
            r.heading("Holdout check");
            r.paragraph(&format!(
                "The purchase model refitted on the orders before {} ({} customers), against \
                 the repeat purchases those customers made in the {} days from then: {:.0} \
                 expected, {:.0} actual.",
                c.calibration_end,
                c.calibration_customers,
                c.holdout_days,
                c.holdout_expected_total,
                c.holdout_actual_total
            ));
            r.chart(&Chart::Bars(BarChart {
                title: "Repeat purchases in the holdout period, per calibration frequency".into(),
                x_label: "repeat purchases before the holdout period".into(),
                y_label: "mean repeat purchases in the holdout period".into(),
                categories: c.by_frequency.iter().map(|f| f.frequency.clone()).collect(),
                series: vec![
                    (
                        "actual".into(),
                        c.by_frequency.iter().map(|f| f.actual).collect(),
                    ),
                    (
                        "expected".into(),
                        c.by_frequency.iter().map(|f| f.expected).collect(),
                    ),
                ],
            }))?;
            let rows: Vec<Vec<String>> = c
                .by_frequency
                .iter()
                .map(|f| {
                    vec![
                        f.frequency.clone(),
                        f.customers.to_string(),
                        format!("{:.3}", f.actual),
                        format!("{:.3}", f.expected),
                    ]
                })
                .collect();
            r.table(
                "Holdout repeat purchases per customer",
                &["frequency", "customers", "actual", "expected"],
                &rows,
            );
            if let Some(first) = c.tracking.first() {
                let day = |d: NaiveDate| (d - first.day).num_days() as f64;
                let top = c
                    .tracking
                    .iter()
                    .map(|p| p.actual.max(p.expected))
                    .fold(0.0, f64::max);
                r.chart(&Chart::Line(LineChart {
                    title: "Cumulative repeat purchases of the calibration customers".into(),
                    x_label: format!("days since {}", first.day),
                    y_label: "repeat purchases".into(),
                    series: vec![
                        Series {
                            name: "actual".into(),
                            points: c.tracking.iter().map(|p| (day(p.day), p.actual)).collect(),
                        },
                        Series {
                            name: "expected".into(),
                            points: c
                                .tracking
                                .iter()
                                .map(|p| (day(p.day), p.expected))
                                .collect(),
                        },
                        Series {
                            name: format!("holdout starts ({})", c.calibration_end),
                            points: vec![
                                (day(c.calibration_end), 0.0),
                                (day(c.calibration_end), top),
                            ],
                        },
                    ],
                    diagonal: false,
                }))?;
            }
        }
        (None, Some(reason)) => {
            r.heading("Holdout check");
            r.paragraph(&format!("Not possible: {reason}."));
        }
        (None, None) => {}
    }
    let g = &metrics.p_alive;
    r.heading("P(alive)");
    r.paragraph(&format!(
        "P(alive) of a customer observed for {:.1} time units (the longest history), by \
         repeat purchases and the time of the last one. A customer without repeat purchases \
         has P(alive) = 1 in the BG/NBD model.",
        g.t
    ));
    r.chart(&Chart::HeatMap(HeatMap {
        title: "P(alive) by frequency and recency".into(),
        x_label: format!(
            "time of the last purchase since the first ({} days)",
            model.time_unit_days
        ),
        y_label: "repeat purchases".into(),
        x_labels: g.recencies.iter().map(|t| format!("{t:.0}")).collect(),
        y_labels: g.frequencies.iter().map(|x| x.to_string()).collect(),
        values: g
            .values
            .iter()
            .map(|row| row.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
            .collect(),
        value_label: "P(alive)".into(),
    }))?;
    if clv_12m.len() >= 2 {
        let mut sorted = clv_12m.to_vec();
        sorted.sort_by(f64::total_cmp);
        // Up to the 99th percentile, so a few large customers do not flatten the rest.
        let top = sorted[((sorted.len() as f64 * 0.99) as usize).min(sorted.len() - 1)];
        if top > 0.0 {
            let bins: Vec<f64> = (0..=25).map(|k| top * f64::from(k) / 25.0).collect();
            let mut counts = vec![0.0; 25];
            for v in clv_12m {
                let k = ((v / top * 25.0) as usize).min(24);
                counts[k] += 1.0;
            }
            r.heading("Customer lifetime value");
            r.paragraph(&format!(
                "clv_12m: discounted expected revenue{} in the 12 months after {}, at {:.0}% a \
                 year. Mean {}, total {} over {} customers; the chart stops at the 99th \
                 percentile (the last bin holds the rest).",
                if model.margin < 1.0 {
                    format!(" × margin {}", model.margin)
                } else {
                    String::new()
                },
                model.as_of,
                100.0 * model.annual_discount_rate,
                metrics.mean_clv_12m.map(fmt_num).unwrap_or_default(),
                metrics
                    .total_clv_12m
                    .map(|v| format!("{v:.0}"))
                    .unwrap_or_default(),
                clv_12m.len()
            ));
            r.chart(&Chart::Histogram(Histogram {
                title: "Distribution of clv_12m".into(),
                x_label: "clv_12m".into(),
                bins,
                series: vec![("customers".into(), counts)],
            }))?;
        }
    }
    Ok(r.to_html())
}
