//! `spike-pipe audit`: recomputes a random sample of cached entries in a scratch directory and
//! compares every file with the entry's. Hashes prove an entry is what its writer uploaded; a
//! recomputation proves the writer computed it. Stages are deterministic on the native backend
//! (bit-identical reruns), so files are compared by blake3; under a tolerance (backends that are
//! not bit-reproducible) tables and JSON are compared number by number instead.
//!
//! An entry is recomputed from its inputs as cached (not from a shorter cached run it could
//! extend), under its key's lock, in `tmp/<key>.audit.<pid>.<n>/`. One that differs is replaced
//! by the recomputation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use polars_core::prelude::{AnyValue, DataFrame};
use serde::Serialize;

use super::Project;
use super::cache::{FileRecord, MANIFEST, hash_file, list_files};
use super::context::StageDirs;
use super::exec::{gather_inputs, manifest_of, run_kind};
use super::plan::{self, Plan};
use super::progress::Progress;
use super::table::read_parquet;

/// Numbers equal within `atol + rtol |recorded|`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

pub struct AuditOptions {
    /// Stages, groups or figure ids, with everything upstream of them; empty: every stage.
    pub targets: Vec<String>,
    /// Only these keys (`pull --audit`: what was just pulled); `None`: every cached entry.
    pub only: Option<BTreeSet<String>>,
    /// The share of the candidates to recompute, in (0, 1]; at least one is.
    pub sample: f64,
    /// Which entries the sample picks; the same seed picks the same entries (default: a new
    /// one, in the report).
    pub seed: Option<u64>,
    /// Compare numerically (for numeric stages) instead of by hash.
    pub tolerance: Option<Tolerance>,
    pub jobs: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every file bit-identical.
    Reproduced,
    /// Equal within the tolerance (some files not bit-identical).
    WithinTolerance,
    /// At least one file differs: the entry was replaced by the recomputation.
    Differs,
    /// Could not be recomputed here (the reason).
    NotAudited(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct EntryAudit {
    pub stage: String,
    pub key: String,
    pub verdict: Verdict,
    /// One line per file that is not bit-identical: the file and how it differs.
    pub files: Vec<String>,
    pub wall_s: f64,
}

#[derive(Debug, Serialize)]
pub struct AuditReport {
    /// Cached entries the sample was drawn from.
    pub candidates: usize,
    pub seed: u64,
    pub tolerance: Option<Tolerance>,
    pub entries: Vec<EntryAudit>,
}

impl AuditReport {
    pub fn differs(&self) -> bool {
        self.entries.iter().any(|e| e.verdict == Verdict::Differs)
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            let what = match &e.verdict {
                Verdict::Reproduced => "reproduced, every file bit-identical".to_string(),
                Verdict::WithinTolerance => "reproduced within the tolerance".to_string(),
                Verdict::Differs => format!(
                    "DIFFERS: replaced by the recomputation; stages downstream of it used the differing files: `spike-pipe repro --force --downstream {}`",
                    e.stage
                ),
                Verdict::NotAudited(why) => format!("not audited: {why}"),
            };
            writeln!(f, "{} ({}): {what} ({:.2} s)", e.stage, e.key, e.wall_s)?;
            for line in &e.files {
                writeln!(f, "    {line}")?;
            }
        }
        let count = |v: fn(&Verdict) -> bool| self.entries.iter().filter(|e| v(&e.verdict)).count();
        writeln!(
            f,
            "audited {} of {} cached entries (seed {}, {}): {} reproduced, {} within tolerance, {} differ, {} not audited",
            self.entries.len(),
            self.candidates,
            self.seed,
            match self.tolerance {
                Some(t) => format!("numbers within rtol {:e}, atol {:e}", t.rtol, t.atol),
                None => "files compared by blake3".to_string(),
            },
            count(|v| *v == Verdict::Reproduced),
            count(|v| *v == Verdict::WithinTolerance),
            count(|v| *v == Verdict::Differs),
            count(|v| matches!(v, Verdict::NotAudited(_))),
        )
    }
}

/// Recomputes a sample of the cached entries `opts` selects and compares them.
pub fn audit(project: &Project, opts: &AuditOptions) -> Result<AuditReport> {
    let n = project.pipeline.stages.len();
    let selected = if opts.targets.is_empty() {
        vec![true; n]
    } else {
        plan::with_ancestors(
            &project.pipeline,
            &plan::resolve_targets(&project.pipeline, &opts.targets)?,
        )
    };
    let plan = project.plan(&vec![false; n]);
    let mut seen = BTreeSet::new();
    let candidates: Vec<usize> = (0..n)
        .filter(|&i| selected[i] && plan.stages[i].cached)
        .filter(|&i| {
            opts.only
                .as_ref()
                .is_none_or(|k| k.contains(&plan.stages[i].key))
        })
        // Two stages with one key are one entry.
        .filter(|&i| seen.insert(plan.stages[i].key.clone()))
        .collect();
    let seed = opts.seed.unwrap_or_else(fresh_seed);
    let picked = sample(&candidates, &plan, opts.sample, seed);
    let progress = Progress::new();
    let bar = progress.bar("audit", picked.len() as u64, "entries");
    progress.set_detail(picked.len() <= super::exec::DETAILED_STAGES);
    let results = Mutex::new(BTreeMap::new());
    // An entry is recomputed from its inputs as they are after their own audit (an upstream
    // entry that differed has been replaced by then): one wave per depth, parallel within it.
    for wave in waves(project, &picked) {
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..opts.jobs.clamp(1, wave.len().max(1)) {
                s.spawn(|| {
                    while let Some(&i) = wave.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let start = Instant::now();
                        let (verdict, files) =
                            audit_one(project, &plan, i, opts.tolerance, &progress).unwrap_or_else(
                                |e| (Verdict::NotAudited(format!("{e:#}")), vec![]),
                            );
                        let entry = EntryAudit {
                            stage: project.pipeline.stages[i].name.clone(),
                            key: plan.stages[i].key.clone(),
                            verdict,
                            files,
                            wall_s: start.elapsed().as_secs_f64(),
                        };
                        results.lock().expect("lock").insert(i, entry);
                        bar.inc(1);
                    }
                });
            }
        });
    }
    Ok(AuditReport {
        candidates: candidates.len(),
        seed,
        tolerance: opts.tolerance,
        entries: results.into_inner().expect("lock").into_values().collect(),
    })
}

/// The picked stages by depth: a stage's wave comes after the waves of every picked stage
/// upstream of it.
fn waves(project: &Project, picked: &[usize]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, d) in plan::depths(&project.pipeline, picked) {
        if out.len() <= d {
            out.resize(d + 1, Vec::new());
        }
        out[d].push(i);
    }
    out
}

/// A seed no earlier audit is likely to have used: a writer cannot know which of its entries
/// the next audit recomputes.
fn fresh_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut h = blake3::Hasher::new();
    h.update(&now.as_nanos().to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

/// `ceil(share * n)` of the candidates (at least one), those whose blake3 of (seed, key) is
/// smallest: a uniform sample without replacement that the same seed repeats.
fn sample(candidates: &[usize], plan: &Plan, share: f64, seed: u64) -> Vec<usize> {
    let count = ((share * candidates.len() as f64).ceil() as usize)
        .clamp(1, candidates.len().max(1))
        .min(candidates.len());
    let mut ranked: Vec<(blake3::Hash, usize)> = candidates
        .iter()
        .map(|&i| {
            let mut h = blake3::Hasher::new();
            h.update(&seed.to_le_bytes());
            h.update(plan.stages[i].key.as_bytes());
            (h.finalize(), i)
        })
        .collect();
    ranked.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut picked: Vec<usize> = ranked.into_iter().take(count).map(|(_, i)| i).collect();
    picked.sort_unstable();
    picked
}

/// Recomputes stage `i` under its key's lock and compares its files with the entry's.
fn audit_one(
    project: &Project,
    plan: &Plan,
    i: usize,
    tolerance: Option<Tolerance>,
    progress: &Progress,
) -> Result<(Verdict, Vec<String>)> {
    let cache = &project.cache;
    let key = &plan.stages[i].key;
    let _lock = cache.lock(key)?;
    let recorded = cache
        .manifest(key)
        .context("the entry left the cache before it was audited")?;
    let inputs = gather_inputs(project, plan, i)?;
    let dir = cache.fresh_tmp(&format!("{key}.audit"));
    let out = dir.join("out");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let start = Instant::now();
    let dirs = StageDirs {
        out: out.clone(),
        scratch: dir.join("scratch"),
        data: project.data_dir.clone(),
        sources: project.sources.clone(),
        base: None,
    };
    let result = run_kind(project, plan, i, inputs, dirs, progress).and_then(|()| {
        // Numbers may differ only where the backend enters the key.
        let tolerance = tolerance.filter(|_| !plan.stages[i].env.is_empty());
        compare_entry(&cache.entry_dir(key)?, &recorded.files, &out, tolerance)
    });
    let (verdict, files) = match result {
        Ok(found) => found,
        Err(e) => {
            std::fs::remove_dir_all(&dir).ok();
            return Err(e.context("recomputing it"));
        }
    };
    if verdict == Verdict::Differs {
        let manifest = manifest_of(project, plan, i, start.elapsed().as_secs_f64());
        cache.commit(&out, manifest)?;
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok((verdict, files))
}

/// Compares the recorded files of an entry (in `entry`) with a recomputation (in `fresh`).
fn compare_entry(
    entry: &Path,
    recorded: &[FileRecord],
    fresh: &Path,
    tolerance: Option<Tolerance>,
) -> Result<(Verdict, Vec<String>)> {
    let mut made: BTreeSet<String> = list_files(fresh)?.into_iter().collect();
    made.remove(MANIFEST);
    let mut notes = Vec::new();
    let (mut differs, mut inexact) = (false, false);
    for f in recorded {
        if !made.remove(&f.path) {
            notes.push(format!("{}: not written by the recomputation", f.path));
            differs = true;
            continue;
        }
        let path = fresh.join(&f.path);
        let (hash, bytes) = hash_file(&path)?;
        if hash == f.blake3 && bytes == f.bytes {
            continue;
        }
        let old = entry.join(&f.path);
        let finding = match tolerance {
            Some(t) => compare_within(&old, &path, &f.path, t)?,
            None => Finding::Differs(describe_difference(&old, &path, &f.path, bytes, f.bytes)),
        };
        match finding {
            Finding::Within(note) => {
                inexact = true;
                notes.push(format!("{}: {note}", f.path));
            }
            Finding::Differs(note) => {
                differs = true;
                notes.push(format!("{}: {note}", f.path));
            }
        }
    }
    for extra in made {
        notes.push(format!(
            "{extra}: written by the recomputation, not in the entry"
        ));
        differs = true;
    }
    let verdict = if differs {
        Verdict::Differs
    } else if inexact {
        Verdict::WithinTolerance
    } else {
        Verdict::Reproduced
    };
    Ok((verdict, notes))
}

enum Finding {
    Within(String),
    Differs(String),
}

/// What a file that is not bit-identical looks like: for a table, its first differing row.
fn describe_difference(old: &Path, new: &Path, name: &str, bytes: u64, recorded: u64) -> String {
    if name.ends_with(".parquet") {
        return match (read_parquet(old), read_parquet(new)) {
            (Ok(a), Ok(b)) => match first_difference(&a, &b, None) {
                Some(d) => format!("blake3 differs; first difference: {d}"),
                None => "blake3 differs; every value is equal (the file's metadata differs)".into(),
            },
            (Err(e), _) => format!("blake3 differs; the cached table cannot be read: {e:#}"),
            (_, Err(e)) => format!("blake3 differs; the recomputed table cannot be read: {e:#}"),
        };
    }
    format!("blake3 differs ({bytes} bytes recomputed, {recorded} recorded)")
}

/// Under a tolerance: tables and JSON number by number; other files (figures drawn from those
/// tables, binary state) cannot be compared numerically and are noted.
fn compare_within(old: &Path, new: &Path, name: &str, t: Tolerance) -> Result<Finding> {
    if name.ends_with(".parquet") {
        let (a, b) = (read_parquet(old)?, read_parquet(new)?);
        return Ok(match first_difference(&a, &b, Some(t)) {
            Some(d) => Finding::Differs(format!("beyond the tolerance at {d}")),
            None => Finding::Within("not bit-identical, every number within the tolerance".into()),
        });
    }
    if name.ends_with(".json") {
        let read = |p: &Path| -> Result<serde_json::Value> {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
        };
        return Ok(match json_difference(&read(old)?, &read(new)?, "", t) {
            Some(d) => Finding::Differs(format!("beyond the tolerance at {d}")),
            None => Finding::Within("not bit-identical, every number within the tolerance".into()),
        });
    }
    Ok(Finding::Within(
        "not bit-identical; not comparable number by number (compared through the tables above)"
            .into(),
    ))
}

fn close(x: f64, y: f64, t: Option<Tolerance>) -> bool {
    match t {
        None => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        Some(t) => crate::diff::close(y, x, t.rtol, t.atol),
    }
}

fn values_equal(a: &AnyValue, b: &AnyValue, t: Option<Tolerance>) -> bool {
    if let (AnyValue::List(x), AnyValue::List(y)) = (a, b) {
        return x.len() == y.len()
            && (0..x.len()).all(|i| match (x.get(i), y.get(i)) {
                (Ok(u), Ok(v)) => values_equal(&u, &v, t),
                _ => false,
            });
    }
    if a.dtype().is_primitive_numeric() && b.dtype().is_primitive_numeric() {
        return match (a.extract::<f64>(), b.extract::<f64>()) {
            (Some(x), Some(y)) => close(x, y, t),
            _ => false,
        };
    }
    a == b
}

/// A value as written: floats in full (polars' display rounds them).
fn show(v: &AnyValue) -> String {
    match v {
        AnyValue::Float64(x) => x.to_string(),
        AnyValue::Float32(x) => x.to_string(),
        v => v.to_string(),
    }
}

/// The first row and column where two tables differ (`a` recorded, `b` recomputed), or a
/// difference of shape; `None` when every value is equal (within `t`).
fn first_difference(a: &DataFrame, b: &DataFrame, t: Option<Tolerance>) -> Option<String> {
    let names = |d: &DataFrame| -> Vec<String> {
        d.get_column_names()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    if names(a) != names(b) {
        return Some(format!(
            "the columns: [{}] recorded, [{}] recomputed",
            names(a).join(", "),
            names(b).join(", ")
        ));
    }
    let mut first: Option<(usize, String)> = None;
    for (ca, cb) in a.columns().iter().zip(b.columns()) {
        let (sa, sb) = (ca.as_materialized_series(), cb.as_materialized_series());
        let limit = first.as_ref().map_or(a.height().min(b.height()), |f| f.0);
        for row in 0..limit {
            let (x, y) = (sa.get(row).ok()?, sb.get(row).ok()?);
            if !values_equal(&x, &y, t) {
                first = Some((
                    row,
                    format!(
                        "row {row}, column `{}`: {} recorded, {} recomputed",
                        ca.name(),
                        show(&x),
                        show(&y)
                    ),
                ));
                break;
            }
        }
    }
    first.map(|f| f.1).or_else(|| {
        (a.height() != b.height()).then(|| {
            format!(
                "the row count: {} recorded, {} recomputed",
                a.height(),
                b.height()
            )
        })
    })
}

/// The first JSON path where two documents differ (numbers within `t`).
fn json_difference(
    a: &serde_json::Value,
    b: &serde_json::Value,
    at: &str,
    t: Tolerance,
) -> Option<String> {
    use serde_json::Value as J;
    let here = || {
        if at.is_empty() {
            "/".to_string()
        } else {
            at.to_string()
        }
    };
    match (a, b) {
        (J::Number(x), J::Number(y)) => {
            let (x, y) = (x.as_f64()?, y.as_f64()?);
            (!close(x, y, Some(t))).then(|| format!("{}: {x} recorded, {y} recomputed", here()))
        }
        (J::Array(x), J::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| json_difference(u, v, &format!("{at}/{i}"), t)),
        (J::Object(x), J::Object(y)) if x.keys().eq(y.keys()) => x
            .iter()
            .find_map(|(k, u)| json_difference(u, &y[k], &format!("{at}/{k}"), t)),
        _ => (a != b).then(|| format!("{}: {a} recorded, {b} recomputed", here())),
    }
}

#[cfg(test)]
mod tests {
    use polars_core::prelude::Column;

    use super::*;

    fn table(loss: &[f64], names: &[&str]) -> DataFrame {
        crate::table::frame(vec![
            Column::new("epoch".into(), (0..loss.len() as i64).collect::<Vec<_>>()),
            Column::new("loss".into(), loss.to_vec()),
            Column::new("note".into(), names.to_vec()),
        ])
        .unwrap()
    }

    #[test]
    fn the_first_differing_row_and_column_are_named() {
        let a = table(&[1.0, 0.5, 0.25, 0.125], &["a", "b", "c", "d"]);
        assert_eq!(first_difference(&a, &a.clone(), None), None);
        let b = table(&[1.0, 0.5, 0.25 + 1e-12, 0.0], &["a", "b", "c", "x"]);
        assert_eq!(
            first_difference(&a, &b, None).unwrap(),
            "row 2, column `loss`: 0.25 recorded, 0.250000000001 recomputed"
        );
        let t = Tolerance {
            rtol: 1e-9,
            atol: 0.0,
        };
        // Within the tolerance row 2 is equal; row 3 differs in `note` and in `loss`.
        assert_eq!(
            first_difference(&a, &b, Some(t)).unwrap(),
            "row 3, column `loss`: 0.125 recorded, 0 recomputed"
        );
        let short = table(&[1.0, 0.5, 0.25], &["a", "b", "c"]);
        assert_eq!(
            first_difference(&a, &short, None).unwrap(),
            "the row count: 4 recorded, 3 recomputed"
        );
        // NaN equals NaN (a diverged run recomputed is still reproduced).
        let nan = table(&[f64::NAN], &["a"]);
        assert_eq!(first_difference(&nan, &nan.clone(), None), None);
    }

    #[test]
    fn json_numbers_are_compared_within_the_tolerance_the_rest_exactly() {
        let t = Tolerance {
            rtol: 1e-6,
            atol: 0.0,
        };
        let a = serde_json::json!({"claims": [{"verdict": "supported", "measured": 0.5}]});
        let near = serde_json::json!({"claims": [{"verdict": "supported", "measured": 0.5000001}]});
        assert_eq!(json_difference(&a, &near, "", t), None);
        let far = serde_json::json!({"claims": [{"verdict": "supported", "measured": 0.6}]});
        assert_eq!(
            json_difference(&a, &far, "", t).unwrap(),
            "/claims/0/measured: 0.5 recorded, 0.6 recomputed"
        );
        let flipped =
            serde_json::json!({"claims": [{"verdict": "not supported", "measured": 0.5}]});
        assert_eq!(
            json_difference(&a, &flipped, "", t).unwrap(),
            "/claims/0/verdict: \"supported\" recorded, \"not supported\" recomputed"
        );
    }

    #[test]
    fn the_sample_is_a_share_at_least_one_and_repeats_with_its_seed() {
        let plan = Plan {
            stages: (0..40)
                .map(|i| plan::Planned {
                    key: format!("{i:032x}"),
                    version: 1,
                    inputs: BTreeMap::new(),
                    env: BTreeMap::new(),
                    external: None,
                    cached: true,
                    reasons: vec![],
                })
                .collect(),
        };
        let all: Vec<usize> = (0..40).collect();
        assert_eq!(sample(&all, &plan, 0.1, 7).len(), 4);
        assert_eq!(sample(&all, &plan, 0.001, 7).len(), 1);
        assert_eq!(sample(&all, &plan, 1.0, 7), all);
        assert_eq!(sample(&all, &plan, 0.25, 7), sample(&all, &plan, 0.25, 7));
        assert_ne!(sample(&all, &plan, 0.25, 7), sample(&all, &plan, 0.25, 8));
        assert!(sample(&[], &plan, 0.5, 7).is_empty());
    }
}
