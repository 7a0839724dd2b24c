//! Materials and lights packed for the shader: `scene` data in, `layout` structs out. Plain
//! arithmetic, unit-tested without a device.
//!
//! The lighting follows Storm, the renderer behind usdrecord and the usdImagingGL baselines:
//! UsdLux sphere, rect, disk and cylinder lights act as point lights at their origin with no
//! distance falloff (Storm's simple-light approximation of area lights), distant lights as
//! directions, and a dome light as image-based lighting (diffuse from spherical harmonics,
//! specular from the texture's mips).

use glam::{DVec3, Mat3, Vec3};

use super::layout::{LightRaw, LookupRaw, MaterialRaw, AMBIENT, DIFFUSE, SHININESS, SPECULAR};
use crate::scene::material::{Channel, Input, ShadingModel, TextureLookup, Wrap, TEXTURE_SLOTS};
use crate::scene::{Camera, Headlight, Light, LightKind, Look, Material};

/// Kinds of material input, as `MaterialRaw::kinds` stores them.
const INPUT_VALUE: u32 = 0;
const INPUT_TEXTURE: u32 = 1;
const INPUT_VERTEX_COLOR: u32 = 2;
const INPUT_FALLBACK: u32 = 3;

/// Index of the `normal` input in [`Material::lookups`] order.
const NORMAL_SLOT: usize = 10;

/// Packs a material; `uploaded(i)` gives the UDIM tile grid of `Scene::textures[i]` when it was
/// uploaded (`None`: a lookup of it reads its fallback instead).
pub fn pack_material(m: &Material, uploaded: impl Fn(u32) -> Option<[u32; 2]>) -> MaterialRaw {
    let mut raw: MaterialRaw = bytemuck::Zeroable::zeroed();
    let mut kinds = [INPUT_VALUE; TEXTURE_SLOTS];
    let color = |i: &Input<[f32; 3]>| match i {
        Input::Value(v) | Input::VertexColor { fallback: v, .. } => [v[0], v[1], v[2], 1.0],
        Input::Texture(_) => [0.0; 4],
    };
    let scalar = |i: &Input<f32>| match i {
        Input::Value(v) | Input::VertexColor { fallback: v, .. } => [*v; 4],
        Input::Texture(_) => [0.0; 4],
    };
    raw.values = [
        color(&m.diffuse_color),
        color(&m.emissive_color),
        color(&m.specular_color),
        scalar(&m.metallic),
        scalar(&m.roughness),
        scalar(&m.clearcoat),
        scalar(&m.clearcoat_roughness),
        scalar(&m.opacity),
        scalar(&m.opacity_threshold),
        scalar(&m.ior),
        [0.0, 0.0, 1.0, 0.0],
        scalar(&m.occlusion),
    ];
    let vertex = [
        matches!(m.diffuse_color, Input::VertexColor { .. }),
        matches!(m.emissive_color, Input::VertexColor { .. }),
        matches!(m.specular_color, Input::VertexColor { .. }),
        matches!(m.metallic, Input::VertexColor { .. }),
        matches!(m.roughness, Input::VertexColor { .. }),
        matches!(m.clearcoat, Input::VertexColor { .. }),
        matches!(m.clearcoat_roughness, Input::VertexColor { .. }),
        matches!(m.opacity, Input::VertexColor { .. }),
        matches!(m.opacity_threshold, Input::VertexColor { .. }),
        matches!(m.ior, Input::VertexColor { .. }),
        false,
        matches!(m.occlusion, Input::VertexColor { .. }),
    ];
    for (slot, lookup) in m.lookups().iter().enumerate() {
        if vertex[slot] {
            kinds[slot] = INPUT_VERTEX_COLOR;
        }
        let Some(l) = lookup else { continue };
        raw.lookups[slot] = pack_lookup(l);
        match l.texture.and_then(&uploaded) {
            Some(tiles) => {
                kinds[slot] = INPUT_TEXTURE;
                raw.lookups[slot].info[1] = tiles[0].max(1);
                raw.lookups[slot].info[2] = tiles[1].max(1);
            }
            None => kinds[slot] = INPUT_FALLBACK,
        }
    }
    for (i, k) in kinds.iter().enumerate() {
        raw.kinds[i / 4][i % 4] = *k;
    }
    raw.flags = [
        match m.model {
            ShadingModel::DisplayColor => 0,
            ShadingModel::PreviewSurface => 1,
        },
        m.use_specular_workflow as u32,
        (kinds[NORMAL_SLOT] == INPUT_TEXTURE) as u32,
        0,
    ];
    raw
}

/// Names, in each texture lookup of a packed material, its entry in the scene's texture table
/// (what the compute shading pass samples). Lookups whose pair is not in the table keep entry 0;
/// `SceneTextures::table_entries` lists every pair an uploaded texture is read with.
pub fn assign_table_entries(raw: &mut MaterialRaw, m: &Material, table: &[super::textures::TableEntry]) {
    for (slot, lookup) in m.lookups().iter().enumerate() {
        let Some(l) = lookup else { continue };
        let Some(t) = l.texture else { continue };
        if let Some(i) = table.iter().position(|e| *e == (t, l.wrap_s, l.wrap_t)) {
            raw.lookups[slot].info[3] = i as u32;
        }
    }
}

fn pack_lookup(l: &TextureLookup) -> LookupRaw {
    let black = |w: Wrap| if w == Wrap::Black { 1.0 } else { 0.0 };
    let [s, t] = l.st_transform;
    LookupRaw {
        scale: l.scale,
        bias: l.bias,
        fallback: l.fallback,
        st_s: [s[0], s[1], s[2], black(l.wrap_s)],
        st_t: [t[0], t[1], t[2], black(l.wrap_t)],
        info: [
            match l.channel {
                Channel::R => 0,
                Channel::G => 1,
                Channel::B => 2,
                Channel::A => 3,
                Channel::Rgb => 4,
            },
            1,
            1,
            0,
        ],
    }
}

/// The lighting of one frame, ready for the GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Rig {
    /// The displayColor fallback's terms: ambient, diffuse, specular weight, shininess.
    pub fallback: [f32; 4],
    pub unlit: bool,
    /// The first dome light, if it lights the scene (its texture index, radiance scale and
    /// rotation).
    pub dome: Option<(Option<u32>, [f32; 3], Mat3)>,
    /// The first dome light, for the background, whether or not the look lights with it: the
    /// test harness shows the first textured dome behind its own light rig (Storm draws it as a
    /// skydome), and no untextured one.
    pub background: Option<(Option<u32>, [f32; 3], Mat3)>,
}

/// Fills `out` with the frame's lights (stage lights per `look`, plus the headlight when lit)
/// and says how the fallback material is lit. Reuses `out`'s allocation.
pub fn build_rig(look: Look, headlight: Headlight, lights: &[Light], camera: &Camera, out: &mut Vec<LightRaw>) -> Rig {
    out.clear();
    let eye = camera.to_world.transform_point3(DVec3::ZERO).as_vec3();
    let back = camera
        .to_world
        .transform_vector3(DVec3::Z)
        .normalize_or(DVec3::Z)
        .as_vec3();
    let at_camera = |out: &mut Vec<LightRaw>| {
        out.push(if camera.lens.orthographic {
            directional(back, [1.0; 3], 1.0)
        } else {
            point(eye, [1.0; 3], 1.0)
        })
    };
    let dome_of = |l: &Light| match l.kind {
        LightKind::Dome { texture } => Some((texture, scaled(l.color, l.diffuse), Mat3::from_mat4(l.transform))),
        _ => None,
    };
    let background = lights.iter().find_map(dome_of);
    let mut dome = None;
    let mut stage = |out: &mut Vec<LightRaw>| {
        dome = background;
        for l in lights {
            if !matches!(l.kind, LightKind::Dome { .. }) {
                out.push(pack_light(l));
            }
        }
    };
    let rig = |fallback, unlit| (fallback, unlit);
    let (fallback, unlit) = match look {
        Look::Usdrecord => {
            stage(out);
            let stage_lights = lights.len();
            if headlight.lit(stage_lights) {
                at_camera(out);
            }
            rig([AMBIENT, DIFFUSE, SPECULAR, SHININESS], false)
        }
        Look::HarnessSimple { toward } => {
            out.push(directional(Vec3::from(toward).normalize_or(Vec3::Z), [1.0; 3], 1.0));
            // UsdImagingGLRenderParams::enableSceneLights is true unless asked otherwise, and the
            // harness never asks: Storm's light task lights the stage's lights besides the rig
            // (usdLux.png's sphere light, framing.usda's). Domes stay as they were: shown, not
            // lighting (see the test below).
            for l in lights {
                if !matches!(l.kind, LightKind::Dome { .. }) {
                    out.push(pack_light(l));
                }
            }
            // Scene ambient 0.2 times the harness material's ambient 0.2; its material diffuse
            // (0.8) is replaced by displayColor, as in Storm's fallback shader; its material
            // specular is 0 (`material.SetSpecular(0, 0, 0, 1)`): pi_pi_time's grey cube faces
            // facing a `-camlight` light are 134 = 0.04 + 0.5 * cos, with no highlight.
            rig([0.04, 1.0, 0.0, SHININESS], false)
        }
        Look::HarnessSceneLights => {
            stage(out);
            rig([0.04, 1.0, 0.2, SHININESS], false)
        }
        Look::HarnessUnlit => rig([0.0, 1.0, 0.0, SHININESS], true),
    };
    // The test harness draws a dome behind the image only from a texture (Storm's skydome): the
    // first textured dome. instancedCubes' shows behind the harness's own light rig,
    // testPremultiplyAlpha's untextured one does not. usdrecord's `--enableDomeLightVisibility`
    // shows the first dome, textured or not.
    let background = match look {
        Look::Usdrecord => background,
        _ => lights
            .iter()
            .filter_map(dome_of)
            .find(|(texture, _, _)| texture.is_some()),
    };
    Rig {
        fallback,
        unlit,
        dome,
        background,
    }
}

fn scaled(c: [f32; 3], k: f32) -> [f32; 3] {
    c.map(|x| x * k)
}

fn point(p: Vec3, color: [f32; 3], specular: f32) -> LightRaw {
    LightRaw {
        position: [p.x, p.y, p.z, 1.0],
        color: [color[0], color[1], color[2], specular],
        axis: [0.0, 0.0, -1.0, -2.0],
        cone: [0.0; 4],
    }
}

fn directional(toward: Vec3, color: [f32; 3], specular: f32) -> LightRaw {
    LightRaw {
        position: [toward.x, toward.y, toward.z, 0.0],
        ..point(Vec3::ZERO, color, specular)
    }
}

/// One UsdLux light (not a dome) as the shader sees it.
pub fn pack_light(l: &Light) -> LightRaw {
    let t = l.transform;
    // Lights emit along their -Z axis.
    let emit = (-t.z_axis.truncate()).normalize_or(Vec3::NEG_Z);
    let color = scaled(l.color, l.diffuse);
    let specular = if l.diffuse > 0.0 {
        l.specular / l.diffuse
    } else {
        l.specular
    };
    let mut raw = match l.kind {
        LightKind::Distant { .. } => directional(-emit, color, specular),
        _ => point(t.w_axis.truncate(), color, specular),
    };
    raw.axis = [emit.x, emit.y, emit.z, -2.0];
    if let Some(s) = l.shaping {
        let outer = s.cone_angle.clamp(0.0, 180.0).to_radians();
        if outer < std::f32::consts::PI {
            let inner = outer * (1.0 - s.cone_softness.clamp(0.0, 1.0));
            raw.axis[3] = outer.cos();
            raw.cone[0] = inner.cos();
        }
        raw.cone[1] = s.focus.max(0.0);
    }
    raw.cone[2] = l.shadow as u32 as f32;
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::light::Shaping;
    use glam::Mat4;

    fn light(kind: LightKind, transform: Mat4) -> Light {
        Light {
            path: "/L".into(),
            kind,
            transform,
            color: [2.0, 1.0, 0.5],
            normalize: false,
            diffuse: 1.0,
            specular: 1.0,
            shaping: None,
            shadow: true,
            linked_instances: None,
        }
    }

    #[test]
    fn distant_light_points_back_along_its_minus_z() {
        // Rotated so it shines down -Y: the direction towards it is +Y.
        let l = light(
            LightKind::Distant { angle: 0.5 },
            Mat4::from_rotation_x(-std::f32::consts::FRAC_PI_2),
        );
        let raw = pack_light(&l);
        assert!((Vec3::from_slice(&raw.position[..3]) - Vec3::Y).length() < 1e-6);
        assert_eq!(raw.position[3], 0.0);
        assert_eq!(&raw.color[..3], &[2.0, 1.0, 0.5]);
    }

    #[test]
    fn sphere_light_is_a_point_at_its_origin_with_a_cone() {
        let mut l = light(
            LightKind::Sphere {
                radius: 1.0,
                treat_as_point: false,
            },
            Mat4::from_translation(Vec3::new(1.0, 2.0, 3.0)),
        );
        l.shaping = Some(Shaping {
            cone_angle: 60.0,
            cone_softness: 0.5,
            focus: 0.0,
            focus_tint: [0.0; 3],
        });
        let raw = pack_light(&l);
        assert_eq!(raw.position, [1.0, 2.0, 3.0, 1.0]);
        assert!((raw.axis[3] - 0.5).abs() < 1e-6, "cos 60");
        assert!((raw.cone[0] - 30f32.to_radians().cos()).abs() < 1e-6);
    }

    #[test]
    fn headlight_only_without_stage_lights_and_domes_go_aside() {
        let camera = Camera::default();
        let mut out = Vec::new();
        let rig = build_rig(Look::Usdrecord, Headlight::Auto, &[], &camera, &mut out);
        assert_eq!(out.len(), 1, "headlight");
        assert!(!rig.unlit);
        let dome = light(LightKind::Dome { texture: None }, Mat4::IDENTITY);
        let rig = build_rig(Look::Usdrecord, Headlight::Auto, &[dome], &camera, &mut out);
        assert!(out.is_empty(), "a dome is a light: no headlight, and not a point light");
        assert_eq!(rig.dome.map(|d| d.1), Some([2.0, 1.0, 0.5]));
        build_rig(Look::HarnessUnlit, Headlight::On, &[], &camera, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_harness_light_is_directional_toward_its_look_without_specular() {
        // A camera far from the light's direction: the harness's light does not follow it.
        let camera = Camera {
            to_world: glam::DMat4::from_translation(glam::DVec3::new(5.0, 0.0, 0.0)),
            ..Camera::default()
        };
        let mut out = Vec::new();
        let look = Look::HarnessSimple {
            toward: [0.0, -40.0, -10.0],
        };
        let rig = build_rig(look, Headlight::On, &[], &camera, &mut out);
        assert_eq!(out.len(), 1);
        let p = out[0].position;
        assert_eq!(p[3], 0.0, "directional");
        let d = Vec3::new(p[0], p[1], p[2]);
        assert!((d - Vec3::new(0.0, -40.0, -10.0).normalize()).length() < 1e-6, "{d}");
        assert_eq!(rig.fallback, [0.04, 1.0, 0.0, SHININESS]);
    }

    #[test]
    fn the_harness_shows_only_a_textured_dome_behind_its_rig() {
        let camera = Camera::default();
        let mut out = Vec::new();
        let plain = light(LightKind::Dome { texture: None }, Mat4::IDENTITY);
        let textured = light(LightKind::Dome { texture: Some(0) }, Mat4::IDENTITY);
        let simple = Look::HarnessSimple {
            toward: crate::scene::HARNESS_LIGHT,
        };
        let rig = build_rig(
            simple,
            Headlight::Off,
            std::slice::from_ref(&textured),
            &camera,
            &mut out,
        );
        assert!(rig.background.is_some() && rig.dome.is_none(), "shown, not lighting");
        let rig = build_rig(simple, Headlight::Off, std::slice::from_ref(&plain), &camera, &mut out);
        assert!(rig.background.is_none());
        let rig = build_rig(
            Look::HarnessSceneLights,
            Headlight::Off,
            std::slice::from_ref(&plain),
            &camera,
            &mut out,
        );
        assert!(rig.background.is_none() && rig.dome.is_some(), "lighting, not shown");
        let rig = build_rig(Look::Usdrecord, Headlight::Auto, &[plain], &camera, &mut out);
        assert!(rig.background.is_some(), "usdrecord shows any dome when asked");
    }

    #[test]
    fn material_inputs_pack_by_kind() {
        let mut m = Material::preview_surface_defaults("/M");
        m.roughness = Input::Value(0.25);
        let lookup = TextureLookup {
            texture: Some(0),
            channel: Channel::G,
            wrap_s: Wrap::Black,
            wrap_t: Wrap::Repeat,
            scale: [1.0; 4],
            bias: [0.0; 4],
            fallback: [0.5; 4],
            st_primvar: "st".into(),
            st_transform: TextureLookup::IDENTITY,
        };
        m.metallic = Input::Texture(lookup.clone());
        m.opacity = Input::Texture(TextureLookup {
            texture: Some(7),
            ..lookup.clone()
        });
        m.normal = Some(lookup);
        let raw = pack_material(&m, |i| (i == 0).then_some([1, 1]));
        assert_eq!(raw.values[4][0], 0.25);
        assert_eq!(raw.kinds[0], [INPUT_VALUE, INPUT_VALUE, INPUT_VALUE, INPUT_TEXTURE]);
        assert_eq!(raw.kinds[1][3], INPUT_FALLBACK, "texture 7 was not uploaded");
        assert_eq!(raw.lookups[3].info[0], 1, "green channel");
        assert_eq!(raw.lookups[3].st_s[3], 1.0, "wrapS black");
        assert_eq!(raw.flags, [1, 0, 1, 0]);
        let fallback = pack_material(&Material::display_color(), |_| Some([1, 1]));
        assert_eq!(fallback.flags[0], 0);
        assert_eq!(fallback.kinds[0][0], INPUT_VERTEX_COLOR);
        assert_eq!(fallback.kinds[1][3], INPUT_VERTEX_COLOR, "opacity from displayOpacity");
    }
}

/// Shadow maps at most per frame (lights past these are lit unshadowed).
pub const MAX_SHADOW_MAPS: usize = 4;

/// World to clip (depth 0 near, 1 far) of a light's shadow map covering `bounds`: an orthographic
/// box along a distant light, a perspective frustum over a cone light's cone. `None` for lights
/// that get no map (point lights without a cone, an empty scene).
pub fn shadow_view(light: &LightRaw, bounds: &crate::scene::Bounds) -> Option<glam::Mat4> {
    if bounds.is_empty() {
        return None;
    }
    let center = bounds.center().as_vec3();
    let radius = (bounds.size().length() as f32 * 0.5).max(1e-4);
    let up_for = |dir: Vec3| if dir.y.abs() > 0.99 { Vec3::X } else { Vec3::Y };
    if light.position[3] == 0.0 {
        let toward = Vec3::from_slice(&light.position[..3]).normalize_or(Vec3::Z);
        let eye = center + toward * (2.0 * radius);
        let view = glam::Mat4::look_at_rh(eye, center, up_for(toward));
        let proj = glam::Mat4::orthographic_rh(-radius, radius, -radius, radius, radius * 0.01, 4.0 * radius);
        return Some(proj * view);
    }
    if light.axis[3] < -1.5 {
        return None;
    }
    let eye = Vec3::from_slice(&light.position[..3]);
    let dir = Vec3::from_slice(&light.axis[..3]).normalize_or(Vec3::NEG_Z);
    let half = light.axis[3]
        .clamp(-1.0, 1.0)
        .acos()
        .clamp(1f32.to_radians(), 80f32.to_radians());
    let far = eye.distance(center) + radius;
    let near = (far * 1e-3).max(1e-4);
    let view = glam::Mat4::look_at_rh(eye, eye + dir, up_for(dir));
    Some(glam::Mat4::perspective_rh(2.0 * half, 1.0, near, far) * view)
}

#[cfg(test)]
mod shadow_tests {
    use super::*;
    use crate::scene::Bounds;
    use glam::{DVec3, Vec4};

    #[test]
    fn a_distant_light_box_holds_the_scene_nearest_first() {
        let bounds = Bounds {
            min: DVec3::splat(-1.0),
            max: DVec3::splat(1.0),
        };
        let sun = directional(Vec3::Y, [1.0; 3], 1.0);
        let m = shadow_view(&sun, &bounds).expect("a map");
        let clip = |p: Vec3| {
            let c = m * Vec4::new(p.x, p.y, p.z, 1.0);
            c.truncate() / c.w
        };
        let top = clip(Vec3::new(0.0, 1.0, 0.0));
        let bottom = clip(Vec3::new(0.0, -1.0, 0.0));
        assert!(top.z < bottom.z, "nearer the light is smaller depth: {top} {bottom}");
        for corner in [Vec3::splat(-1.0), Vec3::splat(1.0), Vec3::new(1.0, -1.0, 1.0)] {
            let c = clip(corner);
            assert!(
                c.x.abs() <= 1.0 && c.y.abs() <= 1.0 && (0.0..=1.0).contains(&c.z),
                "{corner} -> {c}"
            );
        }
        // A point light without a cone gets no map.
        assert!(shadow_view(&point(Vec3::ZERO, [1.0; 3], 1.0), &bounds).is_none());
        assert!(shadow_view(&sun, &Bounds::EMPTY).is_none());
    }
}
