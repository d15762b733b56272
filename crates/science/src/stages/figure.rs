//! What every figure stage publishes: the tidy table (`<id>.parquet`), the rendered figure
//! (`<id>.png`, `<id>.svg`), its spec (`<id>.spec.json`) and its claim checks
//! (`<id>.claims.json`), and the tables its kind declares beside them (`<id>.<name>.parquet`),
//! all copied to `outputs/figures/`.

use anyhow::{Context, Result};

use crate::claims::readings::{Readings, Variant};
use crate::plot::FigureData;
use crate::plot::render::render;
use crate::plot::spec::{FigureSpec, Panel};
use spike_engine::Project;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::{Output, RunFn};
use spike_engine::table::{DataFrame, Table};

pub use crate::claims::{Claim, ClaimsFile, Quote, Verdict};

#[derive(Clone)]
pub(crate) struct Figure {
    pub spec: FigureSpec,
    pub data: FigureData,
    pub claims: Vec<Claim>,
    pub notes: Vec<String>,
    /// Tables published beside the figure's own, each as `<id>.<name>.parquet` (`name` among
    /// its kind's `tables`).
    pub tables: Vec<(&'static str, DataFrame)>,
}

/// The figures of a project, one per line: id, title, stage and kind (`spike-pipe figures`).
pub struct Listing<'a>(pub &'a Project);

impl std::fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Project {
            pipeline, registry, ..
        } = self.0;
        let figure = |kind: &str| {
            registry
                .get(kind)
                .is_some_and(spike_engine::kind::StageKind::figure)
        };
        for s in pipeline.stages.iter().filter(|s| figure(&s.kind)) {
            let text = |k: &str| s.params.get(k).map(ToString::to_string).unwrap_or_default();
            writeln!(
                f,
                "{:<10} {} ({}, kind {})",
                text("id"),
                text("title"),
                s.name,
                s.kind
            )?;
        }
        Ok(())
    }
}

/// The parameters every figure kind starts with (`id`, `title`, `notes`), declared by
/// [`figure_params!`](crate::figure_params).
pub trait FigureParams {
    fn id(&self) -> &str;
    fn title(&self) -> &str;
    /// Settings of this run that differ from the paper's (added to the figure's own notes).
    fn notes(&self) -> &[String];
    /// The readings without a stage parameter that this kind's claims apply themselves
    /// (`applies: [...]` in [`figure_params!`](crate::figure_params)); readings that set a stage
    /// parameter apply wherever the inputs were run under them.
    const APPLIES: &'static [&'static str];
    /// The names of the tables this kind publishes beside its figure's (`tables: [...]`).
    const TABLES: &'static [&'static str];
    /// Whether the kind sees every seed at once (`pooled_seeds: true`: its claims count over
    /// seeds themselves) instead of running once per seed.
    const POOLED_SEEDS: bool;
    /// The paper's readings the claims are checked under (see `claims::readings`).
    fn readings(&self) -> &[String];

    /// The spec of this figure: its `id` and `title` with these panels.
    fn spec(&self, columns: usize, panels: Vec<Panel>) -> FigureSpec {
        FigureSpec {
            id: self.id().into(),
            title: self.title().into(),
            columns,
            panels,
        }
    }
}

/// Declares a figure kind's parameters: `id` and `title` (with this kind's defaults), optionally
/// `applies: [...]` (the claim-level readings its claims apply), `tables: [...]` (tables it
/// publishes beside the figure's) and `pooled_seeds: true`, `notes` and `readings`, then the
/// kind's own fields as in [`stage_params!`](spike_config::stage_params).
#[macro_export]
macro_rules! figure_params {
    (
        id: $id:literal,
        $(applies: [$($reading:literal),*],)?
        $(tables: [$($table:literal),*],)?
        $(pooled_seeds: $pooled:literal,)?
        title: $title:literal,
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($fields:tt)* }
    ) => {
        ::spike_config::stage_params! {
            $(#[$meta])*
            $vis struct $name {
                /// figure id: published as outputs/figures/<id>.*
                pub id: String = $id.to_string(),
                /// figure title
                pub title: String = $title.to_string(),
                /// settings of this run that differ from the paper's (shown in the report)
                pub notes: Vec<String> = Vec::new(),
                /// the paper's readings the claims are checked under: set from pipeline.yaml's
                /// `readings:` section, each `name=alternative[@param=value]`, defaults first
                pub readings: Vec<String> = Vec::new(),
                $($fields)*
            }
        }

        impl $crate::stages::figure::FigureParams for $name {
            const APPLIES: &'static [&'static str] = &[$($($reading),*)?];
            const TABLES: &'static [&'static str] = &[$($($table),*)?];
            const POOLED_SEEDS: bool = false $(|| $pooled)?;
            fn id(&self) -> &str {
                &self.id
            }
            fn title(&self) -> &str {
                &self.title
            }
            fn notes(&self) -> &[String] {
                &self.notes
            }
            fn readings(&self) -> &[String] {
                &self.readings
            }
        }
    };
}

/// A figure kind runs once per variant of its inputs (each combination of the paper's readings
/// and each seed, see `claims::readings`; every seed at once for a kind with pooled seeds); its
/// claims are merged over the variants
/// (`claims::robust`), and it draws the default readings' lowest seed with the other seeds
/// fainter behind. Its result is published when its stage finishes: the one place figures are
/// written.
impl<P: FigureParams> Output<P> for Figure {
    const FIGURE: bool = true;

    fn produce(params: &P, ctx: &mut StageContext, run: RunFn<'_, P, Self>) -> Result<Figure> {
        let readings = Readings::parse(params.readings())?;
        let (variants, not_run) = {
            let matrices: Vec<&spike_config::Params> =
                ctx.all_inputs().map(|i| &i.matrix).collect();
            let mut variants = readings.variants(&matrices, P::APPLIES);
            if P::POOLED_SEEDS {
                variants.iter_mut().for_each(|v| v.seed = None);
                variants.dedup();
            }
            (variants, readings.not_run(&matrices))
        };
        let mut outcomes = Vec::new();
        let mut drawn: Option<(Variant, Figure)> = None;
        let mut others = Vec::new();
        for v in variants {
            let fixes = readings.fixes(&v);
            let keep = |i: &Input| {
                fixes
                    .iter()
                    .all(|(k, val)| i.matrix.get(k).is_none_or(|x| x.to_string() == *val))
            };
            let mut view = ctx.view(&keep, v.reading.clone());
            let fig = run(params, &mut view).with_context(|| {
                let mut under = crate::claims::describe_reading(&v.reading);
                if let Some(s) = v.seed {
                    under.push_str(&format!(", seed {s}"));
                }
                format!("figure under {under}")
            })?;
            outcomes.push((v.clone(), fig.claims.clone()));
            match &drawn {
                None => drawn = Some((v, fig)),
                Some((d, _)) if d.reading == v.reading => {
                    others.push((format!("seed {}", v.seed.unwrap_or(0)), fig.data));
                }
                _ => {}
            }
        }
        let (first, mut fig) = drawn.context("a figure with no variant to draw")?;
        fig.claims = crate::claims::robust::merge(&outcomes);
        for claim in &mut fig.claims {
            crate::claims::robust::add_not_run(claim, &not_run);
        }
        if !others.is_empty() {
            let (spec, data) = crate::plot::with_spread(&fig.spec, &fig.data, &others);
            fig.spec = spec;
            fig.data = data;
            fig.notes.push(format!(
                "drawn: seed {} under the default readings, with {} other seed(s) fainter behind; the claims count every seed",
                first.seed.unwrap_or(0),
                others.len()
            ));
        }
        Ok(fig)
    }

    fn finish(self, params: &P, ctx: &StageContext) -> Result<()> {
        publish(ctx, params, &self)
    }

    fn publishes(params: &P) -> Vec<String> {
        FIGURE_FILES
            .iter()
            .map(|ext| format!("{}.{ext}", params.id()))
            .chain(
                P::TABLES
                    .iter()
                    .map(|t| format!("{}.{t}.parquet", params.id())),
            )
            .collect()
    }
}

/// What a figure stage publishes, each as `<id>.<ext>`.
const FIGURE_FILES: [&str; 5] = ["parquet", "png", "svg", "spec.json", "claims.json"];

/// Writes and renders a figure into the stage's published files; the stage's `notes` are added
/// to the figure's.
fn publish<P: FigureParams>(ctx: &StageContext, params: &P, fig: &Figure) -> Result<()> {
    let id = &fig.spec.id;
    spike_engine::table::write_parquet(
        &ctx.publish_path(&format!("{id}.parquet"))?,
        &mut fig.data.to_frame()?,
    )?;
    render(
        &fig.data,
        &fig.spec,
        &ctx.publish_path(&format!("{id}.png"))?,
        &ctx.publish_path(&format!("{id}.svg"))?,
    )?;
    std::fs::write(
        ctx.publish_path(&format!("{id}.spec.json"))?,
        serde_json::to_string_pretty(&fig.spec)?,
    )?;
    for (name, table) in &fig.tables {
        if !P::TABLES.contains(name) {
            anyhow::bail!("figure `{id}` made a table `{name}` its kind does not declare");
        }
        spike_engine::table::write_parquet(
            &ctx.publish_path(&format!("{id}.{name}.parquet"))?,
            &mut table.clone(),
        )?;
    }
    let mut notes = fig.notes.clone();
    notes.extend(params.notes().iter().cloned());
    let claims = ClaimsFile {
        figure: id.clone(),
        title: fig.spec.title.clone(),
        claims: fig.claims.clone(),
        notes,
    };
    std::fs::write(
        ctx.publish_path(&format!("{id}.claims.json"))?,
        serde_json::to_string_pretty(&claims)?,
    )?;
    Ok(())
}
