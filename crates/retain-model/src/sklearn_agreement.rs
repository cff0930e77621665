//! Agreement with scikit-learn: a fixed, seeded data set with ties goes to
//! `tests/py/sklearn_metrics.py` through the project venv's Python
//! (`RETAIN_TEST_PYTHON`, set by `cargo xtask test`), and our values must match.
//! Without `RETAIN_TEST_PYTHON` the test fails (never skips), as the integration tests
//! do.

use crate::calibration::{self, Calibration, Method};
use crate::metrics;
use crate::test_support::{Lcg, run_python};

/// 800 rows: probabilities on a 0.01 grid (so many ties) plus exact 0 and 1 (clipping),
/// labels drawn with P(y) = 0.15 + 0.7·p^1.5, informative but miscalibrated and not
/// separable.
fn data(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
    let mut g = Lcg(seed);
    let mut p = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let pi = match i % 97 {
            0 => 0.0,
            1 => 1.0,
            _ => (g.next_f64() * 100.0).round() / 100.0,
        };
        y.push(g.next_f64() < 0.15 + 0.7 * pi.powf(1.5));
        p.push(pi);
    }
    (p, y)
}

fn close(name: &str, ours: f64, theirs: f64, tol: f64) {
    assert!(
        (ours - theirs).abs() <= tol,
        "{name}: ours {ours}, scikit-learn {theirs}, difference {:e}",
        (ours - theirs).abs()
    );
}

#[test]
fn metrics_and_calibration_agree_with_scikit_learn() {
    let (p, y) = data(800, 20240601);
    // The calibration slice: a separate draw, kept inside [0.05, 0.95] so that the grid
    // below also probes isotonic's clipping outside the fitted range.
    let (cp, cy): (Vec<f64>, Vec<bool>) = {
        let (p2, y2) = data(700, 7);
        p2.into_iter()
            .zip(y2)
            .filter(|(pi, _)| (0.05..=0.95).contains(pi))
            .unzip()
    };
    assert!(cp.len() >= 500, "{} calibration rows", cp.len());
    let grid: Vec<f64> = (0..=1000).map(|i| f64::from(i) / 1000.0).collect();

    let body = serde_json::json!({ "p": p, "y": y, "cal_p": cp, "cal_y": cy, "grid": grid });
    let sk = run_python("sklearn_metrics.py", &body);
    let num = |k: &str| {
        sk[k]
            .as_f64()
            .unwrap_or_else(|| panic!("`{k}` missing: {sk}"))
    };
    let nums = |k: &str| -> Vec<f64> {
        sk[k]
            .as_array()
            .unwrap_or_else(|| panic!("`{k}` missing"))
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect()
    };

    let m = metrics::evaluate(&p, &y).expect("evaluate");
    close(
        "roc_auc",
        m.roc_auc.expect("two classes"),
        num("roc_auc"),
        1e-9,
    );
    close(
        "average_precision",
        m.pr_auc.expect("positives"),
        num("average_precision"),
        1e-9,
    );
    close("log_loss", m.log_loss, num("log_loss"), 1e-9);
    close("brier", m.brier, num("brier"), 1e-9);

    // Platt: ours is Newton to machine precision, sklearn's is Newton-Cholesky with
    // tol 1e-12 and C = 1e12; both are the same maximum.
    let platt = calibration::fit(Method::Platt, &cp, &cy).expect("platt");
    let Calibration::Platt { a, b } = platt else {
        panic!("platt expected, got {platt:?}");
    };
    close("platt a", a, num("platt_a"), 1e-9);
    close("platt b", b, num("platt_b"), 1e-9);
    for (q, theirs) in grid.iter().zip(nums("platt_grid")) {
        close(&format!("platt({q})"), platt.apply(*q), theirs, 1e-9);
    }

    let iso = calibration::fit(Method::Isotonic, &cp, &cy).expect("isotonic");
    let theirs = nums("isotonic_grid");
    assert_eq!(theirs.len(), grid.len());
    for (q, theirs) in grid.iter().zip(theirs) {
        close(&format!("isotonic({q})"), iso.apply(*q), theirs, 1e-9);
    }
}
