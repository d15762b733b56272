//! Progress of running stages: one indicatif bar per stage on a terminal, plain log lines
//! (every 10% and at most every few seconds) when stderr is not a terminal (CI, pipes). A run
//! of many stages (a sweep, an atlas) shows one bar for all of them instead of a bar and two
//! lines per stage: see [`Progress::set_detail`].

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    multi: Option<MultiProgress>,
    /// Whether each stage's own lines and bar are shown.
    detail: AtomicBool,
}

impl Progress {
    pub fn new() -> Self {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("SPIKE_PLAIN").is_none();
        Progress {
            multi: tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            detail: AtomicBool::new(true),
        }
    }

    /// Prints a line without breaking the bars.
    pub fn println(&self, line: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Shows (or hides) each stage's lines and bars from now on; bars made before stay.
    pub(crate) fn set_detail(&self, on: bool) {
        self.detail.store(on, Ordering::Relaxed);
    }

    /// A line about one stage, shown while detail is on.
    pub(crate) fn detail(&self, line: &str) {
        if self.detail.load(Ordering::Relaxed) {
            self.println(line);
        }
    }

    /// A bar of the whole run (all stages, a transfer, an audit): always shown.
    pub(crate) fn bar(&self, name: &str, total: u64, unit: &str) -> Bar {
        self.make_bar(name, total, unit, false)
    }

    /// One stage's bar: shown while detail is on.
    pub(crate) fn stage_bar(&self, stage: &str, total: u64, unit: &str) -> Bar {
        self.make_bar(stage, total, unit, !self.detail.load(Ordering::Relaxed))
    }

    fn make_bar(&self, stage: &str, total: u64, unit: &str, quiet: bool) -> Bar {
        let bar = self.multi.as_ref().filter(|_| !quiet).map(|m| {
            let b = m.add(ProgressBar::new(total));
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix:>28.bold} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(truncate(stage, 28));
            b.set_message(unit.to_string());
            b
        });
        Bar {
            bar,
            quiet,
            stage: stage.to_string(),
            unit: unit.to_string(),
            plain: Mutex::new(Plain {
                total,
                pos: 0,
                start: Instant::now(),
                last: Instant::now(),
                last_decile: 0,
            }),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

struct Plain {
    total: u64,
    pos: u64,
    start: Instant,
    last: Instant,
    last_decile: u64,
}

pub struct Bar {
    bar: Option<ProgressBar>,
    /// Prints nothing (a stage's bar while detail is off).
    quiet: bool,
    stage: String,
    unit: String,
    plain: Mutex<Plain>,
}

impl Bar {
    /// Sets the total once it is known (a download's size).
    pub fn set_length(&self, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
        }
        self.plain.lock().expect("progress lock").total = total;
    }

    pub fn set_position(&self, pos: u64) {
        if let Some(b) = &self.bar {
            b.set_position(pos);
            return;
        }
        if self.quiet {
            return;
        }
        let mut p = self.plain.lock().expect("progress lock");
        p.pos = pos;
        let decile = (pos * 10).checked_div(p.total).unwrap_or(10).min(10);
        if decile > p.last_decile && p.last.elapsed() >= Duration::from_secs(2)
            || decile == 10 && p.last_decile < 10
        {
            p.last_decile = decile;
            p.last = Instant::now();
            let elapsed = p.start.elapsed().as_secs_f64();
            let eta = if pos > 0 {
                elapsed * (p.total.saturating_sub(pos)) as f64 / pos as f64
            } else {
                0.0
            };
            eprintln!(
                "  {}: {}% ({pos}/{} {}), {elapsed:.1}s elapsed, eta {eta:.0}s",
                self.stage,
                decile * 10,
                p.total,
                self.unit
            );
        }
    }

    pub fn inc(&self, n: u64) {
        let pos = match &self.bar {
            Some(b) => b.position() + n,
            None => self.plain.lock().expect("progress lock").pos + n,
        };
        self.set_position(pos);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
