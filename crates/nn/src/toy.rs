//! The paper's toy model of the lower-loss-as-sharper structure (Sec 3.3, Appendix A.1):
//! `f(x, y) = (50 x + 200) y^2 - x + 5` on `(-4, inf) x R`, with theta = (x, y).

use burn::backend::Backend;
use burn::backend::tensor::FloatTensor;

use super::backend::Precision;
use super::objective::Objective;
use super::ops::{Order, add_scalar, scale, square, take};

pub struct Toy;

impl Objective for Toy {
    fn dim(&self) -> usize {
        2
    }
    fn precision(&self) -> Precision {
        Precision::F64
    }
    fn loss<B: Backend>(
        &self,
        theta: FloatTensor<B>,
        _device: &B::Device,
        _order: Order,
    ) -> FloatTensor<B> {
        let x = take::<B>(&theta, 0, &[1]);
        let y = take::<B>(&theta, 1, &[1]);
        let sharpness = add_scalar::<B>(scale::<B>(x.clone(), 50.0), 200.0);
        let f = B::float_sub(B::float_mul(sharpness, square::<B>(y)), x);
        B::float_sum(add_scalar::<B>(f, 5.0))
    }
}

/// The toy loss in closed form.
pub fn loss(x: f64, y: f64) -> f64 {
    (50.0 * x + 200.0) * y * y - x + 5.0
}

/// Closed-form gradient (paper Sec 3.3): (50 y^2 - 1, (100 x + 400) y).
pub fn gradient(x: f64, y: f64) -> [f64; 2] {
    [50.0 * y * y - 1.0, (100.0 * x + 400.0) * y]
}

/// Closed-form Hessian (paper Appendix A.1): [[0, 100 y], [100 y, 100 x + 400]].
pub fn hessian(x: f64, y: f64) -> [[f64; 2]; 2] {
    [[0.0, 100.0 * y], [100.0 * y, 100.0 * x + 400.0]]
}
