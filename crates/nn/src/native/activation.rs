//! The two-layer nets' activations on the native path, each written once: the value, the first
//! derivative and the second. The derivatives are taken from `h = act(z)` where the function
//! allows it (tanh' = 1 - h^2, sigmoid' = h (1 - h)), since the passes have `h` at hand. Each
//! slice function chooses the activation once, outside its loop, so the loop vectorises.

use super::real::{Real, tanh_slope};
use crate::ops::Activation;

/// `act` of every element.
#[inline]
pub(super) fn values<S: Real>(act: Activation, z: &[S]) -> Vec<S> {
    match act {
        Activation::Tanh => S::tanh_all(z),
        Activation::Sigmoid => z.iter().map(|&z| sigmoid(z)).collect(),
        Activation::Relu => z.iter().map(|&z| relu(z)).collect(),
        Activation::LeakyRelu(s) => z.iter().map(|&z| leaky_relu(s, z)).collect(),
    }
}

/// `act'(z)` of every element, given `h = act(z)`.
#[inline]
pub(super) fn slopes<S: Real>(act: Activation, z: &[S], h: &[S]) -> Vec<S> {
    match act {
        Activation::Tanh => h.iter().map(|&h| tanh_slope(h)).collect(),
        Activation::Sigmoid => h.iter().map(|&h| sigmoid_slope(h)).collect(),
        Activation::Relu => z.iter().map(|&z| relu_slope(z)).collect(),
        Activation::LeakyRelu(s) => z.iter().map(|&z| leaky_relu_slope(s, z)).collect(),
    }
}

/// `act''(z)` of every element, given `h = act(z)` and `s = act'(z)`.
#[inline]
pub(super) fn curvatures<S: Real>(act: Activation, h: &[S], s: &[S]) -> Vec<S> {
    let (one, two) = (S::of(1.0), S::of(2.0));
    match act {
        // d/dz (1 - h^2) = -2 h h'
        Activation::Tanh => h.iter().zip(s).map(|(&h, &s)| -two * h * s).collect(),
        // d/dz h (1 - h) = h' (1 - 2 h)
        Activation::Sigmoid => h
            .iter()
            .zip(s)
            .map(|(&h, &s)| s * (one - two * h))
            .collect(),
        // piecewise linear: zero away from the kink, which the R-operator never sees
        Activation::Relu | Activation::LeakyRelu(_) => vec![S::zero(); h.len()],
    }
}

/// (1 + tanh(z / 2)) / 2, as the autodiff path computes it.
fn sigmoid<S: Real>(z: S) -> S {
    ((z * S::of(0.5)).tanh() + S::of(1.0)) * S::of(0.5)
}

fn sigmoid_slope<S: Real>(h: S) -> S {
    h * (S::of(1.0) - h)
}

fn relu<S: Real>(z: S) -> S {
    if z.primal() > 0.0 { z } else { S::zero() }
}

fn relu_slope<S: Real>(z: S) -> S {
    S::of(if z.primal() > 0.0 { 1.0 } else { 0.0 })
}

fn leaky_relu<S: Real>(slope: f64, z: S) -> S {
    if z.primal() < 0.0 {
        z * S::of(slope)
    } else {
        z
    }
}

/// The autodiff path's leaky ReLU takes the slope only where z < 0 (so 1 at z = 0).
fn leaky_relu_slope<S: Real>(slope: f64, z: S) -> S {
    S::of(if z.primal() < 0.0 { slope } else { 1.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each derivative against a central difference of the one below it.
    #[test]
    fn derivatives_match_differences_of_the_values() {
        let z: Vec<f64> = (-20..=20).map(|i| i as f64 * 0.15 + 0.01).collect();
        let eps = 1e-6;
        let shifted = |d: f64| -> Vec<f64> { z.iter().map(|&z| z + d).collect() };
        for act in [
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Relu,
            Activation::LeakyRelu(0.1),
        ] {
            let h = values(act, &z);
            for (&z, &h) in z.iter().zip(&h) {
                assert!((h - act.eval(z)).abs() < 1e-12, "{act:?} at {z}");
            }
            let s = slopes(act, &z, &h);
            let c = curvatures(act, &h, &s);
            let (hp, hm) = (values(act, &shifted(eps)), values(act, &shifted(-eps)));
            let sp = slopes(act, &shifted(eps), &hp);
            let sm = slopes(act, &shifted(-eps), &hm);
            for i in 0..z.len() {
                let ds = (hp[i] - hm[i]) / (2.0 * eps);
                let dc = (sp[i] - sm[i]) / (2.0 * eps);
                assert!(
                    (s[i] - ds).abs() < 1e-8,
                    "{act:?}' at {}: {} vs {ds}",
                    z[i],
                    s[i]
                );
                assert!(
                    (c[i] - dc).abs() < 1e-6,
                    "{act:?}'' at {}: {} vs {dc}",
                    z[i],
                    c[i]
                );
            }
        }
    }
}
