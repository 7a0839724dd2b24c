//! Cameras: listing a stage's UsdGeomCamera prims, choosing the one to render by usdrender's rules
//! (`--camera`, RenderSettings, `main_cam`, the only camera, else framing) and reading one at a
//! time code into [`Camera`].

use openusd::sdf;
use openusd::usd::{self, TimeCode};
use openusd_schemas::geom::XformCache;

use super::graph::{self, Graph};
use super::samples;
use super::values;
use crate::scene::shutter::Shutter;
use crate::scene::{Camera, CameraChoice, CameraRule, ClipPlanes, Lens, MAX_CLIP_PLANES};
use crate::{Error, Result};

/// A camera prim as `info` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraInfo {
    pub path: String,
    pub projection: String,
    #[serde(rename = "focalLength")]
    pub focal_length: f64,
    #[serde(rename = "hAperture")]
    pub horizontal_aperture: f64,
    #[serde(rename = "vAperture")]
    pub vertical_aperture: f64,
    pub animated: bool,
}

/// Camera prim paths in traversal order (instance proxies excluded: a camera is a unique prim).
pub fn camera_paths(graph: &Graph) -> Vec<sdf::Path> {
    graph
        .order
        .iter()
        .filter(|p| {
            graph
                .nodes
                .get(*p)
                .is_some_and(|n| n.type_name == "Camera" && n.key == p.as_str())
        })
        .cloned()
        .collect()
}

const LENS_ATTRS: [&str; 7] = [
    "focalLength",
    "horizontalAperture",
    "verticalAperture",
    "horizontalApertureOffset",
    "verticalApertureOffset",
    "projection",
    "clippingRange",
];

/// Describes each camera for `info`.
pub fn describe(stage: &usd::Stage, graph: &Graph, cache: &mut XformCache) -> Vec<CameraInfo> {
    camera_paths(graph)
        .into_iter()
        .filter_map(|path| {
            let prim = stage.prim(path.clone()).ok()?;
            let animated =
                graph::transform_chain_varies(cache, &prim) || LENS_ATTRS.iter().any(|a| samples::varies(&prim, a));
            // At the earliest time, as the corpus' facts are taken.
            let f =
                |name: &str, fallback: f64| values::f64_attr(&prim, name, Some(TimeCode::EARLIEST)).unwrap_or(fallback);
            Some(CameraInfo {
                path: path.as_str().to_string(),
                projection: values::token_attr(&prim, "projection", None).unwrap_or_else(|| "perspective".into()),
                focal_length: f("focalLength", 50.0),
                horizontal_aperture: f("horizontalAperture", 20.955),
                vertical_aperture: f("verticalAperture", 15.2908),
                animated,
            })
        })
        .collect()
}

/// Chooses the camera, in usdrender's order of rules. `None` path means the framing camera.
pub fn choose(stage: &usd::Stage, graph: &Graph, flag: Option<&str>) -> Result<CameraChoice> {
    // Only cameras that exist on the stage (not `over`, `class` or inactive ones) can be used.
    let cameras: Vec<String> = camera_paths(graph)
        .iter()
        .filter(|p| graph.nodes.get(*p).is_some_and(|n| n.defined))
        .map(|p| p.as_str().to_string())
        .collect();
    let list = || {
        if cameras.is_empty() {
            "none".to_string()
        } else {
            cameras.join(", ")
        }
    };
    if let Some(wanted) = flag {
        let matches: Vec<&String> = if wanted.starts_with('/') {
            cameras
                .iter()
                .filter(|c| c.as_str() == wanted.trim_end_matches('/'))
                .collect()
        } else {
            cameras
                .iter()
                .filter(|c| c.rsplit('/').next() == Some(wanted))
                .collect()
        };
        return match matches.as_slice() {
            [one] => Ok(CameraChoice {
                path: Some((*one).clone()),
                rule: CameraRule::Flag,
            }),
            [] => Err(Error::Camera(format!(
                "no camera {wanted:?} in the stage; cameras: {}",
                list()
            ))),
            many => Err(Error::Camera(format!(
                "camera name {wanted:?} is ambiguous; give a path: {}",
                many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        };
    }
    if let Some(path) = render_settings_camera(stage, graph) {
        if cameras.contains(&path) {
            return Ok(CameraChoice {
                path: Some(path),
                rule: CameraRule::RenderSettings,
            });
        }
        log::warn!("RenderSettings names camera {path}, which is not a camera on the stage; ignored");
    }
    if let Some(main) = cameras.iter().find(|c| c.rsplit('/').next() == Some("main_cam")) {
        return Ok(CameraChoice {
            path: Some(main.clone()),
            rule: CameraRule::MainCam,
        });
    }
    if let [only] = cameras.as_slice() {
        return Ok(CameraChoice {
            path: Some(only.clone()),
            rule: CameraRule::Only,
        });
    }
    Ok(CameraChoice {
        path: None,
        rule: CameraRule::Framing,
    })
}

/// The `camera` target of the stage's RenderSettings: the one `renderSettingsPrimPath` names, else
/// the first in traversal order.
fn render_settings_camera(stage: &usd::Stage, graph: &Graph) -> Option<String> {
    let prim = render_settings(stage, graph)?;
    let targets = prim.relationship("camera").targets().ok()?;
    targets.first().map(|t| t.as_str().to_string())
}

/// Whether the stage's RenderSettings (chosen as for its camera) turn motion blur off:
/// `disableMotionBlur`, or the deprecated `instantaneousShutter` it replaced. UsdRender reads
/// either as "the camera's shutter is [0, 0]".
pub fn render_settings_disable_motion_blur(stage: &usd::Stage, graph: &Graph) -> bool {
    render_settings(stage, graph).is_some_and(|prim| {
        ["disableMotionBlur", "instantaneousShutter"]
            .iter()
            .any(|name| values::bool_attr(&prim, name, None) == Some(true))
    })
}

/// The camera's `shutter:open` and `shutter:close` at `t`, in time codes relative to the frame
/// (USD's fallbacks: 0 and 0).
pub fn shutter(prim: &usd::Prim, t: values::Time) -> Shutter {
    Shutter {
        open: values::f64_attr(prim, "shutter:open", t).unwrap_or(0.0),
        close: values::f64_attr(prim, "shutter:close", t).unwrap_or(0.0),
    }
}

/// The stage's RenderSettings prim: the one `renderSettingsPrimPath` names, else the first in
/// traversal order.
fn render_settings(stage: &usd::Stage, graph: &Graph) -> Option<usd::Prim> {
    let settings: Vec<&sdf::Path> = graph
        .order
        .iter()
        .filter(|p| {
            graph
                .nodes
                .get(*p)
                .is_some_and(|n| n.type_name == "RenderSettings" && n.defined)
        })
        .collect();
    let named = super::timing::render_settings_path(stage);
    let chosen = named
        .as_deref()
        .and_then(|n| settings.iter().find(|p| p.as_str() == n))
        .or_else(|| settings.first())?;
    stage.prim((*chosen).clone()).ok()
}

/// What a camera has been warned about, so a warning is logged once, not once per frame.
#[derive(Debug, Default)]
pub struct Warned {
    too_many_planes: bool,
    bad_planes: bool,
}

impl Warned {
    /// Whether the camera's clipping planes have been warned about (too many, or not finite).
    #[cfg(test)]
    pub fn warned_about_planes(&self) -> bool {
        self.too_many_planes || self.bad_planes
    }
}

/// The camera prim at the cache's time.
pub fn read(cache: &mut XformCache, prim: &usd::Prim, t: values::Time, warned: &mut Warned) -> Camera {
    let f = |name: &str, fallback: f64| values::f64_attr(prim, name, t).unwrap_or(fallback);
    let defaults = Lens::default();
    let lens = Lens {
        orthographic: values::token_attr(prim, "projection", t).as_deref() == Some("orthographic"),
        focal_length: f("focalLength", defaults.focal_length),
        horizontal_aperture: f("horizontalAperture", defaults.horizontal_aperture),
        vertical_aperture: f("verticalAperture", defaults.vertical_aperture),
        horizontal_aperture_offset: f("horizontalApertureOffset", 0.0),
        vertical_aperture_offset: f("verticalApertureOffset", 0.0),
    };
    let clipping = values::raw(prim, "clippingRange", t)
        .as_ref()
        .and_then(values::as_vec2)
        .unwrap_or((1.0, 1_000_000.0));
    Camera {
        to_world: graph::world(cache, prim),
        lens,
        clipping,
        clip_planes: clip_planes(prim, t, warned),
    }
}

/// `clippingPlanes` at `time` (read every frame: it may be time-sampled). Planes with a NaN or
/// infinite component are skipped and past [`MAX_CLIP_PLANES`] dropped, each with one warning
/// naming the camera.
fn clip_planes(prim: &usd::Prim, time: values::Time, warned: &mut Warned) -> ClipPlanes {
    use openusd::sdf::Value;
    let planes: Vec<glam::DVec4> = match values::raw(prim, "clippingPlanes", time) {
        None => return ClipPlanes::NONE,
        Some(Value::Vec4fVec(a)) => a
            .iter()
            .map(|p| glam::DVec4::new(p.x as f64, p.y as f64, p.z as f64, p.w as f64))
            .collect(),
        Some(Value::Vec4dVec(a)) => a.iter().map(|p| glam::DVec4::new(p.x, p.y, p.z, p.w)).collect(),
        Some(Value::Vec4hVec(a)) => a
            .iter()
            .map(|p| glam::DVec4::new(p.x.to_f64(), p.y.to_f64(), p.z.to_f64(), p.w.to_f64()))
            .collect(),
        Some(_) => {
            if !warned.bad_planes {
                warned.bad_planes = true;
                log::warn!("camera {}: clippingPlanes is not a float4[]; not clipped", prim.path());
            }
            return ClipPlanes::NONE;
        }
    };
    let finite: Vec<glam::DVec4> = planes.iter().copied().filter(|p| p.is_finite()).collect();
    if finite.len() < planes.len() && !warned.bad_planes {
        warned.bad_planes = true;
        log::warn!(
            "camera {}: {} of its {} clippingPlanes have NaN or infinite values; skipped",
            prim.path(),
            planes.len() - finite.len(),
            planes.len()
        );
    }
    if finite.len() > MAX_CLIP_PLANES && !warned.too_many_planes {
        warned.too_many_planes = true;
        log::warn!(
            "camera {}: {} clippingPlanes; only the first {MAX_CLIP_PLANES} are drawn (Storm's limit)",
            prim.path(),
            finite.len()
        );
    }
    ClipPlanes::new(&finite)
}
