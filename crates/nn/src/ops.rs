//! Building blocks over burn's primitive ops. With [`Order::Second`] every block is built so
//! that nested autodiff differentiates it twice exactly: max-pooling from strided slices and
//! masks (burn's max-pool backward has no second derivative) and ReLU from masks. With
//! [`Order::First`] (training) ReLU and max-pooling use burn's fused kernels, about twice as
//! fast on the CPU; both compute the same function (tested). Everywhere: activations without
//! dtype casts (burn's default sigmoid goes through f32), batch norm from means, and no
//! `div_scalar` (its backward rounds 1/s to f32).

use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Scalar, Shape, Slice, TensorMetadata, get_or_init_device_settings};

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

pub(crate) fn add_scalar<B: Backend>(t: FloatTensor<B>, s: f64) -> FloatTensor<B> {
    B::float_add_scalar(t, Scalar::Float(s))
}

pub(crate) fn square<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    B::float_mul(t.clone(), t)
}

fn bool_dtype<B: Backend>(t: &FloatTensor<B>) -> burn::backend::BoolDType {
    get_or_init_device_settings::<B>(&t.device()).bool_dtype
}

/// How many times the caller will differentiate (selects the implementation of ReLU and
/// max-pooling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    First,
    Second,
}

/// Activation functions of the paper's networks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Tanh,
    Relu,
    Sigmoid,
    LeakyRelu(f64),
}

spike_config::choice_enum! {
    /// An activation by name (the slope of leaky ReLU is a parameter of its own).
    pub enum ActivationName {
        Tanh = "tanh",
        Relu = "relu",
        Sigmoid = "sigmoid",
        LeakyRelu = "leaky_relu",
    }
}

impl ActivationName {
    pub fn with_slope(self, leaky_slope: f64) -> Activation {
        match self {
            ActivationName::Tanh => Activation::Tanh,
            ActivationName::Relu => Activation::Relu,
            ActivationName::Sigmoid => Activation::Sigmoid,
            ActivationName::LeakyRelu => Activation::LeakyRelu(leaky_slope),
        }
    }
}

impl Activation {
    pub(crate) fn apply<B: Backend>(self, x: FloatTensor<B>, order: Order) -> FloatTensor<B> {
        match self {
            Activation::Tanh => B::float_tanh(x),
            Activation::Relu => relu::<B>(x, order),
            // sigmoid(x) = (1 + tanh(x / 2)) / 2, exactly, in the tensor's own precision.
            Activation::Sigmoid => {
                scale::<B>(add_scalar::<B>(B::float_tanh(scale::<B>(x, 0.5)), 1.0), 0.5)
            }
            Activation::LeakyRelu(slope) => {
                let dtype = bool_dtype::<B>(&x);
                let negative = B::float_lower_elem(x.clone(), Scalar::Float(0.0), dtype);
                let scaled = scale::<B>(x.clone(), slope);
                B::float_mask_where(x, negative, scaled)
            }
        }
    }

    /// The scalar function (for references and plots).
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::LeakyRelu(s) => {
                if x < 0.0 {
                    s * x
                } else {
                    x
                }
            }
        }
    }
}

pub fn relu<B: Backend>(x: FloatTensor<B>, order: Order) -> FloatTensor<B> {
    if order == Order::First {
        return B::relu(x);
    }
    let dtype = bool_dtype::<B>(&x);
    let off = B::float_lower_equal_elem(x.clone(), Scalar::Float(0.0), dtype);
    B::float_mask_fill(x, off, Scalar::Float(0.0))
}

/// Elementwise max of two tensors of one shape.
fn max2<B: Backend>(a: FloatTensor<B>, b: FloatTensor<B>) -> FloatTensor<B> {
    let dtype = bool_dtype::<B>(&a);
    let a_wins = B::float_greater_equal(a.clone(), b.clone(), dtype);
    B::float_mask_where(b, a_wins, a)
}

/// 2x2 max-pooling with stride 2 of `[n, c, h, w]` (h, w even).
pub(crate) fn max_pool2<B: Backend>(x: FloatTensor<B>, order: Order) -> FloatTensor<B> {
    if order == Order::First {
        return B::max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false);
    }
    let all = Slice::new(0, None, 1);
    let at = |i: isize, j: isize| {
        B::float_slice(
            x.clone(),
            &[all, all, Slice::new(i, None, 2), Slice::new(j, None, 2)],
        )
    };
    max2::<B>(max2::<B>(at(0, 0), at(0, 1)), max2::<B>(at(1, 0), at(1, 1)))
}

/// 3x3 convolution with padding 1 and stride 1 ("same"), `weight: [out, in, 3, 3]`.
pub fn conv3x3<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
) -> FloatTensor<B> {
    B::conv2d(x, weight, bias, ConvOptions::new([1, 1], [1, 1], [1, 1], 1))
}

/// Batch normalisation of `[n, c, h, w]` with the batch's own statistics (train mode over the
/// full batch; biased variance as in PyTorch's normalisation), then `gamma * x_hat + beta`.
pub(crate) fn batch_norm<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    eps: f64,
) -> FloatTensor<B> {
    let mean_nhw =
        |t: FloatTensor<B>| B::float_mean_dim(B::float_mean_dim(B::float_mean_dim(t, 0), 2), 3);
    let mu = mean_nhw(x.clone());
    let centred = B::float_sub(x, mu);
    let var = mean_nhw(square::<B>(centred.clone()));
    let inv_std = B::float_recip(B::float_sqrt(add_scalar::<B>(var, eps)));
    let c = gamma.shape().num_elements();
    let shape = Shape::new([1, c, 1, 1]);
    let normalised = B::float_mul(centred, inv_std);
    B::float_add(
        B::float_mul(normalised, B::float_reshape(gamma, shape.clone())),
        B::float_reshape(beta, shape),
    )
}

/// `x @ w + b` for `x: [n, in]`, `w: [in, out]`, `b: [out]`.
pub fn linear<B: Backend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    b: FloatTensor<B>,
) -> FloatTensor<B> {
    let out = w.shape().dims::<2>()[1];
    B::float_add(
        B::float_matmul(x, w),
        B::float_reshape(b, Shape::new([1, out])),
    )
}

/// Row-wise log-softmax of `[n, classes]`. The max is subtracted as a constant: log-softmax does
/// not depend on it, so all derivatives stay exact.
pub(crate) fn log_softmax<B: Backend>(z: FloatTensor<B>) -> FloatTensor<B> {
    let m = B::float_detach(B::float_max_dim(z.clone(), 1));
    let shifted = B::float_sub(z, m);
    let lse = B::float_log(B::float_sum_dim(B::float_exp(shifted.clone()), 1));
    B::float_sub(shifted, lse)
}
