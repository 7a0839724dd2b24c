//! UsdLux lights to [`Light`]s: world transform, `color * intensity * 2^exposure` (times the
//! blackbody colour of `colorTemperature` when enabled), shape, ShapingAPI cone, ShadowAPI, the
//! dome's texture and light-linking; lights whose inputs, transform or visibility change are
//! re-read per frame.

use std::sync::Arc;

use openusd::sdf::{self, Value};
use openusd::usd::{self, CollectionAPI};
use openusd_schemas::geom::XformCache;

use super::graph::{visible_at, world, Graph};
use super::material::Textures;
use super::samples;
use super::values::{self, Time};
use crate::scene::light::{LightKind, Shaping};
use crate::scene::{Light, Texture};
use crate::texture::ColorSpace;

/// An animated light: its index in `Scene::lights` and its prim.
pub struct DynLight {
    pub index: u32,
    pub prim: usd::Prim,
    /// Visibility authored with time samples here or above.
    pub vis_animated: bool,
}

/// Whether `type_name` is a light this renderer draws.
fn is_light(type_name: &str) -> bool {
    matches!(
        type_name,
        "DistantLight" | "SphereLight" | "RectLight" | "DiskLight" | "CylinderLight" | "DomeLight" | "DomeLight_1"
    )
}

/// Every visible, active UsdLux light at `time`, and those that change over time.
#[allow(clippy::too_many_arguments)]
pub fn extract(
    stage: &usd::Stage,
    graph: &Graph,
    cache: &mut XformCache,
    time: Time,
    textures: &mut Textures,
    store: &mut Vec<Arc<Texture>>,
    instance_paths: &[sdf::Path],
    purposes: &[String],
    warnings: &mut Vec<String>,
) -> (Vec<Light>, Vec<DynLight>) {
    let mut lights = Vec::new();
    let mut dynamic = Vec::new();
    for path in &graph.order {
        let Some(node) = graph.nodes.get(path) else { continue };
        if !is_light(&node.type_name) {
            if node.type_name == "GeometryLight" || node.type_name == "PortalLight" {
                warnings.push(format!("{path}: {} is not supported; ignored", node.type_name));
            }
            continue;
        }
        if node.invisible && !node.vis_animated {
            continue;
        }
        // A light of a purpose not drawn is left out, as Storm does: the usdImagingGL baseline
        // of testPreviewSurfaceTextureScaleAndBias has a render-purpose DomeLight that neither
        // lights nor shows, while instancedCubes' default-purpose one shows.
        if !super::graph::purpose_drawn(&node.purpose, purposes) {
            continue;
        }
        let Ok(prim) = stage.prim(path.clone()) else { continue };
        let Some(mut light) = read(
            stage,
            cache,
            &prim,
            &node.type_name,
            time,
            textures,
            Some(&mut *store),
            warnings,
        ) else {
            continue;
        };
        if node.invisible {
            light.color = [0.0; 3];
        }
        light.linked_instances = linked_instances(&prim, instance_paths);
        let index = lights.len() as u32;
        if node.xform_animated || node.vis_animated || inputs_vary(&prim) {
            dynamic.push(DynLight {
                index,
                prim,
                vis_animated: node.vis_animated,
            });
        }
        lights.push(light);
    }
    (lights, dynamic)
}

/// The animated lights at `frame`, in `Scene::dynamic_lights` order; `previous` are the lights
/// at load time (light-linking and anything unreadable carry over from them).
pub fn evaluate(
    stage: &usd::Stage,
    cache: &mut XformCache,
    dynamic: &[DynLight],
    previous: &[Light],
    frame: f64,
    textures: &mut Textures,
    warnings: &mut Vec<String>,
) -> Vec<Light> {
    let t = values::at(frame);
    cache.set_time(t);
    dynamic
        .iter()
        .map(|d| {
            let before = previous.get(d.index as usize);
            let type_name = d
                .prim
                .type_name()
                .ok()
                .flatten()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default();
            let mut light = read(stage, cache, &d.prim, &type_name, t, textures, None, warnings)
                .or_else(|| before.cloned())
                .unwrap_or_else(|| dark(d.prim.path()));
            if d.vis_animated && !visible_at(stage, d.prim.path(), t) {
                light.color = [0.0; 3];
            }
            light.linked_instances = before.and_then(|b| b.linked_instances.clone());
            light
        })
        .collect()
}

fn dark(path: &sdf::Path) -> Light {
    Light {
        path: path.as_str().to_string(),
        kind: LightKind::Sphere {
            radius: 0.0,
            treat_as_point: true,
        },
        transform: glam::Mat4::IDENTITY,
        color: [0.0; 3],
        normalize: false,
        diffuse: 0.0,
        specular: 0.0,
        shaping: None,
        shadow: false,
        linked_instances: None,
    }
}

/// Whether any `inputs:` attribute of the light has time samples.
fn inputs_vary(prim: &usd::Prim) -> bool {
    prim.authored_property_names()
        .unwrap_or_default()
        .iter()
        .any(|n| n.as_str().starts_with("inputs:") && samples::varies(prim, n.as_str()))
}

/// Reads one light at `time`; `store` is `None` during per-frame evaluation (no new textures).
#[allow(clippy::too_many_arguments)]
fn read(
    stage: &usd::Stage,
    cache: &mut XformCache,
    prim: &usd::Prim,
    type_name: &str,
    time: Time,
    textures: &mut Textures,
    store: Option<&mut Vec<Arc<Texture>>>,
    warnings: &mut Vec<String>,
) -> Option<Light> {
    let f = |name: &str, fallback: f64| values::f64_attr(prim, name, time).unwrap_or(fallback) as f32;
    let b = |name: &str, fallback: bool| values::bool_attr(prim, name, time).unwrap_or(fallback);
    let color = values::raw(prim, "inputs:color", time)
        .as_ref()
        .and_then(values::as_vec4)
        .map_or([1.0; 3], |c| [c[0], c[1], c[2]]);
    let temperature = if b("inputs:enableColorTemperature", false) {
        blackbody(f("inputs:colorTemperature", 6500.0))
    } else {
        [1.0; 3]
    };
    let scale = f("inputs:intensity", 1.0) * f("inputs:exposure", 0.0).exp2();
    let kind = match type_name {
        "DistantLight" => LightKind::Distant {
            angle: f("inputs:angle", 0.53),
        },
        "SphereLight" => LightKind::Sphere {
            radius: f("inputs:radius", 0.5),
            treat_as_point: b("treatAsPoint", false),
        },
        "RectLight" => LightKind::Rect {
            width: f("inputs:width", 1.0),
            height: f("inputs:height", 1.0),
        },
        "DiskLight" => LightKind::Disk {
            radius: f("inputs:radius", 0.5),
        },
        "CylinderLight" => LightKind::Cylinder {
            length: f("inputs:length", 1.0),
            radius: f("inputs:radius", 0.5),
            treat_as_line: b("treatAsLine", false),
        },
        "DomeLight" | "DomeLight_1" => LightKind::Dome {
            texture: match values::raw(prim, "inputs:texture:file", time) {
                Some(Value::AssetPath(asset)) => {
                    let anchor = prim
                        .attribute("inputs:texture:file")
                        .resolve_info()
                        .ok()
                        .and_then(|r| r.spec_site().map(|s| s.layer.clone()));
                    textures.get(
                        stage,
                        prim.path(),
                        anchor.as_deref(),
                        &asset,
                        ColorSpace::Auto,
                        store,
                        warnings,
                    )
                }
                _ => None,
            },
        },
        _ => return None,
    };
    let shaping_authored = prim.has_api_schema("ShapingAPI").unwrap_or(false)
        || prim
            .authored_property_names()
            .unwrap_or_default()
            .iter()
            .any(|n| n.as_str().starts_with("inputs:shaping:"));
    let shaping = shaping_authored.then(|| Shaping {
        cone_angle: f("inputs:shaping:cone:angle", 90.0),
        cone_softness: f("inputs:shaping:cone:softness", 0.0),
        focus: f("inputs:shaping:focus", 0.0),
        focus_tint: values::raw(prim, "inputs:shaping:focusTint", time)
            .as_ref()
            .and_then(values::as_vec4)
            .map_or([0.0; 3], |c| [c[0], c[1], c[2]]),
    });
    Some(Light {
        path: prim.path().as_str().to_string(),
        kind,
        transform: world(cache, prim).as_mat4(),
        color: [0, 1, 2].map(|k| color[k] * temperature[k] * scale),
        normalize: b("inputs:normalize", false),
        diffuse: f("inputs:diffuse", 1.0),
        specular: f("inputs:specular", 1.0),
        shaping,
        shadow: b("inputs:shadow:enable", true),
        linked_instances: None,
    })
}

/// Light-linking: the instances (by the prim each draws) in the light's `lightLink` collection,
/// or `None` when the collection is not authored (it then includes everything).
fn linked_instances(prim: &usd::Prim, instance_paths: &[sdf::Path]) -> Option<Vec<u32>> {
    let authored = prim
        .authored_property_names()
        .unwrap_or_default()
        .iter()
        .any(|n| n.as_str().starts_with("collection:lightLink:"));
    if !authored {
        return None;
    }
    let query = match CollectionAPI::from_prim_unchecked(prim.clone(), "lightLink").compute_membership_query() {
        Ok(q) => q,
        Err(e) => {
            log::warn!(
                "{}: light-linking collection unreadable ({e}); lights everything",
                prim.path()
            );
            return None;
        }
    };
    Some(
        instance_paths
            .iter()
            .enumerate()
            .filter(|(_, p)| query.is_path_included(p))
            .map(|(i, _)| i as u32)
            .collect(),
    )
}

/// A point on the Planckian locus in CIE 1931 xy: Kim et al.'s cubic fit from 1667 K to 25000 K,
/// Krystek's rational fit (in CIE 1960 uv) from 1000 K to 1667 K; temperatures outside 1000 K to
/// 25000 K are clamped.
pub fn planckian_xy(kelvin: f32) -> (f64, f64) {
    let t = (kelvin as f64).clamp(1000.0, 25000.0);
    if t < 1667.0 {
        let u = (0.860117757 + 1.54118254e-4 * t + 1.28641212e-7 * t * t)
            / (1.0 + 8.42420235e-4 * t + 7.08145163e-7 * t * t);
        let v = (0.317398726 + 4.22806245e-5 * t + 4.20481691e-8 * t * t)
            / (1.0 - 2.89741816e-5 * t + 1.61456053e-7 * t * t);
        let d = 2.0 * u - 8.0 * v + 4.0;
        return (3.0 * u / d, 2.0 * v / d);
    }
    let (t2, t3) = (t * t, t * t * t);
    let x = if t <= 4000.0 {
        -0.2661239e9 / t3 - 0.2343589e6 / t2 + 0.8776956e3 / t + 0.179910
    } else {
        -3.0258469e9 / t3 + 2.1070379e6 / t2 + 0.2226347e3 / t + 0.240390
    };
    let (x2, x3) = (x * x, x * x * x);
    let y = if t <= 2222.0 {
        -1.1063814 * x3 - 1.34811020 * x2 + 2.18555832 * x - 0.20219683
    } else if t <= 4000.0 {
        -0.9549476 * x3 - 1.37418593 * x2 + 2.09137015 * x - 0.16748867
    } else {
        3.0817580 * x3 - 5.87338670 * x2 + 3.75112997 * x - 0.37001483
    };
    (x, y)
}

/// The colour of a black body at `kelvin` in linear Rec.709, scaled to luminance 1 (so it tints
/// without brightening; 6500 K is close to white).
pub fn blackbody(kelvin: f32) -> [f32; 3] {
    let (x, y) = planckian_xy(kelvin);
    let (cx, cy, cz) = (x / y, 1.0, (1.0 - x - y) / y);
    let rgb = [
        3.2404542 * cx - 1.5371385 * cy - 0.4985314 * cz,
        -0.9692660 * cx + 1.8760108 * cy + 0.0415560 * cz,
        0.0556434 * cx - 0.2040259 * cy + 1.0572252 * cz,
    ]
    .map(|c: f64| c.max(0.0));
    let luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    if luminance <= 0.0 || !luminance.is_finite() {
        return [1.0; 3];
    }
    rgb.map(|c| (c / luminance) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planckian_locus_matches_known_points() {
        // CIE illuminant A is a 2856 K black body: (0.4476, 0.4074).
        let (x, y) = planckian_xy(2856.0);
        assert!((x - 0.4476).abs() < 2e-3 && (y - 0.4074).abs() < 2e-3, "{x} {y}");
        // 6500 K on the locus: (0.3135, 0.3237), just off D65.
        let (x, y) = planckian_xy(6500.0);
        assert!((x - 0.3135).abs() < 2e-3 && (y - 0.3237).abs() < 2e-3, "{x} {y}");
    }

    #[test]
    fn blackbody_agrees_with_pxr() {
        // pxr's UsdLuxBlackbodyTemperatureAsRgb (usd-core 0.26), also luminance-normalised.
        for (k, pxr) in [
            (2000.0, [2.5206, 0.6469, 0.0204]),
            (3000.0, [1.7710, 0.8443, 0.2720]),
            (5000.0, [1.2135, 0.9605, 0.7621]),
            (10000.0, [0.8718, 0.9947, 1.4300]),
        ] {
            let ours = blackbody(k);
            for c in 0..3 {
                assert!(
                    (ours[c] - pxr[c]).abs() < 0.01 * pxr[c].max(0.1),
                    "{k} K: {ours:?} vs pxr {pxr:?}"
                );
            }
        }
        let deep_red = blackbody(1000.0);
        assert!(
            deep_red[0] > 4.0 && deep_red[1] < 0.2 && deep_red[2] == 0.0,
            "{deep_red:?}"
        );
    }

    #[test]
    fn blackbody_is_white_at_6500_warm_below_cool_above() {
        let w = blackbody(6500.0);
        assert!(w.iter().all(|c| (c - 1.0).abs() < 0.08), "{w:?}");
        let warm = blackbody(2000.0);
        assert!(warm[0] > warm[1] && warm[1] > warm[2], "{warm:?}");
        let cool = blackbody(10000.0);
        assert!(cool[2] > cool[0], "{cool:?}");
        for c in [w, warm, cool] {
            let lum = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
            assert!((lum - 1.0).abs() < 1e-4, "luminance {lum}");
        }
    }
}
