//! Self-contained HTML reports (model reports, CLV reports, run reports) with charts drawn
//! in Rust.
//!
//! A [`Report`] is a list of blocks — headings, paragraphs, tables and [`Chart`]s — that
//! [`Report::to_html`] writes as one HTML page. Charts are drawn by plotters' SVG backend
//! ([`render_svg`]) and embedded as `data:image/svg+xml;base64,…` images, so a browser has
//! to decode each one (a headless browser check, `retain_test::browser::check_page` in the
//! tests, can tell whether every image did).
//!
//! Two rules every change must keep:
//! - **Self-contained.** The page loads nothing: no CDN, no web font, no external
//!   stylesheet, script or image. The CSS and the one small script are inline, the charts
//!   are data URLs, and a Content-Security-Policy `<meta>` forbids anything else, so a page
//!   opened offline, mailed or archived looks the same.
//! - **Deterministic.** The same input gives byte-identical HTML: no timestamps, no random
//!   ids, no hash-map iteration order, and floats are printed by [`fmt_num`] with a fixed
//!   number of significant digits. A report can be committed or diffed as a golden file.
//!
//! Bad input (an empty series, lengths that do not match, a NaN where none is allowed) is an
//! [`Error`], never a panic.

mod chart;

use std::fmt::Write as _;

use base64::Engine as _;

pub use chart::render_svg;

/// Everything that can go wrong while rendering a chart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A chart has nothing to draw: no series, a series without points, no categories.
    #[error("chart `{chart}`: {what} is empty")]
    Empty { chart: String, what: String },
    /// Two inputs that must have the same length do not (a bar series and the categories,
    /// a heat-map row and the x labels, histogram counts and the bin edges).
    #[error("chart `{chart}`: {what} has {found} values, expected {expected}")]
    LengthMismatch {
        chart: String,
        what: String,
        expected: usize,
        found: usize,
    },
    /// A NaN or infinity where the chart needs a number (only heat maps accept NaN, as an
    /// empty cell).
    #[error("chart `{chart}`: {what} is not finite ({value})")]
    NonFinite {
        chart: String,
        what: String,
        value: f64,
    },
    /// Input that is finite and of the right length but still cannot be drawn: bin edges
    /// that do not increase, negative histogram counts, a heat map without any value.
    #[error("chart `{chart}`: {what}")]
    Invalid { chart: String, what: String },
    /// plotters failed to draw (its error types are generic over the backend, so only the
    /// message is kept).
    #[error("chart `{chart}`: drawing failed: {message}")]
    Draw { chart: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A chart: one of the five kinds [`render_svg`] can draw.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    Line(LineChart),
    Bars(BarChart),
    HorizontalBars(HorizontalBarChart),
    HeatMap(HeatMap),
    Histogram(Histogram),
}

impl Chart {
    /// The chart's title, used as the image's `alt` text and caption.
    pub fn title(&self) -> &str {
        match self {
            Chart::Line(c) => &c.title,
            Chart::Bars(c) => &c.title,
            Chart::HorizontalBars(c) => &c.title,
            Chart::HeatMap(c) => &c.title,
            Chart::Histogram(c) => &c.title,
        }
    }
}

/// One named line of `(x, y)` points, drawn in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Lines over a numeric x axis: lift, calibration and ROC curves, values over time.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Draw the `y = x` reference (calibration, ROC); both axes then span the same range.
    pub diagonal: bool,
}

/// Grouped bars: one group per category, one bar per series in each group.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub categories: Vec<String>,
    /// `(name, one value per category)`.
    pub series: Vec<(String, Vec<f64>)>,
}

/// Grouped horizontal bars: one row per category, top to bottom, each labelled in full on
/// the left (so long names such as stage or feature names stay readable however many rows
/// there are), one bar per series in each row with its value written at its end, and
/// optional dashed vertical reference lines (a threshold, a budget). The chart grows taller
/// with the rows.
#[derive(Debug, Clone, PartialEq)]
pub struct HorizontalBarChart {
    pub title: String,
    /// What the bars' length means.
    pub x_label: String,
    /// Row labels, first row at the top.
    pub categories: Vec<String>,
    /// `(name, one value per category)`.
    pub series: Vec<(String, Vec<f64>)>,
    /// `(name, x)`: a dashed vertical line across every row, named in the legend.
    pub references: Vec<(String, f64)>,
}

/// A grid of coloured cells with a colour-scale legend, e.g. cohort retention. Values are
/// printed in the cells when the grid is at most 15 × 15.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatMap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_labels: Vec<String>,
    /// Row labels, first row at the top.
    pub y_labels: Vec<String>,
    /// `values[y][x]`; NaN is an empty cell.
    pub values: Vec<Vec<f64>>,
    /// What the colour means, written beside the colour scale.
    pub value_label: String,
}

/// Histograms over shared bins, overlaid semi-transparent.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub title: String,
    pub x_label: String,
    /// Bin edges, increasing; one more than the counts of each series.
    pub bins: Vec<f64>,
    /// `(name, count or density per bin)`.
    pub series: Vec<(String, Vec<f64>)>,
}

/// An HTML report under construction. Blocks appear in the order they are added.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    title: String,
    blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
enum Block {
    Heading(String),
    Paragraph(String),
    Table {
        caption: String,
        headers: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Figure {
        title: String,
        width: u32,
        height: u32,
        svg_base64: String,
    },
}

impl Report {
    pub fn new(title: impl Into<String>) -> Self {
        Report {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    /// A section heading (`<h2>`).
    pub fn heading(&mut self, text: &str) -> &mut Self {
        self.blocks.push(Block::Heading(text.to_owned()));
        self
    }

    /// A paragraph of plain text (escaped; no markup).
    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        self.blocks.push(Block::Paragraph(text.to_owned()));
        self
    }

    /// A table of plain-text cells. Rows shorter than the widest row (or the headers) are
    /// padded with empty cells; cells that parse as numbers are right-aligned.
    pub fn table(&mut self, caption: &str, headers: &[&str], rows: &[Vec<String>]) -> &mut Self {
        self.blocks.push(Block::Table {
            caption: caption.to_owned(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: rows.to_vec(),
        });
        self
    }

    /// Render `chart` to SVG now and embed it as a figure. On error the report is unchanged.
    pub fn chart(&mut self, chart: &Chart) -> Result<&mut Self> {
        let svg = render_svg(chart)?;
        let (width, height) = chart::size(chart);
        self.blocks.push(Block::Figure {
            title: chart.title().to_owned(),
            width,
            height,
            svg_base64: base64::engine::general_purpose::STANDARD.encode(svg),
        });
        Ok(self)
    }

    /// The whole page. Byte-identical for the same blocks.
    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(
            4096 + self
                .blocks
                .iter()
                .map(|b| match b {
                    Block::Figure { svg_base64, .. } => svg_base64.len() + 200,
                    _ => 200,
                })
                .sum::<usize>(),
        );
        // `write!` into a String cannot fail: the results are ignored on purpose below.
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        out.push_str(CSP);
        let _ = writeln!(out, "<title>{}</title>", escape(&self.title));
        out.push_str(STYLE);
        out.push_str(SCRIPT);
        out.push_str("</head>\n<body>\n<main>\n");
        let _ = writeln!(out, "<h1>{}</h1>", escape(&self.title));
        for block in &self.blocks {
            match block {
                Block::Heading(text) => {
                    let _ = writeln!(out, "<h2>{}</h2>", escape(text));
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "<p>{}</p>", escape(text));
                }
                Block::Table {
                    caption,
                    headers,
                    rows,
                } => write_table(&mut out, caption, headers, rows),
                Block::Figure {
                    title,
                    width,
                    height,
                    svg_base64,
                } => {
                    let title = escape(title);
                    let _ = writeln!(
                        out,
                        "<figure><img alt=\"{title}\" width=\"{width}\" height=\"{height}\" \
                         src=\"data:image/svg+xml;base64,{svg_base64}\">\
                         <figcaption>{title}</figcaption></figure>"
                    );
                }
            }
        }
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }
}

fn write_table(out: &mut String, caption: &str, headers: &[String], rows: &[Vec<String>]) {
    let width = rows
        .iter()
        .map(Vec::len)
        .chain([headers.len()])
        .max()
        .unwrap_or(0);
    out.push_str("<table>\n");
    if !caption.is_empty() {
        let _ = writeln!(out, "<caption>{}</caption>", escape(caption));
    }
    if !headers.is_empty() {
        out.push_str("<thead><tr>");
        for i in 0..width {
            let h = headers.get(i).map_or("", String::as_str);
            let _ = write!(out, "<th>{}</th>", escape(h));
        }
        out.push_str("</tr></thead>\n");
    }
    out.push_str("<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for i in 0..width {
            let cell = row.get(i).map_or("", String::as_str);
            if is_number(cell) {
                let _ = write!(out, "<td class=\"num\">{}</td>", escape(cell));
            } else {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Numbers as printed in tables (`12.5`, `-3`, `45%`) are right-aligned.
fn is_number(cell: &str) -> bool {
    let s = cell.trim();
    let s = s.strip_suffix('%').unwrap_or(s);
    !s.is_empty() && s.parse::<f64>().is_ok()
}

/// Escape text for HTML element content and double-quoted attribute values.
///
/// Hand-written rather than a dependency: these five characters are all that HTML text and
/// quoted attributes need, and the function is small enough to check by eye.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A float as reports print it: three significant digits (all digits of the integer part
/// above 100), trailing zeros dropped, no `-0`. Rust's fixed-precision formatting is exact
/// and platform-independent, so the same value always prints the same.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            String::new()
        } else if v > 0.0 {
            "∞".to_owned()
        } else {
            "-∞".to_owned()
        };
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    // floor(log10|v|) is in -324..=308 for finite non-zero v, so the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = usize::try_from((2 - magnitude).clamp(0, 6)).unwrap_or(0);
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".to_owned();
    }
    s
}

/// Nothing may be loaded from outside the page: images only from data URLs, the inline
/// style and script only.
const CSP: &str = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
                   img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n";

const STYLE: &str = r#"<style>
body { margin: 0; color: #1f2328; background: #fff;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
main { max-width: 860px; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.8rem; margin: 0 0 1rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.5rem; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5rem 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { font-size: 0.85rem; color: #59636e; margin-top: 0.3rem; }
@media print {
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  figure, table { break-inside: avoid; }
  figure img { border: none; }
}
</style>
"#;

/// Writes how many images the page has and how many decoded into `<body data-images-total
/// data-images-loaded>`, for a headless browser's dumped DOM (`retain_test::browser`).
const SCRIPT: &str = r#"<script>
window.addEventListener("load", function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) { loaded++; }
  }
  document.body.dataset.imagesTotal = String(images.length);
  document.body.dataset.imagesLoaded = String(loaded);
});
</script>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraph_and_table_cells_are_escaped() {
        let mut r = Report::new("a <b> & \"c\"");
        r.paragraph("<script>alert(1)</script>").table(
            "<i>cap</i>",
            &["<th>"],
            &[vec!["<script>x</script>".to_owned(), "1.5".to_owned()]],
        );
        let html = r.to_html();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<script>x"), "{html}");
        assert!(html.contains("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"));
        assert!(html.contains("<td>&lt;script&gt;x&lt;/script&gt;</td>"));
        assert!(html.contains("<caption>&lt;i&gt;cap&lt;/i&gt;</caption>"));
        assert!(html.contains("<title>a &lt;b&gt; &amp; &quot;c&quot;</title>"));
        // The only <script> is the page's own.
        assert_eq!(html.matches("<script>").count(), 1);
    }

    #[test]
    fn ragged_table_rows_are_padded() {
        let mut r = Report::new("t");
        r.table(
            "",
            &["a", "b", "c"],
            &[vec!["1".to_owned()], vec!["x".to_owned(); 4]],
        );
        let html = r.to_html();
        assert!(html.contains(
            "<tr><td class=\"num\">1</td><td></td><td></td><td></td></tr>\n\
             <tr><td>x</td><td>x</td><td>x</td><td>x</td></tr>"
        ));
        assert!(html.contains("<th>a</th><th>b</th><th>c</th><th></th>"));
    }

    #[test]
    fn fmt_num_is_short_and_stable() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (0.43, "0.43"),
            (0.4312, "0.431"),
            (0.1 + 0.2, "0.3"),
            (0.004, "0.004"),
            (12.34, "12.3"),
            (1234.5, "1234"),
            (-2.5, "-2.5"),
            (-0.0001, "-0.0001"),
            (-0.0000001, "0"),
            (1e-7, "0"),
            (f64::NAN, ""),
        ];
        for (v, want) in cases {
            assert_eq!(fmt_num(v), want, "fmt_num({v})");
        }
    }

    #[test]
    fn page_is_self_contained() {
        let mut r = Report::new("t");
        r.heading("h").paragraph("see https://example.com");
        let html = r.to_html();
        // No attribute loads anything from elsewhere (the URL above is text).
        for needle in ["src=\"http", "href=", "@import", "url("] {
            assert!(!html.contains(needle), "{needle} in {html}");
        }
        assert!(html.contains("Content-Security-Policy"));
    }
}
