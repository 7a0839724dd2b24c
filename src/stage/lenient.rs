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
        let layer = crate::material_files::mtlx::to_usda(text, std::path::Path::new(document))
            .map_err(io::Error::other)?;
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
    document.to_ascii_lowercase().ends_with(".mtlx").then(|| format!("{document}{member}"))
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
/// section pxr requires, or a TOKENS section that declares more decompressed bytes than token
/// names can compress from.
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
    for entry in table.chunks_exact(32).filter(|e| entry_name(e) == b"TOKENS") {
        let mut start = [0u8; 8];
        start.copy_from_slice(&entry[16..24]);
        let start = u64::from_le_bytes(start);
        if start.saturating_add(24) > size {
            return Ok(());
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
    Ok(())
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
    use super::{nesting_depth, repair};

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

    #[test]
    fn leaves_valid_text_alone() {
        let text = "#usda 1.0\n# a .5 comment\ndef \"A\" (references = @./x.usda@</B.5>) { float f = 0.5\n string s = \"a .5\" }\n";
        assert_eq!(repair(text), None);
    }
}
