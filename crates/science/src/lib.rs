//! The science of the paper: the stage kinds (data, training, Hessian, PCA, frequency and
//! condensation analyses, figures), the analyses they share, the claim checks that quote the
//! paper, the figures' drawing, and the CIFAR-10 reader.

pub mod analysis;
pub mod claims;
pub mod datasets;
pub mod plot;
pub mod stages;
