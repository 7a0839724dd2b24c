//! MDL surface shaders, as Omniverse authors them: a Shader whose `info:mdl:sourceAsset` names a
//! module and whose `info:mdl:sourceAsset:subIdentifier` names the material, with the material's
//! parameters as `inputs:<name>`.
//!
//! NVIDIA's own materials (OmniPBR, OmniPBR_ClearCoat, OmniSurface, OmniSurfaceLite, OmniGlass
//! and their `_Opacity` variants) are known by name and translated by their documented
//! parameters: the module file need not be present (it ships with Omniverse, not with the
//! stage). A parameter left unauthored takes the `.mdl` default. Any other module is read from
//! beside the stage ([`crate::material_files::mdl`]): an exported material that calls a known
//! material with literal arguments, or a simple `material(...)` with a diffuse tint, emission
//! and cutout opacity. Anything else warns once, naming module and material, and the prim is
//! drawn in displayColor.
//!
//! Choices where MDL and our model differ (docs/design.md, "Materials"):
//! - emission given as radiant exitance (OmniPBR's `emissive_intensity`) is drawn as radiance
//!   exitance / pi, the radiance of a Lambertian emitter;
//! - OmniGlass and other transmission is drawn as transparency ([`GLASS_OPACITY`]);
//! - OmniPBR's `albedo_desaturation` applies to constant colours only; a textured colour keeps
//!   its saturation (one warning);
//! - texture coordinates are the mesh's `st` primvar through `texture_translate`, `_rotate` and
//!   `_scale` (UsdTransform2d's order); world or object projection (`project_uvw`) is not drawn.

use std::collections::HashMap;
use std::f32::consts::PI;

use openusd::sdf::{self, Value};
use openusd::usd;

use super::{Reader, Source};
use crate::material_files::mdl::{self as mdl_file, Expr};
use crate::scene::material::{Channel, Input, Material, TextureLookup, Wrap};
use crate::stage::{assets, values};
use crate::texture::ColorSpace;

/// The opacity transmissive glass is drawn with: mostly see-through, its highlights and tint kept.
pub const GLASS_OPACITY: f32 = 0.15;

/// The primvar MDL's texture coordinate 0 reads (Omniverse writes `primvars:st`).
const UV_PRIMVAR: &str = "st";

/// NVIDIA's materials, by module (file stem) or material name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// OmniPBR and its variants.
    Pbr,
    /// OmniSurface and its variants.
    Surface,
    /// OmniGlass.
    Glass,
}

fn known(name: &str) -> Option<Known> {
    match name {
        "OmniPBR" | "OmniPBR_ClearCoat" | "OmniPBR_Opacity" | "OmniPBR_ClearCoat_Opacity" | "OmniPBRBase" => {
            Some(Known::Pbr)
        }
        "OmniSurface" | "OmniSurfaceLite" | "OmniSurfaceBase" | "OmniSurfaceLiteBase" | "OmniSurface_Opacity" => {
            Some(Known::Surface)
        }
        "OmniGlass" | "OmniGlass_Opacity" => Some(Known::Glass),
        _ => None,
    }
}

/// Reads the MDL shader `shader` of Material `path`.
pub(super) fn read(reader: &mut Reader, path: &sdf::Path, shader: &usd::Prim) -> Result<Material, String> {
    let (asset, anchor) = match reader.source(shader, "info:mdl:sourceAsset") {
        Source::Value(Value::AssetPath(a), holder, name) => {
            let anchor = holder
                .attribute(name.as_str())
                .resolve_info()
                .ok()
                .and_then(|r| r.spec_site().map(|s| s.layer.to_string()));
            (a.asset_path().to_string(), anchor)
        }
        _ => return Err(format!("{}: info:mdl:sourceAsset is not an asset", shader.path())),
    };
    let stem = std::path::Path::new(&asset)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let material_name = values::token_attr(shader, "info:mdl:sourceAsset:subIdentifier", None)
        .or_else(|| values::raw(shader, "info:mdl:sourceAsset:subIdentifier", None).and_then(|v| values::as_token(&v)))
        .unwrap_or_else(|| stem.clone());
    let mut params = Params {
        shader: shader.clone(),
        args: HashMap::new(),
        anchor: None,
    };
    if let Some(kind) = known(&stem).or_else(|| known(&material_name)) {
        return Ok(translate(reader, path, kind, &material_name, &mut params));
    }
    let (module_id, bytes) = assets::read_asset(reader.stage, anchor.as_deref(), &asset)
        .map_err(|e| format!("MDL module @{asset}@ (material {material_name}): {e}"))?;
    let module = mdl_file::parse(&String::from_utf8_lossy(&bytes))
        .map_err(|e| format!("MDL module {module_id} (material {material_name}): {e}"))?;
    let material = module.material(&material_name).ok_or_else(|| {
        let names: Vec<&str> = module.materials.iter().map(|m| m.name.as_str()).collect();
        format!(
            "MDL module {module_id} has no material {material_name} (it has: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )
    })?;
    params.anchor = Some(module_id.clone());
    local(reader, path, &module_id, material, &mut params)
}

/// A material of a module read from beside the stage: a call of a known material, or a simple
/// `material(...)`, its parameters taken from the USD shader's inputs over their defaults.
fn local(
    reader: &mut Reader,
    path: &sdf::Path,
    module_id: &str,
    material: &mdl_file::ExportedMaterial,
    params: &mut Params,
) -> Result<Material, String> {
    let unsupported = |why: &str| format!("MDL module {module_id} (material {}): {why}", material.name);
    // Each declared parameter's value: the shader's input when authored, else its default.
    let mut values: HashMap<String, Expr> = HashMap::new();
    for parameter in &material.parameters {
        let value = params
            .usd_expr(reader, &parameter.name)
            .or_else(|| parameter.default.clone());
        if let Some(value) = value {
            values.insert(parameter.name.clone(), value);
        }
    }
    let lookup = |name: &str| values.get(name).cloned();
    match &material.body {
        mdl_file::Body::Call { callee, args, .. } => {
            let kind = known(callee)
                .ok_or_else(|| unsupported(&format!("it calls {callee}, which usdrender does not translate")))?;
            for (name, expr) in args {
                params.args.insert(name.clone(), mdl_file::resolve(expr, &lookup));
            }
            Ok(translate(reader, path, kind, callee, params))
        }
        mdl_file::Body::Simple(simple) => {
            let color = |e: &Expr, what: &str| {
                mdl_file::resolve(e, &lookup).as_color().ok_or_else(|| {
                    unsupported(&format!(
                        "its {what} is {}",
                        mdl_file::describe(&mdl_file::resolve(e, &lookup))
                    ))
                })
            };
            let tint = color(&simple.tint, "diffuse tint")?;
            let emission = color(&simple.emission_intensity, "emission intensity")?;
            let cutout = mdl_file::resolve(&simple.cutout_opacity, &lookup);
            let cutout = cutout
                .as_float()
                .ok_or_else(|| unsupported(&format!("its cutout_opacity is {}", mdl_file::describe(&cutout))))?;
            // A diffuse-only surface: no specular lobe (specular workflow, black specular).
            let mut m = Material::preview_surface_defaults(path.as_str());
            m.diffuse_color = Input::Value(tint);
            m.use_specular_workflow = true;
            m.specular_color = Input::Value([0.0; 3]);
            m.roughness = Input::Value(0.9);
            // Radiant exitance drawn as the radiance of a Lambertian emitter.
            m.emissive_color = Input::Value(emission.map(|e| e / PI));
            m.opacity = Input::Value(cutout.clamp(0.0, 1.0));
            Ok(m)
        }
        mdl_file::Body::Unsupported(why) => Err(unsupported(why)),
    }
}

/// Where an MDL material's parameters come from: the USD shader's inputs, over the literal
/// arguments of a local module's call (`args`, resolved; texture paths anchor at `anchor`).
struct Params {
    shader: usd::Prim,
    args: HashMap<String, Expr>,
    anchor: Option<String>,
}

impl Params {
    fn value(&self, reader: &mut Reader, name: &str) -> Option<Value> {
        match reader.source(&self.shader, &format!("inputs:{name}")) {
            Source::Value(v, ..) => Some(v),
            _ => None,
        }
    }

    /// The shader's input `name` as a module expression (a texture as its path, anchored at the
    /// USD layer, is left to [`Params::texture`]).
    fn usd_expr(&self, reader: &mut Reader, name: &str) -> Option<Expr> {
        let v = self.value(reader, name)?;
        if let Value::Bool(b) = v {
            return Some(Expr::Bool(b));
        }
        if let Some(x) = values::as_f64(&v) {
            return Some(Expr::Float(x as f32));
        }
        values::as_vec4(&v).map(|c| Expr::Color([c[0], c[1], c[2]]))
    }

    fn float(&self, reader: &mut Reader, name: &str, default: f32) -> f32 {
        if let Some(x) = self.value(reader, name).and_then(|v| values::as_f64(&v)) {
            return x as f32;
        }
        self.args.get(name).and_then(Expr::as_float).unwrap_or(default)
    }

    fn bool(&self, reader: &mut Reader, name: &str, default: bool) -> bool {
        if let Some(v) = self.value(reader, name) {
            if let Some(b) = values::as_bool(&v).or_else(|| values::as_f64(&v).map(|x| x != 0.0)) {
                return b;
            }
        }
        let arg = self.args.get(name);
        arg.and_then(Expr::as_bool)
            .or_else(|| arg.and_then(Expr::as_float).map(|x| x != 0.0))
            .unwrap_or(default)
    }

    fn color(&self, reader: &mut Reader, name: &str, default: [f32; 3]) -> [f32; 3] {
        if let Some(c) = self.value(reader, name).and_then(|v| values::as_vec4(&v)) {
            return [c[0], c[1], c[2]];
        }
        self.args.get(name).and_then(Expr::as_color).unwrap_or(default)
    }

    fn vec2(&self, reader: &mut Reader, name: &str, default: [f32; 2]) -> [f32; 2] {
        match self.value(reader, name).and_then(|v| values::as_vec4(&v)) {
            Some(c) => [c[0], c[1]],
            None => default,
        }
    }

    /// The texture parameter `name`, loaded (sRGB unless its `colorSpace` says raw, or
    /// `srgb_default` is false and nothing says otherwise); `None` when unset or unreadable.
    fn texture(&self, reader: &mut Reader, name: &str, srgb_default: bool) -> Option<TextureLookup> {
        let input = format!("inputs:{name}");
        if let Source::Value(Value::AssetPath(a), ..) = reader.source(&self.shader, &input) {
            if a.asset_path().is_empty() {
                return None;
            }
            let color_space = match reader.color_space_of(&self.shader, &input).as_deref() {
                Some("sRGB" | "srgb" | "srgb_texture") => ColorSpace::Srgb,
                Some("raw" | "lin_rec709" | "linear") => ColorSpace::Raw,
                Some(_) => ColorSpace::Auto,
                None if srgb_default => ColorSpace::Srgb,
                None => ColorSpace::Raw,
            };
            let texture = reader.file(&self.shader, &input, color_space)?;
            return Some(plain_lookup(texture));
        }
        match self.args.get(name) {
            Some(Expr::Texture { path, srgb }) => self.lookup(reader, path, srgb.unwrap_or(srgb_default)),
            _ => None,
        }
    }

    /// A texture a local module names (anchored at the module).
    fn lookup(&self, reader: &mut Reader, file: &str, srgb: bool) -> Option<TextureLookup> {
        let color_space = if srgb { ColorSpace::Srgb } else { ColorSpace::Raw };
        let asset = sdf::AssetPath::new(file);
        let texture = reader.textures.get(
            reader.stage,
            self.shader.path(),
            self.anchor.as_deref(),
            &asset,
            color_space,
            reader.store.as_deref_mut(),
            reader.warnings,
        )?;
        Some(plain_lookup(texture))
    }
}

fn plain_lookup(texture: u32) -> TextureLookup {
    TextureLookup {
        texture: Some(texture),
        channel: Channel::Rgb,
        wrap_s: Wrap::Repeat,
        wrap_t: Wrap::Repeat,
        scale: [1.0; 4],
        bias: [0.0; 4],
        fallback: [0.0, 0.0, 0.0, 1.0],
        st_primvar: UV_PRIMVAR.to_string(),
        st_transform: TextureLookup::IDENTITY,
    }
}

/// `l` reading one channel as `constant * (1 - influence) + texel * influence` (OmniPBR's
/// texture influences).
fn influenced(mut l: TextureLookup, channel: Channel, constant: f32, influence: f32) -> TextureLookup {
    l.channel = channel;
    l.scale = [influence; 4];
    l.bias = [constant * (1.0 - influence); 4];
    l
}

fn translate(reader: &mut Reader, path: &sdf::Path, kind: Known, name: &str, p: &mut Params) -> Material {
    let mut m = Material::preview_surface_defaults(path.as_str());
    match kind {
        Known::Pbr => omni_pbr(reader, path, name, p, &mut m),
        Known::Surface => omni_surface(reader, p, &mut m),
        Known::Glass => omni_glass(reader, p, &mut m),
    }
    // Texture coordinates: st through OmniPBR's transform parameters (all three share them).
    let translate = p.vec2(reader, "texture_translate", [0.0, 0.0]);
    let rotate = p.float(reader, "texture_rotate", 0.0);
    let scale = p.vec2(reader, "texture_scale", [1.0, 1.0]);
    // "A larger number increases the size of the texture": coordinates are divided by it.
    let inverse = scale.map(|s| if s == 0.0 { 1.0 } else { 1.0 / s });
    let transform = super::transform2d(rotate, inverse, translate);
    if p.bool(reader, "project_uvw", false) {
        reader.warnings.push(format!(
            "{path}: {name}'s project_uvw (world or object projection) is not drawn; the mesh's st is used"
        ));
    }
    let lookups: [Option<&mut TextureLookup>; 6] = [
        match &mut m.diffuse_color {
            Input::Texture(l) => Some(l),
            _ => None,
        },
        match &mut m.emissive_color {
            Input::Texture(l) => Some(l),
            _ => None,
        },
        match &mut m.roughness {
            Input::Texture(l) => Some(l),
            _ => None,
        },
        match &mut m.metallic {
            Input::Texture(l) => Some(l),
            _ => None,
        },
        match &mut m.opacity {
            Input::Texture(l) => Some(l),
            _ => None,
        },
        m.normal.as_mut(),
    ];
    for l in lookups.into_iter().flatten() {
        l.st_transform = transform;
    }
    if let Input::Texture(l) = &mut m.occlusion {
        l.st_transform = transform;
    }
    m
}

/// OmniPBR (and its ClearCoat and Opacity variants).
fn omni_pbr(reader: &mut Reader, path: &sdf::Path, name: &str, p: &Params, m: &mut Material) {
    // Base colour: the texture or the constant, times the tint; then desaturation, brightness
    // and add, as OmniPBR orders them.
    let tint = p.color(reader, "diffuse_tint", [1.0; 3]);
    let brightness = p.float(reader, "albedo_brightness", 1.0);
    let add = p.float(reader, "albedo_add", 0.0);
    let desaturation = p.float(reader, "albedo_desaturation", 0.0);
    m.diffuse_color = match p.texture(reader, "diffuse_texture", true) {
        Some(mut l) => {
            if desaturation != 0.0 {
                reader.warnings.push(format!(
                    "{path}: {name}'s albedo_desaturation is not applied to a textured colour"
                ));
            }
            for (c, t) in tint.iter().enumerate() {
                l.scale[c] = t * brightness;
                l.bias[c] = add;
            }
            Input::Texture(l)
        }
        None => {
            let c = p.color(reader, "diffuse_color_constant", [0.2; 3]);
            let tinted = [c[0] * tint[0], c[1] * tint[1], c[2] * tint[2]];
            let luminance = 0.2126 * tinted[0] + 0.7152 * tinted[1] + 0.0722 * tinted[2];
            Input::Value(tinted.map(|x| (x + (luminance - x) * desaturation) * brightness + add))
        }
    };
    let roughness = p.float(reader, "reflection_roughness_constant", 0.5);
    let roughness_influence = p.float(reader, "reflection_roughness_texture_influence", 0.0);
    let metallic = p.float(reader, "metallic_constant", 0.0);
    let metallic_influence = p.float(reader, "metallic_texture_influence", 0.0);
    m.roughness = Input::Value(roughness);
    m.metallic = Input::Value(metallic);
    let orm = if p.bool(reader, "enable_ORM_texture", false) {
        p.texture(reader, "ORM_texture", false)
    } else {
        None
    };
    if let Some(orm) = orm {
        // Occlusion in red, roughness in green, metallic in blue.
        m.occlusion = Input::Texture(influenced(orm.clone(), Channel::R, 1.0, 1.0));
        m.roughness = Input::Texture(influenced(orm.clone(), Channel::G, roughness, roughness_influence));
        m.metallic = Input::Texture(influenced(orm, Channel::B, metallic, metallic_influence));
    } else {
        if roughness_influence > 0.0 {
            if let Some(l) = p.texture(reader, "reflectionroughness_texture", false) {
                m.roughness = Input::Texture(influenced(l, Channel::R, roughness, roughness_influence));
            }
        }
        if metallic_influence > 0.0 {
            if let Some(l) = p.texture(reader, "metallic_texture", false) {
                m.metallic = Input::Texture(influenced(l, Channel::R, metallic, metallic_influence));
            }
        }
    }
    // specular_level 0.5 is F0 0.04 (0.08 * level); another level on a dielectric takes the
    // specular workflow.
    let level = p.float(reader, "specular_level", 0.5);
    if level != 0.5 && matches!(m.metallic, Input::Value(x) if x == 0.0) {
        m.use_specular_workflow = true;
        m.specular_color = Input::Value([0.08 * level; 3]);
    }
    if let Some(mut l) = p.texture(reader, "normalmap_texture", false) {
        let bump = p.float(reader, "bump_factor", 1.0);
        l.scale = [2.0 * bump, 2.0 * bump, 2.0, 1.0];
        l.bias = [-bump, -bump, -1.0, 0.0];
        m.normal = Some(l);
    }
    if p.bool(reader, "enable_emission", false) {
        let intensity = p.float(reader, "emissive_intensity", 40.0) / PI;
        m.emissive_color = match p.texture(reader, "emissive_color_texture", true) {
            Some(mut l) => {
                for c in 0..3 {
                    l.scale[c] = intensity;
                }
                Input::Texture(l)
            }
            None => Input::Value(
                p.color(reader, "emissive_color", [1.0, 0.1, 0.1])
                    .map(|x| x * intensity),
            ),
        };
    }
    if p.bool(reader, "enable_clearcoat", name.contains("ClearCoat")) {
        m.clearcoat = Input::Value(p.float(reader, "clearcoat_weight", 1.0));
        m.clearcoat_roughness = Input::Value(p.float(reader, "clearcoat_reflection_roughness", 0.0));
    }
    if p.bool(reader, "enable_opacity", false) {
        let constant = p.float(reader, "opacity_constant", 1.0);
        let textured = if p.bool(reader, "enable_opacity_texture", false) {
            p.texture(reader, "opacity_texture", false)
        } else {
            None
        };
        m.opacity = match textured {
            Some(mut l) => {
                // opacity_mode: 0 the alpha channel, else a single channel (mono average and
                // luminance are taken as red).
                l.channel = if p.float(reader, "opacity_mode", 1.0) as i32 == 0 {
                    Channel::A
                } else {
                    Channel::R
                };
                l.scale = [constant; 4];
                Input::Texture(l)
            }
            None => Input::Value(constant),
        };
        let threshold = p.float(reader, "opacity_threshold", 0.0);
        if threshold > 0.0 {
            m.opacity_threshold = Input::Value(threshold);
        }
    }
}

/// OmniSurface and OmniSurfaceLite: base, specular, coat, emission and opacity lobes.
fn omni_surface(reader: &mut Reader, p: &Params, m: &mut Material) {
    let weight = p.float(reader, "diffuse_reflection_weight", 0.8);
    m.diffuse_color = match p.texture(reader, "diffuse_reflection_color_image", true) {
        Some(mut l) => {
            for c in 0..3 {
                l.scale[c] = weight;
            }
            Input::Texture(l)
        }
        None => Input::Value(
            p.color(reader, "diffuse_reflection_color", [1.0; 3])
                .map(|x| x * weight),
        ),
    };
    m.metallic = Input::Value(p.float(reader, "metalness", 0.0));
    m.roughness = Input::Value(p.float(reader, "specular_reflection_roughness", 0.2));
    m.ior = Input::Value(p.float(reader, "specular_reflection_ior", 1.5));
    let specular = p.float(reader, "specular_reflection_weight", 1.0);
    let specular_color = p.color(reader, "specular_reflection_color", [1.0; 3]);
    if (specular != 1.0 || specular_color != [1.0; 3]) && matches!(m.metallic, Input::Value(x) if x == 0.0) {
        let ior = m.ior.value().unwrap_or(1.5);
        let f0 = ((ior - 1.0) / (ior + 1.0)).powi(2);
        m.use_specular_workflow = true;
        m.specular_color = Input::Value(specular_color.map(|c| c * specular * f0));
    }
    m.clearcoat = Input::Value(p.float(reader, "coat_weight", 0.0));
    m.clearcoat_roughness = Input::Value(p.float(reader, "coat_roughness", 0.1));
    let emission = p.float(reader, "emission_weight", 0.0) * p.float(reader, "emission_intensity", 1.0);
    if emission > 0.0 {
        m.emissive_color = Input::Value(p.color(reader, "emission_color", [1.0; 3]).map(|c| c * emission));
    }
    let transmission = p.float(reader, "specular_transmission_weight", 0.0).clamp(0.0, 1.0);
    let mut opacity = 1.0 - transmission * (1.0 - GLASS_OPACITY);
    if p.bool(reader, "enable_opacity", false) {
        opacity *= p.float(reader, "geometry_opacity", 1.0);
        let threshold = p.float(reader, "geometry_opacity_threshold", 0.0);
        if threshold > 0.0 {
            m.opacity_threshold = Input::Value(threshold);
        }
    }
    m.opacity = Input::Value(opacity);
    if let Some(mut l) = p.texture(reader, "geometry_normal_image", false) {
        l.scale = [2.0, 2.0, 2.0, 1.0];
        l.bias = [-1.0, -1.0, -1.0, 0.0];
        m.normal = Some(l);
    }
}

/// OmniGlass: transmission drawn as transparency, tinted by the glass colour.
fn omni_glass(reader: &mut Reader, p: &Params, m: &mut Material) {
    m.diffuse_color = match p.texture(reader, "glass_color_texture", true) {
        Some(l) => Input::Texture(l),
        None => Input::Value(p.color(reader, "glass_color", [1.0; 3])),
    };
    m.roughness = Input::Value(p.float(reader, "frosting_roughness", 0.0));
    m.ior = Input::Value(p.float(reader, "glass_ior", 1.491));
    let cutout = if p.bool(reader, "enable_opacity", false) {
        p.float(reader, "cutout_opacity", 1.0)
    } else {
        1.0
    };
    m.opacity = Input::Value(GLASS_OPACITY * cutout);
}
