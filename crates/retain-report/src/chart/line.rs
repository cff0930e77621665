//! Line charts: lines over a numeric x axis, optionally with the `y = x` diagonal.

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::axes::{min_max, padded};
use super::check::{empty, finite};
use super::colour::colour;
use super::legend::{draw_legend, emptiest_corner};
use super::style::{Area, DrawResult, caption_style, style_mesh};
use crate::{LineChart, Result, fmt_num};

pub(super) fn check_line(c: &LineChart) -> Result<()> {
    let t = &c.title;
    if c.series.is_empty() {
        return Err(empty(t, "series"));
    }
    for s in &c.series {
        if s.points.is_empty() {
            return Err(empty(t, format!("series `{}`", s.name)));
        }
        for (i, &(x, y)) in s.points.iter().enumerate() {
            finite(t, || format!("x of point {i} of series `{}`", s.name), x)?;
            finite(t, || format!("y of point {i} of series `{}`", s.name), y)?;
        }
    }
    Ok(())
}

pub(super) fn draw_line(root: &Area<'_>, c: &LineChart) -> DrawResult<()> {
    let all = || c.series.iter().flat_map(|s| s.points.iter().copied());
    let (mut x0, mut x1) = min_max(all().map(|p| p.0));
    let (mut y0, mut y1) = min_max(all().map(|p| p.1));
    if c.diagonal {
        // Same range on both axes, so that y = x is the square's diagonal; the whole unit
        // square when everything is a probability (calibration, ROC).
        x0 = x0.min(y0);
        x1 = x1.max(y1);
        if x0 >= 0.0 && x1 <= 1.0 {
            (x0, x1) = (0.0, 1.0);
        }
        (y0, y1) = (x0, x1);
    }
    let (x0, x1) = padded(x0, x1, if c.diagonal { 0.02 } else { 0.03 });
    let (y0, y1) = padded(y0, y1, if c.diagonal { 0.02 } else { 0.05 });

    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, caption_style())
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let fmt = |v: &f64| fmt_num(*v);
    let mut mesh = chart.configure_mesh();
    style_mesh(&mut mesh);
    mesh.x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .draw()?;

    if c.diagonal {
        let (lo, hi) = (x0.max(y0), x1.min(y1));
        let grey = RGBColor(0x77, 0x77, 0x77);
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(lo, lo), (hi, hi)],
                6,
                4,
                grey.stroke_width(1),
            )))?
            .label("y = x")
            .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 20, y)], 4, 3, grey));
    }
    for (i, s) in c.series.iter().enumerate() {
        let col = colour(i);
        chart
            .draw_series(std::iter::once(PathElement::new(
                s.points.clone(),
                col.stroke_width(2),
            )))?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
        // Markers when there are few enough points to tell apart (calibration bins).
        if s.points.len() <= 40 {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, col.filled())))?;
        }
    }

    // Put the legend where the lines are not: sample each segment.
    let to_unit = |(x, y): (f64, f64)| ((x - x0) / (x1 - x0), (y - y0) / (y1 - y0));
    let mut samples = Vec::new();
    for s in &c.series {
        for w in s.points.windows(2) {
            for k in 0..=10 {
                let t = f64::from(k) / 10.0;
                let p = (
                    w[0].0 + t * (w[1].0 - w[0].0),
                    w[0].1 + t * (w[1].1 - w[0].1),
                );
                samples.push(to_unit(p));
            }
        }
        samples.extend(s.points.iter().copied().map(to_unit));
    }
    draw_legend(&mut chart, emptiest_corner(samples.into_iter()))
}
