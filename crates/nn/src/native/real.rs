//! The number types of the native path: `f32` and `f64`, and dual numbers over them.
//!
//! The network code is written once, generic over [`Real`]. Run on `f32`/`f64` it gives the loss
//! and the gradient; run on [`Dual`] numbers (theta + eps v) the same hand-derived backward pass
//! differentiates itself forward, and the tangent of the gradient is the exact Hessian-vector
//! product H v (forward-over-reverse, Pearlmutter's R-operator). Comparisons (ReLU masks, the
//! max-pool's argmax, the log-softmax shift) look at the primal value only, as the R-operator does.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use faer::{Accum, MatMut, MatRef, Par};

pub(crate) trait Real:
    Copy
    + Debug
    + Default
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    /// The plain float underneath (`Self` for floats).
    type Base: Real<Base = Self::Base>;
    /// A dual number (two floats), where a choice between two values compiles to a branch
    /// rather than a vector select (see `planes::relu_pool_plane`).
    const DUAL: bool = false;

    fn of(x: f64) -> Self;
    fn lift(b: Self::Base) -> Self;
    fn primal(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn tanh(self) -> Self;
    fn sqrt(self) -> Self;

    fn zero() -> Self {
        Self::of(0.0)
    }

    /// `tanh` of every element.
    fn tanh_all(z: &[Self]) -> Vec<Self> {
        z.iter().map(|&z| z.tanh()).collect()
    }

    /// `c (+)= op(a) op(b)`, shaped as `shape` says.
    fn gemm(c: &mut [Self], a: &[Self], b: &[Self], shape: Gemm);
}

/// The shape of a matrix product `c (+)= op(a) op(b)` on row-major buffers: `op(a): [m, k]`,
/// `op(b): [k, n]`, `c: [m, n]`. `op(a)` is `a`, or the transpose of `a: [k, m]` when
/// `a_transposed` (likewise `b: [n, k]`); `accumulate` adds to `c` instead of overwriting it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Gemm {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a_transposed: bool,
    pub b_transposed: bool,
    pub accumulate: bool,
}

impl Gemm {
    /// `c = a b` for `a: [m, k]`, `b: [k, n]`.
    pub fn new(m: usize, k: usize, n: usize) -> Self {
        Gemm {
            m,
            k,
            n,
            a_transposed: false,
            b_transposed: false,
            accumulate: false,
        }
    }

    pub fn a_transposed(self) -> Self {
        Gemm {
            a_transposed: true,
            ..self
        }
    }

    pub fn b_transposed(self) -> Self {
        Gemm {
            b_transposed: true,
            ..self
        }
    }

    pub fn accumulate(self, accumulate: bool) -> Self {
        Gemm { accumulate, ..self }
    }
}

macro_rules! float {
    ($t:ty, $tanh:expr, $tanh_all:expr) => {
        impl Real for $t {
            type Base = $t;
            fn of(x: f64) -> Self {
                x as $t
            }
            fn lift(b: $t) -> Self {
                b
            }
            fn primal(self) -> f64 {
                self as f64
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            fn tanh_all(z: &[Self]) -> Vec<Self> {
                $tanh_all(z)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn gemm(c: &mut [Self], a: &[Self], b: &[Self], shape: Gemm) {
                let Gemm { m, k, n, .. } = shape;
                let a = if shape.a_transposed {
                    MatRef::from_row_major_slice(a, k, m).transpose()
                } else {
                    MatRef::from_row_major_slice(a, m, k)
                };
                let b = if shape.b_transposed {
                    MatRef::from_row_major_slice(b, n, k).transpose()
                } else {
                    MatRef::from_row_major_slice(b, k, n)
                };
                let c = MatMut::from_row_major_slice_mut(c, m, n);
                let accum = if shape.accumulate {
                    Accum::Add
                } else {
                    Accum::Replace
                };
                faer::linalg::matmul::matmul(c, accum, a, b, 1.0, Par::Seq);
            }
        }
    };
}
float!(
    f32,
    |x: f32| super::tanh::tanh(x as f64) as f32,
    |z: &[f32]| {
        let wide: Vec<f64> = z.iter().map(|&v| v as f64).collect();
        super::tanh::tanh_slice(&wide)
            .into_iter()
            .map(|v| v as f32)
            .collect()
    }
);
float!(f64, super::tanh::tanh, super::tanh::tanh_slice);

/// d/dz tanh(z) from `t = tanh(z)`: the dual numbers' tanh and the activations' use it.
#[inline(always)]
pub(super) fn tanh_slope<S: Real>(t: S) -> S {
    S::of(1.0) - t * t
}

/// `re + eps du` with `eps^2 = 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Dual<T> {
    pub re: T,
    pub du: T,
}

impl<T: Real<Base = T>> Add for Dual<T> {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Dual {
            re: self.re + o.re,
            du: self.du + o.du,
        }
    }
}
impl<T: Real<Base = T>> Sub for Dual<T> {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Dual {
            re: self.re - o.re,
            du: self.du - o.du,
        }
    }
}
impl<T: Real<Base = T>> Mul for Dual<T> {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        Dual {
            re: self.re * o.re,
            du: self.du * o.re + self.re * o.du,
        }
    }
}
impl<T: Real<Base = T>> Div for Dual<T> {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        let q = self.re / o.re;
        Dual {
            re: q,
            du: (self.du - q * o.du) / o.re,
        }
    }
}
impl<T: Real<Base = T>> Neg for Dual<T> {
    type Output = Self;
    fn neg(self) -> Self {
        Dual {
            re: -self.re,
            du: -self.du,
        }
    }
}
impl<T: Real<Base = T>> AddAssign for Dual<T> {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}
impl<T: Real<Base = T>> SubAssign for Dual<T> {
    fn sub_assign(&mut self, o: Self) {
        *self = *self - o;
    }
}
impl<T: Real<Base = T>> MulAssign for Dual<T> {
    fn mul_assign(&mut self, o: Self) {
        *self = *self * o;
    }
}

impl<T: Real<Base = T>> Real for Dual<T> {
    type Base = T;
    const DUAL: bool = true;
    fn of(x: f64) -> Self {
        Dual {
            re: T::of(x),
            du: T::zero(),
        }
    }
    fn lift(b: T) -> Self {
        Dual {
            re: b,
            du: T::zero(),
        }
    }
    fn primal(self) -> f64 {
        self.re.primal()
    }
    fn exp(self) -> Self {
        let e = self.re.exp();
        Dual {
            re: e,
            du: e * self.du,
        }
    }
    fn ln(self) -> Self {
        Dual {
            re: self.re.ln(),
            du: self.du / self.re,
        }
    }
    fn tanh(self) -> Self {
        let t = self.re.tanh();
        Dual {
            re: t,
            du: tanh_slope(t) * self.du,
        }
    }
    fn sqrt(self) -> Self {
        let s = self.re.sqrt();
        Dual {
            re: s,
            du: self.du / (s + s),
        }
    }
    fn tanh_all(z: &[Self]) -> Vec<Self> {
        let re: Vec<T> = z.iter().map(|d| d.re).collect();
        T::tanh_all(&re)
            .into_iter()
            .zip(z)
            .map(|(t, d)| Dual {
                re: t,
                du: tanh_slope(t) * d.du,
            })
            .collect()
    }

    /// `(A + eps A')(B + eps B') = AB + eps (A'B + AB')`, by plain GEMMs on the two planes;
    /// a plane that is all zeros (the data, a constant) is skipped.
    fn gemm(c: &mut [Self], a: &[Self], b: &[Self], shape: Gemm) {
        let (a_re, a_du) = planes(a);
        let (b_re, b_du) = planes(b);
        let (mut c_re, mut c_du) = if shape.accumulate {
            planes(c)
        } else {
            let len = shape.m * shape.n;
            (vec![T::zero(); len], vec![T::zero(); len])
        };
        T::gemm(&mut c_re, &a_re, &b_re, shape);
        let mut started = shape.accumulate;
        if a_du.iter().any(|x| x.primal() != 0.0) {
            T::gemm(&mut c_du, &a_du, &b_re, shape.accumulate(started));
            started = true;
        }
        if b_du.iter().any(|x| x.primal() != 0.0) {
            T::gemm(&mut c_du, &a_re, &b_du, shape.accumulate(started));
        }
        for ((c, re), du) in c.iter_mut().zip(c_re).zip(c_du) {
            *c = Dual { re, du };
        }
    }
}

fn planes<T: Copy>(x: &[Dual<T>]) -> (Vec<T>, Vec<T>) {
    (
        x.iter().map(|d| d.re).collect(),
        x.iter().map(|d| d.du).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dual_arithmetic_differentiates() {
        // d/dx [tanh(x) * exp(x) / sqrt(x) + ln(x)] at x = 0.7
        let f = |x: Dual<f64>| x.tanh() * x.exp() / x.sqrt() + x.ln();
        let x = 0.7f64;
        let d = f(Dual { re: x, du: 1.0 });
        let g = |x: f64| x.tanh() * x.exp() / x.sqrt() + x.ln();
        let h = 1e-5;
        let fd = (g(x + h) - g(x - h)) / (2.0 * h);
        assert!((d.re - g(x)).abs() < 1e-15);
        assert!((d.du - fd).abs() < 1e-9, "{} vs {fd}", d.du);
    }

    #[test]
    fn gemm_transposes_and_dual_planes() {
        // a: [2, 3], b: [3, 2]
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        let want = [58.0, 64.0, 139.0, 154.0];
        let mut c = [0.0f64; 4];
        f64::gemm(&mut c, &a, &b, Gemm::new(2, 3, 2));
        assert_eq!(c, want);
        let at = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        let bt = [7.0, 9.0, 11.0, 8.0, 10.0, 12.0];
        let both = Gemm::new(2, 3, 2).a_transposed().b_transposed();
        f64::gemm(&mut c, &at, &bt, both.accumulate(true));
        assert_eq!(c, want.map(|x| 2.0 * x));
        // (A + eps A)(B + eps 0): the tangent A'B + AB' is AB.
        let ad: Vec<Dual<f64>> = a.iter().map(|&x| Dual { re: x, du: x }).collect();
        let bd: Vec<Dual<f64>> = b.iter().map(|&x| Dual { re: x, du: 0.0 }).collect();
        let mut cd = [Dual::default(); 4];
        Dual::gemm(&mut cd, &ad, &bd, Gemm::new(2, 3, 2));
        assert_eq!(cd.map(|d| d.re), want);
        assert_eq!(cd.map(|d| d.du), want);
    }
}
