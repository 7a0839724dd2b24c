//! Writing frames: file names from frame numbers ([`Pattern`]), encoders by format, and atomic
//! writes (a temporary name in the same folder, flushed, then renamed), so a file that exists is a
//! whole frame and a killed run leaves nothing half-written.

mod pattern;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use pattern::Pattern;

use crate::{Error, Result};

/// An image format we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Exr,
    Tiff,
}

impl Format {
    /// The format for a file extension (case-insensitive).
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "png" => Some(Format::Png),
            "jpg" | "jpeg" => Some(Format::Jpeg),
            "exr" => Some(Format::Exr),
            "tif" | "tiff" => Some(Format::Tiff),
            _ => None,
        }
    }

    /// The format named by `--format`, or by the pattern's extension.
    pub fn choose(flag: Option<&str>, pattern: &Pattern) -> Result<Format> {
        let name = flag.map(str::to_string).or_else(|| pattern.extension());
        match name {
            Some(n) => Format::from_extension(&n).ok_or_else(|| {
                Error::Option(format!(
                    "unknown image format {n:?} (png, jpg, exr, tif) for {}",
                    pattern.as_str()
                ))
            }),
            None => Err(Error::Option(format!(
                "{} has no extension: add one (.png, .jpg, .exr, .tif) or pass --format",
                pattern.as_str()
            ))),
        }
    }
}

/// One rendered frame as the GPU module hands it over: rows tightly packed, top row first.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub width: u32,
    pub height: u32,
    /// RGBA8 with sRGB-encoded colour and straight alpha (what 8-bit formats store).
    pub rgba: &'a [u8],
    /// The same image in linear light, straight alpha, 4 floats a pixel, when the job asked for
    /// more than 8 bits (16-bit PNG, EXR); `None` otherwise.
    pub linear: Option<&'a [f32]>,
    /// Extra outputs (depth, normal, primId, instanceId), when the job asked for them.
    pub aovs: &'a [Aov<'a>],
}

/// An arbitrary output variable: one or more channels per pixel, rows tightly packed.
#[derive(Debug, Clone, Copy)]
pub struct Aov<'a> {
    /// `depth`, `normal`, `primId` or `instanceId`.
    pub name: &'a str,
    /// Channel names as written to EXR (`Z`; `N.x N.y N.z`; `primId`).
    pub channels: &'a [&'a str],
    pub data: AovData<'a>,
}

/// An AOV's samples, `channels.len()` per pixel.
#[derive(Debug, Clone, Copy)]
pub enum AovData<'a> {
    F32(&'a [f32]),
    U32(&'a [u32]),
}

impl<'a> Frame<'a> {
    /// An 8-bit frame with nothing else.
    pub fn rgba8(width: u32, height: u32, rgba: &'a [u8]) -> Frame<'a> {
        Frame {
            width,
            height,
            rgba,
            linear: None,
            aovs: &[],
        }
    }
}

/// Encodes `frame` as `format` and writes it to `path` atomically. The folder must exist.
pub fn write_frame(path: &Path, format: Format, frame: Frame<'_>) -> Result<()> {
    let expected = frame.width as usize * frame.height as usize * 4;
    if frame.rgba.len() != expected {
        return Err(Error::Encode {
            path: path.to_path_buf(),
            reason: format!(
                "{} bytes for a {}x{} RGBA image",
                frame.rgba.len(),
                frame.width,
                frame.height
            ),
        });
    }
    write_atomically(path, |out| {
        encode(out, format, frame).map_err(|reason| (path.to_path_buf(), reason))
    })
}

/// Encodes `frame` into memory and drops the bytes (`--no-write` benchmarks: the encoding cost
/// without the disk). The buffer is kept per thread, so nothing is allocated per frame.
pub fn encode_and_discard(format: Format, frame: Frame<'_>, path: &Path) -> Result<()> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<std::io::Cursor<Vec<u8>>> = Default::default();
    }
    SCRATCH.with_borrow_mut(|out| {
        out.get_mut().clear();
        out.set_position(0);
        encode(out, format, frame).map_err(|reason| Error::Encode {
            path: path.to_path_buf(),
            reason,
        })
    })
}

fn encode(out: &mut (impl Write + std::io::Seek), format: Format, frame: Frame<'_>) -> std::result::Result<(), String> {
    use image::ImageEncoder;
    let (w, h) = (frame.width, frame.height);
    match format {
        Format::Png => image::codecs::png::PngEncoder::new_with_quality(
            out,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        )
        .write_image(frame.rgba, w, h, image::ExtendedColorType::Rgba8)
        .map_err(|e| e.to_string()),
        Format::Jpeg => {
            // JPEG has no alpha: composite over black, as the background is transparent black.
            let rgb: Vec<u8> = frame.rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
            image::codecs::jpeg::JpegEncoder::new_with_quality(out, 90)
                .write_image(&rgb, w, h, image::ExtendedColorType::Rgb8)
                .map_err(|e| e.to_string())
        }
        Format::Tiff => image::codecs::tiff::TiffEncoder::new(out)
            .write_image(frame.rgba, w, h, image::ExtendedColorType::Rgba8)
            .map_err(|e| e.to_string()),
        Format::Exr => {
            // EXR holds linear light: undo the sRGB transfer the 8-bit frame carries.
            let linear: Vec<f32> = frame
                .rgba
                .chunks_exact(4)
                .flat_map(|p| {
                    [
                        srgb_to_linear(p[0]),
                        srgb_to_linear(p[1]),
                        srgb_to_linear(p[2]),
                        p[3] as f32 / 255.0,
                    ]
                })
                .collect();
            image::codecs::openexr::OpenExrEncoder::new(out)
                .write_image(bytemuck::cast_slice(&linear), w, h, image::ExtendedColorType::Rgba32F)
                .map_err(|e| e.to_string())
        }
    }
}

fn srgb_to_linear(v: u8) -> f32 {
    let c = v as f32 / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// The temporary name a file is written under before it is renamed into place: hidden, in the same
/// folder (so the rename is atomic), and marked with our process id.
pub fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}{TEMP_SUFFIX}", std::process::id()))
}

/// Every temporary file ends with this, so stale ones from killed runs can be found and removed.
pub const TEMP_SUFFIX: &str = ".usdrender-tmp";

/// Writes through `fill` into a temporary file, flushes and syncs it, then renames it to `path`.
/// On any failure the temporary file is removed and `path` is left as it was.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::result::Result<(), (PathBuf, String)>,
) -> Result<()> {
    let tmp = temporary_path(path);
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        fill(&mut out).map_err(|(path, reason)| Error::Encode { path, reason })?;
        out.flush().map_err(|e| Error::io(&tmp, e))?;
        let file = out.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Whether `path` holds a whole, readable image (what `--skip-existing` trusts).
pub fn is_complete_image(path: &Path) -> bool {
    match fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() > 0 => {}
        _ => return false,
    }
    image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map(|r| r.decode().is_ok())
        .unwrap_or(false)
}

/// Removes temporary files that killed runs left beside the outputs of `paths`. Returns how many.
pub fn remove_stale_temporaries(paths: &[PathBuf]) -> usize {
    let mut removed = 0;
    let mut folders: Vec<&Path> = paths.iter().filter_map(|p| p.parent()).collect();
    folders.sort();
    folders.dedup();
    let names: std::collections::HashSet<String> = paths
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    for folder in folders {
        let folder = if folder.as_os_str().is_empty() {
            Path::new(".")
        } else {
            folder
        };
        let Ok(entries) = fs::read_dir(folder) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix('.').and_then(|n| n.strip_suffix(TEMP_SUFFIX)) else {
                continue;
            };
            // rest = "<output name>.<pid>"
            let Some((output, pid)) = rest.rsplit_once('.') else {
                continue;
            };
            if names.contains(output) && pid.parse::<u32>().is_ok() && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("usdrender-output-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn gradient(w: u32, h: u32) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| [(i % 251) as u8, (i / 7 % 256) as u8, 200, (i % 256) as u8])
            .collect()
    }

    #[test]
    fn png_round_trips_exactly_with_an_odd_width() {
        let d = tempdir("png");
        let (w, h) = (333, 7);
        let rgba = gradient(w, h);
        let path = d.join("f.png");
        write_frame(&path, Format::Png, Frame::rgba8(w, h, &rgba)).unwrap();
        let back = image::open(&path).unwrap().to_rgba8();
        assert_eq!(back.dimensions(), (w, h));
        assert_eq!(back.into_raw(), rgba);
        assert!(is_complete_image(&path));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
    }

    #[test]
    fn every_format_writes_a_readable_file() {
        let d = tempdir("formats");
        let rgba = gradient(16, 9);
        for (ext, format) in [("jpg", Format::Jpeg), ("exr", Format::Exr), ("tif", Format::Tiff)] {
            let path = d.join(format!("f.{ext}"));
            write_frame(&path, format, Frame::rgba8(16, 9, &rgba)).unwrap();
            let img = image::open(&path).unwrap_or_else(|e| panic!("{ext}: {e}"));
            assert_eq!((img.width(), img.height()), (16, 9), "{ext}");
        }
    }

    #[test]
    fn a_truncated_file_is_not_complete() {
        let d = tempdir("partial");
        let rgba = gradient(64, 64);
        let path = d.join("f.png");
        write_frame(&path, Format::Png, Frame::rgba8(64, 64, &rgba)).unwrap();
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(!is_complete_image(&path));
        fs::write(&path, b"").unwrap();
        assert!(!is_complete_image(&path));
        assert!(!is_complete_image(&d.join("missing.png")));
    }

    #[test]
    fn a_failed_write_leaves_neither_file_nor_temporary() {
        let d = tempdir("fail");
        let path = d.join("f.png");
        let err = write_frame(&path, Format::Png, Frame::rgba8(4, 4, &[0; 3])).unwrap_err();
        assert!(err.to_string().contains("f.png"), "{err}");
        let e = write_atomically(&path, |_| Err((path.clone(), "boom".into()))).unwrap_err();
        assert!(e.to_string().contains("boom"));
        assert_eq!(fs::read_dir(&d).unwrap().count(), 0);
    }

    #[test]
    fn stale_temporaries_of_our_outputs_are_removed_and_others_kept() {
        let d = tempdir("stale");
        let out = d.join("s.0001.png");
        fs::write(d.join(".s.0001.png.4242.usdrender-tmp"), b"half").unwrap();
        fs::write(d.join(".other.png.4242.usdrender-tmp"), b"not ours to judge").unwrap();
        fs::write(d.join("keep.txt"), b"x").unwrap();
        assert_eq!(remove_stale_temporaries(&[out]), 1);
        assert_eq!(fs::read_dir(&d).unwrap().count(), 2);
    }

    #[test]
    fn format_from_flag_or_extension() {
        let p = Pattern::parse("a.####.EXR").unwrap();
        assert_eq!(Format::choose(None, &p).unwrap(), Format::Exr);
        assert_eq!(Format::choose(Some("png"), &p).unwrap(), Format::Png);
        assert!(Format::choose(None, &Pattern::parse("a.####").unwrap()).is_err());
        assert!(Format::choose(Some("gif"), &p).is_err());
    }
}
