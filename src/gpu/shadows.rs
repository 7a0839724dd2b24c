//! Shadow maps: a depth map per shadow-casting distant or cone light (up to
//! [`MAX_SHADOW_MAPS`]), placed each frame from the lights, drawn again only where the light or
//! the geometry moved.

use super::layout::LightRaw;
use super::shading::{shadow_view, MAX_SHADOW_MAPS};
use crate::scene::Scene;

/// Shadow map size (square, per light).
const SHADOW_MAP_SIZE: u32 = 2048;
const SHADOW_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

/// Shadow maps of the lights that cast them: one array layer each, rendered every frame before
/// the mesh pass (depth only, opaque instances).
pub(super) struct Shadows {
    pub(super) pipeline: wgpu::RenderPipeline,
    pub(super) layers: Vec<ShadowLayer>,
    /// Layers in use this frame.
    pub(super) active: usize,
    /// The scene's bounds at load, which each map covers.
    pub(super) bounds: crate::scene::Bounds,
}

pub(super) struct ShadowLayer {
    pub(super) view: wgpu::TextureView,
    pub(super) uniform: wgpu::Buffer,
    pub(super) bind_group: wgpu::BindGroup,
    pub(super) matrix: [[f32; 4]; 4],
    /// Its map does not hold what its matrix sees of the current geometry (rendered again this
    /// frame).
    pub(super) stale: bool,
    /// Rendered in the frame being recorded.
    pub(super) redraw: bool,
}

/// What the shading passes bind for shadows, and the maps themselves when a light casts them.
pub(super) struct ShadowMaps {
    /// Every layer, as the array the shaders sample (a 1x1 placeholder without shadows).
    pub(super) array: wgpu::TextureView,
    /// Each layer's view-projection, as the shaders read it.
    pub(super) views: wgpu::Buffer,
    pub(super) sampler: wgpu::Sampler,
    pub(super) shadows: Option<Shadows>,
}

impl ShadowMaps {
    /// The maps for `scene`'s lights; `vertex_buffers` are the position and instance layouts.
    pub(super) fn new(
        device: &wgpu::Device,
        scene: &Scene,
        max_texture_side: u32,
        vertex_buffers: [Option<wgpu::VertexBufferLayout<'static>>; 2],
    ) -> ShadowMaps {
        let casts = scene
            .lights
            .iter()
            .any(|l| l.shadow && (matches!(l.kind, crate::scene::LightKind::Distant { .. }) || l.shaping.is_some()));
        let shadow_layers = if casts { MAX_SHADOW_MAPS as u32 } else { 1 };
        let shadow_size = if casts {
            SHADOW_MAP_SIZE.min(max_texture_side)
        } else {
            1
        };
        let shadow_texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("shadow maps"),
            size: wgpu::Extent3d {
                width: shadow_size,
                height: shadow_size,
                depth_or_array_layers: shadow_layers,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: SHADOW_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let shadow_array = shadow_texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some("shadow maps view"),
            dimension: Some(wgpu::TextureViewDimension::D2Array),
            ..Default::default()
        });
        let shadow_views = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("shadow views"),
            size: 64 * shadow_layers as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let shadow_sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("shadow sampler"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            compare: Some(wgpu::CompareFunction::LessEqual),
            ..Default::default()
        });
        let shadows = casts.then(|| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("shadow.wgsl"),
                source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/shadow.wgsl").into()),
            });
            let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("shadow view layout"),
                entries: &[wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::VERTEX,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                }],
            });
            let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("shadow pipeline layout"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("shadow pipeline"),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &module,
                    entry_point: Some("vs_shadow"),
                    compilation_options: Default::default(),
                    buffers: &vertex_buffers,
                },
                primitive: wgpu::PrimitiveState {
                    topology: wgpu::PrimitiveTopology::TriangleList,
                    cull_mode: None,
                    ..Default::default()
                },
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: SHADOW_FORMAT,
                    depth_write_enabled: Some(true),
                    depth_compare: Some(wgpu::CompareFunction::Less),
                    stencil: Default::default(),
                    bias: wgpu::DepthBiasState {
                        constant: 2,
                        slope_scale: 2.0,
                        clamp: 0.0,
                    },
                }),
                multisample: wgpu::MultisampleState::default(),
                fragment: None,
                multiview_mask: None,
                cache: None,
            });
            let layers = (0..shadow_layers)
                .map(|i| {
                    let uniform = device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("shadow view"),
                        size: 64,
                        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    });
                    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some("shadow view bind group"),
                        layout: &layout,
                        entries: &[wgpu::BindGroupEntry {
                            binding: 0,
                            resource: uniform.as_entire_binding(),
                        }],
                    });
                    ShadowLayer {
                        view: shadow_texture.create_view(&wgpu::TextureViewDescriptor {
                            label: Some("shadow map layer"),
                            dimension: Some(wgpu::TextureViewDimension::D2),
                            base_array_layer: i,
                            array_layer_count: Some(1),
                            ..Default::default()
                        }),
                        uniform,
                        bind_group,
                        matrix: [[0.0; 4]; 4],
                        stale: true,
                        redraw: false,
                    }
                })
                .collect();
            Shadows {
                pipeline,
                layers,
                active: 0,
                bounds: scene.bounds,
            }
        });
        ShadowMaps {
            array: shadow_array,
            views: shadow_views,
            sampler: shadow_sampler,
            shadows,
        }
    }
}

impl Shadows {
    /// Gives each shadow-casting light of this frame a layer (its index goes in `cone[3]`) and
    /// writes the view of a layer whose light moved, marking it stale.
    pub(super) fn place(&mut self, lights: &mut [LightRaw], queue: &wgpu::Queue, views: &wgpu::Buffer) {
        self.active = 0;
        for light in lights {
            if light.cone[2] < 0.5 || self.active == self.layers.len() {
                continue;
            }
            let Some(m) = shadow_view(light, &self.bounds) else {
                continue;
            };
            let layer = &mut self.layers[self.active];
            let m = m.to_cols_array_2d();
            if layer.matrix != m {
                layer.matrix = m;
                layer.stale = true;
                queue.write_buffer(&layer.uniform, 0, bytemuck::bytes_of(&m));
                queue.write_buffer(views, 64 * self.active as u64, bytemuck::bytes_of(&m));
            }
            self.active += 1;
            light.cone[3] = self.active as f32;
        }
    }

    /// Decides which maps this frame draws: those in use whose light or geometry moved (`moved`:
    /// an instance or mesh changed). On a static scene the lit teapot field's two maps had cost
    /// the H100 as much as shading its image.
    pub(super) fn choose_redraws(&mut self, moved: bool) {
        for layer in &mut self.layers {
            layer.stale |= moved;
            layer.redraw = false;
        }
        for layer in &mut self.layers[..self.active] {
            layer.redraw = layer.stale;
            layer.stale = false;
        }
    }
}
