//! Stage kinds: the science. Each is a pure function of (params, inputs) -> artifacts; adding an
//! analysis is one file here, one line in [`registry`], and a few lines of `pipeline.yaml`.

pub mod cifar10;
pub mod cifar10_subset;
pub mod data;
pub mod dataset_1d;
pub mod figure_toy;
pub mod train;
pub mod train_toy;

use anyhow::Result;

use crate::engine::context::StageContext;
use crate::engine::kind::Registry;
use crate::nn::backend::BackendKind;

/// Every stage kind `pipeline.yaml` may use.
pub fn registry() -> Registry {
    Registry::new(vec![
        Box::new(cifar10::Cifar10),
        Box::new(cifar10_subset::Cifar10Subset),
        Box::new(dataset_1d::Dataset1d),
        Box::new(train::Train),
        Box::new(train_toy::TrainToy),
        Box::new(figure_toy::FigureToy),
    ])
}

/// The backend a numeric stage runs on (from the numeric environment of its key).
pub fn backend_of(ctx: &StageContext) -> Result<BackendKind> {
    BackendKind::parse(ctx.env.get("backend").map(String::as_str).unwrap_or("flex"))
}
