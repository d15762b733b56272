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

/// A claim of the paper, the criterion this run is held to (fixed in code before looking at
/// results), and what was measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    pub id: String,
    /// What the paper says.
    pub statement: String,
    /// The concrete test.
    pub criterion: String,
    pub supported: bool,
    /// The numbers behind the verdict.
    pub measured: String,
}

impl Claim {
    pub fn new(
        id: &str,
        statement: &str,
        criterion: &str,
        supported: bool,
        measured: String,
    ) -> Claim {
        Claim {
            id: id.into(),
            statement: statement.into(),
            criterion: criterion.into(),
            supported,
            measured,
        }
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

/// Spearman's rank correlation (average ranks for ties).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 100.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[5.0, 1.0, 5.0]), vec![1.5, 0.0, 1.5]);
    }
}
