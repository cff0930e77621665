//! Fits on data simulated from the models themselves: parameter recovery, and the
//! degenerate shops that must give a clear error instead of NaN parameters.

use retain_clv::{
    BgNbdFit, BgNbdFitOptions, BgNbdParams, Error, GammaGammaFit, GammaGammaFitOptions,
    GammaGammaParams, SpendSummary, Summary, published, sim,
};

const TRUE_BG: BgNbdParams = published::CDNOW_BG_NBD;
const TRUE_GG: GammaGammaParams = published::CDNOW_GAMMA_GAMMA;

/// CDNOW-like observation windows: first purchases spread over 12 weeks, observed to week 39.
fn windows(n: usize) -> Vec<f64> {
    (0..n).map(|i| 39.0 - (i % 84) as f64 / 7.0).collect()
}

fn recovered(name: &str, got: f64, want: f64, se: f64) {
    assert!(
        (got - want).abs() <= 3.5 * se,
        "{name}: fitted {got}, true {want}, standard error {se}"
    );
    assert!(se < 0.25 * want, "{name}: standard error {se} for {want}");
}

#[test]
fn bg_nbd_recovers_the_simulated_parameters() {
    let s = sim::bg_nbd(&TRUE_BG, &windows(20_000), Some(1.0 / 7.0), 7).unwrap();
    let data = Summary::new(&s.x, &s.t_x, &s.t).unwrap();
    let fit = BgNbdFit::fit(&data, &BgNbdFitOptions::default()).unwrap();
    let (p, se) = (fit.params, fit.standard_errors.unwrap());
    recovered("r", p.r, TRUE_BG.r, se.r);
    recovered("alpha", p.alpha, TRUE_BG.alpha, se.alpha);
    recovered("a", p.a, TRUE_BG.a, se.a);
    recovered("b", p.b, TRUE_BG.b, se.b);
    assert!(
        fit.report.n_distinct < 20_000,
        "day-resolution rows are grouped"
    );
}

#[test]
fn gamma_gamma_recovers_the_simulated_parameters() {
    let s = sim::bg_nbd(&TRUE_BG, &windows(20_000), None, 11).unwrap();
    let zbar = sim::gamma_gamma(&TRUE_GG, &s.x, 12).unwrap();
    let data = SpendSummary::new(&s.x, &zbar).unwrap();
    let fit = GammaGammaFit::fit(&data, &GammaGammaFitOptions::default()).unwrap();
    let (p, se) = (fit.params, fit.standard_errors.unwrap());
    recovered("p", p.p, TRUE_GG.p, se.p);
    recovered("q", p.q, TRUE_GG.q, se.q);
    recovered("gamma", p.gamma, TRUE_GG.gamma, se.gamma);
    // Simulated spend is independent of frequency.
    let rho = fit.frequency_spend_correlation.unwrap();
    assert!(rho.abs() < 0.05, "{rho}");
}

#[test]
fn fits_do_not_depend_on_the_time_or_currency_unit() {
    let s = sim::bg_nbd(&TRUE_BG, &windows(5_000), None, 3).unwrap();
    let weeks = BgNbdFit::fit(
        &Summary::new(&s.x, &s.t_x, &s.t).unwrap(),
        &BgNbdFitOptions::default(),
    )
    .unwrap();
    let (tx_days, t_days): (Vec<f64>, Vec<f64>) = s
        .t_x
        .iter()
        .zip(&s.t)
        .map(|(a, b)| (a * 7.0, b * 7.0))
        .unzip();
    let days = BgNbdFit::fit(
        &Summary::new(&s.x, &tx_days, &t_days).unwrap(),
        &BgNbdFitOptions::default(),
    )
    .unwrap();
    assert!((days.params.alpha / weeks.params.alpha - 7.0).abs() < 1e-5);
    assert!((days.params.r / weeks.params.r - 1.0).abs() < 1e-5);
    assert!((days.params.b / weeks.params.b - 1.0).abs() < 1e-5);
    // Log-likelihoods differ by the change of units: λ^x per customer.
    let sum_x: f64 = s.x.iter().sum();
    let shift = weeks.report.log_likelihood - days.report.log_likelihood;
    assert!((shift - sum_x * 7f64.ln()).abs() < 1e-4, "{shift}");
}

#[test]
fn nobody_repeats() {
    let x = vec![0.0; 100];
    let t_x = vec![0.0; 100];
    let t = windows(100);
    let err = BgNbdFit::fit(
        &Summary::new(&x, &t_x, &t).unwrap(),
        &BgNbdFitOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::NoRepeatPurchases { .. }), "{err}");
    assert!(err.to_string().contains("every x is 0"), "{err}");
    let err = GammaGammaFit::fit(
        &SpendSummary::new(&x, &vec![0.0; 100]).unwrap(),
        &GammaGammaFitOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::NoRepeatPurchases { .. }), "{err}");
}

#[test]
fn everybody_repeats_at_the_end_of_the_window() {
    // Every customer repeats and their last purchase is at T: no lapse is ever seen.
    let x = vec![3.0; 50];
    let t = vec![30.0; 50];
    let err = BgNbdFit::fit(
        &Summary::new(&x, &t, &t).unwrap(),
        &BgNbdFitOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::NoDropoutInformation), "{err}");
}

#[test]
fn everybody_identical() {
    // One kind of customer only: no heterogeneity to estimate. An error, never NaN.
    let x = vec![2.0; 200];
    let t_x = vec![20.0; 200];
    let t = vec![30.0; 200];
    let result = BgNbdFit::fit(
        &Summary::new(&x, &t_x, &t).unwrap(),
        &BgNbdFitOptions::default(),
    );
    match result {
        Err(Error::NotIdentified { .. }) => {}
        other => panic!("expected an identification error, got {other:?}"),
    }
    let zbar = vec![25.0; 200];
    let result = GammaGammaFit::fit(
        &SpendSummary::new(&x, &zbar).unwrap(),
        &GammaGammaFitOptions::default(),
    );
    match result {
        Err(Error::NotIdentified { .. }) => {}
        other => panic!("expected an identification error, got {other:?}"),
    }
}

#[test]
fn bad_starting_points_are_refused() {
    let s = sim::bg_nbd(&TRUE_BG, &windows(100), None, 1).unwrap();
    let options = BgNbdFitOptions {
        start: BgNbdParams { r: 0.0, ..TRUE_BG },
        ..BgNbdFitOptions::default()
    };
    let err = BgNbdFit::fit(&Summary::new(&s.x, &s.t_x, &s.t).unwrap(), &options).unwrap_err();
    assert!(err.to_string().starts_with("parameter r = 0"), "{err}");
}
