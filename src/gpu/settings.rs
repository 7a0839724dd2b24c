//! What a renderer is asked for: image size, antialiasing, AOVs, output encoding and look.

use super::visibility::ShadingPath;
use crate::scene::{Headlight, Look};

/// How rendered pixels are turned into bytes. Both are sRGB-encoded; they differ at partially
/// covered pixels only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageEncoding {
    /// Straight alpha: colour divided by coverage, as PNG defines it.
    #[default]
    Srgb,
    /// Premultiplied alpha, byte for byte what usdrecord writes: Storm encodes the resolved,
    /// premultiplied colour (usd-wg's `*_usdrecord_22.08.png`: edge pixels at alpha 128 carry
    /// encode(0.5 * colour), e.g. 149 on a face of 203). Use it to compare with usdrecord output.
    UsdRecord,
}

/// Image size, antialiasing and extra outputs for one job.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderSettings {
    pub width: u32,
    pub height: u32,
    /// MSAA samples per pixel (4 by default); lowered, with a warning, to what the adapter can do.
    pub msaa: u32,
    /// Also produce linear-light RGBA f32 with straight alpha ([`FrameBuffers::linear`]), for EXR
    /// and 16-bit outputs. The colour target is then half float and the 8-bit image is derived
    /// from it on the GPU.
    pub linear: bool,
    /// AOVs to produce besides the image ([`FrameBuffers`]' `depth`, `normal`, `prim_id`,
    /// `instance_id`). Repeats are harmless. They are extra multisampled attachments of the one
    /// render pass (20 bytes a sample: about 660 MB of GPU memory at 4K with 4x MSAA). Where the
    /// device cannot multisample R32Uint (no adapter-specific format features), MSAA is lowered
    /// to what it can, with a warning.
    pub aovs: Vec<AovKind>,
    /// Whose lighting rig lights the stage (usdrecord's, or the usdImagingGL test harness's).
    pub look: Look,
    /// When the camera headlight is lit (`--headlight`).
    pub headlight: Headlight,
    /// Linear RGBA behind the geometry (usdrecord: transparent black; the test harness: orange).
    pub clear_color: [f32; 4],
    /// Draw the dome light's texture as the background (usdrecord's
    /// `--enableDomeLightVisibility`); off by default.
    pub dome_visible: bool,
    /// 8-bit images are sRGB-encoded (true) or hold the linear values (usdrecord's
    /// `--colorCorrectionMode disabled`).
    pub srgb: bool,
    /// Where opaque surfaces are shaded: a compute pass over a visibility buffer where the device
    /// and scene allow it (the default), or forward in the fragment stage.
    pub shading: ShadingPath,
    /// Only these pixels (x, y, width, height) are drawn; the rest keeps the clear colour (the
    /// harness's `-dataWindow`). `None`: all of them.
    pub scissor: Option<[u32; 4]>,
    /// Width over height of one pixel (1: square): the camera's window is fitted to
    /// `width * pixel_aspect` by `height` ([`crate::scene::Camera::view_projection_px`]).
    pub pixel_aspect: f64,
    /// Frames may bring shutter samples ([`crate::scene::FrameState::motion`]) to average: an
    /// f32 accumulation buffer (16 bytes a pixel) and its pass are allocated once, with the
    /// renderer.
    pub motion_blur: bool,
}

impl Default for RenderSettings {
    fn default() -> Self {
        RenderSettings {
            width: 960,
            height: 540,
            msaa: 4,
            linear: false,
            aovs: Vec::new(),
            look: Look::Usdrecord,
            headlight: Headlight::Auto,
            clear_color: [0.0; 4],
            dome_visible: false,
            srgb: true,
            shading: ShadingPath::Auto,
            scissor: None,
            pixel_aspect: 1.0,
            motion_blur: false,
        }
    }
}

impl RenderSettings {
    /// The drawn pixels as (x0, y0, x1, y1), end exclusive: `scissor` clipped to the image, or the
    /// whole image when there is none (or it is empty or outside the image, which the render
    /// pass's scissor ignores as well).
    pub(super) fn drawn_window(&self) -> [u32; 4] {
        match self.scissor {
            Some([x, y, w, h]) if x < self.width && y < self.height && w > 0 && h > 0 => {
                [x, y, x + w.min(self.width - x), y + h.min(self.height - y)]
            }
            _ => [0, 0, self.width, self.height],
        }
    }
}

/// An arbitrary output variable the renderer can produce besides the image. Each takes the
/// surface at MSAA sample 0 of the pixel (not an average: ids must stay exact, and depth and
/// normal then describe the same surface as the ids), the nearest surface drawn, translucent ones
/// included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AovKind {
    /// Camera-space distance in front of the camera along its -Z axis, in scene units (not the
    /// distance to the eye); `f32::INFINITY` where nothing is drawn.
    Depth,
    /// World-space shading normal (xyz, unit length; turned to the viewer on double-sided
    /// meshes); zero where nothing is drawn.
    Normal,
    /// Index of the mesh in `Scene::meshes`; `u32::MAX` where nothing is drawn.
    PrimId,
    /// Index of the instance in `Scene::instances`; `u32::MAX` where nothing is drawn.
    InstanceId,
}

impl AovKind {
    pub const ALL: [AovKind; 4] = [AovKind::Depth, AovKind::Normal, AovKind::PrimId, AovKind::InstanceId];

    /// The job's (and output's) name: `depth`, `normal`, `primId`, `instanceId`.
    pub fn name(self) -> &'static str {
        match self {
            AovKind::Depth => "depth",
            AovKind::Normal => "normal",
            AovKind::PrimId => "primId",
            AovKind::InstanceId => "instanceId",
        }
    }

    /// The kind a job names (`depth`, `normal`, `primId`, `instanceId`; case as written here).
    pub fn from_name(name: &str) -> Option<AovKind> {
        AovKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Values per pixel.
    pub fn channels(self) -> usize {
        match self {
            AovKind::Normal => 3,
            _ => 1,
        }
    }

    /// Bit in `AovParams::mask` (and index in `AOV_FORMATS`).
    pub(super) fn index(self) -> usize {
        self as usize
    }
}
