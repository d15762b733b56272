//! Figures of one loss spike: `figure_spike` (Fig 3.1: loss and lambda_max over training with
//! 2/lr, a zoom on the spike with lambda_max at its checkpoints, the PCA landscape of its
//! window), `figure_landscape` (Fig 3.2(a): the PCA landscape of a stretch of the edge of
//! stability) and `figure_frequency` (Fig 3.3).

use anyhow::{Context, Result, bail};

use crate::analysis::spikes::Event;
use crate::claims::sec3::{
    Grid, LLAS_EOS_QUOTE, LLAS_SPIKE_QUOTE, absent_claim, edge_claim, fast_descent_claim,
    fast_descent_not_tested, frequency_claim, frequency_claims_without_spike, lfp_rise_claim,
    llas_claim, llas_not_tested, not_at_edge_of_stability, pca_claim, pca_not_tested,
};
use crate::claims::{Claim, Quote};
use crate::plot::FigureData;
use crate::plot::spec::{Axis, BLACK, BLUE, GREEN, GREY, Mark, ORANGE, Panel, RED, Series};
use spike_config::InputSpec;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;

use super::figure::{Figure, FigureParams};
use super::frequency::{FrequencyParams, LfpEpochs, LfpTable, SKIPPED};
use super::pca_landscape::{PcaTable, Surface, Trajectory};
use super::sharpness::SharpnessTable;
use super::spikes::{Picks, SpikeTable, SpikesParams, picks};
use super::train::TrainParams;
use super::trained::{Log, diverged_at, read_log};

/// Adds the PCA landscape of a `pca_landscape` input to `data` as panel `name`; returns the
/// explained-variance ratios, the number of checkpoints in the window and the check of its
/// lower-loss-as-sharper structure (Sec 3.1 and 3.3, quoted by `llas`).
fn landscape(
    data: &mut FigureData,
    name: &str,
    pca: &Input,
    llas: Quote<'_>,
) -> Result<(Vec<f64>, usize, Claim)> {
    let s: Surface = pca.read()?;
    data.xyz(name, "surface", &s.alpha, &s.beta, &s.loss);
    let t: Trajectory = pca.read()?;
    let epochs: Vec<f64> = t.epoch.iter().map(|&e| e as f64).collect();
    data.xyz(name, "trajectory", &t.alpha, &t.beta, &epochs);
    let grid = Grid::from_points(&s.alpha, &s.beta, &s.loss)
        .with_context(|| format!("{}: the surface is not a regular grid", pca.stage))?;
    let structure = llas_claim(llas, &grid, &t.alpha, &t.beta);
    Ok((pca.read::<PcaTable>()?.explained, epochs.len(), structure))
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

pub(crate) struct FigureSpike;

/// Adds a run's loss and lambda_max over training (with its edge, 2/lr under GD) as panel
/// `name`: series `lambda_max` and `2/lr` hold the optimiser's own measure and line, named in
/// the legend.
fn loss_panel(data: &mut FigureData, name: &str, title: &str, log: &Log, thin: usize) -> Panel {
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
        &[log.edge.value; 2],
    );
    Panel::new(name, title, Axis::lin("epoch"), Axis::log("loss"))
        .right_axis(Axis::lin(log.edge.measure))
        .with(Series::new("loss", "loss", Mark::Line, BLACK))
        .with(Series::new("lambda_max", log.edge.measure, Mark::Points, RED).right())
        .with(Series::new("2/lr", log.edge.name, Mark::Dashed, GREY).right())
}

crate::figure_params! {
    id: "fig3_1abc",
    title: "Fig 3.1(a-c): two-layer tanh NN, width 20",
    pub(crate) struct FigureSpikeParams {
        /// panel names: [other run,] run, [zoom (with a `sharpness` input),] PCA
        pub panels: Vec<String> = vec!["a".into(), "b".into(), "c".into()],
        /// the paper's explained-variance sum for this figure
        pub paper_pca: f64 = 0.9895; range(0.0, 1.0),
        /// plot every k-th epoch of the full log
        pub thin: usize = 1; range(1.0, 1e9),
    }
}

impl Kind for FigureSpike {
    const NAME: &'static str = "figure_spike";
    const VERSION: u32 = 6;
    const DOC: &'static str = "Fig 3.1: loss and lambda_max with 2/lr (optionally of a second run), a zoom on the spike, and its PCA landscape";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("train", &["train"]),
        InputSpec::one("spikes", &["spikes"]),
        InputSpec::one("pca", &["pca_landscape"]),
        InputSpec::optional("sharpness", &["sharpness"]),
        InputSpec::optional("other", &["train"]),
        InputSpec::optional("other_spikes", &["spikes"]),
    ];
    type Params = FigureSpikeParams;
    type Output = Figure;

    fn run(&self, p: &FigureSpikeParams, ctx: &mut StageContext) -> Result<Figure> {
        let mut fig = spike_figure(p, ctx)?;
        let mut diverged = Vec::new();
        for role in ["other", "train"] {
            if let Some(run) = ctx.inputs(role).ok().and_then(|r| r.first())
                && let Some(e) = diverged_at(run)?
            {
                let lr = run.params::<TrainParams>()?.lr;
                diverged.push(format!("lr {lr} diverged at epoch {e}"));
            }
        }
        let failure = (!diverged.is_empty()).then(|| diverged.join("; "));
        fig.claims = fig
            .claims
            .into_iter()
            .map(|c| c.requires("every run trains without diverging", failure.as_deref()))
            .collect();
        Ok(fig)
    }
}

/// The figure and the claims of [`FigureSpike`], before its premise that the runs did not
/// diverge.
/// The optional inputs of a spike figure: a comparison run (with its spikes) and the
/// sharpness of the analysed spike's window; checked against the panel names given.
struct Optional<'a> {
    other: Option<&'a Input>,
    other_spikes: Option<&'a Input>,
    sharp: Option<SharpnessTable>,
}

impl<'a> Optional<'a> {
    fn read(ctx: &'a StageContext, names: &[String]) -> Result<Optional<'a>> {
        let other = ctx.inputs("other").ok().and_then(|o| o.first());
        let other_spikes = ctx.inputs("other_spikes").ok().and_then(|o| o.first());
        if other_spikes.is_some() && other.is_none() {
            bail!("`other_spikes` needs the `other` run it was found in");
        }
        let sharp = ctx
            .inputs("sharpness")
            .ok()
            .and_then(|s| s.first())
            .map(Input::read::<SharpnessTable>)
            .transpose()?;
        let want = 2 + usize::from(other.is_some()) + usize::from(sharp.is_some());
        if names.len() != want {
            bail!(
                "`panels` needs {want} names for these inputs, got {}",
                names.len()
            );
        }
        Ok(Optional {
            other,
            other_spikes,
            sharp,
        })
    }
}

fn spike_figure(p: &FigureSpikeParams, ctx: &StageContext) -> Result<Figure> {
    let train = ctx.input("train")?;
    let lr = train.params::<TrainParams>()?.lr;
    let log = read_log(train)?;
    let spikes = ctx.input("spikes")?;
    let Optional {
        other,
        other_spikes,
        sharp,
    } = Optional::read(ctx, &p.panels)?;
    let thin = p.thin.max(1);
    let mut data = FigureData::new();
    let mut panels = Vec::new();
    let mut notes = Vec::new();
    let mut claims = Vec::new();
    let mut next = p.panels.iter();
    // With two runs, each claim says which panel's run it is about.
    let prefix = |n: &str| {
        if other.is_some() {
            format!("{n}: ")
        } else {
            String::new()
        }
    };
    if let Some(o) = other {
        let n = next.next().expect("counted");
        let (panel, found) = other_run(&mut data, n, o, other_spikes, thin, &prefix(n))?;
        if let Some((found_notes, mut claim)) = found {
            notes.extend(found_notes);
            claim.id = format!("{}{}", prefix(n), claim.id);
            claims.push(claim);
        }
        panels.push(panel);
    }
    let n = next.next().expect("counted");
    let main = loss_panel(
        &mut data,
        n,
        &format!("({n}) lr = {lr}: loss and lambda_max"),
        &log,
        thin,
    );
    let found = Found::read(spikes)?;
    panels.push(found.mark(&mut data, main, n));
    notes.extend(found.notes(&prefix(n)));
    let main_prefix = prefix(n);
    let Some(picks) = found.picks else {
        notes.push(format!(
            "{main_prefix}no spike picked (`pick: {}`): the zoom and PCA panels are left out",
            found.params.pick
        ));
        claims.extend(without_spike(
            &log,
            &found.params,
            &main_prefix,
            p.paper_pca,
        ));
        return Ok(Figure {
            tables: vec![],
            spec: p.spec(panels.len(), panels),
            data,
            claims,
            notes,
        });
    };
    let (w0, w1) = picks.window;
    let mut lambda: Vec<(usize, f64)> = log.lambda.clone();
    if let Some(sharp) = &sharp {
        let n = next.next().expect("counted");
        panels.push(zoom(&mut data, n, &log, sharp, picks.window));
        // The sharpness stage measures the raw Hessian: the run's own measure only under GD
        // and momentum.
        if !log.edge.stability_column {
            let epochs = sharp.epoch.iter().map(|&e| e as usize);
            lambda.extend(epochs.zip(sharp.lambda_max.iter().copied()));
            lambda.sort_by_key(|l| l.0);
        }
    }
    let n = next.next().expect("counted");
    let (explained, points, structure) =
        landscape(&mut data, n, ctx.input("pca")?, LLAS_SPIKE_QUOTE)?;
    panels.push(landscape_panel(
        n,
        &format!("({n}) loss surface, PCA of epochs {w0}-{w1}"),
    ));
    let mut edge = edge_claim(
        &lambda,
        picks.onset,
        picks.peak,
        picks.end,
        log.edge.value,
        w0,
    );
    edge.id = format!("{main_prefix}{}", edge.id);
    claims.push(edge);
    claims.push(pca_claim(&explained, points, p.paper_pca));
    claims.push(structure);
    claims.push(fast_descent_claim(
        &log.epoch,
        &log.loss,
        picks.onset,
        picks.peak,
        picks.pre_loss,
    ));
    notes.push(format!("{main_prefix}spike analysed: {}", picks.describe()));
    Ok(Figure {
        tables: vec![],
        spec: p.spec(panels.len(), panels),
        data,
        claims,
        notes,
    })
}

/// The comparison run's panel and, when its spikes were searched, their notes and its
/// edge-of-stability claim.
#[allow(clippy::type_complexity)]
fn other_run(
    data: &mut FigureData,
    n: &str,
    o: &Input,
    spikes: Option<&Input>,
    thin: usize,
    prefix: &str,
) -> Result<(Panel, Option<(Vec<String>, Claim)>)> {
    let lr = o.params::<TrainParams>()?.lr;
    let log = read_log(o)?;
    let panel = loss_panel(
        data,
        n,
        &format!("({n}) lr = {lr}: loss and lambda_max"),
        &log,
        thin,
    );
    let Some(os) = spikes else {
        return Ok((panel, None));
    };
    let found = Found::read(os)?;
    let panel = found.mark(data, panel, n);
    let claim = match &found.picks {
        Some(pk) => edge_claim(
            &log.lambda,
            pk.onset,
            pk.peak,
            pk.end,
            log.edge.value,
            pk.window.0,
        ),
        None => absent_claim(
            &log.epoch,
            &log.loss,
            &log.lambda,
            log.edge.value,
            &found.params.rule(),
        ),
    };
    Ok((panel, Some((found.notes(prefix), claim))))
}

/// The claims of a run without a spike to analyse: its edge-of-stability check of the absence,
/// and the spike's own claims not tested.
fn without_spike(log: &Log, params: &SpikesParams, prefix: &str, paper_pca: f64) -> Vec<Claim> {
    let mut edge = absent_claim(
        &log.epoch,
        &log.loss,
        &log.lambda,
        log.edge.value,
        &params.rule(),
    );
    edge.id = format!("{prefix}{}", edge.id);
    vec![
        edge,
        pca_not_tested(paper_pca, "no spike to analyse".into()),
        llas_not_tested(LLAS_SPIKE_QUOTE, "no spike to analyse".into()),
        fast_descent_not_tested("no spike to analyse".into()),
    ]
}

/// The zoom on the spike's window: loss, and lambda_max at every checkpoint of the
/// sharpness stage, against the run's edge (2/lr under GD).
fn zoom(
    data: &mut FigureData,
    n: &str,
    log: &Log,
    sharp: &SharpnessTable,
    (w0, w1): (usize, usize),
) -> Panel {
    let (we, wl): (Vec<f64>, Vec<f64>) = log
        .epoch
        .iter()
        .zip(&log.loss)
        .filter(|(e, _)| **e >= w0 && **e <= w1)
        .map(|(&e, &l)| (e as f64, l))
        .unzip();
    data.xy(n, "loss", &we, &wl);
    let epochs: Vec<f64> = sharp.epoch.iter().map(|&e| e as f64).collect();
    data.xy(n, "lambda_max", &epochs, &sharp.lambda_max);
    data.xy(n, "2/lr", &[w0 as f64, w1 as f64], &[log.edge.value; 2]);
    Panel::new(
        n,
        &format!("({n}) epochs {w0}-{w1}"),
        Axis::lin("epoch"),
        Axis::log("loss"),
    )
    .right_axis(Axis::lin("lambda_max"))
    .with(Series::new("loss", "loss", Mark::Line, BLACK))
    .with(Series::new("lambda_max", "lambda_max", Mark::Line, RED).right())
    .with(Series::new("2/lr", log.edge.name, Mark::Dashed, GREY).right())
}

/// What a `spikes` input found in its run: every spike with its kind, the rule, the pick.
struct Found {
    table: SpikeTable,
    params: SpikesParams,
    picks: Option<Picks>,
}

impl Found {
    fn read(spikes: &Input) -> Result<Found> {
        Ok(Found {
            table: spikes.read()?,
            params: spikes.params()?,
            picks: picks(spikes)?,
        })
    }

    /// Marks the peak of every spike on the run's loss panel, by what the spike is.
    fn mark(&self, data: &mut FigureData, mut panel: Panel, name: &str) -> Panel {
        let t = &self.table;
        for (event, label, colour) in [
            (Event::Catapult, "catapult", ORANGE),
            (
                Event::EdgeOfStability,
                "spike at the edge of stability",
                GREEN,
            ),
            (Event::BelowEdge, "spike below the edge", BLUE),
            (Event::Unmeasured, "spike (lambda_max not measured)", GREY),
        ] {
            let (x, y): (Vec<f64>, Vec<f64>) = (0..t.peak.len())
                .filter(|&i| t.event[i] == event.as_str())
                .map(|i| (t.peak[i] as f64, t.peak_loss[i]))
                .unzip();
            if !x.is_empty() {
                data.xy(name, event.as_str(), &x, &y);
                panel = panel.with(Series::new(event.as_str(), label, Mark::Points, colour));
            }
        }
        panel
    }

    /// One note per spike (what it is, when, how large), and the rule.
    fn notes(&self, prefix: &str) -> Vec<String> {
        let t = &self.table;
        let mut notes: Vec<String> = (0..t.onset.len())
            .map(|i| {
                format!(
                    "{prefix}{}: onset epoch {}, peak {} (loss {:.3e} -> {:.3e}, x{:.1})",
                    t.event[i].replace('_', " "),
                    t.onset[i],
                    t.peak[i],
                    t.pre_loss[i],
                    t.peak_loss[i],
                    t.ratio[i]
                )
            })
            .collect();
        notes.push(format!("{prefix}spike rule: {}", self.params.rule()));
        notes
    }
}

pub(crate) struct FigureLandscape;

crate::figure_params! {
    id: "fig3_2a",
    title: "Fig 3.2(a): loss surface along the first two PCA directions at the edge of stability",
    pub(crate) struct FigureLandscapeParams {}
}

impl Kind for FigureLandscape {
    const NAME: &'static str = "figure_landscape";
    const VERSION: u32 = 4;
    const DOC: &'static str =
        "Fig 3.2(a): the PCA landscape of a stretch of training at the edge of stability";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one("pca", &["pca_landscape"]),
        InputSpec::one("train", &["train"]),
    ];
    type Params = FigureLandscapeParams;
    type Output = Figure;

    fn run(&self, p: &FigureLandscapeParams, ctx: &mut StageContext) -> Result<Figure> {
        let mut data = FigureData::new();
        let pca = ctx.input("pca")?;
        let (explained, points, structure) = landscape(&mut data, "a", pca, LLAS_EOS_QUOTE)?;
        let train = ctx.input("train")?;
        let epochs = pca.read::<Trajectory>()?.epoch;
        let (from, to) = (
            epochs.iter().copied().min().unwrap_or(0) as usize,
            epochs.iter().copied().max().unwrap_or(0) as usize,
        );
        let log = read_log(train)?;
        let failure = not_at_edge_of_stability(&log.lambda, from, to, log.edge.value);
        let structure = structure.requires(
            "the stretch is at the edge of stability",
            failure.as_deref(),
        );
        Ok(Figure {
            tables: vec![],
            spec: p.spec(
                1,
                vec![landscape_panel("a", "(a) loss surface and trajectory")],
            ),
            data,
            claims: vec![structure],
            notes: vec![format!(
                "first two PCA directions explain {:.4} of the variance of {points} checkpoints",
                explained.iter().take(2).sum::<f64>()
            )],
        })
    }
}

pub(crate) struct FigureFrequency;

crate::figure_params! {
    id: "fig3_3",
    title: "Fig 3.3: frequency of the loss spike (two-layer tanh NN, width 20)",
    pub(crate) struct FigureFrequencyParams {}
}

impl Kind for FigureFrequency {
    const NAME: &'static str = "figure_frequency";
    const VERSION: u32 = 2;
    const DOC: &'static str =
        "Fig 3.3: low-frequency proportion of the spike, initial and random output differences";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one("frequency", &["frequency"])];
    type Params = FigureFrequencyParams;
    type Output = Figure;

    fn run(&self, p: &FigureFrequencyParams, ctx: &mut StageContext) -> Result<Figure> {
        let freq = ctx.input("frequency")?;
        let settings: FrequencyParams = freq.params()?;
        let lfp: LfpTable = freq.read()?;
        let k: Vec<f64> = lfp.k.iter().map(|&k| k as f64).collect();
        let mut data = FigureData::new();
        data.xy("a", "spike", &k, &lfp.spike);
        data.xy("a", "initial", &k, &lfp.initial);
        data.xyz("a", "random", &k, &lfp.random_mean, &lfp.random_std);
        let ep: LfpEpochs = freq.read()?;
        let epochs: Vec<f64> = ep.epoch.iter().map(|&e| e as f64).collect();
        data.xy("b", "loss", &epochs, &ep.loss);
        data.xy("b", "lfp", &epochs, &ep.lfp);
        let lfp_k = settings.lfp_k;
        let spec = p.spec(
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
        );
        let claims = if freq.has(SKIPPED) {
            let why = freq.read_json(SKIPPED)?["why"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            frequency_claims_without_spike(settings.random, lfp_k, &why)
        } else {
            vec![
                frequency_claim(
                    &lfp.spike,
                    &lfp.initial,
                    &lfp.random_mean,
                    &lfp.random_std,
                    settings.random,
                ),
                lfp_rise_claim(&ep.loss, &ep.lfp, &ep.epoch, lfp_k),
            ]
        };
        Ok(Figure {
            tables: vec![],
            spec,
            data,
            claims,
            notes: vec![],
        })
    }
}
