//! Readback layout: wgpu pads copied rows to 256 bytes; this strips the padding and turns the
//! resolved, premultiplied sRGB pixels into straight alpha, as PNG expects.

/// Bytes per row of a texture-to-buffer copy: a multiple of `COPY_BYTES_PER_ROW_ALIGNMENT` (256).
pub fn padded_bytes_per_row(width: u32) -> u32 {
    let unpadded = width * 4;
    let align = wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    unpadded.div_ceil(align) * align
}

/// sRGB byte -> linear, for the few partially covered pixels.
fn srgb_to_linear_table() -> &'static [f32; 256] {
    static TABLE: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|i| {
            let c = i as f32 / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        })
    })
}

fn linear_to_srgb_byte(l: f32) -> u8 {
    let l = l.clamp(0.0, 1.0);
    let c = if l <= 0.0031308 {
        l * 12.92
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    };
    (c * 255.0 + 0.5) as u8
}

/// Copies `height` rows of `width` RGBA8 pixels from `padded` (rows `padded_row` bytes apart) into
/// `out` (resized to exactly width * height * 4, reusing its allocation), converting premultiplied
/// sRGB-encoded colour to straight alpha. Fully opaque and fully transparent pixels, the vast
/// majority, are copied as they are; only edge pixels pay for the decode/divide/encode.
pub fn strip_and_unpremultiply(padded: &[u8], width: u32, height: u32, padded_row: u32, out: &mut Vec<u8>) {
    strip_padding(padded, width, height, padded_row, out);
    unpremultiply_in_place(out);
}

/// Turns tightly packed, premultiplied sRGB-encoded RGBA8 into straight alpha, in place. Fully
/// opaque and fully transparent pixels, the vast majority, are left as they are (transparent ones
/// made black); only edge pixels pay for the decode/divide/encode.
pub fn unpremultiply_in_place(rgba: &mut [u8]) {
    let table = srgb_to_linear_table();
    for px in rgba.chunks_exact_mut(4) {
        let a = px[3];
        if a == 255 {
            continue;
        }
        if a == 0 {
            px[..3].fill(0);
            continue;
        }
        let inv = 255.0 / a as f32;
        for c in &mut px[..3] {
            *c = linear_to_srgb_byte(table[*c as usize] * inv);
        }
    }
}

/// Copies `height` rows of `width` RGBA8 pixels from `padded` into `out` as they are (resized to
/// exactly width * height * 4, reusing its allocation).
pub fn strip_padding(padded: &[u8], width: u32, height: u32, padded_row: u32, out: &mut Vec<u8>) {
    let row = width as usize * 4;
    out.clear();
    out.resize(row * height as usize, 0);
    for (y, dst) in out.chunks_exact_mut(row).enumerate() {
        let start = y * padded_row as usize;
        if let Some(src) = padded.get(start..start + row) {
            dst.copy_from_slice(src);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_pad_to_256_bytes() {
        assert_eq!(padded_bytes_per_row(64), 256);
        assert_eq!(padded_bytes_per_row(65), 512);
        assert_eq!(padded_bytes_per_row(333), 1536);
        assert_eq!(padded_bytes_per_row(1000), 4096);
    }

    #[test]
    fn strips_padding_and_unpremultiplies_edges() {
        let (w, h) = (3u32, 2u32);
        let pr = padded_bytes_per_row(w);
        let mut padded = vec![0xAAu8; (pr * h) as usize];
        // Row 0: opaque red, empty, half-covered white (linear 0.5 premultiplied -> sRGB 188).
        padded[0..12].copy_from_slice(&[255, 0, 0, 255, 7, 7, 7, 0, 188, 188, 188, 128]);
        padded[pr as usize..pr as usize + 12].copy_from_slice(&[1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255]);
        let mut out = Vec::new();
        strip_and_unpremultiply(&padded, w, h, pr, &mut out);
        assert_eq!(out.len(), 24);
        assert_eq!(&out[0..8], &[255, 0, 0, 255, 0, 0, 0, 0]);
        assert!(
            out[8] >= 253,
            "half-covered white is white with alpha 128: {:?}",
            &out[8..12]
        );
        assert_eq!(out[11], 128);
        assert_eq!(&out[12..24], &[1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255]);
    }

    #[test]
    fn srgb_round_trips() {
        let t = srgb_to_linear_table();
        for i in 0..=255u8 {
            assert_eq!(linear_to_srgb_byte(t[i as usize]), i);
        }
    }
}
