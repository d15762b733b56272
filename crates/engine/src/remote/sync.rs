//! `spike-pipe push` and `pull`: which keys, and the transfer with its progress bar.

use anyhow::Result;

use super::{Remote, Transfer};

/// The keys `push`/`pull` work on: every stage of the pipeline (or, with `all`, every local
/// entry for a push and every remote entry for a pull).
fn keys_for(
    project: &crate::Project,
    remote: &Remote,
    pull: bool,
    all: bool,
) -> Result<Vec<String>> {
    if all {
        return if pull {
            remote.list()
        } else {
            project.cache.keys()
        };
    }
    let plan = project.plan(&vec![false; project.pipeline.stages.len()]);
    Ok(plan
        .stages
        .iter()
        .filter(|p| p.cached != pull)
        .map(|p| p.key.clone())
        .collect())
}

/// `spike-pipe push` / `pull`: transfers the entries with a progress bar.
pub fn sync(
    project: &crate::Project,
    remote: &Remote,
    pull: bool,
    all: bool,
    jobs: usize,
) -> Result<Transfer> {
    let keys = keys_for(project, remote, pull, all)?;
    let progress = crate::progress::Progress::new();
    let bar = progress.bar(
        if pull { "pull" } else { "push" },
        keys.len() as u64,
        "entries",
    );
    let t = remote.transfer_many(&project.cache, &keys, jobs, pull, &|_| bar.inc(1))?;
    Ok(Transfer { pulled: pull, ..t })
}
