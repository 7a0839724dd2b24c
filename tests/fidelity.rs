//! Fidelity against Pixar's usdrecord baselines (Hydra Storm): openusd/usdrecord/RecordTest renders
//! AnimCube.usda through `main_cam` at 960 px wide. Alpha coverage must overlap the baseline with
//! IoU >= 0.98 per frame; the mean colour difference inside the shared coverage is reported.

mod util;

use std::path::Path;

use util::*;

/// Mean absolute RGB difference (0..255) over pixels both images cover.
fn mean_colour_difference(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for (p, q) in a.pixels().zip(b.pixels()) {
        if p[3] >= 128 && q[3] >= 128 {
            sum += (0..3)
                .map(|c| (p[c] as i32 - q[c] as i32).unsigned_abs() as u64)
                .sum::<u64>();
            n += 3;
        }
    }
    if n == 0 {
        f64::NAN
    } else {
        sum as f64 / n as f64
    }
}

fn render_and_compare(corpus: &Path, name: &str, extra: &[&str], frames: &str, baselines: &[(&str, &str)]) {
    let test_dir = corpus.join("openusd/usdrecord/RecordTest");
    let out = tempdir(name);
    let stage = test_dir.join("AnimCube.usda");
    let mut args = vec![
        "render",
        stage.to_str().unwrap(),
        "-o",
        "AnimCube.#.png",
        "--frames",
        frames,
    ];
    args.extend_from_slice(extra);
    let o = run_in(&out, &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("main_cam"),
        "the log names the camera and its rule: {}",
        text(&o)
    );
    for (ours, theirs) in baselines {
        let a = load_rgba(&out.join(ours));
        let b = load_rgba(&test_dir.join("baseline").join(theirs));
        assert_eq!(a.dimensions(), b.dimensions(), "{ours} vs {theirs}");
        let iou = alpha_iou(&a, &b);
        let diff = mean_colour_difference(&a, &b);
        println!("{name} {ours} vs {theirs}: alpha IoU {iou:.4}, mean colour difference {diff:.1}/255");
        assert!(iou >= 0.98, "{ours}: alpha IoU {iou:.4} < 0.98 against {theirs}");
        assert!(diff.is_finite());
    }
}

#[test]
fn animcube_frames_match_usdrecord_silhouettes() {
    let Some(corpus) = corpus() else { return };
    if !have_adapter() {
        return;
    }
    render_and_compare(
        &corpus,
        "fidelity_animcube",
        &[],
        "1,5,10",
        &[
            ("AnimCube.1.png", "AnimCube.1.png"),
            ("AnimCube.5.png", "AnimCube.5.png"),
            ("AnimCube.10.png", "AnimCube.10.png"),
        ],
    );
}

#[test]
fn session_layer_overrides_display_color_like_usdrecord() {
    let Some(corpus) = corpus() else { return };
    if !have_adapter() {
        return;
    }
    let layer = corpus.join("openusd/usdrecord/RecordTest/overrideDisplayColor.usda");
    render_and_compare(
        &corpus,
        "fidelity_session",
        &["--session-layer", layer.to_str().unwrap()],
        "1",
        &[("AnimCube.1.png", "AnimCube_overrides.1.png")],
    );
    // The override must change the colour: the plain render and the overridden one differ.
    let plain = tempdir("fidelity_session_plain");
    let stage = corpus.join("openusd/usdrecord/RecordTest/AnimCube.usda");
    let o = run_in(
        &plain,
        &[
            "render",
            stage.to_str().unwrap(),
            "-o",
            "AnimCube.#.png",
            "--frames",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let a = load_rgba(&plain.join("AnimCube.1.png"));
    let b = load_rgba(&tempdir_path("fidelity_session").join("AnimCube.1.png"));
    let d = mean_colour_difference(&a, &b);
    assert!(
        d > 10.0,
        "the session layer changed nothing visible (difference {d:.1})"
    );
}

fn tempdir_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// `usdrender fidelity --filter` on one small test: the report has its row with finite figures,
/// the JSON and our image exist, and the committed docs/fidelity.md is left alone.
#[test]
fn fidelity_report_on_one_small_test_has_finite_figures() {
    let Some(corpus) = corpus() else { return };
    if !have_adapter() {
        return;
    }
    let dir = tempdir("fidelity_filter");
    let o = run_in(
        &dir,
        &[
            "fidelity",
            "--corpus",
            corpus.to_str().unwrap(),
            "--out",
            "fid",
            "--filter",
            "testUsdImagingGLSphereWithFloatRadius",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !dir.join("docs").exists(),
        "a filtered run must not write docs/fidelity.md"
    );
    let md = std::fs::read_to_string(dir.join("fid/fidelity.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.contains("| testUsdImagingGLSphereWithFloatRadius | testUsdImagingGLSphere_006.png |"))
        .unwrap_or_else(|| panic!("no row in:\n{md}"));
    assert!(!row.contains("error"), "{row}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fid/fidelity.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "the filter selects one test with one image");
    let r = &rows[0];
    let iou = r["iou"].as_f64().expect("IoU");
    let flip = r["flip_mean"].as_f64().expect("FLIP mean");
    assert!((0.0..=1.0).contains(&iou) && (0.0..=1.0).contains(&flip), "{r}");
    // The sphere is drawn: its silhouette overlaps the baseline's at least a little.
    assert!(iou > 0.1, "{r}");
    assert_eq!(r["mode"], "harness");
    assert!(dir
        .join("fid/openusd/usdImagingGL/testUsdImagingGLSphere/testUsdImagingGLSphereWithFloatRadius/testUsdImagingGLSphere_006.png")
        .is_file());
    assert_eq!(json["summary"]["compared"], 1);
    // A filter that selects nothing is an error, not an empty report.
    let o = run_in(
        &dir,
        &[
            "fidelity",
            "--corpus",
            corpus.to_str().unwrap(),
            "--out",
            "fid2",
            "--filter",
            "no-such-test",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// Runs `usdrender fidelity` on the one test `filter` names (one image) in a fresh folder and
/// asserts its silhouette IoU against Storm's reference is at least `min_iou`.
fn assert_single_image_iou(corpus: &std::path::Path, folder: &str, filter: &str, min_iou: f64) {
    let dir = tempdir(folder);
    let o = run_in(
        &dir,
        &[
            "fidelity",
            "--corpus",
            corpus.to_str().unwrap(),
            "--out",
            "fid",
            "--filter",
            filter,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fid/fidelity.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "one test, one image");
    let iou = rows[0]["iou"].as_f64().expect("IoU");
    assert!(iou >= min_iou, "{}", rows[0]);
}

/// testUsdImagingGLFraming_4 draws framing.usda's camera through a display window with pixels
/// 1.5 times as wide as high (`-pixelAspectRatio 1.5`): its silhouette must match Storm's. It
/// scored 0.013 while the GPU fitted every window to square pixels again.
#[test]
fn framing_with_wide_pixels_matches_storm() {
    let Some(corpus) = corpus() else { return };
    if !have_adapter() {
        return;
    }
    // Set on Vulkan/llvmpipe, where it scores 0.9985.
    assert_single_image_iou(&corpus, "fidelity_framing_4", "testUsdImagingGLFraming_4", 0.98);
}

/// testUsdImagingGLFramingEmbree_5's reference comes from HdEmbree with one unjittered ray per
/// pixel, through the pixel's lower-left corner: one sample per pixel, the window moved by half
/// a pixel, must match its silhouette. It scored 0.94 with 4x MSAA at the pixel centres.
#[test]
fn embree_framing_matches_one_ray_per_pixel() {
    let Some(corpus) = corpus() else { return };
    if !have_adapter() {
        return;
    }
    // Set on Vulkan/llvmpipe, where it scores 0.9940.
    assert_single_image_iou(
        &corpus,
        "fidelity_framing_embree_5",
        "testUsdImagingGLFramingEmbree_5",
        0.98,
    );
}

/// Discovery finds every usdImagingGL test and reference image listed in the corpus' TESTS.json
/// files, plus usdrecord's and usd-wg's, and can read every one's arguments (no GPU needed).
#[test]
fn fidelity_discovers_every_test_with_a_reference_image() {
    let Some(corpus) = corpus() else { return };
    let cases = usdrender::fidelity::discover(&corpus).expect("discover");
    let gl = corpus.join("openusd/usdImagingGL");
    let (mut tests, mut images) = (0, 0);
    for entry in std::fs::read_dir(&gl).unwrap() {
        let json = entry.unwrap().path().join("TESTS.json");
        if let Ok(text) = std::fs::read_to_string(&json) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            for t in v["tests"].as_array().unwrap() {
                tests += 1;
                images += t["baseline_images"].as_array().unwrap().len();
            }
        }
    }
    assert!(tests > 0, "no TESTS.json under {}", gl.display());
    let harness: Vec<_> = cases
        .iter()
        .filter(|c| c.suite.starts_with("openusd/usdImagingGL/"))
        .collect();
    assert_eq!(harness.len(), tests);
    assert_eq!(harness.iter().map(|c| c.shots.len()).sum::<usize>(), images);
    // Every harness test parses and names each of its references by a time or complexity.
    for c in &harness {
        assert!(c.problem.is_none(), "{}: {:?}", c.id(), c.problem);
        for s in &c.shots {
            assert!(s.baseline.is_file(), "{}", s.baseline.display());
        }
    }
    let multi = harness
        .iter()
        .find(|c| c.test == "testUsdImagingGLVelocityMotion")
        .expect("VelocityMotion");
    let times: Vec<Option<f64>> = multi.shots.iter().map(|s| s.time).collect();
    assert_eq!(times, [Some(1.0), Some(2.5), Some(4.0)]);
    assert!(multi.missing_features().contains(&"wireframe"));
    assert!(
        !multi.missing_features().contains(&"velocity-motion"),
        "velocity motion is drawn"
    );
    // usdrecord's AnimCube frames, and usd-wg's screenshots with a stage beside them.
    assert!(cases
        .iter()
        .any(|c| c.test == "testUsdRecordMultipleFrames" && c.problem.is_none() && c.shots.len() == 3));
    let wg: Vec<_> = cases.iter().filter(|c| c.suite.starts_with("usd-wg/")).collect();
    assert!(wg.len() >= 50, "{} usd-wg screenshots", wg.len());
    assert!(wg.iter().all(|c| c.problem.is_none()), "a screenshot without its stage");
}
