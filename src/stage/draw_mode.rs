//! UsdGeomModelAPI draw modes as UsdImaging applies them (UsdImagingDelegate::_IsDrawModeApplied,
//! UsdImagingDrawModeAdapter): a model whose resolved `model:drawMode` is `origin`, `bounds` or
//! `cards`, and whose draw mode applies (`model:applyDrawMode`, which a `component` has
//! implicitly), is drawn as a stand-in instead of its subtree. A prim left unloaded (a stage
//! opened with its payloads unloaded, the harness's `-unloadedAsBounds`) is drawn as its bounds.
//!
//! The stand-in's box is the model's bounds in its own space ([`super::bounds::model_bounds`]);
//! its colour `model:drawModeColor`; a card face reads `model:cardTexture{X,Y,Z}{Pos,Neg}` into
//! a UsdPreviewSurface's diffuse colour and opacity (cut out at 0.1), as the adapter's material
//! network does. The geometry itself is plain data: `scene::stand_in`.

use std::sync::Arc;

use openusd::sdf::{self, Value};
use openusd::usd::{self, TimeCode};
use openusd_schemas::geom::XformCache;

use super::graph::{DrawMode, Graph};
use super::material::Textures;
use super::samples;
use super::values::{self, Time};
use crate::scene::material::{Channel, Input, TextureLookup, Wrap};
use crate::scene::stand_in::{self, CardGeometry, Face};
use crate::scene::{Material, Mesh, Scene, Texture};
use crate::texture::ColorSpace;

/// `model:drawModeColor`'s fallback (UsdGeomModelAPI's schema).
const SCHEMA_COLOR: [f32; 3] = [0.18, 0.18, 0.18];

/// The card texture attributes, in [`Face`] order.
const CARD_TEXTURES: [&str; 6] = [
    "model:cardTextureXPos",
    "model:cardTextureXNeg",
    "model:cardTextureYPos",
    "model:cardTextureYNeg",
    "model:cardTextureZPos",
    "model:cardTextureZNeg",
];

/// The draw mode `prim` resolves to: its own `model:drawMode` unless unauthored or `inherited`,
/// else its parent's (`parent`).
pub fn inherited_mode(prim: &usd::Prim, parent: DrawMode) -> DrawMode {
    match values::token_attr(prim, "model:drawMode", None).as_deref() {
        Some("default") => DrawMode::Default,
        Some("origin") => DrawMode::Origin,
        Some("bounds") => DrawMode::Bounds,
        Some("cards") => DrawMode::Cards,
        _ => parent,
    }
}

/// What `prim` is drawn as in place of its subtree, if anything: an unloaded prim as its bounds
/// (only a stage opened with payloads unloaded has any: `may_be_unloaded`), a model as its draw
/// mode `mode` when that applies to it (`model:applyDrawMode` where authored, else only a
/// component).
pub fn stand_in(prim: &usd::Prim, mode: DrawMode, may_be_unloaded: bool) -> Option<DrawMode> {
    if may_be_unloaded && !prim.is_loaded().unwrap_or(true) {
        return Some(DrawMode::Bounds);
    }
    if mode == DrawMode::Default || !prim.is_model().unwrap_or(false) {
        return None;
    }
    let applies = match values::bool_attr(prim, "model:applyDrawMode", None) {
        Some(authored)
            if prim
                .attribute("model:applyDrawMode")
                .has_authored_value()
                .unwrap_or(false) =>
        {
            authored
        }
        _ => prim.is_component().unwrap_or(false),
    };
    applies.then_some(mode)
}

/// `model:drawModeColor`, or the schema's fallback.
fn draw_mode_color(prim: &usd::Prim) -> [f32; 3] {
    match values::raw(prim, "model:drawModeColor", None)
        .as_ref()
        .and_then(values::as_vec4)
    {
        Some(c) if c[..3].iter().all(|x| x.is_finite()) => [c[0], c[1], c[2]],
        _ => SCHEMA_COLOR,
    }
}

/// The asset a card texture attribute holds at `time` (`None` when empty or unauthored).
fn card_asset(prim: &usd::Prim, face: Face, time: Time) -> Option<sdf::AssetPath> {
    match values::raw(prim, CARD_TEXTURES[face.0], time) {
        Some(Value::AssetPath(a)) if !a.asset_path().is_empty() => Some(a),
        _ => None,
    }
}

/// The material of a card face with a texture: UsdPreviewSurface whose diffuse colour and
/// opacity read the face's texture (clamped, the draw mode colour where it cannot be read), cut
/// out below 0.1. `None` when the face has no texture at `time`. With `store`, every file the
/// attribute names over time is loaded (a frame loads nothing new).
#[allow(clippy::too_many_arguments)]
pub fn card_material(
    stage: &usd::Stage,
    prim: &usd::Prim,
    face: Face,
    time: Time,
    textures: &mut Textures,
    mut store: Option<&mut Vec<Arc<Texture>>>,
    warnings: &mut Vec<String>,
) -> Option<Material> {
    let name = CARD_TEXTURES[face.0];
    let asset = card_asset(prim, face, time)?;
    let attr = prim.attribute(name);
    let anchor = attr
        .resolve_info()
        .ok()
        .and_then(|r| r.spec_site().map(|s| s.layer.clone()));
    if store.is_some() && samples::varies(prim, name) {
        for t in attr
            .time_samples_in_interval(f64::NEG_INFINITY..=f64::INFINITY)
            .unwrap_or_default()
        {
            if let Some(sampled) = card_asset(prim, face, Some(TimeCode::new(t))) {
                textures.get(
                    stage,
                    prim.path(),
                    anchor.as_deref(),
                    &sampled,
                    ColorSpace::Auto,
                    store.as_deref_mut(),
                    warnings,
                );
            }
        }
    }
    let texture = textures.get(
        stage,
        prim.path(),
        anchor.as_deref(),
        &asset,
        ColorSpace::Auto,
        store,
        warnings,
    );
    let c = draw_mode_color(prim);
    let lookup = |channel| TextureLookup {
        texture,
        channel,
        wrap_s: Wrap::Clamp,
        wrap_t: Wrap::Clamp,
        scale: [1.0; 4],
        bias: [0.0; 4],
        fallback: [c[0], c[1], c[2], 1.0],
        st_primvar: "cardsUv".into(),
        st_transform: TextureLookup::IDENTITY,
    };
    Some(Material {
        diffuse_color: Input::Texture(lookup(Channel::Rgb)),
        opacity: Input::Texture(lookup(Channel::A)),
        opacity_threshold: Input::Value(0.1),
        ..Material::preview_surface_defaults(&format!("{}.{name}", prim.path()))
    })
}

/// A card face's material that changes over time: its prim and face, re-read each frame.
#[derive(Debug, Clone)]
pub struct AnimatedCard {
    pub prim: sdf::Path,
    pub face: Face,
}

/// What a stand-in is drawn as: meshes in the prim's space, each with its material index, and
/// the card faces whose textures change over time (their material index and face).
pub struct StandIn {
    pub parts: Vec<(Mesh, u32)>,
    pub animated: Vec<(u32, AnimatedCard)>,
}

/// Builds the stand-in `mode` of `prim` at `time`; card materials join `scene.materials`.
#[allow(clippy::too_many_arguments)]
pub fn build(
    stage: &usd::Stage,
    graph: &Graph,
    cache: &mut XformCache,
    prim: &usd::Prim,
    mode: DrawMode,
    time: Time,
    textures: &mut Textures,
    scene: &mut Scene,
    warnings: &mut Vec<String>,
) -> StandIn {
    let mut out = StandIn {
        parts: Vec::new(),
        animated: Vec::new(),
    };
    let path = prim.path().as_str().to_string();
    let color = draw_mode_color(prim);
    let named = |mut m: Mesh| {
        m.path = path.clone();
        m
    };
    let geometry = match values::token_attr(prim, "model:cardGeometry", None).as_deref() {
        Some("box") => Some(CardGeometry::Box),
        Some("fromTexture") => None,
        _ => Some(CardGeometry::Cross),
    };
    if mode == DrawMode::Origin {
        out.parts.push((named(stand_in::origin_lines(color)), 0));
        return out;
    }
    if mode == DrawMode::Cards && geometry.is_none() {
        from_texture(stage, prim, time, color, textures, scene, &mut out, warnings);
        for (mesh, _) in &mut out.parts {
            mesh.path = path.clone();
        }
        return out;
    }
    let bounds = super::bounds::model_bounds(stage, graph, cache, prim, time);
    if bounds.is_empty() {
        log::debug!("{path}: no bounds; its {mode:?} stand-in is not drawn");
        return out;
    }
    let Some(geometry) = geometry.filter(|_| mode == DrawMode::Cards) else {
        out.parts.push((named(stand_in::bounds_lines(&bounds, color)), 0));
        return out;
    };
    let textured: [bool; 6] = Face::ALL.map(|f| card_asset(prim, f, time).is_some());
    let mut materials: [Option<u32>; 6] = [None; 6];
    for face in Face::ALL.into_iter().filter(|f| textured[f.0]) {
        if let Some(m) = card_material(stage, prim, face, time, textures, Some(&mut scene.textures), warnings) {
            scene.materials.push(m);
            let index = scene.materials.len() as u32 - 1;
            materials[face.0] = Some(index);
            if samples::varies(prim, CARD_TEXTURES[face.0]) {
                out.animated.push((
                    index,
                    AnimatedCard {
                        prim: prim.path().clone(),
                        face,
                    },
                ));
            }
        }
    }
    for face in stand_in::card_faces(textured) {
        // A face without a texture borrows its opposite's; with none at all, the draw mode
        // colour, lit as displayColor (Storm binds the faces to materials it never made).
        let material = materials[face.0].or(materials[face.opposite().0]).unwrap_or(0);
        let quad = stand_in::card_quad(&bounds, face, geometry, textured, color);
        out.parts.push((named(quad), material));
    }
    out
}

/// The `fromTexture` cards of `prim`: one quad per face whose texture carries a `worldtoscreen`
/// matrix, placed by it (see [`stand_in::card_from_texture`]), reading that texture.
#[allow(clippy::too_many_arguments)]
fn from_texture(
    stage: &usd::Stage,
    prim: &usd::Prim,
    time: Time,
    color: [f32; 3],
    textures: &mut Textures,
    scene: &mut Scene,
    out: &mut StandIn,
    warnings: &mut Vec<String>,
) {
    for face in Face::ALL {
        let Some(asset) = card_asset(prim, face, time) else {
            continue;
        };
        let anchor = prim
            .attribute(CARD_TEXTURES[face.0])
            .resolve_info()
            .ok()
            .and_then(|r| r.spec_site().map(|s| s.layer.clone()));
        let matrix = super::assets::read_asset(stage, anchor.as_deref(), asset.asset_path())
            .ok()
            .and_then(|(_, bytes)| crate::texture::world_to_screen(&bytes));
        let Some(quad) = matrix.and_then(|m| stand_in::card_from_texture(&m, color)) else {
            warnings.push(format!(
                "{}: @{}@ has no usable worldtoscreen matrix; its fromTexture card is not drawn",
                prim.path(),
                asset.asset_path()
            ));
            continue;
        };
        let material = match card_material(stage, prim, face, time, textures, Some(&mut scene.textures), warnings) {
            Some(m) => {
                scene.materials.push(m);
                scene.materials.len() as u32 - 1
            }
            None => 0,
        };
        out.parts.push((quad, material));
    }
}

/// A card face's material at `time` (per-frame evaluation: only textures loaded at extraction).
pub fn card_material_at(
    stage: &usd::Stage,
    card: &AnimatedCard,
    time: f64,
    textures: &mut Textures,
    warnings: &mut Vec<String>,
) -> Option<Material> {
    let prim = stage.prim(card.prim.clone()).ok()?;
    card_material(stage, &prim, card.face, values::at(time), textures, None, warnings)
}
