//! Stages that tests build with openusd's writer (crate files, damaged on purpose). Public for the
//! integration tests; not part of the renderer.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes `tri.usdc` into `dir`: a camera and a triangle whose points are sampled at time codes
/// 1, 2 and 3, with sample 2 damaged (its element count points past the file), as a truncated
/// or corrupted crate is. Frames 1 and 3 read; frame 2 cannot.
pub fn damaged_points_stage(dir: &Path) -> Result<PathBuf> {
    let usda = dir.join("tri.usda");
    // 7777.25 / 7777.5 / 7777.75 mark sample 2's bytes in the crate.
    let text = r#"#usda 1.0
(
    startTimeCode = 1
    endTimeCode = 3
)
def Camera "cam" {
    double3 xformOp:translate = (0.3, 0.3, 3)
    uniform token[] xformOpOrder = ["xformOp:translate"]
}
def Mesh "Tri" {
    int[] faceVertexCounts = [3]
    int[] faceVertexIndices = [0, 1, 2]
    point3f[] points.timeSamples = {
        1: [(0,0,0), (1,0,0), (0,1,0)],
        2: [(7777.25,7777.5,7777.75), (7777.25,7777.5,7777.75), (7777.25,7777.5,7777.75)],
        3: [(0,0,1), (1,0,1), (0,1,1)],
    }
}
"#;
    std::fs::write(&usda, text).map_err(|e| Error::io(&usda, e))?;
    let usdc = dir.join("tri.usdc");
    super::write_usdc(&usda, &usdc)?;
    let mut bytes = std::fs::read(&usdc).map_err(|e| Error::io(&usdc, e))?;
    let marker: Vec<u8> = [7777.25f32, 7777.5, 7777.75]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    let layout = |reason: &str| Error::Stage {
        path: usdc.clone(),
        reason: reason.to_string(),
    };
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_slice())
        .ok_or_else(|| layout("sample 2's points are not stored uncompressed"))?;
    // The element count (u64) stands right before the elements.
    let count = bytes
        .get(at.wrapping_sub(8)..at)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    if count != Some(3) {
        return Err(layout("the crate layout is not the one this fixture damages"));
    }
    bytes[at - 8..at].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&usdc, &bytes).map_err(|e| Error::io(&usdc, e))?;
    Ok(usdc)
}

/// A zip of stored members in the given order, names repeated as given (a usdz naming a member
/// twice), written as the format says: no data descriptors, extras or comments.
pub fn stored_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    use super::package::{END_SIGNATURE, LOCAL_SIGNATURE, RECORD_SIGNATURE};
    let (mut out, mut dir) = (Vec::new(), Vec::new());
    for (name, data) in members {
        let offset = out.len() as u32;
        let common = |b: &mut Vec<u8>| {
            b.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version needed, flags, stored, time, date
            b.extend(crc32(data).to_le_bytes());
            b.extend((data.len() as u32).to_le_bytes());
            b.extend((data.len() as u32).to_le_bytes());
            b.extend((name.len() as u16).to_le_bytes());
            b.extend(0u16.to_le_bytes()); // extra length
        };
        out.extend(LOCAL_SIGNATURE);
        common(&mut out);
        out.extend(name.as_bytes());
        out.extend(*data);
        dir.extend(RECORD_SIGNATURE);
        dir.extend([20, 0]); // made by
        common(&mut dir);
        dir.extend([0u8; 10]); // comment length, disk, internal and external attributes
        dir.extend(offset.to_le_bytes());
        dir.extend(name.as_bytes());
    }
    let start = out.len() as u32;
    out.extend(&dir);
    out.extend(END_SIGNATURE);
    out.extend([0u8; 4]); // disk numbers
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((dir.len() as u32).to_le_bytes());
    out.extend(start.to_le_bytes());
    out.extend([0u8; 2]); // comment length
    out
}

/// The zip checksum (CRC-32, reflected, polynomial 0xEDB88320), bit by bit: fixtures are small.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
