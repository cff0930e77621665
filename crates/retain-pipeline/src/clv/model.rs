//! The fitted pair of models (BG/NBD for purchases, Gamma-Gamma for spend) and the
//! per-customer summary they are fitted on.

use chrono::NaiveDate;
use retain_clv::{BgNbdFit, ClvHorizon, CustomerPrediction, GammaGammaFit, SpendSummary, Summary};
use retain_config::ClvConfig;

use super::*;

impl ClvModel {
    /// The `clv_12m` horizon: 12 months of 365.25/12 days, discounted monthly at the
    /// monthly rate equivalent to the yearly one.
    fn horizon(&self) -> Result<ClvHorizon, retain_clv::Error> {
        ClvHorizon::with_annual_rate(
            CLV_MONTHS,
            DAYS_PER_MONTH / f64::from(self.time_unit_days),
            self.annual_discount_rate,
            12.0,
        )
    }

    /// Predictions for every row of a summary (T = 0 included).
    pub(super) fn predict(
        &self,
        rows: &SummaryRows,
    ) -> Result<Vec<CustomerPrediction>, retain_clv::Error> {
        let unit = f64::from(self.time_unit_days);
        let mut out = retain_clv::predict_each(
            &self.bg_nbd.params,
            self.gamma_gamma.as_ref().map(|g| &g.params),
            &rows.x,
            &rows.t_x,
            &rows.t,
            &rows.zbar,
            EXPECTED_PURCHASES_DAYS / unit,
            &self.horizon()?,
        )?;
        for p in &mut out {
            p.clv = p.clv.map(|v| round_cents(v * self.margin));
        }
        Ok(out)
    }
}

pub(super) fn round_cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0 + 0.0
}

/// Fit both models on a summary. `Err` only when the purchase model cannot be fitted; a
/// spend model that cannot is recorded in the result.
pub(crate) fn fit(rows: &SummaryRows, cfg: &ClvConfig, as_of: NaiveDate) -> FitResult {
    let n = rows.x.len();
    if n == 0 {
        return Err(ClvFitError::NoCustomers { as_of });
    }
    // T = 0 (first purchase on the last observed day) says nothing about rates yet and
    // is outside the likelihood's domain: such customers are predicted, not fitted on.
    let keep: Vec<usize> = (0..n).filter(|&i| rows.t[i] > 0.0).collect();
    let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let (x, t_x, t) = (pick(&rows.x), pick(&rows.t_x), pick(&rows.t));
    let context = |source| ClvFitError::Fit { as_of, source };
    let summary = Summary::new(&x, &t_x, &t).map_err(context)?;
    let bg_nbd = BgNbdFit::fit(&summary, &Default::default()).map_err(context)?;

    let (xr, zr): (Vec<f64>, Vec<f64>) = (0..n)
        .filter(|&i| rows.x[i] > 0.0 && rows.zbar[i] > 0.0)
        .map(|i| (rows.x[i], rows.zbar[i]))
        .unzip();
    let (gamma_gamma, gamma_gamma_error) = match SpendSummary::new(&xr, &zr)
        .and_then(|s| GammaGammaFit::fit(&s, &Default::default()))
        .and_then(|g| g.params.mean_spend().map(|_| g))
    {
        Ok(g) => (Some(g), None),
        Err(retain_clv::Error::Empty) => (
            None,
            Some(format!(
                "Gamma-Gamma as of {as_of}: no customer with a paid repeat purchase"
            )),
        ),
        Err(e) => (None, Some(format!("Gamma-Gamma as of {as_of}: {e}"))),
    };

    let mut sorted = rows.x.clone();
    sorted.sort_by(f64::total_cmp);
    let p99 = sorted[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1];
    Ok(ClvModel {
        format: CLV_MODEL_FORMAT.into(),
        as_of,
        time_unit_days: cfg.time_unit_days,
        annual_discount_rate: cfg.annual_discount_rate,
        margin: cfg.margin,
        summary: SummaryStats {
            customers: n,
            fitted_customers: keep.len(),
            repeat_customers: rows.x.iter().filter(|&&x| x > 0.0).count(),
            mean_x: rows.x.iter().sum::<f64>() / n as f64,
            max_x: sorted[n - 1],
            p99_x: p99,
            max_t: rows.t.iter().copied().fold(0.0, f64::max),
        },
        bg_nbd,
        gamma_gamma,
        gamma_gamma_error,
    })
}
