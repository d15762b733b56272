//! Fixed-order sums and the per-plane primitives that the convolution (`conv`) and the other
//! layers (`layers`) share: ReLU fused with 2x2 max-pooling of one plane, and its backward.

use super::real::Real;

/// `f(a_0, b_0) + f(a_1, b_1) + ..` in eight interleaved partial sums, so that the additions do
/// not wait on each other (and vectorise); the order is fixed, so the result is too.
pub(super) fn sum_zip<S: Real>(a: &[S], b: &[S], f: impl Fn(S, S) -> S) -> S {
    let mut acc = [S::zero(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (ca, cb) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += f(ca[l], cb[l]);
        }
    }
    for ((acc, &a), &b) in acc.iter_mut().zip(ra).zip(rb) {
        *acc += f(a, b);
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// `f(x_0) + f(x_1) + ..`, as [`sum_zip`].
pub(super) fn sum_of<S: Real>(x: &[S], f: impl Fn(S) -> S) -> S {
    sum_zip(x, x, |v, _| f(v))
}

pub(super) fn add_into<S: Real>(acc: &mut [S], part: &[S]) {
    for (a, &p) in acc.iter_mut().zip(part) {
        *a += p;
    }
}

pub(super) fn relu<S: Real>(x: S) -> S {
    if x.primal() > 0.0 { x } else { S::zero() }
}

/// ReLU then 2x2 max-pooling (stride 2) of one `[s, s]` plane into `[s/2, s/2]`, with the
/// position (0..4) of each window's maximum. `max(relu(.)) = relu(max(.))`, so the two fuse.
pub(super) fn relu_pool_plane<S: Real>(x: &[S], side: usize, out: &mut [S], arg: &mut [u8]) {
    let half = side / 2;
    for (y, (top, bottom)) in x.chunks(2 * side).map(|r| r.split_at(side)).enumerate() {
        let out = &mut out[y * half..][..half];
        let arg = &mut arg[y * half..][..half];
        for xo in 0..half {
            let (best, max) = if S::DUAL {
                window_max_by_index(top, bottom, 2 * xo)
            } else {
                window_max_by_value(top, bottom, 2 * xo)
            };
            out[xo] = if max.primal() > 0.0 { max } else { S::zero() };
            arg[xo] = best;
        }
    }
}

// The maximum of the window at column `x` of rows `top` and `bottom` and its position (0..4):
// a tournament of selects, with no branch for the data to mispredict; ties go to the first
// position, as in the autodiff path. On floats the selects of values vectorise; on dual numbers
// they would branch, so the tournament runs on the primal values and fetches the winner.

#[inline(always)]
fn window_max_by_value<S: Real>(top: &[S], bottom: &[S], x: usize) -> (u8, S) {
    let pick = |i: u8, a: S, b: S| {
        if b.primal() > a.primal() {
            (i + 1, b)
        } else {
            (i, a)
        }
    };
    let (i01, m01) = pick(0, top[x], top[x + 1]);
    let (i23, m23) = pick(2, bottom[x], bottom[x + 1]);
    if m23.primal() > m01.primal() {
        (i23, m23)
    } else {
        (i01, m01)
    }
}

#[inline(always)]
fn window_max_by_index<S: Real>(top: &[S], bottom: &[S], x: usize) -> (u8, S) {
    let (a, b) = (top[x].primal(), top[x + 1].primal());
    let (c, d) = (bottom[x].primal(), bottom[x + 1].primal());
    let (i01, m01) = if b > a { (1, b) } else { (0, a) };
    let (i23, m23) = if d > c { (3, d) } else { (2, c) };
    let best = if m23 > m01 { i23 } else { i01 };
    let row = if best < 2 { top } else { bottom };
    (best, row[x + (best & 1) as usize])
}

/// The gradient of one plane of [`relu_pool_plane`]'s input from its output's gradient `d`.
pub(super) fn unpool_plane<S: Real>(pooled: &[S], arg: &[u8], d: &[S], side: usize, dx: &mut [S]) {
    let half = side / 2;
    dx.fill(S::zero());
    for (i, ((p, &a), &d)) in pooled.iter().zip(arg).zip(d).enumerate() {
        if p.primal() > 0.0 {
            let (y, xo, k) = (i / half, i % half, a as usize);
            dx[(2 * y + k / 2) * side + 2 * xo + k % 2] = d;
        }
    }
}
