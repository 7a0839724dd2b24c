//! The compute passes after the render pass: the colour pass (composites the blended surfaces
//! and the background over the opaque image and derives the 8-bit and linear images) and the AOV
//! gather (reads the multisampled AOV attachments into flat buffers). Their outputs are copied
//! into the frame's readback slot.

use wgpu::util::DeviceExt;

use bytemuck::Zeroable;

use super::layout::{AovParams, ColorParams, MotionParams};
use super::pipelines::AOV_FORMATS;
use super::raster::image_texture;
use super::settings::{AovKind, ImageEncoding, RenderSettings};

/// A compute pass run after the render pass, and the storage buffers it fills (copied into the
/// readback slot with the frame).
pub(super) struct ComputeStage {
    pub(super) pipeline: wgpu::ComputePipeline,
    pub(super) bind_group: wgpu::BindGroup,
    /// Output buffers, in the order of their readback segments; `None` where not asked for.
    pub(super) outputs: Vec<Option<wgpu::Buffer>>,
}

/// Motion blur's accumulation pass (`cs_accumulate`, run after each shutter sample but the
/// last; it shares the colour pass's bindings) and its per-submission parameter.
pub(super) struct MotionStage {
    pub(super) accumulate: wgpu::ComputePipeline,
    /// `MotionParams`, written before each submission.
    pub(super) params: wgpu::Buffer,
}

/// The AOV attachments (views in `AovKind` order) and their gather pass.
pub(super) struct AovStage {
    pub(super) views: [wgpu::TextureView; 4],
    pub(super) gather: ComputeStage,
}

/// What the colour pass reads.
pub(super) struct ColorPassInputs<'a> {
    /// The opaque image: the resolved colour target, or what compute shading wrote.
    pub(super) shaded: &'a wgpu::TextureView,
    /// The blended pass's accumulation and revealage, when the scene has blended surfaces.
    pub(super) oit: Option<(&'a wgpu::TextureView, &'a wgpu::TextureView)>,
    /// Bound where something is absent.
    pub(super) placeholder: &'a wgpu::TextureView,
    /// The per-frame background parameters (clear colour, dome).
    pub(super) background: &'a wgpu::Buffer,
    pub(super) dome: &'a wgpu::TextureView,
    pub(super) dome_sampler: &'a wgpu::Sampler,
}

/// The colour pass: `shaders/color.wgsl` over the whole image; with `settings.motion_blur`, also
/// its accumulation pass and the f32 buffer it sums shutter samples into (allocated here, once).
pub(super) fn color_pass(
    device: &wgpu::Device,
    settings: &RenderSettings,
    encoding: ImageEncoding,
    inputs: ColorPassInputs<'_>,
) -> (ComputeStage, Option<MotionStage>) {
    let pixels = settings.width as u64 * settings.height as u64;
    let unfilterable = wgpu::TextureSampleType::Float { filterable: false };
    let filterable = wgpu::TextureSampleType::Float { filterable: true };

    let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("color pass layout"),
        entries: &[
            texture_entry(0, unfilterable, false),
            storage_entry(1),
            storage_entry(2),
            uniform_entry(3),
            texture_entry(4, unfilterable, false),
            texture_entry(5, unfilterable, false),
            uniform_entry(6),
            texture_entry(7, filterable, false),
            wgpu::BindGroupLayoutEntry {
                binding: 8,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                count: None,
            },
            storage_entry(9),
            uniform_entry(10),
        ],
    });
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("color.wgsl"),
        source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/color.wgsl").into()),
    });
    let pipeline = module_pipeline(device, "color.wgsl", &module, "cs_color", &bgl);
    // Motion blur: the running sum of each pixel's premultiplied linear colour, f32 (a
    // placeholder without it; the shader reads it only when `MotionParams::before` > 0).
    let accumulated = storage(
        device,
        "motion blur accumulation",
        if settings.motion_blur { pixels * 16 } else { 16 },
    );
    let motion_params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("motion blur params"),
        contents: bytemuck::bytes_of(&MotionParams::zeroed()),
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    });
    let rgba8 = storage(device, "color pass rgba8", pixels * 4);
    // Written only when linear output is asked for (else a placeholder is bound).
    let linear = storage(
        device,
        "color pass linear",
        if settings.linear { pixels * 16 } else { 16 },
    );
    let params = uniform(
        device,
        "color pass params",
        bytemuck::bytes_of(&ColorParams {
            width: settings.width,
            height: settings.height,
            premultiplied: (encoding == ImageEncoding::UsdRecord) as u32,
            write_linear: settings.linear as u32,
            srgb: settings.srgb as u32,
            flip_y: super::raster::FLIP_Y as u32,
            _pad: [0; 2],
            window: settings.drawn_window(),
            outside: {
                // As the render pass clears (premultiplied).
                let [r, g, b, a] = settings.clear_color.map(|c| c.clamp(0.0, 65504.0));
                let a = a.min(1.0);
                [r * a, g * a, b * a, a]
            },
        }),
    );
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("color pass bind group"),
        layout: &bgl,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(inputs.shaded),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: rgba8.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: linear.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 4,
                resource: wgpu::BindingResource::TextureView(inputs.oit.map_or(inputs.placeholder, |o| o.0)),
            },
            wgpu::BindGroupEntry {
                binding: 5,
                resource: wgpu::BindingResource::TextureView(inputs.oit.map_or(inputs.placeholder, |o| o.1)),
            },
            wgpu::BindGroupEntry {
                binding: 6,
                resource: inputs.background.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 7,
                resource: wgpu::BindingResource::TextureView(inputs.dome),
            },
            wgpu::BindGroupEntry {
                binding: 8,
                resource: wgpu::BindingResource::Sampler(inputs.dome_sampler),
            },
            wgpu::BindGroupEntry {
                binding: 9,
                resource: accumulated.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 10,
                resource: motion_params.as_entire_binding(),
            },
        ],
    });
    let motion = settings.motion_blur.then(|| MotionStage {
        accumulate: module_pipeline(device, "color.wgsl accumulate", &module, "cs_accumulate", &bgl),
        params: motion_params,
    });
    (
        ComputeStage {
            pipeline,
            bind_group,
            outputs: vec![Some(rgba8), settings.linear.then_some(linear)],
        },
        motion,
    )
}

/// The AOV attachments asked for by `settings` and the pass that gathers them.
pub(super) fn aov_stage(device: &wgpu::Device, settings: &RenderSettings, sample_count: u32) -> AovStage {
    let pixels = settings.width as u64 * settings.height as u64;
    let unfilterable = wgpu::TextureSampleType::Float { filterable: false };
    let view = wgpu::TextureViewDescriptor {
        label: Some("aov view"),
        ..Default::default()
    };
    let views = std::array::from_fn(|i| {
        image_texture(
            device,
            ["aov depth", "aov normal", "aov primId", "aov instanceId"][i],
            (settings.width, settings.height),
            AOV_FORMATS[i],
            sample_count,
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
        )
        .create_view(&view)
    });
    let ms = sample_count > 1;
    let uint = wgpu::TextureSampleType::Uint;
    let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("aov gather layout"),
        entries: &[
            texture_entry(0, unfilterable, ms),
            texture_entry(1, unfilterable, ms),
            texture_entry(2, uint, ms),
            texture_entry(3, uint, ms),
            storage_entry(4),
            storage_entry(5),
            storage_entry(6),
            storage_entry(7),
            uniform_entry(8),
        ],
    });
    let mut source = include_str!("../../shaders/aov.wgsl").to_string();
    if !ms {
        source = source.replace("texture_multisampled_2d", "texture_2d");
    }
    let pipeline = compute_pipeline(device, "aov.wgsl", source, "cs_aov", &bgl);
    // Outputs not asked for get a placeholder (the shader skips them by the mask).
    let outputs: Vec<Option<wgpu::Buffer>> = AovKind::ALL
        .iter()
        .map(|k| {
            settings
                .aovs
                .contains(k)
                .then(|| storage(device, k.name(), pixels * 4 * k.channels() as u64))
        })
        .collect();
    let placeholder = storage(device, "aov placeholder", 16);
    let mask = AovKind::ALL
        .iter()
        .filter(|k| settings.aovs.contains(k))
        .fold(0u32, |m, k| m | 1 << k.index());
    let params = uniform(
        device,
        "aov gather params",
        bytemuck::bytes_of(&AovParams {
            width: settings.width,
            height: settings.height,
            mask,
            flip_y: super::raster::FLIP_Y as u32,
        }),
    );
    let mut entries: Vec<wgpu::BindGroupEntry> = views
        .iter()
        .enumerate()
        .map(|(i, v)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: wgpu::BindingResource::TextureView(v),
        })
        .collect();
    for (i, out) in outputs.iter().enumerate() {
        entries.push(wgpu::BindGroupEntry {
            binding: 4 + i as u32,
            resource: out.as_ref().unwrap_or(&placeholder).as_entire_binding(),
        });
    }
    entries.push(wgpu::BindGroupEntry {
        binding: 8,
        resource: params.as_entire_binding(),
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("aov gather bind group"),
        layout: &bgl,
        entries: &entries,
    });
    AovStage {
        views,
        gather: ComputeStage {
            pipeline,
            bind_group,
            outputs,
        },
    }
}

fn storage(device: &wgpu::Device, name: &str, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(name),
        size,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

fn uniform(device: &wgpu::Device, name: &str, bytes: &[u8]) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(name),
        contents: bytes,
        usage: wgpu::BufferUsages::UNIFORM,
    })
}

fn texture_entry(binding: u32, sample_type: wgpu::TextureSampleType, multisampled: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Texture {
            sample_type,
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled,
        },
        count: None,
    }
}

fn storage_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only: false },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn compute_pipeline(
    device: &wgpu::Device,
    name: &str,
    source: String,
    entry: &str,
    layout: &wgpu::BindGroupLayout,
) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    module_pipeline(device, name, &module, entry, layout)
}

fn module_pipeline(
    device: &wgpu::Device,
    name: &str,
    module: &wgpu::ShaderModule,
    entry: &str,
    layout: &wgpu::BindGroupLayout,
) -> wgpu::ComputePipeline {
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(name),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(name),
        layout: Some(&pipeline_layout),
        module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    })
}
