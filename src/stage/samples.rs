//! Time samples read one at a time, shared by every prim that reads the same authored series.
//!
//! openusd decodes an attribute's whole `timeSamples` map on every read from a usdc layer, and
//! keeps no decoded value between reads: teapotScene's 524 meshes each read the same 49-sample
//! series of one usdc layer (through references with different layer offsets), so reading their
//! points once at load decoded 25,676 arrays. Here where an attribute's value is authored (the
//! layer, the spec path and the layer offset) is found once from the prim stack and the fields'
//! presence, which decode nothing (openusd's `resolve_info` decodes the samples to answer), and
//! the series is a [`Track`] shared by every attribute that resolves to the same spec. A
//! usdc series keeps only each sample's place in the file and decodes a sample when a frame
//! needs it ([`CrateSamples`]); a usda series is converted once from the layer, which already
//! holds it parsed.
//!
//! Tracks are `Send + Sync` plain data for [`crate::scene::animation`], which evaluates animated
//! meshes on any thread; decoded samples live in one [`SampleCache`] with a byte budget.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use openusd::ar::{DefaultResolver, ResolvedPath, Resolver};
use openusd::sdf::{self, Value};
use openusd::usd::{self, SpecSite};
use openusd::usdc::CrateFile;

use super::values;
use crate::scene::animation::{SampleCache, SampleSource, Track, TrackRef};

/// Attributes whose time samples are read through tracks: the large arrays that change per
/// frame, read as `point3f[]` only (UsdImaging reads points as `VtVec3fArray`). Small values
/// (transforms, visibility, shader inputs) stay with openusd's reads, whose cost is the
/// composition walk, not the decode.
const TRACKED: &[&str] = &["points"];

/// Whether reads of `name` go through tracks.
pub fn is_tracked(name: &str) -> bool {
    TRACKED.contains(&name)
}

/// The tracks of one open stage, keyed by where their samples are authored.
pub struct SampleStore {
    /// (layer identifier, spec path of the attribute) -> the shared series.
    tracks: HashMap<(String, String), Option<Arc<Track>>>,
    /// Each attribute's track, once resolved (`None`: read through openusd).
    by_attribute: HashMap<sdf::Path, Option<TrackRef>>,
    /// Prims under value clips, by path, once asked.
    clips: HashMap<sdf::Path, bool>,
    /// Crate files opened for per-sample reads, by layer identifier (`None`: not a crate, or
    /// it could not be opened; the text layer's data is read instead).
    crates: HashMap<String, Option<Arc<Crate>>>,
    /// Decoded samples of every track, within a byte budget.
    pub cache: Arc<SampleCache>,
    /// The stage is drawn at the default time ([`values::DEFAULT_TIME`]): no attribute varies
    /// and none has a track, every read is openusd's default-time read.
    pub default_time: bool,
}

impl SampleStore {
    /// A store whose decoded samples stay within `budget` bytes.
    pub fn with_budget(budget: u64) -> SampleStore {
        SampleStore {
            tracks: HashMap::new(),
            by_attribute: HashMap::new(),
            clips: HashMap::new(),
            crates: HashMap::new(),
            cache: Arc::new(SampleCache::new(usize::try_from(budget).unwrap_or(usize::MAX))),
            default_time: false,
        }
    }
}

impl SampleStore {
    /// The track `prim.name` reads its time samples from, with the layer offset that maps stage
    /// time to the layer's; `None` when its value is not time samples of a plain array that a
    /// track can hold (a default, value clips, a block, another type), so the caller reads
    /// through openusd.
    pub fn track(&mut self, stage: &usd::Stage, prim: &usd::Prim, name: &str) -> Option<TrackRef> {
        if self.default_time {
            return None;
        }
        let attr = prim.attribute(name);
        if let Some(known) = self.by_attribute.get(attr.path()) {
            return known.clone();
        }
        let found = self.resolve(stage, &attr);
        self.by_attribute.insert(attr.path().clone(), found.clone());
        found
    }

    /// Finds the spec whose `timeSamples` give `attr` its value: along the prim's stack,
    /// strongest first, the first spec of the attribute that authors `timeSamples` or
    /// `default` (a default there wins, and is not a track). openusd's `resolve_info` and
    /// `property_stack` would say the same but decode the samples on the way; the prim stack
    /// and the fields' presence cost no decode. Prims under value clips are left to openusd.
    fn resolve(&mut self, stage: &usd::Stage, attr: &usd::Attribute) -> Option<TrackRef> {
        let ValueSite::TimeSamples(site) = self.value_site(stage, attr)? else {
            return None;
        };
        let key = (site.layer.clone(), site.path.as_str().to_string());
        if !self.tracks.contains_key(&key) {
            let track = self.load(stage, &site.layer, &site.path).map(Arc::new);
            self.tracks.insert(key.clone(), track);
        }
        let track = self.tracks.get(&key)?.clone()?;
        let offset = site.offset;
        if !offset.is_valid() || offset.scale == 0.0 {
            return None;
        }
        Some(TrackRef {
            track,
            offset: offset.offset,
            scale: offset.scale,
        })
    }

    /// Where `attr`'s value is authored, found without decoding it; `None` when clips reach
    /// the prim or the stack cannot be read (ask openusd).
    fn value_site(&mut self, stage: &usd::Stage, attr: &usd::Attribute) -> Option<ValueSite> {
        let prim = attr.prim();
        if self.under_clips(&prim) {
            return None;
        }
        let name = attr.name().to_string();
        let found = prim.prim_stack().ok()?.into_iter().find_map(|site| {
            let path = site.path.append_property(name.as_str()).ok()?;
            let layer = stage.layer(&site.layer)?;
            let data = layer.data();
            if data.has_field(&path, "timeSamples") {
                Some(ValueSite::TimeSamples(SpecSite {
                    layer: site.layer.clone(),
                    path,
                    offset: site.offset,
                }))
            } else if data.has_field(&path, "default") {
                Some(ValueSite::Default(site.layer.clone(), path))
            } else {
                None
            }
        });
        Some(found.unwrap_or(ValueSite::Unauthored))
    }

    /// Whether `prim.name` has more than one time sample, counted without decoding them (the
    /// crate's sample count, or the parsed map's length); `None`: ask openusd.
    pub fn varies(&mut self, stage: &usd::Stage, prim: &usd::Prim, name: &str) -> Option<bool> {
        if self.default_time {
            return Some(false);
        }
        let attr = prim.attribute(name);
        let site = match self.value_site(stage, &attr)? {
            ValueSite::TimeSamples(site) => site,
            ValueSite::Default(..) | ValueSite::Unauthored => return Some(false),
        };
        if let Some(file) = self.crate_file(stage, &site.layer) {
            return file.sample_count(&site.path).map(|n| n > 1);
        }
        let layer = stage.layer(&site.layer)?;
        match layer.data().try_field(&site.path, "timeSamples").ok()??.as_ref() {
            Value::TimeSamples(map) => Some(map.len() > 1),
            _ => None,
        }
    }

    /// Whether `prim` or an ancestor authors value clips (`clips` metadata).
    fn under_clips(&mut self, prim: &usd::Prim) -> bool {
        let path = prim.path().clone();
        if let Some(&known) = self.clips.get(&path) {
            return known;
        }
        let own = prim.get_metadata::<Value>("clips").ok().flatten().is_some();
        let inherited = prim.parent().is_some_and(|parent| self.under_clips(&parent));
        let answer = own || inherited;
        self.clips.insert(path, answer);
        answer
    }

    /// The composed value of `prim.name` at `time` through its track, when it has one: the
    /// samples bracketing the time are decoded (or found in the cache) and interpolated as
    /// openusd does for float 3-vector arrays. `None`: read it through openusd.
    pub fn value_at(&mut self, stage: &usd::Stage, prim: &usd::Prim, name: &str, time: f64) -> Option<Value> {
        let track = self.track(stage, prim, name)?;
        let linear = stage.interpolation_type() == usd::InterpolationType::Linear;
        let points = track.at(&self.cache, time, linear).ok()??;
        Some(Value::Vec3fVec(
            points.iter().map(|p| openusd::gf::vec3f(p[0], p[1], p[2])).collect(),
        ))
    }

    /// Builds the track of the `timeSamples` authored at `path` in layer `identifier`.
    fn load(&mut self, stage: &usd::Stage, identifier: &str, path: &sdf::Path) -> Option<Track> {
        if let Some(file) = self.crate_file(stage, identifier) {
            if let Some(track) = CrateSamples::track(&file, path, identifier) {
                return Some(track);
            }
        }
        // A text layer holds its samples parsed: convert them once.
        let layer = stage.layer(identifier)?;
        let map = layer.data().try_field(path, "timeSamples").ok()??;
        let Value::TimeSamples(map) = map.into_owned() else {
            return None;
        };
        let mut times = Vec::with_capacity(map.len());
        let mut samples = Vec::with_capacity(map.len());
        for (t, v) in &map {
            times.push(*t);
            samples.push(match v {
                Value::Vec3fVec(_) => Some(Arc::from(values::as_vec3_array(v)?)),
                Value::ValueBlock | Value::None => None,
                _ => return None,
            });
        }
        Track::new(times, Box::new(DecodedSamples(samples)), format!("{identifier} {path}"))
    }

    /// The crate file of layer `identifier`, opened once for per-sample reads.
    fn crate_file(&mut self, stage: &usd::Stage, identifier: &str) -> Option<Arc<Crate>> {
        if let Some(file) = self.crates.get(identifier) {
            return file.clone();
        }
        let file = (|| {
            use std::io::{Read, Seek, SeekFrom};
            let real = stage.layer(identifier)?.resolved_path()?.to_string();
            // Only a crate is read whole: a text layer is told by its first bytes.
            let mut magic = [0u8; 8];
            let mut asset = DefaultResolver::new().open_asset(&ResolvedPath::new(&real)).ok()?;
            asset.read_exact(&mut magic).ok()?;
            if magic[..] != openusd::usdc::MAGIC[..] {
                return None;
            }
            asset.seek(SeekFrom::Start(0)).ok()?;
            let bytes = asset.into_buffer().ok()?;
            match CrateFile::open(bytes) {
                Ok(file) => Some(Arc::new(Crate::new(file))),
                Err(e) => {
                    log::debug!("{identifier}: cannot reopen for per-sample reads: {e}");
                    None
                }
            }
        })();
        self.crates.insert(identifier.to_string(), file.clone());
        file
    }
}

thread_local! {
    /// The store of the stage being read on this thread (see [`Scope`]).
    static CURRENT: RefCell<Option<Rc<RefCell<SampleStore>>>> = const { RefCell::new(None) };
}

/// Makes a stage's store the one [`raw`] and [`track`] use on this thread until dropped, as
/// openusd's own `ar::CacheScope` scopes its resolver cache: the reads deep inside extraction
/// (mesh building, counting) reach the store without every function between passing it.
pub struct Scope(Option<Rc<RefCell<SampleStore>>>);

impl Scope {
    pub fn enter(store: &Rc<RefCell<SampleStore>>) -> Scope {
        Scope(CURRENT.with(|c| c.replace(Some(store.clone()))))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

fn current() -> Option<Rc<RefCell<SampleStore>>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The track of `prim.name` in the current store (see [`SampleStore::track`]).
pub fn track(prim: &usd::Prim, name: &str) -> Option<TrackRef> {
    let store = current()?;
    let mut store = store.try_borrow_mut().ok()?;
    store.track(prim.stage(), prim, name)
}

/// The decoded-sample cache of the current store (an empty one outside a scope).
pub fn cache() -> Arc<SampleCache> {
    current()
        .and_then(|s| s.try_borrow().ok().map(|s| s.cache.clone()))
        .unwrap_or_else(|| Arc::new(SampleCache::new(0)))
}

/// Whether `prim` or an ancestor authors value clips, whose attributes may have values no layer
/// of the stage declares; `true` (so callers ask openusd) outside a scope.
pub fn under_clips(prim: &usd::Prim) -> bool {
    current()
        .and_then(|store| store.try_borrow_mut().ok().map(|mut store| store.under_clips(prim)))
        .unwrap_or(true)
}

/// Whether `prim.name` may vary over time (more than one time sample), answered by the current
/// store without decoding samples where it can, else by openusd.
pub fn varies(prim: &usd::Prim, name: &str) -> bool {
    if let Some(store) = current() {
        if let Ok(mut store) = store.try_borrow_mut() {
            if let Some(answer) = store.varies(prim.stage(), prim, name) {
                return answer;
            }
        }
    }
    prim.attribute(name).value_might_be_time_varying().unwrap_or(false)
}

/// Where an attribute's value comes from, as a key: attributes with equal keys read through
/// equal layer offsets hold equal values at every time (the same spec of the same layer).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// Time samples of (layer, spec path).
    Samples(String, String),
    /// A default value of (layer, spec path).
    Default(String, String),
    Unauthored,
}

/// The source of `prim.name` and, for time samples, the layer offset they are read through
/// (`offset`, `scale`: stage time = offset + scale * layer time); `None` when the store cannot
/// tell (value clips, an unreadable stack) or outside a scope.
pub fn source(prim: &usd::Prim, name: &str) -> Option<(Source, f64, f64)> {
    let store = current()?;
    let mut store = store.try_borrow_mut().ok()?;
    let attr = prim.attribute(name);
    Some(match store.value_site(prim.stage(), &attr)? {
        ValueSite::TimeSamples(site) => {
            if !site.offset.is_valid() || site.offset.scale == 0.0 {
                return None;
            }
            (
                Source::Samples(site.layer, site.path.as_str().to_string()),
                site.offset.offset,
                site.offset.scale,
            )
        }
        ValueSite::Default(layer, path) => (Source::Default(layer, path.as_str().to_string()), 0.0, 1.0),
        ValueSite::Unauthored => (Source::Unauthored, 0.0, 1.0),
    })
}

/// Reads `prim.name` at `time`: a tracked attribute's time samples through the current store,
/// one sample at a time; anything else through openusd ([`values::raw`]).
pub fn raw(prim: &usd::Prim, name: &str, time: values::Time) -> Option<Value> {
    if let (Some(t), Some(store)) = (time, current()) {
        if is_tracked(name) && t.value().is_finite() {
            if let Ok(mut store) = store.try_borrow_mut() {
                if let Some(v) = store.value_at(prim.stage(), prim, name, t.value()) {
                    return Some(v);
                }
            }
        }
    }
    values::raw(prim, name, time)
}

/// Where an attribute's strongest value opinion is.
enum ValueSite {
    TimeSamples(SpecSite),
    /// A default value: the layer and spec path that author it.
    Default(String, sdf::Path),
    Unauthored,
}

/// A crate file opened for per-sample reads, with its specs indexed by path once (a lookup per
/// attribute would otherwise scan every spec).
struct Crate {
    file: CrateFile,
    /// Each spec's start in the file's fieldsets, by path.
    fieldsets: HashMap<sdf::Path, usize>,
}

impl Crate {
    fn new(file: CrateFile) -> Crate {
        let fieldsets = file
            .specs
            .iter()
            .filter_map(|s| Some((file.paths.get(s.path_index)?.clone(), s.fieldset_index)))
            .collect();
        Crate { file, fieldsets }
    }

    /// The `timeSamples` field of `path`: the bits of the times' value rep and the place of the
    /// sample count (C++ `CrateFile::_Reader::Read<TimeSamples>`: at the payload, a relative
    /// offset to the times' value rep; after that rep, a relative offset to the sample count and
    /// the samples' value reps).
    fn time_samples(&self, path: &sdf::Path) -> Option<(u64, usize)> {
        let file = &self.file;
        let mut index = *self.fieldsets.get(path)?;
        let mut field = None;
        while let Some(Some(f)) = file.fieldsets.get(index) {
            let f = file.fields.get(*f)?;
            if file.tokens.get(f.token_index).map(String::as_str) == Some("timeSamples") {
                field = Some(f);
                break;
            }
            index += 1;
        }
        let rep = field?.value_rep;
        if rep.is_inlined() {
            return None;
        }
        let bytes: &[u8] = file.bytes();
        let start = usize::try_from(rep.payload()).ok()?;
        let times_at = jump(bytes, start)?;
        let times_rep = u64::from_le_bytes(word(bytes, times_at)?);
        let counts_at = jump(bytes, times_at.checked_add(8)?)?;
        Some((times_rep, counts_at))
    }

    /// How many time samples `path` has, read from the count without decoding them.
    fn sample_count(&self, path: &sdf::Path) -> Option<usize> {
        let (_, counts_at) = self.time_samples(path)?;
        usize::try_from(u64::from_le_bytes(word(self.file.bytes(), counts_at)?)).ok()
    }
}

/// The 8 bytes at `pos`.
fn word(bytes: &[u8], pos: usize) -> Option<[u8; 8]> {
    bytes.get(pos..pos.checked_add(8)?)?.try_into().ok()
}

/// The place a crate's relative offset at `pos` points to.
fn jump(bytes: &[u8], pos: usize) -> Option<usize> {
    let delta = i64::from_le_bytes(word(bytes, pos)?);
    usize::try_from(i64::try_from(pos).ok()?.checked_add(delta)?).ok()
}

/// A point-based prim's `points` as UsdImaging reads them: a typed `Get` of `VtVec3fArray`, so
/// only float 3-vector arrays (`point3f[]`, and by the same bits `float3[]`, `color3f[]`,
/// `normal3f[]`...); double or half arrays, scalars and other types read as nothing and the prim
/// is not drawn (usd-wg's pointsTypes shows four of its sixteen cubes).
pub fn points(prim: &usd::Prim, time: values::Time) -> Option<Vec<[f32; 3]>> {
    match raw(prim, "points", time)? {
        Value::Vec3fVec(a) => Some(a.iter().map(|p| [p.x, p.y, p.z]).collect()),
        _ => None,
    }
}

/// Samples already decoded (from a text layer).
struct DecodedSamples(Vec<Option<Arc<[[f32; 3]]>>>);

impl SampleSource for DecodedSamples {
    fn decode(&self, index: usize) -> Result<Option<Arc<[[f32; 3]]>>, String> {
        self.0.get(index).cloned().ok_or_else(|| format!("no sample {index}"))
    }

    fn is_cached(&self) -> bool {
        true
    }
}

/// The samples of one `timeSamples` field of a usdc layer: each sample's value representation,
/// decoded when a frame asks for it. Shares the layer's one crate file with its other tracks.
struct CrateSamples {
    crate_file: Arc<Crate>,
    /// Each sample's value representation (the crate's 64-bit `ValueRep`).
    reps: Vec<u64>,
}

impl CrateSamples {
    /// Reads the times and sample places of `path`'s `timeSamples` field; `None` when the spec
    /// or field is absent or the layout is not what the crate format says.
    fn track(crate_file: &Arc<Crate>, path: &sdf::Path, identifier: &str) -> Option<Track> {
        let (times_bits, counts_at) = crate_file.time_samples(path)?;
        let file = &crate_file.file;
        let bytes: &[u8] = file.bytes();
        let count = usize::try_from(u64::from_le_bytes(word(bytes, counts_at)?)).ok()?;
        if count > bytes.len() / 8 {
            return None;
        }
        let mut times_rep = file.fields.first()?.value_rep;
        times_rep.0 = times_bits;
        let times = match file.value(times_rep).ok()? {
            Value::DoubleVec(t) => t,
            _ => return None,
        };
        if times.len() != count {
            return None;
        }
        let reps = (0..count)
            .map(|i| word(bytes, counts_at + 8 + i * 8).map(u64::from_le_bytes))
            .collect::<Option<Vec<u64>>>()?;
        // Sorted times, as the crate writes them and a time-sample map is.
        if !times.windows(2).all(|w| w[0] < w[1]) {
            return None;
        }
        let source = CrateSamples {
            crate_file: crate_file.clone(),
            reps,
        };
        Track::new(times, Box::new(source), format!("{identifier} {path}"))
    }
}

impl SampleSource for CrateSamples {
    fn decode(&self, index: usize) -> Result<Option<Arc<[[f32; 3]]>>, String> {
        let bits = *self.reps.get(index).ok_or_else(|| format!("no sample {index}"))?;
        let file = &self.crate_file.file;
        let Some(mut rep) = file.fields.first().map(|f| f.value_rep) else {
            return Err("the crate has no fields".into());
        };
        rep.0 = bits;
        match file.value(rep).map_err(|e| e.to_string())? {
            Value::ValueBlock | Value::None => Ok(None),
            v @ Value::Vec3fVec(_) => Ok(values::as_vec3_array(&v).map(Arc::from)),
            // Not a float 3-vector array: read as nothing, as UsdImaging reads such points.
            _ => Ok(None),
        }
    }

    fn is_cached(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_files_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<CrateFile>();
        send_sync::<CrateSamples>();
    }
}
