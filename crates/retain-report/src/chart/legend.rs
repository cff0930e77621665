//! The legend box, and which corner of the plot it goes in.

use plotters::prelude::*;

use super::style::{DrawResult, FONT};

/// The legend box, in the given corner of the plot.
pub(super) fn draw_legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> DrawResult<()> {
    chart
        .configure_series_labels()
        .position(position)
        .margin(12)
        .legend_area_size(26)
        .label_font((FONT, 16).into_font().color(&BLACK))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(0xaa, 0xaa, 0xaa))
        .draw()
}

/// Which corner of the plot has the fewest of `points` (fractions of the plot, 0..1,
/// y up), preferring upper right, upper left, lower right, lower left on ties.
pub(super) fn emptiest_corner(points: impl Iterator<Item = (f64, f64)>) -> SeriesLabelPosition {
    let mut counts = [0usize; 4];
    for (x, y) in points {
        let right = x > 0.55;
        let left = x < 0.45;
        let top = y > 0.6;
        let bottom = y < 0.4;
        counts[0] += usize::from(right && top);
        counts[1] += usize::from(left && top);
        counts[2] += usize::from(right && bottom);
        counts[3] += usize::from(left && bottom);
    }
    match (0..4).min_by_key(|&i| (counts[i], i)) {
        Some(1) => SeriesLabelPosition::UpperLeft,
        Some(2) => SeriesLabelPosition::LowerRight,
        Some(3) => SeriesLabelPosition::LowerLeft,
        _ => SeriesLabelPosition::UpperRight,
    }
}

/// Upper right, unless the right side of the plot is taller than the left.
pub(super) fn headroom_corner(
    x_span: f64,
    tops: impl Iterator<Item = (f64, f64)>,
) -> SeriesLabelPosition {
    let (mut left, mut right) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (x, y) in tops {
        if x < x_span * 0.45 {
            left = left.max(y);
        }
        if x > x_span * 0.55 {
            right = right.max(y);
        }
    }
    if right > left {
        SeriesLabelPosition::UpperLeft
    } else {
        SeriesLabelPosition::UpperRight
    }
}
