//! Rendering frames into memory instead of files: a job's stage and one adapter are opened once,
//! then any frame is rendered to pixels on request. The entry point for embedding usdrender (the
//! Python module in `python/` uses it); `render` and `bench` go through [`crate::schedule`].
//!
//! A frame comes out exactly as `render` would write it: the same evaluation
//! ([`LoadedStage::evaluate`]), camera rules ([`Job::frame_camera`]), image size (from the first
//! frame's camera, [`Job::height_for`]) and GPU settings ([`Job::render_settings`]); the 8-bit image
//! is what an 8-bit PNG of that frame holds.
//!
//! openusd's stage is `!Send`, so it lives on a thread of its own (as in the scheduler) and is
//! reached through closures sent to it; everything else here is `Send`, so a [`StillRenderer`]
//! can be moved to, and used from, any thread (Python releases its GIL around each call).

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::evaluate;
use crate::gpu::{self, AovKind, FrameBuffers, GpuAdapter, RenderSettings, Renderer};
use crate::job::Job;
use crate::scene::shutter::Sampling;
use crate::scene::Scene;
use crate::stage::{ExtractOptions, LoadedStage, StageInfo};
use crate::{Error, Result};

/// What a frame carries besides the 8-bit image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StillOptions {
    /// Also read back linear-light RGBA floats ([`FrameBuffers::linear`]), as EXR outputs do. The
    /// colour target is then half float: the 8-bit image may differ from `render`'s 8-bit PNG by a
    /// level here and there.
    pub linear: bool,
    /// AOVs to read back (repeats are ignored).
    pub aovs: Vec<AovKind>,
}

/// One rendered frame, in memory.
#[derive(Debug)]
pub struct Still {
    pub frame: f64,
    pub width: u32,
    pub height: u32,
    /// The pixels: `rgba` (sRGB-encoded 8-bit, straight alpha, rows top to bottom), and `linear`,
    /// `depth`, `normal`, `prim_id`, `instance_id` where [`StillOptions`] asked for them.
    pub buffers: FrameBuffers,
    /// Time spent on this frame: evaluation, rendering and readback, milliseconds.
    pub ms: f64,
}

type StageCall = Box<dyn FnOnce(&mut LoadedStage) + Send>;

/// The thread that owns the stage; calls run on it in order.
struct StageThread {
    calls: Option<mpsc::Sender<StageCall>>,
    handle: Option<JoinHandle<()>>,
}

/// What the stage thread hands over once the stage is open.
struct Opened {
    scene: Scene,
    frames: Vec<f64>,
    /// The first frame's camera aspect (width over height), which sets the image height.
    aspect: f64,
    warnings: Vec<String>,
    sampling: Sampling,
}

impl StageThread {
    /// Opens `job`'s stage on a new thread ([`evaluate::open`], as `render` does).
    fn open(job: &Job) -> Result<(StageThread, Opened)> {
        let (calls_tx, calls_rx) = mpsc::channel::<StageCall>();
        let (opened_tx, opened_rx) = mpsc::channel::<Result<Opened>>();
        let path = job.stage.clone();
        let job = job.clone();
        let handle = std::thread::Builder::new()
            .name("usdrender-stage".into())
            .spawn(move || {
                let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| evaluate::open(&job)))
                    .unwrap_or_else(|panic| {
                        Err(Error::StageOpen {
                            path: job.stage.clone(),
                            reason: format!("internal error: {}", crate::error::panic_text(&*panic)),
                        })
                    });
                let mut stage = match opened {
                    Ok(o) => {
                        let aspect = o.first.camera.lens.aspect();
                        let warnings = o.stage.warnings();
                        let sent = opened_tx.send(Ok(Opened {
                            scene: o.scene,
                            frames: o.frames,
                            aspect,
                            warnings,
                            sampling: o.sampling,
                        }));
                        if sent.is_err() {
                            return;
                        }
                        o.stage
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                // Until the renderer is dropped (the sender with it).
                for call in calls_rx {
                    call(&mut stage);
                }
            })
            .map_err(|e| Error::Option(format!("cannot start the stage thread: {e}")))?;
        let opened = opened_rx.recv().unwrap_or_else(|_| {
            Err(Error::StageOpen {
                path,
                reason: "the stage thread stopped".into(),
            })
        });
        let thread = StageThread {
            calls: Some(calls_tx),
            handle: Some(handle),
        };
        Ok((thread, opened?))
    }

    /// Runs `f` on the stage thread and returns its result. A panic in `f` is an error.
    fn call<R: Send + 'static>(&self, what: &str, f: impl FnOnce(&mut LoadedStage) -> R + Send + 'static) -> Result<R> {
        let (tx, rx) = mpsc::sync_channel::<std::thread::Result<R>>(1);
        let call: StageCall = Box::new(move |stage| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(stage)));
            let _ = tx.send(result);
        });
        let gone = || Error::Option(format!("{what}: the stage thread is gone"));
        self.calls.as_ref().ok_or_else(gone)?.send(call).map_err(|_| gone())?;
        match rx.recv() {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(panic)) => Err(Error::Option(format!(
                "{what}: internal error: {}",
                crate::error::panic_text(&*panic)
            ))),
            Err(_) => Err(gone()),
        }
    }
}

impl Drop for StageThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; the stage is dropped on its own thread.
        self.calls.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A job's stage and its first adapter, opened once; renders frames into memory.
pub struct StillRenderer {
    job: Job,
    stage: StageThread,
    scene: Arc<Scene>,
    frames: Vec<f64>,
    height: u32,
    warnings: Vec<String>,
    /// How frames are sampled in time (motion blur).
    sampling: Sampling,
    adapter: GpuAdapter,
    /// Built on first use and rebuilt when a frame asks for other [`StillOptions`].
    renderer: Option<(Renderer, StillOptions)>,
}

impl StillRenderer {
    /// Opens `job`'s stage (its frames: the job's, else the stage's range; the scene is extracted
    /// at the first) and the first adapter `job.adapters` selects. Output settings of the job
    /// (pattern, format, AOVs, existing files) play no part here.
    pub fn open(job: &Job) -> Result<StillRenderer> {
        job.validate()?;
        // The adapters are opened while the stage loads, as `render` does.
        let job_for_adapters = job.adapters.clone();
        let adapters = std::thread::spawn(move || gpu::select_adapters(&job_for_adapters));
        let opened = StageThread::open(job);
        let adapters = adapters
            .join()
            .map_err(|panic| Error::NoAdapter(crate::error::panic_text(&*panic)))?;
        let (stage, opened) = opened?;
        let adapter = adapters?
            .into_iter()
            .next()
            .ok_or_else(|| Error::NoAdapter("the selection is empty".into()))?;
        Ok(StillRenderer {
            job: job.clone(),
            stage,
            height: job.height_for(opened.aspect),
            scene: Arc::new(opened.scene),
            frames: opened.frames,
            warnings: opened.warnings,
            sampling: opened.sampling,
            adapter,
            renderer: None,
        })
    }

    /// The frames the job covers (its own list, else the stage's default range).
    pub fn frames(&self) -> &[f64] {
        &self.frames
    }

    /// Image size in pixels: the job's width, and its height or the first frame's camera aspect's.
    pub fn size(&self) -> (u32, u32) {
        (self.job.width, self.height)
    }

    /// The stage's warnings, as `render` logs them.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The adapter frames are rendered on, as logs name it (`Vulkan/llvmpipe ...`).
    pub fn adapter(&self) -> String {
        self.adapter.summary.label()
    }

    pub fn job(&self) -> &Job {
        &self.job
    }

    /// Renders `frame` (a frame number; the job's bench cycle, if any, maps it to a time code).
    pub fn render(&mut self, frame: f64, options: &StillOptions) -> Result<Still> {
        let start = Instant::now();
        let scene = self.scene.clone();
        let time = self.job.time_of(frame);
        let sampling = self.sampling;
        let mut state = self.stage.call("evaluating a frame", move |stage| {
            evaluate::frame(stage, &scene, time, &sampling)
        })??;
        // The harness's view (--harness) replaces the camera the stage's rules chose, per frame.
        let frame_height = self.job.height_for(state.camera.lens.aspect());
        state.camera = self
            .job
            .frame_camera(&self.scene, &state.camera, self.job.width, frame_height);
        for sample in &mut state.motion {
            sample.camera = self
                .job
                .frame_camera(&self.scene, &sample.camera, self.job.width, frame_height);
        }
        let settings = self.settings(options);
        let renderer = match &mut self.renderer {
            Some((r, built)) if built == options => r,
            slot => {
                // Drop the old renderer first: its readback ring and targets are freed before
                // the new ones are allocated.
                *slot = None;
                let r = Renderer::new(&self.adapter, &self.scene, &settings)?;
                &mut slot.insert((r, options.clone())).0
            }
        };
        let mut buffers = FrameBuffers::for_settings(&settings);
        renderer.render_frame(&state, &mut buffers)?;
        Ok(Still {
            frame,
            width: settings.width,
            height: settings.height,
            buffers,
            ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// What `usdrender info --json` prints for the stage (with the job's camera), as a value.
    pub fn info(&self) -> Result<serde_json::Value> {
        let extract = ExtractOptions {
            camera: self.job.camera.clone(),
            ..ExtractOptions::default()
        };
        let path = self.job.stage.clone();
        let named_camera = self.job.camera.is_some();
        let info: StageInfo = self
            .stage
            .call("reading stage info", move |stage| stage.info(&extract))??;
        // A camera the caller named but the stage cannot give is an error, as for `info --camera`.
        if let (true, Some(e)) = (named_camera, info.camera.get("error").and_then(|e| e.as_str())) {
            return Err(Error::Camera(format!("{}: {e}", path.display())));
        }
        serde_json::to_value(&info).map_err(|e| Error::Option(format!("serialising info: {e}")))
    }

    fn settings(&self, options: &StillOptions) -> RenderSettings {
        let mut settings = self.job.render_settings(&self.scene, self.height);
        settings.linear = options.linear;
        settings.aovs = options.aovs.clone();
        settings.aovs.dedup();
        settings
    }
}

/// Renders one frame of `job`'s stage into memory: `frame`, or the first of the job's frames (the
/// stage's range when the job names none). The scene is extracted at that frame, as
/// `usdrender render --frames FRAME` does, so the 8-bit image equals that command's PNG.
pub fn render_frame(job: &Job, frame: Option<f64>) -> Result<Still> {
    let mut job = job.clone();
    if let Some(f) = frame {
        job.frames = Some(vec![f]);
    }
    let mut renderer = StillRenderer::open(&job)?;
    let frame = renderer
        .frames
        .first()
        .copied()
        .ok_or_else(|| Error::Option("no frame to render".into()))?;
    renderer.render(frame, &StillOptions::default())
}
