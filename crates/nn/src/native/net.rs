//! The paper's architectures (see `nn::model`) as forward and backward passes over a flat theta,
//! generic over [`Real`]: the loss and its gradient, in theta's block order.

use super::activation;
use super::conv::Conv;
use super::layers::{self, BatchNorm, ReluOut, linear, linear_backward, relu_pool};
use super::real::Real;
use crate::data::Loss;
use crate::layout::{Cnn, Layout, Span, TwoLayer, Vgg};
use crate::model::{Arch, IMAGE};

/// The data of an objective, in the base precision.
pub(crate) struct Batch<'a, T> {
    pub x: &'a [T],
    pub y: &'a [T],
    pub loss: Loss,
}

/// An architecture with its blocks' places in theta, found once (a two-layer net's pass takes
/// microseconds, so nothing per pass should rebuild them).
pub(crate) struct Net<'a> {
    pub arch: &'a Arch,
    pub spans: Layout<Span>,
}

impl<'a> Net<'a> {
    pub fn new(arch: &'a Arch) -> Self {
        Net {
            arch,
            spans: Layout::spans(arch),
        }
    }

    /// The model's outputs `[n, outputs]`.
    pub fn outputs<S: Real>(&self, theta: &[S], x: &[S::Base]) -> Vec<S> {
        self.pass(theta, x, None).0
    }

    /// The loss and, with `grad`, its gradient.
    pub fn loss_and_grad<S: Real>(
        &self,
        theta: &[S],
        data: &Batch<S::Base>,
        grad: bool,
    ) -> (S, Option<Vec<S>>) {
        let d = self.arch.outputs();
        let target = grad.then_some((data.y, data.loss, d));
        match self.pass(theta, data.x, target) {
            (f, Some(g)) => (f[0], Some(g)),
            (f, None) => (layers::loss(data.loss, &f, data.y, d).0, None),
        }
    }

    fn pass<S: Real>(
        &self,
        theta: &[S],
        x: &[S::Base],
        target: Target<S::Base>,
    ) -> (Vec<S>, Option<Vec<S>>) {
        match self.spans.slices(theta) {
            Layout::TwoLayer(param) => fnn(self.arch, param, x, target),
            Layout::Cnn(param) => cnn(self.arch, param, x, target),
            Layout::Vgg(param) => vgg(self.arch, param, x, target),
        }
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

/// `f(x) = sum_k a_k act(w_k x + b_k) (+ c)`: pre-activations of all points and neurons, the
/// activation over them in one flat loop (which the compiler vectorises), then the sums.
///
/// With `d_i = dL/df(x_i)`, `z_ik = w_k x_i + b_k`, `h = act(z)` and `s = act'(z)`:
/// `dL/da_k = sum_i d_i h_ik`, `dL/dz_ik = d_i a_k s_ik`, `dL/dw_k = sum_i dL/dz_ik x_i`,
/// `dL/db_k = sum_i dL/dz_ik`, `dL/dc = sum_i d_i`.
fn fnn<S: Real>(
    arch: &Arch,
    net: TwoLayer<&[S]>,
    x: &[S::Base],
    target: Target<S::Base>,
) -> (Vec<S>, Option<Vec<S>>) {
    let Arch::Fnn { width: m, act, .. } = *arch else {
        unreachable!("an FNN")
    };
    let (a, w, b) = (net.a, net.w, net.b);
    let c = net.c.map_or(S::zero(), |c| c[0]);
    let n = x.len();
    let mut z = vec![S::zero(); n * m];
    for (zi, &xi) in z.chunks_mut(m).zip(x) {
        let xi = S::lift(xi);
        for ((z, &w), &b) in zi.iter_mut().zip(w).zip(b) {
            *z = w * xi + b;
        }
    }
    let h = activation::values(act, &z);
    let f: Vec<S> = h
        .chunks(m)
        .map(|hi| hi.iter().zip(a).fold(c, |f, (&h, &a)| f + a * h))
        .collect();
    finish(f, target, |df| {
        let (mut ga, mut gw, mut gb) = (vec![S::zero(); m], vec![S::zero(); m], vec![S::zero(); m]);
        let slopes = activation::slopes(act, &z, &h);
        super::vectorized(
            #[inline(always)]
            || {
                // slices of length m, so the loop below has no bounds checks
                let (ga, gw, gb) = (&mut ga[..m], &mut gw[..m], &mut gb[..m]);
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
        let gc = net
            .c
            .map(|_| vec![df.iter().fold(S::zero(), |s, &d| s + d)]);
        Layout::TwoLayer(TwoLayer {
            a: ga,
            w: gw,
            b: gb,
            c: gc,
        })
        .concat()
    })
}

/// Conv + ReLU + max-pool per entry of `convs`, then ReLU linear layers, then the output layer.
fn cnn<S: Real>(
    arch: &Arch,
    param: Cnn<&[S]>,
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
    let mut layers = Vec::new();
    let (mut cin, mut side) = (IMAGE[0], IMAGE[1]);
    // pooled outputs and argmaxes; pooled[i] is the input of conv i + 1
    let mut pooled: Vec<(Vec<S>, Vec<u8>)> = Vec::new();
    for (&cout, p) in convs.iter().zip(&param.convs) {
        let conv = Conv { cin, cout, side };
        pooled.push(match pooled.last() {
            None => conv.forward_relu_pool(x, S::lift, p.w, Some(p.b)),
            Some((h, _)) => conv.forward_relu_pool(h, |v| v, p.w, Some(p.b)),
        });
        layers.push(conv);
        cin = cout;
        side /= 2;
    }
    let mut widths = vec![cin * side * side];
    widths.extend(hidden.iter().chain(std::iter::once(classes)));
    // inputs of the linear layers
    let mut hs: Vec<Vec<S>> = vec![
        pooled
            .last()
            .map(|p| p.0.clone())
            .unwrap_or_else(|| x.iter().map(|&v| S::lift(v)).collect()),
    ];
    for (j, p) in param.fcs.iter().enumerate() {
        let mut a = linear(&hs[j], p.w, p.b, widths[j], widths[j + 1]);
        if j + 1 < param.fcs.len() {
            layers::relu_forward(&mut a);
        }
        hs.push(a);
    }
    let f = hs.pop().expect("the output layer");
    finish(f, target, |df| {
        let mut d = df;
        let mut fcs = Vec::new();
        for (j, p) in param.fcs.iter().enumerate().rev() {
            let input_grad = j > 0 || !convs.is_empty();
            let grad = linear_backward(&hs[j], p.w, &d, widths[j], widths[j + 1], input_grad);
            fcs.push(grad.params);
            if let Some(mut dh) = grad.input {
                if j > 0 {
                    layers::relu_backward(&hs[j], &mut dh);
                }
                d = dh;
            }
        }
        let mut conv_grads = Vec::new();
        for (i, (conv, p)) in layers.iter().zip(&param.convs).enumerate().rev() {
            let (out, arg) = &pooled[i];
            let grad = match i {
                0 => conv.backward_relu_pool(x, S::lift, p.w, out, arg, &d, false),
                _ => conv.backward_relu_pool(&pooled[i - 1].0, |v| v, p.w, out, arg, &d, true),
            };
            conv_grads.push(grad.params);
            if let Some(dx) = grad.input {
                d = dx;
            }
        }
        fcs.reverse();
        conv_grads.reverse();
        Layout::Cnn(Cnn {
            convs: conv_grads,
            fcs,
        })
        .concat()
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
    param: Vgg<&[S]>,
    x: &[S::Base],
    target: Target<S::Base>,
) -> (Vec<S>, Option<Vec<S>>) {
    let Arch::Vgg { width, bn_eps, .. } = *arch else {
        unreachable!("a VGG")
    };
    let plan = Arch::vgg_channels(width);
    let (mut cin, mut side) = (IMAGE[0], IMAGE[1]);
    let mut layers: Vec<VggLayer<S>> = Vec::new();
    for (at, c) in plan.iter().enumerate() {
        let Some(cout) = *c else { continue };
        let p = &param.convs[layers.len()];
        let conv = Conv { cin, cout, side };
        let mut z = match layers.last() {
            None => conv.forward(x, S::lift, p.w, None),
            Some(l) => conv.forward(&l.out, |v| v, p.w, None),
        };
        let bn = BatchNorm::forward(&mut z, cout, side * side, p.gamma, p.beta, bn_eps);
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
    let fin = cin * side * side;
    let classes = arch.outputs();
    let h = &layers.last().expect("VGG has convolutions").out;
    let f = linear(h, param.fc.w, param.fc.b, fin, classes);
    finish(f, target, |df| {
        let fc = linear_backward(h, param.fc.w, &df, fin, classes, true);
        let mut d = fc.input.expect("asked for");
        let mut convs = Vec::new();
        for (i, (l, p)) in layers.iter().zip(&param.convs).enumerate().rev() {
            let relu = ReluOut {
                out: &l.out,
                arg: l.arg.as_deref(),
            };
            let grad = match i {
                0 => l.bn.backward(&l.conv, x, S::lift, p, &relu, &d, false),
                _ => {
                    l.bn.backward(&l.conv, &layers[i - 1].out, |v| v, p, &relu, &d, true)
                }
            };
            convs.push(grad.params);
            d = grad.input.unwrap_or_default();
        }
        convs.reverse();
        Layout::Vgg(Vgg {
            convs,
            fc: fc.params,
        })
        .concat()
    })
}
