//! Where each layer's parameters sit in theta, by name: one definition, built from
//! [`Arch::blocks`] (their order and sizes), that the burn forward pass, the native passes and
//! their gradients share. A layout is generic over what a block is: a slice of theta (`&[T]`),
//! a gradient (`Vec<T>`), or a [`Span`] of the flat vector.

use crate::model::Arch;

/// The two-layer net `f(x) = sum_k a_k act(w_k x + b_k) (+ c)`.
#[derive(Clone, Debug, PartialEq)]
pub struct TwoLayer<V> {
    pub a: V,
    pub w: V,
    pub b: V,
    /// the output bias, one element
    pub c: Option<V>,
}

/// A layer `x w + b` (a linear layer, or a convolution with its bias).
#[derive(Clone, Debug, PartialEq)]
pub struct Affine<V> {
    pub w: V,
    pub b: V,
}

/// A convolution without bias followed by batch norm's scale and shift.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvBn<V> {
    pub w: V,
    pub gamma: V,
    pub beta: V,
}

/// Convolutions, then linear layers (the last one the output layer).
#[derive(Clone, Debug, PartialEq)]
pub struct Cnn<V> {
    pub convs: Vec<Affine<V>>,
    pub fcs: Vec<Affine<V>>,
}

/// VGG-11's convolutions with batch norm, then the output layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Vgg<V> {
    pub convs: Vec<ConvBn<V>>,
    pub fc: Affine<V>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Layout<V> {
    TwoLayer(TwoLayer<V>),
    Cnn(Cnn<V>),
    Vgg(Vgg<V>),
}

/// Where a block sits in theta.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
    pub shape: Vec<usize>,
}

impl<V> Layout<V> {
    /// Names `blocks`, one per entry of `arch.blocks()` in that order.
    pub fn new(arch: &Arch, blocks: Vec<V>) -> Self {
        let count = blocks.len();
        let mut blocks = blocks.into_iter();
        let mut next = || blocks.next().expect("one value per block");
        let layout = match arch {
            Arch::Fnn { out_bias, .. } => Layout::TwoLayer(TwoLayer {
                a: next(),
                w: next(),
                b: next(),
                c: out_bias.then(next),
            }),
            Arch::Cnn { convs, hidden, .. } => {
                let mut affine = || Affine {
                    w: next(),
                    b: next(),
                };
                Layout::Cnn(Cnn {
                    convs: convs.iter().map(|_| affine()).collect(),
                    fcs: (0..=hidden.len()).map(|_| affine()).collect(),
                })
            }
            Arch::Vgg { width, .. } => {
                let convs = Arch::vgg_channels(*width)
                    .iter()
                    .flatten()
                    .map(|_| ConvBn {
                        w: next(),
                        gamma: next(),
                        beta: next(),
                    })
                    .collect();
                let fc = Affine {
                    w: next(),
                    b: next(),
                };
                Layout::Vgg(Vgg { convs, fc })
            }
        };
        assert!(blocks.next().is_none(), "{count} values for fewer blocks");
        layout
    }

    /// The blocks in theta's order (the inverse of [`Layout::new`]).
    pub fn into_blocks(self) -> Vec<V> {
        match self {
            Layout::TwoLayer(TwoLayer { a, w, b, c }) => [a, w, b].into_iter().chain(c).collect(),
            Layout::Cnn(Cnn { convs, fcs }) => convs
                .into_iter()
                .chain(fcs)
                .flat_map(|l| [l.w, l.b])
                .collect(),
            Layout::Vgg(Vgg { convs, fc }) => convs
                .into_iter()
                .flat_map(|l| [l.w, l.gamma, l.beta])
                .chain([fc.w, fc.b])
                .collect(),
        }
    }
}

impl<T: Clone> Layout<Vec<T>> {
    /// theta (or a gradient) as one flat vector.
    pub fn concat(self) -> Vec<T> {
        self.into_blocks().concat()
    }
}

impl<V> Layout<V> {
    /// The same layout with `f` of every block.
    pub fn map<W>(&self, mut f: impl FnMut(&V) -> W) -> Layout<W> {
        let mut affine = |l: &Affine<V>| Affine {
            w: f(&l.w),
            b: f(&l.b),
        };
        match self {
            Layout::TwoLayer(n) => Layout::TwoLayer(TwoLayer {
                a: f(&n.a),
                w: f(&n.w),
                b: f(&n.b),
                c: n.c.as_ref().map(&mut f),
            }),
            Layout::Cnn(n) => Layout::Cnn(Cnn {
                convs: n.convs.iter().map(&mut affine).collect(),
                fcs: n.fcs.iter().map(&mut affine).collect(),
            }),
            Layout::Vgg(n) => {
                let convs = n
                    .convs
                    .iter()
                    .map(|l| ConvBn {
                        w: f(&l.w),
                        gamma: f(&l.gamma),
                        beta: f(&l.beta),
                    })
                    .collect();
                let fc = Affine {
                    w: f(&n.fc.w),
                    b: f(&n.fc.b),
                };
                Layout::Vgg(Vgg { convs, fc })
            }
        }
    }
}

impl<'a, T> Layout<&'a [T]> {
    /// theta's blocks as slices. Panics unless `theta` has `arch.dim()` elements.
    pub fn of(arch: &Arch, theta: &'a [T]) -> Self {
        Layout::spans(arch).slices(theta)
    }
}

impl Layout<Span> {
    /// Where each block sits.
    pub fn spans(arch: &Arch) -> Self {
        let mut offset = 0;
        let spans = arch
            .blocks()
            .into_iter()
            .map(|b| {
                let span = Span {
                    offset,
                    len: b.len(),
                    shape: b.shape,
                };
                offset += span.len;
                span
            })
            .collect();
        Layout::new(arch, spans)
    }

    /// The number of parameters.
    pub fn dim(&self) -> usize {
        self.clone().into_blocks().iter().map(|s| s.len).sum()
    }

    /// theta's blocks as slices (with no allocation for the two-layer net, whose passes take
    /// microseconds). Panics unless `theta` has [`Layout::dim`] elements.
    pub fn slices<'a, T>(&self, theta: &'a [T]) -> Layout<&'a [T]> {
        let mut end = 0;
        let view = self.map(|s| {
            end = end.max(s.offset + s.len);
            &theta[s.offset..s.offset + s.len]
        });
        assert_eq!(end, theta.len(), "theta's length");
        view
    }
}

impl<'a, T> TwoLayer<&'a [T]> {
    /// The two-layer net's blocks of theta; `None` for another architecture or a theta of
    /// another length.
    pub fn of(arch: &Arch, theta: &'a [T]) -> Option<Self> {
        if !matches!(arch, Arch::Fnn { .. }) || theta.len() != arch.dim() {
            return None;
        }
        match Layout::of(arch, theta) {
            Layout::TwoLayer(net) => Some(net),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Activation;

    /// theta with every element holding its block's name.
    fn named(arch: &Arch) -> Vec<String> {
        arch.blocks()
            .iter()
            .flat_map(|b| std::iter::repeat_n(b.name.clone(), b.len()))
            .collect()
    }

    fn name_of(block: &[String]) -> &str {
        assert!(block.iter().all(|n| *n == block[0]), "one block");
        &block[0]
    }

    #[test]
    fn views_name_the_blocks_of_arch_blocks() {
        let fnn = Arch::Fnn {
            width: 5,
            act: Activation::Tanh,
            out_bias: true,
        };
        let theta = named(&fnn);
        let Layout::TwoLayer(net) = Layout::of(&fnn, &theta[..]) else {
            panic!("a two-layer net")
        };
        let names = [net.a, net.w, net.b, net.c.expect("out_bias")].map(name_of);
        assert_eq!(names, ["a", "w", "b", "c"]);
        assert_eq!(net.w.len(), 5);

        let cnn = Arch::named("cnn5", 1.0).unwrap();
        let theta = named(&cnn);
        let Layout::Cnn(net) = Layout::of(&cnn, &theta[..]) else {
            panic!("a CNN")
        };
        assert_eq!(name_of(net.convs[2].b), "conv2.b");
        assert_eq!(name_of(net.fcs[0].w), "fc0.w");
        assert_eq!(name_of(net.fcs[1].b), "fc1.b");
        assert_eq!((net.convs.len(), net.fcs.len()), (3, 2));

        let vgg = Arch::named("vgg11", 0.125).unwrap();
        let theta = named(&vgg);
        let Layout::Vgg(net) = Layout::of(&vgg, &theta[..]) else {
            panic!("a VGG")
        };
        assert_eq!(net.convs.len(), 8);
        assert_eq!(name_of(net.convs[1].gamma), "bn2.gamma");
        assert_eq!(name_of(net.convs[7].beta), "bn11.beta");
        assert_eq!(name_of(net.fc.w), "fc.w");
    }

    #[test]
    fn spans_and_blocks_round_trip() {
        for arch in [
            Arch::named("cnn2", 1.0).unwrap(),
            Arch::named("vgg11", 0.25).unwrap(),
            Arch::Fnn {
                width: 3,
                act: Activation::Relu,
                out_bias: false,
            },
        ] {
            let blocks = arch.blocks();
            let spans = Layout::spans(&arch).into_blocks();
            let mut offset = 0;
            for (span, block) in spans.iter().zip(&blocks) {
                assert_eq!((span.offset, &span.shape), (offset, &block.shape));
                offset += block.len();
            }
            assert_eq!(offset, arch.dim());
            let theta: Vec<f64> = (0..arch.dim()).map(|i| i as f64).collect();
            let flat = Layout::new(&arch, Layout::of(&arch, &theta[..]).into_blocks())
                .into_blocks()
                .into_iter()
                .map(<[f64]>::to_vec);
            assert_eq!(Layout::new(&arch, flat.collect()).concat(), theta);
        }
    }
}
