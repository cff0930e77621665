//! Colours: the series palette and the viridis scale of heat maps.

use plotters::prelude::*;

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

pub(super) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
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
pub(super) fn viridis(t: f64) -> RGBColor {
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
pub(super) fn text_on(bg: RGBColor) -> RGBColor {
    let l = 0.299 * f64::from(bg.0) + 0.587 * f64::from(bg.1) + 0.114 * f64::from(bg.2);
    if l > 140.0 { BLACK } else { WHITE }
}
