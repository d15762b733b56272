//! The contract between the engine and the science: a stage kind is a pure function of its
//! parameters and its inputs' artifacts, writing artifacts into the directory it is given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use spike_config::{InputSpec, ParamSpec, Params, StageParams};

use super::context::StageContext;

/// A stage kind, declared once: its name, version, doc, typed parameters (whose declaration
/// also validates `pipeline.yaml` and documents the kind) and what it computes. The engine
/// sees every kind through [`StageKind`], which this trait implements.
pub trait Kind: Send + Sync + 'static {
    /// The name used as `kind:` in `pipeline.yaml`.
    const NAME: &'static str;
    /// Bumped whenever the kind's results change meaning; part of every key.
    const VERSION: u32;
    const DOC: &'static str;
    /// Whether results depend on the numeric environment (backend); if so it is part of the key.
    const NUMERIC: bool = false;
    /// What it takes under `needs:` (checked when `pipeline.yaml` is loaded).
    const INPUTS: &'static [InputSpec] = &[];
    /// An integer parameter whose increase continues a cached result instead of recomputing it
    /// (see [`super::extend`]): the stage is then offered that result as
    /// [`StageContext::extends`], and must end exactly where a computation from scratch ends.
    const EXTENDS: Option<&'static str> = None;
    type Params: StageParams;
    /// What `run` returns beyond the artifacts it wrote: `()`, or something the kind's output
    /// type publishes (a figure) in one place.
    type Output: Output<Self::Params>;

    /// A fingerprint of data this stage imports from outside the pipeline (a local dataset),
    /// computed when the key is, and part of it. Most kinds import nothing.
    fn external(&self, _params: &Self::Params, _ext: &External) -> Result<Option<String>> {
        Ok(None)
    }
    fn run(&self, params: &Self::Params, ctx: &mut StageContext) -> Result<Self::Output>;
}

/// A kind's `run`, as its output type's [`Output::produce`] calls it.
pub type RunFn<'a, P, O> = &'a dyn Fn(&P, &mut StageContext) -> Result<O>;

/// How a kind's `run` is driven, and the last step of every stage of the kind.
pub trait Output<P>: Sized {
    /// Whether `finish` publishes a figure (listed by `spike-pipe figures`).
    const FIGURE: bool = false;
    /// Runs the kind: once by default; an output type may run it on several views of the
    /// inputs ([`StageContext::view`]) and combine the results.
    fn produce(params: &P, ctx: &mut StageContext, run: RunFn<'_, P, Self>) -> Result<Self> {
        run(params, ctx)
    }
    fn finish(self, params: &P, ctx: &StageContext) -> Result<()>;
    /// The file names a stage with `params` publishes (to `outputs/figures/`): an entry, local
    /// or pulled, that publishes anything else is refused.
    fn publishes(_params: &P) -> Vec<String> {
        Vec::new()
    }
}

impl<P> Output<P> for () {
    fn finish(self, _params: &P, _ctx: &StageContext) -> Result<()> {
        Ok(())
    }
}

/// A stage kind as the engine uses it (object-safe; implemented by every [`Kind`]).
pub trait StageKind: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    fn doc(&self) -> &'static str;
    fn params(&self) -> Vec<ParamSpec>;
    fn inputs(&self) -> &'static [InputSpec];
    fn numeric(&self) -> bool;
    fn extends(&self) -> Option<&'static str>;
    /// Whether its stages publish a figure ([`Output::FIGURE`]).
    fn figure(&self) -> bool;
    /// The file names a stage with `params` publishes ([`Output::publishes`]).
    fn publishes(&self, params: &Params) -> Result<Vec<String>>;
    /// `params` are validated against [`StageKind::params`].
    fn external(&self, params: &Params, ext: &External) -> Result<Option<String>>;
    fn run(&self, ctx: &mut StageContext) -> Result<()>;
}

impl<K: Kind> StageKind for K {
    fn name(&self) -> &'static str {
        K::NAME
    }
    fn version(&self) -> u32 {
        K::VERSION
    }
    fn doc(&self) -> &'static str {
        K::DOC
    }
    fn params(&self) -> Vec<ParamSpec> {
        K::Params::specs()
    }
    fn inputs(&self) -> &'static [InputSpec] {
        K::INPUTS
    }
    fn numeric(&self) -> bool {
        K::NUMERIC
    }
    fn extends(&self) -> Option<&'static str> {
        K::EXTENDS
    }
    fn figure(&self) -> bool {
        <K::Output as Output<K::Params>>::FIGURE
    }
    fn publishes(&self, params: &Params) -> Result<Vec<String>> {
        Ok(K::Output::publishes(&K::Params::from_params(params)?))
    }
    fn external(&self, params: &Params, ext: &External) -> Result<Option<String>> {
        Kind::external(self, &K::Params::from_params(params)?, ext)
    }
    fn run(&self, ctx: &mut StageContext) -> Result<()> {
        let params = K::Params::from_params(ctx.params)?;
        K::Output::produce(&params, ctx, &|p, c| Kind::run(self, p, c))?.finish(&params, ctx)
    }
}

/// What a kind may look at when fingerprinting external data.
pub struct External<'a> {
    /// The project's `data/` directory (downloads and local copies).
    pub data_dir: &'a Path,
    sources: &'a BTreeMap<String, PathBuf>,
    hash: &'a dyn Fn(&Path) -> Result<String>,
}

impl<'a> External<'a> {
    pub fn new(
        data_dir: &'a Path,
        sources: &'a BTreeMap<String, PathBuf>,
        hash: &'a dyn Fn(&Path) -> Result<String>,
    ) -> Self {
        External {
            data_dir,
            sources,
            hash,
        }
    }
    /// The local copy of an external dataset given on the command line, if any.
    pub fn source(&self, name: &str) -> Option<&'a Path> {
        self.sources.get(name).map(PathBuf::as_path)
    }
    /// blake3 of a file's content (memoised by size and mtime).
    pub fn hash_file(&self, path: &Path) -> Result<String> {
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
        self.kinds.get(name).map(AsRef::as_ref)
    }
    pub fn iter(&self) -> impl Iterator<Item = &dyn StageKind> {
        self.kinds.values().map(AsRef::as_ref)
    }

    /// `spike-pipe kinds [KIND]`: each kind with its version and doc, then (for one kind, or
    /// with `params`) every parameter with its type, default, allowed values and doc, from the
    /// same declarations that validate pipeline.yaml.
    pub fn listing(&self, only: Option<&str>) -> Result<String> {
        let mut out = String::new();
        let kinds: Vec<&dyn StageKind> = match only {
            None => self.iter().collect(),
            Some(name) => {
                let names: Vec<&str> = self.kinds.keys().copied().collect();
                vec![self.get(name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown kind `{name}`{}; known kinds: {}",
                        spike_config::did_you_mean(name, &names),
                        names.join(", ")
                    )
                })?]
            }
        };
        for k in kinds {
            out.push_str(&format!("{} (v{}): {}\n", k.name(), k.version(), k.doc()));
            if only.is_some() {
                for i in k.inputs() {
                    out.push_str(&format!("  {}\n", i.listing()));
                }
                for p in k.params() {
                    out.push_str(&format!("  {}\n", p.listing()));
                }
            }
        }
        Ok(out)
    }
}

impl spike_config::KindSchema for Registry {
    fn kind_names(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }
    fn kind_params(&self, kind: &str) -> Option<Vec<ParamSpec>> {
        self.get(kind).map(StageKind::params)
    }
    fn kind_inputs(&self, kind: &str) -> Option<&'static [InputSpec]> {
        self.get(kind).map(StageKind::inputs)
    }
}
