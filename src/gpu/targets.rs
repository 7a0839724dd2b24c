//! The render targets a renderer draws into, made once for its image size: the resolved colour
//! image, the multisampled colour and depth attachments, and the blended pass's targets.

use super::pipelines::{DEPTH_FORMAT, OIT_ACCUM_FORMAT, OIT_REVEAL_FORMAT};
use super::raster::image_texture;

/// The opaque pass's attachments.
pub(super) struct Targets {
    /// The colour image after the resolve (the colour pass reads it).
    pub(super) resolve_view: wgpu::TextureView,
    /// The multisampled colour attachment, drawn forward with MSAA only (the compute path
    /// resolves as it shades).
    pub(super) msaa_view: Option<wgpu::TextureView>,
    pub(super) depth_view: wgpu::TextureView,
}

impl Targets {
    pub(super) fn new(
        device: &wgpu::Device,
        size: (u32, u32),
        color_format: wgpu::TextureFormat,
        sample_count: u32,
        forward: bool,
    ) -> Targets {
        let texture = |name: &str, format, samples, usage| image_texture(device, name, size, format, samples, usage);
        let resolve_texture = texture(
            "resolved color",
            color_format,
            1,
            // The colour pass reads the resolved image.
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
        );
        let view = |name: &'static str| wgpu::TextureViewDescriptor {
            label: Some(name),
            ..Default::default()
        };
        let resolve_view = resolve_texture.create_view(&view("resolved color view"));
        // (The compute path resolves as it shades.)
        let msaa_view = (sample_count > 1 && forward).then(|| {
            texture(
                "msaa color",
                color_format,
                sample_count,
                wgpu::TextureUsages::RENDER_ATTACHMENT,
            )
            .create_view(&view("msaa color view"))
        });
        let depth_view = texture(
            "depth",
            DEPTH_FORMAT,
            sample_count,
            wgpu::TextureUsages::RENDER_ATTACHMENT,
        )
        .create_view(&view("depth view"));
        Targets {
            resolve_view,
            msaa_view,
            depth_view,
        }
    }
}

/// The targets of the blended pass: multisampled where the colour is, and their resolves (which
/// the colour pass reads).
pub(super) struct Oit {
    pub(super) accum_msaa: Option<wgpu::TextureView>,
    pub(super) reveal_msaa: Option<wgpu::TextureView>,
    pub(super) accum: wgpu::TextureView,
    pub(super) reveal: wgpu::TextureView,
}

impl Oit {
    pub(super) fn new(device: &wgpu::Device, size: (u32, u32), sample_count: u32) -> Oit {
        let target = |name: &str, format, samples| {
            image_texture(
                device,
                name,
                size,
                format,
                samples,
                wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
            )
            .create_view(&wgpu::TextureViewDescriptor {
                label: Some("oit view"),
                ..Default::default()
            })
        };
        let ms = sample_count > 1;
        Oit {
            accum_msaa: ms.then(|| target("oit accum msaa", OIT_ACCUM_FORMAT, sample_count)),
            reveal_msaa: ms.then(|| target("oit reveal msaa", OIT_REVEAL_FORMAT, sample_count)),
            accum: target("oit accum", OIT_ACCUM_FORMAT, 1),
            reveal: target("oit reveal", OIT_REVEAL_FORMAT, 1),
        }
    }
}

/// A target of the blended pass: cleared to `clear`, resolved where multisampled.
pub(super) fn oit_attachment<'a>(
    msaa: Option<&'a wgpu::TextureView>,
    resolved: &'a wgpu::TextureView,
    clear: f64,
) -> Option<wgpu::RenderPassColorAttachment<'a>> {
    let (view, resolve_target) = match msaa {
        Some(m) => (m, Some(resolved)),
        None => (resolved, None),
    };
    Some(wgpu::RenderPassColorAttachment {
        view,
        depth_slice: None,
        resolve_target,
        ops: wgpu::Operations {
            load: wgpu::LoadOp::Clear(wgpu::Color {
                r: clear,
                g: clear,
                b: clear,
                a: clear,
            }),
            store: if resolve_target.is_some() {
                wgpu::StoreOp::Discard
            } else {
                wgpu::StoreOp::Store
            },
        },
    })
}
