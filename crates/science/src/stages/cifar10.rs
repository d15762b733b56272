//! `cifar10`: imports CIFAR-10 into the pipeline: from a local copy (`SPIKE_CIFAR10_DIR`, the
//! `path` parameter, or `data/cifar-10-batches-bin/`) or by downloading the official archive.
//! Its key includes the content hash of the local files (or the archive's md5), so a different
//! copy of the data is a different stage result, and the same data on another machine is not.
//!
//! Artifacts: `train.parquet` and, when the source has test batches, `test.parquet`, with
//! columns `label` (0-9) and `pixels` (3072 bytes: R, G, B planes of 32x32), in file order.

use std::path::Path;

use anyhow::{Context, Result};

use crate::datasets::cifar10::{self, Images, Location, Source};
use spike_engine::context::StageContext;
use spike_engine::kind::{External, Kind};

pub(crate) struct Cifar10;

spike_engine::table_schema! {
    /// CIFAR-10 images as imported: `label` (0-9) and `pixels` (3072 bytes: R, G, B planes of
    /// 32x32), in file order; written as `train` and `test`.
    pub(crate) struct CifarImages in "train" {
        pub label: Vec<i64>,
        pub pixels: Vec<Vec<u8>>,
    }
}

impl CifarImages {
    fn of(images: &Images) -> CifarImages {
        CifarImages {
            label: images.labels.iter().map(|&l| l as i64).collect(),
            pixels: (0..images.len())
                .map(|i| images.image(i).to_vec())
                .collect(),
        }
    }
}

spike_config::stage_params! {
    pub(crate) struct Cifar10Params {
        /// local copy: a directory of .bin batches or one .bin file (SPIKE_CIFAR10_DIR and
        /// --cifar10-dir take precedence)
        pub path: Option<String>,
        /// the official binary archive
        pub url: String = cifar10::OFFICIAL_URL.to_string(),
        /// the archive's published md5
        pub md5: String = cifar10::OFFICIAL_MD5.to_string(),
    }
}

impl Kind for Cifar10 {
    const NAME: &'static str = "cifar10";
    const VERSION: u32 = 1;
    const DOC: &'static str =
        "CIFAR-10 from a local copy or the official download, as Parquet tables";
    type Params = Cifar10Params;
    type Output = ();

    fn external(&self, p: &Cifar10Params, ext: &External) -> Result<Option<String>> {
        Ok(Some(
            match cifar10::locate(ext.source(Self::NAME), p.path.as_deref(), ext.data_dir) {
                Location::Download => format!("download md5 {}", &p.md5),
                Location::Local(dir) => {
                    // The download's key only while the files are still the ones extracted
                    // from it: an edited batch gets the key of what it now holds.
                    let files = cifar10::fingerprint(&dir, &|f| ext.hash_file(f))?;
                    match cifar10::downloaded(&dir) {
                        Some((md5, extracted)) if extracted == files => {
                            format!("download md5 {md5}")
                        }
                        _ => format!("local {files}"),
                    }
                }
            },
        ))
    }
    fn run(&self, p: &Cifar10Params, ctx: &mut StageContext) -> Result<()> {
        let dir = match cifar10::locate(ctx.source(Self::NAME), p.path.as_deref(), ctx.data_dir()) {
            Location::Local(dir) => dir,
            Location::Download => {
                let url = &p.url;
                let bar = ctx.progress(0, "bytes");
                let show = |done: u64, total: Option<u64>| {
                    if let Some(t) = total {
                        bar.set_length(t);
                    }
                    bar.set_position(done);
                };
                let hash = |f: &Path| spike_engine::cache::hash_file(f).map(|(h, _)| h);
                cifar10::download(url, &p.md5, ctx.data_dir(), &show, &hash).with_context(|| {
                    format!(
                        "CIFAR-10 is not available locally and could not be downloaded; {}",
                        cifar10::offline_help(ctx.data_dir())
                    )
                })?
            }
        };
        let source = Source::at(&dir).with_context(|| cifar10::offline_help(ctx.data_dir()))?;
        let (train, test) = source.read()?;
        ctx.log(&format!(
            "{} training and {} test images from {}",
            train.len(),
            test.as_ref().map_or(0, Images::len),
            dir.display()
        ));
        ctx.write_named("train", &CifarImages::of(&train))?;
        if let Some(test) = test {
            ctx.write_named("test", &CifarImages::of(&test))?;
        }
        Ok(())
    }
}
