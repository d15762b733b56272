//! CIFAR-10 in its original binary format: parsing with validation, finding a local copy, and
//! downloading and extracting the official archive.
//!
//! A record is 3073 bytes: one label byte (0-9), then 3072 pixel bytes: 1024 red, 1024 green,
//! 1024 blue, each a 32x32 plane in row-major order. Files have no header.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub(crate) const RECORD: usize = 3073;
pub const PIXELS: usize = 3072;
pub(crate) const CLASSES: usize = 10;
pub(crate) const OFFICIAL_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// The md5 the dataset's home page publishes for `cifar-10-binary.tar.gz`.
pub const OFFICIAL_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
/// Where the download is extracted (inside the project's `data/` directory).
pub const EXTRACTED_DIR: &str = "cifar-10-batches-bin";
pub const ENV_DIR: &str = "SPIKE_CIFAR10_DIR";
/// Written next to the extracted batches: the archive's md5 and, on the next line, the
/// fingerprint of the extracted files ([`fingerprint`]). While the files still have that
/// fingerprint, the archive's md5 identifies the data.
pub(crate) const MARKER: &str = ".downloaded-md5";

#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    pub labels: Vec<u8>,
    /// `labels.len() * 3072` bytes, record by record.
    pub pixels: Vec<u8>,
}

impl Images {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }
    pub fn extend(&mut self, other: Images) {
        self.labels.extend(other.labels);
        self.pixels.extend(other.pixels);
    }
}

/// Parses the records of one file; errors name the file and the problem.
pub fn parse(bytes: &[u8], file: &Path) -> Result<Images> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        bail!(
            "{}: {} bytes is not a whole number of CIFAR-10 records ({RECORD} bytes each: 1 label + 3072 pixels); the file is truncated or not in the binary format",
            file.display(),
            bytes.len()
        );
    }
    let n = bytes.len() / RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * PIXELS);
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            bail!(
                "{}: record {i} (byte offset {}) has label {}, but CIFAR-10 labels are 0-9; the file is corrupt",
                file.display(),
                i * RECORD,
                rec[0]
            );
        }
        labels.push(rec[0]);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok(Images { labels, pixels })
}

pub(crate) fn read_file(path: &Path) -> Result<Images> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&bytes, path)
}

/// The binary files of a local copy: training files (`data_batch_*.bin`, `train*.bin`) in
/// name order and test files (`test*.bin`). A single file is a training set.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub train: Vec<PathBuf>,
    pub test: Vec<PathBuf>,
}

impl Source {
    pub fn at(path: &Path) -> Result<Source> {
        if path.is_file() {
            return Ok(Source {
                train: vec![path.to_path_buf()],
                test: vec![],
            });
        }
        if !path.is_dir() {
            bail!("{} does not exist", path.display());
        }
        let mut train = Vec::new();
        let mut test = Vec::new();
        for e in fs::read_dir(path).with_context(|| format!("listing {}", path.display()))? {
            let p = e?.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if !name.ends_with(".bin") {
                continue;
            }
            if name.starts_with("data_batch") || name.starts_with("train") {
                train.push(p);
            } else if name.starts_with("test") {
                test.push(p);
            }
        }
        train.sort();
        test.sort();
        if train.is_empty() {
            bail!(
                "{} has no CIFAR-10 training batches (data_batch_1.bin ... or train*.bin)",
                path.display()
            );
        }
        Ok(Source { train, test })
    }

    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.train.iter().chain(&self.test)
    }

    pub fn read(&self) -> Result<(Images, Option<Images>)> {
        let read_all = |files: &[PathBuf]| -> Result<Images> {
            let mut all = Images {
                labels: vec![],
                pixels: vec![],
            };
            for f in files {
                all.extend(read_file(f)?);
            }
            Ok(all)
        };
        let train = read_all(&self.train)?;
        let test = if self.test.is_empty() {
            None
        } else {
            Some(read_all(&self.test)?)
        };
        Ok((train, test))
    }
}

/// Where CIFAR-10 comes from, in order: an explicit path (`--cifar10-dir` or
/// `SPIKE_CIFAR10_DIR` over the pipeline parameter), the extracted download under `data/`, else
/// the official download.
#[derive(Clone, Debug, PartialEq)]
pub enum Location {
    Local(PathBuf),
    Download,
}

pub fn locate(given: Option<&Path>, param: Option<&str>, data_dir: &Path) -> Location {
    if let Some(p) = given.map(Path::to_path_buf).or(param.map(PathBuf::from)) {
        return Location::Local(p);
    }
    let extracted = data_dir.join(EXTRACTED_DIR);
    if extracted.is_dir() {
        return Location::Local(extracted);
    }
    Location::Download
}

/// The fingerprint of the batches at `path`: `name=<first 16 hex digits of blake3>` of each
/// file, space-separated, with `hash` giving a file's blake3.
pub(crate) fn fingerprint(path: &Path, hash: &dyn Fn(&Path) -> Result<String>) -> Result<String> {
    let source = Source::at(path)?;
    let mut parts = Vec::new();
    for f in source.files() {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let h = hash(f)?;
        parts.push(format!("{name}={}", &h[..16.min(h.len())]));
    }
    Ok(parts.join(" "))
}

/// The md5 of the archive a directory was extracted from and the fingerprint its files had
/// then, if the directory has a marker that records both (older markers hold the md5 alone).
pub fn downloaded(dir: &Path) -> Option<(String, String)> {
    let text = fs::read_to_string(dir.join(MARKER)).ok()?;
    let mut lines = text.lines();
    let md5 = lines.next()?.trim().to_string();
    let files = lines.next()?.trim().to_string();
    Some((md5, files))
}

/// How to get CIFAR-10 onto a machine without network.
pub(crate) fn offline_help(data_dir: &Path) -> String {
    format!(
        "to use a local copy, set {ENV_DIR}=/path/to/cifar-10-batches-bin (a directory with data_batch_1.bin ... test_batch.bin, or a single .bin file), pass --cifar10-dir, or copy the batches into {}",
        data_dir.join(EXTRACTED_DIR).display()
    )
}

/// Downloads `url` into `data_dir`, checks its md5, and extracts the `.bin` batches and
/// `batches.meta.txt` by streaming into `data_dir/cifar-10-batches-bin/`. Nothing is left in
/// place unless everything succeeded. `progress(done, total)` sees the bytes downloaded; `hash`
/// gives a file's blake3, for the marker's fingerprint of the extracted files.
pub fn download(
    url: &str,
    md5: &str,
    data_dir: &Path,
    progress: &dyn Fn(u64, Option<u64>),
    hash: &dyn Fn(&Path) -> Result<String>,
) -> Result<PathBuf> {
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let archive = data_dir.join(".cifar-10-binary.tar.gz.partial");
    let result = (|| -> Result<PathBuf> {
        fetch_url(url, &archive, progress).with_context(|| format!("downloading {url}"))?;
        let got = file_md5(&archive)?;
        if got != md5.to_ascii_lowercase() {
            bail!(
                "the archive downloaded from {url} has md5 {got}, expected {md5}: the download is corrupt or incomplete; try again"
            );
        }
        extract(&archive, data_dir, md5, hash)
            .with_context(|| format!("extracting the archive downloaded from {url}"))
    })();
    fs::remove_file(&archive).ok();
    result
}

fn file_md5(path: &Path) -> Result<String> {
    use md5::{Digest, Md5};
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Streams the gzip'd tar into a temporary directory, then renames it into place.
fn extract(
    archive: &Path,
    data_dir: &Path,
    md5: &str,
    hash: &dyn Fn(&Path) -> Result<String>,
) -> Result<PathBuf> {
    // Removed when dropped, so a failed or interrupted extraction leaves nothing behind.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{EXTRACTED_DIR}.tmp"))
        .tempdir_in(data_dir)
        .with_context(|| format!("creating a temporary directory in {}", data_dir.display()))?;
    let dest = data_dir.join(EXTRACTED_DIR);
    {
        let tmp = tmp.path();
        let gz = flate2::read::GzDecoder::new(fs::File::open(archive)?);
        let mut tar = tar::Archive::new(gz);
        let mut found = 0;
        for entry in tar.entries().context("reading the tar stream")? {
            let mut entry = entry.context("the archive is truncated or corrupt")?;
            let path = entry.path()?.to_path_buf();
            let Some(name) = path.file_name().map(|n| n.to_string_lossy().to_string()) else {
                continue;
            };
            if !(name.ends_with(".bin") || name == "batches.meta.txt") || name.contains('/') {
                continue;
            }
            let path = tmp.join(&name);
            let mut out =
                fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            std::io::copy(&mut entry, &mut out)
                .with_context(|| format!("the archive is truncated in {name}"))?;
            out.flush()
                .with_context(|| format!("writing {}", path.display()))?;
            if name.ends_with(".bin") {
                read_file(&tmp.join(&name))?;
                found += 1;
            }
        }
        if found == 0 {
            bail!("the archive holds no .bin batches");
        }
        let files = fingerprint(tmp, hash)?;
        fs::write(
            tmp.join(MARKER),
            format!("{}\n{files}\n", md5.to_ascii_lowercase()),
        )
        .with_context(|| format!("writing {}", tmp.join(MARKER).display()))?;
    }
    if dest.exists() {
        fs::remove_dir_all(&dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    fs::rename(tmp.path(), &dest)
        .with_context(|| format!("moving the data to {}", dest.display()))?;
    Ok(dest)
}

/// Without the `http` feature there is no HTTP client: only local copies can be used.
#[cfg(not(feature = "http"))]
fn fetch_url(_url: &str, _to: &Path, _progress: &dyn Fn(u64, Option<u64>)) -> Result<()> {
    anyhow::bail!(
        "this build of spike-pipe has no HTTP client: rebuild with `--features http` (on by default) or use a local copy"
    )
}

/// GET `url` into `to` with object_store's HTTP client (the same stack as the remote cache).
#[cfg(feature = "http")]
fn fetch_url(url: &str, to: &Path, progress: &dyn Fn(u64, Option<u64>)) -> Result<()> {
    use futures::StreamExt;
    use object_store::ObjectStoreExt;
    let (base, name) = url.rsplit_once('/').context("the URL has no file name")?;
    let store = object_store::http::HttpBuilder::new()
        .with_url(base)
        .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
        .build()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let result = store
            .get(&object_store::path::Path::from(name))
            .await
            .map_err(|e| anyhow::anyhow!("{}", root_cause(&e)))?;
        let total = Some(result.meta.size);
        let mut out = fs::File::create(to).with_context(|| format!("creating {}", to.display()))?;
        let mut done = 0u64;
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            out.write_all(&chunk)?;
            done += chunk.len() as u64;
            progress(done, total);
        }
        out.flush()?;
        Ok(())
    })
}

/// The innermost error of a chain: object_store's HTTP errors repeat every layer's message
/// ("Generic HTTP error: ... error sending request: ... dns error: ..."); the last one says it.
#[cfg(feature = "http")]
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: u8, fill: u8) -> Vec<u8> {
        let mut r = vec![fill; RECORD];
        r[0] = label;
        r
    }

    #[test]
    fn parses_and_validates() {
        let bytes: Vec<u8> = [record(3, 7), record(9, 1)].concat();
        let imgs = parse(&bytes, Path::new("x.bin")).unwrap();
        assert_eq!(imgs.labels, vec![3, 9]);
        assert_eq!(imgs.image(1)[0], 1);
        let e = parse(&bytes[..RECORD + 10], Path::new("cut.bin"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cut.bin") && e.contains("not a whole number of CIFAR-10 records"),
            "{e}"
        );
        let bad: Vec<u8> = [record(3, 0), record(12, 0)].concat();
        let e = parse(&bad, Path::new("bad.bin")).unwrap_err().to_string();
        assert!(
            e.contains("bad.bin: record 1") && e.contains("label 12"),
            "{e}"
        );
    }
}
