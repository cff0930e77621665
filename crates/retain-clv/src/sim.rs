//! Seeded simulation of the models' generative processes: for parameter-recovery tests,
//! benchmarks and demos.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};

use crate::{BgNbdParams, Error, GammaGammaParams, Result};

/// Simulated per-customer summary columns, ready for [`crate::Summary::new`] and
/// [`crate::SpendSummary::new`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Simulated {
    pub x: Vec<f64>,
    pub t_x: Vec<f64>,
    pub t: Vec<f64>,
}

/// Simulate one BG/NBD customer per entry of `observation` (their T): λ ~ Gamma(r, α),
/// p ~ Beta(a, b); purchases arrive as a Poisson process with rate λ, and after each
/// repeat purchase the customer drops out with probability p.
///
/// With `resolution = Some(d)` purchase times are rounded up to a multiple of d (as a
/// summary built from dates is, e.g. d = 1/7 for days in weeks), capped at T; T values
/// should then be multiples of d too.
///
/// # Errors
/// [`Error::InvalidParameter`] for invalid parameters or a resolution ≤ 0.
pub fn bg_nbd(
    params: &BgNbdParams,
    observation: &[f64],
    resolution: Option<f64>,
    seed: u64,
) -> Result<Simulated> {
    params.validate()?;
    if let Some(d) = resolution
        && !(d.is_finite() && d > 0.0)
    {
        return Err(Error::InvalidParameter {
            name: "resolution",
            value: d,
            reason: "the time resolution must be > 0",
        });
    }
    let bad = |name, value| Error::InvalidParameter {
        name,
        value,
        reason: "invalid parameter for the simulation",
    };
    let rate = Gamma::new(params.r, 1.0 / params.alpha).map_err(|_| bad("r", params.r))?;
    let dropout = Beta::new(params.a, params.b).map_err(|_| bad("a", params.a))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Simulated::default();
    for &t in observation {
        let lambda: f64 = rate.sample(&mut rng);
        let p: f64 = dropout.sample(&mut rng);
        let (mut x, mut t_x, mut now) = (0u64, 0.0, 0.0);
        if let Ok(wait) = Exp::new(lambda) {
            loop {
                now += wait.sample(&mut rng);
                if now > t {
                    break;
                }
                x += 1;
                t_x = now;
                if rng.random::<f64>() < p {
                    break;
                }
            }
        }
        if let (Some(d), true) = (resolution, x > 0) {
            t_x = ((t_x / d).ceil() * d).min(t);
        }
        out.x.push(x as f64);
        out.t_x.push(t_x);
        out.t.push(t);
    }
    Ok(out)
}

/// Simulate each customer's mean repeat spend z̄ given their x: ν ~ Gamma(q, γ) per
/// customer, each purchase's value ~ Gamma(p, ν). Customers with x = 0 get z̄ = 0.
///
/// # Errors
/// [`Error::InvalidParameter`] for invalid parameters.
pub fn gamma_gamma(params: &GammaGammaParams, x: &[f64], seed: u64) -> Result<Vec<f64>> {
    params.validate()?;
    let bad = |name, value| Error::InvalidParameter {
        name,
        value,
        reason: "invalid parameter for the simulation",
    };
    let nu = Gamma::new(params.q, 1.0 / params.gamma).map_err(|_| bad("q", params.q))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(x.len());
    for &n in x {
        let rate: f64 = nu.sample(&mut rng);
        if n < 1.0 {
            out.push(0.0);
            continue;
        }
        let spend = Gamma::new(params.p, 1.0 / rate).map_err(|_| bad("p", params.p))?;
        let count = n as u64;
        let total: f64 = (0..count).map(|_| spend.sample(&mut rng)).sum();
        out.push(total / n);
    }
    Ok(out)
}
