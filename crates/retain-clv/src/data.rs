//! Validated per-customer inputs, and their grouped form for the likelihood sums.

use crate::{Error, Result};

/// The BG/NBD's per-customer summary, validated: one row per customer, three equally long
/// columns in the same time unit.
///
/// - `x`: number of repeat purchases (purchases after the first), a whole number ≥ 0;
/// - `t_x`: time of the last purchase, from the first purchase (0 when x = 0, > 0 when
///   x > 0, ≤ T);
/// - `t` (the papers' T): time from the first purchase to the end of observation, > 0.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    x: &'a [f64],
    t_x: &'a [f64],
    t: &'a [f64],
}

impl<'a> Summary<'a> {
    /// Check every row; the error names the first bad row (zero-based) and column.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`], [`Error::Empty`], [`Error::InvalidRow`].
    pub fn new(x: &'a [f64], t_x: &'a [f64], t: &'a [f64]) -> Result<Self> {
        same_len("t_x", t_x.len(), x.len())?;
        same_len("T", t.len(), x.len())?;
        if x.is_empty() {
            return Err(Error::Empty);
        }
        for (row, ((&x, &t_x), &t)) in x.iter().zip(t_x).zip(t).enumerate() {
            let bad = |column, value, reason| Error::InvalidRow {
                row,
                column,
                value,
                reason,
            };
            check_count(row, x)?;
            if !t.is_finite() {
                return Err(bad("T", t, "not a finite number"));
            }
            if t <= 0.0 {
                return Err(bad("T", t, "the observation time must be > 0"));
            }
            if !t_x.is_finite() {
                return Err(bad("t_x", t_x, "not a finite number"));
            }
            if t_x < 0.0 {
                return Err(bad("t_x", t_x, "the recency must be >= 0"));
            }
            if t_x > t {
                return Err(bad(
                    "t_x",
                    t_x,
                    "the last purchase is after the end of observation (t_x > T)",
                ));
            }
            if x == 0.0 && t_x != 0.0 {
                return Err(bad(
                    "t_x",
                    t_x,
                    "a customer without repeat purchases (x = 0) must have t_x = 0",
                ));
            }
            if x > 0.0 && t_x == 0.0 {
                return Err(bad(
                    "t_x",
                    t_x,
                    "x > 0 but t_x = 0: a repeat purchase at the moment of the first",
                ));
            }
        }
        Ok(Summary { x, t_x, t })
    }

    /// Number of customers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Always false: [`Summary::new`] refuses empty input.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The repeat purchases column.
    #[must_use]
    pub fn x(&self) -> &'a [f64] {
        self.x
    }

    /// The recency column.
    #[must_use]
    pub fn t_x(&self) -> &'a [f64] {
        self.t_x
    }

    /// The observation-time column (T).
    #[must_use]
    pub fn t(&self) -> &'a [f64] {
        self.t
    }

    /// The rows with times divided by `scale`, identical rows merged into one with a weight,
    /// sorted by (x, t_x, T).
    pub(crate) fn grouped(&self, scale: f64) -> Grouped<3> {
        Grouped::new(self.len(), |i| {
            [self.x[i], self.t_x[i] / scale, self.t[i] / scale]
        })
    }
}

/// The Gamma-Gamma model's per-customer summary, validated: `x` (repeat purchases) and
/// `zbar` (mean value of the repeat purchases). Rows with x = 0 are kept for the
/// predictions (they get the population mean) but ignored by the fit, and their `zbar`
/// is not looked at (it may be 0 or NaN).
#[derive(Debug, Clone, Copy)]
pub struct SpendSummary<'a> {
    x: &'a [f64],
    zbar: &'a [f64],
}

impl<'a> SpendSummary<'a> {
    /// Check every row; the error names the first bad row (zero-based) and column.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`], [`Error::Empty`], [`Error::InvalidRow`].
    pub fn new(x: &'a [f64], zbar: &'a [f64]) -> Result<Self> {
        same_len("zbar", zbar.len(), x.len())?;
        if x.is_empty() {
            return Err(Error::Empty);
        }
        for (row, (&x, &zbar)) in x.iter().zip(zbar).enumerate() {
            check_count(row, x)?;
            if x > 0.0 && !(zbar.is_finite() && zbar > 0.0) {
                return Err(Error::InvalidRow {
                    row,
                    column: "zbar",
                    value: zbar,
                    reason: "the mean spend of a repeat customer must be a finite number > 0 \
                             (leave out refunds and free orders before averaging)",
                });
            }
        }
        Ok(SpendSummary { x, zbar })
    }

    /// Number of customers, repeat or not.
    #[must_use]
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Always false: [`SpendSummary::new`] refuses empty input.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The repeat purchases column.
    #[must_use]
    pub fn x(&self) -> &'a [f64] {
        self.x
    }

    /// The mean repeat spend column.
    #[must_use]
    pub fn zbar(&self) -> &'a [f64] {
        self.zbar
    }

    /// Number of customers with x ≥ 1 (those the fit uses).
    #[must_use]
    pub fn repeat_customers(&self) -> usize {
        self.x.iter().filter(|&&x| x > 0.0).count()
    }

    /// Rows with x ≥ 1, spends divided by `scale`, grouped as in [`Summary::grouped`].
    pub(crate) fn grouped(&self, scale: f64) -> Grouped<2> {
        let rows: Vec<usize> = (0..self.len()).filter(|&i| self.x[i] > 0.0).collect();
        Grouped::new(rows.len(), |k| {
            let i = rows[k];
            [self.x[i], self.zbar[i] / scale]
        })
    }
}

fn same_len(column: &'static str, len: usize, expected: usize) -> Result<()> {
    if len == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            column,
            len,
            expected,
        })
    }
}

fn check_count(row: usize, x: f64) -> Result<()> {
    let reason = if !x.is_finite() {
        "not a finite number"
    } else if x < 0.0 {
        "the number of repeat purchases must be >= 0"
    } else if x != x.round() {
        "the number of repeat purchases must be a whole number"
    } else {
        return Ok(());
    };
    Err(Error::InvalidRow {
        row,
        column: "x",
        value: x,
        reason,
    })
}

/// Distinct rows of K columns, sorted, each with the number of customers it stands for.
/// `cols[0]` is x, so rows with the same x are contiguous.
#[derive(Debug, Clone)]
pub(crate) struct Grouped<const K: usize> {
    pub cols: [Vec<f64>; K],
    pub weight: Vec<f64>,
}

impl<const K: usize> Grouped<K> {
    fn new(n: usize, row: impl Fn(usize) -> [f64; K]) -> Self {
        let mut rows: Vec<[f64; K]> = (0..n).map(row).collect();
        rows.sort_unstable_by(|p, q| {
            p.iter()
                .zip(q)
                .map(|(a, b)| a.total_cmp(b))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut cols: [Vec<f64>; K] = std::array::from_fn(|_| Vec::new());
        let mut weight: Vec<f64> = Vec::new();
        let mut last: Option<[f64; K]> = None;
        for r in rows {
            if last == Some(r) {
                if let Some(w) = weight.last_mut() {
                    *w += 1.0;
                }
                continue;
            }
            for (col, v) in cols.iter_mut().zip(r) {
                col.push(v);
            }
            weight.push(1.0);
            last = Some(r);
        }
        Grouped { cols, weight }
    }

    pub fn len(&self) -> usize {
        self.weight.len()
    }

    /// Every k-th row (the rows are sorted, so this is stratified by x), weights scaled to
    /// keep the total: a subsample of at most `max_rows` rows, or `None` when the data are
    /// that small already.
    pub fn strided(&self, max_rows: usize) -> Option<Self> {
        if self.len() <= max_rows {
            return None;
        }
        let k = self.len().div_ceil(max_rows);
        let keep = |v: &Vec<f64>| v.iter().step_by(k).copied().collect::<Vec<f64>>();
        let cols = std::array::from_fn(|c| keep(&self.cols[c]));
        let mut weight = keep(&self.weight);
        let factor = self.total_weight() / weight.iter().sum::<f64>();
        for w in &mut weight {
            *w *= factor;
        }
        Some(Grouped { cols, weight })
    }

    /// Σ weight · column k.
    pub fn weighted_sum(&self, k: usize) -> f64 {
        self.cols[k]
            .iter()
            .zip(&self.weight)
            .map(|(v, w)| v * w)
            .sum()
    }

    pub fn total_weight(&self) -> f64 {
        self.weight.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rows_are_named() {
        let err = Summary::new(&[1.0, 2.0], &[3.0, 5.0], &[4.0, 4.5]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 1: t_x = 5: the last purchase is after the end of observation (t_x > T)"
        );
        let err = Summary::new(&[1.0, -1.0], &[3.0, 1.0], &[4.0, 4.5]).unwrap_err();
        assert!(err.to_string().starts_with("row 1: x = -1"), "{err}");
        let err = Summary::new(&[1.5], &[3.0], &[4.0]).unwrap_err();
        assert!(err.to_string().contains("whole number"), "{err}");
        let err = Summary::new(&[0.0, 1.0], &[0.0, 1.0], &[4.0, f64::NAN]).unwrap_err();
        assert!(err.to_string().starts_with("row 1: T = NaN"), "{err}");
        let err = Summary::new(&[0.0], &[0.0], &[0.0]).unwrap_err();
        assert!(err.to_string().contains("must be > 0"), "{err}");
        let err = Summary::new(&[0.0], &[1.0], &[2.0]).unwrap_err();
        assert!(err.to_string().contains("must have t_x = 0"), "{err}");
        let err = Summary::new(&[1.0], &[0.0], &[2.0]).unwrap_err();
        assert!(err.to_string().contains("moment of the first"), "{err}");
        let err = Summary::new(&[1.0], &[0.0, 1.0], &[2.0]).unwrap_err();
        assert_eq!(err.to_string(), "column `t_x` has 2 rows but `x` has 1");
        assert!(matches!(Summary::new(&[], &[], &[]), Err(Error::Empty)));
        let err = SpendSummary::new(&[0.0, 2.0, 1.0], &[f64::NAN, 10.0, 0.0]).unwrap_err();
        assert!(err.to_string().starts_with("row 2: zbar = 0"), "{err}");
    }

    #[test]
    fn grouping_merges_identical_rows() {
        let x = [2.0, 0.0, 2.0, 0.0, 1.0];
        let t_x = [3.0, 0.0, 3.0, 0.0, 1.0];
        let t = [4.0, 4.0, 4.0, 5.0, 4.0];
        let g = Summary::new(&x, &t_x, &t).unwrap().grouped(2.0);
        assert_eq!(g.cols[0], vec![0.0, 0.0, 1.0, 2.0]);
        assert_eq!(g.cols[1], vec![0.0, 0.0, 0.5, 1.5]);
        assert_eq!(g.cols[2], vec![2.0, 2.5, 2.0, 2.0]);
        assert_eq!(g.weight, vec![1.0, 1.0, 1.0, 2.0]);
    }
}
