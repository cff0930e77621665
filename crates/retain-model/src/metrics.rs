//! Evaluation metrics for a binary classifier: scores or probabilities `p` against
//! labels `y` (`true` = positive). Every function checks its input first and returns an
//! [`Error`] for an empty input, a length mismatch, or an invalid value, so a NaN never
//! becomes a metric.
//!
//! Two kinds of input:
//!
//! - *Ranking metrics* ([`roc_auc`], [`roc_curve`], [`average_precision`], [`pr_curve`],
//!   [`top_decile`], [`gains_curve`]) only use the order of the scores, so they accept any
//!   non-NaN `f64` (a naive baseline such as "days since the last order" can be passed
//!   as is). NaN is [`Error::InvalidScore`].
//! - *Probability metrics* ([`log_loss`], [`brier`], [`expected_calibration_error`],
//!   [`calibration_curve`], [`evaluate`]) need `0 ≤ p ≤ 1`; anything else, NaN included,
//!   is [`Error::InvalidProbability`].
//!
//! A metric that is undefined for the labels given (AUC with one class only, average
//! precision or capture rate without positives) is `None` (JSON `null`), never NaN.
//!
//! # Definitions
//!
//! Notation: `N` rows, `P` positives, `N − P` negatives; `[c]` is 1 when `c` holds.
//!
//! **Distinct thresholds.** Sort the scores descending and take each distinct value `t`
//! in turn (rows with equal scores enter together). At threshold `t`, `TP(t)` and
//! `FP(t)` count the positives and negatives with score `≥ t`. Scores are compared with
//! `==`, so `-0.0` and `0.0` are one threshold.
//!
//! **ROC curve** ([`roc_curve`]): the point `(FPR, TPR) = (0, 0)` (threshold `None`,
//! "above every score"), then one point `(FP(t)/(N−P), TP(t)/P)` per distinct threshold,
//! highest first; the last point is `(1, 1)`. This is sklearn's `roc_curve` with
//! `drop_intermediate=False`.
//!
//! **ROC AUC** ([`roc_auc`]): the trapezoidal area under that curve,
//! `Σ_t (FP(t) − FP(t⁻))·(TP(t) + TP(t⁻)) / 2 / (P·(N−P))` with `t⁻` the previous
//! threshold. It equals the Mann–Whitney statistic
//! `Σ_{i pos, j neg} ([s_i > s_j] + ½·[s_i = s_j]) / (P·(N−P))`: tied scores earn half
//! credit, as in sklearn's `roc_auc_score`. `None` when `P = 0` or `P = N`.
//!
//! **PR curve** ([`pr_curve`]): the point `(recall, precision) = (0, 1)` (threshold
//! `None`), then per distinct threshold, highest first, `recall = TP(t)/P` and
//! `precision = TP(t)/(TP(t)+FP(t))`. `None` when `P = 0`.
//!
//! **Average precision** ([`average_precision`], reported as `pr_auc`): sklearn's
//! `average_precision_score`, the step-wise sum `Σ_t (R(t) − R(t⁻))·Prec(t)` over the
//! distinct thresholds with `R` before the first threshold = 0. No interpolation and no
//! trapezoid. `None` when `P = 0` (sklearn warns and returns 0 there); `1` when `P = N`.
//!
//! **Log loss** ([`log_loss`]): `−(1/N) Σ_i ( [y_i]·ln clip(p_i) + [¬y_i]·ln clip(1 − p_i) )`
//! with `clip(q) = min(max(q, ε), 1 − ε)` and `ε = f64::EPSILON` (2⁻⁵² ≈ 2.22e-16). This
//! is current sklearn's `log_loss` for float64 input (checked against 1.9.1): it clips
//! both columns `[1 − p, p]` to the dtype's machine epsilon, where versions before the
//! `eps` parameter was removed clipped to a fixed `1e-15` by default. A confident miss
//! therefore costs at most `−ln ε = 52·ln 2 ≈ 36.04`.
//!
//! **Brier score** ([`brier`]): `(1/N) Σ_i (p_i − [y_i])²` (sklearn's `brier_score_loss`).
//!
//! **Calibration bins** ([`calibration_curve`]): 10 equal-width bins; row `i` goes to
//! bin `b = min(⌊10·p_i⌋, 9)` computed in `f64`, i.e. bin `b < 9` is `[b/10, (b+1)/10)`
//! and the last bin is `[0.9, 1.0]`, closed so that `p = 1.0` is counted. A probability
//! written as exactly `k/10` in decimal (0.1, 0.3, 0.7, …) lands in bin `k`. Each
//! non-empty bin reports its edges, its row count, the mean predicted probability and
//! the observed positive rate; empty bins are left out.
//!
//! **Expected calibration error** ([`expected_calibration_error`]):
//! `Σ_b (n_b/N)·|mean_b(p) − mean_b(y)|` over those bins, which is
//! `(1/N) Σ_b |Σ_{i∈b} p_i − P_b|`.
//!
//! **Ranking for lift and gains.** Rows are ranked by score descending; rows with equal
//! scores keep their original order (lower index first). The tie-break is arbitrary
//! but deterministic: the same input always selects the same rows.
//!
//! **Top decile** ([`top_decile`]): the first `k = ⌈N/10⌉` ranked rows, with `TP_k`
//! positives among them. `capture = TP_k / P` (share of all positives found in the top
//! decile) and `lift = (TP_k / k) / (P / N)` (positive rate in the top decile over the
//! base rate). Both `None` when `P = 0`.
//!
//! **Cumulative gains** ([`gains_curve`]): for `s` steps, the points
//! `(k_j / N, TP_{k_j} / P)` with `k_j = ⌈j·N/s⌉`, `j = 0..=s`; with `s = 10` the second
//! point is the top decile's capture rate. `None` when `P = 0`.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The probability-metric bins: `[b/10, (b+1)/10)`, the last one closed at 1.
pub const CALIBRATION_BINS: usize = 10;

/// Evaluation of a model on one labelled set. See the [module docs](self) for each
/// definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: u64,
    pub positives: u64,
    /// Share of positive labels, `P / N`.
    pub base_rate: f64,
    /// Area under the ROC curve, ties counting one half; `None` with one class only.
    /// (Artifacts written before `retain.model/1` gained the other metrics call it `auc`.)
    #[serde(alias = "auc")]
    pub roc_auc: Option<f64>,
    /// Average precision (sklearn's step-wise definition); `None` without positives.
    #[serde(default)]
    pub pr_auc: Option<f64>,
    /// Mean log loss, probabilities clipped to `[ε, 1 − ε]`, `ε = f64::EPSILON`.
    pub log_loss: f64,
    /// Mean squared error of the probabilities.
    pub brier: f64,
    /// Expected calibration error over 10 equal-width bins. `None` only in artifacts
    /// written before it was recorded.
    #[serde(default)]
    pub ece: Option<f64>,
    /// Positive rate in the top ⌈N/10⌉ scores over the base rate; `None` without
    /// positives.
    #[serde(default)]
    pub lift_top_decile: Option<f64>,
    /// Share of all positives found in the top ⌈N/10⌉ scores; `None` without positives.
    #[serde(default)]
    pub capture_top_decile: Option<f64>,
}

/// All of [`Metrics`] for probabilities `p` against labels `y`, with one sort.
pub fn evaluate(p: &[f64], y: &[bool]) -> Result<Metrics> {
    check_probabilities(p, y)?;
    let n = y.len();
    let positives = count_positives(y);
    let order = rank_descending(p);
    let steps = sweep(&order, p, y);
    let top = top_decile_of(&order, y);
    Ok(Metrics {
        rows: n as u64,
        positives: positives as u64,
        base_rate: positives as f64 / n as f64,
        roc_auc: roc_auc_of(&steps),
        pr_auc: average_precision_of(&steps),
        log_loss: log_loss_unchecked(p, y),
        brier: brier_unchecked(p, y),
        ece: Some(ece_of(&bins_of(p, y), n)),
        lift_top_decile: top.lift,
        capture_top_decile: top.capture,
    })
}

/// One point of the ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Rows with score `≥ threshold` are predicted positive; `None` for the first point,
    /// above every score.
    pub threshold: Option<f64>,
    /// False positive rate, `FP / (N − P)`.
    pub fpr: f64,
    /// True positive rate (recall), `TP / P`.
    pub tpr: f64,
}

/// One point of the precision-recall curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// Rows with score `≥ threshold` are predicted positive; `None` for the first point
    /// `(recall 0, precision 1)`.
    pub threshold: Option<f64>,
    pub recall: f64,
    pub precision: f64,
}

/// One non-empty calibration bin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Inclusive lower edge, `b/10`.
    pub lower: f64,
    /// Upper edge, `(b+1)/10`: exclusive, except 1.0 for the last bin.
    pub upper: f64,
    /// Rows in the bin.
    pub count: u64,
    /// Mean predicted probability of those rows.
    pub mean_predicted: f64,
    /// Share of those rows that are positive.
    pub observed_rate: f64,
}

/// The top ⌈N/10⌉ rows by score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TopDecile {
    /// `k = ⌈N/10⌉`.
    pub rows: u64,
    /// Positives among them.
    pub positives: u64,
    /// `(positives / k) / (P / N)`; `None` when `P = 0`.
    pub lift: Option<f64>,
    /// `positives / P`; `None` when `P = 0`.
    pub capture: Option<f64>,
}

/// One point of the cumulative gains curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GainsPoint {
    /// Share of rows targeted, highest scores first.
    pub share_of_rows: f64,
    /// Share of all positives among them.
    pub share_of_positives: f64,
}

/// ROC AUC with half credit for ties; `None` with one class only.
pub fn roc_auc(scores: &[f64], y: &[bool]) -> Result<Option<f64>> {
    check_scores(scores, y)?;
    Ok(roc_auc_of(&sweep(&rank_descending(scores), scores, y)))
}

/// The ROC curve at every distinct threshold; `None` with one class only.
pub fn roc_curve(scores: &[f64], y: &[bool]) -> Result<Option<Vec<RocPoint>>> {
    check_scores(scores, y)?;
    let steps = sweep(&rank_descending(scores), scores, y);
    let Some(last) = steps.last() else {
        return Ok(None);
    };
    let (pos, neg) = (last.tp, last.fp);
    if pos == 0.0 || neg == 0.0 {
        return Ok(None);
    }
    let mut points = vec![RocPoint {
        threshold: None,
        fpr: 0.0,
        tpr: 0.0,
    }];
    points.extend(steps.iter().map(|s| RocPoint {
        threshold: Some(s.threshold),
        fpr: s.fp / neg,
        tpr: s.tp / pos,
    }));
    Ok(Some(points))
}

/// Average precision (sklearn's `average_precision_score`); `None` without positives.
pub fn average_precision(scores: &[f64], y: &[bool]) -> Result<Option<f64>> {
    check_scores(scores, y)?;
    Ok(average_precision_of(&sweep(
        &rank_descending(scores),
        scores,
        y,
    )))
}

/// The precision-recall curve at every distinct threshold; `None` without positives.
pub fn pr_curve(scores: &[f64], y: &[bool]) -> Result<Option<Vec<PrPoint>>> {
    check_scores(scores, y)?;
    let steps = sweep(&rank_descending(scores), scores, y);
    let pos = steps.last().map_or(0.0, |s| s.tp);
    if pos == 0.0 {
        return Ok(None);
    }
    let mut points = vec![PrPoint {
        threshold: None,
        recall: 0.0,
        precision: 1.0,
    }];
    points.extend(steps.iter().map(|s| PrPoint {
        threshold: Some(s.threshold),
        recall: s.tp / pos,
        precision: s.tp / (s.tp + s.fp),
    }));
    Ok(Some(points))
}

/// Mean log loss with probabilities clipped to `[ε, 1 − ε]`, `ε = f64::EPSILON`.
pub fn log_loss(p: &[f64], y: &[bool]) -> Result<f64> {
    check_probabilities(p, y)?;
    Ok(log_loss_unchecked(p, y))
}

/// Brier score: mean squared error of the probabilities.
pub fn brier(p: &[f64], y: &[bool]) -> Result<f64> {
    check_probabilities(p, y)?;
    Ok(brier_unchecked(p, y))
}

/// Expected calibration error over 10 equal-width bins.
pub fn expected_calibration_error(p: &[f64], y: &[bool]) -> Result<f64> {
    check_probabilities(p, y)?;
    Ok(ece_of(&bins_of(p, y), y.len()))
}

/// The non-empty calibration bins, lowest first.
pub fn calibration_curve(p: &[f64], y: &[bool]) -> Result<Vec<CalibrationBin>> {
    check_probabilities(p, y)?;
    Ok(bins_of(p, y)
        .iter()
        .enumerate()
        .filter(|(_, b)| b.count > 0)
        .map(|(i, b)| CalibrationBin {
            lower: i as f64 / CALIBRATION_BINS as f64,
            upper: (i + 1) as f64 / CALIBRATION_BINS as f64,
            count: b.count,
            mean_predicted: b.sum_p / b.count as f64,
            observed_rate: b.positives as f64 / b.count as f64,
        })
        .collect())
}

/// Lift and capture rate of the top ⌈N/10⌉ scores (ties: lower index first).
pub fn top_decile(scores: &[f64], y: &[bool]) -> Result<TopDecile> {
    check_scores(scores, y)?;
    Ok(top_decile_of(&rank_descending(scores), y))
}

/// Cumulative gains at `steps + 1` evenly spaced shares of rows, from 0 to 1 (`steps`
/// is raised to 1 if 0). `None` without positives.
pub fn gains_curve(scores: &[f64], y: &[bool], steps: usize) -> Result<Option<Vec<GainsPoint>>> {
    check_scores(scores, y)?;
    let order = rank_descending(scores);
    let n = y.len();
    let pos = count_positives(y);
    if pos == 0 {
        return Ok(None);
    }
    let steps = steps.max(1);
    // cumulative[k] = positives among the first k ranked rows.
    let mut cumulative = Vec::with_capacity(n + 1);
    cumulative.push(0usize);
    let mut tp = 0;
    for &i in &order {
        tp += usize::from(y[i]);
        cumulative.push(tp);
    }
    Ok(Some(
        (0..=steps)
            .map(|j| {
                let k = (j * n).div_ceil(steps);
                GainsPoint {
                    share_of_rows: k as f64 / n as f64,
                    share_of_positives: cumulative[k] as f64 / pos as f64,
                }
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------
// Input checks

fn check_lengths(p: &[f64], y: &[bool]) -> Result<()> {
    if p.len() != y.len() {
        return Err(Error::LengthMismatch {
            predictions: p.len(),
            labels: y.len(),
        });
    }
    if y.is_empty() {
        return Err(Error::Empty);
    }
    Ok(())
}

/// Ranking input: same lengths, not empty, no NaN.
pub(crate) fn check_scores(scores: &[f64], y: &[bool]) -> Result<()> {
    check_lengths(scores, y)?;
    match scores.iter().position(|s| s.is_nan()) {
        Some(index) => Err(Error::InvalidScore { index }),
        None => Ok(()),
    }
}

/// Probability input: same lengths, not empty, every value in [0, 1] (so not NaN).
pub(crate) fn check_probabilities(p: &[f64], y: &[bool]) -> Result<()> {
    check_lengths(p, y)?;
    match p.iter().position(|v| !(0.0..=1.0).contains(v)) {
        Some(index) => Err(Error::InvalidProbability {
            index,
            value: p[index],
        }),
        None => Ok(()),
    }
}

pub(crate) fn count_positives(y: &[bool]) -> usize {
    y.iter().filter(|&&b| b).count()
}

// ---------------------------------------------------------------------------------------
// Ranking

/// Row indices by score descending; equal scores keep their index order (stable sort).
fn rank_descending(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// Cumulative counts at the end of one group of equal scores.
struct Step {
    threshold: f64,
    tp: f64,
    fp: f64,
}

/// One [`Step`] per distinct score, highest first. `total_cmp` puts `-0.0` right after
/// `0.0`; grouping with `==` then keeps them one threshold.
fn sweep(order: &[usize], scores: &[f64], y: &[bool]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let (mut tp, mut fp) = (0u64, 0u64);
    for (r, &i) in order.iter().enumerate() {
        if y[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let group_ends = order
            .get(r + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if group_ends {
            steps.push(Step {
                threshold: scores[i],
                tp: tp as f64,
                fp: fp as f64,
            });
        }
    }
    steps
}

fn roc_auc_of(steps: &[Step]) -> Option<f64> {
    let last = steps.last()?;
    let (pos, neg) = (last.tp, last.fp);
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    let (mut area, mut prev_tp, mut prev_fp) = (0.0, 0.0, 0.0);
    for s in steps {
        area += (s.fp - prev_fp) * (s.tp + prev_tp) / 2.0;
        (prev_tp, prev_fp) = (s.tp, s.fp);
    }
    Some(area / (pos * neg))
}

fn average_precision_of(steps: &[Step]) -> Option<f64> {
    let pos = steps.last()?.tp;
    if pos == 0.0 {
        return None;
    }
    let (mut ap, mut prev_recall) = (0.0, 0.0);
    for s in steps {
        let recall = s.tp / pos;
        ap += (recall - prev_recall) * s.tp / (s.tp + s.fp);
        prev_recall = recall;
    }
    Some(ap)
}

fn top_decile_of(order: &[usize], y: &[bool]) -> TopDecile {
    let n = y.len();
    let k = n.div_ceil(10);
    let tp = order.iter().take(k).filter(|&&i| y[i]).count();
    let pos = count_positives(y);
    let (lift, capture) = if pos == 0 || k == 0 {
        (None, None)
    } else {
        let capture = tp as f64 / pos as f64;
        (Some(capture * n as f64 / k as f64), Some(capture))
    };
    TopDecile {
        rows: k as u64,
        positives: tp as u64,
        lift,
        capture,
    }
}

// ---------------------------------------------------------------------------------------
// Probability metrics (inputs already checked)

fn log_loss_unchecked(p: &[f64], y: &[bool]) -> f64 {
    let eps = f64::EPSILON;
    let clip = |q: f64| q.clamp(eps, 1.0 - eps);
    let total: f64 = p
        .iter()
        .zip(y)
        .map(|(&pi, &yi)| {
            if yi {
                -clip(pi).ln()
            } else {
                -clip(1.0 - pi).ln()
            }
        })
        .sum();
    total / y.len() as f64
}

fn brier_unchecked(p: &[f64], y: &[bool]) -> f64 {
    let total: f64 = p
        .iter()
        .zip(y)
        .map(|(&pi, &yi)| {
            let d = pi - f64::from(u8::from(yi));
            d * d
        })
        .sum();
    total / y.len() as f64
}

#[derive(Clone, Copy, Default)]
struct Bin {
    count: u64,
    positives: u64,
    sum_p: f64,
}

/// The calibration bin of a probability in [0, 1]: `min(⌊10·p⌋, 9)`.
pub(crate) fn bin_index(p: f64) -> usize {
    // p is checked to be in [0, 1], so the cast cannot wrap.
    ((p * CALIBRATION_BINS as f64).floor() as usize).min(CALIBRATION_BINS - 1)
}

fn bins_of(p: &[f64], y: &[bool]) -> [Bin; CALIBRATION_BINS] {
    let mut bins = [Bin::default(); CALIBRATION_BINS];
    for (&pi, &yi) in p.iter().zip(y) {
        let b = &mut bins[bin_index(pi)];
        b.count += 1;
        b.positives += u64::from(yi);
        b.sum_p += pi;
    }
    bins
}

fn ece_of(bins: &[Bin], n: usize) -> f64 {
    bins.iter()
        .map(|b| (b.sum_p - b.positives as f64).abs())
        .sum::<f64>()
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: bool = true;
    const F: bool = false;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    // Scores  0.9  0.8  0.8  0.6  0.6  0.3
    // Labels   +    +    -    +    -    -      P = 3, N − P = 3
    const S: [f64; 6] = [0.9, 0.8, 0.8, 0.6, 0.6, 0.3];
    const Y: [bool; 6] = [T, T, F, T, F, F];

    #[test]
    fn roc_auc_with_ties_by_hand() {
        // Pairs (positive, negative), 9 in all:
        //   + 0.9 beats 0.8, 0.6, 0.3                          → 3
        //   + 0.8 ties 0.8 (½), beats 0.6, 0.3                 → 2.5
        //   + 0.6 loses to 0.8, ties 0.6 (½), beats 0.3        → 1.5
        // AUC = 7 / 9. Trapezoids over (FP, TP) = (0,0) (0,1) (1,2) (2,3) (3,3):
        //   0 + 1·(1+2)/2 + 1·(2+3)/2 + 1·(3+3)/2 = 7, / (3·3).
        let auc = roc_auc(&S, &Y).unwrap().unwrap();
        assert!(close(auc, 7.0 / 9.0, 1e-15), "{auc}");
        let curve = roc_curve(&S, &Y).unwrap().unwrap();
        let pts: Vec<(Option<f64>, f64, f64)> =
            curve.iter().map(|p| (p.threshold, p.fpr, p.tpr)).collect();
        let (third, two_thirds) = (1.0 / 3.0, 2.0 / 3.0);
        assert_eq!(
            pts,
            vec![
                (None, 0.0, 0.0),
                (Some(0.9), 0.0, third),
                (Some(0.8), third, two_thirds),
                (Some(0.6), two_thirds, 1.0),
                (Some(0.3), 1.0, 1.0),
            ]
        );
    }

    #[test]
    fn roc_auc_agrees_with_the_rank_statistic_and_edge_cases() {
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.3, 0.4], &[F, F, T, T]).unwrap(),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[0.4, 0.3, 0.2, 0.1], &[F, F, T, T]).unwrap(),
            Some(0.0)
        );
        assert_eq!(roc_auc(&[0.5; 4], &[F, T, F, T]).unwrap(), Some(0.5));
        assert_eq!(roc_auc(&[0.2, 0.5, 0.5], &[F, F, T]).unwrap(), Some(0.75));
        // -0.0 and 0.0 are one score.
        assert_eq!(roc_auc(&[-0.0, 0.0], &[T, F]).unwrap(), Some(0.5));
        // Any finite or infinite score ranks.
        assert_eq!(
            roc_auc(
                &[f64::NEG_INFINITY, -3.0, 1e300, f64::INFINITY],
                &[F, F, T, T]
            )
            .unwrap(),
            Some(1.0)
        );
        // One class: undefined, not NaN.
        assert_eq!(roc_auc(&[0.1, 0.9], &[T, T]).unwrap(), None);
        assert_eq!(roc_auc(&[0.1], &[F]).unwrap(), None);
        assert_eq!(roc_curve(&[0.1, 0.9], &[F, F]).unwrap(), None);
    }

    #[test]
    fn average_precision_by_hand() {
        // Per distinct threshold (TP, FP) → recall, precision:
        //   0.9: (1, 0) → 1/3, 1        0.8: (2, 1) → 2/3, 2/3
        //   0.6: (3, 2) → 1,   3/5      0.3: (3, 3) → 1,   1/2 (recall step 0)
        // AP = 1/3·1 + 1/3·2/3 + 1/3·3/5 + 0·1/2 = 34/45 (sklearn: 0.75555…).
        let ap = average_precision(&S, &Y).unwrap().unwrap();
        assert!(close(ap, 34.0 / 45.0, 1e-15), "{ap}");
        let curve = pr_curve(&S, &Y).unwrap().unwrap();
        assert_eq!(curve.len(), 5);
        assert_eq!((curve[0].recall, curve[0].precision), (0.0, 1.0));
        assert_eq!(curve[4].threshold, Some(0.3));
        assert!(close(curve[3].precision, 0.6, 1e-15));
        // No positives: undefined. All positives: every precision is 1.
        assert_eq!(average_precision(&[0.2, 0.4], &[F, F]).unwrap(), None);
        assert_eq!(pr_curve(&[0.2, 0.4], &[F, F]).unwrap(), None);
        assert_eq!(average_precision(&[0.2, 0.4], &[T, T]).unwrap(), Some(1.0));
    }

    #[test]
    fn log_loss_and_brier_by_hand() {
        let p = [0.8, 0.4, 1.0, 0.0];
        let y = [T, F, T, T];
        // −ln 0.8 − ln(1 − 0.4) − ln(1 − ε) (p = 1 clipped, y = 1) − ln ε (p = 0, y = 1),
        // over 4; −ln ε = 52·ln 2 with ε = 2⁻⁵². sklearn 1.9.1 gives 9.194405641049338.
        let eps = f64::EPSILON;
        let expected = (-(0.8f64.ln()) - 0.6f64.ln() - (1.0 - eps).ln() + 52.0 * 2f64.ln()) / 4.0;
        let ll = log_loss(&p, &y).unwrap();
        assert!(close(ll, expected, 1e-12), "{ll} vs {expected}");
        assert!(close(ll, 9.194405641049338, 1e-12), "{ll}");
        // (0.2² + 0.4² + 0² + 1²) / 4 = (0.04 + 0.16 + 0 + 1) / 4 = 0.3
        let b = brier(&p, &y).unwrap();
        assert!(close(b, 0.3, 1e-15), "{b}");
        // A perfect forecast at the edges costs −ln(1 − ε) ≈ 2.2e-16, not 0 and not NaN.
        assert!(log_loss(&[0.0, 1.0], &[F, T]).unwrap() < 1e-15);
    }

    #[test]
    fn ece_and_calibration_curve_by_hand() {
        // bin 0 [0, 0.1):   0.05 (−)               mean p 0.05,  rate 0    → |·| = 0.05, n 1
        // bin 1 [0.1, 0.2): 0.15 (+), 0.15 (−)     mean p 0.15,  rate 1/2  → 0.35,       n 2
        // bin 9 [0.9, 1]:   0.95 (+), 0.95 (+), 1.0 (−)
        //                                         mean p 2.9/3, rate 2/3  → 0.3,        n 3
        // ECE = (1·0.05 + 2·0.35 + 3·0.3) / 6 = 1.65 / 6 = 0.275
        let p = [0.05, 0.15, 0.15, 0.95, 0.95, 1.0];
        let y = [F, T, F, T, T, F];
        let ece = expected_calibration_error(&p, &y).unwrap();
        assert!(close(ece, 0.275, 1e-15), "{ece}");
        let curve = calibration_curve(&p, &y).unwrap();
        assert_eq!(curve.len(), 3);
        assert_eq!(
            (curve[2].lower, curve[2].upper, curve[2].count),
            (0.9, 1.0, 3)
        );
        assert!(close(curve[2].mean_predicted, 2.9 / 3.0, 1e-15));
        assert!(close(curve[2].observed_rate, 2.0 / 3.0, 1e-15));
        assert_eq!((curve[1].count, curve[1].observed_rate), (2, 0.5));
    }

    #[test]
    fn bin_edges_put_k_tenths_in_bin_k_and_one_in_the_last() {
        for k in 0..=9 {
            let edge: f64 = format!("0.{k}").parse().unwrap();
            assert_eq!(bin_index(edge), k, "{edge}");
            assert_eq!(bin_index(k as f64 / 10.0), k);
        }
        assert_eq!(bin_index(1.0), 9);
        assert_eq!(bin_index(0.0999999), 0);
        assert_eq!(bin_index(0.9999999), 9);
    }

    #[test]
    fn top_decile_and_gains_by_hand() {
        // N = 12 → k = ⌈1.2⌉ = 2. Rows 0, 2, 4 tie at 0.9; the lower index wins, so the
        // top decile is rows 0 (+) and 2 (−): 1 of P = 4 positives.
        // capture = 1/4; lift = (1/2) / (4/12) = 1.5. (Breaking the tie by taking row 4
        // would give capture 1/2, lift 3.)
        let s = [0.9, 0.5, 0.9, 0.1, 0.9, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
        let y = [T, F, F, T, T, F, F, T, F, F, F, F];
        let top = top_decile(&s, &y).unwrap();
        assert_eq!((top.rows, top.positives), (2, 1));
        assert_eq!(top.capture, Some(0.25));
        assert!(close(top.lift.unwrap(), 1.5, 1e-15));
        // 4 steps → k = 0, 3, 6, 9, 12. Ranked rows: 0+ 2− 4+ | 11− 10− 9− | 1− 8− 7+ |
        // 6− 5− 3+, so positives found 0, 2, 2, 3, 4 of 4.
        let gains = gains_curve(&s, &y, 4).unwrap().unwrap();
        let pts: Vec<(f64, f64)> = gains
            .iter()
            .map(|g| (g.share_of_rows, g.share_of_positives))
            .collect();
        assert_eq!(
            pts,
            vec![
                (0.0, 0.0),
                (0.25, 0.5),
                (0.5, 0.5),
                (0.75, 0.75),
                (1.0, 1.0)
            ]
        );
        // With 10 steps the second point is the top decile's capture.
        let g10 = gains_curve(&s, &y, 10).unwrap().unwrap();
        assert_eq!(g10.len(), 11);
        assert_eq!(Some(g10[1].share_of_positives), top.capture);
        // No positives: undefined.
        let none = top_decile(&s, &[F; 12]).unwrap();
        assert_eq!((none.lift, none.capture), (None, None));
        assert_eq!(gains_curve(&s, &[F; 12], 10).unwrap(), None);
        // One row: the top decile is that row.
        let one = top_decile(&[0.3], &[T]).unwrap();
        assert_eq!((one.rows, one.lift, one.capture), (1, Some(1.0), Some(1.0)));
    }

    #[test]
    fn evaluate_collects_every_metric() {
        let m = evaluate(&S, &Y).unwrap();
        assert_eq!((m.rows, m.positives, m.base_rate), (6, 3, 0.5));
        assert_eq!(m.roc_auc, roc_auc(&S, &Y).unwrap());
        assert_eq!(m.pr_auc, average_precision(&S, &Y).unwrap());
        assert_eq!(m.log_loss, log_loss(&S, &Y).unwrap());
        assert_eq!(m.brier, brier(&S, &Y).unwrap());
        assert_eq!(m.ece, Some(expected_calibration_error(&S, &Y).unwrap()));
        let top = top_decile(&S, &Y).unwrap();
        assert_eq!(
            (m.lift_top_decile, m.capture_top_decile),
            (top.lift, top.capture)
        );
        // ⌈6/10⌉ = 1 row, the 0.9 positive: capture 1/3, lift (1/1)/(3/6) = 2.
        assert_eq!(m.lift_top_decile, Some(2.0));

        // One class: undefined metrics are null in JSON, never NaN.
        let m = evaluate(&[0.2, 0.3], &[F, F]).unwrap();
        assert_eq!((m.roc_auc, m.pr_auc, m.lift_top_decile), (None, None, None));
        let json = serde_json::to_value(&m).unwrap();
        assert!(json["roc_auc"].is_null(), "{json}");
        assert!(json["capture_top_decile"].is_null(), "{json}");
    }

    #[test]
    fn metrics_from_an_older_artifact_still_read() {
        // `retain.model/1` artifacts written before this module: `auc`, no other metrics.
        let old = r#"{"rows": 10, "positives": 4, "base_rate": 0.4, "auc": 0.8,
                      "log_loss": 0.5, "brier": 0.2}"#;
        let m: Metrics = serde_json::from_str(old).unwrap();
        assert_eq!(m.roc_auc, Some(0.8));
        assert_eq!((m.pr_auc, m.ece, m.lift_top_decile), (None, None, None));
        // An old one-class evaluation wrote NaN, which serde_json writes as null.
        let m: Metrics = serde_json::from_str(&old.replace("0.8", "null")).unwrap();
        assert_eq!(m.roc_auc, None);
        // Round trip.
        let m = evaluate(&S, &Y).unwrap();
        let back: Metrics = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn bad_input_is_an_error_naming_it() {
        let e = evaluate(&[], &[]).unwrap_err();
        assert!(matches!(e, Error::Empty), "{e}");
        let e = roc_auc(&[0.1, 0.2], &[T]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::LengthMismatch {
                    predictions: 2,
                    labels: 1
                }
            ),
            "{e}"
        );
        let e = roc_auc(&[0.1, f64::NAN], &[T, F]).unwrap_err();
        assert!(matches!(e, Error::InvalidScore { index: 1 }), "{e}");
        for bad in [f64::NAN, -0.01, 1.5, f64::INFINITY] {
            let e = evaluate(&[0.5, bad], &[T, F]).unwrap_err();
            assert!(
                matches!(e, Error::InvalidProbability { index: 1, .. }),
                "{e}"
            );
            assert!(log_loss(&[bad], &[T]).is_err());
            assert!(brier(&[bad], &[T]).is_err());
            assert!(calibration_curve(&[bad], &[T]).is_err());
        }
        let msg = Error::InvalidProbability {
            index: 3,
            value: 1.5,
        }
        .to_string();
        assert!(msg.contains("row 3") && msg.contains("1.5"), "{msg}");
    }

    /// Scores on a coarse grid (k/20) so that ties are common, with labels.
    fn scored() -> impl Strategy<Value = (Vec<f64>, Vec<bool>)> {
        prop::collection::vec((0u32..=20, any::<bool>()), 2..200)
            .prop_map(|v| v.into_iter().map(|(k, b)| (f64::from(k) / 20.0, b)).unzip())
    }

    proptest! {
        #[test]
        fn auc_is_invariant_under_increasing_transforms((s, y) in scored()) {
            let base = roc_auc(&s, &y).unwrap();
            for f in [|x: f64| x * x * x, |x: f64| (5.0 * x).exp(), |x: f64| 2.0 * x - 7.0] {
                let t: Vec<f64> = s.iter().map(|&x| f(x)).collect();
                let a = roc_auc(&t, &y).unwrap();
                match (base, a) {
                    (Some(b), Some(a)) => prop_assert!(close(a, b, 1e-12), "{a} vs {b}"),
                    (b, a) => prop_assert_eq!(b, a),
                }
                prop_assert_eq!(average_precision(&t, &y).unwrap(), average_precision(&s, &y).unwrap());
            }
        }

        #[test]
        fn auc_of_reversed_scores_is_one_minus_auc((s, y) in scored()) {
            let flipped: Vec<f64> = s.iter().map(|&x| 1.0 - x).collect();
            match (roc_auc(&s, &y).unwrap(), roc_auc(&flipped, &y).unwrap()) {
                (Some(a), Some(b)) => prop_assert!(close(a + b, 1.0, 1e-12), "{a} + {b}"),
                (a, b) => {
                    prop_assert!(a.is_none() && b.is_none());
                    let pos = count_positives(&y);
                    prop_assert!(pos == 0 || pos == y.len());
                }
            }
        }

        #[test]
        fn auc_matches_the_pairwise_definition((s, y) in scored()) {
            let (mut credit, mut pairs) = (0.0, 0.0);
            for (i, &yi) in y.iter().enumerate() {
                for (j, &yj) in y.iter().enumerate() {
                    if yi && !yj {
                        pairs += 1.0;
                        credit += if s[i] > s[j] { 1.0 } else if s[i] == s[j] { 0.5 } else { 0.0 };
                    }
                }
            }
            let auc = roc_auc(&s, &y).unwrap();
            if pairs == 0.0 {
                prop_assert_eq!(auc, None);
            } else {
                prop_assert!(close(auc.unwrap(), credit / pairs, 1e-12));
            }
        }

        /// Groups of rows share one probability m/n with exactly m positives among n, so
        /// every bin's mean probability equals its positive rate, whichever groups share
        /// a bin.
        #[test]
        fn ece_of_perfectly_calibrated_bins_is_zero(
            groups in prop::collection::vec((1u32..30).prop_flat_map(|n| (Just(n), 0..=n)), 1..20)
        ) {
            let (mut p, mut y) = (Vec::new(), Vec::new());
            for (n, m) in groups {
                for i in 0..n {
                    p.push(f64::from(m) / f64::from(n));
                    y.push(i < m);
                }
            }
            let ece = expected_calibration_error(&p, &y).unwrap();
            prop_assert!(ece.abs() < 1e-12, "{ece}");
            for b in calibration_curve(&p, &y).unwrap() {
                prop_assert!(close(b.mean_predicted, b.observed_rate, 1e-12));
                // (The mean of ten 0.1s is 0.09999999999999999 in f64.)
                prop_assert!(b.lower - 1e-12 <= b.mean_predicted && b.mean_predicted <= b.upper);
            }
        }

        #[test]
        fn metrics_stay_in_their_ranges((s, y) in scored()) {
            let m = evaluate(&s, &y).unwrap();
            for v in [m.roc_auc, m.pr_auc, m.capture_top_decile, m.ece].into_iter().flatten() {
                prop_assert!((0.0..=1.0).contains(&v), "{m:?}");
            }
            prop_assert!(m.log_loss >= 0.0 && m.log_loss <= 52.0 * 2f64.ln() + 1e-9);
            prop_assert!((0.0..=1.0).contains(&m.brier));
            let gains = gains_curve(&s, &y, 10).unwrap();
            if let Some(g) = gains {
                prop_assert!(g.windows(2).all(|w| w[0].share_of_positives <= w[1].share_of_positives));
                prop_assert_eq!(g.last().map(|p| p.share_of_positives), Some(1.0));
            }
        }
    }
}
