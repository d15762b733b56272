//! Reading dataset artifacts into training data: 1-D tables (`x`, `y`) and image tables
//! (`label`, `pixels` already preprocessed by the subset stage).

use anyhow::{Result, bail};

use crate::datasets::cifar10::CLASSES;

use super::cifar10_subset::SubsetImages;
use super::dataset_1d::Points;
use spike_engine::context::Input;
use spike_nn::data::Data;

/// The `split` (`train` or `test`) of a dataset stage's artifacts.
pub fn load(input: &Input, split: &str) -> Result<Data> {
    let df = input.table(split)?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    if names.iter().any(|n| n == "x") {
        let points: Points = input.read_named(split)?;
        return Ok(Data::regression(&points.x, &points.y));
    }
    if names.iter().any(|n| n == "pixels") {
        let images: SubsetImages = input.read_named(split)?;
        let labels = images.label;
        let pixels: Vec<Vec<f64>> = images
            .pixels
            .into_iter()
            .map(|r| r.into_iter().map(f64::from).collect())
            .collect();
        let n = labels.len();
        let mut y = vec![0.0; n * CLASSES];
        for (i, &l) in labels.iter().enumerate() {
            if !(0..CLASSES as i64).contains(&l) {
                bail!(
                    "input `{}`: label {l} of row {i} is not a CIFAR-10 class",
                    input.stage
                );
            }
            y[i * CLASSES + l as usize] = 1.0;
        }
        return Data::new(pixels.concat(), vec![n, 3, 32, 32], y, CLASSES);
    }
    bail!(
        "input `{}` ({}) is not a dataset: its `{split}` table has neither `x`/`y` nor `label`/`pixels` columns",
        input.stage,
        input.kind
    )
}

/// Whether a dataset stage has a split.
pub fn has(input: &Input, split: &str) -> bool {
    input.has(&format!("{split}.parquet"))
}
