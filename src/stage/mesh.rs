//! UsdGeomMesh to GPU-ready triangles: n-gons fanned from their first corner as Hydra does (concave
//! and non-planar ones too), holes skipped, leftHanded faces flipped to counter-clockwise, vertices split only where face-varying
//! or uniform data needs it, normals authored or computed smooth per USD point.
//!
//! The topology work ([`build`]) is plain data in, plain data out, so it is tested without USD;
//! [`read`] gathers its inputs from a prim and never fails on bad data: out-of-range indices,
//! negative counts and primvars of the wrong length are dropped with a warning.

use std::collections::HashMap;

use glam::Vec3;
use openusd::sdf::Value;
use openusd::usd;

use super::material::{PrimvarNeeds, DEFAULT_COLOR};
use super::samples;
use super::values::{self, Time};
use crate::scene::{smooth_normals, subdivision, Mesh};

/// Where a primvar's values lie on the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interp {
    Constant,
    Uniform,
    /// `vertex` and `varying`: one value per point.
    Vertex,
    FaceVarying,
}

impl Interp {
    pub fn from_token(token: &str) -> Option<Interp> {
        Some(match token {
            "constant" => Interp::Constant,
            "uniform" => Interp::Uniform,
            "vertex" | "varying" => Interp::Vertex,
            "faceVarying" => Interp::FaceVarying,
            _ => return None,
        })
    }
}

/// A primvar as authored: values, optional indices, interpolation.
#[derive(Debug, Clone)]
pub struct Primvar<T> {
    pub values: Vec<T>,
    pub indices: Option<Vec<i64>>,
    pub interp: Interp,
}

/// Everything [`build`] needs, already decoded.
#[derive(Debug, Clone, Default)]
pub struct MeshSource {
    pub path: String,
    pub points: Vec<[f32; 3]>,
    pub face_vertex_counts: Vec<i64>,
    pub face_vertex_indices: Vec<i64>,
    pub hole_indices: Vec<i64>,
    pub left_handed: bool,
    pub double_sided: bool,
    pub normals: Option<Primvar<[f32; 3]>>,
    pub colors: Option<Primvar<[f32; 3]>>,
    pub opacities: Option<Primvar<f32>>,
    /// Texture coordinates (the primvar the bound material's textures read).
    pub uvs: Option<Primvar<[f32; 2]>>,
    /// Colour and alpha where `colors`/`opacities` are missing; `None`: grey, opaque.
    pub color_fallback: Option<[f32; 4]>,
    /// After subdivision: each face's face in the mesh as authored (GeomSubsets name those).
    pub face_parent: Option<Vec<u32>>,
}

/// A built mesh plus what per-frame point updates need.
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub mesh: Mesh,
    /// Triangles as USD point indices (after the leftHanded flip): smooth normals of new points.
    pub point_triangles: Vec<u32>,
    /// Whether normals were computed (so animated points recompute them).
    pub computed_normals: bool,
    /// For authored normals: each vertex's index into the normal values (`None`: the fallback), so
    /// animated normals can be re-applied.
    pub normal_of_vertex: Vec<Option<u32>>,
    /// For each triangle, the USD face it came from (GeomSubsets split meshes by face).
    pub triangle_faces: Vec<u32>,
    pub warnings: Vec<String>,
    /// A subdivided mesh's refinement (points are then refined points).
    pub refinement: Option<std::sync::Arc<subdivision::Refinement>>,
    /// A subdivided mesh's control points' bounds (pxr frames by those).
    pub cage_bounds: Option<crate::scene::Bounds>,
}

/// A primvar resolved against the topology: for each corner, the index of its value (or `None`
/// for the fallback).
struct Resolved<'a, T> {
    pv: &'a Primvar<T>,
}

impl<T: Copy> Resolved<'_, T> {
    /// The value index for a corner of face `face`, at point `point`, face-varying index `corner`.
    fn index(&self, face: usize, point: usize, corner: usize) -> Option<u32> {
        let element = match self.pv.interp {
            Interp::Constant => 0,
            Interp::Uniform => face,
            Interp::Vertex => point,
            Interp::FaceVarying => corner,
        };
        let value = match &self.pv.indices {
            Some(ix) => usize::try_from(*ix.get(element)?).ok()?,
            None => element,
        };
        (value < self.pv.values.len()).then_some(value as u32)
    }
}

/// Checks a primvar has enough elements for its interpolation; drops it with a warning otherwise.
fn validate<'a, T>(
    pv: &'a Option<Primvar<T>>,
    name: &str,
    counts: (usize, usize, usize),
    path: &str,
    warnings: &mut Vec<String>,
) -> Option<Resolved<'a, T>> {
    let pv = pv.as_ref()?;
    let (faces, points, corners) = counts;
    let needed = match pv.interp {
        Interp::Constant => 1,
        Interp::Uniform => faces,
        Interp::Vertex => points,
        Interp::FaceVarying => corners,
    };
    let have = pv.indices.as_ref().map_or(pv.values.len(), Vec::len);
    if have < needed || pv.values.is_empty() {
        warnings.push(format!(
            "{path}: {name} has {have} elements where {:?} interpolation needs {needed}; ignored",
            pv.interp
        ));
        return None;
    }
    Some(Resolved { pv })
}

/// Triangulates and splits a mesh. Never panics on bad topology: faces with out-of-range indices
/// or fewer than three corners are skipped, a count list longer than the index list is cut.
pub fn build(src: &MeshSource) -> Built {
    let mut warnings = Vec::new();
    let path = src.path.as_str();
    let n_points = src.points.len();
    let n_faces = src.face_vertex_counts.len();
    let n_corners = src.face_vertex_indices.len();
    let counts = (n_faces, n_points, n_corners);
    let normals = validate(&src.normals, "normals", counts, path, &mut warnings);
    let colors = validate(&src.colors, "displayColor", counts, path, &mut warnings);
    let opacities = validate(&src.opacities, "displayOpacity", counts, path, &mut warnings);
    let uvs = validate(&src.uvs, "texture coordinates", counts, path, &mut warnings);

    let holes: std::collections::HashSet<i64> = src.hole_indices.iter().copied().collect();
    // Vertices need splitting only when some value is per face or per corner; otherwise one
    // vertex per point keeps the mesh as small as USD authored it.
    let per_point = [
        normals.as_ref().map(|r| r.pv.interp),
        colors.as_ref().map(|r| r.pv.interp),
        opacities.as_ref().map(|r| r.pv.interp),
        uvs.as_ref().map(|r| r.pv.interp),
    ]
    .iter()
    .all(|i| matches!(i, None | Some(Interp::Constant) | Some(Interp::Vertex)));

    let mut mesh = Mesh {
        path: src.path.clone(),
        double_sided: src.double_sided,
        ..Mesh::default()
    };
    let mut point_triangles = Vec::new();
    let mut key_to_vertex: HashMap<(u32, u32, u32, u32, u32), u32> = HashMap::new();
    let mut triangle_faces = Vec::new();
    let mut point_to_vertex: Vec<u32> = if per_point {
        vec![u32::MAX; n_points]
    } else {
        Vec::new()
    };
    let mut normal_of_vertex: Vec<Option<u32>> = Vec::new();

    let mut offset = 0usize;
    let mut bad_index = 0usize;
    let mut poly_points: Vec<usize> = Vec::new();
    let mut poly_vertices: Vec<u32> = Vec::new();
    let mut tris: Vec<[usize; 3]> = Vec::new();
    for (face, &count) in src.face_vertex_counts.iter().enumerate() {
        if count < 0 {
            warnings.push(format!(
                "{path}: face {face} has a negative vertex count; later faces ignored"
            ));
            break;
        }
        let count = count as usize;
        let Some(end) = offset.checked_add(count).filter(|&e| e <= n_corners) else {
            warnings.push(format!(
                "{path}: faceVertexCounts needs more than the {n_corners} faceVertexIndices; later faces ignored"
            ));
            break;
        };
        let corners = offset..end;
        offset = end;
        if count < 3 || holes.contains(&(face as i64)) {
            continue;
        }
        poly_points.clear();
        let mut ok = true;
        for c in corners.clone() {
            match usize::try_from(src.face_vertex_indices[c])
                .ok()
                .filter(|&p| p < n_points)
            {
                Some(p) => poly_points.push(p),
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            bad_index += 1;
            continue;
        }
        poly_vertices.clear();
        for (k, c) in corners.enumerate() {
            let p = poly_points[k];
            let n = normals.as_ref().and_then(|r| r.index(face, p, c));
            let col = colors.as_ref().and_then(|r| r.index(face, p, c));
            let op = opacities.as_ref().and_then(|r| r.index(face, p, c));
            let uv = uvs.as_ref().and_then(|r| r.index(face, p, c));
            let v = if per_point {
                if point_to_vertex[p] == u32::MAX {
                    point_to_vertex[p] = mesh.positions.len() as u32;
                    push_vertex(&mut mesh, src, p, col, op, uv);
                    normal_of_vertex.push(n);
                }
                point_to_vertex[p]
            } else {
                let key = (
                    p as u32,
                    n.unwrap_or(u32::MAX),
                    col.unwrap_or(u32::MAX),
                    op.unwrap_or(u32::MAX),
                    uv.unwrap_or(u32::MAX),
                );
                *key_to_vertex.entry(key).or_insert_with(|| {
                    let v = mesh.positions.len() as u32;
                    push_vertex(&mut mesh, src, p, col, op, uv);
                    normal_of_vertex.push(n);
                    v
                })
            };
            poly_vertices.push(v);
        }
        tris.clear();
        triangulate(poly_points.len(), &mut tris);
        for &[a, b, c] in &tris {
            let (b, c) = if src.left_handed { (c, b) } else { (b, c) };
            mesh.indices
                .extend_from_slice(&[poly_vertices[a], poly_vertices[b], poly_vertices[c]]);
            point_triangles.extend_from_slice(&[poly_points[a] as u32, poly_points[b] as u32, poly_points[c] as u32]);
            triangle_faces.push(
                src.face_parent
                    .as_ref()
                    .and_then(|p| p.get(face).copied())
                    .unwrap_or(face as u32),
            );
        }
    }
    if bad_index > 0 {
        warnings.push(format!(
            "{path}: {bad_index} faces name points past the {n_points} points; skipped"
        ));
    }

    let computed_normals = normals.is_none();
    if let Some(r) = &normals {
        mesh.normals = normal_of_vertex
            .iter()
            .map(|n| n.map_or([0.0, 0.0, 1.0], |i| normalized(r.pv.values[i as usize])))
            .collect();
    } else {
        mesh.normals = smooth_normals(&src.points, &point_triangles, &mesh.vertex_points);
    }
    if computed_normals {
        normal_of_vertex.clear();
    }
    Built {
        mesh,
        point_triangles,
        computed_normals,
        normal_of_vertex,
        triangle_faces,
        warnings,
        refinement: None,
        cage_bounds: None,
    }
}

/// Authored normals at a new time, spread to vertices through `normal_of_vertex`; `None` when the
/// new values are too few for the indices recorded at load time.
pub fn respread_normals(values: &[[f32; 3]], normal_of_vertex: &[Option<u32>]) -> Option<Vec<[f32; 3]>> {
    normal_of_vertex
        .iter()
        .map(|n| match n {
            Some(i) => values.get(*i as usize).map(|v| normalized(*v)),
            None => Some([0.0, 0.0, 1.0]),
        })
        .collect()
}

fn normalized(n: [f32; 3]) -> [f32; 3] {
    Vec3::from(n).normalize_or(Vec3::Z).to_array()
}

fn push_vertex(mesh: &mut Mesh, src: &MeshSource, p: usize, col: Option<u32>, op: Option<u32>, uv: Option<u32>) {
    mesh.positions.push(src.points[p]);
    mesh.vertex_points.push(p as u32);
    let fallback = src
        .color_fallback
        .unwrap_or([DEFAULT_COLOR[0], DEFAULT_COLOR[1], DEFAULT_COLOR[2], 1.0]);
    let rgb = match (col, &src.colors) {
        (Some(i), Some(c)) => c.values[i as usize],
        _ => [fallback[0], fallback[1], fallback[2]],
    };
    let a = match (op, &src.opacities) {
        (Some(i), Some(o)) => o.values[i as usize],
        _ => fallback[3],
    };
    let clean = |x: f32| if x.is_finite() { x } else { 0.0 };
    mesh.colors
        .push([clean(rgb[0]), clean(rgb[1]), clean(rgb[2]), clean(a)]);
    if let Some(uvs) = &src.uvs {
        // Every vertex gets coordinates once the mesh has any (0,0 where a corner has none).
        let st = uv.map_or([0.0, 0.0], |i| uvs.values[i as usize]);
        mesh.uvs.push([clean(st[0]), clean(st[1])]);
    }
}

/// Triangulates a polygon of `corners` corners into corner-index triples that keep its winding:
/// a fan from the first corner, as `HdMeshUtil::ComputeTriangleIndices` makes for Storm (and
/// Embree) whatever the polygon's shape. A concave or non-planar face is drawn as that fan, folds
/// included (usd-wg's 5_face screenshot shows them), not as the polygon an ear clipper would cut.
pub fn triangulate(corners: usize, out: &mut Vec<[usize; 3]>) {
    for i in 1..corners.saturating_sub(1) {
        out.push([0, i, i + 1]);
    }
}

/// Reads a primvar-like attribute (its values, `:indices` and `interpolation` metadata).
fn read_primvar<T>(
    prim: &usd::Prim,
    name: &str,
    time: Time,
    default_interp: Interp,
    convert: impl Fn(&Value) -> Option<Vec<T>>,
) -> Option<Primvar<T>> {
    let attr = prim.attribute(name);
    let value = values::raw(prim, name, time)?;
    let values = convert(&value)?;
    let interp = attr
        .get_metadata::<openusd::tf::Token>("interpolation")
        .ok()
        .flatten()
        .and_then(|t| Interp::from_token(t.as_str()))
        .unwrap_or(default_interp);
    let indices = values::int_array_attr(prim, &format!("{name}:indices"), time);
    Some(Primvar {
        values,
        indices,
        interp,
    })
}

/// Reads the authored normals: `primvars:normals` wins over `normals`, as in UsdGeom.
pub fn read_normals(prim: &usd::Prim, time: Time) -> Option<Primvar<[f32; 3]>> {
    read_primvar(prim, "primvars:normals", time, Interp::Vertex, values::as_vec3_array)
        .or_else(|| read_primvar(prim, "normals", time, Interp::Vertex, values::as_vec3_array))
        .filter(|pv| !pv.values.is_empty())
}

/// The primvars `rgb` and `alpha` of any gprim (displayColor/displayOpacity, or those a
/// material's primvar readers name). A gprim that authors neither inherits a constant-interpolated
/// one from its nearest ancestor, as UsdGeom primvars inherit down namespace. A scalar primvar
/// read as a colour fills rgb; a vector read as alpha gives its first component.
pub fn read_colors(
    prim: &usd::Prim,
    time: Time,
    rgb: &str,
    alpha: &str,
) -> (Option<Primvar<[f32; 3]>>, Option<Primvar<f32>>) {
    let (rgb, alpha) = (format!("primvars:{rgb}"), format!("primvars:{alpha}"));
    let as_rgb = |v: &Value| {
        values::as_vec3_array(v).or_else(|| Some(values::as_float_array(v)?.into_iter().map(|x| [x; 3]).collect()))
    };
    let as_alpha = |v: &Value| {
        values::as_float_array(v).or_else(|| Some(values::as_vec3_array(v)?.into_iter().map(|c| c[0]).collect()))
    };
    let read = |p: &usd::Prim| {
        let colors = read_primvar(p, &rgb, time, Interp::Constant, as_rgb).filter(|c| !c.values.is_empty());
        let opacities = read_primvar(p, &alpha, time, Interp::Constant, as_alpha).filter(|o| !o.values.is_empty());
        (colors, opacities)
    };
    let (mut colors, mut opacities) = read(prim);
    let mut ancestor = prim.parent();
    while colors.is_none() || opacities.is_none() {
        let Some(a) = ancestor else { break };
        if a.path().is_abs_root() {
            break;
        }
        let (c, o) = read(&a);
        if colors.is_none() {
            colors = c.filter(|c| c.interp == Interp::Constant);
        }
        if opacities.is_none() {
            opacities = o.filter(|o| o.interp == Interp::Constant);
        }
        ancestor = a.parent();
    }
    (colors, opacities)
}

/// The constant colour of an implicit shape (first authored value of the primvars `needs`
/// names), or their fallback.
pub fn constant_color(prim: &usd::Prim, time: Time, needs: &PrimvarNeeds) -> [f32; 4] {
    let (c, o) = read_colors(prim, time, &needs.rgb, &needs.alpha);
    let f = needs.fallback();
    let rgb = c.and_then(|c| c.values.first().copied()).unwrap_or([f[0], f[1], f[2]]);
    let a = o.and_then(|o| o.values.first().copied()).unwrap_or(f[3]);
    [rgb[0], rgb[1], rgb[2], a]
}

/// A mesh's points at `time`: moved by its velocities where it has them (UsdGeom's velocity
/// motion), else as read (through tracks where they exist).
pub fn points_at(prim: &usd::Prim, time: Time) -> Vec<[f32; 3]> {
    time.map(|t| t.value())
        .filter(|t| t.is_finite())
        .and_then(|t| super::motion::positions(prim, "points", t))
        .map(|p| p.iter().map(|q| q.map(|x| x as f32)).collect())
        .or_else(|| samples::points(prim, time))
        .unwrap_or_default()
}

/// Whether the mesh's `subdivisionScheme` is `none` (its fallback is `catmullClark`). UsdImaging
/// hands Storm authored normals only for such polygonal meshes; Storm computes smooth normals for
/// the others, refined or not (UsdImagingMeshAdapter::UpdateForTime).
fn polygonal(prim: &usd::Prim) -> bool {
    values::token_attr(prim, "subdivisionScheme", None).as_deref() == Some("none")
}

/// Reads a Mesh prim's topology and primvars at `time`, with the colour and texture-coordinate
/// primvars its material reads.
pub fn read(prim: &usd::Prim, time: Time, needs: &PrimvarNeeds) -> MeshSource {
    let path = prim.path().as_str().to_string();
    let points = points_at(prim, time);
    let (colors, opacities) = read_colors(prim, time, &needs.rgb, &needs.alpha);
    let uvs = (!needs.uv.is_empty())
        .then(|| {
            read_primvar(
                prim,
                &format!("primvars:{}", needs.uv),
                time,
                Interp::Vertex,
                values::as_vec2_array,
            )
        })
        .flatten()
        .filter(|pv| !pv.values.is_empty());
    MeshSource {
        path,
        points,
        face_vertex_counts: values::int_array_attr(prim, "faceVertexCounts", time).unwrap_or_default(),
        face_vertex_indices: values::int_array_attr(prim, "faceVertexIndices", time).unwrap_or_default(),
        hole_indices: values::int_array_attr(prim, "holeIndices", time).unwrap_or_default(),
        left_handed: values::token_attr(prim, "orientation", None).as_deref() == Some("leftHanded"),
        double_sided: values::bool_attr(prim, "doubleSided", None).unwrap_or(false),
        normals: polygonal(prim).then(|| read_normals(prim, time)).flatten(),
        colors,
        opacities,
        uvs,
        color_fallback: Some(needs.fallback()),
        face_parent: None,
    }
}

/// Most faces one mesh may be refined to; past it the mesh is drawn less refined, with a warning.
pub const MAX_REFINED_FACES: usize = 16 << 20;

/// The subdivision a Mesh asks for (`subdivisionScheme`, `none`: `None`) and its tags.
fn subdivision_tags(
    prim: &usd::Prim,
    time: Time,
    src: &MeshSource,
) -> Option<(subdivision::Scheme, subdivision::Topology)> {
    use subdivision::{Boundary, Scheme};
    let scheme = match values::token_attr(prim, "subdivisionScheme", None).as_deref() {
        None | Some("catmullClark") => Scheme::CatmullClark,
        Some("loop") => Scheme::Loop,
        Some("bilinear") => Scheme::Bilinear,
        _ => return None, // "none", or a scheme Storm does not know either
    };
    let counts: Option<Vec<u32>> = src.face_vertex_counts.iter().map(|&c| u32::try_from(c).ok()).collect();
    let indices: Option<Vec<u32>> = src.face_vertex_indices.iter().map(|&i| u32::try_from(i).ok()).collect();
    let (counts, indices) = (counts?, indices?);
    if counts.iter().any(|&c| c < 3) {
        return None; // a face of one or two corners has no surface to refine
    }
    let ints = |name: &str| values::int_array_attr(prim, name, time).unwrap_or_default();
    let floats = |name: &str| {
        values::raw(prim, name, time)
            .as_ref()
            .and_then(values::as_float_array)
            .unwrap_or_default()
    };
    // Creases: runs of `creaseLengths` points along `creaseIndices`, one sharpness per run (or
    // one per edge when there are as many sharpnesses as edges).
    let mut creases = std::collections::HashMap::new();
    let (crease_indices, lengths, sharpness) = (
        ints("creaseIndices"),
        ints("creaseLengths"),
        floats("creaseSharpnesses"),
    );
    let edges_total: i64 = lengths.iter().map(|&l| (l - 1).max(0)).sum();
    let per_edge = sharpness.len() as i64 == edges_total && edges_total as usize != lengths.len();
    let (mut at, mut edge) = (0usize, 0usize);
    for (run, &len) in lengths.iter().enumerate() {
        let len = usize::try_from(len).unwrap_or(0);
        let Some(points) = crease_indices.get(at..at + len) else {
            break;
        };
        for pair in points.windows(2) {
            let s = if per_edge {
                sharpness.get(edge)
            } else {
                sharpness.get(run)
            };
            if let (Some(&s), Ok(a), Ok(b)) = (s, u32::try_from(pair[0]), u32::try_from(pair[1])) {
                creases.insert((a.min(b), a.max(b)), s);
            }
            edge += 1;
        }
        at += len;
    }
    let corners = ints("cornerIndices")
        .iter()
        .zip(floats("cornerSharpnesses"))
        .filter_map(|(&i, s)| Some((u32::try_from(i).ok()?, s)))
        .collect();
    let boundary = match values::token_attr(prim, "interpolateBoundary", None).as_deref() {
        Some("edgeOnly") => Boundary::EdgeOnly,
        Some("none") => Boundary::None,
        _ => Boundary::EdgeAndCorner,
    };
    let mut holes = vec![false; counts.len()];
    for &h in &src.hole_indices {
        if let Some(slot) = usize::try_from(h).ok().and_then(|h| holes.get_mut(h)) {
            *slot = true;
        }
    }
    Some((
        scheme,
        subdivision::Topology {
            counts,
            indices,
            points: src.points.len(),
            creases,
            corners,
            boundary,
            holes,
        },
    ))
}

/// A primvar's values, one per element of its interpolation (indices applied); `None` when it
/// does not fit `elements`.
fn flatten<T: Copy>(pv: &Primvar<T>, elements: usize) -> Option<Vec<T>> {
    let values: Vec<T> = match &pv.indices {
        Some(ix) => ix
            .iter()
            .map(|&i| usize::try_from(i).ok().and_then(|i| pv.values.get(i).copied()))
            .collect::<Option<Vec<T>>>()?,
        None => pv.values.clone(),
    };
    (values.len() >= elements).then_some(values)
}

/// A primvar carried through `refinement`: vertex values refined as points, face-varying ones
/// linearly within each face, uniform ones following their face, constant ones kept.
fn refine_primvar<T: Copy + subdivision::Blend>(
    pv: Option<Primvar<T>>,
    refinement: &subdivision::Refinement,
    (faces, points, corners): (usize, usize, usize),
) -> Option<Primvar<T>> {
    let pv = pv?;
    let values = match pv.interp {
        Interp::Constant => return Some(pv),
        Interp::Vertex => refinement.refine_points(&flatten(&pv, points)?),
        Interp::FaceVarying => refinement.refine_corners(&flatten(&pv, corners)?),
        Interp::Uniform => {
            let per_face = flatten(&pv, faces)?;
            refinement.coarse_face.iter().map(|&f| per_face[f as usize]).collect()
        }
    };
    Some(Primvar {
        values,
        indices: None,
        interp: pv.interp,
    })
}

/// Refines `src` in place `level` times as its `subdivisionScheme` says (nothing for `none`),
/// returning the refinement (animated points go through it each frame). A mesh that cannot be
/// refined, or would grow past [`MAX_REFINED_FACES`], is left as authored with a warning.
pub fn subdivide(
    prim: &usd::Prim,
    time: Time,
    src: &mut MeshSource,
    level: u32,
    warnings: &mut Vec<String>,
) -> Option<std::sync::Arc<subdivision::Refinement>> {
    if level == 0 {
        return None;
    }
    let (scheme, topology) = subdivision_tags(prim, time, src)?;
    let refinement = match subdivision::Refinement::new(&topology, scheme, level, MAX_REFINED_FACES) {
        Ok(r) => r,
        Err(reason) => {
            warnings.push(format!("{}: not subdivided: {reason}", src.path));
            return None;
        }
    };
    let sizes = (topology.counts.len(), src.points.len(), topology.indices.len());
    src.points = refinement.refine_points(&src.points);
    // Storm computes a refined mesh's normals; authored ones are for the cage.
    src.normals = None;
    src.colors = refine_primvar(src.colors.take(), &refinement, sizes);
    src.opacities = refine_primvar(src.opacities.take(), &refinement, sizes);
    src.uvs = refine_primvar(src.uvs.take(), &refinement, sizes);
    src.face_vertex_counts = refinement.counts.iter().map(|&c| c as i64).collect();
    src.face_vertex_indices = refinement.indices.iter().map(|&i| i as i64).collect();
    src.hole_indices = (0..refinement.holes.len() as i64)
        .filter(|&f| refinement.holes[f as usize])
        .collect();
    src.face_parent = Some(refinement.coarse_face.clone());
    Some(std::sync::Arc::new(refinement))
}

/// One part of a mesh split by faces, and for each of its vertices the vertex of the whole mesh.
pub struct Part {
    pub mesh: Mesh,
    pub old_vertex: Vec<u32>,
}

/// Splits `mesh` by face: `part_of_face[f]` names the part of USD face `f` (faces past the list
/// go to part 0). Returns `parts` meshes, in part order; a part without triangles is empty.
pub fn split(mesh: &Mesh, triangle_faces: &[u32], part_of_face: &[u32], parts: usize) -> Vec<Part> {
    let mut out: Vec<Part> = (0..parts)
        .map(|_| Part {
            mesh: Mesh {
                path: mesh.path.clone(),
                double_sided: mesh.double_sided,
                ..Mesh::default()
            },
            old_vertex: Vec::new(),
        })
        .collect();
    let mut new_of_old: Vec<Vec<u32>> = vec![Vec::new(); parts];
    for (t, tri) in mesh.indices.chunks_exact(3).enumerate() {
        let face = triangle_faces.get(t).copied().unwrap_or(0) as usize;
        let k = part_of_face.get(face).copied().unwrap_or(0) as usize;
        let Some(part) = out.get_mut(k) else { continue };
        let map = &mut new_of_old[k];
        if map.is_empty() {
            map.resize(mesh.positions.len(), u32::MAX);
        }
        for &v in tri {
            let v = v as usize;
            if map[v] == u32::MAX {
                map[v] = part.old_vertex.len() as u32;
                part.old_vertex.push(v as u32);
                let m = &mut part.mesh;
                m.positions.push(mesh.positions[v]);
                if let Some(n) = mesh.normals.get(v) {
                    m.normals.push(*n);
                }
                if let Some(c) = mesh.colors.get(v) {
                    m.colors.push(*c);
                }
                if let Some(uv) = mesh.uvs.get(v) {
                    m.uvs.push(*uv);
                }
                if let Some(p) = mesh.vertex_points.get(v) {
                    m.vertex_points.push(*p);
                }
            }
            part.mesh.indices.push(map[v]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quad() -> MeshSource {
        MeshSource {
            path: "/quad".into(),
            points: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
            face_vertex_counts: vec![4],
            face_vertex_indices: vec![0, 1, 2, 3],
            ..MeshSource::default()
        }
    }

    fn tri_normal(m: &Mesh, t: usize) -> Vec3 {
        let [a, b, c] = [0, 1, 2].map(|k| Vec3::from(m.positions[m.indices[3 * t + k] as usize]));
        (b - a).cross(c - a)
    }

    #[test]
    fn quad_becomes_two_ccw_triangles() {
        let b = build(&quad());
        assert_eq!(b.mesh.indices.len(), 6);
        assert_eq!(b.mesh.positions.len(), 4, "no split without face-varying data");
        for t in 0..2 {
            assert!(tri_normal(&b.mesh, t).z > 0.0);
        }
        assert!(b.mesh.normals.iter().all(|n| (n[2] - 1.0).abs() < 1e-6));
        assert!(b.mesh.colors.iter().all(|c| *c == [0.5, 0.5, 0.5, 1.0]), "default grey");
        assert!(b.warnings.is_empty());
    }

    #[test]
    fn left_handed_is_flipped_to_ccw() {
        let mut src = quad();
        src.left_handed = true;
        let b = build(&src);
        for t in 0..2 {
            assert!(tri_normal(&b.mesh, t).z < 0.0, "CW in USD order is CCW after the flip");
        }
        assert!(
            b.mesh.normals.iter().all(|n| n[2] < -0.99),
            "computed normals follow the flip"
        );
    }

    #[test]
    fn non_planar_pentagon_is_fanned_from_its_first_corner() {
        // usd-wg's 5_face: a cube whose last face is the pentagon 2, 3, 1, 0, 8, with point 8 off
        // the cube. Storm fans it, so its third triangle (2, 0, 8) is the sliver the screenshot
        // shows above the cube's top edge; an ear clipper cut it as (3, 1, 0), (0, 8, 2)...
        let src = MeshSource {
            path: "/5_face".into(),
            points: vec![
                [-0.5, -0.5, -0.5],
                [0.5, -0.5, -0.5],
                [-0.5, 0.5, -0.5],
                [0.5, 0.5, -0.5],
                [-0.5, -0.5, 0.5],
                [0.5, -0.5, 0.5],
                [-0.5, 0.5, 0.5],
                [0.5, 0.5, 0.5],
                [0.7, 0.7, 0.7],
            ],
            face_vertex_counts: vec![5],
            face_vertex_indices: vec![2, 3, 1, 0, 8],
            ..MeshSource::default()
        };
        let b = build(&src);
        assert_eq!(b.point_triangles, vec![2, 3, 1, 2, 1, 0, 2, 0, 8]);
    }

    #[test]
    fn concave_ngon_is_fanned_and_holes_skip_faces() {
        // An L-shaped hexagon (concave at (1,1)) and a triangle that is a hole.
        let src = MeshSource {
            path: "/l".into(),
            points: vec![
                [0.0, 0.0, 0.0],
                [2.0, 0.0, 0.0],
                [2.0, 1.0, 0.0],
                [1.0, 1.0, 0.0],
                [1.0, 2.0, 0.0],
                [0.0, 2.0, 0.0],
                [5.0, 5.0, 0.0],
            ],
            face_vertex_counts: vec![6, 3],
            face_vertex_indices: vec![0, 1, 2, 3, 4, 5, 0, 1, 6],
            hole_indices: vec![1],
            ..MeshSource::default()
        };
        let b = build(&src);
        assert_eq!(
            b.mesh.indices.len(),
            12,
            "4 triangles for the hexagon, none for the hole"
        );
        let area: f32 = (0..4).map(|t| tri_normal(&b.mesh, t).z / 2.0).sum();
        assert!(
            (area - 3.0).abs() < 1e-5,
            "the triangles cover the L exactly once: {area}"
        );
        for t in 0..4 {
            assert!(tri_normal(&b.mesh, t).z > 0.0);
        }
    }

    #[test]
    fn face_varying_normals_split_vertices() {
        // Two triangles sharing an edge, each with its own face-varying normal.
        let mut src = MeshSource {
            path: "/fv".into(),
            points: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
            face_vertex_counts: vec![3, 3],
            face_vertex_indices: vec![0, 1, 2, 0, 2, 3],
            ..MeshSource::default()
        };
        src.normals = Some(Primvar {
            values: vec![
                [0.0, 0.0, 1.0],
                [0.0, 0.0, 1.0],
                [0.0, 0.0, 1.0],
                [1.0, 0.0, 0.0],
                [1.0, 0.0, 0.0],
                [1.0, 0.0, 0.0],
            ],
            indices: None,
            interp: Interp::FaceVarying,
        });
        let b = build(&src);
        assert_eq!(
            b.mesh.positions.len(),
            6,
            "shared points 0 and 2 split by their normals"
        );
        assert_eq!(b.mesh.vertex_points, vec![0, 1, 2, 0, 2, 3]);
        assert_eq!(b.mesh.normals[3], [1.0, 0.0, 0.0]);
        assert!(!b.computed_normals);
    }

    #[test]
    fn display_color_at_every_interpolation() {
        let red = [1.0, 0.0, 0.0];
        let green = [0.0, 1.0, 0.0];
        let cases = [
            (Interp::Constant, vec![red], None, [red, red]),
            (Interp::Uniform, vec![red], Some(vec![0, 0]), [red, red]),
            (Interp::Uniform, vec![red, green], None, [red, green]),
            (Interp::Vertex, vec![red, red, red, green], None, [red, green]),
            (
                Interp::FaceVarying,
                vec![red, green],
                Some(vec![0, 0, 0, 1, 1, 1]),
                [red, green],
            ),
        ];
        for (interp, values, indices, [first, second]) in cases {
            let src = MeshSource {
                path: "/c".into(),
                points: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
                face_vertex_counts: vec![3, 3],
                face_vertex_indices: vec![0, 1, 2, 0, 2, 3],
                colors: Some(Primvar {
                    values,
                    indices,
                    interp,
                }),
                ..MeshSource::default()
            };
            let b = build(&src);
            let color = |corner: usize| {
                let c = b.mesh.colors[b.mesh.indices[corner] as usize];
                [c[0], c[1], c[2]]
            };
            assert_eq!(color(0), first, "{interp:?}");
            // The second triangle's last corner is point 3.
            assert_eq!(color(5), second, "{interp:?}");
        }
    }

    #[test]
    fn bad_topology_is_survived() {
        let src = MeshSource {
            path: "/bad".into(),
            points: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            face_vertex_counts: vec![3, 3, -1, 5],
            face_vertex_indices: vec![0, 1, 2, 0, 1, 99],
            colors: Some(Primvar {
                values: vec![[1.0, 0.0, 0.0]; 2],
                indices: None,
                interp: Interp::Vertex,
            }),
            normals: Some(Primvar {
                values: vec![[f32::NAN; 3]; 3],
                indices: None,
                interp: Interp::Vertex,
            }),
            ..MeshSource::default()
        };
        let b = build(&src);
        assert_eq!(b.mesh.indices.len(), 3, "only the first face is valid");
        assert!(b.warnings.len() >= 3, "{:?}", b.warnings);
        assert!(b.mesh.normals.iter().all(|n| n.iter().all(|c| c.is_finite())));
        assert!(build(&MeshSource::default()).mesh.indices.is_empty());
    }
}
