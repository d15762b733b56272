//! Models as functions of a flat parameter vector, losses, derivatives and training.

pub mod backend;
pub mod data;
pub mod derivatives;
pub mod eval;
pub mod init;
pub mod model;
pub mod native;
pub mod objective;
pub mod ops;
pub mod toy;
pub mod train;
