//! `condensation`: the condensed variance of a two-layer net's input weights at every
//! checkpoint, as the paper defines it (Definitions 5.1, 5.2: `v_cond`) and in its circular
//! variant (`v_cond_circular`; see `analysis::condensation` for both and why they differ), and
//! the per-neuron features at the first and last checkpoint (Fig 5.1 right, Fig B.1).
//!
//! Artifacts: `variance.parquet` (epoch, v_cond, mean_direction, v_cond_circular,
//! mean_direction_circular, near_vertical), `features.parquet` (epoch, neuron, orientation,
//! magnitude, output, amplitude).

use anyhow::{Result, bail};

use crate::analysis::condensation::{network_variances, neurons};
use crate::config::ParamSpec;
use crate::engine::context::StageContext;
use crate::engine::kind::StageKind;
use crate::nn::model::Arch;
use crate::table::TableBuilder;

use super::train::{ModelSpec, checkpoints};

pub struct Condensation;

impl StageKind for Condensation {
    fn name(&self) -> &'static str {
        "condensation"
    }
    fn version(&self) -> u32 {
        2
    }
    fn doc(&self) -> &'static str {
        "Condensed variance per checkpoint (the paper's Definition 5.2 and a circular variant) and neuron features of a two-layer net"
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![]
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let train = ctx.input("train")?;
        let Arch::Fnn { width, .. } = ModelSpec::from_params(&train.params)?.arch else {
            bail!(
                "`{}` is not a two-layer net with 1-D input; condensation is defined for those",
                train.stage
            );
        };
        let ck = checkpoints(train)?;
        let mut cols = (vec![], vec![], vec![], vec![], vec![], vec![]);
        for (epoch, _, theta) in &ck {
            let v = network_variances(theta, width);
            cols.0.push(*epoch as i64);
            cols.1.push(v.paper.1);
            cols.2.push(v.paper.0);
            cols.3.push(v.circular.1);
            cols.4.push(v.circular.0);
            cols.5.push(v.near_vertical);
        }
        ctx.write_table(
            "variance",
            &mut TableBuilder::new()
                .i64("epoch", cols.0)
                .f64("v_cond", cols.1)
                .f64("mean_direction", cols.2)
                .f64("v_cond_circular", cols.3)
                .f64("mean_direction_circular", cols.4)
                .f64("near_vertical", cols.5)
                .build()?,
        )?;
        let mut t = (vec![], vec![], vec![], vec![], vec![], vec![]);
        for c in [ck.first(), ck.last()].into_iter().flatten() {
            for (j, n) in neurons(&c.2, width).iter().enumerate() {
                t.0.push(c.0 as i64);
                t.1.push(j as i64);
                t.2.push(n.orientation);
                t.3.push(n.magnitude);
                t.4.push(n.output);
                t.5.push(n.amplitude);
            }
        }
        ctx.write_table(
            "features",
            &mut TableBuilder::new()
                .i64("epoch", t.0)
                .i64("neuron", t.1)
                .f64("orientation", t.2)
                .f64("magnitude", t.3)
                .f64("output", t.4)
                .f64("amplitude", t.5)
                .build()?,
        )
    }
}
