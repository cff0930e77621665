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
//!
//! [`render_svg`] checks the input and dispatches to one module per chart kind (`line`,
//! `bars`, `horizontal_bars`, `heat_map`, `histogram`), each with its input check and its
//! drawing. They share helpers that import none of them: `check` (the input errors),
//! `style` (font, caption and mesh), `colour` (palettes), `axes` (ranges and the slot
//! axis) and `legend` (the legend box and where it goes).

mod axes;
mod bars;
mod check;
mod colour;
mod heat_map;
mod histogram;
mod horizontal_bars;
mod legend;
mod line;
mod style;

use plotters::prelude::*;

use self::bars::{check_bars, draw_bars};
use self::heat_map::{check_heat_map, draw_heat_map};
use self::histogram::{check_histogram, draw_histogram};
use self::horizontal_bars::{
    HBARS_MAX_HEIGHT, check_horizontal_bars, draw_horizontal_bars, legend_entries,
};
use self::line::{check_line, draw_line};
use crate::{Chart, Error, Result};

const WIDTH: u32 = 800;

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

#[cfg(test)]
mod tests {
    use super::horizontal_bars::HBARS_MAX_ROWS;
    use super::*;
    use crate::{BarChart, HeatMap, Histogram, HorizontalBarChart, LineChart, Series};
    use retain_test::svg::{assert_svg, texts};

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
