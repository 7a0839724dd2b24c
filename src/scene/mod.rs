//! Plain, owned, `Send` scene data: what the renderer draws, with no USD and no wgpu types.
//!
//! `stage` fills a [`Scene`] once per run (static geometry and the state at load time) and a
//! [`FrameState`] per frame (only what changes: animated transforms, visibility, points and the
//! camera). `gpu` uploads the `Scene` once per device and applies each `FrameState`.

pub mod animation;
pub mod camera;
pub mod curves;
pub mod displacement;
pub mod light;
pub mod material;
pub mod shapes;
pub mod shutter;
pub mod skinning;
pub mod stand_in;
pub mod subdivision;
pub mod varying;

pub use camera::{
    Camera, CameraChoice, CameraRule, ClipPlanes, HarnessView, Lens, UsdrecordVersion, WindowPolicy, MAX_CLIP_PLANES,
};
pub use glam::{DMat4, DVec3, DVec4, Mat4, Vec3};
pub use light::{Headlight, Light, LightKind, Look, HARNESS_LIGHT};
pub use material::{Material, Texture};
use std::sync::Arc;

/// A stage, extracted: every drawable mesh once, and every place it is drawn.
#[derive(Debug, Clone, Default)]
pub struct Scene {
    /// Unique geometry, in the mesh's own space. Shared by every [`Instance`] that names it.
    pub meshes: Vec<Mesh>,
    /// One entry per draw of a mesh: scene-graph instances and PointInstancer instances share a mesh.
    pub instances: Vec<Instance>,
    /// Indices into `instances` whose transform or visibility changes over time; a
    /// [`FrameState::instance_transforms`] has one matrix per entry, in this order.
    pub dynamic_instances: Vec<u32>,
    /// Indices into `meshes` whose points change over time; a [`FrameState::mesh_vertices`] has
    /// one entry per index, in this order.
    pub dynamic_meshes: Vec<u32>,
    /// World-space bounds of everything drawn, at load time (the framing camera uses it).
    pub bounds: Bounds,
    /// World bounds for framing, as `UsdGeomBBoxCache` computes them (authored `extent` and
    /// models' `extentsHint` where present, else the drawn geometry); empty when not computed.
    /// See [`Scene::framing_bounds`].
    pub frame_bounds: Bounds,
    /// `frame_bounds` at the default time code, where the test harness's `-frameAll` computes
    /// its bounds whatever the frames drawn (a skeleton then frames by its rest pose); empty
    /// when not computed. See [`Scene::default_time_framing_bounds`].
    pub default_frame_bounds: Bounds,
    /// The stage's up axis; the framing camera respects it.
    pub up_axis: UpAxis,
    /// The camera chosen for the render, and by which rule.
    pub camera: CameraChoice,
    /// Materials used by instances; entry 0 is always [`Material::display_color`] (see
    /// [`Scene::ensure_fallback_material`]).
    pub materials: Vec<Material>,
    /// Indices into `materials` whose inputs change over time; a [`FrameState::materials`] has
    /// one entry per index, in this order.
    pub dynamic_materials: Vec<u32>,
    /// Decoded images, shared by every lookup that names the same file and colour space.
    pub textures: Vec<Arc<Texture>>,
    /// The stage's UsdLux lights, at load time.
    pub lights: Vec<Light>,
    /// Indices into `lights` that change over time; a [`FrameState::lights`] has one entry per
    /// index, in this order.
    pub dynamic_lights: Vec<u32>,
    /// The animated meshes whose points come from time-sample tracks, evaluated from plain data
    /// on any thread ([`animation::Animation::evaluate`]); their `FrameState::mesh_vertices`
    /// slots are filled there, not by the stage.
    pub animation: Arc<animation::Animation>,
}

/// The diameter, in pixels, of the points Storm draws for a mesh's vertices under `-shading
/// points`. Its point size is 3 (HdRenderPassState's default) and its mesh points shader cuts no
/// disc out, yet its multisampled GL points come out round and larger in its images: fitted on
/// the 285 points of testUsdImagingGLGeomSubsets_Points (the same centres, 4x multisampling),
/// discs 3.5 across cover what Storm's do with silhouette IoU 0.94, against 0.71 for 3-pixel
/// discs and 0.84 for 3-pixel squares.
pub const VERTEX_POINT_PIXELS: f32 = 3.5;

impl Scene {
    /// Makes `materials[0]` the displayColor fallback when it is not already (an empty scene or
    /// one built by hand), shifting every instance's material index to match.
    pub fn ensure_fallback_material(&mut self) {
        if self
            .materials
            .first()
            .is_some_and(|m| m.model == material::ShadingModel::DisplayColor)
        {
            return;
        }
        self.materials.insert(0, Material::display_color());
        for instance in &mut self.instances {
            instance.material += 1;
        }
        for d in &mut self.dynamic_materials {
            *d += 1;
        }
    }

    /// The bounds the framing cameras use (usdrecord's, the harness's `-frameAll`):
    /// `frame_bounds`, or the drawn `bounds` for a scene that has none (built by hand).
    pub fn framing_bounds(&self) -> &Bounds {
        if self.frame_bounds.is_empty() {
            &self.bounds
        } else {
            &self.frame_bounds
        }
    }

    /// The bounds the harness's `-frameAll` frames: `default_frame_bounds`, or
    /// [`Scene::framing_bounds`] when there are none at the default time.
    pub fn default_time_framing_bounds(&self) -> &Bounds {
        if self.default_frame_bounds.is_empty() {
            self.framing_bounds()
        } else {
            &self.default_frame_bounds
        }
    }

    /// Total triangles over all instances (the number the GPU draws per frame).
    pub fn drawn_triangles(&self) -> u64 {
        self.instances
            .iter()
            .map(|i| {
                self.meshes
                    .get(i.mesh as usize)
                    .map_or(0, |m| m.indices.len() as u64 / 3)
            })
            .sum()
    }
}

/// Triangulated geometry ready for the GPU: one vertex per distinct (point, normal, colour) corner.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mesh {
    /// The prim this came from, for messages.
    pub path: String,
    pub positions: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
    /// Linear RGB and opacity (displayColor / displayOpacity).
    pub colors: Vec<[f32; 4]>,
    /// Triangles, counter-clockwise seen from the front (leftHanded meshes are flipped on extraction).
    pub indices: Vec<u32>,
    /// Texture coordinates per vertex, from the primvar the bound material's textures read
    /// (`TextureLookup::st_primvar`, usually `st`); empty when there is none.
    pub uvs: Vec<[f32; 2]>,
    /// For each vertex, the USD point it came from: lets animated points update `positions`.
    pub vertex_points: Vec<u32>,
    pub double_sided: bool,
    /// How its vertices are placed: surfaces by their positions, curves and points facing the
    /// camera (their vertices then sit on the curve or the point, offset by `uvs`).
    pub facing: Facing,
}

impl Mesh {
    /// The surface as its points, `pixels`-wide discs facing the camera: each point of a drawn
    /// vertex once, in the colour of its first vertex (Storm's points shading of a shape that
    /// authors no points array, such as an implicit sphere).
    pub fn as_vertex_points(&self, pixels: f32) -> Mesh {
        let mut seen = std::collections::HashSet::new();
        let (mut centers, mut colors) = (Vec::new(), Vec::new());
        for (v, p) in self.positions.iter().enumerate() {
            let point = self.vertex_points.get(v).copied().unwrap_or(v as u32);
            if seen.insert(point) {
                centers.push(*p);
                colors.push(
                    self.colors
                        .get(v)
                        .or(self.colors.first())
                        .copied()
                        .unwrap_or([0.5, 0.5, 0.5, 1.0]),
                );
            }
        }
        let mut points = shapes::points(&centers, &[pixels], &colors, Facing::PixelSprite);
        points.path = self.path.clone();
        points
    }
}

/// How a mesh's vertices are placed, as Storm draws curves and points: facing the camera, so each
/// frame's view decides where they land (the vertex shader's `place` in shaders/mesh.wgsl; keep
/// the numbers in sync there). A camera-facing mesh's `positions` are points of the curve (or
/// point centres), and each vertex's offset from it: for a ribbon across the curve in `uvs` (x),
/// with the curve's tangent in `normals`; for a sprite in the image plane in `normals` (xy), which
/// are updated per frame, so animated widths follow. In scene units, or in pixels for the `Pixel`
/// kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Facing {
    #[default]
    Surface = 0,
    /// A ribbon across the curve, as wide as the curve's widths.
    Ribbon = 1,
    /// A ribbon a number of pixels wide (a curve drawn as a line).
    PixelRibbon = 2,
    /// A disc in the image plane, as wide as the point's width.
    Sprite = 3,
    /// A disc a number of pixels wide.
    PixelSprite = 4,
}

/// One draw of a mesh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Instance {
    pub mesh: u32,
    /// Mesh space to world space at load time. A hidden instance has the zero matrix.
    pub transform: Mat4,
    /// Index into `Scene::materials` (0: displayColor, no usable material bound).
    pub material: u32,
}

/// What changes from frame to frame, evaluated by `stage` at one time code.
#[derive(Debug, Clone, Default)]
pub struct FrameState {
    /// The frame number (a time code, as usdrecord numbers frames).
    pub frame: f64,
    pub camera: Camera,
    /// One matrix per [`Scene::dynamic_instances`] entry; the zero matrix hides the instance.
    pub instance_transforms: Vec<Mat4>,
    /// One entry per [`Scene::dynamic_meshes`] entry: new positions and normals per vertex
    /// (shared between meshes that evaluate to the same vertices).
    pub mesh_vertices: Vec<Arc<MeshVertices>>,
    /// One entry per [`Scene::dynamic_materials`] entry: the material's inputs at this time.
    pub materials: Vec<Material>,
    /// One entry per [`Scene::dynamic_lights`] entry: the light at this time.
    pub lights: Vec<Light>,
    /// One entry per skinned mesh's `frame` index ([`animation::Animation::skinned`]): its
    /// skeleton's pose and the skeleton-to-mesh matrix at this time.
    pub skinning: Vec<skinning::SkinFrame>,
    /// Motion blur (`--motion-blur`): the frame's other shutter samples, each evaluated at its own
    /// sub-frame time, rendered before this one and averaged with it. This state is the sample
    /// nearest the shutter's centre and is rendered last, so the frame's AOVs are its own
    /// ([`shutter::sample_times`]). Empty without motion blur.
    pub motion: Vec<FrameState>,
}

/// New vertex data for an animated mesh, laid out as its [`Mesh::positions`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeshVertices {
    pub positions: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
}

/// An axis-aligned box; empty when `min > max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min: DVec3,
    pub max: DVec3,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds::EMPTY
    }
}

impl Bounds {
    pub const EMPTY: Bounds = Bounds {
        min: DVec3::splat(f64::INFINITY),
        max: DVec3::splat(f64::NEG_INFINITY),
    };

    pub fn is_empty(&self) -> bool {
        self.min.x > self.max.x || self.min.y > self.max.y || self.min.z > self.max.z
    }

    pub fn include_point(&mut self, p: DVec3) {
        if p.is_finite() {
            self.min = self.min.min(p);
            self.max = self.max.max(p);
        }
    }

    /// Grows the box to hold `local` points seen through `transform`.
    /// Grows the bounds by a local box seen through `m` (its 8 corners: cheap for large meshes).
    pub fn include_box(&mut self, m: &DMat4, local: &Bounds) {
        if local.is_empty() {
            return;
        }
        for i in 0..8 {
            let c = DVec3::new(
                if i & 1 == 0 { local.min.x } else { local.max.x },
                if i & 2 == 0 { local.min.y } else { local.max.y },
                if i & 4 == 0 { local.min.z } else { local.max.z },
            );
            self.include_point(m.transform_point3(c));
        }
    }

    pub fn include_points(&mut self, transform: &DMat4, local: &[[f32; 3]]) {
        for p in local {
            self.include_point(transform.transform_point3(DVec3::new(p[0] as f64, p[1] as f64, p[2] as f64)));
        }
    }

    pub fn center(&self) -> DVec3 {
        (self.min + self.max) * 0.5
    }

    pub fn size(&self) -> DVec3 {
        if self.is_empty() {
            DVec3::ZERO
        } else {
            self.max - self.min
        }
    }
}

/// The stage's `upAxis` metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpAxis {
    #[default]
    Y,
    Z,
}

/// Smooth normals per USD point (so split vertices of one point share a normal), spread to vertices.
pub fn smooth_normals(points: &[[f32; 3]], point_triangles: &[u32], vertex_points: &[u32]) -> Vec<[f32; 3]> {
    let per_point = compute_normals(points, point_triangles);
    vertex_points
        .iter()
        .map(|&p| per_point.get(p as usize).copied().unwrap_or([0.0, 0.0, 1.0]))
        .collect()
}

/// Smooth per-vertex normals for a triangle list (area-weighted), for meshes without authored normals.
/// Vertices that share a USD point are expected to have been merged by the caller when smoothing
/// across them is wanted.
pub fn compute_normals(positions: &[[f32; 3]], indices: &[u32]) -> Vec<[f32; 3]> {
    let mut acc = vec![Vec3::ZERO; positions.len()];
    for tri in indices.chunks_exact(3) {
        let [a, b, c] = [tri[0] as usize, tri[1] as usize, tri[2] as usize];
        if a >= positions.len() || b >= positions.len() || c >= positions.len() {
            continue;
        }
        let (pa, pb, pc) = (
            Vec3::from(positions[a]),
            Vec3::from(positions[b]),
            Vec3::from(positions[c]),
        );
        let n = (pb - pa).cross(pc - pa); // length = 2 * area: area weighting for free
        acc[a] += n;
        acc[b] += n;
        acc[c] += n;
    }
    acc.into_iter().map(|n| n.normalize_or(Vec3::Z).to_array()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_of_a_ccw_triangle_point_up() {
        let n = compute_normals(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], &[0, 1, 2]);
        for v in n {
            assert_eq!(v, [0.0, 0.0, 1.0]);
        }
    }

    #[test]
    fn bounds_grow_and_report_size() {
        let mut b = Bounds::EMPTY;
        assert!(b.is_empty());
        assert_eq!(b.size(), DVec3::ZERO);
        b.include_points(
            &DMat4::from_translation(DVec3::new(10.0, 0.0, 0.0)),
            &[[-1.0, -2.0, -3.0], [1.0, 2.0, 3.0]],
        );
        assert_eq!(b.min, DVec3::new(9.0, -2.0, -3.0));
        assert_eq!(b.size(), DVec3::new(2.0, 4.0, 6.0));
        b.include_point(DVec3::new(f64::NAN, 0.0, 0.0));
        assert_eq!(b.size(), DVec3::new(2.0, 4.0, 6.0), "NaN points are ignored");
    }
}
