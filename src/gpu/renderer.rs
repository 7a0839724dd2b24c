//! One renderer per device: pipelines and static geometry built once, then per frame only the
//! camera uniforms, the changed instance matrices and animated vertices are written, one render
//! pass draws every mesh once (instanced), and the resolved image is read back.

use std::ops::Range;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use wgpu::util::DeviceExt;

use super::adapters::{GpuAdapter, SharedDevice};
use super::layout::{Globals, InstanceRaw, INSTANCE_ATTRIBUTES};
use super::readback::{padded_bytes_per_row, strip_and_unpremultiply, strip_padding};
use crate::scene::{FrameState, Mesh, Scene};
use crate::{Error, Result};

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

/// The colour target: the shader writes linear colour and the sRGB target encodes it on store
/// (and the MSAA resolve averages in linear space).
const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;
/// Reversed Z (depth 1 at near): float depth keeps its precision far from the camera.
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Colour for vertices whose mesh carries none (Hydra's fallback displayColor is a mid grey).
const FALLBACK_COLOR: [f32; 4] = [0.5, 0.5, 0.5, 1.0];
/// GL's `poll(wait)` gives up after ~4.29 s (shared/GPU.md pitfall 4); this many tries is minutes.
const MAX_POLL_TRIES: u32 = 60;

/// Image size and antialiasing for one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderSettings {
    pub width: u32,
    pub height: u32,
    /// MSAA samples per pixel (4 by default); lowered, with a warning, to what the adapter can do.
    pub msaa: u32,
}

impl Default for RenderSettings {
    fn default() -> Self {
        RenderSettings {
            width: 960,
            height: 540,
            msaa: 4,
        }
    }
}

/// A mesh's draw: its index range in the shared index buffer and its instances' buffer slots.
struct MeshDraw {
    indices: Range<u32>,
    base_vertex: i32,
    instances: Range<u32>,
    /// Some vertex has displayOpacity < 1: drawn after the opaque meshes, blended.
    translucent: bool,
}

/// Where an animated mesh's vertices live in the shared vertex buffers.
struct DynamicMesh {
    first_vertex: u64,
    vertex_count: usize,
    /// Local triangle indices, to recompute normals when a frame brings positions only.
    indices: Vec<u32>,
    warned: bool,
}

/// Renders frames of one [`Scene`] on one device. `Send`: build it, then move it to its worker.
pub struct Renderer {
    summary: super::AdapterSummary,
    label: String,
    gpu: SharedDevice,
    width: u32,
    height: u32,
    sample_count: u32,
    encoding: ImageEncoding,
    opaque_pipeline: wgpu::RenderPipeline,
    translucent_pipeline: wgpu::RenderPipeline,
    globals_buffer: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    positions: wgpu::Buffer,
    normals: wgpu::Buffer,
    colors: wgpu::Buffer,
    indices: wgpu::Buffer,
    instances: wgpu::Buffer,
    draws: Vec<MeshDraw>,
    /// CPU copy of the instance buffer, so a frame writes only the slots that changed.
    instance_mirror: Vec<InstanceRaw>,
    /// Buffer slot of each `Scene::dynamic_instances` entry (`None`: its mesh draws nothing).
    dynamic_slots: Vec<Option<usize>>,
    /// One entry per `Scene::dynamic_meshes` entry (`None`: the mesh draws nothing).
    dynamic_meshes: Vec<Option<DynamicMesh>>,
    last_globals: Option<Globals>,
    msaa_view: Option<wgpu::TextureView>,
    resolve_texture: wgpu::Texture,
    resolve_view: wgpu::TextureView,
    depth_view: wgpu::TextureView,
    readback: wgpu::Buffer,
    padded_row: u32,
    /// Set by the map callback: 0 pending, 1 mapped, 2 failed.
    map_state: Arc<AtomicU8>,
}

impl Renderer {
    /// Creates (or reuses) the adapter's device, builds the pipeline and uploads `scene`'s geometry.
    pub fn new(adapter: &GpuAdapter, scene: &Scene, settings: &RenderSettings) -> Result<Renderer> {
        Renderer::with_encoding(adapter, scene, settings, ImageEncoding::default())
    }

    /// As [`Renderer::new`], with a choice of how pixels become bytes.
    pub fn with_encoding(
        adapter: &GpuAdapter,
        scene: &Scene,
        settings: &RenderSettings,
        encoding: ImageEncoding,
    ) -> Result<Renderer> {
        let color_format = COLOR_FORMAT;
        let label = adapter.summary.label();
        let gpu = adapter.slot.device()?;
        let err = |reason: String| Error::Gpu {
            adapter: label.clone(),
            reason,
        };
        if let Some(lost) = gpu.lost_reason() {
            return Err(err(lost));
        }
        let limits = gpu.device.limits();
        let max_dim = limits.max_texture_dimension_2d;
        if settings.width == 0 || settings.height == 0 || settings.width > max_dim || settings.height > max_dim {
            return Err(err(format!(
                "image size {}x{} is outside this adapter's 1..={max_dim}",
                settings.width, settings.height
            )));
        }
        let sample_count = choose_sample_count(adapter, color_format, settings.msaa);
        let device = &gpu.device;
        let scope = ErrorScope::push(device);

        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("mesh.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/mesh.wgsl").into()),
        });
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("globals layout"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX | wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<Globals>() as u64),
                },
                count: None,
            }],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("mesh pipeline layout"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        let per_vertex = |stride: u64, attributes: &'static [wgpu::VertexAttribute]| wgpu::VertexBufferLayout {
            array_stride: stride,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes,
        };
        const POSITION: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![0 => Float32x3];
        const NORMAL: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![1 => Float32x3];
        const COLOR: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![2 => Float32x4];
        let vertex_buffers = [
            Some(per_vertex(12, &POSITION)),
            Some(per_vertex(12, &NORMAL)),
            Some(per_vertex(16, &COLOR)),
            Some(wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<InstanceRaw>() as u64,
                step_mode: wgpu::VertexStepMode::Instance,
                attributes: &INSTANCE_ATTRIBUTES,
            }),
        ];
        // Opaque meshes write depth and replace colour; translucent ones (displayOpacity < 1) come
        // after, composited "over" with premultiplied blending and without writing depth, so what
        // is behind them shows through. (Sorted per mesh, not per triangle: overlapping
        // translucent surfaces are order-dependent, unlike Storm's OIT.)
        let make_pipeline = |name: &str, blend: Option<wgpu::BlendState>, depth_write: bool| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &shader,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers: &vertex_buffers,
                },
                primitive: wgpu::PrimitiveState {
                    topology: wgpu::PrimitiveTopology::TriangleList,
                    front_face: wgpu::FrontFace::Ccw,
                    // No culling: single-sided meshes seen from behind still show (usdrecord draws
                    // them too); the shader lights whichever side faces the camera.
                    cull_mode: None,
                    ..Default::default()
                },
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: DEPTH_FORMAT,
                    depth_write_enabled: Some(depth_write),
                    // Reversed Z: nearer is greater.
                    depth_compare: Some(wgpu::CompareFunction::Greater),
                    stencil: Default::default(),
                    bias: Default::default(),
                }),
                multisample: wgpu::MultisampleState {
                    count: sample_count,
                    mask: !0,
                    alpha_to_coverage_enabled: false,
                },
                fragment: Some(wgpu::FragmentState {
                    module: &shader,
                    entry_point: Some("fs_main"),
                    compilation_options: Default::default(),
                    // The shader writes premultiplied colour; the resolve averages it by coverage.
                    targets: &[Some(wgpu::ColorTargetState {
                        format: color_format,
                        blend,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let opaque_pipeline = make_pipeline("mesh pipeline (opaque)", None, true);
        let translucent_pipeline = make_pipeline(
            "mesh pipeline (translucent)",
            Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
            false,
        );
        let globals_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("globals"),
            size: std::mem::size_of::<Globals>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("globals bind group"),
            layout: &bind_group_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: globals_buffer.as_entire_binding(),
            }],
        });

        let geometry = Geometry::build(scene);
        // Checked here rather than left to wgpu: a buffer over the limit is a validation error on
        // creation but a panic when create_buffer_init then maps it.
        let too_big = [
            ("positions", std::mem::size_of_val(geometry.positions.as_slice())),
            ("colors", std::mem::size_of_val(geometry.colors.as_slice())),
            ("indices", std::mem::size_of_val(geometry.indices.as_slice())),
            ("instances", std::mem::size_of_val(geometry.instances.as_slice())),
        ]
        .into_iter()
        .find(|&(_, bytes)| bytes as u64 > limits.max_buffer_size);
        if let Some((what, bytes)) = too_big {
            return Err(err(format!(
                "the scene's {what} take {} MiB, over this adapter's {} MiB buffer limit",
                bytes >> 20,
                limits.max_buffer_size >> 20
            )));
        }
        if geometry.positions.len() > i32::MAX as usize {
            return Err(err(format!(
                "{} vertices are more than one draw can address",
                geometry.positions.len()
            )));
        }
        let vertex_buffer = |name: &str, bytes: &[u8]| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(name),
                contents: bytes,
                usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
            })
        };
        let positions = vertex_buffer("positions", bytemuck::cast_slice(&geometry.positions));
        let normals = vertex_buffer("normals", bytemuck::cast_slice(&geometry.normals));
        let colors = vertex_buffer("colors", bytemuck::cast_slice(&geometry.colors));
        let instances = vertex_buffer("instances", bytemuck::cast_slice(&geometry.instances));
        let indices = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("indices"),
            contents: bytemuck::cast_slice(&geometry.indices),
            usage: wgpu::BufferUsages::INDEX,
        });

        let size = wgpu::Extent3d {
            width: settings.width,
            height: settings.height,
            depth_or_array_layers: 1,
        };
        let texture = |name: &str, format, samples, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(name),
                size,
                mip_level_count: 1,
                sample_count: samples,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let resolve_texture = texture(
            "resolved color",
            color_format,
            1,
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        );
        let view = |name: &'static str| wgpu::TextureViewDescriptor {
            label: Some(name),
            ..Default::default()
        };
        let resolve_view = resolve_texture.create_view(&view("resolved color view"));
        let msaa_view = (sample_count > 1).then(|| {
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
        let padded_row = padded_bytes_per_row(settings.width);
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: padded_row as u64 * settings.height as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        scope.pop().map_err(|e| err(format!("building the renderer: {e}")))?;

        log::debug!(
            "{label}: uploaded {} vertices, {} triangles, {} instance slots; {}x{} at {sample_count}x MSAA",
            geometry.positions.len(),
            geometry.indices.len() / 3,
            geometry.instances.len(),
            settings.width,
            settings.height
        );
        Ok(Renderer {
            summary: adapter.summary.clone(),
            label,
            gpu: gpu.clone(),
            width: settings.width,
            height: settings.height,
            sample_count,
            encoding,
            opaque_pipeline,
            translucent_pipeline,
            globals_buffer,
            bind_group,
            positions,
            normals,
            colors,
            indices,
            instances,
            draws: geometry.draws,
            instance_mirror: geometry.instances,
            dynamic_slots: geometry.dynamic_slots,
            dynamic_meshes: geometry.dynamic_meshes,
            last_globals: None,
            msaa_view,
            resolve_texture,
            resolve_view,
            depth_view,
            readback,
            padded_row,
            map_state: Arc::new(AtomicU8::new(0)),
        })
    }

    /// The adapter's name, as wgpu reports it.
    pub fn adapter_name(&self) -> &str {
        &self.summary.name
    }

    /// The adapter this renderer draws on.
    pub fn adapter(&self) -> &super::AdapterSummary {
        &self.summary
    }

    /// MSAA samples actually used (the requested count, or less where the adapter lacks it).
    pub fn sample_count(&self) -> u32 {
        self.sample_count
    }

    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Gpu {
            adapter: self.label.clone(),
            reason: reason.into(),
        }
    }

    /// Renders one frame into `rgba`: width * height * 4 bytes, rows tightly packed, sRGB-encoded
    /// RGBA8 with straight alpha (coverage times displayOpacity; 0 where nothing is drawn).
    pub fn render(&mut self, state: &FrameState, rgba: &mut Vec<u8>) -> Result<()> {
        if let Some(lost) = self.gpu.lost_reason() {
            return Err(self.err(lost));
        }
        if state.instance_transforms.len() != self.dynamic_slots.len()
            || state.mesh_vertices.len() != self.dynamic_meshes.len()
        {
            return Err(self.err(format!(
                "frame {} brings {} instance transforms and {} meshes; the scene has {} and {}",
                state.frame,
                state.instance_transforms.len(),
                state.mesh_vertices.len(),
                self.dynamic_slots.len(),
                self.dynamic_meshes.len()
            )));
        }
        let start = std::time::Instant::now();
        let scope = ErrorScope::push(&self.gpu.device);
        self.write_frame_state(state);
        self.sort_translucent();
        let submission = self.encode_and_submit();
        if let Err(e) = scope.pop() {
            return Err(self.err(format!("frame {}: {e}", state.frame)));
        }
        let submitted = start.elapsed();
        let (waited, copied) = self
            .read_back(submission, rgba)
            .map_err(|reason| self.err(format!("frame {}: {reason}", state.frame)))?;
        log::debug!(
            "{}: frame {}: record+submit {:.2} ms, GPU wait {:.2} ms, de-pad {:.2} ms",
            self.label,
            state.frame,
            submitted.as_secs_f64() * 1e3,
            waited.as_secs_f64() * 1e3,
            copied.as_secs_f64() * 1e3
        );
        Ok(())
    }

    /// Renders one frame and waits for the GPU without reading the image back (for benchmarks:
    /// the render-only figure).
    pub fn render_only(&mut self, state: &FrameState) -> Result<()> {
        if let Some(lost) = self.gpu.lost_reason() {
            return Err(self.err(lost));
        }
        let scope = ErrorScope::push(&self.gpu.device);
        self.write_frame_state(state);
        self.sort_translucent();
        let submission = self.encode_and_submit();
        if let Err(e) = scope.pop() {
            return Err(self.err(format!("frame {}: {e}", state.frame)));
        }
        let mut wait = wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: None,
        };
        for _ in 0..MAX_POLL_TRIES {
            match self.gpu.device.poll(wait.clone()) {
                Ok(_) => return Ok(()),
                // GL returns Timeout after ~4.29 s even when asked to wait forever: keep waiting.
                Err(wgpu::PollError::Timeout) => wait = wgpu::PollType::wait_indefinitely(),
                Err(e) => return Err(self.err(format!("frame {}: waiting for the GPU: {e}", state.frame))),
            }
        }
        Err(self.err(format!("frame {}: the GPU did not finish in time", state.frame)))
    }

    /// GPU time of the last frame's render pass, where the adapter has timestamp queries.
    pub fn last_gpu_ms(&self) -> Option<f64> {
        None
    }

    /// Writes only what changed since the last frame.
    fn write_frame_state(&mut self, state: &FrameState) {
        let queue = &self.gpu.queue;
        let view_proj = state.camera.view_projection(self.width, self.height);
        let globals = Globals::new(&view_proj, &state.camera.to_world, state.camera.lens.orthographic);
        if self.last_globals != Some(globals) {
            queue.write_buffer(&self.globals_buffer, 0, bytemuck::bytes_of(&globals));
            self.last_globals = Some(globals);
        }

        let mut changed: Option<(usize, usize)> = None;
        for (slot, m) in self.dynamic_slots.iter().zip(&state.instance_transforms) {
            let Some(slot) = *slot else { continue };
            let raw = InstanceRaw::new(m, self.instance_mirror[slot].double_sided());
            if self.instance_mirror[slot] != raw {
                self.instance_mirror[slot] = raw;
                changed = Some(changed.map_or((slot, slot), |(lo, hi)| (lo.min(slot), hi.max(slot))));
            }
        }
        if let Some((lo, hi)) = changed {
            let offset = (lo * std::mem::size_of::<InstanceRaw>()) as u64;
            queue.write_buffer(
                &self.instances,
                offset,
                bytemuck::cast_slice(&self.instance_mirror[lo..=hi]),
            );
        }

        for (dm, new) in self.dynamic_meshes.iter_mut().zip(&state.mesh_vertices) {
            let Some(dm) = dm else { continue };
            if new.positions.len() != dm.vertex_count {
                if !dm.warned {
                    log::warn!(
                        "frame {}: an animated mesh brings {} positions for {} vertices; left as it was",
                        state.frame,
                        new.positions.len(),
                        dm.vertex_count
                    );
                    dm.warned = true;
                }
                continue;
            }
            queue.write_buffer(
                &self.positions,
                dm.first_vertex * 12,
                bytemuck::cast_slice(&new.positions),
            );
            if new.normals.len() == dm.vertex_count {
                queue.write_buffer(&self.normals, dm.first_vertex * 12, bytemuck::cast_slice(&new.normals));
            } else {
                // Positions without normals: smooth normals from the new positions (allocates;
                // the stage normally supplies normals).
                let n = crate::scene::compute_normals(&new.positions, &dm.indices);
                queue.write_buffer(&self.normals, dm.first_vertex * 12, bytemuck::cast_slice(&n));
            }
        }
    }

    /// Orders the translucent draws far to near (by each mesh's first instance origin), so the
    /// common case of separate translucent objects composites right. No allocation: in place.
    fn sort_translucent(&mut self) {
        let Some(globals) = self.last_globals else { return };
        let first = self.draws.partition_point(|d| !d.translucent);
        if self.draws.len() - first < 2 {
            return;
        }
        let eye = glam::Vec4::from(globals.eye);
        let mirror = &self.instance_mirror;
        // Larger is nearer: the negated distance (perspective) or the position along the view axis.
        let nearness = |d: &MeshDraw| {
            let o = glam::Vec3::from_slice(&mirror[d.instances.start as usize].model[3][..3]);
            if eye.w == 0.0 {
                o.dot(eye.truncate())
            } else {
                -o.distance_squared(eye.truncate())
            }
        };
        self.draws[first..].sort_unstable_by(|a, b| nearness(a).total_cmp(&nearness(b)));
    }

    fn encode_and_submit(&self) -> wgpu::SubmissionIndex {
        let device = &self.gpu.device;
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        {
            let (view, resolve_target) = match &self.msaa_view {
                Some(msaa) => (msaa, Some(&self.resolve_view)),
                None => (&self.resolve_view, None),
            };
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("mesh pass"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view,
                    depth_slice: None,
                    resolve_target,
                    ops: wgpu::Operations {
                        // Transparent black: alpha is coverage, as usdrecord writes it.
                        load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                        // The multisampled image is only needed until it is resolved.
                        store: if resolve_target.is_some() {
                            wgpu::StoreOp::Discard
                        } else {
                            wgpu::StoreOp::Store
                        },
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &self.depth_view,
                    // Reversed Z: 0 is the far plane.
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(0.0),
                        store: wgpu::StoreOp::Discard,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            if !self.draws.is_empty() {
                pass.set_bind_group(0, &self.bind_group, &[]);
                pass.set_vertex_buffer(0, self.positions.slice(..));
                pass.set_vertex_buffer(1, self.normals.slice(..));
                pass.set_vertex_buffer(2, self.colors.slice(..));
                pass.set_vertex_buffer(3, self.instances.slice(..));
                pass.set_index_buffer(self.indices.slice(..), wgpu::IndexFormat::Uint32);
                // `draws` holds the opaque meshes first (see `Geometry::build`).
                let mut translucent = false;
                pass.set_pipeline(&self.opaque_pipeline);
                for d in &self.draws {
                    if d.translucent && !translucent {
                        pass.set_pipeline(&self.translucent_pipeline);
                        translucent = true;
                    }
                    pass.draw_indexed(d.indices.clone(), d.base_vertex, d.instances.clone());
                }
            }
        }
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &self.resolve_texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &self.readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.padded_row),
                    rows_per_image: Some(self.height),
                },
            },
            wgpu::Extent3d {
                width: self.width,
                height: self.height,
                depth_or_array_layers: 1,
            },
        );
        self.gpu.queue.submit([encoder.finish()])
    }

    /// Maps the readback buffer, waits for the GPU, and copies the image out without its padding.
    /// Returns how long it waited for the GPU and how long the copy out took.
    fn read_back(
        &self,
        submission: wgpu::SubmissionIndex,
        rgba: &mut Vec<u8>,
    ) -> std::result::Result<(std::time::Duration, std::time::Duration), String> {
        let start = std::time::Instant::now();
        self.map_state.store(0, Ordering::Release);
        let flag = Arc::clone(&self.map_state);
        self.readback.map_async(wgpu::MapMode::Read, .., move |r| {
            flag.store(if r.is_ok() { 1 } else { 2 }, Ordering::Release);
        });
        let mut tries = 0;
        let mut wait = wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: None,
        };
        while self.map_state.load(Ordering::Acquire) == 0 {
            match self.gpu.device.poll(wait.clone()) {
                Ok(_) => {}
                // GL returns Timeout after ~4.29 s even when asked to wait forever: keep waiting.
                Err(wgpu::PollError::Timeout) => log::debug!("{}: still waiting for the GPU", self.label),
                Err(e) => return Err(format!("waiting for the GPU: {e}")),
            }
            if let Some(lost) = self.gpu.lost_reason() {
                return Err(lost);
            }
            tries += 1;
            if tries >= MAX_POLL_TRIES {
                return Err("the GPU did not finish the frame in time".into());
            }
            wait = wgpu::PollType::wait_indefinitely();
        }
        if self.map_state.load(Ordering::Acquire) != 1 {
            return Err(self
                .gpu
                .lost_reason()
                .unwrap_or_else(|| "mapping the readback buffer failed".into()));
        }
        let waited = start.elapsed();
        {
            let view = match self.readback.get_mapped_range(..) {
                Ok(view) => view,
                Err(e) => {
                    // Leave the buffer unmapped so the next frame can map it again.
                    self.readback.unmap();
                    return Err(format!("reading back the image: {e}"));
                }
            };
            match self.encoding {
                ImageEncoding::Srgb => strip_and_unpremultiply(&view, self.width, self.height, self.padded_row, rgba),
                ImageEncoding::UsdRecord => strip_padding(&view, self.width, self.height, self.padded_row, rgba),
            }
        }
        self.readback.unmap();
        Ok((waited, start.elapsed() - waited))
    }
}

/// The highest sample count up to `wanted` that both attachments support for resolving (1 always works).
fn choose_sample_count(adapter: &GpuAdapter, color_format: wgpu::TextureFormat, wanted: u32) -> u32 {
    let color = adapter.slot.adapter.get_texture_format_features(color_format);
    let depth = adapter.slot.adapter.get_texture_format_features(DEPTH_FORMAT);
    let resolvable = color
        .flags
        .contains(wgpu::TextureFormatFeatureFlags::MULTISAMPLE_RESOLVE);
    let wanted = wanted.max(1);
    let mut n = wanted.next_power_of_two().min(16);
    if n > wanted {
        n /= 2;
    }
    while n > 1 {
        if resolvable && color.flags.sample_count_supported(n) && depth.flags.sample_count_supported(n) {
            break;
        }
        n /= 2;
    }
    if n != wanted {
        log::warn!("{}: {wanted}x MSAA not available; using {n}x", adapter.summary.label());
    }
    n
}

/// Validation and out-of-memory scopes around a group of wgpu calls, so errors come back as
/// values (naming the adapter) instead of reaching wgpu's panicking default handler.
struct ErrorScope {
    validation: wgpu::ErrorScopeGuard,
    memory: wgpu::ErrorScopeGuard,
}

impl ErrorScope {
    fn push(device: &wgpu::Device) -> ErrorScope {
        let memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        ErrorScope { validation, memory }
    }

    /// Pops both scopes (innermost first) and reports the first error caught.
    fn pop(self) -> std::result::Result<(), String> {
        let validation = pollster::block_on(self.validation.pop());
        let memory = pollster::block_on(self.memory.pop());
        match (validation, memory) {
            (None, None) => Ok(()),
            (Some(e), _) | (None, Some(e)) => Err(e.to_string()),
        }
    }
}

/// The scene flattened into the buffers the GPU gets: every mesh's vertices and indices
/// concatenated, and the instances sorted by mesh so each mesh is one instanced draw.
struct Geometry {
    positions: Vec<[f32; 3]>,
    normals: Vec<[f32; 3]>,
    colors: Vec<[f32; 4]>,
    indices: Vec<u32>,
    instances: Vec<InstanceRaw>,
    draws: Vec<MeshDraw>,
    dynamic_slots: Vec<Option<usize>>,
    dynamic_meshes: Vec<Option<DynamicMesh>>,
}

impl Geometry {
    fn build(scene: &Scene) -> Geometry {
        let mut g = Geometry {
            positions: Vec::new(),
            normals: Vec::new(),
            colors: Vec::new(),
            indices: Vec::new(),
            instances: Vec::new(),
            draws: Vec::new(),
            dynamic_slots: Vec::new(),
            dynamic_meshes: Vec::new(),
        };
        // Instances of each mesh, in scene order; dynamic ones last within their mesh so the
        // slots written per frame sit closer together.
        let mut is_dynamic = vec![false; scene.instances.len()];
        for &i in &scene.dynamic_instances {
            if let Some(d) = is_dynamic.get_mut(i as usize) {
                *d = true;
            }
        }
        let mut by_mesh: Vec<Vec<usize>> = vec![Vec::new(); scene.meshes.len()];
        for (i, inst) in scene.instances.iter().enumerate() {
            if let Some(list) = by_mesh.get_mut(inst.mesh as usize) {
                list.push(i);
            }
        }
        let mut slot_of_instance: Vec<Option<usize>> = vec![None; scene.instances.len()];
        let mut mesh_vertex_start: Vec<Option<(u64, usize)>> = vec![None; scene.meshes.len()];
        for (m, mesh) in scene.meshes.iter().enumerate() {
            let mut users = std::mem::take(&mut by_mesh[m]);
            let first_vertex = g.positions.len();
            let first_index = g.indices.len();
            let index_count = g.append_mesh(mesh);
            if index_count == 0 || users.is_empty() {
                // Nothing to draw; keep its vertices out of the buffers.
                g.positions.truncate(first_vertex);
                g.normals.truncate(first_vertex);
                g.colors.truncate(first_vertex);
                g.indices.truncate(first_index);
                continue;
            }
            mesh_vertex_start[m] = Some((first_vertex as u64, mesh.positions.len()));
            users.sort_by_key(|&i| is_dynamic[i]);
            let first_slot = g.instances.len();
            for i in users {
                slot_of_instance[i] = Some(g.instances.len());
                g.instances
                    .push(InstanceRaw::new(&scene.instances[i].transform, mesh.double_sided));
            }
            g.draws.push(MeshDraw {
                indices: first_index as u32..(first_index + index_count) as u32,
                base_vertex: first_vertex as i32,
                instances: first_slot as u32..g.instances.len() as u32,
                translucent: g.colors[first_vertex..].iter().any(|c| c[3] < 1.0),
            });
        }
        // Opaque first, then translucent; stable, so scene order holds within each group.
        g.draws.sort_by_key(|d| d.translucent);
        g.dynamic_slots = scene
            .dynamic_instances
            .iter()
            .map(|&i| slot_of_instance.get(i as usize).copied().flatten())
            .collect();
        g.dynamic_meshes = scene
            .dynamic_meshes
            .iter()
            .map(|&m| {
                let (first_vertex, vertex_count) = mesh_vertex_start.get(m as usize).copied().flatten()?;
                let mesh = &scene.meshes[m as usize];
                Some(DynamicMesh {
                    first_vertex,
                    vertex_count,
                    indices: valid_triangles(mesh),
                    warned: false,
                })
            })
            .collect();
        g
    }

    /// Appends one mesh's vertices (normals and colours filled in where missing) and its valid
    /// triangles, with indices local to the mesh (drawn with a base vertex). Returns the index count.
    fn append_mesh(&mut self, mesh: &Mesh) -> usize {
        let n = mesh.positions.len();
        self.positions.extend_from_slice(&mesh.positions);
        if mesh.normals.len() == n {
            self.normals.extend_from_slice(&mesh.normals);
        } else {
            // Zero normals make the shader fall back to the face normal.
            self.normals.resize(self.normals.len() + n, [0.0; 3]);
        }
        match mesh.colors.len() {
            len if len == n => self.colors.extend_from_slice(&mesh.colors),
            // A constant displayColor may arrive as one value.
            1 => self.colors.resize(self.colors.len() + n, mesh.colors[0]),
            _ => self.colors.resize(self.colors.len() + n, FALLBACK_COLOR),
        }
        let tris = valid_triangles(mesh);
        self.indices.extend_from_slice(&tris);
        tris.len()
    }
}

/// The mesh's triangles whose three indices name existing vertices (a bad file must not make the
/// GPU read out of bounds).
fn valid_triangles(mesh: &Mesh) -> Vec<u32> {
    let n = mesh.positions.len() as u32;
    mesh.indices
        .chunks_exact(3)
        .filter(|t| t.iter().all(|&i| i < n))
        .flatten()
        .copied()
        .collect()
}

// Renderers are built on one thread and moved into a worker; adapters are shared between threads.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<Renderer>();
    send_sync::<GpuAdapter>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{Instance, Mat4};

    fn tri(color: [f32; 4]) -> Mesh {
        Mesh {
            positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            colors: vec![color],
            indices: vec![0, 1, 2, 0, 1, 7],
            ..Mesh::default()
        }
    }

    #[test]
    fn geometry_groups_instances_by_mesh_and_drops_bad_triangles() {
        let scene = Scene {
            meshes: vec![tri([1.0; 4]), tri([0.5; 4]), Mesh::default()],
            instances: vec![
                Instance {
                    mesh: 1,
                    transform: Mat4::IDENTITY,
                },
                Instance {
                    mesh: 0,
                    transform: Mat4::IDENTITY,
                },
                Instance {
                    mesh: 1,
                    transform: Mat4::from_translation(glam::Vec3::X),
                },
                Instance {
                    mesh: 2,
                    transform: Mat4::IDENTITY,
                },
                Instance {
                    mesh: 9,
                    transform: Mat4::IDENTITY,
                },
            ],
            dynamic_instances: vec![0, 3, 4],
            dynamic_meshes: vec![1, 2],
            ..Scene::default()
        };
        let g = Geometry::build(&scene);
        assert_eq!(g.positions.len(), 6);
        assert_eq!(g.indices, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(g.draws.len(), 2);
        assert_eq!(
            (g.draws[0].instances.clone(), g.draws[1].instances.clone()),
            (0..1, 1..3)
        );
        assert_eq!(g.draws[1].base_vertex, 3);
        // Scene instance 0 is dynamic: last among mesh 1's instances.
        assert_eq!(g.dynamic_slots, vec![Some(2), None, None]);
        assert_eq!(g.dynamic_meshes[0].as_ref().map(|d| d.first_vertex), Some(3));
        assert!(g.dynamic_meshes[1].is_none());
        assert_eq!(g.colors[4], [0.5; 4]);
    }
}
