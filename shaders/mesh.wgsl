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
    // x = ambient, y = diffuse, z = specular weight, w = specular exponent.
    shading: vec4<f32>,
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
    // InstanceRaw.normal: cofactor columns of the model's 3x3 (w unused).
    @location(7) normal0: vec4<f32>,
    @location(8) normal1: vec4<f32>,
    @location(9) normal2: vec4<f32>,
}

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) color: vec4<f32>,
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
    return out;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    // Towards the viewer: from the fragment to the eye (perspective) or the fixed view axis (ortho).
    let to_eye = globals.eye.xyz - in.world * globals.eye.w;
    let v = normalize(to_eye);
    // Meshes without usable normals fall back to the face normal (derivatives taken in uniform
    // control flow, before any branch), and a degenerate face to facing the viewer, so no NaN
    // ever reaches the target. `select` picks lanes: the unused one may be inf/NaN harmlessly.
    let face = cross(dpdx(in.world), dpdy(in.world));
    let face2 = dot(face, face);
    let fallback = select(v, face * inverseSqrt(face2), face2 > 1e-30);
    let len2 = dot(in.normal, in.normal);
    let n = select(fallback, in.normal * inverseSqrt(len2), len2 > 1e-30);
    // No back-face culling: the normal is flipped towards the viewer (abs of N.V), so single- and
    // double-sided surfaces both shade as their visible side. With the light at the camera,
    // N.L = N.H = N.V. abs() is continuous at silhouettes, where smooth normals can point away.
    let d = min(abs(dot(n, v)), 1.0);
    let s = globals.shading;
    let lit = in.color.rgb * (s.x + s.y * d) + s.z * pow(d, s.w);
    // Premultiplied: the MSAA resolve then averages correctly, and readback divides by alpha again
    // to hand out straight alpha.
    return vec4<f32>(lit * in.color.a, in.color.a);
}
