//! Buy-till-you-die customer-lifetime-value models: BG/NBD for the number of purchases,
//! Gamma-Gamma for the spend per purchase, and a discounted CLV that combines them.
//!
//! # The models
//! **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way",
//! *Marketing Science* 24(2)). Each customer is summarised by `x` (repeat purchases, that
//! is purchases after the first), `t_x` (time of the last purchase, measured from the first)
//! and `T` (time from the first purchase to the end of observation). While alive a customer
//! buys as a Poisson process with rate λ; after every repeat purchase they drop out for good
//! with probability p. Across customers λ ~ Gamma(r, α) (shape r, rate α) and
//! p ~ Beta(a, b), independent. [`BgNbdFit::fit`] estimates (r, α, a, b) by maximum
//! likelihood; [`BgNbdParams`] then gives P(alive | x, t_x, T), the expected number of
//! purchases in the next t given the history, E[Y(t) | x, t_x, T], and the unconditional
//! E[X(t)] for a new customer.
//!
//! **Gamma-Gamma** (Fader, Hardie & Lee 2005, "RFM and CLV", *Journal of Marketing
//! Research* 42(4); Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"). The
//! value of each of a customer's purchases is Gamma(p, ν) around the customer's mean p/ν, and
//! ν ~ Gamma(q, γ) across customers. It is fitted on the customers with at least one repeat
//! purchase, from `x` and `z̄` (the mean value of their repeat purchases)
//! ([`GammaGammaFit::fit`]); [`GammaGammaParams`] gives each customer's expected spend per
//! purchase given (x, z̄), and the population mean p·γ/(q − 1).
//!
//! **CLV** ([`clv`]): Σₖ (E[Y(kΔ)] − E[Y((k−1)Δ)]) · E\[spend\] / (1 + d)ᵏ over k = 1..n periods
//! of length Δ, with Δ, n and the discount rate d per period given explicitly
//! ([`ClvHorizon`]); multiply by a margin to turn revenue into profit.
//!
//! # Assumptions and limits
//! - Times are in whatever unit the summary uses (CDNOW: weeks); α and γ carry units (α is
//!   a rate per time unit, γ a currency amount) and the fitted parameters only make sense
//!   with summaries in the same units. r, a, b, p and q are unit-free.
//! - Spend is assumed independent of purchase frequency. [`GammaGammaFit`] reports the
//!   Pearson correlation between x and z̄ so that callers can print it; CDNOW's is about 0.11.
//!   A strong correlation means the spend model should not be trusted for CLV.
//! - By the BG/NBD's construction a customer can only drop out right after a repeat
//!   purchase, so P(alive) = 1 for every customer with x = 0, however long ago they bought.
//! - The fits are plain maximum likelihood without a penalty. A shop where nobody buys
//!   twice, where no repeat customer ever lapses, or whose spends are all equal does not
//!   identify the models: the fit returns an error ([`Error::NoRepeatPurchases`],
//!   [`Error::NoDropoutInformation`], [`Error::NotIdentified`]) rather than parameters at
//!   the edge of the space or NaN.
//! - Standard errors come from a numeric Hessian (central differences of the analytic
//!   gradient) of the log-likelihood at the optimum; they are `None` when that Hessian is
//!   not negative definite.
//!
//! # Fitting
//! The log-likelihoods are written in log space with ln Γ, optimised over the logarithms of
//! the parameters (so they stay positive) after rescaling times (or spends) to a mean of 1:
//! Nelder–Mead (argmin) first, which is robust from a poor start, then a damped Newton
//! polish with the analytic gradient and a Hessian from its central differences, restarted
//! until the gradient vanishes. Identical rows are grouped and weighted; above 50,000
//! distinct rows Nelder–Mead runs on a stratified subsample and only the Newton polish on
//! all rows. The sum over rows runs on all cores in fixed chunks whose partial sums are
//! added in a fixed order, so the fitted parameters do not depend on the number of threads.
//! A 1,000,000-customer summary fits in about 1.5 s on 2 cores (docs/clv.md).

mod bgnbd;
mod clv;
mod data;
mod gamma_gamma;
mod optim;
mod par;
pub mod published;
pub mod sim;
mod special;

pub use bgnbd::{BgNbdFit, BgNbdFitOptions, BgNbdParams};
pub use clv::{ClvHorizon, CustomerPrediction, clv, predict_each};
pub use data::{SpendSummary, Summary};
pub use gamma_gamma::{GammaGammaFit, GammaGammaFitOptions, GammaGammaParams, pearson};
pub use optim::FitReport;
pub use special::hyp2f1;

/// What can go wrong in this crate.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Input columns of different lengths.
    #[error("column `{column}` has {len} rows but `x` has {expected}")]
    LengthMismatch {
        column: &'static str,
        len: usize,
        expected: usize,
    },
    /// No rows (or, for the spend model, no customer with x ≥ 1 after filtering).
    #[error("no customers in the input")]
    Empty,
    /// A row the model cannot describe: NaN, a negative or fractional count, T ≤ 0,
    /// t_x > T, a repeat purchase at time 0, a spend ≤ 0, ...
    #[error("row {row}: {column} = {value}: {reason}")]
    InvalidRow {
        /// Zero-based index into the input slices.
        row: usize,
        column: &'static str,
        value: f64,
        reason: &'static str,
    },
    /// Every customer has x = 0: the dropout process (BG/NBD) and the spend per repeat
    /// purchase (Gamma-Gamma) are only seen through repeat purchases.
    #[error(
        "{model}: no customer made a repeat purchase (every x is 0), so the model cannot be \
         fitted; it needs customers who bought at least twice"
    )]
    NoRepeatPurchases { model: &'static str },
    /// Every repeat customer bought last at the very end of their observation window
    /// (t_x = T): nobody is seen to lapse, and the dropout parameters run off to a = 0.
    #[error(
        "BG/NBD: every customer with repeat purchases bought last at the end of their \
         observation window (t_x = T), so the data say nothing about dropout; check that T is \
         measured to the end of the calibration period, not to each customer's last purchase"
    )]
    NoDropoutInformation,
    /// The optimum lies at the edge of the parameter space: the data do not identify the
    /// model (for example every spend equal, or no heterogeneity at all).
    #[error(
        "{model}: the fit ran to the edge of the parameter space ({param} = {value:e}); the \
         data do not identify the model"
    )]
    NotIdentified {
        model: &'static str,
        param: &'static str,
        value: f64,
    },
    /// The optimiser stopped before the gradient vanished.
    #[error(
        "{model}: the fit did not converge after {iterations} iterations (gradient norm \
         {gradient_norm:e}, {reason}); try another starting point or more iterations"
    )]
    NotConverged {
        model: &'static str,
        iterations: u64,
        gradient_norm: f64,
        reason: String,
    },
    /// A parameter (a starting point, or parameters read back from JSON) outside its domain.
    #[error("parameter {name} = {value}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    /// An invalid [`ClvHorizon`].
    #[error("CLV horizon: {0}")]
    InvalidHorizon(&'static str),
    /// ₂F₁ could not be evaluated (see [`hyp2f1`]).
    #[error("the hypergeometric function 2F1({a}, {b}; {c}; {z}) cannot be evaluated: {reason}")]
    Hypergeometric {
        a: f64,
        b: f64,
        c: f64,
        z: f64,
        reason: &'static str,
    },
    /// A bug in this crate.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
