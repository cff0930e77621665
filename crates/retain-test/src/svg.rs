//! Checks of the SVG text plotters writes, for the chart tests (retain-report's unit and
//! integration tests both use them).

/// The texts plotters wrote as `<text>` elements (it writes each on its own line).
pub fn texts(svg: &str) -> Vec<&str> {
    let lines: Vec<&str> = svg.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("<text"))
        .map(|w| w[1])
        .collect()
}

/// Panics unless `svg` is one whole `<svg>` element holding every `wanted` text.
pub fn assert_svg(svg: &str, wanted: &[&str]) {
    assert!(svg.starts_with("<svg "), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    let texts = texts(svg);
    for w in wanted {
        assert!(texts.contains(w), "no <text> {w:?} in {texts:?}");
    }
}
