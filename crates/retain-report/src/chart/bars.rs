//! Grouped vertical bar charts.

use plotters::prelude::*;

use super::axes::{Slots, min_max, slot_label};
use super::check::{empty, finite, same_len};
use super::colour::colour;
use super::legend::{draw_legend, headroom_corner};
use super::style::{Area, DrawResult, caption_style, style_mesh};
use crate::{BarChart, Result, fmt_num};

pub(super) fn check_bars(c: &BarChart) -> Result<()> {
    let t = &c.title;
    if c.categories.is_empty() {
        return Err(empty(t, "categories"));
    }
    if c.series.is_empty() {
        return Err(empty(t, "series"));
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
    Ok(())
}

pub(super) fn draw_bars(root: &Area<'_>, c: &BarChart) -> DrawResult<()> {
    let n = c.categories.len();
    let (lo, hi) = min_max(c.series.iter().flat_map(|(_, v)| v.iter().copied()));
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    // Headroom above the bars for the legend.
    let span = if hi > lo { hi - lo } else { 1.0 };
    let y1 = hi + span * 0.25;
    let y0 = if lo < 0.0 { lo - span * 0.05 } else { 0.0 };

    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, caption_style())
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(72)
        .build_cartesian_2d(Slots::new(n, 16), y0..y1)?;
    let x_fmt = |v: &f64| slot_label(&c.categories, *v);
    let y_fmt = |v: &f64| fmt_num(*v);
    let mut mesh = chart.configure_mesh();
    style_mesh(&mut mesh);
    mesh.disable_x_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .draw()?;

    let k = c.series.len() as f64;
    let bar = 0.8 / k;
    for (j, (name, values)) in c.series.iter().enumerate() {
        let col = colour(j);
        let offset = 0.1 + j as f64 * bar;
        chart
            .draw_series(values.iter().enumerate().map(|(i, &v)| {
                let x = i as f64 + offset;
                Rectangle::new([(x, 0.0), (x + bar * 0.92, v)], col.filled())
            }))?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], col.filled()));
    }
    if lo < 0.0 {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (n as f64, 0.0)],
            BLACK.stroke_width(1),
        )))?;
    }
    draw_legend(
        &mut chart,
        headroom_corner(
            n as f64,
            c.series
                .iter()
                .flat_map(|(_, v)| v.iter().enumerate().map(|(i, &y)| (i as f64 + 0.5, y))),
        ),
    )
}
