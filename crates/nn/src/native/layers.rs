//! The layers of the paper's networks other than the convolution (`conv`), on `[n, c, s, s]`
//! (NCHW, row-major) buffers, forward and hand-derived backward, generic over [`Real`]: ReLU and
//! max-pooling, batch norm, linear layers and the losses. Parallel work is split by the shapes
//! (never by the thread count) and partial sums are added in a fixed order, so every result is
//! the same from run to run and on any number of threads.

use rayon::prelude::*;

use super::conv::Conv;
use super::grad::LayerGrad;
use super::planes::{add_into, relu, relu_pool_plane, sum_of, sum_zip, unpool_plane};
use super::real::{Gemm, Real};
use crate::data::Loss;
use crate::layout::{Affine, ConvBn};

/// [`relu_pool_plane`] of every plane of `[n, c, s, s]`.
pub(crate) fn relu_pool<S: Real>(x: &[S], side: usize) -> (Vec<S>, Vec<u8>) {
    let hh = side * side / 4;
    let mut out = vec![S::zero(); x.len() / 4];
    let mut arg = vec![0u8; out.len()];
    let per = planes_per_task(side * side);
    out.par_chunks_mut(per * hh)
        .zip(arg.par_chunks_mut(per * hh))
        .zip(x.par_chunks(per * side * side))
        .for_each(|((out, arg), x)| {
            for ((out, arg), x) in out
                .chunks_mut(hh)
                .zip(arg.chunks_mut(hh))
                .zip(x.chunks(side * side))
            {
                relu_pool_plane(x, side, out, arg);
            }
        });
    (out, arg)
}

/// Planes (or images) of `unit` elements per parallel task: enough work per task to outweigh
/// its overhead. Fixed by the shape, so results do not depend on the threads.
fn planes_per_task(unit: usize) -> usize {
    (TASK_ELEMENTS / unit).max(1)
}

const TASK_ELEMENTS: usize = 1 << 14;

/// Per channel of `[n, channels, ss]`: the sum over its planes of `plane(channel, start)`, in
/// parallel over fixed groups of images whose sums are added in order.
fn channel_sums<S: Real, const N: usize>(
    len: usize,
    channels: usize,
    ss: usize,
    plane: impl Fn(usize, usize) -> [S; N] + Sync,
) -> Vec<[S; N]> {
    let image = channels * ss;
    let per = planes_per_task(image) * image;
    let starts: Vec<usize> = (0..len).step_by(per).collect();
    let parts: Vec<Vec<[S; N]>> = starts
        .par_iter()
        .map(|&start| {
            let mut acc = vec![[S::zero(); N]; channels];
            for (i, p) in (start..(start + per).min(len)).step_by(ss).enumerate() {
                add_into(&mut acc[i % channels], &plane(i % channels, p));
            }
            acc
        })
        .collect();
    let mut total = vec![[S::zero(); N]; channels];
    for part in parts {
        for (t, p) in total.iter_mut().zip(&part) {
            add_into(t, p);
        }
    }
    total
}

pub(crate) fn relu_forward<S: Real>(x: &mut [S]) {
    x.par_iter_mut().for_each(|v| *v = relu(*v));
}

/// Zeroes the gradient where the ReLU's output is not positive.
pub(crate) fn relu_backward<S: Real>(out: &[S], d: &mut [S]) {
    d.par_iter_mut().zip(out).for_each(|(d, o)| {
        if o.primal() <= 0.0 {
            *d = S::zero();
        }
    });
}

/// Batch normalisation with the batch's statistics (biased variance), per channel of
/// `[n, c, ss]`.
pub(crate) struct BatchNorm<S> {
    pub xhat: Vec<S>,
    pub inv_std: Vec<S>,
}

impl<S: Real> BatchNorm<S> {
    /// Normalises `x` in place to `gamma x_hat + beta`.
    pub fn forward(
        x: &mut [S],
        channels: usize,
        ss: usize,
        gamma: &[S],
        beta: &[S],
        eps: f64,
    ) -> Self {
        let m = S::of((x.len() / channels) as f64);
        let mean: Vec<S> =
            channel_sums(x.len(), channels, ss, |_, p| [sum_of(&x[p..p + ss], |v| v)])
                .into_iter()
                .map(|[s]| s / m)
                .collect();
        let sq = channel_sums(x.len(), channels, ss, |c, p| {
            let (x, mean) = (&x[p..p + ss], mean[c]);
            [sum_of(x, |v| (v - mean) * (v - mean))]
        });
        let inv_std: Vec<S> = sq
            .into_iter()
            .map(|[q]| S::of(1.0) / (q / m + S::of(eps)).sqrt())
            .collect();
        let mut xhat = vec![S::zero(); x.len()];
        let image = channels * ss;
        let per = planes_per_task(image) * image;
        x.par_chunks_mut(per)
            .zip(xhat.par_chunks_mut(per))
            .for_each(|(x, h)| {
                for (p, (x, h)) in x.chunks_mut(ss).zip(h.chunks_mut(ss)).enumerate() {
                    let c = p % channels;
                    let (mean, inv, g, b) = (mean[c], inv_std[c], gamma[c], beta[c]);
                    for (v, h) in x.iter_mut().zip(h) {
                        *h = (*v - mean) * inv;
                        *v = g * *h + b;
                    }
                }
            });
        BatchNorm { xhat, inv_std }
    }

    /// The backward pass of a VGG layer, conv -> this batch norm -> ReLU (-> max-pool), from
    /// the gradient `d` of the layer's output, with no full-size intermediate: the gradient at
    /// the ReLU's input is recomputed plane by plane, for the batch norm's sums and again inside
    /// each chunk of the convolution's backward pass. Returns the gradients of the convolution's
    /// weights, gamma, beta and (with `input_grad`) the layer's input.
    ///
    /// Per channel, over its `M` values (all images and positions), with `x_hat = (z - mean) /
    /// sigma`, `y = gamma x_hat + beta` and `dy = dL/dy` (through the ReLU and pool):
    /// `dL/dbeta = sum dy`, `dL/dgamma = sum dy x_hat`, and, since `mean` and `sigma` depend on
    /// every `z`, `dL/dz = gamma / sigma (dy - (sum dy) / M - x_hat (sum dy x_hat) / M)`, which
    /// then goes back through the convolution.
    #[allow(clippy::too_many_arguments)]
    pub fn backward<I: Copy + Sync>(
        &self,
        conv: &Conv,
        x: &[I],
        lift: impl Fn(I) -> S + Sync,
        param: &ConvBn<&[S]>,
        relu: &ReluOut<S>,
        d: &[S],
        input_grad: bool,
    ) -> LayerGrad<ConvBn<Vec<S>>, S> {
        let (channels, side) = (conv.cout, conv.side);
        let ss = side * side;
        let len = self.xhat.len();
        let m = S::of((len / channels) as f64);
        let (sd, sdx): (Vec<S>, Vec<S>) = channel_sums(len, channels, ss, |_, p| {
            let mut dy = vec![S::zero(); ss];
            relu.plane_grad(p / ss, side, d, &mut dy);
            let h = &self.xhat[p..p + ss];
            [sum_of(&dy, |v| v), sum_zip(&dy, h, |d, h| d * h)]
        })
        .into_iter()
        .map(|[a, b]| (a, b))
        .unzip();
        let images = conv.images_per_chunk();
        let grad_of = |k: usize, nb: usize, out: &mut [S]| {
            for (c, row) in out.chunks_mut(nb * ss).enumerate() {
                let scale = param.gamma[c] * self.inv_std[c];
                let (md, mdx) = (sd[c] / m, sdx[c] / m);
                for (i, plane) in row.chunks_mut(ss).enumerate() {
                    let p = (k * images + i) * channels + c;
                    relu.plane_grad(p, side, d, plane);
                    for (v, &h) in plane.iter_mut().zip(&self.xhat[p * ss..][..ss]) {
                        *v = scale * (*v - md - h * mdx);
                    }
                }
            }
        };
        let grad = conv.backward_from(x, lift, param.w, grad_of, input_grad);
        LayerGrad {
            params: ConvBn {
                w: grad.params.w,
                gamma: sdx,
                beta: sd,
            },
            input: grad.input,
        }
    }
}

/// The output of a ReLU, and of the 2x2 max-pool after it when `arg` (the windows' argmax) is
/// given: what the backward pass needs to send a gradient back through them.
pub(crate) struct ReluOut<'a, S> {
    pub out: &'a [S],
    pub arg: Option<&'a [u8]>,
}

impl<S: Real> ReluOut<'_, S> {
    /// The gradient at the ReLU's input on plane `p` (of side `side`), from the gradient `d` of
    /// the output.
    fn plane_grad(&self, p: usize, side: usize, d: &[S], dy: &mut [S]) {
        let ss = side * side;
        match self.arg {
            Some(arg) => {
                let r = p * ss / 4..(p + 1) * ss / 4;
                unpool_plane(&self.out[r.clone()], &arg[r.clone()], &d[r], side, dy);
            }
            None => {
                let (out, d) = (&self.out[p * ss..][..ss], &d[p * ss..][..ss]);
                for ((dy, o), &d) in dy.iter_mut().zip(out).zip(d) {
                    *dy = if o.primal() > 0.0 { d } else { S::zero() };
                }
            }
        }
    }
}

/// `h @ w + b` for `h: [n, fin]`, `w: [fin, fout]`.
pub(crate) fn linear<S: Real>(h: &[S], w: &[S], b: &[S], fin: usize, fout: usize) -> Vec<S> {
    let n = h.len() / fin;
    let mut out = vec![S::zero(); n * fout];
    for row in out.chunks_mut(fout) {
        row.copy_from_slice(b);
    }
    S::gemm(&mut out, h, w, Gemm::new(n, fin, fout).accumulate(true));
    out
}

/// The gradients of `w`, `b` and (with `input_grad`) `h` from the output's gradient `da`:
/// for `a = h w + b`, `dL/dw = h^T da`, `dL/db = sum over rows of da`, `dL/dh = da w^T`.
pub(crate) fn linear_backward<S: Real>(
    h: &[S],
    w: &[S],
    da: &[S],
    fin: usize,
    fout: usize,
    input_grad: bool,
) -> LayerGrad<Affine<Vec<S>>, S> {
    let n = h.len() / fin;
    let mut dw = vec![S::zero(); fin * fout];
    S::gemm(&mut dw, h, da, Gemm::new(fin, n, fout).a_transposed());
    let mut db = vec![S::zero(); fout];
    for row in da.chunks(fout) {
        add_into(&mut db, row);
    }
    let dh = input_grad.then(|| {
        let mut dh = vec![S::zero(); n * fin];
        S::gemm(&mut dh, da, w, Gemm::new(n, fout, fin).b_transposed());
        dh
    });
    LayerGrad {
        params: Affine { w: dw, b: db },
        input: dh,
    }
}

/// The loss of outputs `f: [n, d]` against targets `y` (the definitions of [`Loss`]) and its
/// gradient with respect to `f`.
pub(crate) fn loss<S: Real>(loss: Loss, f: &[S], y: &[S::Base], d: usize) -> (S, Vec<S>) {
    let n = f.len() / d;
    let mut df = vec![S::zero(); f.len()];
    let mut total = S::zero();
    match loss {
        Loss::Mse | Loss::HalfMse => {
            let half = loss == Loss::HalfMse;
            let scale = S::of(if half { 1.0 } else { 2.0 } / f.len() as f64);
            for ((g, &f), &y) in df.iter_mut().zip(f).zip(y) {
                let r = f - S::lift(y);
                total += r * r;
                *g = scale * r;
            }
            total = total / S::of(f.len() as f64);
            if half {
                total *= S::of(0.5);
            }
        }
        Loss::CrossEntropy => {
            let inv_n = S::of(1.0 / n as f64);
            for ((f, y), g) in f.chunks(d).zip(y.chunks(d)).zip(df.chunks_mut(d)) {
                let m = S::of(
                    f.iter()
                        .map(|v| v.primal())
                        .fold(f64::NEG_INFINITY, f64::max),
                );
                let mut sum = S::zero();
                for &v in f {
                    sum += (v - m).exp();
                }
                let lse = sum.ln();
                let mut ysum = S::zero();
                for (&v, &y) in f.iter().zip(y) {
                    total -= S::lift(y) * (v - m - lse);
                    ysum += S::lift(y);
                }
                for ((g, &v), &y) in g.iter_mut().zip(f).zip(y) {
                    *g = ((v - m - lse).exp() * ysum - S::lift(y)) * inv_n;
                }
            }
            total *= inv_n;
        }
    }
    (total, df)
}
