//! Opening a remote's `object_store` from its URL, and what to check when it fails.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

/// What to check when a remote operation fails.
pub(super) fn hint(url: &str) -> &'static str {
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

pub(super) fn build_store(url: &str) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
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
pub(super) mod cloud {
    use std::sync::Arc;

    use anyhow::Result;
    use object_store::ObjectStore;

    #[cfg(any(feature = "aws", feature = "gcp", feature = "azure", feature = "http"))]
    fn options() -> object_store::ClientOptions {
        object_store::ClientOptions::new().with_allow_http(true)
    }

    /// A URL whose client this build leaves out.
    #[derive(Debug)]
    pub(in crate::remote) struct MissingFeature {
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
        let profile = super::super::aws::aws_profile();
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

pub(super) fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}
