//! End-to-end tests of `usdrender compare`: images made here, compared through the binary; exit
//! codes, the table, the JSON and JUnit reports, heat maps, and the thresholds at their edges.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::{Rgba, RgbaImage};
use serde_json::Value;

/// A fresh, empty folder under target/ for one test.
fn tempdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compare").join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `usdrender compare ARGS` in `dir`.
fn compare(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usdrender"))
        .current_dir(dir)
        .arg("compare")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run usdrender")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

/// A 16x16 opaque dark-grey image with a white pixel at (x, y).
fn dot(x: u32, y: u32) -> RgbaImage {
    let mut img = RgbaImage::from_pixel(16, 16, Rgba([20, 20, 20, 255]));
    img.put_pixel(x, y, Rgba([255, 255, 255, 255]));
    img
}

fn save(img: &RgbaImage, path: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save(path).unwrap();
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// Metrics of the report's only frame.
fn only_frame(report: &Value) -> &Value {
    let frames = report["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 1, "{report:#}");
    &frames[0]
}

#[test]
fn identical_images_pass_with_zero_difference() {
    let d = tempdir("identical");
    for f in 1..=3 {
        save(&dot(f, 4), &d.join(format!("out/f.{f:04}.png")));
        save(&dot(f, 4), &d.join(format!("ref/f.{f:04}.png")));
    }
    let o = compare(&d, &["out", "ref", "--json", "r.json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("PASS: 3 frame(s)"),
        "{}",
        text(&o)
    );
    let r = json(&d.join("r.json"));
    assert_eq!(r["summary"]["passed"], 3);
    for f in r["frames"].as_array().unwrap() {
        let m = &f["metrics"];
        assert_eq!(
            (m["flip_mean"].as_f64(), m["flip_max"].as_f64()),
            (Some(0.0), Some(0.0))
        );
        assert_eq!(m["max_diff"], 0);
        // Infinite PSNR is null in JSON.
        assert!(m["psnr"].is_null(), "{m}");
        assert_eq!(f["verdict"], "pass");
    }
    assert!(!d.join("compare-diff").exists(), "no heat maps for passing frames");
}

#[test]
fn one_pixel_shift_fails_with_its_metrics_and_a_heat_map() {
    let d = tempdir("shift");
    save(&dot(6, 5), &d.join("actual.png"));
    save(&dot(5, 5), &d.join("expected.png"));
    let o = compare(&d, &["actual.png", "expected.png", "--json", "reports/r.json"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let r = json(&d.join("reports/r.json"));
    let f = only_frame(&r);
    assert_eq!(f["verdict"], "fail");
    let m = &f["metrics"];
    assert_eq!(m["max_diff"], 235);
    // Two pixels of 256 differ: where the dot was and where it is.
    assert_eq!(m["pixels_over_fail"], 2);
    assert_eq!(m["percent_over_fail"].as_f64(), Some(0.78125));
    // MSE = 2 pixels x 3 channels x 235^2 / (256 x 4 samples).
    let psnr = 10.0 * (255.0f64.powi(2) / (6.0 * 235.0f64.powi(2) / 1024.0)).log10();
    assert!((m["psnr"].as_f64().unwrap() - psnr).abs() < 1e-9, "{m}");
    // FLIP's spatial filter spreads a one-pixel dot: a clearly visible but small mean error.
    let (mean, max) = (m["flip_mean"].as_f64().unwrap(), m["flip_max"].as_f64().unwrap());
    assert!((0.01..0.1).contains(&mean) && (0.3..=1.0).contains(&max), "{m}");
    assert!(m["flip_p95"].as_f64() <= m["flip_p99"].as_f64() && m["flip_p99"].as_f64() <= Some(max));
    // The heat map goes beside the report by default and has the image's size.
    let heat = d.join("reports/compare-diff/actual.diff.png");
    assert_eq!(
        f["diff_image"].as_str().map(PathBuf::from),
        Some(heat.strip_prefix(&d).unwrap().to_path_buf())
    );
    assert_eq!(image::open(&heat).unwrap().to_rgb8().dimensions(), (16, 16));
}

#[test]
fn colour_change_fails_with_the_expected_max_diff() {
    let d = tempdir("colour");
    let expected = RgbaImage::from_pixel(8, 8, Rgba([100, 150, 200, 255]));
    let mut actual = expected.clone();
    for y in 2..6 {
        for x in 2..6 {
            actual.put_pixel(x, y, Rgba([130, 150, 190, 255]));
        }
    }
    save(&actual, &d.join("a/img.png"));
    save(&expected, &d.join("b/img.png"));
    let o = compare(&d, &["a", "b", "--json", "r.json", "--no-diff"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let r = json(&d.join("r.json"));
    let m = &only_frame(&r)["metrics"];
    assert_eq!(m["max_diff"], 30);
    assert_eq!(m["pixels_over_fail"], 16);
    assert_eq!(m["percent_over_fail"].as_f64(), Some(25.0));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("16 pixels (25.0000%) differ by more than 0"),
        "{}",
        text(&o)
    );
    assert!(!d.join("compare-diff").exists(), "--no-diff writes none");
    // 30/255 = 0.1176: a fail threshold of 0.12 lets it pass, with a warning (warn stays at 0).
    let o = compare(&d, &["a", "b", "--fail", "0.12"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("PASS with warnings"),
        "{}",
        text(&o)
    );
}

#[test]
fn pixel_threshold_at_the_edge_passes_and_just_over_fails() {
    let d = tempdir("edge_pixel");
    let base = RgbaImage::from_pixel(4, 4, Rgba([0, 0, 0, 255]));
    save(&base, &d.join("ref.png"));
    // 0.2 is 51/255: a difference of exactly 51 is at the threshold.
    save(&RgbaImage::from_pixel(4, 4, Rgba([51, 0, 0, 255])), &d.join("at.png"));
    save(&RgbaImage::from_pixel(4, 4, Rgba([52, 0, 0, 255])), &d.join("over.png"));
    let o = compare(&d, &["at.png", "ref.png", "--fail", "0.2", "--warn", "0.2"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("PASS: 1 frame(s)"),
        "{}",
        text(&o)
    );
    let o = compare(&d, &["over.png", "ref.png", "--fail", "0.2", "--warn", "0.2"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // --hardfail has the same edge.
    let loose = ["--fail", "1", "--warn", "1", "--hardfail"];
    let o = compare(&d, &[&["at.png", "ref.png"][..], &loose, &["0.2"]].concat());
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = compare(&d, &[&["over.png", "ref.png"][..], &loose, &["0.2"]].concat());
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("hard limit"), "{}", text(&o));
}

#[test]
fn percentage_at_the_edge_passes_and_just_over_fails() {
    let d = tempdir("edge_percent");
    let base = RgbaImage::from_pixel(10, 10, Rgba([0, 0, 0, 255]));
    let mut one = base.clone();
    one.put_pixel(3, 3, Rgba([200, 0, 0, 255]));
    save(&base, &d.join("ref.png"));
    save(&one, &d.join("one.png"));
    // One pixel of 100 is exactly 1%.
    let o = compare(&d, &["one.png", "ref.png", "--failpercent", "1"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = compare(&d, &["one.png", "ref.png", "--failpercent", "0.99"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // The warn pair behaves alike and never fails the run.
    let o = compare(&d, &["one.png", "ref.png", "--fail", "1", "--warnpercent", "1"]);
    assert!(
        code(&o) == 0 && String::from_utf8_lossy(&o.stdout).contains("PASS: 1"),
        "{}",
        text(&o)
    );
    let o = compare(&d, &["one.png", "ref.png", "--fail", "1", "--warnpercent", "0.5"]);
    assert!(
        code(&o) == 0 && String::from_utf8_lossy(&o.stdout).contains("PASS with warnings"),
        "{}",
        text(&o)
    );
}

#[test]
fn flip_limit_fails_a_frame_over_it() {
    let d = tempdir("flip");
    save(&dot(6, 5), &d.join("a.png"));
    save(&dot(5, 5), &d.join("b.png"));
    let o = compare(&d, &["a.png", "b.png", "--fail", "1", "--json", "r.json", "--no-diff"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let mean = only_frame(&json(&d.join("r.json")))["metrics"]["flip_mean"]
        .as_f64()
        .unwrap();
    let o = compare(
        &d,
        &[
            "a.png",
            "b.png",
            "--fail",
            "1",
            "--flip-fail",
            &format!("{}", mean * 1.01),
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = compare(
        &d,
        &[
            "a.png",
            "b.png",
            "--fail",
            "1",
            "--flip-fail",
            &format!("{}", mean * 0.99),
            "--no-diff",
        ],
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("FLIP mean"), "{}", text(&o));
}

#[test]
fn missing_frame_fails_and_is_named() {
    let d = tempdir("missing");
    for f in [1, 2, 3] {
        save(&dot(1, 1), &d.join(format!("ref/f.{f:04}.png")));
    }
    for f in [1, 3] {
        save(&dot(1, 1), &d.join(format!("out/f.{f:04}.png")));
    }
    let o = compare(
        &d,
        &[
            "out/f.####.png",
            "ref/f.####.png",
            "--junit",
            "r.xml",
            "--json",
            "r.json",
        ],
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("f.0002.png") && stdout.contains("missing"), "{stdout}");
    assert!(
        stdout.contains("FAIL: 3 frame(s)") && stdout.contains("1 missing"),
        "{stdout}"
    );
    let r = json(&d.join("r.json"));
    let frame2 = &r["frames"][1];
    assert_eq!(
        (frame2["frame"].as_f64(), frame2["status"].as_str()),
        (Some(2.0), Some("missing"))
    );
    assert!(frame2["metrics"].is_null());
    let xml = fs::read_to_string(d.join("r.xml")).unwrap();
    check_xml(&xml);
    assert!(xml.contains(r#"tests="3" failures="1" errors="0""#), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 3);
    assert!(
        xml.contains(r#"<testcase name="f.0002.png""#) && xml.contains(r#"type="missing""#),
        "{xml}"
    );
}

#[test]
fn extra_frame_warns_unless_strict() {
    let d = tempdir("extra");
    save(&dot(1, 1), &d.join("ref/img.0001.png"));
    for f in [1, 2] {
        save(&dot(1, 1), &d.join(format!("out/img.{f:04}.png")));
    }
    // husk's $F4 on one side and a folder on the other (same file names in it).
    let o = compare(&d, &["out/img.$F4.png", "ref"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("extra: out/img.0002.png has no reference"),
        "{}",
        text(&o)
    );
    let o = compare(&d, &["out/img.%04d.png", "ref/img.%04d.png", "--strict"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
}

#[test]
fn different_sizes_fail_clearly() {
    let d = tempdir("sizes");
    save(&RgbaImage::new(16, 9), &d.join("out/a.png"));
    save(&RgbaImage::new(16, 10), &d.join("ref/a.png"));
    let o = compare(&d, &["out", "ref", "--json", "r.json"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("image sizes differ: actual 16x9, expected 16x10"),
        "{}",
        text(&o)
    );
    let r = json(&d.join("r.json"));
    assert_eq!(only_frame(&r)["status"], "size_mismatch");
    assert_eq!(r["summary"]["size_mismatch"], 1);
}

#[test]
fn reports_parse_and_escape_names() {
    let d = tempdir("reports");
    // Names that need escaping in XML.
    save(&dot(1, 1), &d.join("out/a&b<1>.png"));
    save(&dot(1, 1), &d.join("ref/a&b<1>.png"));
    save(&dot(2, 1), &d.join("out/\"q\".png"));
    save(&dot(1, 1), &d.join("ref/\"q\".png"));
    let o = compare(
        &d,
        &[
            "out",
            "ref",
            "--json",
            "rep/r.json",
            "--junit",
            "rep/r.xml",
            "--diff-dir",
            "heat",
        ],
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    let r = json(&d.join("rep/r.json"));
    assert_eq!(r["tool"], "usdrender compare");
    assert_eq!(r["settings"]["fail"].as_f64(), Some(0.0));
    assert_eq!(r["summary"]["total"], 2);
    assert_eq!(r["summary"]["failed"], 1);
    assert_eq!(r["summary"]["exit_code"], 1);
    assert_eq!(r["summary"]["verdict"], "fail");
    let xml = fs::read_to_string(d.join("rep/r.xml")).unwrap();
    check_xml(&xml);
    assert!(xml.contains(r#"<testcase name="a&amp;b&lt;1&gt;.png""#), "{xml}");
    assert!(xml.contains(r#"<testcase name="&quot;q&quot;.png""#), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert!(xml.contains(r#"type="mismatch""#), "{xml}");
    // --diff-dir wins over the report's folder.
    assert!(d.join("heat/\"q\".diff.png").is_file());
    assert!(!d.join("rep/compare-diff").exists());
}

#[test]
fn missing_folder_exits_2_naming_it() {
    let d = tempdir("no_folder");
    fs::create_dir_all(d.join("out")).unwrap();
    let o = compare(&d, &["out", "nope/"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("nope"), "{}", text(&o));
    let o = compare(&d, &["out/f.####.png", "gone/f.####.png"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("gone"), "{}", text(&o));
}

#[test]
fn unreadable_image_exits_2_naming_it() {
    let d = tempdir("unreadable");
    save(&dot(1, 1), &d.join("out/good.png"));
    save(&dot(1, 1), &d.join("ref/good.png"));
    save(&dot(1, 1), &d.join("ref/bad.png"));
    fs::write(d.join("out/bad.png"), b"not a png").unwrap();
    let o = compare(&d, &["out", "ref", "--junit", "r.xml"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("out/bad.png") && text(&o).contains("cannot decode"),
        "{}",
        text(&o)
    );
    // The other frames are still compared and the report still written.
    let xml = fs::read_to_string(d.join("r.xml")).unwrap();
    check_xml(&xml);
    assert!(xml.contains(r#"tests="2" failures="0" errors="1""#), "{xml}");
}

#[test]
fn bad_options_and_empty_sets_do_not_pass() {
    let d = tempdir("usage");
    fs::create_dir_all(d.join("out")).unwrap();
    fs::create_dir_all(d.join("ref")).unwrap();
    // Two empty folders: nothing compared must not look like success.
    let o = compare(&d, &["out", "ref"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("nothing to compare"), "{}", text(&o));
    let o = compare(&d, &["out", "ref", "--fail", "2"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("--fail 2"), "{}", text(&o));
}

/// A small well-formedness check: balanced, properly nested tags, quoted attributes, no raw `<` or
/// stray `&` in text or attributes.
fn check_xml(xml: &str) {
    let body = xml
        .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
        .expect("XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let close = rest[open..].find('>').expect("unclosed tag") + open;
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else {
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag.split_whitespace().next().expect("tag name");
            check_attributes(&tag[name.len()..]);
            if !self_closing {
                stack.push(name.to_string());
            }
        }
        rest = &rest[close + 1..];
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

fn check_text(t: &str) {
    let mut s = t;
    while let Some(i) = s.find('&') {
        let end = s[i..].find(';').expect("entity") + i;
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&&s[i..=end]),
            "bad entity in {t}"
        );
        s = &s[end + 1..];
    }
}

fn check_attributes(mut a: &str) {
    loop {
        a = a.trim_start();
        if a.is_empty() {
            return;
        }
        let eq = a.find('=').expect("attribute =");
        assert!(!a[..eq].contains(char::is_whitespace), "attribute name {a}");
        assert_eq!(&a[eq + 1..eq + 2], "\"", "quoted attribute {a}");
        let end = a[eq + 2..].find('"').expect("closing quote") + eq + 2;
        check_text(&a[eq + 2..end]);
        a = &a[end + 1..];
    }
}
