//! Lights as the renderer sees them: UsdLux lights reduced to plain data (world transform,
//! linear radiance, shape, cone, shadow), and the lighting rule of a run (headlight, look).

use glam::Mat4;

/// One UsdLux light.
#[derive(Debug, Clone, PartialEq)]
pub struct Light {
    /// The light prim, for messages.
    pub path: String,
    pub kind: LightKind,
    /// Light space to world space. Lights emit along their -Z axis (distant, rect, disk, cone).
    pub transform: Mat4,
    /// Linear RGB radiance scale: `color * intensity * 2^exposure`, times the blackbody colour of
    /// `colorTemperature` when `enableColorTemperature` is on.
    pub color: [f32; 3],
    /// `inputs:normalize`: divide by the light's area (power independent of size).
    pub normalize: bool,
    /// `inputs:diffuse` and `inputs:specular` multipliers.
    pub diffuse: f32,
    pub specular: f32,
    /// ShapingAPI cone, when authored.
    pub shaping: Option<Shaping>,
    /// ShadowAPI `inputs:shadow:enable` (true when unauthored, as the schema says).
    pub shadow: bool,
    /// Light-linking: when `Some`, only instances whose prim path starts with one of these paths
    /// are lit (the `lightLink` collection's includes, resolved by the extractor to instance
    /// indices in [`Light::linked_instances`]).
    pub linked_instances: Option<Vec<u32>>,
}

/// The shape of a light.
#[derive(Debug, Clone, PartialEq)]
pub enum LightKind {
    /// `inputs:angle` in degrees.
    Distant {
        angle: f32,
    },
    Sphere {
        radius: f32,
        treat_as_point: bool,
    },
    Rect {
        width: f32,
        height: f32,
    },
    Disk {
        radius: f32,
    },
    /// Along the light's X axis.
    Cylinder {
        length: f32,
        radius: f32,
        treat_as_line: bool,
    },
    /// Lat-long environment, `Scene::textures` index; `None`: uniform `color`.
    Dome {
        texture: Option<u32>,
    },
}

/// UsdLuxShapingAPI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shaping {
    /// Half-angle of the cone, degrees.
    pub cone_angle: f32,
    pub cone_softness: f32,
    pub focus: f32,
    pub focus_tint: [f32; 3],
}

/// When the camera headlight is used (usdrecord: only when the stage has no lights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Headlight {
    #[default]
    Auto,
    On,
    Off,
}

impl Headlight {
    /// Whether the headlight is lit for a stage with `stage_lights` lights.
    pub fn lit(self, stage_lights: usize) -> bool {
        match self {
            Headlight::Auto => stage_lights == 0,
            Headlight::On => true,
            Headlight::Off => false,
        }
    }
}

/// The usdImagingGL test harness's `-lighting` light: directional, from (0, -0.5, 0.5) in world
/// space.
pub const HARNESS_LIGHT: [f32; 3] = [0.0, -0.5, 0.5];

/// The lighting of a run: usdrecord's, or the usdImagingGL test harness's (`-lighting`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Look {
    /// usdrecord: a point light at the camera (when [`Headlight::lit`]), scene ambient 0.01,
    /// fallback material ambient 0.2, specular 0.1, shininess 32; stage lights lit.
    #[default]
    Usdrecord,
    /// testUsdImagingGLBasicDrawing `-lighting`: one directional light (diffuse 1, specular 1)
    /// from `toward` in world space (not normalized): [`HARNESS_LIGHT`], or with `-camlight` the
    /// one [`crate::scene::HarnessView::camera_light`] gives, which the job puts here once the
    /// scene's bounds are known. Scene ambient 0.2, fallback material ambient 0.2, diffuse 0.8;
    /// the stage's lights lit besides it (domes shown, not lighting), as Storm lights them unless
    /// `enableSceneLights` is off.
    HarnessSimple { toward: [f32; 3] },
    /// testUsdImagingGLBasicDrawing `-lighting -sceneLights`: the stage's UsdLux lights only.
    HarnessSceneLights,
    /// testUsdImagingGLBasicDrawing without `-lighting`: unlit, colours as authored.
    HarnessUnlit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headlight_auto_only_without_stage_lights() {
        assert!(Headlight::Auto.lit(0));
        assert!(!Headlight::Auto.lit(2));
        assert!(Headlight::On.lit(2));
        assert!(!Headlight::Off.lit(0));
    }
}
