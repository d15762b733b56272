//! `spike-pipe gc`: frees the cache of what nothing needs any more.
//!
//! Kept: every entry the current pipeline plans (under the selected profile) and every entry a
//! kept run record used (all runs, or the newest `keep_runs`). Removed: other entries (with
//! `older_than`, only those created before that), temporary directories of writes that are not
//! under way, and resumable scratch state of stages the pipeline no longer plans or that have
//! finished. Nothing whose lock another process holds is touched.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};

use super::Project;
use super::key::check_key;
use super::runs;

#[derive(Clone, Debug, Default)]
pub struct GcOptions {
    /// Report what would be removed, remove nothing.
    pub dry: bool,
    /// Keep the entries of only the newest N runs (default: of every run).
    pub keep_runs: Option<usize>,
    /// Remove only entries created longer ago than this.
    pub older_than: Option<Duration>,
}

/// What `gc` removed (or, with `dry`, would remove).
#[derive(Clone, Debug, Default)]
pub struct GcReport {
    /// (key, kind, stage that computed it, bytes).
    pub entries: Vec<(String, String, String, u64)>,
    pub tmp: Vec<PathBuf>,
    pub scratch: Vec<PathBuf>,
    /// Entries and directories skipped because another process holds their lock.
    pub busy: Vec<String>,
    pub bytes: u64,
    pub dry: bool,
}

impl std::fmt::Display for GcReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry { "would remove" } else { "removed" };
        for (key, kind, stage, bytes) in &self.entries {
            writeln!(f, "{verb} entry {key} ({kind}, {stage}, {bytes} bytes)")?;
        }
        for p in self.tmp.iter().chain(&self.scratch) {
            writeln!(f, "{verb} {}", p.display())?;
        }
        for b in &self.busy {
            writeln!(f, "kept {b}: another process holds its lock")?;
        }
        write!(
            f,
            "{verb} {} entries, {} temporary and {} scratch directories: {:.1} MB",
            self.entries.len(),
            self.tmp.len(),
            self.scratch.len(),
            self.bytes as f64 / 1e6
        )
    }
}

/// Parses `30d`, `12h`, `90m` or `45s`.
pub fn parse_age(text: &str) -> Result<Duration> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| {
        anyhow::anyhow!("`{text}` is not an age: use a number with s, m, h or d (30d)")
    })?;
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" | "" => 86_400,
        _ => bail!("`{text}` is not an age: use a number with s, m, h or d (30d)"),
    };
    let secs = n
        .checked_mul(unit_secs)
        .ok_or_else(|| anyhow::anyhow!("`{text}` is too long an age"))?;
    Ok(Duration::from_secs(secs))
}

/// The keys that must stay: the current plan's and those of the kept runs.
fn kept_keys(project: &Project, keep_runs: Option<usize>) -> Result<BTreeSet<String>> {
    let plan = project.plan(&vec![false; project.pipeline.stages.len()]);
    let mut keep: BTreeSet<String> = plan.stages.iter().map(|s| s.key.clone()).collect();
    let ids = runs::list(&project.outputs)?;
    let from = keep_runs.map_or(0, |n| ids.len().saturating_sub(n));
    for id in &ids[from..] {
        let record = runs::find(&project.outputs, id)?;
        keep.extend(record.stages.into_iter().map(|s| s.key));
    }
    Ok(keep)
}

fn dir_size(dir: &Path) -> u64 {
    super::cache::list_files(dir)
        .map(|files| {
            files
                .iter()
                .filter_map(|f| fs::metadata(dir.join(f)).ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn gc(project: &Project, opts: &GcOptions) -> Result<GcReport> {
    let cache = &project.cache;
    let keep = kept_keys(project, opts.keep_runs)?;
    let mut report = GcReport {
        dry: opts.dry,
        ..GcReport::default()
    };
    let now = chrono::Utc::now();
    for key in cache.keys()? {
        if keep.contains(&key) {
            continue;
        }
        let manifest = cache.manifest(&key).ok();
        if let (Some(age), Some(m)) = (opts.older_than, &manifest) {
            let created = chrono::DateTime::parse_from_rfc3339(&m.created).ok();
            let old = created.is_some_and(|c| {
                (now - c.with_timezone(&chrono::Utc))
                    .to_std()
                    .is_ok_and(|d| d > age)
            });
            if !old {
                continue;
            }
        }
        let Some(_lock) = cache.try_lock(&key)? else {
            report.busy.push(format!("entry {key}"));
            continue;
        };
        let dir = cache.entry_dir(&key)?;
        let bytes = dir_size(&dir);
        if !opts.dry {
            cache.evict(&key)?;
        }
        report.bytes += bytes;
        let (kind, stage) = manifest.map_or((String::new(), String::new()), |m| (m.kind, m.stage));
        report.entries.push((key, kind, stage, bytes));
    }
    // Temporary directories `<key>.<pid>.<n>` (and `<key>.evicted.<pid>.<n>`): stale unless a
    // process holds the key's lock, under which they are written.
    for (sub, scratch) in [("tmp", false), ("scratch", true)] {
        let Ok(read) = fs::read_dir(cache.root().join(sub)) else {
            continue;
        };
        for e in read.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let key = name.split('.').next().unwrap_or("");
            if check_key(key).is_err() {
                continue;
            }
            // Scratch state is kept while the plan still has the stage and it is unfinished.
            if scratch && keep.contains(key) && !cache.contains(key) {
                continue;
            }
            let Some(_lock) = cache.try_lock(key)? else {
                report.busy.push(format!("{sub}/{name}"));
                continue;
            };
            let path = e.path();
            report.bytes += dir_size(&path);
            if !opts.dry {
                fs::remove_dir_all(&path).ok();
            }
            if scratch {
                report.scratch.push(path);
            } else {
                report.tmp.push(path);
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("30d").unwrap(), Duration::from_secs(30 * 86_400));
        assert_eq!(parse_age("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert_eq!(parse_age("90m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_age("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_age("7").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(parse_age("soon").is_err());
        assert!(parse_age("3w").is_err());
        assert!(parse_age("99999999999999999d").is_err());
    }
}
