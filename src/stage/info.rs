//! `usdrender info`: what the renderer sees in a stage, with keys named as in the conformance
//! corpus' TRUTH.jsonl. Counted directly from attribute lengths (no triangulation), with instance
//! proxies included and geometry read at the earliest time, as the corpus' pxr counts are.

use openusd::usd::{self, TimeCode};

use super::camera::CameraInfo;
use super::graph::Graph;
use super::values;
use crate::frames::Timing;

/// The `info --json` object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageInfo {
    pub file: String,
    pub fps: f64,
    pub tcps: f64,
    pub start: Option<f64>,
    pub end: Option<f64>,
    /// Length of the default frame list, or the reason there is none.
    pub frames: serde_json::Value,
    #[serde(rename = "upAxis")]
    pub up_axis: String,
    #[serde(rename = "metersPerUnit")]
    pub meters_per_unit: f64,
    #[serde(rename = "defaultPrim")]
    pub default_prim: Option<String>,
    pub cameras: Vec<CameraInfo>,
    pub camera: serde_json::Value,
    pub meshes: u64,
    pub points: u64,
    pub faces: u64,
    pub point_instancers: u64,
    pub pi_instances: u64,
    /// Paths of the prims that are lights (a light type, or LightAPI applied).
    pub lights: Vec<String>,
    /// `lights.len()`, as TRUTH.jsonl's `n_lights`.
    pub n_lights: u64,
    /// The distinct type names of those lights, sorted (TRUTH.jsonl's `lights`).
    pub light_types: Vec<String>,
    /// Material prims.
    pub materials: u64,
    /// Distinct shader identifiers, sorted: `info:id`, or `sourceAsset:<attribute>` for a shader
    /// implemented by a source asset.
    pub shader_ids: Vec<String>,
    pub warnings: Vec<String>,
}

/// Geometry, light, material and shader counts over the traversal.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub meshes: u64,
    pub points: u64,
    pub faces: u64,
    pub point_instancers: u64,
    pub pi_instances: u64,
    pub light_types: Vec<String>,
    pub materials: u64,
    pub shader_ids: Vec<String>,
}

/// Counts Mesh prims, their points and faces, and PointInstancer instances at the earliest time.
pub fn count(stage: &usd::Stage, graph: &Graph) -> (Counts, Vec<String>) {
    let mut c = Counts::default();
    let mut lights = Vec::new();
    let mut light_types = std::collections::BTreeSet::new();
    let mut shader_ids = std::collections::BTreeSet::new();
    let t = Some(TimeCode::EARLIEST);
    let len = |prim: &usd::Prim, name: &str| -> u64 {
        super::samples::raw(prim, name, t)
            .as_ref()
            .and_then(values::array_len)
            .unwrap_or(0) as u64
    };
    for path in &graph.order {
        let Some(node) = graph.nodes.get(path) else { continue };
        let is_light = node.type_name.ends_with("Light") || node.type_name == "LightFilter";
        if node.type_name == "Material" {
            c.materials += 1;
            continue;
        }
        if node.type_name == "Shader" {
            if let Ok(prim) = stage.prim(path.clone()) {
                shader_ids.extend(shader_ids_of(&prim));
            }
            continue;
        }
        if node.type_name != "Mesh" && node.type_name != "PointInstancer" && !is_light {
            // Lights can also be any prim with LightAPI applied.
            if node.type_name.is_empty() || node.type_name == "Xform" || node.type_name == "Scope" {
                continue;
            }
        }
        let Ok(prim) = stage.prim(path.clone()) else { continue };
        match node.type_name.as_str() {
            "Mesh" => {
                c.meshes += 1;
                c.points += len(&prim, "points");
                c.faces += len(&prim, "faceVertexCounts");
            }
            "PointInstancer" => {
                c.point_instancers += 1;
                c.pi_instances += len(&prim, "protoIndices");
            }
            _ => {}
        }
        if node.type_name != "LightFilter" && (is_light || prim.has_api_schema("LightAPI").unwrap_or(false)) {
            lights.push(path.as_str().to_string());
            light_types.insert(node.type_name.clone());
        }
    }
    c.light_types = light_types.into_iter().collect();
    c.shader_ids = shader_ids.into_iter().collect();
    (c, lights)
}

/// A Shader's identifier: `info:id`, or for a source-asset shader `sourceAsset:<attribute>`
/// for each authored `info:*sourceAsset` attribute.
fn shader_ids_of(prim: &usd::Prim) -> Vec<String> {
    if let Some(id) = values::token_attr(prim, "info:id", None).filter(|i| !i.is_empty()) {
        return vec![id];
    }
    prim.authored_property_names()
        .unwrap_or_default()
        .iter()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("info:") && n.ends_with(":sourceAsset"))
        .map(|n| format!("sourceAsset:{n}"))
        .collect()
}

impl StageInfo {
    /// The `frames` entry: the default frame count, or why there is none.
    pub fn frames_value(timing: &Timing) -> serde_json::Value {
        match timing.default_frames() {
            Ok(f) => serde_json::Value::from(f.len()),
            Err(e) => serde_json::Value::from(e),
        }
    }
}
