//! Probability calibration: a monotone map fitted on a held-out slice `(p, y)` and
//! applied to a model's probabilities afterwards.
//!
//! # Definitions
//!
//! **Platt scaling** ([`Method::Platt`]): `P(y = 1 | p) = σ(a·logit(p) + b)` with
//! `σ(z) = 1/(1 + e^(−z))` and `logit(p) = ln(q/(1 − q))`, `q = clip(p)` to
//! `[ε, 1 − ε]`, `ε = f64::EPSILON` (the same clip as the log loss, so `p = 0` or `1`
//! has a finite logit, ±36.04). `(a, b)` is the plain maximum-likelihood fit: no penalty
//! and no Platt (1999) target smoothing, which sklearn's `CalibratedClassifierCV` adds;
//! it equals sklearn's `LogisticRegression` on the single feature `logit(p)` with an
//! unbounded `C`. The likelihood has no maximum when `p` separates the labels
//! (every positive's `p` ≥ every negative's, or the reverse, constant `p` included), so
//! such a slice is an error: use isotonic calibration there.
//!
//! **Isotonic regression** ([`Method::Isotonic`]), as sklearn's
//! `IsotonicRegression(increasing=True, out_of_bounds="clip")`:
//! 1. sort the rows by `p`; rows whose `p` is within `1e-15` of the first `p` of a run
//!    (sklearn's `_make_unique`, float64 resolution) become one point at that first `p`
//!    with the mean label and the row count as its weight;
//! 2. pool adjacent violators: the weighted least-squares non-decreasing fit of those
//!    means;
//! 3. keep the knots `(x_j, y_j)` (interior points of a flat run dropped, which does not
//!    change the function);
//! 4. apply: clip `p` to `[x_first, x_last]` and interpolate linearly between the two
//!    knots around it; a single knot is a constant.
//!
//! Both maps return values in `[0, 1]`. Isotonic is non-decreasing in `p`; Platt is
//! monotone, increasing when `a > 0` (a model ranked worse than chance gives `a < 0`).

use serde::{Deserialize, Serialize};

use crate::metrics::{check_probabilities, count_positives};
use crate::{Error, Result};

/// How to calibrate (for model specs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Keep the model's probabilities.
    None,
    /// Platt scaling: a logistic regression on `logit(p)`.
    Platt,
    /// Isotonic regression (pool-adjacent-violators, linear between knots).
    Isotonic,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::None => "no",
            Method::Platt => "Platt",
            Method::Isotonic => "isotonic",
        }
    }
}

/// A fitted calibration, stored in the model artifact as
/// `{"method": "platt", "a": …, "b": …}`, `{"method": "isotonic", "x": […], "y": […]}`
/// or `{"method": "none"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibration {
    /// The identity.
    None,
    /// `σ(a·logit(clip(p)) + b)`.
    Platt { a: f64, b: f64 },
    /// Knots of a non-decreasing piecewise-linear map: `x` strictly increasing, `y`
    /// non-decreasing, both in [0, 1].
    Isotonic { x: Vec<f64>, y: Vec<f64> },
}

/// Fit a calibration of probabilities `p` to labels `y` (a held-out slice, not the
/// training rows). Errors: an empty slice, a length mismatch, a probability outside
/// [0, 1], a slice with one class only (for `Platt` and `Isotonic`), and for `Platt` a
/// slice that `p` separates perfectly.
pub fn fit(method: Method, p: &[f64], y: &[bool]) -> Result<Calibration> {
    check_probabilities(p, y)?;
    if method == Method::None {
        return Ok(Calibration::None);
    }
    let positives = count_positives(y);
    if positives == 0 || positives == y.len() {
        return Err(Error::Calibration {
            method: method.name(),
            message: format!(
                "all {} rows have label {}: nothing to calibrate against",
                y.len(),
                positives > 0
            ),
        });
    }
    match method {
        Method::None => Ok(Calibration::None),
        Method::Platt => fit_platt(p, y),
        Method::Isotonic => Ok(fit_isotonic(p, y)),
    }
}

impl Calibration {
    /// The calibrated probability of `p`. Not-a-number stays NaN; an isotonic table
    /// with no knots (only from a hand-edited artifact) leaves `p` unchanged.
    pub fn apply(&self, p: f64) -> f64 {
        match self {
            Calibration::None => p,
            Calibration::Platt { a, b } => sigmoid(a * logit(p) + b),
            Calibration::Isotonic { x, y } => interpolate(x, y, p),
        }
    }

    /// [`Calibration::apply`] to every value.
    pub fn apply_all(&self, p: &[f64]) -> Vec<f64> {
        p.iter().map(|&v| self.apply(v)).collect()
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `ln(q/(1 − q))` with `q` clipped to `[ε, 1 − ε]`.
fn logit(p: f64) -> f64 {
    let q = p.clamp(f64::EPSILON, 1.0 - f64::EPSILON);
    (q / (1.0 - q)).ln()
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

// ---------------------------------------------------------------------------------------
// Platt scaling

/// Platt scaling by Newton's method on the two parameters, not linfa-logistic: linfa
/// fits by L-BFGS to a gradient tolerance (about 1e-4 in the parameters here, where we
/// want the exact maximum to compare with sklearn), always adds its L2 `alpha` term,
/// flips its positive class with the class balance (see `fit_logistic`), and wants an
/// ndarray matrix for one column. Newton on a 2×2 Hessian converges quadratically to
/// machine precision in a handful of steps, is deterministic, and is a few lines.
fn fit_platt(p: &[f64], y: &[bool]) -> Result<Calibration> {
    let x: Vec<f64> = p.iter().map(|&v| logit(v)).collect();
    let t: Vec<f64> = y.iter().map(|&b| f64::from(u8::from(b))).collect();
    if separable(&x, y) {
        return Err(Error::Calibration {
            method: Method::Platt.name(),
            message: "p separates the labels (or is constant), so the logistic fit has no \
                      maximum; use isotonic calibration"
                .into(),
        });
    }
    let loss = |a: f64, b: f64| -> f64 {
        x.iter()
            .zip(&t)
            .map(|(&xi, &ti)| {
                let z = a * xi + b;
                softplus(z) - ti * z
            })
            .sum()
    };
    // Start at the constant base rate (a = 0), where every weight μ(1 − μ) is the same
    // and the Hessian is well conditioned. (Starting at the identity a = 1 puts rows with
    // p = 0 or 1 at |z| = 36, where the weights underflow.)
    let rate = t.iter().sum::<f64>() / t.len() as f64;
    let (mut a, mut b) = (0.0, (rate / (1.0 - rate)).ln());
    let mut current = loss(a, b);
    for _ in 0..100 {
        // Gradient and Hessian of the negative log-likelihood.
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&xi, &ti) in x.iter().zip(&t) {
            let mu = sigmoid(a * xi + b);
            let w = mu * (1.0 - mu);
            ga += (mu - ti) * xi;
            gb += mu - ti;
            haa += w * xi * xi;
            hab += w * xi;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if !(det.is_finite() && det > 0.0) {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        // Step halving while the full step goes uphill (far from the optimum, e.g. from
        // extreme logits). Near the optimum the loss changes by less than its rounding
        // error, so a rise within that slack does not count: the Newton step is taken.
        let slack = 1e-12 * (1.0 + current.abs());
        let mut step = 1.0;
        let mut next = loss(a - da, b - db);
        while (next.is_nan() || next > current + slack) && step > 1e-10 {
            step /= 2.0;
            next = loss(a - step * da, b - step * db);
        }
        (a, b, current) = (a - step * da, b - step * db, next);
        // Newton converges quadratically: after a full step of 1e-10 the parameters are
        // exact to f64 precision.
        if step == 1.0 && da.abs().max(db.abs()) <= 1e-10 * (1.0 + a.abs() + b.abs()) {
            return Ok(Calibration::Platt { a, b });
        }
    }
    Err(Error::Calibration {
        method: Method::Platt.name(),
        message: format!("Newton's method did not converge (last a = {a}, b = {b})"),
    })
}

/// True when a threshold on `x` puts every positive on one side (ties allowed), i.e.
/// the one-feature logistic likelihood has no finite maximum.
fn separable(x: &[f64], y: &[bool]) -> bool {
    let (mut pos_min, mut pos_max) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut neg_min, mut neg_max) = (f64::INFINITY, f64::NEG_INFINITY);
    for (&xi, &yi) in x.iter().zip(y) {
        if yi {
            pos_min = pos_min.min(xi);
            pos_max = pos_max.max(xi);
        } else {
            neg_min = neg_min.min(xi);
            neg_max = neg_max.max(xi);
        }
    }
    neg_max <= pos_min || pos_max <= neg_min
}

// ---------------------------------------------------------------------------------------
// Isotonic regression

/// Hand-written pool-adjacent-violators, not linfa-linear's `IsotonicRegression`
/// (0.8.1): that one picks increasing or decreasing from the sign of the Pearson
/// correlation (we need non-decreasing always), does not average tied `p` before
/// pooling (sklearn does, and with ties the fit depends on the row order otherwise),
/// reads the knot positions from the unsorted input rows, asserts (panics) on shape
/// errors, and keeps its fitted knots private, so they could not go into our artifact.
/// It would also add linfa-linalg to the build.
fn fit_isotonic(p: &[f64], y: &[bool]) -> Calibration {
    // Sort by (p, y), as sklearn's lexsort((y, X)).
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]).then(y[i].cmp(&y[j])));

    // Merge near-equal p (sklearn's `_make_unique`: within float64 resolution of the
    // first p of the run) into weighted points.
    let resolution = 1e-15;
    let mut xs: Vec<f64> = Vec::new();
    let mut sums: Vec<f64> = Vec::new();
    let mut weights: Vec<f64> = Vec::new();
    for &i in &order {
        let label = f64::from(u8::from(y[i]));
        match xs.last() {
            Some(&x0) if p[i] - x0 < resolution => {
                if let (Some(s), Some(w)) = (sums.last_mut(), weights.last_mut()) {
                    *s += label;
                    *w += 1.0;
                }
            }
            _ => {
                xs.push(p[i]);
                sums.push(label);
                weights.push(1.0);
            }
        }
    }

    // Pool adjacent violators. Each block: (sum of weight·value, sum of weight, number
    // of points).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(xs.len());
    for (&s, &w) in sums.iter().zip(&weights) {
        blocks.push((s, w, 1));
        while blocks.len() >= 2 {
            let (s2, w2, n2) = blocks[blocks.len() - 1];
            let (s1, w1, n1) = blocks[blocks.len() - 2];
            if s1 / w1 > s2 / w2 {
                blocks.pop();
                let last = blocks.len() - 1;
                blocks[last] = (s1 + s2, w1 + w2, n1 + n2);
            } else {
                break;
            }
        }
    }
    let fitted: Vec<f64> = blocks
        .iter()
        .flat_map(|&(s, w, n)| std::iter::repeat_n(s / w, n))
        .collect();

    // Drop interior points of flat runs (sklearn's trim_duplicates).
    let (mut kx, mut ky) = (Vec::new(), Vec::new());
    for j in 0..xs.len() {
        let interior =
            j > 0 && j + 1 < xs.len() && fitted[j] == fitted[j - 1] && fitted[j] == fitted[j + 1];
        if !interior {
            kx.push(xs[j]);
            ky.push(fitted[j]);
        }
    }
    Calibration::Isotonic { x: kx, y: ky }
}

/// Clip to the knots' range, then interpolate linearly (scipy's `interp1d` formula).
/// `y[lo] ≤ y[hi]` for a fitted table, but a hand-edited one must not panic `clamp`.
fn interpolate(x: &[f64], y: &[f64], p: f64) -> f64 {
    let n = x.len().min(y.len());
    if n == 0 || p.is_nan() {
        return p;
    }
    if n == 1 {
        return y[0];
    }
    let q = p.clamp(x[0], x[n - 1]);
    // First knot ≥ q, kept within 1..n so that [lo, hi] is a segment.
    let hi = x[..n].partition_point(|&v| v < q).clamp(1, n - 1);
    let lo = hi - 1;
    let slope = (y[hi] - y[lo]) / (x[hi] - x[lo]);
    // Kept within the segment's ends: the formula can overshoot y[hi] by an ulp just
    // before a knot, which would break monotonicity (scipy does not clamp; the
    // difference is at most one ulp).
    (slope * (q - x[lo]) + y[lo]).clamp(y[lo].min(y[hi]), y[lo].max(y[hi]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: bool = true;
    const F: bool = false;

    #[test]
    fn isotonic_pools_violators_by_hand() {
        // p:  0.1  0.2  0.2  0.3  0.4  0.5
        // y:   0    1    0    1    0    1
        // Tied 0.2 averages first: points (0.1, 0), (0.2, ½ w2), (0.3, 1), (0.4, 0), (0.5, 1).
        // 1 > 0 at 0.3/0.4 violates: pool → (1 + 0)/2 = ½ for both. Now 0, ½, ½, ½, 1 is
        // non-decreasing; the interior ½ at 0.3 is dropped.
        let p = [0.1, 0.2, 0.2, 0.3, 0.4, 0.5];
        let y = [F, T, F, T, F, T];
        let c = fit(Method::Isotonic, &p, &y).unwrap();
        assert_eq!(
            c,
            Calibration::Isotonic {
                x: vec![0.1, 0.2, 0.4, 0.5],
                y: vec![0.0, 0.5, 0.5, 1.0],
            }
        );
        // Linear between knots, clipped outside.
        assert!((c.apply(0.15) - 0.25).abs() < 1e-15);
        assert_eq!(c.apply(0.3), 0.5);
        assert!((c.apply(0.45) - 0.75).abs() < 1e-15);
        assert_eq!(c.apply(0.0), 0.0);
        assert_eq!(c.apply(1.0), 1.0);
        assert!(c.apply(f64::NAN).is_nan());
    }

    #[test]
    fn isotonic_pools_back_through_several_blocks() {
        // 0, 1, 1, then three zeros: everything after the first row pools to 2/5.
        let p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let y = [F, T, T, F, F, F];
        let Calibration::Isotonic { x, y } = fit(Method::Isotonic, &p, &y).unwrap() else {
            panic!("isotonic expected");
        };
        assert_eq!(x, vec![0.1, 0.2, 0.6]);
        assert_eq!(y, vec![0.0, 0.4, 0.4]);
    }

    #[test]
    fn platt_recovers_a_known_map_and_identity_is_a_fixed_point() {
        // Labels drawn so that P(y | p) = σ(2·logit(p) − 1) exactly in expectation: use
        // fractional counts by repeating rows, k of 1000 positive at each p.
        let (mut p, mut y) = (Vec::new(), Vec::new());
        for i in 1..20 {
            let pi = f64::from(i) / 20.0;
            let rate = sigmoid(2.0 * logit(pi) - 1.0);
            let k = (rate * 1000.0).round() as usize;
            for j in 0..1000 {
                p.push(pi);
                y.push(j < k);
            }
        }
        let Calibration::Platt { a, b } = fit(Method::Platt, &p, &y).unwrap() else {
            panic!("platt expected");
        };
        assert!(
            (a - 2.0).abs() < 0.01 && (b + 1.0).abs() < 0.01,
            "a {a}, b {b}"
        );
        let c = Calibration::Platt { a: 1.0, b: 0.0 };
        for q in [0.0, 0.01, 0.3, 0.5, 0.99, 1.0] {
            let got = c.apply(q);
            assert!((got - q).abs() < 1e-15, "{q} → {got}");
        }
    }

    #[test]
    fn bad_slices_are_errors() {
        for m in [Method::Platt, Method::Isotonic] {
            let e = fit(m, &[], &[]).unwrap_err();
            assert!(matches!(e, Error::Empty), "{e}");
            let e = fit(m, &[0.2, 0.3], &[T, T]).unwrap_err();
            assert!(e.to_string().contains("nothing to calibrate"), "{e}");
            let e = fit(m, &[0.2, 1.3], &[T, F]).unwrap_err();
            assert!(
                matches!(e, Error::InvalidProbability { index: 1, .. }),
                "{e}"
            );
        }
        // Platt: perfectly separated (also with a tie at the boundary), and constant p.
        for (p, y) in [
            (vec![0.1, 0.2, 0.8, 0.9], vec![F, F, T, T]),
            (vec![0.1, 0.5, 0.5, 0.9], vec![T, T, F, F]),
            (vec![0.4, 0.4, 0.4], vec![T, F, T]),
        ] {
            let e = fit(Method::Platt, &p, &y).unwrap_err();
            assert!(e.to_string().contains("separates"), "{e}");
            // Isotonic has no such problem.
            assert!(fit(Method::Isotonic, &p, &y).is_ok());
        }
        // None only checks the input.
        assert_eq!(fit(Method::None, &[0.2], &[T]).unwrap(), Calibration::None);
        assert!(fit(Method::None, &[f64::NAN], &[T]).is_err());
    }

    #[test]
    fn artifact_json_is_tagged() {
        let c = Calibration::Platt { a: 1.5, b: -0.25 };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"method":"platt","a":1.5,"b":-0.25}"#);
        let iso = Calibration::Isotonic {
            x: vec![0.1, 0.9],
            y: vec![0.0, 1.0],
        };
        let json = serde_json::to_string(&iso).unwrap();
        assert_eq!(json, r#"{"method":"isotonic","x":[0.1,0.9],"y":[0.0,1.0]}"#);
        assert_eq!(serde_json::from_str::<Calibration>(&json).unwrap(), iso);
        assert_eq!(
            serde_json::to_string(&Calibration::None).unwrap(),
            r#"{"method":"none"}"#
        );
        // A hand-edited empty table does not panic.
        let empty = Calibration::Isotonic {
            x: vec![],
            y: vec![],
        };
        assert_eq!(empty.apply(0.3), 0.3);
    }

    fn slice() -> impl Strategy<Value = (Vec<f64>, Vec<bool>)> {
        prop::collection::vec(
            (prop_oneof![0u32..=40, Just(0), Just(40)], any::<bool>()),
            2..150,
        )
        .prop_map(|v| v.into_iter().map(|(k, b)| (f64::from(k) / 40.0, b)).unzip())
    }

    fn probes() -> Vec<f64> {
        (0..=200).map(|i| f64::from(i) / 200.0).collect()
    }

    proptest! {
        #[test]
        fn isotonic_is_monotone_and_in_range((p, y) in slice()) {
            prop_assume!(y.contains(&true) && y.contains(&false));
            let c = fit(Method::Isotonic, &p, &y).unwrap();
            let Calibration::Isotonic { x: kx, y: ky } = &c else {
                return Err(TestCaseError::fail("isotonic expected"));
            };
            prop_assert!(kx.windows(2).all(|w| w[0] < w[1]), "{kx:?}");
            prop_assert!(ky.windows(2).all(|w| w[0] <= w[1]), "{ky:?}");
            let out = c.apply_all(&probes());
            prop_assert!(out.windows(2).all(|w| w[0] <= w[1]), "{out:?}");
            prop_assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
            // The fit is the least-squares non-decreasing fit, and the constant base
            // rate is non-decreasing too: the fit's squared error is never larger.
            let rate = count_positives(&y) as f64 / y.len() as f64;
            let sse = |f: &dyn Fn(f64) -> f64| -> f64 {
                p.iter().zip(&y).map(|(&pi, &yi)| (f(pi) - f64::from(u8::from(yi))).powi(2)).sum()
            };
            prop_assert!(sse(&|q| c.apply(q)) <= sse(&|_| rate) + 1e-9);
        }

        #[test]
        fn platt_is_monotone_and_in_range((p, y) in slice()) {
            prop_assume!(y.contains(&true) && y.contains(&false));
            match fit(Method::Platt, &p, &y) {
                Ok(c) => {
                    let out = c.apply_all(&probes());
                    prop_assert!(out.iter().all(|v| (0.0..=1.0).contains(v)), "{c:?}");
                    let Calibration::Platt { a, .. } = c else {
                        return Err(TestCaseError::fail("platt expected"));
                    };
                    // Monotone in the direction of a.
                    let monotone = out.windows(2).all(|w| {
                        if a >= 0.0 { w[0] <= w[1] } else { w[0] >= w[1] }
                    });
                    prop_assert!(monotone, "a {}: {:?}", a, out);
                    // At the maximum the fitted mean equals the base rate (score
                    // equation for b).
                    let mean = c.apply_all(&p).iter().sum::<f64>() / p.len() as f64;
                    let rate = count_positives(&y) as f64 / y.len() as f64;
                    prop_assert!((mean - rate).abs() < 1e-9, "{mean} vs {rate}");
                }
                Err(e) => prop_assert!(e.to_string().contains("separates"), "{e}"),
            }
        }

        #[test]
        fn any_calibration_maps_any_probability_into_the_unit_interval(
            a in -50.0f64..50.0, b in -50.0f64..50.0, q in 0.0f64..=1.0
        ) {
            let v = Calibration::Platt { a, b }.apply(q);
            prop_assert!((0.0..=1.0).contains(&v), "{v}");
        }
    }
}
