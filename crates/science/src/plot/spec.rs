//! How a figure is drawn: its panels, axes and series styles (stored beside the figure table as
//! `<id>.spec.json`, so a figure can be re-rendered without recomputing it).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FigureSpec {
    pub id: String,
    pub title: String,
    /// Panels per row.
    pub columns: usize,
    pub panels: Vec<Panel>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Axis {
    pub label: String,
    #[serde(default)]
    pub log: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Panel {
    /// The `panel` value of this panel's rows in the figure table.
    pub name: String,
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    /// A right-hand axis for series marked `secondary`.
    #[serde(default)]
    pub y2: Option<Axis>,
    pub series: Vec<Series>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Line,
    Dashed,
    Points,
    /// Points coloured by their `z` value.
    PointsByZ,
    /// A regular grid of cells coloured by `z` (log colour scale if the values span decades).
    Heat,
    /// `y` with an error bar of +- `z`.
    ErrorBars,
    /// Vertical bars from 0 to `y`.
    Bars,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Series {
    /// The `series` value of its rows.
    pub name: String,
    /// Legend text (empty: no legend entry).
    pub label: String,
    pub mark: Mark,
    pub color: [u8; 3],
    #[serde(default)]
    pub secondary: bool,
}

pub(crate) const BLACK: [u8; 3] = [0, 0, 0];
pub(crate) const RED: [u8; 3] = [214, 39, 40];
pub(crate) const BLUE: [u8; 3] = [31, 119, 180];
pub(crate) const ORANGE: [u8; 3] = [255, 127, 14];
pub(crate) const GREEN: [u8; 3] = [44, 160, 44];
pub(crate) const GREY: [u8; 3] = [127, 127, 127];
pub(crate) const PURPLE: [u8; 3] = [148, 103, 189];

impl Axis {
    pub(crate) fn lin(label: &str) -> Axis {
        Axis {
            label: label.into(),
            log: false,
        }
    }
    pub fn log(label: &str) -> Axis {
        Axis {
            label: label.into(),
            log: true,
        }
    }
}

impl Series {
    pub fn new(name: &str, label: &str, mark: Mark, color: [u8; 3]) -> Series {
        Series {
            name: name.into(),
            label: label.into(),
            mark,
            color,
            secondary: false,
        }
    }
    pub fn right(mut self) -> Series {
        self.secondary = true;
        self
    }
}

impl Panel {
    pub fn new(name: &str, title: &str, x: Axis, y: Axis) -> Panel {
        Panel {
            name: name.into(),
            title: title.into(),
            x,
            y,
            y2: None,
            series: vec![],
        }
    }
    pub(crate) fn right_axis(mut self, axis: Axis) -> Panel {
        self.y2 = Some(axis);
        self
    }
    pub fn with(mut self, series: Series) -> Panel {
        self.series.push(series);
        self
    }
}
