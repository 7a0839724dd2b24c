//! Cameras as plain data, their projection matrices, and the framing camera usdrecord builds when a
//! stage has no camera.
//!
//! Conventions: USD cameras look down -Z with +Y up in camera space. Lens values (focal length,
//! apertures, offsets) are in tenths of a scene unit, as UsdGeomCamera authors them; only their
//! ratios matter for a perspective camera, while an orthographic camera's apertures are its window
//! size. Clip space is wgpu's (depth 0..1) with **reversed Z**: depth 1 at the near plane, 0 at the
//! far plane, which keeps float depth precise over USD's default clipping range (1 to 1,000,000).

use glam::{DMat4, DVec3, DVec4};

use super::{Bounds, UpAxis};

/// A camera at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Camera space to world space.
    pub to_world: DMat4,
    pub lens: Lens,
    /// Near and far clipping distances, in scene units.
    pub clipping: (f64, f64),
}

impl Default for Camera {
    fn default() -> Self {
        Camera {
            to_world: DMat4::IDENTITY,
            lens: Lens::default(),
            clipping: (1.0, 1_000_000.0),
        }
    }
}

/// Projection parameters, in UsdGeomCamera's units (tenths of a scene unit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lens {
    pub orthographic: bool,
    pub focal_length: f64,
    pub horizontal_aperture: f64,
    pub vertical_aperture: f64,
    pub horizontal_aperture_offset: f64,
    pub vertical_aperture_offset: f64,
}

impl Default for Lens {
    /// UsdGeomCamera's schema fallbacks.
    fn default() -> Self {
        Lens {
            orthographic: false,
            focal_length: 50.0,
            horizontal_aperture: 20.955,
            vertical_aperture: 15.2908,
            horizontal_aperture_offset: 0.0,
            vertical_aperture_offset: 0.0,
        }
    }
}

impl Lens {
    /// Width over height of the film back; 1 when the apertures are unusable.
    pub fn aspect(&self) -> f64 {
        let a = self.horizontal_aperture / self.vertical_aperture;
        if a.is_finite() && a > 0.0 {
            a
        } else {
            1.0
        }
    }

    /// The lens with its window grown in one direction so its aspect equals `image_aspect`, keeping the
    /// whole authored aperture visible (Hydra's `CameraUtilFit` policy).
    pub fn fitted_to(&self, image_aspect: f64) -> Lens {
        let mut lens = *self;
        let aspect = self.aspect();
        if !(image_aspect.is_finite() && image_aspect > 0.0) {
            return lens;
        }
        if image_aspect > aspect {
            lens.horizontal_aperture = lens.vertical_aperture * image_aspect;
        } else {
            lens.vertical_aperture = lens.horizontal_aperture / image_aspect;
        }
        lens
    }
}

/// Which camera a render uses, and why.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CameraChoice {
    /// The prim path, or `None` for the computed framing camera.
    pub path: Option<String>,
    pub rule: CameraRule,
}

/// The rule that chose the camera, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CameraRule {
    /// `--camera` named it.
    Flag,
    /// The stage's RenderSettings prim names it.
    RenderSettings,
    /// A camera named `main_cam` (usdrecord's rule).
    MainCam,
    /// The stage's only camera.
    Only,
    /// No camera: one computed to frame the stage's bounds.
    #[default]
    Framing,
}

impl CameraRule {
    pub fn as_str(&self) -> &'static str {
        match self {
            CameraRule::Flag => "flag",
            CameraRule::RenderSettings => "render-settings",
            CameraRule::MainCam => "main_cam",
            CameraRule::Only => "only-camera",
            CameraRule::Framing => "framing",
        }
    }
}

impl Camera {
    /// World space to clip space for an image of `width` x `height` pixels.
    pub fn view_projection(&self, width: u32, height: u32) -> DMat4 {
        self.projection(width as f64 / height.max(1) as f64) * self.to_world.inverse()
    }

    /// Camera space to clip space (reversed Z), with the window fitted to `image_aspect`.
    pub fn projection(&self, image_aspect: f64) -> DMat4 {
        let lens = self.lens.fitted_to(image_aspect);
        let (near, far) = sane_clipping(self.clipping);
        let (ha, va) = (lens.horizontal_aperture, lens.vertical_aperture);
        let (ho, vo) = (lens.horizontal_aperture_offset, lens.vertical_aperture_offset);
        if lens.orthographic {
            // Window in scene units is aperture / 10, centred on offset / 10.
            let (sx, sy) = (20.0 / ha, 20.0 / va);
            DMat4::from_cols(
                DVec4::new(sx, 0.0, 0.0, 0.0),
                DVec4::new(0.0, sy, 0.0, 0.0),
                DVec4::new(0.0, 0.0, 1.0 / (far - near), 0.0),
                DVec4::new(-2.0 * ho / ha, -2.0 * vo / va, far / (far - near), 1.0),
            )
        } else {
            let f = lens.focal_length;
            DMat4::from_cols(
                DVec4::new(2.0 * f / ha, 0.0, 0.0, 0.0),
                DVec4::new(0.0, 2.0 * f / va, 0.0, 0.0),
                DVec4::new(2.0 * ho / ha, 2.0 * vo / va, near / (far - near), -1.0),
                DVec4::new(0.0, 0.0, near * far / (far - near), 0.0),
            )
        }
    }

    /// The camera usdrecord computes when a stage has none (UsdAppUtilsFrameRecorder): a default
    /// GfCamera (50 mm lens, 20.955 x 15.2908 aperture, clipping 1..1e6) looking down -Z (Y up) or
    /// +Y (Z up) at the centre of `bounds`, backed off until the box's front face is framed
    /// horizontally, and pushed one more unit back when it would sit inside the near plane.
    pub fn framing(bounds: &Bounds, up_axis: UpAxis) -> Camera {
        let bounds = if bounds.is_empty() {
            Bounds {
                min: DVec3::splat(-1.0),
                max: DVec3::splat(1.0),
            }
        } else {
            *bounds
        };
        let center = bounds.center();
        let size = bounds.size();
        let lens = Lens::default();
        let clipping = Camera::default().clipping;
        let half_fov = (lens.horizontal_aperture / 2.0 / lens.focal_length).atan();
        let (plane, depth) = match up_axis {
            UpAxis::Y => ((size.x, size.y), size.z),
            UpAxis::Z => ((size.x, size.z), size.y),
        };
        let plane_radius = (plane.0 * plane.0 + plane.1 * plane.1).sqrt() / 2.0;
        let mut distance = plane_radius / half_fov.tan() + depth / 2.0;
        if !distance.is_finite() {
            distance = 1.0;
        }
        if distance < clipping.0 {
            distance += clipping.0;
        }
        let to_world = match up_axis {
            UpAxis::Y => DMat4::from_translation(center + DVec3::new(0.0, 0.0, distance)),
            UpAxis::Z => {
                DMat4::from_translation(center + DVec3::new(0.0, -distance, 0.0))
                    * DMat4::from_rotation_x(90f64.to_radians())
            }
        };
        Camera {
            to_world,
            lens,
            clipping,
        }
    }
}

/// Clipping ranges from files can be zero, negative or reversed: keep them usable.
fn sane_clipping((near, far): (f64, f64)) -> (f64, f64) {
    let near = if near.is_finite() && near > 0.0 { near } else { 1e-3 };
    let far = if far.is_finite() && far > near { far } else { near * 1e6 };
    (near, far)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ndc(m: &DMat4, p: DVec3) -> DVec3 {
        let c = *m * p.extend(1.0);
        c.truncate() / c.w
    }

    #[test]
    fn perspective_maps_the_aperture_edge_to_the_image_edge() {
        // 50mm lens, 20 x 10 aperture: at distance 50 a point 10 to the right sits on the window edge.
        let cam = Camera {
            lens: Lens {
                focal_length: 50.0,
                horizontal_aperture: 20.0,
                vertical_aperture: 10.0,
                ..Lens::default()
            },
            clipping: (1.0, 100.0),
            ..Camera::default()
        };
        let m = cam.view_projection(200, 100);
        let p = ndc(&m, DVec3::new(10.0, 5.0, -50.0));
        assert!((p.x - 1.0).abs() < 1e-12 && (p.y - 1.0).abs() < 1e-12, "{p}");
        // Reversed Z: near plane at depth 1, far plane at 0.
        assert!((ndc(&m, DVec3::new(0.0, 0.0, -1.0)).z - 1.0).abs() < 1e-12);
        assert!(ndc(&m, DVec3::new(0.0, 0.0, -100.0)).z.abs() < 1e-12);
    }

    #[test]
    fn aperture_offset_shifts_the_window() {
        // A positive horizontal offset moves the window right, so the centre point lands left of centre.
        let lens = Lens {
            horizontal_aperture: 20.0,
            vertical_aperture: 20.0,
            horizontal_aperture_offset: 5.0,
            ..Lens::default()
        };
        let cam = Camera {
            lens,
            clipping: (1.0, 100.0),
            ..Camera::default()
        };
        let p = ndc(&cam.view_projection(100, 100), DVec3::new(0.0, 0.0, -10.0));
        assert!((p.x + 0.5).abs() < 1e-12, "{p}");
    }

    #[test]
    fn orthographic_window_is_aperture_in_tenths() {
        let lens = Lens {
            orthographic: true,
            horizontal_aperture: 40.0,
            vertical_aperture: 20.0,
            ..Lens::default()
        };
        let cam = Camera {
            lens,
            clipping: (1.0, 11.0),
            ..Camera::default()
        };
        let m = cam.view_projection(200, 100);
        let p = ndc(&m, DVec3::new(2.0, 1.0, -6.0));
        assert!(
            (p.x - 1.0).abs() < 1e-12 && (p.y - 1.0).abs() < 1e-12 && (p.z - 0.5).abs() < 1e-12,
            "{p}"
        );
    }

    #[test]
    fn fit_grows_the_short_side() {
        let lens = Lens {
            horizontal_aperture: 20.0,
            vertical_aperture: 10.0,
            ..Lens::default()
        };
        let wide = lens.fitted_to(4.0);
        assert_eq!((wide.horizontal_aperture, wide.vertical_aperture), (40.0, 10.0));
        let tall = lens.fitted_to(1.0);
        assert_eq!((tall.horizontal_aperture, tall.vertical_aperture), (20.0, 20.0));
    }

    #[test]
    fn camera_transform_moves_the_view() {
        let cam = Camera {
            to_world: DMat4::from_translation(DVec3::new(0.0, 0.0, 10.0)),
            lens: Lens {
                horizontal_aperture: 20.0,
                vertical_aperture: 20.0,
                focal_length: 10.0,
                ..Lens::default()
            },
            clipping: (1.0, 100.0),
        };
        let p = ndc(&cam.view_projection(64, 64), DVec3::ZERO);
        assert!(p.x.abs() < 1e-12 && p.y.abs() < 1e-12 && p.z > 0.0 && p.z < 1.0);
    }

    #[test]
    fn framing_camera_backs_off_small_scenes_past_the_near_plane() {
        let b = Bounds {
            min: DVec3::splat(-0.01),
            max: DVec3::splat(0.01),
        };
        let cam = Camera::framing(&b, UpAxis::Y);
        let z = cam.to_world.w_axis.z;
        assert!(z > 1.0 && z < 1.2, "{z}");
    }

    #[test]
    fn framing_camera_sees_the_whole_box_y_and_z_up() {
        let b = Bounds {
            min: DVec3::new(-1.0, -2.0, -3.0),
            max: DVec3::new(3.0, 2.0, 1.0),
        };
        for up in [UpAxis::Y, UpAxis::Z] {
            let cam = Camera::framing(&b, up);
            assert_eq!(cam.lens, Lens::default(), "usdrecord's default 50mm GfCamera");
            let m = cam.view_projection(960, 700);
            for i in 0..8 {
                let corner = DVec3::new(
                    if i & 1 == 0 { b.min.x } else { b.max.x },
                    if i & 2 == 0 { b.min.y } else { b.max.y },
                    if i & 4 == 0 { b.min.z } else { b.max.z },
                );
                let p = ndc(&m, corner);
                assert!(
                    p.x.abs() <= 1.2 && p.y.abs() <= 1.6 && p.z > 0.0 && p.z < 1.0,
                    "{up:?} corner {corner} -> {p}"
                );
            }
            // The centre of the box is at the centre of the image.
            let c = ndc(&m, b.center());
            assert!(c.x.abs() < 1e-9 && c.y.abs() < 1e-9, "{up:?} {c}");
        }
    }
}
