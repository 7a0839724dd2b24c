//! Texture decoding (issue 3): every format through `texture::decode`, the colour-space rule,
//! mip chains, UDIM atlases, and the real textures of the shared corpus (Storm's test images).
//!
//! Images are made in the test with the `image` and `png` crates, so each check knows its answer.
//! The corpus part reads `../shared/corpus` (or `USDRENDER_CORPUS`); without it the test prints
//! why and passes, except under `CI=true`, where a missing corpus is a failure.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{DynamicImage, ImageBuffer, ImageFormat};
use usdrender::scene::material::{TexelFormat, Texture};
use usdrender::texture::{self, assemble_udim, decode, ColorSpace};

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format)
        .unwrap_or_else(|e| panic!("encode {format:?}: {e}"));
    out.into_inner()
}

fn texel(tex: &Texture, x: u32, y: u32) -> [f32; 4] {
    texture::texel(tex, 0, x, y).expect("texel inside the texture")
}

/// Equal within half-float precision (or exactly, for values half holds exactly).
fn assert_close(got: [f32; 4], want: [f32; 4], tolerance: f32, what: &str) {
    for c in 0..4 {
        let tol = tolerance * want[c].abs().max(1.0);
        assert!((got[c] - want[c]).abs() <= tol, "{what}: got {got:?}, want {want:?}");
    }
}

const HALF: f32 = 1.0 / 1024.0;

fn mip_sizes(tex: &Texture) -> Vec<(u32, u32)> {
    let (mut w, mut h) = (tex.width, tex.height);
    let mut sizes = Vec::new();
    for level in &tex.mips {
        assert_eq!(
            level.len(),
            (w * h) as usize * tex.format.bytes_per_texel(),
            "level size"
        );
        sizes.push((w, h));
        (w, h) = (texture::mip_size(w), texture::mip_size(h));
    }
    sizes
}

#[test]
fn png_8bit_layouts_expand_to_rgba() {
    let grey = ImageBuffer::from_fn(3, 2, |x, y| image::Luma([(x * 40 + y * 100) as u8]));
    let t = decode(&encode(grey.into(), ImageFormat::Png), "g.png", ColorSpace::Auto).unwrap();
    assert_eq!((t.width, t.height, t.format), (3, 2, TexelFormat::Rgba8Unorm));
    assert_eq!(&t.mips[0][4 * 4..5 * 4], &[140, 140, 140, 255], "grey to rgb, alpha 1");

    let grey_alpha = ImageBuffer::from_fn(3, 2, |x, _| image::LumaA([50 * x as u8, 7]));
    let t = decode(&encode(grey_alpha.into(), ImageFormat::Png), "ga.png", ColorSpace::Auto).unwrap();
    assert_eq!(t.format, TexelFormat::Rgba8Unorm);
    assert_eq!(&t.mips[0][8..12], &[100, 100, 100, 7]);

    let rgb = ImageBuffer::from_fn(3, 2, |x, y| image::Rgb([x as u8 * 80, y as u8 * 200, 33]));
    let t = decode(&encode(rgb.into(), ImageFormat::Png), "rgb.png", ColorSpace::Auto).unwrap();
    assert_eq!(t.format, TexelFormat::Rgba8Srgb);
    assert_eq!(&t.mips[0][5 * 4..6 * 4], &[160, 200, 33, 255]);

    let rgba = ImageBuffer::from_fn(3, 2, |x, y| image::Rgba([1, 2, x as u8, 100 + y as u8]));
    let t = decode(&encode(rgba.into(), ImageFormat::Png), "rgba.png", ColorSpace::Auto).unwrap();
    assert_eq!(t.format, TexelFormat::Rgba8Srgb);
    assert_eq!(&t.mips[0][5 * 4..6 * 4], &[1, 2, 2, 101]);
}

#[test]
fn png_palette_with_transparency() {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 2, 2);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![255, 0, 0, 0, 255, 0, 10, 20, 30]);
        enc.set_trns(vec![255, 128]);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&[0, 1, 2, 1]).unwrap();
    }
    let t = decode(&bytes, "palette.png", ColorSpace::Auto).unwrap();
    assert_eq!(t.format, TexelFormat::Rgba8Srgb, "a palette image is a colour image");
    assert_eq!(
        t.mips[0],
        vec![255, 0, 0, 255, 0, 255, 0, 128, 10, 20, 30, 255, 0, 255, 0, 128]
    );
}

#[test]
fn png_16bit_becomes_half_float() {
    let img = ImageBuffer::from_fn(3, 1, |x, _| {
        image::Rgba([[0u16, 32768, 65535][x as usize], 1000, 65535, 16384])
    });
    let bytes = encode(DynamicImage::ImageRgba16(img), ImageFormat::Png);
    let t = decode(&bytes, "deep.png", ColorSpace::Raw).unwrap();
    assert_eq!(t.format, TexelFormat::Rgba16Float);
    assert_close(
        texel(&t, 1, 0),
        [32768.0 / 65535.0, 1000.0 / 65535.0, 1.0, 16384.0 / 65535.0],
        HALF,
        "raw",
    );
    let s = texture::srgb_to_linear;
    let want = [s(32768.0 / 65535.0), s(1000.0 / 65535.0), 1.0, 16384.0 / 65535.0];
    for space in [ColorSpace::Srgb, ColorSpace::Auto] {
        let t = decode(&bytes, "deep.png", space).unwrap();
        assert_close(
            texel(&t, 1, 0),
            want,
            HALF,
            "sRGB decoded (auto: a colour image), alpha linear",
        );
    }

    let grey = ImageBuffer::from_fn(2, 1, |x, _| image::Luma([x as u16 * 21845]));
    let t = decode(
        &encode(DynamicImage::ImageLuma16(grey), ImageFormat::Png),
        "g16.png",
        ColorSpace::Auto,
    )
    .unwrap();
    assert_close(
        texel(&t, 1, 0),
        [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 1.0],
        HALF,
        "grey 16-bit reads raw",
    );
}

/// A 2x1 8-bit PNG of `color` type with a `gAMA` chunk of `gamma`.
fn png_with_gamma(color: png::ColorType, gamma: f32) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 2, 1);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_source_gamma(png::ScaledFloat::new(gamma));
        let mut writer = enc.write_header().unwrap();
        let samples = if color == png::ColorType::Grayscale { 2 } else { 6 };
        writer.write_image_data(&vec![128; samples]).unwrap();
    }
    bytes
}

#[test]
fn png_gamma_chunk_decides_auto_as_storm_does() {
    let grey_srgb = png_with_gamma(png::ColorType::Grayscale, 0.45455);
    let rgb_linear = png_with_gamma(png::ColorType::Rgb, 1.0);
    let rgb_odd = png_with_gamma(png::ColorType::Rgb, 0.7);
    let format = |bytes: &[u8], space| decode(bytes, "g.png", space).unwrap().format;
    assert_eq!(
        format(&grey_srgb, ColorSpace::Auto),
        TexelFormat::Rgba8Srgb,
        "gAMA 1/2.2 on grey"
    );
    assert_eq!(
        format(&rgb_linear, ColorSpace::Auto),
        TexelFormat::Rgba8Unorm,
        "gAMA 1.0 on rgb"
    );
    assert_eq!(
        format(&rgb_odd, ColorSpace::Auto),
        TexelFormat::Rgba8Srgb,
        "unknown gamma: channel rule"
    );
    assert_eq!(
        format(&rgb_linear, ColorSpace::Srgb),
        TexelFormat::Rgba8Srgb,
        "authored wins"
    );
    assert_eq!(
        format(&grey_srgb, ColorSpace::Raw),
        TexelFormat::Rgba8Unorm,
        "authored wins"
    );
}

#[test]
fn colour_space_rule_picks_the_texel_format() {
    let rgb = encode(DynamicImage::ImageRgb8(ImageBuffer::new(2, 2)), ImageFormat::Png);
    let grey = encode(DynamicImage::ImageLuma8(ImageBuffer::new(2, 2)), ImageFormat::Png);
    let float = encode(DynamicImage::ImageRgba32F(ImageBuffer::new(2, 2)), ImageFormat::OpenExr);
    let deep = encode(DynamicImage::ImageRgb16(ImageBuffer::new(2, 2)), ImageFormat::Png);
    let cases = [
        (&rgb, ColorSpace::Auto, TexelFormat::Rgba8Srgb),
        (&rgb, ColorSpace::Srgb, TexelFormat::Rgba8Srgb),
        (&rgb, ColorSpace::Raw, TexelFormat::Rgba8Unorm),
        (&grey, ColorSpace::Auto, TexelFormat::Rgba8Unorm),
        (&grey, ColorSpace::Srgb, TexelFormat::Rgba8Srgb),
        (&grey, ColorSpace::Raw, TexelFormat::Rgba8Unorm),
        (&float, ColorSpace::Auto, TexelFormat::Rgba16Float),
        (&float, ColorSpace::Srgb, TexelFormat::Rgba16Float),
        (&deep, ColorSpace::Auto, TexelFormat::Rgba16Float),
    ];
    for (bytes, space, want) in cases {
        let name = if bytes == &float { "f.exr" } else { "i.png" };
        assert_eq!(decode(bytes, name, space).unwrap().format, want, "{name} {space:?}");
    }
}

#[test]
fn jpeg_decodes_within_its_loss() {
    let img = ImageBuffer::from_pixel(16, 8, image::Rgb([200u8, 100, 50]));
    let t = decode(&encode(img.into(), ImageFormat::Jpeg), "a.jpg", ColorSpace::Auto).unwrap();
    assert_eq!((t.width, t.height, t.format), (16, 8, TexelFormat::Rgba8Srgb));
    for (got, want) in t.mips[0][..4].iter().zip([200u8, 100, 50, 255]) {
        assert!(got.abs_diff(want) <= 2, "{:?}", &t.mips[0][..4]);
    }
    let img = ImageBuffer::from_pixel(8, 8, image::Luma([90u8]));
    let t = decode(&encode(img.into(), ImageFormat::Jpeg), "g.jpeg", ColorSpace::Auto).unwrap();
    assert_eq!(
        t.format,
        TexelFormat::Rgba8Unorm,
        "single-channel jpeg reads raw under auto"
    );
    assert!(t.mips[0][0].abs_diff(90) <= 1 && t.mips[0][3] == 255);
}

#[test]
fn exr_half_range_and_beyond() {
    let values = [[0.125, 3.5, -1.0, 0.5], [1000.0, 0.0, 2.0, 1.0]];
    let img = ImageBuffer::from_fn(2, 1, |x, _| image::Rgba(values[x as usize]));
    let t = decode(
        &encode(DynamicImage::ImageRgba32F(img), ImageFormat::OpenExr),
        "a.exr",
        ColorSpace::Srgb,
    )
    .unwrap();
    assert_eq!(t.format, TexelFormat::Rgba16Float);
    assert_close(
        texel(&t, 0, 0),
        values[0],
        HALF,
        "exr texel 0 (float images stay linear)",
    );
    assert_close(texel(&t, 1, 0), values[1], HALF, "exr texel 1");

    let sun = [100000.0, 0.25, 7.0, 1.0];
    let img = ImageBuffer::from_fn(2, 1, |x, _| image::Rgba(if x == 0 { sun } else { [0.0; 4] }));
    let t = decode(
        &encode(DynamicImage::ImageRgba32F(img), ImageFormat::OpenExr),
        "sun.exr",
        ColorSpace::Auto,
    )
    .unwrap();
    assert_eq!(
        t.format,
        TexelFormat::Rgba32Float,
        "beyond half range keeps full floats"
    );
    assert_eq!(texel(&t, 0, 0), sun);
    assert_close(
        texture::texel(&t, 1, 0, 0).unwrap(),
        [50000.0, 0.125, 3.5, 0.5],
        1e-6,
        "mip average",
    );

    let img = ImageBuffer::from_pixel(2, 2, image::Rgb([0.5f32, 1.5, 4.0]));
    let t = decode(
        &encode(DynamicImage::ImageRgb32F(img), ImageFormat::OpenExr),
        "rgb.exr",
        ColorSpace::Auto,
    )
    .unwrap();
    assert_close(texel(&t, 1, 1), [0.5, 1.5, 4.0, 1.0], HALF, "rgb exr gets alpha 1");
}

#[test]
fn radiance_hdr() {
    // Values RGBE holds exactly (shared exponent, 8-bit mantissas).
    let img = ImageBuffer::from_fn(3, 2, |x, _| image::Rgb([[0.5f32, 2.0, 8.0][x as usize], 0.25, 1.0]));
    let t = decode(
        &encode(DynamicImage::ImageRgb32F(img), ImageFormat::Hdr),
        "sky.hdr",
        ColorSpace::Auto,
    )
    .unwrap();
    assert_eq!((t.width, t.height, t.format), (3, 2, TexelFormat::Rgba16Float));
    assert_close(texel(&t, 0, 1), [0.5, 0.25, 1.0, 1.0], HALF, "hdr texel");
    assert_close(
        texel(&t, 2, 0),
        [8.0, 0.25, 1.0, 1.0],
        1.0 / 64.0,
        "hdr texel (shared exponent)",
    );
}

#[test]
fn tga_bmp_and_tiff() {
    let rgba = ImageBuffer::from_fn(3, 2, |x, y| image::Rgba([x as u8 * 50, y as u8 * 60, 7, 200]));
    let want = |x: usize| [x as u8 * 50, 60, 7, 200];
    // TGA has no signature: the name's extension tells the format.
    let t = decode(
        &encode(rgba.clone().into(), ImageFormat::Tga),
        "tex/a.tga",
        ColorSpace::Auto,
    )
    .unwrap();
    assert_eq!(t.format, TexelFormat::Rgba8Srgb);
    assert_eq!(&t.mips[0][(3 + 2) * 4..(3 + 3) * 4], &want(2));
    let in_package = decode(
        &encode(rgba.clone().into(), ImageFormat::Tga),
        "p.usdz[a.tga]",
        ColorSpace::Raw,
    )
    .unwrap();
    assert_eq!(in_package.format, TexelFormat::Rgba8Unorm);

    let t = decode(
        &encode(rgba.clone().into(), ImageFormat::Bmp),
        "a.bmp",
        ColorSpace::Auto,
    )
    .unwrap();
    assert_eq!(&t.mips[0][(3 + 1) * 4..(3 + 2) * 4], &want(1));
    let rgb = DynamicImage::ImageRgba8(rgba.clone()).into_rgb8();
    let t = decode(&encode(rgb.into(), ImageFormat::Bmp), "b.bmp", ColorSpace::Auto).unwrap();
    assert_eq!(&t.mips[0][(3 + 1) * 4..(3 + 2) * 4], &[50, 60, 7, 255]);

    let t = decode(&encode(rgba.into(), ImageFormat::Tiff), "a.tif", ColorSpace::Auto).unwrap();
    assert_eq!(&t.mips[0][(3 + 2) * 4..(3 + 3) * 4], &want(2));
    let deep = ImageBuffer::from_pixel(2, 2, image::Rgb([65535u16, 0, 13107]));
    let t = decode(
        &encode(DynamicImage::ImageRgb16(deep), ImageFormat::Tiff),
        "d.tiff",
        ColorSpace::Auto,
    )
    .unwrap();
    assert_eq!(t.format, TexelFormat::Rgba16Float);
    let blue = texture::srgb_to_linear(0.2);
    assert_close(
        texel(&t, 1, 1),
        [1.0, 0.0, blue, 1.0],
        HALF,
        "16-bit colour tiff, auto = sRGB",
    );
}

#[test]
fn mip_chain_of_odd_sizes_weighs_by_area() {
    // 5x3 -> 2x1 -> 1x1; columns 0, 50, 100, 150, 200 (raw).
    let img = ImageBuffer::from_fn(5, 3, |x, _| image::Luma([x as u8 * 50]));
    let t = decode(&encode(img.into(), ImageFormat::Png), "odd.png", ColorSpace::Raw).unwrap();
    assert_eq!(mip_sizes(&t), vec![(5, 3), (2, 1), (1, 1)]);
    let bytes = encode(
        ImageBuffer::from_fn(5, 3, |x, _| image::Luma([x as u8 * 50])).into(),
        ImageFormat::Png,
    );
    let tile = texture::decode_level0(&bytes, "odd.png", ColorSpace::Raw).unwrap();
    assert_eq!(
        (tile.mips.len(), &tile.mips[0]),
        (1, &t.mips[0]),
        "level 0 alone, same texels"
    );
    // Texel 0 of level 1 covers columns 0, 1 and half of 2: (0 + 50 + 50) / 2.5 = 40.
    assert_eq!(t.mips[1], vec![40, 40, 40, 255, 160, 160, 160, 255]);
    assert_eq!(t.mips[2], vec![100, 100, 100, 255]);

    let t = decode(
        &encode(ImageBuffer::<image::Rgb<u8>, _>::new(8, 2).into(), ImageFormat::Png),
        "w.png",
        ColorSpace::Auto,
    )
    .unwrap();
    assert_eq!(mip_sizes(&t), vec![(8, 2), (4, 1), (2, 1), (1, 1)]);
    let t = decode(
        &encode(ImageBuffer::<image::Rgb<u8>, _>::new(1, 1).into(), ImageFormat::Png),
        "1.png",
        ColorSpace::Auto,
    )
    .unwrap();
    assert_eq!(mip_sizes(&t), vec![(1, 1)]);
}

#[test]
fn bad_input_errors_name_the_file() {
    let err = decode(b"not an image at all", "tex/garbage.png", ColorSpace::Auto).expect_err("garbage");
    assert!(err.contains("tex/garbage.png"), "{err}");
    let err = decode(b"\0\0\0", "model.tex", ColorSpace::Auto).expect_err("unknown format");
    assert!(err.contains("model.tex"), "{err}");
    let wide = ImageBuffer::from_pixel(16385, 1, image::Luma([0u8]));
    let err = decode(&encode(wide.into(), ImageFormat::Png), "wide.png", ColorSpace::Auto).expect_err("too wide");
    assert!(err.contains("wide.png") && err.contains("too large"), "{err}");
}

fn plain(name: &str, w: u32, h: u32, format: TexelFormat, fill: [f32; 4]) -> Texture {
    let mut bytes = Vec::new();
    for _ in 0..w * h {
        match format {
            TexelFormat::Rgba8Srgb | TexelFormat::Rgba8Unorm => {
                bytes.extend(fill.map(|v| (v * 255.0).round() as u8));
            }
            TexelFormat::Rgba16Float => {
                fill.iter()
                    .for_each(|v| bytes.extend(half::f16::from_f32(*v).to_le_bytes()));
            }
            TexelFormat::Rgba32Float => fill.iter().for_each(|v| bytes.extend(v.to_le_bytes())),
        }
    }
    Texture {
        name: name.into(),
        width: w,
        height: h,
        format,
        mips: texture::build_mips(bytes, w, h, format),
        udim_tiles: [1, 1],
    }
}

#[test]
fn udim_atlas_layout_and_mixed_formats() {
    let tiles = vec![
        (
            1001,
            plain("t_1001.png", 2, 2, TexelFormat::Rgba8Unorm, [1.0, 0.0, 0.0, 1.0]),
        ),
        (
            1003,
            plain("t_1003.exr", 4, 2, TexelFormat::Rgba16Float, [0.0, 2.0, 0.0, 1.0]),
        ),
        (
            1021,
            plain("t_1021.png", 1, 1, TexelFormat::Rgba8Unorm, [0.0, 0.0, 1.0, 1.0]),
        ),
    ];
    let atlas = assemble_udim(tiles).unwrap();
    assert_eq!(atlas.udim_tiles, [3, 3], "columns = max u + 1, rows = max v + 1");
    assert_eq!(
        (atlas.width, atlas.height),
        (12, 6),
        "tiles resampled to the largest (4x2)"
    );
    assert_eq!(
        atlas.format,
        TexelFormat::Rgba16Float,
        "mixed formats become half floats"
    );
    assert_eq!(texel(&atlas, 0, 5), [1.0, 0.0, 0.0, 1.0], "1001: bottom left");
    assert_eq!(texel(&atlas, 3, 4), [1.0, 0.0, 0.0, 1.0], "1001 stretched to 4x2");
    assert_eq!(texel(&atlas, 11, 4), [0.0, 2.0, 0.0, 1.0], "1003: bottom right");
    assert_eq!(texel(&atlas, 0, 0), [0.0, 0.0, 1.0, 1.0], "1021: top left");
    assert_eq!(texel(&atlas, 5, 5), [0.0; 4], "1002 missing: black, transparent");
    assert_eq!(texel(&atlas, 5, 2), [0.0; 4], "1012 missing");
    assert_eq!(mip_sizes(&atlas), vec![(12, 6), (6, 3), (3, 1), (1, 1)]);

    let err = assemble_udim(vec![(
        1101,
        plain("t_1101.png", 1, 1, TexelFormat::Rgba8Unorm, [0.0; 4]),
    )]);
    assert!(err.expect_err("beyond 1100").contains("t_1101.png"));
    assert!(assemble_udim(Vec::new()).is_err());
}

// ---- The shared corpus -------------------------------------------------------------------------

fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("USDRENDER_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    dir.join("openusd/usdImagingGL").is_dir().then_some(dir)
}

/// The corpus, or `None` after saying why (a failure under `CI=true`).
fn corpus() -> Option<PathBuf> {
    let dir = corpus_dir();
    if dir.is_none() {
        let msg = "shared corpus not found (../shared/corpus or USDRENDER_CORPUS): texture corpus test skipped";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("{msg}");
    }
    dir
}

fn decode_file(path: &Path, space: ColorSpace) -> Texture {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.display().to_string();
    // Timed twice: level 0 alone, then with its mip chain (the difference is the mip cost).
    let start = Instant::now();
    texture::decode_level0(&bytes, &name, space).unwrap_or_else(|e| panic!("{e}"));
    let level0 = start.elapsed().as_secs_f64() * 1000.0;
    let start = Instant::now();
    let tex = decode(&bytes, &name, space).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{}: {}x{} {:?}, {} mips, decode {:.1} ms, with mips {:.1} ms",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        tex.width,
        tex.height,
        tex.format,
        tex.mips.len(),
        level0,
        start.elapsed().as_secs_f64() * 1000.0
    );
    tex
}

/// A corpus image as a reference decoder reads it: (file, size, format under auto,
/// texel (3, 5), texel (w/2 + 1, h/3)).
type Truth = (&'static str, (u32, u32), TexelFormat, [u8; 4], [u8; 4]);

#[test]
fn corpus_textures_match_a_reference_decoder() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("openusd/usdImagingGL/testUsdImagingGLPreviewSurface");
    // As PIL reads them.
    #[rustfmt::skip]
    let truth: [Truth; 10] = [
        ("bricks_color.png", (1024, 1024), TexelFormat::Rgba8Srgb, [170, 153, 137, 255], [38, 37, 19, 255]),
        ("bricks_disp.png", (1024, 1024), TexelFormat::Rgba8Srgb, [255, 255, 255, 255], [0, 0, 0, 255]),
        ("checkerboard.png", (768, 768), TexelFormat::Rgba8Srgb, [1, 2, 0, 255], [128, 85, 0, 255]),
        ("grid.png", (512, 512), TexelFormat::Rgba8Srgb, [255, 255, 255, 255], [255, 0, 0, 255]),
        ("normalMap.png", (256, 256), TexelFormat::Rgba8Srgb, [127, 124, 255, 255], [126, 124, 255, 255]),
        ("texLinear.png", (256, 256), TexelFormat::Rgba8Srgb, [0, 131, 80, 255], [204, 114, 88, 255]),
        ("texSRGB.png", (256, 256), TexelFormat::Rgba8Srgb, [0, 190, 152, 255], [231, 178, 158, 255]),
        ("textureCutout.png", (256, 256), TexelFormat::Rgba8Srgb, [0, 0, 0, 0], [0, 255, 0, 255]),
        ("WoodPlanks.jpg", (4256, 2832), TexelFormat::Rgba8Srgb, [134, 116, 106, 255], [147, 139, 137, 255]),
        ("../testUsdImagingGLDomeLight/testImage.png", (1024, 512), TexelFormat::Rgba8Srgb, [0, 239, 255, 255], [255, 0, 255, 255]),
    ];
    for (file, size, format, a, b) in truth {
        let tex = decode_file(&dir.join(file), ColorSpace::Auto);
        assert_eq!(((tex.width, tex.height), tex.format), (size, format), "{file}");
        assert_eq!(mip_sizes(&tex).last(), Some(&(1, 1)), "{file}");
        let at = |x: u32, y: u32| {
            let i = (y * tex.width + x) as usize * 4;
            tex.mips[0][i..i + 4].to_vec()
        };
        // JPEG decoders may round differently from libjpeg by a step or two.
        let slack = if file.ends_with(".jpg") { 3 } else { 0 };
        for (got, want) in [(at(3, 5), a), (at(size.0 / 2 + 1, size.1 / 3), b)] {
            let close = got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= slack);
            assert!(close, "{file}: got {got:?}, want {want:?}");
        }
    }
    // Raw keeps the bytes and changes only the format.
    let raw = decode_file(&dir.join("texLinear.png"), ColorSpace::Raw);
    assert_eq!(raw.format, TexelFormat::Rgba8Unorm);
    assert_eq!(&raw.mips[0][(5 * 256 + 3) * 4..(5 * 256 + 4) * 4], &[0, 131, 80, 255]);
}

#[test]
fn corpus_float_environments_and_dome_irradiance() {
    let Some(corpus) = corpus() else { return };
    let hdr = decode_file(
        &corpus.join("openusd/usdrecord/SmallObjectTest/StinsonBeach.hdr"),
        ColorSpace::Auto,
    );
    assert_eq!((hdr.width, hdr.height), (1024, 512));
    assert!(matches!(
        hdr.format,
        TexelFormat::Rgba16Float | TexelFormat::Rgba32Float
    ));
    let start = Instant::now();
    let sh = texture::irradiance_sh9(&hdr);
    eprintln!("irradiance_sh9: {:.2} ms", start.elapsed().as_secs_f64() * 1000.0);
    let up = texture::eval_sh9(&sh, [0.0, 1.0, 0.0]);
    let down = texture::eval_sh9(&sh, [0.0, -1.0, 0.0]);
    eprintln!("StinsonBeach irradiance up {up:?}, down {down:?}");
    assert!(up.iter().zip(down).all(|(u, d)| *u > d), "a beach is lit from the sky");
    assert!(up.iter().all(|v| v.is_finite() && *v > 0.0));

    // The lat-long orientation checked against Storm's dome-light baselines (see
    // texture::latlong_direction): testImage.png's bands land where the mirror sphere shows them.
    let dome = decode_file(
        &corpus.join("openusd/usdImagingGL/testUsdImagingGLDomeLight/testImage.png"),
        ColorSpace::Auto,
    );
    let look = |d: [f32; 3]| {
        let [u, v] = texture::latlong_uv(d);
        let x = ((u * dome.width as f32) as u32).min(dome.width - 1);
        let y = ((v * dome.height as f32) as u32).min(dome.height - 1);
        let i = (y * dome.width + x) as usize * 4;
        dome.mips[0][i..i + 3].to_vec()
    };
    assert_eq!(look([1.0, 0.0, 0.0]), vec![0, 255, 0], "+X: green");
    assert_eq!(look([0.0, 0.0, 1.0]), vec![255, 0, 255], "+Z: magenta");
    assert_eq!(look([-1.0, 0.0, 0.0]), vec![255, 255, 0], "-X: yellow");
    assert_eq!(look([0.0, 0.0, -1.0]), vec![255, 0, 0], "-Z: red");
    assert_eq!(look([0.0, 1.0, 0.0])[2], 255, "+Y: cyan sky");
    assert_eq!(look([0.0, -1.0, 0.0]), vec![0, 0, 255], "-Y: blue ground");

    let exr = decode_file(
        &corpus.join("openusd/usdImagingGL/testUsdImagingGLCards/WoodPlanksDonut.exr"),
        ColorSpace::Auto,
    );
    assert!(matches!(
        exr.format,
        TexelFormat::Rgba16Float | TexelFormat::Rgba32Float
    ));
    assert_eq!(mip_sizes(&exr).last(), Some(&(1, 1)));
}

#[test]
fn corpus_udim_tiles_assemble() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("openusd/usdImagingGL/testUsdImagingGLUsdUdims");
    let start = Instant::now();
    let mut tiles = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix("texture_").and_then(|n| n.strip_suffix(".jpg")) {
            let n: u32 = n.parse().unwrap();
            tiles.push((
                n,
                decode(&std::fs::read(entry.path()).unwrap(), &name, ColorSpace::Auto).unwrap(),
            ));
        }
    }
    tiles.sort_by_key(|(n, _)| *n);
    assert_eq!(tiles.len(), 12, "1001..1013 without 1007");
    let atlas = assemble_udim(tiles).unwrap();
    eprintln!(
        "UDIM set: 12 tiles decoded and assembled in {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(atlas.udim_tiles, [10, 2]);
    assert_eq!((atlas.width, atlas.height), (5120, 1024));
    assert_eq!(atlas.format, TexelFormat::Rgba8Srgb);
    // Tile 1007 (u = 6, bottom row) is missing: black and transparent.
    let i = ((1024 - 10) * 5120 + 6 * 512 + 10) * 4;
    assert_eq!(&atlas.mips[0][i..i + 4], &[0, 0, 0, 0]);
    // Tiles 1001 and 1010 fill the bottom row's ends; the top row stops after 1013 (u = 2).
    let alpha = |x: usize, y: usize| atlas.mips[0][(y * 5120 + x) * 4 + 3];
    assert_eq!((alpha(10, 1014), alpha(9 * 512 + 10, 1014)), (255, 255));
    assert_eq!((alpha(2 * 512 + 10, 10), alpha(3 * 512 + 10, 10)), (255, 0));
}

/// Timing only (run with `--release --ignored --nocapture`): the mip chain of a 12-megapixel
/// image in each texel format.
#[test]
#[ignore]
fn time_mip_chains() {
    let (w, h) = (4256u32, 2832u32);
    for format in [
        TexelFormat::Rgba8Srgb,
        TexelFormat::Rgba8Unorm,
        TexelFormat::Rgba16Float,
        TexelFormat::Rgba32Float,
    ] {
        let level0: Vec<u8> = (0..w as usize * h as usize * format.bytes_per_texel())
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let start = Instant::now();
        let mips = texture::build_mips(level0, w, h, format);
        eprintln!(
            "{format:?}: {} levels in {:.1} ms",
            mips.len(),
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
}
