//! GPU-visible data layouts (`#[repr(C)]` Pod structs) and the shading constants they carry.
//!
//! Keep in sync with `shaders/mesh.wgsl`: every struct here has a WGSL twin of the same name, and
//! the vertex attribute locations in [`INSTANCE_ATTRIBUTES`] match `VertexIn` there.

use bytemuck::{Pod, Zeroable};
use glam::{DMat4, DVec3, Mat4, Vec3};

use crate::scene::{ClipPlanes, MAX_CLIP_PLANES};

/// Per-frame uniforms. Keep in sync with `struct Globals` in `shaders/mesh.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct Globals {
    /// World to clip space, reversed Z (f32 copy of `Camera::view_projection`).
    pub view_proj: [[f32; 4]; 4],
    /// The headlight: xyz = camera position and w = 1 for a perspective camera; xyz = unit vector
    /// towards the camera and w = 0 for an orthographic one (all view rays are parallel).
    pub eye: [f32; 4],
    /// The displayColor fallback's terms: x = ambient, y = diffuse, z = specular weight,
    /// w = specular exponent.
    pub shading: [f32; 4],
    /// Third row of world to camera: `dot(xyz, p) + w` is p's camera-space z (the depth AOV is its
    /// negation).
    pub view_z: [f32; 4],
    /// x = number of lights in the light buffer, y = 1 when unlit (colours as authored),
    /// z = 1 when a dome lights the scene (`dome_*` below), w = the dome texture's mip count.
    pub lighting: [u32; 4],
    /// The dome's radiance scale (rgb); w = 1 when the dome has a texture.
    pub dome_color: [f32; 4],
    /// World to dome space (rotation; columns), for the dome's texture lookups.
    pub dome_from_world: [[f32; 4]; 3],
    /// Diffuse irradiance of the dome as 9 spherical-harmonic coefficients (rgb; `texture::eval_sh9`
    /// convention), divided by pi: a constant dome of radiance L gives L.
    pub dome_sh: [[f32; 4]; 9],
    /// The camera's clipping planes in world space: a fragment at p is discarded where
    /// `dot(plane, (p, 1)) < 0` for any of the first `clip_count[0]`.
    pub clip_planes: [[f32; 4]; MAX_CLIP_PLANES],
    /// x = number of clipping planes (0: the shaders skip the test); y, z, w spare.
    pub clip_count: [u32; 4],
    /// First and second rows of world to camera: their xyz are the camera's right and up axes,
    /// along which camera-facing curves and points are laid out.
    pub view_x: [f32; 4],
    pub view_y: [f32; 4],
    /// xy = the image size in pixels (for curves and points sized in pixels); z = which way one
    /// framebuffer row down runs in the image (1, or -1 drawn upside down: `raster::FLIP_Y`), so
    /// screen-space y derivatives keep the image's direction; w spare.
    pub viewport: [f32; 4],
}

/// One instance: its model matrix and the matrix that carries its normals to world space.
/// Keep in sync with the `@location(3..=9)` inputs of `VertexIn` in `shaders/mesh.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct InstanceRaw {
    pub model: [[f32; 4]; 4],
    /// xyz: columns of the cofactor matrix of the model's upper 3x3, times the sign of its
    /// determinant. The cofactor matrix is det * inverse-transpose, so this is |det| *
    /// inverse-transpose: right-oriented once the shader normalizes, and well defined for singular
    /// (hidden, flat) transforms where an inverse would be NaN.
    /// w of column 0: 1 when the mesh is double-sided. w of column 1: 1 when the transform mirrors
    /// (negative determinant), which turns counter-clockwise front faces clockwise on screen.
    pub normal: [[f32; 4]; 3],
    /// Index in `Scene::meshes` and in `Scene::instances` (the primId and instanceId AOVs), the
    /// material's index in the material buffer, and how the mesh faces the camera
    /// (`scene::Facing`).
    pub ids: [u32; 4],
}

impl InstanceRaw {
    pub fn new(model: &Mat4, double_sided: bool) -> InstanceRaw {
        if !model.is_finite() {
            return InstanceRaw::zeroed();
        }
        let (c0, c1, c2) = (
            model.x_axis.truncate(),
            model.y_axis.truncate(),
            model.z_axis.truncate(),
        );
        let det = c0.dot(c1.cross(c2));
        let sign = if det < 0.0 { -1.0 } else { 1.0 };
        let cof = [c1.cross(c2) * sign, c2.cross(c0) * sign, c0.cross(c1) * sign];
        let col = |v: Vec3, w: f32| {
            if v.is_finite() {
                [v.x, v.y, v.z, w]
            } else {
                [0.0, 0.0, 0.0, w]
            }
        };
        InstanceRaw {
            model: model.to_cols_array_2d(),
            normal: [
                col(cof[0], if double_sided { 1.0 } else { 0.0 }),
                col(cof[1], if det < 0.0 { 1.0 } else { 0.0 }),
                col(cof[2], 0.0),
            ],
            ids: [0; 4],
        }
    }

    /// The same instance, naming its mesh and scene instance for the id AOVs.
    pub fn with_ids(mut self, mesh: u32, instance: u32, material: u32) -> InstanceRaw {
        self.ids = [mesh, instance, material, self.ids[3]];
        self
    }

    /// The same instance, drawn facing the camera as `facing` says (`scene::Facing` as u32; the
    /// shader's `place`).
    pub fn with_facing(mut self, facing: u32) -> InstanceRaw {
        self.ids[3] = facing;
        self
    }

    /// Whether this instance's mesh is double-sided (kept when a frame replaces the matrix).
    pub fn double_sided(&self) -> bool {
        self.normal[0][3] > 0.5
    }
}

/// Vertex attribute locations of the per-vertex streams (one buffer each).
pub const POSITION_LOCATION: u32 = 0;
pub const NORMAL_LOCATION: u32 = 1;
pub const COLOR_LOCATION: u32 = 2;

/// The instance stream: model matrix columns at locations 3..=6, normal matrix columns at 7..=9,
/// ids at 10.
pub const INSTANCE_ATTRIBUTES: [wgpu::VertexAttribute; 8] = wgpu::vertex_attr_array![
    3 => Float32x4, 4 => Float32x4, 5 => Float32x4, 6 => Float32x4,
    7 => Float32x4, 8 => Float32x4, 9 => Float32x4, 10 => Uint32x4
];

/// Texture coordinates: their own per-vertex stream.
pub const UV_LOCATION: u32 = 11;

/// One light, as the shader evaluates it. Keep in sync with `struct LightRaw` in
/// `shaders/mesh.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct LightRaw {
    /// xyz: world position (w = 1), or the unit direction towards the light (w = 0, distant).
    pub position: [f32; 4],
    /// rgb: radiance reaching a surface for diffuse; w: the specular multiplier.
    pub color: [f32; 4],
    /// xyz: the world direction the light emits along (its -Z); w: cosine of the cone's outer
    /// half-angle (-2: no cone).
    pub axis: [f32; 4],
    /// x: cosine where the cone's softening starts, y: focus exponent, z: 1 when its shadows
    /// are cast, w: its shadow map layer + 1 this frame (0: none).
    pub cone: [f32; 4],
}

/// One material, as the shader reads it. Keep in sync with `struct MaterialRaw` in
/// `shaders/mesh.wgsl`. Inputs are in `scene::material::Material::lookups` order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct MaterialRaw {
    /// Per input: its constant value (rgb, or x for scalars).
    pub values: [[f32; 4]; 12],
    /// Per input: 0 constant, 1 texture, 2 the vertex colour (rgb for colours, alpha for
    /// scalars), 3 a texture that could not be read (its fallback).
    pub kinds: [[u32; 4]; 3],
    /// x: shading model (0 displayColor, 1 PreviewSurface), y: useSpecularWorkflow, z: has a
    /// normal map, w: spare.
    pub flags: [u32; 4],
    pub lookups: [LookupRaw; 12],
}

/// One texture lookup's remapping. Keep in sync with `struct LookupRaw` in `shaders/mesh.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct LookupRaw {
    pub scale: [f32; 4],
    pub bias: [f32; 4],
    pub fallback: [f32; 4],
    /// Rows of the st transform (xyz); w: 1 when that axis wraps to black outside [0, 1].
    pub st_s: [f32; 4],
    pub st_t: [f32; 4],
    /// x: output channel (0 r, 1 g, 2 b, 3 a, 4 rgb), y, z: UDIM columns and rows, w: its entry
    /// in the scene's texture table (the compute shading pass reads textures through it).
    pub info: [u32; 4],
}

/// Parameters of the colour conversion pass. Keep in sync with `ColorParams` in
/// `shaders/color.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct ColorParams {
    pub width: u32,
    pub height: u32,
    /// 1: the 8-bit image keeps premultiplied colour (usdrecord's encoding); 0: straight alpha.
    pub premultiplied: u32,
    /// 1: also write the linear f32 image.
    pub write_linear: u32,
    /// 1: sRGB-encode the 8-bit image; 0: write the linear values.
    pub srgb: u32,
    /// 1: the resolved image is upside down (`raster::FLIP_Y`): row y is written as height - 1 - y.
    pub flip_y: u32,
    pub _pad: [u32; 2],
    /// The drawn pixels (x0, y0, x1, y1), end exclusive: the data window, or the whole image.
    pub window: [u32; 4],
    /// What the pixels outside `window` hold: the clear colour, premultiplied linear RGBA.
    pub outside: [f32; 4],
}

/// Motion blur's per-submission parameter of the colour and accumulation passes. Keep in sync
/// with `MotionParams` in `shaders/color.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct MotionParams {
    /// Shutter samples of this frame accumulated before this one: the accumulation pass writes
    /// (0) or adds; the colour pass averages the sum with its own sample (above 0). Always 0
    /// without motion blur.
    pub before: u32,
    pub _pad: [u32; 3],
}

/// What the colour pass composites behind and over the opaque image, per frame. Keep in sync
/// with `BackgroundParams` in `shaders/color.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BackgroundParams {
    /// Clip space to world (for the view ray of a pixel).
    pub clip_to_world: [[f32; 4]; 4],
    /// World to dome space, by column (as `Globals::dome_from_world`).
    pub dome_from_world: [[f32; 4]; 3],
    /// rgb: the dome's radiance scale; w: 1 when textured.
    pub dome_color: [f32; 4],
    /// x: 1 to draw the dome behind the image, y: 1 to composite the blended (OIT) targets.
    pub flags: [u32; 4],
}

/// Per-frame parameters of the compute shading pass. Keep in sync with `ShadeParams` in
/// `shaders/visibility.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct ShadeParams {
    /// Clip space to world (for the view ray of a pixel).
    pub clip_to_world: [[f32; 4]; 4],
    /// What a sample no surface covers holds: the clear colour, premultiplied.
    pub clear: [f32; 4],
    /// x, y: the image size; z: MSAA samples per pixel; w: spare.
    pub size: [u32; 4],
}

/// Parameters of the AOV gather pass. Keep in sync with `AovParams` in `shaders/aov.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct AovParams {
    pub width: u32,
    pub height: u32,
    /// Bit 0 depth, 1 normal, 2 primId, 3 instanceId: the outputs wanted.
    pub mask: u32,
    /// 1: the attachments are upside down (`raster::FLIP_Y`): row y is written as height - 1 - y.
    pub flip_y: u32,
}

/// The headlight's terms: usdrecord's (UsdAppUtils FrameRecorder's) lighting state, as Storm's
/// simple lighting applies it to material-less displayColor geometry: one point light at the camera
/// (diffuse and specular 1, ambient 0.01), scene ambient 0.01, and a default material with ambient
/// 0.2, specular 0.1, shininess 32. Per pixel that is
/// `0.01 * 0.2 + 0.01 * 0.2 + color * N.L + 0.1 * (N.H)^32`; the ambient is not tinted by colour.
pub const AMBIENT: f32 = 0.004;
pub const DIFFUSE: f32 = 1.0;
pub const SPECULAR: f32 = 0.1;
pub const SHININESS: f32 = 32.0;

/// What the shader computes for a surface of linear `color` whose shading normal makes `n_dot_v`
/// with the view direction (negative: turned away, ambient only). The light sits at the camera, so the half vector is the view
/// vector and N.L = N.H = N.V. Linear, straight (not premultiplied) RGB; tests use this as the
/// analytic answer.
pub fn headlight(color: [f32; 3], n_dot_v: f32) -> [f32; 3] {
    let d = n_dot_v.clamp(0.0, 1.0);
    let spec = SPECULAR * d.powf(SHININESS);
    color.map(|c| AMBIENT + c * DIFFUSE * d + spec)
}

impl Globals {
    pub fn new(view_proj: &DMat4, camera_to_world: &DMat4, orthographic: bool) -> Globals {
        let eye = if orthographic {
            let back = camera_to_world.transform_vector3(DVec3::Z).normalize_or(DVec3::Z);
            [back.x as f32, back.y as f32, back.z as f32, 0.0]
        } else {
            let p = camera_to_world.transform_point3(DVec3::ZERO);
            [p.x as f32, p.y as f32, p.z as f32, 1.0]
        };
        // In f64: camera transforms far from the origin lose depth precision in f32.
        let world_to_camera = camera_to_world.inverse();
        let row = |i: usize| {
            let r = world_to_camera.row(i);
            if r.is_finite() {
                r.as_vec4().to_array()
            } else {
                [0.0; 4]
            }
        };
        let view_z = row(2);
        Globals {
            view_proj: view_proj.as_mat4().to_cols_array_2d(),
            eye,
            shading: [AMBIENT, DIFFUSE, SPECULAR, SHININESS],
            view_z,
            lighting: [0; 4],
            dome_color: [0.0; 4],
            dome_from_world: [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],
            dome_sh: [[0.0; 4]; 9],
            clip_planes: [[0.0; 4]; MAX_CLIP_PLANES],
            clip_count: [0; 4],
            view_x: row(0),
            view_y: row(1),
            viewport: [0.0; 4],
        }
    }

    /// Sets the image size, in pixels.
    pub fn set_viewport(&mut self, width: u32, height: u32) {
        let down = if super::raster::FLIP_Y { -1.0 } else { 1.0 };
        self.viewport = [width as f32, height as f32, down, 0.0];
    }

    /// Sets the clipping planes, already in world space ([`crate::scene::Camera::world_clip_planes`]).
    pub fn set_clip_planes(&mut self, planes: &ClipPlanes) {
        self.clip_planes = [[0.0; 4]; MAX_CLIP_PLANES];
        for (slot, p) in self.clip_planes.iter_mut().zip(planes.as_slice()) {
            *slot = p.as_vec4().to_array();
        }
        self.clip_count = [planes.as_slice().len() as u32, 0, 0, 0];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_wgsl_sizes() {
        assert_eq!(std::mem::size_of::<Globals>(), 112 + 16 + 16 + 48 + 144 + 128 + 16 + 48);
        assert_eq!(std::mem::size_of::<InstanceRaw>(), 128);
        assert_eq!(std::mem::size_of::<LightRaw>(), 64);
        assert_eq!(std::mem::size_of::<BackgroundParams>(), 144);
        assert_eq!(std::mem::size_of::<LookupRaw>(), 96);
        assert_eq!(std::mem::size_of::<MaterialRaw>(), 192 + 48 + 16 + 12 * 96);
        assert_eq!(std::mem::size_of::<ColorParams>(), 64);
        assert_eq!(std::mem::size_of::<AovParams>(), 16);
        assert_eq!(std::mem::size_of::<MotionParams>(), 16);
        assert_eq!(std::mem::size_of::<ShadeParams>(), 96);
    }

    #[test]
    fn cofactor_is_inverse_transpose_up_to_scale() {
        let m = Mat4::from_scale_rotation_translation(
            Vec3::new(2.0, 3.0, 0.5),
            glam::Quat::from_rotation_y(0.7),
            Vec3::new(1.0, 2.0, 3.0),
        );
        let raw = InstanceRaw::new(&m, true);
        assert!(raw.double_sided());
        let it = glam::Mat3::from_mat4(m).inverse().transpose();
        for (i, col) in raw.normal.iter().enumerate() {
            let c = Vec3::new(col[0], col[1], col[2]);
            let det = glam::Mat3::from_mat4(m).determinant();
            assert!((c / det - it.col(i)).length() < 1e-5, "{i}: {c} vs {}", it.col(i));
        }
        let hidden = InstanceRaw::new(&Mat4::ZERO, false);
        assert_eq!(hidden, InstanceRaw::zeroed());
        // A mirror keeps outward normals outward and is flagged.
        let mirrored = InstanceRaw::new(&Mat4::from_scale(Vec3::new(-1.0, 1.0, 1.0)), false);
        // The +x face lands at -x: its normal must point to -x (outwards) too.
        assert_eq!(mirrored.normal[0], [-1.0, 0.0, 0.0, 0.0]);
        assert_eq!(mirrored.normal[1][3], 1.0);
    }

    #[test]
    fn headlight_facing_is_ambient_plus_diffuse_plus_specular() {
        let c = headlight([1.0, 0.5, 0.0], 1.0);
        assert!((c[0] - (AMBIENT + DIFFUSE + SPECULAR)).abs() < 1e-6);
        assert!((c[2] - (AMBIENT + SPECULAR)).abs() < 1e-6);
        assert_eq!(headlight([1.0; 3], -0.5), [AMBIENT; 3]);
    }
}
