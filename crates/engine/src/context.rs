//! What a running stage sees: its parameters, its inputs (read-only, only the files their
//! manifests list), the directory it writes into, a scratch directory for resumable state, and
//! progress bars. The engine owns every path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use polars_core::prelude::DataFrame;

use crate::table::{self, Table};
use spike_config::{Params, StageDef, StageParams};

use super::cache::{Manifest, PUBLISH_DIR, check_relative};
use super::key::NumericEnv;
use super::progress::{Bar, Progress};

/// A finished upstream stage, as seen by the stage that needs it.
#[derive(Clone, Debug)]
pub struct Input {
    pub stage: String,
    pub key: String,
    pub kind: String,
    pub params: Params,
    /// Matrix values of this upstream expansion (empty if it has no matrix).
    pub matrix: Params,
    /// Keys of the upstream stage's own inputs, by role.
    pub inputs: BTreeMap<String, Vec<String>>,
    dir: PathBuf,
    files: Vec<String>,
}

impl Input {
    pub fn new(def: &StageDef, dir: PathBuf, manifest: &Manifest) -> Self {
        Input {
            stage: def.name.clone(),
            key: manifest.key.clone(),
            kind: def.kind.clone(),
            params: def.params.clone(),
            matrix: def.matrix.clone(),
            inputs: manifest.inputs.clone(),
            dir,
            files: manifest.files.iter().map(|f| f.path.clone()).collect(),
        }
    }

    /// This input's parameters, as the struct its kind declares them with.
    pub fn params<P: StageParams>(&self) -> Result<P> {
        P::from_params(&self.params).with_context(|| format!("input `{}`", self.stage))
    }

    /// Path of an artifact of this input; only files recorded in its manifest are available.
    pub fn file(&self, name: &str) -> Result<PathBuf> {
        if !self.files.iter().any(|f| f == name) {
            bail!(
                "input `{}` has no artifact `{name}` (it has: {})",
                self.stage,
                self.files.join(", ")
            );
        }
        Ok(self.dir.join(name))
    }

    pub fn has(&self, name: &str) -> bool {
        self.files.iter().any(|f| f == name)
    }

    /// Reads the Parquet table `<name>.parquet`.
    pub fn table(&self, name: &str) -> Result<DataFrame> {
        let path = self.file(&format!("{name}.parquet"))?;
        table::read_parquet(&path).with_context(|| format!("input `{}`", self.stage))
    }

    /// Reads a declared table from its file.
    pub fn read<T: Table>(&self) -> Result<T> {
        self.read_named(T::NAME)
    }

    /// Reads a declared table from `<name>.parquet` (for tables written under several names,
    /// as the `train` and `test` splits of a dataset).
    pub fn read_named<T: Table>(&self, name: &str) -> Result<T> {
        T::from_frame(&self.table(name)?)
            .with_context(|| format!("input `{}`, table `{name}`", self.stage))
    }

    pub fn read_json(&self, name: &str) -> Result<serde_json::Value> {
        let path = self.file(name)?;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// The directories of a running stage (all owned by the engine).
#[derive(Clone)]
pub struct StageDirs {
    /// Where its artifacts go (a temporary directory, committed when the stage succeeds).
    pub out: PathBuf,
    /// Survives a crash of the stage (resumable state); removed after commit.
    pub scratch: PathBuf,
    /// The project's `data/` directory.
    pub data: PathBuf,
    /// Local copies of external datasets by name (see `Locations::sources`).
    pub sources: BTreeMap<String, PathBuf>,
    /// A cached result this stage may extend (kinds with `Kind::EXTENDS`).
    pub base: Option<Input>,
}

pub struct StageContext<'a> {
    pub name: &'a str,
    pub params: &'a Params,
    pub env: &'a NumericEnv,
    inputs: BTreeMap<String, Vec<Input>>,
    dirs: StageDirs,
    progress: &'a Progress,
    /// The labels of the variant a view runs (see [`StageContext::view`]).
    variant: BTreeMap<String, String>,
}

impl<'a> StageContext<'a> {
    pub fn new(
        name: &'a str,
        params: &'a Params,
        env: &'a NumericEnv,
        inputs: BTreeMap<String, Vec<Input>>,
        dirs: StageDirs,
        progress: &'a Progress,
    ) -> Self {
        StageContext {
            name,
            params,
            env,
            inputs,
            dirs,
            progress,
            variant: BTreeMap::new(),
        }
    }

    /// The same stage seeing only the inputs `keep` accepts (roles left empty are dropped),
    /// labelled with `variant`: for an output that runs its kind once per variant of its inputs.
    pub fn view(
        &self,
        keep: &dyn Fn(&Input) -> bool,
        variant: BTreeMap<String, String>,
    ) -> StageContext<'a> {
        let inputs = self
            .inputs
            .iter()
            .map(|(role, list)| {
                let kept: Vec<Input> = list.iter().filter(|i| keep(i)).cloned().collect();
                (role.clone(), kept)
            })
            .filter(|(_, list)| !list.is_empty())
            .collect();
        StageContext {
            name: self.name,
            params: self.params,
            env: self.env,
            inputs,
            dirs: self.dirs.clone(),
            progress: self.progress,
            variant,
        }
    }

    /// The labels of the variant this view runs (empty outside a view).
    pub fn variant(&self) -> &BTreeMap<String, String> {
        &self.variant
    }

    /// Every input, of every role.
    pub fn all_inputs(&self) -> impl Iterator<Item = &Input> {
        self.inputs.values().flatten()
    }

    /// The project's `data/` directory: where dataset downloads go (import stages only).
    pub fn data_dir(&self) -> &Path {
        &self.dirs.data
    }

    /// The local copy of an external dataset given on the command line, if any (import stages
    /// only).
    pub fn source(&self, name: &str) -> Option<&Path> {
        self.dirs.sources.get(name).map(PathBuf::as_path)
    }

    /// The single input of a role.
    pub fn input(&self, role: &str) -> Result<&Input> {
        match self.inputs(role)? {
            [one] => Ok(one),
            many => bail!(
                "stage `{}` expects exactly one stage under `needs: {role}`, got {}",
                self.name,
                many.len()
            ),
        }
    }

    /// All inputs of a role (a matrix group gives several).
    pub fn inputs(&self, role: &str) -> Result<&[Input]> {
        self.inputs.get(role).map(Vec::as_slice).ok_or_else(|| {
            let roles: Vec<&str> = self.inputs.keys().map(String::as_str).collect();
            anyhow!(
                "stage `{}` needs an input with role `{role}` (write `needs: {{{role}: <stage>}}` in pipeline.yaml); it has: {}",
                self.name,
                if roles.is_empty() { "none".to_string() } else { roles.join(", ") }
            )
        })
    }

    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.inputs.keys().map(String::as_str)
    }

    /// Path for a new artifact in this stage's output directory.
    pub fn output_path(&self, name: &str) -> Result<PathBuf> {
        check_relative(name)?;
        let path = self.dirs.out.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        Ok(path)
    }

    /// Writes `<name>.parquet`.
    pub fn write_table(&self, name: &str, df: &mut DataFrame) -> Result<()> {
        table::write_parquet(&self.output_path(&format!("{name}.parquet"))?, df)
    }

    /// Writes a declared table to its file.
    pub fn write<T: Table>(&self, table: &T) -> Result<()> {
        self.write_named(T::NAME, table)
    }

    /// Writes a declared table to `<name>.parquet`.
    pub fn write_named<T: Table>(&self, name: &str, table: &T) -> Result<()> {
        self.write_table(name, &mut table.to_frame()?)
    }

    pub fn write_json(&self, name: &str, value: &serde_json::Value) -> Result<()> {
        std::fs::write(
            self.output_path(name)?,
            serde_json::to_string_pretty(value)?,
        )?;
        Ok(())
    }

    /// Path of a file that the engine copies to `outputs/figures/` when this stage is published.
    pub fn publish_path(&self, file_name: &str) -> Result<PathBuf> {
        if file_name.contains('/') {
            bail!("published file `{file_name}` must be a plain file name");
        }
        self.output_path(&format!("{PUBLISH_DIR}/{file_name}"))
    }

    /// The cached result of this same computation with a smaller value of the kind's
    /// `Kind::EXTENDS` parameter, if there is one: the stage may continue from it.
    pub fn extends(&self) -> Option<&Input> {
        self.dirs.base.as_ref()
    }

    /// A directory that survives a crash of this stage (for resumable checkpoints); removed
    /// once the stage's entry is committed.
    pub fn scratch_dir(&self) -> Result<&Path> {
        std::fs::create_dir_all(&self.dirs.scratch)
            .with_context(|| format!("creating {}", self.dirs.scratch.display()))?;
        Ok(&self.dirs.scratch)
    }

    pub fn progress(&self, total: u64, unit: &str) -> Bar {
        self.progress.stage_bar(self.name, total, unit)
    }

    pub fn log(&self, line: &str) {
        self.progress.println(&format!("  {}: {line}", self.name));
    }
}
