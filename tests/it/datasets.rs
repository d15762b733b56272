//! Datasets: the real CIFAR-10 subset in ../shared, the download path against a local HTTP
//! server serving archives built here, and the error cases.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common::*;
use spike_pipe::datasets::cifar10;
use spike_pipe::table::{col_f64_lists, col_i64, read_parquet};

/// The shared real subset (SPIKE_CIFAR10_DIR, or ../shared/data/cifar10 beside the project).
fn shared_cifar() -> PathBuf {
    let dir = std::env::var(cifar10::ENV_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10"));
    assert!(
        dir.join("train_2048.bin").is_file(),
        "the shared CIFAR-10 subset is missing at {}",
        dir.display()
    );
    dir
}

fn entry(p: &Proj, stage: &str, file: &str) -> PathBuf {
    p.cache().join("entries").join(&p.keys()[stage]).join(file)
}

const SUBSETS: &str = r#"
stages:
  - name: data.cifar10
    kind: cifar10
  - name: data.first1k
    kind: cifar10_subset
    needs: {source: data.cifar10}
    params: {n_train: 1000, n_test: 100, standardize: none}
  - name: data.balanced
    kind: cifar10_subset
    needs: {source: data.cifar10}
    params: {n_train: 500, train_selection: balanced, seed: 3}
"#;

#[test]
fn the_shared_subset_is_real_cifar10() {
    let p = Proj::new(SUBSETS);
    let out = p
        .command(&["repro"])
        .env(cifar10::ENV_DIR, shared_cifar())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let all = read_parquet(&entry(&p, "data.cifar10", "train.parquet")).unwrap();
    let labels = col_i64(&all, "label").unwrap();
    assert_eq!(labels.len(), 2048);
    // SOURCE.md: the well-known start of data_batch_1 and the per-class counts of the 2048.
    assert_eq!(
        &labels[..20],
        &[6, 9, 9, 4, 1, 1, 2, 7, 8, 3, 4, 7, 7, 2, 9, 9, 9, 3, 2, 6]
    );
    let mut counts = [0usize; 10];
    labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [209, 198, 208, 198, 214, 188, 210, 205, 208, 210]);
    // The published first row of data_batch_1[0] (red channel).
    let pixels = spike_pipe::table::col_u8_lists(&all, "pixels").unwrap();
    assert_eq!(
        &pixels[0][..12],
        &[59, 43, 50, 68, 98, 119, 139, 145, 149, 149, 131, 125]
    );
    // Per-channel means near the published CIFAR-10 training means.
    let rows: Vec<&[u8]> = pixels.iter().map(Vec::as_slice).collect();
    let (mean, _) = spike_pipe::stages::cifar10_subset::statistics(&rows, false);
    for (m, published) in mean.iter().zip([0.4914, 0.4822, 0.4465]) {
        assert!((m - published).abs() < 0.002, "{m} vs {published}");
    }

    // The first 1000: their class counts equal those of the raw file's first 1000 records.
    let raw = std::fs::read(shared_cifar().join("train_2048.bin")).unwrap();
    let mut raw_counts = [0usize; 10];
    raw.chunks(3073)
        .take(1000)
        .for_each(|r| raw_counts[r[0] as usize] += 1);
    let first = read_parquet(&entry(&p, "data.first1k", "train.parquet")).unwrap();
    let mut first_counts = [0usize; 10];
    col_i64(&first, "label")
        .unwrap()
        .iter()
        .for_each(|&l| first_counts[l as usize] += 1);
    assert_eq!(first_counts, raw_counts);
    // Scaled to [0, 1] without standardisation: pixel 0 of image 0 is 59/255.
    let px = col_f64_lists(&first, "pixels").unwrap();
    assert!((px[0][0] - 59.0 / 255.0).abs() < 1e-6);
    // The test records are interleaved by class (SOURCE.md): label i % 10.
    let test = read_parquet(&entry(&p, "data.first1k", "test.parquet")).unwrap();
    let tl = col_i64(&test, "label").unwrap();
    assert_eq!(tl, (0..100).map(|i| i % 10).collect::<Vec<i64>>());

    let bal = read_parquet(&entry(&p, "data.balanced", "train.parquet")).unwrap();
    let mut bal_counts = [0usize; 10];
    col_i64(&bal, "label")
        .unwrap()
        .iter()
        .for_each(|&l| bal_counts[l as usize] += 1);
    assert_eq!(bal_counts, [50; 10]);
    // Per-channel standardisation on the training subset: mean 0, std 1 per channel.
    let bx = col_f64_lists(&bal, "pixels").unwrap();
    for c in 0..3 {
        let vals: Vec<f64> = bx
            .iter()
            .flat_map(|r| r[c * 1024..(c + 1) * 1024].to_vec())
            .collect();
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        let v = vals.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / vals.len() as f64;
        assert!(
            m.abs() < 1e-4 && (v - 1.0).abs() < 1e-3,
            "channel {c}: mean {m}, var {v}"
        );
    }

    // A second run reuses everything.
    let out = p
        .command(&["repro"])
        .env(cifar10::ENV_DIR, shared_cifar())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        p.outcomes().values().all(|o| o == "cached"),
        "{:?}",
        p.outcomes()
    );
}

#[test]
fn asking_for_more_images_than_the_source_has_is_an_error() {
    let p = Proj::new(&SUBSETS.replace("n_train: 1000", "n_train: 5000"));
    let out = p
        .command(&["repro", "--keep-going"])
        .env(cifar10::ENV_DIR, shared_cifar())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let rec = p.latest();
    let err = rec["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "data.first1k")
        .unwrap()["error"]
        .to_string();
    assert!(
        err.contains("asks for 5000 images but the source has only 2048"),
        "{err}"
    );
}

fn record(label: u8, seed: u8) -> Vec<u8> {
    let mut r: Vec<u8> = (0..3073u32).map(|i| (i as u8).wrapping_mul(seed)).collect();
    r[0] = label;
    r
}

/// A .tar.gz in the official layout, with 30 training and 10 test records.
fn archive() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("cifar-10-batches-bin/{name}"), bytes)
            .unwrap();
    };
    add(
        "batches.meta.txt",
        b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n",
    );
    add(
        "data_batch_1.bin",
        &(0..20)
            .flat_map(|i| record(i % 10, i + 1))
            .collect::<Vec<u8>>(),
    );
    add(
        "data_batch_2.bin",
        &(0..10)
            .flat_map(|i| record(9 - i, i + 3))
            .collect::<Vec<u8>>(),
    );
    add(
        "test_batch.bin",
        &(0..10)
            .flat_map(|i| record(i, 2 * i + 1))
            .collect::<Vec<u8>>(),
    );
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Serves `body` at /cifar-10-binary.tar.gz on 127.0.0.1 (an ephemeral port) until dropped.
struct Server {
    url: String,
    server: std::sync::Arc<tiny_http::Server>,
}

impl Server {
    fn start(body: Vec<u8>) -> Server {
        let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let s = server.clone();
        std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let resp = if req.url() == "/cifar-10-binary.tar.gz" {
                    tiny_http::Response::from_data(body.clone()).boxed()
                } else {
                    tiny_http::Response::empty(404).boxed()
                };
                let _ = req.respond(resp);
            }
        });
        Server {
            url: format!("http://127.0.0.1:{port}/cifar-10-binary.tar.gz"),
            server,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn download_pipeline(url: &str, md5: &str) -> String {
    format!(
        r#"
stages:
  - name: data.cifar10
    kind: cifar10
    params: {{url: "{url}", md5: "{md5}"}}
  - name: data.small
    kind: cifar10_subset
    needs: {{source: data.cifar10}}
    params: {{n_train: 20, n_test: 10}}
  - name: train.toy
    kind: train_toy
    params: {{steps: 20}}
  - name: figure.fig3_2
    kind: figure_toy
    needs: {{train: train.toy}}
    params: {{grid: 5}}
"#
    )
}

/// `repro ARGS` with no local CIFAR-10 copy named in the environment.
fn repro_without_local_copy(p: &Proj, args: &[&str]) -> std::process::Output {
    let mut all = vec!["repro"];
    all.extend(args);
    p.command(&all)
        .env_remove(cifar10::ENV_DIR)
        .output()
        .unwrap()
}

#[test]
fn download_verify_and_extract_from_a_local_server() {
    let body = archive();
    let server = Server::start(body.clone());
    let p = Proj::new(&download_pipeline(&server.url, &md5_hex(&body)));
    let out = repro_without_local_copy(&p, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = p.path().join("data").join(cifar10::EXTRACTED_DIR);
    assert!(dir.join("data_batch_1.bin").is_file() && dir.join("test_batch.bin").is_file());
    let train = read_parquet(&entry(&p, "data.cifar10", "train.parquet")).unwrap();
    let labels = col_i64(&train, "label").unwrap();
    let expected: Vec<i64> = (0..20)
        .map(|i| i % 10)
        .chain((0..10).map(|i| 9 - i))
        .collect();
    assert_eq!(
        labels, expected,
        "batches in order data_batch_1, data_batch_2"
    );
    let leftovers: Vec<_> = std::fs::read_dir(p.path().join("data"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    // Never downloaded again: the stage is cached, and even a new cache uses the extracted copy.
    drop(server);
    let out = repro_without_local_copy(&p, &[]);
    assert!(out.status.success());
    assert!(p.outcomes().values().all(|o| o == "cached"));
    let keys = p.keys();
    let out = repro_without_local_copy(&p, &["--cache-dir", "other-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        p.keys(),
        keys,
        "the extracted download has the same key as the download"
    );
    // An edited batch beside the download's marker is no longer the download: its key changes
    // and the stage reads what the files now hold.
    let batch = dir.join("data_batch_1.bin");
    let mut bytes = std::fs::read(&batch).unwrap();
    bytes[1] ^= 0xff;
    std::fs::write(&batch, &bytes).unwrap();
    let out = repro_without_local_copy(&p, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(p.keys()["data.cifar10"], keys["data.cifar10"]);
    assert_eq!(p.outcomes()["data.cifar10"], "computed");
    let record = p.latest();
    let stage = record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "data.cifar10")
        .unwrap();
    let external = stage["external"].as_str().unwrap().to_string();
    assert!(
        external.starts_with("local data_batch_1.bin="),
        "{external}"
    );
}

fn assert_failed_cleanly(p: &Proj, expect: &[&str]) {
    let out = p
        .command(&["repro", "--keep-going"])
        .env_remove(cifar10::ENV_DIR)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let o = p.outcomes();
    assert_eq!(o["data.cifar10"], "failed");
    assert_eq!(o["data.small"], "skipped");
    assert_eq!(
        o["figure.fig3_2"], "computed",
        "figures without CIFAR-10 are still made"
    );
    assert!(p.path().join("outputs/figures/fig3_2.parquet").is_file());
    let rec = p.latest();
    let err = rec["stages"][0]["error"].as_str().unwrap().to_string();
    for e in expect {
        assert!(err.contains(e), "expected `{e}` in: {err}");
    }
    let data = p.path().join("data");
    let left: Vec<_> = std::fs::read_dir(&data)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "partial files left in data/: {left:?}");
    assert!(
        std::fs::read_dir(p.cache().join("entries"))
            .unwrap()
            .flatten()
            .all(|e| {
                !std::fs::read_to_string(e.path().join("manifest.json"))
                    .unwrap()
                    .contains("\"cifar10\"")
            })
    );
}

#[test]
fn a_wrong_checksum_is_refused() {
    let body = archive();
    let server = Server::start(body);
    let p = Proj::new(&download_pipeline(&server.url, &"0".repeat(32)));
    assert_failed_cleanly(
        &p,
        &[
            "md5",
            "expected 00000000000000000000000000000000",
            "cifar-10-binary.tar.gz",
        ],
    );
}

#[test]
fn a_truncated_archive_is_refused() {
    let body = archive();
    let cut = body[..body.len() / 2].to_vec();
    // The checksum of the full archive: caught by the md5.
    let server = Server::start(cut.clone());
    let p = Proj::new(&download_pipeline(&server.url, &md5_hex(&body)));
    assert_failed_cleanly(&p, &["md5", "corrupt or incomplete"]);
    // A checksum that matches the cut bytes: caught while extracting.
    let p = Proj::new(&download_pipeline(&server.url, &md5_hex(&cut)));
    assert_failed_cleanly(&p, &["extracting", "truncated"]);
}

#[test]
fn offline_without_a_local_copy_says_where_to_put_the_files() {
    let p = Proj::new(&download_pipeline(
        "http://127.0.0.1:9/cifar-10-binary.tar.gz",
        cifar10::OFFICIAL_MD5,
    ));
    assert_failed_cleanly(
        &p,
        &[
            "could not be downloaded",
            "SPIKE_CIFAR10_DIR",
            "data/cifar-10-batches-bin",
            // The cause, once, not object_store's chain of layers.
            "cifar-10-binary.tar.gz: Connection refused",
        ],
    );
}

#[test]
fn bad_local_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes: Vec<u8> = (0..3).flat_map(|i| record(i, 1)).collect();
    bytes.truncate(3 * 3073 - 5);
    std::fs::write(dir.path().join("data_batch_1.bin"), &bytes).unwrap();
    let p = Proj::new(SUBSETS);
    let out = p
        .command(&["repro", "data.cifar10"])
        .env(cifar10::ENV_DIR, dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = p.latest()["stages"][0]["error"].to_string();
    assert!(
        err.contains("data_batch_1.bin") && err.contains("not a whole number of CIFAR-10 records"),
        "{err}"
    );

    let bad: Vec<u8> = [record(3, 1), record(11, 1)].concat();
    std::fs::write(dir.path().join("data_batch_1.bin"), &bad).unwrap();
    let out = p
        .command(&["repro", "data.cifar10"])
        .env(cifar10::ENV_DIR, dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = p.latest()["stages"][0]["error"].to_string();
    assert!(
        err.contains("data_batch_1.bin: record 1") && err.contains("label 11"),
        "{err}"
    );
    // A changed local file changes the key: the status says so.
    let st = p
        .command(&["status"])
        .env(cifar10::ENV_DIR, dir.path())
        .output()
        .unwrap();
    assert!(stdout(&st).contains("data.cifar10"), "{}", stdout(&st));
}

#[test]
fn one_dimensional_targets_and_points() {
    let p = Proj::new(
        r#"
stages:
  - name: data.fig4_1
    kind: dataset_1d
    params: {target: tanh_pair, n_train: 15, train_range: [-12, 12], n_test: 14, test_range: [-11.14, 11.14]}
"#,
    );
    p.ok(&["repro"]);
    let train = read_parquet(&entry(&p, "data.fig4_1", "train.parquet")).unwrap();
    let x = spike_pipe::table::col_f64(&train, "x").unwrap();
    let y = spike_pipe::table::col_f64(&train, "y").unwrap();
    assert_eq!(x.len(), 15);
    assert_eq!((x[0], x[7], x[14]), (-12.0, 0.0, 12.0));
    assert!((y[14] - ((12.0f64 - 6.0).tanh() + 18.0f64.tanh())).abs() < 1e-15);
    let test = read_parquet(&entry(&p, "data.fig4_1", "test.parquet")).unwrap();
    let tx = spike_pipe::table::col_f64(&test, "x").unwrap();
    assert_eq!(tx.len(), 14);
    assert!((tx[0] + 11.14).abs() < 1e-12 && (tx[13] - 11.14).abs() < 1e-12);

    let bad = Proj::new(
        "stages:\n  - name: d\n    kind: dataset_1d\n    params: {target: cos, n_train: 3, train_range: [0, 1]}\n",
    );
    let out = bad.run(&["repro"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("params.target: expected one of sin_sin4, tanh_pair, relu_pair"),
        "{}",
        stderr(&out)
    );
}
