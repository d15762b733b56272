//! `condensation`: the condensed variance of a two-layer net's input weights at every
//! checkpoint, as the paper defines it (Definitions 5.1, 5.2: `v_cond`) and in its circular
//! variant (`v_cond_circular`; see `analysis::condensation` for both and why they differ), and
//! the per-neuron features at the first and last checkpoint (Fig 5.1 right, Fig B.1).
//!
//! Artifacts: `variance.parquet` (epoch, v_cond, mean_direction, v_cond_circular,
//! mean_direction_circular, near_vertical), `features.parquet` (epoch, neuron, orientation,
//! magnitude, output, amplitude).

use anyhow::{Context, Result, bail};

use crate::analysis::condensation::{network_variances, neurons};
use spike_config::InputSpec;
use spike_config::NoParams;
use spike_engine::context::StageContext;
use spike_engine::kind::Kind;
use spike_nn::layout::TwoLayer;
use spike_nn::model::Arch;

use super::train::{ModelSpec, TrainParams, checkpoints};

pub(crate) struct Condensation;

spike_engine::table_schema! {
    /// The condensed variance at every checkpoint.
    pub(crate) struct VarianceTable in "variance" {
        pub epoch: Vec<i64>,
        /// V of Definition 5.2.
        pub v_cond: Vec<f64>,
        /// The r-weighted mean orientation of Definition 5.1.
        pub mean_direction: Vec<f64>,
        pub v_cond_circular: Vec<f64>,
        pub mean_direction_circular: Vec<f64>,
        /// Share of the weight within 0.1 rad of w = 0 (where the paper's theta jumps).
        pub near_vertical: Vec<f64>,
    }
}

spike_engine::table_schema! {
    /// Per-neuron features at the first and last checkpoint.
    pub(crate) struct FeatureTable in "features" {
        pub epoch: Vec<i64>,
        pub neuron: Vec<i64>,
        pub orientation: Vec<f64>,
        pub magnitude: Vec<f64>,
        pub output: Vec<f64>,
        pub amplitude: Vec<f64>,
    }
}

impl Kind for Condensation {
    const NAME: &'static str = "condensation";
    const VERSION: u32 = 2;
    const DOC: &'static str = "Condensed variance per checkpoint (the paper's Definition 5.2 and a circular variant) and neuron features of a two-layer net";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one("train", &["train"])];
    type Params = NoParams;
    type Output = ();

    fn run(&self, _: &NoParams, ctx: &mut StageContext) -> Result<()> {
        let train = ctx.input("train")?;
        let params: TrainParams = train.params()?;
        let arch = ModelSpec::from_params(&params.model)?.arch;
        let Arch::Fnn { .. } = arch else {
            bail!(
                "`{}` is not a two-layer net with 1-D input; condensation is defined for those",
                train.stage
            );
        };
        let ck = checkpoints(train)?;
        let mut v = VarianceTable::default();
        for (epoch, _, theta) in &ck {
            let n = network_variances(&two_layer(&arch, &train.stage, *epoch, theta)?);
            v.epoch.push(*epoch as i64);
            v.v_cond.push(n.paper.1);
            v.mean_direction.push(n.paper.0);
            v.v_cond_circular.push(n.circular.1);
            v.mean_direction_circular.push(n.circular.0);
            v.near_vertical.push(n.near_vertical);
        }
        ctx.write(&v)?;
        let mut f = FeatureTable::default();
        for c in [ck.first(), ck.last()].into_iter().flatten() {
            for (j, n) in neurons(&two_layer(&arch, &train.stage, c.0, &c.2)?)
                .iter()
                .enumerate()
            {
                f.epoch.push(c.0 as i64);
                f.neuron.push(j as i64);
                f.orientation.push(n.orientation);
                f.magnitude.push(n.magnitude);
                f.output.push(n.output);
                f.amplitude.push(n.amplitude);
            }
        }
        ctx.write(&f)
    }
}

/// The net of a checkpoint, or an error naming it when its length is not the net's.
fn two_layer<'a>(
    arch: &Arch,
    stage: &str,
    epoch: usize,
    theta: &'a [f64],
) -> Result<TwoLayer<&'a [f64]>> {
    TwoLayer::of(arch, theta).with_context(|| {
        format!(
            "the checkpoint of epoch {epoch} of `{stage}` has {} parameters, its net {}",
            theta.len(),
            arch.dim()
        )
    })
}
