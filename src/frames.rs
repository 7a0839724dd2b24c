//! Frame numbers: a stage's timing, its default frame list, and the `--frames` spec.
//!
//! A frame number is a USD time code, as usdrecord numbers frames: `--frames 1-10` renders time
//! codes 1 to 10 and names the files after them. One frame is `tcps / fps` time codes, so the
//! default list steps by that from start to end.

use crate::{Error, Result};

/// A stage's timing metadata, from its root layer only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// timeCodesPerSecond (24 when not authored).
    pub tcps: f64,
    /// framesPerSecond (24 when not authored).
    pub fps: f64,
    /// startTimeCode / endTimeCode, `None` when not authored.
    pub start: Option<f64>,
    pub end: Option<f64>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            tcps: 24.0,
            fps: 24.0,
            start: None,
            end: None,
        }
    }
}

/// Slack for comparing time codes that went through decimal text or float arithmetic.
const EPSILON: f64 = 1e-6;

impl Timing {
    /// Time codes per frame (`tcps / fps`), or an error for rates that cannot be rendered
    /// (zero, negative or not finite), where pxr refuses the stage or hangs.
    pub fn step(&self) -> Result<f64, String> {
        for (name, value) in [("timeCodesPerSecond", self.tcps), ("framesPerSecond", self.fps)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("{name} is {value}; it must be a positive number"));
            }
        }
        Ok(self.tcps / self.fps)
    }

    /// The frames rendered when the user gives no `--frames`: every frame from start to end
    /// inclusive; one frame at the start time code (0 when unauthored) when no range is authored.
    /// An end that is within a millionth of a step of a whole frame counts as that frame, so an end
    /// of 3023.99999999994 renders frame 3024 instead of dropping it; an end between frames (1290.56)
    /// ends at the last whole frame before it, so no two frames share a file name.
    pub fn default_frames(&self) -> Result<Vec<f64>, String> {
        let step = self.step()?;
        match (self.start, self.end) {
            (Some(start), Some(end)) => {
                if !(start.is_finite() && end.is_finite()) {
                    return Err(format!("the time range {start}..{end} is not finite"));
                }
                if end < start {
                    return Err(format!("endTimeCode {end} is before startTimeCode {start}"));
                }
                // A stage's own range must not exhaust memory (or overflow the count) either.
                if (end - start) / step >= MAX_FRAMES as f64 {
                    return Err(format!(
                        "the time range {start}..{end} has more than {MAX_FRAMES} frames"
                    ));
                }
                Ok(range(start, end, step))
            }
            (Some(start), None) => Ok(vec![start]),
            _ => Ok(vec![0.0]),
        }
    }
}

/// `start, start + step, ...` up to `end` (inclusive, with [`EPSILON`] slack), descending when
/// `end < start`. `step` must be positive.
fn range(start: f64, end: f64, step: f64) -> Vec<f64> {
    let span = (end - start).abs() / step;
    let count = (span + EPSILON).floor() as u64 + 1;
    let direction = if end < start { -1.0 } else { 1.0 };
    (0..count).map(|i| tidy(start + direction * step * i as f64)).collect()
}

/// Rounds away float noise (0.30000000000000004 -> 0.3) so names and time codes stay exact.
fn tidy(x: f64) -> f64 {
    let r = (x * 1e9).round() / 1e9;
    if r == 0.0 {
        0.0 // no negative zero in file names
    } else {
        r
    }
}

/// Most frames one spec may expand to: a typo like `1-1e9` is an error, not an out-of-memory.
pub const MAX_FRAMES: u64 = 10_000_000;

/// Parses a `--frames` spec into frame numbers, in the order given.
///
/// Accepted forms, and lists of them separated by commas:
/// `7`, `1-100` and `1-100x5` (Deadline, husk), `101:110` and `101:110x2` (usdrecord),
/// `1..10` (Blender). Ranges are inclusive; a range whose end is before its start counts down;
/// the step is a positive number of time codes (fractions allowed); negative frames are allowed
/// (`-5--1`, `-5:-1`).
pub fn parse_spec(spec: &str) -> Result<Vec<f64>> {
    let err = |reason: String| Error::FrameSpec {
        spec: spec.to_string(),
        reason,
    };
    let mut frames = Vec::new();
    for part in spec.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(err("empty entry".into()));
        }
        let (body, step) = match part.rsplit_once(['x', 'X']) {
            Some((body, step)) => {
                let step: f64 = step
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("step {step:?} is not a number")))?;
                if !(step.is_finite() && step > 0.0) {
                    return Err(err(format!("step {step} must be a positive number")));
                }
                (body.trim(), Some(step))
            }
            None => (part, None),
        };
        let (start, end) = split_range(body).ok_or_else(|| err(format!("cannot read {part:?}")))?;
        let number = |s: &str| -> Result<f64> {
            let v: f64 = s
                .trim()
                .parse()
                .map_err(|_| err(format!("{s:?} is not a frame number")))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(err(format!("{s:?} is not a finite frame number")))
            }
        };
        let start = number(start)?;
        match end {
            None => {
                if step.is_some() {
                    return Err(err(format!("{part:?} has a step but no range")));
                }
                frames.push(tidy(start));
            }
            Some(end) => {
                let end = number(end)?;
                let step = step.unwrap_or(1.0);
                let count = ((end - start).abs() / step + EPSILON).floor() + 1.0;
                if count as u64 + frames.len() as u64 > MAX_FRAMES {
                    return Err(err(format!("more than {MAX_FRAMES} frames")));
                }
                frames.extend(range(start, end, step));
            }
        }
    }
    Ok(frames)
}

/// Splits `a-b`, `a:b` or `a..b` into its ends, allowing a minus sign on either number.
fn split_range(body: &str) -> Option<(&str, Option<&str>)> {
    if let Some((a, b)) = body.split_once("..") {
        return Some((a, Some(b)));
    }
    if let Some((a, b)) = body.split_once(':') {
        return Some((a, Some(b)));
    }
    // A '-' that separates is one not at the start and not right after 'e' (1e-3) or another '-'.
    let bytes = body.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b'-' && !matches!(bytes[i - 1], b'-' | b'e' | b'E') {
            return Some((&body[..i], Some(&body[i + 1..])));
        }
    }
    if body.is_empty() {
        None
    } else {
        Some((body, None))
    }
}

/// The part of a frame list one farm task renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSlice {
    /// The `index`-th contiguous block of `size` frames (0-based), as Deadline and OpenCue chunk.
    Chunk { size: usize, index: usize },
    /// Part `index` of `count` near-equal contiguous parts (0-based).
    Shard { index: usize, count: usize },
}

impl FrameSlice {
    /// How many tasks cover `frames` frames.
    pub fn task_count(&self, frames: usize) -> usize {
        match *self {
            FrameSlice::Chunk { size, .. } => frames.div_ceil(size.max(1)),
            FrameSlice::Shard { count, .. } => count,
        }
    }

    /// This task's frames; an index past the last task is an error, never "everything".
    pub fn select(&self, frames: &[f64]) -> Result<Vec<f64>> {
        let tasks = self.task_count(frames.len());
        let err = |reason: String| Error::Option(reason);
        match *self {
            FrameSlice::Chunk { size: 0, .. } => Err(err("--chunk must be at least 1".into())),
            FrameSlice::Shard { count: 0, .. } => Err(err("--shard i/n needs n >= 1".into())),
            FrameSlice::Chunk { size, index } => {
                if index >= tasks {
                    return Err(err(format!(
                        "task index {index} is past the last chunk: {} frames in chunks of {size} make {tasks} task(s), indices 0..{}",
                        frames.len(),
                        tasks.saturating_sub(1)
                    )));
                }
                Ok(frames[index * size..((index + 1) * size).min(frames.len())].to_vec())
            }
            FrameSlice::Shard { index, count } => {
                if index >= count {
                    return Err(err(format!("--shard {index}/{count}: the index must be below {count}")));
                }
                // Near-equal parts: the first (len % count) parts get one frame more.
                let (base, extra) = (frames.len() / count, frames.len() % count);
                let start = index * base + index.min(extra);
                let len = base + usize::from(index < extra);
                Ok(frames[start..start + len].to_vec())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(tcps: f64, fps: f64, start: Option<f64>, end: Option<f64>) -> Timing {
        Timing { tcps, fps, start, end }
    }

    #[test]
    fn default_range_is_inclusive() {
        assert_eq!(
            timing(24.0, 24.0, Some(1.0), Some(5.0)).default_frames().unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0]
        );
    }

    #[test]
    fn single_frame_range() {
        assert_eq!(
            timing(24.0, 24.0, Some(1.0), Some(1.0)).default_frames().unwrap(),
            vec![1.0]
        );
    }

    #[test]
    fn no_authored_range_is_one_frame_at_start() {
        assert_eq!(timing(24.0, 24.0, None, None).default_frames().unwrap(), vec![0.0]);
        assert_eq!(timing(24.0, 24.0, Some(7.0), None).default_frames().unwrap(), vec![7.0]);
    }

    #[test]
    fn tcps_above_fps_steps_by_several_time_codes() {
        // 48 time codes per second at 24 fps: a frame is 2 time codes.
        assert_eq!(
            timing(48.0, 24.0, Some(0.0), Some(6.0)).default_frames().unwrap(),
            vec![0.0, 2.0, 4.0, 6.0]
        );
    }

    #[test]
    fn fractional_step_when_fps_above_tcps() {
        assert_eq!(
            timing(24.0, 48.0, Some(1.0), Some(2.0)).default_frames().unwrap(),
            vec![1.0, 1.5, 2.0]
        );
        // 0.1 steps accumulate no float noise.
        let f = timing(10.0, 100.0, Some(0.0), Some(0.3)).default_frames().unwrap();
        assert_eq!(f, vec![0.0, 0.1, 0.2, 0.3]);
    }

    #[test]
    fn end_a_hair_below_a_whole_frame_keeps_that_frame() {
        let f = timing(24.0, 24.0, Some(0.0), Some(3023.99999999994))
            .default_frames()
            .unwrap();
        assert_eq!(f.len(), 3025);
        assert_eq!(*f.last().unwrap(), 3024.0);
    }

    #[test]
    fn end_between_frames_stops_at_the_last_whole_frame() {
        let f = timing(24.0, 24.0, Some(0.0), Some(1290.56)).default_frames().unwrap();
        assert_eq!(f.len(), 1291);
        assert_eq!(*f.last().unwrap(), 1290.0);
    }

    #[test]
    fn bad_timing_is_an_error_not_a_hang() {
        for (tcps, fps) in [
            (0.0, 24.0),
            (24.0, 0.0),
            (24.0, -1.0),
            (f64::NAN, 24.0),
            (24.0, f64::INFINITY),
        ] {
            assert!(
                timing(tcps, fps, Some(1.0), Some(10.0)).default_frames().is_err(),
                "{tcps} {fps}"
            );
        }
        assert!(timing(24.0, 24.0, Some(10.0), Some(1.0))
            .default_frames()
            .unwrap_err()
            .contains("before"));
    }

    #[test]
    fn spec_forms() {
        assert_eq!(parse_spec("7").unwrap(), vec![7.0]);
        assert_eq!(parse_spec("1-4").unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(parse_spec("1-10x4").unwrap(), vec![1.0, 5.0, 9.0]);
        assert_eq!(
            parse_spec("101:110x2").unwrap(),
            vec![101.0, 103.0, 105.0, 107.0, 109.0]
        );
        assert_eq!(parse_spec("1..3").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(parse_spec("1,5, 10").unwrap(), vec![1.0, 5.0, 10.0]);
        assert_eq!(parse_spec("1-2,8..9").unwrap(), vec![1.0, 2.0, 8.0, 9.0]);
        assert_eq!(parse_spec("1:2x0.5").unwrap(), vec![1.0, 1.5, 2.0]);
    }

    #[test]
    fn spec_reversed_and_negative() {
        assert_eq!(parse_spec("3-1").unwrap(), vec![3.0, 2.0, 1.0]);
        assert_eq!(parse_spec("-2--1").unwrap(), vec![-2.0, -1.0]);
        assert_eq!(parse_spec("-1:1").unwrap(), vec![-1.0, 0.0, 1.0]);
        assert_eq!(parse_spec("-3").unwrap(), vec![-3.0]);
    }

    #[test]
    fn chunks_are_contiguous_and_cover_every_frame_once() {
        let frames: Vec<f64> = (1..=24).map(f64::from).collect();
        let mut all = Vec::new();
        for index in 0..6 {
            let part = FrameSlice::Chunk { size: 4, index }.select(&frames).unwrap();
            assert_eq!(part.len(), 4);
            all.extend(part);
        }
        assert_eq!(all, frames);
        assert_eq!(
            FrameSlice::Chunk { size: 5, index: 4 }.select(&frames).unwrap(),
            vec![21.0, 22.0, 23.0, 24.0]
        );
        let e = FrameSlice::Chunk { size: 5, index: 5 }
            .select(&frames)
            .unwrap_err()
            .to_string();
        assert!(e.contains("past the last chunk") && e.contains("5 task(s)"), "{e}");
    }

    #[test]
    fn shards_split_evenly() {
        let frames: Vec<f64> = (0..10).map(f64::from).collect();
        let sizes: Vec<usize> = (0..4)
            .map(|i| FrameSlice::Shard { index: i, count: 4 }.select(&frames).unwrap().len())
            .collect();
        assert_eq!(sizes, [3, 3, 2, 2]);
        let joined: Vec<f64> = (0..4)
            .flat_map(|i| FrameSlice::Shard { index: i, count: 4 }.select(&frames).unwrap())
            .collect();
        assert_eq!(joined, frames);
        assert!(FrameSlice::Shard { index: 4, count: 4 }.select(&frames).is_err());
        // More shards than frames: the extra shards are empty, not an error.
        assert!(FrameSlice::Shard { index: 5, count: 8 }
            .select(&frames[..3])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn spec_errors_name_the_problem() {
        for bad in ["", "a-b", "1-10x0", "1-10x-2", "1,,2", "5x2", "1-", "nan", "1-1e12"] {
            let e = parse_spec(bad).unwrap_err().to_string();
            assert!(e.contains("invalid frame spec"), "{bad}: {e}");
        }
    }
}
