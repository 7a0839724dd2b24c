//! The colour pass: composites the resolved image (premultiplied linear colour, Rgba16Float) with
//! the blended surfaces (weighted blended OIT targets) and, when asked, the dome light behind
//! everything; then writes the 8-bit sRGB image and, when asked, straight-alpha linear f32, both
//! tightly packed, in one pass.
//!
//! A compute pass because per-pixel work is cheap there and slow as fragment work on the H100
//! (shared/GPU.md), and so the host only copies bytes.
//!
//! Motion blur: each shutter sample but the last runs `cs_accumulate`, which composites the same
//! way and adds the premultiplied linear result into an f32 buffer; the last sample's `cs_color`
//! averages that sum with its own composite before encoding, so the images are averaged in
//! linear light at full precision and divided once.

const PI: f32 = 3.14159265358979;

// Keep in sync with `ColorParams` in src/gpu/layout.rs.
struct ColorParams {
    width: u32,
    height: u32,
    // 1: the 8-bit image keeps premultiplied colour (ImageEncoding::UsdRecord); 0: straight alpha.
    premultiplied: u32,
    // 1: also write the straight-alpha linear floats.
    write_linear: u32,
    // 1: sRGB-encode the 8-bit image; 0: write linear values (colour correction disabled).
    srgb: u32,
    // 1: the resolved image is upside down (src/gpu/raster.rs FLIP_Y): row y is the image's
    // height - 1 - y.
    flip_y: u32,
    _pad1: u32,
    _pad2: u32,
    // The drawn pixels (x0, y0, x1, y1), end exclusive: the harness's data window, or the image.
    window: vec4<u32>,
    // What the pixels outside the window hold: the clear colour, premultiplied.
    outside: vec4<f32>,
}

// Keep in sync with `BackgroundParams` in src/gpu/layout.rs.
struct BackgroundParams {
    clip_to_world: mat4x4<f32>,
    dome_from_world: array<vec4<f32>, 3>,
    dome_color: vec4<f32>,
    // x: draw the dome behind, y: composite the OIT targets.
    flags: vec4<u32>,
}

@group(0) @binding(0) var resolved: texture_2d<f32>;
@group(0) @binding(1) var<storage, read_write> rgba8: array<u32>;
@group(0) @binding(2) var<storage, read_write> linear: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: ColorParams;
@group(0) @binding(4) var oit_accum: texture_2d<f32>;
@group(0) @binding(5) var oit_reveal: texture_2d<f32>;
@group(0) @binding(6) var<uniform> background: BackgroundParams;
@group(0) @binding(7) var dome_texture: texture_2d<f32>;
@group(0) @binding(8) var dome_sampler: sampler;
// Motion blur's running sum of premultiplied linear colour, one per output pixel (a 16-byte
// placeholder without motion blur, never read then).
@group(0) @binding(9) var<storage, read_write> accumulated: array<vec4<f32>>;

// Keep in sync with `MotionParams` in src/gpu/layout.rs.
struct MotionParams {
    // Shutter samples of this frame accumulated before this one (always 0 without motion blur).
    before: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

@group(0) @binding(10) var<uniform> motion: MotionParams;

fn encode_srgb(c: vec3<f32>) -> vec3<f32> {
    let l = clamp(c, vec3<f32>(0.0), vec3<f32>(1.0));
    return select(1.055 * pow(l, vec3<f32>(1.0 / 2.4)) - 0.055, l * 12.92, l <= vec3<f32>(0.0031308));
}

// Keep in sync with `latlong_uv` in shaders/mesh.wgsl.
fn latlong_uv(d: vec3<f32>) -> vec2<f32> {
    // The image centre faces +Z, u = 0.25 faces +X (texture::latlong_uv; UsdLux's convention).
    let u = 0.5 - atan2(d.x, d.z) / (2.0 * PI);
    let v = acos(clamp(d.y, -1.0, 1.0)) / PI;
    return vec2<f32>(u, v);
}

fn dome_behind(pixel: vec2<u32>) -> vec3<f32> {
    let ndc = vec2<f32>(
        (f32(pixel.x) + 0.5) / f32(params.width) * 2.0 - 1.0,
        1.0 - (f32(pixel.y) + 0.5) / f32(params.height) * 2.0,
    );
    // Reversed Z: depth 1 is the near plane.
    let near = background.clip_to_world * vec4<f32>(ndc, 1.0, 1.0);
    let mid = background.clip_to_world * vec4<f32>(ndc, 0.5, 1.0);
    let dir = normalize(mid.xyz / mid.w - near.xyz / near.w);
    let m = mat3x3<f32>(background.dome_from_world[0].xyz, background.dome_from_world[1].xyz, background.dome_from_world[2].xyz);
    var c = background.dome_color.rgb;
    if background.dome_color.w > 0.5 {
        c = c * textureSampleLevel(dome_texture, dome_sampler, latlong_uv(normalize(m * dir)), 0.0).rgb;
    }
    return c;
}

// The pixel's place in the image (rows top to bottom), where the framebuffer's may be upside down.
fn image_pixel(id: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(id.x, select(id.y, params.height - 1u - id.y, params.flip_y != 0u));
}

// The frame's premultiplied linear colour at framebuffer pixel `id` (image pixel `at`): the
// opaque image, the blended surfaces over it, the dome behind.
fn composite(id: vec2<u32>, at: vec2<u32>) -> vec4<f32> {
    var c = textureLoad(resolved, vec2<i32>(id), 0);
    // Outside the data window only the clear colour: the render pass's scissor alone is not
    // enough, as lavapipe with 4x MSAA tests it half a pixel early on the left and top edges
    // (the samples right of and below the centre of the column and row before the window pass).
    let w = params.window;
    let inside = all(at >= w.xy) && all(at < w.zw);
    if !inside {
        c = params.outside;
    } else if background.flags.y != 0u {
        // Weighted blended OIT: the weighted average colour of the blended surfaces, covering
        // 1 - reveal of what is behind.
        let accum = textureLoad(oit_accum, vec2<i32>(id), 0);
        let reveal = clamp(textureLoad(oit_reveal, vec2<i32>(id), 0).r, 0.0, 1.0);
        let average = accum.rgb / max(accum.a, 1e-5);
        c = vec4<f32>(average * (1.0 - reveal) + c.rgb * reveal, (1.0 - reveal) + c.a * reveal);
    }
    if background.flags.x != 0u && inside {
        c = vec4<f32>(c.rgb + (1.0 - clamp(c.a, 0.0, 1.0)) * dome_behind(id), 1.0);
    }
    return c;
}

// Motion blur: a shutter sample other than the last adds its composite into `accumulated` (the
// first one writes it, so nothing needs clearing between frames).
@compute @workgroup_size(8, 8)
fn cs_accumulate(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let at = image_pixel(id.xy);
    let i = at.y * params.width + at.x;
    let c = composite(id.xy, at);
    if motion.before == 0u {
        accumulated[i] = c;
    } else {
        accumulated[i] = accumulated[i] + c;
    }
}

@compute @workgroup_size(8, 8)
fn cs_color(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let at = image_pixel(id.xy);
    let i = at.y * params.width + at.x;
    var c = composite(id.xy, at);
    if motion.before > 0u {
        // The shutter's average: the earlier samples' sum and this one, divided once.
        c = (accumulated[i] + c) / f32(motion.before + 1u);
    }
    let a = clamp(c.a, 0.0, 1.0);
    // Nothing covers it: transparent black, whatever rounding left in the colour.
    let straight = select(vec3<f32>(0.0), c.rgb / a, a > 0.0);
    if params.write_linear != 0u {
        linear[i] = vec4<f32>(straight, a);
    }
    let shown = select(straight, c.rgb, params.premultiplied != 0u);
    // pack4x8unorm rounds to nearest; byte 0 (red) is the low byte, as RGBA8 lies in memory.
    let encoded = select(clamp(shown, vec3<f32>(0.0), vec3<f32>(1.0)), encode_srgb(shown), params.srgb != 0u);
    rgba8[i] = pack4x8unorm(vec4<f32>(encoded, a));
}
