//! usdrender: a headless, multi-GPU offline renderer for OpenUSD stages.
//!
//! The pipeline, and the module that owns each step:
//! `stage` (the only module that reads USD) -> `scene` (plain owned data, evaluated per frame;
//! `evaluate` runs the stage's part in order and the plain part on a pool) -> `gpu` (the only module that talks to wgpu) -> `output` (file names, encoders, atomic writes),
//! joined by `schedule` (one worker per adapter, frames handed out by work stealing).

pub mod bench;
pub mod compare;
pub mod error;
pub mod evaluate;
pub mod farm;
pub mod fidelity;
pub mod frames;
pub mod gpu;
pub mod job;
pub mod machine;
pub mod material_files;
pub mod output;
pub mod scene;
pub mod schedule;
pub mod stage;
pub mod still;
pub mod texture;

pub use error::{Error, Result};
