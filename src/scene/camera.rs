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
    /// UsdGeomCamera `clippingPlanes`, in camera space.
    pub clip_planes: ClipPlanes,
}

impl Default for Camera {
    fn default() -> Self {
        Camera {
            to_world: DMat4::IDENTITY,
            lens: Lens::default(),
            clipping: (1.0, 1_000_000.0),
            clip_planes: ClipPlanes::NONE,
        }
    }
}

/// The most clipping planes a camera draws with: Storm's limit (`GL_MAX_CLIP_DISTANCES` is at
/// least 8), and the size of the array the shaders read.
pub const MAX_CLIP_PLANES: usize = 8;

/// Up to [`MAX_CLIP_PLANES`] plane equations (a, b, c, d): a point p is kept where
/// `a px + b py + c pz + d >= 0`, as `gl_ClipDistance` keeps it. A fixed array rather than a
/// `Vec`, so [`Camera`] stays `Copy` and evaluating a frame allocates nothing for it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClipPlanes {
    planes: [DVec4; MAX_CLIP_PLANES],
    len: usize,
}

impl ClipPlanes {
    pub const NONE: ClipPlanes = ClipPlanes {
        planes: [DVec4::ZERO; MAX_CLIP_PLANES],
        len: 0,
    };

    /// The first [`MAX_CLIP_PLANES`] of `planes` (the caller says what it left out).
    pub fn new(planes: &[DVec4]) -> ClipPlanes {
        let mut out = ClipPlanes::NONE;
        out.len = planes.len().min(MAX_CLIP_PLANES);
        out.planes[..out.len].copy_from_slice(&planes[..out.len]);
        out
    }

    pub fn as_slice(&self) -> &[DVec4] {
        &self.planes[..self.len]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The planes seen through `m`, a matrix from the space they are given in to another: a
    /// plane n in space A keeps point p_A = m^-1 p_B where dot(n, m^-1 p_B) >= 0, that is
    /// dot(transpose(m^-1) n, p_B) >= 0. Planes that come out NaN or infinite (a singular `m`)
    /// are dropped.
    pub fn transformed(&self, m: &DMat4) -> ClipPlanes {
        let carry = m.inverse().transpose();
        let mut out = ClipPlanes::NONE;
        for plane in self.as_slice() {
            let p = carry * *plane;
            if p.is_finite() {
                out.planes[out.len] = p;
                out.len += 1;
            }
        }
        out
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
    /// The clipping planes in world space: world plane = transpose(view) * camera plane, where
    /// view (the inverse of `to_world`) maps world space to camera space.
    pub fn world_clip_planes(&self) -> ClipPlanes {
        self.clip_planes.transformed(&self.to_world)
    }

    /// World space to clip space for an image of `width` x `height` square pixels.
    pub fn view_projection(&self, width: u32, height: u32) -> DMat4 {
        self.view_projection_px(width, height, 1.0)
    }

    /// World space to clip space for an image of `width` x `height` pixels, each `pixel_aspect`
    /// times as wide as it is high: the window is fitted to the picture's shape
    /// ([`image_aspect`]), so a circle on the film comes out as an ellipse of pixels, wider by
    /// 1 / `pixel_aspect` (CameraUtilFraming's `pixelAspectRatio`).
    pub fn view_projection_px(&self, width: u32, height: u32, pixel_aspect: f64) -> DMat4 {
        self.projection(image_aspect(width, height, pixel_aspect)) * self.to_world.inverse()
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
    /// Bounds that are empty or too large to frame are framed as the box from -1 to 1, so there
    /// is always a picture.
    pub fn framing(bounds: &Bounds, up_axis: UpAxis) -> Camera {
        let unit = Bounds {
            min: DVec3::splat(-1.0),
            max: DVec3::splat(1.0),
        };
        Camera::usdrecord_framing(bounds, up_axis, UsdrecordVersion::V24_08)
            .or_else(|| Camera::usdrecord_framing(&unit, up_axis, UsdrecordVersion::V24_08))
            .unwrap_or_default()
    }

    /// [`Camera::framing`] as one usdrecord `version` computes it, `None` where that camera sees
    /// nothing: for an empty `bounds` pxr's box size is -2 * FLT_MAX, so the camera lands at
    /// infinity (usd-wg's inverse_extent screenshot is empty). 22.08 has no near-plane push, so a
    /// scene bounded by a point puts the camera inside it (usd-wg's zero_extent, empty as well).
    pub fn usdrecord_framing(bounds: &Bounds, up_axis: UpAxis, version: UsdrecordVersion) -> Option<Camera> {
        if bounds.is_empty() {
            return None;
        }
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
            return None;
        }
        // "Small objects that fill out their bounding boxes might be clipped by the near-clipping
        // plane": added to UsdAppUtilsFrameRecorder after 22.08.
        if version == UsdrecordVersion::V24_08 && distance < clipping.0 {
            distance += clipping.0;
        }
        let to_world = match up_axis {
            UpAxis::Y => DMat4::from_translation(center + DVec3::new(0.0, 0.0, distance)),
            UpAxis::Z => {
                DMat4::from_translation(center + DVec3::new(0.0, -distance, 0.0))
                    * DMat4::from_rotation_x(90f64.to_radians())
            }
        };
        Some(Camera {
            to_world,
            lens,
            clipping,
            clip_planes: ClipPlanes::NONE,
        })
    }
}

/// The usdrecord whose framing camera is emulated: usd-wg's screenshots were made by 22.08,
/// OpenUSD's own usdrecord baselines by 24.08.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsdrecordVersion {
    V22_08,
    #[default]
    V24_08,
}

/// How a camera's window is conformed to an image of another aspect (Hydra's
/// `CameraUtilConformWindowPolicy`; the usdImagingGL harness's `-windowPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowPolicy {
    /// Grow one side so the whole aperture stays visible (usdrecord's behaviour).
    #[default]
    Fit,
    /// Keep the vertical aperture, change the horizontal one (the harness's default).
    MatchVertically,
    /// Keep the horizontal aperture, change the vertical one.
    MatchHorizontally,
    /// Shrink one side so the image is filled (part of the aperture is cut off).
    Crop,
}

impl WindowPolicy {
    /// The names the harness's `-windowPolicy` takes.
    pub fn from_name(name: &str) -> Option<WindowPolicy> {
        match name {
            "fit" => Some(WindowPolicy::Fit),
            "matchVertically" => Some(WindowPolicy::MatchVertically),
            "matchHorizontally" => Some(WindowPolicy::MatchHorizontally),
            "crop" => Some(WindowPolicy::Crop),
            _ => None,
        }
    }
}

impl Lens {
    /// The lens with its window conformed to `image_aspect` by `policy`; offsets are kept.
    pub fn conformed(&self, policy: WindowPolicy, image_aspect: f64) -> Lens {
        if !(image_aspect.is_finite() && image_aspect > 0.0) {
            return *self;
        }
        let mut lens = *self;
        let wider = image_aspect > self.aspect();
        match policy {
            WindowPolicy::Fit => return self.fitted_to(image_aspect),
            WindowPolicy::MatchVertically => lens.horizontal_aperture = lens.vertical_aperture * image_aspect,
            WindowPolicy::MatchHorizontally => lens.vertical_aperture = lens.horizontal_aperture / image_aspect,
            WindowPolicy::Crop if wider => lens.vertical_aperture = lens.horizontal_aperture / image_aspect,
            WindowPolicy::Crop => lens.horizontal_aperture = lens.vertical_aperture * image_aspect,
        }
        lens
    }
}

/// The view of Pixar's usdImagingGL test harness (`testUsdImagingGLBasicDrawing`), which rendered
/// the Storm baselines of `openusd/usdImagingGL`. See the corpus' `HARNESS_NOTES.md`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HarnessView {
    /// `-frameAll`: the translation comes from the stage's bounds instead of `translate`.
    pub frame_all: bool,
    /// `-translate x y z`: the view matrix of the built-in camera (default (0, -1000, -2500)).
    pub translate: DVec3,
    /// `-windowPolicy` for a stage camera (`-camera`) whose aspect differs from the image's.
    pub window_policy: WindowPolicy,
    /// `-displayWindow x y width height`: the camera's window covers these image pixels (y
    /// down) instead of the whole image (CameraUtilFraming's display window).
    pub display_window: Option<[f64; 4]>,
    /// `-dataWindow x y width height`: only these pixels are drawn (the rest keeps the clear
    /// colour). The harness frames with the two windows only when both are given and neither is
    /// empty ([`HarnessView::framing`]).
    pub data_window: Option<[f64; 4]>,
    /// `-clipPlane a b c d` (repeatable): clipping planes of the built-in camera, in its camera
    /// space, as the harness hands them to Storm's free camera. A stage camera (`-camera`) keeps
    /// its own `clippingPlanes` instead, as in the harness.
    pub clip_planes: ClipPlanes,
    /// `-camlight`: the `-lighting` light comes from [`HarnessView::camera_light`] instead of
    /// (0, -0.5, 0.5).
    pub camera_light: bool,
    /// The reference traced one ray through each pixel's lower-left corner instead of its
    /// centre (HdEmbree with `HDEMBREE_JITTER_CAMERA=0`: its ray for pixel x, y, counted from
    /// the bottom, goes through NDC `2 (x - minX) / w - 1`): [`HarnessView::sample_at_corners`].
    pub corner_samples: bool,
}

impl Default for HarnessView {
    fn default() -> Self {
        HarnessView {
            display_window: None,
            data_window: None,
            frame_all: false,
            translate: HARNESS_TRANSLATE,
            window_policy: WindowPolicy::MatchVertically,
            clip_planes: ClipPlanes::NONE,
            camera_light: false,
            corner_samples: false,
        }
    }
}

/// The harness's default `-translate`.
pub const HARNESS_TRANSLATE: DVec3 = DVec3::new(0.0, -1000.0, -2500.0);
/// The harness's built-in camera: 60 degree vertical field of view, clipping 1 to 100,000.
pub const HARNESS_FOV_Y_DEGREES: f64 = 60.0;
pub const HARNESS_CLIPPING: (f64, f64) = (1.0, 100_000.0);

impl HarnessView {
    /// The translation of the built-in camera's view: `translate`, or with `frame_all` the one the
    /// harness computes from the world bounds (centre c, size s = length of the diagonal):
    /// (-cx, -cy, -cz - s) for Y-up stages and (-cx, -cz, -cy - s) for Z-up ones. The Z-up formula
    /// is the harness's own (it swaps y and z before the -90 degree turn about X that
    /// [`HarnessView::builtin_camera`] applies, so a box centred off y = 0 sits a little further
    /// away than its size); it is kept as it is because the baselines were made with it.
    pub fn translation(&self, bounds: &Bounds, up_axis: UpAxis) -> DVec3 {
        if !self.frame_all || bounds.is_empty() {
            return self.translate;
        }
        let c = bounds.center();
        let s = bounds.size().length();
        match up_axis {
            UpAxis::Y => DVec3::new(-c.x, -c.y, -c.z - s),
            UpAxis::Z => DVec3::new(-c.x, -c.z, -c.y - s),
        }
    }

    /// The world-space direction toward the `-camlight` light (directional, not normalized):
    /// (tx, tz, ty) for the camera translation t of [`HarnessView::translation`] (its
    /// `-translate`, or the one `-frameAll` computes, also under `-camera`). The harness hands
    /// `GlfSimpleLight::SetPosition(GfVec4f(t[0], t[2], t[1], 0))` to Storm, which takes it in
    /// world space whatever the up axis: it is not at the camera (for `-translate 0 -10 -40` on a
    /// Z-up stage it shines from below the eye, leaving the tops of cubes unlit).
    pub fn camera_light(&self, bounds: &Bounds, up_axis: UpAxis) -> DVec3 {
        let t = self.translation(bounds, up_axis);
        DVec3::new(t.x, t.z, t.y)
    }

    /// World to camera space of the built-in camera: translate(t), after turning Z-up worlds
    /// -90 degrees about X into Y-up (the harness does that whether or not it frames all).
    pub fn view_matrix(&self, bounds: &Bounds, up_axis: UpAxis) -> DMat4 {
        let translate = DMat4::from_translation(self.translation(bounds, up_axis));
        match up_axis {
            UpAxis::Y => translate,
            UpAxis::Z => translate * DMat4::from_rotation_x((-90f64).to_radians()),
        }
    }

    /// The built-in camera (no `-camera`) for an image of `aspect` (width over height): a
    /// perspective camera with a 60 degree vertical field of view, near 1 and far 100,000.
    pub fn builtin_camera(&self, bounds: &Bounds, up_axis: UpAxis, aspect: f64) -> Camera {
        let aspect = if aspect.is_finite() && aspect > 0.0 {
            aspect
        } else {
            1.0
        };
        // Only ratios matter for a perspective lens: tan(fov / 2) = (aperture / 2) / focal length.
        let focal_length = 50.0;
        let vertical_aperture = 2.0 * focal_length * (HARNESS_FOV_Y_DEGREES.to_radians() / 2.0).tan();
        Camera {
            to_world: self.view_matrix(bounds, up_axis).inverse(),
            lens: Lens {
                orthographic: false,
                focal_length,
                horizontal_aperture: vertical_aperture * aspect,
                vertical_aperture,
                horizontal_aperture_offset: 0.0,
                vertical_aperture_offset: 0.0,
            },
            clipping: HARNESS_CLIPPING,
            clip_planes: self.clip_planes,
        }
    }

    /// A stage camera (`-camera`) as the harness draws it: its window conformed by
    /// `window_policy` to the image's aspect.
    pub fn stage_camera(&self, camera: &Camera, aspect: f64) -> Camera {
        Camera {
            lens: camera.lens.conformed(self.window_policy, aspect),
            ..*camera
        }
    }

    /// The display and data windows, when the harness frames with them: both given and neither
    /// empty (`CameraUtilFraming::IsValid`). Otherwise it draws the whole image through a plain
    /// viewport, with square pixels whatever `-pixelAspectRatio` says.
    pub fn framing(&self) -> Option<([f64; 4], [f64; 4])> {
        let usable = |w: &[f64; 4]| w[2] > 0.0 && w[3] > 0.0;
        match (self.display_window, self.data_window) {
            (Some(display), Some(data)) if usable(&display) && usable(&data) => Some((display, data)),
            _ => None,
        }
    }

    /// The aspect the camera's window is conformed to, as displayed: the display window's when
    /// the harness frames with one, else the image's (`image_aspect`, width over height in
    /// pixels), times `pixel_aspect` (CameraUtilFraming::ApplyToProjectionMatrix conforms to
    /// `pixelAspectRatio * displayWidth / displayHeight`).
    pub fn window_aspect(&self, image_aspect: f64, pixel_aspect: f64) -> f64 {
        let pixel_aspect = if pixel_aspect.is_finite() && pixel_aspect > 0.0 {
            pixel_aspect
        } else {
            1.0
        };
        match self.framing() {
            Some(([_, _, w, h], _)) => w / h * pixel_aspect,
            None => image_aspect * pixel_aspect,
        }
    }

    /// `camera`, whose window was conformed to the display window, widened and shifted so that
    /// the whole `width` x `height` image shows what lies around the display window: the camera's
    /// window lands on the display window's pixels (as Hydra's CameraUtilFraming places it).
    /// Horizontal and vertical aperture units per pixel keep the ratio the conforming gave them,
    /// so non-square pixels stay non-square.
    pub fn place_in_display_window(&self, camera: Camera, width: u32, height: u32) -> Camera {
        let Some(([dx, dy, dw, dh], _)) = self.framing() else {
            return camera;
        };
        let (w, h) = (width as f64, height as f64);
        let lens = camera.lens;
        let (ha, va) = (lens.horizontal_aperture, lens.vertical_aperture);
        // Aperture units per pixel, and the image's edges in aperture units (y up).
        let (sx, sy) = (ha / dw, va / dh);
        let left = lens.horizontal_aperture_offset - ha / 2.0 - dx * sx;
        let top = lens.vertical_aperture_offset + va / 2.0 + dy * sy;
        Camera {
            lens: Lens {
                horizontal_aperture: w * sx,
                vertical_aperture: h * sy,
                horizontal_aperture_offset: left + w * sx / 2.0,
                vertical_aperture_offset: top - h * sy / 2.0,
                ..lens
            },
            ..camera
        }
    }

    /// `camera`, whose window spans the `width` x `height` image, moved half a pixel left and half
    /// a pixel down when [`HarnessView::corner_samples`]: each pixel's centre then sees what the
    /// reference's ray through the pixel's lower-left corner saw.
    pub fn sample_at_corners(&self, camera: Camera, width: u32, height: u32) -> Camera {
        if !self.corner_samples {
            return camera;
        }
        let lens = camera.lens;
        Camera {
            lens: Lens {
                horizontal_aperture_offset: lens.horizontal_aperture_offset
                    - 0.5 * lens.horizontal_aperture / width.max(1) as f64,
                vertical_aperture_offset: lens.vertical_aperture_offset
                    - 0.5 * lens.vertical_aperture / height.max(1) as f64,
                ..lens
            },
            ..camera
        }
    }

    /// The drawn pixels (x, y, width, height), clipped to the image; `None`: all of them.
    pub fn scissor(&self, width: u32, height: u32) -> Option<[u32; 4]> {
        let (_, [x, y, w, h]) = self.framing()?;
        let x0 = x.max(0.0).min(width as f64) as u32;
        let y0 = y.max(0.0).min(height as f64) as u32;
        let x1 = (x + w).max(0.0).min(width as f64) as u32;
        let y1 = (y + h).max(0.0).min(height as f64) as u32;
        Some([x0, y0, x1.saturating_sub(x0), y1.saturating_sub(y0)])
    }
}

/// The shape of a `width` x `height` image whose pixels are `pixel_aspect` times as wide as
/// they are high: width over height as displayed. A pixel aspect that is not a positive number
/// counts as 1.
pub fn image_aspect(width: u32, height: u32, pixel_aspect: f64) -> f64 {
    let pixel_aspect = if pixel_aspect.is_finite() && pixel_aspect > 0.0 {
        pixel_aspect
    } else {
        1.0
    };
    width as f64 * pixel_aspect / height.max(1) as f64
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
    fn corner_samples_move_the_window_half_a_pixel_left_and_down() {
        let cam = Camera {
            lens: Lens {
                horizontal_aperture: 64.0,
                vertical_aperture: 48.0,
                ..Lens::default()
            },
            ..Camera::default()
        };
        let view = HarnessView::default();
        assert_eq!(view.sample_at_corners(cam, 640, 480), cam);
        let moved = HarnessView {
            corner_samples: true,
            ..view
        }
        .sample_at_corners(cam, 640, 480);
        assert!((moved.lens.horizontal_aperture_offset + 0.05).abs() < 1e-12);
        assert!((moved.lens.vertical_aperture_offset + 0.05).abs() < 1e-12);
        assert_eq!(moved.lens.horizontal_aperture, 64.0);
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
            clip_planes: ClipPlanes::NONE,
        };
        let p = ndc(&cam.view_projection(64, 64), DVec3::ZERO);
        assert!(p.x.abs() < 1e-12 && p.y.abs() < 1e-12 && p.z > 0.0 && p.z < 1.0);
    }

    #[test]
    fn clip_planes_carried_to_world_keep_the_same_points() {
        // A camera at (3, 0, 5) turned 90 degrees about Y (looking down world -X): camera +X is
        // world -Z. The camera-space plane x >= 0 keeps world points with z <= 0.
        let cam = Camera {
            to_world: DMat4::from_translation(DVec3::new(3.0, 0.0, 5.0)) * DMat4::from_rotation_y(90f64.to_radians()),
            clip_planes: ClipPlanes::new(&[DVec4::new(1.0, 0.0, 0.0, 0.0), DVec4::new(0.0, 1.0, 0.0, -2.0)]),
            ..Camera::default()
        };
        let world = cam.world_clip_planes();
        assert_eq!(world.as_slice().len(), 2);
        // By hand: x_cam = -(z_world - 5) = 5 - z_world, y_cam = y_world.
        let want = [DVec4::new(0.0, 0.0, -1.0, 5.0), DVec4::new(0.0, 1.0, 0.0, -2.0)];
        for (got, want) in world.as_slice().iter().zip(want) {
            assert!((*got - want).length() < 1e-12, "{got} != {want}");
        }
        // Any point: the world plane's sign is the camera plane's.
        let view = cam.to_world.inverse();
        for p in [
            DVec3::new(1.0, 2.0, 3.0),
            DVec3::new(-4.0, 0.5, 7.0),
            DVec3::new(0.0, 3.0, -2.0),
        ] {
            let c = view.transform_point3(p).extend(1.0);
            for (cp, wp) in cam.clip_planes.as_slice().iter().zip(world.as_slice()) {
                assert!((cp.dot(c) - wp.dot(p.extend(1.0))).abs() < 1e-12, "{p}");
            }
        }
        // At most MAX_CLIP_PLANES are kept; a singular camera drops what it cannot carry.
        assert_eq!(ClipPlanes::new(&[DVec4::X; 11]).as_slice().len(), MAX_CLIP_PLANES);
        let flat = Camera {
            to_world: DMat4::from_scale(DVec3::new(1.0, 0.0, 1.0)),
            ..cam
        };
        assert!(flat.world_clip_planes().is_empty());
        assert!(Camera::default().world_clip_planes().is_empty());
    }

    #[test]
    fn usdrecord_22_08_framing_neither_pushes_past_the_near_plane_nor_frames_empty_bounds() {
        // usd-wg's zero_extent (extent a point at the origin): 22.08 leaves the camera there,
        // 24.08 backs it off by the near distance.
        let point = Bounds {
            min: DVec3::ZERO,
            max: DVec3::ZERO,
        };
        let at = |v| Camera::usdrecord_framing(&point, UpAxis::Y, v).map(|c| c.to_world.w_axis.z);
        assert_eq!(at(UsdrecordVersion::V22_08), Some(0.0));
        assert_eq!(at(UsdrecordVersion::V24_08), Some(1.0));
        // usd-wg's inverse_extent: no bounds, no picture (pxr's camera lands at infinity).
        for v in [UsdrecordVersion::V22_08, UsdrecordVersion::V24_08] {
            assert_eq!(Camera::usdrecord_framing(&Bounds::EMPTY, UpAxis::Z, v), None);
        }
        // `framing` keeps a picture for usdrender's own use.
        assert_eq!(Camera::framing(&Bounds::EMPTY, UpAxis::Y).to_world.w_axis.z, {
            let unit = Bounds {
                min: DVec3::splat(-1.0),
                max: DVec3::splat(1.0),
            };
            Camera::framing(&unit, UpAxis::Y).to_world.w_axis.z
        });
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

    #[test]
    fn harness_camera_default_view_is_the_fixed_translation() {
        let view = HarnessView::default();
        let cam = view.builtin_camera(&Bounds::EMPTY, UpAxis::Y, 640.0 / 480.0);
        // Camera at -translate = (0, 1000, 2500), looking down -Z, no rotation.
        assert_eq!(cam.to_world, DMat4::from_translation(DVec3::new(0.0, 1000.0, 2500.0)));
        assert_eq!(cam.clipping, (1.0, 100_000.0));
        // 60 degree vertical field of view: a point at height d * tan(30) at distance d is on the top edge.
        let m = cam.view_projection(640, 480);
        let d = 2500.0;
        let top = ndc(&m, DVec3::new(0.0, 1000.0 + d * 30f64.to_radians().tan(), 0.0));
        assert!((top.y - 1.0).abs() < 1e-9 && top.x.abs() < 1e-9, "{top}");
        // Aspect 4:3: the right edge is 4/3 as far out.
        let right = ndc(&m, DVec3::new(d * 30f64.to_radians().tan() * 4.0 / 3.0, 1000.0, 0.0));
        assert!((right.x - 1.0).abs() < 1e-9 && right.y.abs() < 1e-9, "{right}");
        // Near 1, far 100000 (reversed Z).
        assert!((ndc(&m, DVec3::new(0.0, 1000.0, 2499.0)).z - 1.0).abs() < 1e-9);
        assert!(ndc(&m, DVec3::new(0.0, 1000.0, 2500.0 - 100_000.0)).z.abs() < 1e-9);
    }

    #[test]
    fn harness_frame_all_y_up_backs_off_by_the_diagonal() {
        let b = Bounds {
            min: DVec3::new(0.0, 0.0, 0.0),
            max: DVec3::new(2.0, 4.0, 4.0),
        };
        let view = HarnessView {
            frame_all: true,
            ..HarnessView::default()
        };
        // centre (1, 2, 2), diagonal sqrt(4 + 16 + 16) = 6: translate (-1, -2, -2 - 6).
        assert_eq!(view.translation(&b, UpAxis::Y), DVec3::new(-1.0, -2.0, -8.0));
        let v = view.view_matrix(&b, UpAxis::Y);
        assert_eq!(v.transform_point3(b.center()), DVec3::new(0.0, 0.0, -6.0));
    }

    #[test]
    fn harness_frame_all_z_up_turns_the_world_and_swaps_y_and_z() {
        let b = Bounds {
            min: DVec3::new(-1.0, -1.0, 0.0),
            max: DVec3::new(1.0, 1.0, 2.0),
        };
        let view = HarnessView {
            frame_all: true,
            ..HarnessView::default()
        };
        let s = 12f64.sqrt();
        // centre (0, 0, 1): translate (-cx, -cz, -cy - s) = (0, -1, -s).
        let t = view.translation(&b, UpAxis::Z);
        assert!((t - DVec3::new(0.0, -1.0, -s)).length() < 1e-12, "{t}");
        // -90 degrees about X takes +Z (up) to +Y: (x, y, z) -> (x, z, -y).
        let v = view.view_matrix(&b, UpAxis::Z);
        let up = v.transform_vector3(DVec3::Z);
        assert!((up - DVec3::Y).length() < 1e-12, "{up}");
        let c = v.transform_point3(b.center());
        assert!((c - DVec3::new(0.0, 0.0, -s)).length() < 1e-12, "{c}");
        // The default view of a Z-up stage turns too: (0, 0, 10) -> (0, 10, 0) + (0, -1000, -2500).
        let plain = HarnessView::default().view_matrix(&b, UpAxis::Z);
        let p = plain.transform_point3(DVec3::new(0.0, 0.0, 10.0));
        assert!((p - DVec3::new(0.0, -990.0, -2500.0)).length() < 1e-9, "{p}");
        // An empty stage keeps the fixed translation.
        assert_eq!(view.translation(&Bounds::EMPTY, UpAxis::Y), HARNESS_TRANSLATE);
    }

    #[test]
    fn harness_camlight_is_the_translation_with_y_and_z_swapped() {
        // testUsdImagingGLPointInstancer's `-translate 0 -10 -40` on a Z-up stage: the camera is
        // at (0, -40, 10) in the world, the light toward (0, -40, -10), below the eye, so a
        // cube's top (+Z) is unlit as in Storm's pi_varying baselines.
        let view = HarnessView {
            translate: DVec3::new(0.0, -10.0, -40.0),
            camera_light: true,
            ..HarnessView::default()
        };
        assert_eq!(
            view.camera_light(&Bounds::EMPTY, UpAxis::Z),
            DVec3::new(0.0, -40.0, -10.0)
        );
        let eye = view
            .builtin_camera(&Bounds::EMPTY, UpAxis::Z, 4.0 / 3.0)
            .to_world
            .w_axis
            .truncate();
        assert!((eye - DVec3::new(0.0, -40.0, 10.0)).length() < 1e-12, "{eye}");
        assert!(view.camera_light(&Bounds::EMPTY, UpAxis::Z).dot(DVec3::Z) < 0.0);
        // With -frameAll it follows the framed translation: (-1, -2, -8) for this box.
        let b = Bounds {
            min: DVec3::new(0.0, 0.0, 0.0),
            max: DVec3::new(2.0, 4.0, 4.0),
        };
        let framed = HarnessView {
            frame_all: true,
            ..view
        };
        assert_eq!(framed.camera_light(&b, UpAxis::Y), DVec3::new(-1.0, -8.0, -2.0));
    }

    #[test]
    fn window_policies_conform_the_aperture() {
        let lens = Lens {
            horizontal_aperture: 36.0,
            vertical_aperture: 24.0,
            ..Lens::default()
        };
        let v = lens.conformed(WindowPolicy::MatchVertically, 4.0 / 3.0);
        assert_eq!((v.horizontal_aperture, v.vertical_aperture), (32.0, 24.0));
        let h = lens.conformed(WindowPolicy::MatchHorizontally, 2.0);
        assert_eq!((h.horizontal_aperture, h.vertical_aperture), (36.0, 18.0));
        let f = lens.conformed(WindowPolicy::Fit, 1.0);
        assert_eq!((f.horizontal_aperture, f.vertical_aperture), (36.0, 36.0));
        let c = lens.conformed(WindowPolicy::Crop, 1.0);
        assert_eq!((c.horizontal_aperture, c.vertical_aperture), (24.0, 24.0));
        let c = lens.conformed(WindowPolicy::Crop, 3.0);
        assert_eq!((c.horizontal_aperture, c.vertical_aperture), (36.0, 12.0));
        assert_eq!(
            WindowPolicy::from_name("matchVertically"),
            Some(WindowPolicy::MatchVertically)
        );
        assert_eq!(WindowPolicy::from_name("dontConform"), None);
        // A stage camera under the harness keeps its vertical field of view at any image aspect.
        let cam = Camera {
            lens,
            ..Camera::default()
        };
        let drawn = HarnessView::default().stage_camera(&cam, 640.0 / 480.0);
        assert_eq!(drawn.lens.vertical_aperture, 24.0);
        assert_eq!(drawn.lens.horizontal_aperture, 32.0);
    }
}
