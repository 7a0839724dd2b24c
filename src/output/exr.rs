//! OpenEXR through the `exr` crate: the beauty as linear RGBA (half or float, colour premultiplied
//! by alpha as EXR expects), AOVs as further parts ("layers") of the same file or as single-part
//! side files.
//!
//! Layout of a file with AOV layers (multi-part): part `rgba` (channels `R G B A`), then one part
//! per AOV named after it: `depth` (`Z`, float), `normal` (`N.x N.y N.z`, float), `primId`
//! (`primId`, uint), `instanceId` (`instanceId`, uint). Channel names are unique across parts, so
//! the parts can be flattened into one part without renaming. A beauty without AOVs is a plain
//! single-part RGBA file.
//!
//! Samples are read from the frame's buffers as the encoder asks for each line
//! ([`BorrowedSamples`]), so no planar copy of the frame is made.

use std::io::{Seek, Write};
use std::path::Path;
use std::sync::OnceLock;

use exr::block::lines::LineRefMut;
use exr::image::write::samples::{SamplesWriter, WritableSamples};
use exr::math::RoundingMode;
use exr::meta::attribute::LevelMode;
use exr::meta::header::Header;
use exr::prelude::{
    f16, AnyChannel, AnyChannels, Blocks, Compression, Encoding, Image, ImageAttributes, IntegerBounds, Layer,
    LayerAttributes, LineOrder, SampleType, SmallVec, Vec2, WritableImage,
};

use super::{Aov, AovData, ExrCompression, ExrPrecision, Frame};

type Result = std::result::Result<(), String>;
type Channels<'a> = AnyChannels<BorrowedSamples<'a>>;

/// The beauty, with `aovs` as extra parts.
pub(super) fn write_beauty(
    out: &mut (impl Write + Seek),
    frame: &Frame<'_>,
    aovs: &[Aov<'_>],
    precision: ExrPrecision,
    compression: ExrCompression,
) -> Result {
    let mut layers: SmallVec<[Layer<Channels<'_>>; 2]> = SmallVec::new();
    let attributes = if aovs.is_empty() {
        LayerAttributes::default()
    } else {
        LayerAttributes::named("rgba")
    };
    layers.push(layer(frame, attributes, beauty_channels(frame, precision), compression));
    for aov in aovs {
        layers.push(layer(
            frame,
            LayerAttributes::named(aov.name),
            aov_channels(frame, aov),
            compression,
        ));
    }
    write(out, frame, layers)
}

/// One AOV as a file of its own (a single part named after it).
pub(super) fn write_aov(
    out: &mut (impl Write + Seek),
    frame: &Frame<'_>,
    aov: &Aov<'_>,
    compression: ExrCompression,
) -> Result {
    let mut layers: SmallVec<[Layer<Channels<'_>>; 2]> = SmallVec::new();
    layers.push(layer(
        frame,
        LayerAttributes::named(aov.name),
        aov_channels(frame, aov),
        compression,
    ));
    write(out, frame, layers)
}

fn write(out: &mut (impl Write + Seek), frame: &Frame<'_>, layers: SmallVec<[Layer<Channels<'_>>; 2]>) -> Result {
    let size = Vec2(frame.width as usize, frame.height as usize);
    let image = Image::from_layers(ImageAttributes::new(IntegerBounds::from_dimensions(size)), layers);
    // Frames are already encoded in parallel, one per thread: the crate's own thread pool would
    // only add threads (and it is built per call).
    image.write().non_parallel().to_buffered(out).map_err(|e| e.to_string())
}

fn layer<'a>(
    frame: &Frame<'_>,
    attributes: LayerAttributes,
    channels: Channels<'a>,
    compression: ExrCompression,
) -> Layer<Channels<'a>> {
    let compression = match compression {
        ExrCompression::None => Compression::Uncompressed,
        ExrCompression::Zip => Compression::ZIP16,
        ExrCompression::Piz => Compression::PIZ,
        ExrCompression::Dwaa => Compression::DWAA(None),
    };
    let encoding = Encoding {
        compression,
        blocks: Blocks::ScanLines,
        line_order: LineOrder::Increasing,
    };
    Layer::new(
        (frame.width as usize, frame.height as usize),
        attributes,
        encoding,
        channels,
    )
}

fn beauty_channels<'a>(frame: &Frame<'a>, precision: ExrPrecision) -> Channels<'a> {
    let sample_type = match precision {
        ExrPrecision::Half => SampleType::F16,
        ExrPrecision::Float => SampleType::F32,
    };
    let list = ["R", "G", "B", "A"]
        .into_iter()
        .enumerate()
        .map(|(channel, name)| {
            let source = match frame.linear {
                Some(data) => Source::Linear { data, channel },
                None => Source::Srgb8 {
                    data: frame.rgba,
                    channel,
                },
            };
            let mut c = AnyChannel::new(
                name,
                BorrowedSamples {
                    source,
                    sample_type,
                    width: frame.width as usize,
                },
            );
            // Only matters to lossy compression: colour is quantized in a perceptual space.
            c.quantize_linearly = name == "A";
            c
        })
        .collect();
    AnyChannels::sort(list)
}

fn aov_channels<'a>(frame: &Frame<'a>, aov: &Aov<'a>) -> Channels<'a> {
    let stride = aov.channels.len();
    let list = aov
        .channels
        .iter()
        .enumerate()
        .map(|(channel, &name)| {
            let (source, sample_type) = match aov.data {
                AovData::F32(data) => (Source::F32 { data, stride, channel }, SampleType::F32),
                AovData::U32(data) => (Source::U32 { data, stride, channel }, SampleType::U32),
            };
            let mut c = AnyChannel::new(
                name,
                BorrowedSamples {
                    source,
                    sample_type,
                    width: frame.width as usize,
                },
            );
            c.quantize_linearly = true;
            c
        })
        .collect();
    AnyChannels::sort(list)
}

/// Where one channel's samples come from.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    /// Linear RGBA, straight alpha: colour is premultiplied on the way out.
    Linear { data: &'a [f32], channel: usize },
    /// sRGB RGBA8, straight alpha: decoded through a table, then premultiplied.
    Srgb8 { data: &'a [u8], channel: usize },
    /// Interleaved AOV samples, `stride` per pixel.
    F32 {
        data: &'a [f32],
        stride: usize,
        channel: usize,
    },
    U32 {
        data: &'a [u32],
        stride: usize,
        channel: usize,
    },
}

impl Source<'_> {
    fn float(&self, pixel: usize) -> f32 {
        match *self {
            Source::Linear { data, channel } => {
                let p = &data[pixel * 4..pixel * 4 + 4];
                if channel == 3 {
                    p[3]
                } else {
                    p[channel] * p[3]
                }
            }
            Source::Srgb8 { data, channel } => {
                let p = &data[pixel * 4..pixel * 4 + 4];
                let alpha = p[3] as f32 / 255.0;
                if channel == 3 {
                    alpha
                } else {
                    srgb8_to_linear(p[channel]) * alpha
                }
            }
            Source::F32 { data, stride, channel } => data[pixel * stride + channel],
            Source::U32 { data, stride, channel } => data[pixel * stride + channel] as f32,
        }
    }
}

/// A channel that borrows the frame's buffers: the `exr` crate asks for one line at a time.
#[derive(Debug, Clone, Copy)]
pub(super) struct BorrowedSamples<'a> {
    source: Source<'a>,
    sample_type: SampleType,
    width: usize,
}

impl<'s, 'a: 's> WritableSamples<'s> for BorrowedSamples<'a> {
    type Writer = BorrowedSamples<'a>;

    fn sample_type(&self) -> SampleType {
        self.sample_type
    }

    fn infer_level_modes(&self) -> (LevelMode, RoundingMode) {
        (LevelMode::Singular, RoundingMode::Down)
    }

    fn create_samples_writer(&'s self, _header: &Header) -> Self::Writer {
        *self
    }
}

impl SamplesWriter for BorrowedSamples<'_> {
    fn extract_line(&self, line: LineRefMut<'_>) {
        let start = line.location.position.y() * self.width + line.location.position.x();
        let source = self.source;
        // The crate sizes `line` for exactly these samples, so writing cannot fail.
        let _ = match (self.sample_type, source) {
            (SampleType::U32, Source::U32 { data, stride, channel }) => {
                line.write_samples(|i| data[(start + i) * stride + channel])
            }
            (SampleType::U32, _) => line.write_samples(|i| source.float(start + i) as u32),
            (SampleType::F16, _) => line.write_samples(|i| f16::from_f32(source.float(start + i))),
            (SampleType::F32, _) => line.write_samples(|i| source.float(start + i)),
        };
    }
}

/// sRGB 8-bit to linear, through a table built once.
fn srgb8_to_linear(v: u8) -> f32 {
    static TABLE: OnceLock<[f32; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|i| {
            let c = i as f32 / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        })
    })[v as usize]
}

/// Whether `path` starts with OpenEXR's magic number.
pub(super) fn has_magic(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == [0x76, 0x2f, 0x31, 0x01]
}

/// Whether every part and every channel of the EXR at `path` decodes (strictly: a missing chunk
/// is an error, not a hole).
pub(super) fn is_complete(path: &Path) -> bool {
    use exr::prelude::traits::*;
    exr::prelude::read()
        .no_deep_data()
        .largest_resolution_level()
        .all_channels()
        .all_layers()
        .all_attributes()
        .non_parallel()
        .pedantic()
        .from_file(path)
        .is_ok()
}
