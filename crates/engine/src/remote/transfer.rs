//! Moving one entry: a push uploads its missing blobs, then its manifest; a pull downloads and
//! checks every blob into a temporary directory that becomes the entry only when all checked out.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutPayload};

use super::Remote;
use super::store::is_not_found;
use crate::cache::{Cache, FileRecord, MANIFEST, Manifest};
use crate::key::check_key;

/// A manifest larger than this is refused while downloading (real ones are a few KiB).
const MAX_MANIFEST_BYTES: usize = 16 << 20;

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Transfer {
    /// A pull (else a push).
    #[serde(skip)]
    pub pulled: bool,
    pub entries: usize,
    pub blobs: usize,
    pub bytes: u64,
    /// Entries that were already there.
    pub skipped: usize,
}

impl std::fmt::Display for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} entries ({} blobs, {:.1} MB); {} already {}",
            if self.pulled { "pulled" } else { "pushed" },
            self.entries,
            self.blobs,
            self.bytes as f64 / 1e6,
            self.skipped,
            if self.pulled {
                "in the local cache"
            } else {
                "on the remote"
            }
        )
    }
}

impl Transfer {
    pub(super) fn add(&mut self, o: Transfer) {
        self.entries += o.entries;
        self.blobs += o.blobs;
        self.bytes += o.bytes;
        self.skipped += o.skipped;
    }
}

impl Remote {
    /// Uploads a local entry (blobs first, then the manifest); nothing if already there. Every
    /// file is hashed again as it is read: a file that rotted since it was cached is not
    /// uploaded, and its entry is evicted locally so that the next run recomputes it.
    pub(super) async fn push_async(&self, cache: &Cache, key: &str) -> Result<Transfer> {
        check_key(key)?;
        if self.exists(&self.entry_path(key)).await? {
            return Ok(Transfer {
                skipped: 1,
                ..Transfer::default()
            });
        }
        let manifest = cache.manifest(key)?;
        manifest.check()?;
        let dir = cache.entry_dir(key)?;
        let uploaded: Vec<Transfer> = futures::stream::iter(manifest.files.iter())
            .map(|f| {
                let dir = dir.clone();
                async move {
                    let target = self.blob_path(&f.blake3);
                    if self.exists(&target).await? {
                        return Ok(Transfer::default());
                    }
                    let bytes = std::fs::read(dir.join(&f.path))
                        .with_context(|| format!("reading {} of entry {key}", f.path))?;
                    let n = bytes.len() as u64;
                    let hash = blake3::hash(&bytes).to_hex().to_string();
                    if hash != f.blake3 || n != f.bytes {
                        let _lock = cache.lock(key)?;
                        cache.evict(key)?;
                        bail!(
                            "{} of local entry {key} no longer matches its recorded blake3 ({n} bytes, recorded {}); not uploaded, and the entry was evicted so that the next run recomputes it",
                            f.path,
                            f.bytes
                        );
                    }
                    self.store
                        .put(&target, PutPayload::from(bytes))
                        .await
                        .map_err(|e| self.fail(format!("uploading {target}"), e))?;
                    Ok::<_, anyhow::Error>(Transfer {
                        blobs: 1,
                        bytes: n,
                        ..Transfer::default()
                    })
                }
            })
            .buffer_unordered(4)
            .try_collect()
            .await?;
        let path = dir.join(MANIFEST);
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let target = self.entry_path(key);
        self.store
            .put(&target, PutPayload::from(text))
            .await
            .map_err(|e| self.fail(format!("uploading {target}"), e))?;
        let mut t = Transfer {
            entries: 1,
            ..Transfer::default()
        };
        uploaded.into_iter().for_each(|u| t.add(u));
        Ok(t)
    }

    /// Downloads an entry into the local cache (call with the key's lock held). Returns false if
    /// the remote does not have it. Every blob is checked against its hash before it is used.
    pub(super) async fn pull_async(&self, cache: &Cache, key: &str) -> Result<Option<Transfer>> {
        let Some((manifest, text)) = self.manifest(key).await? else {
            return Ok(None);
        };
        let tmp = cache.begin(key)?;
        let result: Result<Vec<u64>> = futures::stream::iter(manifest.files.iter())
            .map(|f| self.download(f, &tmp, key))
            .buffer_unordered(4)
            .try_collect()
            .await;
        match result {
            Ok(sizes) => {
                let path = tmp.join(MANIFEST);
                if let Err(e) = std::fs::write(&path, &text) {
                    std::fs::remove_dir_all(&tmp).ok();
                    return Err(e).with_context(|| format!("writing {}", path.display()));
                }
                cache
                    .install(&tmp, key)
                    .with_context(|| format!("installing entry {key} into the local cache"))?;
                Ok(Some(Transfer {
                    pulled: true,
                    entries: 1,
                    blobs: sizes.len(),
                    bytes: sizes.iter().sum(),
                    skipped: 0,
                }))
            }
            Err(e) => {
                std::fs::remove_dir_all(&tmp).ok();
                Err(e)
            }
        }
    }

    /// The manifest of an entry on the remote (`None`: no such entry) and its bytes, checked:
    /// bounded in size, valid, and belonging to `key`.
    async fn manifest(&self, key: &str) -> Result<Option<(Manifest, Vec<u8>)>> {
        check_key(key)?;
        let entry = self.entry_path(key);
        self.check_regular(&entry)?;
        let got = match self.store.get(&entry).await {
            Ok(r) => r,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(self.fail(format!("downloading {entry}"), e)),
        };
        let mut text = Vec::new();
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.fail(format!("downloading {entry}"), e))?;
            if text.len() + chunk.len() > MAX_MANIFEST_BYTES {
                bail!(
                    "remote {}: {entry} is larger than {MAX_MANIFEST_BYTES} bytes; not a manifest",
                    self.url
                );
            }
            text.extend_from_slice(&chunk);
        }
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| anyhow!("remote {}: {entry} is not a valid manifest: {e}", self.url))?;
        if manifest.key != key {
            bail!(
                "remote {}: {entry} describes key {}, not {key}",
                self.url,
                manifest.key
            );
        }
        manifest
            .check()
            .map_err(|e| anyhow!("remote {}: {entry} was refused: {e:#}", self.url))?;
        // The entry must be what its key says: another kind, other parameters or inputs under
        // this key would be served as if they were the planned stage.
        let recomputed = manifest.recomputed_key();
        if recomputed != key {
            bail!(
                "remote {}: {entry} does not belong to key {key}: its kind, version, parameters, inputs, environment and external data hash to {recomputed}; not used",
                self.url
            );
        }
        Ok(Some((manifest, text)))
    }

    /// Downloads one file of an entry into `tmp`, checking its size and hash as it streams.
    async fn download(&self, f: &FileRecord, tmp: &Path, key: &str) -> Result<u64> {
        let source = self.blob_path(&f.blake3);
        self.check_regular(&source)?;
        let got = self.store.get(&source).await.map_err(|e| {
            self.fail(
                format!("downloading {source} ({} of entry {key})", f.path),
                e,
            )
        })?;
        let dest = tmp.join(&f.path);
        let writing = || format!("writing {} ({} of entry {key})", dest.display(), f.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).with_context(writing)?;
        }
        let mut out = std::fs::File::create(&dest).with_context(writing)?;
        let mut hasher = blake3::Hasher::new();
        let mut n = 0u64;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.fail(format!("downloading {source}"), e))?;
            if n + chunk.len() as u64 > f.bytes {
                bail!(
                    "remote {}: object {source} is larger than the {} bytes entry {key} records for {}; download stopped",
                    self.url,
                    f.bytes,
                    f.path
                );
            }
            hasher.update(&chunk);
            out.write_all(&chunk).with_context(writing)?;
            n += chunk.len() as u64;
        }
        let hash = hasher.finalize().to_hex().to_string();
        if hash != f.blake3 || n != f.bytes {
            bail!(
                "remote {}: object {source} is corrupt: {n} bytes with blake3 {hash}, but entry {key} records {} bytes with blake3 {}; it was not used",
                self.url,
                f.bytes,
                f.blake3
            );
        }
        Ok(n)
    }

    pub fn push(&self, cache: &Cache, key: &str) -> Result<Transfer> {
        let t = self.runtime.block_on(self.push_async(cache, key))?;
        tracing::info!(key, remote = %self.url, blobs = t.blobs, bytes = t.bytes, skipped = t.skipped, "pushed");
        Ok(t)
    }

    /// Pulls one entry under its lock; `Ok(None)` when the remote does not have it.
    pub fn pull(&self, cache: &Cache, key: &str) -> Result<Option<Transfer>> {
        let _lock = cache.lock(key)?;
        if cache.contains(key) {
            return Ok(Some(Transfer {
                skipped: 1,
                ..Transfer::default()
            }));
        }
        let t = self.runtime.block_on(self.pull_async(cache, key))?;
        match &t {
            Some(t) => {
                tracing::info!(key, remote = %self.url, blobs = t.blobs, bytes = t.bytes, "pulled");
            }
            None => tracing::debug!(key, remote = %self.url, "not on the remote"),
        }
        Ok(t)
    }
}
