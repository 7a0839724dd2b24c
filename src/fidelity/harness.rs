//! The command line of Pixar's usdImagingGL test harness (`testUsdImagingGLBasicDrawing`), which
//! rendered the Storm baselines of `openusd/usdImagingGL`: parsed from its own flag names into
//! plain settings, applied to a [`Job`], and named as the harness names its images.
//!
//! Every flag the harness takes is recognised; the ones usdrender does not reproduce (wireframe
//! shading, `-idRender`...) are kept, so a report can say which feature a test needs
//! ([`HarnessArgs::features`]).

use std::path::PathBuf;

use crate::job::Job;
use crate::scene::{
    ClipPlanes, DVec3, DVec4, HarnessView, Headlight, Look, WindowPolicy, HARNESS_LIGHT, MAX_CLIP_PLANES,
};
use crate::{Error, Result};

/// The harness's default image size.
pub const WIDGET_SIZE: (u32, u32) = (640, 480);
/// The harness's default clear colour (orange), RGBA as Storm stores it.
pub const CLEAR: [f32; 4] = [1.0, 0.5, 0.1, 1.0];

/// One harness command line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HarnessArgs {
    /// `-stage FILE`.
    pub stage: Option<PathBuf>,
    /// `-write FILE.png`: the image name; with several times or complexities, `_<suffix>` goes
    /// before the extension ([`HarnessArgs::image_name`]).
    pub write: Option<String>,
    /// `-times t1 t2 ...`: one image per time; empty: the stage at its default time.
    pub times: Vec<f64>,
    /// `-complexities c1 c2 ...`: one image per refinement level.
    pub complexities: Vec<f64>,
    /// `-complexity C` (1.0: no refinement).
    pub complexity: Option<f64>,
    /// `-lighting`: the simple light rig; `-camlight` puts its light at the camera;
    /// `-sceneLights` uses the stage's lights instead.
    pub lighting: bool,
    pub camlight: bool,
    pub scene_lights: bool,
    /// `-frameAll`.
    pub frame_all: bool,
    /// `-camera PATH`.
    pub camera: Option<String>,
    /// `-widgetSize W H` (default 640 x 480).
    pub widget_size: Option<(u32, u32)>,
    /// `-clear r g b a`: as stored in the image (Storm writes these values without encoding).
    pub clear: Option<[f32; 4]>,
    /// `-translate x y z`.
    pub translate: Option<DVec3>,
    /// `-guidesPurpose`, `-renderPurpose`, `-proxyPurpose show|hide`.
    pub guides: Option<bool>,
    pub render_purpose: Option<bool>,
    pub proxy: Option<bool>,
    /// `-cullStyle nothing|back|front|backUnlessDoubleSided`.
    pub cull_style: Option<String>,
    /// `-shading flat|smooth|wire|wireOnSurface|points`.
    pub shading: Option<String>,
    /// `-windowPolicy`.
    pub window_policy: Option<String>,
    /// `-renderer NAME` (the baseline comes from another Hydra renderer, e.g. Embree).
    pub renderer: Option<String>,
    /// `-rendererAov NAME`.
    pub renderer_aov: Option<String>,
    /// `-displayWindow x y width height`: where the camera's window lies, in image pixels (y down).
    pub display_window: Option<[f64; 4]>,
    /// `-dataWindow x y width height`: the pixels rendered; the rest keeps the clear colour.
    pub data_window: Option<[f64; 4]>,
    /// `-pixelAspectRatio a`: width over height of one pixel. The harness hands it to
    /// CameraUtilFraming, so it counts only with both windows ([`HarnessView::framing`]).
    pub pixel_aspect: Option<f64>,
    /// `-clipPlane a b c d`, once per plane (at most [`MAX_CLIP_PLANES`]): clipping planes of
    /// the built-in camera, in camera space.
    pub clip_planes: Vec<[f64; 4]>,
    /// `-unloadedAsBounds`: the stage opens with its payloads unloaded, each drawn as a box.
    pub unloaded_as_bounds: bool,
    /// Flags parsed but not reproduced, as written (`-idRender`).
    pub unsupported: Vec<String>,
}

/// Flags without a value that change nothing here (`-offscreen`: we are always offscreen).
const IGNORED: [&str; 1] = ["-offscreen"];

fn bad(what: String) -> Error {
    Error::Option(format!("harness arguments: {what}"))
}

impl HarnessArgs {
    /// Parses the harness's arguments (as in `TESTS.json` or upstream's CMakeLists.txt).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<HarnessArgs> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let mut out = HarnessArgs::default();
        let mut i = 0;
        // The `n` values after the flag at `i`.
        let values = |i: usize, n: usize| -> Result<&[&str]> {
            args.get(i + 1..i + 1 + n)
                .ok_or_else(|| bad(format!("{} takes {n} value(s)", args[i])))
        };
        let number = |flag: &str, v: &str| -> Result<f64> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(format!("{flag}: {v:?} is not a number")))
        };
        let show = |flag: &str, v: &str| -> Result<bool> {
            match v {
                "show" => Ok(true),
                "hide" => Ok(false),
                _ => Err(bad(format!("{flag} takes show or hide, not {v:?}"))),
            }
        };
        while i < args.len() {
            let flag = args[i];
            let mut used = 0;
            match flag {
                f if IGNORED.contains(&f) => {}
                "-lighting" => out.lighting = true,
                "-camlight" => out.camlight = true,
                "-sceneLights" => out.scene_lights = true,
                "-frameAll" => out.frame_all = true,
                "-unloadedAsBounds" => out.unloaded_as_bounds = true,
                "-idRender" => out.unsupported.push(flag.to_string()),
                "-stage" | "-write" | "-camera" | "-cullStyle" | "-shading" | "-windowPolicy" | "-renderer"
                | "-rendererAov" => {
                    let v = values(i, 1)?[0].to_string();
                    used = 1;
                    match flag {
                        "-stage" => out.stage = Some(PathBuf::from(v)),
                        "-write" => out.write = Some(v),
                        "-camera" => out.camera = Some(v),
                        "-cullStyle" => out.cull_style = Some(v),
                        "-shading" => out.shading = Some(v),
                        "-windowPolicy" => out.window_policy = Some(v),
                        "-renderer" => out.renderer = Some(v),
                        _ => out.renderer_aov = Some(v),
                    }
                }
                "-complexity" => {
                    out.complexity = Some(number(flag, values(i, 1)?[0])?);
                    used = 1;
                }
                "-guidesPurpose" | "-renderPurpose" | "-proxyPurpose" => {
                    let v = show(flag, values(i, 1)?[0])?;
                    used = 1;
                    match flag {
                        "-guidesPurpose" => out.guides = Some(v),
                        "-renderPurpose" => out.render_purpose = Some(v),
                        _ => out.proxy = Some(v),
                    }
                }
                "-widgetSize" => {
                    let v = values(i, 2)?;
                    let side = |s: &str| {
                        s.parse::<u32>()
                            .ok()
                            .filter(|&n| n > 0)
                            .ok_or_else(|| bad(format!("-widgetSize: {s:?} is not a size")))
                    };
                    out.widget_size = Some((side(v[0])?, side(v[1])?));
                    used = 2;
                }
                "-translate" => {
                    let v = values(i, 3)?;
                    out.translate = Some(DVec3::new(
                        number(flag, v[0])?,
                        number(flag, v[1])?,
                        number(flag, v[2])?,
                    ));
                    used = 3;
                }
                "-clear" => {
                    let v = values(i, 4)?;
                    let mut c = [0f32; 4];
                    for (k, s) in v.iter().enumerate() {
                        c[k] = number(flag, s)? as f32;
                    }
                    out.clear = Some(c);
                    used = 4;
                }
                "-dataWindow" | "-displayWindow" => {
                    let v = values(i, 4)?;
                    let mut w = [0f64; 4];
                    for (k, s) in v.iter().enumerate() {
                        w[k] = number(flag, s)?;
                    }
                    if flag == "-dataWindow" {
                        out.data_window = Some(w);
                    } else {
                        out.display_window = Some(w);
                    }
                    used = 4;
                }
                "-pixelAspectRatio" => {
                    let v = number(flag, values(i, 1)?[0])?;
                    if v <= 0.0 {
                        return Err(bad(format!("-pixelAspectRatio {v} is not a positive number")));
                    }
                    out.pixel_aspect = Some(v);
                    used = 1;
                }
                "-clipPlane" => {
                    let v = values(i, 4)?;
                    let mut plane = [0f64; 4];
                    for (k, s) in v.iter().enumerate() {
                        plane[k] = number(flag, s)?;
                    }
                    if out.clip_planes.len() == MAX_CLIP_PLANES {
                        return Err(bad(format!("-clipPlane: at most {MAX_CLIP_PLANES} planes")));
                    }
                    out.clip_planes.push(plane);
                    used = 4;
                }
                "-times" | "-complexities" => {
                    // Numbers up to the next flag (no harness flag parses as a number).
                    let list: Vec<f64> = args[i + 1..]
                        .iter()
                        .map_while(|s| s.parse::<f64>().ok().filter(|x| x.is_finite()))
                        .collect();
                    if list.is_empty() {
                        return Err(bad(format!("{flag} takes at least one number")));
                    }
                    used = list.len();
                    if flag == "-times" {
                        out.times = list;
                    } else {
                        out.complexities = list;
                    }
                }
                other => return Err(bad(format!("unknown flag {other:?}"))),
            }
            i += 1 + used;
        }
        if let Some(p) = &out.window_policy {
            if WindowPolicy::from_name(p).is_none() && p != "dontConform" {
                return Err(bad(format!(
                    "-windowPolicy {p:?} (fit, matchVertically, matchHorizontally, crop, dontConform)"
                )));
            }
        }
        Ok(out)
    }

    /// The look the harness lights the stage with.
    pub fn look(&self) -> Look {
        match (self.lighting, self.scene_lights) {
            (false, _) => Look::HarnessUnlit,
            (true, true) => Look::HarnessSceneLights,
            // `-camlight` moves the light by the camera translation, which `-frameAll` takes
            // from the scene: the view carries it ([`HarnessView::camera_light`]).
            (true, false) => Look::HarnessSimple { toward: HARNESS_LIGHT },
        }
    }

    /// The clear colour as usdrender's `clear_color`: the harness writes its values without
    /// encoding (orange 1, 0.5, 0.1 is 255, 127, 25), and so does usdrender with colour
    /// correction disabled, which the harness mode sets.
    pub fn clear_color(&self) -> [f32; 4] {
        self.clear.unwrap_or(CLEAR)
    }

    /// The clear colour as the baseline images store it (8-bit, for silhouettes).
    pub fn clear_stored(&self) -> [f32; 3] {
        let c = self.clear.unwrap_or(CLEAR);
        [c[0], c[1], c[2]]
    }

    /// Purposes drawn besides `default`: the harness shows proxy and hides render and guide
    /// unless told otherwise.
    pub fn purposes(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.render_purpose.unwrap_or(false) {
            p.push("render".to_string());
        }
        if self.proxy.unwrap_or(true) {
            p.push("proxy".to_string());
        }
        if self.guides.unwrap_or(false) {
            p.push("guide".to_string());
        }
        p
    }

    /// The view: the built-in camera's translation and framing, and the window policy of a
    /// `-camera` (the harness's default is matchVertically).
    pub fn view(&self) -> HarnessView {
        let defaults = HarnessView::default();
        HarnessView {
            display_window: self.display_window,
            data_window: self.data_window,
            frame_all: self.frame_all,
            translate: self.translate.unwrap_or(defaults.translate),
            window_policy: self
                .window_policy
                .as_deref()
                .and_then(WindowPolicy::from_name)
                .unwrap_or(defaults.window_policy),
            camera_light: self.lighting && !self.scene_lights && self.camlight,
            corner_samples: self.samples_per_pixel() == 1,
            clip_planes: ClipPlanes::new(
                &self
                    .clip_planes
                    .iter()
                    .map(|&p| DVec4::from_array(p))
                    .collect::<Vec<_>>(),
            ),
        }
    }

    /// Applies the look, view, camera, clear colour, purposes and (unless `keep_size`) the image
    /// size to `job`. Stage, times and output names are the caller's.
    pub fn apply(&self, job: &mut Job, keep_size: bool) {
        job.look = self.look();
        // The harness's lights are all in the look; usdrecord's headlight is not one of them.
        job.headlight = Headlight::Off;
        job.color_correction = false;
        job.clear_color = self.clear_color();
        // Storm shows dome lights to the camera unless told not to; usdrecord is what turns
        // that off (the DomeLight baselines show the dome texture behind the sphere).
        job.dome_visible = true;
        let view = self.view();
        // Without a framing the harness draws through a plain viewport: square pixels.
        job.pixel_aspect = match view.framing() {
            Some(_) => self.pixel_aspect.unwrap_or(1.0),
            None => 1.0,
        };
        job.harness_view = Some(view);
        job.msaa = self.samples_per_pixel();
        job.camera = self.camera.clone();
        job.purposes = self.purposes();
        job.refine_level = self.complexity.map_or(0, crate::job::refine_level_of_complexity);
        job.unloaded_as_bounds = self.unloaded_as_bounds;
        if !keep_size {
            let (w, h) = self.widget_size.unwrap_or(WIDGET_SIZE);
            job.width = w;
            job.height = Some(h);
        }
    }

    /// Samples per pixel that reproduce the renderer the reference came from: Storm
    /// anti-aliases (usdrender's 4x MSAA); the Embree tests run with `HDEMBREE_JITTER_CAMERA=0`
    /// and `HDEMBREE_SAMPLES_TO_CONVERGENCE=1` (their TESTS.json env), one ray per pixel, through
    /// its lower-left corner ([`HarnessView::corner_samples`]): one sample per pixel, the
    /// window moved by half a pixel, rasterizes alike.
    pub fn samples_per_pixel(&self) -> u32 {
        match self.renderer.as_deref() {
            Some("HdEmbreeRendererPlugin") => 1,
            _ => 4,
        }
    }

    /// The features a test with these arguments needs besides meshes, by the names
    /// [`super::FEATURES`] lists.
    pub fn features(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        let refined = self.complexity.is_some_and(|c| c > 1.0) || self.complexities.iter().any(|&c| c > 1.0);
        if refined {
            f.push("subdivision");
        }
        match self.shading.as_deref() {
            Some("wire" | "wireOnSurface") => f.push("wireframe"),
            Some("points") => f.push("points-shading"),
            Some("flat") => f.push("flat-shading"),
            _ => {}
        }
        if self.cull_style.as_deref().is_some_and(|c| c != "nothing") {
            f.push("cull-style");
        }
        if self.scene_lights {
            f.push("lights");
        }
        if self.window_policy.as_deref() == Some("dontConform") {
            f.push("window-policy");
        }
        if self.renderer_aov.as_deref().is_some_and(|a| a != "color") {
            f.push("aovs");
        }
        if !self.clip_planes.is_empty() {
            f.push("clipping-planes");
        }
        if self.pixel_aspect.is_some_and(|a| a != 1.0) {
            f.push("pixel-aspect");
        }
        if self.unloaded_as_bounds {
            f.push("unloaded-as-bounds");
        }
        for u in &self.unsupported {
            if u == "-idRender" {
                f.push("id-render");
            }
        }
        f.sort_unstable();
        f.dedup();
        f
    }

    /// The harness's image name for one image: `-write`'s name, with `_<suffix>` before the
    /// extension when the test renders several times or complexities. Integer times print as
    /// `_%03d` (`_001`), others as the number (`_2.5`); complexities as the number (`_1`, `_1.3`).
    pub fn image_name(&self, time: Option<f64>, complexity: Option<f64>) -> Option<String> {
        let write = self.write.as_deref()?;
        let suffix = match (time, complexity) {
            (Some(t), _) if !self.times.is_empty() => time_suffix(t),
            (_, Some(c)) if !self.complexities.is_empty() => format!("{c}"),
            _ => return Some(write.to_string()),
        };
        Some(match write.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}_{suffix}.{ext}"),
            None => format!("{write}_{suffix}"),
        })
    }
}

/// `_%03d` for whole times, the shortest decimal otherwise.
fn time_suffix(t: f64) -> String {
    if t.fract() == 0.0 && t.abs() < 1e15 {
        format!("{:03}", t as i64)
    } else {
        format!("{t}")
    }
}

/// sRGB transfer function, decoding (0..1).
pub fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> HarnessArgs {
        HarnessArgs::parse(&line.split_whitespace().collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn parses_a_test_line_from_tests_json() {
        let a = parse("-offscreen -lighting -camlight -translate 0 -10 -40 -clear 0.2 0.2 0.2 1 -stage pi.usda -times 0 1 2.5 -write pi.png");
        assert!(a.lighting && a.camlight && !a.frame_all);
        assert_eq!(a.translate, Some(DVec3::new(0.0, -10.0, -40.0)));
        assert_eq!(a.clear, Some([0.2, 0.2, 0.2, 1.0]));
        assert_eq!(a.times, vec![0.0, 1.0, 2.5]);
        assert_eq!(a.stage, Some(PathBuf::from("pi.usda")));
        assert_eq!(a.look(), Look::HarnessSimple { toward: HARNESS_LIGHT });
        assert!(a.view().camera_light);
        assert_eq!(a.image_name(Some(0.0), None).as_deref(), Some("pi_000.png"));
        assert_eq!(a.image_name(Some(2.5), None).as_deref(), Some("pi_2.5.png"));
        assert_eq!(a.view().translate, DVec3::new(0.0, -10.0, -40.0));
    }

    #[test]
    fn defaults_follow_the_harness() {
        let a = parse("-offscreen -frameAll -stage s.usda -write s.png");
        assert_eq!(a.look(), Look::HarnessUnlit);
        assert_eq!(a.image_name(None, None).as_deref(), Some("s.png"));
        assert_eq!(a.purposes(), vec!["proxy".to_string()]);
        let mut job = Job::new("s.usda", "o.png").unwrap();
        a.apply(&mut job, false);
        assert_eq!((job.width, job.height), (640, Some(480)));
        assert_eq!(job.headlight, Headlight::Off);
        assert!(job.dome_visible, "the harness shows dome lights");
        let view = job.harness_view.unwrap();
        assert!(view.frame_all);
        assert_eq!(view.window_policy, WindowPolicy::MatchVertically);
        // Orange written as 1, 0.5, 0.1, without encoding, as the harness does.
        assert_eq!(job.clear_color, [1.0, 0.5, 0.1, 1.0]);
        assert!(!job.color_correction, "the harness writes linear values");
        assert!(a.features().is_empty());
    }

    #[test]
    fn embree_references_take_one_sample_at_each_pixel_corner() {
        let mut job = Job::new("s.usda", "o.png").unwrap();
        parse("-frameAll -stage s.usda -write s.png").apply(&mut job, false);
        assert_eq!(job.msaa, 4, "Storm anti-aliases");
        assert!(!job.harness_view.unwrap().corner_samples);
        parse("-renderer HdEmbreeRendererPlugin -frameAll -stage s.usda -write s.png").apply(&mut job, false);
        assert_eq!(job.msaa, 1);
        assert!(job.harness_view.unwrap().corner_samples);
    }

    #[test]
    fn scene_lights_complexities_and_unsupported_flags_are_features() {
        let a = parse("-frameAll -complexities 1.0 1.3 -offscreen -lighting -sceneLights -shading wireOnSurface -clipPlane -1 0 0 0 -dataWindow 0 0 639 479 -pixelAspectRatio 1.5 -stage r.usda -write r.png");
        assert_eq!(a.data_window, Some([0.0, 0.0, 639.0, 479.0]));
        assert_eq!(a.look(), Look::HarnessSceneLights);
        assert_eq!(a.complexities, vec![1.0, 1.3]);
        assert_eq!(a.image_name(None, Some(1.0)).as_deref(), Some("r_1.png"));
        assert_eq!(a.image_name(None, Some(1.3)).as_deref(), Some("r_1.3.png"));
        assert_eq!(
            a.features(),
            vec!["clipping-planes", "lights", "pixel-aspect", "subdivision", "wireframe"]
        );
        let p = parse("-guidesPurpose show -renderPurpose show -proxyPurpose hide -stage s -write w.png");
        assert_eq!(p.purposes(), vec!["render".to_string(), "guide".to_string()]);
    }

    #[test]
    fn clip_planes_go_to_the_builtin_camera_only() {
        let a = parse("-frameAll -clipPlane 1 0 0 0 -clipPlane 0 1 0 -2 -stage s.usda -write w.png");
        assert_eq!(a.clip_planes, vec![[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, -2.0]]);
        assert_eq!(a.features(), vec!["clipping-planes"]);
        let view = a.view();
        let want = [DVec4::new(1.0, 0.0, 0.0, 0.0), DVec4::new(0.0, 1.0, 0.0, -2.0)];
        assert_eq!(view.clip_planes.as_slice(), &want);
        let bounds = crate::scene::Bounds::EMPTY;
        let builtin = view.builtin_camera(&bounds, crate::scene::UpAxis::Y, 4.0 / 3.0);
        assert_eq!(builtin.clip_planes.as_slice(), &want);
        // A `-camera` keeps its own planes (none here), as the harness's free-camera planes do
        // not reach a stage camera.
        let stage_cam = view.stage_camera(&crate::scene::Camera::default(), 4.0 / 3.0);
        assert!(stage_cam.clip_planes.is_empty());
        let nine = "-clipPlane 1 0 0 0 ".repeat(9);
        let e = HarnessArgs::parse(&nine.split_whitespace().collect::<Vec<_>>()).unwrap_err();
        assert!(e.to_string().contains("at most 8"), "{e}");
    }

    #[test]
    fn bad_lines_name_the_flag() {
        for (line, needle) in [
            ("-bogus", "-bogus"),
            ("-widgetSize 640", "-widgetSize"),
            ("-clear 1 0 x 1", "\"x\""),
            ("-times -stage s", "-times"),
            ("-guidesPurpose maybe", "show or hide"),
            ("-windowPolicy sideways", "sideways"),
        ] {
            let e = HarnessArgs::parse(&line.split_whitespace().collect::<Vec<_>>())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{line}: {e}");
        }
    }
}
