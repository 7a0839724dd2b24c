//! `usdrender fidelity`: renders every test of the shared corpus that comes with a reference image
//! (Pixar's usdImagingGL and usdrecord Storm baselines, usd-wg's usdrecord 22.08 screenshots)
//! like for like, in process on one adapter, and compares each image with its reference by
//! silhouette IoU and FLIP. The report says, per test, which features it needs and whether
//! usdrender has them, so a poor figure can be told apart from a feature that comes later.
//!
//! Silhouettes ([`crate::compare::silhouette`]): harness images are opaque over a clear colour, so
//! a pixel is covered when its colour differs from that colour by more than 5/255 (ours is
//! composited over the same colour first); usdrecord images have a transparent background, so a
//! pixel is covered when its alpha is at least one half.

pub mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use image::RgbaImage;
use serde::Serialize;

use crate::compare::{self, silhouette, Thresholds};
use crate::gpu::{self, AdapterSelection, FrameBuffers, GpuAdapter, ImageEncoding, Renderer};
use crate::job::Job;
use crate::scene::{Camera, CameraRule, UsdrecordVersion};
use crate::stage::{ExtractOptions, LoadedStage, OpenOptions};
use crate::{Error, Result};

pub use harness::HarnessArgs;

/// Silhouette IoU an image must reach.
pub const IOU_TARGET: f64 = 0.98;
/// FLIP mean an image of a shading test ([`FLIP_SUITES`]) must stay under.
pub const FLIP_TARGET: f64 = 0.10;
/// Suites whose images are held to [`FLIP_TARGET`]: the ones about materials and lights.
pub const FLIP_SUITES: [&str; 5] = [
    "PreviewSurface",
    "DomeLight",
    "UsdLux",
    "BasicLighting",
    "ShadeMaterial",
];

/// A feature a test may need: its name in reports, whether usdrender draws it, and what it is.
pub struct Feature {
    pub name: &'static str,
    pub exists: bool,
    pub what: &'static str,
}

/// Every feature a test can be tagged with. Lights, materials and textures are issue 3's work and
/// count as existing; the others come later.
pub const FEATURES: &[Feature] = &[
    feature("aovs", false, "AOVs other than colour (`-rendererAov`)"),
    feature("cards", true, "UsdGeomModelAPI draw modes: cards, bounds, origin"),
    feature(
        "clipping-planes",
        true,
        "clipping planes (`-clipPlane`, camera `clippingPlanes`)",
    ),
    feature(
        "cull-style",
        false,
        "back/front face culling (`-cullStyle`; usdrender never culls)",
    ),
    feature("curves", true, "BasisCurves"),
    feature("flat-shading", false, "flat shading (`-shading flat`)"),
    feature(
        "pixel-aspect",
        true,
        "non-square pixels (`-pixelAspectRatio` other than 1)",
    ),
    feature("id-render", false, "id rendering (`-idRender`)"),
    feature("lights", true, "UsdLux lights, dome lights (issue 3)"),
    feature("materials", true, "UsdPreviewSurface materials (issue 3)"),
    feature(
        "other-renderer",
        true,
        "the reference is from another Hydra renderer (Embree, a path tracer)",
    ),
    feature("points", true, "UsdGeomPoints (camera-facing round sprites)"),
    feature("points-shading", true, "points shading (`-shading points`)"),
    feature("skinning", true, "UsdSkel skinning and skeletons (issue 14)"),
    feature(
        "subdivision",
        true,
        "subdivision refinement (`-complexity` above 1, issue 14)",
    ),
    feature("textures", true, "UsdUVTexture lookups (issue 3)"),
    feature("udims", false, "UDIM texture sets"),
    feature(
        "unloaded-as-bounds",
        true,
        "unloaded payloads drawn as boxes (`-unloadedAsBounds`)",
    ),
    feature("varying-topology", true, "meshes whose topology changes over time"),
    feature("velocity-motion", true, "points extrapolated by velocities (issue 14)"),
    feature("window-policy", false, "`-windowPolicy dontConform`"),
    feature(
        "wireframe",
        false,
        "wireframe shading (`-shading wire`, `wireOnSurface`)",
    ),
];

const fn feature(name: &'static str, exists: bool, what: &'static str) -> Feature {
    Feature { name, exists, what }
}

/// Whether usdrender draws `name` (unknown names do not exist).
pub fn feature_exists(name: &str) -> bool {
    FEATURES.iter().any(|f| f.name == name && f.exists)
}

/// Features a suite needs by its folder's name (on top of what its arguments say).
fn suite_features(suite: &str, test: &str) -> Vec<&'static str> {
    let name = format!("{suite}/{test}");
    let has = |s: &str| name.contains(s);
    let mut f = Vec::new();
    for (needle, feat) in [
        ("Curves", "curves"),
        ("Skel", "skinning"),
        ("Skeleton", "skinning"),
        ("ClippingPlanes", "clipping-planes"),
        ("VelocityMotion", "velocity-motion"),
        ("Cards", "cards"),
        ("Udims", "udims"),
        ("Udims", "textures"),
        ("VaryingTopology", "varying-topology"),
        ("FlatShading", "flat-shading"),
        ("DomeLight", "lights"),
        ("UsdLux", "lights"),
        ("BasicLighting", "lights"),
        ("PreviewSurface", "materials"),
        ("PreviewSurface", "textures"),
        ("Material", "materials"),
        ("ShadingPrimvars", "materials"),
        ("GeomSubsets", "materials"),
        ("subdivTags", "subdivision"),
        ("Embree", "other-renderer"),
    ] {
        if has(needle) {
            f.push(feat);
        }
    }
    // The Points suite (UsdGeomPoints), not PointInstancer.
    if suite.ends_with("testUsdImagingGLPoints") {
        f.push("points");
    }
    f
}

/// How a test was rendered upstream.
#[derive(Debug, Clone)]
pub enum Mode {
    /// testUsdImagingGLBasicDrawing with these arguments (boxed: they are the large variant).
    Harness(Box<HarnessArgs>),
    /// usdrecord (or UsdAppUtils' FrameRecorder) with these settings.
    Usdrecord(UsdrecordArgs),
}

/// The usdrecord settings a test used.
#[derive(Debug, Clone, Default)]
pub struct UsdrecordArgs {
    pub stage: PathBuf,
    pub session_layer: Option<PathBuf>,
    pub camera: Option<String>,
    /// `--imageWidth` (960 by default; usd-wg's screenshots are 512).
    pub width: u32,
    pub dome_visible: bool,
    /// The images are sRGB-encoded (usdrecord 22.08's screenshots, FrameRecorderTest); usdrecord
    /// 24.08's default writes linear values.
    pub color_correction: bool,
    /// Whose framing camera a stage without one gets.
    pub version: UsdrecordVersion,
}

/// One image of a test: its reference and the time (or refinement level) it shows.
#[derive(Debug, Clone)]
pub struct Shot {
    /// The image's file name, as the test names it.
    pub image: String,
    pub baseline: PathBuf,
    /// `None`: the stage's default time.
    pub time: Option<f64>,
}

/// One test: how to render it, its images, and the features it needs.
#[derive(Debug, Clone)]
pub struct Case {
    /// Where the test lives, relative to the corpus (`openusd/usdImagingGL/testUsdImagingGLPoints`).
    pub suite: String,
    /// The ctest name, or the screenshot's stage name.
    pub test: String,
    pub mode: Mode,
    pub shots: Vec<Shot>,
    pub features: Vec<&'static str>,
    /// Whether the FLIP target applies ([`FLIP_SUITES`]).
    pub flip_target: bool,
    /// Why the test cannot be run (unparsable arguments, a folder missing from the snapshot).
    pub problem: Option<String>,
}

impl Case {
    /// `suite/test`, what `--filter` matches.
    pub fn id(&self) -> String {
        format!("{}/{}", self.suite, self.test)
    }

    /// The features this test needs that usdrender does not draw yet.
    pub fn missing_features(&self) -> Vec<&'static str> {
        self.features.iter().copied().filter(|f| !feature_exists(f)).collect()
    }
}

/// One row of the report: one image compared (or the reason it was not).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub suite: String,
    pub test: String,
    pub image: String,
    /// `harness` or `usdrecord`.
    pub mode: &'static str,
    pub features: Vec<String>,
    pub missing_features: Vec<String>,
    /// Silhouette intersection over union, 0..1.
    pub iou: Option<f64>,
    /// Mean of FLIP's per-pixel error, 0..1.
    pub flip_mean: Option<f64>,
    pub flip_target: bool,
    /// Against [`IOU_TARGET`] and, where it applies, [`FLIP_TARGET`]; `None` when not compared.
    pub pass: Option<bool>,
    pub error: Option<String>,
    /// Our image and FLIP's heat map, when written.
    pub ours: Option<PathBuf>,
    pub heat_map: Option<PathBuf>,
    /// Time to render this image (stage loading included for a test's first image).
    pub ms: f64,
}

/// The figures of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub tests: usize,
    pub images: usize,
    /// Images with figures (rendered and compared).
    pub compared: usize,
    /// Images that could not be rendered or compared.
    pub errors: usize,
    /// Compared images of tests whose features all exist, and how many of them reach the IoU target.
    pub compared_with_features: usize,
    pub iou_pass_with_features: usize,
    /// Median FLIP mean over all compared images, and over the images held to the FLIP target.
    pub median_flip: Option<f64>,
    pub median_flip_targets: Option<f64>,
    /// Median IoU over all compared images.
    pub median_iou: Option<f64>,
    pub passed: usize,
    pub adapter: String,
    pub seconds: f64,
}

/// What `fidelity` found.
#[derive(Debug, Clone, Serialize)]
pub struct FidelityReport {
    pub summary: Summary,
    pub rows: Vec<Row>,
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct FidelityOptions {
    /// The shared corpus (`../shared/corpus`).
    pub corpus: PathBuf,
    /// Where our images and heat maps go (`target/fidelity/`).
    pub out_dir: PathBuf,
    /// Keep only tests whose `suite/test` contains one of these (case-insensitive); empty: all.
    pub filter: Vec<String>,
    /// Tests rendered at once (each on its own thread, sharing the one adapter).
    pub jobs: usize,
    /// The first adapter of this selection renders everything.
    pub adapters: AdapterSelection,
}

/// Finds every test with reference images under `corpus`, in a stable order.
pub fn discover(corpus: &Path) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    let gl = corpus.join("openusd/usdImagingGL");
    let mut suites: Vec<PathBuf> = std::fs::read_dir(&gl)
        .map_err(|e| Error::io(&gl, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("TESTS.json").is_file())
        .collect();
    suites.sort();
    for dir in suites {
        cases.extend(harness_cases(corpus, &dir)?);
    }
    cases.extend(usdrecord_cases(corpus)?);
    cases.extend(usd_wg_cases(corpus));
    if cases.is_empty() {
        return Err(Error::Option(format!(
            "no test with reference images under {}",
            corpus.display()
        )));
    }
    Ok(cases)
}

fn relative(corpus: &Path, p: &Path) -> String {
    p.strip_prefix(corpus).unwrap_or(p).to_string_lossy().into_owned()
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Option(format!("{}: {e}", path.display())))
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The tests of one usdImagingGL folder's `TESTS.json`.
fn harness_cases(corpus: &Path, dir: &Path) -> Result<Vec<Case>> {
    let json = read_json(&dir.join("TESTS.json"))?;
    let suite = relative(corpus, dir);
    let mut out = Vec::new();
    for t in json["tests"].as_array().into_iter().flatten() {
        let test = t["ctest_name"].as_str().unwrap_or("unnamed").to_string();
        let args = strings(&t["args"]);
        let present = strings(&t["baseline_present"]);
        let baselines = strings(&t["baseline_images"]);
        let flip_target = FLIP_SUITES.iter().any(|s| suite.contains(s));
        let mut case = Case {
            suite: suite.clone(),
            test: test.clone(),
            mode: Mode::Harness(Box::default()),
            shots: Vec::new(),
            features: suite_features(&suite, &test),
            flip_target,
            problem: None,
        };
        let shot = |image: &str, time: Option<f64>| Shot {
            image: image.to_string(),
            baseline: dir.join("baseline").join(image),
            time,
        };
        match HarnessArgs::parse(&args) {
            Err(e) => {
                case.problem = Some(e.to_string());
                case.shots = baselines.iter().map(|b| shot(b, None)).collect();
            }
            Ok(a) => {
                case.features.extend(a.features());
                if a.renderer.is_some() {
                    case.features.push("other-renderer");
                }
                // Each reference names its time (or refinement level) through its suffix.
                for b in &baselines {
                    let time = a
                        .times
                        .iter()
                        .copied()
                        .find(|&t| a.image_name(Some(t), None).as_deref() == Some(b));
                    let complexity = a
                        .complexities
                        .iter()
                        .copied()
                        .find(|&c| a.image_name(None, Some(c)).as_deref() == Some(b));
                    let plain = a.image_name(None, None).as_deref() == Some(b.as_str());
                    if time.is_none() && complexity.is_none() && !plain {
                        case.problem = Some(format!("{b}: no -times or -complexities entry names this image"));
                    }
                    case.shots.push(shot(b, time));
                }
                if case.problem.is_none() {
                    if let Some(missing) = baselines.iter().find(|b| !present.contains(b)) {
                        case.problem = Some(format!("{missing}: reference image not in the corpus snapshot"));
                    }
                }
                if a.stage.is_none() {
                    case.problem = Some("no -stage".into());
                }
                let mut a = a;
                a.stage = a.stage.map(|s| dir.join(s));
                case.mode = Mode::Harness(Box::new(a));
            }
        }
        case.features.sort_unstable();
        case.features.dedup();
        out.push(case);
    }
    Ok(out)
}

/// usdrecord's tests (`openusd/usdrecord/TESTS.json`) and UsdAppUtils' FrameRecorder test.
fn usdrecord_cases(corpus: &Path) -> Result<Vec<Case>> {
    let mut out = Vec::new();
    let root = corpus.join("openusd/usdrecord");
    let json_path = root.join("TESTS.json");
    if json_path.is_file() {
        let json = read_json(&json_path)?;
        for t in json["tests"].as_array().into_iter().flatten() {
            let dir = root.join(t["dir"].as_str().unwrap_or(""));
            let test = t["ctest_name"].as_str().unwrap_or("unnamed").to_string();
            let command = t["command"].as_str().unwrap_or("");
            let baselines = strings(&t["baseline_images"]);
            let mut case = Case {
                suite: relative(corpus, &dir),
                test: test.clone(),
                mode: Mode::Usdrecord(UsdrecordArgs::default()),
                shots: Vec::new(),
                features: Vec::new(),
                flip_target: false,
                problem: None,
            };
            match parse_usdrecord(command, &dir) {
                Ok((args, output, frames, features)) => {
                    case.features = features;
                    for b in &baselines {
                        let time = frames
                            .iter()
                            .copied()
                            .find(|&f| output.replace('#', &format!("{}", f)) == *b);
                        if time.is_none() && !frames.is_empty() {
                            case.problem = Some(format!("{b}: no --frames entry names this image"));
                        }
                        case.shots.push(Shot {
                            image: b.clone(),
                            baseline: dir.join("baseline").join(b),
                            time,
                        });
                    }
                    case.mode = Mode::Usdrecord(args);
                }
                Err(e) => case.problem = Some(e),
            }
            if !dir.is_dir() {
                case.problem = Some("test folder not in the corpus snapshot".into());
            } else if case.problem.is_none() {
                if let Some(s) = case.shots.iter().find(|s| !s.baseline.is_file()) {
                    case.problem = Some(format!("{}: reference image not in the corpus snapshot", s.image));
                }
            }
            if case.shots.is_empty() {
                case.shots = baselines
                    .iter()
                    .map(|b| Shot {
                        image: b.clone(),
                        baseline: dir.join("baseline").join(b),
                        time: None,
                    })
                    .collect();
            }
            out.push(case);
        }
    }
    // UsdAppUtils.FrameRecorder: AnimCube through main_cam, frames 1, 5, 10, at its baselines' width.
    let dir = corpus.join("openusd/usdAppUtils/FrameRecorderTest");
    if dir.join("AnimCube.usda").is_file() {
        let shots: Vec<Shot> = [1.0, 5.0, 10.0]
            .iter()
            .map(|&f| Shot {
                image: format!("AnimCube.{f}.png"),
                baseline: dir.join("baseline").join(format!("AnimCube.{f}.png")),
                time: Some(f),
            })
            .collect();
        let width = shots
            .first()
            .and_then(|s| image::image_dimensions(&s.baseline).ok())
            .map_or(960, |(w, _)| w);
        out.push(Case {
            suite: relative(corpus, &dir),
            test: "testUsdAppUtilsFrameRecorder".into(),
            mode: Mode::Usdrecord(UsdrecordArgs {
                stage: dir.join("AnimCube.usda"),
                camera: Some("main_cam".into()),
                width,
                // FrameRecorderTest asks for sRGB colour correction.
                color_correction: true,
                ..UsdrecordArgs::default()
            }),
            shots,
            features: Vec::new(),
            flip_target: false,
            problem: None,
        });
    }
    Ok(out)
}

/// usdrecord's arguments: the settings, the output name (`#` is the frame), the frames, and the
/// features the command needs.
type Usdrecord = (UsdrecordArgs, String, Vec<f64>, Vec<&'static str>);

fn parse_usdrecord(command: &str, dir: &Path) -> std::result::Result<Usdrecord, String> {
    let mut args = UsdrecordArgs {
        width: 960,
        ..UsdrecordArgs::default()
    };
    let mut features = Vec::new();
    let mut frames = Vec::new();
    let mut positional = Vec::new();
    // The command may end in a parenthesised note: stop there.
    let words: Vec<&str> = command
        .split_whitespace()
        .skip_while(|w| *w == "usdrecord")
        .take_while(|w| !w.starts_with('('))
        .collect();
    let mut i = 0;
    while i < words.len() {
        let value = |i: usize| words.get(i + 1).copied().ok_or(format!("{} takes a value", words[i]));
        match words[i] {
            "--sessionLayer" => {
                args.session_layer = Some(dir.join(value(i)?));
                i += 1;
            }
            "--camera" | "-cam" => {
                args.camera = Some(value(i)?.to_string());
                i += 1;
            }
            "--imageWidth" | "-w" => {
                args.width = value(i)?
                    .parse()
                    .map_err(|_| "--imageWidth takes a number".to_string())?;
                i += 1;
            }
            "--frames" | "-f" => {
                frames = crate::frames::parse_spec(value(i)?).map_err(|e| e.to_string())?;
                i += 1;
            }
            "--renderer" | "-r" => {
                features.push("other-renderer");
                i += 1;
            }
            "--disableGpu" => features.push("other-renderer"),
            "--enableDomeLightVisibility" => {
                args.dome_visible = true;
                features.push("lights");
            }
            w if w.starts_with('-') => return Err(format!("unknown usdrecord flag {w:?}")),
            w => positional.push(w),
        }
        i += 1;
    }
    let [stage, output] = positional[..] else {
        return Err(format!("expected STAGE OUTPUT in {command:?}"));
    };
    args.stage = dir.join(stage);
    Ok((args, output.to_string(), frames, features))
}

/// usd-wg's `*_usdrecord_22.08.png` screenshots: usdrecord 22.08 at 512 px of the stage of the
/// same name in the folder above `screenshots/`.
fn usd_wg_cases(corpus: &Path) -> Vec<Case> {
    let mut shots = Vec::new();
    collect_screenshots(&corpus.join("usd-wg"), &mut shots);
    shots.sort();
    let mut out = Vec::new();
    for png in shots {
        let Some(name) = png.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix("_usdrecord_22.08.png") else {
            continue;
        };
        let folder = png.parent().and_then(Path::parent).unwrap_or(Path::new(""));
        let stage = ["usda", "usd", "usdc", "usdz"]
            .iter()
            .map(|ext| folder.join(format!("{stem}.{ext}")))
            .find(|p| p.is_file());
        let problem = stage
            .is_none()
            .then(|| format!("no stage {stem}.usd[a|c|z] beside screenshots/"));
        out.push(Case {
            suite: relative(corpus, folder),
            test: stem.to_string(),
            mode: Mode::Usdrecord(UsdrecordArgs {
                stage: stage.unwrap_or_default(),
                width: 512,
                // usdrecord 22.08 encoded its screenshots to sRGB.
                color_correction: true,
                version: UsdrecordVersion::V22_08,
                ..UsdrecordArgs::default()
            }),
            shots: vec![Shot {
                image: name.to_string(),
                baseline: png.clone(),
                time: None,
            }],
            features: Vec::new(),
            flip_target: false,
            problem,
        });
    }
    out
}

fn collect_screenshots(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_screenshots(&p, out);
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with("_usdrecord_22.08.png"))
        {
            out.push(p);
        }
    }
}

/// Renders and compares every test `options` selects; a test that fails to load or render gives
/// rows with the error, never an `Err`. Errors: no corpus, no adapter, an unwritable folder.
pub fn run(options: &FidelityOptions) -> Result<FidelityReport> {
    let started = Instant::now();
    let filters: Vec<String> = options.filter.iter().map(|f| f.to_lowercase()).collect();
    let cases: Vec<Case> = discover(&options.corpus)?
        .into_iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| c.id().to_lowercase().contains(f)))
        .collect();
    if cases.is_empty() {
        return Err(Error::Option(format!(
            "--filter {:?} selects no test",
            options.filter.join(",")
        )));
    }
    let adapter = gpu::select_adapters(&options.adapters)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Option("no adapter".into()))?;
    std::fs::create_dir_all(&options.out_dir).map_err(|e| Error::io(&options.out_dir, e))?;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Vec<Row>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..options.jobs.clamp(1, 64) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let rows = match catch_unwind(AssertUnwindSafe(|| render_case(case, &adapter, &options.out_dir))) {
                    Ok(rows) => rows,
                    Err(_) => error_rows(case, "internal error: rendering panicked"),
                };
                for r in &rows {
                    match (&r.error, r.iou, r.flip_mean) {
                        (Some(e), _, _) => log::warn!("{}/{} {}: {e}", r.suite, r.test, r.image),
                        (None, Some(iou), Some(flip)) => {
                            log::info!("{}/{} {}: IoU {iou:.4}, FLIP {flip:.4}", r.suite, r.test, r.image)
                        }
                        _ => {}
                    }
                }
                if let Ok(mut all) = results.lock() {
                    all.push((i, rows));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let rows: Vec<Row> = results.into_iter().flat_map(|(_, r)| r).collect();
    let summary = summarise(
        &rows,
        cases.len(),
        adapter.summary.label(),
        started.elapsed().as_secs_f64(),
    );
    Ok(FidelityReport { summary, rows })
}

fn summarise(rows: &[Row], tests: usize, adapter: String, seconds: f64) -> Summary {
    let compared: Vec<&Row> = rows
        .iter()
        .filter(|r| r.iou.is_some() && r.flip_mean.is_some())
        .collect();
    let with_features: Vec<&&Row> = compared.iter().filter(|r| r.missing_features.is_empty()).collect();
    Summary {
        tests,
        images: rows.len(),
        compared: compared.len(),
        errors: rows.iter().filter(|r| r.error.is_some()).count(),
        compared_with_features: with_features.len(),
        iou_pass_with_features: with_features
            .iter()
            .filter(|r| r.iou.is_some_and(|i| i >= IOU_TARGET))
            .count(),
        median_flip: median(compared.iter().filter_map(|r| r.flip_mean).collect()),
        median_flip_targets: median(
            compared
                .iter()
                .filter(|r| r.flip_target)
                .filter_map(|r| r.flip_mean)
                .collect(),
        ),
        median_iou: median(compared.iter().filter_map(|r| r.iou).collect()),
        passed: rows.iter().filter(|r| r.pass == Some(true)).count(),
        adapter,
        seconds,
    }
}

/// The median (the mean of the middle two for an even count); `None` for no values.
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn blank_row(case: &Case, shot: &Shot) -> Row {
    Row {
        suite: case.suite.clone(),
        test: case.test.clone(),
        image: shot.image.clone(),
        mode: match case.mode {
            Mode::Harness(_) => "harness",
            Mode::Usdrecord(_) => "usdrecord",
        },
        features: case.features.iter().map(|f| f.to_string()).collect(),
        missing_features: case.missing_features().iter().map(|f| f.to_string()).collect(),
        iou: None,
        flip_mean: None,
        flip_target: case.flip_target,
        pass: None,
        error: None,
        ours: None,
        heat_map: None,
        ms: 0.0,
    }
}

fn error_rows(case: &Case, error: &str) -> Vec<Row> {
    case.shots
        .iter()
        .map(|shot| Row {
            error: Some(error.to_string()),
            ..blank_row(case, shot)
        })
        .collect()
}

/// The job a test renders with: the harness's look and view, or usdrecord's defaults.
fn case_job(case: &Case) -> Result<(Job, PathBuf)> {
    match &case.mode {
        Mode::Harness(a) => {
            let stage = a.stage.clone().unwrap_or_default();
            let mut job = Job::new(&stage, "fidelity.png")?;
            a.apply(&mut job, false);
            Ok((job, stage))
        }
        Mode::Usdrecord(u) => {
            let mut job = Job::new(&u.stage, "fidelity.png")?;
            job.width = u.width;
            job.session_layer = u.session_layer.clone();
            job.camera = u.camera.clone();
            job.dome_visible = u.dome_visible;
            job.color_correction = u.color_correction;
            // usdrecord draws default and proxy purposes.
            job.purposes = vec!["proxy".into()];
            Ok((job, u.stage.clone()))
        }
    }
}

/// Renders one test's images and compares them; every problem becomes a row's error.
fn render_case(case: &Case, adapter: &GpuAdapter, out_dir: &Path) -> Vec<Row> {
    if let Some(p) = &case.problem {
        return error_rows(case, p);
    }
    let dir = out_dir.join(&case.suite).join(&case.test);
    let mut rows = Vec::new();
    let mut t0 = Instant::now();
    render_shots(case, adapter, |shot, image| {
        let mut row = blank_row(case, shot);
        match image {
            Err(e) => row.error = Some(e.to_string()),
            Ok(ours) => compare_shot(case, shot, &ours, &dir, &mut row),
        }
        row.ms = t0.elapsed().as_secs_f64() * 1e3;
        t0 = Instant::now();
        rows.push(row);
    });
    rows
}

/// Renders each of `case`'s shots in order and hands each image (or why there is none) to `each`.
fn render_shots(case: &Case, adapter: &GpuAdapter, mut each: impl FnMut(&Shot, Result<RgbaImage>)) {
    let fail_all = |e: Error, each: &mut dyn FnMut(&Shot, Result<RgbaImage>)| {
        for shot in &case.shots {
            each(shot, Err(Error::Option(e.to_string())));
        }
    };
    let (job, stage_path) = match case_job(case) {
        Ok(j) => j,
        Err(e) => return fail_all(e, &mut each),
    };
    let opened = LoadedStage::open(
        &stage_path,
        &OpenOptions {
            max_memory: job.max_memory,
            session_layer: job.session_layer.clone(),
            unloaded_as_bounds: job.unloaded_as_bounds,
            ..OpenOptions::default()
        },
    );
    let mut stage = match opened {
        Ok(s) => s,
        Err(e) => return fail_all(e, &mut each),
    };
    // The time of a shot with none of its own. The harness without `-times` draws at
    // UsdTimeCode::Default(): authored defaults, else schema fallbacks, never time samples (a
    // size with samples only is the Cube's fallback 2, not its first sample). usdrecord without
    // frames draws the stage's start time code, else 0.
    let default_time = match &case.mode {
        Mode::Harness(_) => crate::stage::DEFAULT_TIME,
        Mode::Usdrecord(_) => stage
            .timing()
            .default_frames()
            .ok()
            .and_then(|f| f.first().copied())
            .unwrap_or(0.0),
    };
    let first = case.shots.first().and_then(|s| s.time).unwrap_or(default_time);
    let points_shading = matches!(&case.mode, Mode::Harness(a) if a.shading.as_deref() == Some("points"));
    let scene = match stage.extract(&ExtractOptions {
        camera: job.camera.clone(),
        purposes: job.purposes.clone(),
        time: first,
        refine_level: job.refine_level,
        default_time_bounds: job.harness_view.is_some(),
        points_shading,
    }) {
        Ok(s) => s,
        Err(e) => return fail_all(e, &mut each),
    };
    let encoding = match case.mode {
        Mode::Harness(_) => ImageEncoding::Srgb,
        Mode::Usdrecord(_) => ImageEncoding::UsdRecord,
    };
    // usdrecord's camera rules are main_cam, then --camera, then its framing camera: usdrender's
    // RenderSettings and only-camera rules are not usdrecord's.
    // (A RenderSettings or only camera named main_cam is usdrecord's choice too.) A stage with no
    // camera gets usdrecord's framing camera of the version that made the reference.
    let named_main_cam = scene
        .camera
        .path
        .as_deref()
        .is_some_and(|p| p.rsplit('/').next() == Some("main_cam"));
    let usdrecord_framing = match &case.mode {
        Mode::Usdrecord(u)
            if scene.camera.rule == CameraRule::Framing
                || matches!(scene.camera.rule, CameraRule::RenderSettings | CameraRule::Only) && !named_main_cam =>
        {
            Some(u.version)
        }
        _ => None,
    };
    let mut renderer: Option<(Renderer, u32)> = None;
    for shot in &case.shots {
        let result = (|| -> Result<RgbaImage> {
            let mut state = stage.evaluate(&scene, shot.time.unwrap_or(default_time))?;
            if let Some(version) = usdrecord_framing {
                // The framing bounds as pxr's UsdGeomBBoxCache has them, without usdrender's
                // fallback to what was drawn: usdrecord frames nothing when they are empty.
                match Camera::usdrecord_framing(&scene.frame_bounds, scene.up_axis, version) {
                    Some(camera) => state.camera = camera,
                    None => {
                        // Its camera sees nothing: the image is usdrecord's clear colour,
                        // transparent black, at the default camera's aspect.
                        let height = job.height_for(Camera::default().lens.aspect());
                        return Ok(RgbaImage::new(job.width, height));
                    }
                }
            }
            let height = job.height_for(state.camera.lens.aspect());
            state.camera = job.frame_camera(&scene, &state.camera, job.width, height);
            let settings = job.render_settings(&scene, height);
            if renderer.as_ref().map(|(_, h)| *h) != Some(height) {
                renderer = Some((Renderer::with_encoding(adapter, &scene, &settings, encoding)?, height));
            }
            let Some((r, _)) = renderer.as_mut() else {
                return Err(Error::Option("no renderer".into()));
            };
            let mut buffers = FrameBuffers::for_settings(&settings);
            r.render_frame(&state, &mut buffers)?;
            RgbaImage::from_raw(job.width, height, buffers.rgba)
                .ok_or_else(|| Error::Option("the renderer returned an image of the wrong size".into()))
        })();
        each(shot, result);
    }
}

/// `usdrender harness`: renders one testUsdImagingGLBasicDrawing command line as the harness
/// would, writing its images under the names it gives them (`-write`, `_%03d` per time).
/// Relative `-stage` and `-write` paths are taken from `dir`. Returns each image's path, or why
/// it was not written.
pub fn render_harness(
    args: &HarnessArgs,
    dir: &Path,
    adapters: &AdapterSelection,
) -> Result<Vec<(PathBuf, std::result::Result<(), String>)>> {
    let stage = args
        .stage
        .as_ref()
        .ok_or_else(|| Error::Option("harness arguments: no -stage".into()))?;
    let write = args
        .write
        .as_ref()
        .ok_or_else(|| Error::Option("harness arguments: no -write".into()))?;
    let mut args = args.clone();
    args.stage = Some(dir.join(stage));
    let name = |time: Option<f64>, complexity: Option<f64>| {
        dir.join(args.image_name(time, complexity).unwrap_or_else(|| write.clone()))
    };
    let shots: Vec<Shot> = if !args.times.is_empty() {
        args.times
            .iter()
            .map(|&t| Shot {
                image: name(Some(t), None).to_string_lossy().into_owned(),
                baseline: PathBuf::new(),
                time: Some(t),
            })
            .collect()
    } else if !args.complexities.is_empty() {
        args.complexities
            .iter()
            .map(|&c| Shot {
                image: name(None, Some(c)).to_string_lossy().into_owned(),
                baseline: PathBuf::new(),
                time: None,
            })
            .collect()
    } else {
        vec![Shot {
            image: name(None, None).to_string_lossy().into_owned(),
            baseline: PathBuf::new(),
            time: None,
        }]
    };
    let missing = args
        .features()
        .into_iter()
        .filter(|f| !feature_exists(f))
        .collect::<Vec<_>>();
    if !missing.is_empty() {
        log::warn!("not reproduced yet: {}", missing.join(", "));
    }
    let adapter = gpu::select_adapters(adapters)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Option("no adapter".into()))?;
    let case = Case {
        suite: String::new(),
        test: String::new(),
        features: args.features(),
        mode: Mode::Harness(Box::new(args)),
        shots,
        flip_target: false,
        problem: None,
    };
    let mut out = Vec::new();
    render_shots(&case, &adapter, |shot, image| {
        let path = PathBuf::from(&shot.image);
        let written = image.map_err(|e| e.to_string()).and_then(|img| {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            img.save(&path).map_err(|e| format!("{}: {e}", path.display()))
        });
        out.push((path, written));
    });
    Ok(out)
}

/// Compares our image of `shot` with its reference; fills the row's figures, verdict and files.
fn compare_shot(case: &Case, shot: &Shot, ours: &RgbaImage, dir: &Path, row: &mut Row) {
    let write = |name: &str, f: &dyn Fn(&Path) -> image::ImageResult<()>| -> Option<PathBuf> {
        std::fs::create_dir_all(dir).ok()?;
        let p = dir.join(name);
        f(&p).ok().map(|_| p)
    };
    row.ours = write(&shot.image, &|p| ours.save(p));
    let reference = match image::open(&shot.baseline) {
        Ok(i) => i.to_rgba8(),
        Err(e) => {
            row.error = Some(format!("reading {}: {e}", shot.baseline.display()));
            return;
        }
    };
    if reference.dimensions() != ours.dimensions() {
        row.error = Some(format!(
            "size differs: ours {}x{}, reference {}x{}",
            ours.width(),
            ours.height(),
            reference.width(),
            reference.height()
        ));
        return;
    }
    let (ours_cmp, iou) = match &case.mode {
        Mode::Harness(a) => {
            let clear = silhouette::clear_bytes(a.clear_stored());
            let over = silhouette::composite_over(ours, clear);
            let iou = silhouette::iou(
                &silhouette::background_mask(&over, clear, silhouette::BACKGROUND_TOLERANCE),
                &silhouette::background_mask(&reference, clear, silhouette::BACKGROUND_TOLERANCE),
            );
            (over, iou)
        }
        Mode::Usdrecord(_) => {
            let iou = silhouette::iou(&silhouette::alpha_mask(ours), &silhouette::alpha_mask(&reference));
            (ours.clone(), iou)
        }
    };
    match compare::compare_with_error_map(&ours_cmp, &reference, &Thresholds::default()) {
        Ok(c) => {
            row.iou = iou;
            row.flip_mean = Some(c.metrics.flip_mean);
            let stem = shot.image.rsplit_once('.').map_or(shot.image.as_str(), |(s, _)| s);
            row.heat_map = compare::heat_map(&c.flip_error, ours.width(), ours.height())
                .and_then(|h| write(&format!("{stem}.flip.png"), &|p| h.save(p)));
            let iou_ok = iou.is_some_and(|i| i >= IOU_TARGET);
            let flip_ok = !row.flip_target || c.metrics.flip_mean <= FLIP_TARGET;
            row.pass = Some(iou_ok && flip_ok);
        }
        Err(e) => row.error = Some(e.to_string()),
    }
}

fn figure(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |x| format!("{x:.4}"))
}

/// The report as markdown: how it was measured, the summary, the tests whose features come
/// later, and one row per image. `command` is what regenerates it.
pub fn markdown(report: &FidelityReport, command: &str, note: Option<&str>) -> String {
    use std::fmt::Write;
    let s = &report.summary;
    let mut md = String::new();
    let share = if s.compared_with_features > 0 {
        100.0 * s.iou_pass_with_features as f64 / s.compared_with_features as f64
    } else {
        0.0
    };
    let _ = writeln!(md, "# Fidelity against the reference images\n");
    if let Some(note) = note.filter(|n| !n.trim().is_empty()) {
        let _ = writeln!(md, "> {}\n", note.trim().replace('\n', "\n> "));
    }
    let _ = writeln!(
        md,
        "Generated by `{command}` (this file, `fidelity.json` and our images with FLIP heat maps \
         under the output folder). Do not edit by hand: run the command again.\n"
    );
    let _ = writeln!(
        md,
        "Every test of the shared corpus that has a reference image is rendered like for like in \
         process on one adapter ({}), {} test(s) in {:.0} s:\n\n\
         - `openusd/usdImagingGL/*`: Pixar's `testUsdImagingGLBasicDrawing` arguments from \
         `TESTS.json`, through usdrender's harness mode (`usdrender harness`): its built-in camera \
         (60 degree vertical field of view, `-translate`, `-frameAll`) or `-camera` matched \
         vertically, 640x480 unless `-widgetSize`, its look (`-lighting`, `-camlight`, \
         `-sceneLights`), its clear colour, one image per `-times` entry named `_%03d`.\n\
         - `openusd/usdrecord`, `openusd/usdAppUtils` and usd-wg's `*_usdrecord_22.08.png`: \
         usdrecord's settings (960 px wide, 512 for usd-wg; main_cam, else the framing camera; \
         transparent background).\n\n\
         **Silhouette IoU** (target >= {IOU_TARGET}): harness references are opaque over their \
         clear colour (orange 1, 0.5, 0.1 stored as 255, 127, 25, unless `-clear`), so a pixel \
         is covered when a channel differs from the clear colour by more than 5/255; our image \
         is composited over the same colour first and judged by the same rule. usdrecord \
         references have a transparent background: a pixel is covered when alpha >= 0.5. \
         **FLIP mean** (LDR-FLIP, 67 pixels per degree) is taken on our image as compared \
         (harness: composited over the clear colour; usdrecord: both over black); it must be <= \
         {FLIP_TARGET} for the {} tests. A test whose features usdrender does not draw yet is \
         listed under \"comes later\" and left out of the share below.\n",
        s.adapter,
        s.tests,
        s.seconds,
        FLIP_SUITES.join(", ")
    );
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(md, "| figure | value |\n|---|---|");
    let _ = writeln!(md, "| tests | {} |", s.tests);
    let _ = writeln!(md, "| images | {} |", s.images);
    let _ = writeln!(md, "| images compared | {} |", s.compared);
    let _ = writeln!(md, "| images not rendered or not compared (errors) | {} |", s.errors);
    let _ = writeln!(
        md,
        "| IoU >= {IOU_TARGET} among compared images of tests whose features exist | {} of {} ({share:.1}%) |",
        s.iou_pass_with_features, s.compared_with_features
    );
    let _ = writeln!(md, "| median IoU (all compared) | {} |", figure(s.median_iou));
    let _ = writeln!(md, "| median FLIP mean (all compared) | {} |", figure(s.median_flip));
    let _ = writeln!(
        md,
        "| median FLIP mean (tests held to the FLIP target) | {} |",
        figure(s.median_flip_targets)
    );
    let _ = writeln!(md, "| images passing every target | {} |", s.passed);
    let _ = writeln!(md, "| adapter | {} |", s.adapter);
    let _ = writeln!(md, "| runtime | {:.0} s |\n", s.seconds);

    let _ = writeln!(
        md,
        "## By suite\n\n| suite | images | compared | IoU >= {IOU_TARGET} | median IoU | median FLIP | passing |\n|---|---|---|---|---|---|---|"
    );
    let mut suites: Vec<&str> = report.rows.iter().map(|r| r.suite.as_str()).collect();
    suites.dedup();
    for suite in suites {
        let rows: Vec<&Row> = report.rows.iter().filter(|r| r.suite == suite).collect();
        let compared: Vec<&&Row> = rows
            .iter()
            .filter(|r| r.iou.is_some() && r.flip_mean.is_some())
            .collect();
        let short = suite.strip_prefix("openusd/usdImagingGL/").unwrap_or(suite);
        let _ = writeln!(
            md,
            "| {short} | {} | {} | {} | {} | {} | {} |",
            rows.len(),
            compared.len(),
            compared
                .iter()
                .filter(|r| r.iou.is_some_and(|i| i >= IOU_TARGET))
                .count(),
            figure(median(compared.iter().filter_map(|r| r.iou).collect())),
            figure(median(compared.iter().filter_map(|r| r.flip_mean).collect())),
            rows.iter().filter(|r| r.pass == Some(true)).count()
        );
    }
    let _ = writeln!(md);

    let _ = writeln!(md, "## Features\n\n| feature | usdrender | what |\n|---|---|---|");
    for f in FEATURES {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            f.name,
            if f.exists { "exists" } else { "comes later" },
            f.what
        );
    }
    let _ = writeln!(md);

    let _ = writeln!(md, "## Tests whose features come later\n");
    let mut later: Vec<(String, String)> = report
        .rows
        .iter()
        .filter(|r| !r.missing_features.is_empty())
        .map(|r| (format!("{}/{}", r.suite, r.test), r.missing_features.join(", ")))
        .collect();
    later.dedup();
    if later.is_empty() {
        let _ = writeln!(md, "None.\n");
    } else {
        let _ = writeln!(md, "| test | needs |\n|---|---|");
        for (t, f) in &later {
            let _ = writeln!(md, "| {t} | {f} |");
        }
        let _ = writeln!(md);
    }

    let _ = writeln!(md, "## Results\n");
    let _ = writeln!(
        md,
        "| suite | test | image | IoU | FLIP mean | result |\n|---|---|---|---|---|---|"
    );
    for r in &report.rows {
        let result = match (&r.error, r.pass) {
            (Some(e), _) => format!("error: {}", e.replace('|', "\\|").replace('\n', " ")),
            (None, Some(true)) => "pass".into(),
            (None, Some(false)) => {
                let mut why = Vec::new();
                if !r.iou.is_some_and(|i| i >= IOU_TARGET) {
                    why.push("IoU");
                }
                if r.flip_target && !r.flip_mean.is_some_and(|f| f <= FLIP_TARGET) {
                    why.push("FLIP");
                }
                format!("fail ({})", why.join(", "))
            }
            (None, None) => "not compared".into(),
        };
        let later = if r.missing_features.is_empty() {
            String::new()
        } else {
            format!(" (comes later: {})", r.missing_features.join(", "))
        };
        let suite = r.suite.strip_prefix("openusd/usdImagingGL/").unwrap_or(&r.suite);
        let _ = writeln!(
            md,
            "| {suite} | {} | {} | {} | {} | {result}{later} |",
            r.test,
            r.image,
            figure(r.iou),
            figure(r.flip_mean)
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usdrecord_commands_parse_with_their_frames() {
        let dir = Path::new("/c/RecordTest");
        let (a, out, frames, f) =
            parse_usdrecord("usdrecord AnimCube.usda AnimCube.#.png --frames 1,5,10", dir).unwrap();
        assert_eq!(a.stage, dir.join("AnimCube.usda"));
        assert_eq!(out, "AnimCube.#.png");
        assert_eq!(frames, vec![1.0, 5.0, 10.0]);
        assert!(f.is_empty());
        let (a, _, _, f) = parse_usdrecord(
            "usdrecord --disableGpu --sessionLayer o.usda A.usda B.#.png --frames 1  (renderer = HdEmbree)",
            dir,
        )
        .unwrap();
        assert_eq!(a.session_layer, Some(dir.join("o.usda")));
        assert_eq!(f, vec!["other-renderer"]);
        assert!(parse_usdrecord("usdrecord --bogus a b", dir).is_err());
        assert!(parse_usdrecord("usdrecord a", dir).is_err());
    }

    #[test]
    fn suites_are_tagged_with_their_features() {
        assert_eq!(
            suite_features("openusd/usdImagingGL/testUsdImagingGLPoints", "t"),
            vec!["points"]
        );
        assert!(suite_features("openusd/usdImagingGL/testUsdImagingGLPointInstancer", "t").is_empty());
        assert!(suite_features("x/testUsdImagingGLUsdSkel", "t").contains(&"skinning"));
        assert!(
            feature_exists("materials")
                && feature_exists("cards")
                && !feature_exists("udims")
                && !feature_exists("bogus")
        );
        // Every tag a suite or an argument gives is a listed feature.
        let args = HarnessArgs::parse(&[
            "-complexity",
            "1.3",
            "-shading",
            "points",
            "-cullStyle",
            "back",
            "-idRender",
            "-unloadedAsBounds",
            "-clipPlane",
            "0",
            "0",
            "1",
            "0",
            "-rendererAov",
            "depth",
            "-windowPolicy",
            "dontConform",
            "-sceneLights",
            "-pixelAspectRatio",
            "2",
        ])
        .unwrap();
        let names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
        for f in args.features().into_iter().chain(suite_features(
            "CurvesSkelSkeletonClippingPlanesVelocityMotionCardsUdimsVaryingTopologyFlatShadingDomeLightUsdLuxBasicLightingPreviewSurfaceMaterialShadingPrimvarsGeomSubsetssubdivTagsEmbree",
            "",
        )) {
            assert!(names.contains(&f), "{f} is not in FEATURES");
        }
    }

    #[test]
    fn summary_counts_only_tests_whose_features_exist() {
        let row = |iou: f64, flip: f64, missing: &[&str]| Row {
            suite: "s".into(),
            test: "t".into(),
            image: "i.png".into(),
            mode: "harness",
            features: vec![],
            missing_features: missing.iter().map(|s| s.to_string()).collect(),
            iou: Some(iou),
            flip_mean: Some(flip),
            flip_target: false,
            pass: Some(iou >= IOU_TARGET),
            error: None,
            ours: None,
            heat_map: None,
            ms: 1.0,
        };
        let rows = vec![
            row(0.99, 0.2, &[]),
            row(0.5, 0.4, &[]),
            row(0.1, 0.6, &["curves"]),
            Row {
                error: Some("no stage".into()),
                iou: None,
                flip_mean: None,
                pass: None,
                ..row(0.0, 0.0, &[])
            },
        ];
        let s = summarise(&rows, 2, "a".into(), 1.0);
        assert_eq!((s.images, s.compared, s.errors), (4, 3, 1));
        assert_eq!((s.iou_pass_with_features, s.compared_with_features), (1, 2));
        assert_eq!(s.median_flip, Some(0.4));
        let report = FidelityReport { summary: s, rows };
        let md = markdown(&report, "usdrender fidelity", Some("before"));
        assert!(md.contains("> before"), "{md}");
        assert!(
            md.contains("| s | 4 | 3 | 1 | 0.5000 | 0.4000 | 1 |"),
            "per-suite line: {md}"
        );
        assert!(md.contains("| 1 of 2 (50.0%) |"), "{md}");
        assert!(md.contains("comes later: curves"), "{md}");
        assert!(md.contains("error: no stage"), "{md}");
    }
}
