//! Histograms over shared bins, overlaid semi-transparent with step outlines.

use plotters::prelude::*;

use super::axes::min_max;
use super::check::{empty, finite, same_len};
use super::colour::colour;
use super::legend::{draw_legend, headroom_corner};
use super::style::{Area, DrawResult, caption_style, style_mesh};
use crate::{Error, Histogram, Result, fmt_num};

pub(super) fn check_histogram(c: &Histogram) -> Result<()> {
    let t = &c.title;
    if c.bins.len() < 2 {
        return Err(Error::Invalid {
            chart: t.clone(),
            what: format!("needs at least 2 bin edges, got {}", c.bins.len()),
        });
    }
    for (i, e) in c.bins.iter().enumerate() {
        finite(t, || format!("bin edge {i}"), *e)?;
    }
    if let Some(i) = c.bins.windows(2).position(|w| w[0] >= w[1]) {
        return Err(Error::Invalid {
            chart: t.clone(),
            what: format!(
                "bin edges must increase, but edge {} ({}) >= edge {} ({})",
                i,
                c.bins[i],
                i + 1,
                c.bins[i + 1]
            ),
        });
    }
    if c.series.is_empty() {
        return Err(empty(t, "series"));
    }
    for (name, counts) in &c.series {
        same_len(
            t,
            || format!("series `{name}`"),
            c.bins.len() - 1,
            counts.len(),
        )?;
        for (i, v) in counts.iter().enumerate() {
            finite(t, || format!("bin {i} of series `{name}`"), *v)?;
            if *v < 0.0 {
                return Err(Error::Invalid {
                    chart: t.clone(),
                    what: format!("bin {i} of series `{name}` is negative ({v})"),
                });
            }
        }
    }
    Ok(())
}

pub(super) fn draw_histogram(root: &Area<'_>, c: &Histogram) -> DrawResult<()> {
    let (x0, x1) = (c.bins[0], c.bins[c.bins.len() - 1]);
    let (_, hi) = min_max(c.series.iter().flat_map(|(_, v)| v.iter().copied()));
    let hi = if hi > 0.0 { hi } else { 1.0 };

    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, caption_style())
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, 0.0..hi * 1.25)?;
    let fmt = |v: &f64| fmt_num(*v);
    let mut mesh = chart.configure_mesh();
    style_mesh(&mut mesh);
    mesh.x_desc(c.x_label.as_str())
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .draw()?;

    // All fills first, then all outlines, so that no fill hides another series' outline.
    for (j, (name, counts)) in c.series.iter().enumerate() {
        let col = colour(j);
        chart
            .draw_series(
                c.bins
                    .windows(2)
                    .zip(counts.iter().copied())
                    .map(|(e, v)| Rectangle::new([(e[0], 0.0), (e[1], v)], col.mix(0.4).filled())),
            )?
            .label(name.as_str())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], col.mix(0.6).filled())
            });
    }
    for (j, (_, counts)) in c.series.iter().enumerate() {
        // The series' outline as one step line.
        let mut outline = Vec::with_capacity(counts.len() * 2 + 2);
        outline.push((x0, 0.0));
        for (e, v) in c.bins.windows(2).zip(counts.iter().copied()) {
            outline.push((e[0], v));
            outline.push((e[1], v));
        }
        outline.push((x1, 0.0));
        chart.draw_series(std::iter::once(PathElement::new(
            outline,
            colour(j).stroke_width(2),
        )))?;
    }
    let tops = c.series.iter().flat_map(|(_, v)| {
        c.bins
            .windows(2)
            .zip(v.iter().copied())
            .map(|(e, y)| ((e[0] + e[1]) / 2.0 - x0, y))
    });
    draw_legend(&mut chart, headroom_corner(x1 - x0, tops))
}
