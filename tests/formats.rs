//! End-to-end tests of output formats and job files through the `usdrender` binary: PNG 8/16-bit,
//! JPEG quality, EXR precision/compression/AOV layers, TIFF, AOV side files, `--job` files, and
//! `--skip-existing` over a frame's AOV files. Images stay tiny: lavapipe is slow.

mod util;

use std::fs;
use std::path::Path;

use util::*;

fn scene() -> String {
    repo().join("scenes/default.usda").to_string_lossy().into_owned()
}

/// Renders frame 1 of the default scene into `dir` with `extra` flags; panics with the log on failure.
fn render(dir: &Path, output: &str, extra: &[&str]) -> String {
    let s = scene();
    let mut args = vec!["render", &s, "-o", output, "--frames", "1"];
    if !extra.contains(&"--width") {
        args.extend(["--width", "48"]);
    }
    args.extend_from_slice(extra);
    let o = run_in(dir, &args);
    assert!(o.status.success(), "{}", text(&o));
    text(&o)
}

fn layers(path: &Path) -> Vec<(String, Vec<String>)> {
    let img = exr::prelude::read_all_flat_layers_from_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    img.layer_data
        .iter()
        .map(|l| {
            (
                l.attributes
                    .layer_name
                    .as_ref()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                l.channel_data.list.iter().map(|c| c.name.to_string()).collect(),
            )
        })
        .collect()
}

/// How far (in 8-bit levels) a 16-bit file, encoded from the linear float render, may be from the
/// 8-bit PNG at a pixel of alpha `a`. The 8-bit path resolves premultiplied sRGB bytes and divides
/// by alpha afterwards, so its half-level rounding grows by 255 / a at partially covered pixels
/// (2 levels seen at a = 64 on lavapipe); the float path divides before rounding.
fn edge_tolerance(a: u8) -> u8 {
    if a == 255 || a == 0 {
        1
    } else {
        1 + (255u32.div_ceil(a as u32)).min(254) as u8
    }
}

#[test]
fn every_format_decodes_at_the_right_size_with_the_same_coverage() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("formats_all");
    for (name, extra) in [
        ("f.png", &[][..]),
        ("f.jpg", &[][..]),
        ("f.exr", &[][..]),
        ("f.tif", &[][..]),
        ("f16.tif", &["--bit-depth", "16"][..]),
        ("f16.png", &["--bit-depth", "16"][..]),
    ] {
        render(&dir, name, extra);
    }
    let png = load_rgba(&dir.join("f.png"));
    assert_eq!(png.dimensions(), (48, 27));
    assert!(png.pixels().any(|p| p[3] == 255) && png.pixels().any(|p| p[3] == 0));
    for name in ["f.jpg", "f.exr", "f.tif", "f16.tif", "f16.png"] {
        let img = image::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((img.width(), img.height()), (48, 27), "{name}");
        if name.ends_with("tif") || name.ends_with("png") {
            // 16-bit files hold the 8-bit image to within a level where the PNG is opaque, and to
            // within its own unpremultiply error at edges (see `edge_tolerance`).
            let back = img.to_rgba8();
            for (a, b) in back.pixels().zip(png.pixels()) {
                let tol = edge_tolerance(b[3]);
                assert!(
                    (0..4).all(|c| a[c].abs_diff(b[c]) <= tol),
                    "{name}: {a:?} vs the PNG's {b:?} (+-{tol})"
                );
            }
        }
    }
    assert_eq!(
        image::open(dir.join("f16.png")).unwrap().color(),
        image::ColorType::Rgba16
    );
    assert_eq!(
        image::open(dir.join("f16.tif")).unwrap().color(),
        image::ColorType::Rgba16
    );
    // EXR keeps alpha (coverage as the PNG's).
    let exr = image::open(dir.join("f.exr")).unwrap().to_rgba32f();
    for (e, p) in exr.pixels().zip(png.pixels()) {
        assert!(
            (e[3] - p[3] as f32 / 255.0).abs() < 2.0 / 255.0,
            "alpha {} vs {}",
            e[3],
            p[3]
        );
    }
}

#[test]
fn an_odd_width_16_bit_png_has_every_row() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("formats_odd16");
    render(&dir, "f.png", &["--width", "333"]);
    render(&dir, "f16.png", &["--width", "333", "--bit-depth", "16"]);
    let eight = load_rgba(&dir.join("f.png"));
    let sixteen = image::open(dir.join("f16.png")).unwrap().to_rgba16();
    assert_eq!(sixteen.dimensions(), (333, 187));
    // Row padding mistakes shear the image: compare every pixel.
    for (a, b) in sixteen.pixels().zip(eight.pixels()) {
        // Plus half a level: the 8-bit value itself is rounded.
        let tol = edge_tolerance(b[3]) as i32 * 257 + 129;
        for c in 0..4 {
            assert!((a[c] as i32 - b[c] as i32 * 257).abs() <= tol, "{a:?} vs {b:?}");
        }
    }
    // Encoded from the linear render, not widened from 8 bits: levels between the 8-bit ones.
    assert!(
        sixteen.as_raw().iter().any(|v| v % 257 != 0),
        "16-bit PNG holds only 8-bit levels"
    );
}

#[test]
fn exr_precision_and_compression_flags_reach_the_file() {
    if !have_adapter() {
        return;
    }
    use exr::prelude::{Compression, SampleType};
    let dir = tempdir("formats_exr");
    for (precision, compression, expected) in [
        ("half", "none", Compression::Uncompressed),
        ("half", "zip", Compression::ZIP16),
        ("float", "piz", Compression::PIZ),
        ("half", "dwaa", Compression::DWAA(None)),
    ] {
        let name = format!("{precision}-{compression}.exr");
        render(
            &dir,
            &name,
            &["--exr-precision", precision, "--exr-compression", compression],
        );
        let meta = exr::meta::MetaData::read_from_file(dir.join(&name), false).unwrap();
        let header = &meta.headers[0];
        assert_eq!(
            std::mem::discriminant(&header.compression),
            std::mem::discriminant(&expected),
            "{name}"
        );
        let want = if precision == "half" {
            SampleType::F16
        } else {
            SampleType::F32
        };
        assert!(header.channels.list.iter().all(|c| c.sample_type == want), "{name}");
        let img = image::open(dir.join(&name)).unwrap().to_rgba32f();
        assert!(img.pixels().any(|p| p[3] > 0.99), "{name}: something is drawn");
    }
}

#[test]
fn jpeg_quality_flag_changes_the_file_size() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("formats_jpeg");
    render(&dir, "q20.jpg", &["--quality", "20"]);
    render(&dir, "q98.jpg", &["--quality", "98"]);
    let size = |n: &str| fs::metadata(dir.join(n)).unwrap().len();
    assert!(
        size("q20.jpg") < size("q98.jpg"),
        "{} vs {}",
        size("q20.jpg"),
        size("q98.jpg")
    );
    let o = run_in(&dir, &["render", &scene(), "-o", "x.jpg", "--quality", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn format_options_that_contradict_the_format_are_usage_errors() {
    let dir = tempdir("formats_bad");
    for (args, needle) in [
        (&["-o", "f.jpg", "--bit-depth", "16"][..], "--bit-depth"),
        (&["-o", "f.png", "--bit-depth", "12"][..], "--bit-depth"),
        (&["-o", "f.exr", "--aov", "albedo"][..], "albedo"),
        (&["-o", "f.exr", "--exr-compression", "b44"][..], "b44"),
    ] {
        let s = scene();
        let all = [&["render", &s][..], args].concat();
        let o = run_in(&dir, &all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
    }
}

#[test]
fn aovs_become_exr_layers_or_side_files_named_after_the_beauty() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("formats_aov");
    render(&dir, "l.####.exr", &["--aov", "depth,normal,primId,instanceId"]);
    assert_eq!(
        layers(&dir.join("l.0001.exr")),
        [
            (
                "rgba".to_string(),
                vec!["A".to_string(), "B".into(), "G".into(), "R".into()]
            ),
            ("depth".into(), vec!["Z".into()]),
            ("normal".into(), vec!["N.x".into(), "N.y".into(), "N.z".into()]),
            ("primId".into(), vec!["primId".into()]),
            ("instanceId".into(), vec!["instanceId".into()]),
        ]
    );
    // The layers carry the renderer's values: depth finite on the scene and +inf on the
    // background, ids exact (mesh indices, or u32::MAX on the background).
    let img = exr::prelude::read_all_flat_layers_from_file(dir.join("l.0001.exr")).expect("read l.0001.exr");
    let samples = |layer: &str| {
        let l = img
            .layer_data
            .iter()
            .find(|l| l.attributes.layer_name.as_ref().is_some_and(|n| n.eq(layer)))
            .unwrap_or_else(|| panic!("no {layer} layer"));
        l.channel_data.list[0].sample_data.clone()
    };
    match samples("depth") {
        exr::prelude::FlatSamples::F32(z) => {
            assert!(z.iter().any(|v| v.is_finite() && *v > 0.0), "depth: no surface");
            assert!(z.contains(&f32::INFINITY), "depth: no background");
        }
        other => panic!("depth is not f32: {other:?}"),
    }
    match samples("primId") {
        exr::prelude::FlatSamples::U32(ids) => {
            assert!(ids.contains(&u32::MAX), "primId: no background");
            assert!(ids.iter().any(|&v| v < 1000), "primId: no mesh");
        }
        other => panic!("primId is not u32: {other:?}"),
    }
    render(
        &dir,
        "s.####.exr",
        &["--aov", "depth,primId", "--aov-files", "separate"],
    );
    render(&dir, "p.####.png", &["--aov", "normal"]);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "l.0001.exr",
            "p.0001.normal.exr",
            "p.0001.png",
            "s.0001.depth.exr",
            "s.0001.exr",
            "s.0001.primId.exr"
        ]
    );
    assert_eq!(
        layers(&dir.join("s.0001.depth.exr")),
        [("depth".to_string(), vec!["Z".to_string()])]
    );
    assert_eq!(
        layers(&dir.join("s.0001.exr")).len(),
        1,
        "separate: the beauty has no AOV layers"
    );
}

#[test]
fn skip_existing_renders_again_a_frame_whose_aov_file_is_missing() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("formats_skip_aov");
    let s = scene();
    let args = ["render", &s, "-o", "f.####.png", "--frames", "1-2", "--width", "32"];
    let with_aov = [&args[..], &["--aov", "depth", "--skip-existing"]].concat();
    let o = run_in(&dir, &with_aov);
    assert!(o.status.success(), "{}", text(&o));
    // Without AOVs asked for, the beauty alone makes the frames complete.
    let o = run_in(&dir, &[&args[..], &["--skip-existing"]].concat());
    assert!(text(&o).contains("0 frame(s) written, 2 skipped"), "{}", text(&o));
    // With them, a frame whose depth file is gone is rendered again; the other is skipped.
    assert!(dir.join("f.0001.depth.exr").is_file() && dir.join("f.0002.depth.exr").is_file());
    fs::remove_file(dir.join("f.0002.depth.exr")).unwrap();
    let o = run_in(&dir, &with_aov);
    assert!(text(&o).contains("1 frame(s) written, 1 skipped"), "{}", text(&o));
    assert!(dir.join("f.0002.depth.exr").is_file());
    // A damaged side file counts as missing too.
    fs::write(dir.join("f.0001.depth.exr"), b"v/1\x01 not an image").unwrap();
    let o = run_in(&dir, &with_aov);
    assert!(text(&o).contains("1 frame(s) written, 1 skipped"), "{}", text(&o));
}

#[test]
fn a_job_file_renders_what_the_flags_render_and_the_command_line_wins() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("formats_job");
    fs::create_dir_all(dir.join("jobs")).unwrap();
    fs::copy(scene(), dir.join("jobs/scene.usda")).unwrap();
    // Relative paths are relative to the file's folder.
    fs::write(
        dir.join("jobs/shot.toml"),
        "stage = \"scene.usda\"\noutput = \"out/f.####.png\"\nframes = \"1-2\"\nwidth = 32\npurposes = [\"render\"]\noverwrite = true\n",
    )
    .unwrap();
    let o = run_in(&dir, &["render", "--job", "jobs/shot.toml"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run_in(
        &dir,
        &[
            "render",
            &scene(),
            "-o",
            "flags/f.####.png",
            "--frames",
            "1-2",
            "--width",
            "32",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    for f in ["f.0001.png", "f.0002.png"] {
        let (a, b) = (
            load_rgba(&dir.join("jobs/out").join(f)),
            load_rgba(&dir.join("flags").join(f)),
        );
        assert_eq!(a.dimensions(), (32, 18));
        assert!(a == b, "{f}: the job file renders what the flags render");
    }
    // A flag beats the file's key; --skip-existing beats the file's conflicting `overwrite`.
    let o = run_in(
        &dir,
        &["render", "--job", "jobs/shot.toml", "--width", "16", "--frames", "3"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(load_rgba(&dir.join("jobs/out/f.0003.png")).dimensions(), (16, 9));
    let o = run_in(&dir, &["render", "--job", "jobs/shot.toml", "--skip-existing"]);
    assert!(text(&o).contains("0 frame(s) written, 2 skipped"), "{}", text(&o));
    // An unknown key is an error naming the key and the file.
    fs::write(dir.join("jobs/bad.toml"), "stage = \"scene.usda\"\nwidht = 32\n").unwrap();
    let o = run_in(&dir, &["render", "--job", "jobs/bad.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("widht") && text(&o).contains("bad.toml"),
        "{}",
        text(&o)
    );
    // A value of the wrong kind names the file too.
    fs::write(dir.join("jobs/bad.toml"), "stage = \"scene.usda\"\nwidth = \"wide\"\n").unwrap();
    let o = run_in(&dir, &["render", "--job", "jobs/bad.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("bad.toml") && text(&o).contains("wide"),
        "{}",
        text(&o)
    );
}

#[test]
fn without_a_job_file_the_stage_is_required() {
    let dir = tempdir("formats_nostage");
    let o = run_in(&dir, &["render", "-o", "f.png"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("STAGE"), "{}", text(&o));
    let o = run_in(&dir, &["render", "--job", "missing.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("missing.toml"), "{}", text(&o));
}
