//! The sample report's charts (`retain_test::sample`) through the public API: every kind
//! draws its title, axis labels and series names, and rendering is deterministic.
//!
//! Integration tests rather than unit tests in `src/chart/`: the sample lives in
//! retain-test, which depends on retain-report, so only a test that links the ordinary
//! library shares its types.

use retain_report::{Chart, render_svg};
use retain_test::sample;
use retain_test::svg::{assert_svg, texts};

#[test]
fn each_kind_draws_its_title_axis_labels_and_series_names() {
    let [line, bars, heat, hist]: [Chart; 4] = sample::charts()
        .try_into()
        .unwrap_or_else(|c: Vec<Chart>| panic!("four sample charts, got {}", c.len()));
    assert_svg(
        &render_svg(&line).expect("line"),
        &[
            "Calibration, churn_90d",
            "predicted churn probability",
            "observed churn rate",
            "champion",
            "challenger",
            "y = x",
            "0.5",
        ],
    );
    assert_svg(
        &render_svg(&bars).expect("bars"),
        &[
            "Churn rate by segment",
            "segment",
            "churn rate",
            "predicted",
            "observed",
            "at risk",
            "VIP",
        ],
    );
    let heat_svg = render_svg(&heat).expect("heat map");
    assert_svg(
        &heat_svg,
        &[
            "Cohort retention",
            "months since first order",
            "first-order month",
            "share still buying",
            "2024-01",
            "2024-08",
            "8",
            // A cell value (cohort 2024-01, month 1), printed because the grid is small.
            "0.376",
        ],
    );
    // Empty cells get no text: 8 cohorts × 8 months, of which 28 are not observed.
    let cells = texts(&heat_svg)
        .iter()
        .filter(|t| t.starts_with("0."))
        .count();
    assert!(cells >= 36, "{cells} cell values");
    assert_svg(
        &render_svg(&hist).expect("histogram"),
        &[
            "Predicted churn probability",
            "predicted churn probability",
            "retained",
            "churned",
        ],
    );
}

#[test]
fn rendering_is_deterministic() {
    for chart in sample::charts() {
        let a = render_svg(&chart).expect("renders");
        let b = render_svg(&chart.clone()).expect("renders");
        assert_eq!(a, b, "{}", chart.title());
    }
    let a = sample::report().expect("sample").to_html();
    let b = sample::report().expect("sample").to_html();
    assert_eq!(a, b);
}
