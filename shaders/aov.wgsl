//! AOV gather: reads sample 0 of the multisampled AOV attachments (ids must never be averaged, so
//! they are not resolved) and writes each AOV tightly packed into its own buffer.
//!
//! Written for multisampled attachments; the renderer swaps `texture_multisampled_2d` for
//! `texture_2d` when it renders without MSAA (the third `textureLoad` argument is then the mip
//! level, also 0).

// Keep in sync with `AovParams` in src/gpu/layout.rs.
struct AovParams {
    width: u32,
    height: u32,
    // Bit 0 depth, bit 1 normal, bit 2 primId, bit 3 instanceId: which outputs are wanted (the
    // others are bound to 16-byte placeholders).
    mask: u32,
    // 1: the attachments are upside down (src/gpu/raster.rs FLIP_Y): row y is the image's
    // height - 1 - y.
    flip_y: u32,
}

@group(0) @binding(0) var depth_in: texture_multisampled_2d<f32>;
@group(0) @binding(1) var normal_in: texture_multisampled_2d<f32>;
@group(0) @binding(2) var prim_in: texture_multisampled_2d<u32>;
@group(0) @binding(3) var instance_in: texture_multisampled_2d<u32>;
// f32 bits: written as u32 so the background's +inf needs no float literal.
@group(0) @binding(4) var<storage, read_write> depth_out: array<u32>;
@group(0) @binding(5) var<storage, read_write> normal_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> prim_out: array<u32>;
@group(0) @binding(7) var<storage, read_write> instance_out: array<u32>;
@group(0) @binding(8) var<uniform> params: AovParams;

@compute @workgroup_size(8, 8)
fn cs_aov(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let i = select(id.y, params.height - 1u - id.y, params.flip_y != 0u) * params.width + id.x;
    let p = vec2<i32>(id.xy);
    let instance = textureLoad(instance_in, p, 0).x;
    // The id attachments are cleared to u32::MAX: nothing drawn there.
    let background = instance == 0xffffffffu;
    if (params.mask & 1u) != 0u {
        // Background depth is +inf (0x7f800000 is its bit pattern).
        depth_out[i] = select(bitcast<u32>(textureLoad(depth_in, p, 0).x), 0x7f800000u, background);
    }
    if (params.mask & 2u) != 0u {
        let n = select(textureLoad(normal_in, p, 0).xyz, vec3<f32>(0.0), background);
        normal_out[3u * i] = n.x;
        normal_out[3u * i + 1u] = n.y;
        normal_out[3u * i + 2u] = n.z;
    }
    if (params.mask & 4u) != 0u {
        prim_out[i] = textureLoad(prim_in, p, 0).x;
    }
    if (params.mask & 8u) != 0u {
        instance_out[i] = instance;
    }
}
