//! What a layer's backward pass returns.

/// The gradients of a layer's parameters (a [`crate::layout`] view of owned vectors, e.g.
/// `Affine<Vec<S>>`) and, when the pass was asked for it, of the layer's input.
pub(crate) struct LayerGrad<P, S> {
    pub params: P,
    pub input: Option<Vec<S>>,
}
