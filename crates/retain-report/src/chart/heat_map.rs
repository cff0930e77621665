//! Heat maps: a grid of viridis-coloured cells beside a colour scale.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{Slots, min_max, padded, slot_label};
use super::check::{empty, finite, same_len};
use super::colour::{text_on, viridis};
use super::style::{Area, DrawResult, FONT, caption_style, style_mesh};
use crate::{Error, HeatMap, Result, fmt_num};

pub(super) fn check_heat_map(c: &HeatMap) -> Result<()> {
    let t = &c.title;
    if c.x_labels.is_empty() {
        return Err(empty(t, "x_labels"));
    }
    if c.y_labels.is_empty() {
        return Err(empty(t, "y_labels"));
    }
    same_len(
        t,
        || "values (rows)".to_owned(),
        c.y_labels.len(),
        c.values.len(),
    )?;
    for (row, label) in c.values.iter().zip(&c.y_labels) {
        same_len(t, || format!("row `{label}`"), c.x_labels.len(), row.len())?;
        for (v, x) in row.iter().zip(&c.x_labels) {
            // NaN is an empty cell; an infinity is a bug upstream.
            if v.is_infinite() {
                finite(t, || format!("cell `{label}`/`{x}`"), *v)?;
            }
        }
    }
    if c.values.iter().flatten().all(|v| v.is_nan()) {
        return Err(Error::Invalid {
            chart: t.clone(),
            what: "every cell is empty (NaN)".to_owned(),
        });
    }
    Ok(())
}

pub(super) fn draw_heat_map(root: &Area<'_>, c: &HeatMap) -> DrawResult<()> {
    let (nx, ny) = (c.x_labels.len(), c.y_labels.len());
    let (vmin, vmax) = min_max(c.values.iter().flatten().copied().filter(|v| !v.is_nan()));
    let (smin, smax) = if vmax > vmin {
        (vmin, vmax)
    } else {
        padded(vmin, vmax, 0.0)
    };
    let scale = |v: f64| (v - smin) / (smax - smin);

    let (width, _) = root.dim_in_pixel();
    let (main, legend) = root.split_horizontally(width.saturating_sub(120));
    // The caption's height in the main chart, so the colour bar starts level with the grid.
    let caption_height = 26;
    let mut chart = ChartBuilder::on(&main)
        .caption(&c.title, caption_style())
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(96)
        .build_cartesian_2d(Slots::new(nx, 15), Slots::new(ny, 20))?;
    // Row 0 is drawn at the top: its slot is ny-1..ny.
    let y_labels: Vec<String> = c.y_labels.iter().rev().cloned().collect();
    let x_fmt = |v: &f64| slot_label(&c.x_labels, *v);
    let y_fmt = |v: &f64| slot_label(&y_labels, *v);
    let mut mesh = chart.configure_mesh();
    style_mesh(&mut mesh);
    mesh.disable_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .draw()?;

    let top = |r: usize| (ny - r) as f64;
    chart.draw_series(c.values.iter().enumerate().flat_map(|(r, row)| {
        row.iter().enumerate().map(move |(x, &v)| {
            let fill = if v.is_nan() {
                RGBColor(0xf4, 0xf4, 0xf4)
            } else {
                viridis(scale(v))
            };
            Rectangle::new(
                [(x as f64, top(r)), (x as f64 + 1.0, top(r) - 1.0)],
                fill.filled(),
            )
        })
    }))?;
    // Thin white grid lines between the cells.
    chart.draw_series(c.values.iter().enumerate().flat_map(|(r, row)| {
        row.iter().enumerate().map(move |(x, _)| {
            Rectangle::new(
                [(x as f64, top(r)), (x as f64 + 1.0, top(r) - 1.0)],
                WHITE.stroke_width(1),
            )
        })
    }))?;
    if nx <= 15 && ny <= 15 {
        chart.draw_series(c.values.iter().enumerate().flat_map(|(r, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, v)| !v.is_nan())
                .map(move |(x, &v)| {
                    let style = (FONT, 14)
                        .into_font()
                        .color(&text_on(viridis(scale(v))))
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    Text::new(fmt_num(v), (x as f64 + 0.5, top(r) - 0.5), style)
                })
        }))?;
    }

    // The colour scale: a vertical bar with its own axis, aligned with the plot.
    let mut bar = ChartBuilder::on(&legend)
        .margin_top(16 + caption_height)
        .margin_bottom(16 + 56)
        .margin_right(8)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..1.0, smin..smax)?;
    let fmt = |v: &f64| fmt_num(*v);
    bar.configure_mesh()
        .disable_x_axis()
        .disable_mesh()
        .y_labels(6)
        .y_label_formatter(&fmt)
        .label_style((FONT, 14).into_font())
        .y_desc(c.value_label.as_str())
        .axis_desc_style((FONT, 15).into_font())
        .axis_style(RGBColor(0x88, 0x88, 0x88))
        .draw()?;
    const STEPS: u32 = 64;
    bar.draw_series((0..STEPS).map(|k| {
        let a = f64::from(k) / f64::from(STEPS);
        let b = f64::from(k + 1) / f64::from(STEPS);
        let (va, vb) = (smin + a * (smax - smin), smin + b * (smax - smin));
        Rectangle::new([(0.0, va), (1.0, vb)], viridis((a + b) / 2.0).filled())
    }))?;
    Ok(())
}
