//! Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Fader & Hardie 2013).

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::{Grouped, SpendSummary};
use crate::optim::{self, FitReport, Objective, Spec};
use crate::special::{digamma, ln_gamma};
use crate::{Error, Result, par};

const MODEL: &str = "Gamma-Gamma";

/// Fitted (or given) Gamma-Gamma parameters: each purchase's value is Gamma(shape `p`,
/// rate ν), and ν ~ Gamma(shape `q`, rate `gamma`) across customers. `gamma` is in the
/// currency of the spends it was fitted on; `p` and `q` are unit-free.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// Options of [`GammaGammaFit::fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGammaFitOptions {
    /// Starting point, in the spends' currency. The default is 1 for every parameter.
    pub start: GammaGammaParams,
    /// Iteration budget for Nelder–Mead and Newton together.
    pub max_iterations: u64,
}

impl Default for GammaGammaFitOptions {
    fn default() -> Self {
        GammaGammaFitOptions {
            start: GammaGammaParams {
                p: 1.0,
                q: 1.0,
                gamma: 1.0,
            },
            max_iterations: 3000,
        }
    }
}

/// A fitted Gamma-Gamma model; serialisable for a model registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaFit {
    pub params: GammaGammaParams,
    /// Asymptotic standard errors from the numeric Hessian of the log-likelihood at the
    /// optimum; `None` when that Hessian is not negative definite.
    pub standard_errors: Option<GammaGammaParams>,
    /// Pearson correlation between x and z̄ over the customers fitted on. The model
    /// assumes spend independent of frequency: print this, and distrust the spend model
    /// when it is far from 0. `None` when x or z̄ is constant.
    pub frequency_spend_correlation: Option<f64>,
    pub report: FitReport,
}

impl GammaGammaFit {
    /// Maximum-likelihood fit on the customers with x ≥ 1 of the summary.
    ///
    /// # Errors
    /// [`Error::NoRepeatPurchases`] when no customer has x ≥ 1, [`Error::InvalidParameter`]
    /// for a bad starting point, [`Error::NotConverged`] and [`Error::NotIdentified`] from
    /// the optimiser (for example when every spend is equal).
    pub fn fit(data: &SpendSummary<'_>, options: &GammaGammaFitOptions) -> Result<Self> {
        options.start.validate()?;
        let n = data.repeat_customers();
        if n == 0 {
            return Err(Error::NoRepeatPurchases { model: MODEL });
        }
        let (x, zbar) = (data.x(), data.zbar());
        let repeat = |i: &usize| x[*i] > 0.0;
        // Spends rescaled to a mean of 1; gamma is scaled back at the end.
        let scale = (0..x.len()).filter(repeat).map(|i| zbar[i]).sum::<f64>() / n as f64;
        let grouped = data.grouped(scale);
        let objective = Nll::new(&grouped);
        let s = options.start;
        let start = [s.p, s.q, s.gamma / scale];
        let spec = Spec {
            model: MODEL,
            names: &["p", "q", "gamma"],
            max_iterations: options.max_iterations,
        };
        let sample = grouped.strided(optim::COARSE_ROWS);
        let coarse = sample.as_ref().map(Nll::new);
        let opt = optim::minimise(&objective, coarse.as_ref(), &start, &spec)?;
        let params = GammaGammaParams {
            p: opt.p[0],
            q: opt.p[1],
            gamma: opt.p[2] * scale,
        };
        let standard_errors =
            optim::standard_errors(&opt.hessian, objective.total).map(|se| GammaGammaParams {
                p: se[0],
                q: se[1],
                gamma: se[2] * scale,
            });
        // The density of z̄ scales as 1/s when spends are divided by s.
        let log_likelihood = -opt.mean_nll * objective.total - objective.total * scale.ln();
        let (fx, fz): (Vec<f64>, Vec<f64>) =
            (0..x.len()).filter(repeat).map(|i| (x[i], zbar[i])).unzip();
        Ok(GammaGammaFit {
            params,
            standard_errors,
            frequency_spend_correlation: pearson(&fx, &fz),
            report: FitReport {
                log_likelihood,
                n_customers: n,
                n_distinct: grouped.len(),
                iterations: opt.iterations,
                gradient_norm: opt.gradient_norm,
            },
        })
    }
}

impl GammaGammaParams {
    /// Parameters after checking that each is a finite number > 0.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`].
    pub fn new(p: f64, q: f64, gamma: f64) -> Result<Self> {
        let params = GammaGammaParams { p, q, gamma };
        params.validate()?;
        Ok(params)
    }

    /// Check that each parameter is a finite number > 0 (for parameters read from JSON).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`].
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [("p", self.p), ("q", self.q), ("gamma", self.gamma)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::InvalidParameter {
                    name,
                    value,
                    reason: "Gamma-Gamma parameters must be finite numbers > 0",
                });
            }
        }
        Ok(())
    }

    /// The population mean of a customer's average spend, E[p/ν] = p·γ/(q − 1).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when q ≤ 1: the mean is then infinite.
    pub fn mean_spend(&self) -> Result<f64> {
        if self.q > 1.0 {
            Ok(self.p * self.gamma / (self.q - 1.0))
        } else {
            Err(Error::InvalidParameter {
                name: "q",
                value: self.q,
                reason: "the mean spend p*gamma/(q-1) is infinite when q <= 1 (spends too \
                         heavy-tailed for the Gamma-Gamma model)",
            })
        }
    }

    /// E[M | x, z̄]: the expected average spend per purchase of a customer with x repeat
    /// purchases of mean value z̄, p(γ + x z̄)/(px + q − 1), a weighted mean of the
    /// population mean and z̄. For x = 0 it is the population mean (z̄ is not used).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when px + q ≤ 1 (the expectation is infinite).
    pub fn conditional_expected_spend_one(&self, x: f64, zbar: f64) -> Result<f64> {
        if x == 0.0 {
            return self.mean_spend();
        }
        let denominator = self.p * x + self.q - 1.0;
        if denominator > 0.0 {
            Ok(self.p * (self.gamma + x * zbar) / denominator)
        } else {
            Err(Error::InvalidParameter {
                name: "q",
                value: self.q,
                reason: "the conditional expected spend is infinite when p*x + q <= 1",
            })
        }
    }

    /// [`Self::conditional_expected_spend_one`] for every customer of the summary.
    ///
    /// # Errors
    /// As [`Self::conditional_expected_spend_one`].
    pub fn conditional_expected_spend(&self, data: &SpendSummary<'_>) -> Result<Vec<f64>> {
        let (x, zbar) = (data.x(), data.zbar());
        par::map(data.len(), |i| {
            self.conditional_expected_spend_one(x[i], zbar[i])
        })
    }

    /// Log-likelihood of the customers with x ≥ 1 under these parameters.
    #[must_use]
    pub fn log_likelihood(&self, data: &SpendSummary<'_>) -> f64 {
        let grouped = data.grouped(1.0);
        let [ll, ..] = Nll::new(&grouped).sums(&[self.p, self.q, self.gamma]);
        ll
    }
}

/// Pearson correlation of two equally long columns; `None` when either is constant or
/// there are fewer than two values.
#[must_use]
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 2 {
        return None;
    }
    let mean = |v: &[f64]| v[..n].iter().sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    let r = sab / (saa * sbb).sqrt();
    r.is_finite().then_some(r)
}

/// The Gamma-Gamma negative mean log-likelihood over grouped rows (x, z̄), x ≥ 1.
struct Nll<'a> {
    g: &'a Grouped<2>,
    total: f64,
}

impl<'a> Nll<'a> {
    fn new(g: &'a Grouped<2>) -> Self {
        Nll {
            g,
            total: g.total_weight(),
        }
    }

    fn sums(&self, p: &[f64]) -> [f64; 4] {
        par::sum(self.g.len(), |range| self.chunk(p, range))
    }

    /// Per customer (Fader & Hardie 2013):
    /// ℓ = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln z̄ + px ln x
    ///     − (px+q) ln(γ + x z̄).
    fn chunk(&self, params: &[f64], range: Range<usize>) -> [f64; 4] {
        let (p, q, gamma) = (params[0], params[1], params[2]);
        let [xs, zs] = &self.g.cols;
        let ws = &self.g.weight;
        let ln_g = gamma.ln();
        let base = -ln_gamma(q) + q * ln_g;
        let psi_q = digamma(q);
        let mut cur_x = f64::NAN;
        let (mut px, mut c_x, mut psi_pxq, mut psi_px, mut ln_x) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut acc = [0.0; 4];
        for i in range {
            let (x, z, w) = (xs[i], zs[i], ws[i]);
            if x != cur_x {
                cur_x = x;
                px = p * x;
                ln_x = x.ln();
                c_x = base + ln_gamma(px + q) - ln_gamma(px) + px * ln_x;
                psi_pxq = digamma(px + q);
                psi_px = digamma(px);
            }
            let ln_z = z.ln();
            let denom = gamma + x * z;
            let ln_d = denom.ln();
            acc[0] += w * (c_x + (px - 1.0) * ln_z - (px + q) * ln_d);
            acc[1] += w * x * (psi_pxq - psi_px + ln_z + ln_x - ln_d);
            acc[2] += w * (psi_pxq - psi_q + ln_g - ln_d);
            acc[3] += w * (q / gamma - (px + q) / denom);
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

    #[test]
    fn gradient_matches_finite_differences() {
        let x = [1.0, 1.0, 2.0, 5.0, 0.0];
        let z = [10.0, 35.5, 22.0, 14.0, 0.0];
        let g = SpendSummary::new(&x, &z).unwrap().grouped(1.0);
        assert_eq!(g.len(), 4, "x = 0 rows are left out");
        let nll = Nll::new(&g);
        let p = [6.0, 3.5, 15.0];
        let (_, grad) = nll.nll_grad(&p);
        for k in 0..3 {
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
    fn conditional_spend_shrinks_towards_the_mean() {
        let gg = GammaGammaParams::new(6.25, 3.74, 15.44).unwrap();
        let mean = gg.mean_spend().unwrap();
        assert!((mean - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        assert_eq!(gg.conditional_expected_spend_one(0.0, 0.0).unwrap(), mean);
        // Between the mean and z̄, closer to z̄ with more purchases.
        let one = gg.conditional_expected_spend_one(1.0, 100.0).unwrap();
        let ten = gg.conditional_expected_spend_one(10.0, 100.0).unwrap();
        assert!(mean < one && one < ten && ten < 100.0, "{mean} {one} {ten}");
        let heavy = GammaGammaParams::new(1.0, 0.8, 10.0).unwrap();
        assert!(heavy.mean_spend().is_err());
        assert!(heavy.conditional_expected_spend_one(0.0, 0.0).is_err());
    }

    #[test]
    fn pearson_known_values() {
        assert_eq!(pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]), Some(1.0));
        let r = pearson(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((r - 0.8).abs() < 1e-12, "{r}");
        assert_eq!(pearson(&[1.0, 1.0], &[2.0, 3.0]), None);
    }
}
