//! What every figure stage publishes: the tidy table (`<id>.parquet`), the rendered figure
//! (`<id>.png`, `<id>.svg`), its spec (`<id>.spec.json`) and its claim checks
//! (`<id>.claims.json`), all copied to `outputs/figures/`.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::engine::context::StageContext;
use crate::engine::kind::Output;
use crate::plot::FigureData;
use crate::plot::render::render;
use crate::plot::spec::{FigureSpec, Panel};
use crate::table::Table;

/// What a claim check concluded.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Supported,
    NotSupported,
    /// The run cannot decide (window too short, no spike found, ...); `measured` says why.
    NotTested,
    /// The run looked for the phenomenon the claim is about, within its profile's budget, and
    /// did not find it; `measured` says what it found instead.
    NotReproduced,
}

impl Verdict {
    pub fn of(supported: bool) -> Verdict {
        if supported {
            Verdict::Supported
        } else {
            Verdict::NotSupported
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Supported => "supported",
            Verdict::NotSupported => "NOT supported",
            Verdict::NotTested => "not tested",
            Verdict::NotReproduced => "not reproduced in this profile",
        })
    }
}

/// A sentence of the paper, quoted, and where it stands.
#[derive(Clone, Copy, Debug)]
pub struct Quote<'a> {
    pub text: &'a str,
    /// Section and figure.
    pub source: &'a str,
}

/// A claim of the paper, the criterion this run is held to (fixed in code before looking at
/// results, with the reason for its threshold), and what was measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    pub id: String,
    /// The sentence of the paper this check tests, verbatim.
    pub quote: String,
    /// Where the sentence stands in the paper.
    pub source: String,
    /// The concrete test.
    pub criterion: String,
    pub verdict: Verdict,
    /// The numbers behind the verdict, or why the claim was not tested.
    pub measured: String,
}

impl Claim {
    pub fn new(
        id: &str,
        quote: Quote<'_>,
        criterion: &str,
        supported: bool,
        measured: String,
    ) -> Claim {
        Claim {
            id: id.into(),
            quote: quote.text.into(),
            source: quote.source.into(),
            criterion: criterion.into(),
            verdict: Verdict::of(supported),
            measured,
        }
    }

    /// A claim this run cannot decide, with the reason.
    pub fn not_tested(id: &str, quote: Quote<'_>, criterion: &str, reason: String) -> Claim {
        Claim {
            verdict: Verdict::NotTested,
            ..Claim::new(id, quote, criterion, false, reason)
        }
    }

    /// A claim whose phenomenon this run looked for and did not find.
    pub fn not_reproduced(id: &str, quote: Quote<'_>, criterion: &str, found: String) -> Claim {
        Claim {
            verdict: Verdict::NotReproduced,
            ..Claim::new(id, quote, criterion, false, found)
        }
    }

    pub fn supported(&self) -> bool {
        self.verdict == Verdict::Supported
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClaimsFile {
    pub figure: String,
    pub title: String,
    pub claims: Vec<Claim>,
    /// Settings of this run that differ from the paper's, and other remarks.
    pub notes: Vec<String>,
}

pub(crate) struct Figure {
    pub spec: FigureSpec,
    pub data: FigureData,
    pub claims: Vec<Claim>,
    pub notes: Vec<String>,
}

/// The figures of a pipeline, one per line: id, title, stage and kind (`spike-pipe figures`).
pub struct Listing<'a>(pub &'a crate::config::Pipeline);

impl std::fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in self
            .0
            .stages
            .iter()
            .filter(|s| s.kind.starts_with("figure"))
        {
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

/// Declares a figure kind's parameters: `id` and `title` (with this kind's defaults) and
/// `notes`, then the kind's own fields as in [`stage_params!`](crate::stage_params).
#[macro_export]
macro_rules! figure_params {
    (
        id: $id:literal, title: $title:literal,
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($fields:tt)* }
    ) => {
        $crate::stage_params! {
            $(#[$meta])*
            $vis struct $name {
                /// figure id: published as outputs/figures/<id>.*
                pub id: String = $id.to_string(),
                /// figure title
                pub title: String = $title.to_string(),
                /// settings of this run that differ from the paper's (shown in the report)
                pub notes: Vec<String> = Vec::new(),
                $($fields)*
            }
        }

        impl $crate::stages::figure::FigureParams for $name {
            fn id(&self) -> &str {
                &self.id
            }
            fn title(&self) -> &str {
                &self.title
            }
            fn notes(&self) -> &[String] {
                &self.notes
            }
        }
    };
}

/// A figure kind's result is published when its stage finishes: the one place figures are
/// written.
impl<P: FigureParams> Output<P> for Figure {
    fn finish(self, params: &P, ctx: &StageContext) -> Result<()> {
        publish(ctx, params, &self)
    }
}

/// Writes and renders a figure into the stage's published files; the stage's `notes` are added
/// to the figure's.
fn publish(ctx: &StageContext, params: &impl FigureParams, fig: &Figure) -> Result<()> {
    let id = &fig.spec.id;
    crate::table::write_parquet(
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
