//! The resolver every stage is opened through, and a second chance for text layers openusd's usda
//! parser rejects but pxr reads.
//!
//! Guards (always): a layer that is not a regular file (a FIFO would block the open forever,
//! `/dev/zero` would be read until memory runs out) or that is larger than the stage's layer
//! budget (a sparse 64 GB file aborted the process allocating it) is refused with
//! an error naming it, before anything is read; openusd reports it as a composition error
//! naming the arc, and the rest of the stage opens.
//!
//! Repairs (only after a plain open failed; the stage then carries a warning saying so): a
//! rewrite of a few pxr-accepted spellings into the strict forms before parsing.
//!
//! Rewrites (each seen in the conformance corpus or third-party files): C++-style comments
//! (`// ...`, `/* ... */`), leading-dot floats (`.5`), triple-quoted strings
//! (`"""..."""`, `'''...'''`), `@@@...@@@` asset paths, a string where an asset is expected, a path
//! where a token is expected, `active = 1`, and a float assigned to an `int`.

use std::borrow::Cow;
use std::io::{self, Seek};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use openusd::ar::{Asset, AssetInfo, DefaultResolver, ResolvedPath, Resolver};

/// Forwards everything to [`DefaultResolver`], refuses layers that are not regular files or are
/// too large, and (when `repair`) repairs `.usda` text as it is read.
#[derive(Default)]
pub struct LenientResolver {
    inner: DefaultResolver,
    repair: bool,
    /// The largest layer file read (`Budget::layer_bytes`).
    max_layer_bytes: u64,
    /// Warnings about the layers read (text pxr would reject), once each, in order.
    notes: Notes,
}

/// Where a resolver leaves its warnings, shared with the stage that opened it.
pub type Notes = Arc<Mutex<Vec<String>>>;

impl LenientResolver {
    /// The guarded resolver of every open; `repair` also rewrites pxr-accepted text.
    pub fn new(repair: bool, max_layer_bytes: u64) -> LenientResolver {
        LenientResolver {
            inner: DefaultResolver::new(),
            repair,
            max_layer_bytes,
            notes: Notes::default(),
        }
    }

    /// The same resolver, leaving its warnings in `notes`.
    pub fn with_notes(self, notes: Notes) -> LenientResolver {
        LenientResolver { notes, ..self }
    }

    fn note(&self, note: String) {
        let mut notes = self.notes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
}

impl LenientResolver {
    /// A MaterialX document, read (within the layer budget) and served as the usda text it
    /// translates to.
    fn open_mtlx(&self, document: &str) -> io::Result<Box<dyn Asset>> {
        check_layer_file(document, self.max_layer_bytes)?;
        let bytes = self.inner.open_asset(&ResolvedPath::new(document))?.read_all()?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| io::Error::other(format!("{document}: not UTF-8 text ({e}); not a MaterialX document")))?;
        let layer =
            crate::material_files::mtlx::to_usda(text, std::path::Path::new(document)).map_err(io::Error::other)?;
        Ok(Box::new(io::Cursor::new(layer.into_bytes())))
    }
}

/// What a resolved `.mtlx` document is called towards openusd, which picks a file format by
/// extension: its own path with this suffix (inside the brackets for a package member). Only
/// [`LenientResolver`] makes and reads these names; no file by the name is ever made.
const MTLX_AS_USDA: &str = ".usdrender.usda";

/// The layer name of a resolved MaterialX document, `None` for anything else.
fn mtlx_layer_path(resolved: &str) -> Option<String> {
    let (outer, member) = match resolved.strip_suffix(']') {
        Some(inner) => (inner, "]"),
        None => (resolved, ""),
    };
    outer
        .to_ascii_lowercase()
        .ends_with(".mtlx")
        .then(|| format!("{outer}{MTLX_AS_USDA}{member}"))
}

/// The MaterialX document behind a name [`mtlx_layer_path`] made.
fn mtlx_document_path(layer: &str) -> Option<String> {
    let (outer, member) = match layer.strip_suffix(']') {
        Some(inner) => (inner, "]"),
        None => (layer, ""),
    };
    let document = outer.strip_suffix(MTLX_AS_USDA)?;
    document
        .to_ascii_lowercase()
        .ends_with(".mtlx")
        .then(|| format!("{document}{member}"))
}

/// An error unless the file behind `resolved` (the package, for a package member) is a regular
/// file no larger than `limit`.
pub fn check_layer_file(resolved: &str, limit: u64) -> io::Result<()> {
    let file =
        openusd::ar::split_package_relative_path_outer(resolved).map_or_else(|| resolved.to_string(), |(p, _)| p);
    let meta = std::fs::metadata(&file)?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "{file} is not a regular file (a FIFO, device or folder): refused"
        )));
    }
    if meta.len() > limit {
        return Err(io::Error::other(format!(
            "{file} is {} bytes, more than the {} bytes a layer may be (half of --max-memory, by default of the machine's memory): refused",
            meta.len(),
            limit
        )));
    }
    if file.to_ascii_lowercase().ends_with(".usdz") && !has_zip_directory_end(&file, meta.len())? {
        return Err(io::Error::other(format!(
            "{file} is not a usdz: no zip end-of-central-directory record in its last 64 KiB: refused"
        )));
    }
    Ok(())
}

/// Whether the last 64 KiB (plus the record itself) of a zip file hold its end-of-central-
/// directory record, where the format says it must be. Looking further back (a 20 GB sparse
/// "usdz" took 166 s to reject) finds nothing a writer could have put there.
fn has_zip_directory_end(file: &str, len: u64) -> io::Result<bool> {
    use io::{Read, SeekFrom};
    const RECORD: u64 = 22;
    let tail_len = len.min(RECORD + u64::from(u16::MAX));
    let mut f = std::fs::File::open(file)?;
    f.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    f.read_exact(&mut tail)?;
    Ok(tail.windows(4).any(|w| w == b"PK\x05\x06"))
}

impl Resolver for LenientResolver {
    fn create_identifier(&self, asset_path: &str, anchor: Option<&ResolvedPath>) -> String {
        self.inner.create_identifier(asset_path, anchor)
    }
    fn resolve(&self, asset_path: &str) -> Option<ResolvedPath> {
        let resolved = self.inner.resolve(asset_path)?;
        Some(match mtlx_layer_path(&resolved.to_string_lossy()) {
            Some(layer) => ResolvedPath::new(layer),
            None => resolved,
        })
    }
    fn resolve_for_new_asset(&self, asset_path: &str) -> Option<ResolvedPath> {
        self.inner.resolve_for_new_asset(asset_path)
    }
    fn open_asset(&self, resolved_path: &ResolvedPath) -> io::Result<Box<dyn Asset>> {
        if let Some(document) = mtlx_document_path(&resolved_path.to_string_lossy()) {
            return self.open_mtlx(&document);
        }
        check_layer_file(&resolved_path.to_string_lossy(), self.max_layer_bytes)?;
        // A member of a package that names it twice is the first of them, as in pxr.
        let mut asset = match super::package::first_member(&self.inner, &resolved_path.to_string_lossy())? {
            Some(member) => member,
            None => self.inner.open_asset(resolved_path)?,
        };
        if starts_with(&mut *asset, openusd::usdc::MAGIC)? {
            check_crate(&mut *asset, &resolved_path.to_string_lossy())?;
            asset.seek(io::SeekFrom::Start(0))?;
            return Ok(asset);
        }
        let is_text = resolved_path.to_string_lossy().to_ascii_lowercase().ends_with(".usda")
            || resolved_path.to_string_lossy().to_ascii_lowercase().ends_with(".usd");
        if !is_text {
            return Ok(asset);
        }
        let bytes = asset.read_all()?;
        if bytes.starts_with(b"#usda") {
            let depth = nesting_depth(&bytes);
            if depth > MAX_NESTING {
                return Err(io::Error::other(format!(
                    "{} nests {depth} levels deep (prims or dictionaries), more than the {MAX_NESTING} usdrender reads: refused",
                    resolved_path.to_string_lossy()
                )));
            }
            if let Some(found) = super::usda_lint::pxr_rejects(&bytes) {
                self.note(format!(
                    "{}:{}: pxr would reject this layer: {}; read as openusd reads it",
                    resolved_path.to_string_lossy(),
                    found.line,
                    found.what
                ));
            }
        }
        if !self.repair {
            return Ok(Box::new(io::Cursor::new(bytes)));
        }
        let repaired = match std::str::from_utf8(&bytes) {
            Ok(text) if text.starts_with("#usda") => repair(text).map(String::into_bytes),
            _ => None,
        };
        Ok(Box::new(io::Cursor::new(repaired.unwrap_or(bytes))))
    }
    fn get_extension<'a>(&self, asset_path: &'a str) -> &'a str {
        self.inner.get_extension(asset_path)
    }
    fn is_context_dependent_path(&self, asset_path: &str) -> bool {
        self.inner.is_context_dependent_path(asset_path)
    }
    fn in_memory_identifier<'a>(&self, asset_path: &'a str) -> Cow<'a, str> {
        self.inner.in_memory_identifier(asset_path)
    }
    fn get_asset_info(&self, asset_path: &str, resolved_path: &ResolvedPath) -> AssetInfo {
        self.inner.get_asset_info(asset_path, resolved_path)
    }
    fn get_modification_timestamp(&self, asset_path: &str, resolved_path: &ResolvedPath) -> Option<SystemTime> {
        self.inner.get_modification_timestamp(asset_path, resolved_path)
    }
    fn identity(&self) -> String {
        format!("usdrender-lenient:{}", self.inner.identity())
    }
}

/// The type word of the statement a line starts (`asset`, `token`, `int`...), qualifiers skipped.
/// Whether the asset's bytes start with `magic` (the read position is put back at 0).
fn starts_with(asset: &mut dyn Asset, magic: &[u8]) -> io::Result<bool> {
    let mut head = vec![0u8; magic.len()];
    let got = asset.read(&mut head)?;
    asset.seek(io::SeekFrom::Start(0))?;
    Ok(got == magic.len() && head == magic)
}

/// Most a crate's TOKENS section may expand when decompressed, as a multiple of its compressed
/// size: token names compress about 2:1 (the corpus' highest is 1.97); a block of NULs expands
/// 255:1 and each NUL becomes a token (a 1 MB file reached 6.6 GB in openusd).
const MAX_TOKEN_EXPANSION: u64 = 32;

/// The sections every crate has; pxr refuses a crate missing any of them ("Crate file missing
/// TOKENS section"), where openusd read some such crates as an empty layer.
const CRATE_SECTIONS: [&str; 6] = ["TOKENS", "STRINGS", "FIELDS", "FIELDSETS", "PATHS", "SPECS"];

/// Reads a crate's section table and refuses, before openusd allocates for it, a crate missing a
/// section pxr requires, a TOKENS section that declares more decompressed bytes than token
/// names can compress from, or a PATHS section deeper than [`MAX_NESTING`] or whose counts do not
/// fit (openusd stores each path as its whole string: an 87 KB crate whose paths are one chain
/// 100,000 deep passed 16 GB in 68 s).
fn check_crate(asset: &mut dyn Asset, name: &str) -> io::Result<()> {
    use io::SeekFrom;
    let refuse = |what: String| io::Error::other(format!("{name}: {what}: refused"));
    let u64_at = |asset: &mut dyn Asset, pos: u64| -> io::Result<u64> {
        let mut b = [0u8; 8];
        asset.seek(SeekFrom::Start(pos))?;
        asset.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    };
    let size = asset.size()?;
    let toc = u64_at(asset, 16)?;
    if toc.saturating_add(8) > size {
        return Ok(()); // openusd reports the bad table of contents itself
    }
    // Each entry: a 16-byte NUL-padded name, then the section's start and size. The table is read
    // whole, as far as the file holds it (so at most the file's size).
    let declared = u64_at(asset, toc)?;
    let entries = declared.min((size - toc - 8) / 32);
    let mut table = vec![0u8; (entries * 32) as usize];
    asset.seek(SeekFrom::Start(toc + 8))?;
    asset.read_exact(&mut table)?;
    let entry_name = |entry: &[u8]| {
        let name = &entry[..16];
        name[..name.iter().position(|&b| b == 0).unwrap_or(16)].to_vec()
    };
    if let Some(missing) = CRATE_SECTIONS
        .iter()
        .find(|wanted| !table.chunks_exact(32).any(|e| entry_name(e) == wanted.as_bytes()))
    {
        return Err(refuse(format!(
            "a crate with no {missing} section ({declared} sections in its table; pxr refuses it too)"
        )));
    }
    let entry_start = |entry: &[u8]| {
        let mut start = [0u8; 8];
        start.copy_from_slice(&entry[16..24]);
        u64::from_le_bytes(start)
    };
    for entry in table.chunks_exact(32).filter(|e| entry_name(e) == b"TOKENS") {
        let start = entry_start(entry);
        if start.saturating_add(24) > size {
            continue; // openusd reports it
        }
        let count = u64_at(asset, start)?;
        let uncompressed = u64_at(asset, start + 8)?;
        let compressed = u64_at(asset, start + 16)?;
        if uncompressed > compressed.saturating_mul(MAX_TOKEN_EXPANSION).saturating_add(1 << 16) {
            return Err(refuse(format!(
                "its TOKENS section declares {uncompressed} bytes from {compressed} compressed (a decompression bomb)"
            )));
        }
        if count > uncompressed {
            return Err(refuse(format!(
                "its TOKENS section declares {count} tokens in {uncompressed} bytes"
            )));
        }
    }
    // openusd reads the first PATHS section, and reads it only from crate version 0.4.0.
    let mut version = [0u8; 3];
    asset.seek(SeekFrom::Start(8))?;
    asset.read_exact(&mut version)?;
    if let Some(entry) = table.chunks_exact(32).find(|e| entry_name(e) == b"PATHS") {
        if version >= [0, 4, 0] {
            let tables = match read_path_tables(asset, entry_start(entry), size)? {
                Ok(Some(tables)) => tables,
                Ok(None) => return Ok(()), // openusd reports what it cannot decode
                Err(what) => return Err(refuse(what)),
            };
            let depth = namespace_depth(&tables).map_err(refuse)?;
            if depth > MAX_NESTING {
                return Err(refuse(format!(
                    "its namespace nests {depth} levels deep, more than the {MAX_NESTING} usdrender reads"
                )));
            }
        }
    }
    Ok(())
}

/// A crate's PATHS section as openusd decodes it (`read_compressed_paths`): element `i` of the
/// three tables is one path, in depth-first order.
struct PathTables {
    /// Slots in the path table (one more than the encoded paths when the empty path has one).
    slots: usize,
    /// The slot each encoded path fills.
    path_indexes: Vec<i32>,
    /// The element's token; negative for a property.
    element_tokens: Vec<i32>,
    /// Whether the element has a child (the next element) and where its next sibling is.
    jumps: Vec<i32>,
}

/// Reads the PATHS section at `start` as openusd will: `Ok(None)` where openusd fails on its own
/// before it allocates for the paths, `Err` (the reason) where a declared count does not fit in
/// the file. What is allocated is bounded by the section's bytes, never by a declared count.
fn read_path_tables(asset: &mut dyn Asset, start: u64, size: u64) -> io::Result<Result<Option<PathTables>, String>> {
    let mut pos = start;
    let mut read = |asset: &mut dyn Asset, len: u64| -> io::Result<Option<Vec<u8>>> {
        if pos.saturating_add(len) > size {
            return Ok(None);
        }
        let mut bytes = vec![0u8; len as usize]; // at most the file's size
        asset.seek(io::SeekFrom::Start(pos))?;
        asset.read_exact(&mut bytes)?;
        pos += len;
        Ok(Some(bytes))
    };
    let mut u64s = [0u64; 2];
    for n in &mut u64s {
        match read(asset, 8)? {
            Some(b) => *n = u64::from_le_bytes(b.try_into().unwrap_or_default()),
            None => return Ok(Ok(None)),
        }
    }
    let [slots, count] = u64s;
    // openusd's own check, made before it reads the tables.
    if slots.checked_sub(count).is_none_or(|empty| empty > 1) {
        return Ok(Ok(None));
    }
    let mut tables = Vec::with_capacity(3);
    for table in ["path index", "element token", "jump"] {
        let Some(compressed) = read(asset, 8)? else {
            return Ok(Ok(None));
        };
        let compressed = u64::from_le_bytes(compressed.try_into().unwrap_or_default());
        let Some(input) = read(asset, compressed)? else {
            return Ok(Err(format!(
                "its PATHS section's {table} table declares {compressed} compressed bytes, past the end of the file"
            )));
        };
        // LZ4 expands a byte at most 255 times; openusd decompresses into at most this
        // (`read_compressed`), and each integer takes at least 2 bits of it.
        let most = compressed.saturating_mul(255).saturating_add(64).min(4 << 30);
        if count.div_ceil(4).saturating_add(4) > most {
            return Ok(Err(format!(
                "its PATHS section declares {count} paths, more than its {compressed}-byte {table} table can hold"
            )));
        }
        let estimated = if count == 0 {
            0
        } else {
            4 + (2 * count).div_ceil(8) + 4 * count
        };
        let mut output = vec![0u8; estimated.min(most) as usize];
        // USD's TfFastCompression: a chunk count (0: one LZ4 block), then the block.
        let decompressed = match input.split_first() {
            Some((0, block)) => match lz4_flex::decompress_into(block, &mut output) {
                Ok(n) => n,
                Err(_) => return Ok(Ok(None)),
            },
            _ => return Ok(Ok(None)),
        };
        match decode_ints(&output[..decompressed], count as usize) {
            Some(ints) if ints.len() as u64 == count => tables.push(ints),
            _ => return Ok(Ok(None)),
        }
    }
    let (Some(jumps), Some(element_tokens), Some(path_indexes)) = (tables.pop(), tables.pop(), tables.pop()) else {
        return Ok(Ok(None));
    };
    if path_indexes.iter().any(|&i| u64::from(i as u32) >= slots) {
        return Ok(Ok(None)); // openusd's own check, made before it allocates the slots
    }
    Ok(Ok(Some(PathTables {
        slots: slots as usize,
        path_indexes,
        element_tokens,
        jumps,
    })))
}

/// USD's integer coding (`Usd_IntegerCompression`) of `count` 32-bit integers, as openusd's
/// `coding::decode_ints` reads it (private there): a common value, 2-bit codes four to a byte,
/// then the deltas that are not the common one (8, 16 or 32 bits). `None` where `data` ends
/// early.
fn decode_ints(data: &[u8], count: usize) -> Option<Vec<i32>> {
    if count == 0 {
        return Some(Vec::new());
    }
    let common = i64::from(i32::from_le_bytes(data.get(..4)?.try_into().ok()?));
    let code_bytes = count.checked_mul(2)?.div_ceil(8);
    let codes = data.get(4..4 + code_bytes)?;
    let mut at = 4 + code_bytes;
    let mut take = |len: usize| {
        let bytes = data.get(at..at + len)?;
        at += len;
        Some(bytes)
    };
    let mut prev = 0i64;
    let mut out = Vec::with_capacity(count.min(data.len().saturating_mul(4)));
    for &code in codes {
        for i in 0..4 {
            let delta = match (code >> (2 * i)) & 3 {
                0 => common,
                1 => i64::from(take(1)?[0] as i8),
                2 => i64::from(i16::from_le_bytes(take(2)?.try_into().ok()?)),
                _ => i64::from(i32::from_le_bytes(take(4)?.try_into().ok()?)),
            };
            prev = prev.wrapping_add(delta);
            out.push(prev as i32);
        }
    }
    out.truncate(count);
    Some(out)
}

/// The deepest path in a crate's PATHS tables, in namespace levels: prim names and variant
/// selections count, a property does not (`/a/b.c` is 2). The walk is openusd's
/// `build_compressed_paths` with a depth where it builds a path string (so each slot holds
/// what openusd's would, including a root restarted where a parent slot is still empty), and no
/// recursion. `Err` where the jumps reach one element twice: openusd would rebuild subtrees
/// without end (each element reachable as a child and as a sibling doubles the work).
fn namespace_depth(tables: &PathTables) -> Result<usize, String> {
    const EMPTY: u32 = u32::MAX;
    let PathTables {
        slots,
        path_indexes,
        element_tokens,
        jumps,
    } = tables;
    if path_indexes.is_empty() {
        return Ok(0);
    }
    let mut depths = vec![EMPTY; *slots];
    let (mut deepest, mut visits) = (0u32, 0usize);
    // (next element, its parent's depth) for sibling subtrees still to walk.
    let mut pending = vec![(0usize, EMPTY)];
    while let Some((mut next, mut parent)) = pending.pop() {
        loop {
            let index = next;
            next += 1;
            if index >= jumps.len() {
                return Ok(deepest as usize); // openusd fails here, as on any index out of range
            }
            visits += 1;
            if visits > jumps.len() {
                return Err(format!(
                    "its PATHS section's jumps walk more than its {} paths (an element reached twice: openusd would rebuild it without end)",
                    jumps.len()
                ));
            }
            if parent == EMPTY {
                parent = 0; // the root: openusd puts it at this element's own index
                let Some(slot) = depths.get_mut(index) else {
                    return Ok(deepest as usize);
                };
                *slot = 0;
            } else {
                let (Some(&token), Some(&slot)) = (element_tokens.get(index), path_indexes.get(index)) else {
                    return Ok(deepest as usize);
                };
                let depth = if token < 0 {
                    parent
                } else {
                    parent.saturating_add(1).min(EMPTY - 1)
                };
                let Some(at) = depths.get_mut(slot as u32 as usize) else {
                    return Ok(deepest as usize);
                };
                *at = depth;
                deepest = deepest.max(depth);
            }
            let Some(&jump) = jumps.get(index) else {
                return Ok(deepest as usize);
            };
            let has_child = jump > 0 || jump == -1;
            let has_sibling = jump >= 0;
            if has_child {
                if has_sibling {
                    pending.push((index + jump as usize, parent));
                }
                let slot = path_indexes.get(index).map(|&s| s as u32 as usize);
                let Some(&depth) = slot.and_then(|s| depths.get(s)) else {
                    return Ok(deepest as usize);
                };
                parent = depth;
            }
            if !has_child && !has_sibling {
                break;
            }
        }
    }
    Ok(deepest as usize)
}

/// The deepest nesting a text layer may have (prim blocks and dictionaries together). openusd's
/// path handling costs grow with the cube of the depth (2,000 nested prims took 20 s, 7,000
/// overflowed the stack); real stages nest a few dozen levels.
pub const MAX_NESTING: usize = 512;

/// How deep `{ }` blocks nest in usda text, outside strings and comments: a linear scan, so a
/// hostile file is measured before the parser (which recurses) sees it.
pub fn nesting_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < text.len() {
        match text[i] {
            b'#' => {
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if text.get(i + 1) == Some(&b'/') => {
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if text.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < text.len() && !(text[i] == b'*' && text[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            q @ (b'"' | b'\'') => {
                let triple = text.get(i + 1) == Some(&q) && text.get(i + 2) == Some(&q);
                i += if triple { 3 } else { 1 };
                while i < text.len() {
                    if text[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if text[i] == q && (!triple || (text.get(i + 1) == Some(&q) && text.get(i + 2) == Some(&q))) {
                        i += if triple { 2 } else { 0 };
                        break;
                    }
                    if !triple && text[i] == b'\n' {
                        break;
                    }
                    i += 1;
                }
            }
            b'@' => {
                // An asset path; `@@@` quotes one that may hold `@`.
                let triple = text.get(i + 1) == Some(&b'@') && text.get(i + 2) == Some(&b'@');
                i += if triple { 3 } else { 1 };
                while i < text.len() {
                    if text[i] == b'@'
                        && (!triple || (text.get(i + 1) == Some(&b'@') && text.get(i + 2) == Some(&b'@')))
                    {
                        i += if triple { 2 } else { 0 };
                        break;
                    }
                    i += 1;
                }
            }
            b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

fn statement_type(line: &str) -> &str {
    let mut words = line.split_whitespace();
    let mut w = words.next().unwrap_or("");
    while matches!(w, "uniform" | "custom" | "varying" | "config") {
        w = words.next().unwrap_or("");
    }
    w.trim_end_matches("[]")
}

/// Escapes raw text as the body of a double-quoted usda string.
fn push_escaped(out: &mut String, body: &str) {
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\'') => out.push('\''),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str("\\\\"),
            },
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
}

/// Finds the end of a literal opened by `delim` at `start` (the index after the delimiter),
/// honouring backslash escapes. Returns the index of the closing delimiter.
fn find_close(text: &str, start: usize, delim: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        // Compare bytes: `i` may sit inside a multi-byte character.
        if bytes[i..].starts_with(delim.as_bytes()) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Rewrites pxr-accepted spellings that openusd's parser rejects; `None` when nothing changed.
pub fn repair(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 64);
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut changed = false;
    // The statement type of the current line, found once per line (not per character: a line can
    // hold megabytes of array values).
    let mut kind = statement_type(text.lines().next().unwrap_or(""));
    while i < bytes.len() {
        let c = bytes[i];
        let rest = &text[i..];
        match c {
            b'\n' => {
                out.push('\n');
                i += 1;
                kind = statement_type(text[i..].lines().next().unwrap_or(""));
            }
            b'#' => {
                let end = rest.find('\n').map_or(bytes.len(), |e| i + e);
                out.push_str(&text[i..end]);
                i = end;
            }
            // C++-style comments, which pxr's usda reader accepts and openusd's does not: `//` to
            // the end of the line becomes a `#` comment, `/* ... */` becomes spaces (its line
            // breaks kept, so the parser's line numbers still match the file).
            b'/' if rest.starts_with("//") => {
                let end = rest.find('\n').map_or(bytes.len(), |e| i + e);
                out.push('#');
                out.push_str(&text[i + 2..end]);
                changed = true;
                i = end;
            }
            b'/' if rest.starts_with("/*") => {
                let end = rest[2..].find("*/").map_or(bytes.len(), |e| i + 2 + e + 2);
                out.extend(text[i..end].chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
                changed = true;
                i = end;
            }
            b'"' | b'\'' if rest.starts_with("\"\"\"") || rest.starts_with("'''") => {
                let delim = &rest[..3];
                let Some(end) = find_close(text, i + 3, delim) else {
                    out.push_str(rest);
                    break;
                };
                out.push('"');
                push_escaped(&mut out, &text[i + 3..end]);
                out.push('"');
                changed = true;
                i = end + 3;
            }
            b'"' | b'\'' => {
                let delim = if c == b'"' { "\"" } else { "'" };
                let Some(end) = find_close(text, i + 1, delim) else {
                    // Unterminated: leave the rest for the parser to report.
                    out.push_str(rest);
                    break;
                };
                let body = &text[i + 1..end];
                if kind == "asset" && !body.contains("@@@") {
                    // An `@` inside needs the triple delimiter.
                    let delim = if body.contains('@') { "@@@" } else { "@" };
                    out.push_str(delim);
                    out.push_str(body);
                    out.push_str(delim);
                    changed = true;
                } else {
                    out.push_str(&text[i..end + 1]);
                }
                i = end + 1;
            }
            b'@' if rest.starts_with("@@@") => {
                // The body ends at the first `@@@` not escaped as `\@@@`.
                let mut end = None;
                let mut j = i + 3;
                while let Some(k) = text[j..].find("@@@").map(|k| j + k) {
                    if bytes[k - 1] == b'\\' {
                        j = k + 3;
                    } else {
                        end = Some(k);
                        break;
                    }
                }
                let Some(end) = end else {
                    out.push_str(rest);
                    break;
                };
                let body = text[i + 3..end].replace("\\@@@", "@@@");
                out.push_str("@@@");
                // openusd reads no escapes here; an `@@@` inside cannot be spelled, so it is
                // percent-encoded (the path then resolves to nothing, which pxr's would not either
                // unless such a file exists).
                out.push_str(&body.replace("@@@", "%40%40%40"));
                out.push_str("@@@");
                changed = true;
                i = end + 3;
            }
            b'@' => {
                let end = rest[1..].find('@').map_or(bytes.len(), |e| i + 1 + e);
                out.push_str(&text[i..(end + 1).min(bytes.len())]);
                i = end + 1;
            }
            b'<' => {
                let end = rest.find('>').map_or(bytes.len(), |e| i + e);
                let before = out.trim_end();
                let this_line = &before[before.rfind('\n').map_or(0, |n| n + 1)..];
                if kind == "token" && before.ends_with('=') && !this_line.contains(".connect") {
                    out.push('"');
                    out.push_str(&text[i + 1..end]);
                    out.push('"');
                    changed = true;
                } else {
                    out.push_str(&text[i..(end + 1).min(bytes.len())]);
                }
                i = end + 1;
            }
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                && out.chars().last().is_some_and(|p| "=([{,:+- \t".contains(p)) =>
            {
                out.push_str("0.");
                changed = true;
                i += 1;
            }
            b'0'..=b'9' if kind == "int" && out.trim_end().ends_with('=') => {
                // A float literal assigned to an int: pxr truncates it.
                let end = rest
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || "+-.".contains(ch)))
                    .map_or(bytes.len(), |e| i + e);
                let literal = &text[i..end];
                match literal.parse::<f64>() {
                    Ok(v) if literal.contains(['.', 'e', 'E']) && v.is_finite() => {
                        out.push_str(&format!("{}", v.trunc() as i64));
                        changed = true;
                    }
                    _ => out.push_str(literal),
                }
                i = end;
            }
            b'a' if rest.starts_with("active")
                && !out.chars().last().is_some_and(|p| p.is_alphanumeric() || p == '_') =>
            {
                // `active = 1` / `active = 0`: pxr reads an integer as a bool here.
                let tail = &rest["active".len()..];
                let trimmed = tail.trim_start();
                let value = trimmed.strip_prefix('=').map(str::trim_start);
                match value.and_then(|v| v.chars().next()).filter(|d| *d == '0' || *d == '1') {
                    Some(d) if !value.is_some_and(|v| v[1..].starts_with(|ch: char| ch.is_ascii_alphanumeric())) => {
                        out.push_str(if d == '1' { "active = true" } else { "active = false" });
                        // `value` is a suffix of `text` starting at the digit.
                        i = text.len() - value.map_or(0, str::len) + 1;
                        changed = true;
                    }
                    _ => {
                        out.push_str("active");
                        i += "active".len();
                    }
                }
            }
            _ => {
                let ch = rest.chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::{check_crate, decode_ints, namespace_depth, nesting_depth, read_path_tables, repair, PathTables};

    #[test]
    fn rewrites_what_pxr_accepts() {
        let cases = [
            ("float[] w = [.5, 1, -.25]\n", "float[] w = [0.5, 1, -0.25]\n"),
            ("asset a = \"tex.png\"\n", "asset a = @tex.png@\n"),
            ("string s = \"\"\"a\n\"b\".\"\"\"\n", "string s = \"a\\n\\\"b\\\".\"\n"),
            ("token t = </A/b.outputs:out>\n", "token t = \"/A/b.outputs:out\"\n"),
            (
                "def Mesh \"m\" ( active = 1) {}\n",
                "def Mesh \"m\" ( active = true) {}\n",
            ),
            ("int a = 3.12\n", "int a = 3\n"),
            ("asset f = @@@a\\@@@.png@@@\n", "asset f = @@@a%40%40%40.png@@@\n"),
            ("asset g = 'b@a.png'\n", "asset g = @@@b@a.png@@@\n"),
        ];
        for (input, expected) in cases {
            let text = format!("#usda 1.0\n{input}");
            assert_eq!(repair(&text), Some(format!("#usda 1.0\n{expected}")), "{input:?}");
        }
    }

    #[test]
    fn never_panics_on_arbitrary_text() {
        // A small deterministic generator over characters that steer the rewriter, multi-byte ones
        // included (a slice inside a character would panic).
        let alphabet: Vec<char> = "\"'@<>=.[]()#\\\n 0123456789activeassettokenint é響".chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..3000 {
            let len = (state % 60) as usize;
            let mut text = String::from("#usda 1.0\n");
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let _ = repair(&text);
        }
    }

    #[test]
    fn cxx_comments_become_usda_comments() {
        let text = "#usda 1.0\n// a comment\ndef Cube \"c\" /* block\n comment */ {\n    double size = 2 // trailing\n    string s = \"// not a comment\"\n}\n";
        let fixed = repair(text).expect("rewritten");
        assert!(fixed.contains("# a comment") && fixed.contains("# trailing"), "{fixed}");
        assert!(fixed.contains("\"// not a comment\""), "strings untouched: {fixed}");
        assert_eq!(fixed.lines().count(), text.lines().count(), "line numbers kept");
    }

    #[test]
    fn nesting_is_measured_outside_strings_and_comments() {
        assert_eq!(nesting_depth(b"#usda 1.0\ndef \"a\" { def \"b\" { } }"), 2);
        assert_eq!(nesting_depth(b"#usda 1.0\n# {{{{\ndef \"a\" { string s = \"{{{\" }"), 1);
        assert_eq!(nesting_depth(b"def \"a\" { // {{{\n /* {{ */ asset x = @{{@ }"), 1);
        assert_eq!(nesting_depth(b"dictionary d = { dictionary e = { } }"), 2);
        let deep = "def \"p\" {\n".repeat(3000) + &"}\n".repeat(3000);
        assert_eq!(nesting_depth(deep.as_bytes()), 3000);
    }

    /// Tables for `jumps` as pxr writes them: element `i` fills slot `i`, named by token 1.
    fn tables(jumps: &[i32], properties: &[usize]) -> PathTables {
        let n = jumps.len();
        PathTables {
            slots: n,
            path_indexes: (0..n as i32).collect(),
            element_tokens: (0..n).map(|i| if properties.contains(&i) { -1 } else { 1 }).collect(),
            jumps: jumps.to_vec(),
        }
    }

    #[test]
    fn crate_path_depth_follows_children_and_siblings() {
        // 0 /            (child 1)
        // 1 /a           (child 2, sibling 6)
        // 2 /a/b         (child 3, sibling 5)
        // 3 /a/b/c       (child 4)
        // 4 /a/b/c.x     (property, neither)
        // 5 /a/d         (neither)
        // 6 /e           (child 7)
        // 7 /e/f         (neither)
        let t = tables(&[-1, 5, 3, -1, -2, -2, -1, -2], &[4]);
        assert_eq!(namespace_depth(&t), Ok(3));
        // Siblings only: /a /b /c, all one level.
        assert_eq!(namespace_depth(&tables(&[-1, 0, 0, -2], &[])), Ok(1));
        // A chain: each element the next one's parent.
        let mut chain = vec![-1; 2000];
        chain[1999] = -2;
        assert_eq!(namespace_depth(&tables(&chain, &[])), Ok(1999));
        // Every element after the first two reached as a child and as a sibling (jump 2): openusd's
        // walk would grow as the Fibonacci numbers; refused.
        let mut twice = vec![2; 60];
        twice[0] = -1;
        twice[58] = -1;
        twice[59] = -2;
        assert!(namespace_depth(&tables(&twice, &[])).is_err());
        // Jumps past the table stop the walk where openusd fails.
        assert_eq!(namespace_depth(&tables(&[-1, 100, -2], &[])), Ok(2));
        assert_eq!(namespace_depth(&tables(&[], &[])), Ok(0));
    }

    #[test]
    fn crates_openusd_writes_are_measured_as_written() {
        // `depth` nested prims, the innermost with a property and a variant holding one more
        // prim: the variant selection and its prim are two levels more, the property none.
        let dir = std::env::temp_dir().join(format!("usdrender-crate-depth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for depth in [4, 600] {
            let text = format!(
                "#usda 1.0\n{}def \"leaf\" (\n variantSets = \"v\"\n variants = {{ string v = \"a\" }}\n)\n{{\n float x = 1\n variantSet \"v\" = {{\n \"a\" {{ def \"q\" {{ }} }}\n }}\n}}\n{}",
                "def \"p\" {\n".repeat(depth - 1),
                "}\n".repeat(depth - 1)
            );
            let (usda, usdc) = (dir.join(format!("{depth}.usda")), dir.join(format!("{depth}.usdc")));
            std::fs::write(&usda, text).unwrap();
            crate::stage::write_usdc(&usda, &usdc).expect("write the crate");
            let bytes = std::fs::read(&usdc).unwrap();
            let toc = u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
            let paths = (0..u64::from_le_bytes(bytes[toc..toc + 8].try_into().unwrap()) as usize)
                .map(|i| toc + 8 + i * 32)
                .find(|&at| bytes[at..at + 16].starts_with(b"PATHS\0"))
                .map(|at| u64::from_le_bytes(bytes[at + 16..at + 24].try_into().unwrap()))
                .expect("a PATHS section");
            let mut asset = std::io::Cursor::new(bytes.clone());
            let tables = read_path_tables(&mut asset, paths, bytes.len() as u64).unwrap();
            let tables = tables.expect("counts fit").expect("decoded as openusd decodes it");
            assert_eq!(namespace_depth(&tables), Ok(depth + 2), "{depth}");
            let checked = check_crate(&mut asset, "t.usdc");
            if depth > 500 {
                let said = checked.expect_err("refused").to_string();
                assert!(said.contains("t.usdc: its namespace nests 602 levels deep"), "{said}");
            } else {
                checked.expect("opens");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn crate_integers_decode_as_usd_codes_them() {
        // Common value 1; codes: common, small (i8 -3), medium (i16 1000), large (i32 1<<20),
        // then one more common.
        let mut data = 1i32.to_le_bytes().to_vec();
        data.extend([0b1110_0100, 0b0000_0000]);
        data.push(-3i8 as u8);
        data.extend(1000i16.to_le_bytes());
        data.extend((1i32 << 20).to_le_bytes());
        assert_eq!(
            decode_ints(&data, 5),
            Some(vec![1, -2, 998, 998 + (1 << 20), 999 + (1 << 20)])
        );
        assert_eq!(decode_ints(&data[..data.len() - 1], 5), None, "ends early");
        assert_eq!(decode_ints(&[], 0), Some(vec![]));
    }

    #[test]
    fn leaves_valid_text_alone() {
        let text = "#usda 1.0\n# a .5 comment\ndef \"A\" (references = @./x.usda@</B.5>) { float f = 0.5\n string s = \"a .5\" }\n";
        assert_eq!(repair(text), None);
    }
}
