//! Extending a cached result instead of recomputing it. A kind that declares
//! [`Kind::EXTENDS`](super::kind::Kind::EXTENDS) (`train`: `epochs`) is offered the cached entry
//! of the same computation (kind, version, inputs, numeric environment, external data and every
//! other parameter equal) with the largest smaller value of that parameter, and continues from
//! where that one stopped. The result must be the one a computation from scratch gives: the key
//! is the same either way.
//!
//! The entries are found through an index (per parameter: what an entry computes apart from it
//! -> its value and key), built from the manifests once per process by the first stage that
//! asks and kept current by the entries this process commits or installs: a sweep of 10,000
//! training stages reads the cache once, not once per stage. An entry another process adds
//! meanwhile is not seen; the stage then computes from scratch, with the same result.

use std::collections::{BTreeMap, HashMap};

use spike_config::{Params, Value, params_from_json, params_to_json};

use super::cache::{Cache, Manifest, Validity};
use super::key::NumericEnv;

/// What a stage about to be computed is.
pub(crate) struct Wanted<'a> {
    pub kind: &'a str,
    pub version: u32,
    pub params: &'a Params,
    pub inputs: &'a BTreeMap<String, Vec<String>>,
    pub env: &'a NumericEnv,
    pub external: Option<&'a str>,
}

/// Per extended parameter: identity without it -> (its value, key) of each entry.
#[derive(Debug, Default)]
pub(crate) struct ExtendIndex {
    by_param: HashMap<String, HashMap<String, Vec<(i64, String)>>>,
}

impl ExtendIndex {
    /// Adds a committed or installed entry to the parameters already indexed.
    pub(crate) fn add(&mut self, m: &Manifest) {
        for (param, map) in &mut self.by_param {
            if let Some((id, n)) = identity_of(m, param) {
                map.entry(id).or_default().push((n, m.key.clone()));
            }
        }
    }

    /// The entries computing `identity` apart from `param`, indexing the cache first if this is
    /// the first question about `param`.
    pub(crate) fn lookup(
        &mut self,
        cache: &Cache,
        param: &str,
        identity: &str,
    ) -> Vec<(i64, String)> {
        let map = self.by_param.entry(param.to_string()).or_insert_with(|| {
            let mut map: HashMap<String, Vec<(i64, String)>> = HashMap::new();
            for key in cache.keys().unwrap_or_default() {
                if let Some((id, n)) = cache
                    .manifest(&key)
                    .ok()
                    .and_then(|m| identity_of(&m, param))
                {
                    map.entry(id).or_default().push((n, key));
                }
            }
            map
        });
        map.get(identity).cloned().unwrap_or_default()
    }
}

/// Everything a computation is apart from `param`, as one string.
fn identity(
    kind: &str,
    version: u32,
    params: &Params,
    param: &str,
    inputs: &BTreeMap<String, Vec<String>>,
    env: &NumericEnv,
    external: Option<&str>,
) -> String {
    let mut rest = params.clone();
    rest.remove(param);
    serde_json::json!([kind, version, params_to_json(&rest), inputs, env, external]).to_string()
}

/// A manifest's identity apart from `param` and its value of `param` (an integer), if it has one.
fn identity_of(m: &Manifest, param: &str) -> Option<(String, i64)> {
    let params = params_from_json(&m.params);
    let Some(&Value::Int(n)) = params.get(param) else {
        return None;
    };
    let id = identity(
        &m.kind,
        m.version,
        &params,
        param,
        &m.inputs,
        &m.env,
        m.external.as_deref(),
    );
    Some((id, n))
}

/// The valid cached entry that `wanted` can extend along `param`, if any.
pub(crate) fn base(cache: &Cache, wanted: &Wanted, param: &str) -> Option<Manifest> {
    let Some(&Value::Int(target)) = wanted.params.get(param) else {
        return None;
    };
    let id = identity(
        wanted.kind,
        wanted.version,
        wanted.params,
        param,
        wanted.inputs,
        wanted.env,
        wanted.external,
    );
    let mut found = cache.extend_candidates(param, &id);
    found.retain(|(n, _)| *n < target);
    found.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    found.into_iter().find_map(|(_, key)| {
        (cache.validate(&key) == Validity::Valid)
            .then(|| cache.manifest(&key).ok())
            .flatten()
            // The entry under that key is still the one indexed (not replaced since).
            .filter(|m| identity_of(m, param).is_some_and(|(i, _)| i == id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(cache: &Cache, key: &str, epochs: i64, lr: f64) {
        let mut params = Params::new();
        params.insert("epochs".into(), Value::Int(epochs));
        params.insert("lr".into(), Value::Float(lr));
        let manifest = Manifest {
            key: key.into(),
            kind: "train".into(),
            version: 2,
            stage: "train.x".into(),
            params: params_to_json(&params),
            inputs: BTreeMap::new(),
            env: NumericEnv::new(),
            external: None,
            files: vec![],
            wall_s: 0.0,
            tool_version: String::new(),
            created: String::new(),
        };
        let tmp = cache.begin(key).unwrap();
        cache.commit(&tmp, manifest).unwrap();
    }

    #[test]
    fn the_longest_shorter_run_of_the_same_computation_is_found_and_the_index_follows_commits() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        commit(&cache, &format!("{:032x}", 1), 100, 0.1);
        commit(&cache, &format!("{:032x}", 2), 300, 0.1);
        commit(&cache, &format!("{:032x}", 3), 500, 0.2);
        let (inputs, env) = (BTreeMap::new(), NumericEnv::new());
        let mut params = Params::new();
        params.insert("lr".into(), Value::Float(0.1));
        let base_of = |epochs: i64, params: &Params| {
            let mut p = params.clone();
            p.insert("epochs".into(), Value::Int(epochs));
            let wanted = Wanted {
                kind: "train",
                version: 2,
                params: &p,
                inputs: &inputs,
                env: &env,
                external: None,
            };
            base(&cache, &wanted, "epochs").map(|m| m.key)
        };
        assert_eq!(base_of(400, &params), Some(format!("{:032x}", 2)));
        assert_eq!(base_of(200, &params), Some(format!("{:032x}", 1)));
        assert_eq!(base_of(100, &params), None);
        // Committed after the index was built: found without reading the cache again.
        commit(&cache, &format!("{:032x}", 4), 350, 0.1);
        assert_eq!(base_of(400, &params), Some(format!("{:032x}", 4)));
        // Another learning rate is another computation; an evicted entry is not offered.
        params.insert("lr".into(), Value::Float(0.2));
        assert_eq!(base_of(600, &params), Some(format!("{:032x}", 3)));
        cache.evict(&format!("{:032x}", 3)).unwrap();
        assert_eq!(base_of(600, &params), None);
    }
}
