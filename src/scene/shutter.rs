//! Motion blur in time: the shutter interval a frame is exposed over and the sub-frame times at
//! which the scene is evaluated and rendered before the images are averaged (`--motion-blur`).
//! Plain numbers only; the stage reads the camera's shutter, the GPU averages the images.

/// A shutter interval in time codes relative to the frame, as UsdGeomCamera's `shutter:open`
/// and `shutter:close` ("frame relative shutter open time in UsdTimeCode units").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shutter {
    pub open: f64,
    pub close: f64,
}

impl Shutter {
    /// USD's fallback (0, 0): an instant at the frame, no blur.
    pub const INSTANT: Shutter = Shutter { open: 0.0, close: 0.0 };

    /// The interval used when `--motion-blur` finds none authored: half a frame centred on the
    /// frame (a 180-degree shutter, film's usual one and what Blender, Karma and RenderMan
    /// default to), in frames; [`Sampling::shutter_for`] scales it to time codes.
    pub const HALF_FRAME_CENTRED: Shutter = Shutter {
        open: -0.25,
        close: 0.25,
    };

    /// Whether the shutter is open for no time (close at or before open, or not finite).
    pub fn is_instant(&self) -> bool {
        !(self.open.is_finite() && self.close.is_finite() && self.close > self.open)
    }

    /// Parses `OPEN,CLOSE` (`--shutter -0.25,0.25`): two finite numbers, close not before open.
    pub fn parse(text: &str) -> Option<Shutter> {
        let mut parts = text
            .split(',')
            .map(|p| p.trim().parse::<f64>().ok().filter(|x| x.is_finite()));
        let (open, close) = (parts.next()??, parts.next()??);
        (parts.next().is_none() && close >= open).then_some(Shutter { open, close })
    }
}

/// Default `--motion-samples`. Each sample is a whole render, so the cost grows with it: 8 keeps
/// a blurred frame at about 8 renders while an object crossing a tenth of the image per frame
/// under a 180-degree shutter at 1080p leaves copies about 12 pixels apart, which read as a smear
/// at normal viewing; fast motion needs more (16-32), as in any accumulation renderer.
pub const DEFAULT_MOTION_SAMPLES: u32 = 8;

/// Most `--motion-samples` accepted (each is a full render of the frame).
pub const MAX_MOTION_SAMPLES: u32 = 1024;

/// What `--motion-blur` asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionBlur {
    /// Renders averaged per frame (`--motion-samples`, at least 1).
    pub samples: u32,
    /// `--shutter OPEN,CLOSE` in time codes relative to the frame: wins over the camera's and
    /// over the stage's RenderSettings.
    pub shutter: Option<Shutter>,
}

impl Default for MotionBlur {
    fn default() -> Self {
        MotionBlur {
            samples: DEFAULT_MOTION_SAMPLES,
            shutter: None,
        }
    }
}

/// How the frames of a run are sampled in time: once at their time code (no motion blur), or at
/// [`MotionBlur::samples`] times over each frame's shutter.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sampling {
    /// `None`: one evaluation per frame, at its time code.
    pub blur: Option<MotionBlur>,
    /// Time codes per frame (timeCodesPerSecond / framesPerSecond, 1 for most stages): the
    /// fallback shutter is a share of a frame.
    pub frame_length: f64,
    /// The stage's RenderSettings turn motion blur off (`disableMotionBlur`, or the older
    /// `instantaneousShutter`): its camera's shutter is taken as [0, 0].
    pub stage_disables: bool,
}

impl Sampling {
    /// Whether frames may be rendered at more than one time.
    pub fn blurs(&self) -> bool {
        self.blur.is_some_and(|b| b.samples > 1)
    }

    /// The shutter of a frame whose camera authors `camera` (USD's fallback (0, 0) when it
    /// authors none or there is no camera prim): `--shutter` first; then an instant where the
    /// stage's RenderSettings disable motion blur; then the camera's interval when it has one;
    /// else [`Shutter::HALF_FRAME_CENTRED`] of a frame.
    pub fn shutter_for(&self, camera: Shutter) -> Shutter {
        let Some(blur) = self.blur else {
            return Shutter::INSTANT;
        };
        if let Some(s) = blur.shutter {
            return s;
        }
        if self.stage_disables {
            return Shutter::INSTANT;
        }
        if !camera.is_instant() {
            return camera;
        }
        let frame = if self.frame_length.is_finite() && self.frame_length > 0.0 {
            self.frame_length
        } else {
            1.0
        };
        Shutter {
            open: Shutter::HALF_FRAME_CENTRED.open * frame,
            close: Shutter::HALF_FRAME_CENTRED.close * frame,
        }
    }

    /// The times a frame at time code `time` is rendered at, given its camera's shutter
    /// ([`Sampling::shutter_for`], [`sample_times`]).
    pub fn times(&self, time: f64, camera: Shutter) -> Vec<f64> {
        let samples = self.blur.map_or(1, |b| b.samples);
        sample_times(time, self.shutter_for(camera), samples)
    }
}

/// The times a frame at time code `time` is rendered at to expose it over `shutter`: the
/// midpoints of `samples` equal strata of the interval (deterministic, each standing for the same
/// share of the exposure, so a plain average is the box-filtered image; their mean is the
/// shutter's centre). They are ordered so that the one nearest the centre comes last (the later
/// of two at an even count): the renderer keeps the last sample's depth and ids as the frame's
/// AOVs. An instant shutter, or a single sample, gives one time: `time + open`, or the
/// shutter's centre for one sample of an open one.
pub fn sample_times(time: f64, shutter: Shutter, samples: u32) -> Vec<f64> {
    if shutter.is_instant() {
        let open = if shutter.open.is_finite() { shutter.open } else { 0.0 };
        return vec![time + open];
    }
    let n = samples.max(1);
    let width = shutter.close - shutter.open;
    let at = |k: u32| time + shutter.open + (k as f64 + 0.5) / n as f64 * width;
    let centre = n / 2;
    (0..n).filter(|&k| k != centre).chain([centre]).map(at).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blur(samples: u32) -> Sampling {
        Sampling {
            blur: Some(MotionBlur { samples, shutter: None }),
            frame_length: 1.0,
            stage_disables: false,
        }
    }

    #[test]
    fn samples_are_stratum_midpoints_centred_on_the_shutter() {
        let shutter = Shutter::HALF_FRAME_CENTRED;
        for n in 1..=17u32 {
            let mut t = sample_times(10.0, shutter, n);
            assert_eq!(t.len(), n as usize, "{n} samples");
            // The centre (or the later of the two nearest it) is rendered last.
            let last = *t.last().unwrap();
            t.sort_by(f64::total_cmp);
            assert_eq!(last, t[n as usize / 2], "{n}: last is the nearest the centre");
            // One in each stratum, at its midpoint: gaps of a stratum, half a stratum at the ends.
            let stratum = 0.5 / n as f64;
            assert!((t[0] - (9.75 + stratum / 2.0)).abs() < 1e-12, "{n}: {t:?}");
            assert!(
                (t[n as usize - 1] - (10.25 - stratum / 2.0)).abs() < 1e-12,
                "{n}: {t:?}"
            );
            for w in t.windows(2) {
                assert!((w[1] - w[0] - stratum).abs() < 1e-12, "{n}: {t:?}");
            }
            assert!(t.iter().all(|&x| x > 9.75 && x < 10.25));
            let mean = t.iter().sum::<f64>() / n as f64;
            assert!((mean - 10.0).abs() < 1e-12, "{n}: mean {mean}");
        }
        // An odd count has a sample exactly at the centre (the frame), rendered last.
        assert_eq!(*sample_times(3.0, shutter, 9).last().unwrap(), 3.0);
        assert_eq!(sample_times(3.0, shutter, 1), vec![3.0]);
        // Eight: the later of the two nearest the centre.
        assert_eq!(*sample_times(0.0, shutter, 8).last().unwrap(), 0.03125);
    }

    #[test]
    fn an_instant_shutter_gives_one_sample() {
        assert_eq!(sample_times(5.0, Shutter::INSTANT, 8), vec![5.0]);
        assert_eq!(sample_times(5.0, Shutter { open: 0.5, close: 0.5 }, 8), vec![5.5]);
        assert_eq!(sample_times(5.0, Shutter { open: 1.0, close: 0.0 }, 8), vec![6.0]);
        assert_eq!(
            sample_times(
                5.0,
                Shutter {
                    open: f64::NAN,
                    close: 1.0
                },
                8
            ),
            vec![5.0]
        );
        // A forward shutter (open at the frame, as many cameras author it).
        let t = sample_times(1.0, Shutter { open: 0.0, close: 0.5 }, 2);
        assert_eq!(t, vec![1.125, 1.375]);
    }

    #[test]
    fn shutter_comes_from_the_flag_then_the_stage_then_the_camera_then_half_a_frame() {
        let camera = Shutter { open: 0.0, close: 1.0 };
        let s = blur(8);
        assert_eq!(s.shutter_for(camera), camera);
        assert_eq!(s.shutter_for(Shutter::INSTANT), Shutter::HALF_FRAME_CENTRED);
        // Half a frame in time codes: 48 time codes per second at 24 fps.
        let s2 = Sampling { frame_length: 2.0, ..s };
        assert_eq!(s2.shutter_for(Shutter::INSTANT), Shutter { open: -0.5, close: 0.5 });
        let off = Sampling {
            stage_disables: true,
            ..s
        };
        assert_eq!(off.shutter_for(camera), Shutter::INSTANT);
        assert_eq!(off.times(4.0, camera), vec![4.0]);
        let flag = Shutter { open: -0.1, close: 0.1 };
        let forced = Sampling {
            blur: Some(MotionBlur {
                samples: 8,
                shutter: Some(flag),
            }),
            ..off
        };
        assert_eq!(forced.shutter_for(camera), flag);
        // No --motion-blur: one time, the frame's, whatever the camera says.
        let none = Sampling::default();
        assert!(!none.blurs());
        assert_eq!(none.times(4.0, camera), vec![4.0]);
        assert_eq!(s.times(4.0, camera).len(), 8);
    }

    #[test]
    fn shutter_flag_parses_two_ordered_numbers() {
        assert_eq!(Shutter::parse("-0.25,0.25"), Some(Shutter::HALF_FRAME_CENTRED));
        assert_eq!(Shutter::parse(" 0 , 0.5 "), Some(Shutter { open: 0.0, close: 0.5 }));
        assert_eq!(Shutter::parse("0,0"), Some(Shutter::INSTANT));
        for bad in ["", "1", "0.5,0", "a,b", "0,1,2", "nan,1", "0,inf"] {
            assert_eq!(Shutter::parse(bad), None, "{bad:?}");
        }
    }
}
