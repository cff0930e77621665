//! Drawing the five chart kinds with plotters' SVG backend.
//!
//! Text: plotters is built without its `ttf` and `ab_glyph` features, so it uses its
//! built-in "naive" font: a size estimate from the character count (0.7 em a character),
//! no font files. That is enough here because the SVG backend never rasterises text: it
//! writes each label as an SVG `<text>` element with `font-family`, `font-size` and
//! `text-anchor`, and the browser lays it out with its own fonts. The estimate is only
//! used to size the legend box and to keep tick labels apart, which is why the legend box
//! is given a little spare margin. `ttf` would pull in font-kit, fontconfig and freetype
//! and make the output depend on the fonts installed where the report is built — the
//! opposite of deterministic.
//!
//! Series are drawn from plain elements (`PathElement`, `Rectangle`, `Circle`, `Text`),
//! so none of plotters' series or palette features are needed.

use std::ops::Range;

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::{
    BarChart, Chart, Error, HeatMap, Histogram, HorizontalBarChart, LineChart, Result, fmt_num,
};

const FONT: &str = "sans-serif";
const WIDTH: u32 = 800;

/// Tableau 10: distinct, colour-blind-friendlier than plotters' default palette, and
/// readable on white.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Width and height of the SVG drawn for `chart`, in pixels.
pub(crate) fn size(chart: &Chart) -> (u32, u32) {
    match chart {
        Chart::Line(c) if c.diagonal => (640, 560),
        Chart::Line(_) | Chart::Bars(_) | Chart::Histogram(_) => (WIDTH, 450),
        Chart::HorizontalBars(c) => {
            // One row per category, taller with more bars in it; at least room for the
            // legend; the caption, the x axis and the margins around.
            let rows = u32::try_from(c.categories.len()).unwrap_or(u32::MAX);
            let k = u32::try_from(c.series.len()).unwrap_or(u32::MAX);
            let row = k.saturating_mul(7).saturating_add(12).max(20);
            let entries = u32::try_from(legend_entries(c)).unwrap_or(u32::MAX);
            let plot = rows
                .saturating_mul(row)
                .max(entries.saturating_mul(26).saturating_add(30));
            (WIDTH, plot.saturating_add(130).min(HBARS_MAX_HEIGHT))
        }
        Chart::HeatMap(h) => {
            // About 26 px a row, within 360..=900.
            let rows = u32::try_from(h.y_labels.len()).unwrap_or(u32::MAX);
            (
                WIDTH,
                rows.saturating_mul(26).saturating_add(140).clamp(360, 900),
            )
        }
    }
}

/// Draw `chart` as a standalone SVG document. The same chart always gives the same bytes.
pub fn render_svg(chart: &Chart) -> Result<String> {
    match chart {
        Chart::Line(c) => check_line(c)?,
        Chart::Bars(c) => check_bars(c)?,
        Chart::HorizontalBars(c) => check_horizontal_bars(c)?,
        Chart::HeatMap(c) => check_heat_map(c)?,
        Chart::Histogram(c) => check_histogram(c)?,
    }
    let title = chart.title();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size(chart)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error(title))?;
        match chart {
            Chart::Line(c) => draw_line(&root, c),
            Chart::Bars(c) => draw_bars(&root, c),
            Chart::HorizontalBars(c) => draw_horizontal_bars(&root, c),
            Chart::HeatMap(c) => draw_heat_map(&root, c),
            Chart::Histogram(c) => draw_histogram(&root, c),
        }
        .map_err(draw_error(title))?;
        root.present().map_err(draw_error(title))?;
    }
    Ok(svg)
}

fn draw_error<E: std::fmt::Display>(chart: &str) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Draw {
        chart: chart.to_owned(),
        message: e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Input checks: every way the input can be unusable is an `Error`, so drawing never sees
// an empty range or a NaN coordinate.

fn finite(chart: &str, what: impl FnOnce() -> String, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite {
            chart: chart.to_owned(),
            what: what(),
            value,
        })
    }
}

fn empty(chart: &str, what: impl Into<String>) -> Error {
    Error::Empty {
        chart: chart.to_owned(),
        what: what.into(),
    }
}

fn same_len(
    chart: &str,
    what: impl FnOnce() -> String,
    expected: usize,
    found: usize,
) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            chart: chart.to_owned(),
            what: what(),
            expected,
            found,
        })
    }
}

fn check_line(c: &LineChart) -> Result<()> {
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

fn check_bars(c: &BarChart) -> Result<()> {
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

fn check_horizontal_bars(c: &HorizontalBarChart) -> Result<()> {
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

fn check_heat_map(c: &HeatMap) -> Result<()> {
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

fn check_histogram(c: &Histogram) -> Result<()> {
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

// ---------------------------------------------------------------------------------------
// Drawing. The functions return plotters' own error; `render_svg` names the chart.

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult<T> = std::result::Result<
    T,
    DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>,
>;

/// `lo..hi` widened by `pad` of its span on both sides, and never empty.
fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    if hi > lo {
        let d = (hi - lo) * pad;
        (lo - d, hi + d)
    } else {
        let d = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    }
}

fn min_max(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

fn caption_style() -> TextStyle<'static> {
    (FONT, 22).into_font().style(FontStyle::Bold).color(&BLACK)
}

/// Fonts, grid and axis colours shared by every chart.
fn style_mesh<X: Ranged, Y: Ranged>(mesh: &mut MeshStyle<'_, '_, X, Y, SVGBackend<'_>>) {
    mesh.label_style((FONT, 15).into_font().color(&RGBColor(0x33, 0x33, 0x33)))
        .axis_desc_style((FONT, 17).into_font().color(&BLACK))
        .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
        // No minor grid: it adds little on a report and a few hundred <line>s a chart.
        .max_light_lines(0)
        .axis_style(RGBColor(0x88, 0x88, 0x88));
}

/// The legend box, in the given corner of the plot.
fn draw_legend<'a, CT: CoordTranslate>(
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
fn emptiest_corner(points: impl Iterator<Item = (f64, f64)>) -> SeriesLabelPosition {
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

fn draw_line(root: &Area<'_>, c: &LineChart) -> DrawResult<()> {
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

/// An axis of `n` unit slots `0..n` (categories, heat-map rows) with its ticks at the slot
/// centres `0.5, 1.5, …`, at most about `max_labels` of them (every k-th) so that labels
/// do not collide. plotters' `with_key_points` would do the ticks, but its axes cannot take
/// a label formatter; this one formats with the default and `x_label_formatter` maps a
/// centre back to its label.
struct Slots {
    linear: RangedCoordf64,
    n: usize,
    max_labels: usize,
}

impl Slots {
    fn new(n: usize, max_labels: usize) -> Self {
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
fn slot_label(labels: &[String], v: f64) -> String {
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

fn draw_bars(root: &Area<'_>, c: &BarChart) -> DrawResult<()> {
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

/// Horizontal bar charts are at most this tall (in pixels)...
const HBARS_MAX_HEIGHT: u32 = 4000;
/// ...which holds this many rows of one bar.
const HBARS_MAX_ROWS: usize = 190;
/// Row labels longer than this are cut, with an ellipsis.
const HBARS_MAX_LABEL: usize = 40;

/// Legend entries of a horizontal bar chart: none for one series without references (the
/// x axis says what the bars are), else one per series and reference.
fn legend_entries(c: &HorizontalBarChart) -> usize {
    if c.series.len() == 1 && c.references.is_empty() {
        0
    } else {
        c.series.len() + c.references.len()
    }
}

/// Dark red, then dark grey: apart from the bars' palette.
const REFERENCE_COLOURS: [RGBColor; 2] = [RGBColor(0xa3, 0x1f, 0x1f), RGBColor(0x44, 0x44, 0x44)];

fn draw_horizontal_bars(root: &Area<'_>, c: &HorizontalBarChart) -> DrawResult<()> {
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

/// Upper right, unless the right side of the plot is taller than the left.
fn headroom_corner(x_span: f64, tops: impl Iterator<Item = (f64, f64)>) -> SeriesLabelPosition {
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

/// Viridis, sampled at nine stops: perceptually uniform and readable in grey print.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (0x44, 0x01, 0x54),
    (0x47, 0x2d, 0x7b),
    (0x3b, 0x52, 0x8b),
    (0x2c, 0x72, 0x8e),
    (0x21, 0x91, 0x8c),
    (0x28, 0xae, 0x80),
    (0x5e, 0xc9, 0x62),
    (0xad, 0xdc, 0x30),
    (0xfd, 0xe7, 0x25),
];

/// The colour of `t` in `0..=1` on the viridis scale.
fn viridis(t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = pos.floor().min((VIRIDIS.len() - 2) as f64);
    let f = pos - i;
    // i is in 0..=7 here.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (a, b) = (VIRIDIS[i as usize], VIRIDIS[i as usize + 1]);
    let mix = |x: u8, y: u8| {
        let v = f64::from(x) + f * (f64::from(y) - f64::from(x));
        // v is within the two u8 inputs.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = v.round() as u8;
        v
    };
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Black or white, whichever reads better on `bg`.
fn text_on(bg: RGBColor) -> RGBColor {
    let l = 0.299 * f64::from(bg.0) + 0.587 * f64::from(bg.1) + 0.114 * f64::from(bg.2);
    if l > 140.0 { BLACK } else { WHITE }
}

fn draw_heat_map(root: &Area<'_>, c: &HeatMap) -> DrawResult<()> {
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

fn draw_histogram(root: &Area<'_>, c: &Histogram) -> DrawResult<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Series;

    fn line(points: Vec<(f64, f64)>) -> Chart {
        Chart::Line(LineChart {
            title: "Lift <top>".to_owned(),
            x_label: "share targeted".to_owned(),
            y_label: "share of churners".to_owned(),
            series: vec![Series {
                name: "model & co".to_owned(),
                points,
            }],
            diagonal: false,
        })
    }

    fn bars(values: Vec<f64>) -> Chart {
        Chart::Bars(BarChart {
            title: "Churn by region".to_owned(),
            x_label: "region".to_owned(),
            y_label: "churn rate".to_owned(),
            categories: vec!["north".to_owned(), "south".to_owned()],
            series: vec![("last year".to_owned(), values)],
        })
    }

    fn heat(values: Vec<Vec<f64>>) -> Chart {
        Chart::HeatMap(HeatMap {
            title: "Retention".to_owned(),
            x_label: "month".to_owned(),
            y_label: "cohort".to_owned(),
            x_labels: vec!["m1".to_owned(), "m2".to_owned()],
            y_labels: vec!["jan".to_owned(), "feb".to_owned()],
            values,
            value_label: "retained share".to_owned(),
        })
    }

    fn hist(bins: Vec<f64>, counts: Vec<f64>) -> Chart {
        Chart::Histogram(Histogram {
            title: "Scores".to_owned(),
            x_label: "probability".to_owned(),
            bins,
            series: vec![("churned".to_owned(), counts)],
        })
    }

    /// The texts plotters wrote as `<text>` elements (it writes each on its own line).
    fn texts(svg: &str) -> Vec<&str> {
        let lines: Vec<&str> = svg.lines().collect();
        lines
            .windows(2)
            .filter(|w| w[0].starts_with("<text"))
            .map(|w| w[1])
            .collect()
    }

    fn assert_svg(svg: &str, wanted: &[&str]) {
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        let texts = texts(svg);
        for w in wanted {
            assert!(texts.contains(w), "no <text> {w:?} in {texts:?}");
        }
    }

    #[test]
    fn svg_text_is_escaped() {
        let svg = render_svg(&line(vec![(0.0, 0.0), (1.0, 1.0)])).expect("renders");
        assert!(svg.contains("Lift &lt;top&gt;"), "{svg}");
        assert!(svg.contains("model &amp; co"), "{svg}");
        assert!(!svg.contains("<top>"));
    }

    #[test]
    fn big_heat_maps_print_no_cell_values() {
        let n = 16;
        let chart = Chart::HeatMap(HeatMap {
            title: "Big".to_owned(),
            x_label: "x".to_owned(),
            y_label: "y".to_owned(),
            x_labels: (0..n).map(|i| format!("c{i}")).collect(),
            y_labels: (0..n).map(|i| format!("r{i}")).collect(),
            values: (0..n)
                .map(|r| (0..n).map(|c| f64::from(r * n + c) + 0.5).collect())
                .collect(),
            value_label: "v".to_owned(),
        });
        let svg = render_svg(&chart).expect("renders");
        assert!(
            !texts(&svg).contains(&"0.5"),
            "cell value printed in a 16×16 grid"
        );
        assert!(texts(&svg).contains(&"Big"));
    }

    #[test]
    fn degenerate_but_valid_input_renders() {
        // One point, a constant heat map, all-zero bars and histogram: nothing to scale by.
        render_svg(&line(vec![(3.0, 3.0)])).expect("one point");
        render_svg(&bars(vec![0.0, 0.0])).expect("zero bars");
        render_svg(&bars(vec![-1.0, 2.0])).expect("negative bars");
        render_svg(&heat(vec![vec![0.5, 0.5], vec![0.5, f64::NAN]])).expect("constant heat map");
        render_svg(&hist(vec![0.0, 1.0], vec![0.0])).expect("empty histogram");
    }

    fn err(chart: &Chart) -> Error {
        render_svg(chart).expect_err("bad input must be an error")
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(
            matches!(err(&line(vec![])), Error::Empty { what, .. } if what == "series `model & co`")
        );
        let mut no_series = bars(vec![]);
        if let Chart::Bars(b) = &mut no_series {
            b.series.clear();
        }
        assert!(matches!(err(&no_series), Error::Empty { what, .. } if what == "series"));
        let mut no_labels = heat(vec![]);
        if let Chart::HeatMap(h) = &mut no_labels {
            h.x_labels.clear();
        }
        assert!(matches!(err(&no_labels), Error::Empty { what, .. } if what == "x_labels"));
        assert!(matches!(
            err(&hist(vec![0.0], vec![])),
            Error::Invalid { .. }
        ));
        let e = err(&heat(vec![vec![f64::NAN; 2]; 2]));
        assert!(e.to_string().contains("every cell is empty"), "{e}");
    }

    #[test]
    fn mismatched_lengths_are_an_error() {
        let e = err(&bars(vec![1.0]));
        assert!(
            matches!(&e, Error::LengthMismatch { expected: 2, found: 1, what, .. } if what == "series `last year`"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "chart `Churn by region`: series `last year` has 1 values, expected 2"
        );
        let e = err(&heat(vec![vec![1.0, 2.0], vec![3.0]]));
        assert!(
            matches!(&e, Error::LengthMismatch { expected: 2, found: 1, what, .. } if what == "row `feb`"),
            "{e:?}"
        );
        let e = err(&heat(vec![vec![1.0, 2.0]]));
        assert!(
            matches!(
                &e,
                Error::LengthMismatch {
                    expected: 2,
                    found: 1,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = err(&hist(vec![0.0, 0.5, 1.0], vec![3.0]));
        assert!(
            matches!(
                &e,
                Error::LengthMismatch {
                    expected: 2,
                    found: 1,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn non_finite_values_are_an_error() {
        let e = err(&line(vec![(0.0, 1.0), (f64::NAN, 2.0)]));
        assert!(
            matches!(&e, Error::NonFinite { what, .. } if what == "x of point 1 of series `model & co`"),
            "{e:?}"
        );
        assert!(matches!(
            err(&line(vec![(0.0, f64::INFINITY)])),
            Error::NonFinite { .. }
        ));
        assert!(matches!(
            err(&bars(vec![1.0, f64::NAN])),
            Error::NonFinite { .. }
        ));
        // NaN is an empty heat-map cell, an infinity is not.
        assert!(matches!(
            err(&heat(vec![vec![1.0, f64::NEG_INFINITY], vec![1.0, 2.0]])),
            Error::NonFinite { .. }
        ));
        assert!(matches!(
            err(&hist(vec![0.0, f64::NAN], vec![1.0])),
            Error::NonFinite { .. }
        ));
        assert!(matches!(
            err(&hist(vec![0.0, 1.0], vec![f64::NAN])),
            Error::NonFinite { .. }
        ));
    }

    #[test]
    fn unusable_histograms_are_an_error() {
        let e = err(&hist(vec![0.0, 1.0, 1.0], vec![1.0, 2.0]));
        assert!(e.to_string().contains("bin edges must increase"), "{e}");
        let e = err(&hist(vec![0.0, 1.0], vec![-1.0]));
        assert!(e.to_string().contains("negative"), "{e}");
    }

    fn hbars(values: Vec<f64>, references: Vec<(String, f64)>) -> Chart {
        Chart::HorizontalBars(HorizontalBarChart {
            title: "Time per stage".to_owned(),
            x_label: "seconds".to_owned(),
            categories: vec![
                "ingest".to_owned(),
                "train repeat_purchase".to_owned(),
                "a label much longer than forty characters, cut".to_owned(),
            ],
            series: vec![("seconds".to_owned(), values)],
            references,
        })
    }

    #[test]
    fn horizontal_bars_label_every_row_and_value() {
        let svg = render_svg(&hbars(vec![1.5, 12.34, 0.0], vec![])).expect("renders");
        assert_svg(
            &svg,
            &[
                "Time per stage",
                "seconds",
                "ingest",
                "train repeat_purchase",
                "a label much longer than forty characte…",
                "1.5",
                "12.3",
            ],
        );
        // One series without references needs no legend.
        assert_eq!(texts(&svg).iter().filter(|t| **t == "seconds").count(), 1);
        let with_line = render_svg(&hbars(
            vec![0.2, -0.4, 0.9],
            vec![("threshold 0.5 sd".to_owned(), 0.5)],
        ))
        .expect("renders");
        assert_svg(&with_line, &["threshold 0.5 sd", "seconds", "-0.4"]);
        // Taller with more rows and more series, within bounds.
        render_svg(&hbars(vec![0.0; 3], vec![])).expect("zero bars");
        render_svg(&hbars(vec![-1.0; 3], vec![("r".to_owned(), 0.0)])).expect("negative bars");
        let (_, three) = size(&hbars(vec![1.0; 3], vec![]));
        let many = Chart::HorizontalBars(HorizontalBarChart {
            title: "t".to_owned(),
            x_label: "x".to_owned(),
            categories: (0..60).map(|i| format!("input_{i}")).collect(),
            series: vec![
                ("training".to_owned(), vec![0.1; 60]),
                ("scoring".to_owned(), vec![0.2; 60]),
            ],
            references: vec![],
        });
        let (_, sixty) = size(&many);
        assert!(
            three < sixty && sixty <= HBARS_MAX_HEIGHT,
            "{three} {sixty}"
        );
        render_svg(&many).expect("sixty rows");
    }

    #[test]
    fn unusable_horizontal_bars_are_an_error() {
        let mut none = hbars(vec![], vec![]);
        if let Chart::HorizontalBars(c) = &mut none {
            c.categories.clear();
            c.series[0].1.clear();
        }
        assert!(matches!(err(&none), Error::Empty { what, .. } if what == "categories"));
        assert!(matches!(
            err(&hbars(vec![1.0], vec![])),
            Error::LengthMismatch {
                expected: 3,
                found: 1,
                ..
            }
        ));
        assert!(matches!(
            err(&hbars(vec![1.0, f64::NAN, 2.0], vec![])),
            Error::NonFinite { .. }
        ));
        assert!(matches!(
            err(&hbars(vec![1.0; 3], vec![("t".to_owned(), f64::INFINITY)])),
            Error::NonFinite { what, .. } if what == "reference `t`"
        ));
        let too_many = Chart::HorizontalBars(HorizontalBarChart {
            title: "t".to_owned(),
            x_label: "x".to_owned(),
            categories: vec!["c".to_owned(); HBARS_MAX_ROWS + 1],
            series: vec![("s".to_owned(), vec![1.0; HBARS_MAX_ROWS + 1])],
            references: vec![],
        });
        assert!(matches!(err(&too_many), Error::Invalid { .. }));
    }

    #[test]
    fn a_failed_chart_leaves_the_report_unchanged() {
        let mut r = crate::Report::new("r");
        let before = r.to_html();
        assert!(r.chart(&bars(vec![])).is_err());
        assert_eq!(r.to_html(), before);
        r.chart(&bars(vec![1.0, 2.0])).expect("renders");
        let html = r.to_html();
        assert!(html.contains(
            "<figure><img alt=\"Churn by region\" width=\"800\" height=\"450\" \
             src=\"data:image/svg+xml;base64,"
        ));
        assert!(html.contains("<figcaption>Churn by region</figcaption></figure>"));
    }
}
