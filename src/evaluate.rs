//! Opening a job's stage and evaluating its frames: the one path `render`, `--dry-run` and
//! `bench` all take.
//!
//! A frame is evaluated in two parts. The stage's part (transforms, visibility, instancers,
//! materials, lights, the camera) needs openusd's stage, which is `!Send`, so it runs in frame
//! order on the thread that owns the stage; it is cheap, since the stage resolves each animated
//! value's source once. The plain-data part ([`crate::stage::complete_frame`]: animated points
//! decoded, interpolated, spread to vertices, smooth normals) is most of the work and runs on a
//! pool, many frames at once, finishing in any order.

use std::sync::Arc;

use crate::job::Job;
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
    Ok(OpenedStage {
        stage,
        scene,
        frames,
        first,
    })
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
    frames: impl IntoIterator<Item = (f64, f64)>,
    pool: &rayon::ThreadPool,
    mut admit: impl FnMut(f64) -> bool,
    done: impl Fn(f64, Result<FrameState>, bool) + Sync,
) {
    let done = &done;
    pool.in_place_scope(|s| {
        for (frame, time) in frames {
            match stage.evaluate_stage_part(scene, time) {
                Ok(mut state) => {
                    if !admit(frame) {
                        break;
                    }
                    let scene = scene.clone();
                    s.spawn(move |_| {
                        // A panic here must not take the pool (and the run) down: the frame fails.
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            stage::complete_frame(&scene, &mut state).map(|()| state)
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
