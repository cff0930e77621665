//! Published estimates on the CDNOW sample (2,357 customers, 39-week calibration period,
//! weeks): what the fits are checked against, and realistic parameters for simulations.

use crate::{BgNbdParams, GammaGammaParams};

/// BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way").
pub const CDNOW_BG_NBD: BgNbdParams = BgNbdParams {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
};

/// The BG/NBD log-likelihood at [`CDNOW_BG_NBD`], as published.
pub const CDNOW_BG_NBD_LOG_LIKELIHOOD: f64 = -9582.4;

/// Gamma-Gamma on the 946 repeat customers (Fader & Hardie 2013, "The Gamma-Gamma Model
/// of Monetary Value").
pub const CDNOW_GAMMA_GAMMA: GammaGammaParams = GammaGammaParams {
    p: 6.25,
    q: 3.74,
    gamma: 15.44,
};
