//! 3x3 convolutions with padding 1 on `[n, c, s, s]` (NCHW, row-major) buffers, generic over
//! [`Real`]: im2col and GEMM (faer) on chunks of images, in parallel over the chunks, with the
//! hand-derived backward pass, and the convolution + ReLU + max-pool of the CNNs fused per chunk.
//! The chunks and the groups of chunks whose weight gradients are summed together are fixed by
//! the shapes (never by the thread count), and the groups' sums are added in order, so every
//! result is the same from run to run and on any number of threads.

use rayon::prelude::*;

use super::grad::LayerGrad;
use super::planes::{add_into, relu_pool_plane, sum_of, unpool_plane};
use super::real::{Gemm, Real};
use crate::layout::Affine;

/// Columns of the im2col matrix per chunk of images (at least one image): small enough that
/// the deep layers of VGG, with few pixels per image, still make several chunks.
const CHUNK_COLUMNS: usize = 256;
/// The weight gradient is summed over at most this many groups of chunks, each accumulated by one
/// task; more groups balance the load, fewer save memory.
const GROUPS: usize = 8;

/// A 3x3 convolution with padding 1 over `[n, cin, s, s]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conv {
    pub cin: usize,
    pub cout: usize,
    pub side: usize,
}

impl Conv {
    fn rows(&self) -> usize {
        self.cin * 9
    }

    /// Where kernel tap (ky, kx) reads: output positions `p` of a plane in `range` read input
    /// position `p + shift`, except those in column `wrap` (x = 0 or s - 1), whose source is
    /// across the row's edge, in the zero padding.
    fn tap(&self, ky: usize, kx: usize) -> (std::ops::Range<usize>, isize, Option<usize>) {
        let s = self.side;
        let shift = (ky as isize - 1) * s as isize + kx as isize - 1;
        let (rows_lo, rows_hi) = (usize::from(ky == 0) * s, (s - usize::from(ky == 2)) * s);
        let lo = rows_lo.max((-shift).max(0) as usize);
        let hi = rows_hi.min((s * s).saturating_sub(shift.max(0) as usize));
        let wrap = match kx {
            0 => Some(0),
            2 => Some(s - 1),
            _ => None,
        };
        (lo..hi.max(lo), shift, wrap)
    }

    /// Positions of column `x` in a plane.
    fn column(&self, x: usize) -> impl Iterator<Item = usize> {
        (x..self.side * self.side).step_by(self.side)
    }

    /// `[cin * 9, nb * s * s]`: row (ci, ky, kx), column (image, y, x) holds
    /// `x[image, ci, y + ky - 1, x + kx - 1]` (0 outside).
    fn im2col<I: Copy, S: Real>(&self, x: &[I], lift: impl Fn(I) -> S) -> Vec<S> {
        let ss = self.side * self.side;
        let nb = x.len() / (self.cin * ss);
        let cols_n = nb * ss;
        let mut cols = vec![S::zero(); self.rows() * cols_n];
        for ci in 0..self.cin {
            for ky in 0..3 {
                for kx in 0..3 {
                    let row = &mut cols[((ci * 3 + ky) * 3 + kx) * cols_n..][..cols_n];
                    let (range, shift, wrap) = self.tap(ky, kx);
                    let from = range.start.wrapping_add_signed(shift);
                    for (b, dst) in row.chunks_mut(ss).enumerate() {
                        let src = &x[(b * self.cin + ci) * ss + from..][..range.len()];
                        for (d, &v) in dst[range.clone()].iter_mut().zip(src) {
                            *d = lift(v);
                        }
                        for p in wrap.into_iter().flat_map(|x| self.column(x)) {
                            dst[p] = S::zero();
                        }
                    }
                }
            }
        }
        cols
    }

    /// Adds the columns back onto `[nb, cin, s, s]` (the adjoint of `im2col`); `cols` is
    /// scratch (its entries in the padding are zeroed, so that each tap is one contiguous sum).
    fn col2im<S: Real>(&self, cols: &mut [S], dx: &mut [S]) {
        let ss = self.side * self.side;
        let nb = dx.len() / (self.cin * ss);
        let cols_n = nb * ss;
        for ci in 0..self.cin {
            for ky in 0..3 {
                for kx in 0..3 {
                    let row = &mut cols[((ci * 3 + ky) * 3 + kx) * cols_n..][..cols_n];
                    let (range, shift, wrap) = self.tap(ky, kx);
                    let to = range.start.wrapping_add_signed(shift);
                    for (b, src) in row.chunks_mut(ss).enumerate() {
                        for p in wrap.into_iter().flat_map(|x| self.column(x)) {
                            src[p] = S::zero();
                        }
                        let dst = &mut dx[(b * self.cin + ci) * ss + to..][..range.len()];
                        for (d, &v) in dst.iter_mut().zip(&src[range.clone()]) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }

    /// Images per chunk.
    pub fn images_per_chunk(&self) -> usize {
        (CHUNK_COLUMNS / (self.side * self.side)).max(1)
    }

    /// The convolution of `x: [n, cin, s, s]` with `w: [cout, cin, 3, 3]` plus the bias, one
    /// chunk of images at a time: `finish(z, nb, out)` gets the chunk's `z: [cout, nb * s * s]`
    /// (channel-major) and the chunk's item of `outs` (one per chunk, in order) to write into.
    pub fn forward_into<I: Copy + Sync, S: Real, O: Send>(
        &self,
        x: &[I],
        lift: impl Fn(I) -> S + Sync,
        w: &[S],
        bias: Option<&[S]>,
        outs: impl IndexedParallelIterator<Item = O>,
        finish: impl Fn(&[S], usize, O) + Sync,
    ) {
        let ss = self.side * self.side;
        outs.zip(x.par_chunks(self.images_per_chunk() * self.cin * ss))
            .for_each(|(out, x)| {
                let nb = x.len() / (self.cin * ss);
                let cols = self.im2col(x, &lift);
                let mut z = vec![S::zero(); self.cout * nb * ss];
                S::gemm(&mut z, w, &cols, Gemm::new(self.cout, self.rows(), nb * ss));
                if let Some(bias) = bias {
                    for (row, &b) in z.chunks_mut(nb * ss).zip(bias) {
                        for v in row {
                            *v += b;
                        }
                    }
                }
                finish(&z, nb, out);
            });
    }

    /// `[n, cout, s, s]`: the convolution of `x` (see [`Conv::forward_into`]).
    pub fn forward<I: Copy + Sync, S: Real>(
        &self,
        x: &[I],
        lift: impl Fn(I) -> S + Sync,
        w: &[S],
        bias: Option<&[S]>,
    ) -> Vec<S> {
        let ss = self.side * self.side;
        let mut out = vec![S::zero(); x.len() / self.cin * self.cout];
        let outs = out.par_chunks_mut(self.images_per_chunk() * self.cout * ss);
        self.forward_into(x, lift, w, bias, outs, |z, nb, out: &mut [S]| {
            for (c, row) in z.chunks(nb * ss).enumerate() {
                for (i, plane) in row.chunks(ss).enumerate() {
                    out[(i * self.cout + c) * ss..][..ss].copy_from_slice(plane);
                }
            }
        });
        out
    }

    /// The gradients of the weights `[cout, cin * 9]` and of the bias `[cout]`, and (with
    /// `input_grad`) of the input `[n, cin, s, s]`. `grad_of(chunk, nb, dz)` fills the output's
    /// gradient of chunk number `chunk` (`nb` images) into `dz: [cout, nb * s * s]`
    /// (channel-major).
    pub fn backward_from<I: Copy + Sync, S: Real>(
        &self,
        x: &[I],
        lift: impl Fn(I) -> S + Sync,
        w: &[S],
        grad_of: impl Fn(usize, usize, &mut [S]) + Sync,
        input_grad: bool,
    ) -> LayerGrad<Affine<Vec<S>>, S> {
        let ss = self.side * self.side;
        let chunks: Vec<(usize, &[I])> = x
            .chunks(self.images_per_chunk() * self.cin * ss)
            .enumerate()
            .collect();
        let parts: Vec<(Vec<S>, Vec<S>, Vec<S>)> = chunks
            .par_chunks(chunks.len().div_ceil(GROUPS))
            .map(|group| {
                let mut dw = vec![S::zero(); self.cout * self.rows()];
                let mut db = vec![S::zero(); self.cout];
                let mut dx = Vec::new();
                for &(k, x) in group {
                    let nb = x.len() / (self.cin * ss);
                    let mut dz = vec![S::zero(); self.cout * nb * ss];
                    grad_of(k, nb, &mut dz);
                    for (row, db) in dz.chunks(nb * ss).zip(&mut db) {
                        *db += sum_of(row, |v| v);
                    }
                    let cols = self.im2col(x, &lift);
                    let shape = Gemm::new(self.cout, nb * ss, self.rows());
                    S::gemm(&mut dw, &dz, &cols, shape.b_transposed().accumulate(true));
                    if input_grad {
                        let mut dcols = cols;
                        let shape = Gemm::new(self.rows(), self.cout, nb * ss);
                        S::gemm(&mut dcols, w, &dz, shape.a_transposed());
                        let start = dx.len();
                        dx.resize(start + nb * self.cin * ss, S::zero());
                        self.col2im(&mut dcols, &mut dx[start..]);
                    }
                }
                (dw, db, dx)
            })
            .collect();
        let mut dw = vec![S::zero(); self.cout * self.rows()];
        let mut db = vec![S::zero(); self.cout];
        let mut dx = input_grad.then(|| Vec::with_capacity(x.len()));
        for (pw, pb, px) in parts {
            add_into(&mut dw, &pw);
            add_into(&mut db, &pb);
            if let Some(dx) = dx.as_mut() {
                dx.extend(px);
            }
        }
        LayerGrad {
            params: Affine { w: dw, b: db },
            input: dx,
        }
    }

    /// Convolution, ReLU and 2x2 max-pooling in one pass per chunk (the full-size output never
    /// exists): the pooled `[n, cout, s/2, s/2]` and each window's argmax.
    pub fn forward_relu_pool<I: Copy + Sync, S: Real>(
        &self,
        x: &[I],
        lift: impl Fn(I) -> S + Sync,
        w: &[S],
        bias: Option<&[S]>,
    ) -> (Vec<S>, Vec<u8>) {
        let hh = self.side * self.side / 4;
        let n = x.len() / (self.cin * self.side * self.side);
        let mut pooled = vec![S::zero(); n * self.cout * hh];
        let mut arg = vec![0u8; pooled.len()];
        let per = self.images_per_chunk() * self.cout * hh;
        let outs = pooled.par_chunks_mut(per).zip(arg.par_chunks_mut(per));
        self.forward_into(x, lift, w, bias, outs, |z, nb, (pooled, arg)| {
            let ss = self.side * self.side;
            for (c, row) in z.chunks(nb * ss).enumerate() {
                for (i, plane) in row.chunks(ss).enumerate() {
                    let at = (i * self.cout + c) * hh;
                    relu_pool_plane(
                        plane,
                        self.side,
                        &mut pooled[at..at + hh],
                        &mut arg[at..at + hh],
                    );
                }
            }
        });
        (pooled, arg)
    }

    /// [`Conv::backward_from`] the gradient `dp` of [`Conv::forward_relu_pool`]'s output.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_relu_pool<I: Copy + Sync, S: Real>(
        &self,
        x: &[I],
        lift: impl Fn(I) -> S + Sync,
        w: &[S],
        pooled: &[S],
        arg: &[u8],
        dp: &[S],
        input_grad: bool,
    ) -> LayerGrad<Affine<Vec<S>>, S> {
        let (side, hh) = (self.side, self.side * self.side / 4);
        let per = self.images_per_chunk() * self.cout * hh;
        let grad_of = |k: usize, nb: usize, out: &mut [S]| {
            for (c, row) in out.chunks_mut(nb * side * side).enumerate() {
                for (i, plane) in row.chunks_mut(side * side).enumerate() {
                    let at = k * per + (i * self.cout + c) * hh;
                    let r = at..at + hh;
                    unpool_plane(&pooled[r.clone()], &arg[r.clone()], &dp[r], side, plane);
                }
            }
        };
        self.backward_from(x, lift, w, grad_of, input_grad)
    }
}

#[cfg(test)]
mod tests {
    use super::Conv;

    /// Every output position of every tap, on planes from 1x1 up: inside `range` and off the
    /// `wrap` column exactly when its source pixel is inside the plane, and then read from
    /// `p + shift`.
    #[test]
    fn taps_read_the_padded_neighbourhood() {
        for s in 1..=6usize {
            let conv = Conv {
                cin: 1,
                cout: 1,
                side: s,
            };
            for (ky, kx) in (0..3).flat_map(|ky| (0..3).map(move |kx| (ky, kx))) {
                let (range, shift, wrap) = conv.tap(ky, kx);
                for p in 0..s * s {
                    let (y, x) = ((p / s) as isize, (p % s) as isize);
                    let (sy, sx) = (y + ky as isize - 1, x + kx as isize - 1);
                    let inside = (0..s as isize).contains(&sy) && (0..s as isize).contains(&sx);
                    let read = range.contains(&p) && wrap != Some(p % s);
                    assert_eq!(read, inside, "side {s}, tap ({ky}, {kx}), position {p}");
                    if read {
                        assert_eq!(p as isize + shift, sy * s as isize + sx);
                    }
                }
            }
        }
    }
}
