//! `usdrender._native`: the Python face of the library (pyo3). Frames come back as numpy arrays,
//! library errors as `usdrender.Error` subclasses with the CLI's messages, and the GIL is released
//! while a stage opens, a frame renders or a sequence runs.
//!
//! The signatures and their types are in `usdrender/__init__.pyi`: keep it in sync with this file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyException, PyKeyboardInterrupt, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyList, PyString};

use usdrender::gpu::{AdapterSelection, AovKind, ShadingPath};
use usdrender::job::{Existing, Job};
use usdrender::output::{self, Encoding, Format, Pattern};
use usdrender::scene::shutter::{MotionBlur, Shutter, DEFAULT_MOTION_SAMPLES};
use usdrender::scene::Headlight;
use usdrender::schedule::{self, Control, Event, FrameOutcome};
use usdrender::still::{Still, StillOptions, StillRenderer};

pyo3::create_exception!(usdrender, Error, PyException, "Base class of every usdrender error.");
pyo3::create_exception!(
    usdrender,
    StageError,
    Error,
    "The stage cannot be opened or read: missing file, bad layer, timing, camera, prim."
);
pyo3::create_exception!(
    usdrender,
    AdapterError,
    Error,
    "No GPU adapter was found, or the one in use failed."
);
pyo3::create_exception!(
    usdrender,
    OutputError,
    Error,
    "An image could not be written or read: folder, file, pattern, encoding."
);
pyo3::create_exception!(
    usdrender,
    OptionError,
    Error,
    "An argument is out of range or unknown (width, frames, AOV name, threshold...)."
);
pyo3::create_exception!(
    usdrender,
    FrameError,
    Error,
    "Some frames of a sequence failed (the others were written); `.report` has the details."
);

/// The Python exception for a library error; its message is the one the CLI prints.
fn py_err(e: usdrender::Error) -> PyErr {
    use usdrender::Error as E;
    let text = e.to_string();
    match e {
        E::StageOpen { .. } | E::Stage { .. } | E::Prim { .. } | E::Timing { .. } | E::Camera(_) => {
            StageError::new_err(text)
        }
        E::NoAdapter(_) | E::Gpu { .. } => AdapterError::new_err(text),
        E::Io { .. } | E::Encode { .. } | E::Decode { .. } | E::Pattern { .. } => OutputError::new_err(text),
        E::Option(_) | E::FrameSpec { .. } | E::ImageSize { .. } => OptionError::new_err(text),
        E::Frame { .. } => FrameError::new_err(text),
    }
}

/// A JSON value as Python objects (dicts, lists, numbers, strings, None).
fn from_json(py: Python<'_>, value: &serde_json::Value) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| Error::new_err(e.to_string()))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// `bytes` as a writable numpy array of `dtype` and `shape` (one copy, into a bytearray).
fn array<'py>(py: Python<'py>, bytes: &[u8], dtype: &str, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    let buffer = PyByteArray::new(py, bytes);
    let flat = py.import("numpy")?.call_method1("frombuffer", (buffer, dtype))?;
    flat.call_method1("reshape", (shape.to_vec(),))
}

/// The adapters to use: `None` (every GPU), an index, a name substring, or a list of them.
fn adapter_spec(adapters: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(a) = adapters.filter(|a| !a.is_none()) else {
        return Ok(None);
    };
    let one = |x: &Bound<'_, PyAny>| -> PyResult<String> {
        if let Ok(i) = x.extract::<usize>() {
            return Ok(i.to_string());
        }
        x.extract::<String>()
            .map_err(|_| PyTypeError::new_err("adapters: expected an index, a name, or a list of them"))
    };
    if a.is_instance_of::<PyString>() || a.extract::<usize>().is_ok() {
        return Ok(Some(one(a)?));
    }
    let parts: Vec<String> = a.try_iter()?.map(|x| one(&x?)).collect::<PyResult<_>>()?;
    Ok(Some(parts.join(",")))
}

/// Frames: `None`, a spec as the CLI takes it (`"1-10x2"`), one number, or numbers.
fn frame_list(frames: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<f64>>> {
    let Some(f) = frames.filter(|f| !f.is_none()) else {
        return Ok(None);
    };
    if let Ok(spec) = f.extract::<String>() {
        return usdrender::frames::parse_spec(&spec).map(Some).map_err(py_err);
    }
    if let Ok(one) = f.extract::<f64>() {
        return Ok(Some(vec![one]));
    }
    let list: Vec<f64> = f
        .try_iter()?
        .map(|x| x?.extract::<f64>())
        .collect::<PyResult<_>>()
        .map_err(|_| PyTypeError::new_err("frames: expected a spec such as \"1-24\", a number or numbers"))?;
    Ok(Some(list))
}

/// The keyword arguments that set the look and the stage options, as `usdrender render`'s flags
/// of the same names (underscores for dashes).
const LOOK_KEYS: &[&str] = &[
    "headlight",
    "clear_color",
    "enable_dome_light_visibility",
    "color_correction",
    "purposes",
    "complexity",
    "motion_blur",
    "motion_samples",
    "shutter",
    "shading_pass",
    "session_layer",
    "max_memory",
    "include_cpu",
    "all_backends",
];

fn choice(key: &str, value: &Bound<'_, PyAny>, allowed: &[&str]) -> PyResult<String> {
    let text: String = value.extract()?;
    if allowed.contains(&text.as_str()) {
        Ok(text)
    } else {
        Err(OptionError::new_err(format!(
            "{key}={text:?}: expected one of {}",
            allowed.join(", ")
        )))
    }
}

/// A job for `stage` from the arguments every entry point shares.
#[allow(clippy::too_many_arguments)]
fn make_job(
    stage: PathBuf,
    width: u32,
    height: Option<u32>,
    camera: Option<String>,
    adapters: Option<&Bound<'_, PyAny>>,
    frames: Option<&Bound<'_, PyAny>>,
    look: Option<&Bound<'_, PyDict>>,
) -> PyResult<Job> {
    let mut job = Job::new(stage, "frame.####.png").map_err(py_err)?;
    job.width = width;
    job.height = height;
    job.camera = camera;
    job.frames = frame_list(frames)?;
    job.adapters = AdapterSelection {
        spec: adapter_spec(adapters)?,
        ..AdapterSelection::default()
    };
    // --motion-blur, --motion-samples, --shutter: one setting, checked once all keys are read.
    let (mut motion_blur, mut motion_samples, mut shutter) = (false, None::<u32>, None::<Shutter>);
    if let Some(look) = look {
        for (key, value) in look.iter() {
            let key: String = key.extract()?;
            match key.as_str() {
                "headlight" => {
                    job.headlight = match choice(&key, &value, &["auto", "on", "off"])?.as_str() {
                        "on" => Headlight::On,
                        "off" => Headlight::Off,
                        _ => Headlight::Auto,
                    }
                }
                "clear_color" => {
                    let c: Vec<f32> = value.extract()?;
                    job.clear_color = <[f32; 4]>::try_from(c.as_slice())
                        .map_err(|_| OptionError::new_err("clear_color: expected four numbers R, G, B, A"))?;
                }
                "enable_dome_light_visibility" => job.dome_visible = value.extract()?,
                "color_correction" => job.color_correction = choice(&key, &value, &["sRGB", "disabled"])? == "sRGB",
                "purposes" => {
                    job.purposes = match value.extract::<String>() {
                        Ok(s) => s
                            .split(',')
                            .map(|p| p.trim().to_string())
                            .filter(|p| !p.is_empty())
                            .collect(),
                        Err(_) => value.extract()?,
                    }
                }
                "complexity" => {
                    let name = choice(&key, &value, &["low", "medium", "high", "veryhigh"])?;
                    job.refine_level = usdrender::job::refine_level_of(&name).unwrap_or(0);
                }
                "motion_blur" => motion_blur = value.extract()?,
                "motion_samples" => motion_samples = Some(value.extract()?),
                "shutter" => {
                    let (open, close): (f64, f64) = value
                        .extract()
                        .map_err(|_| OptionError::new_err("shutter: expected (open, close), two numbers"))?;
                    shutter = Some(Shutter { open, close });
                }
                "shading_pass" => {
                    let name = choice(&key, &value, &["auto", "compute", "forward"])?;
                    job.shading = ShadingPath::from_name(&name).unwrap_or_default();
                }
                "session_layer" => job.session_layer = value.extract()?,
                "max_memory" => job.max_memory = value.extract()?,
                "include_cpu" => job.adapters.include_cpu = value.extract()?,
                "all_backends" => job.adapters.all_backends = value.extract()?,
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "unexpected keyword argument {key:?} (the look and stage options are: {})",
                        LOOK_KEYS.join(", ")
                    )))
                }
            }
        }
    }
    if !motion_blur && (motion_samples.is_some() || shutter.is_some()) {
        return Err(OptionError::new_err("motion_samples and shutter need motion_blur=True"));
    }
    job.motion_blur = motion_blur.then(|| MotionBlur {
        samples: motion_samples.unwrap_or(DEFAULT_MOTION_SAMPLES),
        shutter,
    });
    job.validate().map_err(py_err)?;
    Ok(job)
}

/// A frame's 8-bit image as a (height, width, 4) uint8 array.
fn rgba_array<'py>(py: Python<'py>, still: &Still) -> PyResult<Bound<'py, PyAny>> {
    let shape = [still.height as usize, still.width as usize, 4];
    array(py, &still.buffers.rgba, "uint8", &shape)
}

/// Renders one frame of `stage` and returns it as a numpy array of shape (height, width, 4),
/// dtype uint8: sRGB-encoded colour with straight alpha, rows from the top, the same pixels
/// `usdrender render STAGE --frames FRAME` writes to an 8-bit PNG.
///
/// frame: the time code; None renders the first frame of the stage's range.
/// width, height: image size in pixels; height None follows the camera's aperture aspect.
/// camera: a camera prim path, or a camera name unique in the stage.
/// adapters: None (every GPU; lavapipe where there is none), an index or a name substring as
///     `usdrender adapters` lists them, or a list of them; the first is used.
/// **look: headlight ("auto", "on", "off"), clear_color (R, G, B, A, linear), color_correction
///     ("sRGB", "disabled"), enable_dome_light_visibility, purposes, complexity ("low",
///     "medium", "high", "veryhigh"), motion_blur, motion_samples, shutter ((open, close) in
///     time codes relative to the frame), shading_pass ("auto", "compute", "forward"),
///     session_layer, max_memory (bytes), include_cpu, all_backends: as the CLI's flags.
///
/// Raises StageError, AdapterError, OptionError (all usdrender.Error) with the CLI's messages.
#[pyfunction]
#[pyo3(signature = (stage, frame=None, width=960, height=None, camera=None, adapters=None, **look))]
#[allow(clippy::too_many_arguments)]
fn render_frame<'py>(
    py: Python<'py>,
    stage: PathBuf,
    frame: Option<f64>,
    width: u32,
    height: Option<u32>,
    camera: Option<String>,
    adapters: Option<&Bound<'py, PyAny>>,
    look: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let job = make_job(stage, width, height, camera, adapters, None, look)?;
    let still = py
        .detach(|| usdrender::still::render_frame(&job, frame))
        .map_err(py_err)?;
    rgba_array(py, &still)
}

/// A stage and a GPU adapter opened once, to render many frames into memory (`render`), or a
/// sequence to files through the CLI's multi-adapter pipeline (`render_sequence`).
///
/// Renderer(stage, adapters=None, width=960, height=None, camera=None, frames=None, **look)
///
/// frames: the frames the renderer covers (a spec such as "1-24x2", or numbers); None: the
///     stage's range. The scene is extracted at the first, and the first frame's camera sets
///     the image height when `height` is None, as `usdrender render` does.
/// The other arguments are as for render_frame.
#[pyclass(module = "usdrender", name = "Renderer")]
struct PyRenderer {
    job: Job,
    width: u32,
    height: u32,
    frames: Vec<f64>,
    adapter: String,
    warnings: Vec<String>,
    inner: Mutex<StillRenderer>,
}

/// What a running sequence tells the thread that waits on it.
enum SequenceMessage {
    Frame(FrameOutcome),
    Done(usdrender::Result<schedule::Report>),
}

#[pymethods]
impl PyRenderer {
    #[new]
    #[pyo3(signature = (stage, adapters=None, width=960, height=None, camera=None, frames=None, **look))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        stage: PathBuf,
        adapters: Option<&Bound<'_, PyAny>>,
        width: u32,
        height: Option<u32>,
        camera: Option<String>,
        frames: Option<&Bound<'_, PyAny>>,
        look: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyRenderer> {
        let job = make_job(stage, width, height, camera, adapters, frames, look)?;
        let inner = py.detach(|| StillRenderer::open(&job)).map_err(py_err)?;
        let (width, height) = inner.size();
        Ok(PyRenderer {
            width,
            height,
            frames: inner.frames().to_vec(),
            adapter: inner.adapter(),
            warnings: inner.warnings().to_vec(),
            job,
            inner: Mutex::new(inner),
        })
    }

    /// Image width in pixels.
    #[getter]
    fn width(&self) -> u32 {
        self.width
    }

    /// Image height in pixels.
    #[getter]
    fn height(&self) -> u32 {
        self.height
    }

    /// The frames this renderer covers (the stage's range unless `frames` was given).
    #[getter]
    fn frames(&self) -> Vec<f64> {
        self.frames.clone()
    }

    /// The adapter `render` uses, as `usdrender adapters` names it.
    #[getter]
    fn adapter(&self) -> String {
        self.adapter.clone()
    }

    /// The stage's warnings (missing materials, unsupported prims...), as `render` logs them.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "usdrender.Renderer({:?}, {}x{}, {} frame(s), adapter {:?})",
            self.job.stage.display().to_string(),
            self.width,
            self.height,
            self.frames.len(),
            self.adapter
        )
    }

    /// Renders `frame` into memory and returns `(image, aovs)`.
    ///
    /// frame: a time code; None renders the first of `frames`.
    /// aovs: names of AOVs to read back: "depth" (float32, height x width: camera-space distance),
    ///     "normal" (float32, height x width x 3), "primId", "instanceId" (uint32, height x width).
    /// dtype: "uint8" gives the 8-bit sRGB image `render` writes to PNG; "float32" the linear-light
    ///     RGBA (straight alpha) that EXR outputs hold.
    ///
    /// Returns the image, shape (height, width, 4), and a dict of the AOV arrays by name.
    /// Asking for other aovs or dtype than the previous call rebuilds the GPU pipelines once.
    #[pyo3(signature = (frame=None, aovs=Vec::new(), dtype="uint8"))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        frame: Option<f64>,
        aovs: Vec<String>,
        dtype: &str,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
        let linear = match dtype {
            "uint8" => false,
            "float32" => true,
            other => {
                return Err(OptionError::new_err(format!(
                    "dtype={other:?}: expected \"uint8\" or \"float32\""
                )))
            }
        };
        let mut kinds = Vec::with_capacity(aovs.len());
        for name in &aovs {
            let canonical = output::aov_name(name).map_err(py_err)?;
            let kind =
                AovKind::from_name(canonical).ok_or_else(|| OptionError::new_err(format!("unknown AOV {name:?}")))?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        let options = StillOptions { linear, aovs: kinds };
        let frame = frame.or(self.frames.first().copied()).unwrap_or(0.0);
        let still = py
            .detach(|| {
                let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                inner.render(frame, &options)
            })
            .map_err(py_err)?;
        let (h, w) = (still.height as usize, still.width as usize);
        let b = &still.buffers;
        let image = if linear {
            array(py, bytemuck::cast_slice(&b.linear), "float32", &[h, w, 4])?
        } else {
            rgba_array(py, &still)?
        };
        let planes = PyDict::new(py);
        if !b.depth.is_empty() {
            planes.set_item("depth", array(py, bytemuck::cast_slice(&b.depth), "float32", &[h, w])?)?;
        }
        if !b.normal.is_empty() {
            planes.set_item(
                "normal",
                array(py, bytemuck::cast_slice(&b.normal), "float32", &[h, w, 3])?,
            )?;
        }
        if !b.prim_id.is_empty() {
            planes.set_item(
                "primId",
                array(py, bytemuck::cast_slice(&b.prim_id), "uint32", &[h, w])?,
            )?;
        }
        if !b.instance_id.is_empty() {
            planes.set_item(
                "instanceId",
                array(py, bytemuck::cast_slice(&b.instance_id), "uint32", &[h, w])?,
            )?;
        }
        Ok((image, planes))
    }

    /// Renders frames to files through the same pipeline as `usdrender render`: every selected
    /// adapter, frames handed out by work stealing, atomic writes (a file that exists is a whole
    /// frame). It opens the stage and the adapters itself, on its own threads.
    ///
    /// output: a frame pattern such as "out/shot.####.png" (.png, .jpg, .exr, .tif).
    /// frames: as for Renderer; None: this renderer's frames.
    /// skip_existing: leave frames whose files are whole images (resume a run).
    /// overwrite: replace existing files (otherwise existing outputs raise OptionError before
    ///     anything is rendered, as the CLI refuses them).
    /// on_frame: called as on_frame(frame, path, ms) for each frame written, on this thread.
    /// aovs: AOV names written beside the beauty (EXR layers of an EXR beauty, else EXR files).
    ///
    /// Returns a report dict: rendered [{frame, path, adapter, ms}], skipped [frames], width,
    /// height, seconds, per_adapter {name: frames}, warnings. Ctrl-C (KeyboardInterrupt) or an
    /// exception from on_frame stops the run: frames in flight are finished and written, no
    /// temporary file is left, then the exception is raised. If some frames failed (the others
    /// are written), raises FrameError with the report as its `.report`.
    #[pyo3(signature = (output, frames=None, skip_existing=false, overwrite=false, on_frame=None, aovs=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn render_sequence<'py>(
        &self,
        py: Python<'py>,
        output: PathBuf,
        frames: Option<&Bound<'py, PyAny>>,
        skip_existing: bool,
        overwrite: bool,
        on_frame: Option<Bound<'py, PyAny>>,
        aovs: Vec<String>,
    ) -> PyResult<Py<PyAny>> {
        if skip_existing && overwrite {
            return Err(OptionError::new_err("skip_existing and overwrite exclude each other"));
        }
        let mut job = self.job.clone();
        let pattern = output.to_string_lossy().into_owned();
        job.output = Pattern::parse(&pattern).map_err(py_err)?;
        job.format = Encoding::new(Format::choose(None, &job.output).map_err(py_err)?);
        job.frames = frame_list(frames)?.or_else(|| self.job.frames.clone());
        job.existing = match (skip_existing, overwrite) {
            (true, _) => Existing::Skip,
            (_, true) => Existing::Overwrite,
            _ => Existing::Refuse,
        };
        job.aovs = Vec::new();
        for name in &aovs {
            let name = output::aov_name(name).map_err(py_err)?.to_string();
            if !job.aovs.contains(&name) {
                job.aovs.push(name);
            }
        }
        job.validate().map_err(py_err)?;

        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = crossbeam_channel::unbounded::<SequenceMessage>();
        let run = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("usdrender-sequence".into())
                .spawn(move || {
                    let frames_tx = tx.clone();
                    let mut on_event = |event: Event<'_>| {
                        if let Event::Frame(outcome) = event {
                            let _ = frames_tx.send(SequenceMessage::Frame(outcome.clone()));
                        }
                    };
                    let report = schedule::run_with(
                        &job,
                        Control {
                            stop: &stop,
                            on_event: &mut on_event,
                        },
                    );
                    let _ = tx.send(SequenceMessage::Done(report));
                })
                .map_err(|e| Error::new_err(format!("cannot start the render thread: {e}")))?
        };
        // Waits with the GIL released, a tenth of a second at a time, so Ctrl-C is seen promptly.
        let mut raised: Option<PyErr> = None;
        let result = loop {
            let message = py.detach(|| rx.recv_timeout(Duration::from_millis(100)));
            match message {
                Ok(SequenceMessage::Frame(outcome)) => {
                    if let (Some(callback), None, None) = (&on_frame, &outcome.error, &raised) {
                        let path = outcome.path.to_string_lossy().into_owned();
                        if let Err(e) = callback.call1((outcome.frame, path, outcome.render_ms)) {
                            stop.store(true, Ordering::Release);
                            raised = Some(e);
                        }
                    }
                }
                Ok(SequenceMessage::Done(result)) => break result,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    break Err(usdrender::Error::Option("the render thread stopped".into()))
                }
            }
            if raised.is_none() {
                if let Err(e) = py.check_signals() {
                    // As the CLI's first SIGINT: no new frame starts; those in flight are written.
                    stop.store(true, Ordering::Release);
                    raised = Some(e);
                }
            }
        };
        let _ = py.detach(|| run.join());
        if let Some(e) = raised {
            return Err(e);
        }
        let report = result.map_err(py_err)?;
        let rendered: Vec<serde_json::Value> = report
            .rendered
            .iter()
            .map(|o| {
                serde_json::json!({
                    "frame": o.frame, "path": o.path, "adapter": o.adapter, "ms": o.render_ms,
                })
            })
            .collect();
        let failed: Vec<serde_json::Value> = report
            .failed
            .iter()
            .map(|o| {
                serde_json::json!({
                    "frame": o.frame, "path": o.path, "adapter": o.adapter, "error": o.error,
                })
            })
            .collect();
        let per_adapter: serde_json::Map<String, serde_json::Value> = report
            .per_adapter
            .iter()
            .map(|(name, n)| (name.clone(), (*n).into()))
            .collect();
        let value = serde_json::json!({
            "rendered": rendered,
            "failed": failed,
            "skipped": report.skipped,
            "width": report.width,
            "height": report.height,
            "seconds": report.elapsed.as_secs_f64(),
            "per_adapter": per_adapter,
            "warnings": report.warnings,
            "interrupted": report.interrupted,
        });
        let dict = from_json(py, &value)?;
        if report.interrupted {
            // A signal this thread did not see (another handler set the stop flag): say so.
            return Err(PyKeyboardInterrupt::new_err("render_sequence was interrupted"));
        }
        if !report.failed.is_empty() {
            let list: Vec<String> = report
                .failed
                .iter()
                .map(|f| format!("frame {}: {}", f.frame, f.error.as_deref().unwrap_or("")))
                .collect();
            let err = FrameError::new_err(format!(
                "{} frame(s) failed (the others were written): {}",
                report.failed.len(),
                list.join("; ")
            ));
            err.value(py).setattr("report", dict)?;
            return Err(err);
        }
        Ok(dict)
    }

    /// What `usdrender info --json STAGE` prints (with this renderer's camera), as a dict:
    /// timing, up axis, cameras, geometry and light counts, materials, warnings.
    fn info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = py
            .detach(|| {
                let inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                inner.info()
            })
            .map_err(py_err)?;
        from_json(py, &value)
    }
}

/// Compares images with references, as `usdrender compare ACTUAL EXPECTED --json` does, and
/// returns that JSON report as a dict (settings, per-frame metrics, verdicts, summary).
///
/// actual, expected: two files, two folders (same file names), or two frame patterns.
/// diff_dir: where heat maps of failing frames go (FLIP error, `<name>.diff.png`); None: none.
/// strict: images without a reference fail instead of warning.
/// **thresholds: fail, failpercent, warn, warnpercent, hardfail, flip_fail, flip_warn,
///     iou_fail, flip_ppd, as the CLI's flags (idiff's defaults: any difference fails).
///     fail_percent, warn_percent and hard_fail are accepted too.
///
/// The verdict is report["summary"]["verdict"] ("pass", "warn", "fail", "error") and the exit
/// code the CLI would give is report["summary"]["exit_code"].
#[pyfunction]
#[pyo3(signature = (actual, expected, diff_dir=None, strict=false, **thresholds))]
fn compare(
    py: Python<'_>,
    actual: PathBuf,
    expected: PathBuf,
    diff_dir: Option<PathBuf>,
    strict: bool,
    thresholds: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    use usdrender::compare::{compare_sets, json_report, CompareOptions, Thresholds};
    let mut t = Thresholds::default();
    if let Some(d) = thresholds {
        for (key, value) in d.iter() {
            let key: String = key.extract()?;
            let opt = || -> PyResult<Option<f64>> { value.extract() };
            match key.as_str() {
                "fail" => t.fail = value.extract()?,
                "failpercent" | "fail_percent" => t.fail_percent = value.extract()?,
                "warn" => t.warn = value.extract()?,
                "warnpercent" | "warn_percent" => t.warn_percent = value.extract()?,
                "hardfail" | "hard_fail" => t.hard_fail = opt()?,
                "flip_fail" => t.flip_fail = opt()?,
                "flip_warn" => t.flip_warn = opt()?,
                "iou_fail" => t.iou_fail = opt()?,
                "flip_ppd" | "pixels_per_degree" => t.pixels_per_degree = value.extract()?,
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "unexpected threshold {key:?} (fail, failpercent, warn, warnpercent, hardfail, \
                         flip_fail, flip_warn, iou_fail, flip_ppd)"
                    )))
                }
            }
        }
    }
    let options = CompareOptions {
        thresholds: t,
        strict,
        diff_dir,
        json: None,
        junit: None,
    };
    let (actual, expected) = (
        actual.to_string_lossy().into_owned(),
        expected.to_string_lossy().into_owned(),
    );
    let text = py
        .detach(|| compare_sets(&actual, &expected, &options).map(|r| json_report(&r)))
        .map_err(py_err)?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// Writes an 8-bit RGBA image (an array of shape (height, width, 4), uint8, straight alpha) to a
/// PNG file, atomically, with the writer `usdrender render` uses.
#[pyfunction]
fn write_png(py: Python<'_>, path: PathBuf, image: &Bound<'_, PyAny>) -> PyResult<()> {
    let np = py.import("numpy")?;
    let contiguous = np.call_method1("ascontiguousarray", (image,))?;
    let dtype: String = contiguous.getattr("dtype")?.str()?.extract()?;
    let shape: Vec<usize> = contiguous.getattr("shape")?.extract()?;
    if dtype != "uint8" || shape.len() != 3 || shape[2] != 4 {
        return Err(PyValueError::new_err(format!(
            "write_png: expected a uint8 array of shape (height, width, 4), got {dtype} {shape:?}"
        )));
    }
    let bytes: Vec<u8> = contiguous.call_method0("tobytes")?.extract()?;
    let (height, width) = (shape[0] as u32, shape[1] as u32);
    py.detach(|| {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| usdrender::Error::io(dir, e))?;
        }
        output::write_frame(
            &path,
            Encoding::new(Format::Png),
            output::Frame::rgba8(width, height, &bytes),
        )
    })
    .map_err(py_err)
}

/// The GPU adapters usdrender sees, as `usdrender adapters` lists them: dicts of index, name,
/// backend, device_type, driver, pci_bus_id, vendor, device.
#[pyfunction]
#[pyo3(signature = (all_backends=false))]
fn adapters(py: Python<'_>, all_backends: bool) -> PyResult<Py<PyList>> {
    let list = py.detach(|| usdrender::gpu::list_adapters(all_backends));
    let out = PyList::empty(py);
    for a in list {
        let value = serde_json::to_value(&a).map_err(|e| Error::new_err(e.to_string()))?;
        out.append(from_json(py, &value)?)?;
    }
    Ok(out.unbind())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("StageError", py.get_type::<StageError>())?;
    m.add("AdapterError", py.get_type::<AdapterError>())?;
    m.add("OutputError", py.get_type::<OutputError>())?;
    m.add("OptionError", py.get_type::<OptionError>())?;
    m.add("FrameError", py.get_type::<FrameError>())?;
    m.add_class::<PyRenderer>()?;
    m.add_function(wrap_pyfunction!(render_frame, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(write_png, m)?)?;
    m.add_function(wrap_pyfunction!(adapters, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
