//! What every figure stage publishes: the tidy table (`<id>.parquet`), the rendered figure
//! (`<id>.png`, `<id>.svg`), its spec (`<id>.spec.json`) and its claim checks
//! (`<id>.claims.json`), all copied to `outputs/figures/`.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::ParamSpec;
use crate::engine::context::StageContext;
use crate::engine::kind::ParamsExt;
use crate::plot::FigureData;
use crate::plot::render::render;
use crate::plot::spec::{FigureSpec, Panel};

/// What a claim check concluded.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Supported,
    NotSupported,
    /// The run cannot decide (window too short, no spike found, ...); `measured` says why.
    NotTested,
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

pub struct Figure {
    pub spec: FigureSpec,
    pub data: FigureData,
    pub claims: Vec<Claim>,
    pub notes: Vec<String>,
}

/// The parameters of every figure kind (`id`, `title`, `notes`), then its own.
pub fn params(id: &str, title: &str, own: Vec<ParamSpec>) -> Vec<ParamSpec> {
    let mut v = vec![
        ParamSpec::str("id", "figure id: published as outputs/figures/<id>.*").default(id),
        ParamSpec::str("title", "figure title").default(title),
        ParamSpec::strs(
            "notes",
            "settings of this run that differ from the paper's (shown in the report)",
        )
        .default(Vec::<&str>::new()),
    ];
    v.extend(own);
    v
}

/// The spec of a figure stage: its `id` and `title` with these panels.
pub fn spec(ctx: &StageContext, columns: usize, panels: Vec<Panel>) -> Result<FigureSpec> {
    Ok(FigureSpec {
        id: ctx.params.str("id")?.into(),
        title: ctx.params.str("title")?.into(),
        columns,
        panels,
    })
}

/// Writes and renders a figure into the stage's published files; the stage's `notes` are added
/// to the figure's.
pub fn publish(ctx: &StageContext, fig: &Figure) -> Result<()> {
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
    notes.extend(ctx.params.strs("notes")?);
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
