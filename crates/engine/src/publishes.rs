//! What a stage may publish follows from its kind and parameters (a figure publishes its own
//! id's five files, nothing else): an entry that lists any other file under `publish/`,
//! computed here or pulled from a remote, is refused, so no entry can publish another stage's
//! tables or claims.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use spike_config::StageDef;

use crate::Project;
use crate::cache::{self, Manifest, PUBLISH_DIR};

/// The file names `def` may publish.
pub(crate) fn allowed(project: &Project, def: &StageDef) -> Result<BTreeSet<String>> {
    let kind = project
        .registry
        .get(&def.kind)
        .with_context(|| format!("`{}` has the unknown kind `{}`", def.name, def.kind))?;
    Ok(kind.publishes(&def.params)?.into_iter().collect())
}

/// Refuses published file names that `def` never writes.
pub(crate) fn check<'a>(
    project: &Project,
    def: &StageDef,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let allowed = allowed(project, def)?;
    let extra: Vec<&str> = names
        .into_iter()
        .filter(|n| !allowed.contains(*n))
        .collect();
    if !extra.is_empty() {
        let may = if allowed.is_empty() {
            "nothing".to_string()
        } else {
            allowed.into_iter().collect::<Vec<_>>().join(", ")
        };
        bail!(
            "it publishes {}, which a `{}` stage with these parameters never writes (it publishes {may})",
            extra.join(", "),
            def.kind
        );
    }
    Ok(())
}

/// The names of the files a stage's scratch directory `tmp` would publish.
pub(crate) fn in_scratch(tmp: &Path) -> Result<Vec<String>> {
    let dir = tmp.join(PUBLISH_DIR);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    cache::list_files(&dir)
}

/// Checks the cached entry of `def` that `manifest` describes, and evicts it when it publishes
/// other files.
pub(crate) fn check_entry(project: &Project, def: &StageDef, manifest: &Manifest) -> Result<()> {
    let key = &manifest.key;
    let prefix = format!("{PUBLISH_DIR}/");
    let names = manifest
        .published()
        .map(|f| f.path.strip_prefix(&prefix).unwrap_or(&f.path));
    if let Err(e) = check(project, def, names) {
        project.cache.evict(key)?;
        return Err(e.context(format!(
            "entry {key} of `{}` refused and removed from the cache",
            def.name
        )));
    }
    Ok(())
}
