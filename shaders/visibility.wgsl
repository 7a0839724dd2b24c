//! Compute shading of opaque surfaces. Not a module of its own: src/gpu/visibility.rs appends it to
//! shaders/mesh.wgsl (after `enable primitive_index;`), so it shades with mesh.wgsl's functions.
//!
//! The visibility pass rasterizes every opaque draw with `vs_main` and `fs_vis`, which writes only
//! the instance slot and the triangle per MSAA sample (cut-outs test their opacity first, in
//! `fs_vis_cutout`). `cs_shade` then rebuilds the surface of each distinct sample from its
//! triangle (where the view ray through the pixel centre meets the triangle's plane, moved into the
//! triangle where it falls outside; derivatives from the rays through the next pixels) and shades
//! it.
//! On the H100 per-pixel arithmetic runs ~35x faster in compute than as fragment work (GPU.md).

// Keep in sync with `ShadeParams` in src/gpu/layout.rs.
struct ShadeParams {
    // Clip space to world (reversed Z: depth 1 is the near plane), for the view rays.
    clip_to_world: mat4x4<f32>,
    // What a sample that no surface covers holds: the clear colour, premultiplied.
    clear: vec4<f32>,
    // x, y: image size; z: samples per pixel.
    size: vec4<u32>,
}

// Keep in sync with `InstanceRaw` in src/gpu/layout.rs (the instance vertex stream).
struct InstanceData {
    model: mat4x4<f32>,
    normal: array<vec4<f32>, 3>,
    ids: vec4<u32>,
}

@group(2) @binding(0) var vis_instance: texture_multisampled_2d<u32>;
@group(2) @binding(1) var vis_triangle: texture_multisampled_2d<u32>;
// The vertex streams of the forward pass, read as storage (positions and normals tightly packed).
@group(2) @binding(2) var<storage, read> vertex_positions: array<f32>;
@group(2) @binding(3) var<storage, read> vertex_normals: array<f32>;
@group(2) @binding(4) var<storage, read> vertex_colors: array<vec4<f32>>;
@group(2) @binding(5) var<storage, read> vertex_uvs: array<vec2<f32>>;
@group(2) @binding(6) var<storage, read> triangle_indices: array<u32>;
@group(2) @binding(7) var<storage, read> instance_data: array<InstanceData>;
// Per mesh (InstanceRaw.ids.x): x its first index in `triangle_indices`, y its base vertex.
@group(2) @binding(8) var<storage, read> mesh_ranges: array<vec2<u32>>;
@group(2) @binding(9) var<uniform> shade_params: ShadeParams;
@group(2) @binding(10) var shaded: texture_storage_2d<rgba16float, write>;

// The visibility buffer's clear value: no surface.
const NO_INSTANCE: u32 = 0xffffffffu;

struct VisOut {
    @location(0) instance: u32,
    @location(1) triangle: u32,
}

@fragment
fn fs_vis(in: VertexOut, @builtin(primitive_index) triangle: u32) -> VisOut {
    return VisOut(in.slot, triangle);
}

// fs_vis on frames with clipping planes (see `clipped` in mesh.wgsl for why there are two).
@fragment
fn fs_vis_clipped(in: VertexOut, @builtin(primitive_index) triangle: u32) -> VisOut {
    if clipped(in.world) {
        discard;
    }
    return VisOut(in.slot, triangle);
}

@fragment
fn fs_vis_cutout(in: VertexOut, @builtin(primitive_index) triangle: u32) -> VisOut {
    if clipped(in.world) {
        discard;
    }
    let d = derivs_of(in);
    if cut_out(in.ids.z, in.uv, in.color, d) {
        discard;
    }
    return VisOut(in.slot, triangle);
}

fn position_at(i: u32) -> vec3<f32> {
    return vec3<f32>(vertex_positions[3u * i], vertex_positions[3u * i + 1u], vertex_positions[3u * i + 2u]);
}

fn normal_at(i: u32) -> vec3<f32> {
    return vec3<f32>(vertex_normals[3u * i], vertex_normals[3u * i + 1u], vertex_normals[3u * i + 2u]);
}

struct Ray {
    origin: vec3<f32>,
    dir: vec3<f32>,
}

// The view ray through a point of the image (pixels from the top left corner).
fn ray_at(p: vec2<f32>) -> Ray {
    let size = vec2<f32>(shade_params.size.xy);
    let ndc = vec2<f32>(p.x / size.x * 2.0 - 1.0, 1.0 - p.y / size.y * 2.0);
    let near = shade_params.clip_to_world * vec4<f32>(ndc, 1.0, 1.0);
    let mid = shade_params.clip_to_world * vec4<f32>(ndc, 0.5, 1.0);
    let origin = near.xyz / near.w;
    return Ray(origin, mid.xyz / mid.w - origin);
}

// Barycentric weights of b and c (a gets the rest) where the ray meets the plane of a, b, c
// (Moller-Trumbore without the inside test: derivative rays may leave the triangle).
fn plane_hit(r: Ray, a: vec3<f32>, b: vec3<f32>, c: vec3<f32>) -> vec3<f32> {
    let e1 = b - a;
    let e2 = c - a;
    let pv = cross(r.dir, e2);
    let det = dot(e1, pv);
    if det == 0.0 {
        // Seen edge on: any point of it will do.
        return vec3<f32>(1.0 / 3.0);
    }
    let inv = 1.0 / det;
    let tv = r.origin - a;
    let u = dot(tv, pv) * inv;
    let v = dot(r.dir, cross(tv, e1)) * inv;
    return vec3<f32>(1.0 - u - v, u, v);
}

// Barycentric weights moved into the triangle: negative ones to zero, the rest rescaled.
fn clamp_to_triangle(b: vec3<f32>) -> vec3<f32> {
    let c = max(b, vec3<f32>(0.0));
    let sum = c.x + c.y + c.z;
    return select(vec3<f32>(1.0 / 3.0), c / sum, sum > 0.0);
}

// One sample's surface, rebuilt from its triangle and shaded (premultiplied colour).
fn shade_sample(slot: u32, triangle: u32, pixel: vec2<f32>) -> vec4<f32> {
    let inst = instance_data[slot];
    let range = mesh_ranges[inst.ids.x];
    let first = range.x + 3u * triangle;
    let i0 = triangle_indices[first] + range.y;
    let i1 = triangle_indices[first + 1u] + range.y;
    let i2 = triangle_indices[first + 2u] + range.y;
    let normal_matrix = mat3x3<f32>(inst.normal[0].xyz, inst.normal[1].xyz, inst.normal[2].xyz);
    // Placed as vs_main placed them (camera-facing curves and points move off their points).
    let p0 = place(inst.ids.w, position_at(i0), normal_at(i0), vertex_uvs[i0], inst.model, normal_matrix);
    let p1 = place(inst.ids.w, position_at(i1), normal_at(i1), vertex_uvs[i1], inst.model, normal_matrix);
    let p2 = place(inst.ids.w, position_at(i2), normal_at(i2), vertex_uvs[i2], inst.model, normal_matrix);
    let w0 = p0.world.xyz;
    let w1 = p1.world.xyz;
    let w2 = p2.world.xyz;
    let centre = pixel + vec2<f32>(0.5);
    let ray = ray_at(centre);
    // A sample may lie off its triangle's part of the pixel centre: there the weights are taken
    // on the triangle's nearest point (as centroid interpolation does), since extrapolating a
    // tiny or grazing triangle's normals and colours that far sparkles.
    let on_plane = plane_hit(ray, w0, w1, w2);
    let b = clamp_to_triangle(on_plane);
    let bx = plane_hit(ray_at(centre + vec2<f32>(1.0, 0.0)), w0, w1, w2);
    // One pixel down the image: up the framebuffer where it is upside down (globals.viewport.z).
    let by = plane_hit(ray_at(centre + vec2<f32>(0.0, globals.viewport.z)), w0, w1, w2);
    let uv0 = vertex_uvs[i0];
    let uv1 = vertex_uvs[i1];
    let uv2 = vertex_uvs[i2];
    var f: Frag;
    f.world = b.x * w0 + b.y * w1 + b.z * w2;
    f.normal = b.x * p0.normal + b.y * p1.normal + b.z * p2.normal;
    f.color = b.x * vertex_colors[i0] + b.y * vertex_colors[i1] + b.z * vertex_colors[i2];
    f.flags = vec2<f32>(inst.normal[0].w, inst.normal[1].w);
    f.ids = inst.ids;
    f.uv = b.x * uv0 + b.y * uv1 + b.z * uv2;
    // The rasterizer's screen-space derivatives, one pixel right and one down, on the plane.
    let dbx = bx - on_plane;
    let dby = by - on_plane;
    var d: Derivs;
    d.p_dx = dbx.x * w0 + dbx.y * w1 + dbx.z * w2;
    d.p_dy = dby.x * w0 + dby.y * w1 + dby.z * w2;
    d.uv_dx = dbx.x * uv0 + dbx.y * uv1 + dbx.z * uv2;
    d.uv_dy = dby.x * uv0 + dby.y * uv1 + dby.z * uv2;
    // Counter-clockwise in the image is the front (the rasterizer's FrontFace, Cw where the
    // framebuffer is upside down, says the same): the side whose right-handed
    // normal points back along the view ray.
    let front = dot(cross(w1 - w0, w2 - w0), ray.dir) < 0.0;
    return shade(f, surface_at(f, d, front)).color;
}

// One invocation per pixel: each distinct surface among its samples is shaded once (up to four
// are remembered), and the samples are averaged, as the forward pass's resolve does.
@compute @workgroup_size(8, 8)
fn cs_shade(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= shade_params.size.x || id.y >= shade_params.size.y {
        return;
    }
    let p = vec2<i32>(id.xy);
    let samples = shade_params.size.z;
    var keys: array<vec2<u32>, 4>;
    var colors: array<vec4<f32>, 4>;
    var known = 0u;
    var sum = vec4<f32>(0.0);
    for (var s = 0u; s < samples; s++) {
        let key = vec2<u32>(textureLoad(vis_instance, p, i32(s)).r, textureLoad(vis_triangle, p, i32(s)).r);
        var c = shade_params.clear;
        if key.x != NO_INSTANCE {
            var found = false;
            for (var k = 0u; k < known; k++) {
                if all(keys[k] == key) {
                    c = colors[k];
                    found = true;
                    break;
                }
            }
            if !found {
                c = shade_sample(key.x, key.y, vec2<f32>(id.xy));
                if known < 4u {
                    keys[known] = key;
                    colors[known] = c;
                    known++;
                }
            }
        }
        sum += c;
    }
    textureStore(shaded, p, sum / f32(samples));
}
