//! The paper's architectures (see `nn::model`) as forward and backward passes over a flat theta,
//! generic over [`Real`]: the loss and its gradient, in theta's block order.

use super::conv::Conv;
use super::layers::{self, BatchNorm, ReluOut, linear, linear_backward, relu_pool};
use super::real::Real;
use crate::data::Loss;
use crate::model::{Arch, IMAGE};
use crate::ops::Activation;

/// The data of an objective, in the base precision.
pub(crate) struct Batch<'a, T> {
    pub x: &'a [T],
    pub y: &'a [T],
    pub loss: Loss,
}

/// The model's outputs `[n, outputs]`.
pub(crate) fn outputs<S: Real>(arch: &Arch, theta: &[S], x: &[S::Base]) -> Vec<S> {
    match arch {
        Arch::Fnn { .. } => fnn(arch, theta, x, None).0,
        Arch::Cnn { .. } => cnn(arch, theta, x, None).0,
        Arch::Vgg { .. } => vgg(arch, theta, x, None).0,
    }
}

/// The loss and, with `grad`, its gradient.
pub(crate) fn loss_and_grad<S: Real>(
    arch: &Arch,
    theta: &[S],
    data: &Batch<S::Base>,
    grad: bool,
) -> (S, Option<Vec<S>>) {
    let d = arch.outputs();
    let target = grad.then_some((data.y, data.loss, d));
    let (f, g) = match arch {
        Arch::Fnn { .. } => fnn(arch, theta, data.x, target),
        Arch::Cnn { .. } => cnn(arch, theta, data.x, target),
        Arch::Vgg { .. } => vgg(arch, theta, data.x, target),
    };
    match g {
        Some(g) => (f[0], Some(g)),
        None => (layers::loss(data.loss, &f, data.y, d).0, None),
    }
}

/// What the forward passes differentiate against: targets, loss and output width.
type Target<'a, T> = Option<(&'a [T], Loss, usize)>;

/// Outputs, or with a target the loss (as a one-element vector) and the gradient.
fn finish<S: Real>(
    f: Vec<S>,
    target: Target<S::Base>,
    back: impl FnOnce(Vec<S>) -> Vec<S>,
) -> (Vec<S>, Option<Vec<S>>) {
    match target {
        None => (f, None),
        Some((y, loss, d)) => {
            let (l, df) = layers::loss(loss, &f, y, d);
            (vec![l], Some(back(df)))
        }
    }
}

/// theta's blocks (see `Arch::blocks`), in order.
fn blocks<'a, S>(arch: &Arch, theta: &'a [S]) -> Vec<&'a [S]> {
    let mut rest = theta;
    arch.blocks()
        .iter()
        .map(|b| {
            let (block, tail) = rest.split_at(b.len());
            rest = tail;
            block
        })
        .collect()
}

/// `f(x) = sum_k a_k act(w_k x + b_k) (+ c)`: pre-activations of all points and neurons, the
/// activation over them in one flat loop (which the compiler vectorises), then the sums.
fn fnn<S: Real>(
    arch: &Arch,
    theta: &[S],
    x: &[S::Base],
    target: Target<S::Base>,
) -> (Vec<S>, Option<Vec<S>>) {
    let Arch::Fnn {
        width: m,
        act,
        out_bias,
    } = *arch
    else {
        unreachable!("an FNN")
    };
    let (a, w, b) = (&theta[..m], &theta[m..2 * m], &theta[2 * m..3 * m]);
    let c = if out_bias { theta[3 * m] } else { S::zero() };
    let n = x.len();
    let mut z = vec![S::zero(); n * m];
    for (zi, &xi) in z.chunks_mut(m).zip(x) {
        let xi = S::lift(xi);
        for ((z, &w), &b) in zi.iter_mut().zip(w).zip(b) {
            *z = w * xi + b;
        }
    }
    let h = activate(act, &z);
    let f: Vec<S> = h
        .chunks(m)
        .map(|hi| hi.iter().zip(a).fold(c, |f, (&h, &a)| f + a * h))
        .collect();
    finish(f, target, |df| {
        let mut g = vec![S::zero(); theta.len()];
        let (ga, rest) = g.split_at_mut(m);
        let (gw, rest) = rest.split_at_mut(m);
        let (gb, gc) = rest.split_at_mut(m);
        let slopes = slopes(act, &z, &h);
        super::vectorized(
            #[inline(always)]
            || {
                for (((si, hi), &xi), &di) in slopes.chunks(m).zip(h.chunks(m)).zip(x).zip(&df) {
                    let xi = S::lift(xi);
                    for k in 0..m {
                        ga[k] += di * hi[k];
                        let dz = di * a[k] * si[k];
                        gw[k] += dz * xi;
                        gb[k] += dz;
                    }
                }
            },
        );
        if out_bias {
            gc[0] = df.iter().fold(S::zero(), |s, &d| s + d);
        }
        g
    })
}

/// `act` of every element, with the choice made once outside the loop.
pub(super) fn activate<S: Real>(act: Activation, z: &[S]) -> Vec<S> {
    match act {
        Activation::Tanh => S::tanh_all(z),
        _ => z.iter().map(|&z| apply(act, z)).collect(),
    }
}

fn apply<S: Real>(act: Activation, z: S) -> S {
    match act {
        Activation::Tanh => z.tanh(),
        // (1 + tanh(z / 2)) / 2, as the autodiff path computes it
        Activation::Sigmoid => ((z * S::of(0.5)).tanh() + S::of(1.0)) * S::of(0.5),
        Activation::Relu => {
            if z.primal() > 0.0 {
                z
            } else {
                S::zero()
            }
        }
        Activation::LeakyRelu(s) => {
            if z.primal() < 0.0 {
                z * S::of(s)
            } else {
                z
            }
        }
    }
}

/// `act'(z)` of every element, given `h = act(z)`.
pub(super) fn slopes<S: Real>(act: Activation, z: &[S], h: &[S]) -> Vec<S> {
    let one = S::of(1.0);
    match act {
        Activation::Tanh => h.iter().map(|&h| one - h * h).collect(),
        Activation::Sigmoid => h.iter().map(|&h| h * (one - h)).collect(),
        Activation::Relu => z
            .iter()
            .map(|z| S::of(if z.primal() > 0.0 { 1.0 } else { 0.0 }))
            .collect(),
        // the autodiff path's leaky ReLU takes the slope only where z < 0
        Activation::LeakyRelu(s) => z
            .iter()
            .map(|z| S::of(if z.primal() < 0.0 { s } else { 1.0 }))
            .collect(),
    }
}

/// Conv + ReLU + max-pool per entry of `convs`, then ReLU linear layers, then the output layer.
fn cnn<S: Real>(
    arch: &Arch,
    theta: &[S],
    x: &[S::Base],
    target: Target<S::Base>,
) -> (Vec<S>, Option<Vec<S>>) {
    let Arch::Cnn {
        convs,
        hidden,
        classes,
    } = arch
    else {
        unreachable!("a CNN")
    };
    let param = blocks(arch, theta);
    let mut layers = Vec::new();
    let (mut cin, mut side) = (IMAGE[0], IMAGE[1]);
    // pooled outputs and argmaxes; pooled[i] is the input of conv i + 1
    let mut pooled: Vec<(Vec<S>, Vec<u8>)> = Vec::new();
    for (i, &cout) in convs.iter().enumerate() {
        let conv = Conv { cin, cout, side };
        let (w, b) = (param[2 * i], Some(param[2 * i + 1]));
        pooled.push(match pooled.last() {
            None => conv.forward_relu_pool(x, S::lift, w, b),
            Some((h, _)) => conv.forward_relu_pool(h, |v| v, w, b),
        });
        layers.push(conv);
        cin = cout;
        side /= 2;
    }
    let mut widths = vec![cin * side * side];
    widths.extend(hidden.iter().chain(std::iter::once(classes)));
    let fc0 = 2 * convs.len();
    // inputs of the linear layers
    let mut hs: Vec<Vec<S>> = vec![
        pooled
            .last()
            .map(|p| p.0.clone())
            .unwrap_or_else(|| x.iter().map(|&v| S::lift(v)).collect()),
    ];
    for j in 0..widths.len() - 1 {
        let mut a = linear(
            &hs[j],
            param[fc0 + 2 * j],
            param[fc0 + 2 * j + 1],
            widths[j],
            widths[j + 1],
        );
        if j + 1 < widths.len() - 1 {
            layers::relu_forward(&mut a);
        }
        hs.push(a);
    }
    let f = hs.pop().expect("the output layer");
    finish(f, target, |df| {
        let mut g: Vec<Vec<S>> = vec![Vec::new(); param.len()];
        let mut d = df;
        for j in (0..widths.len() - 1).rev() {
            let (dw, db, dh) = linear_backward(
                &hs[j],
                param[fc0 + 2 * j],
                &d,
                widths[j],
                widths[j + 1],
                j > 0 || !convs.is_empty(),
            );
            g[fc0 + 2 * j] = dw;
            g[fc0 + 2 * j + 1] = db;
            if let Some(mut dh) = dh {
                if j > 0 {
                    layers::relu_backward(&hs[j], &mut dh);
                }
                d = dh;
            }
        }
        for (i, conv) in layers.iter().enumerate().rev() {
            let (p, arg) = &pooled[i];
            let w = param[2 * i];
            let (dw, db, dx) = match i {
                0 => conv.backward_relu_pool(x, S::lift, w, p, arg, &d, false),
                _ => conv.backward_relu_pool(&pooled[i - 1].0, |v| v, w, p, arg, &d, true),
            };
            g[2 * i] = dw;
            g[2 * i + 1] = db;
            if let Some(dx) = dx {
                d = dx;
            }
        }
        g.concat()
    })
}

/// One conv + batch norm + ReLU (+ max-pool) layer of VGG-11 and what its backward pass needs.
struct VggLayer<S> {
    conv: Conv,
    bn: BatchNorm<S>,
    /// the output after ReLU (and pooling), and the pool's argmax when pooled
    out: Vec<S>,
    arg: Option<Vec<u8>>,
}

fn vgg<S: Real>(
    arch: &Arch,
    theta: &[S],
    x: &[S::Base],
    target: Target<S::Base>,
) -> (Vec<S>, Option<Vec<S>>) {
    let Arch::Vgg { width, bn_eps, .. } = *arch else {
        unreachable!("a VGG")
    };
    let param = blocks(arch, theta);
    let plan = Arch::vgg_channels(width);
    let (mut cin, mut side) = (IMAGE[0], IMAGE[1]);
    let mut layers: Vec<VggLayer<S>> = Vec::new();
    for (at, c) in plan.iter().enumerate() {
        let Some(cout) = *c else { continue };
        let b = 3 * layers.len();
        let conv = Conv { cin, cout, side };
        let mut z = match layers.last() {
            None => conv.forward(x, S::lift, param[b], None),
            Some(l) => conv.forward(&l.out, |v| v, param[b], None),
        };
        let bn = BatchNorm::forward(
            &mut z,
            cout,
            side * side,
            param[b + 1],
            param[b + 2],
            bn_eps,
        );
        let pool = plan.get(at + 1) == Some(&None);
        let (out, arg) = if pool {
            let (p, a) = relu_pool(&z, side);
            (p, Some(a))
        } else {
            layers::relu_forward(&mut z);
            (z, None)
        };
        layers.push(VggLayer { conv, bn, out, arg });
        cin = cout;
        if pool {
            side /= 2;
        }
    }
    let fc = 3 * layers.len();
    let fin = cin * side * side;
    let classes = arch.outputs();
    let h = &layers.last().expect("VGG has convolutions").out;
    let f = linear(h, param[fc], param[fc + 1], fin, classes);
    finish(f, target, |df| {
        let mut g: Vec<Vec<S>> = vec![Vec::new(); param.len()];
        let (dw, db, dh) = linear_backward(h, param[fc], &df, fin, classes, true);
        g[fc] = dw;
        g[fc + 1] = db;
        let mut d = dh.expect("asked for");
        for (i, l) in layers.iter().enumerate().rev() {
            let b = 3 * i;
            let relu = ReluOut {
                out: &l.out,
                arg: l.arg.as_deref(),
            };
            let (w, gamma) = (param[b], param[b + 1]);
            let (dw, dgamma, dbeta, dx) = match i {
                0 => {
                    l.bn.backward(&l.conv, x, S::lift, w, gamma, &relu, &d, false)
                }
                _ => l.bn.backward(
                    &l.conv,
                    &layers[i - 1].out,
                    |v| v,
                    w,
                    gamma,
                    &relu,
                    &d,
                    true,
                ),
            };
            g[b] = dw;
            g[b + 1] = dgamma;
            g[b + 2] = dbeta;
            d = dx.unwrap_or_default();
        }
        g.concat()
    })
}
