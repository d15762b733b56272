//! Run records: `outputs/runs/<run-id>.json` for every `repro`, with `outputs/runs/latest`
//! pointing at the newest. `status` and `diff` read them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use spike_config::{Value, params_from_json};

use super::cache::write_atomic;
use super::key::NumericEnv;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Reused from the local cache.
    Cached,
    /// Downloaded from the remote cache.
    Pulled,
    Computed,
    Failed,
    /// Not run because something it needs failed (or the run stopped early).
    Skipped,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Outcome::Cached => "cached",
            Outcome::Pulled => "pulled",
            Outcome::Computed => "computed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InputRef {
    pub stage: String,
    pub key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageRun {
    pub name: String,
    pub kind: String,
    pub version: u32,
    pub key: String,
    pub params: serde_json::Value,
    pub inputs: BTreeMap<String, Vec<InputRef>>,
    pub env: NumericEnv,
    /// Fingerprint of imported external data (local datasets).
    #[serde(default)]
    pub external: Option<String>,
    pub outcome: Outcome,
    /// Time spent on the stage in this run (near zero when cached).
    pub wall_s: f64,
    /// How long computing its cache entry took, wherever that happened (from the manifest).
    #[serde(default)]
    pub compute_s: Option<f64>,
    #[serde(default)]
    pub error: Option<String>,
    /// The error is the machine's (a full disk, a lost connection), not the stage's: the same
    /// run may succeed once that is fixed (exit code 3).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub operational: bool,
    /// Why it had to be computed (empty when cached).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Files it published to `outputs/figures/`.
    #[serde(default)]
    pub published: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    /// `repro --name`.
    #[serde(default)]
    pub name: Option<String>,
    /// The command line's `-S stage.param=value`.
    #[serde(default)]
    pub overrides: Vec<String>,
    /// The git commit of the pipeline's repository, with `+dirty` when the tree had changes.
    #[serde(default)]
    pub git: Option<String>,
    /// Host, OS, architecture and cores of the machine that ran it.
    #[serde(default)]
    pub machine: Option<String>,
    pub started: String,
    pub finished: String,
    pub profile: String,
    pub pipeline: String,
    pub command: Vec<String>,
    pub targets: Vec<String>,
    pub env: NumericEnv,
    pub tool_version: String,
    pub ok: bool,
    pub wall_s: f64,
    pub stages: Vec<StageRun>,
}

/// The totals line `repro` ends with.
impl std::fmt::Display for RunRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} stages: {} computed, {} cached, {} pulled, {} failed, {} skipped in {:.2}s (profile {}, run {})",
            self.stages.len(),
            self.count(Outcome::Computed),
            self.count(Outcome::Cached),
            self.count(Outcome::Pulled),
            self.count(Outcome::Failed),
            self.count(Outcome::Skipped),
            self.wall_s,
            self.profile,
            self.run_id
        )
    }
}

/// One run in full (`spike-pipe runs show`): its settings and every stage's outcome.
pub struct Details<'a>(pub &'a RunRecord);

impl std::fmt::Display for Details<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.0;
        writeln!(f, "run      {}", r.run_id)?;
        writeln!(f, "name     {}", r.name.as_deref().unwrap_or("-"))?;
        writeln!(
            f,
            "started  {}   finished {}   {:.1} s",
            r.started, r.finished, r.wall_s
        )?;
        writeln!(
            f,
            "profile  {}   tool {}   env {:?}",
            r.profile, r.tool_version, r.env
        )?;
        writeln!(f, "command  {}", r.command.join(" "))?;
        for o in &r.overrides {
            writeln!(f, "with     -S {o}")?;
        }
        for st in &r.stages {
            writeln!(
                f,
                "  {:9} {}  {}  {:.2} s",
                st.outcome,
                st.key.get(..12).unwrap_or(&st.key),
                st.name,
                st.wall_s
            )?;
        }
        Ok(())
    }
}

impl RunRecord {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.stages.iter().filter(|s| s.outcome == outcome).count()
    }
}

/// `<commit>` or `<commit>+dirty` of the git repository holding `dir`, if it is in one.
pub(crate) fn git_state(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}+dirty")
    } else {
        commit
    })
}

/// `host (os arch, N cores)`.
pub fn machine() -> String {
    let host = fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown host".into());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    format!(
        "{host} ({} {}, {cores} cores)",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Where a run's published file `figures/<name>` of stage entry `key` is: its copy in the cache
/// (content-addressed, so later runs cannot have changed it), else, with `outputs_too`,
/// `outputs/figures/<name>` (right for the latest run only: later runs replace those files). A
/// record is a file anyone can edit: a key that is not one is not looked up in the cache, and a
/// name that is not a plain file name under `figures/` is not looked up at all.
pub fn published_file(
    outputs: &Path,
    cache_root: &Path,
    key: &str,
    published: &str,
    outputs_too: bool,
) -> Option<PathBuf> {
    let name = published
        .strip_prefix("figures/")
        .filter(|n| !n.is_empty() && !n.contains(['/', '\\']) && *n != "." && *n != "..")?;
    let cached = super::key::check_key(key)
        .ok()
        .map(|()| {
            cache_root
                .join("entries")
                .join(key)
                .join(super::cache::PUBLISH_DIR)
                .join(name)
        })
        .filter(|p| p.is_file());
    cached.or_else(|| outputs_too.then(|| outputs.join("figures").join(name)))
}

/// Whether `record` is the run `latest` points at.
pub fn is_latest(outputs: &Path, record: &RunRecord) -> bool {
    find(outputs, "latest").is_ok_and(|l| l.run_id == record.run_id)
}

pub fn runs_dir(outputs: &Path) -> PathBuf {
    outputs.join("runs")
}

pub(crate) fn new_run_id() -> String {
    let now = chrono::Utc::now();
    format!(
        "{}-{:05}",
        now.format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id() % 100_000
    )
}

/// Writes the record and points `latest` at it (both atomically): a symbolic link, or where
/// links cannot be made (vfat, some network filesystems) a plain file holding the record's
/// name. If neither can replace what is at `latest` (a directory of the user's), `latest` is
/// left alone with a warning and `find("latest")` takes the newest record.
pub fn write(outputs: &Path, record: &RunRecord) -> Result<PathBuf> {
    let dir = runs_dir(outputs);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = format!("{}.json", record.run_id);
    let path = dir.join(&name);
    write_atomic(&path, serde_json::to_string_pretty(record)?.as_bytes())?;
    if let Err(e) = point_latest(&dir, &name) {
        eprintln!(
            "warning: could not update {}: {e:#}; `latest` means the newest record instead",
            dir.join("latest").display()
        );
    }
    Ok(path)
}

fn point_latest(dir: &Path, name: &str) -> Result<()> {
    let tmp = dir.join(format!("latest.tmp.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    #[cfg(unix)]
    let linked = std::os::unix::fs::symlink(name, &tmp).is_ok();
    #[cfg(not(unix))]
    let linked = false;
    if !linked {
        fs::write(&tmp, name).with_context(|| format!("writing {}", tmp.display()))?;
    }
    fs::rename(&tmp, dir.join("latest")).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    Ok(())
}

/// The record `latest` points at: through the link, the name in the plain file, or else the
/// newest record.
fn latest(outputs: &Path) -> Result<RunRecord> {
    let dir = runs_dir(outputs);
    let at = dir.join("latest");
    if at.is_file() {
        let text = fs::read_to_string(&at).with_context(|| format!("reading {}", at.display()))?;
        let name = text.trim();
        if name.ends_with(".json") && !name.contains(['/', '\\']) && !name.contains('{') {
            return read(&dir.join(name));
        }
        return read(&at);
    }
    match list(outputs)?.last() {
        Some(id) => read(&dir.join(format!("{id}.json"))),
        None => bail!(
            "no run in {} yet; run `spike-pipe repro` first",
            dir.display()
        ),
    }
}

pub fn read(path: &Path) -> Result<RunRecord> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("reading run record {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing run record {}", path.display()))
}

/// Run ids, oldest first (ids sort by time).
pub fn list(outputs: &Path) -> Result<Vec<String>> {
    let dir = runs_dir(outputs);
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let mut ids: Vec<String> = fs::read_dir(&dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_suffix(".json").map(str::to_string)
        })
        .filter(|n| !n.contains(".tmp"))
        .collect();
    ids.sort();
    Ok(ids)
}

/// A run by id (or `latest`, or a path to a record).
pub fn find(outputs: &Path, id: &str) -> Result<RunRecord> {
    let p = Path::new(id);
    if p.is_file() {
        return read(p);
    }
    let dir = runs_dir(outputs);
    if id == "latest" {
        return latest(outputs);
    }
    let path = dir.join(format!("{id}.json"));
    if path.is_file() {
        return read(&path);
    }
    let ids = list(outputs)?;
    let matches: Vec<&String> = ids.iter().filter(|i| i.starts_with(id)).collect();
    match matches.as_slice() {
        [one] => read(&dir.join(format!("{one}.json"))),
        [] => bail!(
            "no run `{id}` in {} (runs: {})",
            dir.display(),
            ids.join(", ")
        ),
        _ => bail!("run id `{id}` is ambiguous in {}", dir.display()),
    }
}

/// The most recent record of each stage name, searching runs newest first.
pub(crate) fn last_seen(outputs: &Path, names: &[&str]) -> HashMap<String, StageRun> {
    let mut found: HashMap<String, StageRun> = HashMap::new();
    let ids = list(outputs).unwrap_or_default();
    for id in ids.iter().rev().take(200) {
        let Ok(record) = read(&runs_dir(outputs).join(format!("{id}.json"))) else {
            continue;
        };
        for s in record.stages {
            if s.outcome != Outcome::Skipped && !found.contains_key(&s.name) {
                found.insert(s.name.clone(), s);
            }
        }
        if names.iter().all(|n| found.contains_key(*n)) {
            break;
        }
    }
    found
}

/// Why the same stage has a different key in `cur` than in `prev`, in words: kind or
/// implementation version, parameters (old -> new), inputs, external data, numeric environment.
pub fn changes(prev: &StageRun, cur: &StageRun) -> Vec<String> {
    let mut out = Vec::new();
    if prev.kind != cur.kind {
        out.push(format!("kind changed: {} -> {}", prev.kind, cur.kind));
    } else if prev.version != cur.version {
        out.push(format!(
            "stage implementation version changed: {} -> {}",
            prev.version, cur.version
        ));
    }
    let (old, new) = (
        params_from_json(&prev.params),
        params_from_json(&cur.params),
    );
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let show = |v: Option<&Value>| {
        v.map(ToString::to_string)
            .unwrap_or_else(|| "(unset)".into())
    };
    let params: Vec<String> = names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .map(|n| format!("{n} {} -> {}", show(old.get(n)), show(new.get(n))))
        .collect();
    if !params.is_empty() {
        out.push(format!("params changed: {}", params.join(", ")));
    }
    for (role, refs) in &cur.inputs {
        let before = prev.inputs.get(role);
        for r in refs {
            match before.and_then(|b| b.iter().find(|p| p.stage == r.stage)) {
                Some(p) if p.key == r.key => {}
                Some(_) => out.push(format!("input {} changed", r.stage)),
                None => out.push(format!("input {} added", r.stage)),
            }
        }
    }
    for (role, refs) in &prev.inputs {
        for r in refs {
            if !cur
                .inputs
                .get(role)
                .is_some_and(|c| c.iter().any(|x| x.stage == r.stage))
            {
                out.push(format!("input {} removed", r.stage));
            }
        }
    }
    if prev.external != cur.external {
        out.push(format!(
            "external data changed: {} -> {}",
            prev.external.as_deref().unwrap_or("none"),
            cur.external.as_deref().unwrap_or("none")
        ));
    }
    if prev.env != cur.env {
        let show = |e: &NumericEnv| {
            e.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        out.push(format!(
            "numeric environment changed: {} -> {}",
            show(&prev.env),
            show(&cur.env)
        ));
    }
    if out.is_empty() && prev.key != cur.key {
        out.push("key changed".into());
    }
    out
}
