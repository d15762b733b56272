//! Figures: the tidy table every figure stage publishes, and its rendering.
//!
//! A figure table has the columns `panel` (the paper's panel letter or a name), `series` (what
//! is drawn), `x`, `y` and `z` (null unless the series is a surface or carries a third value).
//! Rows of one series are in drawing order.

pub mod render;
pub mod spec;

use anyhow::Result;

use spike_engine::table::Table;

spike_engine::table_schema! {
    /// The tidy table of a figure, published as `<id>.parquet`.
    pub struct FigureData in "figure" {
        pub panel: Vec<String>,
        pub series: Vec<String>,
        pub x: Vec<f64>,
        pub y: Vec<f64>,
        pub z: Vec<Option<f64>>,
    }
}

impl FigureData {
    pub fn new() -> Self {
        Self::default()
    }

    /// A curve or a set of points: y against x.
    pub(crate) fn xy(&mut self, panel: &str, series: &str, xs: &[f64], ys: &[f64]) {
        for (&x, &y) in xs.iter().zip(ys) {
            self.push(panel, series, x, y, None);
        }
    }

    /// Points with a third value (a surface sample, a colour).
    pub(crate) fn xyz(&mut self, panel: &str, series: &str, xs: &[f64], ys: &[f64], zs: &[f64]) {
        for ((&x, &y), &z) in xs.iter().zip(ys).zip(zs) {
            self.push(panel, series, x, y, Some(z));
        }
    }

    pub fn push(&mut self, panel: &str, series: &str, x: f64, y: f64, z: Option<f64>) {
        self.panel.push(panel.to_string());
        self.series.push(series.to_string());
        self.x.push(x);
        self.y.push(y);
        self.z.push(z);
    }

    /// The (x, y, z) of one series.
    pub fn get(&self, panel: &str, series: &str) -> (Vec<f64>, Vec<f64>, Vec<Option<f64>>) {
        let mut out = (vec![], vec![], vec![]);
        for i in 0..self.x.len() {
            if self.panel[i] == panel && self.series[i] == series {
                out.0.push(self.x[i]);
                out.1.push(self.y[i]);
                out.2.push(self.z[i]);
            }
        }
        out
    }
}

/// `n` evenly spaced values from `a` to `b` inclusive.
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![a],
        _ => (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

impl FigureData {
    /// Reads a figure table (`panel`, `series`, `x`, `y`, `z`) back.
    pub fn read(path: &std::path::Path) -> Result<FigureData> {
        FigureData::from_frame(&spike_engine::table::read_parquet(path)?)
    }
}

/// Two runs' versions of one figure on the same axes: run A as drawn, run B in a darker shade
/// of each series' colour with lines dashed, labelled "A: ..." and "B: ...". Surfaces (heat
/// maps) are A's only: two cannot share a panel.
pub fn overlay(
    spec: &spec::FigureSpec,
    a: &FigureData,
    b: &FigureData,
) -> (spec::FigureSpec, FigureData) {
    let mut out_spec = spec.clone();
    let mut data = FigureData::new();
    for panel in &mut out_spec.panels {
        let mut series = Vec::new();
        for s in &panel.series {
            let (name_a, name_b) = (format!("A: {}", s.name), format!("B: {}", s.name));
            for (from, name, is_b) in [(a, &name_a, false), (b, &name_b, true)] {
                if is_b && s.mark == spec::Mark::Heat {
                    continue;
                }
                let (x, y, z) = from.get(&panel.name, &s.name);
                for i in 0..x.len() {
                    data.push(&panel.name, name, x[i], y[i], z[i]);
                }
            }
            let label = |run: &str| {
                if s.label.is_empty() {
                    String::new()
                } else {
                    format!("{run}: {}", s.label)
                }
            };
            let mut sa = s.clone();
            sa.name = name_a;
            sa.label = label("A");
            series.push(sa);
            if s.mark != spec::Mark::Heat {
                let mut sb = s.clone();
                sb.name = name_b;
                sb.label = label("B");
                sb.color = s.color.map(|c| c / 2);
                sb.mark = match s.mark {
                    spec::Mark::Line => spec::Mark::Dashed,
                    spec::Mark::PointsByZ => spec::Mark::Points,
                    m => m,
                };
                series.push(sb);
            }
        }
        panel.series = series;
    }
    out_spec.title = format!("{} (A and B)", spec.title);
    (out_spec, data)
}

/// A figure with other runs of it (other seeds) drawn fainter behind each of its series, so that
/// a single drawn run shows its spread. Surfaces (heat maps) are the main run's only.
pub(crate) fn with_spread(
    spec: &spec::FigureSpec,
    main: &FigureData,
    others: &[(String, FigureData)],
) -> (spec::FigureSpec, FigureData) {
    let mut out_spec = spec.clone();
    let mut data = FigureData::new();
    for panel in &mut out_spec.panels {
        let mut faint = Vec::new();
        for s in panel.series.iter().filter(|s| s.mark != spec::Mark::Heat) {
            for (label, other) in others {
                let name = format!("{label}: {}", s.name);
                let (x, y, z) = other.get(&panel.name, &s.name);
                for i in 0..x.len() {
                    data.push(&panel.name, &name, x[i], y[i], z[i]);
                }
                let mut f = s.clone();
                f.name = name;
                f.label = if faint.is_empty() {
                    format!("other seeds ({})", others.len())
                } else {
                    String::new()
                };
                f.color = s.color.map(|c| c + ((255 - c) as f64 * 0.65) as u8);
                f.mark = match s.mark {
                    spec::Mark::Line | spec::Mark::Dashed => s.mark,
                    _ => spec::Mark::Points,
                };
                faint.push(f);
            }
        }
        faint.append(&mut panel.series);
        panel.series = faint;
    }
    for i in 0..main.x.len() {
        data.push(
            &main.panel[i],
            &main.series[i],
            main.x[i],
            main.y[i],
            main.z[i],
        );
    }
    (out_spec, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec::{Axis, BLUE, Mark, Panel, Series};

    #[test]
    fn other_seeds_are_drawn_fainter_behind_every_series() {
        let spec = spec::FigureSpec {
            id: "f".into(),
            title: "t".into(),
            columns: 1,
            panels: vec![
                Panel::new("a", "a", Axis::lin("x"), Axis::lin("y")).with(Series::new(
                    "s",
                    "run",
                    Mark::ErrorBars,
                    BLUE,
                )),
            ],
        };
        let mut main = FigureData::new();
        main.xyz("a", "s", &[1.0], &[2.0], &[0.5]);
        let mut other = FigureData::new();
        other.xyz("a", "s", &[1.0], &[3.0], &[0.1]);
        let (spec2, data) = with_spread(&spec, &main, &[("seed 1".into(), other)]);
        let names: Vec<&str> = spec2.panels[0]
            .series
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["seed 1: s", "s"]);
        let faint = &spec2.panels[0].series[0];
        assert_eq!(faint.mark, Mark::Points);
        assert_eq!(faint.label, "other seeds (1)");
        assert!(faint.color.iter().zip(BLUE).all(|(f, b)| *f > b));
        assert_eq!(data.get("a", "seed 1: s").1, vec![3.0]);
        assert_eq!(data.get("a", "s").1, vec![2.0]);
    }
}
