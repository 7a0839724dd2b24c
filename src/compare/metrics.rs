//! Metrics of one image pair (FLIP, PSNR, max difference, share of pixels over a threshold, alpha
//! coverage IoU) and the verdict that the thresholds give them.

use image::{RgbImage, RgbaImage};
use serde::Serialize;

use crate::{Error, Result};

/// Slack on per-pixel thresholds, in 0..255 units: a threshold written as a decimal, such as
/// `0.2` for 51/255, is not exactly k/255 in floating point; without slack a difference of exactly
/// k/255 could land on either side of it.
const PIXEL_SLACK: f64 = 1e-6;
/// Slack on percentages and FLIP limits, for the same reason (1 pixel of 100 is exactly 1%).
const PERCENT_SLACK: f64 = 1e-9;

/// When a frame passes, warns or fails. Per-pixel differences are the largest absolute difference
/// over the four channels (R, G, B, A) as stored, on idiff's 0..1 scale (8-bit value / 255).
///
/// Convention at the edges: a pixel whose difference is *exactly* the threshold does not count as
/// over it; a share of pixels exactly equal to the allowed percentage passes; a FLIP mean exactly
/// at `flip_fail` passes; an IoU exactly at `iou_fail` passes.
#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    /// A pixel counts as failing when its difference exceeds this (0..1; 0 means any difference).
    pub fail: f64,
    /// The frame fails when more than this percentage of its pixels are failing (0..100).
    pub fail_percent: f64,
    /// A pixel counts as warning when its difference exceeds this (0..1).
    pub warn: f64,
    /// The frame warns when more than this percentage of its pixels are warning (0..100).
    pub warn_percent: f64,
    /// The frame fails if any pixel differs by more than this, whatever the percentages.
    pub hard_fail: Option<f64>,
    /// The frame fails when its FLIP mean exceeds this (FLIP is 0..1).
    pub flip_fail: Option<f64>,
    /// The frame warns when its FLIP mean exceeds this.
    pub flip_warn: Option<f64>,
    /// The frame fails when its alpha-coverage IoU is below this (0..1).
    pub iou_fail: Option<f64>,
    /// FLIP's viewing condition: pixels per degree of visual angle (67 is FLIP's default, a 0.7 m
    /// wide 4K monitor seen from 0.7 m).
    pub pixels_per_degree: f32,
}

impl Default for Thresholds {
    /// idiff's defaults: any difference at all fails.
    fn default() -> Self {
        Thresholds {
            fail: 0.0,
            fail_percent: 0.0,
            warn: 0.0,
            warn_percent: 0.0,
            hard_fail: None,
            flip_fail: None,
            flip_warn: None,
            iou_fail: None,
            pixels_per_degree: nv_flip::DEFAULT_PIXELS_PER_DEGREE,
        }
    }
}

impl Thresholds {
    /// Rejects values outside their scales (and NaN), naming the option.
    pub fn validate(&self) -> Result<()> {
        let check = |name: &str, v: f64, max: f64| {
            if (0.0..=max).contains(&v) {
                Ok(())
            } else {
                Err(Error::Option(format!("--{name} {v} is outside 0..{max}")))
            }
        };
        check("fail", self.fail, 1.0)?;
        check("failpercent", self.fail_percent, 100.0)?;
        check("warn", self.warn, 1.0)?;
        check("warnpercent", self.warn_percent, 100.0)?;
        for (name, v) in [
            ("hardfail", self.hard_fail),
            ("flip-fail", self.flip_fail),
            ("flip-warn", self.flip_warn),
            ("iou-fail", self.iou_fail),
        ] {
            if let Some(v) = v {
                check(name, v, 1.0)?;
            }
        }
        if !(self.pixels_per_degree.is_finite() && self.pixels_per_degree > 0.0) {
            return Err(Error::Option(format!(
                "--flip-ppd {} must be a positive number",
                self.pixels_per_degree
            )));
        }
        Ok(())
    }

    /// The largest difference in 0..255 units that is *not* over `threshold` (0..1).
    fn cut(threshold: f64) -> u32 {
        (threshold * 255.0 + PIXEL_SLACK).floor().clamp(0.0, 255.0) as u32
    }
}

/// The outcome for one frame, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    /// The frame could not be compared (unreadable file): a usage or I/O problem, exit code 2.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
        }
    }
}

/// What [`compare_images`] measures. Differences are on stored 8-bit values (0..255).
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub width: u32,
    pub height: u32,
    /// Mean of FLIP's per-pixel error (0..1), computed on RGB composited over black.
    pub flip_mean: f64,
    /// 95th and 99th percentile (nearest rank) and maximum of FLIP's per-pixel error.
    pub flip_p95: f64,
    pub flip_p99: f64,
    pub flip_max: f64,
    /// Peak signal-to-noise ratio in dB over the four channels; `None` (JSON `null`) when the images
    /// are identical (PSNR is infinite).
    pub psnr: Option<f64>,
    /// Mean absolute difference over all channels, 0..255.
    pub mean_diff: f64,
    /// Largest absolute difference of any channel, 0..255.
    pub max_diff: u8,
    /// Pixels (and their percentage) whose difference exceeds the fail threshold.
    pub pixels_over_fail: u64,
    pub percent_over_fail: f64,
    /// Pixels (and their percentage) whose difference exceeds the warn threshold.
    pub pixels_over_warn: u64,
    pub percent_over_warn: f64,
    /// Intersection over union of the pixels with alpha >= 0.5 (128/255); 1 when neither has any.
    pub alpha_iou: f64,
    /// Not serialised: the JSON report gives the verdict and reasons once, per frame.
    #[serde(skip)]
    pub verdict: Verdict,
    /// Why the verdict is not `pass`, one sentence per broken threshold.
    #[serde(skip)]
    pub reasons: Vec<String>,
}

/// The result of [`compare_images`] with the per-pixel FLIP error (row-major, 0..1) kept for the
/// heat map.
pub struct Comparison {
    pub metrics: Metrics,
    pub flip_error: Vec<f32>,
}

/// Compares `actual` against `expected` (the reference) and judges the result by `thresholds`.
/// Images of different sizes cannot be compared: [`Error::ImageSize`].
pub fn compare_images(actual: &RgbaImage, expected: &RgbaImage, thresholds: &Thresholds) -> Result<Metrics> {
    compare_with_error_map(actual, expected, thresholds).map(|c| c.metrics)
}

/// [`compare_images`], also returning FLIP's error map for [`heat_map`].
pub fn compare_with_error_map(actual: &RgbaImage, expected: &RgbaImage, thresholds: &Thresholds) -> Result<Comparison> {
    if actual.dimensions() != expected.dimensions() {
        return Err(Error::ImageSize {
            actual: actual.dimensions(),
            expected: expected.dimensions(),
        });
    }
    let (width, height) = actual.dimensions();
    let n = width as u64 * height as u64;

    // One pass over the pixels: a histogram of per-pixel differences answers every threshold.
    let mut histogram = [0u64; 256];
    let (mut sum_sq, mut sum_abs) = (0u64, 0u64);
    let (mut inter, mut union) = (0u64, 0u64);
    for (p, q) in actual.pixels().zip(expected.pixels()) {
        let mut worst = 0u8;
        for c in 0..4 {
            let d = p[c].abs_diff(q[c]);
            worst = worst.max(d);
            sum_abs += d as u64;
            sum_sq += d as u64 * d as u64;
        }
        histogram[worst as usize] += 1;
        let (x, y) = (p[3] >= 128, q[3] >= 128);
        inter += (x && y) as u64;
        union += (x || y) as u64;
    }
    let max_diff = histogram.iter().rposition(|&c| c > 0).unwrap_or(0) as u8;
    let over = |threshold: f64| -> u64 {
        histogram[(Thresholds::cut(threshold) as usize + 1).min(256)..]
            .iter()
            .sum()
    };
    let percent = |count: u64| if n == 0 { 0.0 } else { count as f64 * 100.0 / n as f64 };
    let samples = (n * 4) as f64;
    let psnr = if sum_sq == 0 || n == 0 {
        None
    } else {
        let mse = sum_sq as f64 / samples;
        Some(10.0 * (255.0f64 * 255.0 / mse).log10())
    };

    // FLIP is only worth running when something differs; for identical images it is 0 everywhere.
    let flip_error = if max_diff == 0 || n == 0 {
        vec![0.0; n as usize]
    } else {
        flip_error_map(actual, expected, thresholds.pixels_per_degree)
    };
    let (flip_mean, flip_p95, flip_p99, flip_max) = flip_statistics(&flip_error);

    let pixels_over_fail = over(thresholds.fail);
    let pixels_over_warn = over(thresholds.warn);
    let mut metrics = Metrics {
        width,
        height,
        flip_mean,
        flip_p95,
        flip_p99,
        flip_max,
        psnr,
        mean_diff: if n == 0 { 0.0 } else { sum_abs as f64 / samples },
        max_diff,
        pixels_over_fail,
        percent_over_fail: percent(pixels_over_fail),
        pixels_over_warn,
        percent_over_warn: percent(pixels_over_warn),
        alpha_iou: if union == 0 { 1.0 } else { inter as f64 / union as f64 },
        verdict: Verdict::Pass,
        reasons: Vec::new(),
    };
    judge(&mut metrics, thresholds);
    Ok(Comparison { metrics, flip_error })
}

/// Sets `verdict` and `reasons` from the measured values.
fn judge(m: &mut Metrics, t: &Thresholds) {
    let mut fail = Vec::new();
    if m.percent_over_fail > t.fail_percent + PERCENT_SLACK {
        fail.push(format!(
            "{} pixels ({:.4}%) differ by more than {} (allowed {}%)",
            m.pixels_over_fail, m.percent_over_fail, t.fail, t.fail_percent
        ));
    }
    if let Some(h) = t.hard_fail {
        if m.max_diff as u32 > Thresholds::cut(h) {
            fail.push(format!("max difference {}/255 exceeds the hard limit {h}", m.max_diff));
        }
    }
    if let Some(f) = t.flip_fail {
        if m.flip_mean > f + PERCENT_SLACK {
            fail.push(format!("FLIP mean {:.5} exceeds {f}", m.flip_mean));
        }
    }
    if let Some(i) = t.iou_fail {
        if m.alpha_iou < i - PERCENT_SLACK {
            fail.push(format!("alpha coverage IoU {:.5} is below {i}", m.alpha_iou));
        }
    }
    if !fail.is_empty() {
        m.verdict = Verdict::Fail;
        m.reasons = fail;
        return;
    }
    let mut warn = Vec::new();
    if m.percent_over_warn > t.warn_percent + PERCENT_SLACK {
        warn.push(format!(
            "{} pixels ({:.4}%) differ by more than {} (warn above {}%)",
            m.pixels_over_warn, m.percent_over_warn, t.warn, t.warn_percent
        ));
    }
    if let Some(f) = t.flip_warn {
        if m.flip_mean > f + PERCENT_SLACK {
            warn.push(format!("FLIP mean {:.5} exceeds the warning level {f}", m.flip_mean));
        }
    }
    if !warn.is_empty() {
        m.verdict = Verdict::Warn;
        m.reasons = warn;
    }
}

/// FLIP's per-pixel error (LDR-FLIP, NVIDIA's C++ implementation through `nv-flip`) of `actual`
/// against the reference `expected`. FLIP sees no alpha, so both are composited over black first:
/// colour hidden under alpha 0 does not count, a coverage difference does.
pub fn flip_error_map(actual: &RgbaImage, expected: &RgbaImage, pixels_per_degree: f32) -> Vec<f32> {
    let (w, h) = expected.dimensions();
    let over_black = |img: &RgbaImage| -> Vec<u8> {
        img.pixels()
            .flat_map(|p| {
                let a = p[3] as u32;
                [0, 1, 2].map(|c| ((p[c] as u32 * a + 127) / 255) as u8)
            })
            .collect()
    };
    let reference = nv_flip::FlipImageRgb8::with_data(w, h, &over_black(expected));
    let test = nv_flip::FlipImageRgb8::with_data(w, h, &over_black(actual));
    nv_flip::flip(reference, test, pixels_per_degree).to_vec()
}

/// (mean, p95, p99, max) of a FLIP error map; percentiles by nearest rank on the sorted values.
fn flip_statistics(error: &[f32]) -> (f64, f64, f64, f64) {
    if error.is_empty() {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let mean = error.iter().map(|&e| e as f64).sum::<f64>() / error.len() as f64;
    let mut sorted = error.to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    let rank = |p: f64| {
        let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i] as f64
    };
    (mean, rank(0.95), rank(0.99), sorted[sorted.len() - 1] as f64)
}

/// FLIP's error map coloured with the magma map, as the FLIP tool draws it (black: no visible
/// difference; yellow-white: the largest).
pub fn heat_map(flip_error: &[f32], width: u32, height: u32) -> Option<RgbImage> {
    if flip_error.len() != width as usize * height as usize || flip_error.is_empty() {
        return None;
    }
    let map = nv_flip::FlipImageFloat::with_data(width, height, flip_error);
    let rgb = map.apply_color_lut(&nv_flip::magma_lut());
    RgbImage::from_raw(width, height, rgb.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    fn solid(w: u32, h: u32, c: [u8; 4]) -> RgbaImage {
        RgbaImage::from_pixel(w, h, Rgba(c))
    }

    #[test]
    fn identical_images_have_zero_difference() {
        let a = solid(16, 16, [10, 200, 30, 255]);
        let m = compare_images(&a, &a, &Thresholds::default()).unwrap();
        assert_eq!((m.flip_mean, m.flip_max, m.max_diff, m.psnr), (0.0, 0.0, 0, None));
        assert_eq!((m.pixels_over_fail, m.alpha_iou, m.verdict), (0, 1.0, Verdict::Pass));
    }

    #[test]
    fn one_changed_channel_sets_max_diff_psnr_and_share() {
        let a = solid(10, 10, [100, 100, 100, 255]);
        let mut b = a.clone();
        b.put_pixel(3, 4, Rgba([100, 140, 100, 255]));
        let m = compare_images(&b, &a, &Thresholds::default()).unwrap();
        assert_eq!(m.max_diff, 40);
        assert_eq!(m.pixels_over_fail, 1);
        assert!((m.percent_over_fail - 1.0).abs() < 1e-12);
        // MSE = 40^2 / 400 samples = 4.
        let psnr = 10.0 * (255.0f64 * 255.0 / 4.0).log10();
        assert!((m.psnr.unwrap() - psnr).abs() < 1e-9);
        assert!((m.mean_diff - 0.1).abs() < 1e-12);
        assert!(m.flip_mean > 0.0 && m.flip_max > m.flip_mean, "{m:?}");
        assert_eq!(m.verdict, Verdict::Fail);
    }

    #[test]
    fn pixel_threshold_edge_is_inclusive_pass() {
        // 0.2 is 51/255 exactly in decimal but not in binary: 51 must pass, 52 fail.
        let a = solid(4, 4, [0, 0, 0, 255]);
        let t = Thresholds {
            fail: 0.2,
            ..Thresholds::default()
        };
        let at = solid(4, 4, [51, 0, 0, 255]);
        assert_eq!(compare_images(&at, &a, &t).unwrap().verdict, Verdict::Warn);
        let over = solid(4, 4, [52, 0, 0, 255]);
        assert_eq!(compare_images(&over, &a, &t).unwrap().verdict, Verdict::Fail);
    }

    #[test]
    fn percent_edge_is_inclusive_pass() {
        let a = solid(10, 10, [0, 0, 0, 255]);
        let mut b = a.clone();
        b.put_pixel(0, 0, Rgba([9, 0, 0, 255]));
        let allowed = Thresholds {
            fail_percent: 1.0,
            warn: 1.0,
            ..Thresholds::default()
        };
        assert_eq!(compare_images(&b, &a, &allowed).unwrap().verdict, Verdict::Pass);
        let tighter = Thresholds {
            fail_percent: 0.99,
            ..allowed
        };
        assert_eq!(compare_images(&b, &a, &tighter).unwrap().verdict, Verdict::Fail);
    }

    #[test]
    fn hard_fail_and_flip_and_iou_limits() {
        let a = solid(8, 8, [0, 0, 0, 255]);
        let mut b = a.clone();
        b.put_pixel(0, 0, Rgba([255, 255, 255, 0]));
        let loose = Thresholds {
            fail_percent: 100.0,
            warn: 1.0,
            ..Thresholds::default()
        };
        let m = compare_images(&b, &a, &loose).unwrap();
        assert_eq!(m.verdict, Verdict::Pass, "{:?}", m.reasons);
        assert!((m.alpha_iou - 63.0 / 64.0).abs() < 1e-12);
        let hard = Thresholds {
            hard_fail: Some(0.5),
            ..loose.clone()
        };
        assert!(compare_images(&b, &a, &hard).unwrap().reasons[0].contains("hard limit"));
        let iou = Thresholds {
            iou_fail: Some(0.99),
            ..loose.clone()
        };
        assert!(compare_images(&b, &a, &iou).unwrap().reasons[0].contains("IoU"));
        // Colour under alpha 0 composites to black: FLIP sees no difference at all.
        assert_eq!(m.flip_max, 0.0);
        let mut c = a.clone();
        c.put_pixel(0, 0, Rgba([255, 255, 255, 255]));
        let m = compare_images(&c, &a, &loose).unwrap();
        let flip = Thresholds {
            flip_fail: Some(m.flip_mean),
            ..loose.clone()
        };
        assert_eq!(
            compare_images(&c, &a, &flip).unwrap().verdict,
            Verdict::Pass,
            "at the limit passes"
        );
        let flip = Thresholds {
            flip_fail: Some(m.flip_mean * 0.99),
            ..loose
        };
        assert_eq!(compare_images(&c, &a, &flip).unwrap().verdict, Verdict::Fail);
    }

    #[test]
    fn sizes_must_match() {
        let e = compare_images(&solid(4, 4, [0; 4]), &solid(4, 5, [0; 4]), &Thresholds::default()).unwrap_err();
        assert!(e.to_string().contains("4x4") && e.to_string().contains("4x5"), "{e}");
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f32> = (1..=100).map(|i| i as f32 / 100.0).collect();
        let (mean, p95, p99, max) = flip_statistics(&v);
        assert!((mean - 0.505).abs() < 1e-6);
        assert_eq!((p95 as f32, p99 as f32, max as f32), (0.95, 0.99, 1.0));
    }

    #[test]
    fn thresholds_are_validated() {
        assert!(Thresholds {
            fail: 1.5,
            ..Thresholds::default()
        }
        .validate()
        .is_err());
        assert!(Thresholds {
            fail_percent: f64::NAN,
            ..Thresholds::default()
        }
        .validate()
        .is_err());
        assert!(Thresholds {
            flip_fail: Some(-0.1),
            ..Thresholds::default()
        }
        .validate()
        .is_err());
        assert!(Thresholds::default().validate().is_ok());
    }

    #[test]
    fn heat_map_has_the_image_size() {
        let a = solid(6, 5, [0, 0, 0, 255]);
        let b = solid(6, 5, [255, 255, 255, 255]);
        let c = compare_with_error_map(&b, &a, &Thresholds::default()).unwrap();
        let map = heat_map(&c.flip_error, 6, 5).unwrap();
        assert_eq!(map.dimensions(), (6, 5));
        assert!(heat_map(&c.flip_error, 7, 5).is_none());
    }
}
