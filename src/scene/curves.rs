//! UsdGeomBasisCurves (and Nurbs/Hermite curves, as polylines) as Storm draws them.
//!
//! Storm draws unrefined curves (complexity low, refine level 0) as one-pixel lines through their
//! control points, cubic ones too (HdStBasisCurves downcasts them to linear), but for the first
//! and last span of an unpinned Catmull-Rom curve, which does not reach its end points. Refined, it draws
//! each segment of the evaluated curve as a ribbon as wide as its `widths` (1 where none are
//! authored): flat in the plane its authored `normals` give, else turned to face the camera
//! (round-shaded at levels 2 and up, a half tube at 3 and up: the same silhouette). Camera-facing
//! ribbons and lines are meshes whose vertices sit on the curve, placed by the vertex shader each
//! frame ([`Facing`]); oriented ribbons are plain surfaces.
//!
//! Widths and normals interpolate as Storm's shaders do: one per control point (`vertex`) with the
//! curve's own basis, one per segment end (`varying`) linearly along each segment.

use glam::Vec3;

use super::{Facing, Mesh};

/// `basis` of cubic curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Bezier,
    Bspline,
    CatmullRom,
}

/// `type` and `basis` together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Linear,
    Cubic(Basis),
}

/// `wrap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    Nonperiodic,
    Periodic,
    /// B-spline and Catmull-Rom curves that reach their end points.
    Pinned,
}

/// How many values a primvar of the curves has: one, one per curve, one per segment end, or one
/// per control point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Constant,
    Uniform,
    Varying,
    Vertex,
}

/// Curves as authored: control points per curve, and widths, normals and colours.
#[derive(Debug, Clone)]
pub struct Curves {
    pub kind: Kind,
    pub wrap: Wrap,
    pub counts: Vec<usize>,
    pub points: Vec<[f32; 3]>,
    /// Empty where none are authored.
    pub widths: Vec<f32>,
    pub widths_per: Per,
    /// Empty where none are authored (the ribbons then face the camera).
    pub normals: Vec<[f32; 3]>,
    pub normals_per: Per,
    /// One per control point, one per curve (`per_curve_colors`), or one for all.
    pub colors: Vec<[f32; 4]>,
    pub per_curve_colors: bool,
}

/// Samples along each cubic segment.
const SAMPLES: usize = 8;
/// A line's width in pixels, as Storm's unrefined curves are drawn.
const LINE_PIXELS: f32 = 1.0;

/// Cubic basis weights at `t` in [0, 1] for four control points.
fn weights(basis: Basis, t: f32) -> [f32; 4] {
    let (t2, t3) = (t * t, t * t * t);
    let s = 1.0 - t;
    match basis {
        Basis::Bezier => [s * s * s, 3.0 * t * s * s, 3.0 * t2 * s, t3],
        Basis::Bspline => [
            s * s * s / 6.0,
            (3.0 * t3 - 6.0 * t2 + 4.0) / 6.0,
            (-3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0) / 6.0,
            t3 / 6.0,
        ],
        Basis::CatmullRom => [
            0.5 * (-t3 + 2.0 * t2 - t),
            0.5 * (3.0 * t3 - 5.0 * t2 + 2.0),
            0.5 * (-3.0 * t3 + 4.0 * t2 + t),
            0.5 * (t3 - t2),
        ],
    }
}

/// Segments of a curve of `n` control points (Storm's count: none where there are too few).
pub fn segments(kind: Kind, wrap: Wrap, n: usize) -> usize {
    match kind {
        Kind::Linear => match wrap {
            Wrap::Periodic if n > 2 => n,
            _ => n.saturating_sub(1),
        },
        Kind::Cubic(basis) => {
            // Pinned B-spline and Catmull-Rom curves gain a phantom point at each end.
            let m = if wrap == Wrap::Pinned && basis != Basis::Bezier && n >= 2 {
                n + 2
            } else {
                n
            };
            match (wrap, basis) {
                (Wrap::Periodic, Basis::Bezier) => m / 3,
                (Wrap::Periodic, _) => m,
                (_, Basis::Bezier) => m.saturating_sub(1) / 3,
                _ => m.saturating_sub(3),
            }
        }
    }
}

/// Values per segment end of a curve (`varying`).
pub fn varying_count(kind: Kind, wrap: Wrap, n: usize) -> usize {
    let s = segments(kind, wrap, n);
    if wrap == Wrap::Periodic || s == 0 {
        s
    } else {
        s + 1
    }
}

/// One point along a segment: where it is, which way the curve runs, and where it sits among the
/// control points (for vertex values: the segment's first control point and the basis weights;
/// for varying ones: the segment and `t`; for colours: a fractional control point).
#[derive(Debug, Clone, Copy)]
struct Sample {
    pos: Vec3,
    tangent: Vec3,
    segment: usize,
    t: f32,
    first: usize,
    weights: [f32; 4],
    at: f32,
}

/// A curve's control values extended as its points are (pinned ends get phantom values mirrored
/// through the end value, so the curve reaches it).
fn extended<T: Copy + std::ops::Sub<Output = T> + std::ops::Add<Output = T>>(
    kind: Kind,
    wrap: Wrap,
    values: &[T],
) -> Vec<T> {
    let n = values.len();
    let mut out = values.to_vec();
    if matches!(kind, Kind::Cubic(b) if b != Basis::Bezier) && wrap == Wrap::Pinned && n >= 2 {
        out.insert(0, values[0] + (values[0] - values[1]));
        out.push(values[n - 1] + (values[n - 1] - values[n - 2]));
    }
    out
}

/// Each segment of one curve, sampled: a segment's samples run from its start to its end.
fn sample_segments(kind: Kind, wrap: Wrap, cps: &[Vec3], refined: bool) -> Vec<Vec<Sample>> {
    let n = cps.len();
    let pts = extended(kind, wrap, cps);
    let m = pts.len();
    let count = segments(kind, wrap, n);
    let shift = if m > n { 1.0 } else { 0.0 };
    let mut out = Vec::with_capacity(count);
    for s in 0..count {
        let mut seg = Vec::new();
        match kind {
            Kind::Linear => {
                let (a, b) = (pts[s], pts[(s + 1) % m]);
                let tangent = (b - a).normalize_or_zero();
                for (t, pos) in [(0.0, a), (1.0, b)] {
                    seg.push(Sample {
                        pos,
                        tangent,
                        segment: s,
                        t,
                        first: s,
                        weights: [1.0 - t, t, 0.0, 0.0],
                        at: (s as f32 + t) % n as f32,
                    });
                }
            }
            Kind::Cubic(basis) => {
                let first = if basis == Basis::Bezier { 3 * s } else { s };
                let q = [0, 1, 2, 3].map(|k| pts[(first + k) % m]);
                let eval = |t: f32| {
                    let w = weights(basis, t);
                    q[0] * w[0] + q[1] * w[1] + q[2] * w[2] + q[3] * w[3]
                };
                let steps = if refined { SAMPLES } else { 1 };
                for j in 0..=steps {
                    let t = j as f32 / steps as f32;
                    let e = 1e-3;
                    let (t0, t1) = ((t - e).max(0.0), (t + e).min(1.0));
                    let mut tangent = (eval(t1) - eval(t0)).normalize_or_zero();
                    if tangent == Vec3::ZERO {
                        tangent = (q[3] - q[0]).normalize_or_zero();
                    }
                    let at = match basis {
                        Basis::Bezier => first as f32 + 3.0 * t,
                        _ => first as f32 + 1.0 + t - shift,
                    };
                    seg.push(Sample {
                        pos: eval(t),
                        tangent,
                        segment: s,
                        t,
                        first,
                        weights: weights(basis, t),
                        at: at.clamp(0.0, (n - 1) as f32) % n as f32,
                    });
                }
            }
        }
        out.push(seg);
    }
    out
}

/// A value of one curve at a sample: `values` are the curve's own (one, one per segment end, or
/// one per control point).
fn value_at<T>(per: Per, kind: Kind, wrap: Wrap, values: &[T], sample: &Sample, zero: T) -> T
where
    T: Copy + std::ops::Sub<Output = T> + std::ops::Add<Output = T> + std::ops::Mul<f32, Output = T>,
{
    match per {
        Per::Constant | Per::Uniform => values.first().copied().unwrap_or(zero),
        Per::Varying => {
            let len = values.len();
            if len == 0 {
                return zero;
            }
            let a = values[sample.segment.min(len - 1)];
            let b = values[(sample.segment + 1) % len];
            a + (b - a) * sample.t
        }
        Per::Vertex => {
            let ext = extended(kind, wrap, values);
            let m = ext.len();
            if m == 0 {
                return zero;
            }
            let k = match kind {
                Kind::Linear => 2,
                Kind::Cubic(_) => 4,
            };
            (0..k).fold(zero, |acc, i| acc + ext[(sample.first + i) % m] * sample.weights[i])
        }
    }
}

/// The mesh Storm's draw of `curves` at `refine_level` covers: one-pixel lines through the control
/// points at level 0, ribbons of the evaluated curves above it.
pub fn mesh(curves: &Curves, refine_level: u32) -> Mesh {
    let refined = refine_level > 0;
    let oriented = refined && !curves.normals.is_empty();
    let mut mesh = Mesh {
        double_sided: true,
        facing: if !refined {
            Facing::PixelRibbon
        } else if oriented {
            Facing::Surface
        } else {
            Facing::Ribbon
        },
        ..Mesh::default()
    };
    // Unrefined, every curve is drawn as the polyline of its control points.
    let kind = if refined { curves.kind } else { Kind::Linear };
    let wrap = match (refined, curves.wrap) {
        (false, Wrap::Pinned) => Wrap::Nonperiodic,
        (_, w) => w,
    };
    let (mut start, mut varying_start) = (0usize, 0usize);
    for (c, &count) in curves.counts.iter().enumerate() {
        let Some(cps) = curves.points.get(start..start + count) else {
            break;
        };
        let first_point = start;
        start += count;
        let varying = varying_count(curves.kind, curves.wrap, count);
        let first_varying = varying_start;
        varying_start += varying;
        let cps: Vec<Vec3> = cps.iter().map(|&p| Vec3::from(p)).collect();
        // Per-curve slices of widths and normals.
        let own = |per: Per, len: usize| match per {
            Per::Constant => 0..len.min(1),
            Per::Uniform => c..(c + 1).min(len),
            Per::Varying => first_varying.min(len)..(first_varying + varying).min(len),
            Per::Vertex => first_point.min(len)..(first_point + count).min(len),
        };
        let widths = &curves.widths[own(curves.widths_per, curves.widths.len())];
        let normals: Vec<Vec3> = curves.normals[own(curves.normals_per, curves.normals.len())]
            .iter()
            .map(|&n| Vec3::from(n))
            .collect();
        let vertex_colors = !curves.per_curve_colors && curves.colors.len() == curves.points.len();
        let color = |at: f32| {
            if vertex_colors {
                let own = &curves.colors[first_point..first_point + count];
                let i = (at.floor() as usize).min(count - 1);
                let j = (i + 1).min(count - 1);
                let u = at - i as f32;
                [0, 1, 2, 3].map(|k| own[i][k] + (own[j][k] - own[i][k]) * u)
            } else if curves.per_curve_colors {
                curves.colors.get(c).copied().unwrap_or([0.5, 0.5, 0.5, 1.0])
            } else {
                curves.colors.first().copied().unwrap_or([0.5, 0.5, 0.5, 1.0])
            }
        };
        // Catmull-Rom curves pass through their control points but for the first and last, so
        // Storm's lines leave out the first and last span of an unpinned one.
        let skip_ends = !refined && curves.kind == Kind::Cubic(Basis::CatmullRom) && curves.wrap != Wrap::Pinned;
        for seg in sample_segments(kind, wrap, &cps, refined) {
            if skip_ends && (seg[0].segment == 0 || seg[0].segment + 2 == count) {
                continue;
            }
            let base = mesh.positions.len() as u32;
            for s in &seg {
                let col = color(s.at);
                let (across, normal, half): (Vec3, Vec3, f32) = if !refined {
                    (Vec3::ZERO, Vec3::ZERO, LINE_PIXELS * 0.5)
                } else {
                    let w = if widths.is_empty() {
                        1.0
                    } else {
                        value_at(curves.widths_per, curves.kind, curves.wrap, widths, s, 0.0)
                    };
                    let n = if oriented {
                        value_at(curves.normals_per, curves.kind, curves.wrap, &normals, s, Vec3::ZERO)
                    } else {
                        Vec3::ZERO
                    };
                    (
                        s.tangent.cross(n).normalize_or_zero(),
                        n.normalize_or_zero(),
                        w.max(0.0) * 0.5,
                    )
                };
                for side in [-1.0f32, 0.0, 1.0] {
                    if oriented {
                        mesh.positions.push((s.pos + across * side * half).to_array());
                        mesh.normals.push(normal.to_array());
                        mesh.uvs.push([0.0; 2]);
                    } else {
                        mesh.positions.push(s.pos.to_array());
                        mesh.normals.push(s.tangent.to_array());
                        mesh.uvs.push([side * half, 0.0]);
                    }
                    mesh.colors.push(col);
                    mesh.vertex_points.push(first_point as u32);
                }
            }
            for i in 0..seg.len() as u32 - 1 {
                for k in 0..2 {
                    let a = base + 3 * i + k;
                    let (b, c2, d) = (a + 1, a + 4, a + 3);
                    mesh.indices.extend_from_slice(&[a, b, c2, a, c2, d]);
                }
            }
        }
    }
    if mesh.facing == Facing::Surface {
        mesh.uvs.clear();
    }
    mesh
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(kind: Kind, wrap: Wrap, points: Vec<[f32; 3]>) -> Curves {
        Curves {
            kind,
            wrap,
            counts: vec![points.len()],
            points,
            widths: vec![0.2],
            widths_per: Per::Constant,
            normals: Vec::new(),
            normals_per: Per::Vertex,
            colors: vec![[1.0; 4]],
            per_curve_colors: false,
        }
    }

    fn ends(kind: Kind, wrap: Wrap, cps: &[[f32; 3]]) -> (Vec3, Vec3) {
        let cps: Vec<Vec3> = cps.iter().map(|&p| Vec3::from(p)).collect();
        let s = sample_segments(kind, wrap, &cps, true);
        (s[0][0].pos, s.last().and_then(|l| l.last()).expect("samples").pos)
    }

    #[test]
    fn bezier_ends_on_its_end_points_and_bspline_on_its_hull() {
        let cps = [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 1.0, 0.0], [3.0, 0.0, 0.0]];
        let bez = Kind::Cubic(Basis::Bezier);
        assert_eq!(
            ends(bez, Wrap::Nonperiodic, &cps),
            (Vec3::ZERO, Vec3::new(3.0, 0.0, 0.0))
        );
        let v: Vec<Vec3> = cps.iter().map(|&p| Vec3::from(p)).collect();
        let mid = sample_segments(bez, Wrap::Nonperiodic, &v, true)[0][SAMPLES / 2].pos;
        assert!((mid - Vec3::new(1.5, 0.75, 0.0)).length() < 1e-5);
        // A uniform B-spline of four points is one segment from (P0 + 4P1 + P2)/6.
        let (b, _) = ends(Kind::Cubic(Basis::Bspline), Wrap::Nonperiodic, &cps);
        assert!((b - Vec3::new(1.0, 5.0 / 6.0, 0.0)).length() < 1e-5);
        // Pinned, it reaches the end points.
        let (p0, p1) = ends(Kind::Cubic(Basis::Bspline), Wrap::Pinned, &cps);
        assert!(p0.length() < 1e-5 && (p1 - Vec3::new(3.0, 0.0, 0.0)).length() < 1e-5);
        // Catmull-Rom passes through its inner control points.
        let (c, _) = ends(Kind::Cubic(Basis::CatmullRom), Wrap::Nonperiodic, &cps);
        assert!((c - Vec3::new(1.0, 1.0, 0.0)).length() < 1e-5);
    }

    #[test]
    fn segment_counts_follow_storm() {
        let bez = Kind::Cubic(Basis::Bezier);
        assert_eq!(segments(bez, Wrap::Nonperiodic, 7), 2);
        assert_eq!(varying_count(bez, Wrap::Nonperiodic, 7), 3);
        assert_eq!(segments(bez, Wrap::Periodic, 6), 2);
        assert_eq!(segments(Kind::Cubic(Basis::Bspline), Wrap::Nonperiodic, 5), 2);
        assert_eq!(segments(Kind::Cubic(Basis::Bspline), Wrap::Pinned, 2), 1);
        assert_eq!(segments(Kind::Cubic(Basis::Bspline), Wrap::Pinned, 1), 0);
        assert_eq!(segments(Kind::Linear, Wrap::Periodic, 4), 4);
        assert_eq!(varying_count(Kind::Linear, Wrap::Nonperiodic, 3), 3);
    }

    #[test]
    fn unrefined_curves_are_pixel_lines_through_their_control_points() {
        // A closed cubic curve: four lines around its control points, one pixel wide.
        let square = set(
            Kind::Cubic(Basis::Bspline),
            Wrap::Periodic,
            vec![[0.0; 3], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
        );
        let m = mesh(&square, 0);
        assert_eq!(m.facing, Facing::PixelRibbon);
        assert_eq!(m.indices.len(), 4 * 12, "four segments of two quads");
        for (p, uv) in m.positions.iter().zip(&m.uvs) {
            assert!(square.points.contains(p), "{p:?} is a control point");
            assert!(uv[0].abs() <= 0.5, "half a pixel either side");
        }
    }

    #[test]
    fn unrefined_catmull_rom_lines_leave_out_the_end_spans() {
        // Storm's lines of an unpinned Catmull-Rom curve run between the points it passes
        // through: five points, two spans (of the four); pinned, all four.
        let points: Vec<[f32; 3]> = (0..5).map(|i| [i as f32, 0.0, 0.0]).collect();
        let mut c = set(Kind::Cubic(Basis::CatmullRom), Wrap::Nonperiodic, points);
        let m = mesh(&c, 0);
        assert_eq!(m.indices.len(), 2 * 12, "two spans of two quads");
        let xs: Vec<f32> = m.positions.iter().map(|p| p[0]).collect();
        assert!(xs.iter().all(|&x| (1.0..=3.0).contains(&x)), "{xs:?}");
        c.wrap = Wrap::Pinned;
        assert_eq!(mesh(&c, 0).indices.len(), 4 * 12);
        // Other bases draw every span.
        c.kind = Kind::Cubic(Basis::Bspline);
        c.wrap = Wrap::Nonperiodic;
        assert_eq!(mesh(&c, 0).indices.len(), 4 * 12);
    }

    #[test]
    fn refined_ribbons_are_as_wide_as_their_widths() {
        // Varying widths: one per segment end, linear along each segment.
        let mut c = set(
            Kind::Cubic(Basis::Bezier),
            Wrap::Nonperiodic,
            (0..7).map(|i| [0.0, i as f32, 0.0]).collect(),
        );
        c.widths = vec![0.5, 1.0, 0.5];
        c.widths_per = Per::Varying;
        let m = mesh(&c, 1);
        assert_eq!(m.facing, Facing::Ribbon);
        let widest = m.uvs.iter().map(|uv| uv[0]).fold(0.0f32, f32::max);
        assert!((widest - 0.5).abs() < 1e-6, "half of the middle width, {widest}");
        assert!(
            (m.uvs[0][0] + 0.25).abs() < 1e-6,
            "half of the first width, {:?}",
            m.uvs[0]
        );
        // Vertex widths of a cubic curve take its basis: a Bezier segment ends on its end widths.
        c.widths = vec![0.1, 1.0, 1.0, 0.2, 1.0, 1.0, 0.1];
        c.widths_per = Per::Vertex;
        let m = mesh(&c, 1);
        let row = 3 * SAMPLES;
        assert!((m.uvs[row + 2][0] - 0.1).abs() < 1e-6, "{:?}", m.uvs[row + 2]);
        // No widths: 1.
        c.widths.clear();
        let m = mesh(&c, 1);
        assert!((m.uvs[2][0] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn authored_normals_make_flat_ribbons_across_them() {
        let mut c = set(Kind::Linear, Wrap::Nonperiodic, vec![[0.0; 3], [0.0, 0.0, 5.0]]);
        c.normals = vec![[0.0, 1.0, 0.0]];
        c.normals_per = Per::Constant;
        let m = mesh(&c, 1);
        assert_eq!(m.facing, Facing::Surface);
        // Across the tangent (z) and the normal (y): along x, 0.2 wide.
        let xs: Vec<f32> = m.positions.iter().map(|p| p[0]).collect();
        assert!(
            xs.iter().all(|x| (x.abs() - 0.1).abs() < 1e-6 || x.abs() < 1e-6),
            "{xs:?}"
        );
        assert!(m.positions.iter().all(|p| p[1] == 0.0));
    }
}
