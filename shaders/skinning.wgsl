// UsdSkel skinning in three compute passes over every skinned mesh at once (src/gpu/skinning.rs
// records them; src/scene/skinning.rs is the CPU reference they follow, operation for operation):
//   cs_points:  one invocation per rest point: blend shapes, then linear or dual-quaternion
//               skinning, into `scratch[point]` (the mesh's own space).
//   cs_normals: one invocation per point: the area-weighted sum of the face normals of the
//               triangles around it (a vertex -> triangles adjacency built once at load, in
//               triangle order, so no float atomics), normalised, into `scratch[points + point]`.
//   cs_vertices: one invocation per drawn vertex: its point's position and normal written into
//               the renderer's vertex buffers.
// Meshes whose frame slot the CPU filled (or that have no pose this frame) are inactive: every
// pass leaves them alone.
//
// Keep the structs in sync with `SkinParams`, `SkinMeshRaw`, `JointRaw` and `MeshFrameRaw` in
// src/gpu/skinning.rs.

struct SkinParams {
    // Points and drawn vertices over all GPU-skinned meshes.
    points: u32,
    vertices: u32,
    // Word offsets of the sections of `words` (see `pack` in src/gpu/skinning.rs).
    point_mesh: u32,
    shape_starts: u32,
    adjacency_starts: u32,
    triangles: u32,
    vertex_entries: u32,
    // Where the blend-shape entries start in `floats` (the rest points come first).
    shape_entries: u32,
}

struct SkinMesh {
    // primvars:skel:geomBindTransform (mesh space -> skeleton space at bind time).
    geom_bind: mat4x4<f32>,
    first_point: u32,
    point_count: u32,
    // Word offset of its (joint, weight bits) pairs in `words`, and pairs per point.
    influences: u32,
    per_point: u32,
    // 1: one set of influences for every point (constant interpolation).
    rigid: u32,
    // 0: classicLinear, 1: dualQuaternion.
    method: u32,
    // Its first sub-shape weight in `weights`.
    first_weight: u32,
    pad: u32,
}

// One joint of one pose this frame.
struct Joint {
    // Skinning transform: skeleton space, bind pose removed.
    skin: mat4x4<f32>,
    // Its rigid part as a unit dual quaternion (xyzw), and its scale/shear (applied first).
    real: vec4<f32>,
    dual: vec4<f32>,
    stretch: mat3x3<f32>,
}

struct MeshFrame {
    // Skeleton space to the mesh's own.
    to_mesh: mat4x4<f32>,
    joint_base: u32,
    joint_count: u32,
    // FLAG_* below.
    flags: u32,
    pad: u32,
}

const FLAG_ACTIVE: u32 = 1u;
const FLAG_POSED: u32 = 2u;
const FLAG_SCALED: u32 = 4u;
const NO_POINT: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: SkinParams;
@group(0) @binding(1) var<storage, read> meshes: array<SkinMesh>;
@group(0) @binding(2) var<storage, read> words: array<u32>;
// Rest points (xyz) first, then blend-shape entries (offset xyz, sub-shape weight index in w as bits).
@group(0) @binding(3) var<storage, read> floats: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> joints: array<Joint>;
@group(0) @binding(5) var<storage, read> frames: array<MeshFrame>;
@group(0) @binding(6) var<storage, read> weights: array<f32>;
// Skinned points [0, points), then point normals [points, 2 points).
@group(0) @binding(7) var<storage, read_write> scratch: array<vec4<f32>>;
// The renderer's vertex buffers (tightly packed xyz).
@group(0) @binding(8) var<storage, read_write> positions: array<f32>;
@group(0) @binding(9) var<storage, read_write> normals: array<f32>;

const GROUP: u32 = 64u;

// Invocation index over a 2D dispatch (more than 65,535 groups of work go in rows).
fn index_of(id: vec3<u32>, groups: vec3<u32>) -> u32 {
    return id.x + id.y * groups.x * GROUP;
}

fn is_active(mesh: u32) -> bool {
    return (frames[mesh].flags & FLAG_ACTIVE) != 0u;
}

// Quaternion (xyzw) rotating v, as glam's `DQuat * DVec3` (unit quaternions).
fn rotate(q: vec4<f32>, v: vec3<f32>) -> vec3<f32> {
    let b = q.xyz;
    return v * (q.w * q.w - dot(b, b)) + b * (dot(v, b) * 2.0) + cross(b, v) * (q.w * 2.0);
}

// Linear blend skinning: the weighted sum of the joints' matrices (zero weights and joints the
// pose lacks skipped; weights as authored), then skeleton to mesh. No usable influence: the point
// stays where it is.
fn skin_linear(m: SkinMesh, f: MeshFrame, first: u32, p: vec3<f32>) -> vec3<f32> {
    var acc = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var found_any = false;
    for (var k = 0u; k < m.per_point; k++) {
        let j = words[first + 2u * k];
        let w = bitcast<f32>(words[first + 2u * k + 1u]);
        if w == 0.0 || j >= f.joint_count {
            continue;
        }
        acc += joints[f.joint_base + j].skin * w;
        found_any = true;
    }
    if !found_any {
        return p;
    }
    return (f.to_mesh * (acc * (m.geom_bind * vec4<f32>(p, 1.0)))).xyz;
}

// Dual-quaternion skinning, as UsdSkel's: each joint's dual quaternion flipped to the hemisphere
// of the point's heaviest joint (the first of equal ones), summed by weight and normalised; scale
// and shear blended linearly and applied first when any joint has them.
fn skin_dual_quaternion(m: SkinMesh, f: MeshFrame, first: u32, rest: vec3<f32>) -> vec3<f32> {
    let p = (m.geom_bind * vec4<f32>(rest, 1.0)).xyz;
    var pivot = vec4<f32>(0.0);
    var best = 0.0;
    var found = false;
    for (var k = 0u; k < m.per_point; k++) {
        let j = words[first + 2u * k];
        let w = bitcast<f32>(words[first + 2u * k + 1u]);
        if j >= f.joint_count {
            continue;
        }
        if !found || w > best {
            pivot = joints[f.joint_base + j].real;
            best = w;
            found = true;
        }
    }
    if !found {
        return (f.to_mesh * vec4<f32>(p, 1.0)).xyz;
    }
    let scaled = (f.flags & FLAG_SCALED) != 0u;
    var real = vec4<f32>(0.0);
    var dual = vec4<f32>(0.0);
    var stretch = vec3<f32>(0.0);
    for (var k = 0u; k < m.per_point; k++) {
        let j = words[first + 2u * k];
        var w = bitcast<f32>(words[first + 2u * k + 1u]);
        if j >= f.joint_count || w == 0.0 {
            continue;
        }
        let joint = joints[f.joint_base + j];
        if scaled {
            stretch += joint.stretch * p * w;
        }
        if dot(joint.real, pivot) < 0.0 {
            w = -w;
        }
        real += joint.real * w;
        dual += joint.dual * w;
    }
    var q = p;
    if scaled {
        q = stretch;
    }
    let len = length(real);
    // Not finite: `len * 0.0` is NaN (never equal to 0) for infinities and NaN.
    if len < 1e-10 || len * 0.0 != 0.0 {
        return (f.to_mesh * vec4<f32>(q, 1.0)).xyz;
    }
    real = real / len;
    dual = dual / len;
    dual = dual - real * dot(real, dual);
    // Translation: 2 * dual * conjugate(real), its vector part.
    let r = -real.xyz;
    let t = 2.0 * (dual.w * r + real.w * dual.xyz + cross(dual.xyz, r));
    return (f.to_mesh * vec4<f32>(rotate(real, q) + t, 1.0)).xyz;
}

@compute @workgroup_size(64)
fn cs_points(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let g = index_of(id, groups);
    if g >= params.points {
        return;
    }
    let mesh = words[params.point_mesh + g];
    if !is_active(mesh) {
        return;
    }
    let m = meshes[mesh];
    let f = frames[mesh];
    // Blend shapes, in the mesh's space (weights already split between in-betweens on the CPU).
    var p = floats[g].xyz;
    let shapes_end = words[params.shape_starts + g + 1u];
    for (var e = words[params.shape_starts + g]; e < shapes_end; e++) {
        let entry = floats[params.shape_entries + e];
        p += entry.xyz * weights[m.first_weight + bitcast<u32>(entry.w)];
    }
    if (f.flags & FLAG_POSED) != 0u {
        var first = m.influences;
        if m.rigid == 0u {
            first += 2u * m.per_point * (g - m.first_point);
        }
        if m.method == 1u {
            p = skin_dual_quaternion(m, f, first, p);
        } else {
            p = skin_linear(m, f, first, p);
        }
    }
    scratch[g] = vec4<f32>(p, 1.0);
}

@compute @workgroup_size(64)
fn cs_normals(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let g = index_of(id, groups);
    if g >= params.points {
        return;
    }
    if !is_active(words[params.point_mesh + g]) {
        return;
    }
    var n = vec3<f32>(0.0);
    let end = words[params.adjacency_starts + g + 1u];
    for (var e = words[params.adjacency_starts + g]; e < end; e++) {
        let t = params.triangles + 3u * words[e];
        let a = scratch[words[t]].xyz;
        let b = scratch[words[t + 1u]].xyz;
        let c = scratch[words[t + 2u]].xyz;
        // Its length is twice the area: area weighting for free.
        n += cross(b - a, c - a);
    }
    // As glam's normalize_or(Z): a zero or non-finite length gives +Z.
    let len = length(n);
    var unit = vec3<f32>(0.0, 0.0, 1.0);
    if len > 0.0 && len * 0.0 == 0.0 {
        unit = n * (1.0 / len);
    }
    scratch[params.points + g] = vec4<f32>(unit, 0.0);
}

@compute @workgroup_size(64)
fn cs_vertices(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let v = index_of(id, groups);
    if v >= params.vertices {
        return;
    }
    let e = params.vertex_entries + 3u * v;
    if !is_active(words[e + 2u]) {
        return;
    }
    let dest = 3u * words[e];
    let point = words[e + 1u];
    var n = vec3<f32>(0.0, 0.0, 1.0);
    if point != NO_POINT {
        // A vertex whose point is missing keeps its load-time position, as the CPU path does.
        let p = scratch[point].xyz;
        positions[dest] = p.x;
        positions[dest + 1u] = p.y;
        positions[dest + 2u] = p.z;
        n = scratch[params.points + point].xyz;
    }
    normals[dest] = n.x;
    normals[dest + 1u] = n.y;
    normals[dest + 2u] = n.z;
}
