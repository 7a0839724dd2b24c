//! Tessellation of UsdGeom's implicit shapes (Cube, Sphere, Cylinder, Cone, Capsule, Plane) into
//! [`super::Mesh`] data: plain math, no USD types, so it is unit-tested on its own.
//!
//! Shapes are built around a spine along +Z and then rotated onto the authored `axis` with the
//! cyclic basis UsdGeom's own mesh generators use (X: u=Y, v=Z; Y: u=Z, v=X; Z: u=X, v=Y), so an
//! axis change is a pure rotation and keeps triangles counter-clockwise.

use std::f32::consts::{PI, TAU};

use super::{Facing, Mesh};

/// The spine axis of a Cylinder, Cone, Capsule or the normal of a Plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Axis {
    X,
    Y,
    #[default]
    Z,
}

impl Axis {
    /// Reads a USD `axis` token; anything else is Z, the schema fallback.
    pub fn from_token(token: &str) -> Axis {
        match token {
            "X" => Axis::X,
            "Y" => Axis::Y,
            _ => Axis::Z,
        }
    }

    /// Maps a point built with its spine on Z onto this axis.
    fn orient(self, [u, v, s]: [f32; 3]) -> [f32; 3] {
        match self {
            Axis::Z => [u, v, s],
            Axis::X => [s, u, v],
            Axis::Y => [v, s, u],
        }
    }
}

/// Segments around a round shape: 10, as UsdImaging's mesh generators (GeomUtil) tessellate
/// implicit shapes for Storm at complexity 1.0, so silhouettes match the reference images (a
/// Storm sphere seen along its axis is a regular 10-gon; a rounder one scores IoU 0.935 against it).
const SLICES: usize = 10;
/// Rings from pole to pole on a sphere (GeomUtil's 10 axial divisions).
const STACKS: usize = 10;
/// Rings in each hemispherical cap of a capsule (GeomUtil's 4 cap divisions).
const CAP_STACKS: usize = 4;

/// Accumulates vertices and triangles for one shape, and the polygons they triangulate (the
/// shape's control cage, refined under `--complexity`).
struct Builder {
    mesh: Mesh,
    axis: Axis,
    polygons: Vec<Vec<u32>>,
}

impl Builder {
    fn new(axis: Axis) -> Builder {
        Builder {
            mesh: Mesh::default(),
            axis,
            polygons: Vec::new(),
        }
    }

    fn vertex(&mut self, p: [f32; 3], n: [f32; 3]) -> u32 {
        let i = self.mesh.positions.len() as u32;
        self.mesh.positions.push(self.axis.orient(p));
        self.mesh.normals.push(self.axis.orient(n));
        i
    }

    fn tri(&mut self, a: u32, b: u32, c: u32) {
        self.mesh.indices.extend_from_slice(&[a, b, c]);
    }

    fn quad(&mut self, a: u32, b: u32, c: u32, d: u32) {
        self.tri(a, b, c);
        self.tri(a, c, d);
        self.polygons.push(vec![a, b, c, d]);
    }

    /// A surface of revolution around Z from a profile of (radius, z, normal radial, normal z)
    /// points listed bottom to top: one ring of vertices per profile point.
    fn revolve(&mut self, profile: &[(f32, f32, f32, f32)]) {
        let start = self.mesh.positions.len() as u32;
        for &(r, z, nr, nz) in profile {
            for s in 0..=SLICES {
                let t = s as f32 / SLICES as f32 * TAU;
                let (sin, cos) = t.sin_cos();
                self.vertex([r * cos, r * sin, z], [nr * cos, nr * sin, nz]);
            }
        }
        let row = (SLICES + 1) as u32;
        for ring in 0..profile.len().saturating_sub(1) as u32 {
            for s in 0..SLICES as u32 {
                let a = start + ring * row + s;
                let b = a + 1;
                let (c, d) = (b + row, a + row);
                // Counter-clockwise seen from outside (normals point away from the spine).
                self.quad(a, b, c, d);
            }
        }
    }

    /// A flat disk at height `z` facing +Z (`up`) or -Z.
    fn disk(&mut self, radius: f32, z: f32, up: bool) {
        let nz = if up { 1.0 } else { -1.0 };
        let center = self.vertex([0.0, 0.0, z], [0.0, 0.0, nz]);
        let first = self.mesh.positions.len() as u32;
        for s in 0..=SLICES {
            let t = s as f32 / SLICES as f32 * TAU;
            self.vertex([radius * t.cos(), radius * t.sin(), z], [0.0, 0.0, nz]);
        }
        for s in 0..SLICES as u32 {
            let (b, c) = if up {
                (first + s, first + s + 1)
            } else {
                (first + s + 1, first + s)
            };
            self.tri(center, b, c);
            self.polygons.push(vec![center, b, c]);
        }
    }

    /// The polygons over welded points: the seam's and the poles' copies of a point (kept apart
    /// in the mesh for their normals) become one, and a quad at a pole becomes a triangle, as
    /// UsdImaging's generators (GeomUtil) build the shapes' topology.
    fn cage(&self) -> Cage {
        let scale = self
            .mesh
            .positions
            .iter()
            .flatten()
            .fold(0.0f32, |m, v| m.max(v.abs()))
            .max(f32::MIN_POSITIVE);
        let key = |p: &[f32; 3]| p.map(|v| (v / scale * 1.0e5).round() as i64);
        let mut welded: std::collections::HashMap<[i64; 3], i64> = std::collections::HashMap::new();
        let mut cage = Cage::default();
        let id: Vec<i64> = self
            .mesh
            .positions
            .iter()
            .map(|p| {
                *welded.entry(key(p)).or_insert_with(|| {
                    cage.points.push(*p);
                    cage.points.len() as i64 - 1
                })
            })
            .collect();
        for polygon in &self.polygons {
            let mut corners: Vec<i64> = polygon.iter().map(|&v| id[v as usize]).collect();
            corners.dedup();
            if corners.len() > 1 && corners.first() == corners.last() {
                corners.pop();
            }
            if corners.len() >= 3 {
                cage.counts.push(corners.len() as i64);
                cage.indices.extend(corners);
            }
        }
        cage
    }

    fn finish(mut self, color: [f32; 4], double_sided: bool) -> Mesh {
        let n = self.mesh.positions.len();
        self.mesh.colors = vec![color; n];
        self.mesh.vertex_points = (0..n as u32).collect();
        self.mesh.double_sided = double_sided;
        self.mesh
    }
}

/// A `size`-wide cube centred on the origin, flat-shaded (24 vertices, 12 triangles).
fn cube_builder(size: f64) -> Builder {
    let h = (size as f32) / 2.0;
    let mut b = Builder::new(Axis::Z);
    // Each face: its normal and two in-plane axes with u x v = normal (so the quad is CCW).
    let faces: [([f32; 3], [f32; 3], [f32; 3]); 6] = [
        ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
        ([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
        ([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]),
        ([0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
        ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
        ([0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]),
    ];
    for (n, u, v) in faces {
        let corner = |su: f32, sv: f32| [0, 1, 2].map(|k| h * (n[k] + su * u[k] + sv * v[k]));
        let a = b.vertex(corner(-1.0, -1.0), n);
        let c1 = b.vertex(corner(1.0, -1.0), n);
        let c2 = b.vertex(corner(1.0, 1.0), n);
        let d = b.vertex(corner(-1.0, 1.0), n);
        b.quad(a, c1, c2, d);
    }
    b
}

/// A UV sphere of `radius` centred on the origin.
fn sphere_builder(radius: f64) -> Builder {
    let r = radius as f32;
    let profile: Vec<_> = (0..=STACKS)
        .map(|i| {
            let phi = -PI / 2.0 + PI * i as f32 / STACKS as f32;
            let (sin, cos) = phi.sin_cos();
            // Exactly zero radius at the poles, so float noise cannot turn a pole triangle inside out.
            let cos = if i == 0 || i == STACKS { 0.0 } else { cos };
            (r * cos, r * sin, cos, sin)
        })
        .collect();
    let mut b = Builder::new(Axis::Z);
    b.revolve(&profile);
    b
}

/// UsdGeomPoints as Storm shows them: discs facing the camera, `widths` across (Storm's
/// `gl_PointSize`, scaled by the prim's average scale, as the vertex shader does: see
/// [`Facing::Sprite`]). Each disc is a fan of 16 segments for up to 20,000 points, 8 past that,
/// inscribed in the circle (Storm's discs come out a few percent smaller than `widths` in its
/// images). With `facing` [`Facing::PixelSprite`] the diameters are in pixels.
pub fn points(centers: &[[f32; 3]], diameters: &[f32], colors: &[[f32; 4]], facing: Facing) -> Mesh {
    let slices: u32 = if centers.len() <= 20_000 { 16 } else { 8 };
    let rim: Vec<[f32; 2]> = (0..slices)
        .map(|k| {
            let (s, c) = (k as f32 / slices as f32 * TAU).sin_cos();
            [c, s]
        })
        .collect();
    let mut mesh = Mesh {
        facing,
        double_sided: true,
        ..Mesh::default()
    };
    for (i, c) in centers.iter().enumerate() {
        let r = diameters.get(i).or(diameters.first()).copied().unwrap_or(1.0) / 2.0;
        let color = colors
            .get(i)
            .or(colors.first())
            .copied()
            .unwrap_or([0.5, 0.5, 0.5, 1.0]);
        if !(r.is_finite() && r > 0.0) {
            continue;
        }
        let base = mesh.positions.len() as u32;
        for uv in std::iter::once([0.0, 0.0]).chain(rim.iter().map(|d| [d[0] * r, d[1] * r])) {
            mesh.positions.push(*c);
            // The offset from the centre rides in the normal stream, which animated shapes
            // update per frame (animated widths); the shader makes the normal face the camera.
            mesh.normals.push([uv[0], uv[1], 0.0]);
            mesh.uvs.push(uv);
            mesh.colors.push(color);
            mesh.vertex_points.push(i as u32);
        }
        for k in 0..slices {
            mesh.indices
                .extend_from_slice(&[base, base + 1 + k, base + 1 + (k + 1) % slices]);
        }
    }
    mesh
}

/// A capped cylinder of `radius` and `height` along `axis`, centred on the origin.
fn cylinder_builder(radius: f64, height: f64, axis: Axis) -> Builder {
    let (r, h) = (radius as f32, height as f32 / 2.0);
    let mut b = Builder::new(axis);
    b.revolve(&[(r, -h, 1.0, 0.0), (r, h, 1.0, 0.0)]);
    b.disk(r, h, true);
    b.disk(r, -h, false);
    b
}

/// A cone with its base (of `radius`) at `-height/2` and its apex at `+height/2` along `axis`.
fn cone_builder(radius: f64, height: f64, axis: Axis) -> Builder {
    let (r, h) = (radius as f32, height as f32 / 2.0);
    // The side normal leans up by the cone's slope.
    let len = (r * r + (2.0 * h) * (2.0 * h)).sqrt().max(f32::MIN_POSITIVE);
    let (nr, nz) = (2.0 * h / len, r / len);
    let mut b = Builder::new(axis);
    b.revolve(&[(r, -h, nr, nz), (0.0, h, nr, nz)]);
    b.disk(r, -h, false);
    b
}

/// A capsule: a cylinder of `radius` and `height` (the straight part) with hemispherical caps.
fn capsule_builder(radius: f64, height: f64, axis: Axis) -> Builder {
    let (r, h) = (radius as f32, height as f32 / 2.0);
    let half = CAP_STACKS;
    let mut profile = Vec::with_capacity(2 * half + 2);
    for i in 0..=half {
        let phi = -PI / 2.0 + PI / 2.0 * i as f32 / half as f32;
        let (sin, cos) = phi.sin_cos();
        let cos = if i == 0 { 0.0 } else { cos };
        profile.push((r * cos, -h + r * sin, cos, sin));
    }
    for i in 0..=half {
        let phi = PI / 2.0 * i as f32 / half as f32;
        let (sin, cos) = phi.sin_cos();
        let cos = if i == half { 0.0 } else { cos };
        profile.push((r * cos, h + r * sin, cos, sin));
    }
    let mut b = Builder::new(axis);
    b.revolve(&profile);
    b
}

/// A `width` x `length` rectangle through the origin whose normal is `axis`.
fn plane_builder(width: f64, length: f64, axis: Axis) -> Builder {
    let (w, l) = (width as f32 / 2.0, length as f32 / 2.0);
    let n = [0.0, 0.0, 1.0];
    let mut b = Builder::new(axis);
    let a = b.vertex([-w, -l, 0.0], n);
    let c1 = b.vertex([w, -l, 0.0], n);
    let c2 = b.vertex([w, l, 0.0], n);
    let d = b.vertex([-w, l, 0.0], n);
    b.quad(a, c1, c2, d);
    b
}

/// An implicit gprim with its shape parameters: its mesh as Storm tessellates it, or the polygons
/// that mesh triangulates (refined as a subdivision surface under `--complexity`, as Storm
/// refines implicit shapes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Implicit {
    Cube { size: f64 },
    Sphere { radius: f64 },
    Cylinder { radius: f64, height: f64, axis: Axis },
    Cone { radius: f64, height: f64, axis: Axis },
    Capsule { radius: f64, height: f64, axis: Axis },
    Plane { width: f64, length: f64, axis: Axis },
}

/// A shape's control cage: polygons (`counts` corners each, in `indices`) over `points`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cage {
    pub points: Vec<[f32; 3]>,
    pub counts: Vec<i64>,
    pub indices: Vec<i64>,
}

impl Implicit {
    fn builder(self) -> Builder {
        match self {
            Implicit::Cube { size } => cube_builder(size),
            Implicit::Sphere { radius } => sphere_builder(radius),
            Implicit::Cylinder { radius, height, axis } => cylinder_builder(radius, height, axis),
            Implicit::Cone { radius, height, axis } => cone_builder(radius, height, axis),
            Implicit::Capsule { radius, height, axis } => capsule_builder(radius, height, axis),
            Implicit::Plane { width, length, axis } => plane_builder(width, length, axis),
        }
    }

    pub fn mesh(self, color: [f32; 4], double_sided: bool) -> Mesh {
        self.builder().finish(color, double_sided)
    }

    pub fn cage(self) -> Cage {
        self.builder().cage()
    }
}

/// A `size`-wide cube centred on the origin, flat-shaded (24 vertices, 12 triangles).
pub fn cube(size: f64, color: [f32; 4], double_sided: bool) -> Mesh {
    Implicit::Cube { size }.mesh(color, double_sided)
}

/// A UV sphere of `radius` centred on the origin.
pub fn sphere(radius: f64, color: [f32; 4], double_sided: bool) -> Mesh {
    Implicit::Sphere { radius }.mesh(color, double_sided)
}

/// A capped cylinder of `radius` and `height` along `axis`, centred on the origin.
pub fn cylinder(radius: f64, height: f64, axis: Axis, color: [f32; 4], double_sided: bool) -> Mesh {
    Implicit::Cylinder { radius, height, axis }.mesh(color, double_sided)
}

/// A cone with its base (of `radius`) at `-height/2` and its apex at `+height/2` along `axis`.
pub fn cone(radius: f64, height: f64, axis: Axis, color: [f32; 4], double_sided: bool) -> Mesh {
    Implicit::Cone { radius, height, axis }.mesh(color, double_sided)
}

/// A capsule: a cylinder of `radius` and `height` (the straight part) with hemispherical caps.
pub fn capsule(radius: f64, height: f64, axis: Axis, color: [f32; 4], double_sided: bool) -> Mesh {
    Implicit::Capsule { radius, height, axis }.mesh(color, double_sided)
}

/// A `width` x `length` rectangle through the origin whose normal is `axis`.
pub fn plane(width: f64, length: f64, axis: Axis, color: [f32; 4], double_sided: bool) -> Mesh {
    Implicit::Plane { width, length, axis }.mesh(color, double_sided)
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;

    const GREY: [f32; 4] = [0.5, 0.5, 0.5, 1.0];

    #[test]
    fn cages_weld_seams_and_poles_into_geomutil_topology() {
        // A 10 x 10 sphere: 9 rings of 10 points and two poles; 80 quads, 20 pole triangles.
        let sphere = Implicit::Sphere { radius: 1.0 }.cage();
        assert_eq!(sphere.points.len(), 92);
        assert_eq!(sphere.counts.iter().filter(|&&c| c == 4).count(), 80);
        assert_eq!(sphere.counts.iter().filter(|&&c| c == 3).count(), 20);
        assert_eq!(sphere.indices.len(), 80 * 4 + 20 * 3);
        // A closed surface: every edge is shared by exactly two faces.
        let mut edges = std::collections::HashMap::new();
        let mut at = 0;
        for &c in &sphere.counts {
            let face = &sphere.indices[at..at + c as usize];
            for k in 0..face.len() {
                let (a, b) = (face[k], face[(k + 1) % face.len()]);
                *edges.entry((a.min(b), a.max(b))).or_insert(0) += 1;
            }
            at += c as usize;
        }
        assert!(edges.values().all(|&n| n == 2));
        // A cube: 8 corners, 6 quads.
        let cube = Implicit::Cube { size: 2.0 }.cage();
        assert_eq!((cube.points.len(), cube.counts.len()), (8, 6));
    }

    #[test]
    fn points_are_camera_facing_discs_of_their_widths() {
        let m = points(
            &[[0.0; 3], [5.0, 0.0, 0.0]],
            &[1.0, 3.0],
            &[GREY, [1.0, 0.0, 0.0, 1.0]],
            Facing::Sprite,
        );
        assert_eq!(m.facing, Facing::Sprite);
        // Every vertex sits on its point; the offsets (in the normal stream, which the shader
        // reads) reach the radius.
        let reach = |point: u32, center: [f32; 3]| {
            m.positions
                .iter()
                .zip(&m.normals)
                .zip(&m.vertex_points)
                .filter(|(_, &p)| p == point)
                .map(|((q, n), _)| {
                    assert_eq!(*q, center);
                    (n[0] * n[0] + n[1] * n[1]).sqrt()
                })
                .fold(0.0f32, f32::max)
        };
        assert!((reach(0, [0.0; 3]) - 0.5).abs() < 1e-5);
        assert!((reach(1, [5.0, 0.0, 0.0]) - 1.5).abs() < 1e-5);
        assert!(m
            .colors
            .iter()
            .zip(&m.vertex_points)
            .all(|(c, &p)| p == 0 || c[1] == 0.0));
        assert!(points(&[[0.0; 3]], &[f32::NAN], &[GREY], Facing::Sprite)
            .indices
            .is_empty());
    }

    /// Every triangle's geometric normal agrees with its vertices' normals (CCW from outside),
    /// and the mesh is self-consistent.
    fn check(mesh: &Mesh) {
        let n = mesh.positions.len();
        assert_eq!(mesh.normals.len(), n);
        assert_eq!(mesh.colors.len(), n);
        assert_eq!(mesh.vertex_points.len(), n);
        assert_eq!(mesh.indices.len() % 3, 0);
        assert!(!mesh.indices.is_empty());
        for t in mesh.indices.chunks_exact(3) {
            let [a, b, c] = [t[0], t[1], t[2]].map(|i| Vec3::from(mesh.positions[i as usize]));
            let face = (b - a).cross(c - a);
            if face.length() < 1e-9 {
                continue; // degenerate triangles at poles
            }
            let vn: Vec3 = t.iter().map(|&i| Vec3::from(mesh.normals[i as usize])).sum();
            assert!(face.dot(vn) > 0.0, "triangle {t:?} winds against its normals");
        }
    }

    fn extent(mesh: &Mesh) -> (Vec3, Vec3) {
        let mut lo = Vec3::splat(f32::INFINITY);
        let mut hi = Vec3::splat(f32::NEG_INFINITY);
        for p in &mesh.positions {
            lo = lo.min(Vec3::from(*p));
            hi = hi.max(Vec3::from(*p));
        }
        (lo, hi)
    }

    #[test]
    fn cube_has_the_authored_size() {
        let m = cube(2.0, GREY, false);
        check(&m);
        assert_eq!(m.indices.len(), 36);
        assert_eq!(extent(&m), (Vec3::splat(-1.0), Vec3::splat(1.0)));
    }

    #[test]
    fn sphere_points_lie_on_the_radius() {
        let m = sphere(3.0, GREY, false);
        check(&m);
        for p in &m.positions {
            assert!((Vec3::from(*p).length() - 3.0).abs() < 1e-4);
        }
    }

    #[test]
    fn cylinder_follows_its_axis() {
        for (axis, long) in [(Axis::X, 0), (Axis::Y, 1), (Axis::Z, 2)] {
            let m = cylinder(1.0, 4.0, axis, GREY, false);
            check(&m);
            let (lo, hi) = extent(&m);
            let size = hi - lo;
            assert!((size[long] - 4.0).abs() < 1e-5, "{axis:?} {size}");
            // Across the spine a 10-gon: 2 wide through opposite vertices, 2 sin 72 degrees across
            // opposite edges.
            let across = 2.0 * 72f32.to_radians().sin();
            let mut sides: Vec<f32> = (0..3).filter(|&k| k != long).map(|k| size[k]).collect();
            sides.sort_by(f32::total_cmp);
            assert!((sides[0] - across).abs() < 1e-3, "{axis:?} {size}");
            assert!((sides[1] - 2.0).abs() < 1e-3, "{axis:?} {size}");
        }
    }

    /// Storm draws implicit spheres as GeomUtil's 10 x 10 mesh: the equator is a regular 10-gon
    /// with a vertex on +X (testUsdImagingGLSphere's baseline is that 10-gon).
    #[test]
    fn sphere_is_tessellated_as_storm_does() {
        let m = sphere(2.0, GREY, false);
        check(&m);
        let equator: Vec<[f32; 3]> = m.positions.iter().copied().filter(|p| p[2].abs() < 1e-6).collect();
        let mut angles: Vec<i32> = equator
            .iter()
            .map(|p| (p[1].atan2(p[0]).to_degrees().rem_euclid(360.0).round() as i32) % 360)
            .collect();
        angles.sort();
        angles.dedup();
        assert_eq!(angles, (0..10).map(|k| k * 36).collect::<Vec<_>>());
        assert!(equator.iter().all(|p| (p[0].hypot(p[1]) - 2.0).abs() < 1e-5));
    }

    #[test]
    fn cone_apex_is_up_the_axis() {
        let m = cone(1.0, 2.0, Axis::Y, GREY, false);
        check(&m);
        let (lo, hi) = extent(&m);
        assert!((lo.y + 1.0).abs() < 1e-6 && (hi.y - 1.0).abs() < 1e-6);
    }

    #[test]
    fn capsule_adds_caps_to_its_height() {
        let m = capsule(0.5, 2.0, Axis::Z, GREY, false);
        check(&m);
        let (lo, hi) = extent(&m);
        assert!((hi.z - lo.z - 3.0).abs() < 1e-5);
    }

    #[test]
    fn plane_faces_its_axis() {
        let m = plane(2.0, 4.0, Axis::Y, GREY, true);
        check(&m);
        assert!(m.double_sided);
        assert!(m.normals.iter().all(|n| *n == [0.0, 1.0, 0.0]));
        let (lo, hi) = extent(&m);
        assert_eq!(
            hi - lo,
            Vec3::new(4.0, 0.0, 2.0),
            "width along the axis' u (Z), length along v (X)"
        );
    }
}
