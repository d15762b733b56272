//! Training data and supervised objectives: a model, its data and its loss as one function of
//! theta.
//!
//! Losses:
//! - `mse`: the mean over all n x d output elements of (f - y)^2, as PyTorch's `MSELoss()` (no
//!   1/2 factor). For 1-D regression (d = 1) this is the mean over examples; for one-hot
//!   CIFAR-10 targets (d = 10) it is the per-example squared error summed over classes and
//!   divided by 10 n.
//! - `half_mse`: half of `mse` (the 1/2 (f - y)^2 convention); its Hessian is half as large,
//!   so at a given learning rate it is further from the 2/lr edge.
//! - `cross_entropy`: the mean over examples of -log softmax(f)_label.

use std::borrow::Cow;

use anyhow::{Result, bail};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Scalar};

use super::backend::{Precision, tensor, to_vec};
use super::model::Arch;
use super::objective::Objective;
use super::ops::{Order, log_softmax, square};

#[derive(Clone, Debug, PartialEq)]
pub struct Data {
    /// Inputs, row-major `[n, ...shape]`.
    pub x: Vec<f64>,
    pub x_shape: Vec<usize>,
    /// Targets `[n, d]` (one-hot rows for classification).
    pub y: Vec<f64>,
    pub y_dim: usize,
}

impl Data {
    pub fn new(x: Vec<f64>, x_shape: Vec<usize>, y: Vec<f64>, y_dim: usize) -> Result<Data> {
        let n = x_shape.first().copied().unwrap_or(0);
        if x.len() != x_shape.iter().product::<usize>() || y.len() != n * y_dim {
            bail!(
                "data shapes disagree: x {} values for {x_shape:?}, y {} values for [{n}, {y_dim}]",
                x.len(),
                y.len()
            );
        }
        Ok(Data {
            x,
            x_shape,
            y,
            y_dim,
        })
    }

    /// 1-D regression data.
    pub fn regression(xs: &[f64], ys: &[f64]) -> Data {
        Data {
            x: xs.to_vec(),
            x_shape: vec![xs.len(), 1],
            y: ys.to_vec(),
            y_dim: 1,
        }
    }

    pub fn len(&self) -> usize {
        self.x_shape[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples at `rows`, in that order.
    pub fn rows(&self, rows: &[usize]) -> Data {
        let xw: usize = self.x_shape[1..].iter().product();
        let mut x = Vec::with_capacity(rows.len() * xw);
        let mut y = Vec::with_capacity(rows.len() * self.y_dim);
        for &r in rows {
            x.extend_from_slice(&self.x[r * xw..(r + 1) * xw]);
            y.extend_from_slice(&self.y[r * self.y_dim..(r + 1) * self.y_dim]);
        }
        let mut shape = self.x_shape.clone();
        shape[0] = rows.len();
        Data {
            x,
            x_shape: shape,
            y,
            y_dim: self.y_dim,
        }
    }
}

spike_config::choice_enum! {
    pub enum Loss {
        /// Mean over all output elements of (f - y)^2.
        Mse = "mse",
        /// Half of `mse`.
        HalfMse = "half_mse",
        CrossEntropy = "cross_entropy",
    }
}

impl Loss {
    /// The loss of outputs `f: [n, d]` against targets `y: [n, d]`.
    pub(crate) fn apply<B: Backend>(self, f: FloatTensor<B>, y: FloatTensor<B>) -> FloatTensor<B> {
        match self {
            Loss::Mse => B::float_mean(square::<B>(B::float_sub(f, y))),
            Loss::HalfMse => B::float_mul_scalar(
                B::float_mean(square::<B>(B::float_sub(f, y))),
                Scalar::Float(0.5),
            ),
            Loss::CrossEntropy => {
                let n = burn::backend::TensorMetadata::shape(&f).dims::<2>()[0];
                let picked = B::float_sum(B::float_mul(log_softmax::<B>(f), y));
                B::float_mul_scalar(picked, Scalar::Float(-1.0 / n as f64))
            }
        }
    }
}

/// A model trained on data with a loss: the objective R_S(theta).
pub struct Supervised<'a> {
    pub arch: &'a Arch,
    pub data: Cow<'a, Data>,
    pub loss: Loss,
    pub precision: Precision,
}

impl<'a> Supervised<'a> {
    pub fn new(arch: &'a Arch, data: &'a Data, loss: Loss, precision: Precision) -> Self {
        Supervised {
            arch,
            data: Cow::Borrowed(data),
            loss,
            precision,
        }
    }

    /// Model outputs `[n * d]` at theta for inputs `x` (shape `[n, ...]`).
    pub fn outputs<B: Backend>(
        &self,
        theta: &[f64],
        x: &[f64],
        x_shape: &[usize],
        device: &B::Device,
    ) -> Result<Vec<f64>> {
        let t = tensor::<B>(theta, &[theta.len()], self.precision, device);
        let xt = tensor::<B>(x, x_shape, self.precision, device);
        to_vec::<B>(self.arch.forward::<B>(&t, xt, Order::First))
    }
}

impl Objective for Supervised<'_> {
    fn dim(&self) -> usize {
        self.arch.dim()
    }
    fn precision(&self) -> Precision {
        self.precision
    }
    fn loss<B: Backend>(
        &self,
        theta: FloatTensor<B>,
        device: &B::Device,
        order: Order,
    ) -> FloatTensor<B> {
        let x = tensor::<B>(&self.data.x, &self.data.x_shape, self.precision, device);
        let y = tensor::<B>(
            &self.data.y,
            &[self.data.len(), self.data.y_dim],
            self.precision,
            device,
        );
        self.loss
            .apply::<B>(self.arch.forward::<B>(&theta, x, order), y)
    }
}
