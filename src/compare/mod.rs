//! Image regression: compares rendered images with references (two files, two folders or two frame
//! patterns) by FLIP, PSNR, max difference, share of pixels over idiff-style thresholds and alpha
//! coverage IoU; writes heat maps, a JSON and a JUnit report. Behind `usdrender compare`, and
//! meant to be called by `render` too.
//!
//! Exit codes of [`run`]: 0 every frame passed (warnings allowed), 1 some frame failed or is
//! missing (or, with `strict`, extra), 2 a file could not be read or written.

mod metrics;
mod pairing;
mod report;
pub mod silhouette;

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

pub use metrics::{
    compare_images, compare_with_error_map, flip_error_map, heat_map, Comparison, Metrics, Thresholds, Verdict,
};
pub use pairing::{FramePattern, Pair, Source};
pub use report::{json_report, junit_xml, table};

use crate::{Error, Result};

/// Validated settings of one comparison run.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    pub thresholds: Thresholds,
    /// Extra frames (in ACTUAL, not in EXPECTED) fail instead of warning.
    pub strict: bool,
    /// Where heat maps of failing frames go; `None` writes none.
    pub diff_dir: Option<PathBuf>,
    /// JSON report path.
    pub json: Option<PathBuf>,
    /// JUnit XML report path.
    pub junit: Option<PathBuf>,
}

impl CompareOptions {
    /// The heat-map folder when none is named: `compare-diff/` beside the JSON or JUnit report
    /// (CI keeps the report's folder as an artifact), else `compare-diff/` here.
    pub fn default_diff_dir(json: Option<&Path>, junit: Option<&Path>) -> PathBuf {
        let report = json
            .or(junit)
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty());
        report.unwrap_or(Path::new(".")).join("compare-diff")
    }
}

/// How a pair ended up: compared, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Compared,
    /// Expected, but no actual image.
    Missing,
    /// An actual image with no reference.
    Extra,
    SizeMismatch,
    Unreadable,
}

/// One frame's result.
#[derive(Debug, Clone, Serialize)]
pub struct FrameResult {
    /// The file name (of the actual image when there is one).
    pub name: String,
    /// The frame number when paired through patterns.
    pub frame: Option<f64>,
    pub actual: Option<PathBuf>,
    pub expected: Option<PathBuf>,
    pub status: Status,
    pub verdict: Verdict,
    /// Why the verdict is not `pass`.
    pub reasons: Vec<String>,
    /// Present when both images were read and have the same size.
    pub metrics: Option<Metrics>,
    /// The heat map written for a failing frame.
    pub diff_image: Option<PathBuf>,
    /// Time spent reading and comparing this frame.
    pub seconds: f64,
}

/// Everything one comparison found, in frame (or name) order.
#[derive(Debug, Clone)]
pub struct CompareReport {
    pub actual: String,
    pub expected: String,
    pub options: CompareOptions,
    pub frames: Vec<FrameResult>,
    /// Problems that are no frame's (a heat map or report that could not be written).
    pub errors: Vec<String>,
    pub seconds: f64,
}

/// Counts of a report, as the summary line and the JSON give them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub warned: usize,
    pub failed: usize,
    pub errors: usize,
    pub missing: usize,
    pub extra: usize,
    pub size_mismatch: usize,
    pub verdict: Option<Verdict>,
    pub exit_code: u8,
}

impl CompareReport {
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            total: self.frames.len(),
            ..Summary::default()
        };
        for f in &self.frames {
            match f.verdict {
                Verdict::Pass => s.passed += 1,
                Verdict::Warn => s.warned += 1,
                Verdict::Fail => s.failed += 1,
                Verdict::Error => s.errors += 1,
            }
            match f.status {
                Status::Missing => s.missing += 1,
                Status::Extra => s.extra += 1,
                Status::SizeMismatch => s.size_mismatch += 1,
                _ => {}
            }
        }
        s.errors += self.errors.len();
        s.verdict = Some(self.verdict());
        s.exit_code = self.exit_code();
        s
    }

    /// The worst verdict; `error` when something besides the frames failed; `fail` when nothing
    /// was compared at all (an empty reference set is a broken setup that must not pass silently).
    pub fn verdict(&self) -> Verdict {
        let worst = self.frames.iter().map(|f| f.verdict).max();
        if !self.errors.is_empty() {
            return Verdict::Error;
        }
        worst.unwrap_or(Verdict::Fail)
    }

    /// 0 pass (warnings allowed), 1 fail, 2 unreadable input or unwritable output.
    pub fn exit_code(&self) -> u8 {
        match self.verdict() {
            Verdict::Pass | Verdict::Warn => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        }
    }
}

/// Compares every image of `actual` with its reference in `expected` (files, folders or frame
/// patterns, see [`Source`]), in parallel, writing a heat map for each failing frame into
/// `opts.diff_dir`. Per-frame problems (missing, extra, unreadable, different sizes) are recorded
/// in the report; only an unusable argument (no such file, folder or pattern folder) is an `Err`.
pub fn compare_sets(actual: &str, expected: &str, opts: &CompareOptions) -> Result<CompareReport> {
    opts.thresholds.validate()?;
    let start = Instant::now();
    let pairs = pairing::pair(&Source::classify(actual)?, &Source::classify(expected)?)?;
    log::debug!("compare: {} pair(s) from {actual} and {expected}", pairs.len());
    if let Some(dir) = &opts.diff_dir {
        // Heat maps from an earlier run would be mistaken for this run's.
        remove_old_heat_maps(dir);
    }
    let results: Vec<(FrameResult, Option<String>)> = pairs.par_iter().map(|p| compare_pair(p, opts)).collect();
    let mut errors = Vec::new();
    let frames = results
        .into_iter()
        .map(|(frame, error)| {
            errors.extend(error);
            frame
        })
        .collect();
    Ok(CompareReport {
        actual: actual.to_string(),
        expected: expected.to_string(),
        options: opts.clone(),
        frames,
        errors,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Compares one pair; the second value is an error that is not the frame's (heat map unwritable).
fn compare_pair(pair: &Pair, opts: &CompareOptions) -> (FrameResult, Option<String>) {
    let start = Instant::now();
    let mut r = FrameResult {
        name: pair.name.clone(),
        frame: pair.frame,
        actual: pair.actual.clone(),
        expected: pair.expected.clone(),
        status: Status::Compared,
        verdict: Verdict::Fail,
        reasons: Vec::new(),
        metrics: None,
        diff_image: None,
        seconds: 0.0,
    };
    let (a, e) = match (&pair.actual, &pair.expected) {
        (Some(a), Some(e)) => (a, e),
        (None, Some(e)) => {
            r.status = Status::Missing;
            r.reasons
                .push(format!("missing: no actual image for reference {}", e.display()));
            return (r, None);
        }
        (Some(a), None) => {
            r.status = Status::Extra;
            r.verdict = if opts.strict { Verdict::Fail } else { Verdict::Warn };
            r.reasons.push(format!("extra: {} has no reference image", a.display()));
            return (r, None);
        }
        (None, None) => return (r, None),
    };
    let images = load(a).and_then(|a| Ok((a, load(e)?)));
    let (ia, ie) = match images {
        Ok(images) => images,
        Err(err) => {
            r.status = Status::Unreadable;
            r.verdict = Verdict::Error;
            r.reasons.push(err.to_string());
            return (r, None);
        }
    };
    let comparison = match compare_with_error_map(&ia, &ie, &opts.thresholds) {
        Ok(c) => c,
        Err(err) => {
            r.status = Status::SizeMismatch;
            r.reasons.push(err.to_string());
            r.seconds = start.elapsed().as_secs_f64();
            return (r, None);
        }
    };
    let Comparison { metrics, flip_error } = comparison;
    r.verdict = metrics.verdict;
    r.reasons = metrics.reasons.clone();
    let mut error = None;
    if metrics.verdict == Verdict::Fail {
        if let Some(dir) = &opts.diff_dir {
            match write_heat_map(dir, &pair.name, &flip_error, metrics.width, metrics.height) {
                Ok(path) => r.diff_image = Some(path),
                Err(e) => error = Some(e.to_string()),
            }
        }
    }
    r.metrics = Some(metrics);
    r.seconds = start.elapsed().as_secs_f64();
    log::debug!("compare {}: {} in {:.3} s", r.name, r.verdict.as_str(), r.seconds);
    (r, error)
}

/// Decodes any image the `image` build reads into 8-bit RGBA (deeper images are quantised).
fn load(path: &Path) -> Result<image::RgbaImage> {
    let reader = image::ImageReader::open(path).map_err(|e| Error::io(path, e))?;
    let reader = reader.with_guessed_format().map_err(|e| Error::io(path, e))?;
    let decoded = reader.decode().map_err(|e| Error::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(decoded.to_rgba8())
}

/// The heat map's name: the frame's file name with `.diff.png` in place of its extension.
fn heat_map_path(dir: &Path, name: &str) -> PathBuf {
    let stem = Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.into());
    dir.join(format!("{stem}.diff.png"))
}

fn write_heat_map(dir: &Path, name: &str, error: &[f32], width: u32, height: u32) -> Result<PathBuf> {
    let path = heat_map_path(dir, name);
    let Some(map) = heat_map(error, width, height) else {
        return Err(Error::Encode {
            path,
            reason: "error map does not match the image size".into(),
        });
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    map.save_with_format(&path, image::ImageFormat::Png)
        .map_err(|e| Error::Encode {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    Ok(path)
}

fn remove_old_heat_maps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with(".diff.png") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `usdrender compare`: compares, prints the table and a summary line on stdout, writes the JSON
/// and JUnit reports, and returns the exit code (0, 1 or 2). An `Err` means nothing could be
/// compared (exit code 2).
pub fn run(actual: &str, expected: &str, opts: &CompareOptions) -> Result<u8> {
    let mut report = compare_sets(actual, expected, opts)?;
    if let Some(path) = &opts.json {
        // The JSON names its own exit code, so an error writing the JUnit report comes too late for
        // it; write the JUnit first.
        if let Some(junit) = &opts.junit {
            if let Err(e) = write_text(junit, &junit_xml(&report)) {
                report.errors.push(e.to_string());
            }
        }
        if let Err(e) = write_text(path, &json_report(&report)) {
            report.errors.push(e.to_string());
        }
    } else if let Some(junit) = &opts.junit {
        if let Err(e) = write_text(junit, &junit_xml(&report)) {
            report.errors.push(e.to_string());
        }
    }
    print!("{}", table(&report));
    for e in &report.errors {
        log::error!("{e}");
    }
    Ok(report.exit_code())
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}
