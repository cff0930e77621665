//! DeLong's test for the difference of two correlated ROC AUCs measured on the same rows:
//! the champion and the challenger scored on one validation snapshot.
//!
//! Written by hand: no maintained Rust crate implements it (the reference
//! implementations are R's pROC and the Python snippets derived from Sun & Xu). This is
//! the fast algorithm of Sun & Xu, "Fast implementation of DeLong's algorithm for
//! comparing the areas under correlated receiver operating characteristic curves",
//! IEEE Signal Processing Letters 21(11), 2014: midranks instead of the O(m·n) kernel.
//!
//! For model `r`, with `m` positives `X` and `n` negatives `Y`, the structural
//! components are `V10[i] = (Tz[i] − Tx[i]) / n` and `V01[j] = 1 − (Tz[m+j] − Ty[j]) / m`,
//! where `Tx`, `Ty` and `Tz` are midranks within `X`, within `Y` and within both. The
//! AUC is the mean of `V10`; `Var(AUC_a − AUC_b) = (S10_aa + S10_bb − 2·S10_ab) / m +
//! (S01_aa + S01_bb − 2·S01_ab) / n` with `S10`, `S01` the sample covariances of the
//! components across models.

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::metrics::roc_auc;

/// `AUC(a) − AUC(b)` on the same rows, with its DeLong standard error and 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AucDifference {
    pub auc_a: f64,
    pub auc_b: f64,
    pub difference: f64,
    pub standard_error: f64,
    /// The 95% interval of the difference (normal approximation).
    pub low: f64,
    pub high: f64,
}

impl AucDifference {
    /// `a` is better than `b` beyond noise: the whole 95% interval lies above 0.
    pub fn a_is_better(&self) -> bool {
        self.low > 0.0
    }
}

/// The DeLong comparison of scores `a` and `b` on labels `y`; `None` when an AUC is
/// undefined (one class only, or a single row of a class, which leaves no variance).
pub fn auc_difference(a: &[f64], b: &[f64], y: &[bool]) -> Result<Option<AucDifference>> {
    // Checks lengths and NaNs the way every metric does.
    let (Some(_), Some(_)) = (roc_auc(a, y)?, roc_auc(b, y)?) else {
        return Ok(None);
    };
    if a.len() != b.len() {
        return Err(crate::Error::LengthMismatch {
            predictions: b.len(),
            labels: y.len(),
        });
    }
    let m = y.iter().filter(|&&v| v).count();
    let n = y.len() - m;
    if m < 2 || n < 2 {
        return Ok(None);
    }
    let components = |s: &[f64]| {
        let x: Vec<f64> = s
            .iter()
            .zip(y)
            .filter(|(_, l)| **l)
            .map(|(v, _)| *v)
            .collect();
        let yy: Vec<f64> = s
            .iter()
            .zip(y)
            .filter(|(_, l)| !**l)
            .map(|(v, _)| *v)
            .collect();
        let z: Vec<f64> = x.iter().chain(&yy).copied().collect();
        let (tx, ty, tz) = (midranks(&x), midranks(&yy), midranks(&z));
        let v10: Vec<f64> = (0..m).map(|i| (tz[i] - tx[i]) / n as f64).collect();
        let v01: Vec<f64> = (0..n)
            .map(|j| 1.0 - (tz[m + j] - ty[j]) / m as f64)
            .collect();
        (v10, v01)
    };
    let (a10, a01) = components(a);
    let (b10, b01) = components(b);
    let auc_a = mean(&a10);
    let auc_b = mean(&b10);
    let var = (cov(&a10, &a10) + cov(&b10, &b10) - 2.0 * cov(&a10, &b10)) / m as f64
        + (cov(&a01, &a01) + cov(&b01, &b01) - 2.0 * cov(&a01, &b01)) / n as f64;
    let standard_error = var.max(0.0).sqrt();
    let difference = auc_a - auc_b;
    // 1.959964: the 97.5% quantile of the standard normal.
    let half = 1.959_964 * standard_error;
    Ok(Some(AucDifference {
        auc_a,
        auc_b,
        difference,
        standard_error,
        low: difference - half,
        high: difference + half,
    }))
}

/// 1-based ranks, ties given the mean of the ranks they span.
fn midranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) share the mean of ranks i+1 ..= j+1.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample covariance (denominator len − 1).
fn cov(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / (a.len() - 1) as f64
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Labels and two noisy scores of them, the first less noisy.
    fn sample(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut a = Vec::with_capacity(n);
        let mut b = Vec::with_capacity(n);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let label = rng.random_bool(0.3);
            let signal = if label { 1.0 } else { 0.0 };
            let shared: f64 = rng.random::<f64>();
            a.push(signal + shared + 1.2 * rng.random::<f64>());
            b.push(signal + shared + 2.5 * rng.random::<f64>());
            y.push(label);
        }
        (a, b, y)
    }

    #[test]
    fn the_aucs_are_the_ones_roc_auc_gives() {
        let (a, b, y) = sample(500, 1);
        let d = auc_difference(&a, &b, &y).unwrap().unwrap();
        assert!((d.auc_a - roc_auc(&a, &y).unwrap().unwrap()).abs() < 1e-12);
        assert!((d.auc_b - roc_auc(&b, &y).unwrap().unwrap()).abs() < 1e-12);
        assert!((d.difference - (d.auc_a - d.auc_b)).abs() < 1e-15);
    }

    /// The DeLong standard error against a paired bootstrap of the same rows.
    #[test]
    fn the_standard_error_agrees_with_a_paired_bootstrap() {
        let (a, b, y) = sample(800, 2);
        let d = auc_difference(&a, &b, &y).unwrap().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut diffs = Vec::new();
        for _ in 0..1000 {
            let idx: Vec<usize> = (0..a.len()).map(|_| rng.random_range(0..a.len())).collect();
            let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
            let yy: Vec<bool> = idx.iter().map(|&i| y[i]).collect();
            let (Some(x), Some(z)) = (
                roc_auc(&pick(&a), &yy).unwrap(),
                roc_auc(&pick(&b), &yy).unwrap(),
            ) else {
                continue;
            };
            diffs.push(x - z);
        }
        let m = mean(&diffs);
        let sd = cov(&diffs, &diffs).sqrt();
        let ratio = d.standard_error / sd;
        assert!(
            (0.85..1.15).contains(&ratio),
            "DeLong se {} vs bootstrap sd {sd} (mean {m})",
            d.standard_error
        );
        assert!(d.a_is_better(), "{d:?}");
    }

    #[test]
    fn identical_scores_are_never_better() {
        let (a, _, y) = sample(300, 4);
        let d = auc_difference(&a, &a, &y).unwrap().unwrap();
        assert_eq!(d.difference, 0.0);
        assert_eq!(d.standard_error, 0.0);
        assert!(!d.a_is_better());
    }

    #[test]
    fn midranks_average_ties() {
        assert_eq!(midranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn one_class_has_no_comparison() {
        let y = vec![true; 4];
        let s = [0.1, 0.2, 0.3, 0.4];
        assert_eq!(auc_difference(&s, &s, &y).unwrap(), None);
    }
}
