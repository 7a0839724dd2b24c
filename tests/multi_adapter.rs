//! Several adapters on a GPU-less box (lavapipe on Vulkan and llvmpipe on GL are two adapters with
//! `--all-backends`): the bench report's shape and figures, every frame rendered exactly once across
//! adapters, and the same frame from each adapter is the same image.

mod util;

use std::collections::BTreeMap;
use std::fs;

use util::*;

fn scene() -> String {
    repo().join("scenes/default.usda").to_string_lossy().into_owned()
}

/// Every number in a figures object is positive and finite (gpu_ms_median may be null).
fn check_figures(f: &serde_json::Value, what: &str) {
    for key in ["fps", "ms_median", "ms_p95"] {
        let v = f[key].as_f64().unwrap_or_else(|| panic!("{what}.{key} missing: {f}"));
        assert!(v.is_finite() && v > 0.0, "{what}.{key} = {v}");
    }
    assert!(f["frames"].as_u64().unwrap_or(0) > 0, "{what}.frames: {f}");
    if let Some(g) = f["gpu_ms_median"].as_f64() {
        assert!(g.is_finite() && g > 0.0, "{what}.gpu_ms_median = {g}");
    }
}

#[test]
fn bench_report_has_every_figure_positive_for_each_adapter_and_together() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("multi_bench");
    let o = run_in(
        &dir,
        &[
            "-q",
            "bench",
            &scene(),
            "--res",
            "32x18",
            "--warmup",
            "2",
            "--count",
            "6",
            "--all-backends",
            "--json",
            "report.json",
            "--scratch",
            "scratch",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("scaling (together / sum of alone)"), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    for key in [
        "usdrender",
        "machine",
        "settings",
        "scene",
        "adapters",
        "runs",
        "scaling",
    ] {
        assert!(!r[key].is_null(), "report has no {key}");
    }
    assert!(r["scene"]["triangles_per_frame"].as_u64().unwrap() > 0);
    let adapters = r["adapters"].as_array().unwrap().len();
    let runs = r["runs"].as_array().unwrap();
    if adapters < 2 {
        eprintln!("only one adapter here: no together run to check");
        assert_eq!(runs.len(), 1);
    } else {
        assert_eq!(runs.len(), adapters + 1, "each adapter alone, then together");
        assert_eq!(runs.iter().filter(|r| r["mode"] == "alone").count(), adapters);
        assert_eq!(runs.last().unwrap()["mode"], "together");
        for key in ["render_only", "render_readback", "end_to_end"] {
            let s = r["scaling"][key].as_f64().unwrap();
            assert!(s.is_finite() && s > 0.0, "scaling.{key} = {s}");
        }
    }
    for (i, run) in runs.iter().enumerate() {
        for key in ["render_only", "render_readback", "end_to_end"] {
            check_figures(&run[key], &format!("runs[{i}].{key}"));
        }
    }
    assert!(!dir.join("scratch").exists(), "the scratch folder is removed");
    // --compare reads the report back and prints ratios.
    let o = run_in(
        &dir,
        &[
            "-q",
            "bench",
            &scene(),
            "--res",
            "32x18",
            "--warmup",
            "1",
            "--count",
            "3",
            "--no-end-to-end",
            "--compare",
            "report.json",
        ],
    );
    assert!(
        o.status.success() && text(&o).contains("ratios new / old"),
        "{}",
        text(&o)
    );
}

#[test]
fn frames_spread_over_two_adapters_are_each_rendered_once() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("multi_render");
    let o = run_in(
        &dir,
        &[
            "render",
            &scene(),
            "-o",
            "f.####.png",
            "--frames",
            "1-24",
            "--width",
            "32",
            "--all-backends",
            "--frame-log",
            "log.jsonl",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut per_frame: BTreeMap<i64, usize> = BTreeMap::new();
    let mut adapters = std::collections::BTreeSet::new();
    for line in fs::read_to_string(dir.join("log.jsonl")).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["status"], "ok", "{line}");
        *per_frame.entry(v["frame"].as_f64().unwrap() as i64).or_default() += 1;
        adapters.insert(v["adapter"].as_str().unwrap().to_string());
    }
    assert_eq!(
        per_frame.keys().copied().collect::<Vec<_>>(),
        (1..=24).collect::<Vec<_>>()
    );
    assert!(
        per_frame.values().all(|&n| n == 1),
        "a frame was rendered twice: {per_frame:?}"
    );
    println!("adapters that took frames: {adapters:?}");
}

#[test]
fn the_same_frame_from_two_adapters_is_the_same_image() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("multi_same");
    let listing = bin().args(["adapters", "--all-backends"]).output().unwrap();
    let count = String::from_utf8_lossy(&listing.stdout).lines().count();
    if count < 2 {
        eprintln!("one adapter only: nothing to compare");
        return;
    }
    for i in 0..2 {
        let o = run_in(
            &dir,
            &[
                "render",
                &scene(),
                "-o",
                &format!("a{i}/f.####.png"),
                "--frames",
                "1,24",
                "--width",
                "96",
                "--all-backends",
                "--adapters",
                &i.to_string(),
            ],
        );
        assert!(o.status.success(), "adapter {i}: {}", text(&o));
    }
    // Vulkan lavapipe and GL llvmpipe rasterise alike; allow a few edge pixels (see docs/ci.md).
    let o = run_in(
        &dir,
        &[
            "compare",
            "a0/f.####.png",
            "a1/f.####.png",
            "--fail",
            "0.1",
            "--failpercent",
            "0.5",
            "--iou-fail",
            "0.99",
            "--no-diff",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}
