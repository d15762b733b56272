//! The optimisers beside gradient descent, each with its own edge of stability: heavy-ball and
//! Nesterov momentum (as PyTorch's `SGD(momentum, nesterov)`, dampening 0) and Adam (Kingma and
//! Ba 2015, with bias correction). They run on the host on the f64 master copy of theta, so every
//! backend trains with the same update; the backend computes only the gradient.
//!
//! Stability thresholds, from the quadratic model R = lambda theta^2 / 2 with h = eta lambda:
//! - GD: theta' = (1 - h) theta, stable while h < 2.
//! - Heavy ball, b' = beta b + g, theta' = theta - eta b': substituting eta b = theta_{t-1} -
//!   theta_t gives theta_{t+1} = (1 + beta - h) theta_t - beta theta_{t-1}, whose
//!   characteristic polynomial z^2 - (1 + beta - h) z + beta has a root at z = -1 when
//!   2 + 2 beta - h = 0, so lambda_max < (2 + 2 beta) / eta.
//! - Nesterov, b' = beta b + g, theta' = theta - eta (g + beta b'): substituting eta beta b =
//!   (1 - h) theta_{t-1} - theta_t gives theta_{t+1} = (1 + beta)(1 - h) theta_t - beta (1 - h)
//!   theta_{t-1}; z = -1 is a root when 1 + (1 + 2 beta)(1 - h) = 0, so lambda_max <
//!   (2 + 2 beta) / ((1 + 2 beta) eta).
//! - Adam with the preconditioner held fixed is heavy ball with an exponential moving average
//!   (m' = beta1 m + (1 - beta1) g) on the preconditioned problem: the preconditioned sharpness
//!   lambda_max(P^-1/2 H P^-1/2) < (2 + 2 beta1) / ((1 - beta1) eta) (38/eta at beta1 = 0.9),
//!   with P = (1 - beta1^t) (diag(sqrt(v_hat)) + eps) as Cohen et al. 2022 write Adam's step
//!   eta P^-1 m.

use serde::{Deserialize, Serialize};

/// An optimiser and its hyper-parameters (the learning rate is the run's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Gd,
    HeavyBall { beta: f64 },
    Nesterov { beta: f64 },
    Adam { beta1: f64, beta2: f64, eps: f64 },
}

/// What an optimiser carries from step to step (empty for GD).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OptState {
    /// The momentum buffer (heavy ball, Nesterov) or Adam's first moment m.
    pub first: Vec<f64>,
    /// Adam's second moment v.
    pub second: Vec<f64>,
    /// Steps taken.
    pub steps: u64,
}

impl Optimizer {
    /// Takes one step from `theta` with the gradient `g` there.
    pub fn step(&self, state: &mut OptState, theta: &mut [f64], g: &[f64], lr: f64) {
        let n = theta.len();
        if state.first.len() != n && *self != Optimizer::Gd {
            state.first = vec![0.0; n];
        }
        state.steps += 1;
        match *self {
            Optimizer::Gd => {
                for (t, g) in theta.iter_mut().zip(g) {
                    *t -= lr * g;
                }
            }
            Optimizer::HeavyBall { beta } | Optimizer::Nesterov { beta } => {
                let nesterov = matches!(self, Optimizer::Nesterov { .. });
                for ((t, b), g) in theta.iter_mut().zip(&mut state.first).zip(g) {
                    *b = beta * *b + g;
                    *t -= lr * if nesterov { g + beta * *b } else { *b };
                }
            }
            Optimizer::Adam { beta1, beta2, eps } => {
                if state.second.len() != n {
                    state.second = vec![0.0; n];
                }
                let t = state.steps as i32;
                let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                for (((th, m), v), g) in theta
                    .iter_mut()
                    .zip(&mut state.first)
                    .zip(&mut state.second)
                    .zip(g)
                {
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *th -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
                }
            }
        }
    }

    /// The edge of stability of this optimiser's own measure (see the module comment).
    pub fn threshold(&self, lr: f64) -> f64 {
        match *self {
            Optimizer::Gd => 2.0 / lr,
            Optimizer::HeavyBall { beta } => (2.0 + 2.0 * beta) / lr,
            Optimizer::Nesterov { beta } => (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * lr),
            Optimizer::Adam { beta1, .. } => (2.0 + 2.0 * beta1) / ((1.0 - beta1) * lr),
        }
    }

    /// The diagonal of Adam's preconditioner P (`None` for the others, whose measure is the raw
    /// Hessian's): Cohen et al.'s P = (1 - beta1^t) (sqrt(v_t / (1 - beta2^t)) + eps), for the
    /// step about to be taken with gradient `g` (t and v_t those of that step), or without `g`
    /// for the last step taken (`None` before the first).
    pub fn preconditioner(&self, state: &OptState, g: Option<&[f64]>) -> Option<Vec<f64>> {
        let Optimizer::Adam { beta1, beta2, eps } = *self else {
            return None;
        };
        let (t, v): (i32, Vec<f64>) = match g {
            Some(g) => (
                state.steps as i32 + 1,
                g.iter()
                    .enumerate()
                    .map(|(i, g)| {
                        beta2 * state.second.get(i).copied().unwrap_or(0.0) + (1.0 - beta2) * g * g
                    })
                    .collect(),
            ),
            None if state.steps == 0 => return None,
            None => (state.steps as i32, state.second.clone()),
        };
        let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
        Some(v.iter().map(|v| c1 * ((v / c2).sqrt() + eps)).collect())
    }

    /// The name of this optimiser's stability measure, as figures and logs show it.
    pub fn measure(&self) -> &'static str {
        match self {
            Optimizer::Adam { .. } => "preconditioned sharpness lambda_max(P^-1 H)",
            _ => "lambda_max",
        }
    }

    /// The line figures draw for the measure, named.
    pub fn threshold_name(&self) -> &'static str {
        match self {
            Optimizer::Gd => "2/eta",
            Optimizer::HeavyBall { .. } => "(2 + 2 beta)/eta",
            Optimizer::Nesterov { .. } => "(2 + 2 beta)/((1 + 2 beta) eta)",
            Optimizer::Adam { .. } => "(2 + 2 beta1)/((1 - beta1) eta)",
        }
    }
}

/// `v -> P^-1/2 H P^-1/2 v` from `v -> H v` and P's diagonal: symmetric, with the eigenvalues
/// of P^-1 H.
pub fn preconditioned<'a>(
    hessian: &'a mut dyn FnMut(&[f64]) -> anyhow::Result<Vec<f64>>,
    p: &'a [f64],
) -> impl FnMut(&[f64]) -> anyhow::Result<Vec<f64>> + 'a {
    let scale: Vec<f64> = p.iter().map(|p| 1.0 / p.sqrt()).collect();
    move |v: &[f64]| {
        let scaled: Vec<f64> = v.iter().zip(&scale).map(|(v, s)| v * s).collect();
        let hv = hessian(&scaled)?;
        Ok(hv.iter().zip(&scale).map(|(h, s)| h * s).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-13 * b.abs().max(1.0), "{a} vs {b}");
    }

    #[test]
    fn each_step_against_its_hand_computation() {
        let lr = 0.1;
        // Two steps on gradients g1 = (1, -2), g2 = (3, 0.5) from theta = (0, 0).
        let (g1, g2) = ([1.0, -2.0], [3.0, 0.5]);
        let run = |opt: Optimizer| {
            let (mut s, mut th) = (OptState::default(), vec![0.0, 0.0]);
            opt.step(&mut s, &mut th, &g1, lr);
            opt.step(&mut s, &mut th, &g2, lr);
            th
        };
        let gd = run(Optimizer::Gd);
        close(gd[0], -0.1 * 1.0 - 0.1 * 3.0);
        // Heavy ball, beta 0.9: b1 = g1, b2 = 0.9 g1 + g2 = (3.9, -1.3).
        let hb = run(Optimizer::HeavyBall { beta: 0.9 });
        close(hb[0], -0.1 * 1.0 - 0.1 * 3.9);
        close(hb[1], -0.1 * -2.0 - 0.1 * -1.3);
        // Nesterov: steps g1 + 0.9 b1 = 1.9 g1, then g2 + 0.9 b2 = (6.51, -0.67).
        let ne = run(Optimizer::Nesterov { beta: 0.9 });
        close(ne[0], -0.1 * 1.9 - 0.1 * 6.51);
        close(ne[1], -0.1 * -3.8 - 0.1 * -0.67);
        // Adam, (0.9, 0.999, 1e-8): the first step is lr * sign(g) (m_hat = g, v_hat = g^2).
        let adam = Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let (mut s, mut th) = (OptState::default(), vec![0.0, 0.0]);
        adam.step(&mut s, &mut th, &g1, lr);
        close(th[0], -0.1 / (1.0 + 1e-8));
        close(th[1], 0.1 * 2.0 / (2.0 + 1e-8));
        // Second step, first coordinate: m = 0.09 + 0.3 = 0.39, v = 0.000999 + 0.009 = 0.009999.
        adam.step(&mut s, &mut th, &g2, lr);
        let (m_hat, v_hat): (f64, f64) = (0.39 / (1.0 - 0.81), 0.009_999 / (1.0 - 0.998_001));
        close(
            th[0],
            -0.1 / (1.0 + 1e-8) - 0.1 * m_hat / (v_hat.sqrt() + 1e-8),
        );
        assert_eq!(s.steps, 2);
    }

    /// Iterates the optimiser on R = lambda theta^2 / 2 and says whether theta shrank.
    fn converges(opt: Optimizer, lambda: f64, lr: f64) -> bool {
        let (mut s, mut th) = (OptState::default(), vec![1.0]);
        for _ in 0..20_000 {
            let g = [lambda * th[0]];
            opt.step(&mut s, &mut th, &g, lr);
        }
        th[0].abs() < 1.0
    }

    #[test]
    fn momentum_diverges_exactly_above_its_threshold_on_the_quadratic() {
        let lambda = 10.0;
        for opt in [
            Optimizer::Gd,
            Optimizer::HeavyBall { beta: 0.9 },
            Optimizer::HeavyBall { beta: 0.5 },
            Optimizer::Nesterov { beta: 0.9 },
            Optimizer::Nesterov { beta: 0.3 },
        ] {
            // The learning rate at which lambda is exactly the threshold.
            let edge = opt.threshold(1.0) / lambda;
            assert!(
                converges(opt, lambda, edge * 0.99),
                "{opt:?} below its edge"
            );
            assert!(
                !converges(opt, lambda, edge * 1.01),
                "{opt:?} above its edge"
            );
        }
        // GD's 2/eta is the wrong line under momentum: heavy ball is stable at 1.5 x 2/lambda.
        assert!(converges(
            Optimizer::HeavyBall { beta: 0.9 },
            lambda,
            1.5 * 2.0 / lambda
        ));
        assert!(
            (Optimizer::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8
            }
            .threshold(1.0)
                - 38.0)
                .abs()
                < 1e-12
        );
    }

    #[test]
    fn the_preconditioner_is_that_of_the_next_step() {
        let adam = Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let g = [1.0, -2.0];
        let mut s = OptState::default();
        // Step 1: P = (1 - 0.9) (|g| + eps).
        assert_eq!(adam.preconditioner(&s, None), None);
        let p = adam.preconditioner(&s, Some(&g)).unwrap();
        close(p[1], 0.1 * (2.0 + 1e-8));
        // The step it preconditions: theta moves by lr P^-1 m with m = (1 - beta1) g.
        let mut th = vec![0.0, 0.0];
        adam.step(&mut s, &mut th, &g, 0.1);
        close(th[1], -0.1 * (0.1 * -2.0) / p[1]);
        // Afterwards, without a gradient: the P of the step just taken.
        assert_eq!(adam.preconditioner(&s, None), Some(p));
        assert_eq!(Optimizer::Gd.preconditioner(&s, Some(&g)), None);
    }
}
