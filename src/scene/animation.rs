//! Animated mesh points evaluated from plain data, on any thread.
//!
//! The stage module resolves, once at load, where each animated mesh's `points` come from: a
//! [`Track`] (one authored time-sample series, shared by every prim that reads it, whatever
//! its layer offset) and the mesh's topology (how points become drawn vertices). Evaluating a
//! frame is then a pure function of that data and the time: the samples bracketing the time are
//! decoded through a [`SampleSource`] (or found in the [`SampleCache`]) and interpolated, spread
//! to vertices, and given smooth normals where the mesh computes them. Nothing here touches the
//! stage, so frames are evaluated in parallel, in any order, with the same result.
//!
//! Meshes that read the same track at the same layer time through the same topology share one
//! result per frame (teapotScene's 524 teapots play one cycle at about 25 offsets).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{MeshVertices, Scene};

/// Decodes one sample of a series on demand. `Ok(None)` is a sample that holds no points (a
/// block, or a value that is not a float 3-vector array); `Err` a sample that cannot be read.
pub trait SampleSource: Send + Sync {
    fn decode(&self, index: usize) -> Result<Option<Arc<[[f32; 3]]>>, String>;
    /// The samples are held already (no decode, nothing for the cache to keep).
    fn is_cached(&self) -> bool;
}

/// One authored time-sample series of a point array.
pub struct Track {
    id: u64,
    /// Sample times in the layer's time, ascending.
    times: Vec<f64>,
    source: Box<dyn SampleSource>,
    /// Where the series is authored (layer and spec path), for messages.
    pub name: String,
}

static NEXT_TRACK: AtomicU64 = AtomicU64::new(0);

impl Track {
    /// A series over ascending `times`; `None` when there are no samples.
    pub fn new(times: Vec<f64>, source: Box<dyn SampleSource>, name: String) -> Option<Track> {
        (!times.is_empty()).then(|| Track {
            id: NEXT_TRACK.fetch_add(1, Ordering::Relaxed),
            times,
            source,
            name,
        })
    }

    fn sample(&self, cache: &SampleCache, index: usize) -> Result<Option<Arc<[[f32; 3]]>>, String> {
        if self.source.is_cached() {
            return self.source.decode(index);
        }
        cache.get_or_decode((self.id, index), || self.source.decode(index))
    }
}

/// A track as one prim reads it: stage time maps to the layer's time through the layer offset
/// (`stage = offset + scale * layer`).
#[derive(Clone)]
pub struct TrackRef {
    pub track: Arc<Track>,
    pub offset: f64,
    pub scale: f64,
}

impl TrackRef {
    /// The layer time of stage time `t`, computed as openusd inverts a layer offset, so the
    /// samples chosen are the ones openusd's own read chooses.
    pub fn layer_time(&self, t: f64) -> f64 {
        let (offset, scale) = (-self.offset / self.scale, 1.0 / self.scale);
        offset + scale * t
    }

    /// The points at stage time `t`: held before the first sample and after the last, linearly
    /// interpolated between two samples of equal length when `linear` (held otherwise), none
    /// where a bracketing sample is blocked; as openusd's time-sample evaluation.
    pub fn at(&self, cache: &SampleCache, t: f64, linear: bool) -> Result<Option<Arc<[[f32; 3]]>>, String> {
        let time = self.layer_time(t);
        let times = &self.track.times;
        let (lo, hi) = bracket(times, time);
        let a = self.track.sample(cache, lo)?;
        if lo == hi {
            return Ok(a);
        }
        let Some(a) = a else { return Ok(None) };
        let Some(b) = self.track.sample(cache, hi)? else {
            return Ok(None);
        };
        if !linear || a.len() != b.len() {
            return Ok(Some(a));
        }
        let u = ((time - times[lo]) / (times[hi] - times[lo])) as f32;
        Ok(Some(
            a.iter()
                .zip(b.iter())
                .map(|(p, q)| [0, 1, 2].map(|k| p[k] + (q[k] - p[k]) * u))
                .collect(),
        ))
    }
}

/// The indices of the samples bracketing `time` (equal when it is at or past an end, or on a
/// sample), with openusd's order of times (the two zeros are one time).
fn bracket(times: &[f64], time: f64) -> (usize, usize) {
    let key = |t: f64| if t == 0.0 { 0.0 } else { t };
    let last = times.len() - 1;
    if key(time).total_cmp(&key(times[0])).is_le() {
        return (0, 0);
    }
    if key(time).total_cmp(&key(times[last])).is_ge() {
        return (last, last);
    }
    match times.binary_search_by(|t| key(*t).total_cmp(&key(time))) {
        Ok(i) => (i, i),
        Err(i) => (i - 1, i),
    }
}

/// Decoded samples of every track, least recently used dropped first once over budget.
pub struct SampleCache {
    budget: usize,
    state: Mutex<CacheState>,
}

/// A decoded sample (or none, for a block) and when it was last used.
type CacheEntry = (Option<Arc<[[f32; 3]]>>, u64);

#[derive(Default)]
struct CacheState {
    /// By (track id, sample index).
    entries: HashMap<(u64, usize), CacheEntry>,
    bytes: usize,
    clock: u64,
}

impl SampleCache {
    pub fn new(budget: usize) -> SampleCache {
        SampleCache {
            budget,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// Bytes of decoded samples held now.
    pub fn bytes(&self) -> usize {
        self.state.lock().map_or(0, |s| s.bytes)
    }

    fn get_or_decode(
        &self,
        key: (u64, usize),
        decode: impl FnOnce() -> Result<Option<Arc<[[f32; 3]]>>, String>,
    ) -> Result<Option<Arc<[[f32; 3]]>>, String> {
        if let Ok(mut state) = self.state.lock() {
            state.clock += 1;
            let now = state.clock;
            if let Some((value, used)) = state.entries.get_mut(&key) {
                *used = now;
                return Ok(value.clone());
            }
        }
        // Decoded outside the lock: two threads may decode one sample at once, and the second
        // insert keeps the first's value (both are the same bytes).
        let value = decode()?;
        let size = value.as_ref().map_or(0, |v| v.len() * 12) + 64;
        if let Ok(mut state) = self.state.lock() {
            state.clock += 1;
            let now = state.clock;
            if let std::collections::hash_map::Entry::Vacant(slot) = state.entries.entry(key) {
                slot.insert((value.clone(), now));
                state.bytes += size;
            }
            while state.bytes > self.budget && state.entries.len() > 1 {
                let Some(oldest) = state.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| *k) else {
                    break;
                };
                if let Some((v, _)) = state.entries.remove(&oldest) {
                    state.bytes -= v.as_ref().map_or(0, |v| v.len() * 12) + 64;
                }
            }
        }
        Ok(value)
    }
}

/// How an animated mesh's points become its drawn vertices.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Topology {
    /// The point each drawn vertex shows (a refined point when `refine` is set).
    pub vertex_points: Vec<u32>,
    /// Triangles over points (for smooth normals).
    pub point_triangles: Vec<u32>,
    /// A subdivided mesh's refinement: the authored points are refined before they are drawn.
    pub refine: Option<Refine>,
}

impl Topology {
    /// Drawn points spread to vertices; a vertex whose point is missing keeps `template`'s
    /// position (the load-time mesh), else the origin.
    pub fn spread(&self, points: &[[f32; 3]], template: Option<&super::Mesh>) -> Vec<[f32; 3]> {
        let fallback = |v: usize| template.and_then(|m| m.positions.get(v).copied()).unwrap_or([0.0; 3]);
        self.vertex_points
            .iter()
            .enumerate()
            .map(|(v, &p)| points.get(p as usize).copied().unwrap_or_else(|| fallback(v)))
            .collect()
    }

    /// The points as drawn: refined when the mesh is subdivided, else as given.
    pub fn drawn_points<'a>(&self, points: &'a [[f32; 3]]) -> std::borrow::Cow<'a, [[f32; 3]]> {
        match &self.refine {
            Some(r) => std::borrow::Cow::Owned(r.0.refine_points(points)),
            None => std::borrow::Cow::Borrowed(points),
        }
    }
}

/// A shared refinement, compared and hashed by identity (one per mesh).
#[derive(Debug, Clone)]
pub struct Refine(pub Arc<super::subdivision::Refinement>);

impl PartialEq for Refine {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Refine {}

impl std::hash::Hash for Refine {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.0), state)
    }
}

/// Where an animated mesh's normals come from each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormalsFrom {
    /// Smooth normals computed from the frame's points.
    Computed,
    /// The load-time normals, kept.
    LoadTime,
}

/// One animated mesh whose points come from a track.
pub struct AnimatedMesh {
    /// Index into `Scene::dynamic_meshes` (and `FrameState::mesh_vertices`).
    pub slot: usize,
    /// The prim, for messages.
    pub prim: String,
    pub points: TrackRef,
    pub topology: Arc<Topology>,
    pub normals: NormalsFrom,
}

/// Everything per-frame evaluation needs for track-driven and skinned meshes; `Send + Sync`.
pub struct Animation {
    pub meshes: Vec<AnimatedMesh>,
    /// Meshes deformed by a skeleton, posed by each frame's [`super::FrameState::skinning`].
    pub skinned: Vec<super::skinning::SkinnedMesh>,
    /// The stage interpolates linearly between samples (else held).
    pub linear: bool,
    pub cache: Arc<SampleCache>,
}

impl std::fmt::Debug for Animation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Animation")
            .field("meshes", &self.meshes.len())
            .field("skinned", &self.skinned.len())
            .field("linear", &self.linear)
            .finish()
    }
}

impl Default for Animation {
    fn default() -> Self {
        Animation {
            meshes: Vec::new(),
            skinned: Vec::new(),
            linear: true,
            cache: Arc::new(SampleCache::new(0)),
        }
    }
}

/// A mesh's points could not be read at a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluateError {
    pub prim: String,
    pub frame: f64,
    pub reason: String,
}

impl std::fmt::Display for EvaluateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "frame {}: {}: cannot read its points: {}",
            self.frame, self.prim, self.reason
        )
    }
}

impl Animation {
    /// Fills the slots of `vertices` that this animation drives with the vertices at time code
    /// `t`. A mesh with no points at `t` (a blocked sample) keeps its load-time vertices; a
    /// sample that cannot be read is an error naming the prim and the frame.
    pub fn evaluate(&self, scene: &Scene, t: f64, vertices: &mut [Arc<MeshVertices>]) -> Result<(), EvaluateError> {
        // Meshes reading one track at one layer time through one topology share a result.
        let mut shared: HashMap<(u64, u64, *const Topology), Arc<MeshVertices>> = HashMap::new();
        for m in &self.meshes {
            let Some(slot) = vertices.get_mut(m.slot) else { continue };
            let template = scene
                .dynamic_meshes
                .get(m.slot)
                .and_then(|&i| scene.meshes.get(i as usize));
            let key = (
                m.points.track.id,
                m.points.layer_time(t).to_bits(),
                Arc::as_ptr(&m.topology),
            );
            // Shared only where nothing of the mesh's own load-time data shows through: normals
            // computed and every point present.
            let shareable = m.normals == NormalsFrom::Computed;
            if let Some(done) = shared.get(&key).filter(|_| shareable) {
                *slot = done.clone();
                continue;
            }
            let points = m
                .points
                .at(&self.cache, t, self.linear)
                .map_err(|reason| EvaluateError {
                    prim: m.prim.clone(),
                    frame: t,
                    reason: format!("{reason} (samples of {})", m.points.track.name),
                })?;
            let points = m.topology.drawn_points(points.as_deref().unwrap_or(&[]));
            let points: &[[f32; 3]] = &points;
            let positions = m.topology.spread(points, template);
            let normals = match m.normals {
                NormalsFrom::Computed => {
                    super::smooth_normals(points, &m.topology.point_triangles, &m.topology.vertex_points)
                }
                NormalsFrom::LoadTime => template.map(|m| m.normals.clone()).unwrap_or_default(),
            };
            let whole = m.topology.vertex_points.iter().all(|&p| (p as usize) < points.len());
            let done = Arc::new(MeshVertices { positions, normals });
            if whole && shareable {
                shared.insert(key, done.clone());
            }
            *slot = done;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting {
        samples: Vec<Option<Arc<[[f32; 3]]>>>,
        decoded: std::sync::atomic::AtomicUsize,
    }

    impl SampleSource for Counting {
        fn decode(&self, index: usize) -> Result<Option<Arc<[[f32; 3]]>>, String> {
            self.decoded.fetch_add(1, Ordering::Relaxed);
            match self.samples.get(index) {
                Some(s) => Ok(s.clone()),
                None => Err(format!("sample {index} is corrupt")),
            }
        }
        fn is_cached(&self) -> bool {
            false
        }
    }

    fn track(times: Vec<f64>, xs: &[Option<f32>]) -> Arc<Track> {
        let samples = xs.iter().map(|x| x.map(|x| Arc::from(vec![[x, 0.0, 0.0]]))).collect();
        let source = Counting {
            samples,
            decoded: Default::default(),
        };
        Arc::new(Track::new(times, Box::new(source), "test".into()).expect("samples"))
    }

    fn x(r: Result<Option<Arc<[[f32; 3]]>>, String>) -> Option<f32> {
        r.expect("readable").map(|p| p[0][0])
    }

    #[test]
    fn held_at_the_ends_interpolated_between_and_offset_by_the_layer() {
        let cache = SampleCache::new(1 << 20);
        let t = TrackRef {
            track: track(vec![0.0, 10.0, 20.0], &[Some(0.0), Some(10.0), Some(0.0)]),
            offset: 0.0,
            scale: 1.0,
        };
        assert_eq!(x(t.at(&cache, -5.0, true)), Some(0.0));
        assert_eq!(x(t.at(&cache, 5.0, true)), Some(5.0));
        assert_eq!(x(t.at(&cache, 5.0, false)), Some(0.0));
        assert_eq!(x(t.at(&cache, 25.0, true)), Some(0.0));
        // Offset 2: stage time 7 is layer time 5.
        let shifted = TrackRef {
            offset: 2.0,
            ..t.clone()
        };
        assert_eq!(x(shifted.at(&cache, 7.0, true)), Some(5.0));
        // Scale 2: stage time 10 is layer time 5.
        let slow = TrackRef { scale: 2.0, ..t };
        assert_eq!(x(slow.at(&cache, 10.0, true)), Some(5.0));
    }

    #[test]
    fn a_blocked_sample_gives_no_points_and_a_corrupt_one_an_error() {
        let cache = SampleCache::new(1 << 20);
        let t = TrackRef {
            track: track(vec![0.0, 10.0, 20.0, 30.0], &[Some(0.0), None, Some(1.0)]),
            offset: 0.0,
            scale: 1.0,
        };
        assert_eq!(x(t.at(&cache, 5.0, true)), None, "bracketed by a block");
        assert_eq!(x(t.at(&cache, 20.0, true)), Some(1.0));
        assert!(t.at(&cache, 30.0, true).is_err(), "sample 3 cannot be decoded");
    }

    #[test]
    fn the_cache_decodes_once_and_stays_within_its_budget() {
        let samples: Vec<Option<f32>> = (0..100).map(|i| Some(i as f32)).collect();
        let tr = track((0..100).map(|i| i as f64).collect(), &samples);
        // Room for about four samples.
        let cache = SampleCache::new(4 * (12 + 64));
        let r = TrackRef {
            track: tr.clone(),
            offset: 0.0,
            scale: 1.0,
        };
        for f in 0..100 {
            assert_eq!(x(r.at(&cache, f as f64, true)), Some(f as f32));
            assert_eq!(x(r.at(&cache, f as f64, true)), Some(f as f32));
            assert!(cache.bytes() <= 4 * (12 + 64));
        }
        let big = SampleCache::new(1 << 20);
        for _ in 0..3 {
            for f in 0..100 {
                r.at(&big, f as f64, true).expect("readable");
            }
        }
        assert_eq!(big.bytes(), 100 * (12 + 64));
    }

    #[test]
    fn zero_and_negative_zero_are_one_time() {
        assert_eq!(bracket(&[-1.0, 0.0, 1.0], -0.0), (1, 1));
        assert_eq!(bracket(&[-1.0, 0.0, 1.0], 0.5), (1, 2));
        assert_eq!(bracket(&[3.0], 0.5), (0, 0));
    }
}
