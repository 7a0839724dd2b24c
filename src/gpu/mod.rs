//! The only module that imports wgpu: adapters, pipelines, upload, render and readback.
//! (Stub: being implemented.)
