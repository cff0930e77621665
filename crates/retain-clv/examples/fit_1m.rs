//! Fit time at scale: simulate a 1,000,000-customer BG/NBD summary (CDNOW's parameters,
//! first purchases spread over 12 weeks, observed to week 39), fit BG/NBD and
//! Gamma-Gamma, and time the per-customer predictions.
//!
//! ```sh
//! cargo run --release -p retain-clv --example fit_1m               # times on a day grid
//! cargo run --release -p retain-clv --example fit_1m -- continuous # exact times: no grouping
//! cargo run --release -p retain-clv --example fit_1m -- 200000     # another size
//! ```
//! With `RETAIN_TEST_CDNOW` set (`cargo xtask cdnow`) it times the CDNOW fit first.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use retain_clv::{
    BgNbdFit, BgNbdFitOptions, ClvHorizon, GammaGammaFit, GammaGammaFitOptions, SpendSummary,
    Summary, clv, published, sim,
};

/// Time the BG/NBD fit on CDNOW's 2,357 customers.
fn cdnow(path: &std::path::Path) -> Result<(), retain_clv::Error> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').filter_map(|f| f.trim().parse().ok()).collect())
        .filter(|r: &Vec<f64>| r.len() == 4)
        .collect();
    let col = |k: usize| rows.iter().map(|r| r[k]).collect::<Vec<f64>>();
    let (x, t_x, t) = (col(1), col(2), col(3));
    let started = Instant::now();
    let fit = BgNbdFit::fit(&Summary::new(&x, &t_x, &t)?, &BgNbdFitOptions::default())?;
    let p = fit.params;
    println!(
        "CDNOW BG/NBD fit: {:.1} ms ({} customers, LL {:.2}): r {:.4} alpha {:.4} a {:.4} b {:.4}",
        started.elapsed().as_secs_f64() * 1e3,
        fit.report.n_customers,
        fit.report.log_likelihood,
        p.r,
        p.alpha,
        p.a,
        p.b
    );
    Ok(())
}

fn main() -> Result<(), retain_clv::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let continuous = args.iter().any(|a| a == "continuous");
    let n: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let truth = published::CDNOW_BG_NBD;
    let spend_truth = published::CDNOW_GAMMA_GAMMA;
    let windows: Vec<f64> = (0..n).map(|i| 39.0 - (i % 84) as f64 / 7.0).collect();

    if let Some(dir) = std::env::var_os("RETAIN_TEST_CDNOW") {
        cdnow(&std::path::PathBuf::from(dir).join("cdnow_customers_summary.csv"))?;
    }
    let started = Instant::now();
    let s = sim::bg_nbd(&truth, &windows, (!continuous).then_some(1.0 / 7.0), 42)?;
    let zbar = sim::gamma_gamma(&spend_truth, &s.x, 43)?;
    println!(
        "simulated {n} customers ({}) in {:.2} s",
        if continuous {
            "exact times"
        } else {
            "times on a day grid"
        },
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let data = Summary::new(&s.x, &s.t_x, &s.t)?;
    let fit = BgNbdFit::fit(&data, &BgNbdFitOptions::default())?;
    let secs = started.elapsed().as_secs_f64();
    let (p, r) = (fit.params, &fit.report);
    println!(
        "BG/NBD fit: {secs:.2} s ({} distinct rows, {} iterations, LL {:.1}): \
         r {:.4} alpha {:.4} a {:.4} b {:.4} (true {} {} {} {})",
        r.n_distinct,
        r.iterations,
        r.log_likelihood,
        p.r,
        p.alpha,
        p.a,
        p.b,
        truth.r,
        truth.alpha,
        truth.a,
        truth.b
    );

    let started = Instant::now();
    let spend = SpendSummary::new(&s.x, &zbar)?;
    let gg = GammaGammaFit::fit(&spend, &GammaGammaFitOptions::default())?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "Gamma-Gamma fit: {secs:.2} s ({} repeat customers, {} iterations): p {:.3} q {:.3} \
         gamma {:.3} (true {} {} {}), corr(x, zbar) {:.3}",
        gg.report.n_customers,
        gg.report.iterations,
        gg.params.p,
        gg.params.q,
        gg.params.gamma,
        spend_truth.p,
        spend_truth.q,
        spend_truth.gamma,
        gg.frequency_spend_correlation.unwrap_or(f64::NAN)
    );

    let started = Instant::now();
    let alive = fit.params.probability_alive(&data);
    let t_alive = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let expected = fit.params.conditional_expected_purchases(&data, 39.0)?;
    let t_expected = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let horizon = ClvHorizon::with_annual_rate(12, 52.0 / 12.0, 0.10, 12.0)?;
    let values = clv(&fit.params, &gg.params, &data, &spend, &horizon)?;
    let t_clv = started.elapsed().as_secs_f64();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "predictions: P(alive) {t_alive:.2} s (mean {:.3}), E[Y(39)] {t_expected:.2} s \
         (mean {:.3}), 12-month CLV {t_clv:.2} s (mean {:.2})",
        mean(&alive),
        mean(&expected),
        mean(&values)
    );
    Ok(())
}
