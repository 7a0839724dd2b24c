//! The geometry Storm draws in place of a model whose UsdGeomModelAPI draw mode applies
//! (UsdImagingDrawModeAdapter): `bounds` as the twelve edges of its box and `origin` as three
//! unit axis lines, both one-pixel lines; `cards` as quads on its box, one per face direction,
//! each read by its own card texture. Plain data: `stage::draw_mode` decides what is drawn and
//! reads the box, colours and textures.

use super::curves::{self, Curves, Kind, Per, Wrap};
use super::{Bounds, Facing, Mesh};

/// `model:cardGeometry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardGeometry {
    /// Two quads per axis through the box's centre, facing opposite ways.
    Cross,
    /// The box's faces, facing outwards.
    Box,
}

/// A card face, in Storm's order: +X, -X, +Y, -Y, +Z, -Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Face(pub usize);

impl Face {
    pub const ALL: [Face; 6] = [Face(0), Face(1), Face(2), Face(3), Face(4), Face(5)];

    pub fn axis(self) -> usize {
        self.0 / 2
    }

    pub fn positive(self) -> bool {
        self.0.is_multiple_of(2)
    }

    /// The face on the other side of the same axis.
    pub fn opposite(self) -> Face {
        Face(self.0 ^ 1)
    }
}

/// Lines through `points`, one per pair, `color`, one pixel wide (as Storm draws the
/// `segmented` linear basis curves of the bounds and origin modes).
fn lines(points: Vec<[f32; 3]>, color: [f32; 3]) -> Mesh {
    let curves = Curves {
        kind: Kind::Linear,
        wrap: Wrap::Nonperiodic,
        counts: vec![2; points.len() / 2],
        points,
        widths: Vec::new(),
        widths_per: Per::Constant,
        normals: Vec::new(),
        normals_per: Per::Constant,
        colors: vec![[color[0], color[1], color[2], 1.0]],
        per_curve_colors: false,
    };
    curves::mesh(&curves, 0)
}

/// The twelve edges of `b`.
pub fn bounds_lines(b: &Bounds, color: [f32; 3]) -> Mesh {
    let (min, max) = (b.min.as_vec3(), b.max.as_vec3());
    let corner = |i: usize| {
        [
            if i & 4 != 0 { max.x } else { min.x },
            if i & 2 != 0 { max.y } else { min.y },
            if i & 1 != 0 { max.z } else { min.z },
        ]
    };
    // UsdImagingDrawModeAdapter's order: bottom face, top face, vertical edges.
    const EDGES: [usize; 24] = [0, 4, 4, 6, 6, 2, 2, 0, 1, 5, 5, 7, 7, 3, 3, 1, 0, 1, 4, 5, 6, 7, 2, 3];
    lines(EDGES.iter().map(|&i| corner(i)).collect(), color)
}

/// Unit lines from the origin along +X, +Y and +Z (not scaled by the bounds, as Storm's).
pub fn origin_lines(color: [f32; 3]) -> Mesh {
    let o = [0.0; 3];
    lines(vec![o, [1.0, 0.0, 0.0], o, [0.0, 1.0, 0.0], o, [0.0, 0.0, 1.0]], color)
}

/// Storm's texture coordinates of a quad's four corners, flipped in s and/or t.
fn quad_uvs(flip_s: bool, flip_t: bool) -> [[f32; 2]; 4] {
    let (s0, s1) = if flip_s { (0.0, 1.0) } else { (1.0, 0.0) };
    let (t0, t1) = if flip_t { (0.0, 1.0) } else { (1.0, 0.0) };
    [[s0, t0], [s1, t0], [s1, t1], [s0, t1]]
}

/// How far the two quads of a cross axis are parted along their normals, as a share of the
/// box's largest side. Storm culls back faces of cards, so of two coincident quads facing
/// opposite ways only the one facing the camera shows; usdrender draws both sides of every
/// triangle, and parting them lets the depth test keep the one nearer the camera, which is the
/// one facing it.
const CROSS_PARTING: f32 = 1e-4;

/// One quad of the cards of `b`: `face`'s corners, normal and texture coordinates.
/// `textured` holds, per face, whether it has a card texture: a face without one borrows its
/// opposite's, mirrored (Storm's `_GenerateTextureCoordinates`).
pub fn card_quad(b: &Bounds, face: Face, geometry: CardGeometry, textured: [bool; 6], color: [f32; 3]) -> Mesh {
    let (min, max) = (b.min.as_vec3(), b.max.as_vec3());
    let mid = (min + max) * 0.5;
    let cross = geometry == CardGeometry::Cross;
    let part = CROSS_PARTING * (max - min).max_element().max(1e-6);
    let at = |positive: bool, axis: usize| {
        if cross {
            mid[axis] + if positive { part } else { -part }
        } else if positive {
            max[axis]
        } else {
            min[axis]
        }
    };
    let v = at(face.positive(), face.axis());
    // UsdImagingDrawModeAdapter::_GenerateCardsGeometry's corners, face by face.
    let corners: [[f32; 3]; 4] = match face.0 {
        0 => [
            [v, max.y, max.z],
            [v, min.y, max.z],
            [v, min.y, min.z],
            [v, max.y, min.z],
        ],
        1 => [
            [v, min.y, max.z],
            [v, max.y, max.z],
            [v, max.y, min.z],
            [v, min.y, min.z],
        ],
        2 => [
            [min.x, v, max.z],
            [max.x, v, max.z],
            [max.x, v, min.z],
            [min.x, v, min.z],
        ],
        3 => [
            [max.x, v, max.z],
            [min.x, v, max.z],
            [min.x, v, min.z],
            [max.x, v, min.z],
        ],
        4 => [
            [max.x, max.y, v],
            [min.x, max.y, v],
            [min.x, min.y, v],
            [max.x, min.y, v],
        ],
        _ => [
            [min.x, max.y, v],
            [max.x, max.y, v],
            [max.x, min.y, v],
            [min.x, min.y, v],
        ],
    };
    let own = textured[face.0] || !textured[face.opposite().0];
    let uvs = match (face.axis(), face.positive(), own) {
        (_, _, true) if face.0 != 5 => quad_uvs(false, false),
        // -Z reads its own texture flipped in both directions; +Z borrows -Z's flipped in t.
        (2, false, true) => quad_uvs(true, true),
        (2, true, false) => quad_uvs(false, true),
        _ => quad_uvs(true, false),
    };
    let mut normal = [0.0f32; 3];
    normal[face.axis()] = if face.positive() { 1.0 } else { -1.0 };
    Mesh {
        positions: corners.to_vec(),
        normals: vec![normal; 4],
        colors: vec![[color[0], color[1], color[2], 1.0]; 4],
        // Storm's quads are right-handed: counter-clockwise seen from the side they face.
        indices: vec![0, 1, 2, 0, 2, 3],
        uvs: uvs.to_vec(),
        vertex_points: vec![0, 1, 2, 3],
        double_sided: false,
        facing: Facing::Surface,
        ..Mesh::default()
    }
}

/// A `fromTexture` card: the square (-1, -1)..(1, 1) of the texture's screen carried to the
/// model's space by the inverse of its `worldtoscreen` matrix (`m`, as the image stores it: row
/// by row, for row vectors), the image's top at screen y = -1 (Storm's
/// `_GenerateCardsFromTextureGeometry`). `None` when the matrix cannot be inverted.
pub fn card_from_texture(m: &[f32; 16], color: [f32; 3]) -> Option<Mesh> {
    // Row-major for row vectors is column-major for column vectors: the same transform.
    let to_screen = glam::DMat4::from_cols_array(&m.map(f64::from));
    if to_screen.determinant().abs() < 1e-12 || !to_screen.is_finite() {
        return None;
    }
    let to_model = to_screen.inverse();
    let corners = [[-1.0, -1.0], [-1.0, 1.0], [1.0, 1.0], [1.0, -1.0]];
    let positions: Vec<[f32; 3]> = corners
        .iter()
        .map(|c| {
            to_model
                .project_point3(glam::DVec3::new(c[0], c[1], 0.0))
                .as_vec3()
                .to_array()
        })
        .collect();
    let p = |i: usize| glam::Vec3::from(positions[i]);
    let normal = (p(1) - p(0)).cross(p(2) - p(0)).normalize_or_zero().to_array();
    Some(Mesh {
        positions,
        normals: vec![normal; 4],
        colors: vec![[color[0], color[1], color[2], 1.0]; 4],
        indices: vec![0, 1, 2, 0, 2, 3],
        uvs: vec![[0.0, 1.0], [0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
        vertex_points: vec![0, 1, 2, 3],
        ..Mesh::default()
    })
}

/// The faces drawn for a card set whose faces have textures as `textured` says: both faces of
/// every axis that has a texture on either, or all six when no face has one.
pub fn card_faces(textured: [bool; 6]) -> Vec<Face> {
    let none = !textured.iter().any(|&t| t);
    Face::ALL
        .into_iter()
        .filter(|f| none || textured[f.0] || textured[f.opposite().0])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{DVec3, Vec3};

    fn unit() -> Bounds {
        Bounds {
            min: DVec3::splat(-1.0),
            max: DVec3::splat(1.0),
        }
    }

    fn tri_normal(m: &Mesh, t: usize) -> Vec3 {
        let p = |i: usize| Vec3::from(m.positions[m.indices[3 * t + i] as usize]);
        (p(1) - p(0)).cross(p(2) - p(0)).normalize()
    }

    #[test]
    fn box_cards_face_outwards_and_cross_cards_sit_at_the_centre() {
        for face in Face::ALL {
            let m = card_quad(&unit(), face, CardGeometry::Box, [false; 6], [1.0; 3]);
            let n = Vec3::from(m.normals[0]);
            for t in 0..2 {
                assert!(
                    tri_normal(&m, t).dot(n) > 0.99,
                    "face {face:?} winds against its normal"
                );
            }
            assert!(m.positions.iter().all(|p| p[face.axis()] == n[face.axis()]));
            let c = card_quad(&unit(), face, CardGeometry::Cross, [false; 6], [1.0; 3]);
            assert!(c.positions.iter().all(|p| p[face.axis()].abs() < 1e-3));
            // The quad facing +axis lies on the + side of its twin.
            assert_eq!(c.positions[0][face.axis()] > 0.0, face.positive());
        }
    }

    #[test]
    fn only_textured_axes_are_drawn_and_all_when_none_is() {
        assert_eq!(card_faces([false; 6]).len(), 6);
        let x_only = card_faces([true, false, false, false, false, false]);
        assert_eq!(x_only, vec![Face(0), Face(1)]);
    }

    #[test]
    fn a_face_borrowing_its_opposite_texture_mirrors_it() {
        let textured = [true, false, false, false, false, false];
        let pos = card_quad(&unit(), Face(0), CardGeometry::Box, textured, [1.0; 3]);
        let neg = card_quad(&unit(), Face(1), CardGeometry::Box, textured, [1.0; 3]);
        // On both, s grows with y: seen from -X the image is mirrored, as Storm's.
        let s_of_y = |m: &Mesh| {
            let (lo, hi) = if m.positions[0][1] < m.positions[1][1] {
                (0, 1)
            } else {
                (1, 0)
            };
            m.uvs[hi][0] - m.uvs[lo][0]
        };
        assert!(s_of_y(&pos) > 0.0 && s_of_y(&neg) > 0.0);
    }

    #[test]
    fn from_texture_cards_are_the_screen_square_carried_back_to_the_model() {
        // worldtoscreen as the corpus' WoodPlanksDonut.exr stores it (row vectors).
        let m = [
            0.0, 0.8, -0.8, 0.0, 0.0, 0.8, 0.8, 0.0, 0.8, 0.0, 0.0, 0.0, 0.0, -0.4, 0.3, 1.0,
        ];
        let q = card_from_texture(&m, [1.0; 3]).expect("invertible");
        let to_screen = glam::Mat4::from_cols_array(&m);
        let want = [[-1.0, -1.0], [-1.0, 1.0], [1.0, 1.0], [1.0, -1.0]];
        for (p, w) in q.positions.iter().zip(want) {
            let s = to_screen.project_point3(Vec3::from(*p));
            assert!(
                (s.x - w[0]).abs() < 1e-5 && (s.y - w[1]).abs() < 1e-5 && s.z.abs() < 1e-5,
                "{s}"
            );
        }
        assert_eq!(q.uvs[0], [0.0, 1.0], "the image's top at screen y = -1");
        assert!(card_from_texture(&[0.0; 16], [1.0; 3]).is_none());
    }

    #[test]
    fn bounds_are_twelve_pixel_lines_on_the_box_and_origin_three_unit_ones() {
        let b = Bounds {
            min: DVec3::new(-1.0, -2.0, -3.0),
            max: DVec3::new(1.0, 2.0, 3.0),
        };
        let m = bounds_lines(&b, [1.0, 0.0, 0.0]);
        assert_eq!(m.facing, Facing::PixelRibbon);
        for p in &m.positions {
            assert!(p[0].abs() == 1.0 && p[1].abs() == 2.0 && p[2].abs() == 3.0);
        }
        assert_eq!(m.indices.len() / 3, 12 * 4, "twelve segments of two ribbon halves");
        let o = origin_lines([1.0; 3]);
        assert_eq!(o.indices.len() / 3, 3 * 4);
        assert!(o.positions.iter().all(|p| p.iter().sum::<f32>() <= 1.0));
    }
}
