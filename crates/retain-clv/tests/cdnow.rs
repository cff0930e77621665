//! The published CDNOW results, reproduced. The data are not committed: `cargo xtask test`
//! (or `cargo xtask cdnow`) fetches and verifies them and sets `RETAIN_TEST_CDNOW`. These
//! tests fail, never skip, when it is not set.

use std::path::PathBuf;

use retain_clv::{
    BgNbdFit, BgNbdFitOptions, BgNbdParams, ClvHorizon, GammaGammaFit, GammaGammaFitOptions,
    GammaGammaParams, SpendSummary, Summary, clv, published,
};

fn cdnow_file(name: &str) -> PathBuf {
    let dir = std::env::var_os("RETAIN_TEST_CDNOW").unwrap_or_else(|| {
        panic!(
            "RETAIN_TEST_CDNOW is not set: run the tests with `cargo xtask test`, or run \
             `cargo xtask cdnow` (fetches and verifies the CDNOW files) and export the \
             variable it prints"
        )
    });
    PathBuf::from(dir).join(name)
}

/// The numeric columns of a CSV file with a header (the ID column included).
fn read_csv(name: &str) -> Vec<Vec<f64>> {
    let path = cdnow_file(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    let mut cols = vec![Vec::new(); header.split(',').count()];
    for line in lines.filter(|l| !l.trim().is_empty()) {
        for (col, field) in cols.iter_mut().zip(line.split(',')) {
            col.push(field.trim().parse::<f64>().expect("a number"));
        }
    }
    cols
}

/// (x, t_x, T) of the 2,357 customers.
fn summary_columns() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut cols = read_csv("cdnow_customers_summary.csv");
    let t = cols.pop().unwrap();
    let t_x = cols.pop().unwrap();
    let x = cols.pop().unwrap();
    (x, t_x, t)
}

const PAPER_BG: BgNbdParams = published::CDNOW_BG_NBD;
const PAPER_LL: f64 = published::CDNOW_BG_NBD_LOG_LIKELIHOOD;
const PAPER_GG: GammaGammaParams = published::CDNOW_GAMMA_GAMMA;

fn within(name: &str, got: f64, want: f64, rel: f64) {
    assert!(
        ((got - want) / want).abs() <= rel,
        "{name} = {got}, published {want} (off by {:.3}%)",
        100.0 * ((got - want) / want).abs()
    );
}

fn assert_paper_bg(fit: &BgNbdFit) {
    let p = fit.params;
    within("r", p.r, PAPER_BG.r, 0.01);
    within("alpha", p.alpha, PAPER_BG.alpha, 0.01);
    within("a", p.a, PAPER_BG.a, 0.01);
    within("b", p.b, PAPER_BG.b, 0.01);
    let ll = fit.report.log_likelihood;
    assert!(
        (ll - PAPER_LL).abs() <= 0.1,
        "log-likelihood {ll}, published {PAPER_LL}"
    );
}

#[test]
fn bg_nbd_reproduces_the_published_fit() {
    let (x, t_x, t) = summary_columns();
    let data = Summary::new(&x, &t_x, &t).unwrap();
    assert_eq!(data.len(), 2357);
    let fit = BgNbdFit::fit(&data, &BgNbdFitOptions::default()).unwrap();
    assert_paper_bg(&fit);
    assert_eq!(fit.report.n_customers, 2357);
    assert!(fit.report.n_distinct < 2357, "identical rows are grouped");
    // The report's log-likelihood is the likelihood of the data at the fitted parameters.
    let direct = fit.params.log_likelihood(&data);
    assert!(
        (direct - fit.report.log_likelihood).abs() < 1e-6,
        "{direct}"
    );
    // Standard errors from the numeric Hessian against those the `lifetimes` package
    // documents for this fit (docs/Quickstart.md, `bgf.summary`): within 2%.
    let se = fit.standard_errors.expect("standard errors");
    for (name, se, want) in [
        ("r", se.r, 0.012557),
        ("alpha", se.alpha, 0.378221),
        ("a", se.a, 0.185719),
        ("b", se.b, 0.705345),
    ] {
        assert!(
            (se - want).abs() <= 0.02 * want,
            "se({name}) = {se}, documented {want}"
        );
    }
    // A registry stores it as JSON and reads it back. serde_json writes the shortest
    // representation that round-trips, but without its `float_roundtrip` feature it may
    // parse the last bit differently.
    let json = serde_json::to_string(&fit).unwrap();
    let back: BgNbdFit = serde_json::from_str(&json).unwrap();
    assert_eq!(back.report, fit.report);
    let (p, q) = (back.params, fit.params);
    for (u, v) in [(p.r, q.r), (p.alpha, q.alpha), (p.a, q.a), (p.b, q.b)] {
        assert!((u - v).abs() <= 1e-15 * v.abs(), "{u} vs {v}");
    }
}

#[test]
fn worked_example_with_the_fitted_parameters() {
    let (x, t_x, t) = summary_columns();
    let fit = BgNbdFit::fit(
        &Summary::new(&x, &t_x, &t).unwrap(),
        &BgNbdFitOptions::default(),
    )
    .unwrap();
    for params in [PAPER_BG, fit.params] {
        let y = params
            .conditional_expected_purchases_one(39.0, 2.0, 30.43, 38.86)
            .unwrap();
        assert!((y - 1.226).abs() < 5e-4, "E[Y(39)] = {y} with {params:?}");
    }
}

#[test]
fn bg_nbd_converges_from_poor_starting_points() {
    let (x, t_x, t) = summary_columns();
    let data = Summary::new(&x, &t_x, &t).unwrap();
    let reference = BgNbdFit::fit(&data, &BgNbdFitOptions::default()).unwrap();
    for (r, alpha, a, b) in [
        (1.0, 1.0, 1.0, 1.0),
        (0.01, 0.01, 0.01, 0.01),
        (10.0, 10.0, 10.0, 10.0),
        (0.01, 100.0, 5.0, 0.1),
        (5.0, 0.05, 0.02, 50.0),
    ] {
        let options = BgNbdFitOptions {
            start: BgNbdParams { r, alpha, a, b },
            ..BgNbdFitOptions::default()
        };
        let fit = BgNbdFit::fit(&data, &options)
            .unwrap_or_else(|e| panic!("start ({r}, {alpha}, {a}, {b}): {e}"));
        assert_paper_bg(&fit);
        let ll = fit.report.log_likelihood;
        assert!(
            (ll - reference.report.log_likelihood).abs() < 1e-6,
            "start ({r}, {alpha}, {a}, {b}): log-likelihood {ll}"
        );
    }
}

/// (x, zbar) of the 2,357 customers.
fn spend_columns() -> (Vec<f64>, Vec<f64>) {
    let cols = read_csv("cdnow_customers_summary_with_transactions.csv");
    (cols[1].clone(), cols[4].clone())
}

#[test]
fn gamma_gamma_reproduces_the_published_fit() {
    let (x, zbar) = spend_columns();
    let data = SpendSummary::new(&x, &zbar).unwrap();
    assert_eq!(data.repeat_customers(), 946);
    for (p, q, gamma) in [
        (1.0, 1.0, 1.0),
        (0.01, 0.01, 0.01),
        (10.0, 10.0, 10.0),
        (50.0, 0.5, 0.2),
    ] {
        let options = GammaGammaFitOptions {
            start: GammaGammaParams { p, q, gamma },
            ..GammaGammaFitOptions::default()
        };
        let fit = GammaGammaFit::fit(&data, &options)
            .unwrap_or_else(|e| panic!("start ({p}, {q}, {gamma}): {e}"));
        within("p", fit.params.p, PAPER_GG.p, 0.01);
        within("q", fit.params.q, PAPER_GG.q, 0.01);
        within("gamma", fit.params.gamma, PAPER_GG.gamma, 0.01);
        assert_eq!(fit.report.n_customers, 946);
        let direct = fit.params.log_likelihood(&data);
        assert!(
            (direct - fit.report.log_likelihood).abs() < 1e-6,
            "{direct}"
        );
        assert!(fit.standard_errors.is_some());
        // Frequency and spend are nearly independent in CDNOW (Fader & Hardie 2013: 0.11).
        let rho = fit.frequency_spend_correlation.unwrap();
        assert!((rho - 0.11).abs() < 0.01, "correlation {rho}");
        // Population mean p·γ/(q−1).
        let mean = fit.params.mean_spend().unwrap();
        within(
            "mean spend",
            mean,
            PAPER_GG.p * PAPER_GG.gamma / (PAPER_GG.q - 1.0),
            0.01,
        );
    }
}

#[test]
fn clv_of_the_cdnow_customers() {
    let (x, t_x, t) = summary_columns();
    let (sx, zbar) = spend_columns();
    assert_eq!(
        x, sx,
        "both files list the same customers in the same order"
    );
    let customers = Summary::new(&x, &t_x, &t).unwrap();
    let spend = SpendSummary::new(&x, &zbar).unwrap();
    // 52 weekly periods, 10 % a year.
    let horizon = ClvHorizon::with_annual_rate(52, 1.0, 0.10, 52.0).unwrap();
    let values = clv(&PAPER_BG, &PAPER_GG, &customers, &spend, &horizon).unwrap();
    assert_eq!(values.len(), 2357);
    assert!(values.iter().all(|v| v.is_finite() && *v >= 0.0));
    // Undiscounted, a year's value is E[Y(52)] times expected spend.
    let flat = ClvHorizon::new(52, 1.0, 0.0).unwrap();
    let undiscounted = clv(&PAPER_BG, &PAPER_GG, &customers, &spend, &flat).unwrap();
    let y = PAPER_BG
        .conditional_expected_purchases(&customers, 52.0)
        .unwrap();
    let m = PAPER_GG.conditional_expected_spend(&spend).unwrap();
    for i in 0..values.len() {
        assert!((undiscounted[i] - y[i] * m[i]).abs() < 1e-8 * (1.0 + undiscounted[i]));
        assert!(values[i] <= undiscounted[i] && values[i] >= 0.9 * undiscounted[i]);
    }
}
