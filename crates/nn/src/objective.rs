//! Losses as functions of a flat parameter vector, and their derivatives by burn autodiff:
//! gradients with `Autodiff<B>`, exact Hessian-vector products with `Autodiff<Autodiff<B>>`
//! (forward-over-reverse is not available; this is reverse-over-reverse), and a central
//! finite-difference HVP for models whose ops have no second derivative in burn.

use anyhow::Result;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend};

use super::backend::{Precision, scalar, tensor, to_vec};
use super::ops::Order;

/// A training objective R(theta): the model, its data and its loss, as one function of the flat
/// parameter vector. `loss` must only use burn primitive ops that autodiff can differentiate
/// (twice, for exact HVPs).
pub trait Objective: Sync {
    /// Number of parameters.
    fn dim(&self) -> usize;
    fn precision(&self) -> Precision;
    /// The scalar loss at `theta` (a rank-1 tensor of length `dim()`), built to be
    /// differentiated `order` times.
    fn loss<B: Backend>(
        &self,
        theta: FloatTensor<B>,
        device: &B::Device,
        order: Order,
    ) -> FloatTensor<B>;
}

/// How Hessian-vector products are computed; recorded with every eigen-result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HvpMethod {
    /// Reverse-over-reverse autodiff: exact up to rounding.
    Exact,
    /// `(g(theta + eps v) - g(theta - eps v)) / (2 eps)` with `eps = rel_eps (1 + |theta|) / |v|`.
    CentralDifference { rel_eps: f64 },
}

spike_config::choice_enum! {
    /// How Hessian-vector products are computed (a stage parameter).
    pub enum Hvp {
        /// Nested autodiff.
        Exact = "exact",
        /// Central differences of gradients (f64).
        Central = "central",
    }
}

impl Hvp {
    pub fn method(self) -> HvpMethod {
        match self {
            Hvp::Exact => HvpMethod::Exact,
            Hvp::Central => HvpMethod::CentralDifference { rel_eps: 1e-5 },
        }
    }
}

impl HvpMethod {
    pub fn name(&self) -> String {
        match self {
            HvpMethod::Exact => "exact-autodiff".into(),
            HvpMethod::CentralDifference { rel_eps } => {
                format!("central-difference(rel_eps={rel_eps:e})")
            }
        }
    }
}

/// The loss at `theta`.
pub fn value<B: Backend, O: Objective>(o: &O, theta: &[f64], device: &B::Device) -> Result<f64> {
    let t = tensor::<B>(theta, &[o.dim()], o.precision(), device);
    scalar::<B>(o.loss::<B>(t, device, Order::First))
}

/// The loss and its gradient at `theta`.
pub fn value_and_grad<B: Backend, O: Objective>(
    o: &O,
    theta: &[f64],
    device: &B::Device,
) -> Result<(f64, Vec<f64>)> {
    let t = tensor::<B>(theta, &[o.dim()], o.precision(), device);
    let (loss, grad) = grad_tensor::<B, O>(o, t, device)?;
    Ok((loss, to_vec::<B>(grad)?))
}

/// Loss and gradient with theta staying on the device (the trainer's hot path).
pub(crate) fn grad_tensor<B: Backend, O: Objective>(
    o: &O,
    theta: FloatTensor<B>,
    device: &B::Device,
) -> Result<(f64, FloatTensor<B>)> {
    let t = Autodiff::<B>::float_set_require_grad(Autodiff::<B>::from_inner(theta), true);
    let loss = o.loss::<Autodiff<B>>(t.clone(), device, Order::First);
    let value = scalar::<B>(Autodiff::<B>::inner(loss.clone()))?;
    let grads = Autodiff::<B>::backward(loss);
    let grad = Autodiff::<B>::grad(&t, &grads)
        .unwrap_or_else(|| B::float_zeros([o.dim()].into(), device, o.precision().dtype()));
    Ok((value, grad))
}

/// Exact Hessian-vector product H(theta) v by reverse-over-reverse autodiff.
pub(crate) fn hvp_exact<B: Backend, O: Objective>(
    o: &O,
    theta: &[f64],
    v: &[f64],
    device: &B::Device,
) -> Result<Vec<f64>> {
    type In<B> = Autodiff<B>;
    type Out<B> = Autodiff<Autodiff<B>>;
    let n = o.dim();
    let p = o.precision();
    let t_in = In::<B>::float_set_require_grad(tensor::<In<B>>(theta, &[n], p, device), true);
    let t_out = Out::<B>::float_set_require_grad(Out::<B>::from_inner(t_in.clone()), true);
    let loss = o.loss::<Out<B>>(t_out.clone(), device, Order::Second);
    let grads = Out::<B>::backward(loss);
    let Some(g) = Out::<B>::grad(&t_out, &grads) else {
        return Ok(vec![0.0; n]);
    };
    let dot = In::<B>::float_sum(In::<B>::float_mul(g, tensor::<In<B>>(v, &[n], p, device)));
    let grads2 = In::<B>::backward(dot);
    match In::<B>::grad(&t_in, &grads2) {
        Some(hv) => to_vec::<B>(hv),
        None => Ok(vec![0.0; n]),
    }
}

/// Central finite-difference Hessian-vector product from a gradient (use f64).
pub(crate) fn hvp_central(
    grad: &mut dyn FnMut(&[f64]) -> Result<Vec<f64>>,
    theta: &[f64],
    v: &[f64],
    rel_eps: f64,
) -> Result<Vec<f64>> {
    let norm = |x: &[f64]| x.iter().map(|a| a * a).sum::<f64>().sqrt();
    let vn = norm(v);
    if vn == 0.0 {
        return Ok(vec![0.0; v.len()]);
    }
    let eps = rel_eps * (1.0 + norm(theta)) / vn;
    let plus: Vec<f64> = theta.iter().zip(v).map(|(t, d)| t + eps * d).collect();
    let minus: Vec<f64> = theta.iter().zip(v).map(|(t, d)| t - eps * d).collect();
    let gp = grad(&plus)?;
    let gm = grad(&minus)?;
    Ok(gp
        .iter()
        .zip(&gm)
        .map(|(a, b)| (a - b) / (2.0 * eps))
        .collect())
}

/// H(theta) v by the given method.
pub fn hvp<B: Backend, O: Objective>(
    o: &O,
    method: HvpMethod,
    theta: &[f64],
    v: &[f64],
    device: &B::Device,
) -> Result<Vec<f64>> {
    match method {
        HvpMethod::Exact => hvp_exact::<B, O>(o, theta, v, device),
        HvpMethod::CentralDifference { rel_eps } => {
            let mut grad = |t: &[f64]| Ok(value_and_grad::<B, O>(o, t, device)?.1);
            hvp_central(&mut grad, theta, v, rel_eps)
        }
    }
}
