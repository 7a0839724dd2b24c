//! Output file names from frame numbers: `####` (and `####.###` for fractional frames),
//! husk's `$F4`, and printf's `%04d`. Names depend on the frame number only, never on the order
//! in which frames finish.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A parsed output pattern such as `out/shot.####.png`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    text: String,
    /// Byte range of the frame token in `text`, `None` for a single fixed file name.
    token: Option<(usize, usize)>,
    /// Digits of the integer part (minimum width, zero-padded).
    width: usize,
    /// Digits after the decimal point (`####.###` gives 3).
    precision: usize,
}

impl Pattern {
    /// Parses `text`, finding exactly one frame token.
    pub fn parse(text: &str) -> Result<Pattern> {
        let err = |reason: &str| Error::Pattern {
            pattern: text.to_string(),
            reason: reason.to_string(),
        };
        let token = frame_token(text)?;
        if Path::new(text).file_name().is_none() {
            return Err(err("no file name"));
        }
        Ok(match token {
            Some(t) => Pattern {
                text: text.to_string(),
                token: Some((t.start, t.end)),
                width: t.width,
                precision: t.precision,
            },
            None => Pattern {
                text: text.to_string(),
                token: None,
                width: 0,
                precision: 0,
            },
        })
    }

    /// Whether the pattern names frames (else it is one fixed file).
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Checks that every frame gets its own, exact name: a pattern without a token can name only
    /// one frame; fractional frames need enough `.###` digits.
    pub fn check_frames(&self, frames: &[f64]) -> Result<()> {
        let err = |reason: String| Error::Pattern {
            pattern: self.text.clone(),
            reason,
        };
        if self.token.is_none() {
            if frames.len() > 1 {
                return Err(err(format!(
                    "{} frames need a frame token in the name, such as shot.####.png",
                    frames.len()
                )));
            }
            return Ok(());
        }
        let scale = 10f64.powi(self.precision as i32);
        for &frame in frames {
            let scaled = frame * scale;
            if (scaled - scaled.round()).abs() > 1e-6 * scale.max(1.0) {
                return Err(err(format!(
                    "frame {frame} needs more digits after the point than the pattern's {} (write ####.{})",
                    self.precision,
                    "#".repeat(self.precision.max(1) + 1)
                )));
            }
        }
        // Two frames must never share a file (frame numbers past 2^64 saturate, 1e20 and 1e21
        // would both be written to one name).
        let mut seen: std::collections::HashMap<PathBuf, f64> = std::collections::HashMap::with_capacity(frames.len());
        for &frame in frames {
            if let Some(other) = seen.insert(self.path(frame), frame) {
                if other.to_bits() != frame.to_bits() {
                    return Err(err(format!(
                        "frames {other} and {frame} would both be written to {}",
                        self.path(frame).display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The frame number as it appears in file names.
    pub fn format_frame(&self, frame: f64) -> String {
        let negative = frame < 0.0 && frame.abs() >= 0.5 / 10f64.powi(self.precision as i32);
        let magnitude = frame.abs();
        let digits = if self.precision == 0 {
            format!("{:0width$}", magnitude.round() as u64, width = self.width)
        } else {
            let text = format!("{magnitude:.prec$}", prec = self.precision);
            let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
            format!("{int:0>width$}.{frac}", width = self.width)
        };
        if negative {
            format!("-{digits}")
        } else {
            digits
        }
    }

    /// The output path for `frame`.
    pub fn path(&self, frame: f64) -> PathBuf {
        match self.token {
            Some((start, end)) => PathBuf::from(format!(
                "{}{}{}",
                &self.text[..start],
                self.format_frame(frame),
                &self.text[end..]
            )),
            None => PathBuf::from(&self.text),
        }
    }

    /// The pattern text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The lower-case extension of the file names (`png`, `exr`, ...), if any.
    pub fn extension(&self) -> Option<String> {
        Path::new(&self.text)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
    }
}

/// Where a frame token sits in a pattern's text, and how it formats numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameToken {
    /// Byte range of the token in the whole text.
    pub start: usize,
    pub end: usize,
    /// Digits of the integer part (minimum width).
    pub width: usize,
    /// Digits after the decimal point (`####.###` gives 3).
    pub precision: usize,
}

/// Finds the frame token in the file-name part of `text`: a run of `#` (`####.###` for
/// fractional frames), husk's `$F4`, or printf's `%04d`. `Ok(None)` when there is none; an error
/// when there is more than one. Shared by output naming and `compare`'s pattern matching.
pub fn frame_token(text: &str) -> Result<Option<FrameToken>> {
    let name_start = text.rfind('/').map_or(0, |i| i + 1);
    let mut found: Vec<FrameToken> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = name_start;
    while i < bytes.len() {
        let start = i;
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] == b'#' {
                    i += 1;
                }
                let width = i - start;
                let mut precision = 0;
                if bytes.get(i) == Some(&b'.') && bytes.get(i + 1) == Some(&b'#') {
                    let frac = i + 1;
                    i = frac;
                    while i < bytes.len() && bytes[i] == b'#' {
                        i += 1;
                    }
                    precision = i - frac;
                }
                found.push(FrameToken {
                    start,
                    end: i,
                    width,
                    precision,
                });
            }
            b'$' if bytes.get(i + 1) == Some(&b'F') => {
                i += 2;
                let digits = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let width = text[digits..i].parse().unwrap_or(1);
                found.push(FrameToken {
                    start,
                    end: i,
                    width,
                    precision: 0,
                });
            }
            b'%' => {
                // %d, %4d, %04d
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                if bytes.get(j) == Some(&b'd') {
                    let width = text[start + 1..j].trim_start_matches('0').parse().unwrap_or(1);
                    found.push(FrameToken {
                        start,
                        end: j + 1,
                        width,
                        precision: 0,
                    });
                    i = j + 1;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    if found.len() > 1 {
        return Err(Error::Pattern {
            pattern: text.to_string(),
            reason: "more than one frame token (####, $F4 or %04d); use exactly one".into(),
        });
    }
    Ok(found.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(p: &str, f: f64) -> String {
        Pattern::parse(p).unwrap().path(f).to_string_lossy().into_owned()
    }

    #[test]
    fn hashes_pad_the_frame() {
        assert_eq!(name("out/shot.####.png", 7.0), "out/shot.0007.png");
        assert_eq!(name("out/shot.#.png", 123.0), "out/shot.123.png");
        assert_eq!(name("out/shot.####.png", 12345.0), "out/shot.12345.png");
    }

    #[test]
    fn husk_and_printf_tokens() {
        assert_eq!(name("img.$F4.exr", 9.0), "img.0009.exr");
        assert_eq!(name("img.$F.exr", 9.0), "img.9.exr");
        assert_eq!(name("img.%04d.png", 42.0), "img.0042.png");
        assert_eq!(name("img.%d.png", 42.0), "img.42.png");
    }

    #[test]
    fn fractional_and_negative_frames() {
        assert_eq!(name("f.####.###.png", 1.5), "f.0001.500.png");
        assert_eq!(name("f.####.png", -3.0), "f.-0003.png");
        assert_eq!(name("f.##.#.png", -0.5), "f.-00.5.png");
    }

    #[test]
    fn hashes_in_folder_names_are_not_tokens() {
        assert_eq!(name("take#1/shot.####.png", 2.0), "take#1/shot.0002.png");
    }

    #[test]
    fn frames_that_would_share_a_file_are_refused() {
        let p = Pattern::parse("out/f.####.png").unwrap();
        let err = p.check_frames(&[1e20, 1e21]).expect_err("both saturate to one name");
        assert!(err.to_string().contains("would both be written to"), "{err}");
        assert!(p.check_frames(&[1.0, 2.0, 3.0]).is_ok());
    }

    #[test]
    fn precision_is_checked_against_the_frames() {
        let p = Pattern::parse("f.####.png").unwrap();
        assert!(p.check_frames(&[1.0, 2.0]).is_ok());
        let e = p.check_frames(&[1.0, 1.5]).unwrap_err().to_string();
        assert!(e.contains("1.5") && e.contains("####.##"), "{e}");
        let p = Pattern::parse("f.####.#.png").unwrap();
        assert!(p.check_frames(&[1.0, 1.5]).is_ok());
        assert!(p.check_frames(&[1.25]).is_err());
    }

    #[test]
    fn one_token_at_most_and_required_for_sequences() {
        assert!(Pattern::parse("a.####.$F4.png").is_err());
        let single = Pattern::parse("still.png").unwrap();
        assert!(single.check_frames(&[1.0]).is_ok());
        assert!(single
            .check_frames(&[1.0, 2.0])
            .unwrap_err()
            .to_string()
            .contains("frame token"));
    }

    #[test]
    fn distinct_frames_get_distinct_names() {
        let p = Pattern::parse("s.###.##.png").unwrap();
        let frames: Vec<f64> = (0..400).map(|i| -2.0 + i as f64 * 0.01).collect();
        p.check_frames(&frames).unwrap();
        let names: std::collections::BTreeSet<_> = frames.iter().map(|&f| p.path(f)).collect();
        assert_eq!(names.len(), frames.len());
    }
}
