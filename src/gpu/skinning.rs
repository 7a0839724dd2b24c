//! UsdSkel skinning in a compute pass (`shaders/skinning.wgsl`), from rest data uploaded once.
//!
//! At upload, every skinned mesh the GPU can pose ([`SkinnedMesh::on_gpu`], with a slot in the
//! vertex buffers) is packed into three static buffers: rest points, joint influences (rigid or
//! per point), blend-shape offsets listed per point, a point -> triangles adjacency for smooth
//! normals, and where each drawn vertex's point is. Per frame only the poses are written: one
//! skinning matrix per joint of each distinct pose (with its dual-quaternion split where a mesh
//! asks for dual quaternions), per mesh the skeleton-to-mesh matrix, and the blend-shape weights,
//! already split between in-betweens on the CPU ([`BlendShape::sub_shape_weights`]: a handful of
//! numbers per shape, not per point). Three dispatches then skin the points, sum their normals and
//! write both into the renderer's vertex buffers, before anything reads them (shadow maps
//! included).
//!
//! A mesh whose frame slot arrives filled (the CPU skinned it: subdivided meshes, tests) is left
//! to the ordinary vertex upload; a device without the pass gets the CPU path in
//! `upload.rs` instead.
//!
//! [`BlendShape::sub_shape_weights`]: crate::scene::skinning::BlendShape::sub_shape_weights

use std::collections::HashMap;

use bytemuck::{Pod, Zeroable};

use super::geometry::DynamicMesh;
use crate::scene::skinning::{DualQuatPart, SkelPose, SkinnedMesh, SkinningMethod};
use crate::scene::FrameState;

/// Invocations per workgroup (`GROUP` in shaders/skinning.wgsl).
const GROUP: u32 = 64;
/// Storage buffers the pass binds.
const STORAGE_BUFFERS: u32 = 9;
/// A drawn vertex whose point is missing (`NO_POINT` in the shader).
const NO_POINT: u32 = u32::MAX;
const FLAG_ACTIVE: u32 = 1;
const FLAG_POSED: u32 = 2;
const FLAG_SCALED: u32 = 4;

/// Where things are in the packed buffers. Keep in sync with `SkinParams` in shaders/skinning.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub(super) struct SkinParams {
    points: u32,
    vertices: u32,
    point_mesh: u32,
    shape_starts: u32,
    adjacency_starts: u32,
    triangles: u32,
    vertex_entries: u32,
    shape_entries: u32,
}

/// One mesh's static data. Keep in sync with `SkinMesh` in shaders/skinning.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub(super) struct SkinMeshRaw {
    geom_bind: [[f32; 4]; 4],
    first_point: u32,
    point_count: u32,
    influences: u32,
    per_point: u32,
    rigid: u32,
    method: u32,
    first_weight: u32,
    pad: u32,
}

/// One joint of one pose, per frame. Keep in sync with `Joint` in shaders/skinning.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub(super) struct JointRaw {
    skin: [[f32; 4]; 4],
    real: [f32; 4],
    dual: [f32; 4],
    /// A mat3x3 in WGSL: three columns padded to 16 bytes.
    stretch: [[f32; 4]; 3],
}

/// One mesh's pose, per frame. Keep in sync with `MeshFrame` in shaders/skinning.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub(super) struct MeshFrameRaw {
    to_mesh: [[f32; 4]; 4],
    joint_base: u32,
    joint_count: u32,
    flags: u32,
    pad: u32,
}

/// The rest data of every GPU-skinned mesh, packed: plain data, built once per device.
#[derive(Debug, Default)]
pub(super) struct Packed {
    pub(super) params: SkinParams,
    pub(super) meshes: Vec<SkinMeshRaw>,
    /// Influences (joint, weight bits) per mesh, then per point its mesh, the blend-shape CSR
    /// starts, the adjacency CSR starts, the adjacency (triangle numbers), the triangles (three
    /// points each) and per drawn vertex (destination vertex, point, mesh).
    pub(super) words: Vec<u32>,
    /// Rest points, then blend-shape entries (offset, sub-shape weight index as bits).
    pub(super) floats: Vec<[f32; 4]>,
    /// Per packed mesh: its index in `Animation::skinned`.
    pub(super) sources: Vec<usize>,
    /// Per packed mesh, per blend shape: its first sub-shape weight (`None`: not driven).
    pub(super) shape_weights: Vec<Vec<Option<u32>>>,
    /// Sub-shape weights over all meshes.
    pub(super) weights: usize,
    /// Some packed mesh blends dual quaternions.
    pub(super) any_dual_quaternion: bool,
}

/// The influences of a mesh as the shader reads them: `Some(rigid)` when they fit its points
/// (one shared set, or one set per point), as the CPU path's `influences_of` finds them.
fn influences_fit(m: &SkinnedMesh) -> Option<bool> {
    let inf = &m.influences;
    if inf.joints.len() != inf.weights.len() {
        return None;
    }
    if inf.joints.len() == inf.per_point {
        return Some(true);
    }
    (inf.joints.len() == inf.per_point * m.rest_points.len()).then_some(false)
}

/// Packs every skinned mesh the GPU can pose: on the GPU path, drawn (a slot in the vertex
/// buffers with one vertex per topology vertex), with influences that fit its points.
pub(super) fn pack(skinned: &[SkinnedMesh], dynamic: &[Option<DynamicMesh>]) -> Packed {
    let mut p = Packed::default();
    // Sections, concatenated at the end (CSR starts made absolute then).
    let (mut influences, mut point_mesh, mut shape_starts, mut adjacency_starts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut adjacency, mut triangles, mut vertex_entries) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rest, mut entries): (Vec<[f32; 4]>, Vec<[f32; 4]>) = (Vec::new(), Vec::new());
    let mut triangle_count = 0u32;
    for (source, m) in skinned.iter().enumerate() {
        let Some(dm) = dynamic.get(m.slot).and_then(|d| d.as_ref()) else {
            continue;
        };
        let Some(rigid) = influences_fit(m) else { continue };
        if !m.on_gpu() || dm.vertex_count != m.topology.vertex_points.len() {
            continue;
        }
        let mesh = p.meshes.len() as u32;
        let n = m.rest_points.len();
        let first_point = rest.len() as u32;
        let method = match m.method {
            SkinningMethod::ClassicLinear => 0,
            SkinningMethod::DualQuaternion => 1,
        };
        p.any_dual_quaternion |= method == 1;
        p.meshes.push(SkinMeshRaw {
            geom_bind: m.geom_bind.as_mat4().to_cols_array_2d(),
            first_point,
            point_count: n as u32,
            influences: influences.len() as u32,
            per_point: m.influences.per_point as u32,
            rigid: rigid as u32,
            method,
            first_weight: p.weights as u32,
            pad: 0,
        });
        p.sources.push(source);
        for (&j, &w) in m.influences.joints.iter().zip(&m.influences.weights) {
            influences.extend([j, w.to_bits()]);
        }
        rest.extend(m.rest_points.iter().map(|q| [q[0], q[1], q[2], 1.0]));
        point_mesh.extend(std::iter::repeat_n(mesh, n));
        // Blend shapes, listed per point in shape order, each shape's sub-shapes in order.
        let mut per_point: Vec<Vec<[f32; 4]>> = vec![Vec::new(); n];
        let mut bases = Vec::with_capacity(m.blend_shapes.len());
        let mut local = 0u32;
        for shape in &m.blend_shapes {
            if shape.weight.is_none() {
                bases.push(None);
                continue;
            }
            bases.push(Some(local));
            for sub in 0..=shape.inbetweens.len() {
                let index = f32::from_bits(local + sub as u32);
                for (i, o) in shape.sub_offsets(sub).iter().enumerate() {
                    let point = match &shape.point_indices {
                        Some(ix) => ix.get(i).map(|&q| q as usize),
                        None => Some(i),
                    };
                    if let Some(list) = point.and_then(|q| per_point.get_mut(q)) {
                        list.push([o[0], o[1], o[2], index]);
                    }
                }
            }
            local += 1 + shape.inbetweens.len() as u32;
        }
        p.shape_weights.push(bases);
        p.weights += local as usize;
        for list in per_point {
            shape_starts.push(entries.len() as u32);
            entries.extend(list);
        }
        // Smooth normals: each point's triangles in triangle order (the CPU sums in that order),
        // skipping triangles that name a missing point, as `compute_normals` does.
        let mut around: Vec<Vec<u32>> = vec![Vec::new(); n];
        for t in m.topology.point_triangles.chunks_exact(3) {
            if t.iter().any(|&q| q as usize >= n) {
                continue;
            }
            for &q in t {
                around[q as usize].push(triangle_count);
            }
            triangles.extend(t.iter().map(|&q| first_point + q));
            triangle_count += 1;
        }
        for list in around {
            adjacency_starts.push(adjacency.len() as u32);
            adjacency.extend(list);
        }
        for (v, &q) in m.topology.vertex_points.iter().enumerate() {
            let point = if (q as usize) < n { first_point + q } else { NO_POINT };
            vertex_entries.extend([(dm.first_vertex + v as u64) as u32, point, mesh]);
        }
    }
    if p.meshes.is_empty() {
        return p;
    }
    let points = rest.len() as u32;
    // The CSR lists end where the next point's start: one closing entry each.
    shape_starts.push(entries.len() as u32);
    adjacency_starts.push(adjacency.len() as u32);
    let mut words = influences;
    let point_mesh_at = words.len() as u32;
    words.extend(point_mesh);
    let shape_starts_at = words.len() as u32;
    words.extend(shape_starts);
    let adjacency_starts_at = words.len() as u32;
    let adjacency_at = adjacency_starts_at + adjacency_starts.len() as u32;
    words.extend(adjacency_starts.iter().map(|s| s + adjacency_at));
    words.extend(adjacency);
    let triangles_at = words.len() as u32;
    words.extend(triangles);
    let vertex_entries_at = words.len() as u32;
    let vertices = vertex_entries.len() as u32 / 3;
    words.extend(vertex_entries);
    p.params = SkinParams {
        points,
        vertices,
        point_mesh: point_mesh_at,
        shape_starts: shape_starts_at,
        adjacency_starts: adjacency_starts_at,
        triangles: triangles_at,
        vertex_entries: vertex_entries_at,
        shape_entries: points,
    };
    p.words = words;
    p.floats = rest;
    p.floats.extend(entries);
    p
}

/// The joints of one pose as the shader reads them; the dual-quaternion split only when asked
/// (it costs a polar decomposition per joint). Returns whether any joint scales or shears.
fn pack_pose(pose: &SkelPose, dual_quaternion: bool, out: &mut Vec<JointRaw>) -> bool {
    let mut parts = Vec::new();
    if dual_quaternion {
        parts.extend(pose.skinning.iter().map(DualQuatPart::of));
    }
    for (j, s) in pose.skinning.iter().enumerate() {
        let mut raw = JointRaw {
            skin: s.as_mat4().to_cols_array_2d(),
            real: [0.0; 4],
            dual: [0.0; 4],
            stretch: [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],
        };
        if let Some(part) = parts.get(j) {
            raw.real = part.real.as_quat().to_array();
            raw.dual = part.dual.as_quat().to_array();
            let m = part.scale.as_mat3();
            raw.stretch = [m.x_axis, m.y_axis, m.z_axis].map(|c| c.extend(0.0).to_array());
        }
        out.push(raw);
    }
    DualQuatPart::any_scaled(&parts)
}

/// Dispatch size for `n` invocations: rows of at most `max` groups.
fn dispatch_size(n: u32, max: u32) -> (u32, u32) {
    let groups = n.div_ceil(GROUP).max(1);
    let x = groups.min(max.max(1));
    (x, groups.div_ceil(x))
}

/// The skinning pass on one device: static buffers, per-frame buffers and the three pipelines.
pub(super) struct GpuSkinning {
    packed: Packed,
    layout: wgpu::BindGroupLayout,
    pipelines: [wgpu::ComputePipeline; 3],
    bind_group: wgpu::BindGroup,
    /// Bound buffers, kept to bind them again when `joints` grows.
    params: wgpu::Buffer,
    meshes: wgpu::Buffer,
    words: wgpu::Buffer,
    floats: wgpu::Buffer,
    joints: wgpu::Buffer,
    frames: wgpu::Buffer,
    weights: wgpu::Buffer,
    scratch: wgpu::Buffer,
    positions: wgpu::Buffer,
    normals: wgpu::Buffer,
    /// `(x, y)` workgroups for points and for vertices.
    point_groups: (u32, u32),
    vertex_groups: (u32, u32),
    /// Per-frame scratch, kept for its capacity.
    joint_data: Vec<JointRaw>,
    frame_data: Vec<MeshFrameRaw>,
    weight_data: Vec<f32>,
    /// Distinct poses this frame, by address (frames share one `Arc` per pose), and where
    /// their joints start.
    poses: HashMap<usize, (u32, bool)>,
    /// Per `Scene::dynamic_meshes` slot: posed by this frame's dispatches.
    handled: Vec<bool>,
    /// Some mesh is posed this frame (else nothing is dispatched).
    active: bool,
}

impl GpuSkinning {
    /// Packs and uploads the skinned meshes the GPU can pose; `Ok(None)` when there are none,
    /// `Err` (why) when the device cannot run the pass: the CPU then skins them.
    pub(super) fn new(
        device: &wgpu::Device,
        backend: wgpu::Backend,
        skinned: &[SkinnedMesh],
        dynamic: &[Option<DynamicMesh>],
        positions: &wgpu::Buffer,
        normals: &wgpu::Buffer,
    ) -> Result<Option<GpuSkinning>, String> {
        if skinned.is_empty() {
            return Ok(None);
        }
        // NVIDIA's GL cannot build compute pipelines (shared/GPU.md); GL is the fallback backend.
        if backend == wgpu::Backend::Gl {
            return Err("the GL backend skins on the CPU".into());
        }
        let limits = device.limits();
        if limits.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS {
            return Err(format!(
                "the device binds {} storage buffers per stage; the pass needs {STORAGE_BUFFERS}",
                limits.max_storage_buffers_per_shader_stage
            ));
        }
        let packed = pack(skinned, dynamic);
        if packed.meshes.is_empty() {
            return Ok(None);
        }
        let points = packed.params.points;
        let sizes = [
            ("skinning words", std::mem::size_of_val(packed.words.as_slice()) as u64),
            (
                "skinning floats",
                std::mem::size_of_val(packed.floats.as_slice()) as u64,
            ),
            ("skinning scratch", points as u64 * 32),
        ];
        if let Some((what, bytes)) = sizes
            .iter()
            .find(|(_, b)| *b > limits.max_storage_buffer_binding_size || *b > limits.max_buffer_size)
        {
            return Err(format!("its {what} take {} MiB, over this device's limit", bytes >> 20));
        }
        let max_groups = limits.max_compute_workgroups_per_dimension;
        let point_groups = dispatch_size(points, max_groups);
        let vertex_groups = dispatch_size(packed.params.vertices, max_groups);
        if point_groups.1 > max_groups || vertex_groups.1 > max_groups {
            return Err("too many skinned points for one dispatch".into());
        }

        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        use wgpu::util::DeviceExt;
        let init = |name: &str, bytes: &[u8], usage: wgpu::BufferUsages| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(name),
                contents: bytes,
                usage,
            })
        };
        let storage = wgpu::BufferUsages::STORAGE;
        let per_frame = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let params = init(
            "skinning params",
            bytemuck::bytes_of(&packed.params),
            wgpu::BufferUsages::UNIFORM,
        );
        let meshes = init("skinning meshes", bytemuck::cast_slice(&packed.meshes), storage);
        let words = init("skinning words", bytemuck::cast_slice(&packed.words), storage);
        let floats = init("skinning floats", bytemuck::cast_slice(&packed.floats), storage);
        let empty_frames = vec![MeshFrameRaw::zeroed(); packed.meshes.len()];
        let frames = init("skinning mesh frames", bytemuck::cast_slice(&empty_frames), per_frame);
        // Bindings may not be empty: one spare weight where no shape is driven.
        let weights = init(
            "skinning weights",
            bytemuck::cast_slice(&vec![0f32; packed.weights.max(1)]),
            per_frame,
        );
        let joints = joint_buffer(device, 64);
        let scratch = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("skinning scratch"),
            size: points as u64 * 32,
            usage: storage,
            mapped_at_creation: false,
        });
        let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let read = wgpu::BufferBindingType::Storage { read_only: true };
        let write = wgpu::BufferBindingType::Storage { read_only: false };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("skinning layout"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Uniform),
                entry(1, read),
                entry(2, read),
                entry(3, read),
                entry(4, read),
                entry(5, read),
                entry(6, read),
                entry(7, write),
                entry(8, write),
                entry(9, write),
            ],
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("skinning.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/skinning.wgsl").into()),
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("skinning"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let pipelines = [pipeline("cs_points"), pipeline("cs_normals"), pipeline("cs_vertices")];
        let bind_group = bind_group(
            device,
            &layout,
            [
                &params, &meshes, &words, &floats, &joints, &frames, &weights, &scratch, positions, normals,
            ],
        );
        let skinning = GpuSkinning {
            bind_group,
            layout,
            pipelines,
            params,
            meshes,
            words,
            floats,
            joints,
            frames,
            weights,
            scratch,
            positions: positions.clone(),
            normals: normals.clone(),
            point_groups,
            vertex_groups,
            joint_data: Vec::new(),
            frame_data: empty_frames,
            weight_data: vec![0.0; packed.weights],
            poses: HashMap::new(),
            handled: vec![false; dynamic.len()],
            active: false,
            packed,
        };
        if let Some(e) = pollster::block_on(validation.pop()) {
            return Err(e.to_string());
        }
        Ok(Some(skinning))
    }

    /// Binds the buffers again (after `joints` grew).
    fn bind(&mut self, device: &wgpu::Device) {
        self.bind_group = bind_group(
            device,
            &self.layout,
            [
                &self.params,
                &self.meshes,
                &self.words,
                &self.floats,
                &self.joints,
                &self.frames,
                &self.weights,
                &self.scratch,
                &self.positions,
                &self.normals,
            ],
        );
    }

    /// Whether this frame's dispatches pose the mesh of `Scene::dynamic_meshes` slot `slot`.
    pub(super) fn handles(&self, slot: usize) -> bool {
        self.handled.get(slot).copied().unwrap_or(false)
    }

    /// Writes this frame's poses: each distinct pose's joints once, each mesh's skeleton-to-mesh
    /// matrix and flags, the blend-shape weights. A mesh is posed here when its slot in
    /// `state.mesh_vertices` is empty (left pending by the evaluation) and the frame has its
    /// pose. Returns whether any mesh is posed (the pass then runs).
    pub(super) fn write(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        skinned: &[SkinnedMesh],
        state: &FrameState,
    ) -> bool {
        self.handled.fill(false);
        self.joint_data.clear();
        self.poses.clear();
        self.weight_data.fill(0.0);
        let dq = self.packed.any_dual_quaternion;
        self.active = false;
        for (k, &source) in self.packed.sources.iter().enumerate() {
            let m = &skinned[source];
            let pending = state.mesh_vertices.get(m.slot).is_some_and(|v| v.positions.is_empty());
            let frame = state.skinning.get(m.frame).filter(|_| pending);
            let Some(frame) = frame else {
                self.frame_data[k] = MeshFrameRaw::zeroed();
                continue;
            };
            let pose = &frame.pose;
            let posed = !pose.skinning.is_empty();
            let (joint_base, scaled) = if posed {
                let joint_data = &mut self.joint_data;
                *self
                    .poses
                    .entry(std::sync::Arc::as_ptr(pose) as usize)
                    .or_insert_with(|| {
                        let base = joint_data.len() as u32;
                        (base, pack_pose(pose, dq, joint_data))
                    })
            } else {
                (0, false)
            };
            self.frame_data[k] = MeshFrameRaw {
                to_mesh: frame.skel_to_mesh.as_mat4().to_cols_array_2d(),
                joint_base,
                joint_count: pose.skinning.len() as u32,
                flags: FLAG_ACTIVE | if posed { FLAG_POSED } else { 0 } | if scaled { FLAG_SCALED } else { 0 },
                pad: 0,
            };
            let first = self.packed.meshes[k].first_weight as usize;
            for (shape, base) in m.blend_shapes.iter().zip(&self.packed.shape_weights[k]) {
                let (Some(i), Some(base)) = (shape.weight, base) else {
                    continue;
                };
                let Some(&w) = pose.blend_weights.get(i) else { continue };
                for (sub, weight) in shape.sub_shape_weights(w).into_iter().flatten() {
                    if let Some(slot) = self.weight_data.get_mut(first + *base as usize + sub) {
                        *slot = weight;
                    }
                }
            }
            if let Some(h) = self.handled.get_mut(m.slot) {
                *h = true;
            }
            self.active = true;
        }
        if !self.active {
            return false;
        }
        let joint_bytes = std::mem::size_of_val(self.joint_data.as_slice()) as u64;
        if joint_bytes > self.joints.size() {
            // Grown to the next power of two: a new buffer, bound again.
            let joints = (self.joint_data.len() as u64).next_power_of_two();
            self.joints = joint_buffer(device, joints);
            self.bind(device);
        }
        if !self.joint_data.is_empty() {
            queue.write_buffer(&self.joints, 0, bytemuck::cast_slice(&self.joint_data));
        }
        queue.write_buffer(&self.frames, 0, bytemuck::cast_slice(&self.frame_data));
        if !self.weight_data.is_empty() {
            queue.write_buffer(&self.weights, 0, bytemuck::cast_slice(&self.weight_data));
        }
        true
    }

    /// Records the three dispatches when a mesh is posed this frame.
    pub(super) fn encode(&self, encoder: &mut wgpu::CommandEncoder) {
        if !self.active {
            return;
        }
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("skinning"),
            timestamp_writes: None,
        });
        pass.set_bind_group(0, &self.bind_group, &[]);
        // Each dispatch is its own usage scope: wgpu orders the writes of one before the reads
        // of the next.
        for (pipeline, (x, y)) in self
            .pipelines
            .iter()
            .zip([self.point_groups, self.point_groups, self.vertex_groups])
        {
            pass.set_pipeline(pipeline);
            pass.dispatch_workgroups(x, y, 1);
        }
    }
}

/// The pass's bind group: `buffers` in binding order (see shaders/skinning.wgsl).
fn bind_group(device: &wgpu::Device, layout: &wgpu::BindGroupLayout, buffers: [&wgpu::Buffer; 10]) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("skinning bind group"),
        layout,
        entries: &entries,
    })
}

fn joint_buffer(device: &wgpu::Device, joints: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("skinning joints"),
        size: joints.max(1) * std::mem::size_of::<JointRaw>() as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::scene::animation::Topology;
    use crate::scene::skinning::{BlendShape, Influences};
    use glam::DMat4;

    fn mesh(slot: usize, per_point: usize, joints: Vec<u32>, shapes: Vec<BlendShape>) -> SkinnedMesh {
        SkinnedMesh {
            slot,
            prim: "/M".into(),
            frame: 0,
            rest_points: Arc::from(vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
            influences: Influences {
                per_point,
                weights: vec![1.0; joints.len()],
                joints,
            },
            geom_bind: DMat4::IDENTITY,
            method: SkinningMethod::ClassicLinear,
            blend_shapes: shapes,
            topology: Arc::new(Topology {
                // Point 1 is split into two vertices; one vertex names a missing point.
                vertex_points: vec![0, 1, 1, 2, 9],
                point_triangles: vec![0, 1, 2, 0, 1, 9],
                refine: None,
            }),
        }
    }

    fn slot(first_vertex: u64) -> Option<DynamicMesh> {
        Some(DynamicMesh {
            first_vertex,
            vertex_count: 5,
            indices: Vec::new(),
            warned: false,
        })
    }

    #[test]
    fn packing_lays_out_points_adjacency_shapes_and_vertices() {
        let shape = BlendShape {
            weight: Some(0),
            offsets: vec![[0.0, 0.0, 1.0]],
            point_indices: Some(vec![2]),
            inbetweens: vec![(0.5, vec![[0.0, 0.0, 0.25]])],
        };
        let undriven = BlendShape {
            weight: None,
            ..shape.clone()
        };
        let meshes = [
            mesh(0, 1, vec![0], vec![undriven, shape]),
            // Influences that fit neither way: left to the CPU.
            mesh(1, 2, vec![0, 1, 2], Vec::new()),
            mesh(2, 1, vec![0, 1, 1], Vec::new()),
        ];
        let p = pack(&meshes, &[slot(10), slot(20), slot(40)]);
        assert_eq!(p.sources, [0, 2]);
        assert_eq!(p.params.points, 6);
        assert_eq!(p.params.vertices, 10);
        assert_eq!(p.weights, 2, "the driven shape and its in-between");
        assert_eq!(p.shape_weights[0], [None, Some(0)]);
        assert_eq!((p.meshes[0].rigid, p.meshes[1].rigid), (1, 0));
        assert_eq!(p.meshes[1].first_point, 3);
        let w = |at: u32, n: usize| p.words[at as usize..at as usize + n].to_vec();
        assert_eq!(w(p.params.point_mesh, 6), [0, 0, 0, 1, 1, 1]);
        // Point 2 of mesh 0 has the shape and its in-between; nobody else has any.
        assert_eq!(w(p.params.shape_starts, 7), [0, 0, 0, 2, 2, 2, 2]);
        let entry = p.floats[p.params.shape_entries as usize + 1];
        assert_eq!((entry[2], entry[3].to_bits()), (0.25, 1));
        // The triangle naming point 9 is skipped: one triangle per mesh, around every point.
        let starts = w(p.params.adjacency_starts, 7);
        assert_eq!(starts.windows(2).map(|s| s[1] - s[0]).collect::<Vec<_>>(), [1; 6]);
        assert_eq!(p.words[starts[3] as usize], 1, "mesh 1's point 0 lies on triangle 1");
        assert_eq!(w(p.params.triangles + 3, 3), [3, 4, 5]);
        // Vertices: destination in the vertex buffer, global point (missing: NO_POINT), mesh.
        assert_eq!(w(p.params.vertex_entries, 3), [10, 0, 0]);
        assert_eq!(w(p.params.vertex_entries + 12, 3), [14, NO_POINT, 0]);
        assert_eq!(w(p.params.vertex_entries + 21, 3), [42, 4, 1]);
    }

    #[test]
    fn dispatches_wrap_into_rows() {
        assert_eq!(dispatch_size(0, 65_535), (1, 1));
        assert_eq!(dispatch_size(64 * 10, 4), (4, 3));
    }

    #[test]
    fn layouts_match_the_shader() {
        // WGSL sizes: SkinParams 32, SkinMesh 96, Joint 144 (mat3x3 columns padded), MeshFrame 80.
        assert_eq!(std::mem::size_of::<SkinParams>(), 32);
        assert_eq!(std::mem::size_of::<SkinMeshRaw>(), 96);
        assert_eq!(std::mem::size_of::<JointRaw>(), 144);
        assert_eq!(std::mem::size_of::<MeshFrameRaw>(), 80);
    }
}
