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

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::cache::{Cache, FileRecord, MANIFEST, Manifest};
use super::exec::CacheHooks;
use super::failure::{Operational, is_operational};
use super::key::check_key;

/// A manifest larger than this is refused while downloading (real ones are a few KiB).
const MAX_MANIFEST_BYTES: usize = 16 << 20;

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
    pub fn of(project: &super::Project, url: Option<&str>) -> Result<RemoteConfig> {
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

pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    runtime: tokio::runtime::Runtime,
}

/// What to check when a remote operation fails.
fn hint(url: &str) -> &'static str {
    if url.starts_with("s3") {
        "check that the endpoint is reachable (AWS_ENDPOINT_URL), the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and that the bucket exists"
    } else if url.starts_with("file") {
        "check that the directory exists and is writable"
    } else if url.starts_with("gs") {
        "check GOOGLE_SERVICE_ACCOUNT (or GOOGLE_APPLICATION_CREDENTIALS) and that the bucket exists"
    } else if url.starts_with("az") {
        "check AZURE_STORAGE_ACCOUNT_NAME / AZURE_STORAGE_ACCOUNT_KEY and that the container exists"
    } else {
        "check that the server is reachable and accepts the requests"
    }
}

/// Reads `~/.aws/credentials` and `~/.aws/config` (or the files AWS_SHARED_CREDENTIALS_FILE and
/// AWS_CONFIG_FILE name) for the profile AWS_PROFILE (default `default`), as the AWS CLI does;
/// variables already set in the environment win.
#[cfg(feature = "aws")]
fn aws_profile() -> std::collections::HashMap<String, String> {
    use std::collections::HashMap;
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let read = |var: &str, default: PathBuf, section: &str| -> HashMap<String, String> {
        let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
        let Ok(text) = std::fs::read_to_string(path) else {
            return HashMap::new();
        };
        let mut current = String::new();
        let mut out = HashMap::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') && line.ends_with(']') {
                current = line[1..line.len() - 1].trim().to_string();
            } else if current == section
                && let Some((k, v)) = line.split_once('=')
            {
                out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        out
    };
    let mut values = read(
        "AWS_SHARED_CREDENTIALS_FILE",
        home.join(".aws/credentials"),
        &profile,
    );
    let config_section = if profile == "default" {
        profile.clone()
    } else {
        format!("profile {profile}")
    };
    for (k, v) in read("AWS_CONFIG_FILE", home.join(".aws/config"), &config_section) {
        values.entry(k).or_insert(v);
    }
    values
}

fn build_store(url: &str) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow!("`{url}` is not a URL ({e}); use file:///dir, s3://bucket/prefix, gs://, az:// or http(s)://"))?;
    let prefix = ObjectPath::from(parsed.path().trim_matches('/'));
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "file" => {
            let dir = PathBuf::from(parsed.path());
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating the remote directory {}", dir.display()))?;
            return Ok((
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&dir)?),
                ObjectPath::from(""),
            ));
        }
        "s3" | "s3a" => cloud::s3(&parsed)?,
        "gs" => cloud::gcs(url)?,
        "az" | "abfs" | "abfss" | "azure" => cloud::azure(url)?,
        "http" | "https" => cloud::http(&parsed)?,
        other => {
            bail!("unsupported remote scheme `{other}` in `{url}` (file, s3, gs, az, http, https)")
        }
    };
    Ok((store, prefix))
}

/// The cloud stores, each behind its default-on feature (`aws`, `gcp`, `azure`, `http`) so that
/// a minimal build (`--no-default-features`) leaves their clients out; such a build says which
/// feature a URL needs.
mod cloud {
    use std::sync::Arc;

    use anyhow::Result;
    use object_store::ObjectStore;

    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure", feature = "http"))]
    fn options() -> object_store::ClientOptions {
        object_store::ClientOptions::new().with_allow_http(true)
    }

    /// A URL whose client this build leaves out.
    #[derive(Debug)]
    pub(super) struct MissingFeature {
        feature: &'static str,
        scheme: &'static str,
    }

    impl std::fmt::Display for MissingFeature {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "this build of spike-pipe has no {} remotes: rebuild with `--features {}` (on by default)",
                self.scheme, self.feature
            )
        }
    }

    impl std::error::Error for MissingFeature {}

    #[allow(dead_code)]
    fn missing(feature: &'static str, scheme: &'static str) -> anyhow::Error {
        MissingFeature { feature, scheme }.into()
    }

    #[cfg(feature = "aws")]
    pub(super) fn s3(parsed: &url::Url) -> Result<Arc<dyn ObjectStore>> {
        use anyhow::Context;
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        let mut b = AmazonS3Builder::from_env();
        let profile = super::aws_profile();
        let set = |var: &str| std::env::var(var).map(|v| !v.is_empty()).unwrap_or(false);
        for (file_key, env_var, key) in [
            (
                "aws_access_key_id",
                "AWS_ACCESS_KEY_ID",
                AmazonS3ConfigKey::AccessKeyId,
            ),
            (
                "aws_secret_access_key",
                "AWS_SECRET_ACCESS_KEY",
                AmazonS3ConfigKey::SecretAccessKey,
            ),
            (
                "aws_session_token",
                "AWS_SESSION_TOKEN",
                AmazonS3ConfigKey::Token,
            ),
            ("region", "AWS_REGION", AmazonS3ConfigKey::Region),
            (
                "endpoint_url",
                "AWS_ENDPOINT_URL",
                AmazonS3ConfigKey::Endpoint,
            ),
        ] {
            if !set(env_var)
                && let Some(v) = profile.get(file_key)
            {
                b = b.with_config(key, v);
            }
        }
        let bucket = parsed
            .host_str()
            .context("an s3:// URL needs a bucket: s3://bucket/prefix")?;
        Ok(Arc::new(
            b.with_bucket_name(bucket)
                .with_client_options(options())
                .build()?,
        ))
    }

    #[cfg(not(feature = "aws"))]
    pub(super) fn s3(_: &url::Url) -> Result<Arc<dyn ObjectStore>> {
        Err(missing("aws", "s3://"))
    }

    #[cfg(feature = "gcp")]
    pub(super) fn gcs(url: &str) -> Result<Arc<dyn ObjectStore>> {
        Ok(Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_client_options(options())
                .build()?,
        ))
    }

    #[cfg(not(feature = "gcp"))]
    pub(super) fn gcs(_: &str) -> Result<Arc<dyn ObjectStore>> {
        Err(missing("gcp", "gs://"))
    }

    #[cfg(feature = "azure")]
    pub(super) fn azure(url: &str) -> Result<Arc<dyn ObjectStore>> {
        Ok(Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_client_options(options())
                .build()?,
        ))
    }

    #[cfg(not(feature = "azure"))]
    pub(super) fn azure(_: &str) -> Result<Arc<dyn ObjectStore>> {
        Err(missing("azure", "az://"))
    }

    #[cfg(feature = "http")]
    pub(super) fn http(parsed: &url::Url) -> Result<Arc<dyn ObjectStore>> {
        let base = format!(
            "{}://{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default()
        );
        let base = match parsed.port() {
            Some(p) => format!("{base}:{p}"),
            None => base,
        };
        Ok(Arc::new(
            object_store::http::HttpBuilder::new()
                .with_url(base)
                .with_client_options(options())
                .build()?,
        ))
    }

    #[cfg(not(feature = "http"))]
    pub(super) fn http(_: &url::Url) -> Result<Arc<dyn ObjectStore>> {
        Err(missing("http", "http(s)://"))
    }
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

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
    fn add(&mut self, o: Transfer) {
        self.entries += o.entries;
        self.blobs += o.blobs;
        self.bytes += o.bytes;
        self.skipped += o.skipped;
    }
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
        Ok(Remote {
            url: url.to_string(),
            store,
            prefix,
            runtime,
        })
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

    /// Uploads a local entry (blobs first, then the manifest); nothing if already there. Every
    /// file is hashed again as it is read: a file that rotted since it was cached is not
    /// uploaded, and its entry is evicted locally so that the next run recomputes it.
    async fn push_async(&self, cache: &Cache, key: &str) -> Result<Transfer> {
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
        let text = std::fs::read(dir.join(MANIFEST))?;
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
    async fn pull_async(&self, cache: &Cache, key: &str) -> Result<Option<Transfer>> {
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
                if let Err(e) = std::fs::write(tmp.join(MANIFEST), &text) {
                    std::fs::remove_dir_all(&tmp).ok();
                    return Err(e.into());
                }
                cache.install(&tmp, key)?;
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
        let got = self.store.get(&source).await.map_err(|e| {
            self.fail(
                format!("downloading {source} ({} of entry {key})", f.path),
                e,
            )
        })?;
        let dest = tmp.join(&f.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&dest)?;
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
            out.write_all(&chunk)?;
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
        let metas: Vec<object_store::ObjectMeta> = self
            .runtime
            .block_on(self.store.list(Some(&prefix)).try_collect())
            .map_err(|e| self.fail("listing entries".into(), e))?;
        let mut keys = Vec::new();
        for m in &metas {
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

/// The keys `push`/`pull` work on: every stage of the pipeline (or, with `all`, every local
/// entry for a push and every remote entry for a pull).
pub(crate) fn keys_for(
    project: &super::Project,
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
    project: &super::Project,
    remote: &Remote,
    pull: bool,
    all: bool,
    jobs: usize,
) -> Result<Transfer> {
    let keys = keys_for(project, remote, pull, all)?;
    let progress = super::progress::Progress::new();
    let bar = progress.bar(
        if pull { "pull" } else { "push" },
        keys.len() as u64,
        "entries",
    );
    let t = remote.transfer_many(&project.cache, &keys, jobs, pull, &|_| bar.inc(1))?;
    Ok(Transfer { pulled: pull, ..t })
}
