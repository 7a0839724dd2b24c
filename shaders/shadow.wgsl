//! Shadow maps: depth only, the scene's opaque instances seen from one light.

// One light's world to clip transform (depth 0 near, 1 far). Keep in sync with the shadow
// uniform written by src/gpu/renderer.rs (`Shadows`).
struct ShadowView {
    view_proj: mat4x4<f32>,
}

@group(0) @binding(0) var<uniform> view: ShadowView;

// Locations as in shaders/mesh.wgsl (the same vertex and instance buffers).
struct VertexIn {
    @location(0) position: vec3<f32>,
    @location(3) model0: vec4<f32>,
    @location(4) model1: vec4<f32>,
    @location(5) model2: vec4<f32>,
    @location(6) model3: vec4<f32>,
}

@vertex
fn vs_shadow(v: VertexIn) -> @builtin(position) vec4<f32> {
    let model = mat4x4<f32>(v.model0, v.model1, v.model2, v.model3);
    return view.view_proj * (model * vec4<f32>(v.position, 1.0));
}
