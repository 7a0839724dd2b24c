//! Opaque surfaces shaded in a compute pass (shaders/visibility.wgsl): a thin visibility buffer
//! (instance slot and triangle per MSAA sample) is rasterized, then one compute invocation per
//! pixel rebuilds each distinct sample's surface from its triangle and shades it with the forward
//! pipelines' own functions. On the H100 per-pixel arithmetic runs ~35x faster in compute than as
//! fragment work (shared/GPU.md); docs/design.md ("Shading") has the measurements.
//!
//! The renderer uses it where it can ([`ShadingPath`]); otherwise opaque surfaces are shaded
//! forward, in the fragment stage.

use wgpu::util::DeviceExt;

use super::layout::ShadeParams;
use super::raster::{image_texture, MeshPipeline};
use crate::scene::material::TEXTURE_SLOTS;

/// How opaque surfaces are shaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShadingPath {
    /// In a compute pass where the device and scene allow it ([`unavailable`]) and the scene has
    /// opaque UsdPreviewSurface materials (where it pays), forward otherwise.
    #[default]
    Auto,
    /// In the fragment stage of the mesh pass.
    Forward,
    /// In a compute pass; building the renderer fails where that cannot be done.
    Compute,
}

impl ShadingPath {
    pub fn from_name(name: &str) -> Option<ShadingPath> {
        match name {
            "auto" => Some(ShadingPath::Auto),
            "forward" => Some(ShadingPath::Forward),
            "compute" => Some(ShadingPath::Compute),
            _ => None,
        }
    }
}

/// The visibility buffer's format (one attachment for the instance slot, one for the triangle).
pub const VIS_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Uint;

/// The compute path's shader module source: `enable primitive_index;`, shaders/mesh.wgsl, then
/// shaders/visibility.wgsl (WGSL has no includes).
pub fn shader_source() -> String {
    format!(
        "enable primitive_index;\n{}\n{}",
        include_str!("../../shaders/mesh.wgsl"),
        include_str!("../../shaders/visibility.wgsl")
    )
}

/// Most entries of the compute shading pass's texture table (the scene's distinct textures and
/// wrap pairs): materials read through their own bind groups in the raster passes, 12 inputs each,
/// but the shading pass binds the whole scene's textures at once. Production assets have dozens
/// (the OpenChessSet 30); a scene with more is shaded forward, with a depth prepass that draws
/// every triangle twice (the 8x8 chess grid, 92 M triangles: 146 -> 393 ms a frame on the H200).
pub const MAX_TABLE_SLOTS: usize = 64;

/// The texture table's size on a device: [`MAX_TABLE_SLOTS`] or what its binding limits leave
/// beside group 0 (2 textures, 2 samplers) and the visibility group (2 textures), at least the
/// 12 the raster passes bind.
pub fn table_slots(limits: &wgpu::Limits) -> usize {
    let textures = (limits.max_sampled_textures_per_shader_stage as usize).saturating_sub(4);
    let samplers = (limits.max_samplers_per_shader_stage as usize).saturating_sub(2);
    MAX_TABLE_SLOTS.min(textures).min(samplers).max(TEXTURE_SLOTS)
}

/// The compute shading pass's source: [`shader_source`] with a texture table of `slots` entries
/// (textures and samplers past the 12 that shaders/mesh.wgsl declares are declared after them in
/// group 1, at [`table_binding`], and `sample_slot` reads them all).
pub fn shading_source(slots: usize) -> String {
    let source = shader_source();
    let start = source.find("fn sample_slot(").expect("mesh.wgsl defines sample_slot");
    let end = start + source[start..].find("\n}\n").expect("sample_slot ends") + 3;
    let mut f = String::from(
        "fn sample_slot(slot: u32, uv: vec2<f32>, dx: vec2<f32>, dy: vec2<f32>) -> vec4<f32> {\n    switch slot {\n",
    );
    for i in 0..slots - 1 {
        f += &format!("        case {i}u: {{ return textureSampleGrad(t{i}, s{i}, uv, dx, dy); }}\n");
    }
    let last = slots - 1;
    f += &format!("        default: {{ return textureSampleGrad(t{last}, s{last}, uv, dx, dy); }}\n    }}\n}}\n");
    for i in TEXTURE_SLOTS..slots {
        let [texture, sampler] = table_binding(i);
        f += &format!("@group(1) @binding({texture}) var t{i}: texture_2d<f32>;\n");
        f += &format!("@group(1) @binding({sampler}) var s{i}: sampler;\n");
    }
    format!("{}{f}{}", &source[..start], &source[end..])
}

/// The bindings of texture slot `i`'s texture and sampler in group 1: mesh.wgsl's own for the
/// first 12 (textures 0..12, samplers 12..24), then pairs after them (the texture table's).
pub fn table_binding(i: usize) -> [u32; 2] {
    if i < TEXTURE_SLOTS {
        [i as u32, (TEXTURE_SLOTS + i) as u32]
    } else {
        [(2 * i) as u32, (2 * i + 1) as u32]
    }
}

/// What the compute path needs from a device beyond what the forward path does: `None` when it
/// has it all, else why not.
pub fn unavailable(device: &wgpu::Device, adapter: &wgpu::Adapter, sample_count: u32) -> Option<String> {
    // Measured on llvmpipe's GL: the visibility buffer comes out wrong (every sample names the
    // same surface), and on NVIDIA's GL compute pipelines fail (shared/GPU.md): GL is the
    // fallback backend, so it shades forward.
    if adapter.get_info().backend == wgpu::Backend::Gl {
        return Some("the GL backend shades forward".into());
    }
    if !device.features().contains(wgpu::Features::PRIMITIVE_INDEX) {
        return Some("the device has no primitive_index".into());
    }
    if sample_count < 2 {
        return Some("it needs MSAA (the visibility buffer is multisampled)".into());
    }
    let vis = super::raster::format_features(adapter, device, VIS_FORMAT);
    if !vis.flags.sample_count_supported(sample_count) {
        return Some(format!("{VIS_FORMAT:?} cannot be multisampled {sample_count}x here"));
    }
    let limits = device.limits();
    // Group 0 (3 storage buffers, 2 textures, 2 samplers), the texture table (12 and 12), and the
    // visibility group (7 storage buffers, 2 textures, 1 storage texture).
    if limits.max_storage_buffers_per_shader_stage < 10
        || limits.max_sampled_textures_per_shader_stage < 16
        || limits.max_samplers_per_shader_stage < 14
        || limits.max_storage_textures_per_shader_stage < 1
        || limits.max_bind_groups < 3
    {
        return Some("the device's binding limits are too low".into());
    }
    None
}

/// The visibility buffer, the compute shading pass, and what they bind.
pub struct Visibility {
    pub instance_view: wgpu::TextureView,
    pub triangle_view: wgpu::TextureView,
    /// The shaded, resolved image (premultiplied linear colour): the colour pass's input.
    pub shaded_view: wgpu::TextureView,
    /// Opaque draws that cannot cut out, and those that can (they test their opacity). `plain`
    /// has a twin for frames with clipping planes (`cutout` always tests them: see `clipped` in
    /// shaders/mesh.wgsl).
    pub plain: wgpu::RenderPipeline,
    pub plain_clipped: wgpu::RenderPipeline,
    pub cutout: wgpu::RenderPipeline,
    pub shade: wgpu::ComputePipeline,
    /// Group 1 of the shading pass: the scene's texture table.
    pub table_group: wgpu::BindGroup,
    /// Group 2 of the shading pass.
    pub bind_group: wgpu::BindGroup,
    pub params: wgpu::Buffer,
}

/// What [`Visibility::new`] builds on: the renderer's layouts, buffers and settings.
pub struct VisibilityInputs<'a> {
    pub device: &'a wgpu::Device,
    pub width: u32,
    pub height: u32,
    pub sample_count: u32,
    pub depth_format: wgpu::TextureFormat,
    pub globals_layout: &'a wgpu::BindGroupLayout,
    pub materials_layout: &'a wgpu::BindGroupLayout,
    /// Group 1 of the shading pass: the texture table of `table_slots` entries.
    pub table_layout: &'a wgpu::BindGroupLayout,
    pub table_slots: usize,
    pub vertex_buffers: &'a [Option<wgpu::VertexBufferLayout<'a>>],
    pub table_group: wgpu::BindGroup,
    /// Whether any material reads a texture (else the texture paths compile away).
    pub textured: bool,
    /// Whether any mesh faces the camera (curves, points; else the vertex facing code compiles away).
    pub camera_facing: bool,
    pub positions: &'a wgpu::Buffer,
    pub normals: &'a wgpu::Buffer,
    pub colors: &'a wgpu::Buffer,
    pub uvs: &'a wgpu::Buffer,
    pub indices: &'a wgpu::Buffer,
    pub instances: &'a wgpu::Buffer,
    /// Per mesh: its first index and base vertex.
    pub mesh_ranges: &'a [[u32; 2]],
}

impl Visibility {
    pub fn new(inputs: VisibilityInputs<'_>) -> Visibility {
        let VisibilityInputs {
            device,
            width,
            height,
            sample_count,
            ..
        } = inputs;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("mesh.wgsl + visibility.wgsl"),
            source: wgpu::ShaderSource::Wgsl(shader_source().into()),
        });
        let shading_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("mesh.wgsl + visibility.wgsl, texture table"),
            source: wgpu::ShaderSource::Wgsl(shading_source(inputs.table_slots).into()),
        });
        let target = |name: &str, format, samples, usage| {
            image_texture(device, name, (width, height), format, samples, usage)
                .create_view(&wgpu::TextureViewDescriptor::default())
        };
        let vis_usage = wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING;
        let instance_view = target("visibility: instance", VIS_FORMAT, sample_count, vis_usage);
        let triangle_view = target("visibility: triangle", VIS_FORMAT, sample_count, vis_usage);
        let shaded_view = target(
            "shaded color",
            wgpu::TextureFormat::Rgba16Float,
            1,
            wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::TEXTURE_BINDING,
        );

        let raster_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("visibility pipeline layout"),
            bind_group_layouts: &[Some(inputs.globals_layout), Some(inputs.materials_layout)],
            immediate_size: 0,
        });
        let vis_target = Some(wgpu::ColorTargetState {
            format: VIS_FORMAT,
            blend: None,
            write_mask: wgpu::ColorWrites::ALL,
        });
        let targets = [vis_target.clone(), vis_target];
        let raster = |name: &str, entry: &str| {
            MeshPipeline {
                name,
                module: &module,
                layout: &raster_layout,
                vertex_entry: "vs_main",
                buffers: inputs.vertex_buffers,
                fragment: Some((entry, &[])),
                camera_facing: inputs.camera_facing,
                targets: &targets,
                depth_format: inputs.depth_format,
                depth_write: true,
                depth_compare: wgpu::CompareFunction::Greater,
                samples: sample_count,
            }
            .build(device)
        };
        let plain = raster("visibility pipeline", "fs_vis");
        let plain_clipped = raster("visibility pipeline (clipping planes)", "fs_vis_clipped");
        let cutout = raster("visibility pipeline (cut-outs)", "fs_vis_cutout");

        let entry = |binding: u32, ty: wgpu::BindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty,
            count: None,
        };
        let vis_texture = wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Uint,
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: true,
        };
        let storage = wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only: true },
            has_dynamic_offset: false,
            min_binding_size: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("visibility shading layout"),
            entries: &[
                entry(0, vis_texture),
                entry(1, vis_texture),
                entry(2, storage),
                entry(3, storage),
                entry(4, storage),
                entry(5, storage),
                entry(6, storage),
                entry(7, storage),
                entry(8, storage),
                entry(
                    9,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<ShadeParams>() as u64),
                    },
                ),
                entry(
                    10,
                    wgpu::BindingType::StorageTexture {
                        access: wgpu::StorageTextureAccess::WriteOnly,
                        format: wgpu::TextureFormat::Rgba16Float,
                        view_dimension: wgpu::TextureViewDimension::D2,
                    },
                ),
            ],
        });
        let shade_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("compute shading layout"),
            bind_group_layouts: &[Some(inputs.globals_layout), Some(inputs.table_layout), Some(&layout)],
            immediate_size: 0,
        });
        let shade = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("compute shading pipeline"),
            layout: Some(&shade_layout),
            module: &shading_module,
            entry_point: Some("cs_shade"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: if inputs.textured {
                    &[("TABLE_SLOTS", 1.0)]
                } else {
                    &[("TABLE_SLOTS", 1.0), ("TEXTURED", 0.0)]
                },
                ..Default::default()
            },
            cache: None,
        });
        let mesh_ranges = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("mesh ranges"),
            contents: bytemuck::cast_slice(if inputs.mesh_ranges.is_empty() {
                &[[0u32; 2]]
            } else {
                inputs.mesh_ranges
            }),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("shade params"),
            size: std::mem::size_of::<ShadeParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("visibility shading bind group"),
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&instance_view),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&triangle_view),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: inputs.positions.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: inputs.normals.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: inputs.colors.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 5,
                    resource: inputs.uvs.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 6,
                    resource: inputs.indices.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 7,
                    resource: inputs.instances.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 8,
                    resource: mesh_ranges.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 9,
                    resource: params.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 10,
                    resource: wgpu::BindingResource::TextureView(&shaded_view),
                },
            ],
        });
        Visibility {
            instance_view,
            triangle_view,
            shaded_view,
            plain,
            plain_clipped,
            cutout,
            shade,
            table_group: inputs.table_group,
            bind_group,
            params,
        }
    }
}
