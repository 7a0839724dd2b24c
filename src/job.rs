//! Validated render settings: what the command line (or a test) asks for, checked once, passed
//! by reference to everything downstream. No global options.

use std::path::PathBuf;

use crate::frames::FrameSlice;
use crate::gpu::{self, AdapterSelection, RenderSettings};
use crate::output::{self, Encoding, Format, Pattern};
use crate::scene::shutter::{MotionBlur, MAX_MOTION_SAMPLES};
use crate::scene::{Camera, HarnessView, Headlight, Look, Scene};
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
    /// Width over height of one pixel (`--pixel-aspect`, 1: square). The camera's window is
    /// fitted to the picture as displayed, `width * pixel_aspect` by `height`.
    pub pixel_aspect: f64,
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
    /// Whose lighting rig lights the stage ([`Look::Usdrecord`] unless `--harness` says otherwise).
    pub look: Look,
    /// When the camera headlight is lit (`--headlight auto|on|off`; auto: only without stage lights).
    pub headlight: Headlight,
    /// Linear RGBA behind the geometry (`--clear-color`; usdrecord's transparent black by default).
    pub clear_color: [f32; 4],
    /// Draw the dome light's texture as the background (`--enable-dome-light-visibility`).
    pub dome_visible: bool,
    /// Encode 8-bit images to sRGB (`--color-correction sRGB`, the default); `false` writes the
    /// linear values as they are (`disabled`: what usdrecord 24.08 and the usdImagingGL harness
    /// write by default, so their images compare like for like).
    pub color_correction: bool,
    /// `--harness`: frame the stage as Pixar's usdImagingGL test harness does (its built-in camera,
    /// or the `-camera` prim with the harness's window policy). `None`: usdrender's camera rules.
    pub harness_view: Option<HarnessView>,
    /// Where opaque surfaces are shaded (`--shading-pass`; a compute pass where possible).
    pub shading: gpu::ShadingPath,
    /// Samples per pixel (MSAA): 4, or 1 for the harness's `-renderer HdEmbreeRendererPlugin`
    /// tests, whose references take one ray through each pixel's centre.
    pub msaa: u32,
    /// Subdivision levels for subdivision surfaces (`--complexity`; 0: their control meshes).
    pub refine_level: u32,
    /// `--max-memory`: the stage's budgets (layers, time samples, textures) are shares of it;
    /// `None`: of the machine's memory.
    pub max_memory: Option<u64>,
    /// `--unloaded-as-bounds`: open the stage with its payloads unloaded and draw each unloaded
    /// prim as the box of its bounds (as the usdImagingGL harness's `-unloadedAsBounds`).
    pub unloaded_as_bounds: bool,
    /// `--motion-blur`: each frame averages renders at sub-frame times over its shutter
    /// ([`crate::scene::shutter`]); `None`: one render at the frame's time (Storm's default).
    pub motion_blur: Option<MotionBlur>,
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
            max_memory: None,
            unloaded_as_bounds: false,
            frames: None,
            output,
            format: Encoding::new(format),
            aovs: Vec::new(),
            camera: None,
            width: 960,
            height: None,
            pixel_aspect: 1.0,
            purposes: vec!["render".to_string()],
            adapters: AdapterSelection::default(),
            existing: Existing::Refuse,
            retries: 1,
            slice: None,
            write: true,
            cycle: None,
            look: Look::default(),
            headlight: Headlight::default(),
            clear_color: [0.0; 4],
            dome_visible: false,
            color_correction: true,
            harness_view: None,
            shading: gpu::ShadingPath::Auto,
            msaa: 4,
            refine_level: 0,
            motion_blur: None,
        })
    }

    /// Checks the settings that do not need the stage.
    pub fn validate(&self) -> Result<()> {
        if !(self.pixel_aspect.is_finite() && self.pixel_aspect > 0.0) {
            return Err(Error::Option(format!(
                "--pixel-aspect {} must be a positive number",
                self.pixel_aspect
            )));
        }
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
        if self.clear_color.iter().any(|c| !c.is_finite()) {
            return Err(Error::Option(format!(
                "--clear-color {:?} must be four finite numbers",
                self.clear_color
            )));
        }
        if let Some(blur) = &self.motion_blur {
            if !(1..=MAX_MOTION_SAMPLES).contains(&blur.samples) {
                return Err(Error::Option(format!(
                    "--motion-samples {} must be between 1 and {MAX_MOTION_SAMPLES}",
                    blur.samples
                )));
            }
            if let Some(s) = blur.shutter {
                if !(s.open.is_finite() && s.close.is_finite() && s.close >= s.open) {
                    return Err(Error::Option(format!(
                        "--shutter {},{}: expected OPEN,CLOSE with CLOSE not before OPEN",
                        s.open, s.close
                    )));
                }
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

    /// The camera a frame is drawn through, for an image of `width` x `height`: the evaluated one
    /// (`evaluated`, from the stage's camera rules) unless [`Job::harness_view`] is set; then the
    /// harness's built-in camera, or with `--camera` the stage camera under the harness's window
    /// policy.
    pub fn frame_camera(&self, scene: &Scene, evaluated: &Camera, width: u32, height: u32) -> Camera {
        let Some(view) = &self.harness_view else {
            return *evaluated;
        };
        let image_aspect = width as f64 / height.max(1) as f64;
        let aspect = view.window_aspect(image_aspect, self.pixel_aspect);
        let camera = if self.camera.is_some() && scene.camera.path.is_some() {
            *evaluated
        } else {
            // The harness builds its free camera for the widget's shape, framing the bounds at
            // the default time code; the window policy then conforms it like a stage camera (a
            // no-op without a display window).
            view.builtin_camera(scene.default_time_framing_bounds(), scene.up_axis, image_aspect)
        };
        let placed = view.place_in_display_window(view.stage_camera(&camera, aspect), width, height);
        view.sample_at_corners(placed, width, height)
    }

    /// The look `scene` is lit with: the job's, with the harness's `-camlight` light placed by
    /// the camera translation (which `-frameAll` takes from the scene's bounds).
    pub fn look_for(&self, scene: &Scene) -> Look {
        match (self.look, &self.harness_view) {
            (Look::HarnessSimple { .. }, Some(view)) if view.camera_light => Look::HarnessSimple {
                toward: view
                    .camera_light(scene.default_time_framing_bounds(), scene.up_axis)
                    .as_vec3()
                    .to_array(),
            },
            (look, _) => look,
        }
    }

    /// What the GPU needs from this job for an image of `scene` `height` pixels high: size, MSAA,
    /// linear output, AOVs, look, headlight, clear colour and dome visibility.
    // Every field is named today; the update keeps this building when the GPU side adds one.
    #[allow(clippy::needless_update)]
    pub fn render_settings(&self, scene: &Scene, height: u32) -> RenderSettings {
        RenderSettings {
            width: self.width,
            height,
            msaa: self.msaa,
            // EXR and 16-bit outputs take linear floats; the 8-bit image comes with them.
            linear: self.needs_linear(),
            // `validate` has checked the names (`output::AOV_NAMES`, the same as AovKind's).
            aovs: self
                .aovs
                .iter()
                .filter_map(|name| gpu::AovKind::from_name(name))
                .collect(),
            look: self.look_for(scene),
            headlight: self.headlight,
            clear_color: self.clear_color,
            dome_visible: self.dome_visible,
            srgb: self.color_correction,
            shading: self.shading,
            scissor: self.harness_view.and_then(|v| v.scissor(self.width, height)),
            pixel_aspect: self.pixel_aspect,
            motion_blur: self.motion_blur.is_some_and(|b| b.samples > 1),
            ..RenderSettings::default()
        }
    }

    /// The image height for a camera of `aspect` (width over height), as usdrecord computes it:
    /// the picture as displayed takes the camera's shape, so wide pixels
    /// ([`Job::pixel_aspect`] above 1) make more rows.
    pub fn height_for(&self, aspect: f64) -> u32 {
        match self.height {
            Some(h) => h,
            None => {
                let aspect = if aspect.is_finite() && aspect > 0.0 {
                    aspect
                } else {
                    1.0
                };
                ((self.width as f64 * self.pixel_aspect / aspect) as u32).clamp(1, MAX_SIDE)
            }
        }
    }
}

/// usdrecord's `--complexity` names and the refinement level each asks for (Hydra's mapping of
/// the complexities 1.0, 1.1, 1.2 and 1.3).
pub fn refine_level_of(name: &str) -> Option<u32> {
    Some(match name {
        "low" => 0,
        "medium" => 1,
        "high" => 2,
        "veryhigh" => 3,
        _ => return None,
    })
}

/// The refinement level of a Hydra complexity (the usdImagingGL harness's `-complexity`), as
/// UsdImagingGL maps it: 1.0 draws control meshes, each tenth above it one level more, up to 8
/// at 2.0.
pub fn refine_level_of_complexity(complexity: f64) -> u32 {
    if !complexity.is_finite() {
        return 0;
    }
    (((complexity - 1.0) * 10.0 + 0.1).floor()).clamp(0.0, 8.0) as u32
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
    fn harness_view_replaces_the_camera_only_when_asked() {
        use crate::scene::{Bounds, CameraChoice, CameraRule, DVec3};
        let job = Job::new("s.usda", "o.####.png").unwrap();
        let scene = Scene {
            bounds: Bounds {
                min: DVec3::splat(-1.0),
                max: DVec3::splat(1.0),
            },
            ..Scene::default()
        };
        let stage_cam = Camera::default();
        assert_eq!(job.frame_camera(&scene, &stage_cam, 640, 480), stage_cam);
        let harness = Job {
            harness_view: Some(HarnessView {
                frame_all: true,
                ..HarnessView::default()
            }),
            ..job
        };
        let cam = harness.frame_camera(&scene, &stage_cam, 640, 480);
        // Framed: centre at the origin, backed off by the diagonal (2 * sqrt(3)).
        let eye = cam.to_world.w_axis.truncate();
        assert!((eye - DVec3::new(0.0, 0.0, 12f64.sqrt())).length() < 1e-12, "{eye}");
        // With -camera the stage camera stays, its window matched vertically to 4:3.
        let with_camera = Job {
            camera: Some("/cam".into()),
            ..harness
        };
        let scene = Scene {
            camera: CameraChoice {
                path: Some("/cam".into()),
                rule: CameraRule::Flag,
            },
            ..scene
        };
        let cam = with_camera.frame_camera(&scene, &stage_cam, 640, 480);
        assert_eq!(cam.to_world, stage_cam.to_world);
        assert_eq!(cam.lens.vertical_aperture, stage_cam.lens.vertical_aperture);
        assert!((cam.lens.horizontal_aperture - stage_cam.lens.vertical_aperture * 4.0 / 3.0).abs() < 1e-12);
    }

    /// testUsdImagingGLFraming_4: framing.usda's main_cam (focal length 50, aperture 40 x 30,
    /// offsets 10, 5) with `-dataWindow 0 0 640 480 -displayWindow 0 0 320 480 -windowPolicy fit
    /// -pixelAspectRatio 1.5`. By hand, as CameraUtilFraming does it: the window is fitted to
    /// 1.5 * 320 / 480 = 1, so it becomes 40 x 40 around the offsets, x in [-10, 30] and y in
    /// [-15, 25] aperture units, and that lands on the display window's pixels. A camera-space
    /// point at depth 50 sits at (x, y) aperture units.
    #[test]
    fn harness_framing_with_wide_pixels_lands_the_window_on_the_display_window() {
        use crate::scene::{CameraChoice, CameraRule, Lens, WindowPolicy};
        let cam = Camera {
            lens: Lens {
                focal_length: 50.0,
                horizontal_aperture: 40.0,
                vertical_aperture: 30.0,
                horizontal_aperture_offset: 10.0,
                vertical_aperture_offset: 5.0,
                ..Lens::default()
            },
            ..Camera::default()
        };
        let scene = Scene {
            camera: CameraChoice {
                path: Some("/main_cam".into()),
                rule: CameraRule::Flag,
            },
            ..Scene::default()
        };
        let job = Job {
            camera: Some("/main_cam".into()),
            pixel_aspect: 1.5,
            harness_view: Some(HarnessView {
                window_policy: WindowPolicy::Fit,
                display_window: Some([0.0, 0.0, 320.0, 480.0]),
                data_window: Some([0.0, 0.0, 640.0, 480.0]),
                ..HarnessView::default()
            }),
            ..Job::new("framing.usda", "o.png").unwrap()
        };
        let drawn = job.frame_camera(&scene, &cam, 640, 480);
        let m = drawn.view_projection_px(640, 480, job.pixel_aspect);
        let pixel = |x: f64, y: f64| {
            let c = m * glam::DVec4::new(x, y, -50.0, 1.0);
            ((c.x / c.w + 1.0) * 320.0, (1.0 - c.y / c.w) * 240.0)
        };
        for ((x, y), want) in [
            ((-10.0, 25.0), (0.0, 0.0)),
            ((30.0, -15.0), (320.0, 480.0)),
            ((10.0, 5.0), (160.0, 240.0)),
            // Past the display window: the data window goes on at the same pixel sizes.
            ((70.0, 5.0), (640.0, 240.0)),
        ] {
            let got = pixel(x, y);
            assert!(
                (got.0 - want.0).abs() < 1e-9 && (got.1 - want.1).abs() < 1e-9,
                "({x}, {y}): {got:?}, want {want:?}"
            );
        }
        // Without a data window the harness has no framing: square pixels, the image's aspect.
        let view = HarnessView {
            data_window: None,
            ..job.harness_view.unwrap()
        };
        assert!(view.framing().is_none());
        assert_eq!(view.window_aspect(4.0 / 3.0, 1.0), 4.0 / 3.0);
    }

    #[test]
    fn wide_pixels_make_more_rows() {
        let job = Job {
            width: 640,
            pixel_aspect: 2.0,
            ..Job::new("s.usda", "o.png").unwrap()
        };
        assert_eq!(job.height_for(4.0 / 3.0), 960);
        let e = Job {
            pixel_aspect: 0.0,
            ..job
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("--pixel-aspect"), "{e}");
    }

    #[test]
    fn harness_camlight_is_placed_by_the_framed_translation() {
        use crate::scene::{Bounds, DVec3, HARNESS_LIGHT};
        let scene = Scene {
            bounds: Bounds {
                min: DVec3::splat(-1.0),
                max: DVec3::splat(1.0),
            },
            ..Scene::default()
        };
        let view = HarnessView {
            frame_all: true,
            camera_light: true,
            ..HarnessView::default()
        };
        let job = Job {
            look: Look::HarnessSimple { toward: HARNESS_LIGHT },
            harness_view: Some(view),
            ..Job::new("s.usda", "o.####.png").unwrap()
        };
        // Framed translation (0, 0, -sqrt(12)); the light goes toward (tx, tz, ty).
        let toward = [0.0, -(12f64.sqrt() as f32), 0.0];
        assert_eq!(job.look_for(&scene), Look::HarnessSimple { toward });
        assert_eq!(job.render_settings(&scene, 480).look, Look::HarnessSimple { toward });
        // Without -camlight the fixed light stays; usdrecord's look is untouched.
        let fixed = Job {
            harness_view: Some(HarnessView {
                camera_light: false,
                ..view
            }),
            ..job.clone()
        };
        assert_eq!(fixed.look_for(&scene), Look::HarnessSimple { toward: HARNESS_LIGHT });
        let usdrecord = Job {
            look: Look::Usdrecord,
            ..job
        };
        assert_eq!(usdrecord.look_for(&scene), Look::Usdrecord);
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
