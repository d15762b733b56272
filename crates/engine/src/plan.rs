//! Planning: the key of every stage, whether its cache entry is usable, and, if not, why
//! (compared with the last run that computed it).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Result, bail};

use spike_config::{Pipeline, StageDef, did_you_mean, params_to_json};

use super::cache::{Cache, Validity};
use super::key::NumericEnv;
use super::key::stage_key;
use super::kind::{External, Registry};
use super::runs::{InputRef, Outcome, StageRun, changes};

#[derive(Clone, Debug)]
pub struct Planned {
    pub key: String,
    pub version: u32,
    /// Role -> (upstream stage, key).
    pub inputs: BTreeMap<String, Vec<InputRef>>,
    /// The environment part of the key (empty for non-numeric kinds).
    pub env: NumericEnv,
    /// Fingerprint of imported external data, if the kind imports any.
    pub external: Option<String>,
    pub cached: bool,
    /// Why the stage must be computed (empty when cached).
    pub reasons: Vec<String>,
}

pub struct Plan {
    /// One entry per pipeline stage, same order as `pipeline.stages`.
    pub stages: Vec<Planned>,
}

impl Plan {
    /// Computes keys in topological order and checks the cache. `verify` decides whether cached
    /// entries are validated (hashes) or only looked up.
    pub fn new(
        pipeline: &Pipeline,
        registry: &Registry,
        cache: &Cache,
        env: &NumericEnv,
        previous: &HashMap<String, StageRun>,
        ext: &External,
        verify: &dyn Fn(usize) -> bool,
    ) -> Plan {
        let mut keys: HashMap<&str, String> = HashMap::new();
        let mut stages = Vec::with_capacity(pipeline.stages.len());
        for (i, def) in pipeline.stages.iter().enumerate() {
            let kind = registry.get(&def.kind).expect("validated kind");
            let inputs: BTreeMap<String, Vec<InputRef>> = def
                .needs
                .iter()
                .map(|(role, names)| {
                    let refs = names
                        .iter()
                        .map(|n| InputRef {
                            stage: n.clone(),
                            key: keys[n.as_str()].clone(),
                        })
                        .collect();
                    (role.clone(), refs)
                })
                .collect();
            let input_keys: BTreeMap<String, Vec<String>> = inputs
                .iter()
                .map(|(r, refs)| (r.clone(), refs.iter().map(|x| x.key.clone()).collect()))
                .collect();
            let stage_env = if kind.numeric() {
                env.clone()
            } else {
                NumericEnv::new()
            };
            // A failure to fingerprint is part of the key too; running the stage reports it.
            let external = kind
                .external(&def.params, ext)
                .unwrap_or_else(|e| Some(format!("unavailable: {e:#}")));
            let key = stage_key(
                def.kind.as_str(),
                kind.version(),
                &def.params,
                &input_keys,
                kind.numeric().then_some(env),
                external.as_deref(),
            );
            let validity = if verify(i) {
                cache.validate(&key)
            } else if cache.contains(&key) {
                Validity::Valid
            } else {
                Validity::Missing
            };
            let mut planned = Planned {
                key: key.clone(),
                version: kind.version(),
                inputs,
                env: stage_env,
                external,
                cached: validity == Validity::Valid,
                reasons: vec![],
            };
            if planned.cached {
                tracing::debug!(stage = %def.name, key = %key, "cache hit");
            } else {
                planned.reasons = reasons(def, &planned, previous.get(&def.name), &validity);
                tracing::debug!(stage = %def.name, key = %key, reasons = %planned.reasons.join("; "), "cache miss");
            }
            keys.insert(def.name.as_str(), key);
            stages.push(planned);
        }
        Plan { stages }
    }
}

/// Why a stage whose entry is not usable differs from what the last run computed.
fn reasons(
    def: &StageDef,
    cur: &Planned,
    prev: Option<&StageRun>,
    validity: &Validity,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Validity::Corrupt(why) = validity {
        out.push(format!("cached entry corrupt: {why}"));
    }
    match prev {
        None => {}
        Some(prev) if prev.key == cur.key => {
            if out.is_empty() && prev.outcome == Outcome::Failed {
                out.push(format!(
                    "not in cache (last attempt failed: {})",
                    prev.error.as_deref().unwrap_or("unknown error")
                ));
            } else if out.is_empty() {
                out.push("not in cache (entry removed)".to_string());
            }
        }
        Some(prev) => out.extend(changes(prev, &cur.record(def, Outcome::Skipped, 0.0, None))),
    }
    if out.is_empty() {
        out.push("not in cache".to_string());
    }
    out
}

impl Planned {
    /// The run record of this stage with an outcome.
    pub fn record(
        &self,
        def: &StageDef,
        outcome: Outcome,
        wall_s: f64,
        error: Option<String>,
    ) -> StageRun {
        StageRun {
            name: def.name.clone(),
            kind: def.kind.clone(),
            version: self.version,
            key: self.key.clone(),
            params: params_to_json(&def.params),
            inputs: self.inputs.clone(),
            env: self.env.clone(),
            external: self.external.clone(),
            outcome,
            wall_s,
            compute_s: None,
            error,
            reasons: if matches!(outcome, Outcome::Computed | Outcome::Failed) {
                self.reasons.clone()
            } else {
                vec![]
            },
            published: vec![],
            operational: false,
        }
    }
}

/// Resolves command-line targets (stage names, matrix groups, or figure ids such as `fig3_2`
/// for `figure.fig3_2`) to stage indices.
pub(crate) fn resolve_targets(pipeline: &Pipeline, targets: &[String]) -> Result<Vec<usize>> {
    let mut out = BTreeSet::new();
    for t in targets {
        let found: Vec<usize> = pipeline
            .stages
            .iter()
            .enumerate()
            .filter(|(_, s)| s.name == *t || s.base == *t || s.base == format!("figure.{t}"))
            .map(|(i, _)| i)
            .collect();
        if found.is_empty() {
            let mut names: Vec<&str> = pipeline
                .stages
                .iter()
                .flat_map(|s| {
                    [
                        s.base.as_str(),
                        s.base.strip_prefix("figure.").unwrap_or(&s.base),
                    ]
                })
                .collect();
            names.dedup();
            bail!(
                "`{t}` is not a stage or figure of {} (profile `{}`){}; run `spike-pipe dag` to list them",
                pipeline.file.display(),
                pipeline.profile,
                did_you_mean(t, &names)
            );
        }
        out.extend(found);
    }
    Ok(out.into_iter().collect())
}

/// The depth of each stage of `set`: 0 for a stage with no member of `set` upstream of it, else
/// one more than the deepest member upstream, found through the stages outside `set` as well.
/// What runs in waves (an audit) or in dependent batches (Slurm) is ordered by it. One pass
/// over the pipeline, whose order is topological.
pub(crate) fn depths(pipeline: &Pipeline, set: &[usize]) -> BTreeMap<usize, usize> {
    depths_in(
        pipeline.stages.len(),
        |i| {
            pipeline.stages[i]
                .upstream()
                .map(|u| pipeline.index(u).expect("resolved need"))
                .collect()
        },
        set,
    )
}

/// [`depths`] on a graph of `n` nodes in topological order given by `upstream`.
fn depths_in(
    n: usize,
    upstream: impl Fn(usize) -> Vec<usize>,
    set: &[usize],
) -> BTreeMap<usize, usize> {
    let mut member = vec![false; n];
    for &i in set {
        member[i] = true;
    }
    // The deepest member at or upstream of each node.
    let mut level: Vec<Option<usize>> = vec![None; n];
    for i in 0..n {
        let above = upstream(i).into_iter().filter_map(|u| level[u]).max();
        level[i] = if member[i] {
            Some(above.map_or(0, |d| d + 1))
        } else {
            above
        };
    }
    set.iter()
        .map(|&i| (i, level[i].expect("a member has a level")))
        .collect()
}

/// Marks `seeds` and everything they need.
pub(crate) fn with_ancestors(pipeline: &Pipeline, seeds: &[usize]) -> Vec<bool> {
    let mut mark = vec![false; pipeline.stages.len()];
    let mut stack: Vec<usize> = seeds.to_vec();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut mark[i], true) {
            continue;
        }
        for up in pipeline.stages[i].upstream() {
            stack.push(pipeline.index(up).expect("resolved need"));
        }
    }
    mark
}

/// `seeds` and every stage that (transitively) needs one of them.
pub(crate) fn descendants(pipeline: &Pipeline, seeds: &[usize]) -> Vec<usize> {
    let mut mark = vec![false; pipeline.stages.len()];
    for &s in seeds {
        mark[s] = true;
    }
    // Topological order: one forward pass suffices.
    for (i, s) in pipeline.stages.iter().enumerate() {
        if s.upstream()
            .any(|u| mark[pipeline.index(u).expect("resolved need")])
        {
            mark[i] = true;
        }
    }
    (0..mark.len()).filter(|&i| mark[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_members_upstream_through_the_others() {
        // 0 -> 1 -> 2 -> 3, and 4 alone; 0 -> 5.
        let edges: [&[usize]; 6] = [&[], &[0], &[1], &[2], &[], &[0]];
        let up = |i: usize| edges[i].to_vec();
        // 1 (a non-member) passes 0's depth on to 2; 4 and 5 start waves of their own or
        // follow 0.
        let d = depths_in(6, up, &[0, 2, 3, 4, 5]);
        assert_eq!(
            d.into_iter().collect::<Vec<_>>(),
            [(0, 0), (2, 1), (3, 2), (4, 0), (5, 1)]
        );
        // Without 0: 2 has no member upstream.
        let d = depths_in(6, up, &[2, 3]);
        assert_eq!(d.into_iter().collect::<Vec<_>>(), [(2, 0), (3, 1)]);
    }
}
