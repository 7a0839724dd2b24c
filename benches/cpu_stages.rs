//! Criterion benchmarks of the CPU stages of a render, on the bundled scene and corpus scenes:
//! stage load + extraction (triangulation included), per-frame evaluation, readback de-padding,
//! and PNG / EXR encoding of a 1920x1080 frame.
//!
//! `cargo bench --ignore-rust-version --bench cpu_stages` (corpus scenes are skipped with a message
//! when ../shared/corpus is absent; `USDRENDER_CORPUS` points elsewhere).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use usdrender::gpu::readback::{padded_bytes_per_row, strip_and_unpremultiply};
use usdrender::output::{encode_and_discard, Encoding, ExrPrecision, Format, Frame};
use usdrender::stage::{ExtractOptions, LoadedStage, OpenOptions};

fn stages() -> Vec<(String, PathBuf)> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = std::env::var_os("USDRENDER_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("../shared/corpus"));
    let mut v = vec![("default".to_string(), repo.join("scenes/default.usda"))];
    for (name, rel) in [
        ("animcube", "openusd/usdrecord/RecordTest/AnimCube.usda"),
        ("teapot_asset", "usd-wg/full_assets/Teapot/Teapot.usd"),
        ("chess_set", "usd-wg/full_assets/OpenChessSet/chess_set.usda"),
        ("vehicles_10k", "perf-wrappers/vehicles_pointinstancer_10k_anim.usdc"),
    ] {
        let p = corpus.join(rel);
        if p.exists() {
            v.push((name.to_string(), p));
        } else {
            eprintln!("{} not found: skipping {name}", p.display());
        }
    }
    v
}

fn load_and_extract(c: &mut Criterion) {
    let mut g = c.benchmark_group("stage");
    g.sample_size(10);
    for (name, path) in stages() {
        g.bench_function(format!("load+extract/{name}"), |b| {
            b.iter(|| {
                let mut s = LoadedStage::open(&path, &OpenOptions::default()).expect("open");
                let t = s.timing().start.unwrap_or(0.0);
                black_box(
                    s.extract(&ExtractOptions {
                        time: t,
                        ..ExtractOptions::default()
                    })
                    .expect("extract"),
                )
            })
        });
        let mut s = LoadedStage::open(&path, &OpenOptions::default()).expect("open");
        let timing = s.timing();
        let (start, end) = (
            timing.start.unwrap_or(0.0),
            timing.end.unwrap_or(0.0).max(timing.start.unwrap_or(0.0)),
        );
        let scene = s
            .extract(&ExtractOptions {
                time: start,
                ..ExtractOptions::default()
            })
            .expect("extract");
        let mut frame = start;
        g.bench_function(format!("evaluate/{name}"), |b| {
            b.iter(|| {
                frame = if frame >= end { start } else { frame + 1.0 };
                black_box(s.evaluate(&scene, frame).expect("evaluate"))
            })
        });
    }
    g.finish();
}

/// A 1920x1080 frame that looks like a render: opaque shapes with soft edges on transparency.
fn frame_1080p() -> (Vec<u8>, Vec<f32>) {
    let (w, h) = (1920usize, 1080usize);
    let mut rgba = vec![0u8; w * h * 4];
    let mut linear = vec![0f32; w * h * 4];
    for y in 0..h {
        for x in 0..w {
            let d = (((x as f32 - 960.0).powi(2) + (y as f32 - 540.0).powi(2)).sqrt() - 400.0).clamp(-1.0, 1.0);
            let a = 0.5 - d / 2.0;
            let i = (y * w + x) * 4;
            let shade = (x as f32 / w as f32) * 0.8 + 0.1;
            rgba[i..i + 4].copy_from_slice(&[(shade * 255.0) as u8, 90, 160, (a * 255.0) as u8]);
            linear[i..i + 4].copy_from_slice(&[shade * shade, 0.1, 0.35, a]);
        }
    }
    (rgba, linear)
}

fn readback(c: &mut Criterion) {
    let (w, h) = (1920u32, 1080u32);
    let row = padded_bytes_per_row(w);
    // A render-like frame (opaque disc, soft edge, transparent background) with padded rows.
    let (rgba, _) = frame_1080p();
    let mut padded = vec![0u8; (row * h) as usize];
    for y in 0..h as usize {
        let src = &rgba[y * w as usize * 4..(y + 1) * w as usize * 4];
        let dst = &mut padded[y * row as usize..y * row as usize + src.len()];
        // The GPU hands over premultiplied colour: an empty pixel is all zeros.
        for (d, p) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
            let a = p[3] as u32;
            d.copy_from_slice(&[
                (p[0] as u32 * a / 255) as u8,
                (p[1] as u32 * a / 255) as u8,
                (p[2] as u32 * a / 255) as u8,
                p[3],
            ]);
        }
    }
    let mut out = Vec::new();
    c.bench_function("readback/strip_and_unpremultiply/1080p", |b| {
        b.iter(|| strip_and_unpremultiply(black_box(&padded), w, h, row, &mut out))
    });
}

fn encoding(c: &mut Criterion) {
    let (rgba, linear) = frame_1080p();
    let mut g = c.benchmark_group("encode/1080p");
    g.sample_size(10);
    let frame = Frame {
        width: 1920,
        height: 1080,
        rgba: &rgba,
        linear: Some(&linear),
        aovs: &[],
    };
    let path = PathBuf::from("bench.out");
    for (name, encoding) in [
        ("png8", Encoding::new(Format::Png)),
        ("jpeg90", Encoding::new(Format::Jpeg)),
        ("exr_half_zip", Encoding::new(Format::Exr)),
        (
            "exr_float_zip",
            Encoding {
                exr_precision: ExrPrecision::Float,
                ..Encoding::new(Format::Exr)
            },
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| encode_and_discard(encoding, frame, &path).expect("encode"))
        });
    }
    // The encoder we replaced, for the ratio: image's JPEG encoder at the same quality.
    g.bench_function("jpeg90_image_crate", |b| {
        use image::ImageEncoder;
        let rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        let mut out = Vec::with_capacity(1 << 20);
        b.iter(|| {
            out.clear();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
                .write_image(&rgb, 1920, 1080, image::ExtendedColorType::Rgb8)
                .expect("encode")
        })
    });
    g.finish();
}

criterion_group!(benches, load_and_extract, readback, encoding);
criterion_main!(benches);
