//! Progress on stderr: an `indicatif` bar on a terminal (bytes of the file read, rows, rows/s,
//! ETA from the file size), plain periodic lines otherwise (logs, CI, `nohup`).

use crate::checkpoint::Counters;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, lines otherwise.
    Auto,
    Bar,
    Lines,
    Off,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    file_size: u64,
    started: Instant,
    last_line: Instant,
    interval: Duration,
    /// Rows already done before this process (a resumed run), not counted in its rate.
    rows_at_start: u64,
}

impl Progress {
    pub fn new(mode: ProgressMode, file_size: u64, rows_at_start: u64) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Lines,
            other => other,
        };
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(file_size), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            lines: mode == ProgressMode::Lines,
            file_size,
            started: now,
            last_line: now,
            interval: Duration::from_secs(5),
            rows_at_start,
        }
    }

    fn rate(&self, rows: u64) -> f64 {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        (rows.saturating_sub(self.rows_at_start)) as f64 / secs
    }

    /// After each chunk: `file_read` bytes of the file read so far.
    pub fn update(&mut self, file_read: u64, counters: &Counters) {
        let rate = self.rate(counters.rows);
        if let Some(bar) = &self.bar {
            bar.set_position(file_read.min(self.file_size));
            bar.set_message(format!(
                "{} rows, {rate:.0} rows/s, {} rejected",
                counters.rows, counters.rejected
            ));
        } else if self.lines && self.last_line.elapsed() >= self.interval {
            self.last_line = Instant::now();
            let pct = if self.file_size == 0 {
                100.0
            } else {
                100.0 * file_read.min(self.file_size) as f64 / self.file_size as f64
            };
            let eta = if pct > 0.0 {
                self.started.elapsed().as_secs_f64() * (100.0 - pct) / pct
            } else {
                0.0
            };
            eprintln!(
                "import: {pct:.1}% of the file, {} rows, {rate:.0} rows/s, {} rejected, ETA {eta:.0} s",
                counters.rows, counters.rejected
            );
        }
    }

    /// A line saying what the run is doing now (not shown with `--progress off`).
    pub fn message(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.println(text);
        } else if self.lines {
            eprintln!("import: {text}");
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}
