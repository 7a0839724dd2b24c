//! Part of the `usdrender` binary (not the library): what `render` tells people and programs while
//! it runs, the `--frame-log` file and the progress display (a bar on a terminal, log lines
//! otherwise, JSON events with `--json`).

use anyhow::Context;

use usdrender::job::Job;
use usdrender::schedule::{self, Event};

/// `--frame-log`: one JSON line per frame, appended with one write each, so several processes
/// (farm tasks) can share one file.
pub struct FrameLog {
    file: std::fs::File,
    line: String,
}

impl FrameLog {
    pub fn open(path: &std::path::Path) -> anyhow::Result<FrameLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening frame log {}", path.display()))?;
        Ok(FrameLog {
            file,
            line: String::with_capacity(256),
        })
    }

    pub fn record(&mut self, event: &Event<'_>, job: &Job) -> anyhow::Result<()> {
        use std::io::Write;
        let mut lines = Vec::new();
        match event {
            Event::Started { skipped, .. } => {
                for &frame in skipped.iter() {
                    lines.push(serde_json::json!({
                        "frame": frame, "adapter": null, "ms": null,
                        "output": job.output.path(frame), "status": "skipped",
                    }));
                }
            }
            Event::Frame(o) => lines.push(serde_json::json!({
                "frame": o.frame,
                "adapter": o.adapter,
                "ms": (o.render_ms * 1000.0).round() / 1000.0,
                "output": o.path,
                "status": if o.error.is_some() { "failed" } else { "ok" },
                "error": o.error,
                "pid": std::process::id(),
            })),
        }
        for value in lines {
            self.line.clear();
            self.line.push_str(&value.to_string());
            self.line.push('\n');
            self.file.write_all(self.line.as_bytes())?;
        }
        Ok(())
    }
}

pub enum ProgressStyle {
    Bar,
    Log,
    Json,
    Quiet,
}

/// Progress for people (a bar on a terminal, log lines otherwise) or programs (`--json`).
pub struct Progress {
    style: ProgressStyle,
    bar: Option<indicatif::ProgressBar>,
    adapters: Vec<String>,
    per_adapter: Vec<usize>,
    done: usize,
    total: usize,
    started: std::time::Instant,
}

impl Progress {
    pub fn new(style: ProgressStyle) -> Progress {
        Progress {
            style,
            bar: None,
            adapters: Vec::new(),
            per_adapter: Vec::new(),
            done: 0,
            total: 0,
            started: std::time::Instant::now(),
        }
    }

    pub fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Started {
                total,
                skipped,
                width,
                height,
                adapters,
                camera,
            } => {
                self.total = *total;
                self.adapters = adapters.to_vec();
                self.per_adapter = vec![0; adapters.len()];
                self.started = std::time::Instant::now();
                match self.style {
                    ProgressStyle::Json => println!(
                        "{}",
                        serde_json::json!({"event": "start", "total": total, "skipped": skipped.len(),
                            "width": width, "height": height, "adapters": adapters, "camera": camera})
                    ),
                    ProgressStyle::Bar => {
                        let bar = indicatif::ProgressBar::new(*total as u64);
                        bar.set_style(
                            indicatif::ProgressStyle::with_template(
                                "{bar:40.cyan/blue} {pos}/{len} frames  {per_sec}  ETA {eta}  {msg}",
                            )
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                        );
                        self.bar = Some(bar);
                    }
                    ProgressStyle::Log | ProgressStyle::Quiet => {}
                }
            }
            Event::Frame(o) => {
                self.done += 1;
                if let Some(i) = self.adapters.iter().position(|a| *a == o.adapter) {
                    self.per_adapter[i] += 1;
                }
                match self.style {
                    ProgressStyle::Json => println!(
                        "{}",
                        serde_json::json!({"event": "frame", "frame": o.frame, "adapter": o.adapter,
                            "ms": o.render_ms, "output": o.path, "ok": o.error.is_none(), "error": o.error,
                            "done": self.done, "total": self.total})
                    ),
                    ProgressStyle::Bar => {
                        if let Some(bar) = &self.bar {
                            let counts: Vec<String> = self
                                .adapters
                                .iter()
                                .zip(&self.per_adapter)
                                .map(|(a, n)| format!("{}: {n}", short(a)))
                                .collect();
                            bar.set_message(counts.join("  "));
                            bar.inc(1);
                            if let Some(e) = &o.error {
                                bar.println(format!("frame {} failed: {e}", o.frame));
                            }
                        }
                    }
                    ProgressStyle::Log | ProgressStyle::Quiet => {}
                }
            }
        }
    }

    pub fn finish(&mut self, report: &schedule::Report) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let ProgressStyle::Json = self.style {
            println!(
                "{}",
                serde_json::json!({"event": "end", "written": report.rendered.len(), "skipped": report.skipped.len(),
                    "failed": report.failed.iter().map(|f| f.frame).collect::<Vec<_>>(),
                    "seconds": self.started.elapsed().as_secs_f64(), "interrupted": report.interrupted})
            );
        }
    }
}

/// An adapter name short enough for a progress line.
fn short(name: &str) -> &str {
    name.split(" (").next().unwrap_or(name)
}
