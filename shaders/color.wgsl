//! High-precision output: turns the resolved, premultiplied linear colour (Rgba16Float) into
//! straight-alpha linear f32 and the matching 8-bit sRGB image, both tightly packed, in one pass.
//!
//! A compute pass because per-pixel work is cheap there and slow as fragment work on the H100
//! (shared/GPU.md), and so the host only copies bytes.

// Keep in sync with `ColorParams` in src/gpu/layout.rs.
struct ColorParams {
    width: u32,
    height: u32,
    // 1: the 8-bit image keeps premultiplied colour (ImageEncoding::UsdRecord); 0: straight alpha.
    premultiplied: u32,
    // 1: also write the straight-alpha linear floats.
    write_linear: u32,
}

@group(0) @binding(0) var resolved: texture_2d<f32>;
@group(0) @binding(1) var<storage, read_write> rgba8: array<u32>;
@group(0) @binding(2) var<storage, read_write> linear: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: ColorParams;

fn encode_srgb(c: vec3<f32>) -> vec3<f32> {
    let l = clamp(c, vec3<f32>(0.0), vec3<f32>(1.0));
    return select(1.055 * pow(l, vec3<f32>(1.0 / 2.4)) - 0.055, l * 12.92, l <= vec3<f32>(0.0031308));
}

@compute @workgroup_size(8, 8)
fn cs_color(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let i = id.y * params.width + id.x;
    let c = textureLoad(resolved, vec2<i32>(id.xy), 0);
    let a = clamp(c.a, 0.0, 1.0);
    // Nothing covers it: transparent black, whatever rounding left in the colour.
    let straight = select(vec3<f32>(0.0), c.rgb / a, a > 0.0);
    if params.write_linear != 0u {
        linear[i] = vec4<f32>(straight, a);
    }
    let shown = select(straight, c.rgb, params.premultiplied != 0u);
    // pack4x8unorm rounds to nearest; byte 0 (red) is the low byte, as RGBA8 lies in memory.
    rgba8[i] = pack4x8unorm(vec4<f32>(encode_srgb(shown), a));
}
