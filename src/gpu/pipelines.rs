//! The mesh pipelines, built once per renderer: the globals and material layouts, the vertex
//! buffer layouts, a pipeline per opaque shading model (shading what the depth prepass laid down,
//! or writing depth itself), the prepass and the blended (OIT) pipeline; and the formats of the
//! targets they draw into.

use super::geometry::MeshDraw;
use super::layout::{Globals, InstanceRaw, INSTANCE_ATTRIBUTES};
use super::raster::MeshPipeline;
use super::textures::material_layout;

/// The colour target of 8-bit-only output: linear shading and blending, stored sRGB-encoded (values
/// above 1 clip per sample, as the 8-bit file would clip them). Measured on the H100 at 1080p with
/// 4x MSAA, Rgba16Float instead costs the bundled scene 1.1 ms of its 2.9 ms GPU pass
/// (benches/results/h100-2026-11-24-issue3/).
pub(super) const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;

/// The colour target when linear output is asked for: half floats keep the linear values (and
/// values over 1) through the resolve; shaders/color.wgsl derives the 8-bit image from them.
pub(super) const LINEAR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba16Float;
/// AOV attachments, in `AovKind` order (depth, normal, primId, instanceId). All support
/// multisampling; none is resolved (see shaders/aov.wgsl). Normals are half floats (about 3
/// decimal digits, plenty for a unit vector; Rgba32Float cannot be multisampled everywhere).
pub(super) const AOV_FORMATS: [wgpu::TextureFormat; 4] = [
    wgpu::TextureFormat::R32Float,
    wgpu::TextureFormat::Rgba16Float,
    wgpu::TextureFormat::R32Uint,
    wgpu::TextureFormat::R32Uint,
];
/// Reversed Z (depth 1 at near): float depth keeps its precision far from the camera.
pub(super) const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Order-independent transparency: weighted premultiplied colour and weight (added), and the
/// product of (1 - alpha) (multiplied).
pub(super) const OIT_ACCUM_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba16Float;
pub(super) const OIT_REVEAL_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R16Float;

const POSITION: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![0 => Float32x3];
const NORMAL: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![1 => Float32x3];
const COLOR: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![2 => Float32x4];
const UV: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![11 => Float32x2];

/// The opaque mesh pipelines: a shader per shading model (the displayColor one is small), and
/// shading either what the depth prepass laid down (equal, no depth write: each pixel shaded
/// once) or, for cut-outs, which the prepass cannot know, with their own depth test and write.
/// The PreviewSurface shaders always test the camera's clipping planes (they may discard
/// anyway); the displayColor one that writes depth has a twin that does, for frames with planes
/// (see `clipped` in shaders/mesh.wgsl). Frames with planes have no prepass, so the `equal`
/// pipelines never need to clip.
pub(super) struct OpaquePipelines {
    pub(super) display_equal: wgpu::RenderPipeline,
    pub(super) preview_equal: wgpu::RenderPipeline,
    pub(super) untextured_equal: wgpu::RenderPipeline,
    pub(super) display_write: wgpu::RenderPipeline,
    pub(super) display_write_clipped: wgpu::RenderPipeline,
    pub(super) preview_write: wgpu::RenderPipeline,
    pub(super) untextured_write: wgpu::RenderPipeline,
}

impl OpaquePipelines {
    pub(super) fn for_draw(&self, d: &MeshDraw, prepassed: bool, clipping: bool) -> &wgpu::RenderPipeline {
        match (d.preview, d.textured, d.cutout || !prepassed) {
            (false, _, false) => &self.display_equal,
            (true, true, false) => &self.preview_equal,
            (true, false, false) => &self.untextured_equal,
            (false, _, true) if clipping => &self.display_write_clipped,
            (false, _, true) => &self.display_write,
            (true, true, true) => &self.preview_write,
            (true, false, true) => &self.untextured_write,
        }
    }
}

/// Everything [`MeshPipelines::new`] builds.
pub(super) struct MeshPipelines {
    /// Group 0 (globals, lights, materials, dome, shadows); the compute shading pass binds it too.
    pub(super) globals_layout: wgpu::BindGroupLayout,
    /// Group 1: one material's textures and samplers.
    pub(super) materials_layout: wgpu::BindGroupLayout,
    /// Positions, normals, colours, instances, texture coordinates (the shadow and visibility
    /// passes draw from the same buffers).
    pub(super) vertex_buffers: [Option<wgpu::VertexBufferLayout<'static>>; 5],
    pub(super) opaque: OpaquePipelines,
    pub(super) depth: wgpu::RenderPipeline,
    pub(super) translucent: wgpu::RenderPipeline,
}

impl MeshPipelines {
    pub(super) fn new(
        device: &wgpu::Device,
        color_format: wgpu::TextureFormat,
        sample_count: u32,
        with_aovs: bool,
        camera_facing: bool,
    ) -> MeshPipelines {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("mesh.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/mesh.wgsl").into()),
        });
        // The compute shading pass binds it too.
        let stages = wgpu::ShaderStages::VERTEX_FRAGMENT | wgpu::ShaderStages::COMPUTE;
        let storage_read = |binding: u32| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: stages,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: true },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("globals layout"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: stages,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<Globals>() as u64),
                    },
                    count: None,
                },
                storage_read(1),
                storage_read(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: stages,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: stages,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                storage_read(5),
                wgpu::BindGroupLayoutEntry {
                    binding: 6,
                    visibility: stages,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Depth,
                        view_dimension: wgpu::TextureViewDimension::D2Array,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 7,
                    visibility: stages,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Comparison),
                    count: None,
                },
            ],
        });
        let materials_layout = material_layout(device);
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("mesh pipeline layout"),
            bind_group_layouts: &[Some(&bind_group_layout), Some(&materials_layout)],
            immediate_size: 0,
        });
        let per_vertex = |stride: u64, attributes: &'static [wgpu::VertexAttribute]| wgpu::VertexBufferLayout {
            array_stride: stride,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes,
        };
        let vertex_buffers = [
            Some(per_vertex(12, &POSITION)),
            Some(per_vertex(12, &NORMAL)),
            Some(per_vertex(16, &COLOR)),
            Some(wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<InstanceRaw>() as u64,
                step_mode: wgpu::VertexStepMode::Instance,
                attributes: &INSTANCE_ATTRIBUTES,
            }),
            Some(per_vertex(8, &UV)),
        ];
        // Opaque meshes write depth and replace colour. Blended ones (displayOpacity or opacity
        // below 1) come after in their own pass, tested against the opaque depth without writing
        // it, accumulated order-independently (weighted blended OIT, as Storm's OIT does not
        // depend on draw order either).
        let aov_target = |i: usize| {
            Some(wgpu::ColorTargetState {
                format: AOV_FORMATS[i],
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })
        };
        // The shader writes premultiplied colour; the resolve averages it by coverage. AOVs are
        // replaced, never blended: the nearest opaque surface wins.
        let opaque_targets = [
            Some(wgpu::ColorTargetState {
                format: color_format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            }),
            aov_target(0),
            aov_target(1),
            aov_target(2),
            aov_target(3),
        ];
        let add = wgpu::BlendComponent {
            src_factor: wgpu::BlendFactor::One,
            dst_factor: wgpu::BlendFactor::One,
            operation: wgpu::BlendOperation::Add,
        };
        // reveal *= 1 - alpha
        let reveal = wgpu::BlendComponent {
            src_factor: wgpu::BlendFactor::Zero,
            dst_factor: wgpu::BlendFactor::OneMinusSrc,
            operation: wgpu::BlendOperation::Add,
        };
        let oit_targets = [
            Some(wgpu::ColorTargetState {
                format: OIT_ACCUM_FORMAT,
                blend: Some(wgpu::BlendState { color: add, alpha: add }),
                write_mask: wgpu::ColorWrites::ALL,
            }),
            Some(wgpu::ColorTargetState {
                format: OIT_REVEAL_FORMAT,
                blend: Some(wgpu::BlendState {
                    color: reveal,
                    alpha: reveal,
                }),
                write_mask: wgpu::ColorWrites::ALL,
            }),
        ];
        // `depth_write` false: the depth was laid down by the prepass and the pipeline shades what
        // is equal to it (each pixel once); the blended pass tests against it the same way.
        let make_pipeline = |name: &str,
                             entry: Option<(&str, bool)>,
                             targets: &[Option<wgpu::ColorTargetState>],
                             depth_write: bool,
                             compare: wgpu::CompareFunction| {
            MeshPipeline {
                name,
                module: &shader,
                layout: &pipeline_layout,
                // No fragment stage: the depth prepass, whose vertex shader passes positions only.
                vertex_entry: if entry.is_some() { "vs_main" } else { "vs_depth" },
                buffers: &vertex_buffers,
                fragment: entry.map(|(entry, textured)| {
                    let constants: &[(&str, f64)] = if textured { &[] } else { &[("TEXTURED", 0.0)] };
                    (entry, constants)
                }),
                camera_facing,
                targets,
                depth_format: DEPTH_FORMAT,
                depth_write,
                depth_compare: compare,
                samples: sample_count,
            }
            .build(device)
        };
        use wgpu::CompareFunction::{Greater, GreaterEqual};
        let targets = &opaque_targets[..if with_aovs { 5 } else { 1 }];
        let (display, display_clipped, preview) = if with_aovs {
            ("fs_aov_display", "fs_aov_display_clipped", "fs_aov_preview")
        } else {
            ("fs_display", "fs_display_clipped", "fs_preview")
        };
        let opaque_pipelines = OpaquePipelines {
            display_equal: make_pipeline(
                "mesh (displayColor)",
                Some((display, false)),
                targets,
                false,
                GreaterEqual,
            ),
            preview_equal: make_pipeline(
                "mesh (PreviewSurface)",
                Some((preview, true)),
                targets,
                false,
                GreaterEqual,
            ),
            untextured_equal: make_pipeline(
                "mesh (PreviewSurface, no textures)",
                Some((preview, false)),
                targets,
                false,
                GreaterEqual,
            ),
            display_write: make_pipeline(
                "mesh (displayColor, depth)",
                Some((display, false)),
                targets,
                true,
                Greater,
            ),
            display_write_clipped: make_pipeline(
                "mesh (displayColor, depth, clipping planes)",
                Some((display_clipped, false)),
                targets,
                true,
                Greater,
            ),
            preview_write: make_pipeline(
                "mesh (PreviewSurface, depth)",
                Some((preview, true)),
                targets,
                true,
                Greater,
            ),
            untextured_write: make_pipeline(
                "mesh (PreviewSurface, no textures, depth)",
                Some((preview, false)),
                targets,
                true,
                Greater,
            ),
        };
        let depth_pipeline = make_pipeline("depth prepass pipeline", None, &[], true, Greater);
        let translucent_pipeline = make_pipeline(
            "mesh pipeline (blended, OIT)",
            Some(("fs_oit", true)),
            &oit_targets,
            false,
            Greater,
        );
        MeshPipelines {
            globals_layout: bind_group_layout,
            materials_layout,
            vertex_buffers,
            opaque: opaque_pipelines,
            depth: depth_pipeline,
            translucent: translucent_pipeline,
        }
    }
}
