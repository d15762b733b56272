//! The exact Hessian of the two-layer net `f(x) = sum_k a_k act(w_k x + b_k) (+ c)` at a fixed
//! theta, as an operator: the forward pass (activations and their first two derivatives, the
//! loss gradient) is done once, and each product `H v` is the R-operator on those cached values.
//! Power iteration and Lanczos take many products at one theta, and this leaves out the
//! activation function (the `tanh` is most of a forward pass) from every one of them.
//!
//! With `R(.)` the directional derivative along `v = (va, vw, vb, vc)`:
//! `Rz = vw x + vb`, `Rh = s Rz`, `Rs = s' Rz`, `Rf = sum_k (va h + a Rh) + vc`,
//! `R(dL/df)` from the loss on dual numbers `(f, Rf)`; then the gradient's own expressions,
//! differentiated: `(H v)_a = sum_i R(df) h + df Rh`, `R(dz) = R(df) a s + df (va s + a Rs)`,
//! `(H v)_w = sum_i R(dz) x`, `(H v)_b = sum_i R(dz)`, `(H v)_c = sum_i R(df)`.

use super::layers;
use super::real::{Dual, Real};
use crate::nn::data::Loss;
use crate::nn::ops::Activation;

pub(crate) struct FnnHessian<'a, T> {
    m: usize,
    out_bias: bool,
    loss: Loss,
    x: &'a [T],
    y: &'a [T],
    a: Vec<T>,
    /// `act(z)`, `act'(z)` and `act''(z)` per point and neuron (`[n, m]`).
    h: Vec<T>,
    s: Vec<T>,
    s2: Vec<T>,
    f: Vec<T>,
}

impl<'a, T: Real<Base = T>> FnnHessian<'a, T> {
    /// The forward pass at `theta` (`[a, w, b, (c)]`, width `m`) on points `x` with targets `y`.
    pub(crate) fn new(
        (m, act, out_bias): (usize, Activation, bool),
        loss: Loss,
        theta: &[T],
        x: &'a [T],
        y: &'a [T],
    ) -> Self {
        let (a, w, b) = (&theta[..m], &theta[m..2 * m], &theta[2 * m..3 * m]);
        let c = if out_bias { theta[3 * m] } else { T::zero() };
        let z: Vec<T> = x
            .iter()
            .flat_map(|&xi| w.iter().zip(b).map(move |(&w, &b)| w * xi + b))
            .collect();
        let h = super::net::activate(act, &z);
        let s = super::net::slopes(act, &z, &h);
        let (one, two) = (T::of(1.0), T::of(2.0));
        let s2 = match act {
            Activation::Tanh => h.iter().zip(&s).map(|(&h, &s)| -two * h * s).collect(),
            Activation::Sigmoid => h
                .iter()
                .zip(&s)
                .map(|(&h, &s)| s * (one - two * h))
                .collect(),
            Activation::Relu | Activation::LeakyRelu(_) => vec![T::zero(); z.len()],
        };
        let f = h
            .chunks(m)
            .map(|hi| hi.iter().zip(a).fold(c, |f, (&h, &a)| f + a * h))
            .collect();
        FnnHessian {
            m,
            out_bias,
            loss,
            x,
            y,
            a: a.to_vec(),
            h,
            s,
            s2,
            f,
        }
    }

    /// `H v` for `v` in theta's layout.
    pub(crate) fn apply(&self, v: &[T]) -> Vec<T> {
        let m = self.m;
        let (va, vw, vb) = (&v[..m], &v[m..2 * m], &v[2 * m..3 * m]);
        let vc = if self.out_bias { v[3 * m] } else { T::zero() };
        let (a, x) = (&self.a, self.x);
        let rows = || {
            self.h
                .chunks(m)
                .zip(self.s.chunks(m))
                .zip(self.s2.chunks(m))
                .zip(x)
        };
        let mut hv = vec![T::zero(); v.len()];
        super::vectorized(
            #[inline(always)]
            || {
                let f: Vec<Dual<T>> = rows()
                    .zip(&self.f)
                    .map(|((((h, s), _), &xi), &f)| {
                        let mut rf = vc;
                        for k in 0..m {
                            let rz = vw[k] * xi + vb[k];
                            rf += va[k] * h[k] + a[k] * (s[k] * rz);
                        }
                        Dual { re: f, du: rf }
                    })
                    .collect();
                let df = layers::loss(self.loss, &f, self.y, 1).1;
                let (ha, rest) = hv.split_at_mut(m);
                let (hw, rest) = rest.split_at_mut(m);
                let (hb, hc) = rest.split_at_mut(m);
                for ((((h, s), s2), &xi), df) in rows().zip(&df) {
                    let (d, rd) = (df.re, df.du);
                    for k in 0..m {
                        let rz = vw[k] * xi + vb[k];
                        ha[k] += rd * h[k] + d * (s[k] * rz);
                        let rdz = rd * a[k] * s[k] + d * (va[k] * s[k] + a[k] * (s2[k] * rz));
                        hw[k] += rdz * xi;
                        hb[k] += rdz;
                    }
                }
                if self.out_bias {
                    hc[0] = df.iter().fold(T::zero(), |t, d| t + d.du);
                }
            },
        );
        hv
    }
}
