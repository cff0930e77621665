//! Grouped horizontal bar charts: one labelled row per category, values at the bars'
//! ends, optional dashed reference lines.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{Slots, min_max, slot_label};
use super::check::{empty, finite, same_len};
use super::colour::colour;
use super::legend::draw_legend;
use super::style::{Area, DrawResult, FONT, caption_style, style_mesh};
use crate::{Error, HorizontalBarChart, Result, fmt_num};

/// Horizontal bar charts are at most this tall (in pixels)...
pub(super) const HBARS_MAX_HEIGHT: u32 = 4000;
/// ...which holds this many rows of one bar.
pub(super) const HBARS_MAX_ROWS: usize = 190;
/// Row labels longer than this are cut, with an ellipsis.
const HBARS_MAX_LABEL: usize = 40;

/// Legend entries of a horizontal bar chart: none for one series without references (the
/// x axis says what the bars are), else one per series and reference.
pub(super) fn legend_entries(c: &HorizontalBarChart) -> usize {
    if c.series.len() == 1 && c.references.is_empty() {
        0
    } else {
        c.series.len() + c.references.len()
    }
}

/// Dark red, then dark grey: apart from the bars' palette.
const REFERENCE_COLOURS: [RGBColor; 2] = [RGBColor(0xa3, 0x1f, 0x1f), RGBColor(0x44, 0x44, 0x44)];

pub(super) fn check_horizontal_bars(c: &HorizontalBarChart) -> Result<()> {
    let t = &c.title;
    if c.categories.is_empty() {
        return Err(empty(t, "categories"));
    }
    if c.series.is_empty() {
        return Err(empty(t, "series"));
    }
    if c.categories.len() > HBARS_MAX_ROWS {
        return Err(Error::Invalid {
            chart: t.clone(),
            what: format!(
                "{} categories, more than the {HBARS_MAX_ROWS} rows a chart can show",
                c.categories.len()
            ),
        });
    }
    for (name, values) in &c.series {
        same_len(
            t,
            || format!("series `{name}`"),
            c.categories.len(),
            values.len(),
        )?;
        for (v, cat) in values.iter().zip(&c.categories) {
            finite(t, || format!("value `{cat}` of series `{name}`"), *v)?;
        }
    }
    for (name, x) in &c.references {
        finite(t, || format!("reference `{name}`"), *x)?;
    }
    Ok(())
}

pub(super) fn draw_horizontal_bars(root: &Area<'_>, c: &HorizontalBarChart) -> DrawResult<()> {
    let n = c.categories.len();
    let k = c.series.len();
    // Row labels in full up to a limit; the label area as wide as the longest (about 8 px
    // a character at 14 px, the browser's own font).
    let labels: Vec<String> = c
        .categories
        .iter()
        .rev()
        .map(|l| {
            if l.chars().count() > HBARS_MAX_LABEL {
                let mut cut: String = l.chars().take(HBARS_MAX_LABEL - 1).collect();
                cut.push('…');
                cut
            } else {
                l.clone()
            }
        })
        .collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let label_area = u32::try_from(longest * 8 + 24)
        .unwrap_or(u32::MAX)
        .clamp(60, 360);

    let values = || c.series.iter().flat_map(|(_, v)| v.iter().copied());
    let (lo, hi) = min_max(values().chain(c.references.iter().map(|r| r.1)));
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let x0 = if lo < 0.0 { lo - span * 0.15 } else { 0.0 };
    // Room on the right of the longest bar for its value, and beside it for the legend
    // (its width estimated like the labels': 9 px a character at 16 px, plus the marker),
    // so that the legend covers no bar.
    let legend = legend_entries(c) > 0;
    let (width, _) = root.dim_in_pixel();
    let plot = f64::from(width.saturating_sub(label_area + 32).max(100));
    let legend_px = if legend {
        let chars = c
            .series
            .iter()
            .map(|(name, _)| name)
            .chain(c.references.iter().map(|(name, _)| name))
            .map(|name| name.chars().count())
            .max()
            .unwrap_or(0);
        chars as f64 * 9.0 + 70.0
    } else {
        0.0
    };
    let text_px = if k <= 2 { 50.0 } else { 12.0 };
    let free = (1.0 - (legend_px + text_px) / plot).max(0.3);
    // All bars zero: a unit axis.
    let reach = if hi > x0 { hi - x0 } else { span };
    let x1 = x0 + reach / free;

    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, caption_style())
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(label_area)
        .build_cartesian_2d(x0..x1, Slots::new(n, n))?;
    let x_fmt = |v: &f64| fmt_num(*v);
    let y_fmt = |v: &f64| slot_label(&labels, *v);
    let mut mesh = chart.configure_mesh();
    style_mesh(&mut mesh);
    mesh.disable_y_mesh()
        .y_labels(n)
        .y_label_style((FONT, 14).into_font().color(&RGBColor(0x33, 0x33, 0x33)))
        .x_desc(c.x_label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .draw()?;

    // Row r (0 = first category) is the slot n-1-r; its bars share 80% of it, top down.
    let bar = 0.8 / k as f64;
    let top = |r: usize, j: usize| (n - r) as f64 - 0.1 - j as f64 * bar;
    for (j, (name, vals)) in c.series.iter().enumerate() {
        let col = colour(j);
        let drawn = chart.draw_series(vals.iter().enumerate().map(|(r, &v)| {
            let y = top(r, j);
            Rectangle::new([(0.0, y), (v, y - bar * 0.92)], col.filled())
        }))?;
        if legend {
            drawn
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], col.filled()));
        }
        // Values at the bars' ends when the bars are thick enough to tell them apart.
        if k <= 2 {
            chart.draw_series(vals.iter().enumerate().map(|(r, &v)| {
                let y = top(r, j) - bar * 0.46;
                let (hpos, dx) = if v < 0.0 {
                    (HPos::Right, -4)
                } else {
                    (HPos::Left, 4)
                };
                let style = (FONT, 12)
                    .into_font()
                    .color(&RGBColor(0x33, 0x33, 0x33))
                    .pos(Pos::new(hpos, VPos::Center));
                EmptyElement::at((v, y)) + Text::new(fmt_num(v), (dx, 0), style)
            }))?;
        }
    }
    if lo < 0.0 {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (0.0, n as f64)],
            BLACK.stroke_width(1),
        )))?;
    }
    for (i, (name, x)) in c.references.iter().enumerate() {
        let col = REFERENCE_COLOURS[i % REFERENCE_COLOURS.len()];
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(*x, 0.0), (*x, n as f64)],
                6,
                4,
                col.stroke_width(2),
            )))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                DashedPathElement::new(vec![(x, y), (x + 20, y)], 4, 3, col.stroke_width(2))
            });
    }
    if !legend {
        return Ok(());
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}
