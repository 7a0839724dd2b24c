//! The only module that imports openusd: opens a stage, reads its timing, chooses the camera and
//! copies geometry out into plain [`crate::scene`] data. (Stub: being implemented.)

use std::path::{Path, PathBuf};

use crate::frames::Timing;
use crate::scene::{FrameState, Scene};
use crate::Result;

/// How to open a stage.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// A layer composed over the stage, as usdrecord's `--sessionLayer`.
    pub session_layer: Option<PathBuf>,
}

/// Which prims to draw, and from which camera.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// `--camera`: a prim path, or a camera name that must be unique.
    pub camera: Option<String>,
    /// Purposes drawn besides `default` (`render` unless the user asks otherwise).
    pub purposes: Vec<String>,
    /// The time code at which static state (and the framing camera's bounds) is taken.
    pub time: f64,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions { camera: None, purposes: vec!["render".into()], time: 0.0 }
    }
}

/// An open stage. Not `Send` (openusd's stage is `Rc`-based): open and use it on one thread.
pub struct LoadedStage {
    _path: PathBuf,
}

impl LoadedStage {
    pub fn open(path: &Path, _options: &OpenOptions) -> Result<LoadedStage> {
        Ok(LoadedStage { _path: path.to_path_buf() })
    }
    pub fn timing(&self) -> Timing {
        Timing::default()
    }
    pub fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    pub fn extract(&mut self, _options: &ExtractOptions) -> Result<Scene> {
        Ok(Scene::default())
    }
    pub fn evaluate(&mut self, _scene: &Scene, frame: f64) -> Result<FrameState> {
        Ok(FrameState { frame, ..FrameState::default() })
    }
    pub fn info(&mut self, _options: &ExtractOptions) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }
}
