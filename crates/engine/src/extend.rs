//! Extending a cached result instead of recomputing it. A kind that declares
//! [`Kind::EXTENDS`](super::kind::Kind::EXTENDS) (`train`: `epochs`) is offered the cached entry
//! of the same computation (kind, version, inputs, numeric environment, external data and every
//! other parameter equal) with the largest smaller value of that parameter, and continues from
//! where that one stopped. The result must be the one a computation from scratch gives: the key
//! is the same either way.

use std::collections::BTreeMap;

use spike_config::{Params, Value, params_from_json};

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

/// The valid cached entry that `wanted` can extend along `param`, if any.
pub(crate) fn base(cache: &Cache, wanted: &Wanted, param: &str) -> Option<Manifest> {
    let Some(Value::Int(target)) = wanted.params.get(param) else {
        return None;
    };
    let rest = |p: &Params| {
        let mut p = p.clone();
        p.remove(param);
        p
    };
    let same = rest(wanted.params);
    let mut found: Vec<(Manifest, i64)> = cache
        .keys()
        .ok()?
        .into_iter()
        .filter_map(|key| cache.manifest(&key).ok())
        .filter(|m| {
            m.kind == wanted.kind
                && m.version == wanted.version
                && &m.inputs == wanted.inputs
                && &m.env == wanted.env
                && m.external.as_deref() == wanted.external
        })
        .filter_map(|m| {
            let params = params_from_json(&m.params);
            match params.get(param) {
                Some(&Value::Int(n)) if n < *target && rest(&params) == same => Some((m, n)),
                _ => None,
            }
        })
        .collect();
    found.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    found
        .into_iter()
        .map(|(m, _)| m)
        .find(|m| cache.validate(&m.key) == Validity::Valid)
}
