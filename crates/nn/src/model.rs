//! The paper's networks (Appendix A) as pure functions of a flat parameter vector theta: each
//! architecture lists its parameter blocks (names, shapes, fans) in theta's order (which
//! `crate::layout` names for the passes), and initialises them from the project's own seeded
//! RNG.
//!
//! Shapes chosen where the paper's tables have typos (documented in the README):
//! - Table A.1 (Fig 3.1(d), 4.2(b)) is the *two*-layer CNN: conv 3x3x16 (padding 1) + ReLU +
//!   max-pool 2 -> 16x16x16 = 4096 -> linear 10 (its caption says "three-layer").
//! - Table A.2: conv16 + pool, conv32 + pool -> 8x8x32 = 2048 -> linear 10.
//! - Table A.3: conv16, conv32, conv64, each + pool -> 4x4x64 = 1024 -> 500 -> 10 (the table's
//!   "2048 -> 500" contradicts its own 1024 flatten).
//! - VGG-11 with batch norm, CIFAR variant: [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M]
//!   (3x3 convs without bias, each + BN + ReLU) -> 512 -> linear 10, channels scaled by `width`.

use anyhow::{Result, bail};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Shape, TensorMetadata};

use super::layout::{Layout, Span};
use super::ops::{Activation, Order, batch_norm, conv3x3, linear, max_pool2, relu, take};

/// One block of theta.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: Role,
    pub fan_in: usize,
    pub fan_out: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Role {
    Weight,
    Bias,
    BnScale,
    BnShift,
}

impl Block {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Arch {
    /// `f(x) = sum_k a_k act(w_k x + b_k) (+ c)`, theta = [a (m), w (m), b (m), (c)].
    Fnn {
        width: usize,
        act: Activation,
        out_bias: bool,
    },
    /// 3x3 conv + ReLU + 2x2 max-pool per entry of `convs`, then ReLU linear layers of `hidden`
    /// widths, then a linear layer to `classes`.
    Cnn {
        convs: Vec<usize>,
        hidden: Vec<usize>,
        classes: usize,
    },
    /// VGG-11 with batch norm; `width` scales the channels (1.0 = the paper's network).
    Vgg {
        width: f64,
        classes: usize,
        bn_eps: f64,
    },
}

pub(crate) const IMAGE: [usize; 3] = [3, 32, 32];
const VGG11: [Option<usize>; 13] = [
    Some(64),
    None,
    Some(128),
    None,
    Some(256),
    Some(256),
    None,
    Some(512),
    Some(512),
    None,
    Some(512),
    Some(512),
    None,
];

impl Arch {
    /// A named architecture: `cnn2` (Table A.1 / Fig 3.1(d)), `cnn3` (Table A.2), `cnn5`
    /// (Table A.3), `vgg11`.
    pub fn named(name: &str, vgg_width: f64) -> Result<Arch> {
        Ok(match name {
            "cnn2" => Arch::Cnn {
                convs: vec![16],
                hidden: vec![],
                classes: 10,
            },
            "cnn3" => Arch::Cnn {
                convs: vec![16, 32],
                hidden: vec![],
                classes: 10,
            },
            "cnn5" => Arch::Cnn {
                convs: vec![16, 32, 64],
                hidden: vec![500],
                classes: 10,
            },
            "vgg11" => Arch::Vgg {
                width: vgg_width,
                classes: 10,
                bn_eps: 1e-5,
            },
            _ => bail!("unknown architecture `{name}` (cnn2, cnn3, cnn5, vgg11)"),
        })
    }

    pub(crate) fn vgg_channels(width: f64) -> Vec<Option<usize>> {
        VGG11
            .iter()
            .map(|c| c.map(|c| ((c as f64 * width).round() as usize).max(1)))
            .collect()
    }

    /// The blocks of theta, in order.
    pub fn blocks(&self) -> Vec<Block> {
        let b = |name: String, shape: Vec<usize>, role, fan_in, fan_out| Block {
            name,
            shape,
            role,
            fan_in,
            fan_out,
        };
        match self {
            Arch::Fnn {
                width: m, out_bias, ..
            } => {
                let mut v = vec![
                    b("a".into(), vec![*m], Role::Weight, *m, 1),
                    b("w".into(), vec![*m], Role::Weight, 1, *m),
                    b("b".into(), vec![*m], Role::Bias, 1, *m),
                ];
                if *out_bias {
                    v.push(b("c".into(), vec![1], Role::Bias, *m, 1));
                }
                v
            }
            Arch::Cnn {
                convs,
                hidden,
                classes,
            } => {
                let mut v = Vec::new();
                let mut cin = IMAGE[0];
                let mut side = IMAGE[1];
                for (i, &cout) in convs.iter().enumerate() {
                    v.push(b(
                        format!("conv{i}.w"),
                        vec![cout, cin, 3, 3],
                        Role::Weight,
                        cin * 9,
                        cout * 9,
                    ));
                    v.push(b(
                        format!("conv{i}.b"),
                        vec![cout],
                        Role::Bias,
                        cin * 9,
                        cout * 9,
                    ));
                    cin = cout;
                    side /= 2;
                }
                let mut fin = cin * side * side;
                for (i, &h) in hidden.iter().chain(std::iter::once(classes)).enumerate() {
                    v.push(b(format!("fc{i}.w"), vec![fin, h], Role::Weight, fin, h));
                    v.push(b(format!("fc{i}.b"), vec![h], Role::Bias, fin, h));
                    fin = h;
                }
                v
            }
            Arch::Vgg { width, classes, .. } => {
                let mut v = Vec::new();
                let mut cin = IMAGE[0];
                for (i, c) in Self::vgg_channels(*width).into_iter().enumerate() {
                    if let Some(cout) = c {
                        v.push(b(
                            format!("conv{i}.w"),
                            vec![cout, cin, 3, 3],
                            Role::Weight,
                            cin * 9,
                            cout * 9,
                        ));
                        v.push(b(
                            format!("bn{i}.gamma"),
                            vec![cout],
                            Role::BnScale,
                            cout,
                            cout,
                        ));
                        v.push(b(
                            format!("bn{i}.beta"),
                            vec![cout],
                            Role::BnShift,
                            cout,
                            cout,
                        ));
                        cin = cout;
                    }
                }
                v.push(b(
                    "fc.w".into(),
                    vec![cin, *classes],
                    Role::Weight,
                    cin,
                    *classes,
                ));
                v.push(b("fc.b".into(), vec![*classes], Role::Bias, cin, *classes));
                v
            }
        }
    }

    pub fn dim(&self) -> usize {
        self.blocks().iter().map(Block::len).sum()
    }

    /// Input shape of one example.
    pub fn input_shape(&self) -> Vec<usize> {
        match self {
            Arch::Fnn { .. } => vec![1],
            _ => IMAGE.to_vec(),
        }
    }

    pub fn outputs(&self) -> usize {
        match self {
            Arch::Fnn { .. } => 1,
            Arch::Cnn { classes, .. } | Arch::Vgg { classes, .. } => *classes,
        }
    }

    /// Outputs `[n, outputs]` for inputs `x: [n, ...input_shape]`.
    pub fn forward<B: Backend>(
        &self,
        theta: &FloatTensor<B>,
        x: FloatTensor<B>,
        order: Order,
    ) -> FloatTensor<B> {
        let block = |span: &Span| take::<B>(theta, span.offset, &span.shape);
        let flatten = |h: FloatTensor<B>| {
            let n = h.shape().dims::<4>()[0];
            let flat = h.shape().num_elements() / n;
            B::float_reshape(h, Shape::new([n, flat]))
        };
        match (self, Layout::spans(self)) {
            (Arch::Fnn { width: m, act, .. }, Layout::TwoLayer(net)) => {
                let a = take::<B>(theta, net.a.offset, &[*m, 1]);
                let w = take::<B>(theta, net.w.offset, &[1, *m]);
                let b = take::<B>(theta, net.b.offset, &[1, *m]);
                let h = act.apply::<B>(B::float_add(B::float_matmul(x, w), b), order);
                let f = B::float_matmul(h, a);
                match net.c {
                    Some(c) => B::float_add(f, take::<B>(theta, c.offset, &[1, 1])),
                    None => f,
                }
            }
            (Arch::Cnn { .. }, Layout::Cnn(net)) => {
                let mut h = x;
                for p in &net.convs {
                    let z = conv3x3::<B>(h, block(&p.w), Some(block(&p.b)));
                    h = max_pool2::<B>(relu::<B>(z, order), order);
                }
                h = flatten(h);
                for (i, p) in net.fcs.iter().enumerate() {
                    h = linear::<B>(h, block(&p.w), block(&p.b));
                    if i + 1 < net.fcs.len() {
                        h = relu::<B>(h, order);
                    }
                }
                h
            }
            (Arch::Vgg { width, bn_eps, .. }, Layout::Vgg(net)) => {
                let mut convs = net.convs.iter();
                let mut h = x;
                for c in Self::vgg_channels(*width) {
                    if c.is_some() {
                        let p = convs.next().expect("a block per convolution");
                        let z = conv3x3::<B>(h, block(&p.w), None);
                        let normed = batch_norm::<B>(z, block(&p.gamma), block(&p.beta), *bn_eps);
                        h = relu::<B>(normed, order);
                    } else {
                        h = max_pool2::<B>(h, order);
                    }
                }
                linear::<B>(flatten(h), block(&net.fc.w), block(&net.fc.b))
            }
            _ => unreachable!("Layout::new follows the architecture"),
        }
    }
}
