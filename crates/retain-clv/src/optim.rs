//! Maximum likelihood over log-parameters: Nelder–Mead, then L-BFGS with the analytic
//! gradient (argmin), then standard errors from a numeric Hessian.

use std::cell::RefCell;

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How a fit went; stored beside the parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Log-likelihood at the fitted parameters, on the input's own units (comparable with
    /// the papers' figures).
    pub log_likelihood: f64,
    /// Customers the fit used (for Gamma-Gamma, those with x ≥ 1).
    pub n_customers: usize,
    /// Distinct rows after grouping identical customers.
    pub n_distinct: usize,
    /// Nelder–Mead iterations plus L-BFGS iterations.
    pub iterations: u64,
    /// Euclidean norm of the gradient of the mean log-likelihood per customer with
    /// respect to the log-parameters, at the optimum.
    pub gradient_norm: f64,
}

/// A model's negative mean log-likelihood, in its natural (positive) parameters.
pub(crate) trait Objective: Sync {
    /// Mean negative log-likelihood per customer and its gradient with respect to `p`.
    fn nll_grad(&self, p: &[f64]) -> (f64, Vec<f64>);
}

pub(crate) struct Spec {
    pub model: &'static str,
    pub names: &'static [&'static str],
    pub max_iterations: u64,
}

pub(crate) struct Optimum {
    pub p: Vec<f64>,
    pub mean_nll: f64,
    pub iterations: u64,
    pub gradient_norm: f64,
    /// Hessian of the mean negative log-likelihood with respect to `p`.
    pub hessian: Vec<Vec<f64>>,
}

/// Log-parameters are kept within ±this (e^30 ≈ 1e13): beyond it the objective is
/// continued by its value at the edge plus a quadratic wall, so that line searches never
/// meet an infinite cost.
const THETA_LIMIT: f64 = 30.0;
/// A fitted log-parameter beyond ±this (e^16 ≈ 9e6; the data are rescaled to mean 1
/// first) is at the edge of the space: the model is not identified.
const THETA_EDGE: f64 = 16.0;
/// Largest acceptable gradient norm of the mean log-likelihood at the optimum.
const GRAD_TOLERANCE: f64 = 1e-5;
/// Nelder–Mead + L-BFGS rounds, each restarting from the best point so far.
const ROUNDS: usize = 6;

/// One evaluation: θ, cost, gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

/// The objective seen by argmin: a function of θ = ln p, caching the last evaluation
/// because L-BFGS's line search asks for cost and gradient at the same point.
struct LogSpace<'a, O> {
    objective: &'a O,
    last: RefCell<Option<Evaluation>>,
}

impl<O: Objective> LogSpace<'_, O> {
    fn eval(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        if let Some((t, c, g)) = self.last.borrow().as_ref()
            && t.as_slice() == theta
        {
            return (*c, g.clone());
        }
        let inside: Vec<f64> = theta
            .iter()
            .map(|t| t.clamp(-THETA_LIMIT, THETA_LIMIT))
            .collect();
        let p: Vec<f64> = inside.iter().map(|t| t.exp()).collect();
        let (mut cost, g) = self.objective.nll_grad(&p);
        let mut grad: Vec<f64> = g.iter().zip(&p).map(|(g, p)| g * p).collect();
        for ((t, i), g) in theta.iter().zip(&inside).zip(&mut grad) {
            if t != i {
                cost += (t - i) * (t - i);
                *g = 2.0 * (t - i);
            }
        }
        if !(cost.is_finite() && grad.iter().all(|g| g.is_finite())) {
            cost = f64::MAX;
            grad = theta.iter().map(|t| t.signum()).collect();
        }
        *self.last.borrow_mut() = Some((theta.to_vec(), cost, grad.clone()));
        (cost, grad)
    }
}

impl<O: Objective> CostFunction for LogSpace<'_, O> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Self::Param) -> Result<f64, argmin::core::Error> {
        Ok(self.eval(theta).0)
    }
}

impl<O: Objective> Gradient for LogSpace<'_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, theta: &Self::Param) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.eval(theta).1)
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Minimise the objective from `start` (natural parameters, > 0).
///
/// Each round runs Nelder–Mead from a simplex of unit steps in log space around the best
/// point so far (robust from a poor start, and a restart shakes L-BFGS out of a stalled
/// line search), then L-BFGS with the analytic gradient to converge tightly; rounds stop
/// once the gradient vanishes.
pub(crate) fn minimise<O: Objective>(objective: &O, start: &[f64], spec: &Spec) -> Result<Optimum> {
    let n = start.len();
    let problem = || LogSpace {
        objective,
        last: RefCell::new(None),
    };
    let internal = |stage: &str, e: argmin::core::Error| Error::Internal(format!("{stage}: {e}"));
    let mut theta: Vec<f64> = start.iter().map(|p| p.ln()).collect();
    let mut iterations = 0;
    let mut reason = String::new();
    let mut gradient_norm = f64::INFINITY;
    for _ in 0..ROUNDS {
        let budget = spec.max_iterations.saturating_sub(iterations);
        if budget == 0 {
            reason = "iteration budget spent".into();
            break;
        }
        let mut simplex = vec![theta.clone()];
        for i in 0..n {
            let mut v = theta.clone();
            v[i] += 1.0;
            simplex.push(v);
        }
        let nm = NelderMead::new(simplex)
            .with_sd_tolerance(1e-6)
            .map_err(|e| internal("Nelder-Mead setup", e))?;
        let res = Executor::new(problem(), nm)
            .configure(|s| s.max_iters(budget.min(400 * n as u64)))
            .run()
            .map_err(|e| internal("Nelder-Mead", e))?;
        iterations += res.state().get_iter();
        if let Some(best) = res.state().get_best_param() {
            theta.clone_from(best);
        }

        let budget = spec.max_iterations.saturating_sub(iterations).max(1);
        let lbfgs = LBFGS::new(MoreThuenteLineSearch::new(), 7)
            .with_tolerance_grad(1e-10)
            .and_then(|s| s.with_tolerance_cost(0.0))
            .map_err(|e| internal("L-BFGS setup", e))?;
        let start_lbfgs = theta.clone();
        match Executor::new(problem(), lbfgs)
            .configure(|s| s.param(start_lbfgs).max_iters(budget))
            .run()
        {
            Ok(res) => {
                iterations += res.state().get_iter();
                reason = res
                    .state()
                    .get_termination_reason()
                    .map_or_else(String::new, |r| r.text().to_string());
                if matches!(
                    res.state().get_termination_reason(),
                    Some(TerminationReason::MaxItersReached)
                ) {
                    reason = "iteration budget spent".into();
                }
                // The best point is never worse than where L-BFGS started.
                if let Some(best) = res.state().get_best_param() {
                    theta.clone_from(best);
                }
            }
            Err(e) => reason = format!("L-BFGS stopped: {e}"),
        }
        gradient_norm = norm(&problem().eval(&theta).1);
        if gradient_norm <= GRAD_TOLERANCE {
            break;
        }
    }

    let (cost, _) = problem().eval(&theta);
    if !(cost.is_finite() && cost < f64::MAX && gradient_norm <= GRAD_TOLERANCE) {
        return Err(Error::NotConverged {
            model: spec.model,
            iterations,
            gradient_norm,
            reason: if reason.is_empty() {
                "the gradient did not vanish".into()
            } else {
                reason
            },
        });
    }
    let p: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    if let Some(i) = theta.iter().position(|t| t.abs() > THETA_EDGE) {
        return Err(Error::NotIdentified {
            model: spec.model,
            param: spec.names[i],
            value: p[i],
        });
    }
    let hessian = numeric_hessian(objective, &p);
    Ok(Optimum {
        p,
        mean_nll: cost,
        iterations,
        gradient_norm,
        hessian,
    })
}

/// Hessian of the objective at `p` by central differences of its analytic gradient, with
/// relative steps of 1e-5, symmetrised.
fn numeric_hessian<O: Objective>(objective: &O, p: &[f64]) -> Vec<Vec<f64>> {
    let n = p.len();
    let mut h = vec![vec![0.0; n]; n];
    for j in 0..n {
        let step = 1e-5 * p[j];
        let mut up = p.to_vec();
        up[j] += step;
        let mut down = p.to_vec();
        down[j] -= step;
        let (_, g_up) = objective.nll_grad(&up);
        let (_, g_down) = objective.nll_grad(&down);
        for i in 0..n {
            h[i][j] = (g_up[i] - g_down[i]) / (2.0 * step);
        }
    }
    let mut sym = h.clone();
    for (i, row) in sym.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = 0.5 * (h[i][j] + h[j][i]);
        }
    }
    sym
}

/// Standard errors sqrt(diag((N·H)⁻¹)) from the Hessian H of the mean negative
/// log-likelihood over N customers; `None` unless H is positive definite.
pub(crate) fn standard_errors(hessian: &[Vec<f64>], n_customers: f64) -> Option<Vec<f64>> {
    let n = hessian.len();
    // Cholesky H = L Lᵀ.
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = hessian[i][i] - s;
                if d.is_nan() || d <= 0.0 {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (hessian[i][j] - s) / l[j][j];
            }
        }
    }
    // diag(H⁻¹)_i = Σ_k (L⁻¹)_{ki}²: invert L column by column.
    let mut se = Vec::with_capacity(n);
    for i in 0..n {
        // Solve L y = e_i.
        let mut y = vec![0.0; n];
        for r in 0..n {
            let rhs = if r == i { 1.0 } else { 0.0 };
            let s: f64 = (0..r).map(|k| l[r][k] * y[k]).sum();
            y[r] = (rhs - s) / l[r][r];
        }
        let var = y.iter().map(|v| v * v).sum::<f64>() / n_customers;
        se.push(var.sqrt());
    }
    se.iter().all(|s| s.is_finite()).then_some(se)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quadratic bowl in p with minimum at (2, 0.5) and Hessian diag(4, 10).
    struct Bowl;
    impl Objective for Bowl {
        fn nll_grad(&self, p: &[f64]) -> (f64, Vec<f64>) {
            let (a, b) = (p[0] - 2.0, p[1] - 0.5);
            (2.0 * a * a + 5.0 * b * b, vec![4.0 * a, 10.0 * b])
        }
    }

    #[test]
    fn finds_the_minimum_and_its_curvature() {
        let spec = Spec {
            model: "bowl",
            names: &["u", "v"],
            max_iterations: 1000,
        };
        let opt = minimise(&Bowl, &[0.01, 30.0], &spec).unwrap();
        assert!((opt.p[0] - 2.0).abs() < 1e-8 && (opt.p[1] - 0.5).abs() < 1e-8);
        let se = standard_errors(&opt.hessian, 100.0).unwrap();
        assert!((se[0] - (1.0 / 400.0_f64).sqrt()).abs() < 1e-6, "{se:?}");
        assert!((se[1] - (1.0 / 1000.0_f64).sqrt()).abs() < 1e-6, "{se:?}");
    }

    #[test]
    fn singular_hessian_has_no_standard_errors() {
        let h = vec![vec![1.0, 1.0], vec![1.0, 1.0]];
        assert_eq!(standard_errors(&h, 10.0), None);
    }
}
