//! End-to-end tests of the `usdrender` binary: files written, names, sizes, exit codes, error text.

mod util;

use std::fs;

use util::*;

const DEFAULT_SCENE: &str = "scenes/default.usda";

fn scene() -> String {
    repo().join(DEFAULT_SCENE).to_string_lossy().into_owned()
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn renders_a_frame_range_named_by_frame_number() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("cli_range");
    let o = run_in(
        &dir,
        &[
            "render",
            &scene(),
            "-o",
            "seq/shot.####.png",
            "--frames",
            "3-7x2",
            "--width",
            "64",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        names(&dir.join("seq")),
        ["shot.0003.png", "shot.0005.png", "shot.0007.png"]
    );
    for n in names(&dir.join("seq")) {
        let img = load_rgba(&dir.join("seq").join(n));
        // The default camera's aperture is 36 x 20.25 (16:9): 64 wide gives 36 high.
        assert_eq!(img.dimensions(), (64, 36));
        assert!(img.pixels().any(|p| p[3] == 255), "something is drawn");
    }
    // One log line per frame naming the adapter.
    assert_eq!(text(&o).matches("frame 5 on ").count(), 1, "{}", text(&o));
}

#[test]
fn height_flag_overrides_the_camera_aspect() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("cli_height");
    let o = run_in(
        &dir,
        &[
            "render",
            &scene(),
            "-o",
            "f.#.png",
            "--frames",
            "1",
            "--width",
            "40",
            "--height",
            "30",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(load_rgba(&dir.join("f.1.png")).dimensions(), (40, 30));
}

#[test]
fn existing_outputs_are_refused_skipped_or_overwritten_as_asked() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("cli_existing");
    let args = [
        "render",
        &scene(),
        "-o",
        "f.####.png",
        "--frames",
        "1-3",
        "--width",
        "32",
    ];
    assert!(run_in(&dir, &args).status.success());
    // A run over existing files stops before rendering and says how to go on.
    let o = run_in(&dir, &args);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--skip-existing"), "{}", text(&o));
    // Damage one frame, leave a stale temporary: --skip-existing renders exactly that frame.
    fs::write(dir.join("f.0002.png"), b"").unwrap();
    fs::write(dir.join(".f.0003.png.999999.usdrender-tmp"), b"half a frame").unwrap();
    let before = fs::metadata(dir.join("f.0001.png")).unwrap().modified().unwrap();
    let o = run_in(&dir, &[&args[..], &["--skip-existing"]].concat());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 frame(s) written, 2 skipped"), "{}", text(&o));
    assert_eq!(
        names(&dir),
        ["f.0001.png", "f.0002.png", "f.0003.png"],
        "no temporary file left"
    );
    assert_eq!(
        fs::metadata(dir.join("f.0001.png")).unwrap().modified().unwrap(),
        before
    );
    assert_eq!(load_rgba(&dir.join("f.0002.png")).dimensions(), (32, 18));
    let o = run_in(&dir, &[&args[..], &["--overwrite"]].concat());
    assert!(
        o.status.success() && text(&o).contains("3 frame(s) written"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_missing_stage_is_a_clear_error_naming_the_file() {
    let dir = tempdir("cli_missing");
    let o = run_in(&dir, &["render", "no/such/stage.usda", "-o", "f.#.png"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no/such/stage.usda"), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
    assert!(!dir.join("f.1.png").exists());
}

#[test]
fn a_broken_stage_is_an_error_not_a_panic() {
    let dir = tempdir("cli_broken");
    fs::write(
        dir.join("broken.usda"),
        "#usda 1.0\ndef Xform \"A\" {\n  double3 xformOp:translate = (1, 2\n",
    )
    .unwrap();
    let o = run_in(&dir, &["info", "--json", "broken.usda"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("broken.usda") && !text(&o).contains("panicked"),
        "{}",
        text(&o)
    );
    fs::write(dir.join("garbage.usdc"), [0u8, 1, 2, 3, 255, 254]).unwrap();
    let o = run_in(&dir, &["info", "garbage.usdc"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
}

#[test]
fn bad_frame_specs_and_patterns_are_usage_errors() {
    let dir = tempdir("cli_usage");
    for (args, needle) in [
        (vec!["--frames", "1-10x0"], "step"),
        (vec!["--frames", "abc"], "abc"),
        (vec!["--frames", "1-3", "-o", "still.png"], "frame token"),
        (vec!["--frames", "1.5", "-o", "f.####.png"], "1.5"),
        (vec!["-o", "f.####.gif"], "gif"),
        (vec!["--width", "0"], "--width"),
    ] {
        let mut all = vec!["render", DEFAULT_SCENE];
        all.extend(args.iter());
        if !args.contains(&"-o") {
            all.extend(["-o", "f.####.png"]);
        }
        let o = bin().current_dir(repo()).args(&all).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{all:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{all:?}: {}", text(&o));
    }
    let _ = dir;
}

#[test]
fn an_unwritable_output_folder_is_an_error_naming_it() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("cli_unwritable");
    fs::write(dir.join("afile"), b"x").unwrap();
    // A folder that cannot be created because a file stands in its way.
    let o = run_in(
        &dir,
        &[
            "render",
            &scene(),
            "-o",
            "afile/sub/f.####.png",
            "--frames",
            "1",
            "--width",
            "16",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("afile"), "{}", text(&o));
}

#[test]
fn an_impossible_authored_range_is_an_error_naming_the_stage() {
    let dir = tempdir("cli_timing");
    fs::write(
        dir.join("reversed.usda"),
        "#usda 1.0\n(\n startTimeCode = 10\n endTimeCode = 1\n)\ndef Cube \"C\" {}\n",
    )
    .unwrap();
    fs::write(
        dir.join("zerofps.usda"),
        "#usda 1.0\n(\n framesPerSecond = 0\n startTimeCode = 1\n endTimeCode = 2\n)\ndef Cube \"C\" {}\n",
    )
    .unwrap();
    for (file, needle) in [("reversed.usda", "before"), ("zerofps.usda", "invalid timing")] {
        let o = run_in(&dir, &["render", file, "-o", "f.####.png", "--width", "16"]);
        assert_eq!(o.status.code(), Some(2), "{file}: {}", text(&o));
        assert!(
            text(&o).contains(file) && text(&o).contains(needle),
            "{file}: {}",
            text(&o)
        );
        assert!(!dir.join("f.0001.png").exists());
    }
}

#[test]
fn info_json_describes_the_default_scene() {
    let o = bin()
        .current_dir(repo())
        .args(["info", "--json", DEFAULT_SCENE])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["fps"], 24.0);
    assert_eq!(v["tcps"], 24.0);
    assert_eq!(v["start"], 1.0);
    assert_eq!(v["end"], 48.0);
    assert_eq!(v["frames"], 48);
    assert_eq!(v["camera"]["path"], "/World/main_cam");
    assert_eq!(v["camera"]["rule"], "main_cam");
    assert_eq!(v["meshes"], 2);
    assert_eq!(v["faces"], 8);
    assert_eq!(v["points"], 14);
    assert_eq!(v["point_instancers"], 1);
    assert_eq!(v["pi_instances"], 256);
    assert_eq!(v["cameras"][0]["path"], "/World/main_cam");
    assert_eq!(v["cameras"][0]["animated"], true);
}

#[test]
fn an_ambiguous_camera_name_lists_the_candidates() {
    let dir = tempdir("cli_camera");
    fs::write(
        dir.join("two.usda"),
        "#usda 1.0\ndef Xform \"A\" { def Camera \"cam\" {} }\ndef Xform \"B\" { def Camera \"cam\" {} }\ndef Cube \"C\" {}\n",
    )
    .unwrap();
    let render: &[&str] = &["render", "two.usda", "--camera", "cam", "-o", "f.#.png"];
    let info: &[&str] = &["info", "two.usda", "--camera", "cam"];
    for args in [render, info] {
        let o = run_in(&dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains("/A/cam") && text(&o).contains("/B/cam"),
            "{}",
            text(&o)
        );
    }
    // A path chooses; info says by which rule.
    let o = run_in(&dir, &["info", "--json", "two.usda", "--camera", "/B/cam"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["camera"]["path"], "/B/cam");
    assert_eq!(v["camera"]["rule"], "flag");
}

#[test]
fn render_compare_updates_references_only_when_asked_then_checks_against_them() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("cli_render_compare");
    let base = [
        "render",
        DEFAULT_SCENE_ABS.as_str(),
        "--frames",
        "1-2",
        "--width",
        "32",
        "--overwrite",
    ];
    let with = |extra: &[&str]| run_in(&dir, &[&base[..], extra].concat());
    // No references yet: comparing fails and names the missing frames.
    let o = with(&["-o", "a/f.####.png", "--compare", "ref/f.####.png"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // --update writes them.
    let o = with(&["-o", "a/f.####.png", "--compare", "ref/f.####.png", "--update"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(names(&dir.join("ref")), ["f.0001.png", "f.0002.png"]);
    // The same render passes against them.
    let o = with(&["-o", "b/f.####.png", "--compare", "ref/f.####.png"]);
    assert!(o.status.success(), "{}", text(&o));
    // A changed look (the ground recoloured by a session layer) fails with exit 1.
    fs::write(
        dir.join("red.usda"),
        "#usda 1.0\nover \"World\" { over \"Ground\" { color3f[] primvars:displayColor = [(1, 0, 0)] } }\n",
    )
    .unwrap();
    let o = with(&[
        "-o",
        "c/f.####.png",
        "--compare",
        "ref/f.####.png",
        "--session-layer",
        "red.usda",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("f.0001.png"), "{}", text(&o));
}

static DEFAULT_SCENE_ABS: std::sync::LazyLock<String> = std::sync::LazyLock::new(scene);

/// The `--dry-run --json` plan of the default scene with `extra` flags.
fn plan_with(name: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempdir(name);
    let scene = scene();
    let mut args = vec![
        "render",
        scene.as_str(),
        "-o",
        "f.####.png",
        "--frames",
        "1",
        "--dry-run",
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = run_in(&dir, &args);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

#[test]
fn headlight_clear_color_and_dome_visibility_flags_reach_the_job() {
    if !have_adapter() {
        return;
    }
    let plan = plan_with("cli_look_defaults", &[]);
    assert_eq!(plan["look"], "Usdrecord");
    assert_eq!(plan["headlight"], "Auto");
    assert_eq!(plan["clear_color"], serde_json::json!([0.0, 0.0, 0.0, 0.0]));
    assert_eq!(plan["dome_visible"], false);
    let plan = plan_with(
        "cli_look_flags",
        &[
            "--headlight",
            "on",
            "--clear-color",
            "0.25,0.5,1,1",
            "--enable-dome-light-visibility",
        ],
    );
    assert_eq!(plan["headlight"], "On");
    assert_eq!(plan["clear_color"], serde_json::json!([0.25, 0.5, 1.0, 1.0]));
    assert_eq!(plan["dome_visible"], true);
    assert_eq!(plan["width"], 960);
}

#[test]
fn pixel_aspect_flag_keeps_the_cameras_shape_with_more_rows() {
    if !have_adapter() {
        return;
    }
    let square = plan_with("cli_pixel_aspect_1", &[]);
    let wide = plan_with("cli_pixel_aspect_2", &["--pixel-aspect", "2"]);
    let rows = |p: &serde_json::Value| p["height"].as_u64().unwrap() as i64;
    assert_eq!(wide["width"], square["width"]);
    assert!((rows(&wide) - 2 * rows(&square)).abs() <= 1, "{wide} against {square}");
    let dir = tempdir("cli_pixel_aspect_0");
    let o = run_in(&dir, &["render", scene().as_str(), "--pixel-aspect", "0", "--dry-run"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--pixel-aspect"), "{}", text(&o));
}

#[test]
fn harness_flag_takes_the_harness_size_look_camera_and_clear_colour() {
    if !have_adapter() {
        return;
    }
    let plan = plan_with(
        "cli_harness",
        &["--harness", "-offscreen -lighting -camlight -frameAll"],
    );
    assert_eq!(
        (plan["width"].as_u64(), plan["height"].as_u64()),
        (Some(640), Some(480))
    );
    // -camlight: the harness light comes from the framed camera's translation, not the fixed
    // (0, -0.5, 0.5) of plain -lighting.
    let look = plan["look"].as_str().unwrap();
    assert!(look.starts_with("HarnessSimple { toward: "), "{look}");
    assert_ne!(look, "HarnessSimple { toward: [0.0, -0.5, 0.5] }");
    assert_eq!(plan["headlight"], "Off");
    assert_eq!(plan["dome_visible"], true, "Storm shows dome lights in the harness");
    assert!(
        plan["camera"].as_str().unwrap().contains("harness"),
        "{}",
        plan["camera"]
    );
    // Orange, written as Storm writes it: linear values, no sRGB encoding (255, 127, 25).
    let clear = &plan["clear_color"];
    assert_eq!(clear, &serde_json::json!([1.0, 0.5, 0.1, 1.0]), "{clear}");
    assert_eq!(plan["color_correction"], false);
    // Flags typed beside --harness win over its settings.
    let plan = plan_with(
        "cli_harness_flags_win",
        &[
            "--harness",
            "-lighting -sceneLights -widgetSize 320 200 -clear 0 0 0 1",
            "--width",
            "100",
            "--height",
            "50",
            "--headlight",
            "on",
            "--clear-color",
            "0,1,0,1",
        ],
    );
    assert_eq!((plan["width"].as_u64(), plan["height"].as_u64()), (Some(100), Some(50)));
    assert_eq!(plan["look"], "HarnessSceneLights");
    assert_eq!(plan["headlight"], "On");
    assert_eq!(plan["clear_color"], serde_json::json!([0.0, 1.0, 0.0, 1.0]));
    let plan = plan_with("cli_harness_unlit", &["--harness", "-widgetSize 320 200"]);
    assert_eq!(plan["look"], "HarnessUnlit");
    assert_eq!(
        (plan["width"].as_u64(), plan["height"].as_u64()),
        (Some(320), Some(200))
    );
}

#[test]
fn job_files_take_the_look_keys() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("cli_look_job");
    fs::write(
        dir.join("shot.toml"),
        format!(
            "stage = {:?}\noutput = \"f.####.png\"\nframes = \"1\"\nharness = \"-lighting -frameAll\"\nheadlight = \"off\"\nclear_color = \"0,0,0,1\"\nenable_dome_light_visibility = true\n",
            scene()
        ),
    )
    .unwrap();
    let o = run_in(&dir, &["render", "--job", "shot.toml", "--dry-run", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["look"], "HarnessSimple { toward: [0.0, -0.5, 0.5] }");
    assert_eq!(plan["headlight"], "Off");
    assert_eq!(plan["clear_color"], serde_json::json!([0.0, 0.0, 0.0, 1.0]));
    assert_eq!(plan["dome_visible"], true);
    assert_eq!(plan["width"], 640);
}

#[test]
fn bad_look_flags_are_usage_errors_naming_the_flag() {
    let dir = tempdir("cli_look_bad");
    let scene = scene();
    for (flags, needle) in [
        (vec!["--clear-color", "1,2"], "--clear-color"),
        (vec!["--clear-color", "1,2,x,1"], "--clear-color"),
        (vec!["--headlight", "maybe"], "maybe"),
        (vec!["--harness", "-bogus"], "-bogus"),
        (vec!["--harness", "-lighting -stage other.usda"], "STAGE"),
        (vec!["--harness", "-times 1 2"], "--frames"),
        (vec!["--harness", "-widgetSize 640"], "-widgetSize"),
    ] {
        let mut args = vec!["render", scene.as_str(), "-o", "f.####.png", "--dry-run"];
        args.extend(flags.iter().copied());
        let o = run_in(&dir, &args);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{flags:?}: {}", text(&o));
    }
}

#[test]
fn harness_subcommand_names_images_as_the_harness_does() {
    if !have_adapter() {
        return;
    }
    let dir = tempdir("cli_harness_cmd");
    let scene = scene();
    let o = run_in(
        &dir,
        &[
            "harness",
            "--",
            "-offscreen",
            "-lighting",
            "-frameAll",
            "-stage",
            &scene,
            "-times",
            "1",
            "2.5",
            "-write",
            "out/h.png",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(names(&dir.join("out")), ["h_001.png", "h_2.5.png"]);
    let img = load_rgba(&dir.join("out/h_001.png"));
    assert_eq!(img.dimensions(), (640, 480));
    assert!(img.pixels().any(|p| p[3] == 255), "something is drawn");
    // Without -write there is nothing to name the image after.
    let o = run_in(&dir, &["harness", "--", "-stage", &scene]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("-write"), "{}", text(&o));
}

#[test]
fn an_output_that_is_a_link_or_a_fifo_is_refused_before_rendering() {
    // Issue 13: `-o /dev/null --overwrite` as root renamed a PNG over the device node. Whatever
    // is not a regular file is refused, with every flag, naming the file; nothing is written.
    let dir = tempdir("nonregular-output");
    fs::create_dir_all(dir.join("out")).unwrap();
    let victim = dir.join("victim.txt");
    fs::write(&victim, b"precious").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("out/f.0001.png")).unwrap();
    let fifo = std::ffi::CString::new(dir.join("out/f.0002.png").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    for flag in ["--overwrite", "--skip-existing"] {
        let out = run_in(
            &dir,
            &[
                "render",
                &scene(),
                "-o",
                "out/f.####.png",
                "--frames",
                "1-2",
                "--width",
                "32",
                flag,
            ],
        );
        let text = text(&out);
        assert_eq!(out.status.code(), Some(2), "{flag}: {text}");
        assert!(
            text.contains("f.0001.png") && text.contains("not a regular file"),
            "{flag}: {text}"
        );
    }
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert!(fs::symlink_metadata(dir.join("out/f.0001.png"))
        .unwrap()
        .file_type()
        .is_symlink());
    let names: Vec<String> = names(&dir.join("out"));
    assert_eq!(names.len(), 2, "nothing else written: {names:?}");
}

#[test]
fn fifos_huge_files_and_devices_as_layers_or_job_files_are_refused_naming_them() {
    // Issue 13: a FIFO referenced as a layer blocked forever; a 64 GB sparse layer aborted the
    // process allocating it; `--job /dev/zero` ate 8 GB. Each is refused before it is read.
    let dir = tempdir("hostile-layers");
    let fifo = std::ffi::CString::new(dir.join("fifo.usda").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    fs::File::create(dir.join("big.usda"))
        .unwrap()
        .set_len(64 << 30)
        .expect("a sparse 64 GB file");
    // A sparse file named .usdz: pxr rejects it at once; scanning it backwards for the zip
    // directory took 166 s.
    fs::File::create(dir.join("sparse.usdz"))
        .unwrap()
        .set_len(8 << 30)
        .expect("a sparse 8 GB file");
    fs::write(
        dir.join("root.usda"),
        "#usda 1.0\n(\n    subLayers = [@./fifo.usda@, @./big.usda@]\n)\ndef Cube \"c\" {}\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = run_in(&dir, &["info", "--json", "root.usda"]);
    let said = text(&out);
    assert!(started.elapsed().as_secs() < 30, "no blocking read");
    assert_eq!(out.status.code(), Some(0), "the rest of the stage opens: {said}");
    assert!(said.contains("fifo.usda is not a regular file"), "{said}");
    assert!(said.contains("big.usda is 68719476736 bytes"), "{said}");
    for (args, needle) in [
        (vec!["info", "fifo.usda"], "not a regular file"),
        (vec!["info", "big.usda"], "68719476736 bytes"),
        (vec!["info", "sparse.usdz"], "no zip end-of-central-directory record"),
        (
            vec!["render", "--job", "/dev/zero", "-o", "x.png"],
            "not a regular file",
        ),
    ] {
        let out = run_in(&dir, &args);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains(needle), "{args:?}: {said}");
    }
}

#[test]
fn deeply_nested_text_is_refused_quickly_not_a_stack_overflow() {
    // Issue 13: 2,000 nested prims took 40 s to open, 7,000 overflowed the stack (SIGABRT),
    // 16,000 nested customData dictionaries too. Past the documented limit the open is refused.
    let dir = tempdir("deep-nesting");
    let prims = |n: usize| format!("#usda 1.0\n{}{}", "def \"p\" {\n".repeat(n), "}\n".repeat(n));
    let dicts = |n: usize| {
        format!(
            "#usda 1.0\ndef \"p\" (\n    customData = {}{}\n)\n{{\n}}\n",
            "{\n dictionary d = ".repeat(n) + "{ }",
            "\n}".repeat(n)
        )
    };
    fs::write(dir.join("ok.usda"), prims(200)).unwrap();
    fs::write(dir.join("prims.usda"), prims(7000)).unwrap();
    fs::write(dir.join("dicts.usda"), dicts(20000)).unwrap();
    let ok = run_in(&dir, &["info", "ok.usda"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    for file in ["prims.usda", "dicts.usda"] {
        let started = std::time::Instant::now();
        let out = run_in(&dir, &["info", file]);
        let said = text(&out);
        assert!(started.elapsed().as_secs() < 10, "{file}: refused quickly");
        assert_eq!(out.status.code(), Some(2), "{file}: {said}");
        assert!(said.contains(file) && said.contains("levels deep"), "{file}: {said}");
    }
}

#[test]
fn namespace_composed_deeper_than_the_limit_is_refused_quickly() {
    // Issue 13: openusd composes a prim by walking its ancestors, so a chain of prims costs the
    // cube of its depth (a 2,000-deep usdc took 19 s, 5,000 took 300 s). Each layer here is
    // under the text limit; composed through references they nest 1,500 deep.
    let dir = tempdir("deep-composition");
    let layer = |n: usize, next: Option<&str>| {
        let arc = next.map_or(String::new(), |f| format!(" (\n    references = @{f}@</p>\n)"));
        format!(
            "#usda 1.0\n{}def \"leaf\"{arc}\n{{\n}}\n{}",
            "def \"p\" {\n".repeat(n),
            "}\n".repeat(n)
        )
    };
    fs::write(dir.join("a.usda"), layer(499, Some("b.usda"))).unwrap();
    fs::write(dir.join("b.usda"), layer(499, Some("c.usda"))).unwrap();
    fs::write(dir.join("c.usda"), layer(499, None)).unwrap();
    let ok = run_in(&dir, &["info", "c.usda"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    for command in ["info", "render"] {
        let started = std::time::Instant::now();
        let out = run_in(
            &dir,
            &[command, "a.usda", "-o", "f.png"][..if command == "info" { 2 } else { 4 }],
        );
        let said = text(&out);
        assert!(started.elapsed().as_secs() < 30, "{command}: refused quickly");
        assert_eq!(out.status.code(), Some(2), "{command}: {said}");
        assert!(
            said.contains("a.usda") && said.contains("levels deep") && said.contains("/p/p/p"),
            "{command}: {said}"
        );
    }
}

/// `usdrender info <file>` in `dir` under a 6 GiB address-space cap (`ulimit -v 6291456`, as
/// issue 13 measures hostile input).
fn info_under_6_gib(dir: &std::path::Path, file: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v 6291456; exec \"$0\" info {file}"))
        .arg(env!("CARGO_BIN_EXE_usdrender"))
        .current_dir(dir)
        .output()
        .expect("run")
}

/// `crate_file` with its TOKENS section replaced by an LZ4 block that expands to `n * 255 + 25`
/// NUL bytes: every NUL a token (issue 13: a 1 MB file reached 6.6 GB in openusd).
fn token_bomb(crate_file: &[u8], n: usize) -> Vec<u8> {
    let mut b = crate_file.to_vec();
    let toc = u64::from_le_bytes(b[16..24].try_into().unwrap()) as usize;
    let sections = u64::from_le_bytes(b[toc..toc + 8].try_into().unwrap()) as usize;
    let entry = (0..sections)
        .map(|i| toc + 8 + i * 32)
        .find(|&at| b[at..at + 16].starts_with(b"TOKENS\0"))
        .expect("a TOKENS section");
    // USD's chunk count (0: one block), then one literal NUL, a match of 255 * n + 19 copying it,
    // and five literal NULs to end the block.
    let mut block = vec![0x00, 0x1F, 0x00, 0x01, 0x00];
    block.extend(std::iter::repeat_n(0xFF, n));
    block.push(0x00);
    block.extend([0x50, 0, 0, 0, 0, 0]);
    let expanded = (n * 255 + 25) as u64;
    let start = b.len() as u64;
    b.extend(expanded.to_le_bytes()); // token count: every NUL ends one
    b.extend(expanded.to_le_bytes()); // uncompressed size
    b.extend((block.len() as u64).to_le_bytes());
    b.extend(&block);
    let size = b.len() as u64 - start;
    b[entry + 16..entry + 24].copy_from_slice(&start.to_le_bytes());
    b[entry + 24..entry + 32].copy_from_slice(&size.to_le_bytes());
    b
}

#[test]
fn a_crate_whose_tokens_inflate_is_refused_before_allocating() {
    let dir = tempdir("token-bomb");
    let usdc = dir.join("plain.usdc");
    usdrender::stage::write_usdc(&repo().join("scenes/default.usda"), &usdc).expect("usdc");
    let bomb = token_bomb(&fs::read(&usdc).unwrap(), 1_000_000);
    assert!(bomb.len() < 2 << 20, "a small file: {} bytes", bomb.len());
    fs::write(dir.join("bomb.usdc"), bomb).unwrap();
    let started = std::time::Instant::now();
    let out = info_under_6_gib(&dir, "bomb.usdc");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("bomb.usdc") && said.contains("decompression bomb"),
        "{said}"
    );
    assert!(started.elapsed().as_secs() < 10, "refused quickly");
    // The untouched crate still opens.
    let ok = run_in(&dir, &["info", "plain.usdc"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
}

/// `crate_file` with its PATHS section replaced by one chain of prims `n` deep, each named by the
/// crate's first identifier token (issue 13: a 77 KB crate like it took ~10 GB in openusd, which
/// stores each path as its whole string). The specs keep their path indexes, now into the chain.
fn path_chain(crate_file: &[u8], n: usize) -> Vec<u8> {
    let mut b = crate_file.to_vec();
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
    let toc = u64_at(&b, 16);
    let entry = |name: &[u8]| {
        (0..u64_at(&b, toc))
            .map(|i| toc + 8 + i * 32)
            .find(|&at| b[at..at + 16].split(|&c| c == 0).next() == Some(name))
            .unwrap_or_else(|| panic!("a {} section", String::from_utf8_lossy(name)))
    };
    let (paths, tokens) = (entry(b"PATHS"), entry(b"TOKENS"));
    // TOKENS: count, size, compressed size, then a chunk count (0) and one LZ4 block.
    let at = u64_at(&b, tokens + 16);
    let block = &b[at + 25..at + 24 + u64_at(&b, at + 16)];
    let names = lz4_flex::decompress(block, u64_at(&b, at + 8)).expect("the crate's tokens");
    let name = names
        .split(|&c| c == 0)
        .position(|t| t.first().is_some_and(u8::is_ascii_alphabetic) && t.iter().all(u8::is_ascii_alphanumeric))
        .expect("an identifier token") as i32;
    // Each table in USD's integer coding with every delta a 32-bit one, then LZ4 compressed.
    let table = |values: Vec<i32>| {
        let mut raw = 0i32.to_le_bytes().to_vec(); // the common delta, unused
        let mut codes = vec![0xFFu8; values.len().div_ceil(4)]; // 2 bits each: 3, a 32-bit delta
        if !values.len().is_multiple_of(4) {
            codes[values.len() / 4] >>= 8 - 2 * (values.len() % 4); // none past the last value
        }
        raw.extend(codes);
        let mut prev = 0i32;
        for v in values {
            raw.extend(v.wrapping_sub(prev).to_le_bytes());
            prev = v;
        }
        let mut compressed = vec![0u8]; // one chunk
        compressed.extend(lz4_flex::compress(&raw));
        let mut out = (compressed.len() as u64).to_le_bytes().to_vec();
        out.extend(compressed);
        out
    };
    // The root, then n prims, each the one before's only child.
    let count = n + 1;
    let mut section = Vec::new();
    section.extend((count as u64).to_le_bytes()); // path slots
    section.extend((count as u64).to_le_bytes()); // encoded paths
    section.extend(table((0..count as i32).collect()));
    section.extend(table(vec![name; count]));
    section.extend(table((0..count).map(|i| if i == n { -2 } else { -1 }).collect()));
    let start = b.len() as u64;
    b.extend(&section);
    b[paths + 16..paths + 24].copy_from_slice(&start.to_le_bytes());
    b[paths + 24..paths + 32].copy_from_slice(&(section.len() as u64).to_le_bytes());
    b
}

#[test]
fn a_crate_whose_namespace_is_a_deep_chain_is_refused_before_building_its_paths() {
    let dir = tempdir("path-chain");
    let usdc = dir.join("plain.usdc");
    usdrender::stage::write_usdc(&repo().join("scenes/default.usda"), &usdc).expect("usdc");
    let plain = fs::read(&usdc).unwrap();
    let chain = path_chain(&plain, 100_000);
    assert!(chain.len() < 200_000, "a small file: {} bytes", chain.len());
    fs::write(dir.join("chain.usdc"), chain).unwrap();
    fs::write(dir.join("short.usdc"), path_chain(&plain, 400)).unwrap();
    let started = std::time::Instant::now();
    let out = info_under_6_gib(&dir, "chain.usdc");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("chain.usdc") && said.contains("nests 100000 levels deep"),
        "{said}"
    );
    assert!(started.elapsed().as_secs() < 10, "refused quickly");
    // Under the limit the chain is openusd's to read (its specs now name the wrong paths).
    let short = run_in(&dir, &["info", "short.usdc"]);
    assert!(!text(&short).contains("levels deep"), "{}", text(&short));
    let ok = run_in(&dir, &["info", "plain.usdc"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
}

#[test]
fn a_crate_missing_a_section_pxr_requires_is_refused_naming_it() {
    // Issue 13: a usdc with no sections (or no STRINGS or SPECS) opened as an empty stage and
    // rendered blank with exit 0; pxr refuses it ("Crate file missing TOKENS section").
    let dir = tempdir("crate-sections");
    let usdc = dir.join("plain.usdc");
    usdrender::stage::write_usdc(&repo().join("scenes/default.usda"), &usdc).expect("usdc");
    let plain = fs::read(&usdc).unwrap();
    let toc = u64::from_le_bytes(plain[16..24].try_into().unwrap()) as usize;
    let sections = u64::from_le_bytes(plain[toc..toc + 8].try_into().unwrap()) as usize;
    let mut crafted = vec![("none.usdc".to_string(), "TOKENS", {
        let mut b = plain.clone();
        b[toc..toc + 8].copy_from_slice(&0u64.to_le_bytes());
        b
    })];
    for section in ["STRINGS", "SPECS", "PATHS"] {
        // The section's entry renamed, as if the writer never wrote it.
        let mut b = plain.clone();
        let at = (0..sections)
            .map(|i| toc + 8 + i * 32)
            .find(|&at| b[at..at + 16].split(|&c| c == 0).next() == Some(section.as_bytes()))
            .unwrap_or_else(|| panic!("a {section} section"));
        b[at..at + 16].copy_from_slice(b"UNKNOWN\0\0\0\0\0\0\0\0\0");
        crafted.push((format!("no_{section}.usdc"), section, b));
    }
    for (file, section, bytes) in crafted {
        let file = file.as_str();
        fs::write(dir.join(file), bytes).unwrap();
        for args in [vec!["info", file], vec!["render", file, "-o", "f.png"]] {
            let out = run_in(&dir, &args);
            let said = text(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
            assert!(
                said.contains(file) && said.contains(&format!("no {section} section")),
                "{args:?}: {said}"
            );
        }
    }
    assert!(names(&dir).iter().all(|n| !n.ends_with(".png")), "nothing rendered");
    let ok = run_in(&dir, &["info", "plain.usdc"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
}

#[test]
fn a_usdz_naming_a_member_twice_serves_the_first_as_pxr_does() {
    // Issue 13: openusd served the last of two members by one name, pxr the first. Here the root
    // layer, a sublayer, a texture and a member of a nested package each come twice; the second
    // texture is not an image, so reading it would warn.
    let dir = tempdir("usdz-duplicates");
    let png = |rgb: [u8; 3]| {
        let mut bytes = Vec::new();
        image::RgbImage::from_pixel(4, 4, image::Rgb(rgb))
            .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        bytes
    };
    let root = r#"#usda 1.0
(
    subLayers = [@./sub.usda@, @./in.usdz@]
)
def Camera "first_root" {}
def Mesh "quad" (prepend apiSchemas = ["MaterialBindingAPI"]) {
    int[] faceVertexCounts = [4]
    int[] faceVertexIndices = [0, 1, 2, 3]
    point3f[] points = [(0,0,0), (1,0,0), (1,1,0), (0,1,0)]
    texCoord2f[] primvars:st = [(0,0), (1,0), (1,1), (0,1)] (interpolation = "vertex")
    rel material:binding = </mat>
}
def Material "mat" {
    token outputs:surface.connect = </mat/pbs.outputs:surface>
    def Shader "pbs" {
        uniform token info:id = "UsdPreviewSurface"
        color3f inputs:diffuseColor.connect = </mat/tex.outputs:rgb>
        token outputs:surface
    }
    def Shader "tex" {
        uniform token info:id = "UsdUVTexture"
        asset inputs:file = @./tex.png@
        float3 outputs:rgb
    }
}
"#;
    let inner = usdrender::stage::fixtures::stored_zip(&[
        ("in.usda", b"#usda 1.0\ndef Camera \"first_nested\" {}\n"),
        ("in.usda", b"#usda 1.0\ndef Camera \"second_nested\" {}\n"),
    ]);
    let red = png([255, 0, 0]);
    let package = usdrender::stage::fixtures::stored_zip(&[
        ("root.usda", root.as_bytes()),
        ("sub.usda", b"#usda 1.0\ndef Camera \"first_sub\" {}\n"),
        ("tex.png", &red),
        ("in.usdz", &inner),
        ("root.usda", b"#usda 1.0\ndef Camera \"second_root\" {}\n"),
        ("sub.usda", b"#usda 1.0\ndef Camera \"second_sub\" {}\n"),
        ("tex.png", b"not an image"),
        ("in.usdz", b"not a package"),
    ]);
    fs::write(dir.join("dup.usdz"), package).unwrap();
    let out = run_in(&dir, &["info", "--json", "dup.usdz"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    for camera in ["/first_root", "/first_sub", "/first_nested"] {
        assert!(said.contains(&format!("\"{camera}\"")), "{camera}: {said}");
    }
    assert!(!said.contains("second_"), "{said}");
    let plan = run_in(&dir, &["render", "dup.usdz", "-o", "f.png", "--dry-run", "--json"]);
    let said = text(&plan);
    assert_eq!(plan.status.code(), Some(0), "{said}");
    assert!(!said.contains("tex.png"), "the first tex.png decodes: {said}");
}

#[test]
fn text_pxr_rejects_opens_with_one_warning_naming_the_file_and_line() {
    // Issue 13: openusd's usda reader accepts text pxr's rejects (a prim name holding U+202E
    // RIGHT-TO-LEFT OVERRIDE, array elements or dictionary entries with no separator), and
    // usdrender opened it without a word. Each file here fails `Sdf.Layer.FindOrOpen`.
    let dir = tempdir("pxr-rejects");
    let cases = [
        (
            "rlo.usda",
            "def Xform \"a\"\n{\n    def Xform \"evil\u{202e}gnp.exe\"\n    {\n    }\n}\n",
            4,
            "not an identifier",
        ),
        (
            "array.usda",
            "def Xform \"a\"\n{\n    int[] x = [1, 2 3]\n}\n",
            4,
            "no comma",
        ),
        (
            "samples.usda",
            "def Xform \"a\"\n{\n    double x.timeSamples = {\n        1: 2\n        3: 4\n    }\n}\n",
            6,
            "no comma after a time sample",
        ),
        (
            "dict.usda",
            "def Xform \"a\" (\n    customData = { int a = 1 int b = 2 }\n)\n{\n}\n",
            3,
            "dictionary entries on one line",
        ),
    ];
    for (file, body, line, what) in cases {
        // Twice, so a layer with two problems still gives one warning.
        fs::write(dir.join(file), format!("#usda 1.0\n{body}{body}")).unwrap();
        let out = run_in(&dir, &["info", "--json", file]);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(0), "{file}: opens, as openusd reads it: {said}");
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let warnings: Vec<&str> = info["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|w| w.as_str())
            .filter(|w| w.contains("pxr would reject"))
            .collect();
        assert_eq!(warnings.len(), 1, "{file}: one warning: {said}");
        assert!(
            warnings[0].contains(&format!("{file}:{line}:")) && warnings[0].contains(what),
            "{file}: the file, line and problem: {}",
            warnings[0]
        );
    }
    // The same stages written as pxr wants: no warning. A sublayer is checked too.
    fs::write(
        dir.join("fine.usda"),
        "#usda 1.0\n(\n    subLayers = [@./array.usda@]\n)\ndef Xform \"a\" (\n    customData = { int a = 1; int b = 2 }\n)\n{\n    int[] x = [1, 2, 3]\n}\n",
    )
    .unwrap();
    let out = run_in(&dir, &["info", "--json", "fine.usda"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(said.matches("pxr would reject").count(), 1, "only the sublayer: {said}");
    assert!(said.contains("array.usda:4:"), "{said}");
}

#[test]
fn max_memory_bounds_layers_and_textures_naming_what_it_refused() {
    // Issue 13: no total texture budget (four 16k textures reached 9.5 GB). `--max-memory` sets
    // the stage's budgets: a layer up to half, decoded textures a quarter.
    let dir = tempdir("max-memory");
    image::RgbaImage::from_pixel(512, 512, image::Rgba([200, 100, 50, 255]))
        .save(dir.join("big.png"))
        .unwrap();
    fs::write(
        dir.join("tex.usda"),
        r#"#usda 1.0
def Mesh "quad" (prepend apiSchemas = ["MaterialBindingAPI"]) {
    int[] faceVertexCounts = [4]
    int[] faceVertexIndices = [0, 1, 2, 3]
    point3f[] points = [(0,0,0), (1,0,0), (1,1,0), (0,1,0)]
    texCoord2f[] primvars:st = [(0,0), (1,0), (1,1), (0,1)] (interpolation = "vertex")
    rel material:binding = </mat>
}
def Material "mat" {
    token outputs:surface.connect = </mat/pbs.outputs:surface>
    def Shader "pbs" {
        uniform token info:id = "UsdPreviewSurface"
        color3f inputs:diffuseColor.connect = </mat/tex.outputs:rgb>
        token outputs:surface
    }
    def Shader "tex" {
        uniform token info:id = "UsdUVTexture"
        asset inputs:file = @./big.png@
        float3 outputs:rgb
    }
}
"#,
    )
    .unwrap();
    let plan = |max: Option<&str>| {
        let mut args = vec!["render", "tex.usda", "-o", "f.png", "--dry-run", "--json"];
        if let Some(m) = max {
            args.extend(["--max-memory", m]);
        }
        run_in(&dir, &args)
    };
    // 512x512 RGBA8 with mips is about 1.4 MB: over a quarter of 2M, under a quarter of 64M.
    let small = plan(Some("2M"));
    let said = text(&small);
    assert!(
        said.contains("big.png") && said.contains("budget"),
        "the texture over budget is named: {said}"
    );
    let roomy = plan(Some("64M"));
    assert!(!text(&roomy).contains("budget"), "{}", text(&roomy));
    // Half of 1K is less than the layer itself.
    let tiny = run_in(&dir, &["info", "--max-memory", "1K", "tex.usda"]);
    assert_eq!(tiny.status.code(), Some(2), "{}", text(&tiny));
    assert!(text(&tiny).contains("tex.usda is"), "{}", text(&tiny));
    let bad = run_in(&dir, &["info", "--max-memory", "8X", "tex.usda"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}
