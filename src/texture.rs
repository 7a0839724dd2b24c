//! Texture images: decoding files (PNG, JPEG, EXR, HDR, TGA, BMP, TIFF) into linear or sRGB
//! texels, building mip chains, and assembling `<UDIM>` tiles into one atlas. Plain CPU work:
//! no USD (the bytes come from `stage::assets`) and no wgpu (the GPU side uploads the result).
//!
//! Decisions, each with its reason:
//! - **Colour space** follows Storm's `Hio_StbImage::IsColorSpaceSRGB` (pxr/imaging/hio/
//!   stbImage.cpp), which reads PNG, JPEG, TGA, BMP and HDR: `sRGB` and `raw` are obeyed as
//!   authored on integer images. `auto` first trusts a PNG `gAMA` chunk (within 0.1 of 0.45455:
//!   sRGB; of 1.0: raw), and otherwise means sRGB for an image with 3 or 4 channels (RGB, RGBA,
//!   palette) and raw for 1 or 2 (grey, grey+alpha). Alpha is never sRGB-encoded.
//! - **16-bit integer** images become `Rgba16Float` holding value / 65535, sRGB-decoded to linear
//!   when the rule above says sRGB. Storm's stb reader reduces a 16-bit PNG to 8 bits and applies
//!   the same 3/4-channel rule, so decoding it keeps Storm's look with more precision.
//! - **Float** images (EXR, HDR, 32-bit TIFF) are linear whatever the colour space says, and
//!   become `Rgba16Float` unless a finite value lies beyond half range (|v| > 65504: a sun in an
//!   HDR sky), in which case `Rgba32Float`, so that nothing saturates to infinity.
//! - **Mips**: an area-weighted box filter (exact for odd sizes: 5 texels to 2 weighs the middle
//!   one half to each side), in linear light for sRGB texels (decode, average, re-encode), on
//!   straight (not premultiplied) alpha.

use std::io::Cursor;
use std::sync::OnceLock;

use half::f16;
use rayon::prelude::*;

use crate::scene::material::{TexelFormat, Texture};

/// Largest image side accepted, in texels (as large as GPUs sample).
pub const MAX_SIDE: u32 = 16384;
/// Largest decoded level 0 accepted, in bytes.
pub const MAX_BYTES: u64 = 1 << 30;
/// Largest texture side kept: a larger image is scaled down to fit while it is decoded (an area
/// filter, in linear light for sRGB texels), and a warning names it. No image usdrender renders
/// is larger (`job::MAX_SIDE`), every wgpu device samples this size (its default limit), and one
/// 16384x16384 PNG took 4.7 GB at the peak of a render on lavapipe (1.1 GB at this size).
pub const MAX_KEPT_SIDE: u32 = 8192;

/// UsdUVTexture `sourceColorSpace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ColorSpace {
    /// Storm's guess: a PNG's `gAMA` chunk if it has one, else integer images with 3 or 4
    /// channels are sRGB; grey images and float images are read as they are.
    #[default]
    Auto,
    Raw,
    Srgb,
}

impl ColorSpace {
    /// From UsdUVTexture's `sourceColorSpace` token (`auto`, `raw`, `sRGB`); anything else is
    /// `auto`, the schema's fallback.
    pub fn from_token(token: &str) -> ColorSpace {
        match token {
            "raw" => ColorSpace::Raw,
            "sRGB" => ColorSpace::Srgb,
            _ => ColorSpace::Auto,
        }
    }
}

/// Decodes an image file's bytes; `name` is only for messages (and, for formats with no
/// signature such as TGA, its extension tells the format).
pub fn decode(bytes: &[u8], name: &str, color_space: ColorSpace) -> Result<Texture, String> {
    let mut tex = decode_level0(bytes, name, color_space)?;
    let level0 = std::mem::take(&mut tex.mips);
    tex.mips = build_mips(
        level0.into_iter().next().unwrap_or_default(),
        tex.width,
        tex.height,
        tex.format,
    );
    Ok(tex)
}

/// [`decode`] without the mip chain (`mips` holds level 0 alone): for UDIM tiles, whose mips are
/// built on the atlas.
pub fn decode_level0(bytes: &[u8], name: &str, color_space: ColorSpace) -> Result<Texture, String> {
    use image::ImageDecoder;

    if let Some(decoded) = decode_png_rows(bytes, name, color_space) {
        return decoded;
    }
    let decoder = reader(bytes, name)?.into_decoder().map_err(|e| describe(name, e))?;
    let (width, height) = decoder.dimensions();
    check_size(name, width, height)?;
    // Refuse before decoding what would exceed the limit once stored (16-bit and float images
    // take at least 8 bytes a texel).
    let least = if decoder.color_type().bytes_per_pixel() / decoder.color_type().channel_count() > 1 {
        TexelFormat::Rgba16Float
    } else {
        TexelFormat::Rgba8Unorm
    };
    check_bytes(name, width, height, least)?;
    let image = image::DynamicImage::from_decoder(decoder).map_err(|e| describe(name, e))?;
    let mut tex = from_image(image, name, color_space, gamma_hint(bytes))?;
    let (kw, kh) = kept_size(tex.width, tex.height);
    if (kw, kh) != (tex.width, tex.height) {
        warn_scaled(name, tex.width, tex.height, kw, kh);
        let level0 = std::mem::take(&mut tex.mips).into_iter().next().unwrap_or_default();
        tex.mips = vec![resample(&level0, tex.width, tex.height, kw, kh, tex.format)];
        (tex.width, tex.height) = (kw, kh);
    }
    Ok(tex)
}

/// What a PNG's `gAMA` chunk says of its encoding: `Some(true)` for sRGB's 1/2.2, `Some(false)`
/// for linear, `None` for no chunk or another gamma.
fn gamma_hint(bytes: &[u8]) -> Option<bool> {
    png_gamma(bytes).and_then(|g| {
        if (g - 0.45455).abs() < 0.1 {
            Some(true)
        } else if (g - 1.0).abs() < 0.1 {
            Some(false)
        } else {
            None
        }
    })
}

/// The size an image of `width` x `height` is kept at: itself, or scaled (aspect kept) so that
/// its longer side is [`MAX_KEPT_SIDE`].
pub fn kept_size(width: u32, height: u32) -> (u32, u32) {
    let longer = width.max(height);
    if longer <= MAX_KEPT_SIDE {
        return (width, height);
    }
    let scale = |n: u32| ((u64::from(n) * u64::from(MAX_KEPT_SIDE) + u64::from(longer) / 2) / u64::from(longer)).max(1);
    (scale(width) as u32, scale(height) as u32)
}

fn warn_scaled(name: &str, width: u32, height: u32, kw: u32, kh: u32) {
    log::warn!(
        "{name}: a {width}x{height} texture, scaled down to {kw}x{kh} (usdrender keeps textures up to {MAX_KEPT_SIDE} texels a side)"
    );
}

/// Decodes a PNG a row at a time straight into the texels kept (RGBA, 8-bit or half float as
/// [`from_image`] chooses), scaling rows down on the way when the image is larger than
/// [`MAX_KEPT_SIDE`]: no full-size copy of the image exists at any time (a 16384x16384 RGB PNG
/// took 768 MiB decoded plus 1 GiB expanded to RGBA through the image crate). `None` for what
/// this leaves to the image crate: not a PNG, an interlaced PNG (rows come in passes), or a
/// header that does not read (the image crate then says why).
fn decode_png_rows(bytes: &[u8], name: &str, color_space: ColorSpace) -> Option<Result<Texture, String>> {
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return None;
    }
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    // As the image crate reads PNGs: palettes and low bit depths expanded, tRNS as alpha.
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut rows = decoder.read_info().ok()?;
    let (width, height) = (rows.info().width, rows.info().height);
    if rows.info().interlaced {
        return None;
    }
    Some(read_png_rows(
        &mut rows,
        name,
        color_space,
        gamma_hint(bytes),
        width,
        height,
    ))
}

fn read_png_rows<R: std::io::BufRead + std::io::Seek>(
    rows: &mut png::Reader<R>,
    name: &str,
    color_space: ColorSpace,
    gamma_hint: Option<bool>,
    width: u32,
    height: u32,
) -> Result<Texture, String> {
    check_size(name, width, height)?;
    let (color, depth) = rows.output_color_type();
    let channels = color.samples();
    let sixteen = depth == png::BitDepth::Sixteen;
    if !matches!(depth, png::BitDepth::Eight | png::BitDepth::Sixteen) || !(1..=4).contains(&channels) {
        return Err(format!("{name}: unsupported PNG layout ({color:?}, {depth:?})"));
    }
    let srgb = match color_space {
        ColorSpace::Srgb => true,
        ColorSpace::Raw => false,
        ColorSpace::Auto => gamma_hint.unwrap_or(channels >= 3),
    };
    let format = match (sixteen, srgb) {
        (true, _) => TexelFormat::Rgba16Float,
        (false, true) => TexelFormat::Rgba8Srgb,
        (false, false) => TexelFormat::Rgba8Unorm,
    };
    let (kw, kh) = kept_size(width, height);
    check_bytes(name, kw, kh, format)?;
    if (kw, kh) != (width, height) {
        warn_scaled(name, width, height, kw, kh);
    }
    let bpp = format.bytes_per_texel();
    let mut out = Vec::new();
    out.try_reserve_exact(kw as usize * kh as usize * bpp)
        .map_err(|_| format!("{name}: no memory for {kw}x{kh} texels"))?;
    let lut16 = sixteen.then(|| u16_lut(srgb));
    // Sample `c` of texel `x` of a row, as stored (8 or 16 bits).
    let sample = |row: &[u8], x: usize, c: usize| -> u16 {
        if sixteen {
            let at = 2 * (x * channels + c);
            u16::from_be_bytes([row[at], row[at + 1]])
        } else {
            u16::from(row[x * channels + c])
        }
    };
    // A texel's RGBA samples: grey replicated, opaque when the image has no alpha.
    let rgba = |row: &[u8], x: usize| -> [u16; 4] {
        let opaque = if sixteen { u16::MAX } else { 255 };
        match channels {
            1 => {
                let g = sample(row, x, 0);
                [g, g, g, opaque]
            }
            2 => {
                let g = sample(row, x, 0);
                [g, g, g, sample(row, x, 1)]
            }
            3 => [sample(row, x, 0), sample(row, x, 1), sample(row, x, 2), opaque],
            _ => std::array::from_fn(|c| sample(row, x, c)),
        }
    };
    let mut row = vec![0u8; width as usize * channels * (1 + usize::from(sixteen))];
    let next = |rows: &mut png::Reader<R>, row: &mut [u8]| -> Result<(), String> {
        match rows.read_row(row) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!(
                "{name}: cannot decode the image: fewer rows than its header says"
            )),
            Err(e) => Err(format!("{name}: cannot decode the image: {e}")),
        }
    };
    if (kw, kh) == (width, height) {
        // Kept as it is: each row converted in place into the texels.
        for _ in 0..height {
            next(rows, &mut row)?;
            for x in 0..width as usize {
                let px = rgba(&row, x);
                match &lut16 {
                    Some(lut) => {
                        for (c, &v) in px.iter().enumerate() {
                            let f = if c < 3 { lut[v as usize] } else { f32::from(v) / 65535.0 };
                            out.extend_from_slice(&f16::from_f32(f).to_le_bytes());
                        }
                    }
                    None => out.extend(px.map(|v| v as u8)),
                }
            }
        }
    } else {
        // Scaled down: each source row filtered across to the kept width in linear light, and
        // added with its share to the (at most two) kept rows it covers.
        let lut8 = TexelReader::new(TexelFormat::Rgba8Srgb).srgb_lut;
        let linear = |v: u16, c: usize| -> f32 {
            match (&lut16, c) {
                (Some(lut), 0..=2) => lut[v as usize],
                (Some(_), _) => f32::from(v) / 65535.0,
                (None, 0..=2) if srgb => lut8[v as usize],
                (None, _) => f32::from(v) / 255.0,
            }
        };
        let across = box_weights(width, kw);
        let down = box_weights(height, kh);
        // For each source row, the kept rows it falls in and its share of each.
        let mut shares: Vec<Vec<(usize, f32)>> = vec![Vec::new(); height as usize];
        for (d, sources) in down.iter().enumerate() {
            for &(s, f) in sources {
                shares[s].push((d, f));
            }
        }
        let last_source: Vec<usize> = down.iter().map(|s| s.last().map_or(0, |&(y, _)| y)).collect();
        let mut open: std::collections::VecDeque<(usize, Vec<[f32; 4]>)> = std::collections::VecDeque::new();
        let mut filtered = vec![[0f32; 4]; kw as usize];
        let mut lin = vec![[0f32; 4]; width as usize];
        for (y, shares_of_row) in shares.iter().enumerate() {
            next(rows, &mut row)?;
            for (x, t) in lin.iter_mut().enumerate() {
                let px = rgba(&row, x);
                *t = std::array::from_fn(|c| linear(px[c], c));
            }
            for (f, sources) in filtered.iter_mut().zip(&across) {
                *f = [0.0; 4];
                for &(sx, fx) in sources {
                    for c in 0..4 {
                        f[c] += lin[sx][c] * fx;
                    }
                }
            }
            for &(d, fy) in shares_of_row {
                if !open.iter().any(|(open_d, _)| *open_d == d) {
                    open.push_back((d, vec![[0f32; 4]; kw as usize]));
                }
                if let Some((_, sums)) = open.iter_mut().find(|(open_d, _)| *open_d == d) {
                    for (sum, f) in sums.iter_mut().zip(&filtered) {
                        for c in 0..4 {
                            sum[c] += f[c] * fy;
                        }
                    }
                }
            }
            while open.front().is_some_and(|(d, _)| last_source[*d] == y) {
                if let Some((_, sums)) = open.pop_front() {
                    for px in sums {
                        encode_texel(px, format, &mut out);
                    }
                }
            }
        }
    }
    if out.len() != kw as usize * kh as usize * bpp {
        return Err(format!("{name}: cannot decode the image: its rows do not fill it"));
    }
    Ok(Texture {
        name: name.to_string(),
        width: kw,
        height: kh,
        format,
        mips: vec![out],
        udim_tiles: [1, 1],
    })
}

/// The gamma a PNG's `gAMA` chunk declares (before the image data), if it has one.
fn png_gamma(bytes: &[u8]) -> Option<f32> {
    let mut at = 8;
    if bytes.get(..8)? != b"\x89PNG\r\n\x1a\n" {
        return None;
    }
    while let Some(header) = bytes.get(at..at + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        if kind == b"IDAT" || kind == b"IEND" {
            return None;
        }
        if kind == b"gAMA" && len == 4 {
            let g = bytes.get(at + 8..at + 12)?;
            return Some(u32::from_be_bytes([g[0], g[1], g[2], g[3]]) as f32 / 100_000.0);
        }
        at = at.checked_add(12)?.checked_add(len)?;
    }
    None
}

/// The image's size, read from its header only.
/// An OpenEXR image's `worldtoscreen` matrix (or, written by OpenImageIO before 2.2, its
/// `worldToNDC`), as stored: 16 values, row by row, for row vectors (translation in the last
/// row). What UsdGeomModelAPI's `fromTexture` cards are placed by; `None` for other files.
pub fn world_to_screen(bytes: &[u8]) -> Option<[f32; 16]> {
    let meta = exr::meta::MetaData::read_from_buffered(Cursor::new(bytes), false).ok()?;
    let header = meta.headers.first()?;
    // `worldToNDC` is a standard attribute the exr crate reads into its own field.
    let named = [&header.own_attributes.other, &header.shared_attributes.other]
        .into_iter()
        .find_map(|attrs| {
            attrs.iter().find_map(|(k, v)| match v {
                exr::meta::attribute::AttributeValue::Matrix4x4(m) if k.eq("worldtoscreen") => Some(*m),
                _ => None,
            })
        });
    named.or(header.own_attributes.world_to_normalized_device)
}

pub fn dimensions(bytes: &[u8], name: &str) -> Result<(u32, u32), String> {
    reader(bytes, name)?.into_dimensions().map_err(|e| describe(name, e))
}

/// An image reader for `bytes` with its format guessed (signature first, then the name's
/// extension) and usdrender's size limits set.
fn reader<'a>(bytes: &'a [u8], name: &str) -> Result<image::ImageReader<Cursor<&'a [u8]>>, String> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("{name}: cannot read the image: {e}"))?;
    if reader.format().is_none() {
        match format_from_name(name) {
            Some(format) => reader.set_format(format),
            None => return Err(format!("{name}: not an image format usdrender reads")),
        }
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // The decoder's own buffers (EXR decodes to 32-bit floats) may be larger than ours.
    limits.max_alloc = Some(4 * MAX_BYTES);
    reader.limits(limits);
    Ok(reader)
}

fn describe(name: &str, e: image::ImageError) -> String {
    match e {
        image::ImageError::Limits(_) => {
            format!("{name}: image too large (at most {MAX_SIDE} texels a side and 1 GiB decoded)")
        }
        image::ImageError::Unsupported(e) => format!("{name}: unsupported image: {e}"),
        e => format!("{name}: cannot decode the image: {e}"),
    }
}

/// The format named by the file's extension; `pkg.usdz[tex/a.tga]` gives the member's.
fn format_from_name(name: &str) -> Option<image::ImageFormat> {
    let inner = name.trim_end_matches(']');
    let inner = inner.rsplit('[').next().unwrap_or(inner);
    let ext = inner.rsplit_once('.')?.1;
    image::ImageFormat::from_extension(ext)
}

/// Refuses empty and absurd sizes before anything is allocated for them.
fn check_size(name: &str, width: u32, height: u32) -> Result<(), String> {
    if width == 0 || height == 0 {
        return Err(format!("{name}: the image is empty ({width}x{height})"));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "{name}: image too large ({width}x{height}; at most {MAX_SIDE} texels a side)"
        ));
    }
    // Sized as the widest texel we may store (32-bit float RGBA).
    if u64::from(width) * u64::from(height) * 16 > 4 * MAX_BYTES {
        return Err(format!("{name}: image too large ({width}x{height})"));
    }
    Ok(())
}

fn check_bytes(name: &str, width: u32, height: u32, format: TexelFormat) -> Result<(), String> {
    let bytes = u64::from(width) * u64::from(height) * format.bytes_per_texel() as u64;
    if bytes > MAX_BYTES {
        return Err(format!(
            "{name}: image too large ({width}x{height} decodes to {} MiB; at most 1024)",
            bytes >> 20
        ));
    }
    Ok(())
}

/// Converts a decoded image into a texture of the format the colour-space rule picks.
/// `gamma_hint` is what the file says of its encoding (true: sRGB), if anything.
fn from_image(
    image: image::DynamicImage,
    name: &str,
    color_space: ColorSpace,
    gamma_hint: Option<bool>,
) -> Result<Texture, String> {
    use image::DynamicImage as D;
    let (width, height) = (image.width(), image.height());
    let channels = image.color().channel_count();
    let srgb = match color_space {
        ColorSpace::Srgb => true,
        ColorSpace::Raw => false,
        ColorSpace::Auto => gamma_hint.unwrap_or(channels >= 3),
    };
    let (format, level0) = match image {
        D::ImageLuma8(_) | D::ImageLumaA8(_) | D::ImageRgb8(_) | D::ImageRgba8(_) => {
            let format = if srgb {
                TexelFormat::Rgba8Srgb
            } else {
                TexelFormat::Rgba8Unorm
            };
            check_bytes(name, width, height, format)?;
            (format, image.into_rgba8().into_raw())
        }
        D::ImageLuma16(_) | D::ImageLumaA16(_) | D::ImageRgb16(_) | D::ImageRgba16(_) => {
            check_bytes(name, width, height, TexelFormat::Rgba16Float)?;
            let lut = u16_lut(srgb);
            let raw = image.into_rgba16().into_raw();
            let mut out = Vec::with_capacity(raw.len() * 2);
            for px in raw.chunks_exact(4) {
                for (c, &v) in px.iter().enumerate() {
                    let f = if c < 3 { lut[v as usize] } else { f32::from(v) / 65535.0 };
                    out.extend_from_slice(&f16::from_f32(f).to_le_bytes());
                }
            }
            (TexelFormat::Rgba16Float, out)
        }
        // Every float layout (and any layout added to image later) goes through 32-bit floats.
        other => {
            let raw = other.into_rgba32f().into_raw();
            let beyond_half = raw.iter().any(|v| v.is_finite() && v.abs() > f16::MAX.to_f32());
            let format = if beyond_half {
                TexelFormat::Rgba32Float
            } else {
                TexelFormat::Rgba16Float
            };
            check_bytes(name, width, height, format)?;
            let bytes = encode_texels(raw.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]), format);
            (format, bytes)
        }
    };
    Ok(Texture {
        name: name.to_string(),
        width,
        height,
        format,
        mips: vec![level0],
        udim_tiles: [1, 1],
    })
}

/// 16-bit value to linear float, through the sRGB curve or not.
fn u16_lut(srgb: bool) -> Vec<f32> {
    (0..=u16::MAX)
        .map(|v| {
            let f = f32::from(v) / 65535.0;
            if srgb {
                srgb_to_linear(f)
            } else {
                f
            }
        })
        .collect()
}

/// The sRGB transfer function, encoded value to linear.
pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// The sRGB transfer function, linear to encoded value.
pub fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.0031308 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// Decodes `format` texels to linear RGBA floats (sRGB colour decoded, 8-bit scaled to 0..1).
struct TexelReader {
    format: TexelFormat,
    srgb_lut: &'static [f32; 256],
}

impl TexelReader {
    fn new(format: TexelFormat) -> TexelReader {
        static LUT: OnceLock<[f32; 256]> = OnceLock::new();
        let srgb_lut = LUT.get_or_init(|| std::array::from_fn(|i| srgb_to_linear(i as f32 / 255.0)));
        TexelReader { format, srgb_lut }
    }

    fn read(&self, bytes: &[u8], index: usize) -> [f32; 4] {
        let n = self.format.bytes_per_texel();
        let t = &bytes[index * n..index * n + n];
        match self.format {
            TexelFormat::Rgba8Srgb => [
                self.srgb_lut[t[0] as usize],
                self.srgb_lut[t[1] as usize],
                self.srgb_lut[t[2] as usize],
                f32::from(t[3]) / 255.0,
            ],
            TexelFormat::Rgba8Unorm => [t[0], t[1], t[2], t[3]].map(|v| f32::from(v) / 255.0),
            TexelFormat::Rgba16Float => std::array::from_fn(|c| f16::from_le_bytes([t[2 * c], t[2 * c + 1]]).to_f32()),
            TexelFormat::Rgba32Float => {
                std::array::from_fn(|c| f32::from_le_bytes([t[4 * c], t[4 * c + 1], t[4 * c + 2], t[4 * c + 3]]))
            }
        }
    }
}

/// A linear value as the nearest 8-bit sRGB code, exactly `round(linear_to_srgb(v) * 255)`
/// without a `powf` per channel: a 4096-bucket table gives the code at the bucket's low end, and
/// at most a step or two over the boundaries between codes finishes it (buckets are narrower
/// than the narrowest code, near black). Measured on 12M values: powf ~150-200 ms, a binary
/// search over the boundaries ~77 ms, this ~37 ms.
fn srgb_encode8(v: f32) -> u8 {
    struct Tables {
        bounds: [f32; 255],
        start: [u8; 4097],
    }
    static TABLES: OnceLock<Tables> = OnceLock::new();
    let t = TABLES.get_or_init(|| {
        let bounds: [f32; 255] = std::array::from_fn(|i| srgb_to_linear((i as f32 + 0.5) / 255.0));
        let start = std::array::from_fn(|k| bounds.partition_point(|&b| b < k as f32 / 4096.0) as u8);
        Tables { bounds, start }
    });
    if v.is_nan() {
        return 0;
    }
    let v = v.clamp(0.0, 1.0);
    let mut code = t.start[(v * 4096.0) as usize] as usize;
    while code < 255 && t.bounds[code] < v {
        code += 1;
    }
    code as u8
}

/// Encodes linear RGBA floats as `format` texels (the inverse of [`TexelReader::read`]).
fn encode_texel(px: [f32; 4], format: TexelFormat, out: &mut Vec<u8>) {
    // `+ 0.5` and truncation rounds the (non-negative) value; `f32::round` is a libm call on
    // baseline x86-64 and was a third of the mip-building time.
    let unorm = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
    match format {
        TexelFormat::Rgba8Srgb => {
            for &v in &px[..3] {
                out.push(srgb_encode8(v));
            }
            out.push(unorm(px[3]));
        }
        TexelFormat::Rgba8Unorm => out.extend(px.map(unorm)),
        TexelFormat::Rgba16Float => {
            for v in px {
                out.extend_from_slice(&f16::from_f32(v).to_le_bytes());
            }
        }
        TexelFormat::Rgba32Float => {
            for v in px {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}

fn encode_texels(texels: impl Iterator<Item = [f32; 4]>, format: TexelFormat) -> Vec<u8> {
    let mut out = Vec::with_capacity(texels.size_hint().0 * format.bytes_per_texel());
    for px in texels {
        encode_texel(px, format, &mut out);
    }
    out
}

/// Texel `(x, y)` of mip `level` as linear RGBA floats (sRGB decoded, 8-bit scaled to 0..1);
/// `None` outside the texture. For tests and CPU-side uses such as dome-light prefiltering.
pub fn texel(tex: &Texture, level: usize, x: u32, y: u32) -> Option<[f32; 4]> {
    let (mut w, mut h) = (tex.width, tex.height);
    for _ in 0..level {
        (w, h) = (mip_size(w), mip_size(h));
    }
    let bytes = tex.mips.get(level)?;
    let index = y as usize * w as usize + x as usize;
    if x >= w || y >= h || bytes.len() < (index + 1) * tex.format.bytes_per_texel() {
        return None;
    }
    Some(TexelReader::new(tex.format).read(bytes, index))
}

/// Size of the mip level below a level of size `n`: half, rounded down, at least 1.
pub fn mip_size(n: u32) -> u32 {
    (n / 2).max(1)
}

/// Source texels covering each destination texel of a box filter from `src` to `dst` texels,
/// with the share of each (fractional at the edges when `src` is not a multiple of `dst`).
fn box_weights(src: u32, dst: u32) -> Vec<Vec<(usize, f32)>> {
    let scale = f64::from(src) / f64::from(dst);
    (0..dst)
        .map(|d| {
            let lo = f64::from(d) * scale;
            let hi = lo + scale;
            let first = lo.floor() as u32;
            let last = (hi.ceil() as u32).min(src);
            (first..last)
                .filter_map(|s| {
                    let cover = (f64::from(s + 1).min(hi) - f64::from(s).max(lo)) / scale;
                    (cover > 1e-9).then_some((s as usize, cover as f32))
                })
                .collect()
        })
        .collect()
}

/// The next mip level of `src` (`width` x `height` texels of `format`), in the same format.
fn downsample(src: &[u8], width: u32, height: u32, format: TexelFormat) -> (Vec<u8>, u32, u32) {
    let (dw, dh) = (mip_size(width), mip_size(height));
    (resample(src, width, height, dw, dh, format), dw, dh)
}

/// `src` (`width` x `height` texels of `format`) scaled down to `dw` x `dh` by an area filter,
/// in linear light, in the same format.
fn resample(src: &[u8], width: u32, height: u32, dw: u32, dh: u32, format: TexelFormat) -> Vec<u8> {
    let wx = box_weights(width, dw);
    let wy = box_weights(height, dh);
    let reader = TexelReader::new(format);
    let row_bytes = dw as usize * format.bytes_per_texel();
    let mut out = vec![0u8; row_bytes * dh as usize];
    out.par_chunks_mut(row_bytes).enumerate().for_each(|(y, row)| {
        let mut encoded = Vec::with_capacity(row_bytes);
        for xs in &wx {
            let mut sum = [0f32; 4];
            for &(sy, fy) in &wy[y] {
                for &(sx, fx) in xs {
                    let t = reader.read(src, sy * width as usize + sx);
                    for c in 0..4 {
                        sum[c] += t[c] * fx * fy;
                    }
                }
            }
            encode_texel(sum, format, &mut encoded);
        }
        row.copy_from_slice(&encoded);
    });
    out
}

/// The full mip chain from level 0 down to 1x1. A level 0 whose length does not match its size
/// is returned alone (no chain) rather than read out of bounds.
pub fn build_mips(level0: Vec<u8>, width: u32, height: u32, format: TexelFormat) -> Vec<Vec<u8>> {
    let expected = width as usize * height as usize * format.bytes_per_texel();
    let consistent = level0.len() == expected;
    let mut mips = vec![level0];
    if !consistent {
        return mips;
    }
    let (mut w, mut h) = (width, height);
    while w > 1 || h > 1 {
        let Some(last) = mips.last() else { break };
        let (next, nw, nh) = downsample(last, w, h, format);
        mips.push(next);
        (w, h) = (nw, nh);
    }
    mips
}

/// The atlas layout of UDIM tiles given as (tile number, width, height): `[columns, rows,
/// tile width, tile height]`, or an error naming `name` when a number is outside 1001..1100 or
/// the atlas would exceed [`MAX_SIDE`]. Callers may check a set from image headers
/// ([`dimensions`]) before decoding any tile.
pub fn udim_layout(name: &str, tiles: &[(u32, u32, u32)]) -> Result<[u32; 4], String> {
    if tiles.is_empty() {
        return Err(format!("{name}: UDIM set has no tiles"));
    }
    let (mut cols, mut rows, mut tw, mut th) = (1, 1, 1, 1);
    for &(number, w, h) in tiles {
        if !(1001..=1100).contains(&number) {
            return Err(format!("{name}: UDIM tile number {number} outside 1001..1100"));
        }
        let i = number - 1001;
        cols = cols.max(i % 10 + 1);
        rows = rows.max(i / 10 + 1);
        tw = tw.max(w);
        th = th.max(h);
    }
    let (width, height) = (u64::from(cols) * u64::from(tw), u64::from(rows) * u64::from(th));
    if width > u64::from(MAX_SIDE) || height > u64::from(MAX_SIDE) {
        return Err(format!(
            "{name}: UDIM atlas too large ({cols}x{rows} tiles of {tw}x{th} = {width}x{height}; at most {MAX_SIDE} a side)"
        ));
    }
    Ok([cols, rows, tw, th])
}

/// Assembles UDIM tiles (tile number 1001 and up, with their images) into one atlas.
///
/// Tile `1001 + u + 10 v` covers st in `[u, u+1] x [v, v+1]`. The atlas has `[columns, rows]` =
/// (largest u + 1, largest v + 1) tiles, each resampled (nearest) to the largest tile's size.
/// Tile row v sits at image row block `rows - 1 - v`, so that the atlas is sampled exactly like
/// a plain image at `st / udim_tiles` (t = 0 at the bottom of the image). Missing tiles are
/// black and transparent. Tiles of one format keep it; mixed formats become `Rgba16Float`, or
/// `Rgba32Float` if any tile is. Only each tile's level 0 is read ([`decode_level0`] suffices).
pub fn assemble_udim(tiles: Vec<(u32, Texture)>) -> Result<Texture, String> {
    let name = tiles.first().map(|(_, t)| t.name.clone()).unwrap_or_default();
    let sizes: Vec<(u32, u32, u32)> = tiles.iter().map(|(n, t)| (*n, t.width, t.height)).collect();
    let [cols, rows, tw, th] = udim_layout(&name, &sizes)?;
    let first = tiles[0].1.format;
    let format = if tiles.iter().all(|(_, t)| t.format == first) {
        first
    } else if tiles.iter().any(|(_, t)| t.format == TexelFormat::Rgba32Float) {
        TexelFormat::Rgba32Float
    } else {
        TexelFormat::Rgba16Float
    };
    let (width, height) = (cols * tw, rows * th);
    check_bytes(&name, width, height, format)?;
    let bpt = format.bytes_per_texel();
    let mut atlas = vec![0u8; width as usize * height as usize * bpt];
    for (number, tex) in &tiles {
        let Some(level0) = tex.mips.first() else {
            return Err(format!("{}: UDIM tile has no texels", tex.name));
        };
        let expected = tex.width as usize * tex.height as usize * tex.format.bytes_per_texel();
        if level0.len() != expected {
            return Err(format!("{}: UDIM tile's texels do not match its size", tex.name));
        }
        let reader = TexelReader::new(tex.format);
        let i = number - 1001;
        let (u, v) = (i % 10, i / 10);
        let x0 = (u * tw) as usize;
        let y0 = ((rows - 1 - v) * th) as usize;
        let mut texel = Vec::with_capacity(bpt);
        for y in 0..th as usize {
            let sy = y * tex.height as usize / th as usize;
            for x in 0..tw as usize {
                let sx = x * tex.width as usize / tw as usize;
                let s = sy * tex.width as usize + sx;
                let d = ((y0 + y) * width as usize + x0 + x) * bpt;
                if tex.format == format {
                    atlas[d..d + bpt].copy_from_slice(&level0[s * bpt..s * bpt + bpt]);
                } else {
                    texel.clear();
                    encode_texel(reader.read(level0, s), format, &mut texel);
                    atlas[d..d + bpt].copy_from_slice(&texel);
                }
            }
        }
    }
    let mips = build_mips(atlas, width, height, format);
    Ok(Texture {
        name,
        width,
        height,
        format,
        mips,
        udim_tiles: [cols, rows],
    })
}

/// Direction a lat-long texel centre looks toward, UsdLux DomeLight convention (the OpenEXR
/// lat-long map, +Y up): u = 0 is longitude +pi, the image centre (u = 0.5) is longitude 0 =
/// +Z, u = 0.25 is longitude pi/2 = +X; the top row (v = 0, image rows top down) is latitude
/// +pi/2 = +Y. Direction = (cos(lat) sin(lon), sin(lat), cos(lat) cos(lon)).
///
/// Storm's baselines agree: in testUsdImagingGLDomeLight_YupFront/YupBack the mirror sphere
/// reflects the image's u = 0.25 column toward +X, u = 0.5 toward +Z, and the top rows toward
/// +Y (Storm's domeLight.glslfx formula alone would put u = 0.5 at +X; the dome transform it is
/// given accounts for the difference). The dome prim's own transform is applied by the caller.
/// Shader mirror: `u = 0.5 - atan2(x, z) / (2 pi)`, `v = acos(y) / pi` ([`latlong_uv`]).
pub fn latlong_direction(u: f32, v: f32) -> [f32; 3] {
    use std::f32::consts::PI;
    let lon = PI - 2.0 * PI * u;
    let lat = 0.5 * PI - PI * v;
    [lat.cos() * lon.sin(), lat.sin(), lat.cos() * lon.cos()]
}

/// The lat-long texture coordinate (u right, v down the image rows) that a unit direction looks
/// up; the inverse of [`latlong_direction`].
pub fn latlong_uv(d: [f32; 3]) -> [f32; 2] {
    use std::f32::consts::PI;
    let [x, y, z] = d;
    [0.5 - x.atan2(z) / (2.0 * PI), y.clamp(-1.0, 1.0).acos() / PI]
}

/// The 9 real SH basis functions at unit direction `n`, in the order
/// `[Y00, Y1-1 (y), Y10 (z), Y11 (x), Y2-2 (xy), Y2-1 (yz), Y20 (3z^2-1), Y21 (xz), Y22 (x^2-y^2)]`.
fn sh9_basis(n: [f32; 3]) -> [f32; 9] {
    let [x, y, z] = n;
    [
        0.282_095,
        0.488_603 * y,
        0.488_603 * z,
        0.488_603 * x,
        1.092_548 * x * y,
        1.092_548 * y * z,
        0.315_392 * (3.0 * z * z - 1.0),
        1.092_548 * x * z,
        0.546_274 * (x * x - y * y),
    ]
}

/// Diffuse irradiance of a lat-long environment (UsdLux DomeLight layout, see
/// [`latlong_direction`]) as 9 SH coefficients (Ramamoorthi and Hanrahan 2001): the radiance is
/// projected onto SH weighting each texel by its exact solid angle, then convolved with the
/// clamped cosine (bands scaled by pi, 2pi/3, pi/4), so [`eval_sh9`] at a normal gives E(n).
/// Reads the first mip level no wider than 64 texels. Coefficients in world axes (+Y up),
/// before any dome transform, in the texture's units (times intensity on the light side).
pub fn irradiance_sh9(tex: &Texture) -> [[f32; 3]; 9] {
    use std::f64::consts::PI;
    let (mut w, mut h, mut level) = (tex.width.max(1), tex.height.max(1), 0);
    while w > 64 && level + 1 < tex.mips.len() {
        (w, h, level) = (mip_size(w), mip_size(h), level + 1);
    }
    let mut coeffs = [[0f64; 3]; 9];
    let Some(bytes) = tex.mips.get(level) else {
        return [[0.0; 3]; 9];
    };
    if bytes.len() < w as usize * h as usize * tex.format.bytes_per_texel() {
        return [[0.0; 3]; 9];
    }
    let reader = TexelReader::new(tex.format);
    let dlon = 2.0 * PI / f64::from(w);
    for y in 0..h {
        let lat_top = 0.5 * PI - PI * f64::from(y) / f64::from(h);
        let lat_bottom = 0.5 * PI - PI * f64::from(y + 1) / f64::from(h);
        let solid_angle = dlon * (lat_top.sin() - lat_bottom.sin());
        let v = (y as f32 + 0.5) / h as f32;
        for x in 0..w {
            let u = (x as f32 + 0.5) / w as f32;
            let basis = sh9_basis(latlong_direction(u, v));
            let texel = reader.read(bytes, (y * w + x) as usize);
            for (k, b) in basis.iter().enumerate() {
                for c in 0..3 {
                    coeffs[k][c] += f64::from(texel[c]) * f64::from(*b) * solid_angle;
                }
            }
        }
    }
    let band = [
        PI,
        2.0 * PI / 3.0,
        2.0 * PI / 3.0,
        2.0 * PI / 3.0,
        PI / 4.0,
        PI / 4.0,
        PI / 4.0,
        PI / 4.0,
        PI / 4.0,
    ];
    std::array::from_fn(|k| coeffs[k].map(|c| (c * band[k]) as f32))
}

/// Irradiance E(n) from [`irradiance_sh9`] coefficients at unit normal `n`.
pub fn eval_sh9(coeffs: &[[f32; 3]; 9], n: [f32; 3]) -> [f32; 3] {
    let basis = sh9_basis(n);
    let mut e = [0f32; 3];
    for (k, b) in basis.iter().enumerate() {
        for c in 0..3 {
            e[c] += coeffs[k][c] * b;
        }
    }
    e.map(|v| v.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of `width` x `height` with `color` and `depth`, its samples a pattern.
    fn png_bytes(width: u32, height: u32, color: png::ColorType, depth: png::BitDepth) -> Vec<u8> {
        let samples = match color {
            png::ColorType::Grayscale | png::ColorType::Indexed => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
        };
        let bytes_per_sample = if depth == png::BitDepth::Sixteen { 2 } else { 1 };
        let data: Vec<u8> = (0..width as usize * height as usize * samples * bytes_per_sample)
            .map(|i| {
                let v = (i * 37 + i / 7) % 251;
                if color == png::ColorType::Indexed {
                    (v % 4) as u8
                } else {
                    v as u8
                }
            })
            .collect();
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if color == png::ColorType::Indexed {
            encoder.set_palette(vec![255, 0, 0, 0, 255, 0, 0, 0, 255, 40, 80, 120]);
            encoder.set_trns(vec![255, 128, 0, 255]);
        }
        let mut writer = encoder.write_header().expect("png header");
        writer.write_image_data(&data).expect("png data");
        drop(writer);
        out
    }

    /// What the image crate makes of `bytes`, kept at [`kept_size`] by [`resample`]: the path
    /// [`decode_png_rows`] stands in for.
    fn through_image_crate(bytes: &[u8], color_space: ColorSpace) -> Texture {
        let image = image::load_from_memory(bytes).expect("image crate decodes");
        let mut t = from_image(image, "t.png", color_space, gamma_hint(bytes)).expect("from_image");
        let (kw, kh) = kept_size(t.width, t.height);
        if (kw, kh) != (t.width, t.height) {
            t.mips = vec![resample(&t.mips[0], t.width, t.height, kw, kh, t.format)];
            (t.width, t.height) = (kw, kh);
        }
        t
    }

    #[test]
    fn png_rows_decode_as_the_image_crate_does() {
        use png::{BitDepth::*, ColorType::*};
        let layouts = [
            (Rgb, Eight),
            (Rgba, Eight),
            (Grayscale, Eight),
            (GrayscaleAlpha, Eight),
            (Indexed, Eight),
            (Rgb, Sixteen),
            (Grayscale, Sixteen),
        ];
        for (color, depth) in layouts {
            for color_space in [ColorSpace::Auto, ColorSpace::Raw, ColorSpace::Srgb] {
                let bytes = png_bytes(13, 7, color, depth);
                let rows = decode_png_rows(&bytes, "t.png", color_space)
                    .expect("a PNG")
                    .expect("decodes");
                let want = through_image_crate(&bytes, color_space);
                assert_eq!(
                    (rows.width, rows.height, rows.format),
                    (want.width, want.height, want.format),
                    "{color:?} {depth:?} {color_space:?}"
                );
                assert_eq!(rows.mips[0], want.mips[0], "{color:?} {depth:?} {color_space:?}");
            }
        }
    }

    #[test]
    fn textures_larger_than_kept_are_scaled_while_decoded() {
        assert_eq!(kept_size(4096, 100), (4096, 100));
        assert_eq!(kept_size(16384, 16384), (8192, 8192));
        assert_eq!(kept_size(16384, 8192), (8192, 4096));
        assert_eq!(kept_size(100_000, 3), (8192, 1));
        // Wider than kept: rows filtered on the way in, as a full decode then resample would.
        let bytes = png_bytes(MAX_KEPT_SIDE + 1000, 9, png::ColorType::Rgb, png::BitDepth::Eight);
        let rows = decode_png_rows(&bytes, "t.png", ColorSpace::Srgb)
            .expect("a PNG")
            .expect("decodes");
        let want = through_image_crate(&bytes, ColorSpace::Srgb);
        assert_eq!((rows.width, rows.height), (MAX_KEPT_SIDE, 8));
        assert_eq!((want.width, want.height), (MAX_KEPT_SIDE, 8));
        let worst = rows.mips[0]
            .iter()
            .zip(&want.mips[0])
            .map(|(a, b)| a.abs_diff(*b))
            .max();
        assert!(worst <= Some(1), "largest texel difference {worst:?}");
    }

    #[test]
    fn truncated_png_rows_are_an_error_naming_the_file() {
        let bytes = png_bytes(64, 64, png::ColorType::Rgb, png::BitDepth::Eight);
        let cut = &bytes[..bytes.len() / 2];
        let err = match decode_png_rows(cut, "cut.png", ColorSpace::Auto) {
            Some(Err(e)) => e,
            other => panic!(
                "expected an error, got {:?}",
                other.map(|r| r.map(|t| (t.width, t.height)))
            ),
        };
        assert!(err.starts_with("cut.png: "), "{err}");
    }

    fn texture(width: u32, height: u32, format: TexelFormat, texels: &[[f32; 4]]) -> Texture {
        let level0 = encode_texels(texels.iter().copied(), format);
        Texture {
            name: "test".into(),
            width,
            height,
            format,
            mips: build_mips(level0, width, height, format),
            udim_tiles: [1, 1],
        }
    }

    #[test]
    fn box_weights_split_the_middle_texel_of_an_odd_row() {
        let w = box_weights(5, 2);
        assert_eq!(w[0], vec![(0, 0.4), (1, 0.4), (2, 0.2)]);
        assert_eq!(w[1], vec![(2, 0.2), (3, 0.4), (4, 0.4)]);
        assert_eq!(box_weights(4, 2)[1], vec![(2, 0.5), (3, 0.5)]);
        assert_eq!(box_weights(1, 1), vec![vec![(0, 1.0)]]);
    }

    #[test]
    fn colour_space_tokens() {
        assert_eq!(ColorSpace::from_token("raw"), ColorSpace::Raw);
        assert_eq!(ColorSpace::from_token("sRGB"), ColorSpace::Srgb);
        assert_eq!(ColorSpace::from_token("auto"), ColorSpace::Auto);
        assert_eq!(ColorSpace::from_token("srgb_texture"), ColorSpace::Auto);
    }

    #[test]
    fn size_guards_name_the_file() {
        let err = check_bytes("big.exr", 16384, 16384, TexelFormat::Rgba16Float).expect_err("2 GiB");
        assert!(err.contains("big.exr") && err.contains("too large"), "{err}");
        assert!(
            check_bytes("ok.png", 16384, 16384, TexelFormat::Rgba8Srgb).is_ok(),
            "exactly 1 GiB"
        );
        let err = check_size("wide.png", 16385, 1).expect_err("too wide");
        assert!(err.contains("wide.png") && err.contains("16385x1"), "{err}");
        assert!(check_size("empty.png", 0, 4).is_err());
    }

    #[test]
    fn udim_layout_counts_columns_and_rows_and_refuses_huge_atlases() {
        assert_eq!(udim_layout("t", &[(1001, 8, 4), (1013, 2, 16)]), Ok([3, 2, 8, 16]));
        let err = udim_layout("t_<UDIM>.exr", &[(1001, 16384, 4), (1002, 16384, 4)]).expect_err("32768 wide");
        assert!(err.contains("t_<UDIM>.exr") && err.contains("too large"), "{err}");
        assert!(udim_layout("t", &[(1000, 1, 1)]).is_err());
        assert!(udim_layout("t", &[]).is_err());
    }

    #[test]
    fn srgb_encoding_matches_the_curve_between_codes() {
        for i in 0..=4000 {
            let v = i as f32 / 4000.0;
            let want = (linear_to_srgb(v) * 255.0).round() as u8;
            assert_eq!(srgb_encode8(v), want, "{v}");
        }
        assert_eq!(
            (srgb_encode8(-1.0), srgb_encode8(2.0), srgb_encode8(f32::NAN)),
            (0, 255, 0)
        );
    }

    #[test]
    fn srgb_curve_round_trips_every_8bit_value() {
        for i in 0..=255u8 {
            let lin = srgb_to_linear(f32::from(i) / 255.0);
            let mut out = Vec::new();
            encode_texel([lin, lin, lin, 1.0], TexelFormat::Rgba8Srgb, &mut out);
            assert_eq!(out[0], i);
        }
    }

    #[test]
    fn srgb_mips_average_in_linear_light() {
        // Black and white average to linear 0.5, which is sRGB 188, not 128.
        let t = texture(
            2,
            1,
            TexelFormat::Rgba8Srgb,
            &[[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]],
        );
        assert_eq!(t.mips[1], vec![188, 188, 188, 128]);
        let t = texture(
            2,
            1,
            TexelFormat::Rgba8Unorm,
            &[[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]],
        );
        assert_eq!(t.mips[1], vec![128, 128, 128, 128]);
    }

    #[test]
    fn constant_environment_gives_pi_l_everywhere() {
        let l = 0.7;
        let t = texture(128, 64, TexelFormat::Rgba16Float, &vec![[l, l, l, 1.0]; 128 * 64]);
        let sh = irradiance_sh9(&t);
        for n in [
            [0.0, 1.0, 0.0],
            [0.0, -1.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 0.0, -1.0],
            [0.6, 0.0, 0.8],
        ] {
            let e = eval_sh9(&sh, n);
            for c in e {
                let want = std::f32::consts::PI * l;
                assert!((c - want).abs() < 0.01 * want, "E({n:?}) = {c}, want {want}");
            }
        }
    }

    #[test]
    fn bright_sky_lights_up_more_than_down_and_centre_is_plus_z() {
        // Upper half of the image bright: +Y gets more than -Y.
        let (w, h) = (64, 32);
        let sky: Vec<[f32; 4]> = (0..w * h)
            .map(|i| {
                if i / w < h / 2 {
                    [2.0, 2.0, 2.0, 1.0]
                } else {
                    [0.1, 0.1, 0.1, 1.0]
                }
            })
            .collect();
        let sh = irradiance_sh9(&texture(w, h, TexelFormat::Rgba32Float, &sky));
        let up = eval_sh9(&sh, [0.0, 1.0, 0.0])[0];
        let down = eval_sh9(&sh, [0.0, -1.0, 0.0])[0];
        assert!(up > 3.0 * down, "up {up} down {down}");
        // Facing +Y, the whole visible hemisphere is the bright one: E = pi * 2 (to SH accuracy).
        let exact = std::f32::consts::PI * 2.0;
        assert!((up - exact).abs() < 0.05 * exact, "up {up} vs {exact}");
        // A bright column at the image centre lights +Z more than -Z; one at u = 0.25 lights +X.
        let column = |cx: u32| -> Vec<[f32; 4]> {
            (0..w * h)
                .map(|i| {
                    if (i % w).abs_diff(cx) <= 2 {
                        [5.0, 5.0, 5.0, 1.0]
                    } else {
                        [0.0; 4]
                    }
                })
                .collect()
        };
        let sh = irradiance_sh9(&texture(w, h, TexelFormat::Rgba32Float, &column(w / 2)));
        assert!(eval_sh9(&sh, [0.0, 0.0, 1.0])[0] > 2.0 * eval_sh9(&sh, [0.0, 0.0, -1.0])[0]);
        let sh = irradiance_sh9(&texture(w, h, TexelFormat::Rgba32Float, &column(w / 4)));
        assert!(eval_sh9(&sh, [1.0, 0.0, 0.0])[0] > 2.0 * eval_sh9(&sh, [-1.0, 0.0, 0.0])[0]);
    }

    #[test]
    fn latlong_directions_follow_the_openexr_map() {
        let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
        assert!(close(latlong_direction(0.5, 0.5), [0.0, 0.0, 1.0]));
        assert!(close(latlong_direction(0.25, 0.5), [1.0, 0.0, 0.0]));
        assert!(close(latlong_direction(0.75, 0.5), [-1.0, 0.0, 0.0]));
        assert!(close(latlong_direction(0.0, 0.5), [0.0, 0.0, -1.0]));
        assert!(close(latlong_direction(0.3, 0.0), [0.0, 1.0, 0.0]));
        for (u, v) in [(0.1, 0.2), (0.5, 0.5), (0.7, 0.9), (0.26, 0.4)] {
            let [u2, v2] = latlong_uv(latlong_direction(u, v));
            assert!(
                (u - u2).abs() < 1e-5 && (v - v2).abs() < 1e-5,
                "({u}, {v}) -> ({u2}, {v2})"
            );
        }
    }
}
