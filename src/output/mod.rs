//! Writing frames: file names from frame numbers ([`Pattern`]), encoders by format and their
//! options ([`Encoding`]), AOVs (EXR layers or side files), and atomic writes (a temporary name in
//! the same folder, flushed, fsynced, then renamed), so a file that exists is a whole frame and a
//! killed run leaves nothing half-written.

mod encode;
mod exr;
mod pattern;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use pattern::{frame_token, FrameToken, Pattern};

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

    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpg",
            Format::Exr => "exr",
            Format::Tiff => "tif",
        }
    }
}

/// Bits per channel of PNG and TIFF files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BitDepth {
    #[default]
    Eight,
    Sixteen,
}

impl BitDepth {
    pub fn from_bits(bits: u32) -> Result<BitDepth> {
        match bits {
            8 => Ok(BitDepth::Eight),
            16 => Ok(BitDepth::Sixteen),
            _ => Err(Error::Option(format!("--bit-depth {bits}: expected 8 or 16"))),
        }
    }
}

/// Parses the names of an option's values, with an error that lists them.
macro_rules! named_values {
    ($ty:ident, $flag:literal, { $($name:literal => $value:ident),+ $(,)? }) => {
        impl $ty {
            /// The names `--` flag accepts, in order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            pub fn name(self) -> &'static str {
                match self { $($ty::$value => $name),+ }
            }
        }

        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<$ty> {
                match s.to_ascii_lowercase().as_str() {
                    $($name => Ok($ty::$value),)+
                    _ => Err(Error::Option(format!(
                        "{} {s:?}: expected one of {}", $flag, $ty::NAMES.join(", ")
                    ))),
                }
            }
        }
    };
}

/// Sample type of an EXR beauty's RGBA channels (AOVs keep their own: float depth and normals,
/// uint ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExrPrecision {
    #[default]
    Half,
    Float,
}
named_values!(ExrPrecision, "--exr-precision", { "half" => Half, "float" => Float });

/// EXR compression. `zip` is OpenEXR's ZIP (16 scan lines a block); `dwaa` is lossy on the
/// colour channels only (alpha, depth, normals and ids stay lossless).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExrCompression {
    None,
    #[default]
    Zip,
    Piz,
    Dwaa,
}
named_values!(ExrCompression, "--exr-compression", {
    "none" => None, "zip" => Zip, "piz" => Piz, "dwaa" => Dwaa,
});

/// Where AOVs go when the beauty is an EXR (other formats always get separate EXR files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AovFiles {
    /// Extra layers (parts) of the beauty's EXR file.
    #[default]
    Layers,
    /// One EXR sequence per AOV beside the beauty (see [`aov_path`]).
    Separate,
}
named_values!(AovFiles, "--aov-files", { "layers" => Layers, "separate" => Separate });

/// The AOVs a job may ask for, as the renderer names them.
pub const AOV_NAMES: [&str; 4] = ["depth", "normal", "primId", "instanceId"];

/// The canonical name of an AOV (`primid` -> `primId`), or an error listing the known ones.
pub fn aov_name(name: &str) -> Result<&'static str> {
    AOV_NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(name.trim()))
        .copied()
        .ok_or_else(|| Error::Option(format!("--aov {name:?}: expected {}", AOV_NAMES.join(", "))))
}

/// How frames are encoded: the format and its options. `Copy`, so each encoder task takes its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub kind: Format,
    /// PNG and TIFF only.
    pub bit_depth: BitDepth,
    /// JPEG quality, 1..=100.
    pub quality: u8,
    pub exr_precision: ExrPrecision,
    pub exr_compression: ExrCompression,
    pub aov_files: AovFiles,
    /// fsync each file before renaming it into place, so a frame survives a power loss as well
    /// as a killed process. Off (`--no-fsync`), a killed process still never leaves a partial file.
    pub fsync: bool,
}

impl Encoding {
    /// `kind` with the defaults: 8 bits, JPEG quality 90, EXR half with ZIP, AOVs as layers.
    pub fn new(kind: Format) -> Encoding {
        Encoding {
            kind,
            bit_depth: BitDepth::Eight,
            quality: 90,
            exr_precision: ExrPrecision::Half,
            exr_compression: ExrCompression::Zip,
            aov_files: AovFiles::Layers,
            fsync: true,
        }
    }

    /// Whether the encoder wants [`Frame::linear`]: EXR, and 16-bit PNG/TIFF (8-bit sources would
    /// leave 16-bit files with 256 levels).
    pub fn needs_linear(&self) -> bool {
        match self.kind {
            Format::Exr => true,
            Format::Png | Format::Tiff => self.bit_depth == BitDepth::Sixteen,
            Format::Jpeg => false,
        }
    }

    /// Whether AOVs are layers of the beauty file (else each has its own file, [`aov_path`]).
    pub fn aovs_in_beauty(&self) -> bool {
        self.kind == Format::Exr && self.aov_files == AovFiles::Layers
    }

    /// Rejects options that contradict the format.
    pub fn validate(&self) -> Result<()> {
        if !(1..=100).contains(&self.quality) {
            return Err(Error::Option(format!(
                "--quality {} must be between 1 and 100",
                self.quality
            )));
        }
        if self.bit_depth == BitDepth::Sixteen && !matches!(self.kind, Format::Png | Format::Tiff) {
            return Err(Error::Option(format!(
                "--bit-depth 16 applies to png and tif, not {} (EXR: --exr-precision half|float)",
                self.kind.name()
            )));
        }
        Ok(())
    }
}

impl From<Format> for Encoding {
    fn from(kind: Format) -> Encoding {
        Encoding::new(kind)
    }
}

/// The file an AOV is written to when it is not a layer of the beauty: the beauty's name with its
/// image extension replaced by `.<aov>.exr` (`shot.0001.png` -> `shot.0001.depth.exr`). A name
/// without an image extension gets `.<aov>.exr` appended.
pub fn aov_path(beauty: &Path, aov: &str) -> PathBuf {
    let name = beauty.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let stem = match name.rsplit_once('.') {
        Some((stem, ext)) if Format::from_extension(ext).is_some() => stem,
        _ => &name,
    };
    beauty.with_file_name(format!("{stem}.{aov}.exr"))
}

/// Every file one frame writes: the beauty `path` first, then the AOV side files (none when the
/// AOVs are layers of an EXR beauty). `--skip-existing` trusts a frame only when all are whole.
pub fn frame_files(path: &Path, encoding: &Encoding, aovs: &[String]) -> Vec<PathBuf> {
    let mut files = Vec::with_capacity(1 + aovs.len());
    files.push(path.to_path_buf());
    if !encoding.aovs_in_beauty() {
        files.extend(aovs.iter().map(|aov| aov_path(path, aov)));
    }
    files
}

/// Whether every one of a frame's files is a whole, readable image.
pub fn is_complete_frame(files: &[PathBuf]) -> bool {
    files.iter().all(|f| is_complete_image(f))
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

impl AovData<'_> {
    fn len(&self) -> usize {
        match self {
            AovData::F32(d) => d.len(),
            AovData::U32(d) => d.len(),
        }
    }
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

    /// Checks that every buffer holds exactly `width * height` pixels.
    fn check(&self, path: &Path) -> Result<()> {
        let pixels = self.width as usize * self.height as usize;
        let wrong = |what: String| Error::Encode {
            path: path.to_path_buf(),
            reason: format!("{what} for a {}x{} image", self.width, self.height),
        };
        if self.rgba.len() != pixels * 4 {
            return Err(wrong(format!("{} RGBA bytes", self.rgba.len())));
        }
        if let Some(linear) = self.linear {
            if linear.len() != pixels * 4 {
                return Err(wrong(format!("{} linear floats", linear.len())));
            }
        }
        for aov in self.aovs {
            if aov.channels.is_empty() || aov.data.len() != pixels * aov.channels.len() {
                return Err(wrong(format!(
                    "AOV {} with {} samples in {} channel(s)",
                    aov.name,
                    aov.data.len(),
                    aov.channels.len()
                )));
            }
        }
        Ok(())
    }
}

/// Encodes `frame` and writes it to `path` atomically, with its AOVs as EXR layers or as side
/// files ([`aov_path`], each atomic too). The folder must exist.
pub fn write_frame(path: &Path, encoding: impl Into<Encoding>, frame: Frame<'_>) -> Result<()> {
    let encoding = encoding.into();
    frame.check(path)?;
    // Side files first and the beauty last, so that a beauty on disk means its AOVs are there too
    // for tools that look only at the beauty.
    if !encoding.aovs_in_beauty() {
        for aov in frame.aovs {
            let side = aov_path(path, aov.name);
            write_atomically_with(&side, encoding.fsync, |out| {
                exr::write_aov(out, &frame, aov, encoding.exr_compression).map_err(|reason| (side.clone(), reason))
            })?;
        }
    }
    write_atomically_with(path, encoding.fsync, |out| {
        encode(out, &encoding, &frame).map_err(|reason| (path.to_path_buf(), reason))
    })
}

/// Encodes `frame` (and its AOV side files) into memory and drops the bytes (`--no-write`
/// benchmarks: the encoding cost without the disk). The buffer is kept per thread, so nothing is
/// allocated per frame.
pub fn encode_and_discard(encoding: impl Into<Encoding>, frame: Frame<'_>, path: &Path) -> Result<()> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<std::io::Cursor<Vec<u8>>> = Default::default();
    }
    let encoding = encoding.into();
    frame.check(path)?;
    SCRATCH.with_borrow_mut(|out| {
        let rewind = |out: &mut std::io::Cursor<Vec<u8>>| {
            out.get_mut().clear();
            out.set_position(0);
        };
        if !encoding.aovs_in_beauty() {
            for aov in frame.aovs {
                rewind(out);
                exr::write_aov(out, &frame, aov, encoding.exr_compression).map_err(|reason| Error::Encode {
                    path: aov_path(path, aov.name),
                    reason,
                })?;
            }
        }
        rewind(out);
        encode(out, &encoding, &frame).map_err(|reason| Error::Encode {
            path: path.to_path_buf(),
            reason,
        })
    })
}

/// The beauty file (with the AOVs as layers when the encoding says so).
fn encode(
    out: &mut (impl Write + std::io::Seek),
    encoding: &Encoding,
    frame: &Frame<'_>,
) -> std::result::Result<(), String> {
    match encoding.kind {
        Format::Png => encode::png(out, frame, encoding.bit_depth),
        Format::Jpeg => encode::jpeg(out, frame, encoding.quality),
        Format::Tiff => encode::tiff(out, frame, encoding.bit_depth),
        Format::Exr => {
            let aovs = if encoding.aovs_in_beauty() { frame.aovs } else { &[] };
            exr::write_beauty(out, frame, aovs, encoding.exr_precision, encoding.exr_compression)
        }
    }
}

/// A fresh temporary name for `path`: hidden, in the same folder (so the rename is atomic), marked
/// with our process id (so a later run can tell whether its writer still runs) and 64 random
/// bits (so nobody who can write the folder can plant something at the name in advance).
pub fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.{}-{:016x}{TEMP_SUFFIX}",
        std::process::id(),
        random_u64()
    ))
}

/// Every temporary file ends with this, so stale ones from killed runs can be found and removed.
pub const TEMP_SUFFIX: &str = ".usdrender-tmp";

/// 64 bits from the standard library's randomly seeded hasher (seeded from the OS per
/// `RandomState`), mixed with a counter and the clock.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Creates a file that must not exist yet, never through a symbolic link (`O_CREAT | O_EXCL |
/// O_NOFOLLOW`): a name planted in a shared folder makes this fail instead of writing elsewhere.
pub fn create_new_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o644)
        .open(path)
}

/// Temporaries being written now, so that a forced exit (a second Ctrl-C) can remove them.
static IN_FLIGHT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn in_flight() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    IN_FLIGHT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes the temporaries being written now; returns how many. For an exit that will not wait
/// for them.
pub fn remove_in_flight_temporaries() -> usize {
    let list = std::mem::take(&mut *in_flight());
    list.iter().filter(|p| fs::remove_file(p).is_ok()).count()
}

/// Removes a temporary that will not be renamed into place.
pub fn remove_temporary(tmp: &Path) {
    let _ = fs::remove_file(tmp);
    done_with(tmp);
}

/// A temporary no longer in flight (renamed into place or removed).
fn done_with(tmp: &Path) {
    in_flight().retain(|p| p != tmp);
}

/// A new temporary file for `path` (see [`temporary_path`] and [`create_new_file`]), listed as
/// in flight until it is renamed or removed.
pub fn create_temporary(path: &Path) -> Result<(PathBuf, File)> {
    // A name taken already is tried again with other random bits (a clash is a planted file).
    let mut attempts = 0;
    loop {
        let tmp = temporary_path(path);
        match create_new_file(&tmp) {
            Ok(f) => {
                in_flight().push(tmp.clone());
                return Ok((tmp, f));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 3 => attempts += 1,
            Err(e) => return Err(Error::io(&tmp, e)),
        }
    }
}

/// An error unless `path` is absent or a regular file: an output is replaced by a rename, which
/// would put an image where a symbolic link, a device node (`-o /dev/null` as root), a FIFO or a
/// folder was.
pub fn check_replaceable(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => {
            let what = if m.file_type().is_symlink() {
                "a symbolic link"
            } else if m.is_dir() {
                "a folder"
            } else {
                "a device, FIFO or socket"
            };
            Err(Error::io(
                path,
                std::io::Error::other(format!(
                    "exists and is {what}, not a regular file: usdrender replaces only regular files"
                )),
            ))
        }
        _ => Ok(()),
    }
}

/// Writes through `fill` into a temporary file, flushes and syncs it, then renames it to `path`.
/// On any failure the temporary file is removed and `path` is left as it was.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::result::Result<(), (PathBuf, String)>,
) -> Result<()> {
    write_atomically_with(path, true, fill)
}

/// [`write_atomically`], with the fsync before the rename optional (`sync`).
pub fn write_atomically_with(
    path: &Path,
    sync: bool,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::result::Result<(), (PathBuf, String)>,
) -> Result<()> {
    check_replaceable(path)?;
    let (tmp, file) = create_temporary(path)?;
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, file);
        fill(&mut out).map_err(|(path, reason)| Error::Encode { path, reason })?;
        out.flush().map_err(|e| Error::io(&tmp, e))?;
        let file = out.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        if sync {
            file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        }
        // Checked again just before the rename: something may have appeared since.
        check_replaceable(path)?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    done_with(&tmp);
    result
}

/// Copies `from` to `to` through a temporary, as frames are written (`--update` of references).
pub fn copy_atomically(from: &Path, to: &Path) -> Result<()> {
    let mut src = File::open(from).map_err(|e| Error::io(from, e))?;
    write_atomically_with(to, true, |out| {
        std::io::copy(&mut src, out)
            .map(|_| ())
            .map_err(|e| (from.to_path_buf(), e.to_string()))
    })
}

/// Whether `path` holds a whole, readable image (what `--skip-existing` trusts): every format we
/// write (8- and 16-bit PNG and TIFF, JPEG, EXR with all its layers) is decoded in full.
pub fn is_complete_image(path: &Path) -> bool {
    match fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() > 0 => {}
        _ => return false,
    }
    // EXR through the exr crate: image's reader looks at the first RGBA layer only, so a truncated
    // AOV layer would pass.
    if exr::has_magic(path) {
        return exr::is_complete(path);
    }
    image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map(|r| r.decode().is_ok())
        .unwrap_or(false)
}

/// Whether process `pid` still runs (its temporaries are in use).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if Path::new("/proc/self").exists() {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists; it sends nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes temporary files that killed runs left beside the outputs of `paths`: only regular
/// files named after one of these outputs whose writing process is gone (another run writing the
/// same frames keeps its files in flight). Returns how many.
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
            // rest = "<output name>.<pid>-<random>" (or "<output name>.<pid>" from older runs)
            let Some((output, tag)) = rest.rsplit_once('.') else {
                continue;
            };
            let Ok(pid) = tag.split('-').next().unwrap_or_default().parse::<u32>() else {
                continue;
            };
            let regular = entry.file_type().is_ok_and(|t| t.is_file());
            if names.contains(output) && regular && !process_alive(pid) && fs::remove_file(entry.path()).is_ok() {
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

    /// The id of a process that has exited.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        pid
    }

    #[test]
    fn temporaries_are_never_written_through_a_planted_symlink() {
        // Issue 13: a predictable temporary name let anyone who can write the folder plant a
        // symlink there and have the frame truncate or overwrite its target.
        let d = tempdir("planted");
        let victim = d.join("victim.txt");
        fs::write(&victim, b"precious").unwrap();
        let out = d.join("f.0001.png");
        // The names the old scheme used, planted in advance.
        std::os::unix::fs::symlink(
            &victim,
            d.join(format!(".f.0001.png.{}.usdrender-tmp", std::process::id())),
        )
        .unwrap();
        let names: Vec<PathBuf> = (0..50).map(|_| temporary_path(&out)).collect();
        let distinct: std::collections::HashSet<&PathBuf> = names.iter().collect();
        assert_eq!(distinct.len(), 50, "temporary names are not predictable");
        // A symlink at the very name chosen is refused, not followed.
        let link = d.join("planted-link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(create_new_file(&link).is_err());
        write_frame(&out, Format::Png, Frame::rgba8(4, 3, &gradient(4, 3))).expect("write");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(fs::symlink_metadata(&out).unwrap().file_type().is_file());
    }

    #[test]
    fn outputs_that_are_not_regular_files_are_refused() {
        let d = tempdir("nonregular");
        let victim = d.join("victim.txt");
        fs::write(&victim, b"precious").unwrap();
        let link = d.join("f.0001.png");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let fifo = d.join("f.0002.png");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let folder = d.join("f.0003.png");
        fs::create_dir(&folder).unwrap();
        for (path, what) in [(&link, "symbolic link"), (&fifo, "FIFO"), (&folder, "folder")] {
            let err = write_frame(path, Format::Png, Frame::rgba8(4, 3, &gradient(4, 3))).expect_err(what);
            assert!(err.to_string().contains("not a regular file"), "{what}: {err}");
        }
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        // A character device, where the test may make one (root, mknod allowed).
        let dev = d.join("f.0004.png");
        let c = std::ffi::CString::new(dev.to_str().unwrap()).unwrap();
        // SAFETY: mknod with a valid path; the device numbers are /dev/null's (1, 3).
        let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) } == 0;
        if made {
            assert!(write_frame(&dev, Format::Png, Frame::rgba8(4, 3, &gradient(4, 3))).is_err());
            use std::os::unix::fs::FileTypeExt;
            assert!(fs::symlink_metadata(&dev).unwrap().file_type().is_char_device());
        } else {
            eprintln!("mknod not permitted here: the device case is covered by the FIFO case");
        }
    }

    #[test]
    fn stale_temporaries_of_our_outputs_are_removed_and_others_kept() {
        let d = tempdir("stale");
        let out = d.join("s.0001.png");
        let dead = dead_pid();
        fs::write(d.join(format!(".s.0001.png.{dead}.usdrender-tmp")), b"half").unwrap();
        fs::write(
            d.join(format!(".s.0001.png.{dead}-00ff00ff00ff00ff.usdrender-tmp")),
            b"half",
        )
        .unwrap();
        fs::write(d.join(format!(".other.png.{dead}.usdrender-tmp")), b"not ours to judge").unwrap();
        // A run still writing the same frames keeps its temporaries.
        let alive = format!(".s.0001.png.{}-0123456789abcdef.usdrender-tmp", std::process::id());
        fs::write(d.join(&alive), b"in flight").unwrap();
        fs::write(d.join("keep.txt"), b"x").unwrap();
        assert_eq!(remove_stale_temporaries(&[out]), 2);
        assert_eq!(fs::read_dir(&d).unwrap().count(), 3);
        assert!(d.join(alive).exists());
    }

    #[test]
    fn format_from_flag_or_extension() {
        let p = Pattern::parse("a.####.EXR").unwrap();
        assert_eq!(Format::choose(None, &p).unwrap(), Format::Exr);
        assert_eq!(Format::choose(Some("png"), &p).unwrap(), Format::Png);
        assert!(Format::choose(None, &Pattern::parse("a.####").unwrap()).is_err());
        assert!(Format::choose(Some("gif"), &p).is_err());
    }

    /// A 16-bit-exact linear gradient: every value a 16-bit sRGB code can come from.
    fn linear_gradient(w: u32, h: u32) -> Vec<f32> {
        (0..w * h)
            .flat_map(|i| {
                let t = i as f32 / (w * h) as f32;
                [t, 1.0 - t, (t * 7.0).fract(), 0.25 + 0.75 * t]
            })
            .collect()
    }

    #[test]
    fn png16_from_linear_round_trips_exactly() {
        let d = tempdir("png16");
        let (w, h) = (333, 5);
        let linear = linear_gradient(w, h);
        let rgba = gradient(w, h);
        let frame = Frame {
            linear: Some(&linear),
            ..Frame::rgba8(w, h, &rgba)
        };
        let enc = Encoding {
            bit_depth: BitDepth::Sixteen,
            ..Encoding::new(Format::Png)
        };
        assert!(enc.needs_linear());
        let path = d.join("f.png");
        write_frame(&path, enc, frame).unwrap();
        let back = image::open(&path).unwrap();
        assert_eq!(back.color(), image::ColorType::Rgba16);
        let back = back.to_rgba16().into_raw();
        let expected: Vec<u16> = linear
            .chunks_exact(4)
            .flat_map(|p| {
                [
                    encode::linear_to_srgb16(p[0]),
                    encode::linear_to_srgb16(p[1]),
                    encode::linear_to_srgb16(p[2]),
                    (p[3] * 65535.0).round() as u16,
                ]
            })
            .collect();
        assert_eq!(back, expected);
        // Known values of the transfer function.
        assert_eq!(encode::linear_to_srgb16(0.0), 0);
        assert_eq!(encode::linear_to_srgb16(1.0), 65535);
        assert_eq!(encode::linear_to_srgb16(0.5), 48192); // 0.735357 * 65535 = 48191.62
        assert_eq!(encode::linear_to_srgb16(f32::NAN), 0);
        assert!(is_complete_image(&path));
    }

    #[test]
    fn sixteen_bits_without_linear_widen_exactly_in_png_and_tiff() {
        let d = tempdir("widen");
        let (w, h) = (333, 3);
        let rgba = gradient(w, h);
        for format in [Format::Png, Format::Tiff] {
            let path = d.join(format!("f.{}", format.name()));
            let enc = Encoding {
                bit_depth: BitDepth::Sixteen,
                ..Encoding::new(format)
            };
            write_frame(&path, enc, Frame::rgba8(w, h, &rgba)).unwrap();
            let back = image::open(&path).unwrap();
            assert_eq!(back.color(), image::ColorType::Rgba16, "{format:?}");
            let widened: Vec<u16> = rgba.iter().map(|&v| v as u16 * 257).collect();
            assert_eq!(back.to_rgba16().into_raw(), widened, "{format:?}");
            assert!(is_complete_image(&path));
        }
        let path = d.join("f8.tif");
        write_frame(&path, Format::Tiff, Frame::rgba8(w, h, &rgba)).unwrap();
        assert_eq!(image::open(&path).unwrap().to_rgba8().into_raw(), rgba);
    }

    #[test]
    fn exr_half_and_float_round_trip_with_every_compression_and_keep_alpha() {
        use ::exr::prelude::{read_first_flat_layer_from_file, SampleType, Vec2};
        let d = tempdir("exr");
        let (w, h) = (333, 4);
        let linear = linear_gradient(w, h);
        let rgba = gradient(w, h);
        let frame = Frame {
            linear: Some(&linear),
            ..Frame::rgba8(w, h, &rgba)
        };
        for precision in [ExrPrecision::Half, ExrPrecision::Float] {
            for compression in [
                ExrCompression::None,
                ExrCompression::Zip,
                ExrCompression::Piz,
                ExrCompression::Dwaa,
            ] {
                let tag = format!("{}-{}", precision.name(), compression.name());
                let path = d.join(format!("{tag}.exr"));
                let enc = Encoding {
                    exr_precision: precision,
                    exr_compression: compression,
                    ..Encoding::new(Format::Exr)
                };
                write_frame(&path, enc, frame).unwrap();
                assert!(is_complete_image(&path), "{tag}");
                let img = read_first_flat_layer_from_file(&path).unwrap_or_else(|e| panic!("{tag}: {e}"));
                let layer = img.layer_data;
                assert_eq!(layer.size, Vec2(w as usize, h as usize), "{tag}");
                let names: Vec<String> = layer.channel_data.list.iter().map(|c| c.name.to_string()).collect();
                assert_eq!(names, ["A", "B", "G", "R"], "{tag}");
                // Half keeps 11 significant bits; DWAA is lossy on colour (not on alpha).
                let colour_tolerance = match compression {
                    ExrCompression::Dwaa => 0.02,
                    _ => 1.0 / 1024.0,
                };
                for (c, name) in layer.channel_data.list.iter().zip(&names) {
                    let index = ["R", "G", "B", "A"].iter().position(|n| n == name).unwrap();
                    let expected_type = match precision {
                        ExrPrecision::Half => SampleType::F16,
                        ExrPrecision::Float => SampleType::F32,
                    };
                    assert_eq!(sample_type(&c.sample_data), expected_type, "{tag} {name}");
                    for (i, v) in c.sample_data.values_as_f32().enumerate() {
                        let p = &linear[i * 4..i * 4 + 4];
                        // EXR colour is premultiplied by alpha.
                        let expected = if index == 3 { p[3] } else { p[index] * p[3] };
                        let tolerance = if index == 3 { 1.0 / 1024.0 } else { colour_tolerance };
                        assert!(
                            (v - expected).abs() <= tolerance * expected.abs().max(1.0 / 8.0) * 8.0,
                            "{tag} {name} pixel {i}: {v} vs {expected}"
                        );
                        if precision == ExrPrecision::Float && compression != ExrCompression::Dwaa {
                            assert_eq!(v, expected, "{tag} {name} pixel {i}: float is lossless");
                        }
                    }
                }
            }
        }
        // Without linear pixels, EXR undoes the 8-bit sRGB encoding.
        let path = d.join("from8.exr");
        write_frame(&path, Format::Exr, Frame::rgba8(w, h, &rgba)).unwrap();
        let back = image::open(&path).unwrap().to_rgba32f().into_raw();
        assert!((back[3] - rgba[3] as f32 / 255.0).abs() < 1e-3);
    }

    fn sample_type(s: &::exr::prelude::FlatSamples) -> ::exr::prelude::SampleType {
        use ::exr::prelude::{FlatSamples, SampleType};
        match s {
            FlatSamples::F16(_) => SampleType::F16,
            FlatSamples::F32(_) => SampleType::F32,
            FlatSamples::U32(_) => SampleType::U32,
        }
    }

    fn test_aovs(w: u32, h: u32) -> (Vec<f32>, Vec<f32>, Vec<u32>, Vec<u32>) {
        let n = (w * h) as usize;
        let depth = (0..n).map(|i| 1.0 + i as f32 * 0.001).collect();
        let normal = (0..n * 3).map(|i| (i % 3) as f32 - 1.0).collect();
        let prim = (0..n as u32).map(|i| i * 7 + 1).collect();
        let inst = (0..n as u32).map(|i| u32::MAX - i).collect();
        (depth, normal, prim, inst)
    }

    #[test]
    fn aovs_are_exr_layers_with_their_channel_names_and_types() {
        use ::exr::prelude::{read_all_flat_layers_from_file, FlatSamples, SampleType};
        let d = tempdir("layers");
        let (w, h) = (33, 5);
        let rgba = gradient(w, h);
        let (depth, normal, prim, inst) = test_aovs(w, h);
        let aovs = [
            Aov {
                name: "depth",
                channels: &["Z"],
                data: AovData::F32(&depth),
            },
            Aov {
                name: "normal",
                channels: &["N.x", "N.y", "N.z"],
                data: AovData::F32(&normal),
            },
            Aov {
                name: "primId",
                channels: &["primId"],
                data: AovData::U32(&prim),
            },
            Aov {
                name: "instanceId",
                channels: &["instanceId"],
                data: AovData::U32(&inst),
            },
        ];
        let frame = Frame {
            aovs: &aovs,
            ..Frame::rgba8(w, h, &rgba)
        };
        let path = d.join("f.0001.exr");
        write_frame(&path, Format::Exr, frame).unwrap();
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "layers add no side files");
        assert!(is_complete_image(&path));
        let img = read_all_flat_layers_from_file(&path).unwrap();
        let layers: Vec<(String, Vec<(String, SampleType)>)> = img
            .layer_data
            .iter()
            .map(|l| {
                let name = l
                    .attributes
                    .layer_name
                    .as_ref()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                let channels = l
                    .channel_data
                    .list
                    .iter()
                    .map(|c| (c.name.to_string(), sample_type(&c.sample_data)))
                    .collect();
                (name, channels)
            })
            .collect();
        let ch = |n: &str, t| (n.to_string(), t);
        assert_eq!(
            layers,
            [
                (
                    "rgba".into(),
                    vec![
                        ch("A", SampleType::F16),
                        ch("B", SampleType::F16),
                        ch("G", SampleType::F16),
                        ch("R", SampleType::F16)
                    ]
                ),
                ("depth".into(), vec![ch("Z", SampleType::F32)]),
                (
                    "normal".into(),
                    vec![
                        ch("N.x", SampleType::F32),
                        ch("N.y", SampleType::F32),
                        ch("N.z", SampleType::F32)
                    ]
                ),
                ("primId".into(), vec![ch("primId", SampleType::U32)]),
                ("instanceId".into(), vec![ch("instanceId", SampleType::U32)]),
            ]
        );
        // Values survive exactly (ZIP is lossless; ids above 2^24 would not survive floats).
        let samples = |layer: usize, channel: usize| &img.layer_data[layer].channel_data.list[channel].sample_data;
        match samples(3, 0) {
            FlatSamples::U32(v) => assert_eq!(v, &prim),
            other => panic!("primId is {:?}", sample_type(other)),
        }
        match samples(4, 0) {
            FlatSamples::U32(v) => assert_eq!(v, &inst),
            other => panic!("instanceId is {:?}", sample_type(other)),
        }
        match samples(1, 0) {
            FlatSamples::F32(v) => assert_eq!(v, &depth),
            other => panic!("Z is {:?}", sample_type(other)),
        }
        match samples(2, 1) {
            FlatSamples::F32(v) => assert!(v.iter().all(|&y| y == 0.0), "N.y"),
            other => panic!("N.y is {:?}", sample_type(other)),
        }
        // The beauty is still what image reads first.
        let beauty = image::open(&path).unwrap();
        assert_eq!((beauty.width(), beauty.height()), (w, h));
    }

    #[test]
    fn separate_aov_files_are_named_after_the_beauty_and_all_count_for_completeness() {
        use ::exr::prelude::read_first_flat_layer_from_file;
        let d = tempdir("separate");
        let (w, h) = (17, 3);
        let rgba = gradient(w, h);
        let (depth, normal, _, _) = test_aovs(w, h);
        let aovs = [
            Aov {
                name: "depth",
                channels: &["Z"],
                data: AovData::F32(&depth),
            },
            Aov {
                name: "normal",
                channels: &["N.x", "N.y", "N.z"],
                data: AovData::F32(&normal),
            },
        ];
        let names = vec!["depth".to_string(), "normal".to_string()];
        for (beauty, encoding) in [
            ("a.0001.png", Encoding::new(Format::Png)),
            (
                "b.0001.exr",
                Encoding {
                    aov_files: AovFiles::Separate,
                    ..Encoding::new(Format::Exr)
                },
            ),
        ] {
            let path = d.join(beauty);
            write_frame(
                &path,
                encoding,
                Frame {
                    aovs: &aovs,
                    ..Frame::rgba8(w, h, &rgba)
                },
            )
            .unwrap();
            let files = frame_files(&path, &encoding, &names);
            let stem = beauty.trim_end_matches(".png").trim_end_matches(".exr");
            assert_eq!(
                files,
                [
                    path.clone(),
                    d.join(format!("{stem}.depth.exr")),
                    d.join(format!("{stem}.normal.exr"))
                ]
            );
            assert!(is_complete_frame(&files));
            let z = read_first_flat_layer_from_file(&files[1]).unwrap();
            assert_eq!(
                z.layer_data
                    .attributes
                    .layer_name
                    .as_ref()
                    .map(|n| n.to_string())
                    .as_deref(),
                Some("depth")
            );
            assert_eq!(z.layer_data.channel_data.list[0].name.to_string(), "Z");
            // A missing or truncated side file makes the frame incomplete.
            let bytes = fs::read(&files[2]).unwrap();
            fs::write(&files[2], &bytes[..bytes.len() / 2]).unwrap();
            assert!(!is_complete_frame(&files));
            fs::remove_file(&files[2]).unwrap();
            assert!(!is_complete_frame(&files));
        }
        // With layers, the EXR beauty is the frame's only file.
        assert_eq!(
            frame_files(Path::new("c.0001.exr"), &Encoding::new(Format::Exr), &names).len(),
            1
        );
        assert!(fs::read_dir(&d)
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(TEMP_SUFFIX)));
    }

    #[test]
    fn aov_paths() {
        assert_eq!(
            aov_path(Path::new("out/shot.0001.png"), "depth"),
            Path::new("out/shot.0001.depth.exr")
        );
        assert_eq!(
            aov_path(Path::new("shot.0001.exr"), "primId"),
            Path::new("shot.0001.primId.exr")
        );
        assert_eq!(
            aov_path(Path::new("still.JPG"), "normal"),
            Path::new("still.normal.exr")
        );
        // No image extension (format from --format): nothing is cut off.
        assert_eq!(
            aov_path(Path::new("o/shot.0001"), "depth"),
            Path::new("o/shot.0001.depth.exr")
        );
        assert_eq!(aov_name("primid").unwrap(), "primId");
        assert!(aov_name("albedo").unwrap_err().to_string().contains("instanceId"));
    }

    #[test]
    fn jpeg_quality_changes_the_size_and_alpha_composites_over_black() {
        let d = tempdir("jpeg");
        let (w, h) = (64, 48);
        let rgba = gradient(w, h);
        let size = |q: u8| {
            let path = d.join(format!("q{q}.jpg"));
            let enc = Encoding {
                quality: q,
                ..Encoding::new(Format::Jpeg)
            };
            write_frame(&path, enc, Frame::rgba8(w, h, &rgba)).unwrap();
            assert!(is_complete_image(&path));
            fs::metadata(&path).unwrap().len()
        };
        assert!(size(30) < size(95));
        // Half-transparent white becomes mid grey.
        let grey: Vec<u8> = [255, 255, 255, 128].repeat(64);
        let path = d.join("grey.jpg");
        write_frame(&path, Format::Jpeg, Frame::rgba8(8, 8, &grey)).unwrap();
        let px = image::open(&path).unwrap().to_rgb8().get_pixel(4, 4).0;
        assert!(px.iter().all(|&c| (126..=130).contains(&c)), "{px:?}");
    }

    #[test]
    fn encoding_options_are_checked() {
        assert!(Encoding::new(Format::Png).validate().is_ok());
        let e = Encoding {
            bit_depth: BitDepth::Sixteen,
            ..Encoding::new(Format::Jpeg)
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("--bit-depth"), "{e}");
        let e = Encoding {
            quality: 0,
            ..Encoding::new(Format::Jpeg)
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("--quality"), "{e}");
        assert_eq!("PIZ".parse::<ExrCompression>().unwrap(), ExrCompression::Piz);
        assert!("b44"
            .parse::<ExrCompression>()
            .unwrap_err()
            .to_string()
            .contains("dwaa"));
        assert!(!Encoding::new(Format::Png).needs_linear());
        assert!(Encoding::new(Format::Exr).needs_linear());
    }

    #[test]
    fn a_truncated_exr_or_16_bit_png_is_not_complete() {
        let d = tempdir("partial16");
        let rgba = gradient(64, 64);
        let sixteen = Encoding {
            bit_depth: BitDepth::Sixteen,
            ..Encoding::new(Format::Png)
        };
        for (name, enc) in [
            ("f.exr", Encoding::new(Format::Exr)),
            ("f.png", sixteen),
            ("f.tif", sixteen),
        ] {
            let path = d.join(name);
            write_frame(&path, enc, Frame::rgba8(64, 64, &rgba)).unwrap();
            assert!(is_complete_image(&path), "{name}");
            let bytes = fs::read(&path).unwrap();
            fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
            assert!(!is_complete_image(&path), "{name}");
        }
    }

    #[test]
    fn discarding_encodes_every_format() {
        let rgba = gradient(16, 9);
        let (depth, ..) = test_aovs(16, 9);
        let aovs = [Aov {
            name: "depth",
            channels: &["Z"],
            data: AovData::F32(&depth),
        }];
        for kind in [Format::Png, Format::Jpeg, Format::Exr, Format::Tiff] {
            let frame = Frame {
                aovs: &aovs,
                ..Frame::rgba8(16, 9, &rgba)
            };
            encode_and_discard(kind, frame, Path::new("x")).unwrap();
        }
        let bad = Frame {
            linear: Some(&[0.0; 3]),
            ..Frame::rgba8(16, 9, &rgba)
        };
        assert!(encode_and_discard(Format::Exr, bad, Path::new("x.exr"))
            .unwrap_err()
            .to_string()
            .contains("x.exr"));
    }
}
