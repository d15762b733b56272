//! Reading dataset artifacts into training data: 1-D tables (`x`, `y`) and image tables
//! (`label`, `pixels` already preprocessed by the subset stage).

use anyhow::{Result, bail};

use crate::engine::context::Input;
use crate::nn::data::Data;
use crate::table::{col_f64, col_f64_lists, col_i64};

pub const CLASSES: usize = 10;

/// The `split` (`train` or `test`) of a dataset stage's artifacts.
pub fn load(input: &Input, split: &str) -> Result<Data> {
    let df = input.table(split)?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    if names.iter().any(|n| n == "x") {
        return Ok(Data::regression(&col_f64(&df, "x")?, &col_f64(&df, "y")?));
    }
    if names.iter().any(|n| n == "pixels") {
        let labels = col_i64(&df, "label")?;
        let pixels = col_f64_lists(&df, "pixels")?;
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
