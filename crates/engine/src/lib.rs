//! The pipeline engine: stage keys, the cache (local, remote, Parquet tables), planning,
//! execution (local and Slurm), run records and published outputs. It knows nothing about neural
//! networks: stage kinds (in `spike-science`) do the science, through [`kind::Kind`].

pub mod audit;
pub mod cache;
pub mod context;
pub mod dag;
pub mod diff;
pub mod exec;
pub mod extend;
pub mod failure;
pub mod gc;
pub mod key;
pub mod kind;
pub mod plan;
pub mod progress;
mod publishes;
pub mod remote;
pub mod runs;
pub mod slurm;
pub mod table;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use cache::Cache;
use exec::{CacheHooks, ExecOptions};
use key::NumericEnv;
use kind::Registry;
use plan::Plan;
use progress::Progress;
use runs::{Outcome, RunRecord, StageRun};
use spike_config::Pipeline;

pub(crate) const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where a project's files are.
#[derive(Clone, Debug)]
pub struct Locations {
    pub pipeline: PathBuf,
    pub cache: PathBuf,
    pub outputs: PathBuf,
    pub data: PathBuf,
    /// Local copies of external datasets by name (`cifar10` from `--cifar10-dir`), which the
    /// import stages prefer to their own parameters and to downloads.
    pub sources: BTreeMap<String, PathBuf>,
}

impl Locations {
    /// Defaults relative to the directory of `pipeline.yaml`; the cache directory is
    /// `--cache-dir`, else `$SPIKE_CACHE`, else `.spike/cache` beside the pipeline file.
    pub fn resolve(
        pipeline: &Path,
        cache_dir: Option<PathBuf>,
        outputs: Option<PathBuf>,
    ) -> Locations {
        let root = pipeline
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let cache = cache_dir
            .or_else(|| {
                std::env::var_os("SPIKE_CACHE")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| root.join(".spike").join("cache"));
        Locations {
            pipeline: pipeline.to_path_buf(),
            cache,
            outputs: outputs.unwrap_or_else(|| root.join("outputs")),
            data: root.join("data"),
            sources: BTreeMap::new(),
        }
    }
}

pub struct Project {
    pub pipeline: Pipeline,
    pub registry: Registry,
    pub cache: Cache,
    pub outputs: PathBuf,
    pub data_dir: PathBuf,
    pub sources: BTreeMap<String, PathBuf>,
    pub env: NumericEnv,
}

impl Project {
    /// Loads and validates the pipeline; nothing is written if that fails.
    pub fn load(
        loc: &Locations,
        profile: Option<&str>,
        overrides: &[spike_config::Override],
        registry: Registry,
        env: NumericEnv,
    ) -> Result<Project> {
        let pipeline = spike_config::load(&loc.pipeline, profile, &registry, overrides)?;
        // The executor's settings are checked here too, before the cache directory exists.
        slurm::ExecutorConfig::from_yaml(pipeline.extra.get("executor"), &pipeline)?;
        let cache = Cache::open(&loc.cache)?;
        Ok(Project {
            pipeline,
            registry,
            cache,
            outputs: loc.outputs.clone(),
            data_dir: loc.data.clone(),
            sources: loc.sources.clone(),
            env,
        })
    }

    fn previous(&self) -> HashMap<String, StageRun> {
        let names: Vec<&str> = self
            .pipeline
            .stages
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        runs::last_seen(&self.outputs, &names)
    }

    /// Plans every stage; entries of `verify`-marked stages are checked against their hashes.
    pub fn plan(&self, verify: &[bool]) -> Plan {
        let hash = |p: &Path| self.cache.hash_file_memo(p);
        let ext = kind::External::new(&self.data_dir, &self.sources, &hash);
        Plan::new(
            &self.pipeline,
            &self.registry,
            &self.cache,
            &self.env,
            &self.previous(),
            &ext,
            &|i| verify[i],
        )
    }
}

/// Where stages run.
pub enum Executor {
    Local,
    Slurm(Box<slurm::Slurm>),
}

impl Executor {
    /// `executor:` of pipeline.yaml, or `kind` (`--executor`) over it.
    pub fn configure(
        project: &Project,
        kind: Option<&str>,
        job: &slurm::JobSettings,
    ) -> Result<Executor> {
        let mut config = slurm::ExecutorConfig::from_yaml(
            project.pipeline.extra.get("executor"),
            &project.pipeline,
        )?;
        if let Some(k) = kind {
            config.kind = k.to_string();
        }
        match config.kind.as_str() {
            "local" => Ok(Executor::Local),
            "slurm" => Ok(Executor::Slurm(Box::new(slurm::Slurm::new(
                config, project, job,
            )?))),
            other => anyhow::bail!("unknown executor `{other}` (local, slurm)"),
        }
    }
}

pub struct ReproOptions {
    pub executor: Executor,
    pub targets: Vec<String>,
    pub dry: bool,
    pub force: bool,
    pub downstream: bool,
    pub jobs: usize,
    pub keep_going: bool,
    pub command: Vec<String>,
    /// `repro --name`.
    pub name: Option<String>,
}

/// The stages a `repro` touches and which of them are forced.
pub(crate) fn selection(project: &Project, opts: &ReproOptions) -> Result<(Vec<bool>, Vec<bool>)> {
    let n = project.pipeline.stages.len();
    if opts.targets.is_empty() {
        let forced = vec![opts.force; n];
        return Ok((vec![true; n], forced));
    }
    let targets = plan::resolve_targets(&project.pipeline, &opts.targets)?;
    let seeds = if opts.downstream {
        plan::descendants(&project.pipeline, &targets)
    } else {
        targets
    };
    let selected = plan::with_ancestors(&project.pipeline, &seeds);
    let mut forced = vec![false; n];
    if opts.force {
        for &i in &seeds {
            forced[i] = true;
        }
    }
    Ok((selected, forced))
}

pub struct ReproResult {
    pub record: Option<RunRecord>,
    /// The selected stages that are not cached (or are forced), in plan order.
    pub to_run: Vec<ToRun>,
}

/// A stage `repro` runs, and why (`repro --dry` prints these).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ToRun {
    pub stage: String,
    pub key: String,
    pub reasons: Vec<String>,
}

impl std::fmt::Display for ToRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run    {}: {}", self.stage, self.reasons.join("; "))
    }
}

impl ReproResult {
    pub fn ok(&self) -> bool {
        self.record.as_ref().is_none_or(|r| r.ok)
    }
}

/// `repro`: plan, run what is stale, publish figure outputs, write the run record.
pub fn repro(
    project: &Project,
    opts: &ReproOptions,
    hooks: &dyn CacheHooks,
) -> Result<ReproResult> {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let (selected, forced) = selection(project, opts)?;
    let plan = project.plan(&selected);
    let mut to_run = Vec::new();
    for (i, def) in project.pipeline.stages.iter().enumerate() {
        let p = &plan.stages[i];
        if selected[i] && (forced[i] || !p.cached) {
            to_run.push(ToRun {
                stage: def.name.clone(),
                key: p.key.clone(),
                reasons: if forced[i] {
                    vec!["forced (--force)".into()]
                } else {
                    p.reasons.clone()
                },
            });
        }
    }
    if opts.dry {
        return Ok(ReproResult {
            record: None,
            to_run,
        });
    }

    let progress = Progress::new();
    let mut stages = match &opts.executor {
        Executor::Local => {
            let exec_opts = ExecOptions {
                jobs: opts.jobs,
                keep_going: opts.keep_going,
                force: forced,
            };
            exec::execute(project, &plan, &selected, &exec_opts, hooks, &progress)
        }
        Executor::Slurm(s) => slurm::execute(
            project,
            &plan,
            &selected,
            &forced,
            opts.keep_going,
            s,
            &progress,
        )?,
    };
    let published = publish(project, &mut stages);
    let ok = published
        && stages.iter().all(|s| {
            matches!(
                s.outcome,
                Outcome::Cached | Outcome::Computed | Outcome::Pulled
            )
        });
    let record = RunRecord {
        run_id: runs::new_run_id(),
        name: opts.name.clone(),
        overrides: project.pipeline.overrides.clone(),
        git: project.pipeline.file.parent().and_then(|d| {
            runs::git_state(if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            })
        }),
        machine: Some(runs::machine()),
        started: started.to_rfc3339(),
        finished: chrono::Utc::now().to_rfc3339(),
        profile: project.pipeline.profile.clone(),
        pipeline: project.pipeline.file.display().to_string(),
        command: opts.command.clone(),
        targets: opts.targets.clone(),
        env: project.env.clone(),
        tool_version: TOOL_VERSION.to_string(),
        ok,
        wall_s: clock.elapsed().as_secs_f64(),
        stages,
    };
    runs::write(&project.outputs, &record).with_context(|| {
        format!(
            "the run record could not be written under {}; what this run computed ({} stages) stays in the cache, nothing is lost: fix the cause (room on the disk, permissions) and run `spike-pipe repro` again, which finds it cached and writes the record",
            project.outputs.display(),
            record.count(Outcome::Computed)
        )
    })?;
    Ok(ReproResult {
        record: Some(record),
        to_run,
    })
}

/// What `publish` wrote to `outputs/figures/`: file name -> blake3, so that a file there that
/// spike-pipe did not write (or that was edited since) is recognised and kept.
const PUBLISHED: &str = ".published.json";

/// Copies the published files of finished stages to `outputs/figures/` (only when they differ),
/// and records each finished stage's compute time from its manifest. A file there that
/// spike-pipe did not publish is moved aside to `<name>.bak` (with a warning) before it is
/// replaced. A stage whose files cannot be published gets the error in its record; the record
/// is still written. Returns whether everything was published.
fn publish(project: &Project, stages: &mut [StageRun]) -> bool {
    let dir = project.outputs.join("figures");
    let registry_path = dir.join(PUBLISHED);
    let registry_text = fs::read_to_string(&registry_path).ok();
    let mut registry: BTreeMap<String, String> = registry_text
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    // Before the registry existed, what earlier runs recorded as published counts as ours.
    let recorded: BTreeSet<String> = if registry_text.is_none() {
        runs::list(&project.outputs)
            .unwrap_or_default()
            .iter()
            .filter_map(|id| runs::find(&project.outputs, id).ok())
            .flat_map(|r| r.stages.into_iter().flat_map(|s| s.published))
            .filter_map(|p| p.strip_prefix("figures/").map(str::to_string))
            .collect()
    } else {
        BTreeSet::new()
    };
    let mut ok = true;
    // File name -> the stage of this run that published it: two stages may not share one.
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for s in stages.iter_mut() {
        if !matches!(
            s.outcome,
            Outcome::Cached | Outcome::Computed | Outcome::Pulled
        ) {
            continue;
        }
        let published = publish_stage(project, s, &dir, &mut registry, &recorded, &mut claimed);
        if let Err(e) = published {
            eprintln!("error: publishing the files of {}: {e:#}", s.name);
            s.error = Some(format!("publishing its files: {e:#}"));
            s.operational = failure::is_machine_failure(&e);
            ok = false;
        }
    }
    if let Ok(text) = serde_json::to_string_pretty(&registry)
        && fs::create_dir_all(&dir).is_ok()
        && let Err(e) = cache::write_atomic(&registry_path, text.as_bytes())
    {
        eprintln!("warning: {e:#}");
    }
    ok
}

fn publish_stage(
    project: &Project,
    s: &mut StageRun,
    dir: &Path,
    registry: &mut BTreeMap<String, String>,
    recorded: &BTreeSet<String>,
    claimed: &mut BTreeMap<String, String>,
) -> Result<()> {
    let manifest = project.cache.manifest(&s.key)?;
    s.compute_s = Some(manifest.wall_s);
    let prefix = format!("{}/", cache::PUBLISH_DIR);
    let files: Vec<(&str, &cache::FileRecord)> = manifest
        .published()
        .map(|f| (f.path.strip_prefix(&prefix).unwrap_or(&f.path), f))
        .collect();
    let def = project
        .pipeline
        .stage(&s.name)
        .with_context(|| format!("`{}` is not a stage of the pipeline", s.name))?;
    publishes::check_entry(project, def, &manifest)
        .context("nothing of it was published; rerun `spike-pipe repro` to compute it here")?;
    // What is published (and what verify, diff and the report read) is hashed again every run:
    // a few small files, and a rotten one must not reach outputs/ or a verdict.
    let entry = project.cache.entry_dir(&s.key)?;
    for (name, f) in &files {
        let (hash, bytes) = cache::hash_file(&entry.join(&f.path))?;
        if hash != f.blake3 || bytes != f.bytes {
            project.cache.evict(&s.key)?;
            bail!(
                "the cached {name} of entry {} no longer matches its recorded blake3 ({bytes} bytes, recorded {}); nothing of it was published and the entry was removed: rerun `spike-pipe repro` to recompute it",
                s.key,
                f.bytes
            );
        }
    }
    // Nothing of a stage is published when one of its files is another stage's.
    if let Some((name, other)) = files
        .iter()
        .find_map(|(name, _)| claimed.get(*name).map(|other| (name, other)))
    {
        bail!(
            "`{name}` is also published by stage `{other}` in this run, and one would overwrite the other in {}; give one of the two stages another `id`",
            dir.display()
        );
    }
    // Every changed file is copied beside its destination first and renamed into place only
    // when all are written: a full disk publishes nothing of the stage, not a part of it.
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut staged = Vec::new();
    for (name, f) in &files {
        claimed.insert(name.to_string(), s.name.clone());
        let dest = dir.join(name);
        let current = cache::hash_file(&dest).ok().map(|(h, _)| h);
        if current.as_deref() != Some(f.blake3.as_str()) {
            let copy = cache::copy_beside(&entry.join(&f.path), &dest)?;
            staged.push((*name, dest, copy, current));
        }
    }
    for (name, dest, copy, current) in staged {
        let ours = current.is_none()
            || registry.get(name) == current.as_ref()
            || (!registry.contains_key(name) && recorded.contains(name));
        if !ours {
            let backup = free_name(&dest);
            fs::rename(&dest, &backup).with_context(|| {
                format!("moving {} aside to {}", dest.display(), backup.display())
            })?;
            eprintln!(
                "warning: {} was not published by spike-pipe (or was edited since); kept as {}",
                dest.display(),
                backup.display()
            );
        }
        copy.persist(&dest)
            .with_context(|| format!("renaming into {}", dest.display()))?;
    }
    for (name, f) in files {
        registry.insert(name.to_string(), f.blake3.clone());
        s.published.push(format!("figures/{name}"));
    }
    Ok(())
}

/// `<path>.bak`, or `<path>.bak.N` for the first N that is free.
fn free_name(path: &Path) -> PathBuf {
    let base = format!("{}.bak", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    candidate
}

/// The hidden `run-job` of a Slurm job: computes one stage, which must still have the key the
/// driver planned, after fetching (through `hooks`) any input missing from the local cache.
pub fn run_stage(
    project: &Project,
    name: &str,
    key: &str,
    force: bool,
    hooks: &dyn CacheHooks,
) -> Result<StageRun> {
    let i = project.pipeline.index(name).with_context(|| {
        format!(
            "`{name}` is not a stage of {}",
            project.pipeline.file.display()
        )
    })?;
    let mut verify = vec![false; project.pipeline.stages.len()];
    verify[i] = true;
    let plan = project.plan(&verify);
    let planned = &plan.stages[i];
    if planned.key != key {
        anyhow::bail!(
            "stage {name} now has key {} but the job was submitted for {key}: pipeline.yaml, the profile or the code changed after submission; rerun repro",
            planned.key
        );
    }
    for refs in planned.inputs.values() {
        for r in refs {
            if !project.cache.contains(&r.key) {
                let _lock = project.cache.lock(&r.key)?;
                if !project.cache.contains(&r.key) && !hooks.fetch(&r.key)? {
                    anyhow::bail!(
                        "input {} (entry {}) is in neither the cache nor the remote",
                        r.stage,
                        r.key
                    );
                }
                let input = project
                    .pipeline
                    .stage(&r.stage)
                    .with_context(|| format!("input `{}` is not a stage", r.stage))?;
                publishes::check_entry(project, input, &project.cache.manifest(&r.key)?)?;
            }
        }
    }
    let record = exec::run_one(project, &plan, i, force, hooks, &Progress::new());
    match record.outcome {
        Outcome::Failed => anyhow::bail!("{}", record.error.clone().unwrap_or_default()),
        _ => Ok(record),
    }
}

/// One line per stage: up to date, or stale with the reasons.
/// Whether each stage is up to date, and why not (`spike-pipe status`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct StageStatus {
    pub stage: String,
    pub stale: bool,
    pub reason: String,
}

pub struct Status {
    pub profile: String,
    pub overrides: Vec<String>,
    pub stages: Vec<StageStatus>,
}

impl Status {
    pub fn of(project: &Project) -> Status {
        let all = vec![true; project.pipeline.stages.len()];
        let plan = project.plan(&all);
        let stages = project
            .pipeline
            .stages
            .iter()
            .zip(&plan.stages)
            .map(|(def, p)| StageStatus {
                stage: def.name.clone(),
                stale: !p.cached,
                reason: if p.cached {
                    format!("up to date ({})", &p.key[..12])
                } else {
                    p.reasons.join("; ")
                },
            })
            .collect();
        Status {
            profile: project.pipeline.profile.clone(),
            overrides: project.pipeline.overrides.clone(),
            stages,
        }
    }

    pub fn stale(&self) -> usize {
        self.stages.iter().filter(|s| s.stale).count()
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for o in &self.overrides {
            writeln!(f, "  with   -S {o}")?;
        }
        for s in &self.stages {
            let state = if s.stale { "stale" } else { "ok" };
            writeln!(f, "  {state:6} {}: {}", s.stage, s.reason)?;
        }
        writeln!(
            f,
            "{} of {} stages stale (profile {})",
            self.stale(),
            self.stages.len(),
            self.profile
        )
    }
}
