//! The content-addressed stage cache.
//!
//! Layout under the cache root:
//! - `entries/<key>/`: one finished stage: its artifacts and `manifest.json` (blake3 of every file).
//! - `tmp/<key>.<pid>.<n>/`: an entry being written; renamed into `entries/` when complete, so a
//!   crash or a kill never leaves a half-written entry where a reader would accept it.
//! - `locks/<key>.lock`: per-key advisory locks (released by the OS when a process dies), so two
//!   processes compute each key at most once between them.
//! - `verified/<key>.json`: size and mtime of each file when its hashes were last checked, so a
//!   fully cached run does not rehash gigabytes of checkpoints; any change of size or mtime
//!   triggers a full rehash.
//! - `scratch/<key>/`: resumable state of an unfinished stage (kept across crashes).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::extend::ExtendIndex;
use super::key::check_key;

pub(crate) const MANIFEST: &str = "manifest.json";
/// Files under this subdirectory of an entry are copied to `outputs/figures/`.
pub(crate) const PUBLISH_DIR: &str = "publish";
/// The most files an entry may list: the paper's stages write at most 7, and a manifest from a
/// remote listing more is refused before any of it is downloaded.
pub const MAX_FILES: usize = 10_000;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    pub path: String,
    pub blake3: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub key: String,
    pub kind: String,
    pub version: u32,
    /// Name of the stage that computed it (informational: entries are shared by key).
    pub stage: String,
    pub params: serde_json::Value,
    /// Role -> keys of the inputs.
    pub inputs: BTreeMap<String, Vec<String>>,
    pub env: BTreeMap<String, String>,
    /// Fingerprint of the external data the stage imported (part of the key), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<String>,
    pub files: Vec<FileRecord>,
    pub wall_s: f64,
    pub tool_version: String,
    pub created: String,
}

/// The longest file name and path an entry may list (Linux's NAME_MAX; well under PATH_MAX with
/// the cache's own directories in front).
const MAX_NAME: usize = 255;
const MAX_PATH: usize = 1024;

impl Manifest {
    /// Checks what a manifest (perhaps from a remote) says before any of it names a path: the
    /// key and every input key are stage keys; every file path is a plain relative path (no
    /// `..`, no root, no backslash), listed once, not the manifest itself; every hash is a blake3
    /// hex digest.
    pub fn check(&self) -> Result<()> {
        check_key(&self.key).context("the manifest's key")?;
        if self.files.len() > MAX_FILES {
            bail!(
                "the manifest lists {} files, more than a stage writes (at most {MAX_FILES})",
                self.files.len()
            );
        }
        for (role, keys) in &self.inputs {
            for k in keys {
                check_key(k).with_context(|| format!("input `{role}`"))?;
            }
        }
        let mut seen = BTreeSet::new();
        for f in &self.files {
            check_relative(&f.path)?;
            if f.path.contains('\0')
                || f.path.len() > MAX_PATH
                || f.path.split('/').any(|c| c.len() > MAX_NAME)
            {
                bail!(
                    "file path `{}` is not one a stage writes (a NUL byte, a name over {MAX_NAME} bytes or a path over {MAX_PATH})",
                    f.path.escape_debug()
                );
            }
            if f.path.contains('\\') || f.path == MANIFEST {
                bail!(
                    "file path `{}` is not allowed in a manifest",
                    f.path.escape_debug()
                );
            }
            if !seen.insert(f.path.as_str()) {
                bail!("file `{}` is listed twice", f.path);
            }
            if f.blake3.len() != 64
                || !f
                    .blake3
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                bail!("file `{}` has no valid blake3 digest", f.path);
            }
        }
        Ok(())
    }

    /// The key this manifest's stage has: recomputed from its kind, version, parameters, input
    /// keys, numeric environment (empty for kinds that are not numeric) and external fingerprint.
    pub(crate) fn recomputed_key(&self) -> String {
        super::key::stage_key(
            &self.kind,
            self.version,
            &spike_config::params_from_json(&self.params),
            &self.inputs,
            (!self.env.is_empty()).then_some(&self.env),
            self.external.as_deref(),
        )
    }

    pub fn published(&self) -> impl Iterator<Item = &FileRecord> {
        self.files
            .iter()
            .filter(|f| f.path.starts_with(&format!("{PUBLISH_DIR}/")))
    }
}

pub struct Cache {
    root: PathBuf,
    /// The entries a stage may extend (see `extend`), built on first use.
    extends: Mutex<ExtendIndex>,
}

/// What `verify --cache` found: how much it hashed, and each corrupt entry (key, stage, why).
#[derive(Debug, Default)]
pub struct CacheCheck {
    pub entries: usize,
    pub files: usize,
    pub bytes: u64,
    pub corrupt: Vec<(String, String, String)>,
}

/// Why an entry cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum Validity {
    Valid,
    Missing,
    Corrupt(String),
}

/// Holds the per-key lock; dropped = released.
pub struct KeyLock {
    _file: File,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hasher.finalize().to_hex().to_string(), bytes))
}

fn stat_stamp(path: &Path) -> Option<(u64, u128)> {
    let meta = fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((meta.len(), mtime))
}

impl Cache {
    pub fn open(root: &Path) -> Result<Cache> {
        for sub in [
            "entries",
            "tmp",
            "locks",
            "verified",
            "scratch",
            "fingerprints",
        ] {
            fs::create_dir_all(root.join(sub)).with_context(|| {
                format!("creating the cache directory {}", root.join(sub).display())
            })?;
        }
        Ok(Cache {
            root: root.to_path_buf(),
            extends: Mutex::new(ExtendIndex::default()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Keys and values of `param` of the entries computing `identity` apart from it.
    pub(crate) fn extend_candidates(&self, param: &str, identity: &str) -> Vec<(i64, String)> {
        self.extends
            .lock()
            .expect("extend index lock")
            .lookup(self, param, identity)
    }

    /// The directory of entry `key`, once `key` is checked to be a stage key.
    pub fn entry_dir(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.dir_of(key))
    }

    /// The directory of an already checked key.
    fn dir_of(&self, key: &str) -> PathBuf {
        self.root.join("entries").join(key)
    }

    pub(crate) fn scratch_dir(&self, key: &str) -> PathBuf {
        self.root.join("scratch").join(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        check_key(key).is_ok() && self.dir_of(key).join(MANIFEST).is_file()
    }

    pub fn manifest(&self, key: &str) -> Result<Manifest> {
        let path = self.entry_dir(key)?.join(MANIFEST);
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Checks an entry: the manifest parses, names this key, and every file matches its hash.
    /// Files whose size and modification time are those recorded when they were last hashed are
    /// not hashed again (see [`Cache::validate_fully`]).
    pub fn validate(&self, key: &str) -> Validity {
        self.validation(key, true)
    }

    /// [`Cache::validate`], hashing every file again: what `verify --cache` does to every entry
    /// and a stage does to the entries it reads, so that a change that keeps a file's size and
    /// modification time (bit rot, an edit with its mtime restored) is found.
    pub fn validate_fully(&self, key: &str) -> Validity {
        self.validation(key, false)
    }

    fn validation(&self, key: &str, trust_stamps: bool) -> Validity {
        if !self.contains(key) {
            return Validity::Missing;
        }
        let manifest = match self.manifest(key) {
            Ok(m) => m,
            Err(e) => return Validity::Corrupt(format!("{e:#}")),
        };
        if manifest.key != key {
            return Validity::Corrupt(format!("manifest names key {}", manifest.key));
        }
        if let Err(e) = manifest.check() {
            return Validity::Corrupt(format!("{e:#}"));
        }
        let dir = self.dir_of(key);
        let stamp_path = self.root.join("verified").join(format!("{key}.json"));
        let current: Vec<Option<(u64, u128)>> = manifest
            .files
            .iter()
            .map(|f| stat_stamp(&dir.join(&f.path)))
            .collect();
        if trust_stamps
            && let Ok(text) = fs::read_to_string(&stamp_path)
            && serde_json::from_str::<Vec<Option<(u64, u128)>>>(&text)
                .ok()
                .as_ref()
                == Some(&current)
        {
            return Validity::Valid;
        }
        for f in &manifest.files {
            match hash_file(&dir.join(&f.path)) {
                Ok((hash, bytes)) if hash == f.blake3 && bytes == f.bytes => {}
                Ok((_, bytes)) => {
                    return Validity::Corrupt(format!(
                        "{} does not match its recorded blake3 ({bytes} bytes, recorded {})",
                        f.path, f.bytes
                    ));
                }
                Err(e) => return Validity::Corrupt(format!("{}: {e:#}", f.path)),
            }
        }
        self.stamp(&manifest);
        Validity::Valid
    }

    /// `verify --cache`: every entry validated with every file hashed again. A corrupt entry's
    /// record of when it was last hashed is removed, so the next run hashes it again, finds the
    /// mismatch and recomputes it.
    pub fn verify_all(&self) -> Result<CacheCheck> {
        let mut check = CacheCheck::default();
        for key in self.keys()? {
            let manifest = self.manifest(&key).ok();
            let stage = manifest
                .as_ref()
                .map_or_else(|| "?".into(), |m| m.stage.clone());
            check.entries += 1;
            if let Some(m) = &manifest {
                check.files += m.files.len();
                check.bytes += m.files.iter().map(|f| f.bytes).sum::<u64>();
            }
            if let Validity::Corrupt(why) = self.validate_fully(&key) {
                let stamp = self.root.join("verified").join(format!("{key}.json"));
                fs::remove_file(&stamp).ok();
                check.corrupt.push((key, stage, why));
            }
        }
        Ok(check)
    }

    /// Records the size and mtime of an entry's files, whose hashes were just checked.
    fn stamp(&self, manifest: &Manifest) {
        let dir = self.dir_of(&manifest.key);
        let stamps: Vec<Option<(u64, u128)>> = manifest
            .files
            .iter()
            .map(|f| stat_stamp(&dir.join(&f.path)))
            .collect();
        let path = self
            .root
            .join("verified")
            .join(format!("{}.json", manifest.key));
        if let Ok(text) = serde_json::to_string(&stamps) {
            let _ = write_atomic(&path, text.as_bytes());
        }
    }

    /// Removes an entry (corrupt, or about to be replaced by a forced rerun) without ever
    /// exposing a partial directory under its key.
    pub(crate) fn evict(&self, key: &str) -> Result<()> {
        let dir = self.entry_dir(key)?;
        if dir.exists() {
            let trash = self.fresh_tmp(&format!("{key}.evicted"));
            fs::rename(&dir, &trash).with_context(|| format!("moving {} aside", dir.display()))?;
            fs::remove_dir_all(&trash).ok();
        }
        fs::remove_file(self.root.join("verified").join(format!("{key}.json"))).ok();
        Ok(())
    }

    /// Blocks until this process holds the lock of `key`, saying so when another process holds
    /// it.
    pub fn lock(&self, key: &str) -> Result<KeyLock> {
        let (file, path) = self.lock_file(key)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                eprintln!(
                    "waiting for {}: another process is computing or transferring this entry",
                    path.display()
                );
                tracing::info!(key, "waiting for a lock held by another process");
                file.lock()
                    .with_context(|| format!("locking {}", path.display()))?;
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        Ok(KeyLock { _file: file })
    }

    /// The lock file of `key`, open. A symbolic link there is not followed (opening fails), so
    /// a link planted in `locks/` cannot make this create or touch a file outside the cache.
    fn lock_file(&self, key: &str) -> Result<(File, PathBuf)> {
        use std::os::unix::fs::OpenOptionsExt;
        check_key(key)?;
        let path = self.root.join("locks").join(format!("{key}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| {
                format!(
                    "opening lock {} (a symbolic link there is refused: remove it)",
                    path.display()
                )
            })?;
        Ok((file, path))
    }

    /// The lock of `key` if no other process holds it (`None` if one does).
    pub(crate) fn try_lock(&self, key: &str) -> Result<Option<KeyLock>> {
        let (file, path) = self.lock_file(key)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(KeyLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }

    pub(crate) fn fresh_tmp(&self, stem: &str) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{stem}.{}.{n}", std::process::id()))
    }

    /// A new empty directory to write an entry into. Call with the key's lock held: leftovers of
    /// earlier attempts at this key (killed processes) are removed first.
    pub(crate) fn begin(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        if let Ok(read) = fs::read_dir(self.root.join("tmp")) {
            for e in read.flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{key}."))
                {
                    fs::remove_dir_all(e.path()).ok();
                }
            }
        }
        let dir = self.fresh_tmp(key);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Hashes the files of a finished temporary entry, writes its manifest and renames it into
    /// place (replacing an existing entry of the same key). Call with the key's lock held.
    pub(crate) fn commit(&self, tmp: &Path, mut manifest: Manifest) -> Result<Manifest> {
        manifest.files = list_files(tmp)?
            .into_iter()
            .filter(|p| p != MANIFEST)
            .map(|p| {
                let (blake3, bytes) = hash_file(&tmp.join(&p))?;
                Ok(FileRecord {
                    path: p,
                    blake3,
                    bytes,
                })
            })
            .collect::<Result<_>>()?;
        let text = serde_json::to_string_pretty(&manifest)?;
        let path = tmp.join(MANIFEST);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        sync_dir(tmp);
        let dest = self.entry_dir(&manifest.key)?;
        if dest.exists() {
            self.evict(&manifest.key)?;
        }
        fs::rename(tmp, &dest)
            .with_context(|| format!("moving the finished entry to {}", dest.display()))?;
        sync_directory(&self.root.join("entries"));
        self.stamp(&manifest);
        self.extends
            .lock()
            .expect("extend index lock")
            .add(&manifest);
        fs::remove_dir_all(self.scratch_dir(&manifest.key)).ok();
        Ok(manifest)
    }

    /// blake3 of a file outside the cache (external data), memoised by its size and mtime.
    pub(crate) fn hash_file_memo(&self, path: &Path) -> Result<String> {
        let abs =
            fs::canonicalize(path).with_context(|| format!("{} does not exist", path.display()))?;
        let memo = self.root.join("fingerprints").join(format!(
            "{}.json",
            &blake3::hash(abs.to_string_lossy().as_bytes()).to_hex()[..32]
        ));
        let stamp = stat_stamp(&abs);
        if let Ok(text) = fs::read_to_string(&memo)
            && let Ok((s, hash)) = serde_json::from_str::<(Option<(u64, u128)>, String)>(&text)
            && s.is_some()
            && s == stamp
        {
            return Ok(hash);
        }
        let (hash, _) = hash_file(&abs)?;
        write_atomic(&memo, serde_json::to_string(&(stamp, &hash))?.as_bytes())?;
        Ok(hash)
    }

    /// Moves a complete entry (files and the manifest that lists them, e.g. downloaded and
    /// verified) into place. Call with the key's lock held.
    /// Removes `tmp` on failure.
    pub(crate) fn install(&self, tmp: &Path, key: &str) -> Result<()> {
        let result = self.install_checked(tmp, key);
        if result.is_err() {
            fs::remove_dir_all(tmp).ok();
        }
        result
    }

    fn install_checked(&self, tmp: &Path, key: &str) -> Result<()> {
        check_key(key)?;
        let path = tmp.join(MANIFEST);
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let manifest: Manifest = serde_json::from_str(&text).context("parsing the manifest")?;
        if manifest.key != key {
            bail!("the manifest describes key {}, not {key}", manifest.key);
        }
        manifest.check()?;
        let present: BTreeSet<String> = list_files(tmp)?.into_iter().collect();
        for f in &manifest.files {
            if !present.contains(&f.path) {
                bail!("entry {key} lacks its file {}", f.path);
            }
        }
        sync_dir(tmp);
        let dest = self.dir_of(key);
        if dest.exists() {
            self.evict(key)?;
        }
        fs::rename(tmp, &dest)
            .with_context(|| format!("moving the entry to {}", dest.display()))?;
        sync_directory(&self.root.join("entries"));
        self.stamp(&manifest);
        self.extends
            .lock()
            .expect("extend index lock")
            .add(&manifest);
        Ok(())
    }

    /// Keys of all complete entries.
    pub fn keys(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for e in fs::read_dir(self.root.join("entries"))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().to_string();
            // `contains` skips names that are not keys (a stray `entries/.json`, say).
            if self.contains(&name) {
                keys.push(name);
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// Relative paths (with `/`) of all files under `dir`, sorted.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let e = e?;
            let path = e.path();
            if e.file_type()?.is_dir() {
                walk(base, &path, out)?;
            } else {
                let rel = path.strip_prefix(base).expect("under base");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Writes a file by writing a temporary sibling and renaming it over the target; the sibling is
/// removed if anything fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// An empty temporary file in `dest`'s directory (removed when dropped unless persisted).
fn temp_beside(dest: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = dest.parent().filter(|d| !d.as_os_str().is_empty());
    tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))
        .with_context(|| format!("creating a temporary file beside {}", dest.display()))
}

/// A copy of `src` in a temporary file beside `dest` (removed when dropped unless persisted).
pub(crate) fn copy_beside(src: &Path, dest: &Path) -> Result<tempfile::NamedTempFile> {
    let mut tmp = temp_beside(dest)?;
    let mut from = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    std::io::copy(&mut from, &mut tmp)
        .with_context(|| format!("writing {} (from {})", dest.display(), src.display()))?;
    Ok(tmp)
}

/// Flushes the files of a directory and the directory itself to disk (best effort), so that a
/// rename that publishes it is not visible before its content.
fn sync_dir(dir: &Path) {
    if let Ok(files) = list_files(dir) {
        for f in files {
            if let Ok(file) = File::open(dir.join(f)) {
                let _ = file.sync_all();
            }
        }
    }
    sync_directory(dir);
}

/// Flushes a directory's own entries (a rename into it), not the files under it: after every
/// commit, flushing all of `entries/` again made a run's fsyncs grow with the square of its
/// stages.
fn sync_directory(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Fails with a clear message when a stage tries to write outside its directory.
pub(crate) fn check_relative(name: &str) -> Result<()> {
    let p = Path::new(name);
    if name.is_empty()
        || p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        bail!("artifact name `{name}` must be a plain relative path inside the stage's directory");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_planted_as_a_lock_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let outside = dir.path().join("outside");
        std::os::unix::fs::symlink(
            &outside,
            cache.root().join("locks").join(format!("{K1}.lock")),
        )
        .unwrap();
        let e = format!("{:#}", cache.lock(K1).err().expect("refused"));
        assert!(e.contains("symbolic link"), "{e}");
        assert!(cache.try_lock(K1).is_err());
        assert!(!outside.exists());
        // Any other key locks as before.
        assert!(cache.lock(ABC).is_ok());
    }

    const ABC: &str = "abc00000000000000000000000000000";
    const K1: &str = "00000000000000000000000000000001";

    fn manifest(key: &str) -> Manifest {
        Manifest {
            key: key.into(),
            kind: "k".into(),
            version: 1,
            stage: "s".into(),
            params: serde_json::json!({}),
            inputs: BTreeMap::new(),
            env: BTreeMap::new(),
            external: None,
            files: vec![],
            wall_s: 0.0,
            tool_version: "t".into(),
            created: "now".into(),
        }
    }

    #[test]
    fn commit_then_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let _lock = cache.lock(ABC).unwrap();
        let tmp = cache.begin(ABC).unwrap();
        fs::create_dir_all(tmp.join(PUBLISH_DIR)).unwrap();
        fs::write(tmp.join("a.bin"), b"hello").unwrap();
        fs::write(tmp.join(PUBLISH_DIR).join("f.txt"), b"fig").unwrap();
        let m = cache.commit(&tmp, manifest(ABC)).unwrap();
        assert_eq!(m.files.len(), 2);
        assert_eq!(m.published().count(), 1);
        assert!(!tmp.exists());
        assert_eq!(cache.validate(ABC), Validity::Valid);
        // Same size, different content: the mtime changes, so the hash is rechecked.
        std::thread::sleep(std::time::Duration::from_millis(5));
        fs::write(cache.entry_dir(ABC).unwrap().join("a.bin"), b"jello").unwrap();
        assert!(matches!(cache.validate(ABC), Validity::Corrupt(m) if m.contains("a.bin")));
        cache.evict(ABC).unwrap();
        assert_eq!(cache.validate(ABC), Validity::Missing);
        assert_eq!(cache.validate("nope"), Validity::Missing);
    }

    #[test]
    fn uncommitted_work_is_invisible_and_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let tmp = cache.begin(K1).unwrap();
        fs::write(tmp.join("x"), b"partial").unwrap();
        assert!(!cache.contains(K1));
        assert!(cache.keys().unwrap().is_empty());
        let tmp2 = cache.begin(K1).unwrap();
        assert!(!tmp.exists() && tmp2.exists());
    }

    #[test]
    fn relative_names_only() {
        assert!(check_relative("a/b.parquet").is_ok());
        assert!(check_relative("../x").is_err());
        assert!(check_relative("/etc/passwd").is_err());
    }
}
