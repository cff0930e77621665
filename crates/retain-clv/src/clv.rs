//! Discounted customer lifetime value from BG/NBD purchases and Gamma-Gamma spend.

use serde::{Deserialize, Serialize};

use crate::{BgNbdParams, Error, GammaGammaParams, Result, SpendSummary, Summary, par};

/// The horizon and discounting of a CLV. There are no defaults: the period length is in
/// the time unit of the summary the BG/NBD model was fitted on (weeks for CDNOW), and the
/// discount rate is per period of that length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvHorizon {
    /// Number of periods summed, ≥ 1.
    pub periods: u32,
    /// Length of one period in the model's time unit, > 0 (e.g. 4.345 weeks for a month).
    pub period_length: f64,
    /// Discount rate per period, > −1 (e.g. 0.0080 a month for 10 % a year).
    pub discount_rate: f64,
}

impl ClvHorizon {
    /// A checked horizon.
    ///
    /// # Errors
    /// [`Error::InvalidHorizon`].
    pub fn new(periods: u32, period_length: f64, discount_rate: f64) -> Result<Self> {
        let h = ClvHorizon {
            periods,
            period_length,
            discount_rate,
        };
        h.validate()?;
        Ok(h)
    }

    /// A horizon whose per-period discount rate is equivalent to `annual_rate` compounded
    /// over `periods_per_year` periods: (1 + annual)^(1/periods_per_year) − 1.
    ///
    /// # Errors
    /// [`Error::InvalidHorizon`].
    pub fn with_annual_rate(
        periods: u32,
        period_length: f64,
        annual_rate: f64,
        periods_per_year: f64,
    ) -> Result<Self> {
        if !(periods_per_year.is_finite() && periods_per_year > 0.0) {
            return Err(Error::InvalidHorizon("periods per year must be > 0"));
        }
        let rate = (1.0 + annual_rate).powf(1.0 / periods_per_year) - 1.0;
        ClvHorizon::new(periods, period_length, rate)
    }

    /// Check the fields (for horizons read from configuration).
    ///
    /// # Errors
    /// [`Error::InvalidHorizon`].
    pub fn validate(&self) -> Result<()> {
        if self.periods == 0 {
            return Err(Error::InvalidHorizon("at least one period is needed"));
        }
        if !(self.period_length.is_finite() && self.period_length > 0.0) {
            return Err(Error::InvalidHorizon(
                "the period length must be a finite time > 0",
            ));
        }
        if !(self.discount_rate.is_finite() && self.discount_rate > -1.0) {
            return Err(Error::InvalidHorizon(
                "the discount rate per period must be a finite number > -1",
            ));
        }
        Ok(())
    }
}

/// Discounted expected revenue of each customer over the horizon:
/// Σₖ₌₁..ₙ (E[Y(kΔ) | x, t_x, T] − E[Y((k−1)Δ) | x, t_x, T]) · E[M | x, z̄] / (1 + d)ᵏ,
/// purchases in period k discounted at its end. Multiply by a margin for profit.
///
/// `customers` and `spend` describe the same customers, row for row (same `x`).
///
/// # Errors
/// [`Error::InvalidHorizon`], [`Error::LengthMismatch`], [`Error::InvalidRow`] when the two
/// summaries disagree on x, and the prediction errors of [`BgNbdParams`] and
/// [`GammaGammaParams`].
pub fn clv(
    purchases: &BgNbdParams,
    spend_model: &GammaGammaParams,
    customers: &Summary<'_>,
    spend: &SpendSummary<'_>,
    horizon: &ClvHorizon,
) -> Result<Vec<f64>> {
    horizon.validate()?;
    purchases.validate()?;
    spend_model.validate()?;
    if spend.len() != customers.len() {
        return Err(Error::LengthMismatch {
            column: "spend x",
            len: spend.len(),
            expected: customers.len(),
        });
    }
    let (x, t_x, t) = (customers.x(), customers.t_x(), customers.t());
    let zbar = spend.zbar();
    if let Some(row) = (0..x.len()).find(|&i| spend.x()[i] != x[i]) {
        return Err(Error::InvalidRow {
            row,
            column: "x",
            value: spend.x()[row],
            reason: "the spend summary's x differs from the purchase summary's",
        });
    }
    let discount: Vec<f64> = (1..=horizon.periods)
        .map(|k| (1.0 + horizon.discount_rate).powi(-(k as i32)))
        .collect();
    par::map(x.len(), |i| {
        let m = spend_model.conditional_expected_spend_one(x[i], zbar[i])?;
        let mut previous = 0.0;
        let mut value = 0.0;
        for (k, d) in discount.iter().enumerate() {
            let until = (k + 1) as f64 * horizon.period_length;
            let cumulative =
                purchases.conditional_expected_purchases_one(until, x[i], t_x[i], t[i])?;
            value += (cumulative - previous) * d;
            previous = cumulative;
        }
        Ok(value * m)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BG: BgNbdParams = crate::published::CDNOW_BG_NBD;
    const GG: GammaGammaParams = crate::published::CDNOW_GAMMA_GAMMA;

    #[test]
    fn undiscounted_clv_is_purchases_times_spend() {
        let (x, t_x, t, z) = ([2.0, 0.0], [30.43, 0.0], [38.86, 38.86], [22.35, 0.0]);
        let s = Summary::new(&x, &t_x, &t).unwrap();
        let m = SpendSummary::new(&x, &z).unwrap();
        let h = ClvHorizon::new(13, 3.0, 0.0).unwrap();
        let v = clv(&BG, &GG, &s, &m, &h).unwrap();
        let y = BG.conditional_expected_purchases(&s, 39.0).unwrap();
        let spend = GG.conditional_expected_spend(&m).unwrap();
        for i in 0..2 {
            assert!(
                (v[i] - y[i] * spend[i]).abs() < 1e-9,
                "{} vs {}",
                v[i],
                y[i] * spend[i]
            );
        }
        // Discounting lowers it; more periods raise it.
        let discounted = ClvHorizon::with_annual_rate(13, 3.0, 0.1, 52.0 / 3.0).unwrap();
        let d = clv(&BG, &GG, &s, &m, &discounted).unwrap();
        assert!(d[0] < v[0] && d[0] > 0.9 * v[0]);
        let longer = clv(&BG, &GG, &s, &m, &ClvHorizon::new(26, 3.0, 0.0).unwrap()).unwrap();
        assert!(longer[0] > v[0]);
    }

    #[test]
    fn bad_horizons_and_mismatched_rows() {
        assert!(ClvHorizon::new(0, 1.0, 0.0).is_err());
        assert!(ClvHorizon::new(1, 0.0, 0.0).is_err());
        assert!(ClvHorizon::new(1, 1.0, -1.0).is_err());
        assert!(ClvHorizon::new(1, 1.0, f64::NAN).is_err());
        let s = Summary::new(&[1.0], &[2.0], &[3.0]).unwrap();
        let m = SpendSummary::new(&[2.0], &[10.0]).unwrap();
        let h = ClvHorizon::new(1, 1.0, 0.0).unwrap();
        let err = clv(&BG, &GG, &s, &m, &h).unwrap_err();
        assert!(err.to_string().starts_with("row 0: x = 2"), "{err}");
    }
}
