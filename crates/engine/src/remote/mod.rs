//! The remote cache: a content-addressed store on any `object_store` backend (a local or network
//! directory `file://`, S3-compatible `s3://bucket/prefix`, `gs://`, `az://`, `http(s)://`).
//!
//! Layout under the remote's prefix:
//! - `blobs/<blake3>`: file contents, addressed by their blake3 hash (as in the manifests);
//! - `entries/<key>.json`: a stage's manifest, which lists its files and their hashes.
//!
//! A push uploads the missing blobs first and the entry last, so a reader never sees an entry
//! whose blobs are missing (an interrupted push leaves only unreferenced blobs). A pull verifies
//! every blob against its hash and size while downloading, into a temporary directory that is
//! renamed into the local cache only when the whole entry checked out.

mod aws;
mod config;
mod hooks;
mod store;
mod sync;
mod transfer;

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

pub use self::config::RemoteConfig;
pub use self::hooks::RemoteHooks;
use self::store::{build_store, cloud, hint, is_not_found};
pub use self::sync::sync;
pub use self::transfer::Transfer;
use super::cache::Cache;
use super::failure::{Operational, is_operational};
use super::key::check_key;

pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// The directory of a `file://` remote, whose objects are checked to be regular files.
    local_dir: Option<std::path::PathBuf>,
    runtime: tokio::runtime::Runtime,
}

impl Remote {
    pub fn open(url: &str) -> Result<Remote> {
        let (store, prefix) = match build_store(url) {
            // Not a connection problem: the hint would mislead.
            Err(e) if e.is::<cloud::MissingFeature>() => return Err(e),
            built => built.with_context(|| format!("remote {url}: {}", hint(url)))?,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let local_dir = url::Url::parse(url)
            .ok()
            .filter(|u| u.scheme() == "file")
            .map(|u| std::path::PathBuf::from(u.path()));
        Ok(Remote {
            url: url.to_string(),
            store,
            prefix,
            local_dir,
            runtime,
        })
    }

    /// Refuses an object of a `file://` remote that is not a regular file: reading a FIFO (or
    /// a device) would block while this process holds the key's lock. Objects of the network
    /// stores are read with object_store's time limits (30 s a request, 5 s to connect).
    fn check_regular(&self, p: &ObjectPath) -> Result<()> {
        let Some(dir) = &self.local_dir else {
            return Ok(());
        };
        let path = dir.join(p.as_ref());
        match std::fs::symlink_metadata(&path) {
            Ok(m) if !m.is_file() => Err(Operational(format!(
                "remote {}: {} is not a regular file ({:?}); refused, remove it from the remote",
                self.url,
                path.display(),
                m.file_type()
            ))
            .into()),
            _ => Ok(()),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, rel: &str) -> ObjectPath {
        if self.prefix.as_ref().is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn entry_path(&self, key: &str) -> ObjectPath {
        self.path(&format!("entries/{key}.json"))
    }

    fn blob_path(&self, hash: &str) -> ObjectPath {
        self.path(&format!("blobs/{hash}"))
    }

    /// A failure of the store: operational (exit code 3), whatever the store's error type.
    fn fail(&self, what: String, e: impl std::fmt::Display) -> anyhow::Error {
        Operational(format!(
            "remote {}: {what}: {e}; {}",
            self.url,
            hint(&self.url)
        ))
        .into()
    }

    async fn exists(&self, p: &ObjectPath) -> Result<bool> {
        match self.store.head(p).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(self.fail(format!("checking {p}"), e)),
        }
    }

    /// Pushes (or pulls) many entries, `jobs` at a time; `progress` sees each finished key.
    pub(crate) fn transfer_many(
        &self,
        cache: &Cache,
        keys: &[String],
        jobs: usize,
        pull: bool,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Transfer> {
        // Identical stages share a key; transferring it twice at once would take its lock twice.
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let results: Vec<Result<Transfer>> = self.runtime.block_on(async {
            futures::stream::iter(keys.iter())
                .map(|k| async move {
                    let r = if pull {
                        match cache.lock(k) {
                            Ok(_lock) if cache.contains(k) => Ok(Transfer {
                                skipped: 1,
                                ..Transfer::default()
                            }),
                            Ok(_lock) => self
                                .pull_async(cache, k)
                                .await
                                .map(Option::unwrap_or_default),
                            Err(e) => Err(e),
                        }
                    } else {
                        self.push_async(cache, k).await
                    };
                    progress(k);
                    r
                })
                .buffer_unordered(jobs.max(1))
                .collect()
                .await
        });
        let mut total = Transfer::default();
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(t) => total.add(t),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            return Ok(total);
        }
        let message = format!(
            "{} of {} entries failed:\n  {}",
            errors.len(),
            keys.len(),
            errors
                .iter()
                .map(|e| format!("{e:#}"))
                .collect::<Vec<_>>()
                .join("\n  ")
        );
        if errors.iter().any(is_operational) {
            Err(Operational(message).into())
        } else {
            Err(anyhow!(message))
        }
    }

    /// Keys of all entries on the remote.
    pub fn list(&self) -> Result<Vec<String>> {
        let prefix = self.path("entries");
        let listed: Vec<object_store::Result<object_store::ObjectMeta>> = self
            .runtime
            .block_on(self.store.list(Some(&prefix)).collect());
        let mut keys = Vec::new();
        for m in listed {
            // A name that is no object path (not UTF-8, say) is junk like any other: skipped.
            let m = match m {
                Ok(m) => m,
                Err(e @ object_store::Error::InvalidPath { .. }) => {
                    eprintln!(
                        "warning: remote {}: skipping an object under entries/ whose name is not a valid path: {e}",
                        self.url
                    );
                    continue;
                }
                Err(e) => return Err(self.fail("listing entries".into(), e)),
            };
            let name = m.location.filename().unwrap_or_default();
            match name.strip_suffix(".json").filter(|k| check_key(k).is_ok()) {
                Some(k) => keys.push(k.to_string()),
                None => eprintln!(
                    "warning: remote {}: skipping {}: not an entry (entries/<32 hex digits>.json)",
                    self.url, m.location
                ),
            }
        }
        keys.sort();
        Ok(keys)
    }
}
