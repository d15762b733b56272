//! `cache:` of pipeline.yaml and `--remote`.

use std::path::Path;

use anyhow::{Result, anyhow};

use super::Remote;

/// `cache:` in pipeline.yaml.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// The remote URL.
    pub remote: Option<String>,
    /// Fetch a stage's entry from the remote before computing it.
    #[serde(default)]
    pub pull: bool,
    /// Upload what `repro` computes.
    #[serde(default)]
    pub push: bool,
}

impl RemoteConfig {
    pub(crate) fn from_yaml(v: Option<&serde_yaml::Value>, file: &Path) -> Result<RemoteConfig> {
        match v {
            None => Ok(RemoteConfig::default()),
            Some(v) => serde_yaml::from_value(v.clone()).map_err(|e| {
                anyhow!(
                    "{}: cache: {e} (valid keys: remote, pull, push)",
                    file.display()
                )
            }),
        }
    }
}

impl RemoteConfig {
    /// `cache:` of pipeline.yaml, with `url` (`--remote`) over its remote.
    pub fn of(project: &crate::Project, url: Option<&str>) -> Result<RemoteConfig> {
        let mut cfg =
            RemoteConfig::from_yaml(project.pipeline.extra.get("cache"), &project.pipeline.file)?;
        if let Some(url) = url {
            cfg.remote = Some(url.to_string());
        }
        Ok(cfg)
    }

    /// The configured remote, opened.
    pub fn open(&self) -> Result<Remote> {
        let url = self.remote.as_deref().ok_or_else(|| {
            anyhow!(
                "no remote cache: set `cache: {{remote: URL}}` in pipeline.yaml or pass --remote URL"
            )
        })?;
        Remote::open(url)
    }
}
