//! Validated render settings: what the command line (or a test) asks for, checked once, passed
//! by reference to everything downstream. No global options.

use std::path::PathBuf;

use crate::frames::FrameSlice;
use crate::gpu::AdapterSelection;
use crate::output::{self, Encoding, Format, Pattern};
use crate::{Error, Result};

/// What to do when an output file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Stop before rendering and say which files exist (nothing is overwritten unless asked).
    #[default]
    Refuse,
    /// Skip frames whose file exists and decodes; render the rest (resume after a crash).
    Skip,
    /// Render every frame and replace existing files.
    Overwrite,
}

/// One render: a stage, the frames, the camera, the image size and where the files go.
#[derive(Debug, Clone)]
pub struct Job {
    pub stage: PathBuf,
    pub session_layer: Option<PathBuf>,
    /// Frames to render; `None` means the stage's default range.
    pub frames: Option<Vec<f64>>,
    pub output: Pattern,
    /// The image format and its options (bit depth, JPEG quality, EXR precision and compression,
    /// where AOVs go). `Copy`: the encoder pool takes it as it is.
    pub format: Encoding,
    /// AOVs to write besides the beauty, by their canonical names (`output::AOV_NAMES`):
    /// EXR layers or side files, as `format.aov_files` says.
    pub aovs: Vec<String>,
    pub camera: Option<String>,
    pub width: u32,
    /// `None`: the camera's aperture aspect decides.
    pub height: Option<u32>,
    /// Purposes drawn besides `default`.
    pub purposes: Vec<String>,
    pub adapters: AdapterSelection,
    pub existing: Existing,
    /// How many times a failed frame is tried again (on whichever adapter is free first).
    pub retries: u32,
    /// Farm tasks: the part of the frame list this process renders.
    pub slice: Option<FrameSlice>,
    /// Write files (`false`: encode and discard, to measure the pipeline without the disk).
    pub write: bool,
    /// Benchmarks only: frame number `n` shows time code `cycle[n % len]`, so a short range can be
    /// rendered many times under distinct file names.
    pub cycle: Option<Vec<f64>>,
}

/// Largest image side we accept: wgpu's default texture limit.
pub const MAX_SIDE: u32 = 8192;

impl Job {
    /// A job with usdrecord's defaults (960 wide, default range, render purpose).
    pub fn new(stage: impl Into<PathBuf>, output: &str) -> Result<Job> {
        let output = Pattern::parse(output)?;
        let format = Format::choose(None, &output)?;
        Ok(Job {
            stage: stage.into(),
            session_layer: None,
            frames: None,
            output,
            format: Encoding::new(format),
            aovs: Vec::new(),
            camera: None,
            width: 960,
            height: None,
            purposes: vec!["render".to_string()],
            adapters: AdapterSelection::default(),
            existing: Existing::Refuse,
            retries: 1,
            slice: None,
            write: true,
            cycle: None,
        })
    }

    /// Checks the settings that do not need the stage.
    pub fn validate(&self) -> Result<()> {
        if self.width == 0 || self.width > MAX_SIDE {
            return Err(Error::Option(format!(
                "--width {} must be between 1 and {MAX_SIDE}",
                self.width
            )));
        }
        if let Some(h) = self.height {
            if h == 0 || h > MAX_SIDE {
                return Err(Error::Option(format!("--height {h} must be between 1 and {MAX_SIDE}")));
            }
        }
        if let Some(frames) = &self.frames {
            if frames.is_empty() {
                return Err(Error::Option("--frames selects no frame".into()));
            }
            self.output.check_frames(frames)?;
        }
        self.format.validate()?;
        for aov in &self.aovs {
            if output::aov_name(aov)? != aov {
                return Err(Error::Option(format!(
                    "--aov {aov:?}: write it as {:?}",
                    output::aov_name(aov)?
                )));
            }
        }
        for p in &self.purposes {
            if !matches!(p.as_str(), "render" | "proxy" | "guide") {
                return Err(Error::Option(format!("unknown purpose {p:?} (render, proxy, guide)")));
            }
        }
        Ok(())
    }

    /// Whether frames must carry linear pixels ([`output::Frame::linear`]): EXR, 16-bit PNG/TIFF.
    pub fn needs_linear(&self) -> bool {
        self.format.needs_linear()
    }

    /// Every file `frame` writes: its beauty, then its AOV side files. `--skip-existing` counts a
    /// frame as done only when all of them are whole images ([`output::is_complete_frame`]).
    pub fn frame_outputs(&self, frame: f64) -> Vec<PathBuf> {
        output::frame_files(&self.output.path(frame), &self.format, &self.aovs)
    }

    /// The frames this process renders: the job's (or the stage's default) list, cut to the farm
    /// task's slice.
    pub fn task_frames(&self, all: Vec<f64>) -> Result<Vec<f64>> {
        match &self.slice {
            Some(slice) => slice.select(&all),
            None => Ok(all),
        }
    }

    /// The time code frame number `frame` shows (the frame itself, unless a bench cycle is set).
    pub fn time_of(&self, frame: f64) -> f64 {
        match &self.cycle {
            Some(c) if !c.is_empty() => c[(frame.max(0.0) as usize) % c.len()],
            _ => frame,
        }
    }

    /// The image height for a camera of `aspect` (width over height), as usdrecord computes it.
    pub fn height_for(&self, aspect: f64) -> u32 {
        match self.height {
            Some(h) => h,
            None => {
                let aspect = if aspect.is_finite() && aspect > 0.0 {
                    aspect
                } else {
                    1.0
                };
                ((self.width as f64 / aspect) as u32).clamp(1, MAX_SIDE)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn height_follows_the_aperture_like_usdrecord() {
        let job = Job::new("s.usda", "o.####.png").unwrap();
        assert_eq!(job.height_for(36.0 / 24.0), 640); // AnimCube's baseline is 960 x 640
        assert_eq!(job.height_for(16.0 / 9.0), 540);
        assert_eq!(job.height_for(0.0), 960);
        let job = Job {
            height: Some(200),
            ..job
        };
        assert_eq!(job.height_for(1.5), 200);
    }

    #[test]
    fn validation_names_the_bad_option() {
        let job = Job::new("s.usda", "o.####.png").unwrap();
        assert!(job.validate().is_ok());
        let e = Job {
            width: 0,
            ..job.clone()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("--width"), "{e}");
        let e = Job {
            frames: Some(vec![1.5]),
            ..job.clone()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("1.5"), "{e}");
        let e = Job {
            purposes: vec!["bogus".into()],
            ..job
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
