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
    let discount = horizon.discount_factors();
    par::map(x.len(), |i| {
        horizon.value_one(
            purchases,
            spend_model,
            &discount,
            x[i],
            t_x[i],
            t[i],
            zbar[i],
        )
    })
}

/// What [`predict_each`] gives for one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerPrediction {
    /// P(alive | x, t_x, T).
    pub p_alive: f64,
    /// E[Y(purchases_horizon) | x, t_x, T].
    pub expected_purchases: f64,
    /// Discounted CLV over the horizon; `None` without a spend model.
    pub clv: Option<f64>,
}

/// P(alive), expected purchases and (with a spend model) CLV for every customer, in
/// parallel. Unlike the [`Summary`]-based functions it accepts T = 0 (a first purchase on
/// the last observed day), where the formulas still hold; other rows are assumed valid
/// (as a [`Summary`] would check), `zbar` is not used when x = 0, and a zbar ≤ 0 (all
/// repeat purchases free) counts as 0.
///
/// # Errors
/// [`Error::LengthMismatch`], [`Error::InvalidHorizon`], and the prediction errors of
/// [`BgNbdParams`] and [`GammaGammaParams`].
#[allow(clippy::too_many_arguments)]
pub fn predict_each(
    purchases: &BgNbdParams,
    spend_model: Option<&GammaGammaParams>,
    x: &[f64],
    t_x: &[f64],
    t: &[f64],
    zbar: &[f64],
    purchases_horizon: f64,
    horizon: &ClvHorizon,
) -> Result<Vec<CustomerPrediction>> {
    for (column, len) in [("t_x", t_x.len()), ("T", t.len()), ("zbar", zbar.len())] {
        if len != x.len() {
            return Err(Error::LengthMismatch {
                column,
                len,
                expected: x.len(),
            });
        }
    }
    horizon.validate()?;
    purchases.validate()?;
    if let Some(m) = spend_model {
        m.validate()?;
    }
    let discount = horizon.discount_factors();
    par::map(x.len(), |i| {
        let z = zbar[i].max(0.0);
        Ok(CustomerPrediction {
            p_alive: purchases.probability_alive_one(x[i], t_x[i], t[i]),
            expected_purchases: purchases.conditional_expected_purchases_one(
                purchases_horizon,
                x[i],
                t_x[i],
                t[i],
            )?,
            clv: match spend_model {
                Some(m) => Some(horizon.value_one(purchases, m, &discount, x[i], t_x[i], t[i], z)?),
                None => None,
            },
        })
    })
}

impl ClvHorizon {
    /// 1 / (1 + d)ᵏ for k = 1..=periods, the factors [`Self::value_one`] takes.
    #[must_use]
    pub fn discount_factors(&self) -> Vec<f64> {
        (1..=self.periods)
            .map(|k| (1.0 + self.discount_rate).powi(-(k as i32)))
            .collect()
    }

    /// The CLV of one customer (see [`clv`]), for callers that predict customers one by
    /// one, including some a [`Summary`] would refuse (T = 0: a first purchase on the
    /// last observed day, where the formulas still hold). `discount` comes from
    /// [`Self::discount_factors`]; `zbar` is not used when x = 0. The parameters and the
    /// horizon are assumed valid.
    ///
    /// # Errors
    /// The prediction errors of [`BgNbdParams`] and [`GammaGammaParams`].
    #[allow(clippy::too_many_arguments)]
    pub fn value_one(
        &self,
        purchases: &BgNbdParams,
        spend_model: &GammaGammaParams,
        discount: &[f64],
        x: f64,
        t_x: f64,
        t: f64,
        zbar: f64,
    ) -> Result<f64> {
        let m = spend_model.conditional_expected_spend_one(x, zbar)?;
        let mut previous = 0.0;
        let mut value = 0.0;
        for (k, d) in discount.iter().enumerate() {
            let until = (k + 1) as f64 * self.period_length;
            let cumulative = purchases.conditional_expected_purchases_one(until, x, t_x, t)?;
            value += (cumulative - previous) * d;
            previous = cumulative;
        }
        Ok(value * m)
    }
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

    /// predict_each agrees with the Summary-based functions on valid rows, and gives a
    /// customer first seen on the last observed day (T = 0) the new customer's E[X(t)].
    #[test]
    fn predict_each_matches_the_summary_functions_and_accepts_t_zero() {
        let (x, t_x, t, z) = (
            [2.0, 0.0, 5.0],
            [30.43, 0.0, 10.0],
            [38.86, 38.86, 38.0],
            [22.35, 0.0, 40.0],
        );
        let s = Summary::new(&x, &t_x, &t).unwrap();
        let m = SpendSummary::new(&x, &z).unwrap();
        let h = ClvHorizon::with_annual_rate(12, 4.345, 0.1, 12.0).unwrap();
        let each = predict_each(&BG, Some(&GG), &x, &t_x, &t, &z, 13.0, &h).unwrap();
        let v = clv(&BG, &GG, &s, &m, &h).unwrap();
        let alive = BG.probability_alive(&s);
        let y = BG.conditional_expected_purchases(&s, 13.0).unwrap();
        for i in 0..3 {
            assert_eq!(each[i].p_alive, alive[i]);
            assert_eq!(each[i].expected_purchases, y[i]);
            assert_eq!(each[i].clv, Some(v[i]));
        }
        let fresh = predict_each(&BG, None, &[0.0], &[0.0], &[0.0], &[0.0], 13.0, &h).unwrap();
        assert_eq!(fresh[0].p_alive, 1.0);
        assert!((fresh[0].expected_purchases - BG.expected_purchases(13.0).unwrap()).abs() < 1e-12);
        assert_eq!(fresh[0].clv, None);
        let err =
            predict_each(&BG, None, &[0.0], &[0.0, 1.0], &[0.0], &[0.0], 1.0, &h).unwrap_err();
        assert!(err.to_string().contains("t_x"), "{err}");
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
