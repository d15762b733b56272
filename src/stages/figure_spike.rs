//! Figures of one loss spike: `figure_spike` (Fig 3.1: loss and lambda_max over training with
//! 2/lr, a zoom on the spike with lambda_max at its checkpoints, the PCA landscape of its
//! window), `figure_landscape` (Fig 3.2(a): the PCA landscape of a stretch of the edge of
//! stability) and `figure_frequency` (Fig 3.3).

use anyhow::{Result, bail};

use crate::config::ParamSpec;
use crate::engine::context::{Input, StageContext};
use crate::engine::kind::{ParamsExt, StageKind};
use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLACK, BLUE, GREEN, GREY, Mark, ORANGE, Panel, RED, Series};
use crate::table::{col_f64, col_i64};

use super::figure::{self, Claim, Figure, publish};
use super::spikes::picks;
use super::trained::read_log;

/// Adds the PCA landscape of a `pca_landscape` input to `data` as panel `name`; returns the
/// explained-variance ratios.
fn landscape(data: &mut FigureData, name: &str, pca: &Input) -> Result<Vec<f64>> {
    let s = pca.table("surface")?;
    data.xyz(
        name,
        "surface",
        &col_f64(&s, "alpha")?,
        &col_f64(&s, "beta")?,
        &col_f64(&s, "loss")?,
    );
    let t = pca.table("trajectory")?;
    let epochs: Vec<f64> = col_i64(&t, "epoch")?
        .into_iter()
        .map(|e| e as f64)
        .collect();
    data.xyz(
        name,
        "trajectory",
        &col_f64(&t, "alpha")?,
        &col_f64(&t, "beta")?,
        &epochs,
    );
    col_f64(&pca.table("pca")?, "explained")
}

fn landscape_panel(name: &str, title: &str) -> Panel {
    Panel::new(
        name,
        title,
        Axis::lin("alpha (PCA direction 1)"),
        Axis::lin("beta (PCA direction 2)"),
    )
    .with(Series::new("surface", "", Mark::Heat, BLACK))
    .with(Series::new(
        "trajectory",
        "trajectory (colour: epoch)",
        Mark::PointsByZ,
        BLACK,
    ))
}

fn pca_claim(explained: &[f64], paper: f64) -> Claim {
    let two = explained.iter().take(2).sum::<f64>();
    Claim::new(
        "pca_two_directions",
        &format!(
            "The first two PCA directions explain most of the variance of the window (paper: {paper})."
        ),
        "sum of the first two explained variance ratios >= 0.9",
        two >= 0.9,
        format!(
            "first two: {:.4} + {:.4} = {two:.4}",
            explained.first().copied().unwrap_or(0.0),
            explained.get(1).copied().unwrap_or(0.0)
        ),
    )
}

/// "A spike occurs with lambda_max above 2/lr at its onset and below after": over the lambda_max
/// measurements (epoch, value) of the spike window.
pub fn edge_claim(
    lambda: &[(usize, f64)],
    onset: usize,
    peak: usize,
    end: usize,
    lr: f64,
    window_start: usize,
) -> Claim {
    let threshold = 2.0 / lr;
    let before: Vec<f64> = lambda
        .iter()
        .filter(|(e, _)| *e >= window_start && *e <= onset)
        .map(|l| l.1)
        .collect();
    let after: Vec<f64> = lambda
        .iter()
        .filter(|(e, _)| *e >= peak && *e <= end)
        .map(|l| l.1)
        .collect();
    let max_before = before.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let min_after = after.iter().cloned().fold(f64::INFINITY, f64::min);
    Claim::new(
        "spike_at_edge_of_stability",
        "The loss spike happens when lambda_max exceeds 2/lr; lambda_max falls below 2/lr as the loss comes back down.",
        "max lambda_max over the measurements from the window start to the onset > 2/lr, and min over the measurements from the peak to the end < 2/lr",
        max_before > threshold && min_after < threshold,
        format!(
            "2/lr = {threshold:.3}; onset epoch {onset}, peak {peak}, end {end}; max lambda_max before the onset {max_before:.3} ({} measurements), min after the peak {min_after:.3} ({} measurements)",
            before.len(),
            after.len()
        ),
    )
}

/// "The spike happens at the edge of stability reached by training": some lambda_max measured
/// before the onset is below 2/lr. This tells the paper's spikes apart from the catapult of the
/// first epochs of a run initialised sharper than 2/lr, which `edge_claim` alone would accept.
pub fn sharpening_claim(lambda: &[(usize, f64)], onset: usize, lr: f64) -> Claim {
    let threshold = 2.0 / lr;
    let before: Vec<(usize, f64)> = lambda.iter().copied().filter(|(e, _)| *e < onset).collect();
    let stable = before.iter().find(|(_, l)| *l < threshold);
    Claim::new(
        "spike_after_sharpening",
        "The spike happens in the edge-of-stability stage: training had been stable (lambda_max < 2/lr) and sharpened up to 2/lr, as opposed to a catapult from an initialisation sharper than 2/lr.",
        "some lambda_max measured before the onset epoch < 2/lr",
        stable.is_some(),
        match stable {
            Some((e, l)) => format!(
                "onset epoch {onset}; lambda_max {l:.3} < 2/lr = {threshold:.3} at epoch {e}"
            ),
            None => format!(
                "onset epoch {onset}; all {} lambda_max measurements before it >= 2/lr = {threshold:.3}{}",
                before.len(),
                before
                    .first()
                    .map(|(e, l)| format!(" (epoch {e}: {l:.3})"))
                    .unwrap_or_default()
            ),
        },
    )
}

pub struct FigureSpike;

/// Adds a run's loss and lambda_max over training (with 2/lr) as panel `name`.
fn loss_panel(
    data: &mut FigureData,
    name: &str,
    title: &str,
    log: &super::trained::Log,
    lr: f64,
    thin: usize,
) -> Panel {
    let ep: Vec<f64> = log.epoch.iter().step_by(thin).map(|&e| e as f64).collect();
    data.xy(
        name,
        "loss",
        &ep,
        &log.loss.iter().step_by(thin).cloned().collect::<Vec<_>>(),
    );
    let (le, lv): (Vec<f64>, Vec<f64>) = log.lambda.iter().map(|&(e, l)| (e as f64, l)).unzip();
    data.xy(name, "lambda_max", &le, &lv);
    data.xy(
        name,
        "2/lr",
        &[0.0, *log.epoch.last().unwrap_or(&0) as f64],
        &[2.0 / lr; 2],
    );
    Panel::new(name, title, Axis::lin("epoch"), Axis::log("loss"))
        .right_axis(Axis::lin("lambda_max"))
        .with(Series::new("loss", "loss", Mark::Line, BLACK))
        .with(Series::new("lambda_max", "lambda_max", Mark::Points, RED).right())
        .with(Series::new("2/lr", "2/lr", Mark::Dashed, GREY).right())
}

impl StageKind for FigureSpike {
    fn name(&self) -> &'static str {
        "figure_spike"
    }
    fn version(&self) -> u32 {
        3
    }
    fn doc(&self) -> &'static str {
        "Fig 3.1: loss and lambda_max with 2/lr (optionally of a second run), a zoom on the spike, and its PCA landscape"
    }
    fn params(&self) -> Vec<ParamSpec> {
        figure::params(
            "fig3_1abc",
            "Fig 3.1(a-c): two-layer tanh NN, width 20",
            vec![
                ParamSpec::strs(
                    "panels",
                    "panel names: [other run,] run, [zoom (with a `sharpness` input),] PCA",
                )
                .default(vec!["a", "b", "c"]),
                ParamSpec::float(
                    "paper_pca",
                    "the paper's explained-variance sum for this figure",
                )
                .default(0.9895),
                ParamSpec::int("thin", "plot every k-th epoch of the full log").default(1i64),
            ],
        )
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let p = ctx.params;
        let names = p.strs("panels")?;
        let train = ctx.input("train")?;
        let lr = train.params.f64("lr")?;
        let log = read_log(train)?;
        let picks = picks(ctx.input("spikes")?)?;
        let other = ctx.inputs("other").ok().and_then(|o| o.first());
        let sharp = ctx
            .inputs("sharpness")
            .ok()
            .and_then(|s| s.first())
            .map(|s| s.table("sharpness"))
            .transpose()?;
        let want = 2 + usize::from(other.is_some()) + usize::from(sharp.is_some());
        if names.len() != want {
            bail!(
                "`panels` needs {want} names for these inputs, got {}",
                names.len()
            );
        }
        let thin = p.usize("thin")?.max(1);
        let (w0, w1) = picks.window;
        let mut data = FigureData::new();
        let mut panels = Vec::new();
        let mut next = names.iter();
        if let Some(o) = other {
            let olr = o.params.f64("lr")?;
            let n = next.next().expect("counted");
            panels.push(loss_panel(
                &mut data,
                n,
                &format!("({n}) lr = {olr}: loss and lambda_max"),
                &read_log(o)?,
                olr,
                thin,
            ));
        }
        let n = next.next().expect("counted");
        let mut main = loss_panel(
            &mut data,
            n,
            &format!("({n}) lr = {lr}: loss and lambda_max"),
            &log,
            lr,
            thin,
        );
        data.xy(n, "peak", &[picks.peak as f64], &[picks.peak_loss]);
        main = main.with(Series::new("peak", "analysed spike", Mark::Points, GREEN));
        panels.push(main);
        let mut lambda: Vec<(usize, f64)> = log.lambda.clone();
        if let Some(sharp) = &sharp {
            let n = next.next().expect("counted");
            let epochs: Vec<usize> = col_i64(sharp, "epoch")?
                .into_iter()
                .map(|e| e as usize)
                .collect();
            let values = col_f64(sharp, "lambda_max")?;
            let (we, wl): (Vec<f64>, Vec<f64>) = log
                .epoch
                .iter()
                .zip(&log.loss)
                .filter(|(e, _)| **e >= w0 && **e <= w1)
                .map(|(&e, &l)| (e as f64, l))
                .unzip();
            data.xy(n, "loss", &we, &wl);
            data.xy(
                n,
                "lambda_max",
                &epochs.iter().map(|&e| e as f64).collect::<Vec<_>>(),
                &values,
            );
            data.xy(n, "2/lr", &[w0 as f64, w1 as f64], &[2.0 / lr; 2]);
            panels.push(
                Panel::new(
                    n,
                    &format!("({n}) epochs {w0}-{w1}"),
                    Axis::lin("epoch"),
                    Axis::log("loss"),
                )
                .right_axis(Axis::lin("lambda_max"))
                .with(Series::new("loss", "loss", Mark::Line, BLACK))
                .with(Series::new("lambda_max", "lambda_max", Mark::Line, RED).right())
                .with(Series::new("2/lr", "2/lr", Mark::Dashed, GREY).right()),
            );
            lambda.extend(epochs.into_iter().zip(values));
            lambda.sort_by_key(|l| l.0);
        }
        let n = next.next().expect("counted");
        let explained = landscape(&mut data, n, ctx.input("pca")?)?;
        panels.push(landscape_panel(
            n,
            &format!("({n}) loss surface, PCA of epochs {w0}-{w1}"),
        ));

        let spec = figure::spec(ctx, panels.len(), panels)?;
        let claims = vec![
            edge_claim(&lambda, picks.onset, picks.peak, picks.end, lr, w0),
            sharpening_claim(&lambda, picks.onset, lr),
            pca_claim(&explained, p.f64("paper_pca")?),
        ];
        let notes = vec![format!("spike picked automatically: {}", picks.describe())];
        publish(
            ctx,
            &Figure {
                spec,
                data,
                claims,
                notes,
            },
        )
    }
}

pub struct FigureLandscape;

impl StageKind for FigureLandscape {
    fn name(&self) -> &'static str {
        "figure_landscape"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Fig 3.2(a): the PCA landscape of a stretch of training at the edge of stability"
    }
    fn params(&self) -> Vec<ParamSpec> {
        figure::params(
            "fig3_2a",
            "Fig 3.2(a): loss surface along the first two PCA directions at the edge of stability",
            vec![],
        )
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let mut data = FigureData::new();
        let explained = landscape(&mut data, "a", ctx.input("pca")?)?;
        let spec = figure::spec(
            ctx,
            1,
            vec![landscape_panel("a", "(a) loss surface and trajectory")],
        )?;
        publish(
            ctx,
            &Figure {
                spec,
                data,
                claims: vec![pca_claim(&explained, 0.99)],
                notes: vec![],
            },
        )
    }
}

pub struct FigureFrequency;

impl StageKind for FigureFrequency {
    fn name(&self) -> &'static str {
        "figure_frequency"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Fig 3.3: low-frequency proportion of the spike, initial and random output differences"
    }
    fn params(&self) -> Vec<ParamSpec> {
        figure::params(
            "fig3_3",
            "Fig 3.3: frequency of the loss spike (two-layer tanh NN, width 20)",
            vec![],
        )
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let freq = ctx.input("frequency")?;
        let lfp = freq.table("lfp")?;
        let k: Vec<f64> = col_i64(&lfp, "k")?.into_iter().map(|k| k as f64).collect();
        let (spike, initial) = (col_f64(&lfp, "spike")?, col_f64(&lfp, "initial")?);
        let (rmean, rstd) = (col_f64(&lfp, "random_mean")?, col_f64(&lfp, "random_std")?);
        let mut data = FigureData::new();
        data.xy("a", "spike", &k, &spike);
        data.xy("a", "initial", &k, &initial);
        data.xyz("a", "random", &k, &rmean, &rstd);
        let ep = freq.table("epochs")?;
        let epochs: Vec<f64> = col_i64(&ep, "epoch")?
            .into_iter()
            .map(|e| e as f64)
            .collect();
        data.xy("b", "loss", &epochs, &col_f64(&ep, "loss")?);
        data.xy("b", "lfp", &epochs, &col_f64(&ep, "lfp")?);
        let lfp_k = freq.params.usize("lfp_k")?;
        let spec = figure::spec(
            ctx,
            2,
            vec![
                Panel::new(
                    "a",
                    "(a) low-frequency proportion LFP(K)",
                    Axis::lin("threshold K"),
                    Axis::lin("LFP"),
                )
                .with(Series::new("spike", "spike difference", Mark::Line, RED))
                .with(Series::new(
                    "initial",
                    "initial difference",
                    Mark::Line,
                    BLUE,
                ))
                .with(Series::new(
                    "random",
                    "random (mean +- std)",
                    Mark::ErrorBars,
                    GREY,
                )),
                Panel::new(
                    "b",
                    &format!("(b) train loss and LFP(K={lfp_k}) over the spike"),
                    Axis::lin("epoch"),
                    Axis::log("loss"),
                )
                .right_axis(Axis::lin(&format!("LFP(K={lfp_k})")))
                .with(Series::new("loss", "loss", Mark::Line, BLACK))
                .with(Series::new("lfp", "LFP", Mark::Line, ORANGE).right()),
            ],
        )?;
        let small = [1usize, 2, 3];
        let ok = small.iter().all(|&i| {
            i < spike.len() && spike[i] > initial[i] && spike[i] > rmean[i] + 2.0 * rstd[i]
        });
        let measured = small
            .iter()
            .filter(|&&i| i < spike.len())
            .map(|&i| {
                format!(
                    "K={i}: spike {:.3}, initial {:.3}, random {:.3} +- {:.3}",
                    spike[i], initial[i], rmean[i], rstd[i]
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let claim = Claim::new(
            "spike_difference_is_low_frequency",
            "The spike output difference has a larger low-frequency proportion than the initial and random output differences.",
            "for K = 1, 2, 3: LFP_spike(K) > LFP_initial(K) and LFP_spike(K) > mean + 2 std of the random control",
            ok,
            measured,
        );
        publish(
            ctx,
            &Figure {
                spec,
                data,
                claims: vec![claim],
                notes: vec![],
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catapult_from_a_sharp_start_is_not_a_spike_after_sharpening() {
        // lr 0.1, 2/lr = 20: a run starting at lambda_max 73 that spikes in epoch 1 (the
        // catapult), and one that sharpens from 5 to 21 before its spike at epoch 300.
        let catapult = [(0, 73.0), (50, 0.9), (100, 1.3)];
        let c = sharpening_claim(&catapult, 1, 0.1);
        assert!(!c.supported, "{}", c.measured);
        assert!(c.measured.contains("(epoch 0: 73.000)"), "{}", c.measured);
        let sharpened = [(0, 30.0), (100, 5.0), (200, 19.0), (290, 21.0), (310, 15.0)];
        let s = sharpening_claim(&sharpened, 300, 0.1);
        assert!(s.supported, "{}", s.measured);
        assert!(
            s.measured.contains("5.000 < 2/lr = 20.000 at epoch 100"),
            "{}",
            s.measured
        );
        // Measurements after the onset do not count.
        assert!(!sharpening_claim(&sharpened, 0, 0.1).supported);
    }

    #[test]
    fn edge_claim_needs_lambda_above_before_and_below_after() {
        let lambda = [(0, 5.0), (90, 21.0), (100, 22.0), (110, 25.0), (120, 12.0)];
        assert!(edge_claim(&lambda, 100, 110, 120, 0.1, 90).supported);
        // Never below 2/lr after the peak.
        let stuck = [(0, 5.0), (90, 21.0), (100, 22.0), (110, 25.0), (120, 24.0)];
        assert!(!edge_claim(&stuck, 100, 110, 120, 0.1, 90).supported);
    }
}
