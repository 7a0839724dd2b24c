//! UsdGeomBasisCurves (and Nurbs/Hermite curves, as polylines) evaluated and drawn as round tubes
//! of their `widths`.
//!
//! Storm draws refined curves as camera-facing ribbons (complexity medium and high) or tubes
//! (very high), and unrefined ones as one-pixel lines. usdrender draws tubes at every complexity:
//! a tube has the ribbon's silhouette from any side without depending on the camera, and a
//! render with `widths` authored is expected to show them (hair, grass, cables).

use glam::Vec3;

use super::Mesh;

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

/// Curves as authored: control points per curve, and per-vertex (or one) widths and colours.
#[derive(Debug, Clone)]
pub struct Curves {
    pub kind: Kind,
    pub wrap: Wrap,
    pub counts: Vec<usize>,
    pub points: Vec<[f32; 3]>,
    /// One per control point, or one for all (`constant`/`uniform` read as the first value).
    pub widths: Vec<f32>,
    /// One per control point, one per curve (`per_curve_colors`), or one for all.
    pub colors: Vec<[f32; 4]>,
    pub per_curve_colors: bool,
}

/// Samples along each cubic segment, sides around each tube.
const SAMPLES: usize = 8;
const SIDES: usize = 8;

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

/// One curve's samples: positions, and the (fractional) control point each sits at, for
/// interpolating widths and colours.
fn sample_curve(kind: Kind, wrap: Wrap, cps: &[[f32; 3]]) -> Vec<(Vec3, f32)> {
    let n = cps.len();
    let p = |i: usize| Vec3::from(cps[i % n]);
    let mut out = Vec::new();
    match kind {
        Kind::Linear => {
            for i in 0..n {
                out.push((p(i), i as f32));
            }
            if wrap == Wrap::Periodic && n > 2 {
                out.push((p(0), 0.0));
            }
        }
        Kind::Cubic(basis) => {
            // Control points of each segment, by index into `cps` (pinned ends get phantom
            // points mirrored through the end point, so the curve reaches it).
            let stride = if basis == Basis::Bezier { 3 } else { 1 };
            let mut pts: Vec<Vec3> = (0..n).map(p).collect();
            let mut shift = 0.0;
            if wrap == Wrap::Pinned && basis != Basis::Bezier && n >= 2 {
                pts.insert(0, 2.0 * p(0) - p(1));
                pts.push(2.0 * p(n - 1) - p(n - 2));
                shift = 1.0;
            }
            let m = pts.len();
            let segments = match (wrap, basis) {
                (Wrap::Periodic, Basis::Bezier) => m / 3,
                (Wrap::Periodic, _) => m,
                (_, Basis::Bezier) => m.saturating_sub(1) / 3,
                _ => m.saturating_sub(3),
            };
            for s in 0..segments {
                let first = s * stride;
                let q = [0, 1, 2, 3].map(|k| pts[(first + k) % m]);
                let last = s + 1 == segments;
                for j in 0..=SAMPLES {
                    if j == SAMPLES && !last {
                        continue; // the next segment starts here
                    }
                    let t = j as f32 / SAMPLES as f32;
                    let w = weights(basis, t);
                    let pos = q[0] * w[0] + q[1] * w[1] + q[2] * w[2] + q[3] * w[3];
                    // Where along the control points the sample sits (for widths, colours).
                    let at = match basis {
                        Basis::Bezier => first as f32 + 3.0 * t,
                        _ => first as f32 + 1.0 + t - shift,
                    };
                    out.push((pos, at.clamp(0.0, (n - 1) as f32)));
                }
            }
        }
    }
    out
}

fn lerp_at<T: Copy>(values: &[T], at: f32, mix: impl Fn(T, T, f32) -> T) -> Option<T> {
    match values.len() {
        0 => None,
        1 => Some(values[0]),
        n => {
            let i = (at.floor() as usize).min(n - 1);
            let j = (i + 1).min(n - 1);
            Some(mix(values[i], values[j], at - i as f32))
        }
    }
}

/// Tubes for every curve. Curves with too few points for their kind draw nothing.
pub fn tubes(curves: &Curves, double_sided: bool) -> Mesh {
    let mut mesh = Mesh {
        double_sided,
        ..Mesh::default()
    };
    let mut start = 0usize;
    for (c, &count) in curves.counts.iter().enumerate() {
        let Some(cps) = curves.points.get(start..start + count) else {
            break;
        };
        let first_point = start;
        start += count;
        let samples = sample_curve(curves.kind, curves.wrap, cps);
        if samples.len() < 2 {
            continue;
        }
        let vertex_widths = curves.widths.len() == curves.points.len();
        let vertex_colors = !curves.per_curve_colors && curves.colors.len() == curves.points.len();
        let width = |at: f32| {
            if vertex_widths {
                lerp_at(&curves.widths[first_point..first_point + count], at, |a, b, u| {
                    a + (b - a) * u
                })
            } else {
                curves.widths.first().copied()
            }
            .unwrap_or(1.0)
        };
        let color = |at: f32| {
            if vertex_colors {
                lerp_at(&curves.colors[first_point..first_point + count], at, |a, b, u| {
                    [0, 1, 2, 3].map(|k| a[k] + (b[k] - a[k]) * u)
                })
            } else if curves.per_curve_colors {
                curves.colors.get(c).copied()
            } else {
                curves.colors.first().copied()
            }
            .unwrap_or([0.5, 0.5, 0.5, 1.0])
        };
        // A frame carried along the curve (parallel transport), so rings do not twist.
        let tangent = |i: usize| {
            let a = samples[i.saturating_sub(1)].0;
            let b = samples[(i + 1).min(samples.len() - 1)].0;
            (b - a).normalize_or_zero()
        };
        let t0 = tangent(0);
        let mut normal = t0.any_orthonormal_vector();
        let base = mesh.positions.len() as u32;
        for (i, &(pos, at)) in samples.iter().enumerate() {
            let t = tangent(i);
            if t != Vec3::ZERO {
                normal = (normal - t * normal.dot(t)).normalize_or(t.any_orthonormal_vector());
            }
            let binormal = t.cross(normal);
            let r = (width(at) * 0.5).max(0.0);
            let col = color(at);
            for k in 0..SIDES {
                let a = k as f32 / SIDES as f32 * std::f32::consts::TAU;
                let dir = normal * a.cos() + binormal * a.sin();
                mesh.positions.push((pos + dir * r).to_array());
                mesh.normals.push(dir.to_array());
                mesh.colors.push(col);
                mesh.vertex_points.push(first_point as u32);
            }
        }
        for i in 0..samples.len() as u32 - 1 {
            for k in 0..SIDES as u32 {
                let a = base + i * SIDES as u32 + k;
                let b = base + i * SIDES as u32 + (k + 1) % SIDES as u32;
                let (c2, d) = (b + SIDES as u32, a + SIDES as u32);
                mesh.indices.extend_from_slice(&[a, b, c2, a, c2, d]);
            }
        }
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
            colors: vec![[1.0; 4]],
            per_curve_colors: false,
        }
    }

    #[test]
    fn bezier_ends_on_its_end_points_and_bspline_on_its_hull() {
        let cps = vec![[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 1.0, 0.0], [3.0, 0.0, 0.0]];
        let s = sample_curve(Kind::Cubic(Basis::Bezier), Wrap::Nonperiodic, &cps);
        assert_eq!(s.first().map(|s| s.0), Some(Vec3::ZERO));
        assert_eq!(s.last().map(|s| s.0), Some(Vec3::new(3.0, 0.0, 0.0)));
        assert!((s[SAMPLES / 2].0 - Vec3::new(1.5, 0.75, 0.0)).length() < 1e-5);
        // A uniform B-spline of four points is one segment from (P0 + 4P1 + P2)/6.
        let b = sample_curve(Kind::Cubic(Basis::Bspline), Wrap::Nonperiodic, &cps);
        assert!((b[0].0 - Vec3::new(1.0, 5.0 / 6.0, 0.0)).length() < 1e-5);
        // Pinned, it reaches the end points.
        let p = sample_curve(Kind::Cubic(Basis::Bspline), Wrap::Pinned, &cps);
        assert!((p[0].0 - Vec3::ZERO).length() < 1e-5);
        assert!((p.last().expect("samples").0 - Vec3::new(3.0, 0.0, 0.0)).length() < 1e-5);
        // Catmull-Rom passes through its inner control points.
        let c = sample_curve(Kind::Cubic(Basis::CatmullRom), Wrap::Nonperiodic, &cps);
        assert!((c[0].0 - Vec3::new(1.0, 1.0, 0.0)).length() < 1e-5);
    }

    #[test]
    fn tubes_are_as_wide_as_their_widths_and_closed_curves_close() {
        let line = set(Kind::Linear, Wrap::Nonperiodic, vec![[0.0; 3], [0.0, 0.0, 5.0]]);
        let m = tubes(&line, true);
        assert_eq!(m.positions.len(), 2 * SIDES);
        for p in &m.positions {
            let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
            assert!((r - 0.1).abs() < 1e-6, "radius {r}");
        }
        let square = set(
            Kind::Linear,
            Wrap::Periodic,
            vec![[0.0; 3], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
        );
        assert_eq!(tubes(&square, true).indices.len(), 4 * SIDES * 6, "four sides, closed");
        let short = set(Kind::Cubic(Basis::Bezier), Wrap::Nonperiodic, vec![[0.0; 3], [1.0; 3]]);
        assert!(
            tubes(&short, true).indices.is_empty(),
            "too few points for a cubic segment"
        );
    }
}
