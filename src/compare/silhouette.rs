//! Silhouettes: which pixels an object covers, for comparing framing and coverage with a
//! reference whatever the shading. Two kinds of reference need two definitions:
//!
//! - transparent backgrounds (usdrecord, usdrender's default): a pixel is covered when its alpha is
//!   at least one half ([`alpha_mask`]);
//! - opaque images over a known clear colour (the usdImagingGL test harness's orange (1, 0.5, 0.1)
//!   unless `-clear`): a pixel is covered when some channel differs from the clear colour by more
//!   than [`BACKGROUND_TOLERANCE`] ([`background_mask`]). An image with transparency (ours, while
//!   the GPU side draws no clear colour) is first composited over that colour
//!   ([`composite_over`]), so both images are judged by the same rule.
//!
//! Geometry whose colour is within the tolerance of the clear colour counts as background in both
//! images alike.

use image::RgbaImage;

/// Largest difference from the clear colour, per channel on the 0..1 scale, that still counts as
/// background: 5/255 is above the rounding of 8-bit storage (Storm's orange is stored as 255, 127,
/// 25 for 1, 0.5, 0.1) and below any deliberately coloured surface.
pub const BACKGROUND_TOLERANCE: f64 = 5.0 / 255.0;

/// Pixels with alpha >= 0.5 (128/255), row-major.
pub fn alpha_mask(image: &RgbaImage) -> Vec<bool> {
    image.pixels().map(|p| p[3] >= 128).collect()
}

/// Pixels whose colour differs from `clear` (8-bit RGB as stored) by more than `tolerance`
/// (0..1) in some channel, row-major. Alpha is not looked at: use it on opaque images.
pub fn background_mask(image: &RgbaImage, clear: [u8; 3], tolerance: f64) -> Vec<bool> {
    let limit = (tolerance * 255.0).max(0.0);
    image
        .pixels()
        .map(|p| (0..3).any(|c| p[c].abs_diff(clear[c]) as f64 > limit))
        .collect()
}

/// `image` composited over an opaque `clear` colour (straight alpha, on the stored 8-bit values,
/// as a viewer shows a transparent PNG over a coloured page).
pub fn composite_over(image: &RgbaImage, clear: [u8; 3]) -> RgbaImage {
    let mut out = image.clone();
    for p in out.pixels_mut() {
        let a = p[3] as u32;
        for c in 0..3 {
            p[c] = ((p[c] as u32 * a + clear[c] as u32 * (255 - a) + 127) / 255) as u8;
        }
        p[3] = 255;
    }
    out
}

/// Intersection over union of two masks of the same length; 1 when neither covers anything (two
/// empty images agree), `None` when the lengths differ.
pub fn iou(a: &[bool], b: &[bool]) -> Option<f64> {
    if a.len() != b.len() {
        return None;
    }
    let (mut inter, mut union) = (0u64, 0u64);
    for (&x, &y) in a.iter().zip(b) {
        inter += (x && y) as u64;
        union += (x || y) as u64;
    }
    Some(if union == 0 { 1.0 } else { inter as f64 / union as f64 })
}

/// The clear colour as the harness stores it: each 0..1 value times 255, truncated (Storm's
/// orange (1, 0.5, 0.1) is 255, 127, 25 in every baseline).
pub fn clear_bytes(clear: [f32; 3]) -> [u8; 3] {
    clear.map(|c| (c.clamp(0.0, 1.0) * 255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    const ORANGE: [u8; 3] = [255, 127, 25];

    #[test]
    fn background_mask_finds_the_object_on_the_harness_orange() {
        let mut img = RgbaImage::from_pixel(4, 2, Rgba([255, 127, 25, 255]));
        img.put_pixel(1, 0, Rgba([40, 40, 40, 255])); // a grey surface
        img.put_pixel(2, 0, Rgba([255, 129, 27, 255])); // rounding noise on the clear colour
        img.put_pixel(3, 1, Rgba([255, 127, 60, 255])); // one channel far off
        let mask = background_mask(&img, ORANGE, BACKGROUND_TOLERANCE);
        assert_eq!(mask, vec![false, true, false, false, false, false, false, true]);
        assert_eq!(clear_bytes([1.0, 0.5, 0.1]), ORANGE);
    }

    #[test]
    fn transparent_render_composited_over_the_clear_colour_gives_the_same_silhouette() {
        let mut ours = RgbaImage::from_pixel(3, 1, Rgba([0, 0, 0, 0]));
        ours.put_pixel(0, 0, Rgba([200, 200, 200, 255]));
        ours.put_pixel(1, 0, Rgba([200, 200, 200, 10])); // a faint edge: background
        let over = composite_over(&ours, ORANGE);
        assert_eq!(over.get_pixel(2, 0).0, [255, 127, 25, 255]);
        let mut theirs = RgbaImage::from_pixel(3, 1, Rgba([255, 127, 25, 255]));
        theirs.put_pixel(0, 0, Rgba([90, 90, 90, 255]));
        theirs.put_pixel(2, 0, Rgba([90, 90, 90, 255]));
        let a = background_mask(&over, ORANGE, BACKGROUND_TOLERANCE);
        let b = background_mask(&theirs, ORANGE, BACKGROUND_TOLERANCE);
        assert_eq!(a, vec![true, true, false], "the faint edge differs by more than 5/255");
        // Intersection {0}, union {0, 1, 2}.
        assert_eq!(iou(&a, &b), Some(1.0 / 3.0));
    }

    #[test]
    fn alpha_masks_and_iou_edges() {
        let mut img = RgbaImage::from_pixel(2, 1, Rgba([0, 0, 0, 127]));
        img.put_pixel(1, 0, Rgba([0, 0, 0, 128]));
        assert_eq!(alpha_mask(&img), vec![false, true]);
        assert_eq!(
            iou(&[false, false], &[false, false]),
            Some(1.0),
            "two empty images agree"
        );
        assert_eq!(iou(&[true], &[false]), Some(0.0));
        assert_eq!(iou(&[true], &[true, false]), None);
    }
}
