//! The only module that imports wgpu: adapters, pipelines, upload, render and readback.
//!
//! [`select_adapters`] picks one adapter per physical GPU; a [`Renderer`] per adapter uploads a
//! [`crate::scene::Scene`] once and renders [`crate::scene::FrameState`]s into RGBA8 images, with
//! linear RGBA f32 and AOVs ([`AovKind`]) when [`RenderSettings`] asks, several frames in flight
//! ([`Renderer::submit`] / [`Renderer::finish`] into recycled [`FrameBuffers`]).

mod adapters;
mod encode;
mod geometry;
pub mod layout;
mod pipelines;
mod post;
mod raster;
pub mod readback;
mod renderer;
mod settings;
pub mod shading;
mod shadows;
mod skinning;
mod targets;
mod textures;
mod upload;
pub mod visibility;

pub use adapters::{list_adapters, select_adapters, AdapterSelection, AdapterSummary, GpuAdapter};
pub use readback::{FrameBuffers, Ticket};
pub use renderer::{AovKind, ImageEncoding, RenderSettings, Renderer, FRAMES_IN_FLIGHT};
pub use visibility::ShadingPath;
