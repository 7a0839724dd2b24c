//! Stage tests over small usda stages written to temporary files: extraction, instancing,
//! camera rules, timing and per-frame evaluation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use glam::{Mat4, Vec3};
use openusd::usd::TimeCode;

use super::*;
use crate::scene::{CameraRule, UpAxis};

/// A fresh temporary directory per test (no shared state between parallel tests).
fn temp_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "usdrender-stage-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write stage");
    p
}

fn open(text: &str) -> LoadedStage {
    let dir = temp_dir();
    let p = write(&dir, "stage.usda", text);
    LoadedStage::open(&p, &OpenOptions::default()).expect("open")
}

fn extract(text: &str) -> (LoadedStage, Scene) {
    let mut s = open(text);
    let scene = s.extract(&ExtractOptions::default()).expect("extract");
    (s, scene)
}

fn translation(m: &Mat4) -> Vec3 {
    m.w_axis.truncate()
}

#[test]
fn quad_and_ngon_with_hole_and_left_handed() {
    let (_, scene) = extract(
        r#"#usda 1.0
def Mesh "Quad" {
    int[] faceVertexCounts = [4]
    int[] faceVertexIndices = [0, 1, 2, 3]
    point3f[] points = [(0,0,0), (1,0,0), (1,1,0), (0,1,0)]
}
def Mesh "Holey" {
    int[] faceVertexCounts = [5, 3]
    int[] faceVertexIndices = [0, 1, 2, 3, 4, 0, 1, 2]
    int[] holeIndices = [1]
    point3f[] points = [(0,0,0), (2,0,0), (2,2,0), (1,1,0), (0,2,0)]
    uniform token orientation = "leftHanded"
}
"#,
    );
    assert_eq!(scene.meshes.len(), 2);
    assert_eq!(scene.meshes[0].indices.len(), 6);
    let holey = &scene.meshes[1];
    assert_eq!(
        holey.indices.len(),
        9,
        "the concave pentagon gives 3 triangles; the hole none"
    );
    // leftHanded: USD's CCW-in-XY order is flipped, so every triangle faces -Z. The fan from
    // corner 0 (as Storm's) has one degenerate triangle, (0,0), (2,2), (1,1), and covers the
    // pentagon's area, 3, once.
    let mut area = 0.0;
    for t in holey.indices.chunks_exact(3) {
        let [a, b, c] = [t[0], t[1], t[2]].map(|i| Vec3::from(holey.positions[i as usize]));
        let z = (b - a).cross(c - a).z;
        assert!(z <= 0.0);
        area -= z / 2.0;
    }
    assert!((area - 3.0).abs() < 1e-6, "{area}");
    assert_eq!(scene.instances.len(), 2);
    assert!(scene.dynamic_instances.is_empty());
}

#[test]
fn indexed_face_varying_display_color_and_normals_precedence() {
    let (_, scene) = extract(
        r#"#usda 1.0
def Mesh "M" {
    int[] faceVertexCounts = [3, 3]
    int[] faceVertexIndices = [0, 1, 2, 0, 2, 3]
    point3f[] points = [(0,0,0), (1,0,0), (1,1,0), (0,1,0)]
    color3f[] primvars:displayColor = [(1,0,0), (0,0,1)] (interpolation = "faceVarying")
    int[] primvars:displayColor:indices = [0, 0, 0, 1, 1, 1]
    normal3f[] normals = [(1,0,0), (1,0,0), (1,0,0), (1,0,0)] (interpolation = "vertex")
    normal3f[] primvars:normals = [(0,0,1)] (interpolation = "constant")
    uniform token subdivisionScheme = "none"
}
"#,
    );
    let m = &scene.meshes[0];
    assert_eq!(
        m.positions.len(),
        6,
        "points 0 and 2 split between the red and blue faces"
    );
    assert_eq!(m.colors[m.indices[0] as usize], [1.0, 0.0, 0.0, 1.0]);
    assert_eq!(m.colors[m.indices[5] as usize], [0.0, 0.0, 1.0, 1.0]);
    assert!(
        m.normals.iter().all(|n| *n == [0.0, 0.0, 1.0]),
        "primvars:normals wins over normals"
    );
}

#[test]
fn point_instancer_instances_and_transforms() {
    let (_, scene) = extract(
        r#"#usda 1.0
def PointInstancer "PI" (
    inactiveIds = [3]
)
{
    point3f[] positions = [(0,0,0), (10,0,0), (0,10,0), (0,0,10)]
    int[] protoIndices = [0, 1, 0, 0]
    quath[] orientations = [(1,0,0,0), (0.7071068,0,0,0.7071068), (1,0,0,0), (1,0,0,0)]
    float3[] scales = [(1,1,1), (1,1,1), (2,2,2), (1,1,1)]
    int64[] invisibleIds = [2]
    rel prototypes = [</PI/Protos/A>, </PI/Protos/B>]
    def Scope "Protos" {
        def Cube "A" { double size = 1 }
        def Xform "B" {
            double3 xformOp:translate = (1, 0, 0)
            uniform token[] xformOpOrder = ["xformOp:translate"]
            def Sphere "S" { double radius = 0.5 }
        }
    }
}
"#,
    );
    assert_eq!(scene.meshes.len(), 2, "one mesh per prototype gprim");
    // Instance 2 is invisible, instance 3 is masked: two remain.
    assert_eq!(scene.instances.len(), 2);
    assert_eq!(translation(&scene.instances[0].transform), Vec3::ZERO);
    // Instance 1: rotate 90 degrees about Z, so the prototype root's (1,0,0) offset becomes (0,1,0).
    let t = translation(&scene.instances[1].transform);
    assert!((t - Vec3::new(10.0, 1.0, 0.0)).length() < 1e-3, "{t}");
    assert!(scene.dynamic_instances.is_empty());
}

#[test]
fn instanceable_prims_share_one_mesh() {
    let (_, scene) = extract(
        r#"#usda 1.0
def Xform "Asset" {
    def Mesh "Tri" {
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
        point3f[] points = [(0,0,0), (1,0,0), (0,1,0)]
    }
}
def "A" (instanceable = true; references = </Asset>) {
    double3 xformOp:translate = (5, 0, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
def "B" (instanceable = true; references = </Asset>) {
    double3 xformOp:translate = (-5, 0, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
"#,
    );
    // /Asset/Tri is its own mesh; A and B share the prototype's.
    assert_eq!(scene.meshes.len(), 2);
    assert_eq!(scene.instances.len(), 3);
    let (a, b) = (scene.instances[1], scene.instances[2]);
    assert_eq!(a.mesh, b.mesh);
    assert_eq!(translation(&a.transform), Vec3::new(5.0, 0.0, 0.0));
    assert_eq!(translation(&b.transform), Vec3::new(-5.0, 0.0, 0.0));
}

#[test]
fn an_instanceable_gprim_is_not_drawn_but_is_bounded() {
    // Storm's instancedCubes2NoInstancing: a Cube referenced into instanceable prims. An
    // instance's prototype holds its descendants only, so UsdImaging draws nothing for it; pxr's
    // UsdGeomBBoxCache still bounds it (world range x from -7 to 5.6 there).
    let (_, scene) = extract(
        r#"#usda 1.0
def Cube "Cube" {}
def Cube "Big" (instanceable = true; references = </Cube>) {
    double size = 4
    double3 xformOp:translate = (10, 0, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
"#,
    );
    assert_eq!(scene.instances.len(), 1, "only /Cube is drawn");
    assert_eq!(translation(&scene.instances[0].transform), Vec3::ZERO);
    assert_eq!(scene.frame_bounds.min, glam::DVec3::new(-1.0, -2.0, -2.0));
    assert_eq!(scene.frame_bounds.max, glam::DVec3::new(12.0, 2.0, 2.0));
}

const CAMERAS: &str = r#"#usda 1.0
def Xform "Rig" {
    def Camera "cam" { float focalLength = 35 }
}
def Xform "Other" {
    def Camera "cam" {}
    def Camera "side" {}
}
"#;

#[test]
fn camera_rules() {
    let mut s = open(CAMERAS);
    let choose = |s: &mut LoadedStage, flag: Option<&str>| {
        s.extract(&ExtractOptions {
            camera: flag.map(str::to_string),
            ..ExtractOptions::default()
        })
        .map(|scene| scene.camera)
    };
    let c = choose(&mut s, Some("side")).unwrap();
    assert_eq!((c.path.as_deref(), c.rule), (Some("/Other/side"), CameraRule::Flag));
    let c = choose(&mut s, Some("/Rig/cam")).unwrap();
    assert_eq!(c.path.as_deref(), Some("/Rig/cam"));
    let e = choose(&mut s, Some("cam")).unwrap_err().to_string();
    assert!(
        e.contains("ambiguous") && e.contains("/Rig/cam") && e.contains("/Other/cam"),
        "{e}"
    );
    let e = choose(&mut s, Some("nope")).unwrap_err().to_string();
    assert!(e.contains("/Other/side"), "lists the available cameras: {e}");
    // Three cameras, none main_cam, no RenderSettings: framing.
    assert_eq!(choose(&mut s, None).unwrap().rule, CameraRule::Framing);

    let mut s = open(&format!("{CAMERAS}def Camera \"main_cam\" {{}}\n"));
    let c = choose(&mut s, None).unwrap();
    assert_eq!((c.path.as_deref(), c.rule), (Some("/main_cam"), CameraRule::MainCam));

    let mut s = open(&format!(
        "{CAMERAS}def Camera \"main_cam\" {{}}\ndef RenderSettings \"RS\" {{ rel camera = </Other/side> }}\n"
    ));
    let c = choose(&mut s, None).unwrap();
    assert_eq!(
        (c.path.as_deref(), c.rule),
        (Some("/Other/side"), CameraRule::RenderSettings)
    );

    let mut s = open("#usda 1.0\ndef Camera \"solo\" {}\n");
    assert_eq!(choose(&mut s, None).unwrap().rule, CameraRule::Only);
}

#[test]
fn animated_transform_and_camera_evaluate_per_frame() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
(
    startTimeCode = 1
    endTimeCode = 11
)
def Xform "Mover" {
    double3 xformOp:translate.timeSamples = { 1: (0, 0, 0), 11: (10, 0, 0) }
    uniform token[] xformOpOrder = ["xformOp:translate"]
    def Cube "Box" {}
}
def Cube "Still" {}
def Camera "main_cam" {
    float focalLength.timeSamples = { 1: 20, 11: 40 }
}
"#,
    );
    assert_eq!(scene.instances.len(), 2);
    assert_eq!(scene.dynamic_instances, vec![0], "only the moving box is re-evaluated");
    let f1 = s.evaluate(&scene, 1.0).unwrap();
    let f6 = s.evaluate(&scene, 6.0).unwrap();
    assert_eq!(translation(&f1.instance_transforms[0]), Vec3::ZERO);
    assert_eq!(translation(&f6.instance_transforms[0]), Vec3::new(5.0, 0.0, 0.0));
    assert_eq!(f1.camera.lens.focal_length, 20.0);
    assert_eq!(f6.camera.lens.focal_length, 30.0);
}

#[test]
fn the_default_time_reads_defaults_and_fallbacks_never_samples() {
    // testUsdImagingGLBasicLighting's MrCube: a size with samples only is, at
    // UsdTimeCode::Default(), the Cube's fallback 2 (pxr), not the first sample's 12.
    let mut s = open(
        r#"#usda 1.0
(
    startTimeCode = 1
    endTimeCode = 10
)
def Cube "Sampled" {
    double size.timeSamples = { 1: 12, 5: 6 }
}
def Xform "Mover" {
    double3 xformOp:translate = (0, 7, 0)
    double3 xformOp:translate.timeSamples = { 1: (1, 0, 0), 10: (10, 0, 0) }
    uniform token[] xformOpOrder = ["xformOp:translate"]
    def Mesh "M" {
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
        point3f[] points = [(0,0,0), (3,0,0), (0,3,0)]
        point3f[] points.timeSamples = { 1: [(0,0,0), (1,0,0), (0,1,0)], 10: [(0,0,0), (2,0,0), (0,2,0)] }
    }
}
def Camera "main_cam" {
    float focalLength = 35
    float focalLength.timeSamples = { 1: 20, 10: 40 }
}
"#,
    );
    let scene = s
        .extract(&ExtractOptions {
            time: DEFAULT_TIME,
            ..ExtractOptions::default()
        })
        .expect("extract");
    assert!(
        scene.dynamic_meshes.is_empty(),
        "nothing is animated at the default time"
    );
    let f = s.evaluate(&scene, DEFAULT_TIME).expect("evaluate");
    let widest = |mesh: &crate::scene::Mesh| mesh.positions.iter().map(|p| p[0].abs()).fold(0.0f32, f32::max);
    assert_eq!(widest(&scene.meshes[0]), 1.0, "the Cube's fallback size 2");
    assert_eq!(widest(&scene.meshes[1]), 3.0, "the Mesh's default points");
    let mover = (0..scene.instances.len())
        .map(|i| {
            scene
                .dynamic_instances
                .iter()
                .position(|&d| d as usize == i)
                .map_or(scene.instances[i].transform, |k| f.instance_transforms[k])
        })
        .map(|m| translation(&m))
        .collect::<Vec<_>>();
    assert_eq!(mover[1], Vec3::new(0.0, 7.0, 0.0), "the translate's default");
    assert_eq!(f.camera.lens.focal_length, 35.0);
    // A frame still reads the samples.
    let scene = s.extract(&ExtractOptions::default()).expect("extract");
    assert_eq!(
        scene.dynamic_meshes.len(),
        2,
        "the cube's size and the mesh's points vary"
    );
}

#[test]
fn camera_clipping_planes_are_read_per_frame_at_most_eight_and_finite() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
(
    startTimeCode = 1
    endTimeCode = 2
)
def Cube "Box" {}
def Camera "main_cam" {
    double4[] clippingPlanes.timeSamples = {
        1: [(1, 0, 0, 0), (0, 1, 0, -2)],
        2: [(1, 0, 0, 1), (nan, 0, 0, 0), (0, 0, 1, 2), (0, 0, 1, 3), (0, 0, 1, 4), (0, 0, 1, 5), (0, 0, 1, 6), (0, 0, 1, 7), (0, 0, 1, 8), (0, 0, 1, 9), (0, 0, 1, 10)],
    }
}
"#,
    );
    let mut planes = |t: f64| s.evaluate(&scene, t).unwrap().camera.clip_planes.as_slice().to_vec();
    assert_eq!(
        planes(1.0),
        vec![
            glam::DVec4::new(1.0, 0.0, 0.0, 0.0),
            glam::DVec4::new(0.0, 1.0, 0.0, -2.0)
        ]
    );
    // The NaN plane is skipped, then the first eight of the ten left are kept.
    let two = planes(2.0);
    assert_eq!(two.len(), crate::scene::MAX_CLIP_PLANES);
    assert_eq!(two[0], glam::DVec4::new(1.0, 0.0, 0.0, 1.0));
    assert_eq!(two[1], glam::DVec4::new(0.0, 0.0, 1.0, 2.0));
    assert_eq!(two[7], glam::DVec4::new(0.0, 0.0, 1.0, 8.0));
    assert_eq!(planes(1.0).len(), 2, "back at time 1");
    // Warned once, for the camera, not once per frame.
    assert!(s.camera_warned.warned_about_planes());
}

#[test]
fn animated_visibility_hides_with_a_zero_matrix() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
def Xform "G" {
    token visibility.timeSamples = { 0: "inherited", 5: "invisible" }
    def Sphere "S" {}
}
"#,
    );
    assert_eq!(scene.dynamic_instances.len(), 1);
    assert_ne!(s.evaluate(&scene, 0.0).unwrap().instance_transforms[0], Mat4::ZERO);
    assert_eq!(s.evaluate(&scene, 6.0).unwrap().instance_transforms[0], Mat4::ZERO);
}

#[test]
fn animated_points_update_vertices() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
def Mesh "M" {
    int[] faceVertexCounts = [3]
    int[] faceVertexIndices = [0, 1, 2]
    point3f[] points.timeSamples = { 0: [(0,0,0), (1,0,0), (0,1,0)], 10: [(0,0,0), (2,0,0), (0,2,0)] }
}
"#,
    );
    assert_eq!(scene.dynamic_meshes, vec![0]);
    let f = s.evaluate(&scene, 10.0).unwrap();
    let v = &f.mesh_vertices[0];
    let m = &scene.meshes[0];
    for (i, &p) in m.vertex_points.iter().enumerate() {
        let expected = [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0]][p as usize];
        assert_eq!(v.positions[i], expected);
        assert_eq!(v.normals[i], [0.0, 0.0, 1.0]);
    }
}

#[test]
fn purposes_and_inactive_prims() {
    let (_, scene) = extract(
        r#"#usda 1.0
def Cube "Default" {}
def Cube "Guide" { uniform token purpose = "guide" }
def Cube "Proxy" { uniform token purpose = "proxy" }
def Cube "Render" { uniform token purpose = "render" }
def Xform "Off" (active = false) { def Cube "C" {} }
def Xform "Hidden" { token visibility = "invisible"
    def Cube "C" {} }
"#,
    );
    assert_eq!(scene.instances.len(), 2, "default and render only");
}

#[test]
fn timing_comes_from_the_root_layer_not_sublayers() {
    let dir = temp_dir();
    write(
        &dir,
        "sub.usda",
        "#usda 1.0\n(\n startTimeCode = 0\n endTimeCode = 480\n framesPerSecond = 30\n)\n",
    );
    let root = write(
        &dir,
        "root.usda",
        "#usda 1.0\n(\n subLayers = [@./sub.usda@]\n startTimeCode = 1\n endTimeCode = 1\n)\n",
    );
    let s = LoadedStage::open(&root, &OpenOptions::default()).unwrap();
    let t = s.timing();
    assert_eq!((t.start, t.end, t.fps, t.tcps), (Some(1.0), Some(1.0), 24.0, 24.0));
    let s = open("#usda 1.0\n(\n framesPerSecond = 12\n)\n");
    let t = s.timing();
    assert_eq!(
        (t.start, t.end, t.fps, t.tcps),
        (None, None, 12.0, 12.0),
        "tcps falls back to fps"
    );
}

#[test]
fn unopenable_stages_are_errors_and_bad_refs_are_warnings() {
    let dir = temp_dir();
    let missing = dir.join("missing.usda");
    let e = LoadedStage::open(&missing, &OpenOptions::default())
        .err()
        .expect("error");
    assert!(
        matches!(e, Error::StageOpen { .. }) && e.to_string().contains("missing.usda"),
        "{e}"
    );
    let garbage = write(&dir, "garbage.usda", "#usda 1.0\ndef Mesh \"M\" { int[] x = [1, \n");
    let e = LoadedStage::open(&garbage, &OpenOptions::default())
        .err()
        .expect("error");
    assert!(matches!(e, Error::StageOpen { .. }), "{e}");

    let mut s = open("#usda 1.0\ndef Xform \"A\" (references = @./nowhere.usda@) {}\n");
    let info = s.info(&ExtractOptions::default()).unwrap();
    assert!(
        info.warnings
            .iter()
            .any(|w| w.contains("nowhere.usda") && w.contains("/A")),
        "{:?}",
        info.warnings
    );
}

#[test]
fn info_counts_without_triangulating() {
    let mut s = open(
        r#"#usda 1.0
(
    upAxis = "Z"
    metersPerUnit = 1
)
def Mesh "M" {
    int[] faceVertexCounts = [4, 3]
    int[] faceVertexIndices = [0, 1, 2, 3, 0, 1, 2]
    point3f[] points = [(0,0,0), (1,0,0), (1,1,0), (0,1,0)]
}
def PointInstancer "PI" { int[] protoIndices = [0, 0, 0] }
def Camera "main_cam" {}
def SphereLight "Sun" {}
"#,
    );
    let i = s.info(&ExtractOptions::default()).unwrap();
    assert_eq!((i.meshes, i.points, i.faces), (1, 4, 2));
    assert_eq!((i.point_instancers, i.pi_instances), (1, 3));
    assert_eq!((i.up_axis.as_str(), i.meters_per_unit), ("Z", 1.0));
    assert_eq!(i.lights, vec!["/Sun".to_string()]);
    assert_eq!(i.cameras.len(), 1);
    assert_eq!(i.camera["rule"], "main_cam");
    assert_eq!(i.frames, serde_json::json!(1));
}

#[test]
fn instances_are_grouped_by_mesh_and_dynamic_indices_follow() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
def Xform "Asset" { def Cube "C" {} }
def Sphere "S1" {}
def "A" (instanceable = true; references = </Asset>) {}
def Xform "Mover" (instanceable = true; references = </Asset>) {
    double3 xformOp:translate.timeSamples = { 0: (0, 0, 0), 10: (10, 0, 0) }
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
def Sphere "S2" {}
"#,
    );
    let meshes: Vec<u32> = scene.instances.iter().map(|i| i.mesh).collect();
    let mut sorted = meshes.clone();
    sorted.sort();
    assert_eq!(meshes, sorted);
    assert_eq!(scene.dynamic_instances.len(), 1);
    let moving = scene.dynamic_instances[0] as usize;
    let f = s.evaluate(&scene, 10.0).unwrap();
    assert_eq!(translation(&f.instance_transforms[0]), Vec3::new(10.0, 0.0, 0.0));
    assert_eq!(
        translation(&scene.instances[moving].transform),
        Vec3::ZERO,
        "the load-time matrix at time 0"
    );
}

#[test]
fn display_color_inherits_from_ancestors_and_defaults_to_grey() {
    let (_, scene) = extract(
        r#"#usda 1.0
def Xform "Red" {
    color3f[] primvars:displayColor = [(1, 0, 0)]
    def Cube "Inherits" {}
    def Sphere "Own" { color3f[] primvars:displayColor = [(0, 1, 0)] }
}
def Cube "Plain" {}
"#,
    );
    let first = |m: usize| scene.meshes[m].colors[0];
    assert_eq!(first(0), [1.0, 0.0, 0.0, 1.0]);
    assert_eq!(first(1), [0.0, 1.0, 0.0, 1.0]);
    assert_eq!(first(2), [0.5, 0.5, 0.5, 1.0]);
}

#[test]
fn session_layer_is_composed_over_the_stage() {
    let dir = temp_dir();
    let root = write(&dir, "root.usda", "#usda 1.0\ndef Cube \"C\" { double size = 2 }\n");
    let session = write(&dir, "session.usda", "#usda 1.0\nover \"C\" { double size = 10 }\n");
    let options = OpenOptions {
        session_layer: Some(session),
        ..OpenOptions::default()
    };
    let mut s = LoadedStage::open(&root, &options).unwrap();
    let scene = s.extract(&ExtractOptions::default()).unwrap();
    assert_eq!(scene.bounds.size(), glam::DVec3::splat(10.0));
    let missing = OpenOptions {
        session_layer: Some(dir.join("nope.usda")),
        ..OpenOptions::default()
    };
    let e = LoadedStage::open(&root, &missing).err().expect("error");
    assert!(
        matches!(e, Error::StageOpen { .. }) && e.to_string().contains("nope.usda"),
        "{e}"
    );
}

#[test]
fn xform_op_order_and_reset_xform_stack() {
    let (_, scene) = extract(
        r#"#usda 1.0
def Xform "Parent" {
    double3 xformOp:translate = (100, 0, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
    def Cube "Ops" {
        double3 xformOp:translate = (5, 0, 0)
        float xformOp:rotateZ = 90
        float3 xformOp:scale = (2, 2, 2)
        uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:rotateZ", "xformOp:scale"]
    }
    def Cube "Reset" {
        double3 xformOp:translate = (0, 7, 0)
        uniform token[] xformOpOrder = ["!resetXformStack!", "xformOp:translate"]
    }
}
"#,
    );
    let ops = scene.instances[0].transform.transform_point3(Vec3::X);
    assert!((ops - Vec3::new(105.0, 2.0, 0.0)).length() < 1e-4, "{ops}");
    assert_eq!(translation(&scene.instances[1].transform), Vec3::new(0.0, 7.0, 0.0));
}

#[test]
fn animated_and_nested_point_instancers() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
def PointInstancer "Outer" {
    point3f[] positions.timeSamples = { 0: [(0, 0, 0), (100, 0, 0)], 10: [(0, 0, 10), (100, 0, 10)] }
    int[] protoIndices = [0, 0]
    quatf[] orientationsf = [(1, 0, 0, 0), (1, 0, 0, 0)]
    rel prototypes = [</Outer/Protos/Inner>]
    def Scope "Protos" {
        def PointInstancer "Inner" {
            double3 xformOp:translate = (0, 1, 0)
            uniform token[] xformOpOrder = ["xformOp:translate"]
            point3f[] positions = [(0, 0, 0), (3, 0, 0)]
            int[] protoIndices = [0, 0]
            rel prototypes = [</Outer/Protos/Inner/Leaf>]
            def Cube "Leaf" {}
        }
    }
}
"#,
    );
    assert_eq!(scene.meshes.len(), 1);
    assert_eq!(scene.instances.len(), 4, "2 outer x 2 inner");
    assert_eq!(
        scene.dynamic_instances.len(),
        4,
        "animated positions make every instance dynamic"
    );
    let mut at0: Vec<Vec3> = scene.instances.iter().map(|i| translation(&i.transform)).collect();
    at0.sort_by(|a, b| a.x.total_cmp(&b.x));
    assert_eq!(
        at0,
        vec![
            Vec3::new(0.0, 1.0, 0.0),
            Vec3::new(3.0, 1.0, 0.0),
            Vec3::new(100.0, 1.0, 0.0),
            Vec3::new(103.0, 1.0, 0.0)
        ]
    );
    let f = s.evaluate(&scene, 5.0).unwrap();
    assert_eq!(f.instance_transforms.len(), 4);
    assert!(
        f.instance_transforms.iter().all(|m| (m.w_axis.z - 5.0).abs() < 1e-5),
        "halfway at frame 5"
    );
}

#[test]
fn animated_authored_normals_are_re_read() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
def Mesh "M" {
    int[] faceVertexCounts = [3]
    int[] faceVertexIndices = [0, 1, 2]
    point3f[] points.timeSamples = { 0: [(0,0,0), (1,0,0), (0,1,0)], 10: [(0,0,0), (1,0,0), (0,1,0)] }
    normal3f[] normals (interpolation = "vertex")
    normal3f[] normals.timeSamples = { 0: [(0,0,1), (0,0,1), (0,0,1)], 10: [(1,0,0), (1,0,0), (1,0,0)] }
    uniform token subdivisionScheme = "none"
}
"#,
    );
    assert_eq!(scene.meshes[0].normals[0], [0.0, 0.0, 1.0]);
    let f = s.evaluate(&scene, 10.0).unwrap();
    assert!(f.mesh_vertices[0].normals.iter().all(|n| *n == [1.0, 0.0, 0.0]));
}

/// Animated `widths` of a Points prim follow the frame (testUsdImagingGLVaryingTopology's third
/// frame: one point of width 0.8 after one of 0.5): the sprite offsets ride in the normal stream,
/// which is evaluated per frame.
#[test]
fn animated_point_widths_are_re_read() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
def Points "P" {
    float3[] points.timeSamples = { 1: [(0, 0, 0)], 3: [(1, 0, 0)] }
    float[] widths.timeSamples = { 1: [0.5], 3: [0.8] }
}
"#,
    );
    let radius = |normals: &[[f32; 3]]| normals.iter().map(|n| n[0].hypot(n[1])).fold(0.0f32, f32::max);
    assert_eq!(scene.dynamic_meshes.len(), 1);
    let f1 = s.evaluate(&scene, 1.0).unwrap();
    let f3 = s.evaluate(&scene, 3.0).unwrap();
    assert!((radius(&f1.mesh_vertices[0].normals) - 0.25).abs() < 1e-5);
    assert!((radius(&f3.mesh_vertices[0].normals) - 0.4).abs() < 1e-5);
    assert!(f3.mesh_vertices[0].positions.iter().all(|p| *p == [1.0, 0.0, 0.0]));
}

#[test]
fn orientationsf_wins_over_orientations_when_authored() {
    let rotated_x = |text: &str| {
        let (_, scene) = extract(text);
        scene.instances[0].transform.transform_vector3(Vec3::X)
    };
    let both = r#"#usda 1.0
def PointInstancer "P" {
    point3f[] positions = [(0, 0, 0)]
    int[] protoIndices = [0]
    quath[] orientations = [(0.7071068, 0, 0, 0.7071068)]
    quatf[] orientationsf = [(1, 0, 0, 0)]
    rel prototypes = [</P/C>]
    def Cube "C" {}
}
"#;
    assert!(
        (rotated_x(both) - Vec3::X).length() < 1e-3,
        "orientationsf (identity) wins"
    );
    let empty_f = both.replace("quatf[] orientationsf = [(1, 0, 0, 0)]", "quatf[] orientationsf = []");
    assert!(
        (rotated_x(&empty_f) - Vec3::Y).length() < 1e-3,
        "empty orientationsf: orientations rotate X to Y"
    );
}

#[test]
fn non_unit_orientations_are_not_normalised() {
    // testUsdImagingGLPointInstancer's pi_pi_varying authors orientations of length ~1.04; Storm
    // and UsdGeomPointInstancer build the matrix from the raw components. The expected rows are
    // pxr's ComputeInstanceTransformsAtTime for this stage (row vectors, so our columns).
    let (_, scene) = extract(
        r#"#usda 1.0
def PointInstancer "P" {
    point3f[] positions = [(10, 0, 0)]
    int[] protoIndices = [0]
    quatf[] orientationsf = [(0.92, 0.48, 0, 0)]
    float3[] scales = [(2, 2, 2)]
    rel prototypes = [</P/C>]
    def Cube "C" {}
}
"#,
    );
    let m = scene.instances[0].transform;
    let expected = [
        Vec3::new(2.0, 0.0, 0.0),
        Vec3::new(0.0, 1.0784, 1.7664),
        Vec3::new(0.0, -1.7664, 1.0784),
        Vec3::new(10.0, 0.0, 0.0),
    ];
    for (i, e) in expected.iter().enumerate() {
        let got = m.col(i).truncate();
        assert!((got - *e).length() < 1e-4, "column {i}: {got} != {e}");
    }
}

// ---- Materials and lights (issue 3) ----

use crate::scene::material::{Channel, Input, ShadingModel, Wrap};
use crate::scene::LightKind;

/// A quad with `st`, named `name`, with extra lines inside its prim.
fn quad(name: &str, extra: &str) -> String {
    format!(
        r#"def Mesh "{name}" (prepend apiSchemas = ["MaterialBindingAPI"]) {{
    int[] faceVertexCounts = [4]
    int[] faceVertexIndices = [0, 1, 2, 3]
    point3f[] points = [(0,0,0), (1,0,0), (1,1,0), (0,1,0)]
    texCoord2f[] primvars:st = [(0,0), (1,0), (1,1), (0,1)] (interpolation = "vertex")
    {extra}
}}
"#
    )
}

/// A Material named `name` whose UsdPreviewSurface has diffuseColor `rgb`.
fn material(name: &str, rgb: &str) -> String {
    format!(
        r#"def Material "{name}" {{
    token outputs:surface.connect = </Looks/{name}/S.outputs:surface>
    def Shader "S" {{
        uniform token info:id = "UsdPreviewSurface"
        color3f inputs:diffuseColor = {rgb}
        token outputs:surface
    }}
}}
"#
    )
}

/// The material path of the (only) instance drawing the mesh at `path`.
fn material_of<'a>(scene: &'a Scene, path: &str) -> &'a crate::scene::Material {
    let i = scene
        .instances
        .iter()
        .find(|i| scene.meshes[i.mesh as usize].path == path)
        .unwrap_or_else(|| panic!("no instance of {path}"));
    &scene.materials[i.material as usize]
}

#[test]
fn binding_strength_purpose_collection_and_inheritance() {
    let text = format!(
        r#"#usda 1.0
def Scope "Looks" {{
{red}{green}{blue}{white}
}}
def Xform "Strong" (prepend apiSchemas = ["MaterialBindingAPI"]) {{
    rel material:binding = </Looks/Red> (bindMaterialAs = "strongerThanDescendants")
    {strong_child}
}}
def Xform "Weak" (prepend apiSchemas = ["MaterialBindingAPI"]) {{
    rel material:binding = </Looks/Red>
    {weak_child}
    {inherits}
}}
def Xform "Purpose" {{
    {purpose}
}}
def Xform "Coll" (prepend apiSchemas = ["MaterialBindingAPI", "CollectionAPI:shiny"]) {{
    rel collection:shiny:includes = </Coll/In>
    rel material:binding:collection:shiny = [</Coll.collection:shiny>, </Looks/White>]
    rel material:binding = </Looks/Red>
    {coll_in}
    {coll_out}
}}
"#,
        red = material("Red", "(1, 0, 0)"),
        green = material("Green", "(0, 1, 0)"),
        blue = material("Blue", "(0, 0, 1)"),
        white = material("White", "(1, 1, 1)"),
        strong_child = quad("A", "rel material:binding = </Looks/Green>"),
        weak_child = quad("B", "rel material:binding = </Looks/Green>"),
        inherits = quad("C", ""),
        purpose = quad(
            "D",
            "rel material:binding = </Looks/Red>\n    rel material:binding:preview = </Looks/Blue>\n    rel material:binding:full = </Looks/Green>"
        ),
        coll_in = quad("In", ""),
        coll_out = quad("Out", ""),
    );
    let (_, scene) = extract(&text);
    let path = |p: &str| material_of(&scene, p).path.clone();
    assert_eq!(
        path("/Strong/A"),
        "/Looks/Red",
        "strongerThanDescendants on the ancestor wins"
    );
    assert_eq!(path("/Weak/B"), "/Looks/Green", "the closer binding wins by default");
    assert_eq!(path("/Weak/C"), "/Looks/Red", "bindings inherit down namespace");
    assert_eq!(path("/Purpose/D"), "/Looks/Blue", "preview purpose before all-purpose");
    assert_eq!(
        path("/Coll/In"),
        "/Looks/White",
        "a collection binding beats the direct one"
    );
    assert_eq!(
        path("/Coll/Out"),
        "/Looks/Red",
        "outside the collection: the direct binding"
    );
    assert_eq!(
        material_of(&scene, "/Weak/B").diffuse_color,
        Input::Value([0.0, 1.0, 0.0])
    );
    // Red, Green, Blue, White plus the fallback; each read once.
    assert_eq!(scene.materials.len(), 5);
    assert_eq!(scene.materials[0].model, ShadingModel::DisplayColor);
}

#[test]
fn unusable_materials_fall_back_with_one_warning_each() {
    let text = format!(
        r#"#usda 1.0
def Scope "Looks" {{
    def Material "Mx" {{
        token outputs:mtlx:surface.connect = </Looks/Mx/S.outputs:out>
        def Shader "S" {{
            uniform token info:id = "ND_frobnicate_surfaceshader"
            token outputs:out
        }}
    }}
    def Xform "NotAMaterial" {{}}
}}
{a}{b}{c}
"#,
        a = quad("A", "rel material:binding = </Looks/Mx>"),
        b = quad("B", "rel material:binding = </Looks/Mx>"),
        c = quad("C", "rel material:binding = </Looks/NotAMaterial>"),
    );
    let (s, scene) = extract(&text);
    assert!(scene.instances.iter().all(|i| i.material == 0));
    let w = s.warnings();
    assert_eq!(w.iter().filter(|w| w.contains("/Looks/Mx")).count(), 1, "{w:?}");
    assert_eq!(
        w.iter().filter(|w| w.contains("/Looks/NotAMaterial")).count(),
        1,
        "{w:?}"
    );
}

#[test]
fn geom_subsets_split_the_mesh_by_material_and_animate_every_part() {
    let text = format!(
        r#"#usda 1.0
def Scope "Looks" {{
{red}{green}
}}
def Mesh "M" (prepend apiSchemas = ["MaterialBindingAPI"]) {{
    int[] faceVertexCounts = [3, 3, 3]
    int[] faceVertexIndices = [0, 1, 2, 0, 2, 3, 1, 4, 2]
    point3f[] points = [(0,0,0), (1,0,0), (1,1,0), (0,1,0), (2,0,0)]
    rel material:binding = </Looks/Red>
    double3 xformOp:translate.timeSamples = {{ 0: (0, 0, 0), 10: (10, 0, 0) }}
    uniform token[] xformOpOrder = ["xformOp:translate"]
    def GeomSubset "G" (prepend apiSchemas = ["MaterialBindingAPI"]) {{
        uniform token elementType = "face"
        uniform token familyName = "materialBind"
        int[] indices = [1]
        rel material:binding = </Looks/Green>
    }}
    def GeomSubset "Other" {{
        uniform token familyName = "somethingElse"
        int[] indices = [2]
    }}
}}
"#,
        red = material("Red", "(1, 0, 0)"),
        green = material("Green", "(0, 1, 0)"),
    );
    let (mut s, scene) = extract(&text);
    assert_eq!(scene.meshes.len(), 2, "the subset and the other faces");
    assert_eq!(scene.instances.len(), 2);
    let tris = |mat: &str| -> usize {
        scene
            .instances
            .iter()
            .filter(|i| scene.materials[i.material as usize].path == mat)
            .map(|i| scene.meshes[i.mesh as usize].indices.len() / 3)
            .sum()
    };
    assert_eq!(tris("/Looks/Green"), 1);
    assert_eq!(tris("/Looks/Red"), 2, "faces 0 and 2 keep the mesh's material");
    assert_eq!(scene.dynamic_instances.len(), 2, "one matrix per part");
    let f = s.evaluate(&scene, 10.0).expect("evaluate");
    assert_eq!(f.instance_transforms.len(), 2);
    for m in &f.instance_transforms {
        assert_eq!(translation(m), Vec3::new(10.0, 0.0, 0.0));
    }
}

#[test]
fn interface_inputs_textures_transform2d_and_missing_texture() {
    let (s, scene) = extract(&format!(
        r#"#usda 1.0
def Scope "Looks" {{
    def Material "T" {{
        token inputs:uv = "st"
        asset inputs:tex = @missing.png@
        token outputs:surface.connect = </Looks/T/S.outputs:surface>
        def Shader "S" {{
            uniform token info:id = "UsdPreviewSurface"
            color3f inputs:diffuseColor.connect = </Looks/T/Graph.outputs:rgb>
            float inputs:roughness.connect = </Looks/T/Graph.outputs:r>
            float inputs:metallic = 0.25
            int inputs:useSpecularWorkflow = 1
            token outputs:surface
        }}
        def NodeGraph "Graph" {{
            color3f outputs:rgb.connect = </Looks/T/Graph/Tex.outputs:rgb>
            float outputs:r.connect = </Looks/T/Graph/Tex2.outputs:g>
            def Shader "Tex" {{
                uniform token info:id = "UsdUVTexture"
                asset inputs:file.connect = </Looks/T.inputs:tex>
                float2 inputs:st.connect = </Looks/T/Graph/Xf.outputs:result>
                token inputs:wrapS = "mirror"
                token inputs:sourceColorSpace = "raw"
                float4 inputs:scale = (2, 2, 2, 1)
                float4 inputs:fallback = (0.1, 0.2, 0.3, 1)
                float3 outputs:rgb
            }}
            def Shader "Tex2" {{
                uniform token info:id = "UsdUVTexture"
                asset inputs:file = @missing.png@
                float outputs:g
            }}
            def Shader "Xf" {{
                uniform token info:id = "UsdTransform2d"
                float2 inputs:in.connect = </Looks/T/Graph/Reader.outputs:result>
                float inputs:rotation = 90
                float2 inputs:scale = (2, 3)
                float2 inputs:translation = (0.5, 0.25)
                float2 outputs:result
            }}
            def Shader "Reader" {{
                uniform token info:id = "UsdPrimvarReader_float2"
                string inputs:varname.connect = </Looks/T.inputs:uv>
                float2 outputs:result
            }}
        }}
    }}
}}
{q}
"#,
        q = quad("Q", "rel material:binding = </Looks/T>")
    ));
    let m = material_of(&scene, "/Q");
    assert_eq!(m.metallic, Input::Value(0.25));
    assert!(m.use_specular_workflow, "an int 1 turns the specular workflow on");
    let t = m
        .diffuse_color
        .texture()
        .expect("diffuse is textured through the NodeGraph");
    assert_eq!(t.texture, None, "the file is missing");
    assert_eq!(t.channel, Channel::Rgb);
    assert_eq!(
        (t.wrap_s, t.wrap_t),
        (Wrap::Mirror, Wrap::Black),
        "unauthored wrap: black border"
    );
    assert_eq!(t.scale, [2.0, 2.0, 2.0, 1.0]);
    assert_eq!(t.fallback, [0.1, 0.2, 0.3, 1.0]);
    assert_eq!(t.st_primvar, "st", "varname through the Material's interface input");
    // scale (2,3), rotate 90 degrees, translate (0.5, 0.25): (1,0) -> (2,0) -> (0,2) -> (0.5, 2.25).
    let x = t.st_transform;
    let apply = |s: f32, t: f32| [x[0][0] * s + x[0][1] * t + x[0][2], x[1][0] * s + x[1][1] * t + x[1][2]];
    let p = apply(1.0, 0.0);
    assert!((p[0] - 0.5).abs() < 1e-5 && (p[1] - 2.25).abs() < 1e-5, "{p:?}");
    let p = apply(0.0, 1.0);
    assert!((p[0] - -2.5).abs() < 1e-5 && (p[1] - 0.25).abs() < 1e-5, "{p:?}");
    let r = m.roughness.texture().expect("roughness textured");
    assert_eq!(r.channel, Channel::G);
    assert!(r.st_primvar.is_empty());
    let mesh = &scene.meshes[scene.instances[0].mesh as usize];
    assert_eq!(mesh.uvs.len(), mesh.positions.len(), "the mesh carries st");
    assert!(mesh.uvs.contains(&[1.0, 1.0]));
    // Two lookups name one missing file: one warning.
    let w = s.warnings();
    assert_eq!(w.iter().filter(|w| w.contains("missing.png")).count(), 1, "{w:?}");
}

#[test]
fn primvar_reader_feeds_vertex_colours() {
    let (_, scene) = extract(&format!(
        r#"#usda 1.0
def Scope "Looks" {{
    def Material "P" {{
        token outputs:surface.connect = </Looks/P/S.outputs:surface>
        def Shader "S" {{
            uniform token info:id = "UsdPreviewSurface"
            color3f inputs:diffuseColor.connect = </Looks/P/R.outputs:result>
            float inputs:opacity.connect = </Looks/P/O.outputs:result>
            token outputs:surface
        }}
        def Shader "R" {{
            uniform token info:id = "UsdPrimvarReader_float3"
            token inputs:varname = "tint"
            float3 inputs:fallback = (0, 0, 1)
            float3 outputs:result
        }}
        def Shader "O" {{
            uniform token info:id = "UsdPrimvarReader_float"
            string inputs:varname = "alpha"
            float inputs:fallback = 0.5
            float outputs:result
        }}
    }}
}}
{a}{b}
"#,
        a = quad(
            "A",
            "rel material:binding = </Looks/P>\n    color3f[] primvars:tint = [(1,0,0), (0,1,0)] (interpolation = \"faceVarying\")\n    int[] primvars:tint:indices = [0, 0, 1, 1]"
        ),
        b = quad("B", "rel material:binding = </Looks/P>"),
    ));
    let m = material_of(&scene, "/A");
    assert_eq!(
        m.diffuse_color,
        Input::VertexColor {
            primvar: "tint".into(),
            fallback: [0.0, 0.0, 1.0]
        }
    );
    assert_eq!(
        m.opacity,
        Input::VertexColor {
            primvar: "alpha".into(),
            fallback: 0.5
        }
    );
    let mesh = |p: &str| {
        let i = scene.instances.iter().find(|i| scene.meshes[i.mesh as usize].path == p);
        &scene.meshes[i.expect("instance").mesh as usize]
    };
    let a = mesh("/A");
    assert_eq!(
        a.colors[a.indices[0] as usize],
        [1.0, 0.0, 0.0, 0.5],
        "tint, alpha missing: fallback"
    );
    assert!(a.colors.contains(&[0.0, 1.0, 0.0, 0.5]));
    let b = mesh("/B");
    assert!(
        b.colors.iter().all(|c| *c == [0.0, 0.0, 1.0, 0.5]),
        "both primvars missing: fallbacks"
    );
}

#[test]
fn animated_shader_inputs_make_a_dynamic_material() {
    let (mut s, scene) = extract(&format!(
        r#"#usda 1.0
def Scope "Looks" {{
    def Material "A" {{
        token outputs:surface.connect = </Looks/A/S.outputs:surface>
        def Shader "S" {{
            uniform token info:id = "UsdPreviewSurface"
            color3f inputs:diffuseColor.timeSamples = {{ 0: (0, 0, 0), 10: (1, 1, 1) }}
            token outputs:surface
        }}
    }}
}}
{q}
"#,
        q = quad("Q", "rel material:binding = </Looks/A>")
    ));
    assert_eq!(scene.dynamic_materials.len(), 1);
    let f = s.evaluate(&scene, 5.0).expect("evaluate");
    assert_eq!(f.materials.len(), 1);
    let Input::Value(c) = f.materials[0].diffuse_color else {
        panic!("a value")
    };
    assert!((c[0] - 0.5).abs() < 1e-5, "{c:?}");
}

#[test]
fn lights_colour_exposure_temperature_shape_and_animation() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
def SphereLight "Bulb" (prepend apiSchemas = ["ShapingAPI", "ShadowAPI"]) {
    color3f inputs:color = (1, 0.5, 0.25)
    float inputs:intensity = 10
    float inputs:exposure = 2
    float inputs:radius = 0.25
    bool treatAsPoint = 1
    float inputs:shaping:cone:angle = 30
    bool inputs:shadow:enable = 0
    double3 xformOp:translate = (1, 2, 3)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
def DistantLight "Sun" {
    bool inputs:enableColorTemperature = 1
    float inputs:colorTemperature = 2000
    float inputs:intensity.timeSamples = { 0: 1, 10: 3 }
}
def RectLight "Hidden" {
    token visibility = "invisible"
}
def DiskLight "Off" (active = false) {
}
def DomeLight "Sky" {
    asset inputs:texture:file = @nowhere.hdr@
}
"#,
    );
    assert_eq!(scene.lights.len(), 3, "invisible and inactive lights are not extracted");
    let bulb = &scene.lights[0];
    assert_eq!(bulb.color, [40.0, 20.0, 10.0], "colour * intensity * 2^exposure");
    assert_eq!(
        bulb.kind,
        LightKind::Sphere {
            radius: 0.25,
            treat_as_point: true
        }
    );
    assert_eq!(bulb.shaping.map(|s| s.cone_angle), Some(30.0));
    assert!(!bulb.shadow);
    assert_eq!(translation(&bulb.transform), Vec3::new(1.0, 2.0, 3.0));
    let sun = &scene.lights[1];
    assert!(sun.shadow, "shadows default on");
    assert!(
        sun.color[0] > sun.color[1] && sun.color[1] > sun.color[2],
        "2000 K is warm: {:?}",
        sun.color
    );
    assert!(matches!(scene.lights[2].kind, LightKind::Dome { texture: None }));
    assert_eq!(scene.dynamic_lights, vec![1]);
    let f = s.evaluate(&scene, 5.0).expect("evaluate");
    assert_eq!(f.lights.len(), 1);
    assert!(
        (f.lights[0].color[0] / sun.color[0] - 2.0).abs() < 1e-4,
        "intensity 2 at frame 5"
    );
}

#[test]
fn bound_materials_lists_gprims_and_subsets() {
    let mut s = open(&format!(
        r#"#usda 1.0
def Scope "Looks" {{
{red}
}}
def Mesh "M" (prepend apiSchemas = ["MaterialBindingAPI"]) {{
    rel material:binding = </Looks/Red>
    def GeomSubset "G" {{
        uniform token familyName = "materialBind"
        int[] indices = [0]
    }}
}}
def Sphere "S" {{}}
"#,
        red = material("Red", "(1, 0, 0)")
    ));
    let got = s.bound_materials();
    assert_eq!(
        got,
        vec![
            ("/M".to_string(), Some("/Looks/Red".to_string())),
            ("/M/G".to_string(), Some("/Looks/Red".to_string())),
            ("/S".to_string(), None),
        ]
    );
}

#[test]
fn light_linking_names_the_instances_of_included_prims() {
    let (_, scene) = extract(&format!(
        r#"#usda 1.0
def SphereLight "Linked" (prepend apiSchemas = ["CollectionAPI:lightLink"]) {{
    uniform bool collection:lightLink:includeRoot = 0
    rel collection:lightLink:includes = </Lit>
}}
def SphereLight "Everything" {{
}}
def Xform "Lit" {{
{a}
}}
{b}
"#,
        a = quad("A", ""),
        b = quad("B", ""),
    ));
    let index_of = |p: &str| {
        scene
            .instances
            .iter()
            .position(|i| scene.meshes[i.mesh as usize].path == p)
            .map(|i| i as u32)
    };
    assert_eq!(scene.lights.len(), 2);
    assert_eq!(
        scene.lights[0].linked_instances,
        Some(vec![index_of("/Lit/A").expect("A drawn")])
    );
    assert!(index_of("/B").is_some());
    assert_eq!(
        scene.lights[1].linked_instances, None,
        "no lightLink opinion: lights everything"
    );
}

#[test]
fn instance_proxies_and_instancer_prototypes_get_their_own_bindings() {
    let text = format!(
        r#"#usda 1.0
def Scope "Looks" {{
{red}{green}{blue}
}}
def Xform "Asset" (active = false) {{
{tri}
}}
def Xform "I1" (instanceable = true; references = </Asset>; active = true; prepend apiSchemas = ["MaterialBindingAPI"]) {{
    rel material:binding = </Looks/Red>
}}
def Xform "I2" (instanceable = true; references = </Asset>; active = true; prepend apiSchemas = ["MaterialBindingAPI"]) {{
    rel material:binding = </Looks/Green>
}}
def PointInstancer "PI" {{
    point3f[] positions = [(0,0,0), (5,0,0)]
    int[] protoIndices = [0, 0]
    rel prototypes = [</PI/Protos/P>]
    def Scope "Protos" {{
        def Cube "P" (prepend apiSchemas = ["MaterialBindingAPI"]) {{
            rel material:binding = </Looks/Blue>
        }}
    }}
}}
"#,
        red = material("Red", "(1, 0, 0)"),
        green = material("Green", "(0, 1, 0)"),
        blue = material("Blue", "(0, 0, 1)"),
        tri = quad("Tri", ""),
    );
    let (_, scene) = extract(&text);
    let names: Vec<&str> = scene
        .instances
        .iter()
        .map(|i| scene.materials[i.material as usize].path.as_str())
        .collect();
    assert_eq!(scene.instances.len(), 4, "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "/Looks/Red").count(), 1, "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "/Looks/Green").count(), 1, "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "/Looks/Blue").count(), 2, "{names:?}");
    assert_eq!(
        scene.meshes.len(),
        2,
        "the two instances share one mesh; the cube another"
    );
}

#[test]
fn animated_points_update_every_geom_subset_part() {
    let (mut s, scene) = extract(&format!(
        r#"#usda 1.0
def Scope "Looks" {{
{red}
}}
def Mesh "M" {{
    int[] faceVertexCounts = [3, 3]
    int[] faceVertexIndices = [0, 1, 2, 0, 2, 3]
    point3f[] points.timeSamples = {{
        0: [(0,0,0), (1,0,0), (1,1,0), (0,1,0)],
        10: [(0,0,5), (1,0,5), (1,1,5), (0,1,5)],
    }}
    def GeomSubset "G" (prepend apiSchemas = ["MaterialBindingAPI"]) {{
        uniform token familyName = "materialBind"
        int[] indices = [1]
        rel material:binding = </Looks/Red>
    }}
}}
"#,
        red = material("Red", "(1, 0, 0)")
    ));
    assert_eq!(scene.dynamic_meshes.len(), 2, "both parts are animated");
    let f = s.evaluate(&scene, 10.0).expect("evaluate");
    for (v, &m) in f.mesh_vertices.iter().zip(&scene.dynamic_meshes) {
        assert_eq!(v.positions.len(), scene.meshes[m as usize].positions.len());
        assert!(v.positions.iter().all(|p| p[2] == 5.0), "{:?}", v.positions);
    }
}

/// Framing bounds follow UsdGeomBBoxCache: a PointInstancer by its extent (its far prototype
/// not visited), a boundable light by its radius, a model by its extentsHint (default + proxy
/// here; a non-model's hint is ignored), curves by their extent. pxr 26.11 answers
/// (-3, -40, -30)..(6, 50.5, 6) for this stage with purposes default and proxy.
#[test]
fn frame_bounds_use_extents_as_bbox_cache_does() {
    let mut s = open(
        r#"#usda 1.0
def PointInstancer "pi" {
    float3[] extent = [(-1,-1,-1),(1,1,1)]
    point3f[] positions = [(0,0,0)]
    int[] protoIndices = [0]
    rel prototypes = </pi/protos/a>
    def Scope "protos" {
        def Sphere "a" { double radius = 1 }
        def Cube "far" {
            double3 xformOp:translate = (100,0,0)
            uniform token[] xformOpOrder = ["xformOp:translate"]
        }
    }
}
def SphereLight "l" {
    float inputs:radius = 0.5
    double3 xformOp:translate = (0,50,0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
def Xform "m" (kind = "component") {
    float3[] extentsHint = [(0,0,-30),(1,1,1), (0,0,0),(0,0,0), (5,5,5),(6,6,6)]
    def Cube "c" { }
}
def BasisCurves "curves" { float3[] extent = [(-3,-40,-3),(3,3,3)] }
def Sphere "s" (kind = "component") { double radius = 2 }
def Xform "nm" {
    float3[] extentsHint = [(0,0,0),(70,1,1)]
    def Cube "c" { }
}
def Cube "hidden" {
    token visibility = "invisible"
    double3 xformOp:translate = (0,0,500)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
"#,
    );
    let scene = s
        .extract(&ExtractOptions {
            purposes: vec!["proxy".into()],
            ..ExtractOptions::default()
        })
        .unwrap();
    let b = scene.framing_bounds();
    assert_eq!(b.min, glam::DVec3::new(-3.0, -40.0, -30.0));
    assert_eq!(b.max, glam::DVec3::new(6.0, 50.5, 6.0));
    // The drawn bounds still hold the drawn geometry (the instancer's prototype sphere, the cubes).
    assert_eq!(scene.bounds.max.z, 2.0);
}

/// UsdImaging reads `points` as a float 3-vector array: usd-wg's pointsTypes draws the cubes whose
/// points are point3f[], float3[], color3f[] or normal3f[] and not those with point3d[], double3[]
/// or a scalar (their authored extents still frame them, as pxr's UsdGeomBBoxCache does).
#[test]
fn only_float_vector_arrays_are_points() {
    let tri = |name: &str, ty: &str, x: f64| {
        format!(
            r#"def Mesh "{name}" {{
    float3[] extent = [(0, 0, 0), (1, 1, 0)]
    int[] faceVertexCounts = [3]
    int[] faceVertexIndices = [0, 1, 2]
    {ty} points = [(0, 0, 0), (1, 0, 0), (0, 1, 0)]
    double3 xformOp:translate = ({x}, 0, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}}
"#
        )
    };
    let mut text = String::from("#usda 1.0\n");
    for (i, (name, ty)) in [
        ("p3f", "point3f[]"),
        ("f3", "float3[]"),
        ("c3f", "color3f[]"),
        ("p3d", "point3d[]"),
        ("d3", "double3[]"),
        ("c3d", "color3d[]"),
    ]
    .into_iter()
    .enumerate()
    {
        text += &tri(name, ty, 2.0 * i as f64);
    }
    let (_, scene) = extract(&text);
    let drawn: Vec<f32> = scene.instances.iter().map(|i| translation(&i.transform).x).collect();
    assert_eq!(drawn, vec![0.0, 2.0, 4.0]);
    assert_eq!(scene.framing_bounds().max.x, 11.0, "every authored extent frames");
}

/// Implicit shapes without an authored extent are bounded by their parameters, as UsdGeom's
/// ComputeExtent does, not by the tessellation drawn (usd-wg's capsule, seen end on, was framed a
/// little too close). pxr 26.11: the capsule (-0.5, -0.5, -1)..(0.5, 0.5, 1), the X cylinder
/// (-1.5, -1, -1)..(1.5, 1, 1), the Y plane (-2, 0, -3)..(2, 0, 3), the sphere radius 2.
#[test]
fn frame_bounds_of_implicit_shapes_come_from_their_parameters() {
    let bounds = |prim: &str| {
        let (_, scene) = extract(&format!("#usda 1.0\n{prim}\n"));
        let b = *scene.framing_bounds();
        (b.min.to_array(), b.max.to_array())
    };
    let capsule = r#"def Capsule "c" {
    uniform token axis = "Z"
    double height = 1
    double radius = 0.5
}"#;
    assert_eq!(bounds(capsule), ([-0.5, -0.5, -1.0], [0.5, 0.5, 1.0]));
    let cylinder = r#"def Cylinder "c" {
    uniform token axis = "X"
    double height = 3
}"#;
    assert_eq!(bounds(cylinder), ([-1.5, -1.0, -1.0], [1.5, 1.0, 1.0]));
    let plane = r#"def Plane "p" {
    uniform token axis = "Y"
    double width = 4
    double length = 6
}"#;
    assert_eq!(bounds(plane), ([-2.0, 0.0, -3.0], [2.0, 0.0, 3.0]));
    assert_eq!(bounds(r#"def Sphere "s" { double radius = 2 }"#), ([-2.0; 3], [2.0; 3]));
}

/// An extent smaller than the points frames the smaller box, as usdrecord does (usd-wg's
/// scaled_extent); a mesh without one is framed by its points.
#[test]
fn frame_bounds_take_an_authored_extent_over_points() {
    let (_, scene) = extract(
        r#"#usda 1.0
def Mesh "m" {
    float3[] extent = [(-0.1,-0.1,-0.1),(0.1,0.1,0.1)]
    int[] faceVertexCounts = [3]
    int[] faceVertexIndices = [0, 1, 2]
    point3f[] points = [(-1,-1,0), (1,-1,0), (0,1,0)]
}
"#,
    );
    assert_eq!(scene.framing_bounds().max.x as f32, 0.1);
    assert_eq!(scene.bounds.max.x, 1.0);
}

/// An implicit shape with animated parameters is a dynamic mesh rebuilt per frame (Storm's
/// testUsdImagingGLSphere animates a Sphere's radius from 0.5 to 1.5).
#[test]
fn animated_sphere_radius_is_applied_per_frame() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
(
    startTimeCode = 1
    endTimeCode = 11
)
def Sphere "S" {
    double radius = 10
    double radius.timeSamples = { 1: 0.5, 11: 1.5 }
}
def Cylinder "C" {
    double3 xformOp:translate = (5, 0, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
"#,
    );
    assert_eq!(scene.dynamic_meshes.len(), 1, "only the sphere is animated");
    let sphere = scene.dynamic_meshes[0] as usize;
    let max_x = |p: &[[f32; 3]]| p.iter().map(|v| v[0]).fold(f32::MIN, f32::max);
    for (frame, radius) in [(1.0, 0.5), (6.0, 1.0), (11.0, 1.5)] {
        let state = s.evaluate(&scene, frame).unwrap();
        let v = &state.mesh_vertices[0];
        assert_eq!(v.positions.len(), scene.meshes[sphere].positions.len());
        assert!((max_x(&v.positions) - radius).abs() < 1e-5, "frame {frame}");
        assert_eq!(v.normals.len(), v.positions.len());
    }
}

/// Instances that appear after load time are drawn (Storm's pi_varying Instancer22_24: no
/// instances at frame 22, one at 23, two of two prototypes at 24; load time is frame 0).
#[test]
fn point_instancer_instances_appearing_later_are_drawn() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
(
    startTimeCode = 0
    endTimeCode = 30
)
def PointInstancer "PI" {
    point3f[] positions = []
    point3f[] positions.timeSamples = { 22: [], 23: [(0, 0, 0)], 24: [(0, 0, 0), (1, 1, 1)] }
    int[] protoIndices = []
    int[] protoIndices.timeSamples = { 22: [], 23: [0], 24: [0, 1] }
    rel prototypes = [</PI/Protos/A>, </PI/Protos/B>]
    def "Protos" {
        def "A" { def Sphere "S" { } }
        def "B" { def Cube "C" { } }
    }
}
"#,
    );
    let drawn = |frame: f64, s: &mut LoadedStage| {
        let state = s.evaluate(&scene, frame).unwrap();
        state.instance_transforms.iter().filter(|m| **m != Mat4::ZERO).count()
    };
    assert_eq!(drawn(0.0, &mut s), 0);
    assert_eq!(drawn(23.0, &mut s), 1);
    assert_eq!(drawn(24.0, &mut s), 2);
    assert_eq!(drawn(30.0, &mut s), 2, "held after the last sample");
}

/// A prim of a type the schema registry does not know is drawn as the first known type the
/// stage's `fallbackPrimTypes` lists for it, as pxr resolves it (Storm's
/// testUsdImagingGLFallbackPrimTypes fallbacks3: UnknownCylinder -> [UnknownCone, Cone]).
#[test]
fn fallback_prim_types_are_drawn_as_their_fallback() {
    let (_, scene) = extract(
        r#"#usda 1.0
(
    fallbackPrimTypes = {
        token[] UnknownCone = ["UnknownCylinder", "Cylinder"]
        token[] UnknownCylinder = ["UnknownCone", "Cone"]
    }
)
def UnknownCylinder "A" { double radius = 2 }
def UnknownCone "B" { }
def UnknownSphere "C" { }
"#,
    );
    assert_eq!(scene.instances.len(), 2, "the type with no fallback draws nothing");
    let paths: Vec<&str> = scene.meshes.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(scene.meshes.len(), 2, "{paths:?}");
    // A is a Cone of radius 2 (its apex on +Z); B a Cylinder of radius 1.
    let widest = |m: &crate::scene::Mesh| m.positions.iter().map(|p| p[0]).fold(f32::MIN, f32::max);
    let mut widths: Vec<f32> = scene.meshes.iter().map(widest).collect();
    widths.sort_by(f32::total_cmp);
    assert_eq!(widths, vec![1.0, 2.0]);
}

/// A malformed extent (not two points) is ignored and the bounds computed, and curves with no
/// extent count by their points grown by half their width (Storm's testUsdImagingGLExtents; pxr:
/// x from -1 (the sphere with an empty extent) to 18.71 (the curve)).
#[test]
fn frame_bounds_compute_what_a_malformed_extent_does_not_give() {
    let (_, scene) = extract(
        r#"#usda 1.0
def Sphere "s" {
    float3[] extent = [(0, 0, 0)]
}
def Cube "c" {
    float3[] extent = [(-1, -1, -1), (1, 1, 1), (2, 2, 2)]
    double3 xformOp:translate = (4, 0, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
def BasisCurves "curve" {
    int[] curveVertexCounts = [2]
    point3f[] points = [(10, 0, 0), (12, 1, 0)]
    float[] widths = [1]
}
"#,
    );
    let b = scene.framing_bounds();
    assert_eq!(b.min, glam::DVec3::new(-1.0, -1.0, -1.0));
    assert_eq!(b.max, glam::DVec3::new(12.5, 1.5, 1.0));
}

/// A prototype root below an `over` is drawn through its instancer, as UsdImaging walks each
/// prototype from its root (Storm's ni_pi: `over "Dumb" { def Sphere "ValidPrototype" }`), also
/// when the instancer is inside an instanceable prim.
#[test]
fn point_instancer_prototype_below_an_over_is_drawn() {
    let dir = temp_dir();
    write(
        &dir,
        "inst.usda",
        r#"#usda 1.0
def Xform "World" {
    def PointInstancer "Instancer" {
        point3f[] positions = [(0, 0, 0), (200, 0, 0)]
        int[] protoIndices = [0, 0]
        rel prototypes = [</World/Instancer/Dumb/ValidPrototype>, </World/Instancer/Dumb/Dumber>]
        over "Dumb" {
            def Sphere "ValidPrototype" { double radius = 20 }
            over "Dumber" { def Sphere "IgnoredPrototype" { } }
        }
    }
}
"#,
    );
    let root = write(
        &dir,
        "root.usda",
        r#"#usda 1.0
def "A" (instanceable = true
    prepend references = @inst.usda@</World>) { }
def "B" (instanceable = true
    prepend references = @inst.usda@</World>) {
    double3 xformOp:translate = (-1000, 0, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
"#,
    );
    let mut s = LoadedStage::open(&root, &OpenOptions::default()).unwrap();
    let scene = s.extract(&ExtractOptions::default()).unwrap();
    assert_eq!(scene.instances.len(), 4, "two spheres per instance of the instancer");
    assert_eq!(scene.meshes.len(), 1, "one prototype mesh shared by both instances");
    assert_eq!(scene.bounds.min.x, -1020.0);
    assert_eq!(scene.bounds.max.x, 220.0);
}

/// Purpose as pxr computes it (a prim's own authored purpose wins, else the nearest ancestor's,
/// and only Imageable prims author one) decides each PointInstancer prototype prim, through the
/// instancer; the instancer's own purpose does not hide it whole. Storm's pi_varying frame 27
/// (a render-purpose instancer, render hidden): the proxy spheres drawn, the default cubes not,
/// a guide cone under a proxy prototype not, a proxy sphere under a guide prototype drawn.
#[test]
fn point_instancer_prototype_purposes() {
    let mut s = open(
        r#"#usda 1.0
def PointInstancer "PI" {
    point3f[] positions = [(0, 0, 0), (10, 0, 0), (20, 0, 0)]
    int[] protoIndices = [0, 1, 2]
    rel prototypes = [</PI/Protos/P1>, </PI/Protos/P2>, </PI/Protos/P3>]
    token purpose = "render"
    def "Protos" {
        token purpose = "guide"
        def Scope "P1" {
            def Cube "Cube" { }
            def Sphere "Sphere" { token purpose = "proxy" }
            def Cone "Cone" { token purpose = "guide" }
        }
        def Scope "P2" {
            token purpose = "proxy"
            def Cube "Cube" { }
            def Cone "Cone" { token purpose = "guide" }
        }
        def Scope "P3" {
            token purpose = "guide"
            def Cube "Cube" { }
            def Sphere "Sphere" { token purpose = "proxy" }
        }
    }
}
"#,
    );
    let scene = s
        .extract(&ExtractOptions {
            purposes: vec!["proxy".into()],
            ..ExtractOptions::default()
        })
        .unwrap();
    // P1 (at x = 0): its proxy Sphere; P2 (x = 10): its Cube (proxy from P2); P3 (x = 20): its
    // proxy Sphere. The typeless Protos' guide purpose counts for nothing.
    let mut xs: Vec<f32> = scene.instances.iter().map(|i| translation(&i.transform).x).collect();
    xs.sort_by(f32::total_cmp);
    assert_eq!(xs, vec![0.0, 10.0, 20.0]);
}

/// An upAxis that is neither Y nor Z is framed Z-up, as usdrecord does (UsdAppUtils tests for Y
/// only; usd-wg's upAxis_X and upAxis_invalid screenshots show the Z-up view), with a warning.
#[test]
fn invalid_up_axis_is_framed_z_up() {
    for (axis, want) in [
        ("X", UpAxis::Z),
        ("invalid", UpAxis::Z),
        ("Y", UpAxis::Y),
        ("Z", UpAxis::Z),
    ] {
        let (s, scene) = extract(&format!(
            "#usda 1.0\n(\n    upAxis = \"{axis}\"\n)\ndef Cube \"C\" {{ }}\n"
        ));
        assert_eq!(scene.up_axis, want, "{axis}");
        let warned = s.warnings().iter().any(|w| w.contains("neither Y nor Z"));
        assert_eq!(warned, want == UpAxis::Z && axis != "Z", "{axis}");
    }
    let (_, scene) = extract("#usda 1.0\ndef Cube \"C\" { }\n");
    assert_eq!(scene.up_axis, UpAxis::Y);
}

/// pxr's ComputePurpose: an authored purpose on the prim wins over its parent's, and a
/// non-Imageable prim's is ignored (pxr 26.11: /P/S proxy, /P/C guide, /Q/T/C default).
#[test]
fn purpose_is_the_nearest_authored_on_an_imageable_prim() {
    let mut s = open(
        r#"#usda 1.0
def Xform "P" {
    token purpose = "guide"
    def Sphere "S" { token purpose = "proxy" }
    def Cube "C" { }
}
def Scope "Q" {
    def "T" {
        token purpose = "guide"
        def Cube "C" { }
    }
}
"#,
    );
    let scene = s
        .extract(&ExtractOptions {
            purposes: vec!["proxy".into()],
            ..ExtractOptions::default()
        })
        .unwrap();
    // /P/S (proxy) and /Q/T/C (default) are drawn; /P/C (guide) is not.
    assert_eq!(scene.instances.len(), 2);
}

#[test]
fn lights_of_a_purpose_not_drawn_are_left_out() {
    // As Storm: a render-purpose light neither lights nor shows when render purpose is hidden
    // (usdImagingGL's testPreviewSurfaceTextureScaleAndBias); a default-purpose one does.
    let text = r#"#usda 1.0
def Xform "Lights" {
    uniform token purpose = "render"
    def DomeLight "RenderDome" {
    }
}
def DistantLight "Sun" {
}
"#;
    let hidden = open(text)
        .extract(&ExtractOptions {
            purposes: vec!["proxy".into()],
            ..ExtractOptions::default()
        })
        .expect("extract");
    let paths: Vec<&str> = hidden.lights.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(paths, ["/Sun"]);
    let (_, shown) = extract(text);
    assert_eq!(
        shown.lights.len(),
        2,
        "drawn when its purpose is (usdrender's default: render shown)"
    );
}

/// A texture file with time samples (testPreviewSurfaceAnimated): every sampled file is loaded at
/// extraction, and each frame's material names the file of its time (not the missing-texture
/// fallback, which is what a file first met during per-frame evaluation would get).
#[test]
fn an_animated_texture_file_loads_every_sample() {
    let dir = temp_dir();
    for (name, rgb) in [("red.png", [255, 0, 0]), ("blue.png", [0, 0, 255])] {
        image::RgbImage::from_pixel(2, 2, image::Rgb(rgb))
            .save(dir.join(name))
            .expect("write png");
    }
    let text = format!(
        r#"#usda 1.0
(
    startTimeCode = 1
    endTimeCode = 2
)
def Material "M" {{
    token outputs:surface.connect = </M/S.outputs:surface>
    def Shader "S" {{
        uniform token info:id = "UsdPreviewSurface"
        color3f inputs:diffuseColor.connect = </M/T.outputs:rgb>
        token outputs:surface
    }}
    def Shader "T" {{
        uniform token info:id = "UsdUVTexture"
        asset inputs:file.timeSamples = {{
            1: @red.png@,
            2: @blue.png@,
        }}
        float3 outputs:rgb
    }}
}}
{q}
"#,
        q = quad("Q", "rel material:binding = </M>")
    );
    let path = write(&dir, "stage.usda", &text);
    let mut s = LoadedStage::open(&path, &OpenOptions::default()).expect("open");
    let scene = s
        .extract(&ExtractOptions {
            time: 1.0,
            ..ExtractOptions::default()
        })
        .expect("extract");
    assert_eq!(scene.textures.len(), 2, "both sampled files are loaded");
    let at_start = material_of(&scene, "/Q")
        .diffuse_color
        .texture()
        .and_then(|t| t.texture);
    let red = at_start.expect("frame 1 reads red.png");
    assert_eq!(scene.textures[red as usize].name.rsplit('/').next(), Some("red.png"));
    let frame2 = s.evaluate(&scene, 2.0).expect("evaluate");
    assert_eq!(frame2.materials.len(), 1, "the material is animated");
    let blue = frame2.materials[0]
        .diffuse_color
        .texture()
        .and_then(|t| t.texture)
        .expect("frame 2 reads blue.png, not the fallback");
    assert_ne!(blue, red);
    assert_eq!(scene.textures[blue as usize].name.rsplit('/').next(), Some("blue.png"));
}

#[test]
fn a_broken_time_sample_fails_its_frame_only_and_names_prim_and_frame() {
    let path = fixtures::damaged_points_stage(&temp_dir()).expect("fixture");
    let mut stage = LoadedStage::open(&path, &OpenOptions::default()).expect("a damaged sample does not stop the open");
    let scene = stage
        .extract(&ExtractOptions {
            time: 1.0,
            ..ExtractOptions::default()
        })
        .expect("extract at frame 1");
    assert_eq!(scene.animation.meshes.len(), 1, "points evaluated from their track");
    let first = stage.evaluate(&scene, 1.0).expect("frame 1");
    assert_eq!(first.mesh_vertices[0].positions[1], [1.0, 0.0, 0.0]);
    let err = stage.evaluate(&scene, 2.0).expect_err("frame 2's sample is unreadable");
    let text = err.to_string();
    assert!(text.contains("/Tri") && text.contains("frame 2"), "{text}");
    // Between a good and a broken sample the frame needs the broken one too.
    assert!(stage.evaluate(&scene, 1.5).is_err());
    let last = stage.evaluate(&scene, 3.0).expect("frame 3");
    assert_eq!(last.mesh_vertices[0].positions[1], [1.0, 0.0, 1.0]);
}

#[test]
fn tracked_points_equal_openusd_reads_at_samples_and_between() {
    // The same animation through a track (usdc, per-sample reads) and through openusd (the
    // attribute read whole): equal points at, between, before and after the samples, with a
    // layer offset and scale on the reference.
    let dir = temp_dir();
    let anim = write(
        &dir,
        "anim.usda",
        r#"#usda 1.0
def Mesh "M" {
    int[] faceVertexCounts = [3]
    int[] faceVertexIndices = [0, 1, 2]
    point3f[] points.timeSamples = {
        0: [(0,0,0), (1,0,0), (0,1,0)],
        4: [(0,0,2), (1,0,3), (0.25,1,4)],
        9: [(1,1,1), (2,1,1), (1,2,1)],
    }
}
"#,
    );
    write_usdc(&anim, &dir.join("anim.usdc")).expect("usdc");
    let root = write(
        &dir,
        "root.usda",
        r#"#usda 1.0
def "A" (references = @./anim.usdc@</M> (offset = 3; scale = 2)) {}
"#,
    );
    let mut stage = LoadedStage::open(&root, &OpenOptions::default()).expect("open");
    let scene = stage.extract(&ExtractOptions::default()).expect("extract");
    assert_eq!(scene.animation.meshes.len(), 1);
    let prim = stage.stage.prim("/A").expect("prim");
    for t in [-4.0, 0.0, 3.0, 4.5, 7.0, 8.25, 11.0, 13.0, 21.0, 40.0] {
        let tracked = stage.evaluate(&scene, t).expect("evaluate");
        let direct = samples::points(&prim, Some(TimeCode::new(t))).expect("openusd read");
        let spread: Vec<[f32; 3]> = scene.meshes[scene.dynamic_meshes[0] as usize]
            .vertex_points
            .iter()
            .map(|&p| direct[p as usize])
            .collect();
        assert_eq!(tracked.mesh_vertices[0].positions, spread, "at {t}");
    }
}

#[test]
fn a_camera_with_nan_values_fails_its_frame_naming_the_camera() {
    let dir = temp_dir();
    let path = write(
        &dir,
        "nan.usda",
        r#"#usda 1.0
def Camera "cam" {
    double3 xformOp:translate.timeSamples = { 1: (0, 0, 5), 2: (nan, nan, nan) }
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
def Cube "c" {}
"#,
    );
    let mut stage = LoadedStage::open(&path, &OpenOptions::default()).expect("open");
    let scene = stage
        .extract(&ExtractOptions {
            camera: Some("/cam".into()),
            time: 1.0,
            ..ExtractOptions::default()
        })
        .expect("extract");
    assert!(stage.evaluate(&scene, 1.0).is_ok());
    let err = stage.evaluate(&scene, 2.0).expect_err("NaN transform").to_string();
    assert!(err.contains("/cam") && err.contains("NaN"), "{err}");
}

#[test]
fn usda_with_cxx_comments_opens_as_pxr_opens_it() {
    // A third-party scene with `//` and `/* */` comments failed with "Logos error" (issues 13, 14).
    let (stage, scene) = extract(
        "#usda 1.0\n// made by a tool\n/* a block\n   comment */\ndef Cube \"c\" // trailing\n{\n    double size = 2 /* inline */\n}\n",
    );
    assert_eq!(scene.meshes.len(), 1);
    assert!(
        stage.warnings().iter().any(|w| w.contains("lenient")),
        "the repair is said: {:?}",
        stage.warnings()
    );
}

/// A Skeleton is drawn as Storm draws it: one open pyramid per bone, its tip on the joint,
/// following the animation; a mesh bound to it is skinned.
#[test]
fn skeletons_draw_bones_and_skin_their_meshes() {
    let mut stage = open(
        r#"#usda 1.0
(
    startTimeCode = 0
    endTimeCode = 1
)
def SkelRoot "Root" (
    prepend apiSchemas = ["SkelBindingAPI"]
)
{
    rel skel:skeleton = </Root/Skel>
    def Skeleton "Skel" (
        prepend apiSchemas = ["SkelBindingAPI"]
    )
    {
        uniform token[] joints = ["A", "A/B"]
        uniform matrix4d[] bindTransforms = [((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,0,0,1)), ((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,2,0,1))]
        uniform matrix4d[] restTransforms = [((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,0,0,1)), ((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,2,0,1))]
        rel skel:animationSource = </Root/Skel/Anim>
        def SkelAnimation "Anim"
        {
            uniform token[] joints = ["A", "A/B"]
            float3[] translations = [(0, 0, 0), (0, 2, 0)]
            quatf[] rotations.timeSamples = {
                0: [(1, 0, 0, 0), (1, 0, 0, 0)],
                1: [(1, 0, 0, 0), (0.70710678, 0, 0, 0.70710678)],
            }
            half3[] scales = [(1, 1, 1), (1, 1, 1)]
        }
    }
    def Mesh "Tip" (
        prepend apiSchemas = ["SkelBindingAPI"]
    )
    {
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
        point3f[] points = [(0, 3, 0), (0.1, 3, 0), (0, 3, 0.1)]
        int[] primvars:skel:jointIndices = [1] (interpolation = "constant")
        float[] primvars:skel:jointWeights = [1] (interpolation = "constant")
    }
}
"#,
    );
    // Bones are a guide: drawn only when guides are.
    let plain = stage.extract(&ExtractOptions::default()).expect("extract");
    assert!(
        plain.meshes.iter().all(|m| m.path != "/Root/Skel"),
        "bones hidden by default"
    );
    let scene = stage
        .extract(&ExtractOptions {
            purposes: vec!["render".into(), "guide".into()],
            ..Default::default()
        })
        .expect("extract with guides");
    let bones = scene
        .meshes
        .iter()
        .position(|m| m.path == "/Root/Skel")
        .expect("bones drawn");
    assert_eq!(scene.meshes[bones].indices.len(), 12, "one bone: four triangles");
    assert!(scene.meshes[bones].double_sided);
    let tip = scene
        .meshes
        .iter()
        .position(|m| m.path == "/Root/Tip")
        .expect("mesh drawn");
    let slot = |m: usize| {
        scene
            .dynamic_meshes
            .iter()
            .position(|&d| d as usize == m)
            .expect("animated")
    };
    let (bone_slot, tip_slot) = (slot(bones), slot(tip));
    // Skinned on the CPU, the reference path (the renderer poses them on the GPU).
    let skinned = |mut state: FrameState| {
        crate::scene::skinning::skin_pending(&scene, &mut state);
        state
    };
    let at0 = skinned(stage.evaluate(&scene, 0.0).expect("frame 0"));
    let at1 = skinned(stage.evaluate(&scene, 1.0).expect("frame 1"));
    let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4);
    // The bone's tip (point 0) sits on joint B, which does not move when B turns in place.
    let tip_of = |f: &FrameState| {
        let m = &scene.meshes[bones];
        let v = m.vertex_points.iter().position(|&p| p == 0).expect("tip vertex");
        f.mesh_vertices[bone_slot].positions[v]
    };
    assert!(close(tip_of(&at0), [0.0, 2.0, 0.0]), "{:?}", tip_of(&at0));
    assert!(close(tip_of(&at1), [0.0, 2.0, 0.0]), "{:?}", tip_of(&at1));
    // The mesh point one unit above B swings to -X as B turns 90 degrees about Z.
    let first = |f: &FrameState| {
        let m = &scene.meshes[tip];
        let v = m.vertex_points.iter().position(|&p| p == 0).expect("vertex");
        f.mesh_vertices[tip_slot].positions[v]
    };
    assert!(close(first(&at0), [0.0, 3.0, 0.0]), "{:?}", first(&at0));
    assert!(close(first(&at1), [-1.0, 2.0, 0.0]), "{:?}", first(&at1));
}

/// Two references to one rig at different layer offsets: each is posed at its own layer time
/// (poses are shared only between skeletons that read their animation at the same layer time).
#[test]
fn referenced_rigs_at_different_offsets_pose_apart() {
    let dir = temp_dir();
    write(
        &dir,
        "rig.usda",
        r#"#usda 1.0
(
    defaultPrim = "Rig"
)
def SkelRoot "Rig" (
    prepend apiSchemas = ["SkelBindingAPI"]
)
{
    rel skel:skeleton = </Rig/Skel>
    def Skeleton "Skel" (
        prepend apiSchemas = ["SkelBindingAPI"]
    )
    {
        uniform token[] joints = ["A"]
        uniform matrix4d[] bindTransforms = [((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,0,0,1))]
        uniform matrix4d[] restTransforms = [((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,0,0,1))]
        rel skel:animationSource = </Rig/Skel/Anim>
        def SkelAnimation "Anim"
        {
            uniform token[] joints = ["A"]
            float3[] translations.timeSamples = {
                0: [(0, 0, 0)],
                10: [(10, 0, 0)],
            }
            quatf[] rotations = [(1, 0, 0, 0)]
            half3[] scales = [(1, 1, 1)]
        }
    }
    def Mesh "Body" (
        prepend apiSchemas = ["SkelBindingAPI"]
    )
    {
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
        point3f[] points = [(0, 0, 0), (1, 0, 0), (0, 1, 0)]
        int[] primvars:skel:jointIndices = [0] (interpolation = "constant")
        float[] primvars:skel:jointWeights = [1] (interpolation = "constant")
    }
}
"#,
    );
    let root = write(
        &dir,
        "crowd.usda",
        r#"#usda 1.0
(
    startTimeCode = 0
    endTimeCode = 20
)
def "A" (
    prepend references = @rig.usda@
)
{
}
def "B" (
    prepend references = @rig.usda@ (offset = 5)
)
{
}
"#,
    );
    let mut stage = LoadedStage::open(&root, &OpenOptions::default()).expect("open");
    let scene = stage.extract(&ExtractOptions::default()).expect("extract");
    let x_of = |state: &FrameState, prim: &str| {
        let m = scene.meshes.iter().position(|m| m.path == prim).expect("mesh");
        let slot = scene
            .dynamic_meshes
            .iter()
            .position(|&d| d as usize == m)
            .expect("skinned");
        let v = scene.meshes[m]
            .vertex_points
            .iter()
            .position(|&p| p == 0)
            .expect("vertex");
        state.mesh_vertices[slot].positions[v][0]
    };
    let skinned = |mut state: FrameState| {
        crate::scene::skinning::skin_pending(&scene, &mut state);
        state
    };
    let at3 = skinned(stage.evaluate(&scene, 3.0).expect("frame 3"));
    let at8 = skinned(stage.evaluate(&scene, 8.0).expect("frame 8"));
    assert!((x_of(&at3, "/A/Body") - 3.0).abs() < 1e-5);
    assert!((x_of(&at8, "/A/Body") - 8.0).abs() < 1e-5);
    // B plays 5 frames late: at stage time 8 it is where A is at 3.
    assert!((x_of(&at8, "/B/Body") - 3.0).abs() < 1e-5, "{}", x_of(&at8, "/B/Body"));
    assert!((x_of(&at3, "/B/Body")).abs() < 1e-5, "before its first sample, held");
}

/// Velocity motion (UsdGeom): between samples, points move by the velocities and accelerations
/// of the sample before, per second of stage time; PointInstancer orientations turn by their
/// angular velocities.
#[test]
fn velocities_and_accelerations_extrapolate_points_and_instances() {
    let (mut stage, scene) = extract(
        r#"#usda 1.0
(
    startTimeCode = 0
    endTimeCode = 5
    timeCodesPerSecond = 24
)
def Mesh "Pointer"
{
    int[] faceVertexCounts = [3]
    int[] faceVertexIndices = [0, 1, 2]
    point3f[] points.timeSamples = {
        0: [(0, 0, 0), (0, 1, 0), (1, 0, 0)],
        5: [(0, 0, 0), (0, 1, 0), (1, 0, 0)],
    }
    vector3f[] velocities.timeSamples = {
        0: [(48, 0, 0), (48, 0, 0), (48, 0, 0)],
        5: [(0, 0, 0), (0, 0, 0), (0, 0, 0)],
    }
    vector3f[] accelerations.timeSamples = {
        0: [(-230.4, 0, 0), (-230.4, 0, 0), (-230.4, 0, 0)],
        5: [(0, 0, 0), (0, 0, 0), (0, 0, 0)],
    }
}
def PointInstancer "Spinner"
{
    point3f[] positions = [(0, 0, 0)]
    quath[] orientations.timeSamples = {
        0: [(1, 0, 0, 0)],
        5: [(1, 0, 0, 0)],
    }
    vector3f[] angularVelocities.timeSamples = {
        0: [(0, 0, 1080)],
        5: [(0, 0, 0)],
    }
    int[] protoIndices = [0]
    rel prototypes = [</Spinner/Proto>]
    def Cube "Proto"
    {
    }
}
"#,
    );
    let state = stage.evaluate(&scene, 1.0).expect("frame 1");
    // One frame is 1/24 s: x = 48/24 - 0.5 * 230.4 / 576 = 1.8.
    let m = scene.meshes.iter().position(|m| m.path == "/Pointer").expect("mesh");
    let slot = scene
        .dynamic_meshes
        .iter()
        .position(|&d| d as usize == m)
        .expect("animated");
    let v = scene.meshes[m]
        .vertex_points
        .iter()
        .position(|&p| p == 0)
        .expect("vertex");
    let x = state.mesh_vertices[slot].positions[v][0];
    assert!((x - 1.8).abs() < 1e-4, "{x}");
    // 1080 degrees a second for 1/24 s: a 45 degree turn about Z.
    let turns = stage.point_instancer_transforms("/Spinner", 1.0).expect("instancer");
    let x_axis = turns[0].transform_vector3(glam::DVec3::X);
    assert!(
        (x_axis - glam::DVec3::new(0.5f64.sqrt(), 0.5f64.sqrt(), 0.0)).length() < 1e-3,
        "{x_axis}"
    );
}

/// Under `--complexity`, spheres and capsules are refined as Catmull-Clark surfaces of their
/// tessellation (Storm's refined sphere is rounder and smaller than its 10 x 10 cage); cylinders
/// and cones keep their tessellation (Storm keeps their rims sharp); level 0 draws the cage.
#[test]
fn refined_spheres_shrink_inside_their_cage_and_cylinders_keep_theirs() {
    let mut stage = open(
        r#"#usda 1.0
def Sphere "Ball"
{
}
def Cylinder "Can"
{
}
"#,
    );
    let reach = |scene: &crate::scene::Scene, prim: &str| {
        let m = scene.meshes.iter().find(|m| m.path == prim).expect("drawn");
        let r = m
            .positions
            .iter()
            .map(|p| (p[0] * p[0] + p[1] * p[1]).sqrt())
            .fold(0.0f32, f32::max);
        (m.indices.len() / 3, r)
    };
    let at = |stage: &mut LoadedStage, refine_level| {
        stage
            .extract(&ExtractOptions {
                refine_level,
                ..Default::default()
            })
            .expect("extract")
    };
    let (cage, refined) = (at(&mut stage, 0), at(&mut stage, 1));
    let ((cage_tris, cage_r), (tris, r)) = (reach(&cage, "/Ball"), reach(&refined, "/Ball"));
    // The tessellation: 10 x 10 quads of two triangles (at the poles one of them degenerate).
    // Refined: its 80 quads and 20 pole triangles become 4 and 3 quads each.
    assert_eq!(cage_tris, 200);
    assert_eq!(tris, (80 * 4 + 20 * 3) * 2);
    assert!((cage_r - 1.0).abs() < 1e-5 && r < 0.99 && r > 0.9, "{cage_r} {r}");
    assert_eq!(reach(&cage, "/Can"), reach(&refined, "/Can"));
}

/// Bad skinning, curve and subdivision data renders what is valid and warns once, naming the
/// prim: weights that do not fit the points, NaN weights, curve widths of the wrong length, a
/// non-manifold subdivision surface refined at a high complexity.
#[test]
fn bad_skinning_curves_and_subdivision_data_warn_and_draw_what_is_valid() {
    let mut stage = open(
        r#"#usda 1.0
def SkelRoot "Root" (
    prepend apiSchemas = ["SkelBindingAPI"]
)
{
    rel skel:skeleton = </Root/Skel>
    def Skeleton "Skel"
    {
        uniform token[] joints = ["A"]
        uniform matrix4d[] bindTransforms = [((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,0,0,1))]
        uniform matrix4d[] restTransforms = [((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,0,0,1))]
    }
    def Mesh "Short" (
        prepend apiSchemas = ["SkelBindingAPI"]
    )
    {
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
        point3f[] points = [(0, 0, 0), (1, 0, 0), (0, 1, 0)]
        int[] primvars:skel:jointIndices = [0, 0] (interpolation = "vertex")
        float[] primvars:skel:jointWeights = [1, 1] (interpolation = "vertex")
    }
    def Mesh "NaN" (
        prepend apiSchemas = ["SkelBindingAPI"]
    )
    {
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
        point3f[] points = [(0, 0, 0), (1, 0, 0), (0, 1, 0)]
        int[] primvars:skel:jointIndices = [0, 0, 0] (interpolation = "vertex")
        float[] primvars:skel:jointWeights = [1, nan, 1] (interpolation = "vertex")
    }
}
def BasisCurves "Hair"
{
    uniform token type = "linear"
    int[] curveVertexCounts = [3]
    point3f[] points = [(0, 0, 0), (0, 1, 0), (0, 2, 0)]
    float[] widths = [0.1, 0.2]
}
def Mesh "Fin"
{
    int[] faceVertexCounts = [4, 4, 4]
    int[] faceVertexIndices = [0, 1, 2, 3, 1, 0, 4, 5, 0, 1, 6, 7]
    point3f[] points = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 0, -1), (0, 0, -1)]
}
"#,
    );
    let scene = stage
        .extract(&ExtractOptions {
            refine_level: 3,
            ..Default::default()
        })
        .expect("extract");
    stage.evaluate(&scene, 0.0).expect("evaluate");
    let warnings = stage.warnings().join("\n");
    for prim in ["/Root/Short", "/Root/NaN", "/Hair"] {
        assert!(warnings.contains(prim), "no warning names {prim}:\n{warnings}");
    }
    for prim in ["/Root/Short", "/Root/NaN", "/Hair", "/Fin"] {
        let m = scene
            .meshes
            .iter()
            .find(|m| m.path == prim)
            .unwrap_or_else(|| panic!("{prim} drawn"));
        assert!(
            m.positions.iter().flatten().all(|x| x.is_finite()),
            "{prim}: finite positions"
        );
    }
    // Three faces on one edge: refined (the edge kept sharp), 3 * 4^3 quads.
    let fin = scene.meshes.iter().find(|m| m.path == "/Fin").expect("fin");
    assert_eq!(fin.indices.len() / 6, 3 * 64);
}

/// Unchanged references are composed once (`shared_references`) and draw exactly what composing
/// each one draws; a reference the stage overrides below, or reaches into, is left alone.
#[test]
fn unchanged_references_are_shared_and_draw_the_same() {
    let dir = temp_dir();
    write(
        &dir,
        "asset.usda",
        r#"#usda 1.0
(defaultPrim = "Asset")
def Xform "Asset" {
    def Mesh "Body" {
        int[] faceVertexCounts = [3]
        int[] faceVertexIndices = [0, 1, 2]
        point3f[] points = [(0,0,0), (1,0,0), (0,1,0)]
        color3f[] primvars:displayColor = [(0, 0, 1)]
    }
}
"#,
    );
    let root = write(
        &dir,
        "stage.usda",
        r#"#usda 1.0
def Xform "World" {
    def Xform "A" (prepend references = @asset.usda@) { double3 xformOp:translate = (2, 0, 0)
        uniform token[] xformOpOrder = ["xformOp:translate"] }
    def Xform "B" (prepend references = @asset.usda@) { double3 xformOp:translate = (4, 0, 0)
        uniform token[] xformOpOrder = ["xformOp:translate"] }
    def Xform "Overridden" (prepend references = @asset.usda@) {
        over "Body" { color3f[] primvars:displayColor = [(1, 0, 0)] }
    }
    def Xform "Reached" (prepend references = @asset.usda@) { double3 xformOp:translate = (6, 0, 0)
        uniform token[] xformOpOrder = ["xformOp:translate"] }
    def Scope "Sets" { rel members = </World/Reached/Body> }
}
"#,
    );
    let unshared = OpenOptions {
        separate_references: true,
        ..OpenOptions::default()
    };
    let picked: Vec<String> = shared_references::candidates(&LoadedStage::open(&root, &unshared).expect("open").stage)
        .iter()
        .map(|p| p.as_str().to_string())
        .collect();
    assert_eq!(picked, ["/World/A", "/World/B"]);

    let draw = |separate: bool| {
        let options = OpenOptions {
            separate_references: separate,
            ..OpenOptions::default()
        };
        let mut stage = LoadedStage::open(&root, &options).expect("open");
        let info = stage.info(&ExtractOptions::default()).expect("info");
        let scene = stage.extract(&ExtractOptions::default()).expect("extract");
        let mut draws: Vec<(String, [f32; 4], [f32; 3])> = scene
            .instances
            .iter()
            .map(|i| {
                let mesh = &scene.meshes[i.mesh as usize];
                (
                    format!("{:?}", mesh.positions),
                    mesh.colors[0],
                    translation(&i.transform).into(),
                )
            })
            .collect();
        draws.sort_by(|a, b| a.2[0].total_cmp(&b.2[0]));
        (scene.meshes.len(), draws, (info.meshes, info.points, info.faces))
    };
    let (shared_meshes, shared, shared_info) = draw(false);
    let (separate_meshes, separate, separate_info) = draw(true);
    assert_eq!(shared, separate);
    assert_eq!(shared_info, separate_info);
    assert_eq!(shared.len(), 4);
    assert_eq!(
        shared[0].1,
        [1.0, 0.0, 0.0, 1.0],
        "the override below a reference is kept"
    );
    // A and B are instances of one prototype: one mesh between them.
    assert!(
        shared_meshes < separate_meshes,
        "{shared_meshes} meshes shared, {separate_meshes} separate"
    );
}

/// A SkelRoot that binds no mesh is bounded by the pivots of the Skeletons below it (UsdSkel's
/// extent function), posed at the frame's time, and at the default time code, where the harness's
/// `-frameAll` bounds it, by the rest pose (the animation has no default values). The bones move
/// with their joints. Expected values from pxr (`UsdGeom.BBoxCache`, `UsdSkel.SkeletonQuery`).
#[test]
fn an_unbound_skel_root_frames_its_skeletons_bones_follow_the_joints() {
    let mut stage = open(
        r#"#usda 1.0
(
    startTimeCode = 1
    endTimeCode = 2
)
def SkelRoot "Root"
{
    double3 xformOp:translate = (10, 0, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
    def Skeleton "Skel" (
        prepend apiSchemas = ["SkelBindingAPI"]
    )
    {
        uniform token[] joints = ["A", "A/B", "A/B/C"]
        uniform matrix4d[] bindTransforms = [((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,0,0,1)), ((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,2,0,1)), ((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,4,0,1))]
        uniform matrix4d[] restTransforms = [((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,0,0,1)), ((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,2,0,1)), ((1,0,0,0),(0,1,0,0),(0,0,1,0),(0,2,0,1))]
        rel skel:animationSource = </Root/Skel/Anim>
        def SkelAnimation "Anim"
        {
            uniform token[] joints = ["A", "A/B", "A/B/C"]
            float3[] translations.timeSamples = { 1: [(0, 0, 0), (0, 2, 0), (0, 2, 0)] }
            quatf[] rotations.timeSamples = { 1: [(1, 0, 0, 0), (0.70710678, 0, 0, 0.70710678), (1, 0, 0, 0)] }
            half3[] scales.timeSamples = { 1: [(1, 1, 1), (1, 1, 1), (1, 1, 1)] }
        }
    }
}
"#,
    );
    let scene = stage
        .extract(&ExtractOptions {
            purposes: vec!["render".into(), "guide".into()],
            time: 1.0,
            default_time_bounds: true,
            ..Default::default()
        })
        .expect("extract");
    let near = |a: glam::DVec3, b: [f64; 3]| (a - glam::DVec3::from(b)).abs().max_element() < 1e-5;
    let (f, d) = (&scene.frame_bounds, &scene.default_frame_bounds);
    assert!(
        near(f.min, [8.0, 0.0, 0.0]) && near(f.max, [10.0, 2.0, 0.0]),
        "at 1: {f:?}"
    );
    assert!(
        near(d.min, [10.0, 0.0, 0.0]) && near(d.max, [10.0, 4.0, 0.0]),
        "at default: {d:?}"
    );
    assert_eq!(scene.default_time_framing_bounds(), d);

    // Bone C (from B to C): its tip on C, its base square (half-width 0.2 along B's x and z at
    // bind) turned with B, in the skeleton's space.
    let bones = scene.meshes.iter().position(|m| m.path == "/Root/Skel").expect("bones");
    let slot = scene
        .dynamic_meshes
        .iter()
        .position(|&m| m as usize == bones)
        .expect("animated");
    let mut frame = stage.evaluate(&scene, 1.0).expect("frame 1");
    // The CPU reference path (the renderer poses the bones on the GPU).
    crate::scene::skinning::skin_pending(&scene, &mut frame);
    let at = |point: u32| {
        let v = scene.meshes[bones]
            .vertex_points
            .iter()
            .position(|&p| p == point)
            .expect("vertex");
        frame.mesh_vertices[slot].positions[v].map(f64::from)
    };
    let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    // Points 0..5 are bone B (from A), 5..10 bone C (from B).
    assert!(close(at(5), [-2.0, 2.0, 0.0]), "tip {:?}", at(5));
    assert!(close(at(6), [0.0, 2.2, 0.2]), "base {:?}", at(6));
    assert!(close(at(8), [0.0, 1.8, -0.2]), "base {:?}", at(8));
    assert!(close(at(0), [0.0, 2.0, 0.0]), "tip of bone B {:?}", at(0));
}

/// UsdImaging hands Storm authored normals only for meshes whose `subdivisionScheme` is `none`;
/// others (the fallback `catmullClark`, refined or not) get smooth normals computed from their
/// points, as the arm in testUsdImagingGLUsdSkel's arm_baked, whose authored normals all
/// point up +Z.
#[test]
fn authored_normals_count_only_on_polygonal_meshes() {
    let quad = |scheme: &str| {
        format!(
            r#"#usda 1.0
def Mesh "M" {{
    int[] faceVertexCounts = [4]
    int[] faceVertexIndices = [0, 1, 2, 3]
    point3f[] points = [(0,0,0), (0,0,1), (1,0,1), (1,0,0)]
    normal3f[] normals = [(0,0,1), (0,0,1), (0,0,1), (0,0,1)] (interpolation = "vertex")
    {scheme}
}}
"#
        )
    };
    let (_, subdivided) = extract(&quad(""));
    let n = &subdivided.meshes[0].normals;
    assert!(
        n.len() == 4 && n.iter().all(|n| (n[1].abs() - 1.0).abs() < 1e-6),
        "catmullClark: computed from the points (along Y): {n:?}"
    );
    let (_, polygonal) = extract(&quad(r#"uniform token subdivisionScheme = "none""#));
    assert!(polygonal.meshes[0].normals.iter().all(|n| *n == [0.0, 0.0, 1.0]));
}

/// The meshes drawn for prim `path` (by the path they are named after), with their materials.
fn drawn_for<'a>(scene: &'a Scene, path: &str) -> Vec<(&'a crate::scene::Mesh, u32)> {
    scene
        .instances
        .iter()
        .filter_map(|i| {
            let m = &scene.meshes[i.mesh as usize];
            (m.path == path).then_some((m, i.material))
        })
        .collect()
}

const DRAW_MODES: &str = r#"#usda 1.0
def Xform "World" (kind = "group")
{
    def Xform "Boxed" (kind = "component" prepend apiSchemas = ["GeomModelAPI"])
    {
        uniform token model:drawMode = "bounds"
        uniform float3 model:drawModeColor = (1, 0, 0)
        double3 xformOp:translate = (10, 0, 0)
        uniform token[] xformOpOrder = ["xformOp:translate"]
        def Sphere "Ball" {
            float3[] extent = [(-1, -1, -1), (1, 1, 1)]
            double3 xformOp:translate = (0, 0, 3)
            uniform token[] xformOpOrder = ["xformOp:translate"]
        }
    }
    def Sphere "Crossed" (kind = "component" prepend apiSchemas = ["GeomModelAPI"])
    {
        float3[] extent = [(-1, -2, -3), (1, 2, 3)]
        uniform token model:drawMode = "cards"
    }
    def Xform "Big" (kind = "assembly" prepend apiSchemas = ["GeomModelAPI"])
    {
        uniform token model:drawMode = "bounds"
        def Sphere "Kept" (kind = "component") {
            uniform token model:drawMode = "default"
        }
    }
    def Xform "Applied" (kind = "assembly" prepend apiSchemas = ["GeomModelAPI"])
    {
        uniform bool model:applyDrawMode = 1
        uniform token model:drawMode = "origin"
        def Sphere "Hidden" {}
    }
    def Xform "NotAModel" (prepend apiSchemas = ["GeomModelAPI"])
    {
        uniform token model:drawMode = "bounds"
        uniform bool model:applyDrawMode = 1
        def Sphere "Drawn" {}
    }
}
"#;

#[test]
fn models_with_a_draw_mode_that_applies_are_drawn_as_stand_ins() {
    let (_, scene) = extract(DRAW_MODES);
    // bounds: the box of the model's bounds in its own space (the child's extent moved up 3),
    // as lines in the draw mode colour; the child is not drawn.
    let boxed = drawn_for(&scene, "/World/Boxed");
    assert_eq!(boxed.len(), 1);
    let (lines, _) = boxed[0];
    assert_eq!(lines.facing, crate::scene::Facing::PixelRibbon);
    for p in &lines.positions {
        assert_eq!((p[0].abs(), p[1].abs()), (1.0, 1.0), "{p:?}");
        assert!(p[2] == 2.0 || p[2] == 4.0, "{p:?}");
    }
    assert_eq!(lines.colors[0], [1.0, 0.0, 0.0, 1.0]);
    assert!(drawn_for(&scene, "/World/Boxed/Ball").is_empty());
    // cards without textures: six quads through the centre, lit as displayColor, in the
    // schema's grey; the sphere itself is not drawn.
    let cards = drawn_for(&scene, "/World/Crossed");
    assert_eq!(cards.len(), 6);
    for (quad, material) in &cards {
        assert_eq!((quad.positions.len(), quad.indices.len(), *material), (4, 6, 0));
        assert_eq!(quad.colors[0], [0.18, 0.18, 0.18, 1.0]);
        // On the extent, through its centre along the quad's own axis.
        for p in &quad.positions {
            assert!(p[0].abs() <= 1.0 && p[1].abs() <= 2.0 && p[2].abs() <= 3.0, "{p:?}");
        }
        let along = quad.normals[0].iter().position(|n| n.abs() > 0.5).expect("an axis");
        assert!(quad.positions.iter().all(|p| p[along].abs() < 1e-3));
    }
    assert!(!scene
        .meshes
        .iter()
        .any(|m| m.path == "/World/Crossed" && m.positions.len() > 4));
    // An assembly applies its draw mode only when told to; its component child resets it.
    assert!(drawn_for(&scene, "/World/Big").is_empty());
    assert!(!drawn_for(&scene, "/World/Big/Kept").is_empty());
    // origin: three unit lines.
    let origin = drawn_for(&scene, "/World/Applied");
    assert_eq!(origin.len(), 1);
    assert!(origin[0].0.positions.iter().all(|p| p.iter().sum::<f32>() <= 1.0));
    assert!(drawn_for(&scene, "/World/Applied/Hidden").is_empty());
    // Only models have draw modes.
    assert!(drawn_for(&scene, "/World/NotAModel").is_empty());
    assert!(!drawn_for(&scene, "/World/NotAModel/Drawn").is_empty());
}

#[test]
fn card_textures_choose_the_axes_and_become_preview_materials() {
    let (_, scene) = extract(
        r#"#usda 1.0
def Xform "World" (kind = "group")
{
    def Cube "Card" (kind = "component" prepend apiSchemas = ["GeomModelAPI"])
    {
        float3[] extent = [(-1, -1, -1), (1, 1, 1)]
        uniform token model:drawMode = "cards"
        uniform token model:cardGeometry = "box"
        uniform float3 model:drawModeColor = (0, 1, 0)
        asset model:cardTextureXPos.timeSamples = { 1: @a.png@, 2: @b.png@ }
    }
}
"#,
    );
    let cards = drawn_for(&scene, "/World/Card");
    // Only the X axis has a texture: its two faces, at the box's sides, share the +X material.
    assert_eq!(cards.len(), 2);
    let xs: Vec<f32> = cards.iter().map(|(q, _)| q.positions[0][0]).collect();
    assert!(xs.contains(&1.0) && xs.contains(&-1.0), "{xs:?}");
    assert_eq!(cards[0].1, cards[1].1);
    let m = &scene.materials[cards[0].1 as usize];
    assert!(m.path.ends_with(".model:cardTextureXPos"), "{}", m.path);
    let lookup = m.diffuse_color.texture().expect("a texture lookup");
    assert_eq!(
        lookup.fallback,
        [0.0, 1.0, 0.0, 1.0],
        "the draw mode colour where unreadable"
    );
    assert_eq!(m.opacity_threshold.value(), Some(0.1));
    assert!(cards.iter().all(|(q, _)| q.uvs.len() == 4));
    // The texture is animated: the material is re-read each frame.
    assert_eq!(scene.dynamic_materials, vec![cards[0].1]);
}

#[test]
fn unloaded_payloads_are_drawn_as_bounds_only_when_asked() {
    let dir = temp_dir();
    write(
        &dir,
        "ball.usda",
        "#usda 1.0\ndef Xform \"Ball\" { def Sphere \"geo\" { float3[] extent = [(-1, -1, -1), (1, 1, 1)] } }\n",
    );
    let root = write(
        &dir,
        "root.usda",
        r#"#usda 1.0
def Xform "World" (kind = "group")
{
    def Xform "Ball" (kind = "component" prepend payload = @./ball.usda@</Ball>)
    {
        float3[] extentsHint = [(-2, -2, -2), (2, 2, 2)]
    }
}
"#,
    );
    let render = |unloaded_as_bounds: bool| {
        let options = OpenOptions {
            unloaded_as_bounds,
            ..OpenOptions::default()
        };
        let mut stage = LoadedStage::open(&root, &options).expect("open");
        stage.extract(&ExtractOptions::default()).expect("extract")
    };
    let loaded = render(false);
    assert!(!drawn_for(&loaded, "/World/Ball/geo").is_empty());
    assert!(drawn_for(&loaded, "/World/Ball").is_empty());
    let unloaded = render(true);
    let boxes = drawn_for(&unloaded, "/World/Ball");
    assert_eq!(boxes.len(), 1);
    assert!(boxes[0].0.positions.iter().all(|p| p.iter().all(|c| c.abs() == 2.0)));
    assert!(drawn_for(&unloaded, "/World/Ball/geo").is_empty());
}

/// Storm's `-shading points` draws a mesh's whole points array: the points of hole faces and of
/// no face too, whatever its GeomSubsets bind (testUsdImagingGLGeomSubsets_Points, whose
/// PolygonMeshTwoHoles lost two faces' points when only drawn faces were turned to points).
#[test]
fn points_shading_draws_every_authored_point() {
    let text = r#"#usda 1.0
def Mesh "M" (
    prepend apiSchemas = ["MaterialBindingAPI"]
)
{
    int[] faceVertexCounts = [3, 3]
    int[] faceVertexIndices = [0, 1, 2, 3, 4, 5]
    int[] holeIndices = [1]
    point3f[] points = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (5, 0, 0), (6, 0, 0), (5, 1, 0), (9, 9, 0)]
    def GeomSubset "First" (
        prepend apiSchemas = ["MaterialBindingAPI"]
    )
    {
        uniform token elementType = "face"
        uniform token familyName = "materialBind"
        int[] indices = [0]
    }
}
"#;
    let mut s = open(text);
    let scene = s
        .extract(&ExtractOptions {
            points_shading: true,
            ..ExtractOptions::default()
        })
        .unwrap();
    let mut centres: Vec<[i32; 3]> = scene
        .meshes
        .iter()
        .inspect(|m| assert_eq!(m.facing, crate::scene::Facing::PixelSprite, "{}", m.path))
        .flat_map(|m| m.positions.iter().map(|p| p.map(|x| x.round() as i32)))
        .collect();
    centres.sort();
    centres.dedup();
    assert_eq!(centres.len(), 7, "one point per authored point: {centres:?}");
    // Without the option the hole face and the loose point draw nothing.
    let (_, surfaces) = extract(text);
    let drawn: usize = surfaces.meshes.iter().map(|m| m.indices.len() / 3).sum();
    assert_eq!(drawn, 1);
}

/// UsdPreviewSurface displacement moves the vertices along their normals in world units, but
/// only through the Material's displacement output (testUsdImagingGLPreviewSurface's
/// Displacement test); a displacement input with the output unconnected moves nothing.
#[test]
fn displacement_moves_vertices_only_through_the_displacement_output() {
    let stage = |connected: &str| {
        format!(
            r#"#usda 1.0
def Material "M" {{
    token outputs:surface.connect = </M/S.outputs:surface>
    {connected}
    def Shader "S" {{
        uniform token info:id = "UsdPreviewSurface"
        float inputs:displacement = 0.5
        token outputs:surface
        token outputs:displacement
    }}
}}
def Mesh "Quad" (prepend apiSchemas = ["MaterialBindingAPI"]) {{
    rel material:binding = </M>
    int[] faceVertexCounts = [4]
    int[] faceVertexIndices = [0, 1, 2, 3]
    point3f[] points = [(0,0,0), (1,0,0), (1,1,0), (0,1,0)]
    double3 xformOp:scale = (2, 2, 2)
    uniform token[] xformOpOrder = ["xformOp:scale"]
}}
"#
        )
    };
    let (_, scene) = extract(&stage(
        "token outputs:displacement.connect = </M/S.outputs:displacement>",
    ));
    // Half a world unit under a scale of 2: a quarter of a unit in the mesh's space.
    assert!(
        scene.meshes[0].positions.iter().all(|p| (p[2] - 0.25).abs() < 1e-6),
        "{:?}",
        scene.meshes[0].positions
    );
    let (_, scene) = extract(&stage(""));
    assert!(scene.meshes[0].positions.iter().all(|p| p[2] == 0.0));
}

/// Topology that changes over time (testUsdImagingGLVaryingTopology): a mesh whose faces change
/// and points whose count changes are rebuilt each frame within the room their samples need
/// (a triangle soup, discs), the unused room collapsed.
#[test]
fn varying_topology_is_rebuilt_each_frame_in_its_load_time_room() {
    let (mut s, scene) = extract(
        r#"#usda 1.0
def Points "P" {
    float3[] points.timeSamples = { 1: [(0, 0, 0)], 2: [(0, 0, 0), (1, 0, 0)], 3: [(1, 0, 0)] }
    float[] widths.timeSamples = { 1: [0.5], 2: [0.3, 0.3], 3: [0.8] }
}
def Mesh "M" {
    int[] faceVertexCounts.timeSamples = { 1: [4], 2: [4, 3], 3: [3] }
    int[] faceVertexIndices.timeSamples = { 1: [0, 1, 2, 3], 2: [0, 1, 2, 3, 4, 5, 6], 3: [0, 1, 2] }
    point3f[] points.timeSamples = {
        1: [(1, 1, 1), (-1, 1, 1), (-1, 1, -1), (1, 1, -1)],
        2: [(1, 1, 1), (-1, 1, 1), (-1, 1, -1), (1, 1, -1), (2, 1, 1), (1, 1, 1), (1.5, 1, 0)],
        3: [(2, 1, 1), (1, 1, 1), (1.5, 1, 0)],
    }
    uniform token subdivisionScheme = "none"
}
"#,
    );
    let slot = |path: &str| {
        scene
            .dynamic_meshes
            .iter()
            .position(|&m| scene.meshes[m as usize].path == path)
            .unwrap_or_else(|| panic!("{path} is not animated"))
    };
    let (points, mesh) = (slot("/P"), slot("/M"));
    // Room for the most at any sample: 3 triangles, 2 discs.
    assert_eq!(scene.meshes[scene.dynamic_meshes[mesh] as usize].indices.len(), 9);
    let triangles = |v: &crate::scene::MeshVertices| {
        v.positions
            .chunks(3)
            .filter(|t| {
                let (a, b, c) = (Vec3::from(t[0]), Vec3::from(t[1]), Vec3::from(t[2]));
                (b - a).cross(c - a).length() > 1e-6
            })
            .count()
    };
    let radii = |v: &crate::scene::MeshVertices| -> Vec<f32> {
        v.normals
            .iter()
            .map(|n| n[0].hypot(n[1]))
            .filter(|r| *r > 0.0)
            .collect()
    };
    for (t, tris, discs, radius) in [(1.0, 2, 1, 0.25), (2.0, 3, 2, 0.15), (3.0, 1, 1, 0.4)] {
        let f = s.evaluate(&scene, t).unwrap();
        assert_eq!(triangles(&f.mesh_vertices[mesh]), tris, "triangles at {t}");
        let r = radii(&f.mesh_vertices[points]);
        assert_eq!(r.len(), discs * 16, "disc rims at {t}");
        assert!(r.iter().all(|x| (x - radius).abs() < 1e-5), "radii at {t}: {r:?}");
    }
    let f3 = s.evaluate(&scene, 3.0).unwrap();
    assert_eq!(f3.mesh_vertices[points].positions[0], [1.0, 0.0, 0.0]);
}

/// `--motion-blur`: the camera's `shutter:open`/`close` and RenderSettings' `disableMotionBlur`
/// are read, and a frame is evaluated at each shutter sample (transforms and the camera move).
#[test]
fn motion_blur_reads_the_shutter_and_evaluates_each_sample() {
    use crate::scene::shutter::{MotionBlur, Sampling, Shutter};
    let text = r#"#usda 1.0
(
    startTimeCode = 0
    endTimeCode = 2
)
def Camera "cam"
{
    double shutter:open = -0.5
    double shutter:close = 0.5
    double3 xformOp:translate.timeSamples = { 0: (0, 0, 10), 2: (2, 0, 10) }
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
def Xform "box"
{
    double3 xformOp:translate.timeSamples = { 0: (0, 0, 0), 2: (4, 0, 0) }
    uniform token[] xformOpOrder = ["xformOp:translate"]
    def Cube "c" {}
}
"#;
    let (mut s, scene) = extract(text);
    assert_eq!(s.camera_shutter(1.0), Shutter { open: -0.5, close: 0.5 });
    assert!(!s.motion_blur_disabled());
    let sampling = Sampling {
        blur: Some(MotionBlur {
            samples: 4,
            shutter: None,
        }),
        frame_length: 1.0,
        stage_disables: false,
    };
    let state = crate::evaluate::frame(&mut s, &scene, 1.0, &sampling).unwrap();
    // Strata midpoints of [0.5, 1.5]: 0.625, 0.875, 1.375, then 1.125 (nearest the centre) last.
    let times = [0.625, 0.875, 1.375, 1.125];
    let samples: Vec<&FrameState> = state.motion.iter().chain([&state]).collect();
    assert_eq!(samples.len(), 4);
    for (sample, t) in samples.iter().zip(times) {
        assert_eq!(sample.frame, t);
        assert!((translation(&sample.instance_transforms[0]).x - 2.0 * t as f32).abs() < 1e-5);
        assert!((sample.camera.to_world.w_axis.x - t).abs() < 1e-9);
    }
    // Without motion blur: one sample, the frame's.
    let plain = crate::evaluate::frame(&mut s, &scene, 1.0, &Sampling::default()).unwrap();
    assert!(plain.motion.is_empty());
    assert_eq!(plain.frame, 1.0);

    for name in ["disableMotionBlur", "instantaneousShutter"] {
        let (s, _) = extract(&format!(
            "{text}def RenderSettings \"rs\" {{ uniform bool {name} = true }}\n"
        ));
        assert!(s.motion_blur_disabled(), "{name}");
    }
    let (s, _) = extract(&format!(
        "{text}def RenderSettings \"rs\" {{ uniform bool disableMotionBlur = false }}\n"
    ));
    assert!(!s.motion_blur_disabled());
    // The framing camera (no camera prim) has USD's instant shutter.
    let (s, _) = extract("#usda 1.0\ndef Cube \"c\" {}\n");
    assert_eq!(s.camera_shutter(1.0), Shutter::INSTANT);
}
