//! Linear algebra of the Hessian: symmetric eigenproblems, Lanczos, PCA.

pub mod sym2;
