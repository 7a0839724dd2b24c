//! One walk over the composed stage that copies drawable geometry out into a [`Scene`] and records
//! a [`FramePlan`]: the few prims whose transform, visibility or points can change, so per-frame
//! evaluation touches only those.
//!
//! Scene-graph instancing: instance proxies are traversed, but their geometry is keyed by the
//! prototype prim, so every instance shares one [`crate::scene::Mesh`]. PointInstancers expand to
//! one [`Instance`] per point, naming the meshes of their prototypes' subtrees.
//!
//! Materials are bound per drawn prim (an instance proxy's own path, so instances of one prototype
//! may differ); a Mesh with `materialBind` GeomSubsets is drawn as one mesh and instance per
//! subset plus one for its other faces. Meshes are shared by prototype and by the primvars their
//! materials read (texture coordinates, vertex colours).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use glam::{DMat4, DVec3};
use openusd::sdf;
use openusd::usd;
use openusd_schemas::geom::XformCache;

use super::draw_mode;
use super::graph::{is_drawable_type, purpose_drawn, visible_at, world, DrawMode, Graph};
use super::lights;
use super::material::{self, Materials, PrimvarNeeds};
use super::mesh;
use super::samples;
use super::skel::{self, SkelPlans};
use super::values::{self, Time};
use crate::scene::animation::{AnimatedMesh, NormalsFrom, Refine, Topology};
use crate::scene::shapes::{self, Axis, Implicit};
use crate::scene::skinning::{SkinFrame, SkinnedMesh};
use crate::scene::{Bounds, Instance, Material, Mesh, MeshVertices, Scene};

/// What per-frame evaluation recomputes, built by [`extract`].
#[derive(Default)]
pub struct FramePlan {
    pub groups: Vec<DynGroup>,
    pub meshes: Vec<DynMesh>,
    /// Number of matrices the groups produce (== `Scene::dynamic_instances.len()`).
    pub matrices: usize,
    /// The animated meshes whose points come from a track (also in `meshes`, marked
    /// `from_animation`): evaluated from plain data, `Scene::animation`.
    pub animated: Vec<AnimatedMesh>,
    /// Materials read, their textures, and which are animated (`Scene::dynamic_materials`).
    pub materials: Materials,
    /// Animated lights, in `Scene::dynamic_lights` order.
    pub lights: Vec<lights::DynLight>,
    /// The skeletons that deform meshes, each read once.
    pub skeletons: SkelPlans,
    /// One entry per skinned prim, in `FrameState::skinning` order: the prim and its
    /// skeleton (an index into `skeletons`).
    pub skins: Vec<(usd::Prim, usize)>,
    /// The skinned meshes (also in `meshes`, marked `from_animation`): `Scene::animation`.
    pub skinned: Vec<SkinnedMesh>,
}

/// A skinned prim as the mesh table needs it: its skinning data and its pose at load time.
pub struct SkinRequest {
    pub parts: skel::SkinnedParts,
    pub rest_points: Vec<[f32; 3]>,
    /// Index into `FramePlan::skins`.
    pub frame: usize,
    pub load_time: SkinFrame,
}

/// A run of consecutive dynamic instances evaluated together.
pub enum DynGroup {
    /// One scene-graph prim drawn once, as `parts` instances (one per material GeomSubset, plus
    /// the remaining faces), all with the prim's transform.
    Prim {
        prim: usd::Prim,
        vis_dynamic: bool,
        parts: usize,
    },
    /// Every drawn instance of one top-level PointInstancer: for each, its position in the
    /// expansion and the mesh key it was given at load time (repeated once per mesh part).
    Instancer {
        prim: usd::Prim,
        keys: Vec<(usize, Rc<str>)>,
    },
}

/// An animated Mesh prim: new points are re-applied through `vertex_points`.
pub struct DynMesh {
    pub prim: usd::Prim,
    pub vertex_points: Vec<u32>,
    pub point_triangles: Vec<u32>,
    pub computed_normals: bool,
    /// Authored normals that vary over time are re-read each frame through this map.
    pub animated_normals: Option<Vec<Option<u32>>>,
    /// An implicit shape (its type name, and the refine level it is drawn at) whose parameters
    /// are animated: rebuilt each frame from them instead of reading `points`.
    pub shape: Option<(String, u32)>,
    /// Its points come from a track or a skeleton and are evaluated by `Scene::animation`, not
    /// here.
    pub from_animation: bool,
    /// A subdivided mesh's refinement, applied to each frame's points.
    pub refine: Option<Refine>,
    /// Its topology changes over time: rebuilt from the stage each frame into a fixed capacity.
    pub varying: Option<Varying>,
}

/// A prim whose topology changes over time, drawn with room for the most it draws at any time
/// ([`crate::scene::varying`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Varying {
    /// A Mesh as a triangle soup of `triangles`, refined `refine_level` times.
    Soup { triangles: usize, refine_level: u32 },
    /// A Points prim with room for `points` discs.
    Points { points: usize },
}

/// Builds the mesh of one drawable prim at `time` (Mesh or implicit shape).
pub fn build_mesh(
    prim: &usd::Prim,
    type_name: &str,
    time: Time,
    needs: &PrimvarNeeds,
    refine_level: u32,
    warnings: &mut Vec<String>,
) -> Option<mesh::Built> {
    let f = |name: &str, fallback: f64| values::f64_attr(prim, name, time).unwrap_or(fallback);
    let axis = || Axis::from_token(&values::token_attr(prim, "axis", None).unwrap_or_default());
    let double_sided = values::bool_attr(prim, "doubleSided", None).unwrap_or(false);
    let shape = |mut m: Mesh| {
        // Named by the prim, as meshes are (messages, tests).
        m.path = prim.path().as_str().to_string();
        Some(mesh::Built {
            mesh: m,
            computed_normals: false,
            ..Default::default()
        })
    };
    let color = || mesh::constant_color(prim, time, needs);
    match type_name {
        "Mesh" => Some(refined(
            prim,
            time,
            mesh::read(prim, time, needs),
            refine_level,
            warnings,
        )),
        "Points" => shape(points_mesh(prim, time, needs)),
        "BasisCurves" | "NurbsCurves" | "HermiteCurves" => {
            shape(curves_mesh(prim, type_name, time, needs, refine_level, warnings))
        }
        "Skeleton" => {
            let plan = skel::SkeletonPlan::read(prim.clone(), None, &mut Vec::new());
            let (points, _, triangles) = skel::bones(&plan)?;
            let src = mesh::MeshSource {
                path: prim.path().as_str().to_string(),
                face_vertex_counts: vec![3; triangles.len() / 3],
                face_vertex_indices: triangles.iter().map(|&i| i as i64).collect(),
                points,
                double_sided: true,
                color_fallback: Some(mesh::constant_color(prim, time, needs)),
                ..Default::default()
            };
            Some(mesh::build(&src))
        }
        "Cube" | "Sphere" | "Cylinder" | "Cylinder_1" | "Cone" | "Capsule" | "Capsule_1" | "Plane" => {
            let implicit = match type_name {
                "Cube" => Implicit::Cube { size: f("size", 2.0) },
                "Sphere" => Implicit::Sphere {
                    radius: f("radius", 1.0),
                },
                "Cylinder" | "Cylinder_1" => Implicit::Cylinder {
                    radius: f("radius", 1.0),
                    height: f("height", 2.0),
                    axis: axis(),
                },
                "Cone" => Implicit::Cone {
                    radius: f("radius", 1.0),
                    height: f("height", 2.0),
                    axis: axis(),
                },
                "Capsule" | "Capsule_1" => Implicit::Capsule {
                    radius: f("radius", 0.5),
                    height: f("height", 1.0),
                    axis: axis(),
                },
                _ => Implicit::Plane {
                    width: f("width", 2.0),
                    length: f("length", 2.0),
                    axis: axis(),
                },
            };
            // Storm refines a sphere's and a capsule's mesh as a Catmull-Clark surface under
            // `-complexity` (rounder and smaller than the 10 x 10 cage: testUsdImagingGLImplicits_
            // refined matches it pixel for pixel). Its cubes, cylinders and cones keep their cap
            // rims and apex sharp, which a smooth refinement of the cage rounds away (their
            // silhouettes there fall from IoU 0.97 to 0.89): they stay as tessellated.
            let smooth = matches!(implicit, Implicit::Sphere { .. } | Implicit::Capsule { .. });
            if refine_level == 0 || !smooth {
                return shape(implicit.mesh(color(), double_sided));
            }
            let cage = implicit.cage();
            let src = mesh::MeshSource {
                path: prim.path().as_str().to_string(),
                points: cage.points,
                face_vertex_counts: cage.counts,
                face_vertex_indices: cage.indices,
                double_sided,
                color_fallback: Some(color()),
                ..Default::default()
            };
            Some(refined(prim, time, src, refine_level, warnings))
        }
        _ => None,
    }
}

/// `src` refined `refine_level` times as `prim`'s subdivision scheme and tags say, then built; a
/// refined mesh keeps its control points' bounds, which pxr frames by.
fn refined(
    prim: &usd::Prim,
    time: Time,
    mut src: mesh::MeshSource,
    refine_level: u32,
    warnings: &mut Vec<String>,
) -> mesh::Built {
    let mut cage = Bounds::EMPTY;
    if refine_level > 0 {
        cage.include_points(&DMat4::IDENTITY, &src.points);
    }
    let refinement = mesh::subdivide(prim, time, &mut src, refine_level, warnings);
    let mut built = mesh::build(&src);
    if refinement.is_some() {
        built.cage_bounds = Some(cage);
    }
    built.refinement = refinement;
    warnings.extend(built.warnings.iter().cloned());
    built
}

/// A Points prim as round points: `widths` across (1 where not authored), coloured by its
/// display colour per point or constant.
fn points_mesh(prim: &usd::Prim, time: Time, needs: &PrimvarNeeds) -> Mesh {
    let (centers, widths, colors) = points_read(prim, time, needs);
    // Storm sizes a point by its prim's scale averaged over the axes (|M (1,1,1)| / sqrt 3), which
    // the vertex shader applies (`Facing::Sprite`).
    shapes::points(&centers, &widths, &colors, crate::scene::Facing::Sprite)
}

/// A Points prim's centres and widths at `time` (what a frame of a varying Points prim reads).
fn points_and_widths(prim: &usd::Prim, time: Time) -> (Vec<[f32; 3]>, Vec<f32>) {
    let centers = values::vec3_array_attr(prim, "points", time).unwrap_or_default();
    let widths = values::raw(prim, "widths", time)
        .as_ref()
        .and_then(values::as_float_array)
        .unwrap_or_default();
    (centers, widths)
}

/// A Points prim's centres, widths and per-point colours at `time`.
fn points_read(prim: &usd::Prim, time: Time, needs: &PrimvarNeeds) -> (Vec<[f32; 3]>, Vec<f32>, Vec<[f32; 4]>) {
    let (centers, widths) = points_and_widths(prim, time);
    let (rgb, alpha) = mesh::read_colors(prim, time, &needs.rgb, &needs.alpha);
    let fallback = needs.fallback();
    let per_point = |i: usize| {
        let c = rgb.as_ref().and_then(|c| {
            let at = if c.values.len() == 1 { 0 } else { i };
            let at = match &c.indices {
                Some(ix) => usize::try_from(*ix.get(at)?).ok()?,
                None => at,
            };
            c.values.get(at).copied()
        });
        let a = alpha
            .as_ref()
            .and_then(|a| a.values.get(if a.values.len() == 1 { 0 } else { i }).copied());
        let c = c.unwrap_or([fallback[0], fallback[1], fallback[2]]);
        [c[0], c[1], c[2], a.unwrap_or(fallback[3])]
    };
    let colors: Vec<[f32; 4]> = (0..centers.len()).map(per_point).collect();
    (centers, widths, colors)
}

/// Whether `prim`'s topology changes over time, and the room it needs: for a Mesh whose face
/// counts or indices have time samples, the most triangles any sample of its face counts draws
/// at `refine_level`; for a Points prim whose point count differs between samples, the most
/// points. Every sample of those attributes is read once, here.
fn varying_capacity(prim: &usd::Prim, type_name: &str, refine_level: u32) -> Option<Varying> {
    let sample_times = |name: &str| -> Vec<f64> {
        prim.attribute(name)
            .time_samples_in_interval(f64::NEG_INFINITY..=f64::INFINITY)
            .unwrap_or_default()
    };
    match type_name {
        "Mesh" => {
            if !samples::varies(prim, "faceVertexCounts") && !samples::varies(prim, "faceVertexIndices") {
                return None;
            }
            let subdivided = values::token_attr(prim, "subdivisionScheme", None).as_deref() != Some("none");
            let mut times: Vec<Time> = sample_times("faceVertexCounts").into_iter().map(values::at).collect();
            times.push(None);
            let triangles = times
                .into_iter()
                .map(|t| {
                    values::int_array_attr(prim, "faceVertexCounts", t)
                        .unwrap_or_default()
                        .iter()
                        .map(|&c| crate::scene::varying::triangles_of_face(c, refine_level, subdivided))
                        .sum::<usize>()
                })
                .max()?;
            Some(Varying::Soup {
                triangles,
                refine_level,
            })
        }
        "Points" => {
            if !samples::varies(prim, "points") {
                return None;
            }
            let counts: Vec<usize> = sample_times("points")
                .into_iter()
                .map(|t| values::vec3_array_attr(prim, "points", values::at(t)).map_or(0, |p| p.len()))
                .collect();
            let most = counts.iter().copied().max()?;
            (counts.iter().any(|&c| c != most)).then_some(Varying::Points { points: most })
        }
        _ => None,
    }
}

/// Curves as Storm draws them at `refine_level` (see `scene::curves`): BasisCurves by their type,
/// basis and wrap; Nurbs and Hermite curves through their points, as polylines. Widths and normals
/// are read by their count (one, one per curve, per segment end or per point); another count is
/// read as its first value, with a warning.
fn curves_mesh(
    prim: &usd::Prim,
    type_name: &str,
    time: Time,
    needs: &PrimvarNeeds,
    refine_level: u32,
    warnings: &mut Vec<String>,
) -> Mesh {
    use crate::scene::curves::{mesh as curves_mesh_of, varying_count, Basis, Curves, Kind, Per, Wrap};
    let token = |name: &str| values::token_attr(prim, name, None);
    // BasisCurves are cubic unless `type` says linear; other curve types are drawn as polylines.
    let kind = match (type_name, token("type").as_deref()) {
        ("BasisCurves", Some("cubic") | None) => Kind::Cubic(match token("basis").as_deref() {
            Some("bspline") => Basis::Bspline,
            Some("catmullRom") => Basis::CatmullRom,
            _ => Basis::Bezier,
        }),
        _ => Kind::Linear,
    };
    let wrap = match token("wrap").as_deref() {
        Some("periodic") => Wrap::Periodic,
        Some("pinned") => Wrap::Pinned,
        _ => Wrap::Nonperiodic,
    };
    let points = values::vec3_array_attr(prim, "points", time).unwrap_or_default();
    let counts: Vec<usize> = values::int_array_attr(prim, "curveVertexCounts", time)
        .unwrap_or_default()
        .iter()
        .map(|&c| usize::try_from(c).unwrap_or(0))
        .collect();
    let varying: usize = counts.iter().map(|&n| varying_count(kind, wrap, n)).sum();
    let per = |len: usize, what: &str, warnings: &mut Vec<String>| -> Option<Per> {
        Some(match len {
            0 => return None,
            1 => Per::Constant,
            n if n == points.len() => Per::Vertex,
            n if n == varying => Per::Varying,
            n if n == counts.len() => Per::Uniform,
            n => {
                warnings.push(format!(
                    "{}: {n} {what} for {} points; the first is used for all",
                    prim.path(),
                    points.len()
                ));
                return None;
            }
        })
    };
    let mut widths = values::raw(prim, "primvars:widths", time)
        .or_else(|| values::raw(prim, "widths", time))
        .as_ref()
        .and_then(values::as_float_array)
        .unwrap_or_default();
    let widths_per = per(widths.len(), "widths", warnings).unwrap_or_else(|| {
        widths.truncate(1);
        Per::Constant
    });
    let mut normals = values::vec3_array_attr(prim, "primvars:normals", time)
        .or_else(|| values::vec3_array_attr(prim, "normals", time))
        .unwrap_or_default();
    let normals_per = per(normals.len(), "normals", warnings).unwrap_or_else(|| {
        normals.truncate(1);
        Per::Constant
    });
    let (rgb, alpha) = mesh::read_colors(prim, time, &needs.rgb, &needs.alpha);
    let fallback = needs.fallback();
    let flat = |pv: &Option<mesh::Primvar<[f32; 3]>>| -> Vec<[f32; 3]> {
        pv.as_ref().map_or(Vec::new(), |pv| match &pv.indices {
            Some(ix) => ix
                .iter()
                .filter_map(|&i| usize::try_from(i).ok().and_then(|i| pv.values.get(i).copied()))
                .collect(),
            None => pv.values.clone(),
        })
    };
    let rgb = flat(&rgb);
    let alpha: Vec<f32> = alpha.map(|a| a.values).unwrap_or_default();
    let per_curve_colors = rgb.len() == counts.len() && rgb.len() != points.len() && rgb.len() > 1;
    let colors: Vec<[f32; 4]> = if rgb.is_empty() {
        vec![fallback]
    } else {
        rgb.iter()
            .enumerate()
            .map(|(i, c)| {
                let a = alpha.get(i).or(alpha.first()).copied().unwrap_or(fallback[3]);
                [c[0], c[1], c[2], a]
            })
            .collect()
    };
    let curves = Curves {
        kind,
        wrap,
        counts,
        points,
        widths,
        widths_per,
        normals,
        normals_per,
        colors,
        per_curve_colors,
    };
    curves_mesh_of(&curves, refine_level)
}

/// Most drawables one PointInstancer may expand to (nested instancers included).
const MAX_EXPANDED: usize = 5_000_000;

/// A drawable found by expanding a PointInstancer: the prim, its mesh key, and its transform to
/// the instancer's space (`None` for an instance hidden at this time).
pub struct Expanded {
    pub prim: usd::Prim,
    /// Shared, not copied: an instancer can expand to millions of these.
    pub key: Rc<str>,
    pub matrix: Option<DMat4>,
}

/// Expands a PointInstancer at `time`. `keep_hidden` keeps hidden instances (as `None`) so a
/// dynamic instancer's slots keep their order from frame to frame.
// The stage, graph and purposes travel together with the per-call state; a context struct would
// only rename them.
#[allow(clippy::too_many_arguments)]
pub fn expand_instancer(
    stage: &usd::Stage,
    graph: &Graph,
    cache: &mut XformCache,
    pi: &usd::Prim,
    time: Time,
    purposes: &[String],
    keep_hidden: bool,
    depth: usize,
    warnings: &mut Vec<String>,
) -> Vec<Expanded> {
    let mut out = Vec::new();
    if depth > 8 {
        warnings.push(format!("{}: PointInstancers nested deeper than 8; ignored", pi.path()));
        return out;
    }
    let attrs = InstancerAttrs::read(pi, time);
    let InstancerAttrs {
        proto_indices,
        positions,
        ids,
        ..
    } = &attrs;
    let invisible: HashSet<i64> = values::int_array_attr(pi, "invisibleIds", time)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let inactive: HashSet<i64> = inactive_ids(pi);
    let prototypes = pi.relationship("prototypes").targets().unwrap_or_default();
    let n = proto_indices.len();
    if positions.len() < n {
        warnings.push(format!(
            "{}: {} positions for {} protoIndices; extra instances ignored",
            pi.path(),
            positions.len(),
            n
        ));
    }

    // Each prototype's drawables, with transforms relative to the instancer's space before the
    // per-instance transform (prototype root's own ops included, as UsdGeomPointInstancer does).
    let mut proto_contents: Vec<Vec<Expanded>> = Vec::with_capacity(prototypes.len());
    for proto in &prototypes {
        let mut contents = Vec::new();
        if let Ok(root) = stage.prim(proto.clone()) {
            let anchor = root.parent();
            collect_prototype(
                stage,
                graph,
                cache,
                &root,
                anchor.as_ref(),
                time,
                purposes,
                depth,
                warnings,
                &mut contents,
            );
        }
        proto_contents.push(contents);
    }

    let mut bad = 0usize;
    for (i, &proto) in proto_indices.iter().enumerate().take(n.min(positions.len())) {
        let Some(contents) = usize::try_from(proto).ok().and_then(|j| proto_contents.get(j)) else {
            bad += 1;
            continue;
        };
        let id = ids.as_ref().and_then(|ids| ids.get(i).copied()).unwrap_or(i as i64);
        let hidden = invisible.contains(&id) || inactive.contains(&id);
        if hidden && !keep_hidden {
            continue;
        }
        let instance = attrs.matrix(i);
        if out.len() + contents.len() > MAX_EXPANDED {
            // Nested instancers multiply: a file must not be able to exhaust memory this way.
            warnings.push(format!(
                "{}: more than {MAX_EXPANDED} instances; the rest are not drawn",
                pi.path()
            ));
            break;
        }
        for e in contents {
            out.push(Expanded {
                prim: e.prim.clone(),
                key: e.key.clone(),
                matrix: if hidden { None } else { e.matrix.map(|m| instance * m) },
            });
        }
    }
    if bad > 0 {
        warnings.push(format!("{}: {bad} protoIndices name no prototype; skipped", pi.path()));
    }
    out
}

/// A PointInstancer's per-instance attributes at one time.
pub struct InstancerAttrs {
    pub proto_indices: Vec<i64>,
    pub positions: Vec<[f64; 3]>,
    /// `orientationsf` when it holds values, else `orientations` (as UsdGeomPointInstancer).
    pub orientations: Option<Vec<glam::DQuat>>,
    pub scales: Option<Vec<[f32; 3]>>,
    pub ids: Option<Vec<i64>>,
}

impl InstancerAttrs {
    pub fn read(pi: &usd::Prim, time: Time) -> InstancerAttrs {
        // Velocity motion where authored (UsdGeomPointInstancer), else the values as read.
        let t = time.map(|t| t.value()).filter(|t| t.is_finite());
        let quats = |name: &str| {
            t.and_then(|t| super::motion::orientations(pi, name, t))
                .or_else(|| values::raw(pi, name, time).as_ref().and_then(values::as_quat_array))
        };
        InstancerAttrs {
            proto_indices: values::int_array_attr(pi, "protoIndices", time).unwrap_or_default(),
            positions: t
                .and_then(|t| super::motion::positions(pi, "positions", t))
                .or_else(|| {
                    values::raw(pi, "positions", time)
                        .as_ref()
                        .and_then(values::as_dvec3_array)
                })
                .unwrap_or_default(),
            orientations: quats("orientationsf")
                .filter(|q| !q.is_empty())
                .or_else(|| quats("orientations")),
            scales: values::vec3_array_attr(pi, "scales", time),
            ids: values::int_array_attr(pi, "ids", time),
        }
    }

    /// Instance `i`'s transform in the instancer's space, prototype root excluded: translate *
    /// rotate * scale, the rotation from the authored (maybe non-unit) quaternion. `i` must have
    /// a position.
    pub fn matrix(&self, i: usize) -> DMat4 {
        let q = self
            .orientations
            .as_ref()
            .and_then(|o| o.get(i).copied())
            .unwrap_or(glam::DQuat::IDENTITY);
        let s = self
            .scales
            .as_ref()
            .and_then(|s| s.get(i))
            .map_or(DVec3::ONE, |s| DVec3::new(s[0] as f64, s[1] as f64, s[2] as f64));
        DMat4::from_translation(DVec3::from(self.positions[i])) * values::quat_matrix(q) * DMat4::from_scale(s)
    }
}

/// The instancer's `inactiveIds` list-op metadata (its mask).
fn inactive_ids(pi: &usd::Prim) -> HashSet<i64> {
    match pi.get_metadata::<sdf::Value>("inactiveIds") {
        Ok(Some(sdf::Value::Int64ListOp(op))) => op.flatten().into_iter().collect(),
        Ok(Some(v)) => values::as_int_array(&v).unwrap_or_default().into_iter().collect(),
        _ => HashSet::new(),
    }
}

/// Drawables under a prototype root (nested instancers expanded), relative to `anchor`.
#[allow(clippy::too_many_arguments)]
fn collect_prototype(
    stage: &usd::Stage,
    graph: &Graph,
    cache: &mut XformCache,
    prim: &usd::Prim,
    anchor: Option<&usd::Prim>,
    time: Time,
    purposes: &[String],
    depth: usize,
    warnings: &mut Vec<String>,
    out: &mut Vec<Expanded>,
) {
    let path = prim.path().clone();
    let Some(node) = graph.nodes.get(&path) else { return };
    // Visibility inside a prototype: its own opinions (the prototype root's ancestors are the
    // instancer's business, already checked).
    if values::token_attr(prim, "visibility", time).as_deref() == Some("invisible") {
        return;
    }
    // A prim's purpose hides the prim only: a descendant may author a purpose that is drawn.
    let drawn = purpose_drawn(&node.purpose, purposes);
    if node.culled {
        return;
    }
    if node.stand_in.is_some() {
        // Drawn as its stand-in, keyed by its own path (its colour and textures are its own).
        if drawn {
            out.push(Expanded {
                prim: prim.clone(),
                key: Rc::from(path.as_str()),
                matrix: Some(relative_to(cache, prim, anchor)),
            });
        }
        return;
    }
    if node.type_name == "PointInstancer" {
        let base = relative_to(cache, prim, anchor);
        for e in expand_instancer(stage, graph, cache, prim, time, purposes, true, depth + 1, warnings) {
            out.push(Expanded {
                prim: e.prim,
                key: e.key,
                matrix: e.matrix.map(|m| base * m),
            });
        }
        return; // an instancer's children are its prototypes, drawn only through it
    }
    if drawn && is_drawable_type(&node.type_name) && !node.instance {
        out.push(Expanded {
            prim: prim.clone(),
            key: Rc::from(node.key.as_str()),
            matrix: Some(relative_to(cache, prim, anchor)),
        });
    }
    if let Some(kids) = graph.children.get(&path) {
        for k in kids {
            if let Ok(child) = stage.prim(k.clone()) {
                collect_prototype(
                    stage, graph, cache, &child, anchor, time, purposes, depth, warnings, out,
                );
            }
        }
    }
}

/// `prim`'s transform relative to `anchor` (its ops and its ancestors' below `anchor`).
fn relative_to(cache: &mut XformCache, prim: &usd::Prim, anchor: Option<&usd::Prim>) -> DMat4 {
    match anchor {
        Some(a) => match cache.compute_relative_transform(prim, a) {
            Ok((m, _)) => values::to_dmat4(&m),
            Err(_) => DMat4::IDENTITY,
        },
        None => world(cache, prim),
    }
}

/// Local bounds of a mesh.
fn local_bounds(mesh: &Mesh) -> Bounds {
    let mut b = Bounds::EMPTY;
    for p in &mesh.positions {
        b.include_point(DVec3::new(p[0] as f64, p[1] as f64, p[2] as f64));
    }
    b
}

/// A Mesh prim as Storm's points shading draws it: a disc at every one of its `points`, in the
/// colour of the first vertex of `surface` (its built mesh) made from that point, else of
/// `surface`'s first vertex (points of hole faces or of no face).
fn mesh_points(points: &[[f32; 3]], surface: &Mesh) -> Mesh {
    let fallback = surface.colors.first().copied().unwrap_or([0.5, 0.5, 0.5, 1.0]);
    let mut colors = vec![None; points.len()];
    for (v, &p) in surface.vertex_points.iter().enumerate() {
        if let (Some(slot @ None), Some(&c)) = (colors.get_mut(p as usize), surface.colors.get(v)) {
            *slot = Some(c);
        }
    }
    let colors: Vec<[f32; 4]> = colors.into_iter().map(|c| c.unwrap_or(fallback)).collect();
    let mut m = shapes::points(
        points,
        &[crate::scene::VERTEX_POINT_PIXELS],
        &colors,
        crate::scene::Facing::PixelSprite,
    );
    m.path = surface.path.clone();
    m
}

/// The attributes that shape an implicit gprim; any of them animated makes its mesh dynamic.
const SHAPE_PARAMETERS: [&str; 8] = [
    "size", "radius", "height", "axis", "width", "length", "points", "widths",
];

/// Collects meshes as they are first met, keyed by prototype prim and the primvars its material
/// reads. A mesh with material GeomSubsets is stored as one mesh per part.
struct MeshTable {
    index: HashMap<(String, PrimvarNeeds), Vec<Option<u32>>>,
    local_bounds: Vec<Bounds>,
    /// What pxr bounds each mesh by for framing: its points as authored (a subdivided mesh's
    /// control points, not the refined surface, as `UsdGeomMesh::ComputeExtent`).
    frame_bounds: Vec<Bounds>,
    /// Animated meshes' topologies, one `Arc` per distinct one (meshes that share a topology
    /// and a track evaluate once per frame).
    topologies: HashSet<Arc<Topology>>,
    /// Subdivision levels for subdivision surfaces (`--complexity`; 0: drawn as authored).
    refine_level: u32,
    /// Static surfaces drawn as their points (`ExtractOptions::points_shading`).
    points_shading: bool,
}

impl MeshTable {
    /// Adds a mesh built elsewhere (a stand-in), drawn as it is.
    fn push(&mut self, scene: &mut Scene, mesh: Mesh) -> u32 {
        let b = local_bounds(&mesh);
        self.local_bounds.push(b);
        self.frame_bounds.push(b);
        scene.meshes.push(mesh);
        scene.meshes.len() as u32 - 1
    }

    /// The meshes of a prim's parts: part 0 holds the faces of no subset, part `k` those of
    /// `subsets[k - 1]`; `None` for a part with no triangles.
    #[allow(clippy::too_many_arguments)]
    fn get(
        &mut self,
        key: &str,
        prim: &usd::Prim,
        type_name: &str,
        time: Time,
        needs: &PrimvarNeeds,
        subsets: &[Vec<i64>],
        skin: Option<SkinRequest>,
        scene: &mut Scene,
        plan: &mut FramePlan,
        warnings: &mut Vec<String>,
    ) -> Vec<Option<u32>> {
        let table_key = (key.to_string(), needs.clone());
        if let Some(ids) = self.index.get(&table_key) {
            return ids.clone();
        }
        let built = build_mesh(prim, type_name, time, needs, self.refine_level, warnings)
            .filter(|b| !b.mesh.indices.is_empty());
        let Some(mut b) = built else {
            let none = vec![None; subsets.len() + 1];
            self.index.insert(table_key, none.clone());
            return none;
        };
        let shape_animated = type_name != "Mesh" && SHAPE_PARAMETERS.iter().any(|a| samples::varies(prim, a));
        let points_animated = type_name == "Mesh" && samples::varies(prim, "points");
        // A skinned mesh whose own points are animated too keeps its animated points (the
        // skeleton is not applied; rare, and warned about).
        let skin = skin.filter(|_| {
            if points_animated {
                warnings.push(format!(
                    "{}: skinned and its points are animated; drawn with its animated points, unskinned",
                    prim.path()
                ));
            }
            !points_animated
        });
        // Topology that changes over time, drawn whole (not per subset, not skinned).
        let varying = varying_capacity(prim, type_name, self.refine_level).filter(|_| {
            let plain = subsets.is_empty() && skin.is_none() && !self.points_shading;
            if !plain {
                warnings.push(format!(
                    "{}: its topology changes over time, which is drawn only for meshes without material subsets or skinning; drawn with its load-time topology",
                    prim.path()
                ));
            }
            plain
        });
        let animated = shape_animated || points_animated || skin.is_some() || varying.is_some();
        let animated_normals = !b.computed_normals
            && (shape_animated || points_animated)
            && (samples::varies(prim, "primvars:normals") || samples::varies(prim, "normals"));
        // Storm's points repr draws every authored point in one colour whatever the subsets
        // bind: one part, the subsets' parts empty.
        let as_points = self.points_shading && !animated && b.mesh.facing == crate::scene::Facing::Surface;
        if as_points {
            b.mesh = if type_name == "Mesh" {
                mesh_points(&mesh::points_at(prim, time), &b.mesh)
            } else {
                b.mesh.as_vertex_points(crate::scene::VERTEX_POINT_PIXELS)
            };
        }
        // Parts: the whole mesh, or one per subset plus the rest.
        let parts: Vec<(Mesh, Vec<Option<u32>>)> = if as_points {
            std::iter::once((b.mesh.clone(), Vec::new()))
                .chain(subsets.iter().map(|_| (Mesh::default(), Vec::new())))
                .collect()
        } else if subsets.is_empty() {
            vec![(b.mesh.clone(), b.normal_of_vertex.clone())]
        } else {
            // Faces past the last drawn one draw nothing: indices there are ignored.
            let faces = b.triangle_faces.iter().max().map_or(0, |&f| f as usize + 1);
            let mut part_of_face = vec![0u32; faces];
            let mut overlapping = 0usize;
            for (k, indices) in subsets.iter().enumerate() {
                for &f in indices {
                    if let Some(slot) = usize::try_from(f).ok().and_then(|f| part_of_face.get_mut(f)) {
                        if *slot == 0 {
                            *slot = k as u32 + 1;
                        } else {
                            overlapping += 1;
                        }
                    }
                }
            }
            if overlapping > 0 {
                warnings.push(format!(
                    "{}: {overlapping} faces are in more than one materialBind GeomSubset; the first wins",
                    prim.path()
                ));
            }
            mesh::split(&b.mesh, &b.triangle_faces, &part_of_face, subsets.len() + 1)
                .into_iter()
                .map(|p| {
                    let normals = p
                        .old_vertex
                        .iter()
                        .map(|&v| b.normal_of_vertex.get(v as usize).copied().flatten())
                        .collect();
                    (p.mesh, normals)
                })
                .collect()
        };
        // A plain animated Mesh whose points are time samples a track can hold is evaluated
        // from plain data; animated shapes and animated authored normals stay with the stage.
        // Points moved by velocities are extrapolated by the stage each frame, not tracked.
        let velocities = prim.attribute("velocities").has_authored_value().unwrap_or(false);
        let track = (points_animated && !animated_normals && !velocities && varying.is_none())
            .then(|| samples::track(prim, "points"))
            .flatten();
        let normals_from = if b.computed_normals {
            NormalsFrom::Computed
        } else {
            NormalsFrom::LoadTime
        };
        let mut ids = Vec::with_capacity(parts.len());
        for (mut part, normal_of_vertex) in parts {
            if part.indices.is_empty() {
                ids.push(None);
                continue;
            }
            let id = scene.meshes.len() as u32;
            match varying {
                Some(Varying::Soup { triangles, .. }) => {
                    part = crate::scene::varying::soup(&part, triangles);
                }
                Some(Varying::Points { points }) => {
                    let (centers, widths, colors) = points_read(prim, time, needs);
                    let mut room =
                        crate::scene::varying::points_capacity(&centers, &widths, &colors, points, part.facing);
                    room.path = std::mem::take(&mut part.path);
                    part = room;
                }
                None => {}
            }
            if animated {
                let topology = Topology {
                    vertex_points: part.vertex_points.clone(),
                    point_triangles: b.point_triangles.clone(),
                    refine: b.refinement.clone().map(Refine),
                };
                let topology = match self.topologies.get(&topology) {
                    Some(t) => t.clone(),
                    None => {
                        let t = Arc::new(topology);
                        self.topologies.insert(t.clone());
                        t
                    }
                };
                if let Some(points) = &track {
                    plan.animated.push(AnimatedMesh {
                        slot: scene.dynamic_meshes.len(),
                        prim: prim.path().as_str().to_string(),
                        points: points.clone(),
                        topology: topology.clone(),
                        normals: normals_from,
                    });
                }
                if let Some(skin) = &skin {
                    let skinned = skel::skinned_mesh(
                        skin.parts.clone(),
                        scene.dynamic_meshes.len(),
                        skin.frame,
                        prim,
                        skin.rest_points.clone(),
                        topology,
                    );
                    // Drawn at load time in its load-time pose: the bounds and the first
                    // frame see the skinned points.
                    let posed = skinned.vertices(&skin.load_time, Some(&part));
                    part.positions = posed.positions;
                    part.normals = posed.normals;
                    plan.skinned.push(skinned);
                }
                scene.dynamic_meshes.push(id);
                plan.meshes.push(DynMesh {
                    prim: prim.clone(),
                    vertex_points: part.vertex_points.clone(),
                    point_triangles: b.point_triangles.clone(),
                    computed_normals: b.computed_normals,
                    shape: (shape_animated && varying.is_none()).then(|| (type_name.to_string(), self.refine_level)),
                    animated_normals: animated_normals.then_some(normal_of_vertex),
                    from_animation: track.is_some() || skin.is_some(),
                    refine: b.refinement.clone().map(Refine),
                    varying,
                });
            }
            let drawn = local_bounds(&part);
            self.frame_bounds.push(b.cage_bounds.unwrap_or(drawn));
            self.local_bounds.push(drawn);
            scene.meshes.push(part);
            ids.push(Some(id));
        }
        self.index.insert(table_key, ids.clone());
        ids
    }
}

/// The (mesh, material) pairs a drawable prim is drawn as: one per material GeomSubset with
/// triangles, plus one for its other faces. `path` is the prim as drawn (an instance proxy's
/// own path: bindings may differ between instances of one prototype).
#[allow(clippy::too_many_arguments)]
fn draw_parts(
    stage: &usd::Stage,
    prim: &usd::Prim,
    key: &str,
    type_name: &str,
    time: Time,
    table: &mut MeshTable,
    materials: &mut Materials,
    scene: &mut Scene,
    skin: Option<SkinRequest>,
    plan: &mut FramePlan,
    warnings: &mut Vec<String>,
) -> Vec<(u32, u32)> {
    let subsets = if type_name == "Mesh" {
        material::material_subsets(prim, time)
    } else {
        Vec::new()
    };
    let mut mats = vec![materials.for_prim(stage, prim.path(), time, scene, warnings)];
    for (subset, _) in &subsets {
        mats.push(materials.for_prim(stage, subset, time, scene, warnings));
    }
    let needs = {
        let used: Vec<&Material> = mats.iter().filter_map(|&m| scene.materials.get(m as usize)).collect();
        PrimvarNeeds::of(&used)
    };
    let faces: Vec<Vec<i64>> = subsets.into_iter().map(|(_, f)| f).collect();
    let meshes = table.get(key, prim, type_name, time, &needs, &faces, skin, scene, plan, warnings);
    meshes
        .into_iter()
        .zip(mats)
        .filter_map(|(m, mat)| Some((m?, mat)))
        .collect()
}

/// The (mesh, material) pairs a model's stand-in is drawn as (see [`draw_mode`]); its animated
/// card materials join the scene's dynamic materials.
#[allow(clippy::too_many_arguments)]
fn stand_in_parts(
    stage: &usd::Stage,
    graph: &Graph,
    cache: &mut XformCache,
    prim: &usd::Prim,
    mode: DrawMode,
    time: Time,
    table: &mut MeshTable,
    materials: &mut Materials,
    scene: &mut Scene,
    warnings: &mut Vec<String>,
) -> Vec<(u32, u32)> {
    let built = draw_mode::build(
        stage,
        graph,
        cache,
        prim,
        mode,
        time,
        &mut materials.textures,
        scene,
        warnings,
    );
    for (index, card) in built.animated {
        scene.dynamic_materials.push(index);
        materials.dynamic.push((index, material::Animated::Card(card)));
    }
    built
        .parts
        .into_iter()
        .map(|(mesh, material)| (table.push(scene, mesh), material))
        .collect()
}

fn to_mat4(m: &DMat4) -> glam::Mat4 {
    m.as_mat4()
}

/// The matrix from `skeleton`'s space to `mesh`'s, at the cache's time: Storm draws skinned
/// points in the mesh's space, moved there from the skeleton's.
fn skel_to_mesh(cache: &mut XformCache, mesh: &usd::Prim, skeleton: &usd::Prim) -> DMat4 {
    let m = world(cache, mesh);
    let inverse = if m.determinant().abs() > 1e-300 {
        m.inverse()
    } else {
        DMat4::IDENTITY
    };
    inverse * world(cache, skeleton)
}

/// A Mesh bound to a skeleton, read for the mesh table; `None` when it is not skinned (or
/// its binding is unusable, warned about).
fn skin_request(
    stage: &usd::Stage,
    cache: &mut XformCache,
    prim: &usd::Prim,
    time: f64,
    plan: &mut FramePlan,
    warnings: &mut Vec<String>,
) -> Option<SkinRequest> {
    let is_skeleton = prim
        .type_name()
        .ok()
        .flatten()
        .is_some_and(|t| t.as_str() == "Skeleton");
    let binding = if is_skeleton {
        skel::skeleton_binding(stage, prim)
    } else {
        skel::binding(stage, prim)?
    };
    let index = plan.skeletons.index(&binding, warnings);
    let skeleton = &plan.skeletons.skeletons[index];
    let (rest_points, parts) = if is_skeleton {
        let (points, joint_of, _) = skel::bones(skeleton)?;
        (points, skel::bone_parts(joint_of))
    } else {
        let rest_points = values::vec3_array_attr(prim, "points", values::at(time)).unwrap_or_default();
        let parts = skel::skinned_parts(stage, prim, &binding, rest_points.len(), skeleton, warnings)?;
        (rest_points, parts)
    };
    let pose = Arc::new(skeleton.pose(time, warnings));
    let load_time = SkinFrame {
        pose,
        skel_to_mesh: skel_to_mesh(cache, prim, skeleton.skeleton()),
    };
    let frame = plan.skins.len();
    plan.skins.push((prim.clone(), index));
    Some(SkinRequest {
        parts,
        rest_points,
        frame,
        load_time,
    })
}

/// Extracts every drawn mesh and instance at `time`, their materials, the stage's lights, and
/// the plan for later frames.
#[allow(clippy::too_many_arguments)]
pub fn extract(
    stage: &usd::Stage,
    graph: &Graph,
    cache: &mut XformCache,
    time: f64,
    purposes: &[String],
    refine_level: u32,
    default_time_bounds: bool,
    points_shading: bool,
    texture_budget: u64,
    warnings: &mut Vec<String>,
) -> (Scene, FramePlan) {
    let t = values::at(time);
    cache.set_time(t);
    let mut scene = Scene {
        materials: vec![Material::display_color()],
        ..Scene::default()
    };
    let mut plan = FramePlan::default();
    let mut materials = Materials::default();
    materials.textures.budget = texture_budget;
    // Texture files are read as materials ask for them and decoded together, in parallel,
    // before the lights (which read the dome's texels) and the frames.
    materials.textures.defer = true;
    let mut table = MeshTable {
        refine_level,
        points_shading,
        topologies: HashSet::new(),
        index: HashMap::new(),
        local_bounds: Vec::new(),
        frame_bounds: Vec::new(),
    };
    let mut bounds = Bounds::EMPTY;
    // World bounds of what was drawn per top-level prim: the framing bounds' fallback.
    let mut drawn: HashMap<sdf::Path, Bounds> = HashMap::new();
    // The prim each instance draws (for light-linking), in `scene.instances` order.
    let mut instance_paths: Vec<sdf::Path> = Vec::new();

    for path in &graph.order {
        let Some(node) = graph.nodes.get(path) else { continue };
        let drawable = is_drawable_type(&node.type_name);
        let instancer = node.type_name == "PointInstancer";
        // An instancer is not hidden by its purpose: each prototype prim is, by the purpose it
        // computes through the instancer (Storm's pi_varying draws the proxy-purpose prims of a
        // render-purpose instancer with render purpose hidden, and not its default ones).
        let purpose = if instancer {
            None
        } else if node.type_name == "Skeleton" {
            // Bones are a guide unless a purpose is authored (UsdSkelImaging since its
            // scene-index rewrite; the 24.08 baselines of the usdImagingGL suite still drew them
            // with default purpose): `--purposes render,guide` shows them.
            Some(node.purpose.clone().unwrap_or_else(|| "guide".to_string()))
        } else {
            node.purpose.clone()
        };
        if node.culled || node.under_instancer || !purpose_drawn(&purpose, purposes) {
            continue;
        }
        if !drawable && !instancer && node.stand_in.is_none() {
            continue;
        }
        // Statically invisible and never animated: not drawn at all.
        if node.invisible && !node.vis_animated {
            continue;
        }
        let Ok(prim) = stage.prim(path.clone()) else { continue };
        let visible_now = !node.invisible;
        if drawable && node.instance && node.stand_in.is_none() {
            // Not drawn (see `NodeState::instance`), but UsdGeomBBoxCache still bounds it.
            if visible_now {
                let needs = PrimvarNeeds::default();
                if let Some(built) = build_mesh(&prim, &node.type_name, t, &needs, 0, &mut Vec::new()) {
                    let m = world(cache, &prim);
                    drawn
                        .entry(path.clone())
                        .or_default()
                        .include_box(&m, &local_bounds(&built.mesh));
                }
            }
            continue;
        }
        if let Some(mode) = node.stand_in {
            let parts = stand_in_parts(
                stage,
                graph,
                cache,
                &prim,
                mode,
                t,
                &mut table,
                &mut materials,
                &mut scene,
                warnings,
            );
            let m = world(cache, &prim);
            let transform = if visible_now { to_mat4(&m) } else { glam::Mat4::ZERO };
            let dynamic = node.xform_animated || node.vis_animated;
            for &(mesh, material) in &parts {
                if visible_now {
                    bounds.include_box(&m, &table.local_bounds[mesh as usize]);
                }
                if dynamic {
                    scene.dynamic_instances.push(scene.instances.len() as u32);
                }
                scene.instances.push(Instance {
                    mesh,
                    transform,
                    material,
                });
                instance_paths.push(path.clone());
            }
            if dynamic && !parts.is_empty() {
                plan.matrices += parts.len();
                plan.groups.push(DynGroup::Prim {
                    prim,
                    vis_dynamic: node.vis_animated,
                    parts: parts.len(),
                });
            }
        } else if drawable {
            let skin = if node.type_name == "Mesh" || node.type_name == "Skeleton" {
                skin_request(stage, cache, &prim, time, &mut plan, warnings)
            } else {
                None
            };
            // A skinned mesh is posed by its own skeleton: not shared with other instances.
            let key = if skin.is_some() {
                path.as_str()
            } else {
                node.key.as_str()
            };
            let parts = draw_parts(
                stage,
                &prim,
                key,
                &node.type_name,
                t,
                &mut table,
                &mut materials,
                &mut scene,
                skin,
                &mut plan,
                warnings,
            );
            if parts.is_empty() {
                continue;
            }
            let m = world(cache, &prim);
            let transform = if visible_now { to_mat4(&m) } else { glam::Mat4::ZERO };
            let dynamic = node.xform_animated || node.vis_animated;
            for &(mesh, material) in &parts {
                if visible_now {
                    bounds.include_box(&m, &table.local_bounds[mesh as usize]);
                    drawn
                        .entry(path.clone())
                        .or_default()
                        .include_box(&m, &table.frame_bounds[mesh as usize]);
                }
                if dynamic {
                    scene.dynamic_instances.push(scene.instances.len() as u32);
                }
                scene.instances.push(Instance {
                    mesh,
                    transform,
                    material,
                });
                instance_paths.push(path.clone());
            }
            if dynamic {
                plan.matrices += parts.len();
                plan.groups.push(DynGroup::Prim {
                    prim,
                    vis_dynamic: node.vis_animated,
                    parts: parts.len(),
                });
            }
        } else {
            let pi_world = world(cache, &prim);
            let dynamic = node.xform_animated || node.vis_animated || instancer_varies(&prim, graph);
            let expanded = expand_instancer(stage, graph, cache, &prim, t, purposes, dynamic, 0, warnings);
            let mut slots: Vec<(usize, Expanded)> = expanded.into_iter().enumerate().collect();
            if dynamic {
                later_slots(stage, graph, cache, &prim, time, purposes, &mut slots);
            }
            let mut keys = Vec::new();
            // Every instance of one prototype prim has the same parts and bindings.
            let mut parts_of: HashMap<sdf::Path, Vec<(u32, u32)>> = HashMap::new();
            for (slot, e) in slots {
                let parts = match parts_of.get(e.prim.path()) {
                    Some(p) => p,
                    None => {
                        let node = graph.nodes.get(e.prim.path());
                        let type_name = node.map(|n| n.type_name.clone()).unwrap_or_default();
                        let p = if let Some(mode) = node.and_then(|n| n.stand_in) {
                            stand_in_parts(
                                stage,
                                graph,
                                cache,
                                &e.prim,
                                mode,
                                t,
                                &mut table,
                                &mut materials,
                                &mut scene,
                                warnings,
                            )
                        } else {
                            draw_parts(
                                stage,
                                &e.prim,
                                &e.key,
                                &type_name,
                                t,
                                &mut table,
                                &mut materials,
                                &mut scene,
                                None,
                                &mut plan,
                                warnings,
                            )
                        };
                        parts_of.entry(e.prim.path().clone()).or_insert(p)
                    }
                };
                let m = e.matrix.filter(|_| visible_now).map(|m| pi_world * m);
                for &(mesh, material) in parts {
                    if let Some(m) = &m {
                        bounds.include_box(m, &table.local_bounds[mesh as usize]);
                        drawn
                            .entry(path.clone())
                            .or_default()
                            .include_box(m, &table.frame_bounds[mesh as usize]);
                    }
                    if dynamic {
                        keys.push((slot, e.key.clone()));
                        scene.dynamic_instances.push(scene.instances.len() as u32);
                    }
                    scene.instances.push(Instance {
                        mesh,
                        transform: m.as_ref().map_or(glam::Mat4::ZERO, to_mat4),
                        material,
                    });
                    instance_paths.push(e.prim.path().clone());
                }
            }
            if dynamic {
                plan.matrices += keys.len();
                plan.groups.push(DynGroup::Instancer { prim, keys });
            }
        }
    }
    let order = group_by_mesh(&mut scene);
    let instance_paths: Vec<sdf::Path> = order.iter().map(|&old| instance_paths[old as usize].clone()).collect();
    scene.ensure_fallback_material();
    scene.bounds = bounds;
    scene.frame_bounds = super::bounds::frame_bounds(stage, graph, cache, t, purposes, &drawn);
    if default_time_bounds {
        // A cache of its own: the shared one stays at `t` for what follows.
        let mut at_default = openusd_schemas::geom::XformCache::new(Time::None);
        scene.default_frame_bounds = super::bounds::frame_bounds(stage, graph, &mut at_default, None, purposes, &drawn);
    }
    log::debug!(
        "framing bounds {:?}, drawn bounds {:?}",
        scene.frame_bounds,
        scene.bounds
    );
    materials
        .textures
        .decode_pending(&mut scene.textures, &mut scene.materials, warnings);
    // Displacement reads texels: after the decode, before the first frame.
    warnings.extend(crate::scene::displacement::displace(&mut scene));
    let (lights, dyn_lights) = lights::extract(
        stage,
        graph,
        cache,
        t,
        &mut materials.textures,
        &mut scene.textures,
        &instance_paths,
        purposes,
        warnings,
    );
    scene.lights = lights;
    scene.dynamic_lights = (0..dyn_lights.len() as u32)
        .map(|i| dyn_lights[i as usize].index)
        .collect();
    plan.lights = dyn_lights;
    plan.materials = materials;
    (scene, plan)
}

/// The PointInstancer attributes whose samples decide which instances exist at a time.
const INSTANCER_ATTRIBUTES: [&str; 7] = [
    "positions",
    "orientations",
    "orientationsf",
    "scales",
    "protoIndices",
    "invisibleIds",
    "ids",
];

/// Most sample times of one instancer looked at for instances that exist later than load time.
const MAX_SLOT_TIMES: usize = 512;

/// Adds to a dynamic instancer's `slots` (position in the expansion, drawable), hidden at load
/// time, every (position, mesh key) that its expansion holds at one of its attributes' sample
/// times but not at load time: instances that appear later (protoIndices growing from empty,
/// a prototype index changing) then have a place to be drawn in. `evaluate` shows a slot only
/// when the expansion at that frame has the same key at that position.
fn later_slots(
    stage: &usd::Stage,
    graph: &Graph,
    cache: &mut XformCache,
    pi: &usd::Prim,
    load_time: f64,
    purposes: &[String],
    slots: &mut Vec<(usize, Expanded)>,
) {
    let mut times: Vec<f64> = INSTANCER_ATTRIBUTES
        .iter()
        .flat_map(|a| pi.attribute(*a).time_sample_times().unwrap_or_default())
        .filter(|t| t.is_finite() && *t != load_time)
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    times.truncate(MAX_SLOT_TIMES);
    let mut seen: HashSet<(usize, Rc<str>)> = slots.iter().map(|(i, e)| (*i, e.key.clone())).collect();
    // Warnings at other times than the load time would repeat the load time's; they are dropped.
    let mut ignored = Vec::new();
    for time in times {
        let expanded = expand_instancer(
            stage,
            graph,
            cache,
            pi,
            values::at(time),
            purposes,
            true,
            0,
            &mut ignored,
        );
        for (i, e) in expanded.into_iter().enumerate() {
            if slots.len() >= MAX_EXPANDED {
                return;
            }
            if seen.insert((i, e.key.clone())) {
                slots.push((i, Expanded { matrix: None, ..e }));
            }
        }
    }
}

/// Orders instances by mesh (stable, so traversal order holds within a mesh), letting the GPU side
/// draw each mesh's instances as one run; `dynamic_instances` follows the move and keeps its order.
/// Returns, for each new position, the old index.
fn group_by_mesh(scene: &mut Scene) -> Vec<u32> {
    let mut order: Vec<u32> = (0..scene.instances.len() as u32).collect();
    order.sort_by_key(|&i| scene.instances[i as usize].mesh);
    let mut new_of_old = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of_old[old as usize] = new as u32;
    }
    scene.instances = order.iter().map(|&old| scene.instances[old as usize]).collect();
    for d in &mut scene.dynamic_instances {
        *d = new_of_old[*d as usize];
    }
    order
}

/// Whether a PointInstancer's own attributes, or its prototypes' transforms, may vary.
fn instancer_varies(pi: &usd::Prim, graph: &Graph) -> bool {
    let attrs = INSTANCER_ATTRIBUTES;
    if attrs.iter().any(|a| samples::varies(pi, a)) {
        return true;
    }
    // Anything animated below the instancer (prototype transforms, nested instancers, visibility).
    let prefix = pi.path();
    let mut stack = vec![prefix.clone()];
    while let Some(p) = stack.pop() {
        if let Some(kids) = graph.children.get(&p) {
            for k in kids {
                if let Some(n) = graph.nodes.get(k) {
                    if n.vis_animated || n.xform_animated {
                        return true;
                    }
                    if n.type_name == "PointInstancer" {
                        if let Ok(prim) = pi.stage().prim(k.clone()) {
                            if attrs.iter().any(|a| samples::varies(&prim, a)) {
                                return true;
                            }
                        }
                    }
                }
                stack.push(k.clone());
            }
        }
    }
    false
}

/// An animated implicit shape rebuilt at `time`. Its tessellation does not depend on the
/// parameters, so the vertices line up with the load-time mesh; should they not, the load-time
/// vertices are kept.
fn shape_vertices(
    dm: &DynMesh,
    type_name: &str,
    refine_level: u32,
    template: Option<&Mesh>,
    time: Time,
    warnings: &mut Vec<String>,
) -> MeshVertices {
    let load_time = || MeshVertices {
        positions: template.map(|m| m.positions.clone()).unwrap_or_default(),
        normals: template.map(|m| m.normals.clone()).unwrap_or_default(),
    };
    match build_mesh(
        &dm.prim,
        type_name,
        time,
        &PrimvarNeeds::default(),
        refine_level,
        warnings,
    ) {
        Some(b) if template.is_some_and(|m| m.positions.len() == b.mesh.positions.len()) => MeshVertices {
            positions: b.mesh.positions,
            normals: b.mesh.normals,
        },
        _ => load_time(),
    }
}

/// A varying-topology prim's vertices at `time`, in the room its load-time mesh (`template`) has.
fn varying_vertices(
    prim: &usd::Prim,
    varying: Varying,
    template: Option<&Mesh>,
    time: Time,
    warnings: &mut Vec<String>,
) -> MeshVertices {
    let (vertices, cut) = match varying {
        Varying::Soup {
            triangles,
            refine_level,
        } => {
            let built = build_mesh(prim, "Mesh", time, &PrimvarNeeds::default(), refine_level, warnings)
                .map(|b| b.mesh)
                .unwrap_or_default();
            crate::scene::varying::soup_vertices(&built, triangles)
        }
        Varying::Points { points } => {
            // Colours stay at their load-time values: only centres and widths are read.
            let (centers, widths) = points_and_widths(prim, time);
            let slices = template.map_or(0, |m| crate::scene::varying::disc_slices(m, points));
            crate::scene::varying::point_vertices(&centers, &widths, points, slices)
        }
    };
    if cut {
        warnings.push(format!(
            "{}: draws more at time {time:?} than at any of its samples read at load; the rest is left out",
            prim.path()
        ));
    }
    vertices
}

/// Evaluates the plan at `frame`: one matrix per dynamic instance and new vertices per animated mesh.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    stage: &usd::Stage,
    graph: &Graph,
    cache: &mut XformCache,
    plan: &FramePlan,
    scene: &Scene,
    frame: f64,
    purposes: &[String],
    warnings: &mut Vec<String>,
) -> (Vec<glam::Mat4>, Vec<Arc<MeshVertices>>, Vec<SkinFrame>) {
    let t = values::at(frame);
    cache.set_time(t);
    // Each skeleton posed once, shared by the prims it deforms.
    let poses = plan.skeletons.poses(frame, warnings);
    let skinning = plan
        .skins
        .iter()
        .map(|(prim, skeleton)| SkinFrame {
            pose: poses[*skeleton].clone(),
            skel_to_mesh: skel_to_mesh(cache, prim, plan.skeletons.skeletons[*skeleton].skeleton()),
        })
        .collect();
    let mut matrices = Vec::with_capacity(plan.matrices);
    for group in &plan.groups {
        match group {
            DynGroup::Prim {
                prim,
                vis_dynamic,
                parts,
            } => {
                let visible = !*vis_dynamic || visible_at(stage, prim.path(), t);
                let m = if visible {
                    to_mat4(&world(cache, prim))
                } else {
                    glam::Mat4::ZERO
                };
                matrices.extend(std::iter::repeat_n(m, *parts));
            }
            DynGroup::Instancer { prim, keys } => {
                let visible = visible_at(stage, prim.path(), t);
                let pi_world = world(cache, prim);
                let expanded = expand_instancer(stage, graph, cache, prim, t, purposes, true, 0, warnings);
                if expanded.len() != keys.len() {
                    log::debug!(
                        "{}: {} instances at frame {frame}, {} at load time; extra ones are not drawn",
                        prim.path(),
                        expanded.len(),
                        keys.len()
                    );
                }
                for (slot, key) in keys {
                    let m = expanded
                        .get(*slot)
                        .filter(|e| visible && e.key == *key)
                        .and_then(|e| e.matrix)
                        .map_or(glam::Mat4::ZERO, |m| to_mat4(&(pi_world * m)));
                    matrices.push(m);
                }
            }
        }
    }
    let mut vertices = Vec::with_capacity(plan.meshes.len());
    // Slots of tracked and skinned meshes are filled by `Scene::animation`; they hold this until then.
    let pending = Arc::new(MeshVertices::default());
    for (slot, dm) in plan.meshes.iter().enumerate() {
        if dm.from_animation {
            vertices.push(pending.clone());
            continue;
        }
        let template = scene
            .dynamic_meshes
            .get(slot)
            .and_then(|&m| scene.meshes.get(m as usize));
        if let Some(varying) = dm.varying {
            vertices.push(Arc::new(varying_vertices(&dm.prim, varying, template, t, warnings)));
            continue;
        }
        if let Some((type_name, refine_level)) = &dm.shape {
            vertices.push(Arc::new(shape_vertices(
                dm,
                type_name,
                *refine_level,
                template,
                t,
                warnings,
            )));
            continue;
        }
        let points = mesh::points_at(&dm.prim, t);
        let points = match &dm.refine {
            Some(r) => r.0.refine_points(&points),
            None => points,
        };
        let fallback = |v: usize| template.and_then(|m| m.positions.get(v).copied()).unwrap_or([0.0; 3]);
        let positions: Vec<[f32; 3]> = dm
            .vertex_points
            .iter()
            .enumerate()
            .map(|(v, &p)| points.get(p as usize).copied().unwrap_or_else(|| fallback(v)))
            .collect();
        let load_time_normals = || template.map(|m| m.normals.clone()).unwrap_or_default();
        let normals = if dm.computed_normals {
            crate::scene::smooth_normals(&points, &dm.point_triangles, &dm.vertex_points)
        } else if let Some(map) = &dm.animated_normals {
            mesh::read_normals(&dm.prim, values::at(frame))
                .and_then(|pv| mesh::respread_normals(&pv.values, map))
                .unwrap_or_else(load_time_normals)
        } else {
            load_time_normals()
        };
        vertices.push(Arc::new(MeshVertices { positions, normals }));
    }
    (matrices, vertices, skinning)
}
