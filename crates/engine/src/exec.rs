//! Running a plan: independent stages in parallel (`-j`), each computed under its key's lock into
//! a temporary directory that is committed atomically; a failure stops only the stages that
//! need what failed (or, with `--fail-fast`, the run).
//!
//! Of the stages ready to run, the one with the longest chain of stages still to come after it
//! starts first (then pipeline order): the long chains (data, training, spike analysis, landscape)
//! start early, and the many short ones fill the workers at the end instead of one long chain
//! running alone.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

use spike_config::{StageDef, params_from_json, params_to_json};

use super::Project;
use super::cache::{Manifest, Validity};
use super::context::{Input, StageContext, StageDirs};
use super::extend;
use super::plan::Plan;
use super::progress::Progress;
use super::runs::{Outcome, StageRun};

/// Runs computing more stages than this show one bar for all, not a bar and lines per stage.
pub(crate) const DETAILED_STAGES: usize = 50;

pub(crate) struct ExecOptions {
    pub jobs: usize,
    pub keep_going: bool,
    /// Per stage: recompute even if cached.
    pub force: Vec<bool>,
}

/// Hooks around computing a stage (the remote cache uses them; local runs use the defaults).
pub trait CacheHooks: Sync {
    /// Called with the key's lock held when the entry is missing locally; returns true if it
    /// made the entry available (for example by downloading it).
    fn fetch(&self, _key: &str) -> Result<bool> {
        Ok(false)
    }
    /// Called after an entry was computed and committed.
    fn computed(&self, _key: &str) -> Result<()> {
        Ok(())
    }
}

pub struct NoHooks;
impl CacheHooks for NoHooks {}

struct Sched {
    /// Number of unfinished upstream stages, per selected stage.
    waiting: Vec<usize>,
    /// Ready stages by (chain length, earliest in the pipeline).
    ready: BinaryHeap<(usize, Reverse<usize>)>,
    running: usize,
    remaining: usize,
    stop: bool,
    results: Vec<Option<StageRun>>,
}

/// Runs every selected stage (cached ones are only recorded). Returns one record per selected
/// stage in pipeline order.
pub(crate) fn execute(
    project: &Project,
    plan: &Plan,
    selected: &[bool],
    opts: &ExecOptions,
    hooks: &dyn CacheHooks,
    progress: &Progress,
) -> Vec<StageRun> {
    let stages = &project.pipeline.stages;
    let scheduler = Scheduler::new(stages, selected);
    let to_compute = (0..stages.len())
        .filter(|&i| selected[i] && (opts.force[i] || !plan.stages[i].cached))
        .count();
    // One bar for every stage of the run; each stage's own lines and bar only when they are
    // few enough to read (a sweep of hundreds would print hundreds; `-v` logs each).
    let all = (to_compute > 1).then(|| progress.bar("all stages", to_compute as u64, "stages"));
    progress.set_detail(to_compute <= DETAILED_STAGES);
    let worker = || {
        while let Some(i) = scheduler.next() {
            let run = if scheduler.upstream_failed(&stages[i]) {
                record(
                    project,
                    plan,
                    i,
                    Outcome::Skipped,
                    0.0,
                    Some("a stage it needs failed".into()),
                )
            } else {
                run_one(project, plan, i, opts.force[i], hooks, progress)
            };
            if let Some(all) = all
                .as_ref()
                .filter(|_| opts.force[i] || !plan.stages[i].cached)
            {
                all.inc(1);
            }
            scheduler.finish(i, run, opts.keep_going);
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(worker);
        }
    });
    let results = scheduler
        .state
        .into_inner()
        .expect("scheduler lock")
        .results;
    (0..stages.len())
        .filter(|&i| selected[i])
        .map(|i| {
            results[i].clone().unwrap_or_else(|| {
                record(
                    project,
                    plan,
                    i,
                    Outcome::Skipped,
                    0.0,
                    Some("not run: the run stopped after a failure".into()),
                )
            })
        })
        .collect()
}

/// Hands the selected stages to the workers as their inputs finish, longest remaining chain
/// first; after a failure (without `keep_going`) hands out nothing more.
struct Scheduler<'a> {
    state: Mutex<Sched>,
    wake: Condvar,
    index: BTreeMap<&'a str, usize>,
    dependents: Vec<Vec<usize>>,
    chain: Vec<usize>,
}

impl<'a> Scheduler<'a> {
    fn new(stages: &'a [StageDef], selected: &[bool]) -> Self {
        let n = stages.len();
        let index: BTreeMap<&str, usize> = stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut dependents: Vec<Vec<usize>> = vec![vec![]; n];
        let mut waiting = vec![0usize; n];
        for (i, s) in stages.iter().enumerate() {
            if !selected[i] {
                continue;
            }
            for up in s.upstream() {
                let u = index[up.as_str()];
                dependents[u].push(i);
                waiting[i] += 1;
            }
        }
        let chain = chain_lengths(&dependents);
        let ready: BinaryHeap<(usize, Reverse<usize>)> = (0..n)
            .filter(|&i| selected[i] && waiting[i] == 0)
            .map(|i| (chain[i], Reverse(i)))
            .collect();
        Scheduler {
            state: Mutex::new(Sched {
                waiting,
                ready,
                running: 0,
                remaining: selected.iter().filter(|&&s| s).count(),
                stop: false,
                results: vec![None; n],
            }),
            wake: Condvar::new(),
            index,
            dependents,
            chain,
        }
    }

    /// The next stage to run, waiting for one to become ready; `None` when the run is over.
    fn next(&self) -> Option<usize> {
        let mut s = self.state.lock().expect("scheduler lock");
        loop {
            if s.remaining == 0 || (s.stop && s.running == 0) {
                self.wake.notify_all();
                return None;
            }
            if !s.stop
                && let Some((_, Reverse(i))) = s.ready.pop()
            {
                s.running += 1;
                return Some(i);
            }
            s = self.wake.wait(s).expect("scheduler lock");
        }
    }

    fn upstream_failed(&self, def: &StageDef) -> bool {
        let s = self.state.lock().expect("scheduler lock");
        def.upstream().any(|u| {
            s.results[self.index[u.as_str()]]
                .as_ref()
                .is_some_and(|r| matches!(r.outcome, Outcome::Failed | Outcome::Skipped))
        })
    }

    /// Records stage `i`'s run and readies the stages waiting only for it.
    fn finish(&self, i: usize, run: StageRun, keep_going: bool) {
        let mut s = self.state.lock().expect("scheduler lock");
        s.running -= 1;
        s.remaining -= 1;
        if run.outcome == Outcome::Failed && !keep_going {
            s.stop = true;
        }
        for &d in &self.dependents[i] {
            s.waiting[d] -= 1;
            if s.waiting[d] == 0 {
                s.ready.push((self.chain[d], Reverse(d)));
            }
        }
        s.results[i] = Some(run);
        self.wake.notify_all();
    }
}

/// Per stage, the number of stages on the longest path from it to a stage nothing needs (itself
/// included).
fn chain_lengths(dependents: &[Vec<usize>]) -> Vec<usize> {
    fn walk(i: usize, dependents: &[Vec<usize>], memo: &mut [usize]) -> usize {
        if memo[i] == 0 {
            memo[i] = 1 + dependents[i]
                .iter()
                .map(|&d| walk(d, dependents, memo))
                .max()
                .unwrap_or(0);
        }
        memo[i]
    }
    let mut memo = vec![0; dependents.len()];
    (0..dependents.len())
        .map(|i| walk(i, dependents, &mut memo))
        .collect()
}

fn record(
    project: &Project,
    plan: &Plan,
    i: usize,
    outcome: Outcome,
    wall_s: f64,
    error: Option<String>,
) -> StageRun {
    plan.stages[i].record(&project.pipeline.stages[i], outcome, wall_s, error)
}

pub(crate) fn run_one(
    project: &Project,
    plan: &Plan,
    i: usize,
    force: bool,
    hooks: &dyn CacheHooks,
    progress: &Progress,
) -> StageRun {
    let def = &project.pipeline.stages[i];
    let key = &plan.stages[i].key;
    if plan.stages[i].cached && !force {
        tracing::debug!(stage = %def.name, key = %key, "cached");
        return record(project, plan, i, Outcome::Cached, 0.0, None);
    }
    let start = Instant::now();
    let result = (|| -> Result<Outcome> {
        let _lock = project.cache.lock(key)?;
        if !force {
            // Another process may have finished it while we waited for the lock.
            match project.cache.validate(key) {
                Validity::Valid => {
                    tracing::info!(stage = %def.name, key = %key, "computed meanwhile by another process");
                    return Ok(Outcome::Cached);
                }
                Validity::Corrupt(why) => {
                    progress.println(&format!(
                        "warning: cache entry {key} of {} is corrupt ({why}); recomputing",
                        def.name
                    ));
                    project.cache.evict(key)?;
                }
                Validity::Missing => {}
            }
            if hooks.fetch(key)? {
                let checked = project
                    .cache
                    .manifest(key)
                    .and_then(|m| super::publishes::check_entry(project, def, &m));
                match checked {
                    Ok(()) => {
                        tracing::info!(stage = %def.name, key = %key, "pulled from the remote cache");
                        return Ok(Outcome::Pulled);
                    }
                    Err(e) => progress.println(&format!("warning: the remote's {e:#}")),
                }
            }
        }
        progress.detail(&format!(
            "computing {} ({})",
            def.name,
            plan.stages[i].reasons.join("; ")
        ));
        compute(project, plan, i, progress)?;
        hooks.computed(key)?;
        Ok(Outcome::Computed)
    })();
    let wall = start.elapsed().as_secs_f64();
    tracing::info!(stage = %def.name, key = %key, wall_s = wall, ok = result.is_ok(), "stage finished");
    match result {
        Ok(outcome) => {
            if outcome == Outcome::Computed {
                progress.detail(&format!("finished {} in {wall:.2}s", def.name));
            }
            record(project, plan, i, outcome, wall, None)
        }
        Err(e) => {
            let msg = format!("{e:#}");
            progress.println(&format!("FAILED {}: {msg}", def.name));
            let mut failed = record(project, plan, i, Outcome::Failed, wall, Some(msg));
            failed.operational = super::failure::is_machine_failure(&e);
            failed
        }
    }
}

/// Computes stage `i` into a temporary directory and commits it. Call with the key's lock held.
fn compute(project: &Project, plan: &Plan, i: usize, progress: &Progress) -> Result<Manifest> {
    let def = &project.pipeline.stages[i];
    let planned = &plan.stages[i];
    let kind = project.registry.get(&def.kind).expect("validated kind");
    let cache = &project.cache;
    let inputs = gather_inputs(project, plan, i)?;
    let keys = input_keys(plan, i);
    let wanted = extend::Wanted {
        kind: &def.kind,
        version: planned.version,
        params: &def.params,
        inputs: &keys,
        env: &planned.env,
        external: planned.external.as_deref(),
    };
    let base = match kind
        .extends()
        .and_then(|param| extend::base(cache, &wanted, param))
    {
        Some(m) => {
            let mut input = Input::new(def, cache.entry_dir(&m.key)?, &m);
            input.params = params_from_json(&m.params);
            Some(input)
        }
        None => None,
    };
    let tmp = cache.begin(&planned.key)?;
    let start = Instant::now();
    let dirs = StageDirs {
        out: tmp.clone(),
        scratch: cache.scratch_dir(&planned.key),
        data: project.data_dir.clone(),
        sources: project.sources.clone(),
        base,
    };
    if let Err(e) = run_kind(project, plan, i, inputs, dirs, progress) {
        std::fs::remove_dir_all(&tmp).ok();
        return Err(e);
    }
    cache.commit(
        &tmp,
        manifest_of(project, plan, i, start.elapsed().as_secs_f64()),
    )
}

/// The inputs of stage `i`, each re-hashed first: an input that rotted is evicted, and the
/// stage fails naming it.
pub(crate) fn gather_inputs(
    project: &Project,
    plan: &Plan,
    i: usize,
) -> Result<BTreeMap<String, Vec<Input>>> {
    let cache = &project.cache;
    let mut inputs: BTreeMap<String, Vec<Input>> = BTreeMap::new();
    for (role, refs) in &plan.stages[i].inputs {
        let mut list = Vec::new();
        for r in refs {
            if let Validity::Corrupt(why) = cache.validate_fully(&r.key) {
                cache.evict(&r.key)?;
                bail!(
                    "input {} (entry {}) is corrupt ({why}); it was removed from the cache: rerun to recompute it",
                    r.stage,
                    r.key
                );
            }
            let manifest = cache.manifest(&r.key).with_context(|| {
                format!("input {} (entry {}) is not in the cache", r.stage, r.key)
            })?;
            let up = project.pipeline.stage(&r.stage).expect("resolved need");
            list.push(Input::new(up, cache.entry_dir(&r.key)?, &manifest));
        }
        inputs.insert(role.clone(), list);
    }
    Ok(inputs)
}

fn input_keys(plan: &Plan, i: usize) -> BTreeMap<String, Vec<String>> {
    plan.stages[i]
        .inputs
        .iter()
        .map(|(r, refs)| (r.clone(), refs.iter().map(|x| x.key.clone()).collect()))
        .collect()
}

/// Runs stage `i`'s kind into `dirs.out` and checks that it wrote only what its kind publishes.
/// A panic of the kind is an error of the stage.
pub(crate) fn run_kind(
    project: &Project,
    plan: &Plan,
    i: usize,
    inputs: BTreeMap<String, Vec<Input>>,
    dirs: StageDirs,
    progress: &Progress,
) -> Result<()> {
    let def = &project.pipeline.stages[i];
    let kind = project.registry.get(&def.kind).expect("validated kind");
    let out = dirs.out.clone();
    let env = plan.stages[i].env.clone();
    let run = {
        let mut ctx = StageContext::new(&def.name, &def.params, &env, inputs, dirs, progress);
        catch_unwind(AssertUnwindSafe(|| kind.run(&mut ctx)))
    };
    let outcome = match run {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string))
                .unwrap_or_else(|| "unknown panic".into());
            Err(anyhow!("stage panicked: {msg}"))
        }
    };
    outcome
        .and_then(|()| {
            let names = super::publishes::in_scratch(&out)?;
            super::publishes::check(project, def, names.iter().map(String::as_str))
        })
        .with_context(|| format!("stage {} (kind {})", def.name, def.kind))
}

/// The manifest of stage `i` as planned (its files are listed when it is committed).
pub(crate) fn manifest_of(project: &Project, plan: &Plan, i: usize, wall_s: f64) -> Manifest {
    let (def, planned) = (&project.pipeline.stages[i], &plan.stages[i]);
    Manifest {
        key: planned.key.clone(),
        kind: def.kind.clone(),
        version: planned.version,
        stage: def.name.clone(),
        params: params_to_json(&def.params),
        inputs: input_keys(plan, i),
        env: planned.env.clone(),
        external: planned.external.clone(),
        files: vec![],
        wall_s,
        tool_version: super::TOOL_VERSION.to_string(),
        created: chrono::Utc::now().to_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_lengths_count_the_longest_path_to_a_sink() {
        // 0 -> 1 -> 2 -> 3, 0 -> 4, 5 alone, 6 -> 3.
        let dependents = vec![
            vec![1, 4],
            vec![2],
            vec![3],
            vec![],
            vec![],
            vec![],
            vec![3],
        ];
        assert_eq!(chain_lengths(&dependents), vec![4, 3, 2, 1, 1, 1, 2]);
    }
}
