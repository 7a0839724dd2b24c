//! Readback: each frame in flight has a slot (one buffer holding its image, floats, AOVs and
//! timestamps, laid out by [`ReadbackLayout`]); a [`Ticket`] waits for its frame only and copies
//! it into recycled [`FrameBuffers`]. wgpu pads copied rows to 256 bytes; this strips the padding
//! and turns the resolved, premultiplied sRGB pixels into straight alpha, as PNG expects.

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

use std::ops::Range;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::adapters::SharedDevice;
use super::settings::{AovKind, RenderSettings};

/// GL's `poll(wait)` gives up after ~4.29 s (shared/GPU.md pitfall 4); this many tries is minutes.
pub(super) const MAX_POLL_TRIES: u32 = 60;
/// Offsets inside a readback buffer are kept at this alignment (texture copies, mapping and query
/// resolves are all happy with 256).
pub(super) const SEGMENT_ALIGN: u64 = 256;
/// Timestamps per frame, at these offsets in the slot's range: the start of the first shading pass
/// and the end of the last one (the "pass" time), the end of the post passes (colour conversion,
/// AOV gather), and the start of the frame's commands, shadow passes included (from there to the
/// end of the post passes is the "frame" time).
pub(super) const TIMESTAMPS_PER_FRAME: u32 = 4;
pub(super) const TS_PASS_BEGIN: u32 = 0;
pub(super) const TS_PASS_END: u32 = 1;
pub(super) const TS_POST_END: u32 = 2;
pub(super) const TS_FRAME_BEGIN: u32 = 3;

/// The query index of timestamp `which` (`TS_*`) of readback slot `slot`.
pub(super) fn ts_index(slot: usize, which: u32) -> u32 {
    TIMESTAMPS_PER_FRAME * slot as u32 + which
}
/// Bytes of one slot's resolved timestamps (u64 ticks).
pub(super) const TIMESTAMP_BYTES: u64 = 8 * TIMESTAMPS_PER_FRAME as u64;

/// Map states of a readback slot, shared with wgpu's map callback.
pub(super) const MAP_PENDING: u8 = 0;
pub(super) const MAP_DONE: u8 = 1;
pub(super) const MAP_FAILED: u8 = 2;

/// One frame's readback buffer and the state of its mapping.
pub(super) struct Slot {
    pub(super) buffer: wgpu::Buffer,
    /// Set by the map callback: `MAP_PENDING`, `MAP_DONE` or `MAP_FAILED`.
    pub(super) map: Arc<AtomicU8>,
    /// A ticket holds it (submitted, not yet finished).
    pub(super) busy: bool,
}

impl Slot {
    /// The readback ring: one slot of `size` bytes per frame in flight.
    pub(super) fn ring(device: &wgpu::Device, size: u64, frames: usize) -> Vec<Slot> {
        (0..frames)
            .map(|i| Slot {
                buffer: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("readback {i}")),
                    size,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                map: Arc::new(AtomicU8::new(MAP_PENDING)),
                busy: false,
            })
            .collect()
    }
}

/// A byte range of a readback buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Segment {
    pub(super) offset: u64,
    pub(super) size: u64,
}

impl Segment {
    pub(super) fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.size
    }
}

/// What a slot's readback buffer holds, each part 256-aligned: the 8-bit image (rows padded to
/// 256 bytes when copied from the texture, tight when the colour pass wrote it), the linear image,
/// the AOVs asked for, then the pass timestamps when the device has them.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ReadbackLayout {
    pub(super) color: Segment,
    /// The 8-bit image comes tightly packed from the colour pass (linear output) rather than
    /// padded from the texture.
    pub(super) color_tight: bool,
    pub(super) linear: Option<Segment>,
    /// In `AovKind` order.
    pub(super) aovs: [Option<Segment>; 4],
    pub(super) timestamps: Option<Segment>,
    /// Bytes in all (the buffer's size).
    pub(super) size: u64,
}

impl ReadbackLayout {
    pub(super) fn new(settings: &RenderSettings, padded_row: u32, timestamps: bool) -> ReadbackLayout {
        let pixels = settings.width as u64 * settings.height as u64;
        let mut end = 0u64;
        let mut take = |size: u64| {
            let seg = Segment { offset: end, size };
            end = (end + size).div_ceil(SEGMENT_ALIGN) * SEGMENT_ALIGN;
            seg
        };
        // The colour pass always writes the 8-bit image tightly packed (the padded texture copy
        // is kept for a renderer without it).
        let _ = padded_row;
        let color = take(pixels * 4);
        let linear = settings.linear.then(|| take(pixels * 16));
        let aovs = AovKind::ALL.map(|k| {
            settings
                .aovs
                .contains(&k)
                .then(|| take(pixels * 4 * k.channels() as u64))
        });
        let timestamps = timestamps.then(|| take(TIMESTAMP_BYTES));
        ReadbackLayout {
            color,
            color_tight: true,
            linear,
            aovs,
            timestamps,
            size: end,
        }
    }
}

/// Timestamp queries around the render pass: two per slot, resolved into `resolve` at
/// `slot * 256` and copied with the frame into its readback buffer.
pub(super) struct Timestamps {
    pub(super) query_set: wgpu::QuerySet,
    pub(super) resolve: wgpu::Buffer,
    /// Nanoseconds per tick.
    pub(super) period_ns: f64,
}

impl Timestamps {
    /// Timestamps for `frames` frames in flight, where the device has them (requested at device
    /// creation when the adapter offers them); the pass is timed on the GPU itself, so pipelining
    /// does not blur it.
    pub(super) fn new(device: &wgpu::Device, queue: &wgpu::Queue, frames: usize) -> Option<Timestamps> {
        device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
            .then(|| Timestamps {
                query_set: device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("render pass timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: TIMESTAMPS_PER_FRAME * frames as u32,
                }),
                resolve: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamp resolve"),
                    size: SEGMENT_ALIGN * frames as u64,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
                period_ns: queue.get_timestamp_period() as f64,
            })
    }
}

/// What a submitted frame's readback brings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Readback {
    /// The image (and the timestamps, where there are any).
    Frame,
    /// Only the timestamps (render only): no image copy.
    TimingOnly,
}

/// A submitted frame: hand it back to [`Renderer::finish`] (in any order) to get its pixels. Until
/// then it holds one of the [`FRAMES_IN_FLIGHT`] readback slots.
#[must_use = "a submitted frame holds a readback slot until it is finished"]
#[derive(Debug)]
pub struct Ticket {
    pub(super) slot: usize,
    pub(super) frame: f64,
    pub(super) submission: wgpu::SubmissionIndex,
    pub(super) readback: Readback,
    /// The part of the slot's buffer being mapped (`None`: nothing to read, only wait).
    pub(super) mapped: Option<Segment>,
    pub(super) submitted: std::time::Instant,
    pub(super) record_ms: f64,
}

impl Ticket {
    /// The frame (time code) this ticket renders.
    pub fn frame(&self) -> f64 {
        self.frame
    }
}

/// Where [`Renderer::finish`] puts a frame: buffers the caller keeps and reuses, so nothing is
/// allocated per frame once they have grown to the image size. Fields the settings did not ask
/// for are left empty.
#[derive(Clone, Debug, Default)]
pub struct FrameBuffers {
    /// width * height * 4 bytes, rows tightly packed, sRGB-encoded RGBA8 (straight alpha unless
    /// [`ImageEncoding::UsdRecord`]).
    pub rgba: Vec<u8>,
    /// [`RenderSettings::linear`]: width * height * 4 floats, linear-light RGBA with straight
    /// alpha (colour may exceed 1 where the specular highlight does).
    pub linear: Vec<f32>,
    /// [`AovKind::Depth`]: one float per pixel.
    pub depth: Vec<f32>,
    /// [`AovKind::Normal`]: three floats (x, y, z) per pixel.
    pub normal: Vec<f32>,
    /// [`AovKind::PrimId`]: one per pixel.
    pub prim_id: Vec<u32>,
    /// [`AovKind::InstanceId`]: one per pixel.
    pub instance_id: Vec<u32>,
    /// `rgba` still holds the resolved, premultiplied colour: [`FrameBuffers::straighten`] turns it
    /// into straight alpha. [`Renderer::finish`] leaves that to the caller so it can run on an
    /// encoder thread instead of the thread that feeds the GPU.
    pub premultiplied: bool,
}

impl FrameBuffers {
    /// Buffers with room for one frame of `settings`, so the first frames do not allocate either.
    pub fn for_settings(settings: &RenderSettings) -> FrameBuffers {
        let pixels = settings.width as usize * settings.height as usize;
        let room = |kind: AovKind| {
            if settings.aovs.contains(&kind) {
                pixels * kind.channels()
            } else {
                0
            }
        };
        FrameBuffers {
            rgba: Vec::with_capacity(pixels * 4),
            linear: Vec::with_capacity(if settings.linear { pixels * 4 } else { 0 }),
            depth: Vec::with_capacity(room(AovKind::Depth)),
            normal: Vec::with_capacity(room(AovKind::Normal)),
            prim_id: Vec::with_capacity(room(AovKind::PrimId)),
            instance_id: Vec::with_capacity(room(AovKind::InstanceId)),
            premultiplied: false,
        }
    }

    /// Makes `rgba` straight alpha if it is still premultiplied (a no-op otherwise).
    pub fn straighten(&mut self) {
        if self.premultiplied {
            unpremultiply_in_place(&mut self.rgba);
            self.premultiplied = false;
        }
    }
}

/// Replaces `out`'s contents with `bytes` read as `T`s, reusing its allocation. Copies bytes into
/// the (aligned) vector, so the mapped range needs no particular alignment.
pub(super) fn copy_pod<T: bytemuck::Pod>(bytes: &[u8], out: &mut Vec<T>) {
    out.clear();
    out.resize(bytes.len() / std::mem::size_of::<T>(), T::zeroed());
    let dst: &mut [u8] = bytemuck::cast_slice_mut(out.as_mut_slice());
    dst.copy_from_slice(&bytes[..dst.len()]);
}

/// Polls `gpu` until `submission` is done and, when `map` is given, its mapping callback has run.
pub(super) fn wait_for(
    gpu: &SharedDevice,
    label: &str,
    submission: &wgpu::SubmissionIndex,
    map: Option<&AtomicU8>,
) -> std::result::Result<(), String> {
    // Wait for this submission only: later frames in flight keep running meanwhile.
    let wait = wgpu::PollType::Wait {
        submission_index: Some(submission.clone()),
        timeout: None,
    };
    for _ in 0..MAX_POLL_TRIES {
        match gpu.device.poll(wait.clone()) {
            Ok(_) => {}
            // GL returns Timeout after ~4.29 s even when asked to wait forever: keep waiting.
            Err(wgpu::PollError::Timeout) => log::debug!("{label}: still waiting for the GPU"),
            Err(e) => return Err(format!("waiting for the GPU: {e}")),
        }
        if let Some(lost) = gpu.lost_reason() {
            return Err(lost);
        }
        match map.map(|m| m.load(Ordering::Acquire)) {
            None | Some(MAP_DONE) => return Ok(()),
            Some(MAP_FAILED) => {
                return Err(gpu
                    .lost_reason()
                    .unwrap_or_else(|| "mapping the readback buffer failed".into()))
            }
            // The submission is done but the callback has not run yet: poll again.
            _ => std::thread::yield_now(),
        }
    }
    Err("the GPU did not finish the frame in time".into())
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
