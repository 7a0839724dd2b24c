//! The library's one error type: each variant carries what a user needs to find the problem
//! (stage path, prim path, frame, adapter, output path).

use std::path::PathBuf;

/// Everything that can go wrong in usdrender, worded for the person running it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open stage {path}: {reason}")]
    StageOpen { path: PathBuf, reason: String },

    #[error("stage {path}: {reason}")]
    Stage { path: PathBuf, reason: String },

    #[error("stage {path}, prim {prim}: {reason}")]
    Prim {
        path: PathBuf,
        prim: String,
        reason: String,
    },

    #[error("stage {path}: invalid timing: {reason}")]
    Timing { path: PathBuf, reason: String },

    #[error("camera: {0}")]
    Camera(String),

    #[error("invalid frame spec {spec:?}: {reason}")]
    FrameSpec { spec: String, reason: String },

    #[error("invalid output pattern {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },

    #[error("invalid option: {0}")]
    Option(String),

    #[error("no GPU adapter: {0}")]
    NoAdapter(String),

    #[error("adapter {adapter}: {reason}")]
    Gpu { adapter: String, reason: String },

    #[error("frame {frame}: {reason}")]
    Frame { frame: String, reason: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: cannot encode image: {reason}")]
    Encode { path: PathBuf, reason: String },

    #[error("{path}: cannot decode image: {reason}")]
    Decode { path: PathBuf, reason: String },

    #[error("image sizes differ: actual {}x{}, expected {}x{}", actual.0, actual.1, expected.0, expected.1)]
    ImageSize { actual: (u32, u32), expected: (u32, u32) },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// A panic's message, for reports (a panic caught at a boundary that must not take the run down).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
        .to_string()
}
