//! Small helpers over burn's primitive ops (all differentiable twice under nested autodiff).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Scalar, Shape, Slice};

/// `theta[offset .. offset + prod(shape)]` reshaped to `shape`.
pub fn take<B: Backend>(theta: &FloatTensor<B>, offset: usize, shape: &[usize]) -> FloatTensor<B> {
    let len: usize = shape.iter().product();
    let flat = B::float_slice(
        theta.clone(),
        &[Slice::new(
            offset as isize,
            Some((offset + len) as isize),
            1,
        )],
    );
    B::float_reshape(flat, Shape::from(shape.to_vec()))
}

pub fn scale<B: Backend>(t: FloatTensor<B>, s: f64) -> FloatTensor<B> {
    B::float_mul_scalar(t, Scalar::Float(s))
}

pub fn add_scalar<B: Backend>(t: FloatTensor<B>, s: f64) -> FloatTensor<B> {
    B::float_add_scalar(t, Scalar::Float(s))
}

pub fn square<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    B::float_mul(t.clone(), t)
}
