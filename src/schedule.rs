//! Runs a [`Job`]: one thread owns the stage and does its part of each frame in order, a pool
//! finishes evaluating them ([`crate::evaluate`]), one worker per adapter renders them, and a CPU
//! pool encodes and writes the files.
//!
//! Frames are handed out by work stealing (crossbeam-deque): the stage thread pushes evaluated
//! frames into a global injector; each worker takes from its own deque first, then steals a batch
//! from the injector, then steals from the other workers, so fast and slow adapters both stay busy.
//! A bounded number of evaluated frames is in flight (credits), and each worker owns a small ring of
//! image buffers shared with the encoder pool, so memory stays flat over long runs and nothing is
//! allocated per frame.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use crate::error::panic_text;
use crate::evaluate;
use crate::gpu::{self, FrameBuffers, GpuAdapter, RenderSettings, Renderer, Ticket};
use crate::job::{Existing, Job};
use crate::output::{self, Frame};
use crate::scene::{FrameState, Scene};
use crate::{Error, Result};

/// A work-stealing queue of tasks shared by `n` workers.
pub struct FrameQueue<T> {
    injector: Injector<T>,
    stealers: Vec<Stealer<T>>,
    /// Set once no more tasks will be pushed.
    closed: AtomicBool,
}

/// One worker's end of a [`FrameQueue`].
pub struct QueueWorker<'q, T> {
    queue: &'q FrameQueue<T>,
    local: Worker<T>,
    index: usize,
}

impl<T> FrameQueue<T> {
    /// A queue for `workers` workers; returns it with each worker's local deque.
    pub fn new(workers: usize) -> (FrameQueue<T>, Vec<Worker<T>>) {
        let locals: Vec<Worker<T>> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let stealers = locals.iter().map(Worker::stealer).collect();
        (
            FrameQueue {
                injector: Injector::new(),
                stealers,
                closed: AtomicBool::new(false),
            },
            locals,
        )
    }

    pub fn push(&self, task: T) {
        self.injector.push(task);
    }

    /// No more tasks will come: workers finish what is queued and stop.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub fn worker(&self, index: usize, local: Worker<T>) -> QueueWorker<'_, T> {
        QueueWorker {
            queue: self,
            local,
            index,
        }
    }
}

impl<T> QueueWorker<'_, T> {
    /// The next task without waiting: own deque, then the injector, then the other workers.
    pub fn try_next(&self) -> Option<T> {
        if let Some(t) = self.local.pop() {
            return Some(t);
        }
        loop {
            let mut retry = false;
            match self.queue.injector.steal_batch_and_pop(&self.local) {
                Steal::Success(t) => return Some(t),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            // Steal from the others in rotation, starting after ourselves.
            let n = self.queue.stealers.len();
            for k in 1..n {
                match self.queue.stealers[(self.index + k) % n].steal() {
                    Steal::Success(t) => return Some(t),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// The next task, waiting while more may come; `None` once the queue is closed and drained.
    pub fn next(&self) -> Option<T> {
        let mut idle = 0u32;
        loop {
            if let Some(t) = self.try_next() {
                return Some(t);
            }
            if self.queue.closed.load(Ordering::Acquire) {
                // Pushes happen before close: one more look catches the last of them.
                return self.try_next();
            }
            idle = (idle + 1).min(10);
            if idle < 10 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// Gives a task back to the shared queue (a retry, or work of a worker that is leaving).
    pub fn give_back(&self, task: T) {
        self.queue.injector.push(task);
    }

    /// Moves everything in this worker's deque back to the shared queue.
    pub fn drain_to_shared(&self) {
        while let Some(t) = self.local.pop() {
            self.queue.injector.push(t);
        }
    }
}

/// A frame ready to render, or one whose evaluation failed (reported by the worker that takes
/// it, so it is counted like any other frame).
struct Task {
    frame: f64,
    state: std::result::Result<Arc<FrameState>, String>,
    attempts: u32,
}

/// How one frame ended.
#[derive(Debug, Clone)]
pub struct FrameOutcome {
    pub frame: f64,
    pub path: PathBuf,
    pub adapter: String,
    /// Render time (GPU submit to pixels on the host), milliseconds.
    pub render_ms: f64,
    pub error: Option<String>,
}

impl FrameOutcome {
    /// A frame that failed before any adapter rendered it (evaluation, no adapter left, lost).
    fn unrendered(job: &Job, frame: f64, reason: String) -> FrameOutcome {
        FrameOutcome {
            frame,
            path: job.output.path(frame),
            adapter: String::new(),
            render_ms: 0.0,
            error: Some(reason),
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub rendered: Vec<FrameOutcome>,
    pub failed: Vec<FrameOutcome>,
    /// Frames left alone because their file exists (`--skip-existing`).
    pub skipped: Vec<f64>,
    /// Frames per adapter name, in adapter order.
    pub per_adapter: Vec<(String, usize)>,
    pub width: u32,
    pub height: u32,
    pub elapsed: Duration,
    pub warnings: Vec<String>,
    /// The run was stopped (a signal) before every frame was started.
    pub interrupted: bool,
}

/// What the stage thread hands over once the stage is open.
struct Prepared {
    scene: Arc<Scene>,
    /// The chosen camera and the rule that chose it, for messages.
    camera: String,
    frames: Vec<f64>,
    aspect: f64,
    warnings: Vec<String>,
}

/// What a caller sees while a run goes on.
#[derive(Debug)]
pub enum Event<'a> {
    /// Rendering is about to start.
    Started {
        total: usize,
        skipped: &'a [f64],
        width: u32,
        height: u32,
        adapters: &'a [String],
        camera: &'a str,
    },
    /// A frame finished, written or failed.
    Frame(&'a FrameOutcome),
}

/// How a caller steers a run: a stop flag (set from a signal handler) and an event callback.
pub struct Control<'a> {
    /// Once set, no new frame is started; frames in flight are finished and written.
    pub stop: &'a AtomicBool,
    pub on_event: &'a mut dyn FnMut(Event<'_>),
}

/// Renders `job` with no stop flag and no event callback.
pub fn run(job: &Job) -> Result<Report> {
    let stop = AtomicBool::new(false);
    run_with(
        job,
        Control {
            stop: &stop,
            on_event: &mut |_| {},
        },
    )
}

/// Renders `job`. Per-frame failures are in the report; errors that stop the whole run (stage,
/// camera, output folder, no adapter) are returned.
pub fn run_with(job: &Job, control: Control<'_>) -> Result<Report> {
    job.validate()?;
    let Control { stop, on_event } = control;
    let started = Instant::now();
    let (prepared_tx, prepared_rx) = bounded::<Result<Prepared>>(1);
    let (todo_tx, todo_rx) = bounded::<(Vec<f64>, Sender<()>, rayon::ThreadPool)>(1);
    // Set once the adapters are known, before the stage thread is told which frames to evaluate.
    let queue_cell: OnceLock<FrameQueue<Task>> = OnceLock::new();
    let (outcome_tx, outcome_rx) = unbounded::<FrameOutcome>();
    // Workers that still have a device.
    let alive = AtomicUsize::new(0);

    // Set once the number of adapters is known; outlives the worker threads that use it.
    let encoder_cell: OnceLock<rayon::ThreadPool> = OnceLock::new();

    std::thread::scope(|s| -> Result<Report> {
        let (queue_cell, alive, encoder_cell) = (&queue_cell, &alive, &encoder_cell);
        // The stage loads while the adapters are opened.
        let stage_thread = s.spawn({
            let outcome_tx = outcome_tx.clone();
            move || stage_thread(job, prepared_tx, todo_rx, queue_cell, outcome_tx, stop)
        });
        let adapters = gpu::select_adapters(&job.adapters);
        if let Ok(list) = &adapters {
            for adapter in list.iter().take(MAX_WORKERS) {
                adapter.open_device_in_background();
            }
        }
        let prepared = match prepared_rx.recv() {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(match stage_thread.join() {
                    Ok(Err(e)) => e,
                    _ => Error::Stage {
                        path: job.stage.clone(),
                        reason: "the stage thread stopped".into(),
                    },
                })
            }
        };
        let adapters = adapters?;
        let workers = adapters.len().min(MAX_WORKERS);
        let height = job.height_for(prepared.aspect);
        let mut report = Report {
            width: job.width,
            height,
            warnings: prepared.warnings.clone(),
            ..Report::default()
        };
        job.output.check_frames(&prepared.frames)?;
        let todo = plan_outputs(job, &prepared.frames, &mut report)?;
        log::info!(
            "{} frames to render at {}x{} on {} adapter(s), {} skipped",
            todo.len(),
            job.width,
            height,
            workers,
            report.skipped.len()
        );
        let names: Vec<String> = adapters.iter().take(workers).map(|a| a.summary.label()).collect();
        on_event(Event::Started {
            total: todo.len(),
            skipped: &report.skipped,
            width: job.width,
            height,
            adapters: &names,
            camera: &prepared.camera,
        });
        let (queue, locals) = FrameQueue::<Task>::new(workers);
        let queue = queue_cell.get_or_init(|| queue);
        let (credit_tx, credit_rx) = bounded::<()>(CREDITS_PER_WORKER * workers);
        // Animated points are evaluated on every core the adapter workers leave; the stage
        // thread only does the stage's part of each frame.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let evaluators = evaluate::pool(cores.saturating_sub(workers))?;
        let planned = todo.clone();
        let _ = todo_tx.send((todo, credit_tx, evaluators));
        drop(todo_tx);

        let settings = job.render_settings(&prepared.scene, height);
        alive.store(workers, Ordering::Release);
        // The encoders get the cores the adapter workers and the stage thread do not need: a
        // worker starved by a full encoder pool delays its GPU, which is the expensive part.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cores.saturating_sub(workers + 1).max(1))
            .thread_name(|i| format!("usdrender-encode-{i}"))
            .build()
            .map_err(|e| Error::Option(format!("cannot start the encoder threads: {e}")))?;
        let encoders = encoder_cell.get_or_init(|| pool);
        let mut handles = Vec::new();
        for (index, (adapter, local)) in adapters.into_iter().zip(locals).enumerate() {
            let scene = prepared.scene.clone();
            let settings = settings.clone();
            let outcome_tx = outcome_tx.clone();
            let credit_rx = credit_rx.clone();
            handles.push(s.spawn(move || {
                let worker = queue.worker(index, local);
                let label = adapter.summary.label();
                // A panic inside wgpu (a lost device can make its calls panic) or here must not
                // lose frames: the worker leaves the pool as if its device were lost, its queued
                // frames go to the others, and what it had in flight is reported failed below.
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    render_worker(
                        job,
                        &adapter,
                        &scene,
                        &settings,
                        &worker,
                        &credit_rx,
                        &outcome_tx,
                        alive,
                        stop,
                        encoders,
                    )
                }));
                let done = done.unwrap_or_else(|panic| {
                    let reason = format!("the worker of adapter {label} stopped: {}", panic_text(&*panic));
                    log::error!("{reason}");
                    leave_pool(job, &worker, &credit_rx, &outcome_tx, alive, &reason);
                    0
                });
                (label, done)
            }));
        }
        drop(outcome_tx);
        // Only workers hold credits now: when they all stop, the stage thread stops too.
        drop(credit_rx);

        for outcome in outcome_rx.iter() {
            returned(outcome.frame);
            on_event(Event::Frame(&outcome));
            if outcome.error.is_some() {
                report.failed.push(outcome);
            } else {
                report.rendered.push(outcome);
            }
        }
        for h in handles {
            match h.join() {
                Ok((name, n)) => report.per_adapter.push((name, n)),
                Err(panic) => report
                    .warnings
                    .push(format!("a render worker panicked: {}", panic_text(&*panic))),
            }
        }
        match stage_thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(Error::Stage {
                    path: job.stage.clone(),
                    reason: "the stage thread panicked".into(),
                })
            }
        }
        report.interrupted = stop.load(Ordering::Acquire);
        // Every planned frame ends written, skipped or failed: one that none of them accounts
        // for (a worker that panicked with it in flight, an encoder that died) is a failure.
        // An interrupted run leaves frames unstarted on purpose (exit 130 says so).
        if !report.interrupted {
            let accounted: std::collections::HashSet<u64> = report
                .rendered
                .iter()
                .chain(&report.failed)
                .map(|o| o.frame.to_bits())
                .chain(report.skipped.iter().map(|f| f.to_bits()))
                .collect();
            for &frame in planned.iter().filter(|f| !accounted.contains(&f.to_bits())) {
                let outcome = FrameOutcome::unrendered(
                    job,
                    frame,
                    "lost: the worker or encoder handling it stopped before it was written".into(),
                );
                log::error!("frame {frame}: {}", outcome.error.as_deref().unwrap_or_default());
                returned(frame);
                on_event(Event::Frame(&outcome));
                report.failed.push(outcome);
            }
        }
        report.rendered.sort_by(|a, b| a.frame.total_cmp(&b.frame));
        report.failed.sort_by(|a, b| a.frame.total_cmp(&b.frame));
        report.elapsed = started.elapsed();
        Ok(report)
    })
}

/// Evaluated frames in flight per worker: enough to fill the adapter's readback ring and have the
/// next frames ready, few enough to bound memory.
const CREDITS_PER_WORKER: usize = gpu::FRAMES_IN_FLIGHT + 3;
/// Most adapters one process drives.
const MAX_WORKERS: usize = 64;

/// What a run would do, without rendering (`--dry-run`).
#[derive(Debug, serde::Serialize)]
pub struct Plan {
    pub stage: PathBuf,
    pub camera: String,
    pub width: u32,
    pub height: u32,
    pub frames: Vec<f64>,
    pub outputs: Vec<PathBuf>,
    /// Frames whose file already exists (skipped with --skip-existing, replaced with --overwrite).
    pub existing: Vec<f64>,
    pub adapters: Vec<gpu::AdapterSummary>,
    pub triangles_per_frame: u64,
    pub warnings: Vec<String>,
    /// The lighting settings the frames would be drawn with (`--harness`, `--headlight`,
    /// `--clear-color`, `--enable-dome-light-visibility`), as Rust writes them (`HarnessSimple {
    /// toward: [..] }`: the direction the harness light shines from, `-camlight`'s placed by the
    /// framed camera).
    pub look: String,
    pub headlight: String,
    pub clear_color: [f32; 4],
    pub dome_visible: bool,
    /// 8-bit images sRGB-encoded (`false`: linear values, `--color-correction disabled`).
    pub color_correction: bool,
}

/// Opens the stage and the adapters and says what `run` would do; writes nothing.
pub fn plan(job: &Job) -> Result<Plan> {
    job.validate()?;
    let evaluate::OpenedStage {
        stage,
        scene,
        frames,
        first: state,
        ..
    } = evaluate::open(job)?;
    job.output.check_frames(&frames)?;
    let adapters = gpu::select_adapters(&job.adapters)?
        .into_iter()
        .map(|a| a.summary)
        .collect();
    let outputs: Vec<PathBuf> = frames.iter().map(|&f| job.output.path(f)).collect();
    let existing = frames
        .iter()
        .zip(&outputs)
        .filter(|(_, p)| p.exists())
        .map(|(&f, _)| f)
        .collect();
    Ok(Plan {
        stage: job.stage.clone(),
        camera: match (&scene.camera.path, &job.harness_view, &job.camera) {
            (_, Some(_), None) => "the usdImagingGL test harness's built-in camera (--harness)".to_string(),
            (Some(p), _, _) => format!("{p} ({})", scene.camera.rule.as_str()),
            (None, _, _) => "framing camera (the stage has none)".to_string(),
        },
        width: job.width,
        height: job.height_for(state.camera.lens.aspect()),
        frames,
        outputs,
        existing,
        adapters,
        triangles_per_frame: scene.drawn_triangles(),
        warnings: stage.warnings(),
        look: format!("{:?}", job.look_for(&scene)),
        headlight: format!("{:?}", job.headlight),
        clear_color: job.clear_color,
        dome_visible: job.dome_visible,
        color_correction: job.color_correction,
    })
}

/// Creates the output folder and decides, per frame, whether it is rendered: existing files are
/// skipped, overwritten or refused according to `job.existing`. Removes temporary files that a
/// killed run left beside our outputs.
fn plan_outputs(job: &Job, frames: &[f64], report: &mut Report) -> Result<Vec<f64>> {
    // A frame's files: its beauty, then its AOV side files; all must be whole for it to count.
    let files: Vec<Vec<PathBuf>> = frames.iter().map(|&f| job.frame_outputs(f)).collect();
    let paths: Vec<PathBuf> = files.iter().flatten().cloned().collect();
    let mut folders: Vec<PathBuf> = paths.iter().filter_map(|p| p.parent().map(PathBuf::from)).collect();
    folders.sort();
    folders.dedup();
    for folder in folders.iter().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
        // A fresh, unpredictable name created with O_EXCL | O_NOFOLLOW: never through a link.
        let (probe, _) = output::create_temporary(&folder.join(".usdrender-probe")).map_err(|e| match e {
            Error::Io { source, .. } => Error::io(folder, source),
            other => other,
        })?;
        output::remove_temporary(&probe);
    }
    // An output that exists but is not a regular file is never replaced (nor read, for
    // --skip-existing: a FIFO would block).
    for path in &paths {
        output::check_replaceable(path)?;
    }
    let stale = output::remove_stale_temporaries(&paths);
    if stale > 0 {
        log::info!("removed {stale} temporary file(s) left by an interrupted run");
    }
    let mut todo = Vec::with_capacity(frames.len());
    let mut existing = Vec::new();
    for (&frame, files) in frames.iter().zip(&files) {
        match job.existing {
            Existing::Overwrite => todo.push(frame),
            Existing::Skip if output::is_complete_frame(files) => report.skipped.push(frame),
            Existing::Skip => todo.push(frame),
            Existing::Refuse => {
                existing.extend(files.iter().filter(|p| p.exists()).cloned());
                todo.push(frame);
            }
        }
    }
    if !existing.is_empty() {
        return Err(Error::Option(format!(
            "{} output file(s) already exist (first: {}); pass --skip-existing to render only missing frames or --overwrite to replace them",
            existing.len(),
            existing[0].display()
        )));
    }
    Ok(todo)
}

/// Owns the stage for the whole run: opens and extracts it, hands the scene over, then evaluates
/// the frames to render: the stage's part here, in order, and the rest on `evaluators`, whose
/// finished frames go straight into the queue (in whatever order they finish).
fn stage_thread(
    job: &Job,
    prepared_tx: Sender<Result<Prepared>>,
    todo_rx: Receiver<(Vec<f64>, Sender<()>, rayon::ThreadPool)>,
    queue_cell: &OnceLock<FrameQueue<Task>>,
    outcome_tx: Sender<FrameOutcome>,
    stop: &AtomicBool,
) -> Result<()> {
    let result = evaluate::open(job).map(|opened| {
        let aspect = opened.first.camera.lens.aspect();
        let warnings = opened.stage.warnings();
        for line in summarize_warnings(&warnings) {
            log::warn!("{line}");
        }
        let scene = &opened.scene;
        let camera = match (&scene.camera.path, &job.harness_view, &job.camera) {
            (_, Some(_), None) => "the usdImagingGL test harness's built-in camera (--harness)".to_string(),
            (Some(p), _, _) => format!("{p} ({})", scene.camera.rule.as_str()),
            (None, _, _) => "framing camera (the stage has none)".to_string(),
        };
        let evaluate::OpenedStage {
            stage,
            scene,
            frames,
            sampling,
            ..
        } = opened;
        (
            (stage, sampling),
            Prepared {
                scene: Arc::new(scene),
                camera,
                frames,
                aspect,
                warnings,
            },
        )
    });
    let (mut stage, sampling, scene) = match result {
        Ok(((stage, sampling), prepared)) => {
            let scene = prepared.scene.clone();
            if prepared_tx.send(Ok(prepared)).is_err() {
                return Ok(());
            }
            (stage, sampling, scene)
        }
        Err(e) => {
            let _ = prepared_tx.send(Err(e));
            return Ok(());
        }
    };
    // No list (the run stopped before rendering) or no queue: nothing to evaluate.
    let Ok((todo, credit_tx, evaluators)) = todo_rx.recv() else {
        return Ok(());
    };
    let Some(queue) = queue_cell.get() else { return Ok(()) };
    let frames = todo.into_iter().map(|frame| (frame, job.time_of(frame)));
    evaluate::frames_in_parallel(
        &mut stage,
        &scene,
        &sampling,
        frames,
        &evaluators,
        // A credit per queued frame; blocks while enough frames are in flight.
        |_| !stop.load(Ordering::Relaxed) && credit_tx.send(()).is_ok(),
        |frame, result, admitted| match result {
            Ok(mut state) => {
                // The harness's view (--harness) replaces the camera the stage's rules chose.
                let height = job.height_for(state.camera.lens.aspect());
                state.camera = job.frame_camera(&scene, &state.camera, job.width, height);
                for sample in &mut state.motion {
                    sample.camera = job.frame_camera(&scene, &sample.camera, job.width, height);
                }
                queue.push(Task {
                    frame,
                    state: Ok(Arc::new(state)),
                    attempts: 0,
                })
            }
            // Admitted frames hold a credit: the worker that takes it reports the failure.
            Err(e) if admitted => queue.push(Task {
                frame,
                state: Err(e.to_string()),
                attempts: 0,
            }),
            Err(e) => {
                let _ = outcome_tx.send(FrameOutcome::unrendered(job, frame, e.to_string()));
            }
        },
    );
    queue.close();
    Ok(())
}

/// One adapter's loop: keep up to [`gpu::FRAMES_IN_FLIGHT`] frames submitted, finish the oldest
/// into a recycled buffer set and hand it to the encoder pool. Returns how many frames it rendered.
///
/// The next frame is submitted before the previous one is finished, so the GPU renders frame N+1
/// while the host copies frame N out and the pool encodes the ones before. Buffers (not frames in
/// flight: those live in the renderer's readback ring) go round through `free`, so memory stays
/// flat however long the run.
#[allow(clippy::too_many_arguments)]
fn render_worker(
    job: &Job,
    adapter: &GpuAdapter,
    scene: &Scene,
    settings: &RenderSettings,
    worker: &QueueWorker<'_, Task>,
    credit_rx: &Receiver<()>,
    outcome_tx: &Sender<FrameOutcome>,
    alive: &AtomicUsize,
    stop: &AtomicBool,
    encoders: &rayon::ThreadPool,
) -> usize {
    let name = adapter.summary.label();
    let mut renderer = match Renderer::new(adapter, scene, settings) {
        Ok(r) => r,
        Err(e) => {
            log::error!("adapter {name} leaves the pool: {e}");
            leave_pool(job, worker, credit_rx, outcome_tx, alive, &e.to_string());
            return 0;
        }
    };
    log::info!(
        "worker {} ready on {} ({})",
        worker.index,
        name,
        adapter.summary.backend
    );
    let pool = buffers_per_worker(alive.load(Ordering::Acquire), encoders.current_num_threads());
    let (free_tx, free_rx) = bounded::<FrameBuffers>(pool);
    for _ in 0..pool {
        let _ = free_tx.send(FrameBuffers::for_settings(settings));
    }
    let fail = |task: Task, e: &Error, render_ms: f64| {
        frame_failed(job, worker, credit_rx, outcome_tx, alive, &name, task, e, render_ms)
    };
    let depth = renderer.frames_in_flight();
    let mut in_flight: VecDeque<(Task, Ticket, Instant)> = VecDeque::with_capacity(depth);
    let mut rendered = 0;
    // The queue is closed and drained, or the run was interrupted: only frames in flight remain.
    let mut done = false;
    let mut lost: Option<Error> = None;
    loop {
        // Fill the ring first. Wait for work only when nothing is in flight; otherwise finishing
        // the oldest frame is the better use of the time.
        while !done && lost.is_none() && in_flight.len() < depth {
            let next = if in_flight.is_empty() {
                worker.next()
            } else {
                worker.try_next()
            };
            let Some(task) = next else {
                done = in_flight.is_empty();
                break;
            };
            if stop.load(Ordering::Acquire) {
                done = true; // interrupted: frames not started are dropped, frames in flight finish
                break;
            }
            let t0 = Instant::now();
            taken(task.frame);
            if injected_panic(task.frame) {
                panic!("injected fault at frame {}", task.frame);
            }
            if let Some(delay) = injected_delay(task.frame) {
                std::thread::sleep(delay);
            }
            let state = match &task.state {
                Ok(state) => state.clone(),
                Err(reason) => {
                    // Evaluation failed: nothing to render and nothing to retry.
                    log::error!("frame {}: {reason}", task.frame);
                    let _ = credit_rx.try_recv();
                    let _ = outcome_tx.send(FrameOutcome::unrendered(job, task.frame, reason.clone()));
                    continue;
                }
            };
            match renderer.submit(&state) {
                Ok(ticket) => in_flight.push_back((task, ticket, t0)),
                Err(e) => {
                    if fail(task, &e, t0.elapsed().as_secs_f64() * 1e3) {
                        lost = Some(e);
                    }
                }
            }
        }
        if let Some(e) = lost {
            // Frames in flight on a lost device never come back: they go to the other adapters
            // (or fail) like the one that found the loss.
            for (task, _ticket, t0) in in_flight.drain(..) {
                fail(task, &e, t0.elapsed().as_secs_f64() * 1e3);
            }
            log::error!("adapter {name} lost its device and leaves the pool");
            leave_pool(job, worker, credit_rx, outcome_tx, alive, &e.to_string());
            wait_for_encoders(&free_rx, pool);
            return rendered;
        }
        let Some((task, ticket, t0)) = in_flight.pop_front() else {
            if done {
                break;
            }
            continue;
        };
        let Ok(mut buffers) = free_rx.recv() else {
            break; // unreachable: this worker holds a sender
        };
        let result = renderer.finish(ticket, &mut buffers);
        let render_ms = t0.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(()) => {
                let _ = credit_rx.try_recv();
                rendered += 1;
                let path = job.output.path(task.frame);
                let (free_tx, outcome_tx) = (free_tx.clone(), outcome_tx.clone());
                let (format, width, height, frame, adapter, write) = (
                    job.format,
                    settings.width,
                    settings.height,
                    task.frame,
                    name.clone(),
                    job.write,
                );
                // Encoding runs on the CPU pool while this adapter renders the next frames.
                encoders.spawn(move || {
                    let mut buffers = buffers;
                    buffers.straighten();
                    let (aovs, n) = frame_aovs(&buffers);
                    let image = Frame {
                        width,
                        height,
                        rgba: &buffers.rgba,
                        linear: (!buffers.linear.is_empty()).then_some(&buffers.linear[..]),
                        aovs: &aovs[..n],
                    };
                    let written = if write {
                        output::write_frame(&path, format, image)
                    } else {
                        output::encode_and_discard(format, image, &path)
                    };
                    let error = written.err().map(|e| e.to_string());
                    match &error {
                        None => log::info!("frame {frame} on {adapter}: {render_ms:.1} ms -> {}", path.display()),
                        Some(e) => log::error!("frame {frame}: {e}"),
                    }
                    let _ = free_tx.send(buffers);
                    let _ = outcome_tx.send(FrameOutcome {
                        frame,
                        path,
                        adapter,
                        render_ms,
                        error,
                    });
                });
            }
            Err(e) => {
                let _ = free_tx.send(buffers);
                if fail(task, &e, render_ms) {
                    lost = Some(e);
                }
            }
        }
    }
    alive.fetch_sub(1, Ordering::AcqRel);
    wait_for_encoders(&free_rx, pool);
    rendered
}

/// The AOVs a finished frame carries (those the settings asked for are the non-empty buffers),
/// as the encoders name them; an array, so handing them over allocates nothing.
fn frame_aovs(b: &FrameBuffers) -> ([output::Aov<'_>; 4], usize) {
    use output::{Aov, AovData};
    let none = Aov {
        name: "",
        channels: &[],
        data: AovData::F32(&[]),
    };
    let all = [
        (!b.depth.is_empty()).then_some(Aov {
            name: "depth",
            channels: &["Z"],
            data: AovData::F32(&b.depth),
        }),
        (!b.normal.is_empty()).then_some(Aov {
            name: "normal",
            channels: &["N.x", "N.y", "N.z"],
            data: AovData::F32(&b.normal),
        }),
        (!b.prim_id.is_empty()).then_some(Aov {
            name: "primId",
            channels: &["primId"],
            data: AovData::U32(&b.prim_id),
        }),
        (!b.instance_id.is_empty()).then_some(Aov {
            name: "instanceId",
            channels: &["instanceId"],
            data: AovData::U32(&b.instance_id),
        }),
    ];
    let mut list = [none; 4];
    let mut n = 0;
    for aov in all.into_iter().flatten() {
        list[n] = aov;
        n += 1;
    }
    (list, n)
}

/// Buffer sets per worker: one being filled from the readback ring plus enough for this worker's
/// share of the encoder threads (at least two, so encoding overlaps rendering even on small
/// machines; at most eight, to bound memory with large images).
fn buffers_per_worker(workers: usize, encoder_threads: usize) -> usize {
    1 + (encoder_threads / workers.max(1)).clamp(2, 8)
}

/// A frame that failed on this adapter: given back to the queue while retries are left (unless
/// this was the last adapter and its device is lost), otherwise reported as failed. Returns
/// whether the error was a device loss.
#[allow(clippy::too_many_arguments)]
fn frame_failed(
    job: &Job,
    worker: &QueueWorker<'_, Task>,
    credit_rx: &Receiver<()>,
    outcome_tx: &Sender<FrameOutcome>,
    alive: &AtomicUsize,
    name: &str,
    mut task: Task,
    e: &Error,
    render_ms: f64,
) -> bool {
    let lost = matches!(e, Error::Gpu { reason, .. } if reason.contains("lost"));
    let others = alive.load(Ordering::Acquire) > 1;
    if task.attempts < job.retries && (others || !lost) {
        log::warn!("frame {} failed on {name} ({e}); trying again", task.frame);
        task.attempts += 1;
        worker.give_back(task);
    } else {
        log::error!("frame {} failed on {name}: {e}", task.frame);
        let _ = credit_rx.try_recv();
        let _ = outcome_tx.send(FrameOutcome {
            frame: task.frame,
            path: job.output.path(task.frame),
            adapter: name.to_string(),
            render_ms,
            error: Some(e.to_string()),
        });
    }
    lost
}

/// Waits until every buffer is back from the encoder pool, i.e. every file of this worker is written.
fn wait_for_encoders(free_rx: &Receiver<FrameBuffers>, pool: usize) {
    for _ in 0..pool {
        if free_rx.recv().is_err() {
            break;
        }
    }
}

/// A worker without a device: its queued frames go back to the others; when it was the last one,
/// every remaining frame fails with `reason`.
fn leave_pool(
    job: &Job,
    worker: &QueueWorker<'_, Task>,
    credit_rx: &Receiver<()>,
    outcome_tx: &Sender<FrameOutcome>,
    alive: &AtomicUsize,
    reason: &str,
) {
    worker.drain_to_shared();
    if alive.fetch_sub(1, Ordering::AcqRel) > 1 {
        return;
    }
    // The last worker: nobody else will take these frames.
    while let Some(task) = worker.next() {
        let _ = credit_rx.try_recv();
        let _ = outcome_tx.send(FrameOutcome::unrendered(
            job,
            task.frame,
            format!("no adapter left to render it: {reason}"),
        ));
    }
}

/// Testing hook: `USDRENDER_FAULT_PANIC_FRAME=N` makes the render worker panic when it takes
/// frame N, as a wgpu call on a lost device can; tests check that no frame is lost silently.
fn injected_panic(frame: f64) -> bool {
    static AT: OnceLock<Option<f64>> = OnceLock::new();
    AT.get_or_init(|| {
        std::env::var("USDRENDER_FAULT_PANIC_FRAME")
            .ok()
            .and_then(|v| v.parse().ok())
    })
    .is_some_and(|at| at == frame)
}

/// Testing hook: `USDRENDER_FAULT_SLOW_FRAME=N:S` makes the render worker take S more seconds
/// over frame N, as a pathological frame would; tests check that the first signal still ends the
/// run within its grace period.
fn injected_delay(frame: f64) -> Option<Duration> {
    static AT: OnceLock<Option<(f64, Duration)>> = OnceLock::new();
    AT.get_or_init(|| {
        let spec = std::env::var("USDRENDER_FAULT_SLOW_FRAME").ok()?;
        let (at, secs) = spec.split_once(':')?;
        Some((at.parse().ok()?, Duration::try_from_secs_f64(secs.parse().ok()?).ok()?))
    })
    .and_then(|(at, delay)| (at == frame).then_some(delay))
}

/// Frames a worker has taken whose outcome has not come back: what an exit forced now abandons.
/// Process-wide, as the temporaries in flight are (`output::remove_in_flight_temporaries`): the
/// signal handler that names them runs outside any run.
static TAKEN: Mutex<Vec<f64>> = Mutex::new(Vec::new());

fn taken_frames() -> std::sync::MutexGuard<'static, Vec<f64>> {
    TAKEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A worker took `frame` (again, after a failed try: it is listed once).
fn taken(frame: f64) {
    let mut taken = taken_frames();
    if !taken.contains(&frame) {
        taken.push(frame);
    }
}

/// `frame`'s outcome came back.
fn returned(frame: f64) {
    taken_frames().retain(|f| *f != frame);
}

/// The frames taken by a worker and not finished yet (rendering, encoding or being written), in
/// order: what exiting now would abandon.
pub fn frames_in_flight() -> Vec<f64> {
    let mut frames = taken_frames().clone();
    frames.sort_by(f64::total_cmp);
    frames
}

/// How many warnings of one kind are logged before the rest are counted.
const WARNINGS_PER_KIND: usize = 5;

/// The stage's warnings as logged: at most [`WARNINGS_PER_KIND`] of each kind (the text after the
/// prim or file path), in their order, then a line per kind counting the rest. A stage whose many
/// references repeat one problem (the chess grid's 1,344 missing materials) stays readable; the
/// full list is still in the run's report.
pub fn summarize_warnings(warnings: &[String]) -> Vec<String> {
    let kind = |w: &str| -> String { w.split_once(": ").map_or(w, |(_, rest)| rest).to_string() };
    let mut kinds: Vec<(String, usize)> = Vec::new();
    let mut lines = Vec::new();
    for w in warnings {
        let k = kind(w);
        let seen = match kinds.iter_mut().find(|(name, _)| *name == k) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                kinds.push((k, 1));
                1
            }
        };
        if seen <= WARNINGS_PER_KIND {
            lines.push(w.clone());
        }
    }
    for (k, n) in kinds {
        if n > WARNINGS_PER_KIND {
            lines.push(format!("... and {} more: {k}", n - WARNINGS_PER_KIND));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_warnings_are_counted_after_a_few() {
        let mut warnings: Vec<String> = (0..8)
            .map(|i| format!("/World/set_{i}/M: the bound material does not exist; displayColor is used instead"))
            .collect();
        warnings.insert(2, "/a.usda: defaultPrim \"X\" names no prim".into());
        let lines = summarize_warnings(&warnings);
        assert_eq!(lines.len(), WARNINGS_PER_KIND + 2, "{lines:#?}");
        assert_eq!(lines[0], warnings[0]);
        assert_eq!(lines[2], warnings[2], "other kinds keep their place");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("... and 3 more: the bound material does not exist; displayColor is used instead")
        );
        assert_eq!(summarize_warnings(&warnings[..3]), warnings[..3].to_vec());
    }
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    #[test]
    fn every_task_is_handed_out_exactly_once_to_several_workers() {
        let workers = 4;
        let (queue, locals) = FrameQueue::<u32>::new(workers);
        let seen = Mutex::new(BTreeMap::<u32, usize>::new());
        let per_worker = Mutex::new(vec![0usize; workers]);
        std::thread::scope(|s| {
            for (i, local) in locals.into_iter().enumerate() {
                let (queue, seen, per_worker) = (&queue, &seen, &per_worker);
                s.spawn(move || {
                    let w = queue.worker(i, local);
                    while let Some(t) = w.next() {
                        // Uneven work: worker 0 is slow, as a slow adapter would be.
                        if i == 0 {
                            std::thread::sleep(Duration::from_micros(300));
                        }
                        *seen.lock().unwrap().entry(t).or_default() += 1;
                        per_worker.lock().unwrap()[i] += 1;
                    }
                });
            }
            for t in 0..2000 {
                queue.push(t);
            }
            queue.close();
        });
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 2000);
        assert!(seen.values().all(|&n| n == 1), "a task was handed out twice");
        let per_worker = per_worker.into_inner().unwrap();
        // How the work spreads depends on the OS scheduler (on a loaded 2-core box one thread can
        // drain the queue before the others run), so only the totals are asserted here; stealing
        // itself is tested deterministically below.
        assert_eq!(per_worker.iter().sum::<usize>(), 2000);
    }

    #[test]
    fn a_worker_steals_from_another_workers_deque() {
        let (queue, mut locals) = FrameQueue::<u32>::new(2);
        let second = locals.pop().unwrap();
        let first = locals.pop().unwrap();
        for t in 0..10 {
            first.push(t);
        }
        let thief = queue.worker(1, second);
        let mut got = Vec::new();
        while let Some(t) = thief.try_next() {
            got.push(t);
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn given_back_tasks_are_taken_again_and_drained_deques_are_shared() {
        let (queue, mut locals) = FrameQueue::<u32>::new(2);
        let b = queue.worker(1, locals.pop().unwrap());
        let a = queue.worker(0, locals.pop().unwrap());
        for t in 0..6 {
            queue.push(t);
        }
        let first = a.try_next().unwrap(); // a steals a batch into its deque
        a.give_back(first);
        a.drain_to_shared();
        queue.close();
        let mut got: Vec<u32> = std::iter::from_fn(|| b.next()).collect();
        got.sort();
        assert_eq!(got, (0..6).collect::<Vec<_>>());
    }
}
