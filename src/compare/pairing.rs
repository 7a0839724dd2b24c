//! Which files to compare: two files, two folders or two frame patterns (`out/f.####.png`), paired
//! by file name (folders) or by frame number (patterns).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Extensions of the files a folder comparison looks at (what the `image` build here decodes).
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "exr", "tif", "tiff"];

/// One side of a comparison, as the user named it.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    File(PathBuf),
    Folder(PathBuf),
    Pattern(FramePattern),
}

impl Source {
    /// An existing file or folder, else a frame pattern whose folder exists. Anything else is an
    /// I/O error naming the path (exit code 2): a missing reference folder is a broken setup, not a
    /// failed comparison.
    pub fn classify(arg: &str) -> Result<Source> {
        let path = Path::new(arg);
        if path.is_dir() {
            return Ok(Source::Folder(path.to_path_buf()));
        }
        if path.is_file() {
            return Ok(Source::File(path.to_path_buf()));
        }
        if let Some(pattern) = FramePattern::parse(arg)? {
            if !pattern.dir().is_dir() {
                return Err(Error::io(
                    pattern.dir(),
                    not_found("no such folder (from the frame pattern)"),
                ));
            }
            return Ok(Source::Pattern(pattern));
        }
        Err(Error::io(path, not_found("no such file or folder")))
    }
}

fn not_found(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotFound, what)
}

/// A pattern with one frame token in its file name: a run of `#` (`####.###` for fractional
/// frames), husk's `$F4` or printf's `%04d`, as `output::Pattern` names files.
#[derive(Debug, Clone, PartialEq)]
pub struct FramePattern {
    text: String,
    dir: PathBuf,
    prefix: String,
    suffix: String,
    /// Minimum digits of the integer part (names are zero-padded to it).
    width: usize,
    /// Digits after the point.
    precision: usize,
}

impl FramePattern {
    /// `Ok(None)` when the file name has no frame token; an error when it has more than one.
    pub fn parse(text: &str) -> Result<Option<FramePattern>> {
        let name_start = text.rfind('/').map_or(0, |i| i + 1);
        let name = &text[name_start..];
        // Offsets in the whole text; the token always lies in the file name.
        let Some(token) = crate::output::frame_token(text)? else {
            return Ok(None);
        };
        let (start, end) = (token.start - name_start, token.end - name_start);
        let (width, precision) = (token.width, token.precision);
        let dir = match &text[..name_start] {
            "" => PathBuf::from("."),
            d => PathBuf::from(d),
        };
        Ok(Some(FramePattern {
            text: text.to_string(),
            dir,
            prefix: name[..start].to_string(),
            suffix: name[end..].to_string(),
            width: width.max(1),
            precision,
        }))
    }

    /// The folder the frames are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pattern's file-name part (`f.####.png`), to apply it to another folder.
    pub fn file_pattern(&self) -> &str {
        let name_start = self.text.rfind('/').map_or(0, |i| i + 1);
        &self.text[name_start..]
    }

    /// The frame number a file name stands for, if it matches: at least `width` digits, an optional
    /// leading `-`, and exactly `precision` digits after a point when the pattern has them.
    pub fn frame_of(&self, name: &str) -> Option<f64> {
        let middle = name.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        let unsigned = middle.strip_prefix('-').unwrap_or(middle);
        let (int, frac) = match unsigned.split_once('.') {
            Some((i, f)) if self.precision > 0 => (i, f),
            None if self.precision == 0 => (unsigned, ""),
            _ => return None,
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.len() < self.width || !digits(int) || frac.len() != self.precision || !digits(frac) {
            return None;
        }
        let v: f64 = middle.parse().ok()?;
        // "-0000" and "0000" are the same frame.
        Some(if v == 0.0 { 0.0 } else { v })
    }

    /// Every file in the pattern's folder that it matches, by frame number.
    fn list(&self) -> Result<BTreeMap<FrameKey, PathBuf>> {
        let mut out = BTreeMap::new();
        for (name, path) in files_in(&self.dir)? {
            if let Some(frame) = self.frame_of(&name) {
                if let Some(previous) = out.insert(FrameKey(frame), path.clone()) {
                    // f.1.png and f.0001.png both match f.#.png: keep the first by name, say so.
                    log::warn!(
                        "{} and {} are both frame {frame}; comparing {}",
                        previous.display(),
                        path.display(),
                        previous.display()
                    );
                    out.insert(FrameKey(frame), previous);
                }
            }
        }
        Ok(out)
    }
}

/// A frame number usable as a map key (total order; no NaN reaches here).
#[derive(Debug, Clone, Copy)]
struct FrameKey(f64);

impl PartialEq for FrameKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for FrameKey {}
impl PartialOrd for FrameKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for FrameKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// (file name, path) of the visible regular files in `dir`, sorted by name. Hidden files are left
/// out: they include the temporaries of a render still writing.
fn files_in(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !path.is_file() {
            continue;
        }
        out.push((name, path));
    }
    out.sort();
    Ok(out)
}

fn is_image(name: &str) -> bool {
    Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// Two files to compare, or one of them alone (missing or extra).
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// How the frame is named in reports: the file name (the actual one when there is one).
    pub name: String,
    /// The frame number, when paired through patterns.
    pub frame: Option<f64>,
    pub actual: Option<PathBuf>,
    pub expected: Option<PathBuf>,
}

/// Pairs the files of `actual` with those of `expected`, in a deterministic order (by name or frame).
pub fn pair(actual: &Source, expected: &Source) -> Result<Vec<Pair>> {
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match (actual, expected) {
        (Source::File(a), Source::File(e)) => Ok(vec![Pair {
            name: file_name(a),
            frame: None,
            actual: Some(a.clone()),
            expected: Some(e.clone()),
        }]),
        // A file against a folder means the file of the same name in it, as cp and diff read it.
        (Source::File(a), Source::Folder(d)) => {
            let e = d.join(file_name(a));
            Ok(vec![Pair {
                name: file_name(a),
                frame: None,
                actual: Some(a.clone()),
                expected: e.is_file().then_some(e),
            }])
        }
        (Source::Folder(d), Source::File(e)) => {
            let a = d.join(file_name(e));
            Ok(vec![Pair {
                name: file_name(e),
                frame: None,
                actual: a.is_file().then_some(a),
                expected: Some(e.clone()),
            }])
        }
        (Source::Folder(a), Source::Folder(e)) => {
            let list = |d: &Path| -> Result<BTreeMap<String, PathBuf>> {
                Ok(files_in(d)?.into_iter().filter(|(n, _)| is_image(n)).collect())
            };
            let (a, e) = (list(a)?, list(e)?);
            let mut names: Vec<&String> = a.keys().chain(e.keys()).collect();
            names.sort();
            names.dedup();
            Ok(names
                .into_iter()
                .map(|n| Pair {
                    name: n.clone(),
                    frame: None,
                    actual: a.get(n).cloned(),
                    expected: e.get(n).cloned(),
                })
                .collect())
        }
        (Source::Pattern(a), Source::Pattern(e)) => pair_patterns(a, e),
        // A pattern against a folder applies the pattern's file name to the folder.
        (Source::Pattern(a), Source::Folder(d)) => pair_patterns(a, &a.in_folder(d)?),
        (Source::Folder(d), Source::Pattern(e)) => pair_patterns(&e.in_folder(d)?, e),
        (Source::File(_), Source::Pattern(p)) | (Source::Pattern(p), Source::File(_)) => Err(Error::Option(format!(
            "cannot compare a single file with the frame pattern {:?}; give two files, two folders or two patterns",
            p.text
        ))),
    }
}

impl FramePattern {
    fn in_folder(&self, dir: &Path) -> Result<FramePattern> {
        let text = dir.join(self.file_pattern()).to_string_lossy().into_owned();
        let mut p = FramePattern::parse(&text)?.unwrap_or_else(|| self.clone());
        p.dir = dir.to_path_buf();
        Ok(p)
    }
}

fn pair_patterns(actual: &FramePattern, expected: &FramePattern) -> Result<Vec<Pair>> {
    let (a, e) = (actual.list()?, expected.list()?);
    let mut frames: Vec<FrameKey> = a.keys().chain(e.keys()).copied().collect();
    frames.sort();
    frames.dedup();
    let file_name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    Ok(frames
        .into_iter()
        .map(|k| {
            let (pa, pe) = (a.get(&k).cloned(), e.get(&k).cloned());
            let name = pa.as_ref().or(pe.as_ref()).map(file_name).unwrap_or_default();
            Pair {
                name,
                frame: Some(k.0),
                actual: pa,
                expected: pe,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> FramePattern {
        FramePattern::parse(text).unwrap().unwrap()
    }

    #[test]
    fn hashes_match_padded_digits_only() {
        let f = p("out/f.####.png");
        assert_eq!(f.dir(), Path::new("out"));
        assert_eq!(f.frame_of("f.0007.png"), Some(7.0));
        assert_eq!(f.frame_of("f.12345.png"), Some(12345.0));
        assert_eq!(f.frame_of("f.-0003.png"), Some(-3.0));
        assert_eq!(f.frame_of("f.-0000.png"), Some(0.0));
        assert_eq!(f.frame_of("f.007.png"), None, "narrower than the pattern");
        assert_eq!(f.frame_of("f.00a7.png"), None);
        assert_eq!(f.frame_of("f.0007.png.bak"), None);
        assert_eq!(f.frame_of("g.0007.png"), None);
        assert_eq!(f.frame_of("f..png"), None);
    }

    #[test]
    fn husk_printf_and_fractional_tokens() {
        assert_eq!(p("img.$F4.exr").frame_of("img.0009.exr"), Some(9.0));
        assert_eq!(p("img.%04d.png").frame_of("img.0042.png"), Some(42.0));
        assert_eq!(p("img.%d.png").frame_of("img.42.png"), Some(42.0));
        let frac = p("f.####.###.png");
        assert_eq!(frac.frame_of("f.0001.500.png"), Some(1.5));
        assert_eq!(frac.frame_of("f.0001.png"), None);
        assert_eq!(p("f.####.png").frame_of("f.0001.500.png"), None);
        assert_eq!(p("f.####.png").dir(), Path::new("."));
    }

    #[test]
    fn no_token_or_too_many() {
        assert!(FramePattern::parse("out/still.png").unwrap().is_none());
        assert!(
            FramePattern::parse("take#1/still.png").unwrap().is_none(),
            "folders hold no token"
        );
        assert!(FramePattern::parse("a.##.$F2.png").is_err());
    }
}
