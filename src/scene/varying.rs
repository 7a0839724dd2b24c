//! Meshes whose topology changes over time (a fluid surface re-meshed each frame, particles whose
//! count changes), drawn as a triangle soup of fixed capacity: every triangle has its own three
//! vertices and the index buffer is `0..3n`, so a frame rewrites only vertices. The buffers
//! uploaded once keep their size; the triangles a frame does not use collapse to a point at the
//! origin (zero offsets for camera-facing sprites and ribbons) and draw nothing.

use super::{Mesh, MeshVertices};

/// `mesh` as a soup of `capacity` triangles: its triangles' corners in order, then collapsed
/// ones. Colours and texture coordinates are copied per corner (a single colour is repeated).
/// Triangles past `capacity` are left out.
pub fn soup(mesh: &Mesh, capacity: usize) -> Mesh {
    let corners = capacity * 3;
    let used = mesh.indices.len().min(corners);
    let corner = |i: usize| mesh.indices[i] as usize;
    let color = |v: usize| {
        mesh.colors
            .get(v)
            .or(mesh.colors.first())
            .copied()
            .unwrap_or([0.5, 0.5, 0.5, 1.0])
    };
    let pad_color = mesh.colors.first().copied().unwrap_or([0.5, 0.5, 0.5, 1.0]);
    let vertices = soup_vertices(mesh, capacity).0;
    Mesh {
        path: mesh.path.clone(),
        positions: vertices.positions,
        normals: vertices.normals,
        colors: (0..used)
            .map(|i| color(corner(i)))
            .chain(std::iter::repeat_n(pad_color, corners - used))
            .collect(),
        indices: (0..corners as u32).collect(),
        uvs: if mesh.uvs.is_empty() {
            Vec::new()
        } else {
            (0..used)
                .map(|i| mesh.uvs.get(corner(i)).copied().unwrap_or_default())
                .chain(std::iter::repeat_n([0.0; 2], corners - used))
                .collect()
        },
        // Each corner is a point of its own.
        vertex_points: (0..corners as u32).collect(),
        double_sided: mesh.double_sided,
        facing: mesh.facing,
    }
}

/// A frame's `mesh` as the vertices of a soup of `capacity` triangles, and whether it had more
/// triangles than that (those are left out).
pub fn soup_vertices(mesh: &Mesh, capacity: usize) -> (MeshVertices, bool) {
    let corners = capacity * 3;
    let used = mesh.indices.len().min(corners);
    let at = |list: &[[f32; 3]], i: usize| list.get(mesh.indices[i] as usize).copied().unwrap_or([0.0; 3]);
    let positions = (0..used)
        .map(|i| at(&mesh.positions, i))
        .chain(std::iter::repeat_n([0.0; 3], corners - used))
        .collect();
    let normals = (0..used)
        .map(|i| at(&mesh.normals, i))
        .chain(std::iter::repeat_n([0.0; 3], corners - used))
        .collect();
    (MeshVertices { positions, normals }, mesh.indices.len() > corners)
}

/// A Points prim with room for `capacity` points: [`super::shapes::points`]' discs for that
/// many, the first ones placed at `centers` with `diameters`, the rest collapsed.
pub fn points_capacity(
    centers: &[[f32; 3]],
    diameters: &[f32],
    colors: &[[f32; 4]],
    capacity: usize,
    facing: super::Facing,
) -> Mesh {
    let colors: Vec<[f32; 4]> = (0..capacity)
        .map(|i| {
            colors
                .get(i)
                .or(colors.first())
                .copied()
                .unwrap_or([0.5, 0.5, 0.5, 1.0])
        })
        .collect();
    let mut mesh = super::shapes::points(&vec![[0.0; 3]; capacity], &[1.0], &colors, facing);
    let slices = disc_slices(&mesh, capacity);
    let (v, _) = point_vertices(centers, diameters, capacity, slices);
    mesh.positions = v.positions;
    mesh.normals = v.normals;
    mesh
}

/// Segments per disc of a mesh [`points_capacity`] built for `capacity` points.
pub fn disc_slices(mesh: &Mesh, capacity: usize) -> u32 {
    (mesh.positions.len() / capacity.max(1)).saturating_sub(1) as u32
}

/// A frame's points as the vertices of [`points_capacity`]'s mesh (`slices` segments per disc):
/// each disc's centre and rim offsets, `diameters` across (one for all, or one per point; a
/// point with no positive finite width draws nothing), then collapsed discs. Also whether there
/// were more points than `capacity` (those are left out).
pub fn point_vertices(centers: &[[f32; 3]], diameters: &[f32], capacity: usize, slices: u32) -> (MeshVertices, bool) {
    let per_point = slices as usize + 1;
    let rim: Vec<[f32; 2]> = (0..slices)
        .map(|k| {
            let (s, c) = (k as f32 / slices as f32 * std::f32::consts::TAU).sin_cos();
            [c, s]
        })
        .collect();
    let mut positions = Vec::with_capacity(capacity * per_point);
    let mut normals = Vec::with_capacity(capacity * per_point);
    for i in 0..capacity {
        let Some(c) = centers.get(i) else {
            positions.resize(capacity * per_point, [0.0; 3]);
            normals.resize(capacity * per_point, [0.0; 3]);
            break;
        };
        let r = diameters.get(i).or(diameters.first()).copied().unwrap_or(1.0) / 2.0;
        let r = if r.is_finite() && r > 0.0 { r } else { 0.0 };
        positions.extend(std::iter::repeat_n(*c, per_point));
        normals.push([0.0; 3]);
        normals.extend(rim.iter().map(|d| [d[0] * r, d[1] * r, 0.0]));
    }
    (MeshVertices { positions, normals }, centers.len() > capacity)
}

/// The most triangles a polygon of `corners` corners can draw at subdivision level `level` (an
/// upper bound for Loop and bilinear schemes too): a fan of `corners - 2` unrefined, else
/// `corners` quads after the first level, each split in four by every further one.
pub fn triangles_of_face(corners: i64, level: u32, subdivided: bool) -> usize {
    if corners < 3 {
        return 0;
    }
    let corners = corners as usize;
    if level == 0 || !subdivided {
        return corners - 2;
    }
    2 * corners * 4usize.pow(level.min(8) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::Facing;

    fn quad() -> Mesh {
        Mesh {
            path: "/Q".into(),
            positions: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
            normals: vec![[0.0, 0.0, 1.0]; 4],
            colors: vec![[1.0, 0.0, 0.0, 1.0]],
            indices: vec![0, 1, 2, 0, 2, 3],
            ..Mesh::default()
        }
    }

    #[test]
    fn a_soup_keeps_the_triangles_and_collapses_the_rest() {
        let s = soup(&quad(), 3);
        assert_eq!(s.indices, (0..9).collect::<Vec<u32>>());
        assert_eq!(s.positions.len(), 9);
        assert_eq!(s.colors.len(), 9);
        assert_eq!(s.vertex_points, (0..9).collect::<Vec<u32>>());
        assert_eq!(
            &s.positions[..6],
            &[
                [0.0, 0.0, 0.0],
                [1.0, 0.0, 0.0],
                [1.0, 1.0, 0.0],
                [0.0, 0.0, 0.0],
                [1.0, 1.0, 0.0],
                [0.0, 1.0, 0.0]
            ]
        );
        // The third triangle is a point: no area, nothing drawn.
        assert!(s.positions[6..].iter().all(|p| *p == [0.0; 3]));
        assert!(s.normals[6..].iter().all(|n| *n == [0.0; 3]));
        assert_eq!(s.facing, Facing::Surface);
    }

    #[test]
    fn a_frame_with_more_triangles_than_the_capacity_is_cut_and_says_so() {
        let (v, cut) = soup_vertices(&quad(), 1);
        assert!(cut);
        assert_eq!(v.positions.len(), 3);
        let (v, cut) = soup_vertices(&quad(), 2);
        assert!(!cut);
        assert_eq!(v.positions.len(), 6);
    }

    #[test]
    fn points_past_the_frame_count_collapse_and_widths_follow() {
        let mesh = points_capacity(&[[1.0, 2.0, 3.0]], &[2.0], &[[1.0, 0.0, 0.0, 1.0]], 3, Facing::Sprite);
        let slices = disc_slices(&mesh, 3);
        assert_eq!(slices, 16);
        let per = slices as usize + 1;
        assert_eq!(mesh.positions.len(), 3 * per);
        assert!(mesh.positions[..per].iter().all(|p| *p == [1.0, 2.0, 3.0]));
        // Radius 1 at load; the two spare discs have no size.
        assert!((mesh.normals[1][0] - 1.0).abs() < 1e-6);
        assert!(mesh.normals[per..].iter().all(|n| *n == [0.0; 3]));
        // A frame with two points of width 4: both drawn, radius 2; the third stays collapsed.
        let (v, cut) = point_vertices(&[[0.0; 3], [5.0, 0.0, 0.0]], &[4.0], 3, slices);
        assert!(!cut);
        assert_eq!(v.positions.len(), 3 * per);
        assert_eq!(v.positions[per], [5.0, 0.0, 0.0]);
        assert!((v.normals[per + 1][0] - 2.0).abs() < 1e-6);
        assert!(v.normals[2 * per..].iter().all(|n| *n == [0.0; 3]));
        let (_, cut) = point_vertices(&[[0.0; 3]; 4], &[1.0], 3, slices);
        assert!(cut);
    }

    #[test]
    fn face_triangle_bounds_follow_the_refinement() {
        assert_eq!(triangles_of_face(4, 0, true), 2);
        assert_eq!(triangles_of_face(5, 0, true), 3);
        assert_eq!(triangles_of_face(2, 0, true), 0);
        // Level 1: 4 quads of 2 triangles; level 2: 16 quads.
        assert_eq!(triangles_of_face(4, 1, true), 8);
        assert_eq!(triangles_of_face(4, 2, true), 32);
        assert_eq!(triangles_of_face(3, 2, false), 1);
    }
}
