//! One renderer per device: pipelines and static geometry built once, then per frame only the
//! camera uniforms, the changed instance matrices and animated vertices are written, one render
//! pass draws every mesh once (instanced), and the resolved image is read back.
//!
//! Frames are pipelined: [`Renderer::submit`] records and submits a frame into one of
//! [`FRAMES_IN_FLIGHT`] readback slots and starts mapping it; [`Renderer::finish`] waits for that
//! frame only and copies it out, while later frames keep the GPU busy. Per-pixel work after the
//! render pass (linear output, AOV gathering) runs as compute passes; everything a frame reads back
//! goes into its slot's one buffer, so one map per frame covers image, floats, AOVs and timestamps.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use wgpu::util::DeviceExt;

use super::adapters::{GpuAdapter, SharedDevice};
use super::encode::SubFrame;
use super::geometry::{canonical_materials, DynamicMesh, Geometry, GeometryBuffers, MeshDraw};
use super::layout::{BackgroundParams, Globals, InstanceRaw, LightRaw, MaterialRaw, MotionParams};
use super::pipelines::{MeshPipelines, OpaquePipelines, AOV_FORMATS, COLOR_FORMAT, DEPTH_FORMAT, LINEAR_FORMAT};
use super::post::{AovStage, ComputeStage, MotionStage};
use super::readback::{
    copy_pod, padded_bytes_per_row, strip_padding, wait_for, FrameBuffers, Readback, ReadbackLayout, Segment, Slot,
    Ticket, Timestamps, MAP_DONE, MAP_FAILED, MAP_PENDING, TS_FRAME_BEGIN, TS_PASS_BEGIN, TS_PASS_END, TS_POST_END,
};
pub use super::settings::{AovKind, ImageEncoding, RenderSettings};
use super::shading::{assign_table_entries, pack_material};
use super::shadows::{ShadowMaps, Shadows};
use super::targets::{Oit, Targets};
use super::textures::{SceneTextures, TableEntry};
use super::visibility::{ShadingPath, Visibility, VisibilityInputs};
use crate::scene::{Facing, FrameState, Headlight, Light, Look, Scene};
use crate::{Error, Result};

/// Frames one renderer can have submitted and not yet finished. Each owns a readback buffer, so
/// the GPU renders frame N+1 while the host copies frame N out (shared/GPU.md: a ring of 3 buffers
/// gave 186 against 149 fps on the H100). The render targets are shared: the queue runs frames in
/// order, and wgpu orders the writes of frame N+1 after the copies of frame N.
pub const FRAMES_IN_FLIGHT: usize = 3;
/// Renders frames of one [`Scene`] on one device. `Send`: build it, then move it to its worker.
pub struct Renderer {
    pub(super) summary: super::AdapterSummary,
    pub(super) label: String,
    pub(super) gpu: SharedDevice,
    pub(super) width: u32,
    /// Pixels drawn (x, y, width, height): the harness's data window; `None`: all.
    pub(super) scissor: Option<[u32; 4]>,
    pub(super) height: u32,
    /// Width over height of one pixel ([`RenderSettings::pixel_aspect`]).
    pub(super) pixel_aspect: f64,
    pub(super) sample_count: u32,
    pub(super) encoding: ImageEncoding,
    /// Linear output: the colour target is half float and `color_pass` derives the images.
    pub(super) color_pass: Option<ComputeStage>,
    /// Motion blur's accumulation pass, when the settings ask for motion blur.
    pub(super) motion: Option<MotionStage>,
    /// AOV attachments and the pass that gathers them, when AOVs are asked for.
    pub(super) aov: Option<AovStage>,
    pub(super) opaque_pipelines: OpaquePipelines,
    /// Present when opaque surfaces are shaded in compute (then the prepass and mesh pass are not
    /// run).
    pub(super) visibility: Option<Visibility>,
    /// The scene's texture table, as the compute shading pass binds it (empty without it).
    pub(super) texture_table: Vec<TableEntry>,
    pub(super) depth_pipeline: wgpu::RenderPipeline,
    pub(super) prepass: bool,
    pub(super) translucent_pipeline: wgpu::RenderPipeline,
    /// Present when the scene has blended draws.
    pub(super) oit: Option<Oit>,
    /// Present when some light may cast shadows.
    pub(super) shadows: Option<Shadows>,
    pub(super) shadow_views: wgpu::Buffer,
    /// What the colour pass needs to composite the background (dome, OIT), per frame.
    pub(super) background_buffer: wgpu::Buffer,
    pub(super) last_background: Option<BackgroundParams>,
    pub(super) dome_visible: bool,
    pub(super) shows_dome: bool,
    pub(super) globals_buffer: wgpu::Buffer,
    pub(super) bind_group: wgpu::BindGroup,
    /// One per `Scene::materials` entry: its textures and samplers.
    pub(super) material_groups: Vec<wgpu::BindGroup>,
    /// Their layout, for an animated material whose texture files change.
    pub(super) materials_layout: wgpu::BindGroupLayout,
    pub(super) materials_buffer: wgpu::Buffer,
    /// The scene's materials as packed at load, so dynamic ones can be repacked per frame.
    pub(super) materials: Vec<crate::scene::Material>,
    pub(super) dynamic_materials: Vec<u32>,
    pub(super) textures: SceneTextures,
    pub(super) lights_buffer: wgpu::Buffer,
    /// The stage's lights as of the last frame (dynamic ones replaced per frame).
    pub(super) stage_lights: Vec<Light>,
    pub(super) dynamic_lights: Vec<u32>,
    /// This frame's packed lights, and what was last written to the buffer.
    pub(super) light_scratch: Vec<LightRaw>,
    /// Animated vertices gathered per frame so meshes adjacent in the vertex buffers are
    /// written in one call (a crowd's thousand skinned meshes: two writes, not two thousand).
    pub(super) vertex_scratch: (Vec<[f32; 3]>, Vec<[f32; 3]>),
    pub(super) written_lights: Vec<LightRaw>,
    pub(super) look: Look,
    pub(super) headlight: Headlight,
    pub(super) clear_color: wgpu::Color,
    /// The first dome light's texture mip count (0: no textured dome).
    pub(super) dome_mips: u32,
    /// The textured dome's irradiance (SH9, divided by pi).
    pub(super) dome_sh: [[f32; 4]; 9],
    /// The vertex streams, instance buffer and indices, uploaded once.
    pub(super) buffers: GeometryBuffers,
    pub(super) draws: Vec<MeshDraw>,
    /// The skinning compute pass, where the scene has skinned meshes and the device runs it.
    pub(super) skinning: Option<super::skinning::GpuSkinning>,
    /// The scene's skinned meshes (for the CPU fallback) and, per `Scene::dynamic_meshes`
    /// entry, which of them it is.
    pub(super) animation: Arc<crate::scene::animation::Animation>,
    pub(super) skinned_slots: Vec<Option<usize>>,
    /// CPU copy of the instance buffer, so a frame writes only the slots that changed.
    pub(super) instance_mirror: Vec<InstanceRaw>,
    /// Buffer slot of each `Scene::dynamic_instances` entry (`None`: its mesh draws nothing).
    pub(super) dynamic_slots: Vec<Option<usize>>,
    /// One entry per `Scene::dynamic_meshes` entry (`None`: the mesh draws nothing).
    pub(super) dynamic_meshes: Vec<Option<DynamicMesh>>,
    pub(super) last_globals: Option<Globals>,
    pub(super) msaa_view: Option<wgpu::TextureView>,
    pub(super) resolve_view: wgpu::TextureView,
    pub(super) depth_view: wgpu::TextureView,
    /// Bytes per row of the colour image in the readback buffers (256-aligned).
    pub(super) padded_row: u32,
    /// Where each part of a frame lands in a slot's readback buffer.
    pub(super) layout: ReadbackLayout,
    /// The readback ring: one slot per frame in flight.
    pub(super) slots: Vec<Slot>,
    /// Where the next frame goes first (round robin, so slots are reused evenly).
    pub(super) next_slot: usize,
    /// Render-pass timing, where the device has `TIMESTAMP_QUERY`.
    pub(super) timestamps: Option<Timestamps>,
    pub(super) last_gpu_ms: Option<f64>,
    pub(super) last_gpu_frame_ms: Option<f64>,
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
        // Shading and blending are linear; the colour pass derives the 8-bit image (and the
        // linear floats when asked) from the resolved target: half float for linear output, 8-bit
        // sRGB-encoded otherwise (COLOR_FORMAT says why).
        let color_format = if settings.linear { LINEAR_FORMAT } else { COLOR_FORMAT };
        let with_aovs = !settings.aovs.is_empty();
        let camera_facing = scene.meshes.iter().any(|m| m.facing != Facing::Surface);
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
        let sample_count = choose_sample_count(adapter, &gpu.device, color_format, with_aovs, settings.msaa);
        let device = &gpu.device;
        let scope = ErrorScope::push(device);
        let MeshPipelines {
            globals_layout: bind_group_layout,
            materials_layout,
            vertex_buffers,
            opaque: opaque_pipelines,
            depth: depth_pipeline,
            translucent: translucent_pipeline,
        } = MeshPipelines::new(device, color_format, sample_count, with_aovs, camera_facing);

        let globals_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("globals"),
            size: std::mem::size_of::<Globals>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        // Materials (entry 0 the displayColor fallback, whatever the scene brings), their
        // textures, and the lights: uploaded once; dynamic ones are rewritten per frame.
        let mut materials = scene.materials.clone();
        if materials.first().map(|m| m.model) != Some(crate::scene::material::ShadingModel::DisplayColor) {
            materials.insert(0, crate::scene::Material::display_color());
        }
        let material_shift = (materials.len() != scene.materials.len()) as u32;
        let mut textures = SceneTextures::upload(device, &gpu.queue, scene, &label);
        let mut packed: Vec<MaterialRaw> = materials
            .iter()
            .map(|m| pack_material(m, |i| textures.tiles(i)))
            .collect();
        // The compute shading pass reads textures through one table for the whole scene.
        let dynamic_materials: Vec<u32> = scene.dynamic_materials.iter().map(|&i| i + material_shift).collect();
        let table_slots = super::visibility::table_slots(&device.limits());
        let texture_table = textures.table_entries(&materials, &dynamic_materials, table_slots);
        if let Some(table) = &texture_table {
            for (raw, m) in packed.iter_mut().zip(&materials) {
                assign_table_entries(raw, m, table);
            }
        }
        let table_layout = super::textures::table_layout(device, table_slots);
        let table_group = texture_table
            .as_ref()
            .map(|table| textures.table_bind_group(device, &table_layout, table, table_slots));
        // Materials equal but for their path (each reference of an asset brings its own copy:
        // the teapot field has 1,600) share one entry, so their instances stay one draw. Animated
        // ones keep their own.
        let canonical = canonical_materials(&materials, &packed, &scene.dynamic_materials, material_shift);
        let materials_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("materials"),
            contents: bytemuck::cast_slice(&packed),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        });
        let material_groups: Vec<wgpu::BindGroup> = materials
            .iter()
            .map(|m| textures.bind_group(device, &materials_layout, m))
            .collect();
        // Stage lights, the headlight, and one spare for the harness rig.
        let light_capacity = scene.lights.len() + 2;
        let lights_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("lights"),
            size: (light_capacity * std::mem::size_of::<LightRaw>()) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let dome_texture = scene.lights.iter().find_map(|l| match l.kind {
            crate::scene::LightKind::Dome { texture } => Some(texture),
            _ => None,
        });
        let dome = dome_texture.flatten().and_then(|i| textures.get(i));
        let dome_mips = dome.map_or(0, |d| d.mip_levels);
        let dome_sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("dome sampler"),
            address_mode_u: wgpu::AddressMode::Repeat,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            mipmap_filter: wgpu::MipmapFilterMode::Linear,
            ..Default::default()
        });
        // Shadow maps, where a light may cast shadows (a 1x1 placeholder otherwise).
        let ShadowMaps {
            array: shadow_array,
            views: shadow_views,
            sampler: shadow_sampler,
            shadows,
        } = ShadowMaps::new(
            device,
            scene,
            limits.max_texture_dimension_2d,
            [vertex_buffers[0].clone(), vertex_buffers[3].clone()],
        );
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("globals bind group"),
            layout: &bind_group_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: globals_buffer.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: lights_buffer.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: materials_buffer.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::TextureView(dome.map_or(&textures.placeholder, |d| &d.view)),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: wgpu::BindingResource::Sampler(&dome_sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 5,
                    resource: shadow_views.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 6,
                    resource: wgpu::BindingResource::TextureView(&shadow_array),
                },
                wgpu::BindGroupEntry {
                    binding: 7,
                    resource: wgpu::BindingResource::Sampler(&shadow_sampler),
                },
            ],
        });

        let geometry = Geometry::build(scene, &materials, material_shift, &canonical);
        // The prepass pays where shading is expensive (PreviewSurface); on displayColor-only
        // scenes it costs more than it saves (H100, 1080p: the bundled scene 2.73 -> 2.94 ms, the
        // teapot field 23.2 -> 19.2 ms, the lit teapot field 47.7 -> 30.3 ms).
        let prepass = geometry.draws.iter().any(|d| d.preview && !d.translucent && !d.cutout);
        let buffers = GeometryBuffers::upload(device, &geometry, &limits).map_err(err)?;
        // Skinned meshes are posed in a compute pass from rest data uploaded here; where the
        // device cannot run it, `write_frame_state` skins them on the CPU.
        let skinning = match super::skinning::GpuSkinning::new(
            device,
            adapter.slot.adapter.get_info().backend,
            &scene.animation.skinned,
            &geometry.dynamic_meshes,
            &buffers.positions,
            &buffers.normals,
        ) {
            Ok(s) => s,
            Err(why) => {
                log::info!("{label}: skinned meshes are posed on the CPU: {why}");
                None
            }
        };
        let mut skinned_slots = vec![None; scene.dynamic_meshes.len()];
        for (i, m) in scene.animation.skinned.iter().enumerate() {
            if let Some(s) = skinned_slots.get_mut(m.slot) {
                *s = Some(i);
            }
        }

        // Opaque surfaces are shaded in compute over a visibility buffer where the device and the
        // scene allow it and it pays: with UsdPreviewSurface materials (on the H100 the teapot
        // field's frame went from 18.1 to 9.4 ms of GPU time); displayColor-only scenes cost more
        // that way (the bundled scene 2.44 -> 3.46 ms) and are shaded forward unless asked
        // (docs/design.md, "Shading").
        let pays = geometry.draws.iter().any(|d| d.preview && !d.translucent);
        let compute_blocker = if with_aovs {
            Some("AOVs are drawn by the forward pass".to_string())
        } else if !geometry.draws.iter().any(|d| !d.translucent) {
            Some("the scene has no opaque surfaces".to_string())
        } else if texture_table.is_none() {
            Some(format!("its materials read more than {table_slots} textures"))
        } else {
            super::visibility::unavailable(device, &adapter.slot.adapter, sample_count)
        };
        let compute = match (settings.shading, compute_blocker) {
            (ShadingPath::Forward, _) => false,
            (ShadingPath::Auto, None) => pays,
            (ShadingPath::Compute, None) => true,
            (ShadingPath::Auto, Some(why)) => {
                log::debug!("{label}: opaque surfaces shaded forward: {why}");
                false
            }
            (ShadingPath::Compute, Some(why)) => {
                return Err(err(format!("cannot shade in a compute pass: {why}")));
            }
        };
        let texture_table = texture_table.unwrap_or_default();
        let visibility = table_group.filter(|_| compute).map(|table_group| {
            Visibility::new(VisibilityInputs {
                device,
                width: settings.width,
                height: settings.height,
                sample_count,
                depth_format: DEPTH_FORMAT,
                globals_layout: &bind_group_layout,
                materials_layout: &materials_layout,
                table_layout: &table_layout,
                table_slots,
                vertex_buffers: &vertex_buffers,
                table_group,
                textured: !texture_table.is_empty(),
                camera_facing,
                positions: &buffers.positions,
                normals: &buffers.normals,
                colors: &buffers.colors,
                uvs: &buffers.uvs,
                indices: &buffers.indices,
                instances: &buffers.instances,
                mesh_ranges: &geometry.mesh_ranges,
            })
        });

        let Targets {
            resolve_view,
            msaa_view,
            depth_view,
        } = Targets::new(
            device,
            (settings.width, settings.height),
            color_format,
            sample_count,
            visibility.is_none(),
        );
        let padded_row = padded_bytes_per_row(settings.width);
        let timestamps = Timestamps::new(device, &gpu.queue, FRAMES_IN_FLIGHT);
        let layout = ReadbackLayout::new(settings, padded_row, timestamps.is_some());

        // Blended surfaces: weighted blended order-independent transparency. Their pass adds into
        // `accum` and multiplies `reveal`; the colour pass composites both over the opaque image.
        let oit = geometry
            .draws
            .iter()
            .any(|d| d.translucent)
            .then(|| Oit::new(device, (settings.width, settings.height), sample_count));
        let background_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("background params"),
            size: std::mem::size_of::<BackgroundParams>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let (color_pass, motion) = super::post::color_pass(
            device,
            settings,
            encoding,
            super::post::ColorPassInputs {
                shaded: visibility.as_ref().map_or(&resolve_view, |v| &v.shaded_view),
                oit: oit.as_ref().map(|o| (&o.accum, &o.reveal)),
                placeholder: &textures.placeholder,
                background: &background_buffer,
                dome: dome.map_or(&textures.placeholder, |d| &d.view),
                dome_sampler: &dome_sampler,
            },
        );
        let color_pass = Some(color_pass);
        let aov = with_aovs.then(|| super::post::aov_stage(device, settings, sample_count));
        let slots = Slot::ring(device, layout.size, FRAMES_IN_FLIGHT);
        scope.pop().map_err(|e| err(format!("building the renderer: {e}")))?;

        log::debug!(
            "{label}: uploaded {} vertices, {} triangles, {} instance slots; {}x{} at {sample_count}x MSAA; \
             opaque surfaces shaded {}",
            geometry.positions.len(),
            geometry.indices.len() / 3,
            geometry.instances.len(),
            settings.width,
            settings.height,
            if visibility.is_some() { "in compute" } else { "forward" }
        );
        Ok(Renderer {
            summary: adapter.summary.clone(),
            label,
            gpu: gpu.clone(),
            width: settings.width,
            scissor: settings
                .scissor
                .filter(|r| r[0] < settings.width && r[1] < settings.height && r[2] > 0 && r[3] > 0)
                .map(|[x, y, w, h]| {
                    super::raster::framebuffer_rect(
                        [x, y, w.min(settings.width - x), h.min(settings.height - y)],
                        settings.height,
                    )
                }),
            height: settings.height,
            pixel_aspect: settings.pixel_aspect,
            sample_count,
            encoding,
            color_pass,
            motion,
            aov,
            opaque_pipelines,
            visibility,
            texture_table,
            depth_pipeline,
            prepass,
            translucent_pipeline,
            oit,
            shadows,
            shadow_views,
            background_buffer,
            last_background: None,
            dome_visible: settings.dome_visible,
            // The dome, when shown, is what is behind the geometry: it replaces the clear colour.
            shows_dome: settings.dome_visible
                && scene
                    .lights
                    .iter()
                    .any(|l| matches!(l.kind, crate::scene::LightKind::Dome { .. })),
            globals_buffer,
            bind_group,
            material_groups,
            materials_buffer,
            materials,
            dynamic_materials,
            materials_layout,
            textures,
            lights_buffer,
            stage_lights: scene.lights.clone(),
            dynamic_lights: scene.dynamic_lights.clone(),
            light_scratch: Vec::with_capacity(light_capacity),
            vertex_scratch: (Vec::new(), Vec::new()),
            written_lights: Vec::with_capacity(light_capacity),
            look: settings.look,
            headlight: settings.headlight,
            // The target holds premultiplied colour.
            clear_color: {
                let [r, g, b, a] = settings.clear_color.map(|c| c.clamp(0.0, 65504.0) as f64);
                let a = a.min(1.0);
                wgpu::Color {
                    r: r * a,
                    g: g * a,
                    b: b * a,
                    a,
                }
            },
            dome_mips,
            dome_sh: dome_texture
                .flatten()
                .and_then(|i| scene.textures.get(i as usize))
                .map_or_else(uniform_sh, |t| dome_irradiance(t)),
            buffers,
            skinning,
            animation: scene.animation.clone(),
            skinned_slots,
            draws: geometry.draws,
            instance_mirror: geometry.instances,
            dynamic_slots: geometry.dynamic_slots,
            dynamic_meshes: geometry.dynamic_meshes,
            last_globals: None,
            msaa_view,
            resolve_view,
            depth_view,
            padded_row,
            layout,
            slots,
            next_slot: 0,
            timestamps,
            last_gpu_ms: None,
            last_gpu_frame_ms: None,
        })
    }

    /// Whether opaque surfaces are shaded in the compute pass (else forward).
    pub fn shades_in_compute(&self) -> bool {
        self.visibility.is_some()
    }

    /// Whether skinned meshes are posed in the skinning compute pass (else on the CPU).
    pub fn skins_on_gpu(&self) -> bool {
        self.skinning.is_some()
    }

    /// The animated meshes' vertices as the device holds them after the frames submitted so far
    /// (one entry per `Scene::dynamic_meshes` entry, empty where the mesh draws nothing): what the
    /// skinning pass wrote, for tests and debugging. Waits for the GPU.
    pub fn read_dynamic_vertices(&self) -> Result<Vec<crate::scene::MeshVertices>> {
        let device = &self.gpu.device;
        let size = self.buffers.positions.size();
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vertex readback"),
            size: size * 2,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("vertex readback"),
        });
        encoder.copy_buffer_to_buffer(&self.buffers.positions, 0, &staging, 0, size);
        encoder.copy_buffer_to_buffer(&self.buffers.normals, 0, &staging, size, size);
        let submission = self.gpu.queue.submit([encoder.finish()]);
        let flag = Arc::new(std::sync::atomic::AtomicU8::new(MAP_PENDING));
        let done = Arc::clone(&flag);
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            done.store(if r.is_ok() { MAP_DONE } else { MAP_FAILED }, Ordering::Release);
        });
        wait_for(&self.gpu, &self.label, &submission, Some(&flag)).map_err(|e| self.err(e))?;
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| self.err(format!("reading back the vertices: {e}")))?;
        let floats: &[[f32; 3]] = bytemuck::cast_slice(&view);
        let (positions, normals) = floats.split_at(floats.len() / 2);
        let out = self
            .dynamic_meshes
            .iter()
            .map(|dm| {
                dm.as_ref().map_or_else(Default::default, |dm| {
                    let range = dm.first_vertex as usize..dm.first_vertex as usize + dm.vertex_count;
                    crate::scene::MeshVertices {
                        positions: positions[range.clone()].to_vec(),
                        normals: normals[range].to_vec(),
                    }
                })
            })
            .collect();
        drop(view);
        staging.unmap();
        Ok(out)
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
    /// Submits and waits: [`Renderer::submit`] and [`Renderer::finish`] keep several frames in flight.
    pub fn render(&mut self, state: &FrameState, rgba: &mut Vec<u8>) -> Result<()> {
        let mut out = FrameBuffers {
            rgba: std::mem::take(rgba),
            ..FrameBuffers::default()
        };
        let result = self.render_frame(state, &mut out);
        *rgba = out.rgba;
        result
    }

    /// Renders one frame into `out` (image, and what the settings asked for besides) and waits.
    pub fn render_frame(&mut self, state: &FrameState, out: &mut FrameBuffers) -> Result<()> {
        let ticket = self.submit(state)?;
        self.finish(ticket, out)?;
        out.straighten();
        Ok(())
    }

    /// How many frames can be submitted before one must be finished.
    pub fn frames_in_flight(&self) -> usize {
        self.slots.len()
    }

    /// Writes the frame's changes, records the pass and the copy into a free readback slot, submits
    /// and starts mapping; returns at once. Fails when [`FRAMES_IN_FLIGHT`] frames are already
    /// submitted and not finished.
    pub fn submit(&mut self, state: &FrameState) -> Result<Ticket> {
        self.submit_with(state, Readback::Frame)
    }

    /// Waits for a submitted frame and copies it into `out`. The ticket's slot is free again
    /// afterwards, whether or not the frame succeeded.
    pub fn finish(&mut self, ticket: Ticket, out: &mut FrameBuffers) -> Result<()> {
        let result = self.wait_and_copy(&ticket, Some(out));
        self.slots[ticket.slot].busy = false;
        result.map_err(|reason| self.err(format!("frame {}: {reason}", ticket.frame)))
    }

    /// Renders one frame and waits for the GPU without copying the image out (for benchmarks: the
    /// render-only figure). The compute passes of linear output and AOVs still run (they are part
    /// of making the frame); no copy into a readback buffer is recorded. Only the timestamps, where
    /// there are any, are read back.
    pub fn render_only(&mut self, state: &FrameState) -> Result<()> {
        let ticket = self.submit_with(state, Readback::TimingOnly)?;
        let result = self.wait_and_copy(&ticket, None);
        self.slots[ticket.slot].busy = false;
        result.map_err(|reason| self.err(format!("frame {}: {reason}", ticket.frame)))
    }

    /// GPU time of the render pass of the last finished frame, in milliseconds, where the adapter
    /// has timestamp queries (`None` elsewhere, and before the first frame).
    pub fn last_gpu_ms(&self) -> Option<f64> {
        self.last_gpu_ms
    }

    /// GPU time of the last finished frame's whole submission but the readback copies: shadow
    /// maps, the shading passes and the post passes after them (colour conversion, AOV gather), in
    /// milliseconds, where the adapter has timestamp queries.
    pub fn last_gpu_frame_ms(&self) -> Option<f64> {
        self.last_gpu_frame_ms
    }

    fn submit_with(&mut self, state: &FrameState, readback: Readback) -> Result<Ticket> {
        if let Some(lost) = self.gpu.lost_reason() {
            return Err(self.err(lost));
        }
        // Motion blur: the shutter's other samples first, the one nearest its centre last.
        let samples = state.motion.len() + 1;
        for sample in state.motion.iter().chain([state]) {
            if sample.instance_transforms.len() != self.dynamic_slots.len()
                || sample.mesh_vertices.len() != self.dynamic_meshes.len()
            {
                return Err(self.err(format!(
                    "frame {} brings {} instance transforms and {} meshes; the scene has {} and {}",
                    sample.frame,
                    sample.instance_transforms.len(),
                    sample.mesh_vertices.len(),
                    self.dynamic_slots.len(),
                    self.dynamic_meshes.len()
                )));
            }
        }
        if samples > 1 && self.motion.is_none() {
            return Err(self.err(format!(
                "frame {} brings {samples} shutter samples; this renderer was built without motion blur",
                state.frame
            )));
        }
        let n = self.slots.len();
        let Some(slot) = (0..n).map(|i| (self.next_slot + i) % n).find(|&i| !self.slots[i].busy) else {
            return Err(self.err(format!(
                "frame {}: {n} frames are already in flight; finish one first",
                state.frame
            )));
        };
        let start = std::time::Instant::now();
        let scope = ErrorScope::push(&self.gpu.device);
        for (k, sample) in state.motion.iter().enumerate() {
            self.submit_sample(sample, k, samples, slot, readback);
        }
        let submission = self.submit_sample(state, samples - 1, samples, slot, readback);
        let mapped = match readback {
            Readback::Frame => Some(Segment {
                offset: 0,
                size: self.layout.size,
            }),
            Readback::TimingOnly => self.layout.timestamps,
        };
        if let Some(seg) = mapped {
            // Mapping starts now and completes once the GPU is done with this submission; the
            // host meanwhile records the next frames.
            let s = &self.slots[slot];
            s.map.store(MAP_PENDING, Ordering::Release);
            let flag = Arc::clone(&s.map);
            s.buffer.map_async(wgpu::MapMode::Read, seg.range(), move |r| {
                flag.store(if r.is_ok() { MAP_DONE } else { MAP_FAILED }, Ordering::Release);
            });
        }
        if let Err(e) = scope.pop() {
            // What this frame drew into the shadow maps cannot be trusted.
            if let Some(shadows) = &mut self.shadows {
                for layer in &mut shadows.layers {
                    layer.stale = true;
                }
            }
            if mapped.is_some() {
                // Cancels the pending mapping, so the slot can be used again.
                self.slots[slot].buffer.unmap();
            }
            return Err(self.err(format!("frame {}: {e}", state.frame)));
        }
        self.slots[slot].busy = true;
        self.next_slot = (slot + 1) % n;
        Ok(Ticket {
            slot,
            frame: state.frame,
            submission,
            readback,
            mapped,
            submitted: std::time::Instant::now(),
            record_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Writes shutter sample `k` of `samples` (the whole frame when `samples` is 1) and submits
    /// its commands. Each sample is its own submission, so the queue's writes (this sample's
    /// matrices and vertices) land between the previous sample's commands and this one's.
    fn submit_sample(
        &mut self,
        sample: &FrameState,
        k: usize,
        samples: usize,
        slot: usize,
        readback: Readback,
    ) -> wgpu::SubmissionIndex {
        self.write_frame_state(sample);
        if let Some(m) = &self.motion {
            let params = MotionParams {
                before: k as u32,
                _pad: [0; 3],
            };
            self.gpu.queue.write_buffer(&m.params, 0, bytemuck::bytes_of(&params));
        }
        let part = SubFrame {
            first: k == 0,
            last: k + 1 == samples,
        };
        self.encode_and_submit(slot, readback, part)
    }

    /// Waits until the ticket's submission is done and its mapping (if any) complete, then copies
    /// the image into `out` (when given) and reads the pass time. Unmaps the slot on every path.
    fn wait_and_copy(&mut self, ticket: &Ticket, out: Option<&mut FrameBuffers>) -> std::result::Result<(), String> {
        let waited_from = std::time::Instant::now();
        let slot = &self.slots[ticket.slot];
        let waited = wait_for(
            &self.gpu,
            &self.label,
            &ticket.submission,
            ticket.mapped.map(|_| &*slot.map),
        );
        let Some(seg) = ticket.mapped else {
            return waited;
        };
        if let Err(e) = waited {
            if slot.map.load(Ordering::Acquire) != MAP_FAILED {
                // Still pending (or done): unmapping cancels or releases it, so the slot works again.
                slot.buffer.unmap();
            }
            return Err(e);
        }
        let wait_ms = waited_from.elapsed().as_secs_f64() * 1e3;
        let copy_from = std::time::Instant::now();
        let copied = (|| {
            let view = slot
                .buffer
                .get_mapped_range(seg.range())
                .map_err(|e| format!("reading back the image: {e}"))?;
            // Offsets inside the view are relative to the mapped segment.
            let part = |s: Segment| -> &[u8] {
                let from = (s.offset - seg.offset) as usize;
                view.get(from..from + s.size as usize).unwrap_or(&[])
            };
            let gpu_ms = self.layout.timestamps.and_then(|ts| {
                let bytes = part(ts);
                let tick = |i: usize| {
                    bytes
                        .get(i * 8..i * 8 + 8)
                        .and_then(|b| b.try_into().ok())
                        .map(u64::from_le_bytes)
                };
                let at = |which: u32| tick(which as usize);
                let (begin, end) = (at(TS_PASS_BEGIN)?, at(TS_PASS_END)?);
                let (start, post) = (at(TS_FRAME_BEGIN)?, at(TS_POST_END)?);
                let ms = |ticks: u64| ticks as f64 * self.timestamps.as_ref().map_or(1.0, |t| t.period_ns) / 1e6;
                // A wrapped or reset counter gives nonsense: leave the last good figure.
                (end > begin && post >= end && begin >= start).then(|| (ms(end - begin), ms(post - start)))
            });
            if let (Some(out), Readback::Frame) = (out, ticket.readback) {
                let color = part(self.layout.color);
                if self.layout.color_tight {
                    // The colour pass already unpremultiplied (or not, for UsdRecord) and packed it.
                    copy_pod(color, &mut out.rgba);
                    out.premultiplied = false;
                } else {
                    // A plain copy here; straight alpha, where wanted, is the caller's
                    // `straighten()`, off the thread that feeds the GPU.
                    strip_padding(color, self.width, self.height, self.padded_row, &mut out.rgba);
                    out.premultiplied = self.encoding == ImageEncoding::Srgb;
                }
                let or_empty = |s: Option<Segment>| s.map_or(&[][..], part);
                copy_pod(or_empty(self.layout.linear), &mut out.linear);
                copy_pod(or_empty(self.layout.aovs[0]), &mut out.depth);
                copy_pod(or_empty(self.layout.aovs[1]), &mut out.normal);
                copy_pod(or_empty(self.layout.aovs[2]), &mut out.prim_id);
                copy_pod(or_empty(self.layout.aovs[3]), &mut out.instance_id);
            }
            Ok::<_, String>(gpu_ms)
        })();
        slot.buffer.unmap();
        let gpu_ms = copied?;
        if let Some((pass, frame)) = gpu_ms {
            self.last_gpu_ms = Some(pass);
            self.last_gpu_frame_ms = Some(frame);
        }
        log::debug!(
            "{}: frame {}: record+submit {:.2} ms, in flight {:.2} ms, GPU wait {:.2} ms, copy out {:.2} ms, GPU pass {}",
            self.label,
            ticket.frame,
            ticket.record_ms,
            (waited_from - ticket.submitted).as_secs_f64() * 1e3,
            wait_ms,
            copy_from.elapsed().as_secs_f64() * 1e3,
            gpu_ms.map_or("-".into(), |(pass, frame)| format!("{pass:.2} ms, frame {frame:.2} ms"))
        );
        Ok(())
    }
}

/// SH9 coefficients of a constant environment of radiance 1 (irradiance / pi = 1 everywhere).
pub(super) fn uniform_sh() -> [[f32; 4]; 9] {
    let mut sh = [[0.0; 4]; 9];
    // Y00 = 0.282095: E/pi = c0 * Y00 = 1.
    sh[0] = [1.0 / 0.282_095, 1.0 / 0.282_095, 1.0 / 0.282_095, 0.0];
    sh
}

/// The dome texture's diffuse irradiance as SH9 (divided by pi), as the shader evaluates it.
fn dome_irradiance(texture: &crate::scene::Texture) -> [[f32; 4]; 9] {
    let sh = crate::texture::irradiance_sh9(texture);
    sh.map(|c| {
        [
            c[0] / std::f32::consts::PI,
            c[1] / std::f32::consts::PI,
            c[2] / std::f32::consts::PI,
            0.0,
        ]
    })
}

/// The highest sample count up to `wanted` that every attachment supports (the colour one also
/// for resolving; the AOV ones, when asked for, for rendering). 1 always works.
fn choose_sample_count(
    adapter: &GpuAdapter,
    device: &wgpu::Device,
    color_format: wgpu::TextureFormat,
    aovs: bool,
    wanted: u32,
) -> u32 {
    let features = |f: wgpu::TextureFormat| super::raster::format_features(&adapter.slot.adapter, device, f);
    let color = features(color_format);
    let depth = features(DEPTH_FORMAT);
    let aov_features: Vec<_> = if aovs {
        AOV_FORMATS.iter().map(|&f| features(f)).collect()
    } else {
        Vec::new()
    };
    let resolvable = color
        .flags
        .contains(wgpu::TextureFormatFeatureFlags::MULTISAMPLE_RESOLVE);
    let wanted = wanted.max(1);
    let mut n = wanted.next_power_of_two().min(16);
    if n > wanted {
        n /= 2;
    }
    while n > 1 {
        if resolvable
            && color.flags.sample_count_supported(n)
            && depth.flags.sample_count_supported(n)
            && aov_features.iter().all(|f| f.flags.sample_count_supported(n))
        {
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

// Renderers are built on one thread and moved into a worker; adapters are shared between threads.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<Renderer>();
    send_sync::<GpuAdapter>();
};
