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

use super::net::Net;
use super::real::{Dual, Real};
use super::{activation, layers, planes};
use crate::data::Loss;
use crate::layout::{Layout, Span, TwoLayer};
use crate::model::Arch;

pub(crate) struct FnnHessian<'a, T> {
    spans: &'a Layout<Span>,
    m: usize,
    loss: Loss,
    x: &'a [T],
    y: &'a [T],
    a: Vec<T>,
    /// `act(z)`, `act'(z)` and `act''(z)` per neuron and point (`[m, n]`: the loops over the
    /// points are the long, contiguous ones).
    h: Vec<T>,
    s: Vec<T>,
    s2: Vec<T>,
    f: Vec<T>,
}

impl<'a, T: Real<Base = T>> FnnHessian<'a, T> {
    /// The forward pass at `theta` on points `x` with targets `y`; `None` unless `arch` is the
    /// two-layer net.
    pub(crate) fn new(
        net: &'a Net,
        loss: Loss,
        theta: &[T],
        x: &'a [T],
        y: &'a [T],
    ) -> Option<Self> {
        let (Arch::Fnn { width: m, act, .. }, Layout::TwoLayer(param)) =
            (net.arch, net.spans.slices(theta))
        else {
            return None;
        };
        let (m, act) = (*m, *act);
        let (a, w, b) = (param.a, param.w, param.b);
        let c = param.c.map_or(T::zero(), |c| c[0]);
        let n = x.len();
        let z: Vec<T> = w
            .iter()
            .zip(b)
            .flat_map(|(&w, &b)| x.iter().map(move |&xi| w * xi + b))
            .collect();
        let h = activation::values(act, &z);
        let s = activation::slopes(act, &z, &h);
        let s2 = activation::curvatures(act, &h, &s);
        let f = (0..n)
            .map(|i| (0..m).fold(c, |f, k| f + a[k] * h[k * n + i]))
            .collect();
        Some(FnnHessian {
            spans: &net.spans,
            m,
            loss,
            x,
            y,
            a: a.to_vec(),
            h,
            s,
            s2,
            f,
        })
    }

    /// `H v` for `v` in theta's layout.
    pub(crate) fn apply(&self, v: &[T]) -> Vec<T> {
        let (m, x, a) = (self.m, self.x, &self.a);
        let n = x.len();
        let Layout::TwoLayer(dir) = self.spans.slices(v) else {
            unreachable!("built for a two-layer net")
        };
        let (va, vw, vb) = (dir.a, dir.w, dir.b);
        let vc = dir.c.map_or(T::zero(), |c| c[0]);
        let neuron = |k: usize| {
            let r = k * n..(k + 1) * n;
            (&self.h[r.clone()], &self.s[r.clone()], &self.s2[r])
        };
        let (mut ha, mut hw, mut hb) = (vec![T::zero(); m], vec![T::zero(); m], vec![T::zero(); m]);
        let mut hc = None;
        super::vectorized(
            #[inline(always)]
            || {
                let mut rf = vec![vc; n];
                for k in 0..m {
                    let (h, s, _) = neuron(k);
                    let (va, vw, vb, a) = (va[k], vw[k], vb[k], a[k]);
                    for (((rf, &h), &s), &x) in rf.iter_mut().zip(h).zip(s).zip(x) {
                        *rf += va * h + a * (s * (vw * x + vb));
                    }
                }
                let f: Vec<Dual<T>> = self
                    .f
                    .iter()
                    .zip(&rf)
                    .map(|(&re, &du)| Dual { re, du })
                    .collect();
                let df = layers::loss(self.loss, &f, self.y, 1).1;
                let (d, rd): (Vec<T>, Vec<T>) = df.iter().map(|d| (d.re, d.du)).unzip();
                let (mut ra, mut rdz) = (vec![T::zero(); n], vec![T::zero(); n]);
                for k in 0..m {
                    let (h, s, s2) = neuron(k);
                    let (va, vw, vb, a) = (va[k], vw[k], vb[k], a[k]);
                    let points = h.iter().zip(s).zip(s2).zip(x).zip(d.iter().zip(&rd));
                    for ((ra, rdz), ((((&h, &s), &s2), &x), (&d, &rd))) in
                        ra.iter_mut().zip(rdz.iter_mut()).zip(points)
                    {
                        let rz = vw * x + vb;
                        *ra = rd * h + d * (s * rz);
                        *rdz = rd * a * s + d * (va * s + a * (s2 * rz));
                    }
                    ha[k] = planes::sum_of(&ra, |r| r);
                    hw[k] = planes::sum_zip(&rdz, x, |r, x| r * x);
                    hb[k] = planes::sum_of(&rdz, |r| r);
                }
                hc = dir.c.map(|_| vec![planes::sum_of(&rd, |r| r)]);
            },
        );
        Layout::TwoLayer(TwoLayer {
            a: ha,
            w: hw,
            b: hb,
            c: hc,
        })
        .concat()
    }
}
