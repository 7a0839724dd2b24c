//! The mesh pass: transforms instanced geometry and shades it with a camera headlight.
//!
//! Kept thin on purpose: fragment work is the slow path on the H100 (see shared/GPU.md), so the
//! fragment stage does one normalize, one dot and one pow.

// Keep in sync with `Globals` in src/gpu/layout.rs.
struct Globals {
    // World to clip space, reversed Z (depth 1 at near, 0 at far).
    view_proj: mat4x4<f32>,
    // xyz = camera position, w = 1 (perspective); xyz = unit vector towards the camera, w = 0 (orthographic).
    eye: vec4<f32>,
    // x = ambient (added, untinted), y = diffuse, z = specular weight, w = specular exponent.
    shading: vec4<f32>,
    // Third row of world to camera: dot(view_z.xyz, p) + view_z.w is p's camera-space z (the
    // depth AOV is its negation: distance in front of the camera along -Z).
    view_z: vec4<f32>,
}

@group(0) @binding(0) var<uniform> globals: Globals;

// Locations keep in sync with POSITION_LOCATION.. and INSTANCE_ATTRIBUTES in src/gpu/layout.rs.
struct VertexIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) color: vec4<f32>,
    // InstanceRaw.model, by column.
    @location(3) model0: vec4<f32>,
    @location(4) model1: vec4<f32>,
    @location(5) model2: vec4<f32>,
    @location(6) model3: vec4<f32>,
    // InstanceRaw.normal: |det| * inverse-transpose columns of the model's 3x3; normal0.w = 1 for a
    // double-sided mesh, normal1.w = 1 for a mirroring transform.
    @location(7) normal0: vec4<f32>,
    @location(8) normal1: vec4<f32>,
    @location(9) normal2: vec4<f32>,
    // InstanceRaw.ids: index in Scene::meshes, index in Scene::instances (the id AOVs).
    @location(10) ids: vec2<u32>,
}

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) color: vec4<f32>,
    // x: double-sided, y: mirrored (both 0 or 1, the same for the whole instance).
    @location(3) @interpolate(flat) flags: vec2<f32>,
    @location(4) @interpolate(flat) ids: vec2<u32>,
}

@vertex
fn vs_main(v: VertexIn) -> VertexOut {
    let model = mat4x4<f32>(v.model0, v.model1, v.model2, v.model3);
    let normal_matrix = mat3x3<f32>(v.normal0.xyz, v.normal1.xyz, v.normal2.xyz);
    let world = model * vec4<f32>(v.position, 1.0);
    var out: VertexOut;
    out.clip = globals.view_proj * world;
    out.world = world.xyz;
    out.normal = normal_matrix * v.normal;
    out.color = v.color;
    out.flags = vec2<f32>(v.normal0.w, v.normal1.w);
    out.ids = v.ids;
    return out;
}

// A shaded fragment: premultiplied colour and the world-space shading normal.
struct Shaded {
    color: vec4<f32>,
    normal: vec3<f32>,
}

fn shade(in: VertexOut, front_facing: bool) -> Shaded {
    // Towards the viewer (and the headlight): from the fragment to the eye (perspective) or the
    // fixed view axis (orthographic).
    let v = normalize(globals.eye.xyz - in.world * globals.eye.w);
    // Whether we see the side the mesh calls its front (CCW); a mirroring transform turns it CW.
    let facing = front_facing != (in.flags.y > 0.5);
    // Meshes without usable normals fall back to the face normal, oriented as an authored normal
    // would be (towards the front side); a degenerate face falls back to facing the viewer.
    // Derivatives are taken in uniform control flow, and `select` picks lanes, so the unused lane
    // may be inf/NaN harmlessly.
    let face = cross(dpdx(in.world), dpdy(in.world));
    let face2 = dot(face, face);
    var toward = select(v, face * inverseSqrt(face2), face2 > 1e-30);
    toward = select(-toward, toward, dot(toward, v) >= 0.0);
    let fallback = select(-toward, toward, facing);
    let len2 = dot(in.normal, in.normal);
    let authored = select(fallback, in.normal * inverseSqrt(len2), len2 > 1e-30);
    // No back-face culling, and Storm's rule for the back side (as usdrecord shows it): a
    // double-sided mesh flips its normal towards the viewer, so both sides shade alike; a
    // single-sided mesh keeps it, so its back side gets the ambient term only (dark grey).
    let n = select(authored, -authored, in.flags.x > 0.5 && !facing);
    // The light sits at the camera, so N.L = N.H = N.V.
    let d = clamp(dot(n, v), 0.0, 1.0);
    let s = globals.shading;
    let lit = s.x + in.color.rgb * (s.y * d) + s.z * pow(d, s.w);
    // Premultiplied: the MSAA resolve then averages correctly; readback divides by alpha again
    // where straight alpha is wanted.
    return Shaded(vec4<f32>(lit * in.color.a, in.color.a), n);
}

@fragment
fn fs_main(in: VertexOut, @builtin(front_facing) front_facing: bool) -> @location(0) vec4<f32> {
    return shade(in, front_facing).color;
}

// The colour and the AOV attachments (see AOV_FORMATS in src/gpu/renderer.rs). The AOV targets
// are multisampled and never resolved: shaders/aov.wgsl reads sample 0, so ids are never averaged.
struct AovOut {
    @location(0) color: vec4<f32>,
    // Camera-space distance along -Z, scene units.
    @location(1) depth: f32,
    // World-space shading normal (xyz).
    @location(2) normal: vec4<f32>,
    @location(3) prim_id: u32,
    @location(4) instance_id: u32,
}

@fragment
fn fs_aov(in: VertexOut, @builtin(front_facing) front_facing: bool) -> AovOut {
    let shaded = shade(in, front_facing);
    var out: AovOut;
    out.color = shaded.color;
    out.depth = -(dot(globals.view_z.xyz, in.world) + globals.view_z.w);
    out.normal = vec4<f32>(shaded.normal, 0.0);
    out.prim_id = in.ids.x;
    out.instance_id = in.ids.y;
    return out;
}
