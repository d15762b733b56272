//! Parquet tables through polars: building them from columns, writing, reading, and typed column
//! access with errors that name the file and the column.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
pub use polars_core::prelude::DataFrame;
use polars_core::prelude::{Column, DataType, NamedFrom, PlSmallStr, Series};
use polars_io::SerReader;
use polars_io::parquet::read::ParquetReader;
use polars_io::parquet::write::{ParquetCompression, ParquetWriter};

// Outside `lists`, whose where clause would otherwise steer `Column::new`'s inference to `T`.
fn list_column(name: &str, rows: Vec<Series>) -> Column {
    Column::new(name.into(), rows)
}

/// Encodes in memory and writes with std::fs, so that a failing write (a full disk) is an I/O
/// error naming the file rather than an encoder's message. Tables are at most megabytes.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)
        .with_context(|| format!("encoding Parquet table {}", path.display()))?;
    std::fs::write(path, bytes).with_context(|| format!("writing Parquet table {}", path.display()))
}

pub fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    ParquetReader::new(file)
        .finish()
        .with_context(|| format!("reading Parquet table {}", path.display()))
}

fn column<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Column> {
    df.column(name).map_err(|_| {
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(ToString::to_string)
            .collect();
        anyhow!(
            "table has no column `{name}` (columns: {})",
            names.join(", ")
        )
    })
}

/// A numeric column as f64 (integers are converted); nulls are an error.
pub fn col_f64(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let c = column(df, name)?.cast(&DataType::Float64)?;
    let ca = c.f64()?;
    if ca.null_count() > 0 {
        bail!("column `{name}` has {} missing values", ca.null_count());
    }
    Ok(ca.into_no_null_iter().collect())
}

/// A numeric column with nulls kept (as `None`).
pub fn col_opt_f64(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    let c = column(df, name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().collect())
}

pub(crate) fn col_opt_i64(df: &DataFrame, name: &str) -> Result<Vec<Option<i64>>> {
    let c = column(df, name)?.cast(&DataType::Int64)?;
    Ok(c.i64()?.iter().collect())
}

pub fn col_i64(df: &DataFrame, name: &str) -> Result<Vec<i64>> {
    let c = column(df, name)?.cast(&DataType::Int64)?;
    let ca = c.i64()?;
    if ca.null_count() > 0 {
        bail!("column `{name}` has {} missing values", ca.null_count());
    }
    Ok(ca.into_no_null_iter().collect())
}

pub fn col_str(df: &DataFrame, name: &str) -> Result<Vec<String>> {
    let c = column(df, name)?;
    let ca = c
        .str()
        .with_context(|| format!("column `{name}` is not text"))?;
    Ok(ca.iter().map(|s| s.unwrap_or("").to_string()).collect())
}

/// Each row of a list column, as a Series of its elements.
fn list_rows<T>(
    df: &DataFrame,
    name: &str,
    row: impl Fn(Series) -> Result<Vec<T>>,
) -> Result<Vec<Vec<T>>> {
    let c = column(df, name)?;
    let lists = c
        .list()
        .with_context(|| format!("column `{name}` is not a list column"))?;
    (0..lists.len())
        .map(|i| {
            let s = lists
                .get_as_series(i)
                .ok_or_else(|| anyhow!("column `{name}` row {i} is missing"))?;
            row(s)
        })
        .collect()
}

/// A list column as one `Vec<f64>` per row.
pub fn col_f64_lists(df: &DataFrame, name: &str) -> Result<Vec<Vec<f64>>> {
    list_rows(df, name, |s| {
        Ok(s.cast(&DataType::Float64)?
            .f64()?
            .into_no_null_iter()
            .collect())
    })
}

/// A list column as one `Vec<f32>` per row.
pub(crate) fn col_f32_lists(df: &DataFrame, name: &str) -> Result<Vec<Vec<f32>>> {
    list_rows(df, name, |s| {
        Ok(s.cast(&DataType::Float32)?
            .f32()?
            .into_no_null_iter()
            .collect())
    })
}

pub fn col_u8_lists(df: &DataFrame, name: &str) -> Result<Vec<Vec<u8>>> {
    list_rows(df, name, |s| Ok(s.u8()?.into_no_null_iter().collect()))
}

pub(crate) fn col_bool(df: &DataFrame, name: &str) -> Result<Vec<bool>> {
    let c = column(df, name)?;
    let ca = c
        .bool()
        .with_context(|| format!("column `{name}` is not boolean"))?;
    ca.iter()
        .map(|v| v.ok_or_else(|| anyhow!("column `{name}` has missing values")))
        .collect()
}

/// A table whose columns (names and types) are declared once, with [`table_schema!`]
/// (crate::table_schema), for the stage that writes it and every stage that reads it.
pub trait Table: Sized {
    /// The file name without `.parquet`.
    const NAME: &'static str;
    const COLUMNS: &'static [&'static str];
    fn to_frame(&self) -> Result<DataFrame>;
    fn from_frame(df: &DataFrame) -> Result<Self>;
}

/// A column of a declared table: `Vec<T>` (always present) or `Option<Vec<T>>` (may be absent).
pub trait TableColumn: Sized {
    fn push(&self, name: &str, columns: &mut Vec<Column>);
    fn read(df: &DataFrame, name: &str) -> Result<Self>;
}

macro_rules! table_column {
    ($($t:ty => |$c:ident, $name:ident, $v:ident| $write:expr, $read:path;)*) => {$(
        impl TableColumn for Vec<$t> {
            fn push(&self, $name: &str, $c: &mut Vec<Column>) {
                let $v = self.clone();
                $c.push($write);
            }
            fn read(df: &DataFrame, name: &str) -> Result<Self> {
                $read(df, name)
            }
        }
    )*};
}

fn lists<T>(name: &str, rows: Vec<Vec<T>>) -> Column
where
    Series: NamedFrom<Vec<T>, [T]>,
{
    let series: Vec<Series> = rows
        .into_iter()
        .map(|r| Series::new(PlSmallStr::EMPTY, r))
        .collect();
    list_column(name, series)
}

table_column! {
    f64 => |c, name, v| Column::new(name.into(), v), col_f64;
    Option<f64> => |c, name, v| Column::new(name.into(), v), col_opt_f64;
    i64 => |c, name, v| Column::new(name.into(), v), col_i64;
    Option<i64> => |c, name, v| Column::new(name.into(), v), col_opt_i64;
    bool => |c, name, v| Column::new(name.into(), v), col_bool;
    String => |c, name, v| Column::new(name.into(), v), col_str;
    Vec<f64> => |c, name, v| lists(name, v), col_f64_lists;
    Vec<f32> => |c, name, v| lists(name, v), col_f32_lists;
    Vec<u8> => |c, name, v| lists(name, v), col_u8_lists;
}

impl<T> TableColumn for Option<T>
where
    T: TableColumn,
{
    fn push(&self, name: &str, columns: &mut Vec<Column>) {
        if let Some(v) = self {
            v.push(name, columns);
        }
    }
    fn read(df: &DataFrame, name: &str) -> Result<Self> {
        if df.column(name).is_ok() {
            T::read(df, name).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A frame from declared columns (all of one length).
pub fn frame(columns: Vec<Column>) -> Result<DataFrame> {
    DataFrame::new_infer_height(columns).context("building a table: columns differ in length")
}

/// Declares a table: a struct with one `Vec` per column (`Option<Vec<..>>` for a column that
/// may be absent), its file name, and its [`Table`] implementation.
///
/// ```
/// use spike_engine::table::Table;
/// use spike_engine::table_schema;
///
/// table_schema! {
///     /// The loss spikes of a training log.
///     pub struct SpikeTable in "spikes" {
///         pub onset: Vec<i64>,
///         pub ratio: Vec<f64>,
///     }
/// }
///
/// let t = SpikeTable { onset: vec![3, 40], ratio: vec![12.5, 2.0] };
/// assert_eq!((SpikeTable::NAME, SpikeTable::COLUMNS), ("spikes", &["onset", "ratio"][..]));
/// let back = SpikeTable::from_frame(&t.to_frame().unwrap()).unwrap();
/// assert_eq!((back.onset, back.ratio), (vec![3, 40], vec![12.5, 2.0]));
/// ```
#[macro_export]
macro_rules! table_schema {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $file:literal {
            $( $(#[doc = $doc:literal])* $fvis:vis $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        $vis struct $name {
            $( $(#[doc = $doc])* $fvis $field: $ty, )*
        }

        impl $crate::table::Table for $name {
            const NAME: &'static str = $file;
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];
            fn to_frame(&self) -> anyhow::Result<$crate::table::DataFrame> {
                let mut columns = Vec::new();
                $( $crate::table::TableColumn::push(&self.$field, stringify!($field), &mut columns); )*
                $crate::table::frame(columns)
            }
            fn from_frame(df: &$crate::table::DataFrame) -> anyhow::Result<Self> {
                Ok($name {
                    $( $field: <$ty as $crate::table::TableColumn>::read(df, stringify!($field))?, )*
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::table_schema! {
        struct Demo in "demo" {
            epoch: Vec<i64>,
            loss: Vec<f64>,
            test_loss: Vec<Option<f64>>,
            ok: Vec<bool>,
            theta: Vec<Vec<f64>>,
            pixels: Option<Vec<Vec<f32>>>,
        }
    }

    #[test]
    fn declared_table_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.parquet");
        let t = Demo {
            epoch: vec![0, 5],
            loss: vec![0.25, 1e-300],
            test_loss: vec![None, Some(0.5)],
            ok: vec![true, false],
            theta: vec![vec![1.0, -2.0], vec![]],
            pixels: None,
        };
        write_parquet(&path, &mut t.to_frame().unwrap()).unwrap();
        let back = Demo::from_frame(&read_parquet(&path).unwrap()).unwrap();
        assert_eq!(back, t);
        assert_eq!(
            Demo::COLUMNS,
            ["epoch", "loss", "test_loss", "ok", "theta", "pixels"]
        );
        let with = Demo {
            pixels: Some(vec![vec![0.5], vec![0.25, 1.0]]),
            ..t.clone()
        };
        assert_eq!(Demo::from_frame(&with.to_frame().unwrap()).unwrap(), with);
        let short = Demo {
            loss: vec![0.25],
            ..t
        };
        assert!(short.to_frame().is_err());
        let e = Demo::from_frame(&read_parquet(&path).unwrap().drop("loss").unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column `loss`"), "{e}");
    }
}
