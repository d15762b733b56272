//! `figure_toy`: Fig 3.2(c, d): the toy model's loss and lambda_max against the step with 2/lr,
//! and the loss surface on a grid with the gradient-descent trajectory on it.

use anyhow::Result;

use crate::analysis::spikes::PAPER_RULE;
use crate::config::InputSpec;
use crate::engine::context::StageContext;
use crate::engine::kind::Kind;
use crate::nn::toy;
use crate::plot::spec::{Axis, BLACK, GREY, Mark, Panel, RED, Series};
use crate::plot::{FigureData, linspace};

use super::figure::{Claim, Figure, FigureParams, Quote};
use super::train_toy::{ToyLog, TrainToyParams};

pub(crate) struct FigureToy;

crate::figure_params! {
    id: "fig3_2",
    title: "Fig 3.2(c, d): the lower-loss-as-sharper toy model f(x, y) = (50x + 200)y^2 - x + 5",
    pub(crate) struct FigureToyParams {
        /// surface extent in x
        pub x_range: Vec<f64> = vec![-1.5, 1.0]; len(2, 2),
        /// surface extent in y
        pub y_range: Vec<f64> = vec![-1.5, 1.5]; len(2, 2),
        /// surface resolution per axis
        pub grid: usize = 61; range(2.0, 2000.0),
    }
}

impl Kind for FigureToy {
    const NAME: &'static str = "figure_toy";
    const VERSION: u32 = 3;
    const DOC: &'static str = "Fig 3.2(c, d): loss and lambda_max of the toy model with 2/lr, loss surface and trajectory";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one("train", &["train_toy"])];
    type Params = FigureToyParams;
    type Output = Figure;

    fn run(&self, p: &FigureToyParams, ctx: &mut StageContext) -> Result<Figure> {
        let train = ctx.input("train")?;
        let lr = train.params::<TrainToyParams>()?.lr;
        let ToyLog {
            step,
            loss,
            x,
            y,
            lambda_max: lambda,
        } = train.read()?;
        let step: Vec<f64> = step.into_iter().map(|s| s as f64).collect();

        let mut data = FigureData::new();
        data.xy("c", "loss", &step, &loss);
        data.xy("c", "lambda_max", &step, &lambda);
        data.xy("c", "2/lr", &step, &vec![2.0 / lr; step.len()]);
        let (xr, yr, n) = (&p.x_range, &p.y_range, p.grid);
        if xr[0] >= xr[1] || yr[0] >= yr[1] {
            anyhow::bail!(
                "`x_range` and `y_range` must be [a, b] with a < b, got {xr:?} and {yr:?}"
            );
        }
        for &gy in &linspace(yr[0], yr[1], n) {
            for &gx in &linspace(xr[0], xr[1], n) {
                data.push("d", "surface", gx, gy, Some(toy::loss(gx, gy)));
            }
        }
        data.xyz("d", "trajectory", &x, &y, &step);

        let spec = p.spec(
            2,
            vec![
                Panel::new(
                    "c",
                    "(c) loss and lambda_max",
                    Axis::lin("step"),
                    Axis::log("loss"),
                )
                .right_axis(Axis::lin("lambda_max"))
                .with(Series::new("loss", "loss", Mark::Line, BLACK))
                .with(Series::new("lambda_max", "lambda_max", Mark::Line, RED).right())
                .with(Series::new("2/lr", "2/lr", Mark::Dashed, GREY).right()),
                Panel::new(
                    "d",
                    "(d) loss surface and GD trajectory (colour: step)",
                    Axis::lin("x"),
                    Axis::lin("y"),
                )
                .with(Series::new("surface", "", Mark::Heat, BLACK))
                .with(Series::new("trajectory", "GD", Mark::PointsByZ, BLACK)),
            ],
        );
        Ok(Figure {
            spec,
            data,
            claims: vec![
                spike_claim(&loss, &lambda, lr),
                sharp_then_flat_claim(&loss, &x),
            ],
            notes: vec![],
        })
    }
}

/// Sec 3.2's linear-stability reading of a spike: the loss rises while lambda_max > 2/lr and
/// falls once lambda_max < 2/lr. The toy starts at lambda_max = 450 > 2/lr = 400, so this is not
/// an edge-of-stability check (the paper makes none for the toy): lambda_max > 2/lr the step
/// before the onset and < 2/lr at the end of the spike.
pub(crate) fn spike_claim(loss: &[f64], lambda: &[f64], lr: f64) -> Claim {
    let quote = Quote {
        text: "When the maximum eigenvalue of Hessian λmax (red) exceeds 2/η (black dashed line), the loss increases, and when λmax < 2/η, the loss decreases, which are consistent with the linear stability analysis.",
        source: "Sec 3.2; Sec 3.3 says of the toy (Fig 3.2(c, d)) that its loss curve and trajectory \"are similar to the realistic example above\"",
    };
    let criterion = format!(
        "a spike by the paper's rule ({PAPER_RULE}, in steps) exists; lambda_max > 2/lr the step before its onset and < 2/lr at its end"
    );
    let id = "loss_rises_while_lambda_above_2_over_lr";
    let threshold = 2.0 / lr;
    match PAPER_RULE.detect(loss).first() {
        None => Claim::new(
            id,
            quote,
            &criterion,
            false,
            "no step with a loss above 10x the lowest of the previous 100".to_string(),
        ),
        Some(s) => {
            let before = lambda[s.onset.saturating_sub(1)];
            let after = lambda[s.end];
            Claim::new(
                id,
                quote,
                &criterion,
                before > threshold && after < threshold,
                format!(
                    "spike from step {} (loss {:.3}) to peak {:.3} at step {}, recovered at step {}; lambda_max {:.1} before the onset, {:.1} at recovery, 2/lr = {:.1}",
                    s.onset, s.pre_loss, s.peak_loss, s.peak, s.end, before, after, threshold
                ),
            )
        }
    }
}

/// "The parameters move toward the sharp direction at the beginning of the loss spike, and then
/// move toward the flat direction": in the toy the landscape is sharper at larger x (the
/// curvature along y is 2(50x + 200)), so the trajectory moves to larger x into the onset of the
/// spike (x at the onset above x the step before) and back to smaller x after its peak (x at the
/// end below x at the peak).
pub(crate) fn sharp_then_flat_claim(loss: &[f64], x: &[f64]) -> Claim {
    let quote = Quote {
        text: "As shown in Fig. 3.2(c,d), the loss curve and the trajectory of parameters are similar to the realistic example above, where the parameters move toward the sharp direction at the beginning of the loss spike, and then move toward the flat direction.",
        source: "Sec 3.3, Fig 3.2(c, d)",
    };
    let criterion = format!(
        "for the spike by the paper's rule ({PAPER_RULE}, in steps): x(onset) > x(onset - 1) (toward the sharper region, larger x) and x(end) < x(peak) (toward the flatter region)"
    );
    let id = "moves_to_sharp_then_flat";
    let Some(s) = PAPER_RULE.detect(loss).first().cloned() else {
        return Claim::premise_failed(
            id,
            quote,
            &criterion,
            "the toy's loss spikes",
            "no step with a loss above 10x the lowest of the previous 100".into(),
        );
    };
    let into = x[s.onset] - x[s.onset.saturating_sub(1)];
    let back = x[s.end] - x[s.peak];
    Claim::new(
        id,
        quote,
        &criterion,
        into > 0.0 && back < 0.0,
        format!(
            "x: {:.4} at step {} -> {:.4} at the onset (step {}); {:.4} at the peak (step {}) -> {:.4} at the end (step {})",
            x[s.onset.saturating_sub(1)],
            s.onset.saturating_sub(1),
            x[s.onset],
            s.onset,
            x[s.peak],
            s.peak,
            x[s.end],
            s.end
        ),
    )
    .margin(format!(
        "dx into the onset {into:+.4} (needs > 0); dx from the peak to the end {back:+.4} (needs < 0)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spike_claim_reads_lambda_at_onset_and_end() {
        // lr 0.005, 2/lr = 400: flat loss, then a 100x spike over steps 120-125.
        let mut loss = vec![1.0; 120];
        loss.extend([5.0, 20.0, 100.0, 30.0, 2.0, 1.0]);
        loss.extend(vec![0.9; 10]);
        let mut lambda = vec![450.0; 124];
        lambda.extend(vec![350.0; 12]);
        let c = spike_claim(&loss, &lambda, 0.005);
        assert!(c.supported(), "{}", c.measured);
        // lambda_max never falls below 2/lr: not supported.
        assert!(!spike_claim(&loss, &[450.0; 136], 0.005).supported());
        // No spike at all: not supported.
        assert!(!spike_claim(&[1.0; 136], &lambda, 0.005).supported());
    }

    #[test]
    fn sharp_then_flat_reads_x_into_the_onset_and_after_the_peak() {
        let mut loss = vec![1.0; 120];
        loss.extend([5.0, 20.0, 100.0, 30.0, 2.0, 1.0]);
        // x rises into the onset (step 120), peaks with the loss at 122, falls back by 124.
        let mut x: Vec<f64> = (0..121).map(|i| 0.001 * i as f64).collect();
        x.extend([0.121, 0.12, 0.05, 0.0, -0.1]);
        let c = sharp_then_flat_claim(&loss, &x);
        assert!(c.supported(), "{}", c.measured);
        // Still moving to larger x after the peak: not supported.
        let mut on: Vec<f64> = (0..126).map(|i| 0.001 * i as f64).collect();
        on[125] = 0.2;
        assert!(!sharp_then_flat_claim(&loss, &on).supported());
        // No spike: the premise fails.
        let n = sharp_then_flat_claim(&[1.0; 126], &x);
        assert_eq!(n.verdict, crate::claims::Verdict::NotTested);
    }
}
