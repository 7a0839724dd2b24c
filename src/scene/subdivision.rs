//! Uniform subdivision of polygon meshes, as Storm refines them at a `--complexity` above low:
//! Catmull-Clark (any polygons), Loop (triangles) and bilinear, with OpenSubdiv's tags (edge
//! creases and vertex corners, semi-sharp ones softening one level at a time, boundary
//! interpolation, holes).
//!
//! A [`Refinement`] is built once from the topology and records, level by level, each new point
//! as a weighted sum of the previous level's points (a stencil). Point data (positions, vertex
//! primvars) is refined by applying the stencils, so an animated mesh refines each frame's points
//! without building anything again; face-varying data is refined linearly within each face (as
//! OpenSubdiv's `linearAll` face-varying rule), uniform data follows the face it came from.

use std::collections::HashMap;

/// `subdivisionScheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    CatmullClark,
    Loop,
    Bilinear,
}

/// `interpolateBoundary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Boundary {
    /// Boundary edges are creases and corners (points on one face only) stay put.
    #[default]
    EdgeAndCorner,
    /// Boundary edges are creases; corners are smoothed along them.
    EdgeOnly,
    /// No boundary is interpolated: every face with a point on the boundary is a hole (refined,
    /// shaping its neighbours, but not drawn), as OpenSubdiv's `VTX_BOUNDARY_NONE` tags them for
    /// Catmull-Clark and Loop; the rest is refined as [`Boundary::EdgeOnly`].
    None,
}

/// The mesh to refine: polygons over points, and OpenSubdiv's tags.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Corners per face.
    pub counts: Vec<u32>,
    /// Point index per corner.
    pub indices: Vec<u32>,
    pub points: usize,
    /// Sharpness per edge (either point order); infinite and >= 10 are sharp at every level.
    pub creases: HashMap<(u32, u32), f32>,
    /// Sharpness per point.
    pub corners: HashMap<u32, f32>,
    pub boundary: Boundary,
    /// Faces that are holes: refined with the others (they shape their neighbours) but not drawn.
    pub holes: Vec<bool>,
}

/// A sparse linear map from one level's points to the next: point `i` of the new level is
/// `sum(weights[k] * old[sources[k]])` for `k` in `offsets[i]..offsets[i + 1]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stencils {
    offsets: Vec<u32>,
    sources: Vec<u32>,
    weights: Vec<f32>,
}

impl Stencils {
    fn push(&mut self, terms: &[(u32, f32)]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        for &(s, w) in terms {
            if w != 0.0 {
                self.sources.push(s);
                self.weights.push(w);
            }
        }
        self.offsets.push(self.sources.len() as u32);
    }

    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    fn apply<T: Blend>(&self, old: &[T]) -> Vec<T> {
        (0..self.len())
            .map(|i| {
                let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
                let mut acc = T::zero();
                for k in a..b {
                    if let Some(v) = old.get(self.sources[k] as usize) {
                        acc = acc.add_scaled(v, self.weights[k]);
                    }
                }
                acc
            })
            .collect()
    }
}

/// Values that can be refined: weighted sums.
pub trait Blend: Copy {
    fn zero() -> Self;
    fn add_scaled(self, other: &Self, w: f32) -> Self;
}

impl<const N: usize> Blend for [f32; N] {
    fn zero() -> Self {
        [0.0; N]
    }
    fn add_scaled(mut self, other: &Self, w: f32) -> Self {
        for (a, b) in self.iter_mut().zip(other) {
            *a += b * w;
        }
        self
    }
}

impl Blend for f32 {
    fn zero() -> Self {
        0.0
    }
    fn add_scaled(self, other: &Self, w: f32) -> Self {
        self + other * w
    }
}

/// One refinement step.
#[derive(Debug, Clone, Default)]
struct Level {
    points: Stencils,
    /// Each new face-corner from the previous level's face-corners (of the parent face).
    corners: Stencils,
    /// Each new face's face in the previous level.
    parent: Vec<u32>,
}

/// A mesh refined `levels` times: the stencils of each step and the final faces.
#[derive(Debug, Clone, Default)]
pub struct Refinement {
    levels: Vec<Level>,
    /// Corners per final face (4 for Catmull-Clark and bilinear, 3 for Loop).
    pub counts: Vec<u32>,
    /// Final point per final corner.
    pub indices: Vec<u32>,
    /// Final points.
    pub points: usize,
    /// Each final face's face in the mesh given.
    pub coarse_face: Vec<u32>,
    /// Final faces that are holes.
    pub holes: Vec<bool>,
}

impl Refinement {
    /// Refines `mesh` `levels` times; `Err` names why it cannot be (a face naming a point past
    /// the points, too many faces).
    pub fn new(mesh: &Topology, scheme: Scheme, levels: u32, max_faces: usize) -> Result<Refinement, String> {
        if mesh.indices.iter().any(|&p| p as usize >= mesh.points) {
            return Err("a face names a point past the mesh's points".into());
        }
        if mesh.counts.iter().map(|&c| c as usize).sum::<usize>() != mesh.indices.len() {
            return Err("faceVertexCounts and faceVertexIndices disagree".into());
        }
        // Loop needs triangles; other polygons take Catmull-Clark (as Storm falls back).
        let scheme = if scheme == Scheme::Loop && mesh.counts.iter().any(|&c| c != 3) {
            Scheme::CatmullClark
        } else {
            scheme
        };
        let mut current = mesh.clone();
        if current.holes.len() != current.counts.len() {
            current.holes.resize(current.counts.len(), false);
        }
        if mesh.boundary == Boundary::None && scheme != Scheme::Bilinear {
            hole_boundary_faces(&mut current);
        }
        let mut out = Refinement {
            coarse_face: (0..mesh.counts.len() as u32).collect(),
            ..Default::default()
        };
        for _ in 0..levels {
            let next_faces: usize = match scheme {
                Scheme::Loop => current.counts.len() * 4,
                _ => current.indices.len(),
            };
            if next_faces > max_faces {
                return Err(format!(
                    "refining to {next_faces} faces is more than the {max_faces} allowed per mesh"
                ));
            }
            let (level, next) = refine(&current, scheme);
            out.coarse_face = level.parent.iter().map(|&p| out.coarse_face[p as usize]).collect();
            out.levels.push(level);
            current = next;
        }
        out.counts = current.counts;
        out.indices = current.indices;
        out.points = current.points;
        out.holes = current.holes;
        Ok(out)
    }

    /// Point data (positions, vertex primvars) at the final level.
    pub fn refine_points<T: Blend>(&self, coarse: &[T]) -> Vec<T> {
        let mut values = coarse.to_vec();
        for level in &self.levels {
            values = level.points.apply(&values);
        }
        values
    }

    /// Face-varying data (one value per corner of the mesh given) at the final level.
    pub fn refine_corners<T: Blend>(&self, coarse: &[T]) -> Vec<T> {
        let mut values = coarse.to_vec();
        for level in &self.levels {
            values = level.corners.apply(&values);
        }
        values
    }
}

/// Marks as holes the faces with a point on a boundary edge (an edge of one face only): what
/// OpenSubdiv's `VTX_BOUNDARY_NONE` does to the base mesh (`Far::TopologyRefinerFactoryBase`).
fn hole_boundary_faces(mesh: &mut Topology) {
    let mut edge_faces: HashMap<(u32, u32), u32> = HashMap::new();
    let faces = || {
        mesh.counts.iter().scan(0usize, |start, &n| {
            let face = *start..*start + n as usize;
            *start += n as usize;
            Some(face)
        })
    };
    for face in faces() {
        let corners = &mesh.indices[face];
        for (i, &a) in corners.iter().enumerate() {
            let b = corners[(i + 1) % corners.len()];
            *edge_faces.entry((a.min(b), a.max(b))).or_default() += 1;
        }
    }
    let mut on_boundary = vec![false; mesh.points];
    for (&(a, b), _) in edge_faces.iter().filter(|(_, &n)| n == 1) {
        on_boundary[a as usize] = true;
        on_boundary[b as usize] = true;
    }
    let holes: Vec<bool> = faces()
        .map(|face| mesh.indices[face].iter().any(|&p| on_boundary[p as usize]))
        .collect();
    for (hole, boundary) in mesh.holes.iter_mut().zip(holes) {
        *hole |= boundary;
    }
}

/// An edge's faces and its sharpness (infinite for boundary and non-manifold edges).
struct Edge {
    a: u32,
    b: u32,
    faces: Vec<u32>,
    sharpness: f32,
}

/// What one step needs to know about the mesh.
struct Adjacency {
    edges: Vec<Edge>,
    /// For each face, its first corner.
    face_start: Vec<usize>,
    /// For each face corner, the edge from it to the next corner.
    corner_edge: Vec<u32>,
    /// Per point, its edges and faces.
    point_edges: Vec<Vec<u32>>,
    point_faces: Vec<Vec<u32>>,
}

fn adjacency(mesh: &Topology) -> Adjacency {
    let mut index: HashMap<(u32, u32), u32> = HashMap::new();
    let mut edges: Vec<Edge> = Vec::new();
    let mut face_start = Vec::with_capacity(mesh.counts.len());
    let mut corner_edge = vec![0u32; mesh.indices.len()];
    let mut point_edges = vec![Vec::new(); mesh.points];
    let mut point_faces = vec![Vec::new(); mesh.points];
    let mut start = 0usize;
    for (f, &count) in mesh.counts.iter().enumerate() {
        face_start.push(start);
        let n = count as usize;
        for i in 0..n {
            let a = mesh.indices[start + i];
            let b = mesh.indices[start + (i + 1) % n];
            let key = (a.min(b), a.max(b));
            let e = *index.entry(key).or_insert_with(|| {
                let sharpness = mesh
                    .creases
                    .get(&key)
                    .or_else(|| mesh.creases.get(&(key.1, key.0)))
                    .copied()
                    .unwrap_or(0.0);
                edges.push(Edge {
                    a: key.0,
                    b: key.1,
                    faces: Vec::new(),
                    sharpness,
                });
                let e = edges.len() as u32 - 1;
                point_edges[key.0 as usize].push(e);
                if key.1 != key.0 {
                    point_edges[key.1 as usize].push(e);
                }
                e
            });
            edges[e as usize].faces.push(f as u32);
            corner_edge[start + i] = e;
            if !point_faces[a as usize].contains(&(f as u32)) {
                point_faces[a as usize].push(f as u32);
            }
        }
        start += n;
    }
    for e in &mut edges {
        if e.faces.len() != 2 {
            e.sharpness = f32::INFINITY; // boundary or non-manifold
        }
    }
    Adjacency {
        edges,
        face_start,
        corner_edge,
        point_edges,
        point_faces,
    }
}

/// Accumulates a stencil's terms, merging repeated sources.
#[derive(Default)]
struct Terms(Vec<(u32, f32)>);

impl Terms {
    fn add(&mut self, source: u32, w: f32) {
        match self.0.iter_mut().find(|(s, _)| *s == source) {
            Some(t) => t.1 += w,
            None => self.0.push((source, w)),
        }
    }
    fn add_all(&mut self, other: &[(u32, f32)], w: f32) {
        for &(s, x) in other {
            self.add(s, x * w);
        }
    }
    fn lerp(a: &[(u32, f32)], b: &[(u32, f32)], t: f32) -> Vec<(u32, f32)> {
        let mut out = Terms::default();
        out.add_all(a, 1.0 - t);
        out.add_all(b, t);
        out.0
    }
}

/// One step of refinement: the stencils from `mesh` to the next level, and the next level.
fn refine(mesh: &Topology, scheme: Scheme) -> (Level, Topology) {
    let adj = adjacency(mesh);
    let corners_of = |f: usize| {
        let s = adj.face_start[f];
        &mesh.indices[s..s + mesh.counts[f] as usize]
    };
    let face_point: Vec<Vec<(u32, f32)>> = (0..mesh.counts.len())
        .map(|f| {
            let c = corners_of(f);
            let w = 1.0 / c.len() as f32;
            let mut t = Terms::default();
            for &p in c {
                t.add(p, w);
            }
            t.0
        })
        .collect();
    let sharp = |e: &Edge| e.sharpness.min(1.0);
    // Edge points.
    let edge_point: Vec<Vec<(u32, f32)>> = adj
        .edges
        .iter()
        .map(|e| {
            let mid = vec![(e.a, 0.5), (e.b, 0.5)];
            if scheme == Scheme::Bilinear || e.sharpness >= 1.0 || e.faces.len() != 2 {
                return mid;
            }
            let smooth = match scheme {
                Scheme::Loop => {
                    // 3/8 of each end, 1/8 of each opposite point.
                    let mut t = Terms::default();
                    t.add(e.a, 0.375);
                    t.add(e.b, 0.375);
                    for &f in &e.faces {
                        if let Some(&o) = corners_of(f as usize).iter().find(|&&p| p != e.a && p != e.b) {
                            t.add(o, 0.125);
                        }
                    }
                    t.0
                }
                _ => {
                    let mut t = Terms::default();
                    t.add(e.a, 0.25);
                    t.add(e.b, 0.25);
                    for &f in &e.faces {
                        t.add_all(&face_point[f as usize], 0.25);
                    }
                    t.0
                }
            };
            if e.sharpness > 0.0 {
                Terms::lerp(&smooth, &mid, sharp(e))
            } else {
                smooth
            }
        })
        .collect();
    // Vertex points.
    let vertex_point: Vec<Vec<(u32, f32)>> = (0..mesh.points as u32)
        .map(|v| {
            let keep = vec![(v, 1.0)];
            let edges = &adj.point_edges[v as usize];
            let faces = &adj.point_faces[v as usize];
            if scheme == Scheme::Bilinear || edges.is_empty() {
                return keep;
            }
            let other = |e: &Edge| if e.a == v { e.b } else { e.a };
            let n = edges.len() as f32;
            let smooth = match scheme {
                Scheme::Loop => {
                    let beta = {
                        let c = 0.375 + 0.25 * (std::f32::consts::TAU / n).cos();
                        (0.625 - c * c) / n
                    };
                    let mut t = Terms::default();
                    t.add(v, 1.0 - n * beta);
                    for &e in edges {
                        t.add(other(&adj.edges[e as usize]), beta);
                    }
                    t.0
                }
                _ => {
                    // (F + 2R + (n - 3) V) / n: F the mean face point, R the mean edge midpoint.
                    let mut t = Terms::default();
                    let nf = faces.len().max(1) as f32;
                    for &f in faces {
                        t.add_all(&face_point[f as usize], 1.0 / (nf * n));
                    }
                    for &e in edges {
                        let e = &adj.edges[e as usize];
                        t.add(e.a, 1.0 / (n * n));
                        t.add(e.b, 1.0 / (n * n));
                    }
                    t.add(v, (n - 3.0) / n);
                    t.0
                }
            };
            let sharp_edges: Vec<&Edge> = edges
                .iter()
                .map(|&e| &adj.edges[e as usize])
                .filter(|e| e.sharpness > 0.0)
                .collect();
            let boundary = sharp_edges.iter().any(|e| e.faces.len() < 2);
            let corner = mesh.corners.get(&v).copied().unwrap_or(0.0)
                + if boundary && faces.len() == 1 && mesh.boundary == Boundary::EdgeAndCorner {
                    f32::INFINITY
                } else {
                    0.0
                };
            let rule = match sharp_edges.len() {
                0 | 1 => smooth,
                2 => {
                    // Crease rule, Catmull-Clark and Loop alike: (e_a + 6 V + e_b) / 8.
                    let (w_v, w_e) = (0.75, 0.125);
                    let crease = vec![(v, w_v), (other(sharp_edges[0]), w_e), (other(sharp_edges[1]), w_e)];
                    let s = (sharp(sharp_edges[0]) + sharp(sharp_edges[1])) / 2.0;
                    if s >= 1.0 {
                        crease
                    } else {
                        Terms::lerp(&smooth, &crease, s)
                    }
                }
                _ => {
                    let s = sharp_edges.iter().map(|e| sharp(e)).sum::<f32>() / sharp_edges.len() as f32;
                    if s >= 1.0 {
                        keep.clone()
                    } else {
                        Terms::lerp(&smooth, &keep, s)
                    }
                }
            };
            if corner >= 1.0 {
                keep
            } else if corner > 0.0 {
                Terms::lerp(&rule, &keep, corner)
            } else {
                rule
            }
        })
        .collect();

    // The next level's points: vertex points, then edge points, then (not for Loop) face points.
    let n_v = mesh.points as u32;
    let n_e = adj.edges.len() as u32;
    let mut level = Level::default();
    for t in vertex_point.iter().chain(&edge_point) {
        level.points.push(t);
    }
    if scheme != Scheme::Loop {
        for t in &face_point {
            level.points.push(t);
        }
    }
    let decrement = |s: f32| if s.is_infinite() { s } else { (s - 1.0).max(0.0) };
    let mut next = Topology {
        points: level.points.len(),
        boundary: mesh.boundary,
        ..Default::default()
    };
    for (i, e) in adj.edges.iter().enumerate() {
        let s = decrement(e.sharpness);
        if s > 0.0 && e.faces.len() == 2 {
            let ep = n_v + i as u32;
            next.creases.insert((e.a.min(ep), e.a.max(ep)), s);
            next.creases.insert((e.b.min(ep), e.b.max(ep)), s);
        }
    }
    for (&v, &s) in &mesh.corners {
        let s = decrement(s);
        if s > 0.0 {
            next.corners.insert(v, s);
        }
    }
    for f in 0..mesh.counts.len() {
        let start = adj.face_start[f];
        let n = mesh.counts[f] as usize;
        let c = corners_of(f);
        let hole = mesh.holes.get(f).copied().unwrap_or(false);
        let ep = |i: usize| n_v + adj.corner_edge[start + (i % n)];
        // Corner stencils in the parent face's corners (face-varying data, linear).
        let cc = |i: usize| (start + (i % n)) as u32;
        let mut face = |points: &[u32], corner_terms: &[Vec<(u32, f32)>]| {
            next.counts.push(points.len() as u32);
            next.indices.extend_from_slice(points);
            next.holes.push(hole);
            level.parent.push(f as u32);
            for t in corner_terms {
                level.corners.push(t);
            }
        };
        if scheme == Scheme::Loop {
            let (a, b, d) = (c[0], c[1], c[2]);
            let (ab, bc, ca) = (ep(0), ep(1), ep(2));
            let mid = |i: usize, j: usize| vec![(cc(i), 0.5), (cc(j), 0.5)];
            face(&[a, ab, ca], &[vec![(cc(0), 1.0)], mid(0, 1), mid(2, 0)]);
            face(&[ab, b, bc], &[mid(0, 1), vec![(cc(1), 1.0)], mid(1, 2)]);
            face(&[ca, bc, d], &[mid(2, 0), mid(1, 2), vec![(cc(2), 1.0)]]);
            face(&[ab, bc, ca], &[mid(0, 1), mid(1, 2), mid(2, 0)]);
        } else {
            let fp = n_v + n_e + f as u32;
            let center: Vec<(u32, f32)> = (0..n).map(|i| (cc(i), 1.0 / n as f32)).collect();
            for (i, &corner) in c.iter().enumerate() {
                let prev = (i + n - 1) % n;
                face(
                    &[corner, ep(i), fp, ep(prev)],
                    &[
                        vec![(cc(i), 1.0)],
                        vec![(cc(i), 0.5), (cc(i + 1), 0.5)],
                        center.clone(),
                        vec![(cc(prev), 0.5), (cc(i), 0.5)],
                    ],
                );
            }
        }
    }
    (level, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cube of side 2 centred on the origin, faces outward.
    fn cube() -> (Topology, Vec<[f32; 3]>) {
        let points = vec![
            [-1.0, -1.0, -1.0],
            [1.0, -1.0, -1.0],
            [1.0, 1.0, -1.0],
            [-1.0, 1.0, -1.0],
            [-1.0, -1.0, 1.0],
            [1.0, -1.0, 1.0],
            [1.0, 1.0, 1.0],
            [-1.0, 1.0, 1.0],
        ];
        let indices = vec![0, 3, 2, 1, 4, 5, 6, 7, 0, 1, 5, 4, 1, 2, 6, 5, 2, 3, 7, 6, 3, 0, 4, 7];
        (
            Topology {
                counts: vec![4; 6],
                indices,
                points: 8,
                ..Default::default()
            },
            points,
        )
    }

    fn close(a: [f32; 3], b: [f32; 3], tol: f32) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < tol)
    }

    #[test]
    fn face_counts_grow_four_times_a_level() {
        let (cube, _) = cube();
        for level in 0..4 {
            let r = Refinement::new(&cube, Scheme::CatmullClark, level, usize::MAX).expect("refines");
            assert_eq!(r.counts.len(), 6 * 4usize.pow(level));
            assert!(r.counts.iter().all(|&c| c == 4));
            assert_eq!(r.coarse_face.len(), r.counts.len());
        }
        let tri = Topology {
            counts: vec![3],
            indices: vec![0, 1, 2],
            points: 3,
            ..Default::default()
        };
        let r = Refinement::new(&tri, Scheme::Loop, 2, usize::MAX).expect("refines");
        assert_eq!(r.counts.len(), 16);
        assert!(Refinement::new(&tri, Scheme::Loop, 3, 50).is_err(), "64 faces > 50");
    }

    #[test]
    fn a_refined_cube_matches_catmull_clark_by_hand_and_nears_its_limit() {
        let (cube, points) = cube();
        let r = Refinement::new(&cube, Scheme::CatmullClark, 1, usize::MAX).expect("refines");
        let p = r.refine_points(&points);
        // Corner (1,1,1), valence 3: F = mean of the face centres (1,0,0), (0,1,0), (0,0,1) =
        // 1/3 each; R = mean of the edge midpoints (0,1,1), (1,0,1), (1,1,0) = 2/3 each;
        // (F + 2R + (n - 3) V) / n = 5/9.
        let corner = p[6];
        assert!(close(corner, [5.0 / 9.0; 3], 1e-6), "{corner:?}");
        // Edge point of the edge (1,1,-1)-(1,1,1): mean of its ends and the two face centres.
        let e = r
            .indices
            .iter()
            .map(|&i| p[i as usize])
            .find(|q| close(*q, [0.75, 0.75, 0.0], 1e-6));
        assert!(e.is_some(), "edge point at (3/4, 3/4, 0)");
        // Face points stay at the face centres.
        assert!(p.iter().any(|q| close(*q, [0.0, 0.0, 1.0], 1e-6)));
        // The corner's limit position, (n^2 V + 4 sum(e) + sum(f)) / (n (n + 5)) on the level-1
        // mesh: (9 * 5/9 + 4 * 3/2 + 1) / 24 = 1/2. Refining further closes in on it.
        let mut gap = corner[0] - 0.5;
        for level in 2..=5 {
            let fine = Refinement::new(&cube, Scheme::CatmullClark, level, usize::MAX).expect("refines");
            let q = fine.refine_points(&points)[6];
            assert!(close(q, [q[0]; 3], 1e-6), "symmetric");
            let now = q[0] - 0.5;
            assert!(
                now > 0.0 && now < gap * 0.75,
                "level {level}: {q:?} after a gap of {gap}"
            );
            gap = now;
        }
        assert!(gap < 0.01, "level 5 within a hundredth of the limit: {gap}");
    }

    #[test]
    fn no_boundary_interpolation_holes_every_face_touching_the_boundary() {
        // A 3x3 grid of quads over 4x4 points: only the centre face has no boundary point, so
        // of its 9 * 4 level-1 faces only the centre face's 4 are drawn (subdivTags' plane3).
        let mut grid = Topology {
            points: 16,
            boundary: Boundary::None,
            ..Default::default()
        };
        for y in 0..3u32 {
            for x in 0..3u32 {
                let p = y * 4 + x;
                grid.counts.push(4);
                grid.indices.extend([p, p + 1, p + 5, p + 4]);
            }
        }
        let drawn = |r: &Refinement| {
            let mut faces: Vec<u32> = (0..r.counts.len())
                .filter(|&f| !r.holes[f])
                .map(|f| r.coarse_face[f])
                .collect();
            faces.dedup();
            faces
        };
        let r = Refinement::new(&grid, Scheme::CatmullClark, 2, usize::MAX).expect("refines");
        assert_eq!(r.holes.iter().filter(|&&h| !h).count(), 16, "the centre face's 4 * 4");
        assert_eq!(drawn(&r), vec![4]);
        // An authored hole stays one; bilinear has no neighbourhood and keeps every face.
        grid.holes = vec![false; 9];
        grid.holes[4] = true;
        let r = Refinement::new(&grid, Scheme::CatmullClark, 1, usize::MAX).expect("refines");
        assert!(r.holes.iter().all(|&h| h));
        grid.holes.clear();
        let r = Refinement::new(&grid, Scheme::Bilinear, 1, usize::MAX).expect("refines");
        assert!(r.holes.iter().all(|&h| !h));
        // Edge-only keeps them all, and refines the interior the same way.
        let edge_only = Topology {
            boundary: Boundary::EdgeOnly,
            ..grid.clone()
        };
        let none = Refinement::new(&grid, Scheme::CatmullClark, 1, usize::MAX).expect("refines");
        let edge = Refinement::new(&edge_only, Scheme::CatmullClark, 1, usize::MAX).expect("refines");
        assert!(edge.holes.iter().all(|&h| !h));
        let pts: Vec<[f32; 3]> = (0..16)
            .map(|i| [(i % 4) as f32, (i / 4) as f32, (i * 7 % 5) as f32])
            .collect();
        assert_eq!(none.refine_points(&pts), edge.refine_points(&pts));
    }

    #[test]
    fn infinitely_sharp_creases_and_boundaries_keep_their_edges_straight() {
        // A single quad: every edge is a boundary, every point a corner: nothing moves.
        let quad = Topology {
            counts: vec![4],
            indices: vec![0, 1, 2, 3],
            points: 4,
            ..Default::default()
        };
        let pts = vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]];
        let r = Refinement::new(&quad, Scheme::CatmullClark, 2, usize::MAX).expect("refines");
        let p = r.refine_points(&pts);
        for (i, q) in pts.iter().enumerate() {
            assert!(close(p[i], *q, 1e-6), "corner {i} stays");
        }
        // Boundary edge points stay on the square's edges.
        assert!(p
            .iter()
            .all(|q| (0.0..=1.0).contains(&q[0]) && (0.0..=1.0).contains(&q[1])));
        // A cube with one edge creased (sharpness 10): the edge's midpoint stays on it.
        let (mut cube, points) = cube();
        cube.creases.insert((2, 6), 10.0);
        let r = Refinement::new(&cube, Scheme::CatmullClark, 1, usize::MAX).expect("refines");
        let p = r.refine_points(&points);
        assert!(
            p.iter().any(|q| close(*q, [1.0, 1.0, 0.0], 1e-6)),
            "crease midpoint on the edge"
        );
        // Its ends follow the crease rule: (6 V + the two crease neighbours) / 8 would need two
        // sharp edges; with one sharp edge (a dart) the smooth rule holds.
        assert!(close(p[6], [5.0 / 9.0; 3], 1e-6));
        // A semi-sharp crease (0.5) lands between smooth and sharp.
        let (mut soft, _) = self::cube();
        soft.creases.insert((2, 6), 0.5);
        let r = Refinement::new(&soft, Scheme::CatmullClark, 1, usize::MAX).expect("refines");
        let p = r.refine_points(&points);
        assert!(
            p.iter().any(|q| close(*q, [0.875, 0.875, 0.0], 1e-6)),
            "half way: 3/4 -> 1"
        );
    }

    #[test]
    fn corners_and_holes_are_kept_and_dropped() {
        let (mut cube, points) = cube();
        cube.corners.insert(6, 10.0);
        cube.holes = vec![false, true, false, false, false, false];
        let r = Refinement::new(&cube, Scheme::CatmullClark, 1, usize::MAX).expect("refines");
        let p = r.refine_points(&points);
        assert_eq!(p[6], [1.0, 1.0, 1.0], "a sharp corner stays put");
        assert_eq!(r.holes.iter().filter(|&&h| h).count(), 4, "the hole's four children");
        assert!(r.coarse_face.iter().zip(&r.holes).all(|(&f, &h)| h == (f == 1)));
    }

    #[test]
    fn face_varying_values_refine_linearly_within_their_face() {
        let quad = Topology {
            counts: vec![4],
            indices: vec![0, 1, 2, 3],
            points: 4,
            ..Default::default()
        };
        let uv = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        let r = Refinement::new(&quad, Scheme::CatmullClark, 1, usize::MAX).expect("refines");
        let c = r.refine_corners(&uv);
        assert_eq!(c.len(), 16);
        // Child 0: the corner, the first edge's middle, the centre, the last edge's middle.
        assert_eq!(&c[0..4], &[[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]);
    }
}
