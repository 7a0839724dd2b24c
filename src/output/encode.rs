//! PNG, JPEG and TIFF encoders, 8 and 16 bits. Conversions (8 -> 16 bits, linear -> sRGB 16-bit,
//! compositing over black for JPEG) go into a per-thread scratch buffer, so the encoder pool does
//! not allocate a frame-sized buffer per frame.

use std::cell::RefCell;
use std::io::{Seek, Write};

use super::{BitDepth, Frame};

type Result = std::result::Result<(), String>;

thread_local! {
    /// Converted samples of the frame being encoded on this thread.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// PNG with `Fast` compression and adaptive filtering: the only setting that keeps up with the
/// GPUs (docs: `Balanced` is ~20x slower for files 15-20% smaller).
pub(super) fn png(out: &mut impl Write, frame: &Frame<'_>, depth: BitDepth) -> Result {
    let mut write = |data: &[u8], bits: png::BitDepth| -> Result {
        let mut encoder = png::Encoder::new(&mut *out, frame.width, frame.height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(bits);
        encoder.set_compression(png::Compression::Fast);
        encoder.set_filter(png::Filter::Adaptive);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(data).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())
    };
    match depth {
        BitDepth::Eight => write(frame.rgba, png::BitDepth::Eight),
        BitDepth::Sixteen => SCRATCH.with_borrow_mut(|buf| {
            // PNG stores 16-bit samples big-endian.
            fill_rgba16(buf, frame, u16::to_be_bytes);
            write(buf, png::BitDepth::Sixteen)
        }),
    }
}

/// TIFF (uncompressed, as image writes it), straight alpha marked as unassociated.
pub(super) fn tiff(out: &mut (impl Write + Seek), frame: &Frame<'_>, depth: BitDepth) -> Result {
    use image::ImageEncoder;
    let encoder = image::codecs::tiff::TiffEncoder::new(out);
    match depth {
        BitDepth::Eight => encoder.write_image(frame.rgba, frame.width, frame.height, image::ExtendedColorType::Rgba8),
        BitDepth::Sixteen => SCRATCH.with_borrow_mut(|buf| {
            // image's TIFF encoder takes native-endian samples.
            fill_rgba16(buf, frame, u16::to_ne_bytes);
            encoder.write_image(buf, frame.width, frame.height, image::ExtendedColorType::Rgba16)
        }),
    }
    .map_err(|e| e.to_string())
}

/// Baseline JPEG through `jpeg-encoder` (3x as fast as image's encoder at the same chroma
/// subsampling, see README), composited over black because JPEG has no alpha. Chroma: 4:2:2 from
/// quality 90 up (what image's encoder writes, so the look did not change with the encoder;
/// 4:4:4 would cost 1.8x the time), 4:2:0 below.
pub(super) fn jpeg(out: &mut impl Write, frame: &Frame<'_>, quality: u8) -> Result {
    let (w, h) = (
        u16::try_from(frame.width).map_err(|_| format!("JPEG is limited to 65535 pixels, not {}", frame.width))?,
        u16::try_from(frame.height).map_err(|_| format!("JPEG is limited to 65535 pixels, not {}", frame.height))?,
    );
    SCRATCH.with_borrow_mut(|rgb| {
        rgb.clear();
        rgb.resize(frame.rgba.len() / 4 * 3, 0);
        for (d, p) in rgb.chunks_exact_mut(3).zip(frame.rgba.chunks_exact(4)) {
            let a = p[3] as u32;
            // c * a / 255 rounded to nearest, without a division (exact for 8-bit products).
            let over = |c: u8| {
                let x = c as u32 * a + 128;
                ((x + (x >> 8)) >> 8) as u8
            };
            d[0] = over(p[0]);
            d[1] = over(p[1]);
            d[2] = over(p[2]);
        }
        let mut encoder = jpeg_encoder::Encoder::new(out, quality);
        encoder.set_sampling_factor(if quality >= 90 {
            jpeg_encoder::SamplingFactor::R_4_2_2
        } else {
            jpeg_encoder::SamplingFactor::R_4_2_0
        });
        encoder
            .encode(rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .map_err(|e| e.to_string())
    })
}

/// Fills `buf` with RGBA 16-bit samples in the byte order `bytes` gives: from the linear frame
/// when there is one (sRGB-encoded, straight alpha), else the 8-bit frame widened exactly
/// (`v * 257`, so 255 -> 65535).
fn fill_rgba16(buf: &mut Vec<u8>, frame: &Frame<'_>, bytes: fn(u16) -> [u8; 2]) {
    buf.clear();
    buf.reserve(frame.rgba.len() * 2);
    match frame.linear {
        Some(linear) => buf.extend(linear.chunks_exact(4).flat_map(|p| {
            let [r, g, b] = [p[0], p[1], p[2]].map(|c| bytes(linear_to_srgb16(c)));
            let a = bytes(unit_to_u16(p[3]));
            [r[0], r[1], g[0], g[1], b[0], b[1], a[0], a[1]]
        })),
        None => buf.extend(frame.rgba.iter().flat_map(|&v| bytes(v as u16 * 257))),
    }
}

/// The sRGB transfer function (IEC 61966-2-1) to 16 bits, rounded; NaN and negatives give 0.
pub fn linear_to_srgb16(v: f32) -> u16 {
    let c = if v > 0.0 { v.min(1.0) } else { 0.0 };
    let s = if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    unit_to_u16(s)
}

/// 0..1 to 0..65535, rounded; out of range values are clamped, NaN gives 0.
fn unit_to_u16(v: f32) -> u16 {
    (if v > 0.0 { v.min(1.0) } else { 0.0 } * 65535.0 + 0.5) as u16
}
