//! Stage timing and stage-level metadata (upAxis, metersPerUnit, renderSettingsPrimPath).
//!
//! Timing comes from the root layer (a session layer's opinion wins, as in pxr's UsdStage), never
//! from sublayers: intent-vfx's teapotScene says 1..1 in its root layer while a sublayer says
//! 0..480, and only the root layer's range counts.

use openusd::sdf::{FieldKey, Value};
use openusd::usd;

use super::values;
use crate::frames::Timing;
use crate::scene::UpAxis;

/// A root-stack metadata field: the session layer's opinion, else the root layer's.
fn layer_field(stage: &usd::Stage, key: &str) -> Option<Value> {
    let read = |layer: &openusd::sdf::Layer| layer.pseudo_root().and_then(|root| root.field(key).ok().flatten());
    if let Some(v) = stage.session_layer().as_deref().and_then(read) {
        return Some(v);
    }
    read(&stage.root_layer())
}

fn layer_f64(stage: &usd::Stage, key: FieldKey) -> Option<f64> {
    layer_field(stage, key.as_str()).as_ref().and_then(values::as_f64)
}

fn legacy(stage: &usd::Stage, key: &str) -> Option<f64> {
    layer_field(stage, key).as_ref().and_then(values::as_f64)
}

/// Timing as usdrecord sees it: tcps falls back to an authored fps, then 24 (UsdStage's rule).
pub fn read(stage: &usd::Stage) -> Timing {
    let fps = layer_f64(stage, FieldKey::FramesPerSecond);
    let tcps = layer_f64(stage, FieldKey::TimeCodesPerSecond).or(fps).unwrap_or(24.0);
    Timing {
        tcps,
        fps: fps.unwrap_or(24.0),
        // startFrame/endFrame are the pre-time-code spellings pxr still honours.
        start: layer_f64(stage, FieldKey::StartTimeCode).or_else(|| legacy(stage, "startFrame")),
        end: layer_f64(stage, FieldKey::EndTimeCode).or_else(|| legacy(stage, "endFrame")),
    }
}

/// The upAxis token as authored (any token; only Y and Z are meaningful).
pub fn authored_up_axis(stage: &usd::Stage) -> Option<String> {
    stage
        .stage_metadata("upAxis")
        .ok()
        .flatten()
        .as_ref()
        .and_then(values::as_token)
}

/// The stage's upAxis metadata as the framing cameras use it: Y when unauthored or Y, else Z.
pub fn up_axis(stage: &usd::Stage) -> UpAxis {
    // pxr keeps an invalid upAxis as authored, and usdrecord's framing camera (UsdAppUtils) tests
    // for Y only: anything else is framed Z-up (usd-wg's upAxis_X and upAxis_invalid screenshots).
    match authored_up_axis(stage).as_deref() {
        None | Some("Y") => UpAxis::Y,
        Some(_) => UpAxis::Z,
    }
}

/// metersPerUnit (0.01 unless authored; a value of the wrong type is read if numeric, else ignored).
pub fn meters_per_unit(stage: &usd::Stage) -> f64 {
    stage
        .stage_metadata("metersPerUnit")
        .ok()
        .flatten()
        .as_ref()
        .and_then(values::as_f64)
        .filter(|m| *m > 0.0)
        .unwrap_or(0.01)
}

/// The root layer's `renderSettingsPrimPath`, naming the RenderSettings prim to use.
pub fn render_settings_path(stage: &usd::Stage) -> Option<String> {
    layer_field(stage, "renderSettingsPrimPath")
        .as_ref()
        .and_then(values::as_token)
        .filter(|s| !s.is_empty())
}
