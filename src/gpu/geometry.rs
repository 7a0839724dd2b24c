//! The scene flattened into what the GPU gets, built once per device: every mesh's vertices and
//! indices concatenated, instances sorted by mesh so each mesh is one instanced draw, materials
//! equal but for their path merged, and where each animated mesh's vertices live.

use std::ops::Range;

use super::layout::{InstanceRaw, MaterialRaw};
use crate::scene::{Mesh, Scene};

/// Colour for vertices whose mesh carries none (Hydra's fallback displayColor is a mid grey).
const FALLBACK_COLOR: [f32; 4] = [0.5, 0.5, 0.5, 1.0];

/// A mesh's draw: its index range in the shared index buffer and its instances' buffer slots.
pub(super) struct MeshDraw {
    pub(super) indices: Range<u32>,
    pub(super) base_vertex: i32,
    pub(super) instances: Range<u32>,
    /// The material of these instances (its index in `Scene::materials` and the bind group list).
    pub(super) material: u32,
    /// Shaded as UsdPreviewSurface (else displayColor).
    pub(super) preview: bool,
    /// Its material reads a texture (else the smaller untextured shader does).
    pub(super) textured: bool,
    /// Its material may discard fragments (opacityThreshold): left out of the depth prepass.
    pub(super) cutout: bool,
    /// Blended (displayOpacity < 1 on some vertex, or a material that is not opaque): drawn after
    /// the opaque meshes.
    pub(super) translucent: bool,
}

/// Where an animated mesh's vertices live in the shared vertex buffers.
pub(super) struct DynamicMesh {
    pub(super) first_vertex: u64,
    pub(super) vertex_count: usize,
    /// Local triangle indices, to recompute normals when a frame brings positions only.
    pub(super) indices: Vec<u32>,
    pub(super) warned: bool,
}

/// For each material, the first material equal to it but for its path (its own index when none
/// is, or when it is animated). Equality is by packed values, texture indices and wrap modes.
pub(super) fn canonical_materials(
    materials: &[crate::scene::Material],
    packed: &[MaterialRaw],
    dynamic: &[u32],
    shift: u32,
) -> Vec<u32> {
    // Packed bytes, and per lookup its texture and wrap modes.
    type Key<'a> = (&'a [u8], Vec<(Option<u32>, u8, u8)>);
    let mut first: std::collections::HashMap<Key, u32> = std::collections::HashMap::new();
    materials
        .iter()
        .zip(packed)
        .enumerate()
        .map(|(i, (m, raw))| {
            let i = i as u32;
            if dynamic.iter().any(|&d| d + shift == i) {
                return i;
            }
            let lookups = m
                .lookups()
                .iter()
                .map(|l| l.map_or((None, 0, 0), |l| (l.texture, l.wrap_s as u8, l.wrap_t as u8)))
                .collect();
            *first.entry((bytemuck::bytes_of(raw), lookups)).or_insert(i)
        })
        .collect()
}

/// The scene flattened into the buffers the GPU gets: every mesh's vertices and indices
/// concatenated, and the instances sorted by mesh so each mesh is one instanced draw.
pub(super) struct Geometry {
    pub(super) positions: Vec<[f32; 3]>,
    pub(super) normals: Vec<[f32; 3]>,
    pub(super) colors: Vec<[f32; 4]>,
    pub(super) uvs: Vec<[f32; 2]>,
    pub(super) indices: Vec<u32>,
    pub(super) instances: Vec<InstanceRaw>,
    pub(super) draws: Vec<MeshDraw>,
    pub(super) dynamic_slots: Vec<Option<usize>>,
    pub(super) dynamic_meshes: Vec<Option<DynamicMesh>>,
    /// Per `Scene::meshes` entry: its first index and base vertex (zero where it draws nothing).
    pub(super) mesh_ranges: Vec<[u32; 2]>,
}

impl Geometry {
    /// `materials` is the renderer's list (the scene's, shifted by `material_shift` when the
    /// fallback had to be put first).
    /// `canonical[i]` is the material drawn for material `i` (the first one equal to it).
    pub(super) fn build(
        scene: &Scene,
        materials: &[crate::scene::Material],
        material_shift: u32,
        canonical: &[u32],
    ) -> Geometry {
        let mut g = Geometry {
            positions: Vec::new(),
            normals: Vec::new(),
            colors: Vec::new(),
            uvs: Vec::new(),
            indices: Vec::new(),
            instances: Vec::new(),
            draws: Vec::new(),
            dynamic_slots: Vec::new(),
            dynamic_meshes: Vec::new(),
            mesh_ranges: vec![[0; 2]; scene.meshes.len()],
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
                g.uvs.truncate(first_vertex);
                g.indices.truncate(first_index);
                continue;
            }
            mesh_vertex_start[m] = Some((first_vertex as u64, mesh.positions.len()));
            g.mesh_ranges[m] = [first_index as u32, first_vertex as u32];
            // One draw per material among the mesh's instances.
            let material_of = |i: usize| {
                let id = scene.instances[i].material + material_shift;
                canonical.get(id as usize).copied().unwrap_or(0)
            };
            users.sort_by_key(|&i| (material_of(i), is_dynamic[i]));
            let vertex_translucent = g.colors[first_vertex..].iter().any(|c| c[3] < 1.0);
            let mut run_start = 0;
            while run_start < users.len() {
                let material = material_of(users[run_start]);
                let run_end = users[run_start..]
                    .iter()
                    .position(|&i| material_of(i) != material)
                    .map_or(users.len(), |p| run_start + p);
                let first_slot = g.instances.len();
                for &i in &users[run_start..run_end] {
                    slot_of_instance[i] = Some(g.instances.len());
                    g.instances.push(
                        InstanceRaw::new(&scene.instances[i].transform, mesh.double_sided)
                            .with_ids(m as u32, i as u32, material)
                            .with_facing(mesh.facing as u32),
                    );
                }
                let mat = &materials[material as usize];
                let translucent = match mat.model {
                    crate::scene::material::ShadingModel::DisplayColor => vertex_translucent,
                    crate::scene::material::ShadingModel::PreviewSurface => {
                        mat.may_blend()
                            && (!matches!(mat.opacity, crate::scene::material::Input::VertexColor { .. })
                                || vertex_translucent)
                    }
                };
                let preview = mat.model == crate::scene::material::ShadingModel::PreviewSurface;
                let textured = mat.lookups().iter().flatten().any(|l| l.texture.is_some());
                g.draws.push(MeshDraw {
                    indices: first_index as u32..(first_index + index_count) as u32,
                    base_vertex: first_vertex as i32,
                    instances: first_slot as u32..g.instances.len() as u32,
                    material,
                    preview,
                    textured,
                    cutout: preview
                        && !matches!(mat.opacity_threshold, crate::scene::material::Input::Value(t) if t <= 0.0),
                    translucent,
                });
                run_start = run_end;
            }
        }
        // Opaque first (prepassed ones, then cut-outs; by shading model, to switch pipelines
        // rarely), then translucent; stable, so scene order holds within each group.
        g.draws
            .sort_by_key(|d| (d.translucent, d.cutout, d.preview, d.textured));
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
        if mesh.uvs.len() == n {
            self.uvs.extend_from_slice(&mesh.uvs);
        } else {
            self.uvs.resize(self.uvs.len() + n, [0.0; 2]);
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

/// The scene's geometry on the device: vertex streams, the instance buffer and the indices.
pub(super) struct GeometryBuffers {
    pub(super) positions: wgpu::Buffer,
    pub(super) normals: wgpu::Buffer,
    pub(super) colors: wgpu::Buffer,
    pub(super) uvs: wgpu::Buffer,
    pub(super) instances: wgpu::Buffer,
    pub(super) indices: wgpu::Buffer,
}

impl GeometryBuffers {
    /// Uploads `geometry` once; a buffer over the device's limits is an error naming it.
    pub(super) fn upload(
        device: &wgpu::Device,
        geometry: &Geometry,
        limits: &wgpu::Limits,
    ) -> Result<GeometryBuffers, String> {
        use wgpu::util::DeviceExt;
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
            return Err(format!(
                "the scene's {what} take {} MiB, over this adapter's {} MiB buffer limit",
                bytes >> 20,
                limits.max_buffer_size >> 20
            ));
        }
        if geometry.positions.len() > i32::MAX as usize {
            return Err(format!(
                "{} vertices are more than one draw can address",
                geometry.positions.len()
            ));
        }
        let vertex_buffer = |name: &str, bytes: &[u8]| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(name),
                contents: bytes,
                // The compute shading pass reads them as storage, the skinning pass writes
                // positions and normals; COPY_SRC reads them back (`read_dynamic_vertices`).
                usage: wgpu::BufferUsages::VERTEX
                    | wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
            })
        };
        let positions = vertex_buffer("positions", bytemuck::cast_slice(&geometry.positions));
        let normals = vertex_buffer("normals", bytemuck::cast_slice(&geometry.normals));
        let colors = vertex_buffer("colors", bytemuck::cast_slice(&geometry.colors));
        let uvs = vertex_buffer("uvs", bytemuck::cast_slice(&geometry.uvs));
        let instances = vertex_buffer("instances", bytemuck::cast_slice(&geometry.instances));
        let indices = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("indices"),
            contents: bytemuck::cast_slice(&geometry.indices),
            usage: wgpu::BufferUsages::INDEX | wgpu::BufferUsages::STORAGE,
        });
        Ok(GeometryBuffers {
            positions,
            normals,
            colors,
            uvs,
            instances,
            indices,
        })
    }
}

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
    fn materials_equal_but_for_their_path_share_one_entry_unless_animated() {
        use crate::scene::Material;
        let a = Material::preview_surface_defaults("/A/Ceramic");
        let b = Material::preview_surface_defaults("/B/Ceramic");
        let mut c = Material::preview_surface_defaults("/C/Other");
        c.roughness = crate::scene::material::Input::Value(0.9);
        let d = Material::preview_surface_defaults("/D/Animated");
        let materials = vec![Material::display_color(), a, b, c, d];
        let packed: Vec<MaterialRaw> = materials
            .iter()
            .map(|m| crate::gpu::shading::pack_material(m, |_| None))
            .collect();
        assert_eq!(canonical_materials(&materials, &packed, &[4], 0), [0, 1, 1, 3, 4]);
    }

    #[test]
    fn geometry_draws_once_per_mesh_and_material() {
        let mut scene = Scene {
            meshes: vec![tri([1.0; 4])],
            instances: (0..3)
                .map(|i| Instance {
                    mesh: 0,
                    transform: Mat4::IDENTITY,
                    material: [1, 0, 1][i],
                })
                .collect(),
            ..Scene::default()
        };
        let mut translucent = crate::scene::Material::preview_surface_defaults("/Glass");
        translucent.opacity = crate::scene::material::Input::Value(0.5);
        scene.materials = vec![crate::scene::Material::display_color(), translucent];
        let g = Geometry::build(&scene, &scene.materials, 0, &[0, 1]);
        assert_eq!(g.draws.len(), 2);
        assert_eq!((g.draws[0].material, g.draws[0].translucent), (0, false));
        assert_eq!((g.draws[1].material, g.draws[1].translucent), (1, true));
        assert_eq!(g.instances.iter().map(|i| i.ids[2]).collect::<Vec<_>>(), [0, 1, 1]);
        assert_eq!(g.draws[1].instances, 1..3);
    }

    #[test]
    fn geometry_groups_instances_by_mesh_and_drops_bad_triangles() {
        let scene = Scene {
            meshes: vec![tri([1.0; 4]), tri([0.5; 4]), Mesh::default()],
            instances: vec![
                Instance {
                    mesh: 1,
                    transform: Mat4::IDENTITY,
                    material: 0,
                },
                Instance {
                    mesh: 0,
                    transform: Mat4::IDENTITY,
                    material: 0,
                },
                Instance {
                    mesh: 1,
                    transform: Mat4::from_translation(glam::Vec3::X),
                    material: 0,
                },
                Instance {
                    mesh: 2,
                    transform: Mat4::IDENTITY,
                    material: 0,
                },
                Instance {
                    mesh: 9,
                    transform: Mat4::IDENTITY,
                    material: 0,
                },
            ],
            dynamic_instances: vec![0, 3, 4],
            dynamic_meshes: vec![1, 2],
            ..Scene::default()
        };
        let g = Geometry::build(&scene, &[crate::scene::Material::display_color()], 0, &[0]);
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
