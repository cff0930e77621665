//! BG/NBD (Fader, Hardie & Lee 2005): likelihood, fit and per-customer predictions.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::{Grouped, Summary};
use crate::optim::{self, FitReport, Objective, Spec};
use crate::special::{digamma, hyp2f1, ln_gamma};
use crate::{Error, Result, par};

const MODEL: &str = "BG/NBD";

/// Fitted (or given) BG/NBD parameters: purchase rates λ ~ Gamma(shape `r`, rate `alpha`),
/// dropout probabilities p ~ Beta(`a`, `b`). `alpha` is in the time unit of the summary
/// it was fitted on; the others are unit-free.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// Options of [`BgNbdFit::fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbdFitOptions {
    /// Starting point, in the summary's time unit. The default is 1 for every parameter.
    pub start: BgNbdParams,
    /// Iteration budget for Nelder–Mead and Newton together.
    pub max_iterations: u64,
}

impl Default for BgNbdFitOptions {
    fn default() -> Self {
        BgNbdFitOptions {
            start: BgNbdParams {
                r: 1.0,
                alpha: 1.0,
                a: 1.0,
                b: 1.0,
            },
            max_iterations: 3000,
        }
    }
}

/// A fitted BG/NBD model with its standard errors and fit report; serialisable for a model
/// registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgNbdFit {
    pub params: BgNbdParams,
    /// Asymptotic standard errors from the numeric Hessian of the log-likelihood at the
    /// optimum; `None` when that Hessian is not negative definite.
    pub standard_errors: Option<BgNbdParams>,
    pub report: FitReport,
}

impl BgNbdFit {
    /// Maximum-likelihood fit of the BG/NBD on a validated summary.
    ///
    /// # Errors
    /// [`Error::NoRepeatPurchases`] when every x is 0, [`Error::NoDropoutInformation`] when
    /// every repeat customer has t_x = T, [`Error::InvalidParameter`] for a bad starting
    /// point, [`Error::NotConverged`] and [`Error::NotIdentified`] from the optimiser.
    pub fn fit(data: &Summary<'_>, options: &BgNbdFitOptions) -> Result<Self> {
        options.start.validate()?;
        let (x, t_x, t) = (data.x(), data.t_x(), data.t());
        if x.iter().all(|&x| x == 0.0) {
            return Err(Error::NoRepeatPurchases { model: MODEL });
        }
        if !(0..data.len()).any(|i| x[i] > 0.0 && t_x[i] < t[i]) {
            return Err(Error::NoDropoutInformation);
        }
        // Times rescaled to a mean T of 1, so that every parameter is of order 1 whatever
        // the unit; alpha is scaled back at the end.
        let scale = t.iter().sum::<f64>() / t.len() as f64;
        let grouped = data.grouped(scale);
        let objective = Nll::new(&grouped);
        let s = options.start;
        let start = [s.r, s.alpha / scale, s.a, s.b];
        let spec = Spec {
            model: MODEL,
            names: &["r", "alpha", "a", "b"],
            max_iterations: options.max_iterations,
        };
        let sample = grouped.strided(optim::COARSE_ROWS);
        let coarse = sample.as_ref().map(Nll::new);
        let opt = optim::minimise(&objective, coarse.as_ref(), &start, &spec)?;
        let params = BgNbdParams {
            r: opt.p[0],
            alpha: opt.p[1] * scale,
            a: opt.p[2],
            b: opt.p[3],
        };
        let standard_errors =
            optim::standard_errors(&opt.hessian, objective.total).map(|se| BgNbdParams {
                r: se[0],
                alpha: se[1] * scale,
                a: se[2],
                b: se[3],
            });
        // Each customer's likelihood carries λ^x, so rescaling time by s multiplies it by
        // s^(-x): undo that to report the log-likelihood in the input's units.
        let log_likelihood = -opt.mean_nll * objective.total - scale.ln() * grouped.weighted_sum(0);
        Ok(BgNbdFit {
            params,
            standard_errors,
            report: FitReport {
                log_likelihood,
                n_customers: data.len(),
                n_distinct: grouped.len(),
                iterations: opt.iterations,
                gradient_norm: opt.gradient_norm,
            },
        })
    }
}

impl BgNbdParams {
    /// Parameters after checking that each is a finite number > 0.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`].
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<Self> {
        let p = BgNbdParams { r, alpha, a, b };
        p.validate()?;
        Ok(p)
    }

    /// Check that each parameter is a finite number > 0 (for parameters read from JSON).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`].
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("r", self.r),
            ("alpha", self.alpha),
            ("a", self.a),
            ("b", self.b),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::InvalidParameter {
                    name,
                    value,
                    reason: "BG/NBD parameters must be finite numbers > 0",
                });
            }
        }
        Ok(())
    }

    /// Log-likelihood of the summary under these parameters.
    #[must_use]
    pub fn log_likelihood(&self, data: &Summary<'_>) -> f64 {
        let grouped = data.grouped(1.0);
        let [ll, ..] = Nll::new(&grouped).sums(&[self.r, self.alpha, self.a, self.b]);
        ll
    }

    /// P(alive | x, t_x, T): the probability that a customer with this history has not
    /// dropped out by T. It is 1 when x = 0 (the BG/NBD lets customers drop out only
    /// right after a repeat purchase). The row is assumed valid (see [`Summary`]).
    #[must_use]
    pub fn probability_alive_one(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if x == 0.0 {
            return 1.0;
        }
        let odds = self.a / (self.b + x - 1.0)
            * ((self.r + x) * ((self.alpha + t).ln() - (self.alpha + t_x).ln())).exp();
        1.0 / (1.0 + odds)
    }

    /// [`Self::probability_alive_one`] for every customer of the summary.
    #[must_use]
    pub fn probability_alive(&self, data: &Summary<'_>) -> Vec<f64> {
        let (x, t_x, t) = (data.x(), data.t_x(), data.t());
        par::map(data.len(), |i| {
            Ok::<_, ()>(self.probability_alive_one(x[i], t_x[i], t[i]))
        })
        .unwrap_or_default()
    }

    /// E[Y(horizon) | x, t_x, T]: expected purchases in the `horizon` time units after T
    /// (FHL 2005, eq. 10). The row is assumed valid (see [`Summary`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a negative or non-finite horizon,
    /// [`Error::Hypergeometric`] when ₂F₁ cannot be evaluated.
    pub fn conditional_expected_purchases_one(
        &self,
        horizon: f64,
        x: f64,
        t_x: f64,
        t: f64,
    ) -> Result<f64> {
        check_horizon(horizon)?;
        let alive_term = if x == 0.0 {
            0.0
        } else {
            self.a / (self.b + x - 1.0)
                * ((self.r + x) * ((self.alpha + t).ln() - (self.alpha + t_x).ln())).exp()
        };
        Ok(self.growth(horizon, x, t)? / (1.0 + alive_term))
    }

    /// [`Self::conditional_expected_purchases_one`] for every customer of the summary.
    ///
    /// # Errors
    /// As [`Self::conditional_expected_purchases_one`].
    pub fn conditional_expected_purchases(
        &self,
        data: &Summary<'_>,
        horizon: f64,
    ) -> Result<Vec<f64>> {
        check_horizon(horizon)?;
        let (x, t_x, t) = (data.x(), data.t_x(), data.t());
        par::map(data.len(), |i| {
            self.conditional_expected_purchases_one(horizon, x[i], t_x[i], t[i])
        })
    }

    /// E[X(t)]: expected repeat purchases of a new customer in the `t` time units after
    /// their first purchase (FHL 2005, eq. 9).
    ///
    /// # Errors
    /// As [`Self::conditional_expected_purchases_one`].
    pub fn expected_purchases(&self, t: f64) -> Result<f64> {
        check_horizon(t)?;
        self.growth(t, 0.0, 0.0)
    }

    /// (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))],
    /// the numerator of E[Y(t) | x, t_x, T] (and E[X(t)] for x = T = 0).
    ///
    /// Euler's transformation turns the power times ₂F₁ into
    /// ((α+T)/(α+T+t))^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z), whose parameters do not grow
    /// with x and whose value stays of order 1. At a = 1 the expression is 0/0; within 1e-6
    /// of it, the value is the mean of a = 1 ± 1e-6.
    fn growth(&self, horizon: f64, x: f64, t: f64) -> Result<f64> {
        if horizon == 0.0 {
            return Ok(0.0);
        }
        const NEAR_ONE: f64 = 1e-6;
        if (self.a - 1.0).abs() < NEAR_ONE {
            return Ok(0.5
                * (self.growth_at(1.0 - NEAR_ONE, horizon, x, t)?
                    + self.growth_at(1.0 + NEAR_ONE, horizon, x, t)?));
        }
        self.growth_at(self.a, horizon, x, t)
    }

    fn growth_at(&self, a: f64, horizon: f64, x: f64, t: f64) -> Result<f64> {
        let BgNbdParams { r, alpha, b, .. } = *self;
        let c = a + b + x - 1.0;
        let z = horizon / (alpha + t + horizon);
        let ln_one_minus_z = (alpha + t).ln() - (alpha + t + horizon).ln();
        let f = hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)?;
        let bracket = 1.0 - ((a - 1.0) * ln_one_minus_z).exp() * f;
        Ok(c / (a - 1.0) * bracket)
    }
}

fn check_horizon(horizon: f64) -> Result<()> {
    if horizon.is_finite() && horizon >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "horizon",
            value: horizon,
            reason: "the prediction horizon must be a finite time >= 0",
        })
    }
}

/// The BG/NBD negative mean log-likelihood over grouped rows (x, t_x, T).
struct Nll<'a> {
    g: &'a Grouped<3>,
    total: f64,
}

impl<'a> Nll<'a> {
    fn new(g: &'a Grouped<3>) -> Self {
        Nll {
            g,
            total: g.total_weight(),
        }
    }

    /// Σ weight · (ℓ, ∂ℓ/∂r, ∂ℓ/∂α, ∂ℓ/∂a, ∂ℓ/∂b) over all rows.
    fn sums(&self, p: &[f64]) -> [f64; 5] {
        par::sum(self.g.len(), |range| self.chunk(p, range))
    }

    /// Per customer (FHL 2005, eq. 6, in logs):
    /// ℓ = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x) − ln B(a, b) − (r+x) ln(α+T)
    ///     + ln(1 + [x>0] · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)),
    /// with the last two terms as a log-sum-exp of ℓ₃ = −(r+x) ln(α+T) and
    /// ℓ₄ = ln a − ln(b+x−1) − (r+x) ln(α+t_x). Terms that depend on x only are computed
    /// once per run of equal x (the rows are sorted by x).
    fn chunk(&self, p: &[f64], range: Range<usize>) -> [f64; 5] {
        let (r, alpha, a, b) = (p[0], p[1], p[2], p[3]);
        let [xs, txs, ts] = &self.g.cols;
        let ws = &self.g.weight;
        let (ln_alpha, ln_a) = (alpha.ln(), a.ln());
        let base = -ln_gamma(r) + r * ln_alpha + ln_gamma(a + b) - ln_gamma(b);
        let (psi_r, psi_ab, psi_b) = (digamma(r), digamma(a + b), digamma(b));

        let mut cur_x = f64::NAN;
        let (mut c_x, mut dr_x, mut da_x, mut db_x, mut ln_bx1, mut rx) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        let mut acc = [0.0; 5];
        for i in range {
            let (x, tx, t, w) = (xs[i], txs[i], ts[i], ws[i]);
            if x != cur_x {
                cur_x = x;
                rx = r + x;
                c_x = base + ln_gamma(rx) + ln_gamma(b + x) - ln_gamma(a + b + x);
                let psi_abx = digamma(a + b + x);
                dr_x = digamma(rx) - psi_r + ln_alpha;
                da_x = psi_ab - psi_abx;
                db_x = psi_ab - psi_b + digamma(b + x) - psi_abx;
                ln_bx1 = if x > 0.0 { (b + x - 1.0).ln() } else { 0.0 };
            }
            let lat = (alpha + t).ln();
            let l3 = -rx * lat;
            let (ll, gr, galpha, ga, gb) = if x == 0.0 {
                (
                    c_x + l3,
                    dr_x - lat,
                    r / alpha - rx / (alpha + t),
                    da_x,
                    db_x,
                )
            } else {
                let ltx = (alpha + tx).ln();
                let l4 = ln_a - ln_bx1 - rx * ltx;
                // w4 = e^ℓ₄ / (e^ℓ₃ + e^ℓ₄), computed without overflow.
                let (m, w4) = if l3 >= l4 {
                    let e = (l4 - l3).exp();
                    (l3 + e.ln_1p(), e / (1.0 + e))
                } else {
                    let e = (l3 - l4).exp();
                    (l4 + e.ln_1p(), 1.0 / (1.0 + e))
                };
                let w3 = 1.0 - w4;
                (
                    c_x + m,
                    dr_x - w3 * lat - w4 * ltx,
                    r / alpha - rx * (w3 / (alpha + t) + w4 / (alpha + tx)),
                    da_x + w4 / a,
                    db_x - w4 / (b + x - 1.0),
                )
            };
            acc[0] += w * ll;
            acc[1] += w * gr;
            acc[2] += w * galpha;
            acc[3] += w * ga;
            acc[4] += w * gb;
        }
        acc
    }
}

impl Objective for Nll<'_> {
    fn nll_grad(&self, p: &[f64]) -> (f64, Vec<f64>) {
        let s = self.sums(p);
        (
            -s[0] / self.total,
            s[1..].iter().map(|g| -g / self.total).collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's estimates on CDNOW.
    const PAPER: BgNbdParams = crate::published::CDNOW_BG_NBD;

    #[test]
    fn worked_example_with_the_papers_parameters() {
        // FHL 2005: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in 39 weeks.
        let y = PAPER
            .conditional_expected_purchases_one(39.0, 2.0, 30.43, 38.86)
            .unwrap();
        assert!((y - 1.226).abs() < 5e-4, "{y}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let x = [0.0, 0.0, 1.0, 2.0, 2.0, 7.0];
        let t_x = [0.0, 0.0, 3.5, 30.43, 10.0, 36.0];
        let t = [20.0, 38.0, 38.0, 38.86, 25.0, 37.0];
        let g = Summary::new(&x, &t_x, &t).unwrap().grouped(1.0);
        let nll = Nll::new(&g);
        let p = [0.4, 3.0, 0.7, 2.5];
        let (_, grad) = nll.nll_grad(&p);
        for k in 0..4 {
            let h = 1e-6 * p[k];
            let (mut up, mut down) = (p, p);
            up[k] += h;
            down[k] -= h;
            let numeric = (nll.nll_grad(&up).0 - nll.nll_grad(&down).0) / (2.0 * h);
            assert!(
                (grad[k] - numeric).abs() < 1e-6 * numeric.abs().max(1.0),
                "parameter {k}: analytic {} numeric {numeric}",
                grad[k]
            );
        }
    }

    #[test]
    fn likelihood_matches_the_papers_formula_directly() {
        // One customer, by the product form of FHL 2005 eq. 6 (no logs).
        let (x, t_x, t) = (3.0_f64, 20.0_f64, 35.0_f64);
        let BgNbdParams { r, alpha, a, b } = PAPER;
        let beta = |p: f64, q: f64| (ln_gamma(p) + ln_gamma(q) - ln_gamma(p + q)).exp();
        let a1 = (ln_gamma(r + x) - ln_gamma(r)).exp() * alpha.powf(r);
        let l = beta(a, b + x) / beta(a, b) * a1 / (alpha + t).powf(r + x)
            + beta(a + 1.0, b + x - 1.0) / beta(a, b) * a1 / (alpha + t_x).powf(r + x);
        let (xs, txs, ts) = ([x], [t_x], [t]);
        let ll = PAPER.log_likelihood(&Summary::new(&xs, &txs, &ts).unwrap());
        assert!((ll - l.ln()).abs() < 1e-12, "{ll} vs {}", l.ln());
    }

    #[test]
    fn probability_alive_properties() {
        // x = 0: alive by construction.
        assert_eq!(PAPER.probability_alive_one(0.0, 0.0, 38.0), 1.0);
        // Increases with recency t_x for fixed x and T, reaching 1/(1 + a/(b+x−1)) at t_x = T.
        let mut last = 0.0;
        for k in 1..=38 {
            let p = PAPER.probability_alive_one(3.0, f64::from(k), 38.0);
            assert!(p > last && p <= 1.0, "t_x = {k}: {p} after {last}");
            last = p;
        }
        let at_t = 1.0 / (1.0 + PAPER.a / (PAPER.b + 2.0));
        assert!((last - at_t).abs() < 1e-12);
        // Decreases with T for fixed x and t_x (longer silence).
        let early = PAPER.probability_alive_one(3.0, 10.0, 20.0);
        let late = PAPER.probability_alive_one(3.0, 10.0, 38.0);
        assert!(early > late);
    }

    /// Parameters fitted on a synthetic shop (seed 7, 2,000 customers, as of
    /// 2026-03-06) where customers a few days old got negative expected purchases (down
    /// to −1,665) before ₂F₁ summed its positive series near z = 1 directly.
    #[test]
    fn conditional_expected_purchases_are_non_negative_and_grow_with_the_horizon() {
        let fitted = BgNbdParams {
            r: 0.4840242774885819,
            alpha: 3.2147787878179277,
            a: 8.748922655909738,
            b: 64.17898056331597,
        };
        for params in [fitted, PAPER] {
            for x in [0.0, 1.0, 2.0, 5.0, 12.0, 30.0] {
                for t in [0.01, 0.05, 0.41, 1.0, 4.0, 13.0, 52.0, 104.0] {
                    for t_x in [0.0, 0.5 * t, t] {
                        if x == 0.0 && t_x > 0.0 {
                            continue;
                        }
                        let mut last = 0.0;
                        for horizon in [1.0, 90.0 / 7.0, 52.0, 520.0] {
                            let y = params
                                .conditional_expected_purchases_one(horizon, x, t_x, t)
                                .unwrap();
                            assert!(
                                y.is_finite() && y >= last,
                                "{params:?}: E[Y({horizon}) | x {x}, t_x {t_x}, T {t}] = {y} after {last}"
                            );
                            last = y;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn expected_purchases_properties() {
        // E[X(t)] increases with t from 0; E[Y(0)] = 0.
        assert_eq!(PAPER.expected_purchases(0.0).unwrap(), 0.0);
        let mut last = 0.0;
        for t in [1.0, 10.0, 39.0, 78.0, 520.0, 5200.0] {
            let e = PAPER.expected_purchases(t).unwrap();
            assert!(e > last, "E[X({t})] = {e}");
            last = e;
        }
        // For a tiny t, E[X(t)] ≈ t · E[λ] = t r/α (nobody has dropped out yet).
        let e = PAPER.expected_purchases(1e-4).unwrap();
        assert!(
            (e / (1e-4 * PAPER.r / PAPER.alpha) - 1.0).abs() < 1e-3,
            "{e}"
        );
        // E[Y | x = 0, T → 0] is the unconditional E[X].
        let y = PAPER
            .conditional_expected_purchases_one(39.0, 0.0, 0.0, 1e-12)
            .unwrap();
        assert!((y - PAPER.expected_purchases(39.0).unwrap()).abs() < 1e-9);
        // Continuous through a = 1 (the 0/0 point).
        let near = |a| {
            BgNbdParams { a, ..PAPER }
                .conditional_expected_purchases_one(39.0, 2.0, 30.43, 38.86)
                .unwrap()
        };
        let (below, at, above) = (near(1.0 - 1e-3), near(1.0), near(1.0 + 1e-3));
        assert!(
            (at - 0.5 * (below + above)).abs() < 1e-5,
            "{below} {at} {above}"
        );
        // A long horizon and a heavy buyer stay finite.
        let y = PAPER
            .conditional_expected_purchases_one(5200.0, 150.0, 38.0, 38.5)
            .unwrap();
        assert!(y.is_finite() && y > 0.0, "{y}");
        assert!(PAPER.expected_purchases(-1.0).is_err());
    }

    #[test]
    fn params_round_trip_through_json() {
        let json = serde_json::to_string(&PAPER).unwrap();
        assert_eq!(json, r#"{"r":0.243,"alpha":4.414,"a":0.793,"b":2.426}"#);
        let back: BgNbdParams = serde_json::from_str(&json).unwrap();
        assert_eq!(back, PAPER);
        assert!(BgNbdParams::new(0.2, -1.0, 1.0, 1.0).is_err());
        assert!(BgNbdParams::new(f64::NAN, 1.0, 1.0, 1.0).is_err());
    }
}
