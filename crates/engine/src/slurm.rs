//! The Slurm executor: every stale stage becomes a Slurm job (in dependency order, with
//! `--dependency=afterok:<ids> --kill-on-invalid-dep=yes`) that runs the hidden
//! `spike-pipe run-job` on the job's description (a JSON file beside its logs: the project
//! settings, the stage and its key) and writes it into the shared cache. The driver polls the
//! jobs' states (`sacct` where accounting is enabled, else `squeue` and `scontrol show job`),
//! cancels what it submitted on Ctrl-C or, with `--fail-fast`, after a failure, and returns
//! the stage records that the local executor would.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::Project;
use super::failure::Operational;
use super::plan::Plan;
use super::progress::Progress;
use super::runs::{Outcome, StageRun};
use spike_config::Pipeline;

/// Slurm resources of a job.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub partition: Option<String>,
    /// `--time`, e.g. `02:00:00`.
    pub time: Option<String>,
    pub cpus: Option<u32>,
    /// `--mem`, e.g. `16G`.
    pub mem: Option<String>,
    pub gpus: Option<u32>,
    /// More `sbatch` arguments, e.g. `["--account=lab", "--qos=short"]`.
    #[serde(default)]
    pub extra: Vec<String>,
}

impl Resources {
    fn merged(&self, over: &Resources) -> Resources {
        Resources {
            partition: over.partition.clone().or(self.partition.clone()),
            time: over.time.clone().or(self.time.clone()),
            cpus: over.cpus.or(self.cpus),
            mem: over.mem.clone().or(self.mem.clone()),
            gpus: over.gpus.or(self.gpus),
            extra: self.extra.iter().chain(&over.extra).cloned().collect(),
        }
    }

    fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(p) = &self.partition {
            a.push(format!("--partition={p}"));
        }
        if let Some(t) = &self.time {
            a.push(format!("--time={t}"));
        }
        if let Some(c) = self.cpus {
            a.push(format!("--cpus-per-task={c}"));
        }
        if let Some(m) = &self.mem {
            a.push(format!("--mem={m}"));
        }
        if let Some(g) = self.gpus {
            a.push(format!("--gpus={g}"));
        }
        a.extend(self.extra.iter().cloned());
        a
    }
}

/// `executor:` in pipeline.yaml.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// `local` (default) or `slurm`.
    #[serde(default = "local")]
    pub kind: String,
    /// Seconds between job-state queries.
    #[serde(default = "five")]
    pub poll_seconds: f64,
    /// Where job logs go (default `.spike/slurm` beside the cache; must be on a shared filesystem).
    #[serde(default)]
    pub logs: Option<PathBuf>,
    /// Resources of every job.
    #[serde(default)]
    pub defaults: Resources,
    /// Resources per stage (declared names), on top of the defaults.
    #[serde(default)]
    pub stages: BTreeMap<String, Resources>,
    /// Stages per job: the stages of one matrix group that depend on none of each other are
    /// run this many to a job (a sweep or an atlas is not one job per cell).
    #[serde(default = "one")]
    pub batch: usize,
}

fn local() -> String {
    "local".into()
}
fn five() -> f64 {
    5.0
}
fn one() -> usize {
    1
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            kind: local(),
            poll_seconds: five(),
            logs: None,
            defaults: Resources::default(),
            stages: BTreeMap::new(),
            batch: one(),
        }
    }
}

impl ExecutorConfig {
    pub(crate) fn from_yaml(
        v: Option<&serde_yaml::Value>,
        pipeline: &Pipeline,
    ) -> Result<ExecutorConfig> {
        let file = &pipeline.file;
        let Some(v) = v else {
            return Ok(ExecutorConfig::default());
        };
        let cfg: ExecutorConfig = serde_yaml::from_value(v.clone()).map_err(|e| {
            anyhow::anyhow!(
                "{}: executor: {e} (valid keys: kind, poll_seconds, logs, defaults, stages, batch)",
                file.display()
            )
        })?;
        // Between a tenth of a second and an hour: anything else is a typo (and `.inf` would
        // stop the run after submitting its jobs).
        if !(cfg.poll_seconds.is_finite() && (0.1..=3600.0).contains(&cfg.poll_seconds)) {
            bail!(
                "{}: executor.poll_seconds must be between 0.1 and 3600 seconds, got {}",
                file.display(),
                cfg.poll_seconds
            );
        }
        if !(1..=10_000).contains(&cfg.batch) {
            bail!(
                "{}: executor.batch (stages per job) must be between 1 and 10000, got {}",
                file.display(),
                cfg.batch
            );
        }
        if !["local", "slurm"].contains(&cfg.kind.as_str()) {
            bail!(
                "{}: executor.kind must be `local` or `slurm`, got `{}`",
                file.display(),
                cfg.kind
            );
        }
        let declared: Vec<&str> = pipeline.stages.iter().map(|s| s.base.as_str()).collect();
        for name in cfg.stages.keys() {
            if !declared.contains(&name.as_str()) {
                bail!(
                    "{}: executor.stages names `{name}`, which is not a stage{}",
                    file.display(),
                    spike_config::did_you_mean(name, &declared)
                );
            }
        }
        Ok(cfg)
    }
}

/// What a job must repeat of this command line to plan the same keys and reach the same data.
pub struct JobSettings {
    pub backend: String,
    /// `-S stage.param=value` of the command line.
    pub overrides: Vec<String>,
    /// The remote cache URL (it may carry credentials: jobs get it from their environment).
    pub remote: Option<String>,
    pub pull: bool,
    pub push: bool,
}

/// The project a job loads: the driver's pipeline, profile, directories, local data copies,
/// backend and overrides, with absolute paths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobProject {
    pub pipeline: PathBuf,
    pub profile: String,
    pub cache_dir: PathBuf,
    pub outputs: PathBuf,
    /// Local copies of external datasets by name (see `Locations::sources`).
    pub sources: BTreeMap<String, PathBuf>,
    pub backend: String,
    pub overrides: Vec<String>,
    pub pull: bool,
    pub push: bool,
}

/// One job: the stages it computes, each under the key the driver planned. Written as JSON
/// beside the job's logs and read by the hidden `spike-pipe run-job FILE`, so no setting is
/// re-spelt as a command-line flag. The remote URL is not in it: it may carry credentials, and
/// jobs get it from their environment (`SPIKE_REMOTE`), which `sbatch` passes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub project: JobProject,
    pub stages: Vec<JobStage>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobStage {
    pub stage: String,
    pub key: String,
    pub force: bool,
}

/// What `run-job` writes beside its description after each stage: stage -> its error (`None`:
/// computed), so that one failed stage of a job fails only itself.
pub type JobResults = BTreeMap<String, Option<String>>;

/// Where the results of the job described by `spec` go.
pub fn results_path(spec: &Path) -> PathBuf {
    PathBuf::from(format!("{}.results.json", spec.display()))
}

impl JobProject {
    pub fn new(project: &Project, s: &JobSettings) -> Result<JobProject> {
        let abs =
            |p: &Path| std::path::absolute(p).with_context(|| format!("resolving {}", p.display()));
        Ok(JobProject {
            pipeline: abs(&project.pipeline.file)?,
            profile: project.pipeline.profile.clone(),
            cache_dir: abs(project.cache.root())?,
            outputs: abs(&project.outputs)?,
            sources: project
                .sources
                .iter()
                .map(|(name, dir)| Ok((name.clone(), abs(dir)?)))
                .collect::<Result<_>>()?,
            backend: s.backend.clone(),
            overrides: s.overrides.clone(),
            pull: s.pull,
            push: s.push,
        })
    }
}

impl JobSpec {
    /// Reads a job description, naming the file in any error.
    pub fn read(path: &Path) -> Result<JobSpec> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the job description {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a spike-pipe job description", path.display()))
    }
}

/// A Slurm executor: its configuration and what its jobs load.
pub struct Slurm {
    pub config: ExecutorConfig,
    /// This program, which every job runs.
    pub program: PathBuf,
    pub project: JobProject,
    /// Set in the environment `sbatch` passes on to the jobs (what must not appear on a command
    /// line that `scontrol` and `ps` show, or in a file, such as a remote URL with credentials).
    pub env: Vec<(String, String)>,
}

impl Slurm {
    pub fn new(config: ExecutorConfig, project: &Project, s: &JobSettings) -> Result<Slurm> {
        Ok(Slurm {
            config,
            program: std::env::current_exe().context("finding this program's path")?,
            project: JobProject::new(project, s)?,
            env: s
                .remote
                .iter()
                .map(|r| ("SPIKE_REMOTE".to_string(), r.clone()))
                .collect(),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum JobState {
    Pending,
    Running,
    Done,
    Failed {
        state: String,
        exit: String,
    },
    /// Cancelled because a job it depends on failed.
    DependencyFailed,
    Cancelled(String),
    Unknown,
}

fn parse_state(state: &str, exit: &str, reason: &str) -> JobState {
    let state = state
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches('+');
    match state {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "RESIZING" | "SUSPENDED" => JobState::Pending,
        "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" => JobState::Running,
        "COMPLETED" => JobState::Done,
        "CANCELLED" if reason.contains("Dependency") => JobState::DependencyFailed,
        "CANCELLED" => JobState::Cancelled(reason.to_string()),
        "" => JobState::Unknown,
        other => JobState::Failed {
            state: other.into(),
            exit: exit.into(),
        },
    }
}

fn run(cmd: &str, args: &[String]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// States of the jobs `ids`; jobs no query knows about are missing from the map.
fn query(ids: &[String]) -> HashMap<String, JobState> {
    let mut states = HashMap::new();
    if ids.is_empty() {
        return states;
    }
    // sacct answers for finished jobs too, where accounting is enabled.
    if let Some(text) = run(
        "sacct",
        &[
            "-n".into(),
            "-P".into(),
            "-X".into(),
            "-o".into(),
            "JobID,State,ExitCode,Reason".into(),
            "-j".into(),
            ids.join(","),
        ],
    ) {
        for line in text.lines() {
            let f: Vec<&str> = line.split('|').collect();
            if f.len() >= 3 && ids.contains(&f[0].to_string()) {
                states.insert(
                    f[0].to_string(),
                    parse_state(f[1], f[2], f.get(3).copied().unwrap_or("")),
                );
            }
        }
        if states.len() == ids.len() {
            return states;
        }
    }
    if let Some(text) = run(
        "squeue",
        &[
            "-h".into(),
            "-o".into(),
            "%i|%T|%r".into(),
            "-j".into(),
            ids.join(","),
        ],
    ) {
        for line in text.lines() {
            let f: Vec<&str> = line.trim().split('|').collect();
            if f.len() >= 2 && ids.contains(&f[0].to_string()) {
                states.insert(
                    f[0].to_string(),
                    parse_state(f[1], "", f.get(2).copied().unwrap_or("")),
                );
            }
        }
    }
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| states.get(*id).is_none_or(|s| *s == JobState::Unknown))
        .cloned()
        .collect();
    for id in &missing {
        if let Some(text) = run("scontrol", &["show".into(), "job".into(), id.clone()]) {
            let field = |name: &str| {
                text.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{name}=")))
                    .unwrap_or("")
                    .to_string()
            };
            states.insert(
                id.clone(),
                parse_state(&field("JobState"), &field("ExitCode"), &field("Reason")),
            );
        }
    }
    states
}

/// Cancels the submitted jobs if the driver unwinds from a panic, so that none outlives it
/// unwatched (cancelling a finished job does nothing).
struct CancelOnPanic(Vec<String>);

impl Drop for CancelOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            scancel(&self.0);
        }
    }
}

fn scancel(ids: &[String]) {
    if !ids.is_empty() {
        let _ = Command::new("scancel").args(ids).status();
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

struct Job {
    /// Its stages, in pipeline order.
    stages: Vec<usize>,
    results: PathBuf,
    id: String,
    stdout: PathBuf,
    stderr: PathBuf,
    state: JobState,
    unknown_polls: usize,
    started: Instant,
}

/// Runs the selected stale stages as Slurm jobs; returns one record per selected stage.
pub(crate) fn execute(
    project: &Project,
    plan: &Plan,
    selected: &[bool],
    forced: &[bool],
    keep_going: bool,
    slurm: &Slurm,
    progress: &Progress,
) -> Result<Vec<StageRun>> {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    let logs = slurm
        .config
        .logs
        .clone()
        .unwrap_or_else(|| project.cache.root().join("..").join("slurm"));
    let run_dir = logs.join(super::runs::new_run_id());
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("creating the job log directory {}", run_dir.display()))?;
    let run_dir = std::fs::canonicalize(&run_dir)
        .with_context(|| format!("resolving {}", run_dir.display()))?;

    let mut jobs: Vec<Job> = Vec::new();
    let mut job_of: HashMap<usize, usize> = HashMap::new();
    let to_run: Vec<usize> = (0..plan.stages.len())
        .filter(|&i| selected[i] && (forced[i] || !plan.stages[i].cached))
        .collect();
    progress.set_detail(to_run.len() <= super::exec::DETAILED_STAGES);
    for batch in batches(project, &to_run, slurm.config.batch) {
        // A job of several stages may end failed with most of them computed: what depends on
        // it waits for it to end (`afterany`) and finds its own inputs in the cache or fails.
        let mut deps: Vec<(String, bool)> = batch
            .iter()
            .flat_map(|&i| upstream(project, i))
            .filter_map(|u| job_of.get(&u))
            .map(|&j| (jobs[j].id.clone(), jobs[j].stages.len() == 1))
            .collect();
        deps.sort();
        deps.dedup();
        let job = match submit(slurm, &run_dir, project, plan, forced, &batch, &deps) {
            Ok(job) => job,
            Err(e) => {
                scancel(&jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>());
                return Err(e);
            }
        };
        progress.detail(&format!(
            "submitted {} as Slurm job {}{}",
            batch
                .iter()
                .map(|&i| project.pipeline.stages[i].name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            job.id,
            if deps.is_empty() {
                String::new()
            } else {
                format!(
                    " (after {})",
                    deps.iter()
                        .map(|d| d.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
        for &i in &batch {
            job_of.insert(i, jobs.len());
        }
        jobs.push(job);
    }
    progress.println(&format!(
        "submitted {} Slurm jobs for {} stages; logs in {}",
        jobs.len(),
        to_run.len(),
        run_dir.display()
    ));
    let _guard = CancelOnPanic(jobs.iter().map(|j| j.id.clone()).collect());
    wait(project, plan, &mut jobs, keep_going, slurm, progress)?;
    Ok(records(project, plan, selected, &jobs, &job_of))
}

/// The stages of `to_run` (in pipeline order) in the jobs they run in: the stages of one
/// matrix group at one depth (counted in stages to run) share jobs, `size` to a job; jobs come
/// in order of depth, so a job is submitted after every job it depends on.
fn batches(project: &Project, to_run: &[usize], size: usize) -> Vec<Vec<usize>> {
    let depth = super::plan::depths(&project.pipeline, to_run);
    let mut groups: Vec<((usize, &str), Vec<usize>)> = Vec::new();
    for &i in to_run {
        let group = (depth[&i], project.pipeline.stages[i].base.as_str());
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, members)) => members.push(i),
            None => groups.push((group, vec![i])),
        }
    }
    groups.sort_by_key(|((d, _), members)| (*d, members[0]));
    groups
        .into_iter()
        .flat_map(|(_, members)| {
            members
                .chunks(size.max(1))
                .map(<[usize]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The stages stage `i` needs, by index.
fn upstream(project: &Project, i: usize) -> impl Iterator<Item = usize> + '_ {
    project.pipeline.stages[i]
        .upstream()
        .filter_map(|u| project.pipeline.index(u))
}

/// Submits the job of `stages` with `sbatch`, after the jobs `deps` (id, and whether it has one
/// stage: then its failure cancels this job instead of letting it run).
fn submit(
    slurm: &Slurm,
    run_dir: &Path,
    project: &Project,
    plan: &Plan,
    forced: &[bool],
    stages: &[usize],
    deps: &[(String, bool)],
) -> Result<Job> {
    let cfg = &slurm.config;
    let def = &project.pipeline.stages[stages[0]];
    let name = match stages.len() {
        1 => def.name.clone(),
        n => format!("{} ({n} stages)", def.base),
    };
    let safe: String = def
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = match stages.len() {
        1 => safe,
        n => format!("{safe}+{}", n - 1),
    };
    let (stdout, stderr) = (
        run_dir.join(format!("{safe}-%j.out")),
        run_dir.join(format!("{safe}-%j.err")),
    );
    let spec = JobSpec {
        project: slurm.project.clone(),
        stages: stages
            .iter()
            .map(|&i| JobStage {
                stage: project.pipeline.stages[i].name.clone(),
                key: plan.stages[i].key.clone(),
                force: forced[i],
            })
            .collect(),
    };
    let spec_file = run_dir.join(format!("{safe}.job.json"));
    let json = serde_json::to_vec_pretty(&spec).context("serialising a job description")?;
    super::cache::write_atomic(&spec_file, &json)
        .with_context(|| format!("writing the job description {}", spec_file.display()))?;
    let wrap = [
        slurm.program.display().to_string(),
        "run-job".into(),
        spec_file.display().to_string(),
    ]
    .iter()
    .map(|a| shell_words::quote(a).into_owned())
    .collect::<Vec<_>>()
    .join(" ");
    let resources = cfg
        .stages
        .get(&def.base)
        .map_or(cfg.defaults.clone(), |r| cfg.defaults.merged(r));
    let mut args: Vec<String> = vec![
        "--parsable".into(),
        format!("--job-name=spike:{name}"),
        format!("--output={}", stdout.display()),
        format!("--error={}", stderr.display()),
    ];
    let after = |single: bool| -> Vec<&str> {
        deps.iter()
            .filter(|d| d.1 == single)
            .map(|d| d.0.as_str())
            .collect()
    };
    let mut dependency = Vec::new();
    for (kind, ids) in [("afterok", after(true)), ("afterany", after(false))] {
        if !ids.is_empty() {
            dependency.push(format!("{kind}:{}", ids.join(":")));
        }
    }
    if !dependency.is_empty() {
        args.push(format!("--dependency={}", dependency.join(",")));
        args.push("--kill-on-invalid-dep=yes".into());
    }
    args.extend(resources.args());
    args.push("--wrap".into());
    args.push(wrap);
    let out = Command::new("sbatch")
        .args(&args)
        .envs(slurm.env.iter().map(|(k, v)| (k, v)))
        .output()
        .context("running sbatch (is Slurm installed and on PATH?)")?;
    if !out.status.success() {
        return Err(Operational(format!(
            "sbatch refused the job of {name}: {}; check the partition and resources in `executor:` of pipeline.yaml (the jobs submitted before it were cancelled)",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .into());
    }
    let id = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    let concrete = |p: &Path| PathBuf::from(p.display().to_string().replace("%j", &id));
    Ok(Job {
        stages: stages.to_vec(),
        results: results_path(&spec_file),
        stdout: concrete(&stdout),
        stderr: concrete(&stderr),
        id,
        state: JobState::Pending,
        unknown_polls: 0,
        started: Instant::now(),
    })
}

fn terminal(s: &JobState) -> bool {
    matches!(
        s,
        JobState::Done
            | JobState::Failed { .. }
            | JobState::DependencyFailed
            | JobState::Cancelled(_)
    )
}

fn live(jobs: &[Job]) -> Vec<String> {
    jobs.iter()
        .filter(|j| !terminal(&j.state))
        .map(|j| j.id.clone())
        .collect()
}

/// Polls Slurm until every job has ended; after a failure (without `keep_going`) cancels the
/// rest. An interrupt cancels the live jobs and is an error.
fn wait(
    project: &Project,
    plan: &Plan,
    jobs: &mut [Job],
    keep_going: bool,
    slurm: &Slurm,
    progress: &Progress,
) -> Result<()> {
    let bar = progress.bar("slurm", jobs.len() as u64, "jobs finished");
    let poll = Duration::from_secs_f64(slurm.config.poll_seconds.clamp(0.1, 3600.0));
    let mut stopped = false;
    let mut last_counts = String::new();
    while jobs.iter().any(|j| !terminal(&j.state)) {
        if INTERRUPTED.load(Ordering::SeqCst) {
            let live = live(jobs);
            scancel(&live);
            return Err(Operational(format!(
                "interrupted: cancelled the Slurm jobs {} (finished stages stay in the cache)",
                live.join(", ")
            ))
            .into());
        }
        std::thread::sleep(poll);
        update(project, plan, jobs);
        let failed = jobs
            .iter()
            .any(|j| matches!(j.state, JobState::Failed { .. }));
        if failed && !keep_going && !stopped {
            stopped = true;
            scancel(&live(jobs));
            for j in jobs.iter_mut().filter(|j| !terminal(&j.state)) {
                j.state = JobState::Cancelled("the run stopped after a failure".into());
            }
        }
        let counts = counts(jobs);
        if counts != last_counts {
            progress.println(&format!("slurm: {counts}"));
            last_counts = counts;
        }
        bar.set_position(jobs.iter().filter(|j| terminal(&j.state)).count() as u64);
    }
    Ok(())
}

/// The states of the live jobs from one query of Slurm.
fn update(project: &Project, plan: &Plan, jobs: &mut [Job]) {
    let states = query(&live(jobs));
    for job in jobs.iter_mut().filter(|j| !terminal(&j.state)) {
        match states.get(&job.id).cloned().unwrap_or(JobState::Unknown) {
            JobState::Unknown => {
                // Purged from Slurm's memory: the cache says whether it finished.
                job.unknown_polls += 1;
                if job
                    .stages
                    .iter()
                    .all(|&i| project.cache.contains(&plan.stages[i].key))
                {
                    job.state = JobState::Done;
                } else if job.unknown_polls > 60 && job.started.elapsed() > Duration::from_secs(120)
                {
                    job.state = JobState::Failed {
                        state: "VANISHED".into(),
                        exit: "unknown".into(),
                    };
                }
            }
            s => {
                job.unknown_polls = 0;
                job.state = s;
            }
        }
    }
}

fn counts(jobs: &[Job]) -> String {
    let count = |f: &dyn Fn(&JobState) -> bool| jobs.iter().filter(|j| f(&j.state)).count();
    format!(
        "pending {}, running {}, done {}, failed {}, cancelled {}",
        count(&|s| matches!(s, JobState::Pending | JobState::Unknown)),
        count(&|s| *s == JobState::Running),
        count(&|s| *s == JobState::Done),
        count(&|s| matches!(s, JobState::Failed { .. })),
        count(&|s| matches!(s, JobState::DependencyFailed | JobState::Cancelled(_))),
    )
}

/// One record per selected stage: cached, or what its job ended as. A stage of a failed job
/// that computed is computed; one whose input failed is skipped.
fn records(
    project: &Project,
    plan: &Plan,
    selected: &[bool],
    jobs: &[Job],
    job_of: &HashMap<usize, usize>,
) -> Vec<StageRun> {
    let mut records = Vec::new();
    let mut bad: HashSet<usize> = HashSet::new();
    let results: Vec<JobResults> = jobs
        .iter()
        .map(|j| {
            std::fs::read_to_string(&j.results)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default()
        })
        .collect();
    for (i, def) in project.pipeline.stages.iter().enumerate() {
        if !selected[i] {
            continue;
        }
        let p = &plan.stages[i];
        let Some(&j) = job_of.get(&i) else {
            records.push(p.record(def, Outcome::Cached, 0.0, None));
            continue;
        };
        let job = &jobs[j];
        let wall = job.started.elapsed().as_secs_f64();
        let input_failed = upstream(project, i).any(|u| bad.contains(&u));
        let record = match &job.state {
            JobState::Done => p.record(def, Outcome::Computed, wall, None),
            JobState::Failed { .. } if results[j].get(&def.name) == Some(&None) => {
                p.record(def, Outcome::Computed, wall, None)
            }
            JobState::Failed { .. } if input_failed => p.record(
                def,
                Outcome::Skipped,
                0.0,
                Some("a stage it needs failed".into()),
            ),
            JobState::Failed { state, exit } => p.record(
                def,
                Outcome::Failed,
                wall,
                Some(format!(
                    "Slurm job {} {state} with exit code {exit}; stdout {}, stderr {}: {}",
                    job.id,
                    job.stdout.display(),
                    job.stderr.display(),
                    match results[j].get(&def.name) {
                        Some(Some(error)) => error.clone(),
                        _ => tail(&job.stderr, 3),
                    }
                )),
            ),
            JobState::DependencyFailed => p.record(
                def,
                Outcome::Skipped,
                0.0,
                Some(format!(
                    "Slurm job {} cancelled: a stage it needs failed",
                    job.id
                )),
            ),
            JobState::Cancelled(why) => p.record(
                def,
                Outcome::Skipped,
                0.0,
                Some(format!("Slurm job {} cancelled: {why}", job.id)),
            ),
            other => p.record(
                def,
                Outcome::Failed,
                wall,
                Some(format!("Slurm job {} ended in state {other:?}", job.id)),
            ),
        };
        if matches!(record.outcome, Outcome::Failed | Outcome::Skipped) {
            bad.insert(i);
        }
        records.push(record);
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_from_sacct_squeue_and_scontrol() {
        assert_eq!(parse_state("PENDING", "", "Dependency"), JobState::Pending);
        assert_eq!(parse_state("RUNNING", "0:0", "None"), JobState::Running);
        assert_eq!(parse_state("COMPLETED", "0:0", "None"), JobState::Done);
        assert_eq!(
            parse_state("FAILED", "3:0", "NonZeroExitCode"),
            JobState::Failed {
                state: "FAILED".into(),
                exit: "3:0".into()
            }
        );
        assert_eq!(
            parse_state("CANCELLED", "0:0", "DependencyNeverSatisfied"),
            JobState::DependencyFailed
        );
        assert_eq!(
            parse_state("CANCELLED by 0", "0:0", "None"),
            JobState::Cancelled("None".into())
        );
        assert!(matches!(
            parse_state("TIMEOUT", "0:15", "TimeLimit"),
            JobState::Failed { .. }
        ));
        assert_eq!(parse_state("", "", ""), JobState::Unknown);
    }

    #[test]
    fn job_descriptions_round_trip_and_bad_ones_name_their_file() {
        let job = JobSpec {
            project: JobProject {
                pipeline: "/p/pipeline.yaml".into(),
                profile: "quick".into(),
                cache_dir: "/p/.spike/cache".into(),
                outputs: "/p/outputs".into(),
                sources: [("cifar10".to_string(), PathBuf::from("/data/c10"))].into(),
                backend: "native".into(),
                overrides: vec!["train.a.lr=0.1".into()],
                pull: true,
                push: false,
            },
            stages: vec![JobStage {
                stage: "train.a".into(),
                key: "k".repeat(64),
                force: false,
            }],
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("train.a.job.json");
        std::fs::write(&file, serde_json::to_vec(&job).unwrap()).unwrap();
        assert_eq!(JobSpec::read(&file).unwrap(), job);
        let mut v = serde_json::to_value(&job).unwrap();
        v["project"]["remote"] = "s3://b/p".into();
        std::fs::write(&file, v.to_string()).unwrap();
        let e = format!("{:#}", JobSpec::read(&file).unwrap_err());
        assert!(
            e.contains("train.a.job.json") && e.contains("remote"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            JobSpec::read(&dir.path().join("gone.json")).unwrap_err()
        );
        assert!(e.contains("gone.json"), "{e}");
    }

    #[test]
    fn resources_merge_and_become_sbatch_arguments() {
        let d = Resources {
            partition: Some("cpu".into()),
            cpus: Some(2),
            extra: vec!["--account=lab".into()],
            ..Resources::default()
        };
        let s = Resources {
            partition: Some("gpu".into()),
            gpus: Some(1),
            time: Some("01:00:00".into()),
            ..Resources::default()
        };
        assert_eq!(
            d.merged(&s).args(),
            [
                "--partition=gpu",
                "--time=01:00:00",
                "--cpus-per-task=2",
                "--gpus=1",
                "--account=lab"
            ]
        );
    }
}
