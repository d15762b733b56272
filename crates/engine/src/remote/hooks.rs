//! The remote as the executor's cache hooks (`repro --pull/--push`).

use std::sync::Mutex;

use anyhow::Result;

use super::Remote;
use crate::cache::Cache;
use crate::exec::CacheHooks;

/// `repro --pull/--push`: fetch entries before computing, upload what was computed. Pull
/// failures (a corrupt blob) are warnings (the stage is computed locally); push failures are
/// collected and make the run fail at the end.
pub struct RemoteHooks<'a> {
    pub remote: &'a Remote,
    pub cache: &'a Cache,
    pub pull: bool,
    pub push: bool,
    pub errors: Mutex<Vec<String>>,
    pub warnings: Mutex<Vec<String>>,
}

impl<'a> RemoteHooks<'a> {
    pub fn new(remote: &'a Remote, cache: &'a Cache, pull: bool, push: bool) -> Self {
        RemoteHooks {
            remote,
            cache,
            pull,
            push,
            errors: Default::default(),
            warnings: Default::default(),
        }
    }
}

impl CacheHooks for RemoteHooks<'_> {
    fn fetch(&self, key: &str) -> Result<bool> {
        if !self.pull {
            return Ok(false);
        }
        match self
            .remote
            .runtime
            .block_on(self.remote.pull_async(self.cache, key))
        {
            Ok(found) => Ok(found.is_some()),
            Err(e) => {
                let msg = format!("{e:#}; computing it locally instead");
                eprintln!("warning: {msg}");
                self.warnings.lock().expect("lock").push(msg);
                Ok(false)
            }
        }
    }

    fn computed(&self, key: &str) -> Result<()> {
        if self.push
            && let Err(e) = self.remote.push(self.cache, key)
        {
            let msg = format!("pushing {key}: {e:#}");
            eprintln!("error: {msg}");
            self.errors.lock().expect("lock").push(msg);
        }
        Ok(())
    }
}
