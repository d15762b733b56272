//! The remote cache against a `file://` directory and real S3-compatible servers (moto and
//! SeaweedFS, started here on free ports): machine A pushes, machine B pulls and computes
//! nothing; interrupted pushes, corrupted blobs and unreachable remotes.

use std::path::Path;

use crate::common::*;
use crate::servers::{self, S3Server};

const PIPELINE: &str = r#"
stages:
  - name: train.toy
    kind: train_toy
    params: {steps: 80}
  - name: figure.fig3_2
    kind: figure_toy
    needs: {train: train.toy}
    params: {grid: 11}
  - name: data.sweep
    kind: dataset_1d
    params: {target: relu_pair, n_train: 8, train_range: [-1, 1]}
  - name: train.sweep
    kind: train
    needs: {data: data.sweep}
    matrix: {lr: [0.01, 0.02]}
    params: {model: fnn, width: 6, activation: relu, epochs: 50, checkpoint_every: 10, sharpness_every: 10}
  - name: condensation.sweep
    kind: condensation
    foreach: train.sweep
    needs: {train: train.sweep}
  - name: figure.sweep
    kind: figure_sweep
    needs: {runs: train.sweep, cond: condensation.sweep}
    params: {id: sweep, x: lr}
"#;

const STAGES: usize = 8;

fn s3_env(cmd: &mut std::process::Command, server: &S3Server) {
    cmd.env("AWS_ENDPOINT_URL", server.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .env_remove("AWS_PROFILE");
}

fn run_with(p: &Proj, args: &[&str], server: Option<&S3Server>) -> std::process::Output {
    let mut c = p.command(args);
    if let Some(s) = server {
        s3_env(&mut c, s);
    }
    c.output().unwrap()
}

fn ok_with(p: &Proj, args: &[&str], server: Option<&S3Server>) -> String {
    let out = run_with(p, args, server);
    assert!(
        out.status.success(),
        "spike-pipe {args:?}:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn same_figures(a: &Proj, b: &Proj) {
    for f in [
        "fig3_2.parquet",
        "sweep.parquet",
        "sweep.png",
        "sweep.claims.json",
    ] {
        let x = std::fs::read(a.path().join("outputs/figures").join(f)).unwrap();
        let y = std::fs::read(b.path().join("outputs/figures").join(f)).unwrap();
        assert!(x == y, "{f} differs between machine A and machine B");
    }
}

/// Machine A computes and pushes; machine B (another checkout and cache) pulls and computes none.
fn round_trip(remote: &str, server: Option<&S3Server>) {
    let a = Proj::new(PIPELINE);
    ok_with(&a, &["--remote", remote, "repro", "--push"], server);
    assert_eq!(
        a.outcomes().values().filter(|o| *o == "computed").count(),
        STAGES
    );
    let b = Proj::new(PIPELINE);
    ok_with(&b, &["--remote", remote, "repro", "--pull"], server);
    let o = b.outcomes();
    assert!(o.values().all(|v| v == "pulled"), "{o:?}");
    same_figures(&a, &b);
    // Pushing again uploads nothing; a third machine pulls everything with `pull`.
    let counts: serde_json::Value = serde_json::from_str(&ok_with(
        &a,
        &["--remote", remote, "push", "--json"],
        server,
    ))
    .unwrap();
    assert_eq!(
        (counts["entries"].as_u64(), counts["skipped"].as_u64()),
        (Some(0), Some(STAGES as u64))
    );
    let out = ok_with(&a, &["--remote", remote, "push"], server);
    assert!(
        out.contains(&format!(
            "pushed 0 entries (0 blobs, 0.0 MB); {STAGES} already on the remote"
        )),
        "{out}"
    );
    let c = Proj::new(PIPELINE);
    let out = ok_with(&c, &["--remote", remote, "pull", "-j", "3"], server);
    assert!(out.contains(&format!("pulled {STAGES} entries")), "{out}");
    ok_with(&c, &["repro"], None);
    assert!(c.outcomes().values().all(|v| v == "cached"));
}

#[test]
fn file_remote_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(&format!("file://{}", dir.path().display()), None);
}

#[test]
fn moto_round_trip_and_aws_profiles() {
    let server = S3Server::moto();
    server.bucket("spike");
    round_trip("s3://spike/team/cache", Some(&server));
    // Credentials from a profile of a shared credentials file instead of the environment.
    let creds = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        creds.path(),
        "[lab]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!(
            "[profile lab]\nregion = us-east-1\nendpoint_url = {}\n",
            server.endpoint()
        ),
    )
    .unwrap();
    let d = Proj::new(PIPELINE);
    let out = d
        .command(&["--remote", "s3://spike/team/cache", "pull"])
        .env("AWS_SHARED_CREDENTIALS_FILE", creds.path())
        .env("AWS_CONFIG_FILE", config.path())
        .env("AWS_PROFILE", "lab")
        .env("AWS_ALLOW_HTTP", "true")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("pulled {STAGES} entries")));
}

#[test]
fn seaweedfs_round_trip() {
    let server = S3Server::seaweedfs();
    server.bucket("spike");
    round_trip("s3://spike/cache", Some(&server));
}

fn remote_files(dir: &Path, sub: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join(sub))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect()
}

#[test]
fn an_interrupted_push_leaves_the_remote_readable() {
    let dir = tempfile::tempdir().unwrap();
    let remote = format!("file://{}", dir.path().display());
    let a = Proj::new(PIPELINE);
    ok_with(&a, &["repro"], None);
    // Make the upload of one entry's manifest fail after its blobs went up: a push interrupted
    // at its last step.
    let key = a.keys()["train.toy"].clone();
    std::fs::create_dir_all(
        dir.path()
            .join("entries")
            .join(format!("{key}.json"))
            .join("blocked"),
    )
    .unwrap();
    let out = run_with(&a, &["--remote", &remote, "push"], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&key), "{}", stderr(&out));
    assert!(!remote_files(dir.path(), "blobs").is_empty());
    std::fs::remove_dir_all(dir.path().join("entries").join(format!("{key}.json"))).unwrap();
    // Every complete entry is usable; the interrupted one is simply absent.
    let b = Proj::new(PIPELINE);
    ok_with(&b, &["--remote", &remote, "repro", "--pull"], None);
    let o = b.outcomes();
    assert_eq!(o["train.toy"], "computed");
    assert_eq!(o.values().filter(|v| *v == "pulled").count(), STAGES - 1);
    same_figures(&a, &b);
}

#[test]
fn a_corrupted_remote_blob_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let remote = format!("file://{}", dir.path().display());
    let a = Proj::new(PIPELINE);
    ok_with(&a, &["--remote", &remote, "repro", "--push"], None);
    let key = a.keys()["figure.fig3_2"].clone();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("entries").join(format!("{key}.json"))).unwrap(),
    )
    .unwrap();
    let hash = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "publish/fig3_2.parquet")
        .unwrap()["blake3"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = dir.path().join("blobs").join(&hash);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0x55;
    std::fs::write(&blob, &bytes).unwrap();

    let b = Proj::new(PIPELINE);
    let out = run_with(&b, &["--remote", &remote, "pull"], None);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("blobs/{hash}")) && err.contains("is corrupt"),
        "{err}"
    );
    assert!(
        !b.cache().join("entries").join(&key).exists(),
        "a corrupt entry landed in the cache"
    );
    // repro --pull refuses it too, computes that stage locally, and gets the right figure.
    let out = run_with(&b, &["--remote", &remote, "repro", "--pull"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("is corrupt"));
    assert_eq!(b.outcomes()["figure.fig3_2"], "computed");
    same_figures(&a, &b);
}

#[test]
fn remote_errors_name_the_remote_and_what_to_check() {
    let a = Proj::new(PIPELINE);
    ok_with(&a, &["repro"], None);
    let before: Vec<_> = std::fs::read_dir(a.cache().join("entries"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    // Nothing listens on port 9.
    let out = a
        .command(&["--remote", "s3://nowhere/cache", "push"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .output()
        .unwrap();
    // An operational failure (3), not bad input (2).
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("remote s3://nowhere/cache") && err.contains("AWS_ENDPOINT_URL"),
        "{err}"
    );
    // A missing bucket.
    let server = S3Server::moto();
    let out = run_with(
        &a,
        &["--remote", "s3://no-such-bucket/x", "push"],
        Some(&server),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("remote s3://no-such-bucket/x")
            && stderr(&out).contains("bucket exists"),
        "{}",
        stderr(&out)
    );
    let after: Vec<_> = std::fs::read_dir(a.cache().join("entries"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before, after, "the local cache changed");
    // Asking for a remote without one configured.
    let out = a.run(&["repro", "--pull"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(
        "no remote cache: set `cache: {remote: URL}` in pipeline.yaml or pass --remote URL"
    ));
}

#[test]
fn the_remote_can_be_configured_in_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let with_cache = format!(
        "cache: {{remote: \"file://{}\", push: true, pull: true}}\n{PIPELINE}",
        dir.path().display()
    );
    let a = Proj::new(&with_cache);
    ok_with(&a, &["repro"], None);
    let b = Proj::new(&with_cache);
    ok_with(&b, &["repro"], None);
    assert!(b.outcomes().values().all(|v| v == "pulled"));
    let bad = Proj::new(&format!("cache: {{remote: x, pul: true}}\n{PIPELINE}"));
    let out = bad.run(&["repro"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cache: unknown field `pul`"),
        "{}",
        stderr(&out)
    );
}

/// A remote the attacker can write to: a directory, or a moto bucket written with raw requests.
enum Hostile {
    Dir(tempfile::TempDir),
    S3(S3Server),
}

impl Hostile {
    fn all() -> Vec<Hostile> {
        let server = S3Server::moto();
        server.bucket("spike");
        vec![
            Hostile::Dir(tempfile::tempdir().unwrap()),
            Hostile::S3(server),
        ]
    }
    fn url(&self) -> String {
        match self {
            Hostile::Dir(d) => format!("file://{}", d.path().display()),
            Hostile::S3(_) => "s3://spike/h".into(),
        }
    }
    fn server(&self) -> Option<&S3Server> {
        match self {
            Hostile::Dir(_) => None,
            Hostile::S3(s) => Some(s),
        }
    }
    fn get(&self, rel: &str) -> Vec<u8> {
        match self {
            Hostile::Dir(d) => std::fs::read(d.path().join(rel)).unwrap(),
            Hostile::S3(s) => servers::s3_object(s, "spike", &format!("h/{rel}"), None),
        }
    }
    fn put(&self, rel: &str, bytes: &[u8]) {
        match self {
            Hostile::Dir(d) => {
                let p = d.path().join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, bytes).unwrap();
            }
            Hostile::S3(s) => {
                servers::s3_object(s, "spike", &format!("h/{rel}"), Some(bytes));
            }
        }
    }
    /// A project computed and pushed here.
    fn seeded(&self) -> Proj {
        let a = Proj::new(PIPELINE);
        ok_with(
            &a,
            &["--remote", &self.url(), "repro", "--push"],
            self.server(),
        );
        a
    }
    /// Pulls into a fresh project; returns it and the failed command's stderr.
    fn pull_fails(&self, args: &[&str]) -> (Proj, String) {
        let b = Proj::new(PIPELINE);
        let url = self.url();
        let mut all = vec!["--remote", url.as_str(), "pull"];
        all.extend(args);
        let out = run_with(&b, &all, self.server());
        assert!(!out.status.success(), "{}", stdout(&out));
        (b, stderr(&out))
    }
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

fn tmp_is_empty(p: &Proj) -> bool {
    std::fs::read_dir(p.cache().join("tmp"))
        .map(|r| r.count() == 0)
        .unwrap_or(true)
}

#[test]
fn hostile_manifests_are_refused_before_anything_is_written() {
    for remote in Hostile::all() {
        let a = remote.seeded();
        let keys = a.keys();
        let (fig, toy) = (&keys["figure.fig3_2"], &keys["train.toy"]);
        let entry = format!("entries/{fig}.json");
        let original = remote.get(&entry);
        let files = json(&original)["files"].as_array().unwrap().clone();
        let escape = format!("spike-escape-{}", std::process::id());
        let absolute = std::env::temp_dir().join(&escape);
        // Paths that leave the entry (each with a real blob's hash, so the hash check alone
        // would not stop the write), the manifest's own name, and a file listed twice.
        let attacks: Vec<(&str, serde_json::Value)> = vec![
            (
                "traversal",
                serde_json::json!(format!("../../../../{escape}")),
            ),
            (
                "absolute",
                serde_json::json!(absolute.display().to_string()),
            ),
            ("manifest name", serde_json::json!("manifest.json")),
            // Once "unexpected NUL byte" and "File name too long (os error 36)", naming nothing.
            ("a NUL byte", serde_json::json!("publish/fig3_2\u{0}.png")),
            (
                "a long name",
                serde_json::json!(format!("publish/{}.png", "x".repeat(300))),
            ),
        ];
        for (what, path) in attacks {
            let mut m = json(&original);
            m["files"][0]["path"] = path;
            remote.put(&entry, &serde_json::to_vec(&m).unwrap());
            let (b, err) = remote.pull_fails(&[]);
            assert!(
                err.contains(&format!("remote {}: ", remote.url()))
                    && err.contains(&format!("entries/{fig}.json was refused")),
                "{what}: {err}"
            );
            assert!(
                !b.path().join(&escape).exists() && !absolute.exists(),
                "{what}: a file escaped"
            );
            assert!(
                !b.cache().join("entries").join(fig).exists() && tmp_is_empty(&b),
                "{what}"
            );
        }
        let mut m = json(&original);
        m["files"] = serde_json::json!([files[0].clone(), files[0].clone()]);
        remote.put(&entry, &serde_json::to_vec(&m).unwrap());
        let (_, err) = remote.pull_fails(&[]);
        assert!(err.contains("is listed twice"), "{err}");
        // Another stage's entry under this key, and this stage with other parameters: the key
        // recomputed from the manifest gives them away.
        let mut other = json(&remote.get(&format!("entries/{toy}.json")));
        other["key"] = serde_json::json!(fig);
        remote.put(&entry, &serde_json::to_vec(&other).unwrap());
        let (b, err) = remote.pull_fails(&[]);
        assert!(
            err.contains(&format!("does not belong to key {fig}")),
            "{err}"
        );
        assert!(!b.cache().join("entries").join(fig).exists());
        let mut edited = json(&original);
        edited["params"]["grid"] = serde_json::json!(13);
        remote.put(&entry, &serde_json::to_vec(&edited).unwrap());
        let (_, err) = remote.pull_fails(&[]);
        assert!(err.contains("does not belong to key"), "{err}");
        // More files than a stage writes: refused before any download (the check was once
        // quadratic, 15 s for 40,000 files).
        let mut many = json(&original);
        many["files"] = (0..20_000)
            .map(|i| {
                let mut f = files[0].clone();
                f["path"] = serde_json::json!(format!("f{i}"));
                f
            })
            .collect();
        remote.put(&entry, &serde_json::to_vec(&many).unwrap());
        let started = std::time::Instant::now();
        let (b, err) = remote.pull_fails(&[]);
        assert!(err.contains("more than a stage writes"), "{err}");
        assert!(tmp_is_empty(&b) && !b.cache().join("entries").join(fig).exists());
        eprintln!("20,000-file manifest refused in {:?}", started.elapsed());
        // A manifest too large to be one is not read to its end.
        remote.put(&entry, &vec![b' '; (16 << 20) + 1]);
        let (_, err) = remote.pull_fails(&[]);
        assert!(err.contains("larger than 16777216 bytes"), "{err}");
        // A blob larger than its entry says: the download stops at the declared size.
        remote.put(&entry, &original);
        let png = files
            .iter()
            .find(|f| f["path"] == "publish/fig3_2.png")
            .unwrap();
        let blob = format!("blobs/{}", png["blake3"].as_str().unwrap());
        let real = remote.get(&blob);
        let mut big = real.clone();
        big.extend(vec![0u8; 1 << 20]);
        remote.put(&blob, &big);
        let (b, err) = remote.pull_fails(&[]);
        assert!(err.contains("download stopped"), "{err}");
        assert!(tmp_is_empty(&b));
        remote.put(&blob, &real);
        // Restored, the remote serves everything again.
        let b = Proj::new(PIPELINE);
        ok_with(
            &b,
            &["--remote", &remote.url(), "repro", "--pull"],
            remote.server(),
        );
        assert!(b.outcomes().values().all(|o| o == "pulled"));
    }
}

#[test]
fn malformed_remote_keys_cannot_touch_the_local_cache() {
    for remote in Hostile::all() {
        let a = remote.seeded();
        let fig = a.keys()["figure.fig3_2"].clone();
        let mut m = json(&remote.get(&format!("entries/{fig}.json")));
        // `entries/.json` with an empty key once made the entry directory `entries/` itself.
        m["key"] = serde_json::json!("");
        remote.put("entries/.json", &serde_json::to_vec(&m).unwrap());
        m["key"] = serde_json::json!("NOT-A-KEY");
        remote.put("entries/NOT-A-KEY.json", &serde_json::to_vec(&m).unwrap());
        // A name that is not UTF-8 (possible in a directory; S3 keys are UTF-8).
        if let Hostile::Dir(d) = &remote {
            use std::os::unix::ffi::OsStrExt;
            let name = std::ffi::OsStr::from_bytes(b"\xff\xfe.json");
            std::fs::write(d.path().join("entries").join(name), b"{}").unwrap();
        }
        let b = Proj::new(PIPELINE);
        ok_with(
            &b,
            &["--remote", &remote.url(), "repro", "--pull"],
            remote.server(),
        );
        let before = std::fs::read_dir(b.cache().join("entries"))
            .unwrap()
            .count();
        let out = run_with(
            &b,
            &["--remote", &remote.url(), "pull", "--all", "-j", "8"],
            remote.server(),
        );
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("skipping") && err.contains("NOT-A-KEY"),
            "{err}"
        );
        if matches!(remote, Hostile::Dir(_)) {
            assert!(err.contains("whose name is not a valid path"), "{err}");
        }
        assert_eq!(
            std::fs::read_dir(b.cache().join("entries"))
                .unwrap()
                .count(),
            before,
            "the local cache changed"
        );
        ok_with(&b, &["repro"], None);
        assert!(b.outcomes().values().all(|o| o == "cached"));
    }
}

#[test]
fn a_rotten_local_file_is_not_pushed_and_is_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let remote = format!("file://{}", dir.path().display());
    let a = Proj::new(PIPELINE);
    ok_with(&a, &["repro"], None);
    let toy = a.keys()["train.toy"].clone();
    let file = a.cache().join("entries").join(&toy).join("log.parquet");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[20] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let out = run_with(&a, &["--remote", &remote, "push"], None);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("log.parquet of local entry") && err.contains("evicted"),
        "{err}"
    );
    assert!(
        !dir.path()
            .join("entries")
            .join(format!("{toy}.json"))
            .exists()
    );
    assert!(!a.cache().join("entries").join(&toy).exists());
    ok_with(&a, &["repro"], None);
    assert_eq!(a.outcomes()["train.toy"], "computed");
    ok_with(&a, &["--remote", &remote, "push"], None);
    assert!(
        dir.path()
            .join("entries")
            .join(format!("{toy}.json"))
            .exists()
    );
}

#[test]
fn identical_stages_pull_in_parallel() {
    // Two identical stages share one key; a parallel pull once took its lock twice and hung.
    let twins = r#"
stages:
  - name: train.a
    kind: train_toy
    params: {steps: 30}
  - name: train.b
    kind: train_toy
    params: {steps: 30}
"#;
    let dir = tempfile::tempdir().unwrap();
    let remote = format!("file://{}", dir.path().display());
    let a = Proj::new(twins);
    ok_with(&a, &["--remote", &remote, "repro", "--push"], None);
    let b = Proj::new(twins);
    let mut child = b
        .command(&["--remote", &remote, "pull", "-j", "8"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().ok();
            panic!("pull -j 8 of two identical stages did not finish in 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success());
    ok_with(&b, &["repro"], None);
    assert!(b.outcomes().values().all(|o| o == "cached"));
}

#[test]
fn an_entry_cannot_publish_another_figures_files() {
    for remote in Hostile::all() {
        let a = remote.seeded();
        let fig = a.keys()["figure.fig3_2"].clone();
        let entry = format!("entries/{fig}.json");
        let original = remote.get(&entry);
        // fig3_2's entry (its key still checks out: files are not part of it) lists fig3_2's
        // claims again as fig5_2's, and a page of the user's.
        let mut m = json(&original);
        let files = m["files"].as_array().unwrap().clone();
        let claims = files
            .iter()
            .find(|f| f["path"] == "publish/fig3_2.claims.json")
            .unwrap()
            .clone();
        for forged in ["publish/fig5_2.claims.json", "publish/index.html"] {
            let mut f = claims.clone();
            f["path"] = serde_json::json!(forged);
            m["files"].as_array_mut().unwrap().push(f);
        }
        remote.put(&entry, &serde_json::to_vec(&m).unwrap());
        // repro --pull refuses the entry and computes the stage here.
        let b = Proj::new(PIPELINE);
        std::fs::create_dir_all(b.path().join("outputs/figures")).unwrap();
        std::fs::write(b.path().join("outputs/figures/index.html"), "mine").unwrap();
        let url = remote.url();
        let out = run_with(
            &b,
            &["--remote", &url, "repro", "figure.fig3_2", "--pull"],
            remote.server(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("refused") && err.contains("fig5_2.claims.json, index.html"),
            "{err}"
        );
        assert_eq!(b.outcomes()["figure.fig3_2"], "computed");
        let figures = b.path().join("outputs/figures");
        assert!(!figures.join("fig5_2.claims.json").exists());
        assert_eq!(
            std::fs::read_to_string(figures.join("index.html")).unwrap(),
            "mine"
        );
        assert!(!figures.join("index.html.bak").exists());
        // `pull` installs it as any entry; the next repro refuses to publish it, evicts it and
        // says how to recompute it, and verify shows no fig5_2 claim.
        let c = Proj::new(PIPELINE);
        ok_with(&c, &["--remote", &url, "pull"], remote.server());
        let out = c.run(&["repro"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("fig5_2.claims.json") && err.contains("rerun `spike-pipe repro`"),
            "{err}"
        );
        assert!(!c.path().join("outputs/figures/fig5_2.claims.json").exists());
        assert!(!c.cache().join("entries").join(&fig).exists());
        let verify = c.run(&["verify"]);
        assert!(!stdout(&verify).contains("fig5_2"), "{}", stdout(&verify));
        let out = c.run(&["repro"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(c.outcomes()["figure.fig3_2"], "computed");
    }
}

/// Runs `args` in `p`, failing the test instead of hanging past 60 s.
fn run_bounded(p: &Proj, args: &[&str]) -> std::process::Output {
    let mut child = p
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().ok();
            panic!("`{}` hung", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_fifo_on_a_directory_remote_is_refused_not_waited_on() {
    let remote = Hostile::Dir(tempfile::tempdir().unwrap());
    let Hostile::Dir(dir) = &remote else {
        unreachable!()
    };
    let a = remote.seeded();
    let fig = a.keys()["figure.fig3_2"].clone();
    let entry = dir.path().join(format!("entries/{fig}.json"));
    let manifest = json(&std::fs::read(&entry).unwrap());
    let blob = dir.path().join(format!(
        "blobs/{}",
        manifest["files"][0]["blake3"].as_str().unwrap()
    ));
    let url = remote.url();
    for fifo in [&blob, &entry] {
        let saved = std::fs::read(fifo).unwrap();
        std::fs::remove_file(fifo).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let b = Proj::new(PIPELINE);
        let out = run_bounded(&b, &["--remote", &url, "pull"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(err.contains("is not a regular file"), "{err}");
        assert!(!b.cache().join("entries").join(&fig).exists() && tmp_is_empty(&b));
        std::fs::remove_file(fifo).unwrap();
        std::fs::write(fifo, saved).unwrap();
    }
}

/// A table with one value multiplied by `change`, and its blake3.
pub fn forged_table(original: &[u8], column: &str, row: usize, change: f64) -> (Vec<u8>, String) {
    use spike_pipe::table::{TableColumn, col_f64, read_parquet, write_parquet};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    std::fs::write(&path, original).unwrap();
    let mut df = read_parquet(&path).unwrap();
    let mut values = col_f64(&df, column).unwrap();
    values[row] *= change;
    let mut replaced = Vec::new();
    values.push(column, &mut replaced);
    df.with_column(replaced.pop().unwrap()).unwrap();
    write_parquet(&path, &mut df).unwrap();
    let (hash, _) = spike_pipe::engine::cache::hash_file(&path).unwrap();
    (std::fs::read(&path).unwrap(), hash)
}

#[test]
fn pull_audit_catches_a_forged_entry_and_passes_honest_ones() {
    for remote in Hostile::all() {
        let a = remote.seeded();
        let url = remote.url();
        // Honest: every pulled entry recomputed here is bit-identical.
        let b = Proj::new(PIPELINE);
        let out = ok_with(
            &b,
            &["--remote", &url, "pull", "--audit", "1", "--seed", "1"],
            remote.server(),
        );
        assert!(
            out.contains(&format!(
                "audited {STAGES} of {STAGES} cached entries (seed 1, files compared by blake3): {STAGES} reproduced"
            )),
            "{out}"
        );
        // Forged: the writer lowers one loss of train.toy's log and uploads the table with a
        // manifest whose hashes match it (the key is unchanged: files are not part of it).
        let toy = a.keys()["train.toy"].clone();
        let entry = format!("entries/{toy}.json");
        let mut m = json(&remote.get(&entry));
        let log = m["files"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|f| f["path"] == "log.parquet")
            .unwrap();
        let honest = remote.get(&format!("blobs/{}", log["blake3"].as_str().unwrap()));
        let (forged, hash) = forged_table(&honest, "loss", 40, 0.5);
        remote.put(&format!("blobs/{hash}"), &forged);
        log["blake3"] = serde_json::json!(hash);
        log["bytes"] = serde_json::json!(forged.len());
        remote.put(&entry, &serde_json::to_vec(&m).unwrap());

        let c = Proj::new(PIPELINE);
        let out = run_with(
            &c,
            &["--remote", &url, "pull", "--audit", "1"],
            remote.server(),
        );
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
        assert!(
            text.contains(&format!("train.toy ({toy}): DIFFERS"))
                && text.contains(
                    "log.parquet: blake3 differs; first difference: row 40, column `loss`"
                ),
            "{text}"
        );
        assert!(text.contains("1 differ"), "{text}");
        // The forged entry was replaced by the recomputation: the honest table, a clean cache.
        let local =
            std::fs::read(c.cache().join("entries").join(&toy).join("log.parquet")).unwrap();
        assert!(local == honest, "the forged table stayed in the cache");
        ok_with(&c, &["verify", "--cache"], None);
        ok_with(&c, &["repro"], None);
        same_figures(&a, &c);
        // A share audits that many of the pulled entries: ceil(0.25 * 8) = 2.
        let d = Proj::new(PIPELINE);
        let out = run_with(
            &d,
            &["--remote", &url, "pull", "--audit", "0.25"],
            remote.server(),
        );
        assert!(
            stdout(&out).contains(&format!("audited 2 of {STAGES} cached entries")),
            "{}",
            stdout(&out)
        );
    }
}
