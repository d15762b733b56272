//! Losses, gradients, Hessian-vector products and outputs of an objective on a run-time chosen
//! backend, without making the caller generic: the trainer and the analyses see a
//! [`Derivatives`] (or, for a supervised model, an [`Evaluator`]) and never which backend
//! computes it.

use anyhow::Result;
use burn::backend::Backend;

use super::backend::BackendKind;
use super::data::Supervised;
use super::derivatives::{Derivatives, Evaluator};
use super::native;
use super::objective::{HvpMethod, Objective, hvp, value, value_and_grad};
use super::toy::Toy;

/// An objective on a burn backend, differentiated by burn's autodiff.
struct OnBurn<B: Backend, O> {
    obj: O,
    device: B::Device,
    method: HvpMethod,
}

impl<B: Backend, O: Objective> Derivatives for OnBurn<B, O> {
    fn dim(&self) -> usize {
        self.obj.dim()
    }
    fn loss(&self, theta: &[f64]) -> Result<f64> {
        value::<B, _>(&self.obj, theta, &self.device)
    }
    fn loss_and_grad(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)> {
        value_and_grad::<B, _>(&self.obj, theta, &self.device)
    }
    fn hvp(&self, theta: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        hvp::<B, _>(&self.obj, self.method, theta, v, &self.device)
    }
}

impl<B: Backend> Evaluator for OnBurn<B, Supervised<'_>> {
    fn outputs(&self, theta: &[f64], x: &[f64], x_shape: &[usize]) -> Result<Vec<f64>> {
        self.obj.outputs::<B>(theta, x, x_shape, &self.device)
    }
}

fn on_burn<B: Backend, O>(obj: O, device: B::Device, method: HvpMethod) -> Box<OnBurn<B, O>> {
    Box::new(OnBurn {
        obj,
        device,
        method,
    })
}

/// Builds the boxed evaluator of `obj` for each backend (one arm per backend, for both traits).
macro_rules! per_backend {
    ($backend:expr, $obj:expr, $method:expr, $native:expr) => {
        match $backend {
            BackendKind::Native => $native,
            BackendKind::Flex => {
                on_burn::<super::backend::Flex, _>($obj, Default::default(), $method)
            }
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            BackendKind::Tch => {
                on_burn::<burn::backend::LibTorch, _>($obj, super::backend::tch_device(), $method)
            }
            #[cfg(feature = "cuda")]
            BackendKind::Cuda => {
                on_burn::<burn::backend::Cuda, _>($obj, Default::default(), $method)
            }
        }
    };
}

/// An evaluator of `obj` on `backend` (its default device).
pub fn evaluator<'a>(
    backend: BackendKind,
    obj: Supervised<'a>,
    method: HvpMethod,
) -> Box<dyn Evaluator + 'a> {
    per_backend!(backend, obj, method, native::evaluator(obj, method))
}

/// The toy model of Sec 3.3 on `backend`.
pub fn toy(backend: BackendKind, method: HvpMethod) -> Box<dyn Derivatives> {
    per_backend!(backend, Toy, method, native::toy(method))
}
