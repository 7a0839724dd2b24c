//! Materials: which Material a drawn prim is bound to (UsdShade's resolution, `preview` purpose
//! first, as Storm asks), and UsdPreviewSurface networks read into plain [`Material`]s by walking
//! shader connections (through NodeGraphs and interface inputs) to UsdUVTexture,
//! UsdPrimvarReader and UsdTransform2d nodes. Textures are loaded once per (file, colour space).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use openusd::sdf::{self, Value};
use openusd::usd::{self, TimeCode};
use openusd_schemas::shade::MaterialBindingAPI;

mod materialx;
mod mdl;

use super::samples;
use super::values::{self, Time};
use crate::scene::material::{Channel, Input, Material, TextureLookup, Wrap};
use crate::scene::{Scene, Texture};
use crate::texture::ColorSpace;

/// The default colour of a mesh without displayColor (as Storm draws it).
pub const DEFAULT_COLOR: [f32; 3] = [0.5, 0.5, 0.5];

/// The purpose Storm resolves bindings for; all-purpose bindings are the fallback.
pub const PURPOSE: &str = "preview";

/// The Material path bound to the prim at `path` (preview purpose, then all-purpose), as
/// `UsdShadeMaterialBindingAPI::ComputeBoundMaterial`: collection bindings, `bindMaterialAs`
/// strength and inheritance down namespace. Whether the target is a usable Material is the
/// caller's question.
pub fn bound_material(stage: &usd::Stage, path: &sdf::Path) -> Option<sdf::Path> {
    let prim = stage.prim(path.clone()).ok()?;
    match MaterialBindingAPI::from_prim_unchecked(prim).compute_bound_material(PURPOSE) {
        Ok(m) => m,
        Err(e) => {
            log::debug!("{path}: material binding: {e}");
            None
        }
    }
}

/// Whether `path` names a Material prim (pxr binds nothing through any other target).
pub fn is_material(stage: &usd::Stage, path: &sdf::Path) -> bool {
    stage
        .prim(path.clone())
        .ok()
        .filter(|p| p.is_valid().unwrap_or(false))
        .is_some_and(|p| type_name(&p) == "Material")
}

/// GeomSubsets of the `materialBind` family under a mesh: each subset's path and face indices.
pub fn material_subsets(prim: &usd::Prim, time: Time) -> Vec<(sdf::Path, Vec<i64>)> {
    let Ok(children) = prim.children() else {
        return Vec::new();
    };
    children
        .into_iter()
        .filter(|c| c.type_name().ok().flatten().is_some_and(|t| t.as_str() == "GeomSubset"))
        .filter(|c| values::token_attr(c, "familyName", None).as_deref() == Some("materialBind"))
        .filter(|c| values::token_attr(c, "elementType", None).is_none_or(|e| e == "face"))
        .map(|c| {
            let indices = values::int_array_attr(&c, "indices", time).unwrap_or_default();
            (c.path().clone(), indices)
        })
        .collect()
}

/// The textures of a scene, by (resolved file, colour space); `None` marks a file that failed.
#[derive(Default, Clone)]
pub struct Textures {
    index: HashMap<(String, ColorSpace), Option<u32>>,
    /// While set (material reading at extraction), a file is read when asked for and decoded
    /// later with the others, in parallel ([`Textures::decode_pending`]): the OpenChessSet's 30
    /// textures took 3.4 s of a 16-core machine's load one after another.
    pub defer: bool,
    /// Files read, not decoded yet: their id (a placeholder in the store until then), bytes,
    /// name, colour space, key, and the prim and asset for the warning.
    pending: Vec<Pending>,
    /// Files already warned about (one warning per file, whatever the colour spaces asked).
    warned: HashSet<String>,
    /// Most bytes of decoded texels (mips included) the stage's textures may take
    /// (`Budget::texture_bytes`; 0 means no limit); `used` so far.
    pub budget: u64,
    used: u64,
}

impl Textures {
    /// Loads `asset` (authored in layer `anchor`, read by prim `user`) once; `store` receives a
    /// new texture during extraction and is `None` during per-frame evaluation (no new textures
    /// then). One warning per file that cannot be read, naming the first prim that reads it.
    #[allow(clippy::too_many_arguments)]
    pub fn get(
        &mut self,
        stage: &usd::Stage,
        user: &sdf::Path,
        anchor: Option<&str>,
        asset: &sdf::AssetPath,
        color_space: ColorSpace,
        store: Option<&mut Vec<Arc<Texture>>>,
        warnings: &mut Vec<String>,
    ) -> Option<u32> {
        let authored = asset.asset_path();
        if authored.is_empty() {
            return None;
        }
        let resolved = asset
            .resolved_path()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}|{authored}", anchor.unwrap_or("")));
        let key = (resolved.clone(), color_space);
        if let Some(i) = self.index.get(&key) {
            return *i;
        }
        let store = store?;
        if self.defer && !authored.contains("<UDIM>") {
            // Read now (the resolver is not shared across threads), decode with the others.
            match super::assets::read_asset(stage, anchor, authored) {
                Ok((name, bytes)) => {
                    store.push(Arc::new(Texture::solid(&name, [0.0, 0.0, 0.0, 1.0])));
                    let id = store.len() as u32 - 1;
                    self.pending.push(Pending {
                        id,
                        bytes,
                        name,
                        color_space,
                        key: key.clone(),
                        user: user.clone(),
                        authored: authored.to_string(),
                    });
                    self.index.insert(key, Some(id));
                    return Some(id);
                }
                Err(e) => {
                    if self.warned.insert(resolved) {
                        warnings.push(format!(
                            "{user}: texture @{authored}@ not loaded ({e}); its fallback is used"
                        ));
                    }
                    self.index.insert(key, None);
                    return None;
                }
            }
        }
        let loaded = super::assets::load_texture(stage, anchor, authored, color_space).and_then(|t| self.charge(t));
        let id = match loaded {
            Ok(t) => {
                store.push(Arc::new(t));
                Some(store.len() as u32 - 1)
            }
            Err(e) => {
                if self.warned.insert(resolved) {
                    warnings.push(format!(
                        "{user}: texture @{authored}@ not loaded ({e}); its fallback is used"
                    ));
                }
                None
            }
        };
        self.index.insert(key, id);
        id
    }
}

/// A texture file read and not yet decoded.
#[derive(Clone)]
struct Pending {
    id: u32,
    bytes: Vec<u8>,
    name: String,
    color_space: ColorSpace,
    key: (String, ColorSpace),
    user: sdf::Path,
    authored: String,
}

impl Textures {
    /// `t`, its decoded bytes counted against the budget; an error when they would pass it.
    fn charge(&mut self, t: Texture) -> Result<Texture, String> {
        let bytes: u64 = t.mips.iter().map(|m| m.len() as u64).sum();
        if self.budget > 0 && self.used.saturating_add(bytes) > self.budget {
            return Err(format!(
                "its {bytes} decoded bytes would take the stage's textures past their budget of {} bytes (a quarter of --max-memory, by default of the machine's memory)",
                self.budget
            ));
        }
        self.used += bytes;
        Ok(t)
    }

    /// Decodes the files read while [`Textures::defer`] was set, in parallel, into their places
    /// in `store`, and stops deferring. The budget is applied in id order, as one file after
    /// another would have it (a batch of as many files as threads is decoded at a time, so at
    /// most one batch more than the budget is held). A file that does not decode or fit gives
    /// one warning, and every lookup of it in `materials` its fallback.
    pub fn decode_pending(
        &mut self,
        store: &mut [Arc<Texture>],
        materials: &mut [Material],
        warnings: &mut Vec<String>,
    ) {
        use rayon::prelude::*;
        self.defer = false;
        let pending = std::mem::take(&mut self.pending);
        let mut failed: HashSet<u32> = HashSet::new();
        let batch = rayon::current_num_threads().max(1);
        for chunk in pending.chunks(batch) {
            let decoded: Vec<Result<Texture, String>> = chunk
                .par_iter()
                .map(|p| crate::texture::decode(&p.bytes, &p.name, p.color_space))
                .collect();
            for (p, result) in chunk.iter().zip(decoded) {
                let fits = result.and_then(|t| self.charge(t));
                match fits {
                    Ok(t) => store[p.id as usize] = Arc::new(t),
                    Err(e) => {
                        failed.insert(p.id);
                        self.index.insert(p.key.clone(), None);
                        // A 1x1 stand-in keeps the ids of the others; nothing reads it.
                        store[p.id as usize] = Arc::new(Texture::solid(&p.name, [0.0, 0.0, 0.0, 1.0]));
                        if self.warned.insert(p.key.0.clone()) {
                            warnings.push(format!(
                                "{}: texture @{}@ not loaded ({e}); its fallback is used",
                                p.user, p.authored
                            ));
                        }
                    }
                }
            }
        }
        if failed.is_empty() {
            return;
        }
        for m in materials {
            m.for_each_lookup_mut(|l| {
                if l.texture.is_some_and(|t| failed.contains(&t)) {
                    l.texture = None;
                }
            });
        }
    }
}

/// Materials met so far, by Material path.
#[derive(Default)]
pub struct Materials {
    by_path: HashMap<sdf::Path, u32>,
    /// Material paths already warned about (unusable materials warn once).
    warned: HashSet<sdf::Path>,
    pub textures: Textures,
    /// Animated materials: index into `Scene::materials` and what it is read from, in
    /// `Scene::dynamic_materials` order.
    pub dynamic: Vec<(u32, Animated)>,
}

/// What an animated material is re-read from each frame.
pub enum Animated {
    /// A Material prim.
    Prim(sdf::Path),
    /// A stand-in's card face (its texture is animated).
    Card(super::draw_mode::AnimatedCard),
}

impl Materials {
    /// The index in `scene.materials` of the material bound to `path`: 0 (displayColor) when none
    /// is bound or it is unusable (one warning per material path).
    pub fn for_prim(
        &mut self,
        stage: &usd::Stage,
        path: &sdf::Path,
        time: Time,
        scene: &mut Scene,
        warnings: &mut Vec<String>,
    ) -> u32 {
        match bound_material(stage, path) {
            Some(m) => self.index(stage, &m, time, scene, warnings),
            None => 0,
        }
    }

    /// The index of Material `material` in `scene.materials`, reading it on first use.
    pub fn index(
        &mut self,
        stage: &usd::Stage,
        material: &sdf::Path,
        time: Time,
        scene: &mut Scene,
        warnings: &mut Vec<String>,
    ) -> u32 {
        if let Some(&i) = self.by_path.get(material) {
            return i;
        }
        let mut reader = Reader {
            stage,
            time,
            textures: &mut self.textures,
            store: Some(&mut scene.textures),
            warnings,
            varies: false,
            log_context: true,
            authored: Vec::new(),
        };
        let i = match reader.material(material) {
            Ok(m) => {
                let varies = reader.varies;
                scene.materials.push(m);
                let i = scene.materials.len() as u32 - 1;
                if varies {
                    scene.dynamic_materials.push(i);
                    self.dynamic.push((i, Animated::Prim(material.clone())));
                }
                i
            }
            Err(why) => {
                if self.warned.insert(material.clone()) {
                    warnings.push(format!("{material}: {why}; displayColor is used instead"));
                }
                0
            }
        };
        self.by_path.insert(material.clone(), i);
        i
    }
}

/// Re-reads an animated material at `time` (textures only from those loaded at extraction).
pub fn read_at(
    stage: &usd::Stage,
    material: &sdf::Path,
    time: f64,
    textures: &mut Textures,
    warnings: &mut Vec<String>,
) -> Option<Material> {
    let mut reader = Reader {
        stage,
        time: values::at(time),
        textures,
        store: None,
        warnings,
        varies: false,
        log_context: false,
        authored: Vec::new(),
    };
    reader.material(material).ok()
}

/// The material outputs a surface shader is looked for on, in order: Storm's own context, the
/// universal one, then MDL's and MaterialX's (Omniverse and MaterialX-only looks).
const RENDER_CONTEXTS: [&str; 4] = [
    "outputs:glslfx:surface",
    "outputs:surface",
    "outputs:mdl:surface",
    "outputs:mtlx:surface",
];

/// What kind of surface shader a render context leads to.
enum SurfaceKind {
    PreviewSurface,
    /// A shader whose implementation is an MDL module (`info:mdl:sourceAsset`).
    Mdl,
    /// A MaterialX node definition (`info:id = "ND_..."`).
    MaterialX(String),
    /// Anything else, described.
    Unknown(String),
}

impl SurfaceKind {
    fn of(shader: &usd::Prim) -> SurfaceKind {
        let id = shader_id(shader);
        if id == "UsdPreviewSurface" {
            return SurfaceKind::PreviewSurface;
        }
        let source_asset =
            values::token_attr(shader, "info:implementationSource", None).as_deref() == Some("sourceAsset");
        if source_asset && values::raw(shader, "info:mdl:sourceAsset", None).is_some() {
            return SurfaceKind::Mdl;
        }
        if id.starts_with("ND_") {
            return SurfaceKind::MaterialX(id);
        }
        SurfaceKind::Unknown(if id.is_empty() {
            "not identified by info:id and not an MDL source asset".to_string()
        } else {
            format!("{id:?}, which usdrender does not translate")
        })
    }

    fn describe(&self, shader: &usd::Prim) -> String {
        match self {
            SurfaceKind::PreviewSurface => "UsdPreviewSurface".into(),
            SurfaceKind::Mdl => {
                let asset = values::raw(shader, "info:mdl:sourceAsset", None)
                    .and_then(|v| match v {
                        Value::AssetPath(a) => Some(a.asset_path().to_string()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let sub = values::token_attr(shader, "info:mdl:sourceAsset:subIdentifier", None).unwrap_or_default();
                format!("MDL {asset} {sub}")
            }
            SurfaceKind::MaterialX(id) => format!("MaterialX {id}"),
            SurfaceKind::Unknown(what) => what.clone(),
        }
    }
}

/// Where a shader input's value comes from, after following connections.
enum Source {
    /// An authored value, and the attribute that holds it (prim, property name).
    Value(Value, usd::Prim, String),
    /// The output `name` of the shader prim.
    Output(usd::Prim, String),
    /// Nothing authored (or a broken connection): the input's fallback applies.
    None,
}

/// Most connections followed from one input (a cycle in a broken file must end).
const MAX_HOPS: usize = 32;

/// Reads one material network at one time.
struct Reader<'a> {
    stage: &'a usd::Stage,
    time: Time,
    textures: &'a mut Textures,
    store: Option<&'a mut Vec<Arc<Texture>>>,
    warnings: &'a mut Vec<String>,
    /// Whether any value read may vary over time.
    varies: bool,
    /// Whether to log which render context the material was drawn from (once per material:
    /// at extraction, not when an animated material is read again each frame).
    log_context: bool,
    /// The property names the layers author on the prims read so far (`None`: unknown, under
    /// value clips or unreadable).
    authored: Vec<(sdf::Path, Option<Vec<openusd::tf::Token>>)>,
}

fn shader_id(prim: &usd::Prim) -> String {
    values::token_attr(prim, "info:id", None).unwrap_or_default()
}

fn type_name(prim: &usd::Prim) -> String {
    prim.type_name()
        .ok()
        .flatten()
        .map(|t| t.as_str().to_string())
        .unwrap_or_default()
}

impl Reader<'_> {
    /// Follows `prim.name` through connections to a value or a shader output.
    /// Whether the layers may author `prim.name` (a value or a connection): `false` only when
    /// the prim's authored names, asked once per prim, lack it. A surface reads a dozen inputs and
    /// authors a few; an unauthored one is answered without three value resolutions.
    fn may_author(&mut self, prim: &usd::Prim, name: &str) -> bool {
        let path = prim.path();
        let names = match self.authored.iter().position(|(p, _)| p == path) {
            Some(i) => &self.authored[i].1,
            None => {
                let names = prim
                    .authored_property_names()
                    .ok()
                    .filter(|_| !samples::under_clips(prim));
                self.authored.push((path.clone(), names));
                &self.authored[self.authored.len() - 1].1
            }
        };
        names
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n.as_str() == name))
    }

    fn source(&mut self, prim: &usd::Prim, name: &str) -> Source {
        let (mut prim, mut name) = (prim.clone(), name.to_string());
        for _ in 0..MAX_HOPS {
            if !self.may_author(&prim, &name) {
                return Source::None;
            }
            let attr = prim.attribute(name.as_str());
            let connections = attr.connections().unwrap_or_default();
            let Some(target) = connections.first() else {
                if samples::varies(&prim, &name) {
                    self.varies = true;
                }
                return match values::raw(&prim, &name, self.time) {
                    Some(v) => Source::Value(v, prim, name),
                    None => Source::None,
                };
            };
            let Some((src_path, src_name)) = target.split_property() else {
                return Source::None;
            };
            let src_name = src_name.to_string();
            let Ok(src) = self.stage.prim(src_path) else {
                return Source::None;
            };
            if !src.is_valid().unwrap_or(false) {
                return Source::None;
            }
            let is_shader = type_name(&src) == "Shader";
            match src_name.strip_prefix("outputs:") {
                Some(out) if is_shader => return Source::Output(src, out.to_string()),
                // A NodeGraph's (or Material's) output: follow it inside; an interface input:
                // its value or its own connection.
                _ => {
                    prim = src;
                    name = src_name;
                }
            }
        }
        Source::None
    }

    fn material(&mut self, path: &sdf::Path) -> Result<Material, String> {
        let prim = self
            .stage
            .prim(path.clone())
            .ok()
            .filter(|p| p.is_valid().unwrap_or(false))
            .ok_or("the bound material does not exist")?;
        match type_name(&prim).as_str() {
            "Material" => {}
            "" => {
                return Err("the binding names a prim with no type, not a Material (an unresolved reference?)".into())
            }
            other => return Err(format!("the binding names a {other:?}, not a Material")),
        }
        // Each render context in turn: the first whose surface shader we can translate wins;
        // the reasons the earlier ones did not are kept for the log, or for the error.
        let mut passed_over = Vec::new();
        for output in RENDER_CONTEXTS {
            let Source::Output(shader, _) = self.source(&prim, output) else {
                continue;
            };
            let kind = SurfaceKind::of(&shader);
            let read = match &kind {
                SurfaceKind::PreviewSurface => self.preview_surface(path, &prim, &shader),
                SurfaceKind::Mdl => mdl::read(self, path, &shader),
                SurfaceKind::MaterialX(id) => materialx::read(self, path, &shader, id),
                SurfaceKind::Unknown(what) => Err(format!("the shader {} is {what}", shader.path())),
            };
            match read {
                Ok(m) => {
                    if self.log_context {
                        let why = if passed_over.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", passed_over.join("; "))
                        };
                        log::info!("{path}: drawn from {output}, {}{why}", kind.describe(&shader));
                    }
                    return Ok(m);
                }
                Err(why) => passed_over.push(format!("{output}: {why}")),
            }
        }
        if passed_over.is_empty() {
            return Err(format!(
                "no surface shader connected to any of {}",
                RENDER_CONTEXTS.join(", ")
            ));
        }
        Err(passed_over.join("; "))
    }

    /// A UsdPreviewSurface network.
    fn preview_surface(&mut self, path: &sdf::Path, prim: &usd::Prim, surface: &usd::Prim) -> Result<Material, String> {
        let surface = surface.clone();
        // Storm displaces only through the Material's displacement output (exporters routinely
        // connect it with nothing displacing; a zero displacement changes nothing).
        let mut displacement = Input::Value(0.0);
        for o in ["outputs:displacement", "outputs:glslfx:displacement"] {
            if let Source::Output(shader, _) = self.source(prim, o) {
                displacement = self.scalar(&shader, "displacement", displacement);
                break;
            }
        }
        let mut m = Material::preview_surface_defaults(path.as_str());
        m.diffuse_color = self.color(&surface, "diffuseColor", m.diffuse_color);
        m.emissive_color = self.color(&surface, "emissiveColor", m.emissive_color);
        m.specular_color = self.color(&surface, "specularColor", m.specular_color);
        m.use_specular_workflow = match self.source(&surface, "inputs:useSpecularWorkflow") {
            Source::Value(v, ..) => values::as_f64(&v).map(|x| x != 0.0).or(values::as_bool(&v)),
            _ => None,
        }
        .unwrap_or(false);
        m.metallic = self.scalar(&surface, "metallic", m.metallic);
        m.roughness = self.scalar(&surface, "roughness", m.roughness);
        m.clearcoat = self.scalar(&surface, "clearcoat", m.clearcoat);
        m.clearcoat_roughness = self.scalar(&surface, "clearcoatRoughness", m.clearcoat_roughness);
        m.opacity = self.scalar(&surface, "opacity", m.opacity);
        m.opacity_threshold = self.scalar(&surface, "opacityThreshold", m.opacity_threshold);
        m.ior = self.scalar(&surface, "ior", m.ior);
        m.occlusion = self.scalar(&surface, "occlusion", m.occlusion);
        m.displacement = displacement;
        // A constant normal is ignored, as Storm does: only a texture changes the normal.
        m.normal = match self.source(&surface, "inputs:normal") {
            Source::Output(shader, out) if shader_id(&shader) == "UsdUVTexture" => Some(self.texture(&shader, &out)),
            _ => None,
        };
        Ok(m)
    }

    /// A colour input: value, texture (rgb) or primvar reader.
    fn color(&mut self, surface: &usd::Prim, input: &str, default: Input<[f32; 3]>) -> Input<[f32; 3]> {
        let fallback = default.value().unwrap_or([0.0; 3]);
        match self.source(surface, &format!("inputs:{input}")) {
            Source::Value(v, ..) => values::as_vec4(&v).map_or(default, |c| Input::Value([c[0], c[1], c[2]])),
            Source::Output(shader, out) => match self.node_input(&shader, &out) {
                Some(Node::Texture(t)) => Input::Texture(t),
                Some(Node::Primvar { primvar, fallback: f }) => Input::VertexColor {
                    primvar,
                    fallback: f.map_or(fallback, |c| [c[0], c[1], c[2]]),
                },
                None => default,
            },
            Source::None => default,
        }
    }

    /// A scalar input: value, texture (one channel) or primvar reader.
    fn scalar(&mut self, surface: &usd::Prim, input: &str, default: Input<f32>) -> Input<f32> {
        let fallback = default.value().unwrap_or(0.0);
        match self.source(surface, &format!("inputs:{input}")) {
            Source::Value(v, ..) => values::as_f64(&v).map_or(default, |x| Input::Value(x as f32)),
            Source::Output(shader, out) => match self.node_input(&shader, &out) {
                Some(Node::Texture(t)) => Input::Texture(t),
                Some(Node::Primvar { primvar, fallback: f }) => Input::VertexColor {
                    primvar,
                    fallback: f.map_or(fallback, |c| c[0]),
                },
                None => default,
            },
            Source::None => default,
        }
    }

    /// What a shader output feeding a surface input is.
    fn node_input(&mut self, shader: &usd::Prim, out: &str) -> Option<Node> {
        let id = shader_id(shader);
        if id == "UsdUVTexture" {
            return Some(Node::Texture(self.texture(shader, out)));
        }
        if id.starts_with("UsdPrimvarReader_") {
            let primvar = self.string_input(shader, "varname").unwrap_or_default();
            let fallback = match self.source(shader, "inputs:fallback") {
                Source::Value(v, ..) => values::as_vec4(&v),
                _ => None,
            };
            if primvar.is_empty() {
                return None;
            }
            return Some(Node::Primvar { primvar, fallback });
        }
        self.warnings.push(format!(
            "{}: shader {id:?} is not supported in a UsdPreviewSurface network; the input's value is used",
            shader.path()
        ));
        None
    }

    /// A string or token input (a primvar reader's `varname`), through interface connections.
    fn string_input(&mut self, shader: &usd::Prim, input: &str) -> Option<String> {
        match self.source(shader, &format!("inputs:{input}")) {
            Source::Value(v, ..) => values::as_token(&v),
            _ => None,
        }
    }

    fn vec4_input(&mut self, shader: &usd::Prim, input: &str, default: [f32; 4]) -> [f32; 4] {
        match self.source(shader, &format!("inputs:{input}")) {
            Source::Value(v, ..) => values::as_vec4(&v).unwrap_or(default),
            _ => default,
        }
    }

    fn f32_input(&mut self, shader: &usd::Prim, input: &str, default: f32) -> f32 {
        match self.source(shader, &format!("inputs:{input}")) {
            Source::Value(v, ..) => values::as_f64(&v).map_or(default, |x| x as f32),
            _ => default,
        }
    }

    /// A UsdUVTexture read through output `out`.
    fn texture(&mut self, shader: &usd::Prim, out: &str) -> TextureLookup {
        let channel = match out {
            "r" => Channel::R,
            "g" => Channel::G,
            "b" => Channel::B,
            "a" => Channel::A,
            _ => Channel::Rgb,
        };
        let color_space = match self.string_input(shader, "sourceColorSpace").as_deref() {
            Some("raw") => ColorSpace::Raw,
            Some("sRGB") => ColorSpace::Srgb,
            _ => ColorSpace::Auto,
        };
        let wrap_s = wrap(self.string_input(shader, "wrapS").as_deref());
        let wrap_t = wrap(self.string_input(shader, "wrapT").as_deref());
        let texture = self.file(shader, "inputs:file", color_space);
        let (st_primvar, st_transform) = self.st(shader);
        TextureLookup {
            texture,
            channel,
            wrap_s,
            wrap_t,
            scale: self.vec4_input(shader, "scale", [1.0; 4]),
            bias: self.vec4_input(shader, "bias", [0.0; 4]),
            fallback: self.vec4_input(shader, "fallback", [0.0, 0.0, 0.0, 1.0]),
            st_primvar,
            st_transform,
        }
    }

    /// The image an asset input (`inputs:file`, or an MDL shader's texture parameter) names,
    /// loaded once per file and colour space; `None` when unauthored or unreadable.
    fn file(&mut self, shader: &usd::Prim, input: &str, color_space: ColorSpace) -> Option<u32> {
        match self.source(shader, input) {
            Source::Value(Value::AssetPath(asset), holder, name) => {
                let attr = holder.attribute(name.as_str());
                let anchor = attr
                    .resolve_info()
                    .ok()
                    .and_then(|r| r.spec_site().map(|s| s.layer.clone()));
                // An animated file (a texture per time sample): every sampled file is loaded at
                // extraction, since per-frame evaluation loads nothing new.
                if self.store.is_some() && samples::varies(&holder, &name) {
                    let times = attr
                        .time_samples_in_interval(f64::NEG_INFINITY..=f64::INFINITY)
                        .unwrap_or_default();
                    for t in times {
                        if let Some(Value::AssetPath(sampled)) = values::raw(&holder, &name, Some(TimeCode::new(t))) {
                            self.textures.get(
                                self.stage,
                                shader.path(),
                                anchor.as_deref(),
                                &sampled,
                                color_space,
                                self.store.as_deref_mut(),
                                self.warnings,
                            );
                        }
                    }
                }
                self.textures.get(
                    self.stage,
                    shader.path(),
                    anchor.as_deref(),
                    &asset,
                    color_space,
                    self.store.as_deref_mut(),
                    self.warnings,
                )
            }
            Source::Value(..) => {
                self.warnings
                    .push(format!("{}: {input} is not an asset; no texture", shader.path()));
                None
            }
            _ => None,
        }
    }

    /// The `colorSpace` metadata of an input's attribute (after connections), if authored.
    fn color_space_of(&mut self, shader: &usd::Prim, input: &str) -> Option<String> {
        match self.source(shader, input) {
            Source::Value(_, holder, name) => holder
                .attribute(name.as_str())
                .get_metadata::<String>("colorSpace")
                .ok()
                .flatten()
                .or_else(|| {
                    holder
                        .attribute(name.as_str())
                        .get_metadata::<openusd::tf::Token>("colorSpace")
                        .ok()
                        .flatten()
                        .map(|t| t.as_str().to_string())
                }),
            _ => None,
        }
    }

    /// The primvar and UsdTransform2d feeding a texture's `st`.
    fn st(&mut self, texture: &usd::Prim) -> (String, [[f32; 3]; 2]) {
        let mut transform = TextureLookup::IDENTITY;
        let mut node = match self.source(texture, "inputs:st") {
            Source::Output(p, _) => p,
            _ => return (String::new(), transform),
        };
        for _ in 0..MAX_HOPS {
            // UsdShade's ids, or MaterialX's definitions of the same nodes (`ND_UsdTransform2d`...).
            let id = shader_id(&node);
            let id = materialx::category(&id).map_or(id.as_str(), |(c, _)| c).to_string();
            if id == "UsdTransform2d" {
                let rotation = self.f32_input(&node, "rotation", 0.0);
                let s = self.vec4_input(&node, "scale", [1.0, 1.0, 0.0, 0.0]);
                let t = self.vec4_input(&node, "translation", [0.0; 4]);
                transform = compose(transform, transform2d(rotation, [s[0], s[1]], [t[0], t[1]]));
                node = match self.source(&node, "inputs:in") {
                    Source::Output(p, _) => p,
                    _ => return (String::new(), transform),
                };
            } else if id.starts_with("UsdPrimvarReader") {
                return (self.string_input(&node, "varname").unwrap_or_default(), transform);
            } else if id == "geompropvalue" {
                return (self.string_input(&node, "geomprop").unwrap_or_default(), transform);
            } else if id == "texcoord" {
                return ("st".to_string(), transform);
            } else {
                self.warnings.push(format!(
                    "{}: texture coordinates from a {id:?} shader are not supported",
                    node.path()
                ));
                break;
            }
        }
        (String::new(), transform)
    }
}

/// What a surface input is connected to.
enum Node {
    Texture(TextureLookup),
    Primvar {
        primvar: String,
        fallback: Option<[f32; 4]>,
    },
}

/// UsdUVTexture `wrapS`/`wrapT`. `useMetadata` and unauthored: Storm takes the image's own wrap
/// metadata and, for images without it (PNG, JPEG...), clamps to a black border; so `Black`.
fn wrap(token: Option<&str>) -> Wrap {
    match token {
        Some("repeat") => Wrap::Repeat,
        Some("mirror") => Wrap::Mirror,
        Some("clamp") => Wrap::Clamp,
        _ => Wrap::Black,
    }
}

/// UsdTransform2d as a 2x3 matrix: scale, then rotate (degrees, counter-clockwise), then
/// translate, as the spec orders them.
pub fn transform2d(rotation_degrees: f32, scale: [f32; 2], translation: [f32; 2]) -> [[f32; 3]; 2] {
    let (sin, cos) = rotation_degrees.to_radians().sin_cos();
    [
        [cos * scale[0], -sin * scale[1], translation[0]],
        [sin * scale[0], cos * scale[1], translation[1]],
    ]
}

/// `inner` applied after `outer` was found downstream: the result maps st through `inner`
/// (nearer the reader) first, then `outer`.
fn compose(outer: [[f32; 3]; 2], inner: [[f32; 3]; 2]) -> [[f32; 3]; 2] {
    let mut out = [[0.0; 3]; 2];
    for r in 0..2 {
        for c in 0..3 {
            out[r][c] = outer[r][0] * inner[0][c] + outer[r][1] * inner[1][c] + if c == 2 { outer[r][2] } else { 0.0 };
        }
    }
    out
}

/// The primvars a mesh must carry for a material: texture coordinates, and the per-vertex colour
/// (rgb) and alpha primvars with their fallbacks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PrimvarNeeds {
    /// Empty: no texture coordinates.
    pub uv: String,
    pub rgb: String,
    pub alpha: String,
    /// Fallback colour and alpha when the primvar is missing, as bit patterns (hashable).
    pub fallback: [u32; 4],
}

impl PrimvarNeeds {
    pub fn fallback(&self) -> [f32; 4] {
        self.fallback.map(f32::from_bits)
    }

    /// The needs of a list of materials (a mesh's parts): the first that names each wins.
    pub fn of(materials: &[&Material]) -> PrimvarNeeds {
        let mut uv = None;
        let mut rgb = None;
        let mut alpha = None;
        for m in materials {
            if uv.is_none() {
                uv = m
                    .lookups()
                    .into_iter()
                    .chain([m.displacement.texture()])
                    .flatten()
                    .find(|l| !l.st_primvar.is_empty())
                    .map(|l| l.st_primvar.clone());
            }
            for c in [&m.diffuse_color, &m.emissive_color, &m.specular_color] {
                if let (None, Input::VertexColor { primvar, fallback }) = (&rgb, c) {
                    rgb = Some((primvar.clone(), *fallback));
                }
            }
            for s in [
                &m.opacity,
                &m.metallic,
                &m.roughness,
                &m.clearcoat,
                &m.clearcoat_roughness,
                &m.opacity_threshold,
                &m.ior,
                &m.occlusion,
            ] {
                if let (None, Input::VertexColor { primvar, fallback }) = (&alpha, s) {
                    alpha = Some((primvar.clone(), *fallback));
                }
            }
        }
        let (rgb, c) = rgb.unwrap_or_else(|| ("displayColor".into(), DEFAULT_COLOR));
        let (alpha, a) = alpha.unwrap_or_else(|| ("displayOpacity".into(), 1.0));
        PrimvarNeeds {
            uv: uv.unwrap_or_default(),
            rgb,
            alpha,
            fallback: [c[0], c[1], c[2], a].map(f32::to_bits),
        }
    }
}
