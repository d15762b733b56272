//! Stage kinds: the science. Each is a pure function of (params, inputs) -> artifacts; adding an
//! analysis is one file here, one line in [`registry`], and a few lines of `pipeline.yaml`.

pub mod cifar10;
pub mod cifar10_subset;
pub mod condensation;
pub mod data;
pub mod dataset_1d;
pub mod eigen;
pub mod figure;
pub mod figure_atlas;
pub mod figure_condensation;
pub mod figure_eigen;
pub mod figure_optimizer;
pub mod figure_spike;
pub mod figure_toy;
pub mod frequency;
pub mod hessian;
pub mod pca_landscape;
pub mod sharpness;
pub mod spikes;
pub mod train;
pub mod train_toy;
pub mod trained;

use anyhow::Result;

use spike_engine::context::StageContext;
use spike_engine::kind::Registry;
use spike_nn::backend::BackendKind;

/// The kinds whose stages are datasets (a `data` input).
pub(crate) const DATASETS: &[&str] = &["dataset_1d", "cifar10_subset"];

/// Every stage kind `pipeline.yaml` may use.
pub fn registry() -> Registry {
    Registry::new(vec![
        Box::new(cifar10::Cifar10),
        Box::new(cifar10_subset::Cifar10Subset),
        Box::new(dataset_1d::Dataset1d),
        Box::new(spikes::Spikes),
        Box::new(sharpness::Sharpness),
        Box::new(pca_landscape::PcaLandscape),
        Box::new(frequency::Frequency),
        Box::new(eigen::HessianEigen),
        Box::new(eigen::EigenProjection),
        Box::new(condensation::Condensation),
        Box::new(train::Train),
        Box::new(train_toy::TrainToy),
        Box::new(figure_toy::FigureToy),
        Box::new(figure_spike::FigureSpike),
        Box::new(figure_spike::FigureLandscape),
        Box::new(figure_spike::FigureFrequency),
        Box::new(figure_eigen::FigureRemoval),
        Box::new(figure_eigen::FigureProjection),
        Box::new(figure_condensation::FigureCondensation),
        Box::new(figure_condensation::FigureSweep),
        Box::new(figure_condensation::FigureEarly),
        Box::new(figure_atlas::FigureAtlas),
        Box::new(figure_optimizer::FigureOptimizer),
    ])
}

/// The backend a numeric stage runs on (from the numeric environment of its key).
pub(crate) fn backend_of(ctx: &StageContext) -> Result<BackendKind> {
    let kind = BackendKind::parse(
        ctx.env
            .get("backend")
            .map(String::as_str)
            .unwrap_or("native"),
    )?;
    kind.ensure_usable()?;
    Ok(kind)
}
