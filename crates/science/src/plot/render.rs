//! Rendering a figure table with its spec to PNG and SVG (plotters, with an embedded font so
//! nothing needs to be installed). Log axes are drawn by plotting log10 of the values and
//! labelling the ticks with the powers of ten.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::FigureData;
use super::spec::{Axis, FigureSpec, Mark, Panel};

const PANEL_W: u32 = 520;
const PANEL_H: u32 = 400;
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Draws `data` as `spec` says into `png` and `svg`.
pub fn render(data: &FigureData, spec: &FigureSpec, png: &Path, svg: &Path) -> Result<()> {
    register_font();
    let cols = spec.columns.max(1).min(spec.panels.len().max(1));
    let rows = spec.panels.len().div_ceil(cols).max(1);
    // Wide enough for the title (about 10 px a character at 20 px), which would be clipped on a
    // one-panel figure.
    let title_w = 10 * spec.title.chars().count() as u32 + 40;
    let size = (
        (PANEL_W * cols as u32).max(title_w),
        PANEL_H * rows as u32 + 40,
    );
    // Drawn in memory and written with std::fs: a failing write is an I/O error naming its file.
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(&root, data, spec, rows, cols)?;
        root.present()
            .map_err(|e| anyhow!("drawing {}: {e:?}", png.display()))?;
    }
    let mut encoded = Vec::new();
    PngEncoder::new(&mut encoded)
        .write_image(&pixels, size.0, size.1, ColorType::Rgb8)
        .with_context(|| format!("encoding {}", png.display()))?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        draw(&root, data, spec, rows, cols)?;
        root.present()
            .map_err(|e| anyhow!("drawing {}: {e:?}", svg.display()))?;
    }
    std::fs::write(png, encoded).with_context(|| format!("writing {}", png.display()))?;
    std::fs::write(svg, text).with_context(|| format!("writing {}", svg.display()))?;
    Ok(())
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &FigureData,
    spec: &FigureSpec,
    rows: usize,
    cols: usize,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing figure {}: {e:?}", spec.id);
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(&spec.title, ("sans-serif", 20)).map_err(err)?;
    let areas = root.split_evenly((rows, cols));
    for (panel, area) in spec.panels.iter().zip(areas.iter()) {
        draw_panel(area, data, panel)
            .map_err(|e| anyhow!("figure {}, panel {}: {e}", spec.id, panel.name))?;
    }
    Ok(())
}

fn tf(axis: &Axis, v: f64) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if axis.log {
        (v > 0.0).then(|| v.log10())
    } else {
        Some(v)
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 * lo.abs().max(1.0) {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.04 * (hi - lo);
    (lo - pad, hi + pad)
}

fn label(axis: &Axis, v: f64) -> String {
    if axis.log {
        let p = 10f64.powf(v);
        if (v - v.round()).abs() < 1e-9 {
            format!("1e{}", v.round())
        } else {
            format!("{p:.1e}")
        }
    } else if v.abs() < 1e-9 {
        "0".into()
    } else if v.abs() >= 1e4 && v.abs() < 1e7 {
        format!("{v:.0}")
    } else if v.abs() >= 1e7 || v.abs() < 1e-2 {
        format!("{v:.1e}")
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

/// A viridis-like colour for t in [0, 1].
pub(crate) fn colormap(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

struct Prepared {
    points: Vec<(f64, f64)>,
    z: Vec<f64>,
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &FigureData,
    panel: &Panel,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    let prepared = prepare(data, panel);
    let (xr, yr, y2r) = ranges(panel, &prepared);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(62)
        .right_y_label_area_size(if panel.y2.is_some() { 62 } else { 0 })
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(err)?
        .set_secondary_coord(xr.0..xr.1, y2r.0..y2r.1);
    let (xa, ya) = (panel.x.clone(), panel.y.clone());
    chart
        .configure_mesh()
        .x_desc(&panel.x.label)
        .y_desc(&panel.y.label)
        .x_label_formatter(&|v| label(&xa, *v))
        .y_label_formatter(&|v| label(&ya, *v))
        .light_line_style(WHITE)
        .draw()
        .map_err(err)?;
    if let Some(a2) = &panel.y2 {
        let a2c = a2.clone();
        chart
            .configure_secondary_axes()
            .y_desc(&a2.label)
            .y_label_formatter(&|v| label(&a2c, *v))
            .draw()
            .map_err(err)?;
    }

    let mut legend = false;
    for (s, p) in panel.series.iter().zip(&prepared) {
        if p.points.is_empty() {
            continue;
        }
        let color = RGBColor(s.color[0], s.color[1], s.color[2]);
        let norm = z_scale(&p.z);
        let elements: Vec<DynElement<DB, (f64, f64)>> = match s.mark {
            Mark::Line => {
                vec![PathElement::new(p.points.clone(), color.stroke_width(2)).into_dyn()]
            }
            Mark::Dashed => dashes(&p.points, (xr.1 - xr.0) / 80.0)
                .into_iter()
                .map(|seg| PathElement::new(seg, color.stroke_width(2)).into_dyn())
                .collect(),
            Mark::Points => p
                .points
                .iter()
                .map(|&q| Circle::new(q, 3, color.filled()).into_dyn())
                .collect(),
            Mark::PointsByZ => p
                .points
                .iter()
                .zip(&p.z)
                .map(|(&q, &z)| Circle::new(q, 3, colormap(norm(z)).filled()).into_dyn())
                .collect(),
            Mark::Heat => heat_cells(p)
                .into_iter()
                .map(|(cell, z)| Rectangle::new(cell, colormap(norm(z)).filled()).into_dyn())
                .collect(),
            Mark::ErrorBars => p
                .points
                .iter()
                .zip(&p.z)
                .map(|(&(x, y), &z)| {
                    ErrorBar::new_vertical(x, y - z, y, y + z, color.filled(), 6).into_dyn()
                })
                .collect(),
            Mark::Bars => bars(p, panel.y.log, xr, yr)
                .into_iter()
                .map(|bar| Rectangle::new(bar, color.filled()).into_dyn())
                .collect(),
        };
        let anno = if s.secondary {
            chart.draw_secondary_series(elements).map_err(err)?
        } else {
            chart.draw_series(elements).map_err(err)?
        };
        if !s.label.is_empty() {
            legend = true;
            anno.label(&s.label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3))
            });
        }
    }
    if legend {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// Each series' points in drawing coordinates (log axes applied, points off an axis dropped),
/// with their z values.
fn prepare(data: &FigureData, panel: &Panel) -> Vec<Prepared> {
    let y2axis = panel.y2.clone().unwrap_or_default();
    let mut prepared = Vec::new();
    for s in &panel.series {
        let yaxis = if s.secondary { &y2axis } else { &panel.y };
        let (xs, ys, zs) = data.get(&panel.name, &s.name);
        let mut p = Prepared {
            points: vec![],
            z: vec![],
        };
        for i in 0..xs.len() {
            let z = zs[i].unwrap_or(0.0);
            let (lo, hi) = if s.mark == Mark::ErrorBars {
                (ys[i] - z, ys[i] + z)
            } else {
                (ys[i], ys[i])
            };
            if let (Some(x), Some(y), Some(_), Some(_)) = (
                tf(&panel.x, xs[i]),
                tf(yaxis, ys[i]),
                tf(yaxis, lo),
                tf(yaxis, hi),
            ) {
                p.points.push((x, y));
                p.z.push(z);
            }
        }
        prepared.push(p);
    }
    prepared
}

/// An axis range (low, high).
type Range = (f64, f64);

/// The ranges of the x axis, the y axis (with error bars, and bars from zero) and the
/// secondary y axis.
fn ranges(panel: &Panel, prepared: &[Prepared]) -> (Range, Range, Range) {
    let bars_from_zero = |s: &super::spec::Series| s.mark == Mark::Bars && !panel.y.log;
    let xr = range(prepared.iter().flat_map(|p| p.points.iter().map(|q| q.0)));
    let yr = range(
        panel
            .series
            .iter()
            .zip(prepared)
            .filter(|(s, _)| !s.secondary)
            .flat_map(|(s, p)| {
                let zero = bars_from_zero(s).then_some(0.0);
                p.points.iter().flat_map(move |q| {
                    let z = p.z[p.points.iter().position(|r| r == q).unwrap_or(0)];
                    let spread = if s.mark == Mark::ErrorBars { z } else { 0.0 };
                    [q.1 - spread, q.1 + spread].into_iter().chain(zero)
                })
            }),
    );
    let y2r = range(
        panel
            .series
            .iter()
            .zip(prepared)
            .filter(|(s, _)| s.secondary)
            .flat_map(|(_, p)| p.points.iter().map(|q| q.1)),
    );

    (xr, yr, y2r)
}

/// Colour scale of z values: z mapped onto [0, 1], on a log scale when they span more than
/// two decades.
fn z_scale(z: &[f64]) -> impl Fn(f64) -> f64 + Copy {
    let (zmin, zmax) = z
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &z| {
            (a.min(z), b.max(z))
        });
    let logz = zmin > 0.0 && zmax / zmin > 100.0;
    move |z: f64| {
        let (z, lo, hi) = if logz {
            (z.log10(), zmin.log10(), zmax.log10())
        } else {
            (z, zmin, zmax)
        };
        if hi > lo { (z - lo) / (hi - lo) } else { 0.5 }
    }
}

/// The cells of a heat map: a rectangle around each point, half the grid step wide, with its z.
fn heat_cells(p: &Prepared) -> Vec<([(f64, f64); 2], f64)> {
    let step = |v: Vec<f64>| {
        let mut v = v;
        v.sort_by(f64::total_cmp);
        v.dedup();
        v.windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min)
    };
    let dx = step(p.points.iter().map(|q| q.0).collect()) / 2.0;
    let dy = step(p.points.iter().map(|q| q.1).collect()) / 2.0;
    let (dx, dy) = (
        if dx.is_finite() { dx } else { 0.5 },
        if dy.is_finite() { dy } else { 0.5 },
    );
    p.points
        .iter()
        .zip(&p.z)
        .map(|(&(x, y), &z)| ([(x - dx, y - dy), (x + dx, y + dy)], z))
        .collect()
}

/// The bars of a bar series: from zero (or the bottom of a log axis) to each point.
fn bars(p: &Prepared, log_y: bool, xr: Range, yr: Range) -> Vec<[(f64, f64); 2]> {
    let w = if p.points.len() > 1 {
        0.4 * (xr.1 - xr.0) / p.points.len() as f64
    } else {
        0.4
    };
    let base = if log_y { yr.0 } else { 0.0 };
    p.points
        .iter()
        .map(|&(x, y)| [(x - w, base), (x + w, y)])
        .collect()
}

/// Splits a polyline into dashes about `len` long in x (the line is resampled first, so a
/// two-point line is dashed too).
fn dashes(points: &[(f64, f64)], len: f64) -> Vec<Vec<(f64, f64)>> {
    if points.len() < 2 || len <= 0.0 {
        return vec![points.to_vec()];
    }
    let mut fine = vec![points[0]];
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let steps = (((b.0 - a.0).abs() / (len / 2.0)).ceil() as usize).clamp(1, 10_000);
        for k in 1..=steps {
            let t = k as f64 / steps as f64;
            fine.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
        }
    }
    let mut out = Vec::new();
    let mut current = vec![fine[0]];
    let mut start = fine[0].0;
    let mut on = true;
    for &p in &fine[1..] {
        if on {
            current.push(p);
        }
        if (p.0 - start).abs() >= len {
            if on {
                out.push(std::mem::take(&mut current));
            } else {
                current = vec![p];
            }
            on = !on;
            start = p.0;
        }
    }
    if on && current.len() > 1 {
        out.push(current);
    }
    out
}
