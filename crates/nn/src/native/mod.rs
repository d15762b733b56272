//! `native`: spike-pipe's own CPU path for the paper's networks. Forward and backward passes are
//! derived by hand ([`net`], [`layers`]) on im2col + GEMM (faer) with fused ReLU and max-pooling,
//! in parallel over chunks of images; exact Hessian-vector products run the same backward pass on
//! dual numbers ([`real`]). The burn autodiff path is the reference it is tested against.

mod activation;
mod conv;
mod fnn_hessian;
mod grad;
mod layers;
mod net;
mod planes;
pub(crate) mod real;
mod tanh;

use anyhow::Result;

use self::net::{Batch, Net};
use self::real::{Dual, Real};
use super::backend::Precision;
use super::data::{Loss, Supervised};
use super::derivatives::{Derivatives, Evaluator, HessianOp, by_products};
use super::objective::{HvpMethod, hvp_central};

/// Runs `f` compiled for the widest vector level this CPU has, AVX-512 (x86-64-v4) or AVX2
/// (x86-64-v3) (pulp chooses at run time; `f` must be an `#[inline(always)]` closure for its
/// loops to be compiled that way). Rust never
/// fuses a multiply and an add on its own, so these loops give the same bits on any CPU (faer's
/// GEMM kernels, chosen per CPU, may not).
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    struct Op<F>(F);
    impl<R, F: FnOnce() -> R> pulp::WithSimd for Op<F> {
        type Output = R;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) -> R {
            (self.0)()
        }
    }
    pulp::Arch::new().dispatch(Op(f))
}

/// A scalar function of theta, computed in the base precision `T` or on dual numbers over it.
trait Function: Sync {
    type T: Real<Base = Self::T>;
    fn dim(&self) -> usize;
    /// The value and, with `grad`, the gradient.
    fn eval<S: Real<Base = Self::T>>(&self, theta: &[S], grad: bool) -> (S, Option<Vec<S>>);
    /// The exact Hessian at `theta` with its forward pass done once, where the function has one.
    fn hessian_at(&self, _theta: &[f64]) -> Option<HessianOp<'_>> {
        None
    }
}

struct Native<F> {
    f: F,
    method: HvpMethod,
}

fn lower<T: Real>(x: &[f64]) -> Vec<T> {
    x.iter().map(|&v| T::of(v)).collect()
}

fn widen<S: Real>(x: &[S]) -> Vec<f64> {
    x.iter().map(|v| v.primal()).collect()
}

impl<F: Function> Derivatives for Native<F> {
    fn dim(&self) -> usize {
        self.f.dim()
    }

    fn loss(&self, theta: &[f64]) -> Result<f64> {
        Ok(self.f.eval(&lower::<F::T>(theta), false).0.primal())
    }

    fn loss_and_grad(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)> {
        let (l, g) = self.f.eval(&lower::<F::T>(theta), true);
        Ok((l.primal(), widen(&g.expect("asked for the gradient"))))
    }

    fn hvp(&self, theta: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        match self.method {
            HvpMethod::Exact => {
                let t: Vec<Dual<F::T>> = theta
                    .iter()
                    .zip(v)
                    .map(|(&t, &v)| Dual {
                        re: F::T::of(t),
                        du: F::T::of(v),
                    })
                    .collect();
                let g = self.f.eval(&t, true).1.expect("asked for the gradient");
                Ok(g.iter().map(|d| d.du.primal()).collect())
            }
            HvpMethod::CentralDifference { rel_eps } => {
                hvp_central(&mut |t| Ok(self.loss_and_grad(t)?.1), theta, v, rel_eps)
            }
        }
    }

    fn hessian_at<'s>(&'s self, theta: &'s [f64]) -> HessianOp<'s> {
        match self.method {
            HvpMethod::Exact => self.f.hessian_at(theta),
            HvpMethod::CentralDifference { .. } => None,
        }
        .unwrap_or_else(|| by_products(self, theta))
    }
}

/// A model, its data and its loss in precision `T`.
struct Model<'a, T> {
    net: Net<'a>,
    x: Vec<T>,
    y: Vec<T>,
    loss: Loss,
}

impl<T: Real<Base = T>> Function for Model<'_, T> {
    type T = T;
    fn dim(&self) -> usize {
        self.net.spans.dim()
    }
    fn eval<S: Real<Base = T>>(&self, theta: &[S], grad: bool) -> (S, Option<Vec<S>>) {
        let batch = Batch {
            x: &self.x,
            y: &self.y,
            loss: self.loss,
        };
        self.net.loss_and_grad(theta, &batch, grad)
    }
    fn hessian_at(&self, theta: &[f64]) -> Option<HessianOp<'_>> {
        let h = fnn_hessian::FnnHessian::new(
            &self.net,
            self.loss,
            &lower::<T>(theta),
            &self.x,
            &self.y,
        )?;
        Some(Box::new(move |v| Ok(widen(&h.apply(&lower::<T>(v))))))
    }
}

impl<T: Real<Base = T>> Evaluator for Native<Model<'_, T>> {
    fn outputs(&self, theta: &[f64], x: &[f64], _x_shape: &[usize]) -> Result<Vec<f64>> {
        let f = self.f.net.outputs::<T>(&lower(theta), &lower(x));
        Ok(widen(&f))
    }
}

/// The native evaluator of a supervised objective.
pub(crate) fn evaluator<'a>(obj: Supervised<'a>, method: HvpMethod) -> Box<dyn Evaluator + 'a> {
    fn model<'a, T: Real<Base = T>>(
        obj: &Supervised<'a>,
        method: HvpMethod,
    ) -> Box<dyn Evaluator + 'a> {
        Box::new(Native {
            f: Model::<T> {
                net: Net::new(obj.arch),
                x: lower(&obj.data.x),
                y: lower(&obj.data.y),
                loss: obj.loss,
            },
            method,
        })
    }
    match obj.precision {
        Precision::F32 => model::<f32>(&obj, method),
        Precision::F64 => model::<f64>(&obj, method),
    }
}

/// The toy model `f(x, y) = (50 x + 200) y^2 - x + 5` (see `nn::toy`), in f64.
struct ToyFn;

impl Function for ToyFn {
    type T = f64;
    fn dim(&self) -> usize {
        2
    }
    fn eval<S: Real<Base = f64>>(&self, theta: &[S], grad: bool) -> (S, Option<Vec<S>>) {
        let (x, y) = (theta[0], theta[1]);
        let sharpness = S::of(50.0) * x + S::of(200.0);
        let f = sharpness * y * y - x + S::of(5.0);
        let g = grad.then(|| vec![S::of(50.0) * y * y - S::of(1.0), S::of(2.0) * sharpness * y]);
        (f, g)
    }
}

pub(crate) fn toy(method: HvpMethod) -> Box<dyn Derivatives> {
    Box::new(Native { f: ToyFn, method })
}
