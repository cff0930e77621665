//! What every chart's drawing shares: the font, the drawing-area and result types, and
//! the caption and mesh styles.

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::prelude::*;

pub(super) const FONT: &str = "sans-serif";

// Drawing. The functions return plotters' own error; `render_svg` names the chart.

pub(super) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
pub(super) type DrawResult<T> =
    Result<T, DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>>;

pub(super) fn caption_style() -> TextStyle<'static> {
    (FONT, 22).into_font().style(FontStyle::Bold).color(&BLACK)
}

/// Fonts, grid and axis colours shared by every chart.
pub(super) fn style_mesh<X: Ranged, Y: Ranged>(mesh: &mut MeshStyle<'_, '_, X, Y, SVGBackend<'_>>) {
    mesh.label_style((FONT, 15).into_font().color(&RGBColor(0x33, 0x33, 0x33)))
        .axis_desc_style((FONT, 17).into_font().color(&BLACK))
        .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
        // No minor grid: it adds little on a report and a few hundred <line>s a chart.
        .max_light_lines(0)
        .axis_style(RGBColor(0x88, 0x88, 0x88));
}
