//! Helpers shared by the end-to-end tests: run the binary, make temp folders, find the corpus,
//! and decide whether a GPU-less machine has an adapter.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built `usdrender` binary.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_usdrender"));
    c.env(
        "XDG_RUNTIME_DIR",
        std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()),
    );
    c.env("RUST_LOG", "info");
    c
}

/// Runs the binary with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin().current_dir(dir).args(args).output().expect("run usdrender")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh, empty folder under target/ for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared corpus, or `None` (with a message) when it is absent. Under CI=true its absence fails.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("USDRENDER_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/corpus"));
    if dir.join("TRUTH.jsonl").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "corpus not found at {} and CI=true: the conformance tests must run in CI",
            dir.display()
        );
    }
    eprintln!("corpus not found at {}: skipping (set USDRENDER_CORPUS)", dir.display());
    None
}

/// Whether a GPU adapter (lavapipe counts) is present; without one image tests skip, except under
/// CI=true where they fail.
pub fn have_adapter() -> bool {
    let ok = bin()
        .arg("adapters")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("no GPU adapter under CI=true: .ci/run must install mesa-vulkan-drivers");
        }
        eprintln!("no GPU adapter: skipping image test (install mesa-vulkan-drivers)");
    }
    ok
}

/// Decodes a PNG into RGBA8.
pub fn load_rgba(path: &Path) -> image::RgbaImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgba8()
}

/// Intersection over union of the pixels whose alpha is above half.
pub fn alpha_iou(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "image sizes differ");
    let (mut inter, mut union) = (0u64, 0u64);
    for (p, q) in a.pixels().zip(b.pixels()) {
        let (x, y) = (p[3] >= 128, q[3] >= 128);
        inter += (x && y) as u64;
        union += (x || y) as u64;
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}
