//! The contract between the engine and the science: a stage kind is a pure function of its
//! parameters and its inputs' artifacts, writing artifacts into the directory it is given.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::{ParamSpec, Params};

use super::context::StageContext;

pub trait StageKind: Send + Sync {
    /// The name used as `kind:` in `pipeline.yaml`.
    fn name(&self) -> &'static str;
    /// Bumped whenever the kind's results change meaning; part of every key.
    fn version(&self) -> u32;
    fn doc(&self) -> &'static str;
    fn params(&self) -> Vec<ParamSpec>;
    /// Whether results depend on the numeric environment (backend); if so it is part of the key.
    fn numeric(&self) -> bool {
        false
    }
    /// A fingerprint of data this stage imports from outside the pipeline (a local dataset),
    /// computed when the key is, and part of it. Most kinds import nothing.
    fn external(&self, _params: &Params, _ext: &External) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()>;
}

/// What a kind may look at when fingerprinting external data.
pub struct External<'a> {
    /// The project's `data/` directory (downloads and local copies).
    pub data_dir: &'a Path,
    hash: &'a dyn Fn(&Path) -> anyhow::Result<String>,
}

impl<'a> External<'a> {
    pub fn new(data_dir: &'a Path, hash: &'a dyn Fn(&Path) -> anyhow::Result<String>) -> Self {
        External { data_dir, hash }
    }
    /// blake3 of a file's content (memoised by size and mtime).
    pub fn hash_file(&self, path: &Path) -> anyhow::Result<String> {
        (self.hash)(path)
    }
}

/// The set of stage kinds a pipeline may use.
pub struct Registry {
    kinds: BTreeMap<&'static str, Box<dyn StageKind>>,
}

impl Registry {
    pub fn new(kinds: Vec<Box<dyn StageKind>>) -> Self {
        Registry {
            kinds: kinds.into_iter().map(|k| (k.name(), k)).collect(),
        }
    }
    pub fn get(&self, name: &str) -> Option<&dyn StageKind> {
        self.kinds.get(name).map(|k| k.as_ref())
    }
    pub fn iter(&self) -> impl Iterator<Item = &dyn StageKind> {
        self.kinds.values().map(|k| k.as_ref())
    }

    /// `spike-pipe kinds [KIND]`: each kind with its version and doc, then (for one kind, or
    /// with `params`) every parameter with its type, default, allowed values and doc, from the
    /// same declarations that validate pipeline.yaml.
    pub fn listing(&self, only: Option<&str>) -> anyhow::Result<String> {
        let mut out = String::new();
        let kinds: Vec<&dyn StageKind> = match only {
            None => self.iter().collect(),
            Some(name) => {
                let names: Vec<&str> = self.kinds.keys().copied().collect();
                vec![self.get(name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown kind `{name}`{}; known kinds: {}",
                        crate::config::did_you_mean(name, &names),
                        names.join(", ")
                    )
                })?]
            }
        };
        for k in kinds {
            out.push_str(&format!("{} (v{}): {}\n", k.name(), k.version(), k.doc()));
            if only.is_some() {
                for p in k.params() {
                    out.push_str(&format!("  {}\n", p.listing()));
                }
            }
        }
        Ok(out)
    }
}

impl crate::config::KindSchema for Registry {
    fn kind_names(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }
    fn kind_params(&self, kind: &str) -> Option<Vec<ParamSpec>> {
        self.get(kind).map(|k| k.params())
    }
}

/// What changes numbers beyond parameters (the backend); part of the key of numeric kinds.
pub type NumericEnv = BTreeMap<String, String>;

/// Typed access to validated parameters (the schema guarantees presence and type, so a failure
/// here is a bug in a stage kind's schema, reported as such).
pub trait ParamsExt {
    fn f64(&self, name: &str) -> anyhow::Result<f64>;
    fn i64(&self, name: &str) -> anyhow::Result<i64>;
    fn usize(&self, name: &str) -> anyhow::Result<usize>;
    fn str(&self, name: &str) -> anyhow::Result<&str>;
    fn bool(&self, name: &str) -> anyhow::Result<bool>;
    fn f64s(&self, name: &str) -> anyhow::Result<Vec<f64>>;
    fn usizes(&self, name: &str) -> anyhow::Result<Vec<usize>>;
    fn strs(&self, name: &str) -> anyhow::Result<Vec<String>>;
    fn is_null(&self, name: &str) -> bool;
    fn opt_f64(&self, name: &str) -> anyhow::Result<Option<f64>>;
    fn opt_usize(&self, name: &str) -> anyhow::Result<Option<usize>>;
    fn opt_str(&self, name: &str) -> anyhow::Result<Option<&str>>;
}

fn get<'a>(p: &'a Params, name: &str) -> anyhow::Result<&'a crate::config::Value> {
    p.get(name)
        .ok_or_else(|| anyhow::anyhow!("parameter `{name}` missing (stage kind schema bug)"))
}

fn wrong(name: &str, want: &str, v: &crate::config::Value) -> anyhow::Error {
    anyhow::anyhow!("parameter `{name}`: expected {want}, got `{v}` (stage kind schema bug)")
}

impl ParamsExt for Params {
    fn f64(&self, name: &str) -> anyhow::Result<f64> {
        let v = get(self, name)?;
        v.as_f64().ok_or_else(|| wrong(name, "a number", v))
    }
    fn i64(&self, name: &str) -> anyhow::Result<i64> {
        let v = get(self, name)?;
        v.as_i64().ok_or_else(|| wrong(name, "an integer", v))
    }
    fn usize(&self, name: &str) -> anyhow::Result<usize> {
        let i = self.i64(name)?;
        usize::try_from(i)
            .map_err(|_| anyhow::anyhow!("parameter `{name}` must not be negative, got {i}"))
    }
    fn str(&self, name: &str) -> anyhow::Result<&str> {
        let v = get(self, name)?;
        v.as_str().ok_or_else(|| wrong(name, "a string", v))
    }
    fn bool(&self, name: &str) -> anyhow::Result<bool> {
        let v = get(self, name)?;
        v.as_bool().ok_or_else(|| wrong(name, "a boolean", v))
    }
    fn f64s(&self, name: &str) -> anyhow::Result<Vec<f64>> {
        let v = get(self, name)?;
        v.as_list()
            .and_then(|l| l.iter().map(|x| x.as_f64()).collect())
            .ok_or_else(|| wrong(name, "a list of numbers", v))
    }
    fn usizes(&self, name: &str) -> anyhow::Result<Vec<usize>> {
        let v = get(self, name)?;
        v.as_list()
            .and_then(|l| {
                l.iter()
                    .map(|x| x.as_i64().and_then(|i| usize::try_from(i).ok()))
                    .collect()
            })
            .ok_or_else(|| wrong(name, "a list of non-negative integers", v))
    }
    fn strs(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let v = get(self, name)?;
        v.as_list()
            .and_then(|l| l.iter().map(|x| x.as_str().map(str::to_string)).collect())
            .ok_or_else(|| wrong(name, "a list of strings", v))
    }
    fn is_null(&self, name: &str) -> bool {
        matches!(self.get(name), None | Some(crate::config::Value::Null))
    }
    fn opt_f64(&self, name: &str) -> anyhow::Result<Option<f64>> {
        if self.is_null(name) {
            Ok(None)
        } else {
            self.f64(name).map(Some)
        }
    }
    fn opt_usize(&self, name: &str) -> anyhow::Result<Option<usize>> {
        if self.is_null(name) {
            Ok(None)
        } else {
            self.usize(name).map(Some)
        }
    }
    fn opt_str(&self, name: &str) -> anyhow::Result<Option<&str>> {
        if self.is_null(name) {
            Ok(None)
        } else {
            self.str(name).map(Some)
        }
    }
}
