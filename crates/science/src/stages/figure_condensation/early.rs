//! `figure_early` (Fig 5.3, A.1, B.3): condensed variance and lambda_max during early
//! training, small and large learning rate.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use spike_config::InputSpec;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;

use super::super::figure::{Figure, FigureParams};
use super::super::train::TrainParams;
use super::super::trained::{Log, read_log};
use super::{Lens, Variance, cond_of, divergence};
use crate::claims::Claim;
use crate::claims::readings::Angle;
use crate::claims::sec5::{
    TRAINS, TrendSeries, early_spike_claim, lambda_spikes_claim, trends_agree_claim,
    trends_differ_claim,
};
use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLUE, GREY, Mark, ORANGE, Panel, RED, Series};

pub(crate) struct FigureEarly;

spike_config::choice_enum! {
    /// Which of the paper's statements the runs of an early-training figure are held to.
    pub(crate) enum Regime {
        /// Sec 5.2, Fig 5.3, B.3: the trends agree, only the large lr spikes.
        Linear = "linear",
        /// Appendix B.1, Fig A.1: lambda_max rises while the condensed variance falls;
        /// Appendix A: both lrs spike.
        Condensed = "condensed",
    }
}

crate::figure_params! {
    id: "fig5_3",
    applies: ["angle", "spike_factor"],
    title: "Fig 5.3",
    pub(crate) struct FigureEarlyParams {
        /// which of the paper's statements the runs are held to: linear (Sec 5.2, Fig 5.3, B.3:
        /// the trends agree, only the large lr spikes) or condensed (Appendix B.1, Fig A.1:
        /// lambda_max rises while the condensed variance falls; Appendix A: both lrs spike)
        pub regime: Regime = Regime::Linear,
    }
}

/// One run: its learning rate, log, and the epochs with both a checkpoint and lambda_max.
struct Run {
    role: &'static str,
    lr: f64,
    log: Log,
    series: TrendSeries,
}

impl Run {
    fn read(role: &'static str, run: &Input, conds: &[Input]) -> Result<Run> {
        let lr = run.params::<TrainParams>()?.lr;
        let log = read_log(run)?;
        let var = Variance::read(cond_of(conds, run)?)?;
        let lambda: BTreeMap<usize, f64> = log.lambda.iter().cloned().collect();
        let mut series = TrendSeries {
            epochs: vec![],
            v: vec![],
            circular: vec![],
            lambda: vec![],
        };
        for (i, epoch) in var.epoch.iter().enumerate() {
            if let Some(lam) = lambda.get(epoch) {
                series.epochs.push(*epoch);
                series.v.push(var.paper[i]);
                series.circular.push(var.circular[i]);
                series.lambda.push(*lam);
            }
        }
        if series.epochs.len() < 3 {
            bail!(
                "`{}` has fewer than 3 epochs with both a checkpoint and lambda_max; make checkpoint_every a multiple of sharpness_every",
                run.stage
            );
        }
        Ok(Run {
            role,
            lr,
            log,
            series,
        })
    }

    fn draw(&self, data: &mut FigureData) -> Panel {
        let (role, s) = (self.role, &self.series);
        let ef: Vec<f64> = s.epochs.iter().map(|&x| x as f64).collect();
        data.xy(role, "v_cond", &ef, &s.v);
        data.xy(role, "v_cond_circular", &ef, &s.circular);
        data.xy(role, "lambda_max", &ef, &s.lambda);
        data.xy(
            role,
            "2/lr",
            &[ef[0], ef[ef.len() - 1]],
            &[self.log.edge.value; 2],
        );
        Panel::new(
            role,
            &format!("lr = {}", self.lr),
            Axis::lin("epoch"),
            Axis::lin("condensed variance"),
        )
        .right_axis(Axis::lin("lambda_max"))
        .with(Series::new(
            "v_cond",
            "V_cond, theta = arctan(b/w) (angle = arctan_ratio)",
            Mark::Line,
            BLUE,
        ))
        .with(Series::new(
            "v_cond_circular",
            "V_cond, two-argument angle",
            Mark::Dashed,
            ORANGE,
        ))
        .with(Series::new("lambda_max", self.log.edge.measure, Mark::Line, RED).right())
        .with(Series::new("2/lr", self.log.edge.name, Mark::Dashed, GREY).right())
    }

    /// The trends claim of this run under the variant's reading.
    fn trends_claim(&self, condensed: bool, lens: Lens, trains: Option<&str>) -> Claim {
        let series = match lens.angle {
            Angle::ArctanRatio => self.series.clone(),
            Angle::TwoArgument => self.series.circular_view(),
        };
        let claim = if condensed {
            trends_differ_claim(self.role, self.lr, &series, lens.v_name())
        } else {
            let windows: Vec<(usize, usize)> = lens
                .rule
                .detect(&self.log.loss)
                .iter()
                .map(|s| (self.log.epoch[s.onset], self.log.epoch[s.end]))
                .collect();
            trends_agree_claim(
                self.role,
                self.lr,
                &series.outside(&windows),
                lens.v_name(),
                lens.rule,
            )
        };
        claim.requires(TRAINS, trains)
    }
}

impl Kind for FigureEarly {
    const NAME: &'static str = "figure_early";
    const VERSION: u32 = 3;
    const DOC: &'static str = "Fig 5.3 / A.1 / B.3: condensed variance and lambda_max during early training, small and large learning rate";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("small", &["train"]),
        InputSpec::one("large", &["train"]),
        InputSpec::many("cond", &["condensation"]),
    ];
    type Params = FigureEarlyParams;
    type Output = Figure;

    fn run(&self, p: &FigureEarlyParams, ctx: &mut StageContext) -> Result<Figure> {
        let condensed = p.regime == Regime::Condensed;
        let lens = Lens::of(ctx)?;
        let conds = ctx.inputs("cond")?;
        let runs = [
            Run::read("small", ctx.input("small")?, conds)?,
            Run::read("large", ctx.input("large")?, conds)?,
        ];
        let trains = divergence(&[
            (ctx.input("small")?, runs[0].lr),
            (ctx.input("large")?, runs[1].lr),
        ])?;
        let trains = trains.as_deref();
        let mut data = FigureData::new();
        let panels = runs.iter().map(|r| r.draw(&mut data)).collect();
        let mut claims: Vec<Claim> = runs
            .iter()
            .map(|r| r.trends_claim(condensed, lens, trains))
            .collect();
        let spikes = runs.each_ref().map(|r| (r.lr, lens.describe(&r.log)));
        claims.push(early_spike_claim(
            condensed,
            lens.rule,
            [&spikes[0], &spikes[1]],
            trains,
        ));
        if !condensed {
            let lambdas = runs
                .each_ref()
                .map(|r| (r.lr, r.log.lambda.iter().map(|l| l.1).collect::<Vec<f64>>()));
            let [s, l] = &lambdas;
            claims.push(lambda_spikes_claim((s.0, &s.1), (l.0, &l.1)).requires(TRAINS, trains));
        }
        Ok(Figure {
            tables: vec![],
            spec: p.spec(2, panels),
            data,
            claims,
            notes: vec![],
        })
    }
}
