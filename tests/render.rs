//! Image tests on a real adapter (lavapipe on machines without a GPU): analytic scenes with a
//! known answer first, then small golden images compared with a tolerance.
//!
//! No adapter: under `CI=true` the tests fail; elsewhere they print a skip message and pass.
//! Goldens live in `tests/golden/`; a missing one fails unless `USDRENDER_BLESS=1` writes it. On a
//! mismatch the actual image and a diff land in `target/test-output/`.

use std::path::PathBuf;
use std::time::Instant;

use glam::{DMat4, DVec3, Mat4, Quat, Vec3, Vec4};
use usdrender::gpu::{layout, select_adapters, AdapterSelection, GpuAdapter, RenderSettings, Renderer};
use usdrender::scene::{Camera, FrameState, Instance, Lens, Mesh, MeshVertices, Scene};

// ---------------------------------------------------------------------------------------------
// Harness

/// The default adapter (lavapipe's Vulkan adapter here), or `None` with a skip message.
fn adapter() -> Option<GpuAdapter> {
    match select_adapters(&AdapterSelection::default()) {
        Ok(mut list) => Some(list.remove(0)),
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("CI=true and {e}");
            }
            eprintln!("SKIPPED image test: {e}");
            None
        }
    }
}

struct Setup {
    renderer: Renderer,
    tag: String,
    width: u32,
    height: u32,
}

/// A renderer for `scene`, or `None` when the machine has no adapter (see [`adapter`]).
fn setup(test: &str, scene: &Scene, width: u32, height: u32) -> Option<Setup> {
    std::env::set_var(
        "XDG_RUNTIME_DIR",
        std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()),
    );
    let _ = env_logger::builder().is_test(true).try_init(); // RUST_LOG=usdrender=debug: frame timings
    let adapter = adapter()?;
    let tag = format!("[{}] {test}", adapter.summary.label());
    println!("{tag}");
    let renderer = Renderer::new(
        &adapter,
        scene,
        &RenderSettings {
            width,
            height,
            msaa: 4,
            ..RenderSettings::default()
        },
    )
    .unwrap_or_else(|e| panic!("{tag}: {e}"));
    Some(Setup {
        renderer,
        tag,
        width,
        height,
    })
}

impl Setup {
    fn render(&mut self, state: &FrameState) -> Image {
        let mut rgba = Vec::new();
        self.renderer
            .render(state, &mut rgba)
            .unwrap_or_else(|e| panic!("{}: {e}", self.tag));
        assert_eq!(
            rgba.len(),
            (self.width * self.height * 4) as usize,
            "{}: image size",
            self.tag
        );
        Image {
            width: self.width,
            height: self.height,
            rgba,
        }
    }
}

struct Image {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

impl Image {
    fn px(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]]
    }

    fn count(&self, f: impl Fn([u8; 4]) -> bool) -> usize {
        self.rgba
            .chunks_exact(4)
            .filter(|p| f([p[0], p[1], p[2], p[3]]))
            .count()
    }

    fn covered(&self) -> usize {
        self.count(|p| p[3] > 0)
    }

    /// Mean x of covered pixels, weighted by alpha.
    fn centroid_x(&self) -> f64 {
        let (mut sum, mut weight) = (0.0, 0.0);
        for y in 0..self.height {
            for x in 0..self.width {
                let a = self.px(x, y)[3] as f64;
                sum += a * (x as f64 + 0.5);
                weight += a;
            }
        }
        sum / weight
    }
}

fn srgb_byte(l: f32) -> u8 {
    let l = l.clamp(0.0, 1.0);
    let c = if l <= 0.0031308 {
        l * 12.92
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    };
    (c * 255.0 + 0.5) as u8
}

/// The sRGB bytes the renderer should produce for `color` seen at `n_dot_v`.
fn expected(color: [f32; 3], n_dot_v: f32) -> [u8; 3] {
    layout::headlight(color, n_dot_v).map(srgb_byte)
}

fn assert_rgb_near(tag: &str, what: &str, got: [u8; 4], want: [u8; 3], tol: u8) {
    let ok = (0..3).all(|i| got[i].abs_diff(want[i]) <= tol);
    assert!(ok, "{tag}: {what}: got {got:?}, want {want:?} (+-{tol})");
}

// ---------------------------------------------------------------------------------------------
// Scene building

/// A square of side `size` in the XY plane, facing +Z, one colour.
fn quad(size: f32, color: [f32; 4]) -> Mesh {
    let h = size / 2.0;
    Mesh {
        path: "/quad".into(),
        positions: vec![[-h, -h, 0.0], [h, -h, 0.0], [h, h, 0.0], [-h, h, 0.0]],
        normals: vec![[0.0, 0.0, 1.0]; 4],
        colors: vec![color; 4],
        indices: vec![0, 1, 2, 0, 2, 3],
        vertex_points: vec![0, 1, 2, 3],
        ..Mesh::default()
    }
}

/// A unit cube centred on the origin, flat-shaded (4 vertices per face).
fn cube(color: [f32; 4]) -> Mesh {
    let mut m = Mesh {
        path: "/cube".into(),
        ..Mesh::default()
    };
    let faces: [(Vec3, Vec3, Vec3); 6] = [
        (Vec3::X, Vec3::Y, Vec3::Z),
        (Vec3::NEG_X, Vec3::Z, Vec3::Y),
        (Vec3::Y, Vec3::Z, Vec3::X),
        (Vec3::NEG_Y, Vec3::X, Vec3::Z),
        (Vec3::Z, Vec3::X, Vec3::Y),
        (Vec3::NEG_Z, Vec3::Y, Vec3::X),
    ];
    for (n, u, v) in faces {
        // Orient (u, v) so u x v = n: triangles are CCW seen from outside.
        let v = if u.cross(v).dot(n) > 0.0 { v } else { -v };
        let base = m.positions.len() as u32;
        for (a, b) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
            m.positions.push((0.5 * (n + a * u + b * v)).to_array());
            m.normals.push(n.to_array());
            m.colors.push(color);
        }
        m.indices.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
    }
    m.vertex_points = (0..m.positions.len() as u32).collect();
    m
}

/// A UV sphere of radius 0.5 with smooth normals and a colour gradient from bottom to top.
fn sphere(bottom: [f32; 4], top: [f32; 4], rings: u32, segments: u32) -> Mesh {
    let mut m = Mesh {
        path: "/sphere".into(),
        ..Mesh::default()
    };
    for r in 0..=rings {
        let theta = std::f32::consts::PI * r as f32 / rings as f32;
        let t = r as f32 / rings as f32;
        for s in 0..=segments {
            let phi = std::f32::consts::TAU * s as f32 / segments as f32;
            let n = Vec3::new(theta.sin() * phi.cos(), theta.cos(), -theta.sin() * phi.sin());
            m.positions.push((0.5 * n).to_array());
            m.normals.push(n.to_array());
            m.colors
                .push(std::array::from_fn(|i| top[i] * (1.0 - t) + bottom[i] * t));
        }
    }
    let row = segments + 1;
    for r in 0..rings {
        for s in 0..segments {
            let (a, b, c, d) = (r * row + s, (r + 1) * row + s, (r + 1) * row + s + 1, r * row + s + 1);
            m.indices.extend([a, b, c, a, c, d]);
        }
    }
    m.vertex_points = (0..m.positions.len() as u32).collect();
    m
}

fn scene_of(meshes: Vec<Mesh>, instances: Vec<(u32, Mat4)>) -> Scene {
    Scene {
        meshes,
        instances: instances
            .into_iter()
            .map(|(mesh, transform)| Instance {
                mesh,
                transform,
                material: 0,
            })
            .collect(),
        ..Scene::default()
    }
}

/// An orthographic camera on +Z looking down -Z, showing `units` scene units across.
fn ortho(units: f64, width: u32, height: u32) -> Camera {
    Camera {
        to_world: DMat4::from_translation(DVec3::new(0.0, 0.0, 5.0)),
        lens: Lens {
            orthographic: true,
            horizontal_aperture: units * 10.0,
            vertical_aperture: units * 10.0 * height as f64 / width as f64,
            ..Lens::default()
        },
        clipping: (1.0, 11.0),
        ..Camera::default()
    }
}

/// A perspective camera at `eye` looking at `target`, Y up.
fn perspective(eye: DVec3, target: DVec3) -> Camera {
    let to_world = DMat4::look_at_rh(eye, target, DVec3::Y).inverse();
    Camera {
        to_world,
        lens: Lens::default(),
        clipping: (0.1, 100.0),
        ..Camera::default()
    }
}

fn frame(camera: Camera) -> FrameState {
    FrameState {
        frame: 1.0,
        camera,
        ..FrameState::default()
    }
}

const ORANGE: [f32; 4] = [0.8, 0.3, 0.05, 1.0];

// ---------------------------------------------------------------------------------------------
// Analytic tests

#[test]
fn facing_quad_has_the_known_colour_on_a_transparent_background() {
    // 4 units across 64 pixels: the 2-unit quad covers exactly columns and rows 16..48.
    let scene = scene_of(vec![quad(2.0, ORANGE)], vec![(0, Mat4::IDENTITY)]);
    let Some(mut s) = setup("facing_quad", &scene, 64, 64) else {
        return;
    };
    let img = s.render(&frame(ortho(4.0, 64, 64)));
    let want = expected([0.8, 0.3, 0.05], 1.0);
    for (x, y) in [(32, 32), (16, 16), (47, 47), (16, 47), (47, 16)] {
        let p = img.px(x, y);
        assert_rgb_near(&s.tag, &format!("pixel ({x},{y})"), p, want, 1);
        assert_eq!(p[3], 255, "{}: alpha inside at ({x},{y})", s.tag);
    }
    for (x, y) in [(0, 0), (63, 63), (15, 32), (48, 32), (32, 15), (32, 48)] {
        assert_eq!(img.px(x, y), [0, 0, 0, 0], "{}: background at ({x},{y})", s.tag);
    }
    assert_eq!(img.count(|p| p[3] == 255), 32 * 32, "{}: opaque pixels", s.tag);
    assert_eq!(img.covered(), 32 * 32, "{}: covered pixels", s.tag);
}

#[test]
fn edges_are_partially_covered_with_straight_alpha() {
    // Rotated 30 degrees: every edge crosses pixels, which MSAA covers partially.
    let scene = scene_of(vec![quad(2.0, ORANGE)], vec![(0, Mat4::from_rotation_z(0.52))]);
    let Some(mut s) = setup("partial_edges", &scene, 64, 64) else {
        return;
    };
    let img = s.render(&frame(ortho(4.0, 64, 64)));
    let partial = img.count(|p| p[3] > 0 && p[3] < 255);
    assert!(partial > 40, "{}: only {partial} partially covered pixels", s.tag);
    let want = expected([0.8, 0.3, 0.05], 1.0);
    // Straight alpha: an edge pixel keeps the surface colour; only alpha says how much is covered.
    for y in 0..64 {
        for x in 0..64 {
            let p = img.px(x, y);
            if p[3] >= 96 {
                assert_rgb_near(&s.tag, &format!("edge pixel ({x},{y})"), p, want, 6);
            } else if p[3] == 0 {
                assert_eq!(p, [0, 0, 0, 0], "{}: ({x},{y})", s.tag);
            }
        }
    }
    // usdrecord's encoding keeps the colour premultiplied: same alpha, same opaque pixels, and an
    // edge pixel holds encode(alpha * colour).
    let adapter = adapter().expect("adapter");
    let mut r = Renderer::with_encoding(
        &adapter,
        &scene,
        &RenderSettings {
            width: 64,
            height: 64,
            msaa: 4,
            ..RenderSettings::default()
        },
        usdrender::gpu::ImageEncoding::UsdRecord,
    )
    .expect("renderer");
    let mut pre = Vec::new();
    r.render(&frame(ortho(4.0, 64, 64)), &mut pre).expect("render");
    let lin = layout::headlight([0.8, 0.3, 0.05], 1.0);
    for (p, q) in img.rgba.chunks_exact(4).zip(pre.chunks_exact(4)) {
        assert_eq!(p[3], q[3], "{}: alpha", s.tag);
        if p[3] == 255 {
            assert_eq!(p, q, "{}: opaque pixels agree", s.tag);
        } else if p[3] > 0 {
            let a = q[3] as f32 / 255.0;
            let want: [u8; 3] = std::array::from_fn(|i| srgb_byte(lin[i] * a));
            assert_rgb_near(&s.tag, "premultiplied edge", [q[0], q[1], q[2], q[3]], want, 3);
        }
    }
    // Coverage adds up to the quad's area (4 square units = 1024 pixels).
    let area: f64 = img.rgba.chunks_exact(4).map(|p| p[3] as f64 / 255.0).sum();
    assert!((area - 1024.0).abs() < 16.0, "{}: covered area {area}", s.tag);
}

#[test]
fn back_sides_follow_storm_single_sided_unlit_double_sided_lit() {
    // Turned away from the camera and not culled. As usdrecord shows it (usd-wg singleSided and
    // doubleSided screenshots): a single-sided back gets the ambient term only, a double-sided
    // back is lit like the front.
    let turned = Mat4::from_rotation_y(std::f32::consts::PI);
    for double_sided in [false, true] {
        let mut m = quad(2.0, ORANGE);
        m.double_sided = double_sided;
        let scene = scene_of(vec![m], vec![(0, turned)]);
        let Some(mut s) = setup(&format!("back_side_double_sided_{double_sided}"), &scene, 64, 64) else {
            return;
        };
        let img = s.render(&frame(ortho(4.0, 64, 64)));
        let want = if double_sided {
            expected([0.8, 0.3, 0.05], 1.0)
        } else {
            expected([0.8, 0.3, 0.05], -1.0)
        };
        assert_rgb_near(&s.tag, "centre", img.px(32, 32), want, 1);
        assert_eq!(img.covered(), 32 * 32, "{}", s.tag);
    }
    // A mirroring transform must not turn the front into a back.
    let scene = scene_of(
        vec![quad(2.0, ORANGE)],
        vec![(0, Mat4::from_scale(Vec3::new(-1.0, 1.0, 1.0)))],
    );
    let Some(mut s) = setup("mirrored_front", &scene, 64, 64) else {
        return;
    };
    let img = s.render(&frame(ortho(4.0, 64, 64)));
    assert_rgb_near(&s.tag, "centre", img.px(32, 32), expected([0.8, 0.3, 0.05], 1.0), 1);
}

#[test]
fn tilted_quad_follows_lambert_under_a_perspective_camera() {
    // Turned 60 degrees about Y: at the image centre the view ray is -Z, so N.V = cos 60 = 0.5.
    let white = [1.0, 1.0, 1.0, 1.0];
    let scene = scene_of(
        vec![quad(2.0, white)],
        vec![(0, Mat4::from_rotation_y(60f32.to_radians()))],
    );
    let Some(mut s) = setup("tilted_quad_perspective", &scene, 96, 64) else {
        return;
    };
    let img = s.render(&frame(perspective(DVec3::new(0.0, 0.0, 4.0), DVec3::ZERO)));
    assert_rgb_near(&s.tag, "centre", img.px(48, 32), expected([1.0; 3], 0.5), 2);
    assert_eq!(img.px(48, 32)[3], 255);
    assert_eq!(img.px(0, 0), [0, 0, 0, 0]);
}

/// A USD matrix op may be projective (a last column other than 0,0,0,1, as usd-wg's
/// weird_matrix_transform): the vertex keeps its w, so the quad lands where its points divided by w
/// lie (a trapezoid here), not where the affine part alone puts them.
#[test]
fn projective_model_matrix_keeps_its_w() {
    let white = [1.0, 1.0, 1.0, 1.0];
    // w = 1 + x / 4: 0.75 on the quad's left edge, 1.25 on its right.
    let projective = Mat4::from_cols(Vec4::new(1.0, 0.0, 0.0, 0.25), Vec4::Y, Vec4::Z, Vec4::W);
    let divided = Mesh {
        positions: quad(2.0, white)
            .positions
            .iter()
            .map(|p| {
                let w = 1.0 + p[0] / 4.0;
                [p[0] / w, p[1] / w, p[2] / w]
            })
            .collect(),
        ..quad(2.0, white)
    };
    let render = |mesh: Mesh, transform: Mat4| {
        let scene = scene_of(vec![mesh], vec![(0, transform)]);
        let mut s = setup("projective_model_matrix", &scene, 64, 64)?;
        Some(s.render(&frame(ortho(4.0, 64, 64))))
    };
    let Some(projected) = render(quad(2.0, white), projective) else {
        return;
    };
    let Some(expected) = render(divided, Mat4::IDENTITY) else {
        return;
    };
    let (got, want) = (projected.covered() as f64, expected.covered() as f64);
    assert!((got - want).abs() <= 0.02 * want, "covered pixels {got} vs {want}");
    // The trapezoid leans left (its wide edge is at x = -4/3): an affine-only quad is centred.
    let (cx, want_cx) = (projected.centroid_x(), expected.centroid_x());
    assert!(want_cx < 31.0, "the divided quad's centroid {want_cx}");
    assert!((cx - want_cx).abs() < 0.25, "centroid x {cx} vs {want_cx}");
}

#[test]
fn nearer_surface_wins_the_depth_test() {
    // Reversed Z with compare Greater: the near quad wins whichever is drawn first.
    let red = [1.0, 0.0, 0.0, 1.0];
    let green = [0.0, 1.0, 0.0, 1.0];
    for near_first in [true, false] {
        let near = (0, Mat4::from_translation(Vec3::new(0.0, 0.0, 1.0)));
        let far = (1, Mat4::from_translation(Vec3::new(0.5, 0.0, -1.0)));
        let instances = if near_first { vec![near, far] } else { vec![far, near] };
        let scene = scene_of(vec![quad(2.0, red), quad(2.0, green)], instances);
        let Some(mut s) = setup("depth_test", &scene, 64, 64) else {
            return;
        };
        let img = s.render(&frame(ortho(4.0, 64, 64)));
        assert_rgb_near(&s.tag, "overlap", img.px(36, 32), expected([1.0, 0.0, 0.0], 1.0), 1);
        assert_rgb_near(&s.tag, "far only", img.px(52, 32), expected([0.0, 1.0, 0.0], 1.0), 1);
    }
}

#[test]
fn hidden_and_moved_instances_follow_the_frame_state() {
    let mut scene = scene_of(
        vec![quad(1.0, ORANGE)],
        vec![
            (0, Mat4::from_translation(Vec3::new(-1.0, 0.0, 0.0))),
            (0, Mat4::from_translation(Vec3::new(1.0, 0.0, 0.0))),
        ],
    );
    scene.dynamic_instances = vec![1];
    let Some(mut s) = setup("dynamic_instances", &scene, 64, 64) else {
        return;
    };
    let mut state = frame(ortho(4.0, 64, 64));
    state.instance_transforms = vec![scene.instances[1].transform];
    let both = s.render(&state);
    assert_eq!(both.covered(), 2 * 16 * 16, "{}: both quads", s.tag);
    assert!((both.centroid_x() - 32.0).abs() < 0.5, "{}", s.tag);

    state.instance_transforms = vec![Mat4::ZERO];
    let hidden = s.render(&state);
    assert_eq!(
        hidden.covered(),
        16 * 16,
        "{}: the zero matrix hides the instance",
        s.tag
    );
    assert!((hidden.centroid_x() - 16.0).abs() < 0.5, "{}", s.tag);
    assert_eq!(hidden.px(48, 32), [0, 0, 0, 0], "{}", s.tag);

    state.instance_transforms = vec![Mat4::from_translation(Vec3::new(0.0, 1.0, 0.0))];
    let moved = s.render(&state);
    assert_eq!(moved.covered(), 2 * 16 * 16, "{}", s.tag);
    assert_eq!(moved.px(32, 16)[3], 255, "{}: moved quad at its new place", s.tag);
    assert_eq!(moved.px(48, 32), [0, 0, 0, 0], "{}: and gone from the old one", s.tag);

    // The same state again renders the same image (nothing left over from the previous frame).
    let again = s.render(&state);
    assert_eq!(again.rgba, moved.rgba, "{}", s.tag);
}

#[test]
fn animated_vertices_update() {
    let mut scene = scene_of(vec![quad(1.0, ORANGE)], vec![(0, Mat4::IDENTITY)]);
    scene.dynamic_meshes = vec![0];
    let Some(mut s) = setup("animated_vertices", &scene, 64, 64) else {
        return;
    };
    let mut state = frame(ortho(4.0, 64, 64));
    let rest = scene.meshes[0].clone();
    state.mesh_vertices = vec![std::sync::Arc::new(MeshVertices {
        positions: rest.positions.clone(),
        normals: rest.normals.clone(),
    })];
    let before = s.render(&state);
    assert!((before.centroid_x() - 32.0).abs() < 0.5, "{}", s.tag);
    // Stretch the right edge out by one unit (16 pixels): the quad grows to the right.
    let mut moved = rest.positions.clone();
    moved[1][0] += 1.0;
    moved[2][0] += 1.0;
    state.mesh_vertices = vec![std::sync::Arc::new(MeshVertices {
        positions: moved,
        normals: vec![],
    })];
    let after = s.render(&state);
    assert_eq!(after.covered(), 32 * 16, "{}: the quad doubled in width", s.tag);
    assert!(
        (after.centroid_x() - 40.0).abs() < 0.5,
        "{}: centroid {}",
        s.tag,
        after.centroid_x()
    );
    // Normals recomputed from the new positions still face the camera.
    assert_rgb_near(&s.tag, "centre", after.px(40, 32), expected([0.8, 0.3, 0.05], 1.0), 1);
}

#[test]
fn odd_widths_are_depadded() {
    // Rows of 333 and 1000 pixels are padded to 1536 and 4096 bytes in the readback buffer; a
    // stride mistake shears the image, which breaks the vertical edge checked here.
    for (width, height) in [(333u32, 21u32), (1000, 7)] {
        // Shown: 3.33 (or 10) units across; a quad covering the left half, edge on x = 0.
        let units = width as f64 / 100.0;
        let w = units as f32;
        let mut m = quad(1.0, ORANGE);
        m.positions = vec![[-w, -10.0, 0.0], [0.0, -10.0, 0.0], [0.0, 10.0, 0.0], [-w, 10.0, 0.0]];
        let scene = scene_of(vec![m], vec![(0, Mat4::IDENTITY)]);
        let Some(mut s) = setup(&format!("odd_width_{width}"), &scene, width, height) else {
            return;
        };
        let img = s.render(&frame(ortho(units, width, height)));
        let half = width / 2; // the edge falls at x = width / 2 (half a pixel into the middle column)
        for y in 0..height {
            for x in 0..width {
                let a = img.px(x, y)[3];
                if x < half {
                    assert_eq!(a, 255, "{}: ({x},{y}) inside", s.tag);
                } else if x > half {
                    assert_eq!(img.px(x, y), [0, 0, 0, 0], "{}: ({x},{y}) outside", s.tag);
                }
            }
            assert_eq!(
                img.px(half, y),
                img.px(half, 0),
                "{}: edge column differs in row {y}",
                s.tag
            );
        }
    }
}

#[test]
fn empty_scene_is_transparent() {
    let Some(mut s) = setup("empty_scene", &Scene::default(), 40, 30) else {
        return;
    };
    let img = s.render(&frame(ortho(4.0, 40, 30)));
    assert!(img.rgba.iter().all(|&b| b == 0), "{}", s.tag);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let Some(adapter) = adapter() else { return };
    let scene = scene_of(vec![quad(1.0, ORANGE)], vec![(0, Mat4::IDENTITY)]);
    let e = Renderer::new(
        &adapter,
        &scene,
        &RenderSettings {
            width: 0,
            height: 10,
            msaa: 4,
            ..RenderSettings::default()
        },
    );
    assert!(matches!(e, Err(usdrender::Error::Gpu { .. })), "zero width");
    let e = Renderer::new(
        &adapter,
        &scene,
        &RenderSettings {
            width: 1 << 20,
            height: 10,
            msaa: 4,
            ..RenderSettings::default()
        },
    );
    assert!(matches!(e, Err(usdrender::Error::Gpu { .. })), "huge width");
    // A frame state that does not match the scene's dynamic lists.
    let mut r = Renderer::new(
        &adapter,
        &scene,
        &RenderSettings {
            width: 8,
            height: 8,
            msaa: 4,
            ..RenderSettings::default()
        },
    )
    .expect("renderer");
    let mut state = frame(ortho(4.0, 8, 8));
    state.instance_transforms = vec![Mat4::IDENTITY];
    let mut rgba = Vec::new();
    let e = r.render(&state, &mut rgba);
    assert!(
        matches!(e, Err(usdrender::Error::Gpu { .. })),
        "mismatched frame state: {e:?}"
    );
    // Out-of-range indices and missing normals/colours are tolerated.
    let mut bad = quad(1.0, ORANGE);
    bad.indices.extend([0, 1, 99]);
    bad.normals.clear();
    bad.colors.clear();
    let scene = scene_of(vec![bad], vec![(0, Mat4::IDENTITY), (5, Mat4::IDENTITY)]);
    let mut r = Renderer::new(
        &adapter,
        &scene,
        &RenderSettings {
            width: 8,
            height: 8,
            msaa: 4,
            ..RenderSettings::default()
        },
    )
    .expect("renderer");
    r.render(&frame(ortho(4.0, 8, 8)), &mut rgba).expect("render");
    assert!(rgba.chunks_exact(4).any(|p| p[3] == 255));
}

#[test]
fn frame_time_on_a_tiny_scene() {
    // Not a benchmark: prints seconds per frame so regressions on lavapipe are visible in logs.
    let mut meshes = vec![sphere([0.1, 0.2, 0.9, 1.0], [0.9, 0.9, 0.2, 1.0], 48, 96)];
    meshes.push(cube(ORANGE));
    let instances: Vec<(u32, Mat4)> = (0..16)
        .map(|i| {
            let (x, y) = ((i % 4) as f32 - 1.5, (i / 4) as f32 - 1.5);
            ((i % 2) as u32, Mat4::from_translation(Vec3::new(x * 1.1, y * 1.1, 0.0)))
        })
        .collect();
    let mut scene = scene_of(meshes, instances);
    scene.dynamic_instances = vec![0, 5];
    let (w, h) = (320, 200);
    let Some(mut s) = setup("frame_time", &scene, w, h) else {
        return;
    };
    let mut state = frame(perspective(DVec3::new(0.0, 0.0, 9.0), DVec3::ZERO));
    let frames = 10;
    let mut rgba = Vec::new();
    let start = Instant::now();
    for f in 0..frames {
        state.frame = f as f64;
        let t = Mat4::from_rotation_z(f as f32 * 0.1);
        state.instance_transforms = vec![scene.instances[0].transform * t, scene.instances[5].transform * t];
        s.renderer.render(&state, &mut rgba).expect("render");
    }
    let per = start.elapsed().as_secs_f64() / frames as f64;
    println!(
        "{}: {:.2} ms per frame ({w}x{h}, {} triangles)",
        s.tag,
        per * 1e3,
        scene.drawn_triangles()
    );
}

// ---------------------------------------------------------------------------------------------
// Golden images

/// Largest mean absolute difference per channel (0..255) a golden tolerates.
/// Set on lavapipe (goldens blessed there). Measured on the H100 (Vulkan): 0.19 and 0.07 mean,
/// 2 and 19 pixels over the threshold (of 19200), so the goldens hold across both.
const MAX_MEAN_DIFF: f64 = 0.5;
/// A pixel "differs" when any channel is off by more than this...
const PIXEL_THRESHOLD: u8 = 24;
/// ...and at most this share of pixels may differ (edge pixels vary between rasterizers).
const MAX_DIFFERING_SHARE: f64 = 0.005;

fn compare_with_golden(tag: &str, name: &str, img: &Image) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let golden_path = root.join("tests/golden").join(format!("{name}.png"));
    let out_dir = root.join("target/test-output");
    let save = |path: &PathBuf, rgba: &[u8]| {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create output dir");
        image::save_buffer(path, rgba, img.width, img.height, image::ExtendedColorType::Rgba8).expect("write png");
    };
    let bless = std::env::var("USDRENDER_BLESS").is_ok_and(|v| v == "1");
    let golden = match image::open(&golden_path) {
        Ok(g) => g.to_rgba8(),
        Err(_) if bless => {
            save(&golden_path, &img.rgba);
            println!("{tag}: blessed {}", golden_path.display());
            return;
        }
        Err(e) => {
            let actual = out_dir.join(format!("{name}.actual.png"));
            save(&actual, &img.rgba);
            panic!(
                "{tag}: golden {} missing or unreadable ({e}); actual written to {}; run with USDRENDER_BLESS=1 to accept it",
                golden_path.display(),
                actual.display()
            );
        }
    };
    assert_eq!(
        (golden.width(), golden.height()),
        (img.width, img.height),
        "{tag}: golden size"
    );
    let mut sum = 0u64;
    let mut differing = 0usize;
    let mut diff = vec![0u8; img.rgba.len()];
    for (i, (a, b)) in img
        .rgba
        .chunks_exact(4)
        .zip(golden.as_raw().chunks_exact(4))
        .enumerate()
    {
        let d: [u8; 4] = std::array::from_fn(|c| a[c].abs_diff(b[c]));
        sum += d.iter().map(|&x| x as u64).sum::<u64>();
        let worst = *d.iter().max().unwrap_or(&0);
        if worst > PIXEL_THRESHOLD {
            differing += 1;
        }
        // Diff image: amplified difference, opaque so it is visible in any viewer.
        diff[i * 4..i * 4 + 4].copy_from_slice(&[worst.saturating_mul(8), d[3].saturating_mul(8), 0, 255]);
    }
    let mean = sum as f64 / img.rgba.len() as f64;
    let share = differing as f64 / (img.width * img.height) as f64;
    println!("{tag}: golden {name}: mean diff {mean:.4}, {differing} pixels over {PIXEL_THRESHOLD}");
    if mean > MAX_MEAN_DIFF || share > MAX_DIFFERING_SHARE {
        if bless {
            save(&golden_path, &img.rgba);
            println!("{tag}: re-blessed {}", golden_path.display());
            return;
        }
        let actual = out_dir.join(format!("{name}.actual.png"));
        let diff_path = out_dir.join(format!("{name}.diff.png"));
        save(&actual, &img.rgba);
        save(&diff_path, &diff);
        panic!(
            "{tag}: differs from {}: mean {mean:.3} (max {MAX_MEAN_DIFF}), {:.3}% pixels over {PIXEL_THRESHOLD} \
             (max {:.3}%); see {} and {}",
            golden_path.display(),
            share * 100.0,
            MAX_DIFFERING_SHARE * 100.0,
            actual.display(),
            diff_path.display()
        );
    }
}

#[test]
fn golden_shapes_perspective() {
    // A cube, a smooth sphere with a colour gradient and a half-transparent floor, seen from above.
    let meshes = vec![
        cube([0.8, 0.15, 0.1, 1.0]),
        sphere([0.1, 0.3, 0.9, 1.0], [0.95, 0.9, 0.3, 1.0], 24, 48),
        quad(4.0, [0.6, 0.6, 0.6, 0.5]),
    ];
    let instances = vec![
        (
            0,
            Mat4::from_scale_rotation_translation(
                Vec3::splat(0.9),
                Quat::from_rotation_y(0.6),
                Vec3::new(-0.8, 0.45, 0.0),
            ),
        ),
        (
            1,
            Mat4::from_scale_rotation_translation(Vec3::splat(1.2), Quat::IDENTITY, Vec3::new(0.8, 0.6, -0.2)),
        ),
        (2, Mat4::from_rotation_x(-std::f32::consts::FRAC_PI_2)),
    ];
    let scene = scene_of(meshes, instances);
    let Some(mut s) = setup("golden_shapes_perspective", &scene, 160, 120) else {
        return;
    };
    let img = s.render(&frame(perspective(
        DVec3::new(2.0, 4.5, 9.0),
        DVec3::new(0.0, 0.3, 0.0),
    )));
    compare_with_golden(&s.tag, "shapes_perspective", &img);
}

#[test]
fn golden_instanced_grid() {
    // Many instances of two meshes, rotated and scaled (normals through the cofactor matrix),
    // one mirrored (negative determinant), seen orthographically.
    let meshes = vec![
        cube([0.2, 0.7, 0.3, 1.0]),
        sphere([0.9, 0.2, 0.6, 1.0], [0.9, 0.8, 0.8, 1.0], 12, 24),
    ];
    let mut instances = Vec::new();
    for i in 0..20 {
        let (x, y) = ((i % 5) as f32 - 2.0, (i / 5) as f32 - 1.5);
        let rot = Quat::from_euler(glam::EulerRot::XYZ, 0.3 * i as f32, 0.5 + 0.2 * i as f32, 0.0);
        let scale = if i == 7 {
            Vec3::new(-0.6, 0.6, 0.6)
        } else {
            Vec3::new(0.6, 0.4 + 0.03 * i as f32, 0.6)
        };
        instances.push((
            (i % 2) as u32,
            Mat4::from_scale_rotation_translation(scale, rot, Vec3::new(x, y, 0.0)),
        ));
    }
    let scene = scene_of(meshes, instances);
    let Some(mut s) = setup("golden_instanced_grid", &scene, 160, 120) else {
        return;
    };
    let img = s.render(&frame(ortho(5.6, 160, 120)));
    compare_with_golden(&s.tag, "instanced_grid", &img);
}

// ---------------------------------------------------------------------------------------------
// Adapters

#[test]
fn adapters_are_listed_once_per_gpu() {
    let deduped = usdrender::gpu::list_adapters(false);
    let all = usdrender::gpu::list_adapters(true);
    if all.is_empty() {
        assert!(adapter().is_none(), "no adapters listed but one selected");
        return;
    }
    println!("adapters (deduplicated): {deduped:#?}");
    assert!(all.len() >= deduped.len());
    for (i, a) in deduped.iter().enumerate() {
        assert_eq!(a.index, i);
        // The same name on two backends is one GPU seen twice: only one may remain.
        let twins = deduped
            .iter()
            .filter(|b| b.name == a.name && b.backend != a.backend)
            .count();
        assert_eq!(twins, 0, "{} listed on two backends", a.name);
    }
    if all.iter().any(|a| a.backend == "Vulkan") {
        assert_eq!(deduped[0].backend, "Vulkan", "Vulkan is preferred");
    }
    let selected = select_adapters(&AdapterSelection::default()).expect("default selection");
    let has_gpu = deduped.iter().any(|a| a.device_type != "Cpu");
    for s in &selected {
        assert!(
            !has_gpu || s.summary.device_type != "Cpu",
            "software adapter chosen beside a GPU"
        );
    }
    // Explicit specs: an index, a name substring, and a miss that lists what exists.
    let by_index = select_adapters(&AdapterSelection {
        spec: Some("0".into()),
        ..Default::default()
    })
    .expect("0");
    assert_eq!(by_index[0].summary.name, deduped[0].name);
    let needle = deduped[0].name.split_whitespace().next().unwrap_or("").to_lowercase();
    let by_name = select_adapters(&AdapterSelection {
        spec: Some(needle.clone()),
        ..Default::default()
    });
    assert!(by_name.is_ok_and(|v| !v.is_empty()), "name substring {needle:?}");
    match select_adapters(&AdapterSelection {
        spec: Some("no-such-gpu".into()),
        ..Default::default()
    }) {
        Err(usdrender::Error::NoAdapter(msg)) => assert!(msg.contains(&deduped[0].name), "{msg}"),
        other => panic!("expected NoAdapter, got {other:?}"),
    }
}

#[test]
fn every_backend_renders_the_same_quad() {
    // With all_backends the GL adapter of the same GPU is kept; both must give the same image.
    let Some(_) = adapter() else { return };
    let adapters = select_adapters(&AdapterSelection {
        all_backends: true,
        include_cpu: true,
        ..Default::default()
    })
    .expect("adapters");
    let scene = scene_of(vec![quad(2.0, ORANGE)], vec![(0, Mat4::from_rotation_z(0.3))]);
    let state = frame(ortho(4.0, 48, 40));
    let mut images: Vec<(String, Vec<u8>)> = Vec::new();
    for a in &adapters {
        let tag = format!("[{}] every_backend", a.summary.label());
        let mut r = match Renderer::new(
            a,
            &scene,
            &RenderSettings {
                width: 48,
                height: 40,
                msaa: 4,
                ..RenderSettings::default()
            },
        ) {
            Ok(r) => r,
            Err(e) => panic!("{tag}: {e}"),
        };
        let mut rgba = Vec::new();
        let start = Instant::now();
        r.render(&state, &mut rgba).unwrap_or_else(|e| panic!("{tag}: {e}"));
        println!(
            "{tag}: {} samples, {:.1} ms",
            r.sample_count(),
            start.elapsed().as_secs_f64() * 1e3
        );
        images.push((tag, rgba));
    }
    for (tag, rgba) in &images[1..] {
        let mean = rgba
            .iter()
            .zip(&images[0].1)
            .map(|(a, b)| a.abs_diff(*b) as f64)
            .sum::<f64>()
            / rgba.len() as f64;
        assert!(mean < 1.0, "{tag} differs from {} by {mean:.3} on average", images[0].0);
    }
}

#[test]
fn translucent_surfaces_composite_over_what_is_behind() {
    // A half-opaque white quad in front of an opaque red one, listed first so it would hide the
    // red one if it wrote depth: the overlap is 50/50, the white-only part has alpha 0.5.
    let white = [1.0, 1.0, 1.0, 0.5];
    let red = [1.0, 0.0, 0.0, 1.0];
    let scene = scene_of(
        vec![quad(2.0, white), quad(2.0, red)],
        vec![
            (0, Mat4::from_translation(Vec3::new(0.5, 0.0, 1.0))),
            (1, Mat4::IDENTITY),
        ],
    );
    let Some(mut s) = setup("translucent_over", &scene, 64, 64) else {
        return;
    };
    let img = s.render(&frame(ortho(4.0, 64, 64)));
    let (w, r) = (
        layout::headlight([1.0; 3], 1.0),
        layout::headlight([1.0, 0.0, 0.0], 1.0),
    );
    let over: [u8; 3] = std::array::from_fn(|i| srgb_byte(0.5 * w[i] + 0.5 * r[i]));
    let overlap = img.px(36, 32);
    assert_rgb_near(&s.tag, "overlap", overlap, over, 2);
    assert_eq!(overlap[3], 255, "{}: opaque behind", s.tag);
    let alone = img.px(52, 32);
    assert_rgb_near(
        &s.tag,
        "translucent only (straight colour)",
        alone,
        expected([1.0; 3], 1.0),
        2,
    );
    assert!(alone[3].abs_diff(128) <= 1, "{}: alpha {}", s.tag, alone[3]);
    assert_rgb_near(&s.tag, "opaque only", img.px(20, 32), expected([1.0, 0.0, 0.0], 1.0), 1);
}

#[test]
fn without_msaa_edges_are_hard_and_bad_transforms_hide() {
    // msaa 1 renders straight into the resolve target: alpha is 0 or 255, nothing between. A NaN
    // transform draws nothing rather than garbage; a mesh without normals uses its face normal.
    let mut flat = quad(2.0, ORANGE);
    flat.normals.clear();
    let scene = scene_of(
        vec![flat],
        vec![
            (0, Mat4::from_rotation_z(0.52)),
            (0, Mat4::from_translation(Vec3::splat(f32::NAN))),
        ],
    );
    let Some(adapter) = adapter() else { return };
    let tag = format!("[{}] no_msaa", adapter.summary.label());
    let mut r = Renderer::new(
        &adapter,
        &scene,
        &RenderSettings {
            width: 64,
            height: 64,
            msaa: 1,
            ..RenderSettings::default()
        },
    )
    .unwrap_or_else(|e| panic!("{tag}: {e}"));
    assert_eq!(r.sample_count(), 1);
    let mut rgba = Vec::new();
    r.render(&frame(ortho(4.0, 64, 64)), &mut rgba)
        .unwrap_or_else(|e| panic!("{tag}: {e}"));
    let img = Image {
        width: 64,
        height: 64,
        rgba,
    };
    assert_eq!(
        img.count(|p| p[3] != 0 && p[3] != 255),
        0,
        "{tag}: partial alpha without MSAA"
    );
    let covered = img.covered() as f64;
    assert!((covered - 1024.0).abs() < 40.0, "{tag}: {covered} pixels covered");
    assert_rgb_near(
        &tag,
        "centre (face normal)",
        img.px(32, 32),
        expected([0.8, 0.3, 0.05], 1.0),
        1,
    );
}

// ---------------------------------------------------------------------------------------------
// Frames in flight and GPU timing

#[test]
fn frames_in_flight_come_back_in_order_and_match_one_at_a_time() {
    // Three frames of a moving quad submitted before any is finished must equal the same frames
    // rendered one by one: the shared render targets and per-slot readback do not mix frames up.
    let mut scene = scene_of(vec![quad(1.0, [0.2, 0.6, 0.9, 1.0])], vec![(0, Mat4::IDENTITY)]);
    scene.dynamic_instances = vec![0];
    let Some(mut s) = setup("frames_in_flight", &scene, 64, 48) else {
        return;
    };
    let states: Vec<FrameState> = (0..5)
        .map(|i| {
            let mut st = frame(ortho(4.0, 64, 48));
            st.frame = i as f64;
            st.instance_transforms = vec![Mat4::from_translation(Vec3::new(i as f32 * 0.3 - 0.6, 0.0, 0.0))];
            st
        })
        .collect();
    let alone: Vec<Vec<u8>> = states.iter().map(|st| s.render(st).rgba).collect();
    let k = s.renderer.frames_in_flight();
    assert!(k >= 2, "{}: {k} frames in flight", s.tag);
    // Submit k, then finish one and submit one, as the scheduler does.
    let mut tickets = std::collections::VecDeque::new();
    let mut got = Vec::new();
    let mut out = usdrender::gpu::FrameBuffers::default();
    let mut next = 0;
    while got.len() < states.len() {
        while tickets.len() < k && next < states.len() {
            tickets.push_back(s.renderer.submit(&states[next]).expect("submit"));
            next += 1;
        }
        if next < states.len() {
            // A full ring refuses another frame instead of overwriting one in flight.
            assert!(s.renderer.submit(&states[next]).is_err(), "{}: ring overflow", s.tag);
        }
        let t = tickets.pop_front().expect("ticket");
        assert_eq!(t.frame(), got.len() as f64);
        s.renderer.finish(t, &mut out).expect("finish");
        // finish() leaves straight alpha to the caller (the scheduler does it on an encoder thread).
        out.straighten();
        got.push(out.rgba.clone());
    }
    for (i, (a, b)) in alone.iter().zip(&got).enumerate() {
        assert!(a == b, "{}: frame {i} differs when pipelined", s.tag);
    }
    assert_ne!(got[0], got[4], "{}: the quad moved", s.tag);
}

#[test]
fn gpu_pass_time_is_measured_where_timestamps_exist() {
    let scene = scene_of(vec![sphere(ORANGE, ORANGE, 16, 32)], vec![(0, Mat4::IDENTITY)]);
    let Some(mut s) = setup("gpu_timestamps", &scene, 64, 64) else {
        return;
    };
    let state = frame(ortho(2.0, 64, 64));
    for _ in 0..3 {
        s.render(&state);
    }
    let after_render = s.renderer.last_gpu_ms();
    for _ in 0..3 {
        s.renderer.render_only(&state).expect("render only");
    }
    let after_render_only = s.renderer.last_gpu_ms();
    println!(
        "{}: GPU pass {after_render:?} ms, render only {after_render_only:?} ms",
        s.tag
    );
    // lavapipe (Vulkan) and real GPUs offer TIMESTAMP_QUERY; GL does not.
    if s.tag.contains("[Vulkan/") {
        for g in [after_render, after_render_only] {
            let g = g.unwrap_or_else(|| panic!("{}: no GPU time on Vulkan", s.tag));
            assert!(g.is_finite() && g > 0.0 && g < 10_000.0, "{}: GPU time {g} ms", s.tag);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// High precision and AOVs

/// A renderer with explicit settings, or `None` without an adapter.
fn setup_with(test: &str, scene: &Scene, settings: &RenderSettings) -> Option<(Renderer, String)> {
    let s = setup(test, &Scene::default(), 1, 1)?;
    let adapter = adapter()?;
    let renderer = Renderer::new(&adapter, scene, settings).unwrap_or_else(|e| panic!("{}: {e}", s.tag));
    Some((renderer, s.tag))
}

fn srgb_of(l: f32) -> u8 {
    srgb_byte(l)
}

#[test]
fn linear_output_matches_the_analytic_colour_and_the_8bit_image() {
    let color = [0.2, 0.5, 0.7];
    let scene = scene_of(
        vec![quad(2.0, [color[0], color[1], color[2], 1.0])],
        vec![(0, Mat4::IDENTITY)],
    );
    // An odd width: the linear and 8-bit images come tightly packed, whatever the row padding.
    let (w, h) = (67, 49);
    let settings = RenderSettings {
        width: w,
        height: h,
        linear: true,
        ..RenderSettings::default()
    };
    let Some((mut r, tag)) = setup_with("linear_output", &scene, &settings) else {
        return;
    };
    let mut out = usdrender::gpu::FrameBuffers::for_settings(&settings);
    r.render_frame(&frame(ortho(4.0, w, h)), &mut out).expect("render");
    assert_eq!(out.rgba.len(), (w * h * 4) as usize, "{tag}: rgba size");
    assert_eq!(out.linear.len(), (w * h * 4) as usize, "{tag}: linear size");
    let want = layout::headlight(color, 1.0);
    let at = |x: u32, y: u32| ((y * w + x) * 4) as usize;
    let c = at(w / 2, h / 2);
    let lin = &out.linear[c..c + 4];
    for i in 0..3 {
        assert!((lin[i] - want[i]).abs() < 1e-3, "{tag}: linear {lin:?}, want {want:?}");
    }
    assert!((lin[3] - 1.0).abs() < 1e-6, "{tag}: alpha {}", lin[3]);
    // Every pixel's 8-bit value is the sRGB encoding of its linear value (straight alpha), edges
    // and background included.
    let mut edges = 0;
    for y in 0..h {
        for x in 0..w {
            let i = at(x, y);
            let (l, b) = (&out.linear[i..i + 4], &out.rgba[i..i + 4]);
            for ch in 0..3 {
                let e = srgb_of(l[ch]);
                assert!(b[ch].abs_diff(e) <= 1, "{tag}: ({x},{y}) byte {b:?} vs linear {l:?}");
            }
            assert!(
                b[3].abs_diff((l[3] * 255.0).round() as u8) <= 1,
                "{tag}: ({x},{y}) alpha"
            );
            if l[3] > 0.0 && l[3] < 1.0 {
                edges += 1;
            }
        }
    }
    assert!(edges > 0, "{tag}: the quad's edges are partially covered");
    assert_eq!(&out.linear[0..4], &[0.0; 4], "{tag}: background");
    // The 8-bit image agrees with the default (8-bit target) renderer's inside the quad.
    let Some(mut plain) = setup("linear_vs_plain", &scene, w, h) else {
        return;
    };
    let img = plain.render(&frame(ortho(4.0, w, h)));
    let p = img.px(w / 2, h / 2);
    assert_rgb_near(
        &tag,
        "centre vs 8-bit renderer",
        p,
        [out.rgba[c], out.rgba[c + 1], out.rgba[c + 2]],
        1,
    );
}

#[test]
fn aovs_give_depth_normal_and_ids() {
    // Mesh 0 and mesh 1; instance 0 shows mesh 1 on the left at z = 0, instance 1 shows mesh 0
    // on the right at z = -1, turned 0.5 rad about Y.
    let theta = 0.5f32;
    let scene = scene_of(
        vec![quad(1.0, ORANGE), quad(1.0, [0.1, 0.8, 0.2, 1.0])],
        vec![
            (1, Mat4::from_translation(Vec3::new(-1.0, 0.0, 0.0))),
            (
                0,
                Mat4::from_translation(Vec3::new(1.0, 0.0, -1.0)) * Mat4::from_rotation_y(theta),
            ),
        ],
    );
    let (w, h) = (64, 64);
    // Both MSAA (sample 0 of multisampled attachments) and single-sampled attachments, with and
    // without linear output.
    for (msaa, linear) in [(4, false), (1, true)] {
        let settings = RenderSettings {
            width: w,
            height: h,
            msaa,
            linear,
            aovs: usdrender::gpu::AovKind::ALL.to_vec(),
            ..RenderSettings::default()
        };
        let Some((mut r, tag)) = setup_with(&format!("aovs msaa {msaa}"), &scene, &settings) else {
            return;
        };
        let mut out = usdrender::gpu::FrameBuffers::for_settings(&settings);
        // Orthographic camera at z = 5: 16 pixels per unit, x = -1 at pixel 16, x = 1 at pixel 48.
        r.render_frame(&frame(ortho(4.0, w, h)), &mut out).expect("render");
        let n = (w * h) as usize;
        assert_eq!(
            (
                out.depth.len(),
                out.normal.len(),
                out.prim_id.len(),
                out.instance_id.len()
            ),
            (n, 3 * n, n, n),
            "{tag}: sizes"
        );
        let i = |x: u32, y: u32| (y * w + x) as usize;
        let (left, right, bg) = (i(16, 32), i(48, 32), i(0, 0));
        assert_eq!((out.prim_id[left], out.instance_id[left]), (1, 0), "{tag}: left ids");
        assert_eq!((out.prim_id[right], out.instance_id[right]), (0, 1), "{tag}: right ids");
        assert_eq!(
            (out.prim_id[bg], out.instance_id[bg]),
            (u32::MAX, u32::MAX),
            "{tag}: background ids"
        );
        assert!(
            (out.depth[left] - 5.0).abs() < 1e-3,
            "{tag}: left depth {}",
            out.depth[left]
        );
        // The right quad's pixel centre sits 1/32 unit right of its centre: deeper by dx tan(theta).
        let want = 6.0 + (1.0 / 32.0) * theta.tan();
        assert!(
            (out.depth[right] - want).abs() < 1e-3,
            "{tag}: right depth {} vs {want}",
            out.depth[right]
        );
        assert_eq!(out.depth[bg], f32::INFINITY, "{tag}: background depth");
        let normal = |p: usize| [out.normal[3 * p], out.normal[3 * p + 1], out.normal[3 * p + 2]];
        let near = |a: [f32; 3], b: [f32; 3]| (0..3).all(|k| (a[k] - b[k]).abs() < 2e-3);
        assert!(
            near(normal(left), [0.0, 0.0, 1.0]),
            "{tag}: left normal {:?}",
            normal(left)
        );
        let turned = [theta.sin(), 0.0, theta.cos()];
        assert!(
            near(normal(right), turned),
            "{tag}: right normal {:?} vs {turned:?}",
            normal(right)
        );
        assert_eq!(normal(bg), [0.0; 3], "{tag}: background normal");
        // Perspective: depth is along -Z, not the distance to the eye, so it is 4 all over the
        // facing quad (whose pixels are off-axis).
        r.render_frame(&frame(perspective(DVec3::new(0.0, 0.0, 4.0), DVec3::ZERO)), &mut out)
            .expect("render");
        let off_axis = (0..n).find(|&p| out.instance_id[p] == 0).expect("left quad visible");
        assert!(
            (out.depth[off_axis] - 4.0).abs() < 1e-3,
            "{tag}: perspective depth {}",
            out.depth[off_axis]
        );
        // Ids are exact everywhere: every value is an instance index or the background.
        assert!(
            out.instance_id.iter().all(|&v| v <= 1 || v == u32::MAX),
            "{tag}: ids blended"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Materials and lights: UsdPreviewSurface, textures, UsdLux lights, cut-outs, blending, dome

use std::sync::Arc;
use usdrender::scene::light::Shaping;
use usdrender::scene::material::{Channel, Input, TexelFormat, Texture, TextureLookup, Wrap};
use usdrender::scene::{Headlight, Light, LightKind, Look, Material};

/// `scene` with `materials` after the fallback, every instance using material 1.
fn with_material(mut scene: Scene, material: Material) -> Scene {
    scene.materials = vec![Material::display_color(), material];
    for i in &mut scene.instances {
        i.material = 1;
    }
    scene
}

/// Renders `scene` once through an orthographic camera and returns the linear RGBA of the
/// centre pixel, with the renderer's tag.
fn centre_linear(test: &str, scene: &Scene, settings: RenderSettings) -> Option<([f32; 4], String, Vec<f32>)> {
    let (w, h) = (settings.width, settings.height);
    let settings = RenderSettings {
        linear: true,
        ..settings
    };
    let (mut r, tag) = setup_with(test, scene, &settings)?;
    let mut out = usdrender::gpu::FrameBuffers::for_settings(&settings);
    r.render_frame(&frame(ortho(4.0, w, h)), &mut out)
        .unwrap_or_else(|e| panic!("{tag}: {e}"));
    let c = (((h / 2) * w + w / 2) * 4) as usize;
    let px = [out.linear[c], out.linear[c + 1], out.linear[c + 2], out.linear[c + 3]];
    Some((px, tag, out.linear))
}

fn small() -> RenderSettings {
    RenderSettings {
        width: 32,
        height: 32,
        ..RenderSettings::default()
    }
}

fn assert_linear(tag: &str, what: &str, got: [f32; 4], want: [f32; 4], tol: f32) {
    let ok = (0..4).all(|i| (got[i] - want[i]).abs() <= tol);
    assert!(ok, "{tag}: {what}: got {got:?}, want {want:?} (+-{tol})");
}

#[test]
fn preview_surface_defaults_under_the_headlight_give_lambert_plus_ggx() {
    // Facing the headlight: N.L = N.E = N.H = E.H = 1. Specular F = F0 = ((1-1.5)/(1+1.5))^2 = 0.04,
    // GGX D = 1/(pi a^2) with a = 0.5^2, G = 1: 0.04 * 5.093 / 4 = 0.0509; Lambert diffuse
    // 0.18 * (1 - F) / pi.
    let scene = with_material(
        scene_of(vec![quad(2.0, [1.0, 0.0, 0.0, 1.0])], vec![(0, Mat4::IDENTITY)]),
        Material::preview_surface_defaults("/M"),
    );
    let Some((px, tag, _)) = centre_linear("preview_surface_defaults", &scene, small()) else {
        return;
    };
    let d = 1.0 / (std::f32::consts::PI * 0.0625);
    let want = 0.18 * 0.96 / std::f32::consts::PI + 0.04 * d / 4.0;
    assert_linear(
        &tag,
        "default PreviewSurface (vertex colour ignored)",
        px,
        [want, want, want, 1.0],
        2e-3,
    );
}

#[test]
fn distant_light_at_60_degrees_halves_the_diffuse_and_no_headlight_is_added() {
    let mut m = Material::preview_surface_defaults("/M");
    m.roughness = Input::Value(1.0);
    m.diffuse_color = Input::Value([0.5, 0.25, 1.0]);
    let mut scene = with_material(scene_of(vec![quad(2.0, [1.0; 4])], vec![(0, Mat4::IDENTITY)]), m);
    // Emits along -Z rotated 60 degrees about X: N.L = 0.5 on the quad facing +Z.
    scene.lights = vec![Light {
        path: "/Sun".into(),
        kind: LightKind::Distant { angle: 0.53 },
        transform: Mat4::from_rotation_x(60f32.to_radians()),
        color: [2.0, 2.0, 2.0],
        normalize: false,
        diffuse: 1.0,
        specular: 1.0,
        shaping: None,
        shadow: true,
        linked_instances: None,
    }];
    let Some((px, tag, _)) = centre_linear("distant_light", &scene, small()) else {
        return;
    };
    // Specular at roughness 1: F(E.H = cos 30) ~ 0.04, D = 1/pi, G = (0.5/0.75) * 1, over 4 N.L N.E,
    // times N.L and the light: 0.04 * 0.318 * 0.667 / 2 * 0.5 * 2 = 0.0042.
    let spec = 0.0042;
    assert_linear(
        &tag,
        "Lambert: diffuse / pi * 2 * 0.5, plus specular",
        px,
        [
            0.5 * 0.96 / std::f32::consts::PI + spec,
            0.25 * 0.96 / std::f32::consts::PI + spec,
            0.96 / std::f32::consts::PI + spec,
            1.0,
        ],
        2e-3,
    );
    // The cone of a shaped light: outside it, nothing (no headlight: the stage has a light).
    let mut spot = scene.clone();
    spot.lights[0] = Light {
        kind: LightKind::Sphere {
            radius: 0.1,
            treat_as_point: true,
        },
        // At (0, 0, 10), emitting along its -Z: straight at the quad.
        transform: Mat4::from_translation(Vec3::new(0.0, 0.0, 10.0)),
        shaping: Some(Shaping {
            cone_angle: 10.0,
            cone_softness: 0.0,
            focus: 0.0,
            focus_tint: [0.0; 3],
        }),
        ..spot.lights[0].clone()
    };
    let Some((lit, tag, _)) = centre_linear("spot_light_inside", &spot, small()) else {
        return;
    };
    assert!(
        // 0.5 * 2 / pi of diffuse, facing the light.
        lit[0] > 0.3,
        "{tag}: the quad's centre is inside the cone below the light: {lit:?}"
    );
    // Turned half a turn about X it emits along +Z, away from the quad: outside the 10 degree cone.
    spot.lights[0].transform =
        Mat4::from_translation(Vec3::new(0.0, 0.0, 10.0)) * Mat4::from_rotation_x(std::f32::consts::PI);
    let Some((dark, tag, _)) = centre_linear("spot_light_outside", &spot, small()) else {
        return;
    };
    assert_linear(&tag, "outside the cone", dark, [0.0, 0.0, 0.0, 1.0], 1e-3);
}

/// A 2x2 sRGB texture: red, green / blue, white (rows top to bottom), with its mips.
fn checker() -> Texture {
    Texture {
        name: "checker".into(),
        width: 2,
        height: 2,
        format: TexelFormat::Rgba8Srgb,
        mips: vec![
            vec![255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255],
            vec![188, 188, 188, 255],
        ],
        udim_tiles: [1, 1],
    }
}

fn lookup(texture: Option<u32>) -> TextureLookup {
    TextureLookup {
        texture,
        channel: Channel::Rgb,
        wrap_s: Wrap::Repeat,
        wrap_t: Wrap::Repeat,
        scale: [1.0; 4],
        bias: [0.0; 4],
        fallback: [0.25, 0.5, 0.75, 1.0],
        st_primvar: "st".into(),
        st_transform: TextureLookup::IDENTITY,
    }
}

#[test]
fn textures_map_st_with_t_up_and_missing_ones_use_the_fallback() {
    let mut mesh = quad(2.0, [1.0; 4]);
    // Corners (-1,-1) (1,-1) (1,1) (-1,1) get st (0,0) (1,0) (1,1) (0,1).
    mesh.uvs = vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    let mut m = Material::preview_surface_defaults("/M");
    m.diffuse_color = Input::Texture(lookup(Some(0)));
    let mut scene = with_material(scene_of(vec![mesh], vec![(0, Mat4::IDENTITY)]), m);
    scene.textures = vec![Arc::new(checker())];
    let settings = RenderSettings {
        look: Look::HarnessUnlit,
        ..small()
    };
    let Some((_, tag, linear)) = centre_linear("textures", &scene, settings.clone()) else {
        return;
    };
    // The quad spans pixels 8..24 (ortho 4 units over 32 px); sample the middle of each quadrant.
    let at = |x: u32, y: u32| {
        let i = ((y * 32 + x) * 4) as usize;
        [linear[i], linear[i + 1], linear[i + 2], linear[i + 3]]
    };
    // Image row 0 (red, green) is the top of the image: t = 1.
    // Pixel centres sit 0.06 texel off the texel centres: bilinear filtering mixes in a little.
    assert_linear(&tag, "top left: red", at(12, 12), [1.0, 0.0, 0.0, 1.0], 0.15);
    assert_linear(&tag, "top right: green", at(19, 12), [0.0, 1.0, 0.0, 1.0], 0.15);
    assert_linear(&tag, "bottom left: blue", at(12, 19), [0.0, 0.0, 1.0, 1.0], 0.15);
    assert_linear(&tag, "bottom right: white", at(19, 19), [1.0, 1.0, 1.0, 1.0], 0.15);
    // The same lookup naming no texture: the fallback, everywhere.
    let mut missing = scene.clone();
    missing.materials[1].diffuse_color = Input::Texture(lookup(None));
    let Some((px, tag, _)) = centre_linear("missing_texture", &missing, settings) else {
        return;
    };
    assert_linear(&tag, "fallback", px, [0.25, 0.5, 0.75, 1.0], 1e-3);
}

#[test]
fn opacity_threshold_cuts_out_and_blending_does_not_depend_on_draw_order() {
    let mut cut = Material::preview_surface_defaults("/Cut");
    cut.opacity = Input::Value(0.3);
    cut.opacity_threshold = Input::Value(0.5);
    let scene = with_material(
        scene_of(vec![quad(2.0, [1.0; 4])], vec![(0, Mat4::IDENTITY)]),
        cut.clone(),
    );
    let Some((px, tag, _)) = centre_linear("cutout", &scene, small()) else {
        return;
    };
    assert_linear(&tag, "cut out", px, [0.0; 4], 1e-6);
    cut.opacity = Input::Value(0.7);
    let scene = with_material(scene_of(vec![quad(2.0, [1.0; 4])], vec![(0, Mat4::IDENTITY)]), cut);
    let Some((px, tag, _)) = centre_linear("kept", &scene, small()) else {
        return;
    };
    assert!(
        (px[3] - 1.0).abs() < 1e-6,
        "{tag}: above the threshold the surface is opaque: {px:?}"
    );

    // Two half-transparent quads, red in front of blue, listed in both orders.
    let red = quad(2.0, [1.0, 0.0, 0.0, 0.5]);
    let blue = quad(2.0, [0.0, 0.0, 1.0, 0.5]);
    let front = Mat4::from_translation(Vec3::new(0.0, 0.0, 1.0));
    let settings = RenderSettings {
        look: Look::HarnessUnlit,
        ..small()
    };
    let a = scene_of(vec![red.clone(), blue.clone()], vec![(0, front), (1, Mat4::IDENTITY)]);
    let b = scene_of(vec![blue, red], vec![(0, Mat4::IDENTITY), (1, front)]);
    let (Some((pa, tag, _)), Some((pb, _, _))) = (
        centre_linear("oit_order_a", &a, settings.clone()),
        centre_linear("oit_order_b", &b, settings),
    ) else {
        return;
    };
    assert_linear(&tag, "same result in either order", pa, pb, 1e-3);
    assert!((pa[3] - 0.75).abs() < 1e-3, "{tag}: coverage 1 - 0.5 * 0.5: {pa:?}");
    assert!(pa[0] > pa[2], "{tag}: the nearer red weighs more than blue: {pa:?}");
}

#[test]
fn a_uniform_dome_lights_diffuse_and_shows_behind_only_when_asked() {
    let mut m = Material::preview_surface_defaults("/M");
    m.roughness = Input::Value(1.0);
    let mut scene = with_material(scene_of(vec![quad(2.0, [1.0; 4])], vec![(0, Mat4::IDENTITY)]), m);
    scene.lights = vec![Light {
        path: "/Dome".into(),
        kind: LightKind::Dome { texture: None },
        transform: Mat4::IDENTITY,
        color: [1.0; 3],
        normalize: false,
        diffuse: 1.0,
        specular: 1.0,
        shaping: None,
        shadow: true,
        linked_instances: None,
    }];
    let Some((px, tag, linear)) = centre_linear("dome", &scene, small()) else {
        return;
    };
    // Radiance 1 all round: diffuse 0.18 * (1 - F0), and the split-sum specular fit at roughness 1
    // facing the viewer: 0.04 * 0.4524 - 0.0024.
    let want = 0.18 * 0.96 + 0.04 * 0.4524 - 0.0024;
    assert_linear(&tag, "dome-lit", px, [want, want, want, 1.0], 3e-3);
    assert_eq!(linear[3], 0.0, "{tag}: the background stays transparent by default");
    let settings = RenderSettings {
        dome_visible: true,
        headlight: Headlight::Auto,
        ..small()
    };
    let Some((_, tag, linear)) = centre_linear("dome_visible", &scene, settings) else {
        return;
    };
    assert_linear(
        &tag,
        "the dome behind",
        [linear[0], linear[1], linear[2], linear[3]],
        [1.0; 4],
        1e-3,
    );
}

/// Shadow maps are kept while nothing moves and drawn again when something does: a quad held
/// above the ground by a dynamic instance, lit by a distant light at 45 degrees, throws its shadow
/// one unit aside; moving it moves the shadow, and rendering a state again gives the same image
/// as the first time (with the maps kept from the frame before).
#[test]
fn shadows_follow_a_moving_occluder_and_still_frames_repeat() {
    let grey = [0.6, 0.6, 0.6, 1.0];
    let mut scene = scene_of(
        vec![quad(4.0, grey), quad(1.0, grey)],
        vec![
            (0, Mat4::IDENTITY),
            (1, Mat4::from_translation(Vec3::new(1.0, 0.0, 1.0))),
        ],
    );
    scene.dynamic_instances = vec![1];
    scene.bounds = usdrender::scene::Bounds {
        min: DVec3::new(-2.0, -2.0, 0.0),
        max: DVec3::new(2.0, 2.0, 1.0),
    };
    // Emits along -Z turned 45 degrees about Y: towards -X and down, so a point at height 1
    // shades the ground one unit to its -X side.
    scene.lights = vec![Light {
        path: "/Sun".into(),
        kind: LightKind::Distant { angle: 0.53 },
        transform: Mat4::from_rotation_y(45f32.to_radians()),
        color: [1.0, 1.0, 1.0],
        normalize: false,
        diffuse: 1.0,
        specular: 0.0,
        shaping: None,
        shadow: true,
        linked_instances: None,
    }];
    let Some(mut s) = setup("moving_shadow", &scene, 64, 64) else {
        return;
    };
    let mut state = frame(ortho(4.0, 64, 64));
    let at = |x: f32| Mat4::from_translation(Vec3::new(x, 0.0, 1.0));
    // Ground pixels at x = 0 (column 32) and x = -1 (column 16), away from the quad's own edges.
    let luma = |img: &Image, col: u32| {
        let p = img.px(col, 32);
        p[0] as u32 + p[1] as u32 + p[2] as u32
    };
    state.instance_transforms = vec![at(1.0)];
    let first = s.render(&state);
    assert!(
        luma(&first, 32) + 60 < luma(&first, 16),
        "{}: the quad at x = 1 shades x = 0 ({}), not x = -1 ({})",
        s.tag,
        luma(&first, 32),
        luma(&first, 16)
    );
    state.instance_transforms = vec![at(0.0)];
    let moved = s.render(&state);
    assert!(
        luma(&moved, 16) + 60 < luma(&first, 16),
        "{}: moved to x = 0, it shades x = -1 ({} against {} before)",
        s.tag,
        luma(&moved, 16),
        luma(&first, 16)
    );
    let again = s.render(&state);
    assert_eq!(again.rgba, moved.rgba, "{}: the same state, maps kept", s.tag);
    state.instance_transforms = vec![at(1.0)];
    let back = s.render(&state);
    assert_eq!(back.rgba, first.rgba, "{}: back where it started", s.tag);
}

/// Asking for compute shading where it cannot be done is an error that says why, not a silent
/// fallback; the default falls back to forward shading.
#[test]
fn compute_shading_refused_with_a_reason_where_it_cannot_run() {
    let scene = scene_of(vec![quad(2.0, ORANGE)], vec![(0, Mat4::IDENTITY)]);
    let Some(adapter) = adapter() else {
        return;
    };
    let with_aovs = RenderSettings {
        aovs: vec![usdrender::gpu::AovKind::Depth],
        shading: usdrender::gpu::ShadingPath::Compute,
        ..small()
    };
    match Renderer::new(&adapter, &scene, &with_aovs) {
        Ok(_) => panic!("compute shading with AOVs was accepted"),
        Err(e) => assert!(
            e.to_string().contains("cannot shade in a compute pass") && e.to_string().contains("AOV"),
            "{e}"
        ),
    }
    let auto = Renderer::new(
        &adapter,
        &scene,
        &RenderSettings {
            shading: usdrender::gpu::ShadingPath::Auto,
            ..with_aovs
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!auto.shades_in_compute(), "AOVs are drawn forward");
}

/// The harness's data window (`RenderSettings::scissor`, testUsdImagingGLFraming_5's
/// `-dataWindow 25 136 ...`): exactly its pixels are drawn, on both shading paths. With 4x MSAA,
/// lavapipe's scissor let the samples of the column and row before the window through
/// (Framing_5 scored IoU 0.96, half-covered column 24 and row 135); the colour pass now clears
/// what lies outside.
#[test]
fn data_window_draws_exactly_its_pixels_on_both_shading_paths() {
    // A quad larger than the view covers every pixel; the window is [5, 7) .. [35, 27).
    let scene = scene_of(vec![quad(8.0, ORANGE)], vec![(0, Mat4::IDENTITY)]);
    let Some(s) = setup("data_window", &Scene::default(), 1, 1) else {
        return;
    };
    let adapter = adapter().expect("adapter");
    let (x0, y0, w, h) = (5, 7, 30, 20);
    for shading in [
        usdrender::gpu::ShadingPath::Forward,
        usdrender::gpu::ShadingPath::Compute,
    ] {
        let settings = RenderSettings {
            width: 48,
            height: 40,
            msaa: 4,
            shading,
            scissor: Some([x0, y0, w, h]),
            ..RenderSettings::default()
        };
        let mut renderer = match Renderer::new(&adapter, &scene, &settings) {
            Ok(r) => r,
            Err(e) if shading == usdrender::gpu::ShadingPath::Compute => {
                println!("{}: compute path skipped: {e}", s.tag);
                continue;
            }
            Err(e) => panic!("{}: {shading:?}: {e}", s.tag),
        };
        let mut rgba = Vec::new();
        renderer
            .render(&frame(ortho(4.0, 48, 40)), &mut rgba)
            .unwrap_or_else(|e| panic!("{}: {shading:?}: {e}", s.tag));
        let img = Image {
            width: 48,
            height: 40,
            rgba,
        };
        let wrong: Vec<(u32, u32, u8)> = (0..40)
            .flat_map(|y| (0..48).map(move |x| (x, y)))
            .filter_map(|(x, y)| {
                let inside = (x0..x0 + w).contains(&x) && (y0..y0 + h).contains(&y);
                let a = img.px(x, y)[3];
                (a != if inside { 255 } else { 0 }).then_some((x, y, a))
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{}: {shading:?}: {} pixel(s) with the wrong alpha (x, y, alpha), first {:?}",
            s.tag,
            wrong.len(),
            &wrong[..wrong.len().min(8)]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Camera clipping planes

/// Three unit cubes stacked along Y (displayColor, UsdPreviewSurface, displayOpacity 0.5: the
/// opaque forward or visibility pass, its PreviewSurface pipelines, and the blended pass), seen
/// by an orthographic camera 4 units across at x = 0.5, whose `clippingPlanes` (camera space)
/// keep world x >= 0 at time 1, world x <= 0 at time 2, nothing at time 3 and, at time 4, what
/// lies more than 5 units in front of the camera: the cubes' front faces go and their back
/// faces show through (where a depth prepass that did not clip would hide them).
const CLIPPED_CUBES: &str = r#"#usda 1.0
(
    startTimeCode = 1
    endTimeCode = 4
    upAxis = "Y"
)

def Camera "cam"
{
    float4[] clippingPlanes.timeSamples = {
        1: [(1, 0, 0, 0.5)],
        2: [(-1, 0, 0, -0.5)],
        3: [],
        4: [(0, 0, -1, -5)],
    }
    float2 clippingRange = (0.1, 100)
    token projection = "orthographic"
    float horizontalAperture = 40
    float verticalAperture = 40
    double3 xformOp:translate = (0.5, 0, 5)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}

def Cube "plain"
{
    double size = 1
    color3f[] primvars:displayColor = [(0.8, 0.3, 0.05)]
    double3 xformOp:translate = (0, 1.2, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}

def Cube "preview" (
    prepend apiSchemas = ["MaterialBindingAPI"]
)
{
    double size = 1
    rel material:binding = </M>
}

def Cube "blended"
{
    double size = 1
    color3f[] primvars:displayColor = [(0.1, 0.6, 0.2)]
    float[] primvars:displayOpacity = [0.5]
    double3 xformOp:translate = (0, -1.2, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}

def Material "M"
{
    token outputs:surface.connect = </M/S.outputs:surface>

    def Shader "S"
    {
        uniform token info:id = "UsdPreviewSurface"
        color3f inputs:diffuseColor = (0.2, 0.5, 0.8)
        token outputs:surface
    }
}
"#;

#[test]
fn camera_clipping_planes_cut_surfaces_and_follow_their_time_samples() {
    let dir = std::env::temp_dir().join(format!("usdrender-clip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("clipped_cubes.usda");
    std::fs::write(&path, CLIPPED_CUBES).expect("write stage");
    let mut stage = usdrender::stage::LoadedStage::open(&path, &Default::default()).expect("open");
    let scene = stage
        .extract(&usdrender::stage::ExtractOptions {
            camera: Some("cam".into()),
            time: 1.0,
            ..Default::default()
        })
        .expect("extract");
    let frames: Vec<FrameState> = [1.0, 2.0, 3.0, 4.0]
        .iter()
        .map(|&t| stage.evaluate(&scene, t).expect("evaluate"))
        .collect();
    // The plane is read at each frame's time, in camera space.
    let planes: Vec<Vec<glam::DVec4>> = frames
        .iter()
        .map(|f| f.camera.clip_planes.as_slice().to_vec())
        .collect();
    assert_eq!(
        planes,
        vec![
            vec![glam::DVec4::new(1.0, 0.0, 0.0, 0.5)],
            vec![glam::DVec4::new(-1.0, 0.0, 0.0, -0.5)],
            vec![],
            vec![glam::DVec4::new(0.0, 0.0, -1.0, -5.0)],
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);

    // 64 x 64 pixels over world x -1.5..2.5 and y 2..-2: the cubes span columns 16..32 (world x
    // -0.5..0.5, the cut at x = 0 is column 24), rows 5..21, 24..40 and 43..59.
    let (left, right) = (19, 29);
    let rows = [("displayColor", 13), ("PreviewSurface", 32), ("blended", 51)];
    let paths = [
        ("forward", usdrender::gpu::ShadingPath::Forward, vec![]),
        ("compute", usdrender::gpu::ShadingPath::Compute, vec![]),
        (
            "forward with AOVs",
            usdrender::gpu::ShadingPath::Forward,
            vec![usdrender::gpu::AovKind::Depth],
        ),
    ];
    let Some(s) = setup("camera_clipping_planes", &Scene::default(), 1, 1) else {
        return;
    };
    let adapter = adapter().expect("adapter");
    for (name, shading, aovs) in paths {
        let settings = RenderSettings {
            width: 64,
            height: 64,
            msaa: 4,
            shading,
            aovs,
            ..RenderSettings::default()
        };
        let mut renderer = match Renderer::new(&adapter, &scene, &settings) {
            Ok(r) => r,
            Err(e) if shading == usdrender::gpu::ShadingPath::Compute => {
                println!("{}: {name} path skipped: {e}", s.tag);
                continue;
            }
            Err(e) => panic!("{}: {name}: {e}", s.tag),
        };
        let mut images = Vec::new();
        for state in &frames {
            let mut rgba = Vec::new();
            renderer
                .render(state, &mut rgba)
                .unwrap_or_else(|e| panic!("{}: {name}: {e}", s.tag));
            images.push(Image {
                width: 64,
                height: 64,
                rgba,
            });
        }
        for (what, y) in rows {
            let at = |frame: usize, x: u32| images[frame].px(x, y)[3];
            let tag = format!("{}: {name}, {what}", s.tag);
            // Time 1 keeps x >= 0: the left half is background, the right half drawn.
            assert_eq!(at(0, left), 0, "{tag}: time 1, clipped half");
            assert!(at(0, right) > 100, "{tag}: time 1, kept half");
            // Time 2 keeps x <= 0.
            assert!(at(1, left) > 100, "{tag}: time 2, kept half");
            assert_eq!(at(1, right), 0, "{tag}: time 2, clipped half");
            // Time 3 has no planes: the whole cube.
            assert!(at(2, left) > 100 && at(2, right) > 100, "{tag}: time 3, unclipped");
            // Time 4 cuts the front faces away: the back faces are drawn instead.
            assert!(at(3, left) > 100 && at(3, right) > 100, "{tag}: time 4, back faces");
        }
        // The two halves together cover what the unclipped cube covers (the cut column is
        // shared at most).
        let (a, b, whole) = (images[0].covered(), images[1].covered(), images[2].covered());
        assert!(
            a + b >= whole && a + b <= whole + 3 * 16,
            "{}: {name}: halves {a} + {b} against {whole}",
            s.tag
        );
        assert!(
            a > whole / 3 && b > whole / 3,
            "{}: {name}: halves {a}, {b} of {whole}",
            s.tag
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Curves and points (camera-facing: placed by the vertex shader each frame)

fn curve(
    kind: usdrender::scene::curves::Kind,
    points: Vec<[f32; 3]>,
    widths: Vec<f32>,
) -> usdrender::scene::curves::Curves {
    use usdrender::scene::curves::{Curves, Per, Wrap};
    Curves {
        kind,
        wrap: Wrap::Nonperiodic,
        counts: vec![points.len()],
        points,
        widths,
        widths_per: Per::Constant,
        normals: Vec::new(),
        normals_per: Per::Constant,
        colors: vec![ORANGE],
        per_curve_colors: false,
    }
}

#[test]
fn unrefined_curves_are_one_pixel_lines_at_any_scale() {
    use usdrender::scene::curves::{mesh, Kind};
    // A vertical line with widths 2: unrefined, Storm draws it one pixel wide, whatever its
    // widths and however far the camera is.
    let c = curve(Kind::Linear, vec![[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]], vec![2.0]);
    let scene = scene_of(vec![mesh(&c, 0)], vec![(0, Mat4::IDENTITY)]);
    let Some(mut s) = setup("unrefined_curve_line", &scene, 64, 64) else {
        return;
    };
    for units in [4.0, 40.0] {
        let img = s.render(&frame(ortho(units, 64, 64)));
        let row: Vec<u8> = (0..64).map(|x| img.px(x, 32)[3]).collect();
        let coverage: f32 = row.iter().map(|&a| a as f32 / 255.0).sum();
        assert!(
            (coverage - 1.0).abs() < 0.3,
            "{}: {units} units across: {coverage} pixels wide",
            s.tag
        );
    }
}

#[test]
fn refined_curves_and_points_face_the_camera() {
    use usdrender::scene::curves::{mesh, Kind};
    use usdrender::scene::{shapes, Facing};
    // A ribbon along z and a point, seen from +z (along the ribbon) and from +x: a ribbon turned to
    // the camera shows its width from the side; a point is a disc of its width from anywhere.
    let ribbon = curve(Kind::Linear, vec![[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]], vec![1.0]);
    let point = shapes::points(&[[0.0, 3.0, 0.0]], &[2.0], &[ORANGE], Facing::Sprite);
    let scene = scene_of(
        vec![mesh(&ribbon, 1), point],
        vec![(0, Mat4::IDENTITY), (1, Mat4::IDENTITY)],
    );
    let Some(mut s) = setup("camera_facing_curves_and_points", &scene, 64, 64) else {
        return;
    };
    // From +x, 8 units across 64 pixels: the ribbon covers 2 x 1 units (16 x 8 pixels), the
    // disc pi * 1^2 (201 pixels; a 16-gon inscribed, 195).
    let mut side = ortho(8.0, 64, 64);
    side.to_world = DMat4::look_at_rh(DVec3::new(5.0, 1.5, 0.0), DVec3::new(0.0, 1.5, 0.0), DVec3::Y).inverse();
    let img = s.render(&frame(side));
    let covered: f32 = img.rgba.chunks_exact(4).map(|p| p[3] as f32 / 255.0).sum();
    assert!(
        (covered - (128.0 + 195.0)).abs() < 12.0,
        "{}: {covered} pixels from the side",
        s.tag
    );
    // A Sprite's disc: as wide as tall.
    let column = (0..64).filter(|&y| img.px(32, y)[3] > 127).count();
    assert!(column >= 8 + 14, "{}: {column} pixels down the middle", s.tag);
}

// ---------------------------------------------------------------------------------------------
// Skinning in a compute pass (issue 14)

/// A hand-built skinned strip posed on the GPU (the renderer's skinning pass, from rest data
/// uploaded once and the pose the frame carries), read back from the vertex buffers, against the
/// CPU reference path: linear and dual-quaternion blending (a scaled joint, so the stretch path
/// runs), per-point and rigid influences, a joint the pose lacks, a `geomBindTransform`, a sparse
/// blend shape with an in-between at weights below, on, between and past it, split vertices.
#[test]
fn gpu_skinning_matches_the_cpu_path() {
    use std::sync::Arc;
    use usdrender::scene::animation::{Animation, Topology};
    use usdrender::scene::skinning::{
        BlendShape, Influences, Joints, SkelPose, SkinFrame, SkinnedMesh, SkinningMethod,
    };
    // 9 rows of two points up Y, wavy in Z so normals differ; points 4 and 5 drawn twice.
    let rest: Vec<[f32; 3]> = (0..18)
        .map(|i| {
            let y = (i / 2) as f32 * 0.5;
            [if i % 2 == 0 { -0.5 } else { 0.5 }, y, 0.1 * (y * 2.0).sin()]
        })
        .collect();
    let point_triangles: Vec<u32> = (0..8u32)
        .flat_map(|r| [2 * r, 2 * r + 1, 2 * r + 3, 2 * r, 2 * r + 3, 2 * r + 2])
        .collect();
    let vertex_points: Vec<u32> = (0..18).chain([4, 5]).collect();
    let mesh = |path: &str| Mesh {
        path: path.into(),
        positions: vertex_points.iter().map(|&p| rest[p as usize]).collect(),
        normals: vec![[0.0, 0.0, 1.0]; vertex_points.len()],
        colors: vec![ORANGE],
        indices: point_triangles.clone(),
        vertex_points: vertex_points.clone(),
        ..Mesh::default()
    };
    let per_point = Influences {
        per_point: 2,
        joints: (0..18).flat_map(|i| if i == 17 { [7, 1] } else { [0, 1] }).collect(),
        weights: (0..18)
            .flat_map(|i| {
                let w = (i / 2) as f32 / 8.0;
                [1.0 - w, w]
            })
            .collect(),
    };
    let shape = BlendShape {
        weight: Some(0),
        offsets: vec![[0.2, 0.0, 0.1]; 3],
        point_indices: Some(vec![3, 9, 16]),
        inbetweens: vec![(0.4, vec![[0.05, 0.1, 0.0]; 3])],
    };
    let topology = Arc::new(Topology {
        vertex_points: vertex_points.clone(),
        point_triangles: point_triangles.clone(),
        refine: None,
    });
    let skinned = |slot: usize, method, influences: Influences, geom_bind| SkinnedMesh {
        slot,
        prim: format!("/Strip{slot}"),
        frame: 0,
        rest_points: Arc::from(rest.clone()),
        influences,
        geom_bind,
        method,
        blend_shapes: vec![shape.clone()],
        topology: topology.clone(),
    };
    let rigid = Influences {
        per_point: 1,
        joints: vec![1],
        weights: vec![1.0],
    };
    let bind = DMat4::from_translation(DVec3::new(0.0, -0.5, 0.0));
    let meshes = vec![
        skinned(0, SkinningMethod::ClassicLinear, per_point.clone(), DMat4::IDENTITY),
        skinned(1, SkinningMethod::DualQuaternion, per_point, DMat4::IDENTITY),
        skinned(2, SkinningMethod::DualQuaternion, rigid.clone(), bind),
        skinned(3, SkinningMethod::ClassicLinear, rigid, bind),
    ];
    let mut scene = scene_of(
        (0..4).map(|i| mesh(&format!("/Strip{i}"))).collect(),
        (0..4)
            .map(|i| (i, Mat4::from_translation(Vec3::X * i as f32 * 1.5)))
            .collect(),
    );
    scene.dynamic_meshes = vec![0, 1, 2, 3];
    scene.animation = Arc::new(Animation {
        skinned: meshes,
        ..Animation::default()
    });
    let Some(mut s) = setup("gpu_skinning", &scene, 64, 64) else {
        return;
    };
    assert!(s.renderer.skins_on_gpu(), "{}: no skinning pass", s.tag);
    let joints = Joints {
        parents: vec![None, Some(0)],
        inverse_bind: vec![DMat4::IDENTITY, DMat4::from_translation(DVec3::new(0.0, -2.0, 0.0))],
        rest: Vec::new(),
    };
    let local = [
        DMat4::from_rotation_z(0.3),
        DMat4::from_translation(DVec3::new(0.0, 2.0, 0.0))
            * DMat4::from_rotation_x(0.8)
            * DMat4::from_scale(DVec3::new(1.2, 0.9, 1.0)),
    ];
    let skinning = joints.skinning_transforms(&local).expect("counts agree");
    for weight in [0.25f32, 0.4, 0.9, 1.6] {
        let mut state = frame(ortho(8.0, 64, 64));
        // Pending (empty) slots: the frame leaves the points to the GPU.
        state.mesh_vertices = (0..4).map(|_| Arc::new(Default::default())).collect();
        state.skinning = vec![SkinFrame {
            pose: Arc::new(SkelPose {
                skinning: skinning.clone(),
                blend_weights: vec![weight],
            }),
            skel_to_mesh: DMat4::from_translation(DVec3::new(0.3, 0.0, -0.2)) * DMat4::from_rotation_y(0.2),
        }];
        s.renderer.render_only(&state).expect("render");
        let gpu = s.renderer.read_dynamic_vertices().expect("read back");
        for (slot, m) in scene.animation.skinned.iter().enumerate() {
            let cpu = m.vertices(&state.skinning[0], Some(&scene.meshes[slot]));
            let got = &gpu[slot];
            assert_eq!(got.positions.len(), cpu.positions.len());
            // The rest strip is 4 units tall: 1e-4 of it.
            for (v, (a, b)) in got.positions.iter().zip(&cpu.positions).enumerate() {
                let d = Vec3::from(*a).distance(Vec3::from(*b));
                assert!(
                    d < 4e-4,
                    "{}: weight {weight}, {} vertex {v}: GPU {a:?}, CPU {b:?}",
                    s.tag,
                    m.prim
                );
            }
            for (v, (a, b)) in got.normals.iter().zip(&cpu.normals).enumerate() {
                let d = Vec3::from(*a).distance(Vec3::from(*b));
                assert!(
                    d < 1e-3,
                    "{}: weight {weight}, {} normal {v}: GPU {a:?}, CPU {b:?}",
                    s.tag,
                    m.prim
                );
            }
            // The pose moved it: a pass that wrote nothing would still hold the rest points.
            assert!(
                got.positions
                    .iter()
                    .zip(&scene.meshes[slot].positions)
                    .any(|(a, b)| Vec3::from(*a).distance(Vec3::from(*b)) > 0.1),
                "{}: {} did not move",
                s.tag,
                m.prim
            );
        }
    }
}
