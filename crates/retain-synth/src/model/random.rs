//! Random draws: the small samplers every part of the simulation uses, the distributions
//! built once ([`Model`]), and each customer's own stream ([`customer_rng`]).

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Exp1, Gamma, StandardNormal};

use super::params::{DROPOUT_BETA, LAMBDA_SHAPE, ORDER_SHAPE};

pub(super) fn exp(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let e: f64 = rng.sample(Exp1);
    e * mean
}

pub(super) fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

pub(super) fn bernoulli(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// Poisson draw for small means (Knuth).
pub(super) fn poisson_small(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    let limit = (-mean).exp();
    let mut k = 0;
    let mut prod = rng.random::<f64>();
    while prod > limit && k < 50 {
        k += 1;
        prod *= rng.random::<f64>();
    }
    k
}

pub(super) fn pick_weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut u = rng.random::<f64>() * total;
    for &(item, w) in items {
        if u < w {
            return item;
        }
        u -= w;
    }
    items[items.len() - 1].0
}

/// Session length in minutes ~ LogNormal around `median`, two decimals.
pub(super) fn session_minutes(rng: &mut ChaCha8Rng, median: f64) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    let m = (median * (0.7 * z).exp()).clamp(0.2, 240.0);
    (m * 100.0).round() / 100.0
}

/// Distributions built once (their parameters are constants).
#[derive(Debug)]
pub(crate) struct Model {
    pub(super) lambda: Gamma<f64>,
    pub(super) dropout: Beta<f64>,
    pub(super) spend: Gamma<f64>,
    pub(super) order: Gamma<f64>,
    pub(super) engagement: Gamma<f64>,
}

impl Model {
    pub(crate) fn new() -> Result<Self, String> {
        Ok(Model {
            lambda: Gamma::new(LAMBDA_SHAPE, 1.0).map_err(|e| e.to_string())?,
            dropout: Beta::new(DROPOUT_BETA.0, DROPOUT_BETA.1).map_err(|e| e.to_string())?,
            spend: Gamma::new(3.0, 1.0).map_err(|e| e.to_string())?,
            order: Gamma::new(ORDER_SHAPE, 1.0).map_err(|e| e.to_string())?,
            engagement: Gamma::new(2.0, 1.0).map_err(|e| e.to_string())?,
        })
    }
}

/// The random stream of customer `idx`: independent of how customers are chunked.
pub(crate) fn customer_rng(seed: u64, idx: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(idx);
    rng
}
