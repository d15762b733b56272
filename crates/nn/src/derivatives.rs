//! What the trainer and the analyses see of an objective: its loss, gradient, Hessian-vector
//! products and (supervised) outputs, whatever backend computes them (`nn::eval` picks one).

use anyhow::Result;

/// A scalar function of theta with its first and second derivatives.
pub trait Derivatives {
    /// Number of parameters.
    fn dim(&self) -> usize;
    fn loss(&self, theta: &[f64]) -> Result<f64>;
    fn loss_and_grad(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)>;
    /// H(theta) v, by the method the evaluator was made with.
    fn hvp(&self, theta: &[f64], v: &[f64]) -> Result<Vec<f64>>;
    /// The Hessian at `theta` as an operator `v -> H(theta) v`, for many products at one point
    /// (Lanczos, power iteration). Each product is an [`hvp`](Self::hvp) unless the evaluator
    /// can reuse its forward pass at `theta` across products.
    fn hessian_at<'s>(&'s self, theta: &'s [f64]) -> HessianOp<'s> {
        by_products(self, theta)
    }
}

/// `v -> H(theta) v` at a fixed theta.
pub type HessianOp<'a> = Box<dyn FnMut(&[f64]) -> Result<Vec<f64>> + 'a>;

/// The Hessian operator that calls `hvp` for every product.
pub fn by_products<'s, D: Derivatives + ?Sized>(d: &'s D, theta: &'s [f64]) -> HessianOp<'s> {
    Box::new(move |v| d.hvp(theta, v))
}

/// A supervised objective: also the model's outputs.
pub trait Evaluator: Derivatives {
    /// Model outputs (flattened `[n, outputs]`) for inputs `x` of shape `x_shape`.
    fn outputs(&self, theta: &[f64], x: &[f64], x_shape: &[usize]) -> Result<Vec<f64>>;
}

/// The dense Hessian, column by column from HVPs (small models only), symmetrised.
pub fn dense_hessian(d: &dyn Derivatives, theta: &[f64]) -> Result<Vec<Vec<f64>>> {
    crate::linalg::dense::from_columns(d.dim(), &mut *d.hessian_at(theta))
}
