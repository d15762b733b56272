//! Models as functions of a flat parameter vector, losses, derivatives and training, on the
//! native CPU path or a burn backend; the dense and Lanczos linear algebra and the seeded
//! random streams they use.

pub mod backend;
pub mod data;
pub mod derivatives;
pub mod eval;
pub mod init;
pub mod layout;
pub mod linalg;
pub mod model;
pub mod native;
pub mod objective;
pub mod ops;
pub mod optim;
pub mod rng;
pub mod toy;
pub mod train;
