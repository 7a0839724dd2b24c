//! Stage tests over small usda stages written to temporary files: extraction, instancing,
//! camera rules, timing and per-frame evaluation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use glam::{Mat4, Vec3};

use super::*;
use crate::scene::CameraRule;

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
    // leftHanded: USD's CCW-in-XY order is flipped, so every triangle faces -Z.
    for t in holey.indices.chunks_exact(3) {
        let [a, b, c] = [t[0], t[1], t[2]].map(|i| Vec3::from(holey.positions[i as usize]));
        assert!((b - a).cross(c - a).z < 0.0);
    }
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
def Xform "A" (instanceable = true; references = </Asset>) {
    double3 xformOp:translate = (5, 0, 0)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
def Xform "B" (instanceable = true; references = </Asset>) {
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
def Xform "A" (instanceable = true; references = </Asset>) {}
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
    };
    let mut s = LoadedStage::open(&root, &options).unwrap();
    let scene = s.extract(&ExtractOptions::default()).unwrap();
    assert_eq!(scene.bounds.size(), glam::DVec3::splat(10.0));
    let missing = OpenOptions {
        session_layer: Some(dir.join("nope.usda")),
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
}
"#,
    );
    assert_eq!(scene.meshes[0].normals[0], [0.0, 0.0, 1.0]);
    let f = s.evaluate(&scene, 10.0).unwrap();
    assert!(f.mesh_vertices[0].normals.iter().all(|n| *n == [1.0, 0.0, 0.0]));
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
