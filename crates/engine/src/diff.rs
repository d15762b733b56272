//! `spike-pipe diff`: what changed between two runs: stage keys (and why), the published tables
//! (schema, rows, per numeric column the largest absolute and relative difference, judged with
//! tolerances), and the headline metrics the science layer extracts from each published file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use polars_core::prelude::{DataFrame, DataType};
use serde::Serialize;

use crate::table::{col_opt_f64, col_str, read_parquet};

use super::cache::Cache;
use super::runs::{self, RunRecord, changes};

/// One side of a comparison: a run record and where its published files are.
pub struct Side {
    pub label: String,
    pub record: RunRecord,
    /// Published file name (`fig3_2.parquet`) -> path.
    files: BTreeMap<String, PathBuf>,
}

impl Side {
    /// Where this side's published file `name` (`fig3_2.parquet`) is.
    pub fn file(&self, name: &str) -> Option<&Path> {
        self.files.get(name).map(PathBuf::as_path)
    }

    /// Ids of the figures this side published (those with a `<id>.spec.json`).
    pub fn figures(&self) -> impl Iterator<Item = &str> {
        self.files
            .keys()
            .filter_map(|n| n.strip_suffix(".spec.json"))
    }

    /// A run of this project (its published files are read from the cache, so older runs can be
    /// compared after newer ones have overwritten outputs/).
    pub fn run(outputs: &Path, cache: &Cache, id: &str) -> Result<Side> {
        let record = runs::find(outputs, id)?;
        let mut files = BTreeMap::new();
        for s in &record.stages {
            for p in &s.published {
                // With the outputs fallback as before: this side may be an older run.
                if let Some(path) = runs::published_file(outputs, cache.root(), &s.key, p, true) {
                    files.insert(p.trim_start_matches("figures/").to_string(), path);
                }
            }
        }
        Ok(Side {
            label: record.run_id.clone(),
            record,
            files,
        })
    }

    /// The latest run of another outputs directory (or project directory).
    pub fn dir(dir: &Path) -> Result<Side> {
        let outputs = if dir.join("runs").is_dir() {
            dir.to_path_buf()
        } else {
            dir.join("outputs")
        };
        let record = runs::find(&outputs, "latest")
            .with_context(|| format!("{} has no run records", dir.display()))?;
        let mut files = BTreeMap::new();
        for s in &record.stages {
            for p in &s.published {
                files.insert(
                    p.trim_start_matches("figures/").to_string(),
                    outputs.join(p),
                );
            }
        }
        Ok(Side {
            label: dir.display().to_string(),
            record,
            files,
        })
    }
}

/// Resolves `diff [A] [B]`: run ids (default: the previous and the latest run) or directories.
pub fn sides(
    outputs: &Path,
    cache: &Cache,
    a: Option<&str>,
    b: Option<&str>,
) -> Result<(Side, Side)> {
    let side = |s: &str| {
        if Path::new(s).is_dir() {
            Side::dir(Path::new(s))
        } else {
            Side::run(outputs, cache, s)
        }
    };
    match (a, b) {
        (Some(a), Some(b)) => Ok((side(a)?, side(b)?)),
        (Some(a), None) => Ok((side(a)?, Side::run(outputs, cache, "latest")?)),
        (None, _) => {
            let ids = runs::list(outputs)?;
            if ids.len() < 2 {
                bail!(
                    "diff needs two runs; {} has {} (run repro again, or name two runs or directories)",
                    outputs.display(),
                    ids.len()
                );
            }
            Ok((
                Side::run(outputs, cache, &ids[ids.len() - 2])?,
                Side::run(outputs, cache, &ids[ids.len() - 1])?,
            ))
        }
    }
}

#[derive(Debug, Serialize)]
pub struct StageChange {
    pub stage: String,
    pub status: StageStatus,
    pub reasons: Vec<String>,
}

/// How a stage differs between the two runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum StageStatus {
    /// In both, with another key.
    #[serde(rename = "changed")]
    Changed,
    #[serde(rename = "only in A")]
    OnlyInA,
    #[serde(rename = "only in B")]
    OnlyInB,
}

impl std::fmt::Display for StageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so that a width (`{:<10}`) applies.
        f.pad(match self {
            StageStatus::Changed => "changed",
            StageStatus::OnlyInA => "only in A",
            StageStatus::OnlyInB => "only in B",
        })
    }
}

#[derive(Debug, Serialize)]
pub struct ColumnDiff {
    pub column: String,
    pub max_abs: f64,
    pub max_rel: f64,
    pub within: bool,
}

#[derive(Debug, Serialize)]
pub struct TableDiff {
    pub table: String,
    pub same: bool,
    pub notes: Vec<String>,
    pub columns: Vec<ColumnDiff>,
}

#[derive(Debug, Serialize)]
pub struct Metric {
    pub figure: String,
    pub metric: String,
    pub a: String,
    pub b: String,
    pub change: String,
    pub differs: bool,
    /// The numbers behind `a` and `b`, for a numeric metric.
    #[serde(skip)]
    pub values: (Option<f64>, Option<f64>),
}

#[derive(Debug, Serialize)]
pub struct Diff {
    pub a: String,
    pub b: String,
    pub stages: Vec<StageChange>,
    pub tables: Vec<TableDiff>,
    pub metrics: Vec<Metric>,
}

impl Diff {
    /// Whether anything differs beyond the tolerances (key changes alone do not count).
    pub fn differs(&self) -> bool {
        self.tables.iter().any(|t| !t.same) || self.metrics.iter().any(|m| m.differs)
    }
}

/// Headline metrics of one published file in both runs (the science layer knows what they are).
pub type Headline<'a> = dyn Fn(&str, Option<&Path>, Option<&Path>) -> Result<Vec<Metric>> + 'a;

pub fn diff(a: &Side, b: &Side, rtol: f64, atol: f64, headline: &Headline) -> Result<Diff> {
    let mut stages = Vec::new();
    let bmap: BTreeMap<&str, _> = b
        .record
        .stages
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let amap: BTreeMap<&str, _> = a
        .record
        .stages
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    for s in &a.record.stages {
        match bmap.get(s.name.as_str()) {
            None => stages.push(StageChange {
                stage: s.name.clone(),
                status: StageStatus::OnlyInA,
                reasons: vec![],
            }),
            Some(t) if t.key != s.key => stages.push(StageChange {
                stage: s.name.clone(),
                status: StageStatus::Changed,
                reasons: changes(s, t),
            }),
            Some(_) => {}
        }
    }
    for s in &b.record.stages {
        if !amap.contains_key(s.name.as_str()) {
            stages.push(StageChange {
                stage: s.name.clone(),
                status: StageStatus::OnlyInB,
                reasons: vec![],
            });
        }
    }

    let mut tables = Vec::new();
    let mut metrics = Vec::new();
    let names: std::collections::BTreeSet<&String> = a.files.keys().chain(b.files.keys()).collect();
    for name in names {
        let (pa, pb) = (a.files.get(name), b.files.get(name));
        if name.ends_with(".parquet") {
            tables.push(match (pa, pb) {
                (Some(pa), Some(pb)) => {
                    compare(name, &read_parquet(pa)?, &read_parquet(pb)?, rtol, atol)?
                }
                (x, _) => TableDiff {
                    table: name.clone(),
                    same: false,
                    notes: vec![if x.is_some() {
                        "only in A".into()
                    } else {
                        "only in B".into()
                    }],
                    columns: vec![],
                },
            });
        }
        metrics.extend(headline(
            name,
            pa.map(PathBuf::as_path),
            pb.map(PathBuf::as_path),
        )?);
    }
    Ok(Diff {
        a: a.label.clone(),
        b: b.label.clone(),
        stages,
        tables,
        metrics,
    })
}

/// Equal within `atol + rtol |y|` (NaN equals NaN).
pub fn close(x: f64, y: f64, rtol: f64, atol: f64) -> bool {
    (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= atol + rtol * y.abs()
}

fn compare(name: &str, a: &DataFrame, b: &DataFrame, rtol: f64, atol: f64) -> Result<TableDiff> {
    let mut notes = Vec::new();
    let schema = |t: &DataFrame| -> Vec<(String, DataType)> {
        t.columns()
            .iter()
            .map(|c| (c.name().to_string(), c.dtype().clone()))
            .collect()
    };
    let (sa, sb) = (schema(a), schema(b));
    if sa != sb {
        notes.push(format!(
            "schema {} -> {}",
            sa.iter()
                .map(|(n, t)| format!("{n}: {t}"))
                .collect::<Vec<_>>()
                .join(", "),
            sb.iter()
                .map(|(n, t)| format!("{n}: {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if a.height() != b.height() {
        notes.push(format!("rows {} -> {}", a.height(), b.height()));
    }
    let mut columns = Vec::new();
    let mut same = notes.is_empty();
    if a.height() == b.height() {
        for (col, dtype) in &sa {
            if !sb.iter().any(|(n, _)| n == col) {
                continue;
            }
            if dtype.is_primitive_numeric() {
                let (x, y) = (col_opt_f64(a, col)?, col_opt_f64(b, col)?);
                let (mut max_abs, mut max_rel, mut within) = (0.0f64, 0.0f64, true);
                for (u, v) in x.iter().zip(&y) {
                    match (u, v) {
                        (Some(u), Some(v)) => {
                            let d = (u - v).abs();
                            if d.is_finite() {
                                max_abs = max_abs.max(d);
                                max_rel =
                                    max_rel.max(d / u.abs().max(v.abs()).max(f64::MIN_POSITIVE));
                            }
                            within &= close(*u, *v, rtol, atol);
                        }
                        (None, None) => {}
                        _ => within = false,
                    }
                }
                same &= within;
                columns.push(ColumnDiff {
                    column: col.clone(),
                    max_abs,
                    max_rel,
                    within,
                });
            } else if *dtype == DataType::String {
                let equal = col_str(a, col)? == col_str(b, col)?;
                same &= equal;
                if !equal {
                    notes.push(format!("text column `{col}` differs"));
                }
            }
        }
    }
    Ok(TableDiff {
        table: name.into(),
        same,
        notes,
        columns,
    })
}

/// The report as plain text or Markdown.
pub fn render(d: &Diff, markdown: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "A: {}\nB: {}\n", d.a, d.b);
    if markdown {
        render_markdown(&mut s, d);
    } else {
        render_text(&mut s, d);
    }
    let _ = writeln!(
        s,
        "\n{}",
        if d.differs() {
            "DIFFERENT (beyond the tolerances)"
        } else {
            "same within the tolerances"
        }
    );
    s
}

fn render_markdown(s: &mut String, d: &Diff) {
    s.push_str("## Stages\n\n| stage | change | why |\n| --- | --- | --- |\n");
    for c in &d.stages {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            c.stage,
            c.status,
            c.reasons.join("; ")
        );
    }
    s.push_str("\n## Tables\n\n| table | verdict | details |\n| --- | --- | --- |\n");
    for t in &d.tables {
        let cols: Vec<String> = t
            .columns
            .iter()
            .filter(|c| !c.within)
            .map(|c| {
                format!(
                    "{}: max abs {:.3e}, max rel {:.3e}",
                    c.column, c.max_abs, c.max_rel
                )
            })
            .collect();
        let details = t
            .notes
            .iter()
            .cloned()
            .chain(cols)
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            t.table,
            if t.same { "same" } else { "changed" },
            details
        );
    }
    s.push_str("\n## Headline metrics\n\n| figure | metric | A | B | change |\n| --- | --- | --- | --- | --- |\n");
    for m in &d.metrics {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            m.figure, m.metric, m.a, m.b, m.change
        );
    }
}

fn render_text(s: &mut String, d: &Diff) {
    s.push_str("stages:\n");
    if d.stages.is_empty() {
        s.push_str("  (no stage changed key)\n");
    }
    for c in &d.stages {
        let _ = writeln!(
            s,
            "  {:<10} {}: {}",
            c.status,
            c.stage,
            c.reasons.join("; ")
        );
    }
    s.push_str("tables:\n");
    for t in &d.tables {
        let _ = writeln!(
            s,
            "  {:<8} {}",
            if t.same { "same" } else { "CHANGED" },
            t.table
        );
        for n in &t.notes {
            let _ = writeln!(s, "           {n}");
        }
        for c in t.columns.iter().filter(|c| !c.within) {
            let _ = writeln!(
                s,
                "           {}: max abs {:.3e}, max rel {:.3e}",
                c.column, c.max_abs, c.max_rel
            );
        }
    }
    let _ = writeln!(
        s,
        "{:<10} | {:<40} | {:>14} | {:>14} | change",
        "figure", "metric", "A", "B"
    );
    for m in &d.metrics {
        let _ = writeln!(
            s,
            "{:<10} | {:<40} | {:>14} | {:>14} | {}",
            m.figure, m.metric, m.a, m.b, m.change
        );
    }
}
