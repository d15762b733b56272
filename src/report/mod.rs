//! The claim checks of a run (`spike-pipe verify`), its HTML report
//! (`outputs/report/index.html`: every figure with its claims and the run's metadata), the
//! summaries of `spike-pipe runs`, and the headline metrics and page of `spike-pipe diff`.

mod html;
mod metrics;
mod runs;
mod verdicts;

pub use html::{diff_html, write_html};
pub use metrics::headline;
pub use runs::{RunSummary, run_summaries};
pub use verdicts::{claims_summary, claims_table};

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::claims::ClaimsFile;
use crate::engine::cache::write_atomic;
use crate::engine::runs::{RunRecord, published_file};

/// The claims files a run published, in stage order: each from the run's own cache entry, or
/// for the latest run from `outputs/figures/`.
pub fn claims(
    outputs: &Path,
    cache_root: &Path,
    record: &RunRecord,
    latest: bool,
) -> Result<Vec<ClaimsFile>> {
    let mut out = Vec::new();
    for s in &record.stages {
        for f in s.published.iter().filter(|f| f.ends_with(".claims.json")) {
            let path = published_file(outputs, cache_root, &s.key, f, latest).with_context(|| {
                format!(
                    "{f} of run {} is gone: the cache entry {} of {} was removed (spike-pipe gc) and outputs/ holds a later run's files; rerun that run's settings to get it back",
                    record.run_id, s.key, s.name
                )
            })?;
            let text =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            out.push(
                serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?,
            );
        }
    }
    Ok(out)
}

/// `spike-pipe report --run ID`: a past run's published files, copied from its own cache entries
/// into `outputs/runs/<id>/figures/`, with its record and `report/index.html` beside them (the
/// latest outputs are not touched). Returns the report's path and the files no longer cached.
pub fn rebuild(
    outputs: &Path,
    cache_root: &Path,
    record: &RunRecord,
) -> Result<(PathBuf, Vec<String>)> {
    // The id names a directory: a record is a file anyone can edit.
    let id = &record.run_id;
    if id.is_empty()
        || id.starts_with('.')
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        anyhow::bail!("run id `{}` is not a run id", id.escape_debug());
    }
    let dir = crate::engine::runs::runs_dir(outputs).join(id);
    let figures = dir.join("figures");
    fs::create_dir_all(&figures).with_context(|| format!("creating {}", figures.display()))?;
    let mut missing = Vec::new();
    for s in &record.stages {
        for p in &s.published {
            match published_file(outputs, cache_root, &s.key, p, false) {
                Some(src) => {
                    let name = p.trim_start_matches("figures/");
                    fs::copy(&src, figures.join(name))
                        .with_context(|| format!("copying {}", src.display()))?;
                }
                None => missing.push(format!("{p} ({}, entry {})", s.name, s.key)),
            }
        }
    }
    let runs = dir.join("runs");
    fs::create_dir_all(&runs).with_context(|| format!("creating {}", runs.display()))?;
    write_atomic(
        &runs.join(format!("{}.json", record.run_id)),
        serde_json::to_string_pretty(record)?.as_bytes(),
    )?;
    // Only the stages whose files are all here are reported.
    let mut shown = record.clone();
    shown.stages.retain(|s| {
        s.published
            .iter()
            .all(|p| figures.join(p.trim_start_matches("figures/")).is_file())
    });
    Ok((write_html(&dir, cache_root, &shown)?, missing))
}
