//! Material documents that are not USD, read as far as usdrender draws them. Plain text in, plain
//! data out: nothing here imports openusd or wgpu.
//!
//! - [`mtlx`]: a MaterialX document (`.mtlx`) turned into the text of a usda layer, as pxr's
//!   usdMtlx file format does, so that `references = @looks.mtlx@</MaterialX/Materials>` composes
//!   like any other layer (`stage/lenient.rs` serves the translation to openusd).
//! - [`mdl`]: an MDL module's exported materials, as far as they are calls of known materials
//!   with literal arguments or simple `material(...)` constructors.

pub mod mdl;
pub mod mtlx;
