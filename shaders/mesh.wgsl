//! The mesh pass: transforms instanced geometry and shades it as Storm does: UsdPreviewSurface
//! (GGX specular, Lambert diffuse, clearcoat, textures, normal maps, cut-outs) or, for meshes with
//! no usable material, displayColor under Storm's fallback lighting; lit by the frame's lights
//! (UsdLux lights, the headlight, or the test harness's rig) and a dome light.
//!
//! The shading functions serve two paths. Forward: the fragment entry points below, one evaluation
//! per pixel (MSAA samples share it). Compute: shaders/visibility.wgsl, appended to this file,
//! rasterizes a visibility buffer and shades it in a compute pass with the same functions
//! (src/gpu/visibility.rs). docs/design.md ("Shading") gives the H100 measurements behind both.

const PI: f32 = 3.14159265358979;

// False in the pipeline for materials without textures: the texture paths then compile away,
// which keeps the shader small (fragment work is the expensive kind on the H100).
override TEXTURED: bool = true;

// False in the pipelines of a scene with no camera-facing curves or points: vertices are then
// placed by their model matrix alone, without the facing code, which the H200's vertex work pays
// for even where it is not taken (teapotScene 5.55 -> 6.02 ms a frame, the vehicles 39 -> 61 ms).
override CAMERA_FACING: bool = true;

// True in the compute shading pass: its group 1 holds the scene's texture table (every texture and
// wrap pair any material reads, `LookupRaw.info.w` naming the entry) instead of one material's
// textures by input.
override TABLE_SLOTS: bool = false;

// Keep in sync with `Globals` in src/gpu/layout.rs.
struct Globals {
    // World to clip space, reversed Z (depth 1 at near, 0 at far).
    view_proj: mat4x4<f32>,
    // xyz = camera position, w = 1 (perspective); xyz = unit vector towards the camera, w = 0 (orthographic).
    eye: vec4<f32>,
    // displayColor fallback: x = ambient (added, untinted), y = diffuse, z = specular weight,
    // w = specular exponent.
    shading: vec4<f32>,
    // Third row of world to camera: dot(view_z.xyz, p) + view_z.w is p's camera-space z (the
    // depth AOV is its negation); view_z.xyz is also the camera's backward axis.
    view_z: vec4<f32>,
    // x = lights, y = 1 unlit, z = 1 dome, w = dome mip levels.
    lighting: vec4<u32>,
    // rgb = dome radiance scale, w = 1 when the dome has a texture.
    dome_color: vec4<f32>,
    // World to dome space, by column.
    dome_from_world: array<vec4<f32>, 3>,
    // Dome irradiance / pi as 9 SH coefficients (rgb).
    dome_sh: array<vec4<f32>, 9>,
    // The camera's clipping planes in world space (MAX_CLIP_PLANES in src/scene/camera.rs).
    clip_planes: array<vec4<f32>, 8>,
    // x = number of clipping planes.
    clip_count: vec4<u32>,
    // First and second rows of world to camera: xyz are the camera's right and up axes.
    view_x: vec4<f32>,
    view_y: vec4<f32>,
    // xy = the image size in pixels; z = which way one framebuffer row down runs in the image (1,
    // or -1 where the main pass draws upside down: src/gpu/raster.rs FLIP_Y).
    viewport: vec4<f32>,
}

// Keep in sync with `LightRaw` in src/gpu/layout.rs.
struct LightRaw {
    // xyz world position (w = 1) or direction towards the light (w = 0).
    position: vec4<f32>,
    // rgb diffuse radiance, w specular multiplier.
    color: vec4<f32>,
    // xyz emission axis, w cos(outer cone half-angle) or -2 without a cone.
    axis: vec4<f32>,
    // x cos(inner), y focus, z casts shadows, w shadow map layer + 1 (0: none this frame).
    cone: vec4<f32>,
}

// Keep in sync with `LookupRaw` in src/gpu/layout.rs.
struct LookupRaw {
    scale: vec4<f32>,
    bias: vec4<f32>,
    fallback: vec4<f32>,
    // Rows of the st transform (xyz); w = 1: that axis wraps to black.
    st_s: vec4<f32>,
    st_t: vec4<f32>,
    // x channel (0..3 r g b a, 4 rgb), y/z UDIM columns/rows, w its entry in the texture table.
    info: vec4<u32>,
}

// Keep in sync with `MaterialRaw` in src/gpu/layout.rs. Inputs, by index: 0 diffuseColor,
// 1 emissiveColor, 2 specularColor, 3 metallic, 4 roughness, 5 clearcoat, 6 clearcoatRoughness,
// 7 opacity, 8 opacityThreshold, 9 ior, 10 normal, 11 occlusion.
struct MaterialRaw {
    values: array<vec4<f32>, 12>,
    // 0 constant, 1 texture, 2 vertex colour, 3 missing texture (fallback).
    kinds: array<vec4<u32>, 3>,
    // x model (0 displayColor, 1 PreviewSurface), y useSpecularWorkflow, z normal map.
    flags: vec4<u32>,
    lookups: array<LookupRaw, 12>,
}

@group(0) @binding(0) var<uniform> globals: Globals;
@group(0) @binding(1) var<storage, read> lights: array<LightRaw>;
@group(0) @binding(2) var<storage, read> materials: array<MaterialRaw>;
@group(0) @binding(3) var dome_texture: texture_2d<f32>;
@group(0) @binding(4) var dome_sampler: sampler;
// Shadow maps of the lights that cast them (depth 0 near, 1 far), and their world to clip
// transforms, by layer.
@group(0) @binding(5) var<storage, read> shadow_views: array<mat4x4<f32>>;
@group(0) @binding(6) var shadow_maps: texture_depth_2d_array;
@group(0) @binding(7) var shadow_sampler: sampler_comparison;

// The material's textures, one per input (a 1x1 placeholder where unused), each with the sampler
// of its wrap modes.
@group(1) @binding(0) var t0: texture_2d<f32>;
@group(1) @binding(1) var t1: texture_2d<f32>;
@group(1) @binding(2) var t2: texture_2d<f32>;
@group(1) @binding(3) var t3: texture_2d<f32>;
@group(1) @binding(4) var t4: texture_2d<f32>;
@group(1) @binding(5) var t5: texture_2d<f32>;
@group(1) @binding(6) var t6: texture_2d<f32>;
@group(1) @binding(7) var t7: texture_2d<f32>;
@group(1) @binding(8) var t8: texture_2d<f32>;
@group(1) @binding(9) var t9: texture_2d<f32>;
@group(1) @binding(10) var t10: texture_2d<f32>;
@group(1) @binding(11) var t11: texture_2d<f32>;
@group(1) @binding(12) var s0: sampler;
@group(1) @binding(13) var s1: sampler;
@group(1) @binding(14) var s2: sampler;
@group(1) @binding(15) var s3: sampler;
@group(1) @binding(16) var s4: sampler;
@group(1) @binding(17) var s5: sampler;
@group(1) @binding(18) var s6: sampler;
@group(1) @binding(19) var s7: sampler;
@group(1) @binding(20) var s8: sampler;
@group(1) @binding(21) var s9: sampler;
@group(1) @binding(22) var s10: sampler;
@group(1) @binding(23) var s11: sampler;

// Locations keep in sync with POSITION_LOCATION.., INSTANCE_ATTRIBUTES and UV_LOCATION in
// src/gpu/layout.rs.
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
    // InstanceRaw.ids: mesh, instance (the id AOVs), material.
    @location(10) ids: vec4<u32>,
    @location(11) uv: vec2<f32>,
    // Its slot in the instance buffer (the visibility buffer names it).
    @builtin(instance_index) slot: u32,
}

struct VertexOut {
    @invariant @builtin(position) clip: vec4<f32>,
    @location(0) world: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) color: vec4<f32>,
    // x: double-sided, y: mirrored (both 0 or 1, the same for the whole instance).
    @location(3) @interpolate(flat) flags: vec2<f32>,
    @location(4) @interpolate(flat) ids: vec4<u32>,
    @location(5) uv: vec2<f32>,
    @location(6) @interpolate(flat) slot: u32,
}

// A point of a surface, as either path finds it: interpolated by the rasterizer (fragment) or
// rebuilt from its triangle (compute).
struct Frag {
    world: vec3<f32>,
    normal: vec3<f32>,
    color: vec4<f32>,
    // x: double-sided, y: mirrored.
    flags: vec2<f32>,
    // mesh, instance, material, spare (InstanceRaw.ids).
    ids: vec4<u32>,
    uv: vec2<f32>,
}

fn frag_of(in: VertexOut) -> Frag {
    return Frag(in.world, in.normal, in.color, in.flags, in.ids, in.uv);
}

// Whether the camera's clipping planes remove the surface point at `world` (each keeps the points
// where dot(plane, (p, 1)) >= 0, as gl_ClipDistance). Every fragment stage that writes a visible
// surface asks first; with no planes (the count is uniform and 0) the loop does not run. A shader
// that may discard loses early depth testing where it writes depth, so the entry points that had
// no discard before (fs_display, fs_aov_display, fs_vis) keep a twin that does not clip
// (`*_clipped` clips), used on frames without planes: on the H200 the bundled scene went from 2.44
// to 2.74 ms of GPU time with the test in fs_display itself.
fn clipped(world: vec3<f32>) -> bool {
    let count = min(globals.clip_count.x, 8u);
    for (var i = 0u; i < count; i++) {
        if dot(globals.clip_planes[i], vec4<f32>(world, 1.0)) < 0.0 {
            return true;
        }
    }
    return false;
}

// How a mesh's vertices face the camera (InstanceRaw.ids.w; keep in sync with `scene::Facing`).
const FACING_SURFACE: u32 = 0u;
const FACING_RIBBON: u32 = 1u;
const FACING_PIXEL_RIBBON: u32 = 2u;
const FACING_SPRITE: u32 = 3u;
const FACING_PIXEL_SPRITE: u32 = 4u;

struct Placed {
    // Homogeneous: a projective model matrix (a USD matrix op may have a last column other than
    // 0,0,0,1) keeps its w, which the rasterizer divides by after clipping.
    world: vec4<f32>,
    normal: vec3<f32>,
}

// World units per pixel at `world` (perspective: grows with the distance; orthographic: constant).
fn world_per_pixel(world: vec3<f32>, up: vec3<f32>) -> f32 {
    let clip_w = (globals.view_proj * vec4<f32>(world, 1.0)).w;
    let per_unit = abs((globals.view_proj * vec4<f32>(up, 0.0)).y);
    return 2.0 * clip_w / max(per_unit * globals.viewport.y, 1e-20);
}

// A vertex carried to world space. Surfaces are placed by their model matrix. The other modes face
// the camera, as Storm draws curves and points: `position` is a point of the curve (or the
// point's centre) and the offset from it: across the curve in `uv.x` (`normal` is the curve's
// tangent), or in the image plane in `normal.xy` for a sprite (a per-vertex stream that is
// updated per frame, so animated `widths` follow), in scene units scaled by the instance's
// average scale, or in pixels for the `PIXEL` modes. The normal placed is the surface's: round
// across a ribbon (sideways at its edges, towards the camera on the curve), towards the camera
// on a sprite.
fn place(mode: u32, position: vec3<f32>, normal: vec3<f32>, uv: vec2<f32>, model: mat4x4<f32>, normal_matrix: mat3x3<f32>) -> Placed {
    let placed = model * vec4<f32>(position, 1.0);
    if !CAMERA_FACING || mode == FACING_SURFACE {
        return Placed(placed, normal_matrix * normal);
    }
    let centre = placed.xyz;
    let to_eye = select(globals.eye.xyz, globals.eye.xyz - centre, globals.eye.w > 0.5);
    let view = normalize(to_eye);
    let right = normalize(globals.view_x.xyz);
    let up = normalize(globals.view_y.xyz);
    let m3 = mat3x3<f32>(model[0].xyz, model[1].xyz, model[2].xyz);
    // Storm's average scale of a transform: |M (1,1,1)/sqrt(3)|.
    var scale = length(m3 * vec3<f32>(0.57735027));
    if mode == FACING_PIXEL_RIBBON || mode == FACING_PIXEL_SPRITE {
        scale = world_per_pixel(centre, up);
    }
    if mode == FACING_SPRITE || mode == FACING_PIXEL_SPRITE {
        // Storm clamps gl_PointSize to [0.45, 100] pixels (HD_GL_POINT_SIZE_MIN/MAX).
        let per_pixel = select(world_per_pixel(centre, up), scale, mode == FACING_PIXEL_SPRITE);
        let offset = normal.xy;
        let diameter = 2.0 * length(offset) * scale / max(per_pixel, 1e-20);
        if diameter > 0.0 {
            scale *= clamp(diameter, 0.45, 100.0) / diameter;
        }
        return Placed(vec4<f32>(centre + (right * offset.x + up * offset.y) * scale, 1.0), view);
    }
    let tangent = m3 * normal;
    var side = cross(tangent, view);
    if dot(side, side) < 1e-24 {
        side = right;
    }
    side = normalize(side);
    let offset = uv.x * scale;
    // Round across: a vertex on the curve faces the camera, the edges face sideways.
    let n = select(view, side * sign(uv.x), abs(uv.x) > 0.0);
    return Placed(vec4<f32>(centre + side * offset, 1.0), n);
}

@vertex
fn vs_main(v: VertexIn) -> VertexOut {
    let model = mat4x4<f32>(v.model0, v.model1, v.model2, v.model3);
    let normal_matrix = mat3x3<f32>(v.normal0.xyz, v.normal1.xyz, v.normal2.xyz);
    let placed = place(v.ids.w, v.position, v.normal, v.uv, model, normal_matrix);
    let world = placed.world;
    var out: VertexOut;
    out.clip = globals.view_proj * world;
    out.world = world.xyz;
    out.normal = placed.normal;
    out.color = v.color;
    out.flags = vec2<f32>(v.normal0.w, v.normal1.w);
    out.ids = v.ids;
    out.uv = v.uv;
    out.slot = v.slot;
    return out;
}

// Screen-space derivatives, taken once in uniform control flow: texture lookups inside
// material-dependent branches use them (textureSampleGrad), and normal maps build their frame.
struct Derivs {
    uv_dx: vec2<f32>,
    uv_dy: vec2<f32>,
    p_dx: vec3<f32>,
    p_dy: vec3<f32>,
}

fn sample_slot(slot: u32, uv: vec2<f32>, dx: vec2<f32>, dy: vec2<f32>) -> vec4<f32> {
    switch slot {
        case 0u: { return textureSampleGrad(t0, s0, uv, dx, dy); }
        case 1u: { return textureSampleGrad(t1, s1, uv, dx, dy); }
        case 2u: { return textureSampleGrad(t2, s2, uv, dx, dy); }
        case 3u: { return textureSampleGrad(t3, s3, uv, dx, dy); }
        case 4u: { return textureSampleGrad(t4, s4, uv, dx, dy); }
        case 5u: { return textureSampleGrad(t5, s5, uv, dx, dy); }
        case 6u: { return textureSampleGrad(t6, s6, uv, dx, dy); }
        case 7u: { return textureSampleGrad(t7, s7, uv, dx, dy); }
        case 8u: { return textureSampleGrad(t8, s8, uv, dx, dy); }
        case 9u: { return textureSampleGrad(t9, s9, uv, dx, dy); }
        case 10u: { return textureSampleGrad(t10, s10, uv, dx, dy); }
        default: { return textureSampleGrad(t11, s11, uv, dx, dy); }
    }
}

fn pick_channel(c: vec4<f32>, channel: u32) -> vec4<f32> {
    switch channel {
        case 0u: { return vec4<f32>(c.r); }
        case 1u: { return vec4<f32>(c.g); }
        case 2u: { return vec4<f32>(c.b); }
        case 3u: { return vec4<f32>(c.a); }
        default: { return vec4<f32>(c.rgb, 1.0); }
    }
}

// UsdUVTexture: st through the UsdTransform2d, wrap, sample, scale and bias, pick the output.
fn lookup(m: u32, slot: u32, st: vec2<f32>, d: Derivs) -> vec4<f32> {
    let l = materials[m].lookups[slot];
    let bound = select(slot, l.info.w, TABLE_SLOTS);
    let uv = vec2<f32>(dot(l.st_s.xyz, vec3<f32>(st, 1.0)), dot(l.st_t.xyz, vec3<f32>(st, 1.0)));
    let dx = vec2<f32>(dot(l.st_s.xy, d.uv_dx), dot(l.st_t.xy, d.uv_dx));
    let dy = vec2<f32>(dot(l.st_s.xy, d.uv_dy), dot(l.st_t.xy, d.uv_dy));
    let outside_s = l.st_s.w > 0.5 && (uv.x < 0.0 || uv.x > 1.0);
    let outside_t = l.st_t.w > 0.5 && (uv.y < 0.0 || uv.y > 1.0);
    // USD's t runs up the image, texture rows run down; a UDIM atlas holds tile row 0 at the
    // bottom, like a single image.
    let tiles = vec2<f32>(f32(max(l.info.y, 1u)), f32(max(l.info.z, 1u)));
    let at = vec2<f32>(uv.x / tiles.x, 1.0 - uv.y / tiles.y);
    var texel = sample_slot(bound, at, dx / tiles, dy / tiles);
    if outside_s || outside_t {
        texel = vec4<f32>(0.0);
    }
    return pick_channel(texel * l.scale + l.bias, l.info.x);
}

fn input_kind(m: u32, i: u32) -> u32 {
    return materials[m].kinds[i / 4u][i % 4u];
}

fn input4(m: u32, i: u32, st: vec2<f32>, vcolor: vec4<f32>, d: Derivs) -> vec4<f32> {
    switch input_kind(m, i) {
        case 1u: {
            if TEXTURED {
                return lookup(m, i, st, d);
            }
            return materials[m].values[i];
        }
        case 2u: { return vcolor; }
        case 3u: {
            let l = materials[m].lookups[i];
            return pick_channel(l.fallback, l.info.x);
        }
        default: { return materials[m].values[i]; }
    }
}

fn input_color(m: u32, i: u32, st: vec2<f32>, vcolor: vec4<f32>, d: Derivs) -> vec3<f32> {
    return input4(m, i, st, vcolor, d).rgb;
}

fn input_scalar(m: u32, i: u32, st: vec2<f32>, vcolor: vec4<f32>, d: Derivs) -> f32 {
    let v = input4(m, i, st, vcolor, d);
    // A scalar fed by the vertex colour reads its alpha (displayOpacity, or a float primvar).
    return select(v.x, vcolor.a, input_kind(m, i) == 2u);
}

// How much of a light reaches `p`: the cone of a shaped light (UsdLuxShapingAPI).
fn cone_factor(light: LightRaw, to_light: vec3<f32>) -> f32 {
    if light.axis.w < -1.5 {
        return 1.0;
    }
    let c = dot(-to_light, light.axis.xyz);
    let soft = smoothstep(light.axis.w, max(light.cone.x, light.axis.w + 1e-4), c);
    let focus = select(1.0, pow(max(c, 0.0), light.cone.y), light.cone.y > 0.0);
    return soft * focus;
}

// How much of a light's shadow map sees `p` (1: lit), 3x3 percentage-closer filtered.
fn shadow_factor(light: LightRaw, p: vec3<f32>, n: vec3<f32>, l: vec3<f32>) -> f32 {
    let layer = i32(light.cone.w + 0.5) - 1;
    if layer < 0 {
        return 1.0;
    }
    // Offset along the normal, more at grazing light, against acne.
    let size = vec2<f32>(textureDimensions(shadow_maps));
    let clip = shadow_views[layer] * vec4<f32>(p, 1.0);
    let ndc = clip.xyz / clip.w;
    let uv = ndc.xy * vec2<f32>(0.5, -0.5) + 0.5;
    if any(uv < vec2<f32>(0.0)) || any(uv > vec2<f32>(1.0)) || ndc.z > 1.0 || clip.w <= 0.0 {
        return 1.0;
    }
    let slope = 1.0 - max(dot(n, l), 0.0);
    let reference = ndc.z - (0.0005 + 0.002 * slope);
    var lit = 0.0;
    for (var y = -1; y <= 1; y++) {
        for (var x = -1; x <= 1; x++) {
            let at = uv + vec2<f32>(f32(x), f32(y)) / size;
            lit += textureSampleCompareLevel(shadow_maps, shadow_sampler, at, layer, reference);
        }
    }
    return lit / 9.0;
}

fn to_light(light: LightRaw, p: vec3<f32>) -> vec3<f32> {
    if light.position.w == 0.0 {
        return normalize(light.position.xyz);
    }
    let d = light.position.xyz - p;
    return d * inverseSqrt(max(dot(d, d), 1e-20));
}

fn schlick(f0: vec3<f32>, f90: vec3<f32>, cos_theta: f32) -> vec3<f32> {
    return f0 + (f90 - f0) * pow(1.0 - clamp(cos_theta, 0.0, 1.0), 5.0);
}

fn ggx(roughness: f32, n_dot_h: f32) -> f32 {
    let a = max(roughness * roughness, 1e-4);
    let a2 = a * a;
    let t = n_dot_h * n_dot_h * (a2 - 1.0) + 1.0;
    return a2 / (PI * t * t);
}

// Schlick-GGX visibility pair (k = alpha / 2), as Storm's previewSurface.
fn geometric(roughness: f32, n_dot_l: f32, n_dot_e: f32) -> f32 {
    let k = roughness * roughness * 0.5;
    let gl = n_dot_l / (n_dot_l * (1.0 - k) + k);
    let ge = n_dot_e / (n_dot_e * (1.0 - k) + k);
    return gl * ge;
}

// Analytic fit of the split-sum environment BRDF (scale, bias applied to F0).
fn env_brdf(f0: vec3<f32>, roughness: f32, n_dot_e: f32) -> vec3<f32> {
    let c0 = vec4<f32>(-1.0, -0.0275, -0.572, 0.022);
    let c1 = vec4<f32>(1.0, 0.0425, 1.04, -0.04);
    let r = roughness * c0 + c1;
    let a004 = min(r.x * r.x, exp2(-9.28 * n_dot_e)) * r.x + r.y;
    let ab = vec2<f32>(-1.04, 1.04) * a004 + r.zw;
    return f0 * ab.x + ab.y;
}

fn dome_dir(world_dir: vec3<f32>) -> vec3<f32> {
    let m = mat3x3<f32>(globals.dome_from_world[0].xyz, globals.dome_from_world[1].xyz, globals.dome_from_world[2].xyz);
    return normalize(m * world_dir);
}

// Lat-long lookup of a dome-space direction (UsdLux: +Y up; keep in sync with texture::latlong_uv).
fn latlong_uv(d: vec3<f32>) -> vec2<f32> {
    // The image centre faces +Z, u = 0.25 faces +X (texture::latlong_uv; UsdLux's convention).
    let u = 0.5 - atan2(d.x, d.z) / (2.0 * PI);
    let v = acos(clamp(d.y, -1.0, 1.0)) / PI;
    return vec2<f32>(u, v);
}

fn dome_radiance(world_dir: vec3<f32>, lod: f32) -> vec3<f32> {
    var c = globals.dome_color.rgb;
    if globals.dome_color.w > 0.5 {
        c = c * textureSampleLevel(dome_texture, dome_sampler, latlong_uv(dome_dir(world_dir)), lod).rgb;
    }
    return c;
}

fn dome_irradiance(world_n: vec3<f32>) -> vec3<f32> {
    let n = dome_dir(world_n);
    let sh = globals.dome_sh;
    let e = sh[0].rgb * 0.282095
        + sh[1].rgb * (0.488603 * n.y) + sh[2].rgb * (0.488603 * n.z) + sh[3].rgb * (0.488603 * n.x)
        + sh[4].rgb * (1.092548 * n.x * n.y) + sh[5].rgb * (1.092548 * n.y * n.z)
        + sh[6].rgb * (0.315392 * (3.0 * n.z * n.z - 1.0)) + sh[7].rgb * (1.092548 * n.x * n.z)
        + sh[8].rgb * (0.546274 * (n.x * n.x - n.y * n.y));
    return max(e, vec3<f32>(0.0)) * globals.dome_color.rgb;
}

// A shaded fragment: premultiplied colour, the world-space shading normal, and whether an
// opacityThreshold cuts it out (the fragment entry points discard it).
struct Shaded {
    color: vec4<f32>,
    normal: vec3<f32>,
    cut: bool,
}

// What every shading model needs: screen derivatives, the view direction, the shading normal.
struct Surface {
    d: Derivs,
    v: vec3<f32>,
    n: vec3<f32>,
}

// Called first in every fragment entry point: the derivatives need uniform control flow.
// Their y is one pixel down the image: the framebuffer's, turned where it is upside down
// (globals.viewport.z), so normal maps keep their frame.
fn derivs_of(in: VertexOut) -> Derivs {
    let down = globals.viewport.z;
    return Derivs(dpdx(in.uv), dpdy(in.uv) * down, dpdx(in.world), dpdy(in.world) * down);
}

fn surface(in: VertexOut, front_facing: bool) -> Surface {
    return surface_at(frag_of(in), derivs_of(in), front_facing);
}

fn surface_at(in: Frag, d: Derivs, front_facing: bool) -> Surface {
    // Towards the viewer: from the fragment to the eye (perspective) or the fixed view axis
    // (orthographic).
    let v = normalize(globals.eye.xyz - in.world * globals.eye.w);
    // Whether we see the side the mesh calls its front (CCW); a mirroring transform turns it CW.
    let facing = front_facing != (in.flags.y > 0.5);
    // Meshes without usable normals fall back to the face normal, oriented as an authored normal
    // would be (towards the front side); a degenerate face falls back to facing the viewer.
    let face = cross(d.p_dx, d.p_dy);
    let face2 = dot(face, face);
    var toward = select(v, face * inverseSqrt(face2), face2 > 1e-30);
    toward = select(-toward, toward, dot(toward, v) >= 0.0);
    let fallback = select(-toward, toward, facing);
    let len2 = dot(in.normal, in.normal);
    let authored = select(fallback, in.normal * inverseSqrt(len2), len2 > 1e-30);
    // No back-face culling, and Storm's rule for the back side (as usdrecord shows it): a
    // double-sided mesh flips its normal towards the viewer, so both sides shade alike; a
    // single-sided mesh keeps it, so its back side gets the ambient term only.
    let n = select(authored, -authored, in.flags.x > 0.5 && !facing);
    return Surface(d, v, n);
}

// displayColor (material 0) under Storm's fallback lighting. Reads no material: the vertex colour
// is the colour and its alpha the opacity.
fn shade_display(in: Frag, sf: Surface) -> Shaded {
    let color = in.color.rgb;
    let opacity = clamp(in.color.a, 0.0, 1.0);
    let n = sf.n;
    var lit = color;
    if globals.lighting.y == 0u {
        let s = globals.shading;
        var diffuse = vec3<f32>(0.0);
        var specular = vec3<f32>(0.0);
        for (var i = 0u; i < globals.lighting.x; i++) {
            let light = lights[i];
            let l = to_light(light, in.world);
            let h = normalize(l + sf.v);
            let atten = cone_factor(light, l) * shadow_factor(light, in.world, n, l);
            diffuse += light.color.rgb * (atten * max(dot(n, l), 0.0));
            specular += light.color.rgb * light.color.w * (atten * pow(max(dot(n, h), 0.0), s.w));
        }
        lit = s.x + color * (s.y * diffuse) + s.z * specular;
        if globals.lighting.z != 0u {
            lit += color * dome_irradiance(n);
        }
    }
    // Premultiplied: the MSAA resolve then averages correctly; the colour pass divides by alpha
    // again where straight alpha is wanted.
    return Shaded(vec4<f32>(lit * opacity, opacity), n, false);
}

// Whether a PreviewSurface material's opacityThreshold cuts this point out.
fn cut_out(m: u32, st: vec2<f32>, vc: vec4<f32>, d: Derivs) -> bool {
    let threshold = input_scalar(m, 8u, st, vc, d);
    return threshold > 0.0 && input_scalar(m, 7u, st, vc, d) < threshold;
}

// UsdPreviewSurface.
fn shade_preview(in: Frag, sf: Surface) -> Shaded {
    let d = sf.d;
    let v = sf.v;
    var n = sf.n;
    let m = in.ids.z;
    let st = in.uv;
    let vc = in.color;

    // Opacity, and opacityThreshold cut-outs (a cut-out surface is otherwise opaque).
    var opacity = input_scalar(m, 7u, st, vc, d);
    let threshold = input_scalar(m, 8u, st, vc, d);
    let cut = threshold > 0.0 && opacity < threshold;
    if threshold > 0.0 {
        opacity = 1.0;
    }
    opacity = clamp(opacity, 0.0, 1.0);

    let count = globals.lighting.x;
    var lit = vec3<f32>(0.0);
    if TEXTURED && materials[m].flags.z != 0u {
        // Tangent-space normal map, in a frame built from screen derivatives of position
        // and st (no authored tangents needed).
        let t_ts = input4(m, 10u, st, vc, d).xyz;
        let dp1 = d.p_dx;
        let dp2 = d.p_dy;
        let duv1 = d.uv_dx;
        let duv2 = d.uv_dy;
        let dp2perp = cross(dp2, n);
        let dp1perp = cross(n, dp1);
        let tangent = dp2perp * duv1.x + dp1perp * duv2.x;
        let bitangent = dp2perp * duv1.y + dp1perp * duv2.y;
        let scale = inverseSqrt(max(max(dot(tangent, tangent), dot(bitangent, bitangent)), 1e-30));
        let mapped = tangent * scale * t_ts.x + bitangent * scale * t_ts.y + n * t_ts.z;
        let ml = dot(mapped, mapped);
        n = select(n, mapped * inverseSqrt(ml), ml > 1e-20);
    }
    var diffuse_color = input_color(m, 0u, st, vc, d);
    let emissive = input_color(m, 1u, st, vc, d);
    let metallic = clamp(input_scalar(m, 3u, st, vc, d), 0.0, 1.0);
    let roughness = clamp(input_scalar(m, 4u, st, vc, d), 0.0, 1.0);
    let clearcoat = max(input_scalar(m, 5u, st, vc, d), 0.0);
    let cc_roughness = clamp(input_scalar(m, 6u, st, vc, d), 0.0, 1.0);
    let ior = input_scalar(m, 9u, st, vc, d);
    let occlusion = clamp(input_scalar(m, 11u, st, vc, d), 0.0, 1.0);
    let r = (1.0 - ior) / (1.0 + ior);
    var f0: vec3<f32>;
    var f90: vec3<f32>;
    if materials[m].flags.y != 0u {
        f0 = input_color(m, 2u, st, vc, d);
        f90 = vec3<f32>(1.0);
    } else {
        // Storm's metallic workflow: a pure metal reflects its full colour.
        let spec = mix(vec3<f32>(1.0), diffuse_color, metallic);
        f0 = mix(r * r * spec, spec, metallic);
        f90 = spec;
        diffuse_color = diffuse_color * (1.0 - metallic);
    }
    let cc_f0 = vec3<f32>(r * r);
    if globals.lighting.y != 0u {
        lit = diffuse_color + emissive;
    } else {
        let n_dot_e = max(dot(n, v), 1e-4);
        for (var i = 0u; i < count; i++) {
            let light = lights[i];
            let l = to_light(light, in.world);
            let n_dot_l = max(dot(n, l), 0.0);
            if n_dot_l <= 0.0 {
                continue;
            }
            let h = normalize(l + v);
            let n_dot_h = max(dot(n, h), 0.0);
            let e_dot_h = max(dot(v, h), 0.0);
            let atten = cone_factor(light, l) * shadow_factor(light, in.world, n, l);
            let f = schlick(f0, f90, e_dot_h);
            let spec = f * (ggx(roughness, n_dot_h) * geometric(roughness, n_dot_l, n_dot_e) / (4.0 * n_dot_l * n_dot_e + 1e-4));
            // Lambert (albedo / pi), less what the specular lobe reflects (as Storm: d * (1 - F)).
            var direct = diffuse_color * (vec3<f32>(1.0) - f) * (occlusion / PI) * light.color.rgb
                + spec * light.color.rgb * light.color.w;
            if clearcoat > 0.0 {
                let fc = schlick(cc_f0, vec3<f32>(1.0), e_dot_h) * clearcoat;
                direct += fc * (ggx(cc_roughness, n_dot_h) * geometric(cc_roughness, n_dot_l, n_dot_e) / (4.0 * n_dot_l * n_dot_e + 1e-4)) * light.color.rgb * light.color.w;
            }
            lit += direct * (n_dot_l * atten);
        }
        if globals.lighting.z != 0u {
            let refl = reflect(-v, n);
            let lod = roughness * f32(max(globals.lighting.w, 1u) - 1u);
            let f = schlick(f0, f90, n_dot_e);
            lit += diffuse_color * (vec3<f32>(1.0) - f) * dome_irradiance(n) * occlusion;
            lit += dome_radiance(refl, lod) * env_brdf(f0, roughness, n_dot_e) * occlusion;
            if clearcoat > 0.0 {
                let cc_lod = cc_roughness * f32(max(globals.lighting.w, 1u) - 1u);
                lit += dome_radiance(refl, cc_lod) * env_brdf(cc_f0, cc_roughness, n_dot_e) * clearcoat * occlusion;
            }
        }
        lit += emissive;
    }
    return Shaded(vec4<f32>(lit * opacity, opacity), n, cut);
}

// Either model, chosen per fragment by its material (the blended pass, where draws mix).
fn shade(in: Frag, sf: Surface) -> Shaded {
    if materials[in.ids.z].flags.x == 0u {
        return shade_display(in, sf);
    }
    return shade_preview(in, sf);
}

// One entry point per shading model, so a displayColor draw runs a small shader (fragment work
// is the expensive kind on the H100: docs/design.md, "Shading").
@fragment
fn fs_display(in: VertexOut, @builtin(front_facing) front_facing: bool) -> @location(0) vec4<f32> {
    return shade_display(frag_of(in), surface(in, front_facing)).color;
}

@fragment
fn fs_display_clipped(in: VertexOut, @builtin(front_facing) front_facing: bool) -> @location(0) vec4<f32> {
    if clipped(in.world) {
        discard;
    }
    return shade_display(frag_of(in), surface(in, front_facing)).color;
}

@fragment
fn fs_preview(in: VertexOut, @builtin(front_facing) front_facing: bool) -> @location(0) vec4<f32> {
    if clipped(in.world) {
        discard;
    }
    let shaded = shade_preview(frag_of(in), surface(in, front_facing));
    if shaded.cut {
        discard;
    }
    return shaded.color;
}

// The depth-only prepass: the same clip position as vs_main (invariant), so the shading pass
// can test for equality and shade each pixel once. It has no fragment stage, so it cannot clip:
// frames with clipping planes skip it (src/gpu/encode.rs).
@vertex
fn vs_depth(v: VertexIn) -> @invariant @builtin(position) vec4<f32> {
    let model = mat4x4<f32>(v.model0, v.model1, v.model2, v.model3);
    let normal_matrix = mat3x3<f32>(v.normal0.xyz, v.normal1.xyz, v.normal2.xyz);
    let placed = place(v.ids.w, v.position, v.normal, v.uv, model, normal_matrix);
    return globals.view_proj * placed.world;
}

// Weighted blended order-independent transparency (McGuire and Bavoil): each blended fragment
// adds its premultiplied colour and alpha, weighted to favour nearer and more opaque surfaces, and
// multiplies the revealage by 1 - alpha; the colour pass divides and composites.
struct OitOut {
    @location(0) accum: vec4<f32>,
    @location(1) reveal: f32,
}

@fragment
fn fs_oit(in: VertexOut, @builtin(front_facing) front_facing: bool) -> OitOut {
    if clipped(in.world) {
        discard;
    }
    let shaded = shade(frag_of(in), surface(in, front_facing));
    if shaded.cut {
        discard;
    }
    let c = shaded.color;
    // Reversed Z: clip.z is 1 at the near plane and falls towards 0 with distance, so the weight
    // grows for nearer surfaces whatever the scene's units.
    let z = 1.0 - in.clip.z;
    let w = c.a * clamp(3e3 * pow(1.0 - z, 3.0), 1e-2, 3e3);
    var out: OitOut;
    out.accum = vec4<f32>(c.rgb * w, c.a * w);
    out.reveal = c.a;
    return out;
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

fn aov_out(in: VertexOut, shaded: Shaded) -> AovOut {
    var out: AovOut;
    out.color = shaded.color;
    out.depth = -(dot(globals.view_z.xyz, in.world) + globals.view_z.w);
    out.normal = vec4<f32>(shaded.normal, 0.0);
    out.prim_id = in.ids.x;
    out.instance_id = in.ids.y;
    return out;
}

@fragment
fn fs_aov_display(in: VertexOut, @builtin(front_facing) front_facing: bool) -> AovOut {
    return aov_out(in, shade_display(frag_of(in), surface(in, front_facing)));
}

@fragment
fn fs_aov_display_clipped(in: VertexOut, @builtin(front_facing) front_facing: bool) -> AovOut {
    if clipped(in.world) {
        discard;
    }
    return aov_out(in, shade_display(frag_of(in), surface(in, front_facing)));
}

@fragment
fn fs_aov_preview(in: VertexOut, @builtin(front_facing) front_facing: bool) -> AovOut {
    if clipped(in.world) {
        discard;
    }
    let shaded = shade_preview(frag_of(in), surface(in, front_facing));
    if shaded.cut {
        discard;
    }
    return aov_out(in, shaded);
}
