//! `cifar10_subset`: the images a training stage uses: the first N in the official order (what
//! "CIFAR10-1k" means in the paper, and what locuslab/edge-of-stability does) or a class-balanced
//! N drawn with a seed; the test split likewise. Pixels are scaled to [0, 1] and standardised
//! with statistics of the *training subset* (per channel or per pixel).
//!
//! Artifacts: `train.parquet` (and `test.parquet` when `n_test > 0`) with `label` (0-9),
//! `pixels` (3072 floats, R, G, B planes) and, for one-hot targets, `target` (10 floats);
//! `stats.json` (the standardisation and the class counts).

use anyhow::{Result, bail};

use spike_config::InputSpec;
use spike_engine::context::{Input, StageContext};
use spike_engine::kind::Kind;
use spike_nn::rng::SeededRng;

use super::cifar10::CifarImages;

use crate::datasets::cifar10::CLASSES;

pub(crate) struct Cifar10Subset;

spike_config::choice_enum! {
    /// How a subset is chosen.
    pub(crate) enum Selection {
        /// The first N in the official order.
        First = "first",
        /// N/10 per class, drawn with the seed.
        Balanced = "balanced",
    }
}

spike_config::choice_enum! {
    pub(crate) enum Standardize {
        None = "none",
        PerChannel = "per_channel",
        PerPixel = "per_pixel",
    }
}

spike_config::choice_enum! {
    pub(crate) enum Targets {
        Onehot = "onehot",
        Index = "index",
    }
}

spike_engine::table_schema! {
    /// A preprocessed image split (`train` or `test`): `label` (0-9), `pixels` (3072 floats,
    /// R, G, B planes) and, for one-hot targets, `target` (10 floats).
    pub(crate) struct SubsetImages in "train" {
        pub label: Vec<i64>,
        pub pixels: Vec<Vec<f32>>,
        pub target: Option<Vec<Vec<f32>>>,
    }
}

spike_config::stage_params! {
    pub(crate) struct Cifar10SubsetParams {
        /// number of training images
        pub n_train: usize; range(1.0, 50_000.0),
        /// first N in the official order, or N/10 per class
        pub train_selection: Selection = Selection::First,
        /// number of test images (0: none)
        pub n_test: usize = 0; range(0.0, 10_000.0),
        /// how test images are chosen
        pub test_selection: Selection = Selection::First,
        /// seed of balanced selections
        pub seed: u64 = 0; range(0.0, 9.0e15),
        /// after scaling to [0, 1]; statistics of the training subset
        pub standardize: Standardize = Standardize::PerChannel,
        /// one-hot rows (MSE) or class indices only (cross-entropy)
        pub targets: Targets = Targets::Onehot,
    }
}

/// Indices of the selected examples, in the source's order.
pub(crate) fn select(labels: &[i64], n: usize, how: Selection, seed: u64) -> Result<Vec<usize>> {
    if n > labels.len() {
        bail!(
            "asks for {n} images but the source has only {}",
            labels.len()
        );
    }
    match how {
        Selection::First => Ok((0..n).collect()),
        Selection::Balanced => {
            let mut rng = SeededRng::new(seed);
            let mut chosen = Vec::with_capacity(n);
            for class in 0..CLASSES {
                let want = n / CLASSES + usize::from(class < n % CLASSES);
                let mut pool: Vec<usize> = (0..labels.len())
                    .filter(|&i| labels[i] == class as i64)
                    .collect();
                if pool.len() < want {
                    bail!(
                        "asks for {want} images of class {class} but the source has only {}",
                        pool.len()
                    );
                }
                for k in 0..want {
                    let j = k + rng.below(pool.len() - k);
                    pool.swap(k, j);
                }
                chosen.extend_from_slice(&pool[..want]);
            }
            chosen.sort_unstable();
            Ok(chosen)
        }
    }
}

/// Mean and standard deviation (population) of [0, 1]-scaled pixels over the rows, per channel
/// (3 values) or per pixel (3072 values).
pub fn statistics(pixels: &[&[u8]], per_pixel: bool) -> (Vec<f64>, Vec<f64>) {
    let groups = if per_pixel { 3072 } else { 3 };
    let group = |j: usize| if per_pixel { j } else { j / 1024 };
    let mut sum = vec![0.0; groups];
    let mut sq = vec![0.0; groups];
    let mut count = vec![0.0; groups];
    for img in pixels {
        for (j, &v) in img.iter().enumerate() {
            let x = v as f64 / 255.0;
            let g = group(j);
            sum[g] += x;
            sq[g] += x * x;
            count[g] += 1.0;
        }
    }
    let mean: Vec<f64> = (0..groups).map(|g| sum[g] / count[g]).collect();
    let std: Vec<f64> = (0..groups)
        .map(|g| (sq[g] / count[g] - mean[g] * mean[g]).max(0.0).sqrt())
        .collect();
    (mean, std)
}

fn source(input: &Input, split: &str) -> Result<(Vec<i64>, Vec<Vec<u8>>)> {
    let t: CifarImages = input.read_named(split)?;
    Ok((t.label, t.pixels))
}

impl Kind for Cifar10Subset {
    const NAME: &'static str = "cifar10_subset";
    const VERSION: u32 = 1;
    const DOC: &'static str =
        "A CIFAR-10 subset (first N or class-balanced), scaled and standardised";
    const INPUTS: &'static [InputSpec] = &[InputSpec::one("source", &["cifar10"])];
    type Params = Cifar10SubsetParams;
    type Output = ();

    fn run(&self, p: &Cifar10SubsetParams, ctx: &mut StageContext) -> Result<()> {
        let src = ctx.input("source")?;
        let seed = p.seed;
        let (labels, pixels) = source(src, "train")?;
        let train_idx = select(&labels, p.n_train, p.train_selection, seed).map_err(|e| {
            anyhow::anyhow!(
                "training subset: {e}; point SPIKE_CIFAR10_DIR at a larger copy or lower n_train"
            )
        })?;
        let mode = p.standardize;
        let chosen: Vec<&[u8]> = train_idx.iter().map(|&i| pixels[i].as_slice()).collect();
        let (mean, std) = match mode {
            Standardize::None => (vec![0.0; 3], vec![1.0; 3]),
            m => statistics(&chosen, m == Standardize::PerPixel),
        };
        if std.contains(&0.0) {
            bail!(
                "a {mode} standard deviation of the training subset is 0; use standardize: none or more images"
            );
        }
        let per_pixel = mean.len() == 3072;
        let transform = |img: &[u8]| -> Vec<f32> {
            img.iter()
                .enumerate()
                .map(|(j, &v)| {
                    let g = if per_pixel { j } else { j / 1024 };
                    ((v as f64 / 255.0 - mean[g]) / std[g]) as f32
                })
                .collect()
        };
        let onehot = p.targets == Targets::Onehot;
        let write = |name: &str, labels: &[i64], rows: Vec<&[u8]>| -> Result<()> {
            let t = SubsetImages {
                label: labels.to_vec(),
                pixels: rows.iter().map(|r| transform(r)).collect(),
                target: onehot.then(|| {
                    labels
                        .iter()
                        .map(|&l| (0..CLASSES).map(|c| f32::from(c as i64 == l)).collect())
                        .collect()
                }),
            };
            ctx.write_named(name, &t)
        };
        let train_labels: Vec<i64> = train_idx.iter().map(|&i| labels[i]).collect();
        write("train", &train_labels, chosen)?;
        let mut counts = vec![0usize; CLASSES];
        train_labels.iter().for_each(|&l| counts[l as usize] += 1);

        let n_test = p.n_test;
        let mut test_counts = vec![0usize; CLASSES];
        if n_test > 0 {
            if !src.has("test.parquet") {
                bail!(
                    "n_test is {n_test} but the source `{}` has no test batches",
                    src.stage
                );
            }
            let (tl, tp) = source(src, "test")?;
            let idx = select(&tl, n_test, p.test_selection, seed)
                .map_err(|e| anyhow::anyhow!("test subset: {e}"))?;
            let labels: Vec<i64> = idx.iter().map(|&i| tl[i]).collect();
            labels.iter().for_each(|&l| test_counts[l as usize] += 1);
            write(
                "test",
                &labels,
                idx.iter().map(|&i| tp[i].as_slice()).collect(),
            )?;
        }
        ctx.write_json(
            "stats.json",
            &serde_json::json!({
                "standardize": mode.as_str(),
                "mean": if per_pixel { serde_json::Value::Null } else { mean.clone().into() },
                "std": if per_pixel { serde_json::Value::Null } else { std.clone().into() },
                "train_class_counts": counts,
                "test_class_counts": test_counts,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_selection_is_balanced_and_seeded() {
        let labels: Vec<i64> = (0..1000).map(|i| (i * 7 % 10) as i64).collect();
        let a = select(&labels, 95, Selection::Balanced, 1).unwrap();
        let mut counts = [0; 10];
        a.iter().for_each(|&i| counts[labels[i] as usize] += 1);
        assert_eq!(counts, [10, 10, 10, 10, 10, 9, 9, 9, 9, 9]);
        assert_eq!(a, select(&labels, 95, Selection::Balanced, 1).unwrap());
        assert_ne!(a, select(&labels, 95, Selection::Balanced, 2).unwrap());
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            select(&labels, 5, Selection::First, 0).unwrap(),
            vec![0, 1, 2, 3, 4]
        );
        assert!(select(&labels, 1001, Selection::First, 0).is_err());
    }

    #[test]
    fn statistics_per_channel() {
        let a = vec![0u8; 3072];
        let mut b = vec![255u8; 3072];
        b[..1024].fill(0);
        let (mean, std) = statistics(&[&a, &b], false);
        assert_eq!(mean, vec![0.0, 0.5, 0.5]);
        assert_eq!(std, vec![0.0, 0.5, 0.5]);
    }
}
