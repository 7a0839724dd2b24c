//! `usdrender bench`: frames per second per adapter and all together, for render only, render +
//! readback, and end to end (the real `render` pipeline with encoding), with a JSON report that later
//! runs can be compared against.
//!
//! The stage is opened as `render` opens it ([`evaluate::open`]). Evaluation is measured on its
//! own, as `render` pays it: one thread, frames in order (ms per frame), and the render
//! pipeline's own parallel evaluation (frames per second on every core). Render-only and
//! render + readback then draw frames evaluated before their clock starts (they measure the GPU);
//! end-to-end runs go through [`schedule::run_with`], the same code as `usdrender render`,
//! evaluation included, timed from its `Started` event (stage load excluded). Warm-up frames are
//! left out of every figure. `--evaluate-only` measures evaluation alone.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::evaluate;
use crate::gpu::{self, AdapterSelection, GpuAdapter, RenderSettings, Renderer};
use crate::job::{Existing, Job};
use crate::output::Format;
use crate::scene::shutter::Sampling;
use crate::scene::FrameState;
use crate::schedule::{self, Control, Event};
use crate::{Error, Result};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub stage: PathBuf,
    /// Frames to render (time codes); `None`: the stage's default range.
    pub frames: Option<Vec<f64>>,
    pub width: u32,
    pub height: u32,
    pub adapters: AdapterSelection,
    /// Frames rendered before timing starts, per run.
    pub warmup: usize,
    /// Timed frames per run (the frame list repeats when shorter).
    pub count: usize,
    /// End to end: encode and write PNGs (`true`), or encode only (`false`, `--no-write`).
    pub write: bool,
    /// Where end-to-end frames go (a temporary folder by default); emptied before each run.
    pub scratch: PathBuf,
    /// Skip the end-to-end runs.
    pub skip_end_to_end: bool,
    /// End to end: fsync each file before its rename (the `render` default).
    pub fsync: bool,
    /// Where opaque surfaces are shaded (`--shading-pass`).
    pub shading: gpu::ShadingPath,
    /// Measure evaluation alone (`--evaluate-only`): no adapter is opened.
    pub evaluate_only: bool,
    /// `--max-memory`, as for `render`.
    pub max_memory: Option<u64>,
    /// `--complexity`, as for `render` (a refinement level).
    pub refine_level: u32,
    /// `--motion-blur`, as for `render`: each frame renders (and evaluates) its shutter samples.
    pub motion_blur: Option<crate::scene::shutter::MotionBlur>,
}

/// Timing of one measurement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Figures {
    pub frames: usize,
    pub fps: f64,
    pub ms_median: f64,
    pub ms_p95: f64,
    /// GPU time of the render pass from timestamp queries, where the adapter has them.
    pub gpu_ms_median: Option<f64>,
    /// GPU time of the whole frame but the readback copies (shadow maps, shading and post passes);
    /// absent from reports made before it existed.
    #[serde(default)]
    pub gpu_frame_ms_median: Option<f64>,
}

/// One set of adapters measured together (or one adapter alone).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Run {
    /// "alone" or "together".
    pub mode: String,
    pub adapters: Vec<String>,
    pub render_only: Figures,
    pub render_readback: Figures,
    pub end_to_end: Option<Figures>,
}

/// The whole report, as written by `--json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub usdrender: String,
    pub machine: Machine,
    pub settings: Settings,
    pub scene: SceneStats,
    pub adapters: Vec<gpu::AdapterSummary>,
    pub runs: Vec<Run>,
    /// Together / sum of alone, per measurement (present with two or more adapters).
    pub scaling: Option<Scaling>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub cpus: usize,
    pub os: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub stage: String,
    pub width: u32,
    pub height: u32,
    pub msaa: u32,
    pub warmup: usize,
    pub count: usize,
    pub format: String,
    pub write: bool,
    /// End-to-end files fsynced before their rename.
    #[serde(default)]
    pub fsync: bool,
    /// Renders averaged per frame under `--motion-blur` (absent: no motion blur).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motion_samples: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SceneStats {
    pub meshes: usize,
    pub instances: usize,
    pub triangles_per_frame: u64,
    pub dynamic_instances: usize,
    pub dynamic_meshes: usize,
    pub load_seconds: f64,
    pub evaluate_ms_per_frame: f64,
    /// Frames per second of the render pipeline's parallel evaluation on every core; absent from
    /// reports made before it existed.
    #[serde(default)]
    pub evaluate_frames_per_s_parallel: Option<f64>,
    /// Distinct frames the timed frames cycle through (fewer than `count` means frames repeat).
    #[serde(default)]
    pub distinct_frames: Option<usize>,
}

/// `--evaluate-only`: what evaluating frames costs, as `render` evaluates them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluateReport {
    pub usdrender: String,
    pub machine: Machine,
    pub stage: String,
    pub load_seconds: f64,
    pub meshes: usize,
    pub dynamic_meshes: usize,
    /// Of those, evaluated from plain data on the pool (points from time-sample tracks, and
    /// skinned meshes).
    pub pool_evaluated_meshes: usize,
    pub dynamic_instances: usize,
    /// Frames timed per measurement, and the distinct frames they cycle through.
    pub frames_timed: usize,
    pub distinct_frames: usize,
    /// Said when the timed frames repeat (fewer distinct frames than asked for).
    pub note: Option<String>,
    /// One thread, frames in order, after one warm-up frame.
    pub evaluate_ms_per_frame: f64,
    /// The stage's part alone (the serial part of the parallel pipeline), ms per frame.
    pub stage_part_ms_per_frame: f64,
    /// The render pipeline's evaluation: the stage's part in order, the rest on every core.
    pub evaluate_frames_per_s_parallel: f64,
    pub threads: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scaling {
    pub render_only: f64,
    pub render_readback: f64,
    pub end_to_end: Option<f64>,
}

/// Median and 95th percentile (nearest rank) of `ms`, in place.
fn percentiles(ms: &mut [f64]) -> (f64, f64) {
    if ms.is_empty() {
        return (0.0, 0.0);
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    (at(0.5), at(0.95))
}

fn figures(frames: usize, seconds: f64, mut ms: Vec<f64>, mut gpu_ms: Vec<f64>, mut gpu_frame_ms: Vec<f64>) -> Figures {
    let (ms_median, ms_p95) = percentiles(&mut ms);
    let median = |v: &mut Vec<f64>| (!v.is_empty()).then(|| percentiles(v).0);
    Figures {
        frames,
        fps: if seconds > 0.0 { frames as f64 / seconds } else { 0.0 },
        ms_median,
        ms_p95,
        gpu_ms_median: median(&mut gpu_ms),
        gpu_frame_ms_median: median(&mut gpu_frame_ms),
    }
}

/// The job `bench` opens its stage with: `render`'s, with the bench's frames.
fn bench_job(options: &BenchOptions) -> Result<Job> {
    let pattern = options.scratch.join("bench.#########.png");
    let mut job = Job::new(&options.stage, &pattern.to_string_lossy())?;
    job.frames = options.frames.clone();
    job.max_memory = options.max_memory;
    job.refine_level = options.refine_level;
    job.motion_blur = options.motion_blur;
    Ok(job)
}

/// A stage opened for `bench`: the stage, its scene, its frames, the seconds opening took and how
/// frames are sampled in time.
type BenchStage = (
    crate::stage::LoadedStage,
    std::sync::Arc<crate::scene::Scene>,
    Vec<f64>,
    f64,
    Sampling,
);

/// The stage opened as `render` opens it, its frames, and the seconds that took.
fn open_for_bench(options: &BenchOptions) -> Result<BenchStage> {
    let t0 = Instant::now();
    let job = bench_job(options)?;
    let evaluate::OpenedStage {
        stage,
        scene,
        frames,
        sampling,
        ..
    } = evaluate::open(&job)?;
    if frames.is_empty() || options.count == 0 {
        return Err(Error::Option("bench needs at least one frame".into()));
    }
    Ok((
        stage,
        std::sync::Arc::new(scene),
        frames,
        t0.elapsed().as_secs_f64(),
        sampling,
    ))
}

/// A line saying the timed frames repeat, when the frame list is shorter than the count.
fn repeat_note(distinct: usize, count: usize) -> Option<String> {
    (distinct < count).then(|| {
        format!(
            "only {distinct} distinct frame(s) to time: each repeats to make {count}; pass --frames for a longer range"
        )
    })
}

/// The time code of timed frame `i`: the frame list cycled.
fn cycled(frames: &[f64], i: usize) -> f64 {
    frames[i % frames.len()]
}

/// Evaluation as `render` pays it: ms per frame on one thread (frames in order, after one
/// warm-up frame), the stage's part alone, and frames per second of the parallel pipeline.
fn measure_evaluation(
    stage: &mut crate::stage::LoadedStage,
    scene: &std::sync::Arc<crate::scene::Scene>,
    frames: &[f64],
    count: usize,
    threads: usize,
    sampling: &Sampling,
) -> Result<(f64, f64, f64)> {
    evaluate::frame(stage, scene, frames[0], sampling)?;
    let t = Instant::now();
    for i in 0..count {
        std::hint::black_box(evaluate::frame(stage, scene, cycled(frames, i), sampling)?);
    }
    let one_thread = t.elapsed().as_secs_f64() * 1e3 / count as f64;
    let t = Instant::now();
    for i in 0..count {
        std::hint::black_box(evaluate::stage_part(stage, scene, cycled(frames, i), sampling)?);
    }
    let stage_part = t.elapsed().as_secs_f64() * 1e3 / count as f64;
    let pool = evaluate::pool(threads)?;
    let failed = std::sync::Mutex::new(None);
    let t = Instant::now();
    evaluate::frames_in_parallel(
        stage,
        scene,
        sampling,
        (0..count).map(|i| (i as f64, cycled(frames, i))),
        &pool,
        |_| true,
        |_, result, _| {
            if let Err(e) = result {
                if let Ok(mut f) = failed.lock() {
                    f.get_or_insert(e);
                }
            }
        },
    );
    let parallel = count as f64 / t.elapsed().as_secs_f64().max(1e-9);
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok((one_thread, stage_part, parallel))
}

/// Frames the full bench times evaluation over (`--evaluate-only` times `--count`).
const EVALUATE_FRAMES: usize = 60;

/// `bench --evaluate-only`: evaluation alone, no adapter.
pub fn run_evaluate_only(options: &BenchOptions) -> Result<EvaluateReport> {
    let (mut stage, scene, frames, load_seconds, sampling) = open_for_bench(options)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (one, stage_part, parallel) =
        measure_evaluation(&mut stage, &scene, &frames, options.count, threads, &sampling)?;
    let distinct = frames.len().min(options.count);
    Ok(EvaluateReport {
        usdrender: env!("CARGO_PKG_VERSION").to_string(),
        machine: machine(),
        stage: options.stage.display().to_string(),
        load_seconds,
        meshes: scene.meshes.len(),
        dynamic_meshes: scene.dynamic_meshes.len(),
        pool_evaluated_meshes: scene.animation.meshes.len() + scene.animation.skinned.len(),
        dynamic_instances: scene.dynamic_instances.len(),
        frames_timed: options.count,
        distinct_frames: distinct,
        note: repeat_note(frames.len(), options.count),
        evaluate_ms_per_frame: one,
        stage_part_ms_per_frame: stage_part,
        evaluate_frames_per_s_parallel: parallel,
        threads,
    })
}

/// A readable summary of an evaluation report.
pub fn evaluate_table(r: &EvaluateReport) -> String {
    let mut out = format!(
        "{}: {} meshes ({} animated, {} of them on the pool), {} animated instances; load {:.2} s
",
        r.stage, r.meshes, r.dynamic_meshes, r.pool_evaluated_meshes, r.dynamic_instances, r.load_seconds
    );
    out.push_str(&format!(
        "evaluate: {:.3} ms/frame on one thread (stage part {:.3} ms), {:.1} frames/s in parallel on {} threads; {} frames timed\n",
        r.evaluate_ms_per_frame, r.stage_part_ms_per_frame, r.evaluate_frames_per_s_parallel, r.threads, r.frames_timed
    ));
    if let Some(note) = &r.note {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

fn machine() -> Machine {
    Machine {
        hostname: std::fs::read_to_string("/etc/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        os: std::env::consts::OS.to_string(),
    }
}

/// Runs every measurement and returns the report.
pub fn run(options: &BenchOptions) -> Result<BenchReport> {
    let (mut stage, scene, frames, load_seconds, sampling) = open_for_bench(options)?;
    if let Some(note) = repeat_note(frames.len(), options.count) {
        log::warn!("bench: {note}");
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (evaluate_ms_per_frame, _, evaluate_parallel) = measure_evaluation(
        &mut stage,
        &scene,
        &frames,
        options.count.min(EVALUATE_FRAMES),
        threads,
        &sampling,
    )?;
    // Render-only and render + readback measure the GPU: their frames are evaluated first, only
    // those the timed loops reach (a long animated range is not held in memory).
    let used = frames.len().min(options.warmup + options.count);
    let states: Vec<FrameState> = frames[..used]
        .iter()
        .map(|&f| evaluate::frame(&mut stage, &scene, f, &sampling))
        .collect::<Result<_>>()?;
    let adapters = gpu::select_adapters(&options.adapters)?;
    let settings = RenderSettings {
        width: options.width,
        height: options.height,
        msaa: 4,
        shading: options.shading,
        motion_blur: sampling.blurs(),
        ..RenderSettings::default()
    };
    log::info!(
        "bench: {} frames evaluated, {} triangles per frame, {} adapter(s)",
        states.len(),
        scene.drawn_triangles(),
        adapters.len()
    );

    let mut runs = Vec::new();
    // Each adapter alone, then all together (when there are several).
    let mut groups: Vec<Vec<usize>> = (0..adapters.len()).map(|i| vec![i]).collect();
    if adapters.len() > 1 {
        groups.push((0..adapters.len()).collect());
    }
    for group in &groups {
        let chosen: Vec<&GpuAdapter> = group.iter().map(|&i| &adapters[i]).collect();
        let names: Vec<String> = chosen
            .iter()
            .map(|a| format!("{} [{}]", a.summary.name, a.summary.backend))
            .collect();
        log::info!("bench: {}", names.join(" + "));
        let render_only = measure_direct(&chosen, &scene, &settings, &states, options, false)?;
        let render_readback = measure_direct(&chosen, &scene, &settings, &states, options, true)?;
        let end_to_end = if options.skip_end_to_end {
            None
        } else {
            Some(measure_end_to_end(&chosen, &frames, options)?)
        };
        runs.push(Run {
            mode: if group.len() == 1 && adapters.len() > 1 || adapters.len() == 1 {
                "alone"
            } else {
                "together"
            }
            .to_string(),
            adapters: names,
            render_only,
            render_readback,
            end_to_end,
        });
    }
    let scaling = scaling(&runs);
    Ok(BenchReport {
        usdrender: env!("CARGO_PKG_VERSION").to_string(),
        machine: machine(),
        settings: Settings {
            stage: options.stage.display().to_string(),
            width: options.width,
            height: options.height,
            msaa: settings.msaa,
            warmup: options.warmup,
            count: options.count,
            format: "png".into(),
            write: options.write,
            fsync: options.fsync,
            motion_samples: sampling.blur.map(|b| b.samples),
        },
        scene: SceneStats {
            meshes: scene.meshes.len(),
            instances: scene.instances.len(),
            triangles_per_frame: scene.drawn_triangles(),
            dynamic_instances: scene.dynamic_instances.len(),
            dynamic_meshes: scene.dynamic_meshes.len(),
            load_seconds,
            evaluate_ms_per_frame,
            evaluate_frames_per_s_parallel: Some(evaluate_parallel),
            distinct_frames: Some(frames.len().min(options.count)),
        },
        adapters: adapters.iter().map(|a| a.summary.clone()).collect(),
        runs,
        scaling,
    })
}

/// Together / sum of alone for each measurement.
fn scaling(runs: &[Run]) -> Option<Scaling> {
    let together = runs.iter().find(|r| r.mode == "together")?;
    let alone: Vec<&Run> = runs.iter().filter(|r| r.mode == "alone").collect();
    let ratio = |get: &dyn Fn(&Run) -> Option<f64>| -> Option<f64> {
        let sum: f64 = alone.iter().map(|r| get(r)).sum::<Option<f64>>()?;
        Some(get(together)? / sum)
    };
    Some(Scaling {
        render_only: ratio(&|r| Some(r.render_only.fps))?,
        render_readback: ratio(&|r| Some(r.render_readback.fps))?,
        end_to_end: ratio(&|r| r.end_to_end.as_ref().map(|f| f.fps)),
    })
}

/// Render only (`readback == false`) or render + readback, one thread per adapter rendering the
/// benchmark frames round-robin, all started together.
fn measure_direct(
    adapters: &[&GpuAdapter],
    scene: &crate::scene::Scene,
    settings: &RenderSettings,
    states: &[FrameState],
    options: &BenchOptions,
    readback: bool,
) -> Result<Figures> {
    let mut renderers: Vec<Renderer> = adapters
        .iter()
        .map(|a| Renderer::new(a, scene, settings))
        .collect::<Result<_>>()?;
    let barrier = std::sync::Barrier::new(renderers.len());
    type Timings = (Vec<f64>, Vec<f64>, Vec<f64>, f64);
    let results: Vec<Result<Timings>> = std::thread::scope(|s| {
        let handles: Vec<_> = renderers
            .iter_mut()
            .map(|r| {
                let barrier = &barrier;
                s.spawn(move || -> Result<Timings> {
                    let mut pixels = Vec::new();
                    let mut frame = |r: &mut Renderer, i: usize| -> Result<()> {
                        let state = &states[i % states.len()];
                        if readback {
                            r.render(state, &mut pixels)
                        } else {
                            r.render_only(state)
                        }
                    };
                    for i in 0..options.warmup {
                        frame(r, i)?;
                    }
                    barrier.wait();
                    let start = Instant::now();
                    let (mut ms, mut gpu_ms, mut gpu_frame_ms) =
                        (Vec::with_capacity(options.count), Vec::new(), Vec::new());
                    for i in 0..options.count {
                        let t = Instant::now();
                        frame(r, options.warmup + i)?;
                        ms.push(t.elapsed().as_secs_f64() * 1e3);
                        if let Some(g) = r.last_gpu_ms() {
                            gpu_ms.push(g);
                        }
                        if let Some(g) = r.last_gpu_frame_ms() {
                            gpu_frame_ms.push(g);
                        }
                    }
                    Ok((ms, gpu_ms, gpu_frame_ms, start.elapsed().as_secs_f64()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Option("a bench thread panicked".into())))
            })
            .collect()
    });
    let (mut ms, mut gpu_ms, mut gpu_frame_ms, mut wall) = (Vec::new(), Vec::new(), Vec::new(), 0f64);
    for r in results {
        let (m, g, f, w) = r?;
        ms.extend(m);
        gpu_ms.extend(g);
        gpu_frame_ms.extend(f);
        wall = wall.max(w);
    }
    Ok(figures(ms.len(), wall, ms, gpu_ms, gpu_frame_ms))
}

/// The real pipeline (`schedule::run_with`) on these adapters, writing PNGs into the scratch
/// folder (or encoding only), timed from its start event; the first `warmup` frames are left out.
fn measure_end_to_end(adapters: &[&GpuAdapter], frames: &[f64], options: &BenchOptions) -> Result<Figures> {
    let _ = std::fs::remove_dir_all(&options.scratch);
    let total = options.warmup + options.count;
    // Frame numbers 0..total name the files; frame n shows time code frames[n % len], so short
    // ranges repeat without two frames sharing a file name.
    let pattern = options.scratch.join("bench.#########.png");
    let mut job = Job::new(&options.stage, &pattern.to_string_lossy())?;
    job.frames = Some((0..total).map(|n| n as f64).collect());
    job.cycle = Some(frames.to_vec());
    job.width = options.width;
    job.height = Some(options.height);
    job.format = crate::output::Encoding {
        fsync: options.fsync,
        ..crate::output::Encoding::new(Format::Png)
    };
    job.existing = Existing::Overwrite;
    job.write = options.write;
    job.shading = options.shading;
    job.max_memory = options.max_memory;
    job.refine_level = options.refine_level;
    job.motion_blur = options.motion_blur;
    job.adapters = AdapterSelection {
        spec: Some(
            adapters
                .iter()
                .map(|a| a.summary.index.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ..options.adapters.clone()
    };
    let stop = AtomicBool::new(false);
    let mut started: Option<Instant> = None;
    let mut done: Vec<Instant> = Vec::with_capacity(total);
    let mut render_ms = Vec::with_capacity(total);
    let mut failed = 0usize;
    let mut on_event = |e: Event<'_>| match e {
        Event::Started { .. } => started = Some(Instant::now()),
        Event::Frame(o) => {
            done.push(Instant::now());
            render_ms.push(o.render_ms);
            failed += o.error.is_some() as usize;
        }
    };
    schedule::run_with(
        &job,
        Control {
            stop: &stop,
            on_event: &mut on_event,
        },
    )?;
    let _ = std::fs::remove_dir_all(&options.scratch);
    if failed > 0 {
        return Err(Error::Option(format!("{failed} frame(s) failed in the end-to-end run")));
    }
    let from = if options.warmup > 0 {
        done.get(options.warmup - 1).copied()
    } else {
        started
    };
    let (Some(from), Some(&to)) = (from, done.last()) else {
        return Err(Error::Option("the end-to-end run rendered nothing".into()));
    };
    let timed = done.len().saturating_sub(options.warmup);
    // Per-frame figures: intervals between completions (what a user waits per frame).
    let mut intervals: Vec<f64> = done
        .windows(2)
        .skip(options.warmup.saturating_sub(1))
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
        .collect();
    if intervals.is_empty() {
        intervals.push((to - from).as_secs_f64() * 1e3);
    }
    let (ms_median, ms_p95) = percentiles(&mut intervals);
    Ok(Figures {
        frames: timed,
        fps: timed as f64 / (to - from).as_secs_f64().max(1e-9),
        ms_median,
        ms_p95,
        gpu_ms_median: None,
        gpu_frame_ms_median: None,
    })
}

/// A readable table of the report.
pub fn table(report: &BenchReport) -> String {
    let mut out = String::new();
    let s = &report.scene;
    if let Some(n) = report.settings.motion_samples {
        out.push_str(&format!("motion blur: {n} shutter samples per frame\n"));
    }
    out.push_str(&format!(
        "{} at {}x{}: {} meshes, {} instances, {} triangles/frame; load {:.2} s, evaluate {:.2} ms/frame on one thread, {} frames/s in parallel\n",
        report.settings.stage,
        report.settings.width,
        report.settings.height,
        s.meshes,
        s.instances,
        s.triangles_per_frame,
        s.load_seconds,
        s.evaluate_ms_per_frame,
        s.evaluate_frames_per_s_parallel.map_or("-".into(), |f| format!("{f:.0}")),
    ));
    if let Some(note) = s.distinct_frames.and_then(|d| repeat_note(d, report.settings.count)) {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push_str(&format!(
        "{:<10} {:<36} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "mode", "adapters", "render fps", "ms med", "ms p95", "gpu ms", "gpu frame", "+readback", "end2end"
    ));
    let ms = |g: Option<f64>| g.map_or("-".into(), |g| format!("{g:.2}"));
    for r in &report.runs {
        out.push_str(&format!(
            "{:<10} {:<36} {:>10.1} {:>10.2} {:>10.2} {:>10} {:>10} {:>10.1} {:>10}\n",
            r.mode,
            truncate(&r.adapters.join(" + "), 36),
            r.render_only.fps,
            r.render_only.ms_median,
            r.render_only.ms_p95,
            ms(r.render_only.gpu_ms_median),
            ms(r.render_only.gpu_frame_ms_median),
            r.render_readback.fps,
            r.end_to_end.as_ref().map_or("-".into(), |f| format!("{:.1}", f.fps)),
        ));
    }
    if let Some(sc) = &report.scaling {
        out.push_str(&format!(
            "scaling (together / sum of alone): render {:.3}, +readback {:.3}, end to end {}\n",
            sc.render_only,
            sc.render_readback,
            sc.end_to_end.map_or("-".into(), |e| format!("{e:.3}"))
        ));
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// Ratios of this report's frames per second to an older one's, run by run (matched by mode and
/// adapters).
pub fn compare(new: &BenchReport, old: &BenchReport) -> String {
    let mut out = String::from("ratios new / old (frames per second):\n");
    for r in &new.runs {
        let Some(o) = old.runs.iter().find(|o| o.mode == r.mode && o.adapters == r.adapters) else {
            out.push_str(&format!(
                "{:<10} {}: not in the old report\n",
                r.mode,
                r.adapters.join(" + ")
            ));
            continue;
        };
        let e2e = match (&r.end_to_end, &o.end_to_end) {
            (Some(a), Some(b)) if b.fps > 0.0 => format!("{:.3}", a.fps / b.fps),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<10} {:<36} render {:.3}  +readback {:.3}  end to end {}\n",
            r.mode,
            truncate(&r.adapters.join(" + "), 36),
            r.render_only.fps / o.render_only.fps.max(1e-12),
            r.render_readback.fps / o.render_readback.fps.max(1e-12),
            e2e
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figs(fps: f64) -> Figures {
        Figures {
            frames: 10,
            fps,
            ms_median: 1.0,
            ms_p95: 2.0,
            gpu_ms_median: None,
            gpu_frame_ms_median: None,
        }
    }

    fn run(mode: &str, adapters: &[&str], fps: f64) -> Run {
        Run {
            mode: mode.into(),
            adapters: adapters.iter().map(|s| s.to_string()).collect(),
            render_only: figs(fps),
            render_readback: figs(fps / 2.0),
            end_to_end: Some(figs(fps / 4.0)),
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentiles(&mut v), (50.0, 95.0));
        assert_eq!(percentiles(&mut [7.0]), (7.0, 7.0));
        assert_eq!(percentiles(&mut []), (0.0, 0.0));
    }

    #[test]
    fn scaling_is_together_over_sum_of_alone() {
        let runs = vec![
            run("alone", &["a"], 100.0),
            run("alone", &["b"], 50.0),
            run("together", &["a", "b"], 135.0),
        ];
        let s = scaling(&runs).unwrap();
        assert!((s.render_only - 0.9).abs() < 1e-12);
        assert!((s.render_readback - 0.9).abs() < 1e-12);
        assert!((s.end_to_end.unwrap() - 0.9).abs() < 1e-12);
        assert!(scaling(&runs[..1]).is_none(), "no together run, no scaling");
    }

    #[test]
    fn figures_from_samples() {
        let f = figures(4, 2.0, vec![4.0, 1.0, 3.0, 2.0], vec![], vec![5.0, 7.0, 6.0]);
        assert_eq!((f.fps, f.ms_median, f.ms_p95, f.gpu_ms_median), (2.0, 2.0, 4.0, None));
        assert_eq!(f.gpu_frame_ms_median, Some(6.0));
    }
}
