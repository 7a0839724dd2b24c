//! UsdSkel skinning from plain data, on any thread.
//!
//! At load, the stage module copies out what never changes: each skeleton's joint hierarchy,
//! inverse bind transforms and rest pose, and each skinned mesh's rest points, joint influences,
//! `geomBindTransform` and blend shapes ([`SkinnedMesh`]). Per frame it reads only the animation:
//! joint-local transforms and blend-shape weights, turned here into a [`SkelPose`] (one skinning
//! matrix per joint), and the matrix from the skeleton's space to each mesh's space
//! ([`SkinFrame`]). Skinning the points (blend shapes, then linear or dual-quaternion blending,
//! then smooth normals) is the heavy part: the renderer does it in a compute pass
//! (`gpu/skinning.rs`, `shaders/skinning.wgsl`) from rest data uploaded once, and the code here is
//! the reference and the fallback (subdivided meshes, devices without the pass, readers of the
//! points: [`skin_pending`]).
//!
//! Conventions: glam's column vectors, so USD's row-vector `p * geomBind * invBind * skel`
//! is `skel * invBind * geomBind * p` here.

use std::sync::Arc;

use glam::{DMat3, DMat4, DQuat, DVec3, Mat4, Vec3};

use super::animation::Topology;
use super::{MeshVertices, Scene};

/// A skeleton's joints: hierarchy, bind pose and rest pose, in the Skeleton prim's joint order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Joints {
    /// Each joint's parent (an earlier joint), from the joints' path names.
    pub parents: Vec<Option<usize>>,
    /// Inverses of `bindTransforms` (skeleton space); identity where a bind transform is singular.
    pub inverse_bind: Vec<DMat4>,
    /// `restTransforms` (joint-local); empty when not authored.
    pub rest: Vec<DMat4>,
}

impl Joints {
    /// Joint-local transforms to skinning transforms (skeleton space, bind pose removed): each
    /// joint's local transform concatenated with its parents', then its inverse bind transform.
    /// `None` when the counts disagree (pxr then leaves the prims it deforms unskinned).
    pub fn skinning_transforms(&self, local: &[DMat4]) -> Option<Vec<DMat4>> {
        if self.inverse_bind.len() != self.parents.len() {
            return None;
        }
        let skel = self.skel_space(local)?;
        Some(skel.iter().zip(&self.inverse_bind).map(|(s, ib)| *s * *ib).collect())
    }

    /// Joint-local transforms concatenated with their parents': each joint in the skeleton's
    /// space. `None` when the count is not the skeleton's.
    pub fn skel_space(&self, local: &[DMat4]) -> Option<Vec<DMat4>> {
        if local.len() != self.parents.len() {
            return None;
        }
        let mut skel: Vec<DMat4> = Vec::with_capacity(local.len());
        for (j, (m, parent)) in local.iter().zip(&self.parents).enumerate() {
            let world = match parent {
                Some(p) if *p < j => skel[*p] * *m,
                _ => *m,
            };
            skel.push(world);
        }
        Some(skel)
    }
}

/// A joint-local transform from animation components, as `UsdSkelMakeTransform`: scale, then
/// rotation (from the quaternion's raw components, as Gf builds it), then translation.
pub fn joint_transform(translation: DVec3, rotation: DQuat, scale: DVec3) -> DMat4 {
    // glam builds the matrix from the raw components too (it asserts unit length only under
    // its `glam-assert` feature, which is off).
    DMat4::from_translation(translation) * DMat4::from_quat(rotation) * DMat4::from_scale(scale)
}

/// The pose of one skeleton at one time: what is sent per frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SkelPose {
    /// One skinning transform per skeleton joint; empty: the skeleton could not be posed and its
    /// meshes keep their rest points.
    pub skinning: Vec<DMat4>,
    /// Blend-shape weights in the animation's `blendShapes` order.
    pub blend_weights: Vec<f32>,
}

/// One skinned mesh at one frame: its skeleton's pose, and the matrix from the skeleton's
/// space to the mesh's own (the mesh's world transform inverted, after the skeleton's).
#[derive(Debug, Clone)]
pub struct SkinFrame {
    pub pose: Arc<SkelPose>,
    pub skel_to_mesh: DMat4,
}

/// `skel:skinningMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SkinningMethod {
    #[default]
    ClassicLinear,
    DualQuaternion,
}

/// Joint influences per point, already in the skeleton's joint order (`skel:joints` resolved).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Influences {
    /// Influences per point (`elementSize`).
    pub per_point: usize,
    /// `per_point` joint indices per point; a joint the skeleton lacks is `u32::MAX` (weight ignored).
    pub joints: Vec<u32>,
    /// Normalised weights, laid out as `joints`.
    pub weights: Vec<f32>,
}

/// One blend shape of a mesh.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlendShape {
    /// Index into [`SkelPose::blend_weights`]; `None` when the animation does not drive it.
    pub weight: Option<usize>,
    /// Offsets of the points named by `point_indices` (every point, in order, when `None`).
    pub offsets: Vec<[f32; 3]>,
    pub point_indices: Option<Vec<u32>>,
    /// In-between shapes, sorted by weight, none at 0 or 1: (weight, offsets laid out as
    /// `offsets`).
    pub inbetweens: Vec<(f32, Vec<[f32; 3]>)>,
}

impl BlendShape {
    /// The sub-shape `i`'s offsets: 0 is the shape itself, `k + 1` its in-between `k`.
    pub fn sub_offsets(&self, i: usize) -> &[[f32; 3]] {
        match i {
            0 => &self.offsets,
            k => self.inbetweens.get(k - 1).map_or(&[], |(_, o)| o.as_slice()),
        }
    }

    /// The sub-shapes a weight `w` blends, as `UsdSkelBlendShapeQuery` resolves them: the rest
    /// shape at weight 0, the in-betweens at theirs and the shape itself at 1; `w` falls between
    /// two of them (or past the first or last pair: extrapolated) and is split between the two.
    /// Returns up to two (sub-shape, weight) pairs, sub-shapes numbered as
    /// [`BlendShape::sub_offsets`]; the rest shape adds nothing and is left out, and so is a
    /// weight of 0, not finite, or within 1e-6 of 0. The CPU path adds these sub-shapes; the GPU
    /// path gets these weights per frame (in-betweens are resolved here, per shape, not per point).
    pub fn sub_shape_weights(&self, w: f32) -> [Option<(usize, f32)>; 2] {
        const EPS: f32 = 1e-6;
        if w == 0.0 || !w.is_finite() {
            return [None, None];
        }
        let keep = |s: Option<(usize, f32)>| s.filter(|(_, weight)| weight.abs() > EPS);
        if self.inbetweens.is_empty() {
            return [keep(Some((0, w))), None];
        }
        // By weight: sub-shape `None` is the rest shape.
        let mut subs: Vec<(f32, Option<usize>)> = Vec::with_capacity(self.inbetweens.len() + 2);
        subs.push((0.0, None));
        subs.extend(
            self.inbetweens
                .iter()
                .enumerate()
                .map(|(k, (iw, _))| (*iw, Some(k + 1))),
        );
        subs.push((1.0, Some(0)));
        subs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = subs.len();
        let (lo, hi) = match subs.iter().position(|s| s.0 > w) {
            Some(0) => (subs[0], subs[1]),
            Some(i) => (subs[i - 1], subs[i]),
            None => (subs[n - 2], subs[n - 1]),
        };
        let d = hi.0 - lo.0;
        if d <= EPS {
            return [None, None];
        }
        let a = (w - lo.0) / d;
        [
            keep(lo.1.filter(|_| (a - 1.0).abs() > EPS).map(|i| (i, 1.0 - a))),
            keep(hi.1.filter(|_| a.abs() > EPS).map(|i| (i, a))),
        ]
    }

    /// Adds this shape at weight `w` to `points`.
    fn apply(&self, w: f32, points: &mut [[f32; 3]]) {
        for (sub, weight) in self.sub_shape_weights(w).into_iter().flatten() {
            for (i, o) in self.sub_offsets(sub).iter().enumerate() {
                let p = match &self.point_indices {
                    Some(ix) => ix.get(i).map(|&p| p as usize),
                    None => Some(i),
                };
                if let Some(point) = p.and_then(|p| points.get_mut(p)) {
                    for k in 0..3 {
                        point[k] += o[k] * weight;
                    }
                }
            }
        }
    }
}

/// A mesh deformed by a skeleton.
#[derive(Debug, Clone)]
pub struct SkinnedMesh {
    /// Index into `Scene::dynamic_meshes` (and `FrameState::mesh_vertices`).
    pub slot: usize,
    /// The prim, for messages.
    pub prim: String,
    /// Index into [`crate::scene::FrameState::skinning`].
    pub frame: usize,
    /// The mesh's points at load time, in its own space.
    pub rest_points: Arc<[[f32; 3]]>,
    pub influences: Influences,
    /// `primvars:skel:geomBindTransform`: the mesh's space to the skeleton's at bind time.
    pub geom_bind: DMat4,
    pub method: SkinningMethod,
    pub blend_shapes: Vec<BlendShape>,
    /// Normals are always smooth normals of the skinned points: Storm blocks a skinned mesh's
    /// authored normals and computes them, and usdrender matches Storm's pictures.
    pub topology: Arc<Topology>,
}

impl SkinnedMesh {
    /// Whether the renderer skins it in a compute pass (from rest data it uploaded once, posed by
    /// the frame's [`SkinFrame`]): every mesh drawn as authored. A subdivided one is skinned and
    /// refined here, on the CPU (the GPU pass has no refinement stencils).
    pub fn on_gpu(&self) -> bool {
        self.topology.refine.is_none()
    }

    /// The mesh's points at `frame`, in its own space: blend shapes, then skinning, then the
    /// skeleton's space to the mesh's. The rest points when the pose is empty.
    pub fn points(&self, frame: &SkinFrame) -> Vec<[f32; 3]> {
        let mut points = self.rest_points.to_vec();
        for shape in &self.blend_shapes {
            if let Some(w) = shape.weight.and_then(|i| frame.pose.blend_weights.get(i)) {
                shape.apply(*w, &mut points);
            }
        }
        if frame.pose.skinning.is_empty() {
            return points;
        }
        let to_mesh = frame.skel_to_mesh;
        let xforms: Vec<DMat4> = frame.pose.skinning.iter().map(|s| to_mesh * *s).collect();
        let bind = self.geom_bind;
        match self.method {
            SkinningMethod::ClassicLinear => {
                let mats: Vec<Mat4> = xforms.iter().map(|m| (*m * bind).as_mat4()).collect();
                for (i, p) in points.iter_mut().enumerate() {
                    let blended = self.blend(i, &mats);
                    if let Some(m) = blended {
                        *p = m.transform_point3(Vec3::from(*p)).to_array();
                    }
                }
            }
            SkinningMethod::DualQuaternion => {
                let parts: Vec<DualQuatPart> = frame.pose.skinning.iter().map(DualQuatPart::of).collect();
                let scaled = DualQuatPart::any_scaled(&parts);
                for (i, p) in points.iter_mut().enumerate() {
                    let skel = bind.transform_point3(DVec3::new(p[0] as f64, p[1] as f64, p[2] as f64));
                    let skinned = self.dual_quaternion(i, &parts, scaled, skel);
                    *p = to_mesh.transform_point3(skinned).as_vec3().to_array();
                }
            }
        }
        points
    }

    /// Point `i`'s joint indices and weights (the one shared set for rigid influences).
    fn influences_of(&self, i: usize) -> Option<(&[u32], &[f32])> {
        let n = self.influences.per_point;
        if self.influences.joints.len() == n {
            return Some((&self.influences.joints, &self.influences.weights));
        }
        let range = i * n..(i + 1) * n;
        Some((
            self.influences.joints.get(range.clone())?,
            self.influences.weights.get(range)?,
        ))
    }

    /// The weighted sum of point `i`'s joint matrices (zero weights skipped, as UsdSkel does;
    /// weights are not normalised, as in UsdSkel); `None` when it has no usable influence (the
    /// point then stays where it is).
    fn blend(&self, i: usize, mats: &[Mat4]) -> Option<Mat4> {
        let (joints, weights) = self.influences_of(i)?;
        let mut acc = Mat4::ZERO;
        let mut any = false;
        for (&j, &w) in joints.iter().zip(weights) {
            if w == 0.0 {
                continue;
            }
            if let Some(m) = mats.get(j as usize) {
                acc += *m * w;
                any = true;
            }
        }
        any.then_some(acc)
    }

    /// Dual-quaternion skinning of one skeleton-space point, as UsdSkel's: each joint's dual
    /// quaternion flipped to the hemisphere of the point's heaviest joint, summed by weight and
    /// normalised; scale and shear blended linearly and applied first (when any joint has them).
    fn dual_quaternion(&self, i: usize, parts: &[DualQuatPart], scaled: bool, p: DVec3) -> DVec3 {
        let Some((joints, weights)) = self.influences_of(i) else {
            return p;
        };
        let valid = || {
            joints
                .iter()
                .zip(weights)
                .filter_map(|(&j, &w)| Some((parts.get(j as usize)?, w as f64)))
        };
        let Some(pivot) = valid().fold(None, |best: Option<(&DualQuatPart, f64)>, (part, w)| match best {
            Some((_, bw)) if bw >= w => best,
            _ => Some((part, w)),
        }) else {
            return p;
        };
        let pivot = pivot.0.real;
        let (mut real, mut dual, mut stretch) = (
            DQuat::from_xyzw(0.0, 0.0, 0.0, 0.0),
            DQuat::from_xyzw(0.0, 0.0, 0.0, 0.0),
            DVec3::ZERO,
        );
        for (part, w) in valid() {
            if w == 0.0 {
                continue;
            }
            if scaled {
                stretch += part.scale * p * w;
            }
            let w = if part.real.dot(pivot) < 0.0 { -w } else { w };
            real += part.real * w;
            dual += part.dual * w;
        }
        let p = if scaled { stretch } else { p };
        let len = real.length();
        if len < 1e-10 || !len.is_finite() {
            return p;
        }
        let (real, dual) = (real / len, dual / len);
        let dual = dual - real * real.dot(dual);
        let t = (dual * 2.0) * real.conjugate();
        real * p + DVec3::new(t.x, t.y, t.z)
    }

    /// Vertices for `frame`: skinned points spread to vertices, with smooth normals.
    pub fn vertices(&self, frame: &SkinFrame, template: Option<&super::Mesh>) -> MeshVertices {
        let skinned = self.points(frame);
        let points = self.topology.drawn_points(&skinned);
        let positions = self.topology.spread(&points, template);
        let normals = super::smooth_normals(&points, &self.topology.point_triangles, &self.topology.vertex_points);
        MeshVertices { positions, normals }
    }
}

/// A skinning transform split for dual-quaternion blending, as `GfMatrix4d::Factor` splits it:
/// the rigid part as a unit dual quaternion, and the rest (scale and shear, the symmetric factor
/// of the polar decomposition) as a matrix applied before it. A singular matrix gives a zero
/// dual quaternion (it then adds nothing).
#[derive(Debug, Clone, Copy)]
pub struct DualQuatPart {
    pub real: DQuat,
    pub dual: DQuat,
    /// Scale and shear, applied before the rigid part.
    pub scale: DMat3,
}

impl DualQuatPart {
    pub fn of(m: &DMat4) -> DualQuatPart {
        let zero = DQuat::from_xyzw(0.0, 0.0, 0.0, 0.0);
        let linear = DMat3::from_mat4(*m);
        let det = linear.determinant();
        if det.abs() < 1e-10 || !det.is_finite() {
            return DualQuatPart {
                real: zero,
                dual: zero,
                scale: DMat3::IDENTITY,
            };
        }
        // Polar decomposition by Newton iteration: U <- (U + U^-T) / 2 converges to the
        // orthogonal factor; a reflection's sign goes into the stretch, so U is a rotation.
        let mut u = linear;
        for _ in 0..32 {
            let next = (u + u.inverse().transpose()) * 0.5;
            let done = next.abs_diff_eq(u, 1e-14);
            u = next;
            if done {
                break;
            }
        }
        if u.determinant() < 0.0 {
            u = -u;
        }
        let real = DQuat::from_mat3(&u).normalize();
        let t = m.w_axis.truncate();
        DualQuatPart {
            real,
            dual: (DQuat::from_xyzw(t.x, t.y, t.z, 0.0) * real) * 0.5,
            // linear = u * stretch (stretch applied first).
            scale: u.transpose() * linear,
        }
    }

    /// Whether any joint scales or shears: only then is the stretch blended and applied.
    pub fn any_scaled(parts: &[DualQuatPart]) -> bool {
        parts.iter().any(|p| !p.scale.abs_diff_eq(DMat3::IDENTITY, 1e-6))
    }
}

/// Which skinned meshes [`evaluate`] skins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Every one (the CPU reference path).
    All,
    /// Only those the renderer cannot skin in its compute pass ([`SkinnedMesh::on_gpu`] false):
    /// what [`crate::stage::complete_frame`] does; the others' slots stay empty ("pending").
    NotOnGpu,
    /// Only the pending ones (slots left empty): for readers of the points and for a device
    /// that cannot run the compute pass.
    Pending,
}

/// The skinned meshes of a scene, chosen by `which`, evaluated from [`SkinFrame`]s into their
/// `vertices` slots. `template(slot)` is the mesh drawn for a slot at load time (its positions
/// stand in for vertices whose point is missing; `None`: the origin).
pub fn evaluate<'a>(
    meshes: &[SkinnedMesh],
    frames: &[SkinFrame],
    vertices: &mut [Arc<MeshVertices>],
    which: Which,
    template: impl Fn(usize) -> Option<&'a super::Mesh>,
) {
    for m in meshes {
        let (Some(frame), Some(slot)) = (frames.get(m.frame), vertices.get_mut(m.slot)) else {
            continue;
        };
        let chosen = match which {
            Which::All => true,
            Which::NotOnGpu => !m.on_gpu(),
            Which::Pending => m.on_gpu() && slot.positions.is_empty(),
        };
        if chosen {
            *slot = Arc::new(m.vertices(frame, template(m.slot)));
        }
    }
}

/// Skins on the CPU the meshes a frame leaves to the GPU ([`Which::Pending`]), so the frame's
/// `mesh_vertices` hold every point: for tests and tools that read them.
pub fn skin_pending(scene: &Scene, state: &mut super::FrameState) {
    evaluate(
        &scene.animation.skinned,
        &state.skinning,
        &mut state.mesh_vertices,
        Which::Pending,
        |slot| {
            scene
                .dynamic_meshes
                .get(slot)
                .and_then(|&i| scene.meshes.get(i as usize))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_joint_arm() -> Joints {
        // Joint 0 at the origin, joint 1 one unit up; bind pose = rest pose.
        let bind = [DMat4::IDENTITY, DMat4::from_translation(DVec3::Y)];
        Joints {
            parents: vec![None, Some(0)],
            inverse_bind: bind.iter().map(|m| m.inverse()).collect(),
            rest: vec![DMat4::IDENTITY, DMat4::from_translation(DVec3::Y)],
        }
    }

    fn arm_mesh(method: SkinningMethod) -> SkinnedMesh {
        SkinnedMesh {
            slot: 0,
            prim: "/Arm".into(),
            frame: 0,
            // A point at the elbow's tip, bound fully to joint 1, and one halfway weighted.
            rest_points: Arc::from(vec![[0.0, 2.0, 0.0], [0.0, 1.0, 0.0]]),
            influences: Influences {
                per_point: 2,
                joints: vec![1, 0, 0, 1],
                weights: vec![1.0, 0.0, 0.5, 0.5],
            },
            geom_bind: DMat4::IDENTITY,
            method,
            blend_shapes: Vec::new(),
            topology: Arc::new(Topology {
                vertex_points: vec![0, 1],
                point_triangles: Vec::new(),
                refine: None,
            }),
        }
    }

    fn bent(j: &Joints) -> Arc<SkelPose> {
        // Joint 1 turned 90 degrees about Z: the point one unit above it swings to -X.
        let local = [
            DMat4::IDENTITY,
            DMat4::from_translation(DVec3::Y) * DMat4::from_rotation_z(std::f64::consts::FRAC_PI_2),
        ];
        Arc::new(SkelPose {
            skinning: j.skinning_transforms(&local).expect("counts agree"),
            blend_weights: Vec::new(),
        })
    }

    fn close(a: [f32; 3], b: [f32; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn rest_pose_gives_identity_skinning() {
        let j = two_joint_arm();
        let s = j.skinning_transforms(&j.rest).expect("counts agree");
        for m in s {
            assert!(m.abs_diff_eq(DMat4::IDENTITY, 1e-12));
        }
        assert!(j.skinning_transforms(&j.rest[..1]).is_none(), "a short pose is refused");
    }

    #[test]
    fn linear_blending_bends_and_averages() {
        let j = two_joint_arm();
        let frame = SkinFrame {
            pose: bent(&j),
            skel_to_mesh: DMat4::IDENTITY,
        };
        let p = arm_mesh(SkinningMethod::ClassicLinear).points(&frame);
        assert!(close(p[0], [-1.0, 1.0, 0.0]), "{:?}", p[0]);
        // Half joint 0 (stays), half joint 1 (the point sits on joint 1's pivot: stays too).
        assert!(close(p[1], [0.0, 1.0, 0.0]), "{:?}", p[1]);
        // The skeleton moved 5 along X in the mesh's space.
        let moved = SkinFrame {
            pose: frame.pose.clone(),
            skel_to_mesh: DMat4::from_translation(DVec3::X * 5.0),
        };
        let p = arm_mesh(SkinningMethod::ClassicLinear).points(&moved);
        assert!(close(p[0], [4.0, 1.0, 0.0]), "{:?}", p[0]);
    }

    #[test]
    fn dual_quaternion_keeps_volume_where_linear_collapses() {
        // A point one unit out along X from joint 0, split evenly between a joint turned
        // +90 and one turned -90 degrees about Y: linear blending pulls it to the pivot, dual
        // quaternions keep it at distance 1 (turned by neither, the average of the two).
        let parts = Joints {
            parents: vec![None, None],
            inverse_bind: vec![DMat4::IDENTITY; 2],
            rest: Vec::new(),
        };
        let local = [
            DMat4::from_rotation_y(std::f64::consts::FRAC_PI_2),
            DMat4::from_rotation_y(-std::f64::consts::FRAC_PI_2),
        ];
        let frame = SkinFrame {
            pose: Arc::new(SkelPose {
                skinning: parts.skinning_transforms(&local).expect("counts agree"),
                blend_weights: Vec::new(),
            }),
            skel_to_mesh: DMat4::IDENTITY,
        };
        let mut m = arm_mesh(SkinningMethod::ClassicLinear);
        m.rest_points = Arc::from(vec![[1.0, 0.0, 0.0]]);
        m.influences = Influences {
            per_point: 2,
            joints: vec![0, 1],
            weights: vec![0.5, 0.5],
        };
        let lbs = m.points(&frame)[0];
        assert!(close(lbs, [0.0, 0.0, 0.0]), "{lbs:?}");
        m.method = SkinningMethod::DualQuaternion;
        let dqs = m.points(&frame)[0];
        assert!(close(dqs, [1.0, 0.0, 0.0]), "{dqs:?}");
    }

    #[test]
    fn dual_quaternion_matches_linear_for_one_joint_with_scale() {
        let j = Joints {
            parents: vec![None],
            inverse_bind: vec![DMat4::IDENTITY],
            rest: Vec::new(),
        };
        let local = [joint_transform(
            DVec3::new(1.0, 2.0, 3.0),
            DQuat::from_rotation_z(0.7),
            DVec3::new(2.0, 1.0, 0.5),
        )];
        let frame = SkinFrame {
            pose: Arc::new(SkelPose {
                skinning: j.skinning_transforms(&local).expect("counts agree"),
                blend_weights: Vec::new(),
            }),
            skel_to_mesh: DMat4::IDENTITY,
        };
        let mut m = arm_mesh(SkinningMethod::ClassicLinear);
        m.rest_points = Arc::from(vec![[0.3, -0.4, 0.9]]);
        m.influences = Influences {
            per_point: 1,
            joints: vec![0],
            weights: vec![1.0],
        };
        let lbs = m.points(&frame)[0];
        m.method = SkinningMethod::DualQuaternion;
        let dqs = m.points(&frame)[0];
        assert!(close(lbs, dqs), "{lbs:?} vs {dqs:?}");
    }

    #[test]
    fn blend_shapes_with_inbetweens_split_the_weight() {
        let shape = BlendShape {
            weight: Some(0),
            offsets: vec![[0.0, 4.0, 0.0]],
            point_indices: Some(vec![1]),
            inbetweens: vec![(0.5, vec![[0.0, 1.0, 0.0]])],
        };
        let at = |w: f32| {
            let mut p = vec![[0.0; 3]; 2];
            shape.apply(w, &mut p);
            p
        };
        assert_eq!(at(0.5)[1], [0.0, 1.0, 0.0], "on the in-between");
        assert_eq!(at(0.25)[1], [0.0, 0.5, 0.0], "between rest and in-between");
        assert_eq!(at(0.75)[1], [0.0, 2.5, 0.0], "between in-between and the shape");
        assert_eq!(at(1.0)[1], [0.0, 4.0, 0.0]);
        // pxr: weights (in-between -1, shape 2), the line through the last pair.
        assert_eq!(at(1.5)[1], [0.0, 7.0, 0.0], "past 1, extrapolated from the last pair");
        assert_eq!(at(1.0)[0], [0.0; 3], "points not named are untouched");
        let plain = BlendShape {
            inbetweens: Vec::new(),
            ..shape.clone()
        };
        let mut p = vec![[0.0; 3]; 2];
        plain.apply(-0.5, &mut p);
        assert_eq!(p[1], [0.0, -2.0, 0.0], "no in-betweens: linear in the weight");
    }
}
