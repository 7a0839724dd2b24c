//! Package members by their first name: a usdz (a zip) may list two members under one name, and
//! pxr's usdz resolver serves the first of them, where openusd (through the `zip` crate) serves
//! the last. A package whose central directory names no member twice is left to openusd; one that
//! does has its members read here, from the central directory, the first of each name winning,
//! at every level of a nested package path (`outer.usdz[inner.usdz[layer.usda]]`).
//!
//! usdz members are stored uncompressed (the format requires it), so a member's bytes are a range
//! of its package: the central directory gives the local header, the local header the start.

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

use openusd::ar::{self, Asset, DefaultResolver, ResolvedPath, Resolver};

/// The end-of-central-directory record's signature and fixed size.
pub(crate) const END_SIGNATURE: &[u8; 4] = b"PK\x05\x06";
const END_LEN: u64 = 22;
/// A central directory record's signature and fixed size.
pub(crate) const RECORD_SIGNATURE: &[u8; 4] = b"PK\x01\x02";
const RECORD_LEN: usize = 46;
/// A local file header's signature and fixed size.
pub(crate) const LOCAL_SIGNATURE: &[u8; 4] = b"PK\x03\x04";
const LOCAL_LEN: usize = 30;

/// One member as the central directory lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    /// Compression method (0: stored, the only one usdz allows).
    method: u16,
    /// Bytes as stored.
    size: u64,
    /// Where its local header starts.
    local_header: u64,
}

/// A zip's central directory, in the order it lists members.
#[derive(Debug)]
pub struct Directory {
    pub members: Vec<Member>,
}

impl Directory {
    /// Whether some name is listed twice.
    pub fn has_duplicates(&self) -> bool {
        let mut seen = HashSet::new();
        self.members.iter().any(|m| !seen.insert(m.name.as_str()))
    }

    /// The first member called `name`, as pxr finds it.
    pub fn first(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The central directory of the zip `r` (`len` bytes), or `None` when there is none to read here:
/// no end record in the last 64 KiB, a zip64 directory (sizes past 4 GiB, beyond any layer budget
/// usdrender reads whole) or a directory that does not fit the file. openusd then reports what
/// is wrong, as before.
pub fn directory(r: &mut (impl Read + Seek + ?Sized), len: u64) -> io::Result<Option<Directory>> {
    let tail_len = len.min(END_LEN + u64::from(u16::MAX));
    if tail_len < END_LEN {
        return Ok(None);
    }
    r.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    // The last signature whose record fits: a comment may hold the signature's bytes too.
    let Some(end) = (0..=tail.len() - END_LEN as usize)
        .rev()
        .find(|&i| &tail[i..i + 4] == END_SIGNATURE)
    else {
        return Ok(None);
    };
    let count = u16_at(&tail, end + 10);
    let (dir_size, dir_start) = (u64::from(u32_at(&tail, end + 12)), u64::from(u32_at(&tail, end + 16)));
    if count == u16::MAX || dir_size == u64::from(u32::MAX) || dir_start == u64::from(u32::MAX) {
        return Ok(None); // zip64
    }
    if dir_start.saturating_add(dir_size) > len {
        return Ok(None);
    }
    r.seek(SeekFrom::Start(dir_start))?;
    let mut dir = vec![0u8; dir_size as usize];
    r.read_exact(&mut dir)?;
    let mut members = Vec::with_capacity(usize::from(count));
    let mut at = 0;
    while at + RECORD_LEN <= dir.len() && &dir[at..at + 4] == RECORD_SIGNATURE {
        let name_len = usize::from(u16_at(&dir, at + 28));
        let skip = name_len + usize::from(u16_at(&dir, at + 30)) + usize::from(u16_at(&dir, at + 32));
        let Some(name) = dir.get(at + RECORD_LEN..at + RECORD_LEN + name_len) else {
            return Ok(None);
        };
        members.push(Member {
            name: String::from_utf8_lossy(name).into_owned(),
            method: u16_at(&dir, at + 10),
            size: u64::from(u32_at(&dir, at + 20)),
            local_header: u64::from(u32_at(&dir, at + 42)),
        });
        at += RECORD_LEN + skip;
    }
    Ok(Some(Directory { members }))
}

/// The bytes of `member` of the package `r` (`len` bytes); `package` names it in errors.
fn member_bytes(r: &mut (impl Read + Seek + ?Sized), len: u64, member: &Member, package: &str) -> io::Result<Vec<u8>> {
    let bad = |what: &str| io::Error::other(format!("{package}[{}]: {what}", member.name));
    if member.method != 0 {
        return Err(bad("a compressed member (usdz members must be stored)"));
    }
    let mut header = [0u8; LOCAL_LEN];
    r.seek(SeekFrom::Start(member.local_header))?;
    r.read_exact(&mut header)
        .map_err(|_| bad("its local header is past the end of the package"))?;
    if &header[..4] != LOCAL_SIGNATURE {
        return Err(bad("no local header where the central directory says"));
    }
    let start =
        member.local_header + (LOCAL_LEN + usize::from(u16_at(&header, 26)) + usize::from(u16_at(&header, 28))) as u64;
    if start.saturating_add(member.size) > len {
        return Err(bad("its bytes run past the end of the package"));
    }
    r.seek(SeekFrom::Start(start))?;
    let mut bytes = vec![0u8; member.size as usize];
    r.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The member a package-relative `id` (`pkg.usdz[member]`, nested or not) names, read here when a
/// package on the way names some member twice (so the first wins, as in pxr); `None` when no
/// package on the way does, for openusd to serve as usual. Plain paths are `None` too.
pub fn first_member(resolver: &DefaultResolver, id: &str) -> io::Result<Option<Box<dyn Asset>>> {
    let Some((package, inner)) = ar::split_package_relative_path_inner(id) else {
        return Ok(None);
    };
    let (mut asset, read_here) = match first_member(resolver, &package)? {
        Some(asset) => (asset, true),
        None => (resolver.open_asset(&ResolvedPath::new(&package))?, false),
    };
    let len = asset.size()?;
    let Some(dir) = directory(&mut *asset, len)? else {
        return if read_here {
            Err(io::Error::other(format!("{package}: no zip central directory")))
        } else {
            Ok(None)
        };
    };
    if !read_here && !dir.has_duplicates() {
        return Ok(None);
    }
    let member = dir
        .first(&inner)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{package} has no member {inner}")))?;
    let bytes = member_bytes(&mut *asset, len, member, &package)?;
    Ok(Some(Box::new(io::Cursor::new(bytes))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::fixtures::stored_zip;

    #[test]
    fn the_first_of_two_members_by_one_name_is_read() {
        let dir = std::env::temp_dir().join(format!("usdrender-package-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inner = stored_zip(&[("a.txt", b"inner first"), ("a.txt", b"inner second")]);
        let outer = stored_zip(&[
            ("a.txt", b"first"),
            ("b.txt", b"only"),
            ("a.txt", b"second"),
            ("in.usdz", &inner),
        ]);
        let pkg = dir.join("p.usdz");
        std::fs::write(&pkg, &outer).unwrap();
        let listed = directory(&mut io::Cursor::new(&outer), outer.len() as u64)
            .unwrap()
            .unwrap();
        assert_eq!(listed.members.len(), 4);
        assert!(listed.has_duplicates());
        let read = |member: &str| {
            let id = format!("{}[{member}]", pkg.display());
            first_member(&DefaultResolver::new(), &id)
                .unwrap()
                .map(|mut a| String::from_utf8(a.read_all().unwrap()).unwrap())
        };
        assert_eq!(read("a.txt").as_deref(), Some("first"));
        assert_eq!(read("b.txt").as_deref(), Some("only"));
        assert_eq!(read("in.usdz[a.txt]").as_deref(), Some("inner first"));
        assert!(first_member(&DefaultResolver::new(), &format!("{}[none]", pkg.display())).is_err());
        // A package naming nothing twice is left to openusd.
        let plain = dir.join("plain.usdz");
        std::fs::write(&plain, stored_zip(&[("a.txt", b"x"), ("b.txt", b"y")])).unwrap();
        assert!(
            first_member(&DefaultResolver::new(), &format!("{}[a.txt]", plain.display()))
                .unwrap()
                .is_none()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damaged_directories_are_left_to_openusd() {
        let zip = stored_zip(&[("a.txt", b"x")]);
        for cut in 0..zip.len() {
            let part = &zip[..cut];
            let _ = directory(&mut io::Cursor::new(part), part.len() as u64).unwrap();
        }
        let mut bent = zip.clone();
        let n = bent.len();
        bent[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes()); // a zip64 directory offset
        assert!(directory(&mut io::Cursor::new(&bent), n as u64).unwrap().is_none());
    }
}
