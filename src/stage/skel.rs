//! UsdSkel bindings read into plain data ([`crate::scene::skinning`]) at load, and each frame's
//! skeleton poses read from the animations.
//!
//! The rules are UsdSkel's (`UsdSkelCache`, `UsdSkelSkinningQuery`, `UsdSkelBakeSkinning`):
//! a Mesh is skinned when it lies under a SkelRoot and binding properties reach it: read only on
//! prims with SkelBindingAPI applied, and inherited down namespace from the SkelRoot (the
//! skeleton, joint influences, `skel:joints`, `geomBindTransform`, the skinning method; blend
//! shapes are the mesh's own). The Skeleton's `skel:animationSource`, or one on its ancestors,
//! names the SkelAnimation that poses it; without one the skeleton holds its rest pose.

use std::collections::HashMap;
use std::sync::Arc;

use glam::{DMat4, DQuat, DVec3};
use openusd::sdf::{self, Value};
use openusd::usd;

use super::values::{self, Time};
use crate::scene::skinning::{joint_transform, BlendShape, Influences, Joints, SkelPose, SkinnedMesh, SkinningMethod};

/// A mesh's binding, found at load.
pub struct Binding {
    pub skeleton: usd::Prim,
    pub animation: Option<usd::Prim>,
    /// The mesh and its ancestors up to the SkelRoot that have SkelBindingAPI, nearest first:
    /// where inherited binding properties are looked up.
    pub chain: Vec<usd::Prim>,
}

fn has_binding_api(prim: &usd::Prim) -> bool {
    prim.has_api_schema("SkelBindingAPI").unwrap_or(false)
}

/// The binding of `prim`: `None` when it is not under a SkelRoot or no Skeleton reaches it.
pub fn binding(stage: &usd::Stage, prim: &usd::Prim) -> Option<Binding> {
    let mut chain = Vec::new();
    let mut at = Some(prim.clone());
    let mut under_root = false;
    while let Some(p) = at {
        if has_binding_api(&p) {
            chain.push(p.clone());
        }
        if is_type(&p, "SkelRoot") {
            under_root = true;
            break;
        }
        at = p.parent();
    }
    if !under_root {
        return None;
    }
    // The nearest authored `skel:skeleton` wins, even one that names no Skeleton (it unbinds).
    let target = chain.iter().find_map(|p| {
        let rel = p.relationship("skel:skeleton");
        rel.has_authored_targets()
            .unwrap_or(false)
            .then(|| rel.targets().unwrap_or_default())
    })?;
    let skeleton = stage.prim(target.into_iter().next()?).ok()?;
    if !is_type(&skeleton, "Skeleton") {
        return None;
    }
    Some(Binding {
        animation: animation_source(stage, &skeleton),
        skeleton,
        chain,
    })
}

/// The animation source of a skeleton: its own `skel:animationSource`, or its nearest
/// ancestor's (never a skinned mesh's).
fn animation_source(stage: &usd::Stage, skeleton: &usd::Prim) -> Option<usd::Prim> {
    let mut at = Some(skeleton.clone());
    while let Some(p) = at {
        if has_binding_api(&p) {
            if let Some(t) = first_target(&p, "skel:animationSource") {
                return stage.prim(t).ok().filter(|a| is_type(a, "SkelAnimation"));
            }
        }
        at = p.parent();
    }
    None
}

impl Binding {
    /// The nearest value of an inherited binding attribute.
    fn inherited(&self, name: &str) -> Option<(usd::Prim, Value)> {
        self.chain
            .iter()
            .find_map(|p| values::raw(p, name, None).map(|v| (p.clone(), v)))
    }
}

fn is_type(prim: &usd::Prim, name: &str) -> bool {
    prim.type_name().ok().flatten().is_some_and(|t| t.as_str() == name)
}

fn first_target(prim: &usd::Prim, rel: &str) -> Option<sdf::Path> {
    prim.relationship(rel).targets().ok()?.into_iter().next()
}

fn tokens(prim: &usd::Prim, name: &str) -> Option<Vec<String>> {
    match values::raw(prim, name, None)? {
        Value::TokenVec(t) => Some(t.iter().map(|t| t.as_str().to_string()).collect()),
        Value::StringVec(s) => Some(s),
        _ => None,
    }
}

fn matrices(prim: &usd::Prim, name: &str) -> Option<Vec<DMat4>> {
    match values::raw(prim, name, None)? {
        Value::Matrix4dVec(m) => Some(m.iter().map(values::to_dmat4).collect()),
        _ => None,
    }
}

/// A Skeleton and the animation posing it, as read at load: what each frame's pose needs.
pub struct SkeletonPlan {
    skeleton: usd::Prim,
    animation: Option<usd::Prim>,
    joints: Joints,
    /// For each skeleton joint, its index in the animation's `joints` (`None`: rest pose).
    from_animation: Vec<Option<usize>>,
    /// Length of the animation's `joints`.
    animated_joints: usize,
    /// The animation's `blendShapes`, in its order.
    pub blend_names: Vec<String>,
    warned: std::cell::Cell<bool>,
}

impl SkeletonPlan {
    pub fn read(skeleton: usd::Prim, animation: Option<usd::Prim>, warnings: &mut Vec<String>) -> SkeletonPlan {
        let names = tokens(&skeleton, "joints").unwrap_or_default();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        // A joint's parent is its nearest ancestor path in the list; one listed after its child
        // makes the skeleton invalid, as in UsdSkelTopology.
        let parents: Vec<Option<usize>> = names
            .iter()
            .map(|n| {
                let mut at = n.as_str();
                while let Some((up, _)) = at.rsplit_once('/') {
                    if let Some(&p) = index.get(up) {
                        return Some(p);
                    }
                    at = up;
                }
                None
            })
            .collect();
        let misordered = parents.iter().enumerate().any(|(j, p)| p.is_some_and(|p| p >= j));
        if misordered {
            warnings.push(format!(
                "{}: a joint is listed before its parent; its meshes are drawn unskinned",
                skeleton.path()
            ));
        }
        let bind = matrices(&skeleton, "bindTransforms").unwrap_or_default();
        if bind.len() != names.len() {
            warnings.push(format!(
                "{}: {} bindTransforms for {} joints; its meshes are drawn unskinned",
                skeleton.path(),
                bind.len(),
                names.len()
            ));
        }
        let inverse_bind = bind
            .iter()
            .map(|m| {
                if m.determinant().abs() > 1e-300 && m.is_finite() {
                    m.inverse()
                } else {
                    DMat4::IDENTITY
                }
            })
            .collect();
        let rest = matrices(&skeleton, "restTransforms")
            .filter(|r| r.len() == names.len())
            .unwrap_or_default();
        // An invalid skeleton poses nothing: no bind transforms, so every pose is refused.
        let inverse_bind = if misordered { Vec::new() } else { inverse_bind };
        let animated_joints = animation
            .as_ref()
            .and_then(|a| tokens(a, "joints"))
            .map_or(0, |j| j.len());
        let (from_animation, blend_names) = match &animation {
            Some(anim) => {
                let anim_joints = tokens(anim, "joints").unwrap_or_default();
                // Joints the skeleton lacks are dropped; those the animation lacks hold their
                // rest transforms.
                let at: HashMap<&str, usize> = anim_joints.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
                (
                    names.iter().map(|n| at.get(n.as_str()).copied()).collect(),
                    tokens(anim, "blendShapes").unwrap_or_default(),
                )
            }
            None => (vec![None; names.len()], Vec::new()),
        };
        SkeletonPlan {
            skeleton,
            animation,
            joints: Joints {
                parents,
                inverse_bind,
                rest,
            },
            from_animation,
            animated_joints,
            blend_names,
            warned: std::cell::Cell::new(false),
        }
    }

    /// The pose at `time`: joint-local transforms from the animation where it names the joint,
    /// else the rest transform; an empty pose (meshes keep their rest points) when neither gives
    /// every joint a transform.
    pub fn pose(&self, time: f64, warnings: &mut Vec<String>) -> SkelPose {
        let (local, blend_weights) = self.local_pose(values::at(time), warnings);
        SkelPose {
            skinning: local
                .and_then(|l| self.joints.skinning_transforms(&l))
                .unwrap_or_default(),
            blend_weights,
        }
    }

    /// Each joint's transform in the skeleton's space: posed at `time` (`None`: the default
    /// time code, which reads the animation's default values), or at rest; `None` when the
    /// skeleton cannot be posed.
    fn skel_space(&self, time: Time, at_rest: bool) -> Option<Vec<DMat4>> {
        let local = if at_rest {
            Some(self.joints.rest.clone()).filter(|r| r.len() == self.joints.parents.len())?
        } else {
            self.local_pose(time, &mut Vec::new()).0?
        };
        if self.joints.inverse_bind.len() != self.joints.parents.len() {
            return None;
        }
        self.joints.skel_space(&local)
    }

    /// Joint-local transforms at `time` (`None`: the skeleton cannot be posed) and the
    /// blend-shape weights.
    fn local_pose(&self, t: Time, warnings: &mut Vec<String>) -> (Option<Vec<DMat4>>, Vec<f32>) {
        let n = self.joints.parents.len();
        let mut blend_weights = Vec::new();
        let mut local = Vec::with_capacity(n);
        let (mut translations, mut rotations, mut scales) = (Vec::new(), Vec::new(), Vec::new());
        let mut animated = false;
        if let Some(anim) = &self.animation {
            let read = |name: &str| values::raw(anim, name, t);
            // As UsdSkelAnimQuery: the joint transforms count only when all three components
            // are there, one per animated joint; otherwise the rest pose is used.
            if let (Some(tr), Some(ro), Some(sc)) = (
                read("translations").as_ref().and_then(values::as_dvec3_array),
                read("rotations").as_ref().and_then(values::as_quat_array),
                read("scales").as_ref().and_then(values::as_dvec3_array),
            ) {
                animated = tr.len() == self.animated_joints && ro.len() == tr.len() && sc.len() == tr.len();
                (translations, rotations, scales) = (tr, ro, sc);
            }
            blend_weights = read("blendShapeWeights")
                .as_ref()
                .and_then(values::as_float_array)
                .unwrap_or_default();
        }
        for j in 0..n {
            let from_animation = self.from_animation.get(j).copied().flatten().filter(|_| animated);
            let m = match from_animation {
                Some(a) => joint_transform(
                    translations.get(a).map_or(DVec3::ZERO, |v| DVec3::from(*v)),
                    rotations.get(a).copied().unwrap_or(DQuat::IDENTITY),
                    scales.get(a).map_or(DVec3::ONE, |v| DVec3::from(*v)),
                ),
                None => match self.joints.rest.get(j) {
                    Some(r) => *r,
                    None => {
                        if !self.warned.replace(true) {
                            warnings.push(format!(
                                "{}: joints without animation and no restTransforms; its meshes are drawn unskinned",
                                self.skeleton.path()
                            ));
                        }
                        return (None, blend_weights);
                    }
                },
            };
            local.push(m);
        }
        (Some(local), blend_weights)
    }

    pub fn skeleton(&self) -> &usd::Prim {
        &self.skeleton
    }
}

/// Every skeleton that deforms something, each read once.
#[derive(Default)]
pub struct SkelPlans {
    pub skeletons: Vec<SkeletonPlan>,
    by_path: HashMap<(sdf::Path, Option<sdf::Path>), usize>,
    /// For each skeleton, the group of skeletons whose poses are equal at equal layer times
    /// (one rig and animation referenced many times, as in a crowd), and the layer offset its
    /// animation is read through: (group, offset, scale, animated).
    pub shared: Vec<Option<(usize, f64, f64, bool)>>,
    groups: HashMap<Vec<super::samples::Source>, usize>,
}

/// The attributes a pose is computed from: the skeleton's, then its animation's.
const SKELETON_INPUTS: [&str; 3] = ["joints", "bindTransforms", "restTransforms"];
const ANIMATION_INPUTS: [&str; 6] = [
    "joints",
    "blendShapes",
    "translations",
    "rotations",
    "scales",
    "blendShapeWeights",
];

/// Where every input of a skeleton's pose comes from, and the one layer offset its time samples
/// are read through; `None` when that cannot be told or the offsets differ (no sharing).
fn pose_sources(
    skeleton: &usd::Prim,
    animation: Option<&usd::Prim>,
) -> Option<(Vec<super::samples::Source>, f64, f64, bool)> {
    use super::samples::{self, Source};
    let mut sources = Vec::new();
    let mut offset: Option<(f64, f64)> = None;
    let inputs = SKELETON_INPUTS.iter().map(|n| (skeleton, *n)).chain(
        animation
            .into_iter()
            .flat_map(|a| ANIMATION_INPUTS.iter().map(move |n| (a, *n))),
    );
    for (prim, name) in inputs {
        let (source, o, sc) = samples::source(prim, name)?;
        if matches!(source, Source::Samples(..)) {
            match offset {
                None => offset = Some((o, sc)),
                Some(known) if known == (o, sc) => {}
                Some(_) => return None,
            }
        }
        sources.push(source);
    }
    let (o, sc) = offset.unwrap_or((0.0, 1.0));
    Some((sources, o, sc, offset.is_some()))
}

impl SkelPlans {
    /// The index of the plan for `binding`, reading the skeleton on first use.
    pub fn index(&mut self, binding: &Binding, warnings: &mut Vec<String>) -> usize {
        let key = (
            binding.skeleton.path().clone(),
            binding.animation.as_ref().map(|a| a.path().clone()),
        );
        if let Some(&i) = self.by_path.get(&key) {
            return i;
        }
        let i = self.skeletons.len();
        self.skeletons.push(SkeletonPlan::read(
            binding.skeleton.clone(),
            binding.animation.clone(),
            warnings,
        ));
        let shared = pose_sources(&binding.skeleton, binding.animation.as_ref()).map(|(sources, o, sc, animated)| {
            let next = self.groups.len();
            let group = *self.groups.entry(sources).or_insert(next);
            (group, o, sc, animated)
        });
        self.shared.push(shared);
        self.by_path.insert(key, i);
        i
    }

    /// Every skeleton's pose at `time`, each computed once per group of skeletons that share
    /// their sources and read them at the same layer time.
    pub fn poses(&self, time: f64, warnings: &mut Vec<String>) -> Vec<Arc<SkelPose>> {
        let mut done: HashMap<(usize, u64), Arc<SkelPose>> = HashMap::new();
        self.skeletons
            .iter()
            .zip(&self.shared)
            .map(|(plan, shared)| match shared {
                Some((group, offset, scale, animated)) => {
                    // As `TrackRef::layer_time`: the layer time openusd reads the samples at.
                    let layer_time = if *animated { -offset / scale + time / scale } else { 0.0 };
                    done.entry((*group, layer_time.to_bits()))
                        .or_insert_with(|| Arc::new(plan.pose(time, warnings)))
                        .clone()
                }
                None => Arc::new(plan.pose(time, warnings)),
            })
            .collect()
    }
}

/// An inherited influence primvar: its values, `elementSize`, and whether it is constant
/// (rigid: one set for the whole prim). A primvar without `interpolation` is constant.
fn influence_primvar(binding: &Binding, name: &str) -> Option<(usd::Prim, Value, usize, bool)> {
    let (prim, value) = binding.inherited(name)?;
    let attr = prim.attribute(name);
    let element_size = attr
        .get_metadata::<Value>("elementSize")
        .ok()
        .flatten()
        .and_then(|v| values::as_f64(&v))
        .map_or(1, |n| n.max(1.0) as usize);
    let interpolation = attr.get_metadata::<openusd::tf::Token>("interpolation").ok().flatten();
    let constant = interpolation.as_ref().is_none_or(|t| t.as_str() == "constant");
    Some((prim, value, element_size, constant))
}

/// The mesh's influences in the skeleton's joint order; `None` (with a warning) when they do
/// not fit the mesh. Weights are used as authored: UsdSkel does not normalise them.
fn influences(
    prim: &usd::Prim,
    binding: &Binding,
    points: usize,
    skeleton_joints: &[String],
    warnings: &mut Vec<String>,
) -> Option<Influences> {
    let (_, indices, per_point, constant) = influence_primvar(binding, "primvars:skel:jointIndices")?;
    let (_, weights, weight_size, weights_constant) = influence_primvar(binding, "primvars:skel:jointWeights")?;
    let indices = values::as_int_array(&indices)?;
    let weights = values::as_float_array(&weights)?;
    let expected = if constant { per_point } else { points * per_point };
    if weight_size != per_point
        || weights_constant != constant
        || indices.len() != expected
        || weights.len() != expected
    {
        warnings.push(format!(
            "{}: {} joint indices and {} weights (elementSize {per_point}, {}) do not fit its {points} points; drawn unskinned",
            prim.path(),
            indices.len(),
            weights.len(),
            if constant { "constant" } else { "vertex" },
        ));
        return None;
    }
    // `skel:joints` reorders (or subsets) the skeleton's joints for this mesh.
    let mesh_order: Option<Vec<Option<usize>>> = binding
        .inherited("skel:joints")
        .and_then(|(p, _)| tokens(&p, "skel:joints"))
        .map(|names| {
            let at: HashMap<&str, usize> = skeleton_joints
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i))
                .collect();
            names.iter().map(|n| at.get(n.as_str()).copied()).collect()
        });
    let joints: Vec<u32> = indices
        .iter()
        .map(|&i| {
            let i = usize::try_from(i).ok();
            let j = match &mesh_order {
                Some(order) => i.and_then(|i| order.get(i).copied().flatten()),
                None => i.filter(|&i| i < skeleton_joints.len()),
            };
            j.map_or(u32::MAX, |j| j as u32)
        })
        .collect();
    let bad = joints
        .iter()
        .zip(&weights)
        .filter(|(j, w)| **j == u32::MAX && **w != 0.0)
        .count();
    if bad > 0 {
        warnings.push(format!(
            "{}: {bad} joint influences name no joint of the skeleton; ignored",
            prim.path()
        ));
    }
    let nan = weights.iter().filter(|w| !w.is_finite()).count();
    if nan > 0 {
        warnings.push(format!(
            "{}: {nan} joint weights are NaN or infinite; ignored",
            prim.path()
        ));
    }
    let weights = weights
        .iter()
        .zip(&joints)
        .map(|(w, &j)| if w.is_finite() && j != u32::MAX { *w } else { 0.0 })
        .collect();
    Some(Influences {
        per_point,
        joints,
        weights,
    })
}

/// The mesh's blend shapes (`skel:blendShapes` names, `skel:blendShapeTargets` prims), each
/// matched to the animation's weight of the same name.
fn blend_shapes(
    stage: &usd::Stage,
    prim: &usd::Prim,
    points: usize,
    weight_names: &[String],
    warnings: &mut Vec<String>,
) -> Vec<BlendShape> {
    let Some(names) = tokens(prim, "skel:blendShapes") else {
        return Vec::new();
    };
    let targets = prim
        .relationship("skel:blendShapeTargets")
        .targets()
        .unwrap_or_default();
    if targets.len() != names.len() {
        warnings.push(format!(
            "{}: {} blend shape names for {} targets; blend shapes ignored",
            prim.path(),
            names.len(),
            targets.len()
        ));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (name, target) in names.iter().zip(targets) {
        let Ok(shape) = stage.prim(target.clone()) else {
            continue;
        };
        let offsets = values::raw(&shape, "offsets", None)
            .as_ref()
            .and_then(values::as_vec3_array)
            .unwrap_or_default();
        let point_indices: Option<Vec<u32>> = values::int_array_attr(&shape, "pointIndices", None)
            .map(|ix| ix.iter().map(|&i| u32::try_from(i).unwrap_or(u32::MAX)).collect());
        let fits = match &point_indices {
            Some(ix) => ix.len() == offsets.len() && ix.iter().all(|&i| (i as usize) < points),
            None => offsets.len() == points,
        };
        if !fits {
            warnings.push(format!(
                "{}: {} offsets do not fit the mesh's {points} points; the shape is ignored",
                shape.path(),
                offsets.len()
            ));
            continue;
        }
        let mut inbetweens = Vec::new();
        for name in shape.property_names().unwrap_or_default() {
            let attr = name.as_str();
            if !attr.starts_with("inbetweens:") {
                continue;
            }
            let weight = shape
                .attribute(attr)
                .get_metadata::<Value>("weight")
                .ok()
                .flatten()
                .and_then(|v| values::as_f64(&v));
            if attr.ends_with(":normalOffsets") {
                continue;
            }
            let o = values::raw(&shape, attr, None).as_ref().and_then(values::as_vec3_array);
            // As UsdSkel: an in-between with no weight, or one at 0 or 1, is skipped.
            let weight = weight.filter(|w| w.abs() > 1e-6 && (w - 1.0).abs() > 1e-6);
            if let (Some(w), Some(o)) = (weight, o) {
                if o.len() == offsets.len() {
                    inbetweens.push((w as f32, o));
                }
            }
        }
        inbetweens.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.push(BlendShape {
            weight: weight_names.iter().position(|n| n == name),
            offsets,
            point_indices,
            inbetweens,
        });
    }
    out
}

/// What [`skinned_mesh`] reads of a mesh beyond its binding.
#[derive(Clone)]
pub struct SkinnedParts {
    pub influences: Influences,
    pub geom_bind: DMat4,
    pub method: SkinningMethod,
    pub blend_shapes: Vec<BlendShape>,
}

/// Reads a bound mesh's skinning data; `None` (drawn unskinned) when it has no usable influences.
pub fn skinned_parts(
    stage: &usd::Stage,
    prim: &usd::Prim,
    binding: &Binding,
    points: usize,
    plan: &SkeletonPlan,
    warnings: &mut Vec<String>,
) -> Option<SkinnedParts> {
    let joint_names = tokens(&plan.skeleton, "joints").unwrap_or_default();
    let influences = influences(prim, binding, points, &joint_names, warnings)?;
    let geom_bind = match binding.inherited("primvars:skel:geomBindTransform") {
        Some((_, Value::Matrix4d(m))) => values::to_dmat4(&m),
        _ => DMat4::IDENTITY,
    };
    let method = binding
        .inherited("primvars:skel:skinningMethod")
        .or_else(|| binding.inherited("skel:skinningMethod"))
        .and_then(|(_, v)| values::as_token(&v));
    let method = match method.as_deref() {
        Some("dualQuaternion") => SkinningMethod::DualQuaternion,
        _ => SkinningMethod::ClassicLinear,
    };
    let blend_shapes = blend_shapes(stage, prim, points, &plan.blend_names, warnings);
    Some(SkinnedParts {
        influences,
        geom_bind,
        method,
        blend_shapes,
    })
}

/// Builds the plain-data skinned mesh (its rest points are the mesh's points at load time).
pub fn skinned_mesh(
    parts: SkinnedParts,
    slot: usize,
    frame: usize,
    prim: &usd::Prim,
    rest_points: Vec<[f32; 3]>,
    topology: Arc<crate::scene::animation::Topology>,
) -> SkinnedMesh {
    SkinnedMesh {
        slot,
        prim: prim.path().as_str().to_string(),
        frame,
        rest_points: Arc::from(rest_points),
        influences: parts.influences,
        geom_bind: parts.geom_bind,
        method: parts.method,
        blend_shapes: parts.blend_shapes,
        topology,
    }
}

/// The extent UsdSkel computes for a SkelRoot with none authored (`UsdSkelRoot`'s extent
/// function, which `UsdGeomBBoxCache` uses for framing): the joint pivots of the skeletons that
/// deform prims below it, posed at `time` (`None`: the default time code), in the root's space,
/// grown on every side by the most any bound prim's `extent` (through its geomBindTransform)
/// reaches past its skeleton's rest pivots. When nothing below is bound, the pivots of every
/// Skeleton below, unpadded (UsdSkelImaging then draws the skeletons themselves). `None` when
/// there is neither (pxr's extent is then empty; the caller bounds the children instead).
pub fn root_extent(
    stage: &usd::Stage,
    cache: &mut openusd_schemas::geom::XformCache,
    root: &usd::Prim,
    below: &[usd::Prim],
    time: Time,
) -> Option<crate::scene::Bounds> {
    use crate::scene::Bounds;
    let mut plans = SkelPlans::default();
    let mut padding = 0.0f64;
    let mut used = Vec::new();
    for prim in below {
        let Some(binding) = binding(stage, prim) else { continue };
        let index = plans.index(&binding, &mut Vec::new());
        if !used.contains(&index) {
            used.push(index);
        }
        // How far the prim's extent, in the skeleton's space at bind time, reaches out of the
        // box of the rest pivots.
        let plan = &plans.skeletons[index];
        let (Some(rest), Some(extent)) = (
            plan.skel_space(None, true),
            values::raw(prim, "extent", None)
                .as_ref()
                .and_then(values::as_dvec3_array),
        ) else {
            continue;
        };
        let [min, max] = extent.as_slice() else { continue };
        let geom_bind = match binding.inherited("primvars:skel:geomBindTransform") {
            Some((_, Value::Matrix4d(m))) => values::to_dmat4(&m),
            _ => DMat4::IDENTITY,
        };
        let mut bound = Bounds::EMPTY;
        bound.include_box(
            &geom_bind,
            &Bounds {
                min: DVec3::from(*min),
                max: DVec3::from(*max),
            },
        );
        let mut pivots = Bounds::EMPTY;
        for m in &rest {
            pivots.include_point(m.w_axis.truncate());
        }
        if bound.is_empty() || pivots.is_empty() {
            continue;
        }
        let reach = (pivots.min - bound.min).max(bound.max - pivots.max).max_element();
        padding = padding.max(reach);
    }
    if used.is_empty() {
        for prim in below.iter().filter(|p| is_type(p, "Skeleton")) {
            let index = plans.index(&skeleton_binding(stage, prim), &mut Vec::new());
            if !used.contains(&index) {
                used.push(index);
            }
        }
    }
    let mut out = Bounds::EMPTY;
    for index in used {
        let plan = &plans.skeletons[index];
        let Some(posed) = plan.skel_space(time, false) else {
            continue;
        };
        let to_root = match cache.compute_relative_transform(plan.skeleton(), root) {
            Ok((m, _)) => values::to_dmat4(&m),
            Err(_) => DMat4::IDENTITY,
        };
        for m in posed {
            out.include_point(to_root.transform_point3(m.w_axis.truncate()));
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(Bounds {
        min: out.min - DVec3::splat(padding),
        max: out.max + DVec3::splat(padding),
    })
}

/// A Skeleton prim's own binding: itself, posed by its animation source.
pub fn skeleton_binding(stage: &usd::Stage, skeleton: &usd::Prim) -> Binding {
    Binding {
        skeleton: skeleton.clone(),
        animation: animation_source(stage, skeleton),
        chain: Vec::new(),
    }
}

/// A skeleton's bone mesh: points (skeleton space, bind pose), the joint each point follows,
/// and triangles.
pub type Bones = (Vec<[f32; 3]>, Vec<u32>, Vec<u32>);

/// The bones Storm draws for a Skeleton (UsdSkelImaging's bone mesh): for each joint with a
/// parent, a four-sided pyramid, open at its base, from a square around the parent joint to
/// the joint, built at the bind pose (the base's half-width a tenth of the bone's length, its
/// sides along the two parent axes least aligned with the bone). Returns the points (skeleton
/// space, bind pose), the joint each point follows, and the triangles.
pub fn bones(plan: &SkeletonPlan) -> Option<Bones> {
    let bind = matrices(&plan.skeleton, "bindTransforms")?;
    if bind.len() != plan.joints.parents.len() || plan.joints.inverse_bind.len() != bind.len() {
        return None;
    }
    let (mut points, mut joint_of, mut triangles) = (Vec::new(), Vec::new(), Vec::new());
    for (k, parent) in plan.joints.parents.iter().enumerate() {
        let Some(p) = *parent else { continue };
        let (child, parent_m) = (bind[k], bind[p]);
        let end = child.w_axis.truncate();
        let start = parent_m.w_axis.truncate();
        let d = end - start;
        let u = d.normalize_or_zero();
        let axes = [
            parent_m.x_axis.truncate(),
            parent_m.y_axis.truncate(),
            parent_m.z_axis.truncate(),
        ];
        // Storm's threshold is pi/4, compared with the unnormalised axis.
        let principal = (0..2)
            .find(|&r| axes[r].dot(u).abs() > std::f64::consts::FRAC_PI_4)
            .unwrap_or(2);
        let (ia, ja) = match principal {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        };
        let size = 0.1 * d.length();
        let i = axes[ia].normalize_or_zero() * size;
        let j = axes[ja].normalize_or_zero() * size;
        let base = points.len() as u32;
        for q in [end, start + i + j, start + i - j, start - i - j, start - i + j] {
            points.push(q.as_vec3().to_array());
        }
        joint_of.extend([k as u32, p as u32, p as u32, p as u32, p as u32]);
        for [a, b, c] in [[0, 2, 1], [0, 3, 2], [0, 4, 3], [0, 1, 4]] {
            triangles.extend([base + a, base + b, base + c]);
        }
    }
    Some((points, joint_of, triangles))
}

/// Skinning data for a Skeleton's bones: each point follows one joint, fully.
pub fn bone_parts(joint_of: Vec<u32>) -> SkinnedParts {
    SkinnedParts {
        influences: Influences {
            per_point: 1,
            weights: vec![1.0; joint_of.len()],
            joints: joint_of,
        },
        geom_bind: DMat4::IDENTITY,
        method: SkinningMethod::ClassicLinear,
        blend_shapes: Vec::new(),
    }
}
