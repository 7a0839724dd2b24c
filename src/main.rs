//! The `usdrender` command line: clap arguments -> validated [`Job`] -> library -> exit code.
//!
//! Exit codes: 0 every frame written; 1 some frames failed (the others were written);
//! 2 nothing rendered: bad arguments, a stage that cannot be opened, no adapter, an unwritable folder.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use usdrender::gpu::{self, AdapterSelection};
use usdrender::job::{Existing, Job};
use usdrender::output::{self, AovFiles, BitDepth, Encoding, ExrCompression, ExrPrecision, Format, Pattern};
use usdrender::scene::shutter::{MotionBlur, Shutter, DEFAULT_MOTION_SAMPLES};
use usdrender::scene::Headlight;
use usdrender::schedule::{Control, Event};

/// A size in bytes: a number, or one with K, M, G or T (1024-based; `8G`, `1.5G`, `512M`).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], t[i..].trim_end_matches(['B', 'b', 'i'])),
        None => (t, ""),
    };
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("{text:?}: the unit must be K, M, G or T")),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: expected a size such as 8G, 512M or 1048576"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("{text:?}: the size must be positive"));
    }
    Ok((value * scale as f64) as u64)
}

/// A length of time in seconds (`10`, `0.5`).
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{text:?}: expected a number of seconds, such as 10 or 0.5"))
}

/// mimalloc instead of glibc's malloc: see the note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod jobfile;
mod progress;
use progress::{FrameLog, Progress, ProgressStyle};
use usdrender::stage::{ExtractOptions, LoadedStage, OpenOptions};
use usdrender::{frames, schedule};

#[derive(Parser)]
#[command(
    name = "usdrender",
    version,
    about = "Headless, multi-GPU offline renderer for OpenUSD stages"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Only errors (and warnings) on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
}

// Parsed once per process: the size of the render variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Render a stage to an image sequence on every GPU adapter.
    Render(RenderArgs),
    /// Print what the renderer sees in a stage: timing, cameras, geometry counts, warnings.
    Info(InfoArgs),
    /// Measure frames per second per adapter and all together (render, readback, end to end).
    Bench(BenchArgs),
    /// List the GPU adapters usdrender would use.
    Adapters(AdapterArgs),
    /// Compare images with references (files, folders or frame patterns): exit 0 pass, 1 fail, 2 error.
    Compare(CompareArgs),
    /// Print a job spec that renders a stage in chunks on a farm engine (see docs/farm.md).
    Farm(FarmArgs),
    /// Render a testUsdImagingGLBasicDrawing command line as Pixar's usdImagingGL test harness does:
    /// `usdrender harness -- -lighting -frameAll -stage s.usda -write s.png` (docs/fidelity.md).
    Harness(HarnessCmdArgs),
    /// Render every corpus test that has a reference image and report silhouette IoU and FLIP
    /// (writes docs/fidelity.md; see docs/fidelity.md).
    Fidelity(FidelityArgs),
}

#[derive(Args)]
struct RenderArgs {
    /// The stage (.usd, .usda, .usdc, .usdz). Optional when --job names it.
    #[arg(required_unless_present_any = ["job", "list_adapters"])]
    stage: Option<PathBuf>,
    /// List the adapters this render would choose from (as `usdrender adapters`) and exit.
    #[arg(long)]
    list_adapters: bool,
    /// A TOML job file whose keys are these long flags in snake_case (stage, output, frames, width,
    /// format, aov, ...); flags given on the command line win. Relative paths in it are relative
    /// to its folder.
    #[arg(long)]
    job: Option<PathBuf>,
    /// Output files; a run of # is the zero-padded frame number (out/shot.####.png); $F4 and %04d
    /// work too, and ####.### numbers fractional frames.
    #[arg(short, long, default_value = "out/frame.####.png")]
    output: String,
    /// Frames (time codes): 1-100, 1-100x5, 101:110x2, 1..10, or comma lists. Default: the stage's range.
    #[arg(long, short = 'f', allow_hyphen_values = true)]
    frames: Option<String>,
    /// Camera prim path, or a camera name that is unique in the stage.
    #[arg(long)]
    camera: Option<String>,
    /// Image width in pixels [default: 960, as usdrecord; 640 with --harness].
    #[arg(long, short = 'w')]
    width: Option<u32>,
    /// Image height in pixels. Default: from the width and the camera's aperture aspect (480 with
    /// --harness).
    #[arg(long)]
    height: Option<u32>,
    /// Width over height of one pixel, for anamorphic images: 2 makes each pixel stand for twice
    /// as much of the picture across as down [default: 1, square; with --harness, its
    /// -pixelAspectRatio where it has -dataWindow and -displayWindow]. The camera's window is
    /// fitted to the picture as displayed (width x pixel aspect by height); without --height
    /// the height keeps the camera's shape (width x pixel aspect / aperture aspect).
    #[arg(long, value_name = "RATIO")]
    pixel_aspect: Option<f64>,
    /// A layer composed over the stage, as usdrecord's --sessionLayer.
    #[arg(long)]
    session_layer: Option<PathBuf>,
    /// Most memory the stage may take: layers up to half of it, decoded time samples and
    /// textures a quarter each (past that: an error or a warning naming the file). Bytes, or
    /// with K, M, G or T (1024-based), such as 8G [default: the machine's memory].
    #[arg(long, value_parser = parse_size)]
    max_memory: Option<u64>,
    /// Open the stage with its payloads unloaded and draw each unloaded prim as the box of its
    /// bounds (extent or extentsHint), as the usdImagingGL harness's -unloadedAsBounds.
    #[arg(long)]
    unloaded_as_bounds: bool,
    /// Purposes drawn besides `default`, comma-separated (render, proxy, guide) [default: render;
    /// with --harness, the harness's: proxy].
    #[arg(long, value_delimiter = ',')]
    purposes: Option<Vec<String>>,
    /// Subdivision surfaces refined as usdrecord's --complexity: low (their control meshes, as
    /// authored), medium, high, veryhigh (1, 2, 3 levels of Catmull-Clark or Loop refinement)
    /// [default: low; with --harness, its -complexity].
    #[arg(long, value_parser = ["low", "medium", "high", "veryhigh"])]
    complexity: Option<String>,
    #[command(flatten)]
    motion: MotionBlurArgs,
    /// The camera headlight: auto (lit only when the stage has no lights, usdrecord's rule), on,
    /// off [default: auto; off with --harness, whose lights are its look's].
    #[arg(long, value_parser = ["auto", "on", "off"])]
    headlight: Option<String>,
    /// Draw the dome light's texture as the background (usdrecord's --enableDomeLightVisibility).
    #[arg(long)]
    enable_dome_light_visibility: bool,
    /// Background behind the geometry, linear R,G,B,A in 0..1 [default: 0,0,0,0, transparent as
    /// usdrecord; with --harness, its clear colour].
    #[arg(long, value_name = "R,G,B,A")]
    clear_color: Option<String>,
    /// 8-bit images: sRGB-encode the linear render (sRGB), or write the linear values as they
    /// are (disabled: usdrecord's default, and the usdImagingGL harness's) [default: sRGB;
    /// disabled with --harness].
    #[arg(long, value_parser = ["sRGB", "disabled"])]
    color_correction: Option<String>,
    /// Where opaque surfaces are shaded: auto (a compute pass over a visibility buffer where the
    /// GPU and scene allow, else forward), compute (fail where it cannot), forward (the fragment
    /// stage) [default: auto].
    #[arg(long, value_parser = ["auto", "compute", "forward"])]
    shading_pass: Option<String>,
    /// Draw as Pixar's usdImagingGL test harness (testUsdImagingGLBasicDrawing): its flags, in
    /// one string, e.g. "-lighting -camlight -frameAll" or "-camera /cam -clear 0 0 0 1". Takes
    /// -lighting -camlight -sceneLights -frameAll -camera -translate -widgetSize -clear
    /// -windowPolicy -dataWindow -displayWindow -pixelAspectRatio -clipPlane
    /// -guidesPurpose/-renderPurpose/-proxyPurpose show|hide (and parses its others); the
    /// stage, output and frames stay STAGE, -o and --frames. See docs/fidelity.md.
    #[arg(long, value_name = "HARNESS FLAGS", allow_hyphen_values = true)]
    harness: Option<String>,
    /// Image format (png, jpg, exr, tif). Default: the output's extension.
    #[arg(long)]
    format: Option<String>,
    /// Bits per channel of PNG and TIFF files: 8, or 16 (encoded from the linear render).
    #[arg(long, default_value_t = 8)]
    bit_depth: u32,
    /// JPEG quality, 1 to 100.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
    /// Sample type of EXR colour channels (AOVs keep float depth/normals and uint ids).
    #[arg(long, default_value = "half", value_parser = clap::builder::PossibleValuesParser::new(ExrPrecision::NAMES.iter().copied()))]
    exr_precision: String,
    /// EXR compression (dwaa is lossy on colour only).
    #[arg(long, default_value = "zip", value_parser = clap::builder::PossibleValuesParser::new(ExrCompression::NAMES.iter().copied()))]
    exr_compression: String,
    /// AOVs to write, comma-separated: depth, normal, primId, instanceId. EXR layers of an EXR
    /// beauty; otherwise (or with --aov-files separate) EXR files beside it: shot.0001.depth.exr.
    #[arg(long, value_delimiter = ',')]
    aov: Vec<String>,
    /// Where AOVs of an EXR beauty go: layers of the same file, or separate EXR sequences.
    #[arg(long, default_value = "layers", value_parser = clap::builder::PossibleValuesParser::new(AovFiles::NAMES.iter().copied()))]
    aov_files: String,
    #[command(flatten)]
    adapters: AdapterArgs,
    /// Skip frames whose file exists and is a whole image; render the rest (resume a run).
    #[arg(long, conflicts_with = "overwrite")]
    skip_existing: bool,
    /// Replace existing files (by default existing outputs stop the run before it starts).
    #[arg(long)]
    overwrite: bool,
    /// How many times a failed frame is tried again.
    #[arg(long, default_value_t = 1)]
    retries: u32,
    /// Append one JSON line per frame (frame, adapter, ms, output, status) to this file.
    #[arg(long)]
    frame_log: Option<PathBuf>,
    /// After SIGINT/SIGTERM, how long the frames in flight may take to finish before the run
    /// exits as a second signal would: those frames abandoned, their temporaries removed.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    stop_grace: std::time::Duration,
    /// Progress as JSON lines on stdout (events start, frame, end) instead of a bar or log lines.
    #[arg(long)]
    json: bool,
    /// Print the plan (frames, camera, adapters, output files) and render nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not fsync each file before renaming it into place: faster on slow disks; a killed
    /// process still leaves no partial file, but a power loss may.
    #[arg(long)]
    no_fsync: bool,
    /// After rendering, compare the frames with these references (a folder or a frame pattern) and
    /// fail (exit 1) when a frame is over the thresholds; see `usdrender compare`.
    #[arg(long, value_name = "EXPECTED")]
    compare: Option<String>,
    /// With --compare: make the rendered frames the new references instead of comparing.
    #[arg(long, requires = "compare")]
    update: bool,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    /// Farm task: render one contiguous chunk of N frames (the one --task-index names).
    #[arg(long, requires = "task_index")]
    chunk: Option<usize>,
    /// Farm task: the chunk (0-based), or `auto` for the engine's index: USDRENDER_TASK_INDEX,
    /// SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX (0-based), SGE_TASK_ID,
    /// LSB_JOBINDEX (1-based).
    #[arg(long, requires = "chunk")]
    task_index: Option<String>,
    /// Farm task: part i of n near-equal contiguous parts (0-based), e.g. 0/4.
    #[arg(long, conflicts_with_all = ["chunk", "task_index"])]
    shard: Option<String>,
}

#[derive(Args)]
struct AdapterArgs {
    /// Adapters to use: comma list of indices (from `usdrender adapters`), name substrings, or
    /// pci:<bus id>. Default: every GPU.
    #[arg(long)]
    adapters: Option<String>,
    /// Also use CPU adapters (lavapipe) when a GPU is present.
    #[arg(long)]
    include_cpu: bool,
    /// Keep one adapter per backend (Vulkan and GL) instead of one per physical device.
    #[arg(long)]
    all_backends: bool,
}

impl AdapterArgs {
    fn selection(&self) -> AdapterSelection {
        AdapterSelection {
            spec: self.adapters.clone(),
            include_cpu: self.include_cpu,
            all_backends: self.all_backends,
        }
    }
}

#[derive(Args)]
struct BenchArgs {
    /// The stage (.usd, .usda, .usdc, .usdz).
    stage: PathBuf,
    /// Frames (time codes) to cycle through. Default: the stage's range.
    #[arg(long, short = 'f', allow_hyphen_values = true)]
    frames: Option<String>,
    /// Image size.
    #[arg(long, default_value = "1920x1080")]
    res: String,
    #[command(flatten)]
    adapters: AdapterArgs,
    /// Subdivision surfaces refined as for `render --complexity`.
    #[arg(long, value_parser = ["low", "medium", "high", "veryhigh"])]
    complexity: Option<String>,
    /// As `render`'s.
    #[command(flatten)]
    motion: MotionBlurArgs,
    /// Frames rendered before timing starts (left out of every figure).
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Timed frames per measurement.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// End to end without writing files (encode only).
    #[arg(long)]
    no_write: bool,
    /// Skip the end-to-end measurement.
    #[arg(long)]
    no_end_to_end: bool,
    /// End to end without an fsync per file (as `render --no-fsync`).
    #[arg(long)]
    no_fsync: bool,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print ratios against an earlier JSON report.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Folder for end-to-end frames (emptied before and after). Default: a temporary folder.
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// Where opaque surfaces are shaded, as `render --shading-pass` [default: auto].
    #[arg(long, value_parser = ["auto", "compute", "forward"])]
    shading_pass: Option<String>,
    /// Time frame evaluation alone (no adapter): ms per frame on one thread, frames per second
    /// of the render pipeline's parallel evaluation.
    #[arg(long)]
    evaluate_only: bool,
    /// Most memory the stage may take: layers up to half of it, decoded time samples and
    /// textures a quarter each (past that: an error or a warning naming the file). Bytes, or
    /// with K, M, G or T (1024-based), such as 8G [default: the machine's memory].
    #[arg(long, value_parser = parse_size)]
    max_memory: Option<u64>,
}

#[derive(Args)]
struct InfoArgs {
    /// The stage (.usd, .usda, .usdc, .usdz).
    stage: PathBuf,
    /// Print one JSON object (keys named as in the conformance corpus' TRUTH.jsonl).
    #[arg(long)]
    json: bool,
    /// A camera path or unique name, as for `render`.
    #[arg(long)]
    camera: Option<String>,
    /// A layer composed over the stage, as usdrecord's --sessionLayer.
    #[arg(long)]
    session_layer: Option<PathBuf>,
    /// Most memory the stage may take: layers up to half of it, decoded time samples and
    /// textures a quarter each (past that: an error or a warning naming the file). Bytes, or
    /// with K, M, G or T (1024-based), such as 8G [default: the machine's memory].
    #[arg(long, value_parser = parse_size)]
    max_memory: Option<u64>,
}

/// Pass/fail thresholds of `compare` and `render --compare` (idiff's options; see docs/ci.md).
#[derive(Args, Clone)]
struct ThresholdArgs {
    /// A pixel fails when a channel differs by more than this (0..1; 0: any difference).
    #[arg(long, default_value_t = 0.0)]
    fail: f64,
    /// A frame fails when more than this percentage of its pixels fail.
    #[arg(long, alias = "fail-percent", default_value_t = 0.0)]
    failpercent: f64,
    /// A pixel warns when a channel differs by more than this (0..1).
    #[arg(long, default_value_t = 0.0)]
    warn: f64,
    /// A frame warns when more than this percentage of its pixels warn.
    #[arg(long, alias = "warn-percent", default_value_t = 0.0)]
    warnpercent: f64,
    /// A frame fails if any pixel differs by more than this (0..1), whatever the percentages.
    #[arg(long, alias = "hard-fail")]
    hardfail: Option<f64>,
    /// A frame fails when its FLIP mean exceeds this (0..1).
    #[arg(long)]
    flip_fail: Option<f64>,
    /// A frame warns when its FLIP mean exceeds this.
    #[arg(long)]
    flip_warn: Option<f64>,
    /// A frame fails when its alpha-coverage IoU (alpha >= 0.5) is below this.
    #[arg(long)]
    iou_fail: Option<f64>,
    /// FLIP's pixels per degree of visual angle.
    #[arg(long, default_value_t = 67.0)]
    flip_ppd: f32,
}

impl ThresholdArgs {
    fn thresholds(&self) -> usdrender::compare::Thresholds {
        usdrender::compare::Thresholds {
            fail: self.fail,
            fail_percent: self.failpercent,
            warn: self.warn,
            warn_percent: self.warnpercent,
            hard_fail: self.hardfail,
            flip_fail: self.flip_fail,
            flip_warn: self.flip_warn,
            iou_fail: self.iou_fail,
            pixels_per_degree: self.flip_ppd,
        }
    }
}

/// `usdrender compare` (idiff's threshold options; see docs/ci.md).
#[derive(Args)]
struct CompareArgs {
    /// The images to check: a file, a folder, or a frame pattern such as out/f.####.png.
    actual: String,
    /// The reference images: a file, folder or pattern like ACTUAL (a folder beside a pattern or a
    /// file means the same names in it).
    expected: String,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    /// Extra images (without a reference) fail instead of warning.
    #[arg(long)]
    strict: bool,
    /// Folder for heat maps of failing frames. Default: compare-diff/ beside the JSON or JUnit report,
    /// else ./compare-diff/.
    #[arg(long)]
    diff_dir: Option<PathBuf>,
    /// Write no heat maps.
    #[arg(long, conflicts_with = "diff_dir")]
    no_diff: bool,
    /// Write a JSON report (settings, per-frame metrics and verdicts, summary).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a JUnit XML report (one testcase per frame).
    #[arg(long)]
    junit: Option<PathBuf>,
}

fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    use usdrender::compare::{self, CompareOptions};
    let diff_dir = match (&args.diff_dir, args.no_diff) {
        (_, true) => None,
        (Some(dir), false) => Some(dir.clone()),
        (None, false) => {
            let (json, junit) = (args.json.as_deref(), args.junit.as_deref());
            Some(CompareOptions::default_diff_dir(json, junit))
        }
    };
    let opts = CompareOptions {
        thresholds: args.thresholds.thresholds(),
        strict: args.strict,
        diff_dir,
        json: args.json,
        junit: args.junit,
    };
    Ok(ExitCode::from(compare::run(&args.actual, &args.expected, &opts)?))
}

/// `usdrender farm ENGINE STAGE --chunk N -o PATTERN [-- RENDER FLAGS]` (see docs/farm.md).
#[derive(Args)]
struct FarmArgs {
    /// The farm engine: slurm (sbatch script), k8s (Indexed Job), openjd (Open Job Description
    /// template), deadline (CommandLine job files), opencue (PyOutline script).
    #[arg(value_parser = usdrender::farm::Engine::NAMES)]
    engine: String,
    /// The stage, as the farm's machines see it.
    stage: PathBuf,
    /// Frames (as for render). Default: the stage's range (the stage is opened to count them).
    #[arg(long, short = 'f', allow_hyphen_values = true)]
    frames: Option<String>,
    /// Frames per task.
    #[arg(long)]
    chunk: usize,
    /// Output files, as for render.
    #[arg(short, long)]
    output: String,
    /// The frame log all tasks append to. Default: frames.jsonl beside the outputs.
    #[arg(long)]
    frame_log: Option<String>,
    /// Most tasks running at once (Slurm %N, k8s parallelism, Deadline machine limit).
    #[arg(long)]
    throttle: Option<usize>,
    /// GPUs per task (0: request none, e.g. CPU-only nodes with lavapipe).
    #[arg(long, default_value_t = 1)]
    gpus: u32,
    /// The job's name.
    #[arg(long, default_value = "usdrender")]
    name: String,
    /// The usdrender command on the farm's machines (or a wrapper script).
    #[arg(long, default_value = "usdrender")]
    program: String,
    /// The tasks' working directory. Default: this directory (openjd: the template's folder; k8s: the image's).
    #[arg(long)]
    workdir: Option<String>,
    /// Container image (k8s).
    #[arg(long, default_value = "usdrender:latest")]
    image: String,
    /// Further `usdrender render` flags, after `--` (e.g. -- --width 1920 --camera /cam).
    #[arg(last = true)]
    render_args: Vec<String>,
}

fn farm(args: FarmArgs) -> anyhow::Result<ExitCode> {
    use usdrender::farm::{Engine, FarmSpec};
    let engine = Engine::from_name(&args.engine).with_context(|| format!("unknown engine {:?}", args.engine))?;
    let stage = args.stage.to_string_lossy().into_owned();
    let frame_log = args.frame_log.clone().unwrap_or_else(|| {
        match std::path::Path::new(&args.output)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            Some(dir) => dir.join("frames.jsonl").to_string_lossy().into_owned(),
            None => "frames.jsonl".into(),
        }
    });
    // The tasks' command must parse: check it (and the pass-through flags) as render would.
    let mut check = vec![
        "usdrender",
        "render",
        &stage,
        "-o",
        &args.output,
        "--chunk",
        "1",
        "--task-index",
        "0",
    ];
    check.extend(["--skip-existing", "--frame-log", &frame_log]);
    if let Some(f) = &args.frames {
        check.extend(["--frames", f]);
    }
    check.extend(args.render_args.iter().map(String::as_str));
    match Cli::try_parse_from(&check) {
        Ok(Cli {
            command: Command::Render(r),
            ..
        }) => {
            Pattern::parse(&r.output)?;
        }
        Ok(_) => anyhow::bail!("the flags after -- must be usdrender render flags"),
        Err(e) => anyhow::bail!(
            "the render command for the tasks would not parse ({}): {e}",
            check[2..].join(" ")
        ),
    }
    let frames = match &args.frames {
        Some(spec) => frames::parse_spec(spec)?,
        None => {
            let stage = LoadedStage::open(&args.stage, &OpenOptions::default())?;
            stage
                .timing()
                .default_frames()
                .map_err(|reason| anyhow::anyhow!("{}: {reason}", args.stage.display()))?
        }
    };
    let workdir = match (&args.workdir, engine) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Engine::Kubernetes | Engine::OpenJd) => None,
        (None, _) => Some(std::env::current_dir()?.to_string_lossy().into_owned()),
    };
    let spec = FarmSpec {
        engine,
        name: args.name,
        program: args.program,
        stage,
        frames,
        frames_spec: args.frames,
        chunk: args.chunk,
        output: args.output,
        frame_log,
        render_args: args.render_args,
        workdir,
        throttle: args.throttle,
        gpus: args.gpus,
        image: args.image,
    };
    print!("{}", spec.render()?);
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = match jobfile::parse_cli() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    // wgpu-hal logs GL probing failures at error level on machines without GL drivers: noise.
    let level = if cli.quiet {
        "warn,wgpu_hal=off"
    } else {
        "info,wgpu_hal=off,wgpu_core=warn"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        .init();
    match run(cli.command, cli.quiet) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command, quiet: bool) -> anyhow::Result<ExitCode> {
    match command {
        Command::Render(args) => render(args, quiet),
        Command::Bench(args) => bench(args),
        Command::Compare(args) => compare(args),
        Command::Farm(args) => farm(args),
        Command::Harness(args) => harness(args),
        Command::Fidelity(args) => fidelity(args),
        Command::Info(args) => {
            let open = OpenOptions {
                session_layer: args.session_layer.clone(),
                max_memory: args.max_memory,
                ..OpenOptions::default()
            };
            let mut stage = LoadedStage::open(&args.stage, &open)?;
            let extract = ExtractOptions {
                camera: args.camera.clone(),
                ..ExtractOptions::default()
            };
            let info = stage.info(&extract)?;
            // A camera the user named but the stage cannot give is an error, as for `render`;
            // without --camera, a stage whose cameras cannot be chosen is still described.
            if let (Some(_), Some(e)) = (&args.camera, info.camera.get("error").and_then(|e| e.as_str())) {
                anyhow::bail!("{}: {e}", args.stage.display());
            }
            let text = if args.json {
                serde_json::to_string(&info)
            } else {
                serde_json::to_string_pretty(&info)
            };
            println!("{}", text.context("serialising info")?);
            // The process ends here: freeing every composed prim index one by one took a tenth
            // of `info` on the teapot field. The operating system takes the memory back at once.
            std::mem::forget(stage);
            Ok(ExitCode::SUCCESS)
        }
        Command::Adapters(args) => list_adapters(&args),
    }
}

fn render(args: RenderArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    if args.list_adapters {
        return list_adapters(&args.adapters);
    }
    let stage = args
        .stage
        .clone()
        .context("no stage: give STAGE, or `stage` in the --job file")?;
    let output = Pattern::parse(&args.output)?;
    let format = Encoding {
        kind: Format::choose(args.format.as_deref(), &output)?,
        bit_depth: BitDepth::from_bits(args.bit_depth)?,
        quality: args.quality,
        exr_precision: args.exr_precision.parse()?,
        exr_compression: args.exr_compression.parse()?,
        aov_files: args.aov_files.parse()?,
        fsync: !args.no_fsync,
    };
    let mut aovs = Vec::with_capacity(args.aov.len());
    for name in args.aov.iter().filter(|n| !n.trim().is_empty()) {
        let name = output::aov_name(name)?.to_string();
        if !aovs.contains(&name) {
            aovs.push(name);
        }
    }
    let frames = args.frames.as_deref().map(frames::parse_spec).transpose()?;
    let task = usdrender::farm::slice_from_args(
        args.chunk,
        args.task_index.as_deref(),
        args.shard.as_deref(),
        frames.as_ref().map(Vec::len),
        |k| std::env::var(k).ok(),
    )?;
    let mut job = Job {
        stage,
        session_layer: args.session_layer.clone(),
        max_memory: args.max_memory,
        unloaded_as_bounds: args.unloaded_as_bounds,
        frames,
        output,
        format,
        aovs,
        camera: args.camera.clone(),
        width: args.width.unwrap_or(960),
        height: args.height,
        pixel_aspect: args.pixel_aspect.unwrap_or(1.0),
        purposes: args.purposes.clone().unwrap_or_else(|| vec!["render".into()]),
        refine_level: args
            .complexity
            .as_deref()
            .and_then(usdrender::job::refine_level_of)
            .unwrap_or(0),
        adapters: args.adapters.selection(),
        existing: if args.skip_existing {
            Existing::Skip
        } else if args.overwrite {
            Existing::Overwrite
        } else {
            Existing::Refuse
        },
        retries: args.retries,
        slice: task.as_ref().map(|(slice, _)| *slice),
        write: true,
        cycle: None,
        look: Default::default(),
        headlight: Default::default(),
        clear_color: [0.0; 4],
        dome_visible: false,
        color_correction: true,
        harness_view: None,
        shading: args
            .shading_pass
            .as_deref()
            .and_then(usdrender::gpu::ShadingPath::from_name)
            .unwrap_or_default(),
        msaa: 4,
        motion_blur: args.motion.setting()?,
    };
    apply_look_flags(&mut job, &args)?;
    if args.dry_run {
        let plan = schedule::plan(&job)?;
        if args.json {
            println!("{}", serde_json::to_string(&plan)?);
        } else {
            print_plan(&plan);
        }
        return Ok(ExitCode::SUCCESS);
    }

    // SIGINT / SIGTERM: stop starting frames, finish and write the ones in flight, then exit 130 /
    // 143. A second signal, or the first one's grace period (`--stop-grace`) running out inside
    // a long frame, exits at once, after removing the temporaries of the frames in flight (whole
    // frames already renamed into place stay).
    let stop = Arc::new(AtomicBool::new(false));
    // Which signal came decides the exit code: 130 for SIGINT, 143 for SIGTERM (128 + signal).
    let got_term = Arc::new(AtomicBool::new(false));
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).context("installing the signal handler")?;
        let (stop, got_term, grace) = (stop.clone(), got_term.clone(), args.stop_grace);
        let exit_now = |signal: i32, why: &str| -> ! {
            let frames: Vec<String> = schedule::frames_in_flight().iter().map(f64::to_string).collect();
            let removed = output::remove_in_flight_temporaries();
            let abandoned = match frames.len() {
                0 => "no frame in flight".to_string(),
                _ => format!("frame(s) {} abandoned", frames.join(",")),
            };
            eprintln!("exiting at once ({why}): {abandoned}, {removed} temporary file(s) removed");
            std::process::exit(if signal == SIGTERM { 143 } else { 130 });
        };
        std::thread::Builder::new()
            .name("usdrender-signals".into())
            .spawn(move || {
                for (count, signal) in signals.forever().enumerate() {
                    if signal == SIGTERM {
                        got_term.store(true, Ordering::Release);
                    }
                    stop.store(true, Ordering::Release);
                    if count > 0 {
                        exit_now(signal, "a second signal");
                    }
                    eprintln!(
                        "stopping: finishing the frames in flight for at most {:.1} s (signal again to exit at once)",
                        grace.as_secs_f64()
                    );
                    // A frame the GPU cannot interrupt may take much longer: the run ends by
                    // itself before this thread wakes, or this thread ends it.
                    let timer = std::thread::Builder::new()
                        .name("usdrender-stop-grace".into())
                        .spawn(move || {
                            std::thread::sleep(grace);
                            exit_now(
                                signal,
                                &format!("the frames in flight took more than {:.1} s", grace.as_secs_f64()),
                            );
                        });
                    if timer.is_err() {
                        exit_now(signal, "no thread to wait on the frames in flight");
                    }
                }
            })
            .context("starting the signal thread")?;
    }
    let mut frame_log = match &args.frame_log {
        Some(path) => Some(FrameLog::open(path)?),
        None => None,
    };
    let mut progress = Progress::new(if args.json {
        ProgressStyle::Json
    } else if quiet {
        ProgressStyle::Quiet
    } else if std::io::stderr().is_terminal() {
        ProgressStyle::Bar
    } else {
        ProgressStyle::Log
    });
    let mut log_error = None;
    let mut on_event = |event: Event<'_>| {
        if let Some(log) = frame_log.as_mut() {
            if let Err(e) = log.record(&event, &job) {
                log_error.get_or_insert(e);
            }
        }
        progress.event(&event);
    };
    let report = schedule::run_with(
        &job,
        Control {
            stop: &stop,
            on_event: &mut on_event,
        },
    )
    .map_err(|e| match &task {
        Some((_, Some(index))) => {
            anyhow::Error::new(e).context(format!("farm task {} ({})", index.index, index.origin()))
        }
        _ => e.into(),
    })?;
    progress.finish(&report);
    if let Some(e) = log_error {
        eprintln!("warning: frame log: {e:#}");
    }
    let secs = report.elapsed.as_secs_f64();
    let done = report.rendered.len();
    if !args.json && !quiet {
        eprintln!(
            "{done} frame(s) written, {} skipped, {} failed in {secs:.2} s ({:.2} frames/s) at {}x{}",
            report.skipped.len(),
            report.failed.len(),
            if secs > 0.0 { done as f64 / secs } else { 0.0 },
            report.width,
            report.height
        );
        for (adapter, n) in &report.per_adapter {
            eprintln!("  {adapter}: {n} frame(s)");
        }
    }
    if !report.failed.is_empty() {
        let list: Vec<String> = report.failed.iter().map(|f| f.frame.to_string()).collect();
        eprintln!("failed frames: {}", list.join(","));
        for f in &report.failed {
            eprintln!("  frame {}: {}", f.frame, f.error.as_deref().unwrap_or(""));
        }
    }
    if report.interrupted {
        eprintln!("interrupted: frames in flight were finished; re-run with --skip-existing to render the rest");
        return Ok(ExitCode::from(if got_term.load(Ordering::Acquire) { 143 } else { 130 }));
    }
    // A farm task (or a resume) succeeds only when every frame it covers is a whole file on disk.
    if job.slice.is_some() || args.skip_existing {
        let missing = usdrender::farm::missing_outputs(&job, &report);
        let failed: Vec<f64> = report.failed.iter().map(|f| f.frame).collect();
        let absent: Vec<String> = missing
            .iter()
            .filter(|f| !failed.contains(f))
            .map(f64::to_string)
            .collect();
        if !absent.is_empty() {
            eprintln!("task incomplete: no whole image for frame(s) {}", absent.join(","));
            return Ok(ExitCode::from(1));
        }
    }
    if let Some(expected) = &args.compare {
        let code = compare_after_render(&job, &report, expected, args.update, &args.thresholds)?;
        if code != 0 || !report.failed.is_empty() {
            return Ok(ExitCode::from(code.max(u8::from(!report.failed.is_empty()))));
        }
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--harness`, `--headlight`, `--clear-color`, `--enable-dome-light-visibility`: the harness's
/// settings first, then the flags typed beside them win.
fn apply_look_flags(job: &mut Job, args: &RenderArgs) -> anyhow::Result<()> {
    use usdrender::fidelity::HarnessArgs;
    if let Some(text) = &args.harness {
        let words: Vec<&str> = text.split_whitespace().collect();
        let harness = HarnessArgs::parse(&words)?;
        if harness.stage.is_some() || harness.write.is_some() || !harness.times.is_empty() {
            anyhow::bail!(
                "--harness: give the stage as STAGE, the output as -o and the times as --frames \
                 (or run the harness's whole command line with `usdrender harness -- ...`)"
            );
        }
        if !harness.complexities.is_empty() {
            anyhow::bail!("--harness: -complexities renders several images; use `usdrender harness -- ...`");
        }
        let camera = job.camera.take();
        harness.apply(job, args.width.is_some() || args.height.is_some());
        if let Some(w) = args.width {
            job.width = w;
        }
        if args.height.is_some() {
            job.height = args.height;
        }
        if let Some(a) = args.pixel_aspect {
            job.pixel_aspect = a;
        }
        // --camera beside --harness is the harness's -camera.
        job.camera = camera.or(job.camera.take());
        if let Some(p) = &args.purposes {
            job.purposes = p.clone();
        }
        if let Some(level) = args.complexity.as_deref().and_then(usdrender::job::refine_level_of) {
            job.refine_level = level;
        }
        let missing: Vec<&str> = harness
            .features()
            .into_iter()
            .filter(|f| !usdrender::fidelity::feature_exists(f))
            .collect();
        if !missing.is_empty() {
            log::warn!("--harness: not reproduced yet: {}", missing.join(", "));
        }
    }
    if let Some(h) = &args.headlight {
        job.headlight = match h.as_str() {
            "on" => Headlight::On,
            "off" => Headlight::Off,
            _ => Headlight::Auto,
        };
    }
    if let Some(c) = &args.clear_color {
        job.clear_color = parse_clear_color(c)?;
    }
    if args.enable_dome_light_visibility {
        job.dome_visible = true;
    }
    if let Some(c) = &args.color_correction {
        job.color_correction = c == "sRGB";
    }
    Ok(())
}

/// `--motion-blur`, `--motion-samples` and `--shutter`, as `render` and `bench` take them.
#[derive(Args)]
struct MotionBlurArgs {
    /// True motion blur: average renders at sub-frame times spread over the shutter, with
    /// transforms, deforming and skinned points, cameras and velocities evaluated at each
    /// (off by default, as in Storm and usdrecord). The shutter is the camera's shutter:open and
    /// shutter:close (time codes relative to the frame); where both are 0 (USD's fallback) half a
    /// frame centred on it, [-0.25, 0.25] of a frame (a 180-degree shutter). A stage whose
    /// RenderSettings set disableMotionBlur renders without blur unless --shutter is given.
    #[arg(long)]
    motion_blur: bool,
    /// With --motion-blur: renders averaged per frame, at the midpoints of equal parts of the
    /// shutter; the frame costs about this many renders [default: 8].
    #[arg(long, value_name = "N")]
    motion_samples: Option<u32>,
    /// With --motion-blur: the shutter interval OPEN,CLOSE in time codes relative to the frame
    /// (e.g. -0.25,0.25 or 0,0.5), instead of the camera's.
    #[arg(long, value_name = "OPEN,CLOSE", allow_hyphen_values = true)]
    shutter: Option<String>,
}

impl MotionBlurArgs {
    /// The three flags as one setting (`None`: no motion blur).
    fn setting(&self) -> anyhow::Result<Option<MotionBlur>> {
        motion_blur_of(self.motion_blur, self.motion_samples, self.shutter.as_deref())
    }
}

/// `--motion-blur`, `--motion-samples` and `--shutter` as one setting (`None`: no motion blur).
fn motion_blur_of(on: bool, samples: Option<u32>, shutter: Option<&str>) -> anyhow::Result<Option<MotionBlur>> {
    // Checked here rather than by clap's `requires`, so `--motion-blur` may come from a job file
    // while `--motion-samples` is typed (the command line is parsed once before the file is read).
    if !on {
        if samples.is_some() || shutter.is_some() {
            anyhow::bail!("--motion-samples and --shutter need --motion-blur");
        }
        return Ok(None);
    }
    let shutter = match shutter {
        Some(text) => Some(Shutter::parse(text).with_context(|| {
            format!(
                "--shutter {text:?}: expected OPEN,CLOSE, two numbers with CLOSE not before OPEN, such as -0.25,0.25"
            )
        })?),
        None => None,
    };
    Ok(Some(MotionBlur {
        samples: samples.unwrap_or(DEFAULT_MOTION_SAMPLES),
        shutter,
    }))
}

/// `R,G,B,A`, four finite numbers.
fn parse_clear_color(text: &str) -> anyhow::Result<[f32; 4]> {
    let parts: Vec<f32> = text
        .split(',')
        .map(|p| p.trim().parse::<f32>().ok().filter(|x| x.is_finite()))
        .collect::<Option<_>>()
        .with_context(|| format!("--clear-color {text:?}: expected four numbers R,G,B,A such as 0,0,0,1"))?;
    match parts[..] {
        [r, g, b, a] => Ok([r, g, b, a]),
        _ => anyhow::bail!("--clear-color {text:?}: expected four numbers R,G,B,A such as 0,0,0,1"),
    }
}

/// `usdrender harness -- HARNESS ARGS`.
#[derive(Args)]
struct HarnessCmdArgs {
    #[command(flatten)]
    adapters: AdapterArgs,
    /// testUsdImagingGLBasicDrawing's arguments after `--`, as in TESTS.json: -stage FILE -write
    /// FILE.png [-times t ...] [-lighting] [-camlight] [-frameAll] [-camera PATH] ...
    #[arg(last = true, required = true)]
    args: Vec<String>,
}

fn harness(args: HarnessCmdArgs) -> anyhow::Result<ExitCode> {
    let parsed = usdrender::fidelity::HarnessArgs::parse(&args.args)?;
    let written = usdrender::fidelity::render_harness(&parsed, Path::new(""), &args.adapters.selection())?;
    let mut failed = 0;
    for (path, result) in &written {
        match result {
            Ok(()) => println!("{}", path.display()),
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e}", path.display());
            }
        }
    }
    Ok(ExitCode::from(u8::from(failed > 0)))
}

/// `usdrender fidelity`.
#[derive(Args)]
struct FidelityArgs {
    /// The shared corpus (openusd/usdImagingGL/*/TESTS.json, openusd/usdrecord, usd-wg).
    #[arg(long, default_value = "../shared/corpus")]
    corpus: PathBuf,
    /// Folder for our images, FLIP heat maps and fidelity.json.
    #[arg(long, default_value = "target/fidelity")]
    out: PathBuf,
    /// Only tests whose suite/test name contains one of these (comma-separated, case-insensitive).
    #[arg(long, value_delimiter = ',')]
    filter: Vec<String>,
    /// Tests rendered at once (threads sharing the one adapter).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Markdown report [default: docs/fidelity.md; with --filter, fidelity.md in --out, so a
    /// partial run never replaces the committed report].
    #[arg(long)]
    doc: Option<PathBuf>,
    /// JSON report [default: fidelity.json in --out].
    #[arg(long)]
    json: Option<PathBuf>,
    /// A sentence placed under the report's title (which code state it measures).
    #[arg(long)]
    note: Option<String>,
    #[command(flatten)]
    adapters: AdapterArgs,
}

fn fidelity(args: FidelityArgs) -> anyhow::Result<ExitCode> {
    use usdrender::fidelity::{self, FidelityOptions};
    let options = FidelityOptions {
        corpus: args.corpus.clone(),
        out_dir: args.out.clone(),
        filter: args.filter.iter().filter(|f| !f.trim().is_empty()).cloned().collect(),
        jobs: args.jobs,
        adapters: args.adapters.selection(),
    };
    let report = fidelity::run(&options)?;
    // The command that regenerates the report, without the note (which is not a setting).
    let mut command = vec!["usdrender fidelity".to_string()];
    // The words after the subcommand (global flags such as -q come before it).
    let mut words = std::env::args().skip(1).skip_while(|w| w != "fidelity").skip(1);
    while let Some(w) = words.next() {
        if w == "--note" {
            words.next();
        } else if !w.starts_with("--note=") {
            command.push(if w.contains(' ') { format!("{w:?}") } else { w });
        }
    }
    let command = command.join(" ");
    let doc = args.doc.clone().unwrap_or_else(|| {
        if options.filter.is_empty() {
            PathBuf::from("docs/fidelity.md")
        } else {
            args.out.join("fidelity.md")
        }
    });
    let json = args.json.clone().unwrap_or_else(|| args.out.join("fidelity.json"));
    for (path, text) in [
        (&doc, fidelity::markdown(&report, &command, args.note.as_deref())),
        (&json, serde_json::to_string_pretty(&report)?),
    ] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let s = &report.summary;
    eprintln!(
        "{} test(s), {} image(s): {} compared, {} error(s); IoU >= {} on {} of {} images of tests whose features exist; median FLIP {}; {:.0} s on {}",
        s.tests,
        s.images,
        s.compared,
        s.errors,
        fidelity::IOU_TARGET,
        s.iou_pass_with_features,
        s.compared_with_features,
        s.median_flip.map_or("-".into(), |f| format!("{f:.4}")),
        s.seconds,
        s.adapter
    );
    eprintln!("report: {} and {}", doc.display(), json.display());
    Ok(ExitCode::SUCCESS)
}

fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let (w, h) = args
        .res
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|&(w, h)| w > 0 && h > 0)
        .with_context(|| format!("--res {:?}: expected WIDTHxHEIGHT, such as 1920x1080", args.res))?;
    let old = match &args.compare {
        Some(p) => Some(
            serde_json::from_str::<usdrender::bench::BenchReport>(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .with_context(|| format!("{} is not a bench report", p.display()))?,
        ),
        None => None,
    };
    let options = usdrender::bench::BenchOptions {
        stage: args.stage,
        frames: args.frames.as_deref().map(frames::parse_spec).transpose()?,
        width: w,
        height: h,
        adapters: args.adapters.selection(),
        warmup: args.warmup,
        count: args.count,
        write: !args.no_write,
        scratch: args
            .scratch
            .unwrap_or_else(|| std::env::temp_dir().join(format!("usdrender-bench-{}", std::process::id()))),
        skip_end_to_end: args.no_end_to_end,
        fsync: !args.no_fsync,
        shading: args
            .shading_pass
            .as_deref()
            .and_then(usdrender::gpu::ShadingPath::from_name)
            .unwrap_or_default(),
        evaluate_only: args.evaluate_only,
        max_memory: args.max_memory,
        refine_level: args
            .complexity
            .as_deref()
            .and_then(usdrender::job::refine_level_of)
            .unwrap_or(0),
        motion_blur: args.motion.setting()?,
    };
    if let Some(blur) = &options.motion_blur {
        if !(1..=usdrender::scene::shutter::MAX_MOTION_SAMPLES).contains(&blur.samples) {
            anyhow::bail!(
                "--motion-samples {} must be between 1 and {}",
                blur.samples,
                usdrender::scene::shutter::MAX_MOTION_SAMPLES
            );
        }
    }
    if options.evaluate_only {
        let report = usdrender::bench::run_evaluate_only(&options)?;
        print!("{}", usdrender::bench::evaluate_table(&report));
        if let Some(path) = &args.json {
            let text = serde_json::to_string_pretty(&report)?;
            std::fs::write(path, text).map_err(|e| usdrender::Error::io(path, e))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = usdrender::bench::run(&options)?;
    print!("{}", usdrender::bench::table(&report));
    if let Some(old) = &old {
        print!("{}", usdrender::bench::compare(&report, old));
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `render --compare EXPECTED [--update]`: compares this run's frames with the references, or with
/// `--update` copies them over the references (only when asked). Returns compare's exit code.
fn compare_after_render(
    job: &Job,
    report: &schedule::Report,
    expected: &str,
    update: bool,
    thresholds: &ThresholdArgs,
) -> anyhow::Result<u8> {
    use usdrender::compare::{self, CompareOptions};
    let frames: Vec<f64> = report
        .rendered
        .iter()
        .map(|o| o.frame)
        .chain(report.skipped.iter().copied())
        .collect();
    if update {
        // EXPECTED is a pattern (has a frame token) or a folder taking the same file names.
        let pattern = Pattern::parse(expected).ok().filter(Pattern::has_token);
        for &frame in &frames {
            let from = job.output.path(frame);
            let to = match &pattern {
                Some(p) => p.path(frame),
                None => Path::new(expected).join(from.file_name().context("output without a file name")?),
            };
            if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            usdrender::output::copy_atomically(&from, &to)
                .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        }
        eprintln!("updated {} reference frame(s) in {expected}", frames.len());
        return Ok(0);
    }
    let opts = CompareOptions {
        thresholds: thresholds.thresholds(),
        strict: false,
        diff_dir: Some(CompareOptions::default_diff_dir(None, None)),
        json: None,
        junit: None,
    };
    Ok(compare::run(job.output.as_str(), expected, &opts)?)
}

/// `usdrender adapters` and `render --list-adapters`: one line per adapter, in selection order.
fn list_adapters(args: &AdapterArgs) -> anyhow::Result<ExitCode> {
    let all = gpu::list_adapters(args.all_backends);
    if all.is_empty() {
        anyhow::bail!("no GPU adapter found (on a machine without a GPU, install mesa-vulkan-drivers)");
    }
    for a in all {
        println!(
            "{}: {} ({}, {}, driver {}, pci {})",
            a.index, a.name, a.backend, a.device_type, a.driver, a.pci_bus_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plan(plan: &schedule::Plan) {
    println!("stage:    {}", plan.stage.display());
    println!("camera:   {}", plan.camera);
    println!("size:     {}x{}", plan.width, plan.height);
    println!(
        "frames:   {} ({} already exist)",
        plan.frames.len(),
        plan.existing.len()
    );
    println!("triangles per frame: {}", plan.triangles_per_frame);
    println!(
        "look:     {}, headlight {}, clear colour {:?}, dome visible {}",
        plan.look, plan.headlight, plan.clear_color, plan.dome_visible
    );
    for a in &plan.adapters {
        println!("adapter:  {}: {} ({}, {})", a.index, a.name, a.backend, a.device_type);
    }
    for (f, p) in plan.frames.iter().zip(&plan.outputs) {
        println!("  {f} -> {}", p.display());
    }
    for w in &plan.warnings {
        println!("warning:  {w}");
    }
}
