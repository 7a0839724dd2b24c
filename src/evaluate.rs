//! Opening a job's stage and evaluating its frames: the one path `render`, `--dry-run` and
//! `bench` all take.
//!
//! A frame is evaluated in two parts. The stage's part (transforms, visibility, instancers,
//! materials, lights, the camera) needs openusd's stage, which is `!Send`, so it runs in frame
//! order on the thread that owns the stage; it is cheap, since the stage resolves each animated
//! value's source once. The plain-data part ([`crate::stage::complete_frame`]: animated points
//! decoded, interpolated, spread to vertices, smooth normals) is most of the work and runs on a
//! pool, many frames at once, finishing in any order.
//!
//! With motion blur ([`Sampling`]) a frame is evaluated at each of its shutter's sub-frame times,
//! both parts, and the samples travel as one [`FrameState`] ([`FrameState::motion`]).

use std::sync::Arc;

use crate::job::Job;
use crate::scene::shutter::Sampling;
use crate::scene::{FrameState, Scene};
use crate::stage::{self, ExtractOptions, LoadedStage, OpenOptions};
use crate::{Error, Result};

/// A job's stage, opened and extracted, with the frames the job renders.
pub struct OpenedStage {
    pub stage: LoadedStage,
    pub scene: Scene,
    /// Frame numbers to render (this task's share of them under `--chunk`/`--shard`).
    pub frames: Vec<f64>,
    /// The first frame, evaluated (its camera sets the image's aspect).
    pub first: FrameState,
    /// How each frame is sampled in time (motion blur).
    pub sampling: Sampling,
}

/// Opens `job`'s stage, chooses its frames (the job's, else the stage's range), extracts the
/// scene at the first frame's time and evaluates that frame.
pub fn open(job: &Job) -> Result<OpenedStage> {
    let mut stage = LoadedStage::open(
        &job.stage,
        &OpenOptions {
            session_layer: job.session_layer.clone(),
            max_memory: job.max_memory,
            unloaded_as_bounds: job.unloaded_as_bounds,
            ..OpenOptions::default()
        },
    )?;
    let frames = match &job.frames {
        Some(f) => f.clone(),
        None => {
            let timing = stage.timing();
            let frames = timing.default_frames().map_err(|reason| Error::Timing {
                path: job.stage.clone(),
                reason,
            })?;
            if timing.start.is_none() || timing.end.is_none() {
                log::info!(
                    "{}: no authored time range; rendering one frame at {}",
                    job.stage.display(),
                    frames[0]
                );
            }
            frames
        }
    };
    let frames = job.task_frames(frames)?;
    let first_time = job.time_of(frames.first().copied().unwrap_or(0.0));
    let scene = stage.extract(&ExtractOptions {
        camera: job.camera.clone(),
        purposes: job.purposes.clone(),
        time: first_time,
        refine_level: job.refine_level,
        default_time_bounds: job.harness_view.is_some(),
        points_shading: false,
    })?;
    let first = stage.evaluate(&scene, first_time)?;
    let sampling = sampling(job, &stage);
    Ok(OpenedStage {
        stage,
        scene,
        frames,
        first,
        sampling,
    })
}

/// How `job`'s frames are sampled in time on `stage` (extracted): its `--motion-blur`, the
/// stage's frame length in time codes and whether its RenderSettings turn motion blur off.
pub fn sampling(job: &Job, stage: &LoadedStage) -> Sampling {
    let Some(blur) = job.motion_blur else {
        return Sampling::default();
    };
    let timing = stage.timing();
    let sampling = Sampling {
        blur: Some(blur),
        frame_length: timing.tcps / timing.fps,
        stage_disables: stage.motion_blur_disabled(),
    };
    if sampling.stage_disables && blur.shutter.is_none() {
        log::info!(
            "{}: its RenderSettings disable motion blur; frames are rendered at their time (--shutter overrides)",
            job.stage.display()
        );
    }
    sampling
}

/// The stage's part of the frame at time code `time`: one evaluation, or with motion blur one at
/// each of its shutter's times ([`Sampling::times`]), the one nearest the shutter's centre
/// returned with the others in [`FrameState::motion`]. Runs on the stage's thread.
pub fn stage_part(stage: &mut LoadedStage, scene: &Scene, time: f64, sampling: &Sampling) -> Result<FrameState> {
    if !sampling.blurs() {
        return stage.evaluate_stage_part(scene, time);
    }
    let times = sampling.times(time, stage.camera_shutter(time));
    let mut samples = Vec::with_capacity(times.len());
    for t in times {
        samples.push(stage.evaluate_stage_part(scene, t)?);
    }
    let mut state = samples.pop().ok_or_else(|| Error::Frame {
        frame: time.to_string(),
        reason: "no shutter sample".into(),
    })?;
    state.motion = samples;
    Ok(state)
}

/// The plain-data part of a frame from [`stage_part`] (and of its shutter samples): any thread.
pub fn complete(scene: &Scene, state: &mut FrameState) -> Result<()> {
    for sample in &mut state.motion {
        stage::complete_frame(scene, sample)?;
    }
    stage::complete_frame(scene, state)
}

/// The frame at time code `time`, both parts, on this thread.
pub fn frame(stage: &mut LoadedStage, scene: &Scene, time: f64, sampling: &Sampling) -> Result<FrameState> {
    let mut state = stage_part(stage, scene, time, sampling)?;
    complete(scene, &mut state)?;
    Ok(state)
}

/// Evaluates `frames` (frame number, time code) on two levels: the stage's part here, in order,
/// then the rest on `pool`. For each frame, `admit` runs here once the stage's part is done and
/// may block (the scheduler waits for a credit there); it returns `false` to stop evaluating.
/// `done` is called on a pool thread with each finished frame, in whatever order they finish;
/// every admitted frame reaches `done` (as an error when it could not be evaluated) before this
/// returns. A frame whose stage part fails goes to `done` at once, here, without `admit`; the
/// last argument of `done` says whether the frame was admitted.
pub fn frames_in_parallel(
    stage: &mut LoadedStage,
    scene: &Arc<Scene>,
    sampling: &Sampling,
    frames: impl IntoIterator<Item = (f64, f64)>,
    pool: &rayon::ThreadPool,
    mut admit: impl FnMut(f64) -> bool,
    done: impl Fn(f64, Result<FrameState>, bool) + Sync,
) {
    let done = &done;
    pool.in_place_scope(|s| {
        for (frame, time) in frames {
            match stage_part(stage, scene, time, sampling) {
                Ok(mut state) => {
                    if !admit(frame) {
                        break;
                    }
                    let scene = scene.clone();
                    s.spawn(move |_| {
                        // A panic here must not take the pool (and the run) down: the frame fails.
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            complete(&scene, &mut state).map(|()| state)
                        }))
                        .unwrap_or_else(|panic| {
                            Err(Error::Frame {
                                frame: frame.to_string(),
                                reason: format!(
                                    "internal error while evaluating it: {}",
                                    crate::error::panic_text(&*panic)
                                ),
                            })
                        });
                        done(frame, result, true);
                    });
                }
                Err(e) => done(frame, Err(e), false),
            }
        }
    });
}

/// A pool for the plain-data part of evaluation, of `threads` threads (at least one).
pub fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("usdrender-evaluate-{i}"))
        .build()
        .map_err(|e| Error::Option(format!("cannot start the evaluation threads: {e}")))
}
