//! Linear algebra of the Hessian: symmetric eigenproblems, Lanczos, PCA.

pub mod dense;
pub mod lanczos;
pub mod pca;
pub mod sym2;
