//! Evaluating a supervised objective on a run-time chosen backend without making the caller
//! generic: the analyses ask for losses, gradients, Hessian-vector products and outputs.

use anyhow::Result;
use burn::backend::Backend;

use super::backend::BackendKind;
use super::data::Supervised;
use super::objective::{HvpMethod, hvp, value};

pub(crate) trait Evaluator {
    fn loss(&self, theta: &[f64]) -> Result<f64>;
    fn hvp(&self, theta: &[f64], v: &[f64]) -> Result<Vec<f64>>;
    /// Model outputs (flattened `[n, outputs]`) for inputs `x` of shape `x_shape`.
    fn outputs(&self, theta: &[f64], x: &[f64], x_shape: &[usize]) -> Result<Vec<f64>>;
}

struct On<'a, B: Backend> {
    obj: &'a Supervised<'a>,
    device: B::Device,
    method: HvpMethod,
}

impl<B: Backend> Evaluator for On<'_, B> {
    fn loss(&self, theta: &[f64]) -> Result<f64> {
        value::<B, _>(self.obj, theta, &self.device)
    }
    fn hvp(&self, theta: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        hvp::<B, _>(self.obj, self.method, theta, v, &self.device)
    }
    fn outputs(&self, theta: &[f64], x: &[f64], x_shape: &[usize]) -> Result<Vec<f64>> {
        self.obj.outputs::<B>(theta, x, x_shape, &self.device)
    }
}

/// An evaluator of `obj` on `backend`'s default device.
#[allow(deprecated)] // burn-tch
pub(crate) fn evaluator<'a>(
    backend: BackendKind,
    obj: &'a Supervised<'a>,
    method: HvpMethod,
) -> Box<dyn Evaluator + 'a> {
    match backend {
        BackendKind::Flex => Box::new(On::<super::backend::Flex> {
            obj,
            device: Default::default(),
            method,
        }),
        #[cfg(feature = "tch")]
        BackendKind::Tch => Box::new(On::<burn::backend::LibTorch> {
            obj,
            device: super::backend::tch_device(),
            method,
        }),
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => Box::new(On::<burn::backend::Cuda> {
            obj,
            device: Default::default(),
            method,
        }),
    }
}
