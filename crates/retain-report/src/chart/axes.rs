//! Axis ranges from the data, and the slot axis of categories and heat-map rows.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// `lo..hi` widened by `pad` of its span on both sides, and never empty.
pub(super) fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    if hi > lo {
        let d = (hi - lo) * pad;
        (lo - d, hi + d)
    } else {
        let d = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    }
}

pub(super) fn min_max(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// An axis of `n` unit slots `0..n` (categories, heat-map rows) with its ticks at the slot
/// centres `0.5, 1.5, …`, at most about `max_labels` of them (every k-th) so that labels
/// do not collide. plotters' `with_key_points` would do the ticks, but its axes cannot take
/// a label formatter; this one formats with the default and `x_label_formatter` maps a
/// centre back to its label.
pub(super) struct Slots {
    linear: RangedCoordf64,
    n: usize,
    max_labels: usize,
}

impl Slots {
    pub(super) fn new(n: usize, max_labels: usize) -> Self {
        Slots {
            linear: (0.0..n as f64).into(),
            n,
            max_labels,
        }
    }
}

impl Ranged for Slots {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max = self.max_labels.min(hint.max_num_points()).max(1);
        let step = self.n.div_ceil(max).max(1);
        (0..self.n).step_by(step).map(|i| i as f64 + 0.5).collect()
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

/// The label of the slot whose centre is `v` (`0.5` is slot 0), if any.
pub(super) fn slot_label(labels: &[String], v: f64) -> String {
    let i = (v - 0.5).round();
    if i >= 0.0 && i < labels.len() as f64 {
        // i is a small non-negative integer here.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let i = i as usize;
        labels[i].clone()
    } else {
        String::new()
    }
}
