//! Hostile input that stays tested: a deterministic, seeded mutation test. Small real stages
//! (usda, usdc, usdz) are damaged in ways fuzzing finds (flipped bytes, truncation, repeated
//! chunks, huge counts written over 8 bytes, deep nesting spliced in) and each mutant goes through
//! `usdrender info` under an address-space cap of 6 GiB: every one must exit 0 (it opens, as pxr
//! would open it) or 2 (an error naming the file), within 60 s; never a panic (101), an abort
//! (134) or any other signal. The files are generated here, never committed.
//!
//! The seeds are the bundled scenes and, where the corpus is present, a few of its small files
//! of each format. `fuzz/` holds the coverage-guided target for longer runs (docs/testing.md).

mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::*;

/// Mutants per seed file.
const MUTANTS_PER_SEED: usize = 24;
/// Longest one mutant may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A small deterministic generator (xorshift64*): the same mutants on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutant of `bytes`, by kind `k`.
fn mutate(bytes: &[u8], rng: &mut Rng, k: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let n = b.len().max(1);
    match k % 6 {
        // Flip a few bytes.
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(n);
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << rng.below(8);
                }
            }
        }
        // Truncate.
        1 => b.truncate(rng.below(n)),
        // Repeat a chunk.
        2 => {
            let at = rng.below(n);
            let len = rng.below(256).min(n - at.min(n));
            let chunk: Vec<u8> = b[at..at + len].to_vec();
            b.splice(at..at, chunk);
        }
        // A huge count or offset written over 8 bytes.
        3 => {
            let at = rng.below(n.saturating_sub(8).max(1));
            let value = [u64::MAX, 1 << 40, 1 << 33, 0x7fff_ffff]
                .get(rng.below(4))
                .copied()
                .unwrap_or(0);
            if at + 8 <= b.len() {
                b[at..at + 8].copy_from_slice(&value.to_le_bytes());
            }
        }
        // Zero a range.
        4 => {
            let at = rng.below(n);
            let end = (at + rng.below(512)).min(b.len());
            b[at..end].iter_mut().for_each(|x| *x = 0);
        }
        // Deep nesting spliced into the text.
        _ => {
            let at = rng.below(n);
            let deep = "def \"x\" {\n".repeat(2000);
            b.splice(at..at, deep.into_bytes());
        }
    }
    b
}

/// Runs `usdrender info` on `path` under a 6 GiB address-space cap; the exit code, or `None`
/// for a signal, and the time it took.
fn info(path: &Path) -> (Option<i32>, Duration, String) {
    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 6291456; exec \"$0\" -q info --json \"$1\"")
        .arg(env!("CARGO_BIN_EXE_usdrender"))
        .arg(path)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run usdrender");
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return (status.code(), started.elapsed(), err);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return (None, started.elapsed(), "timed out".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The seed files: bundled scenes, a crate made from one, and small corpus files of each format.
fn seeds(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![repo().join("scenes/default.usda")];
    let crate_file = dir.join("default.usdc");
    usdrender::stage::write_usdc(&out[0], &crate_file).expect("write a usdc seed");
    out.push(crate_file);
    if let Ok(entries) = std::fs::read_dir(repo().join("scenes/looks")) {
        let mut looks: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "usda"))
            .collect();
        looks.sort();
        out.extend(looks.into_iter().take(3));
    }
    if let Some(corpus) = util::corpus() {
        for f in [
            "openusd/usdrecord/RecordTest/AnimCube.usda",
            "tinyusdz/tests/usdc/timesamples-array-001.usdc",
            "usd-wg/test_assets/USDZ/AnimatedCube/AnimatedCube.usdz",
            "usd-wg/test_assets/USDZ/AnimatedTriangle/AnimatedTriangle.usdz",
            "openusd-crate-fixtures/fixtures/api_schemas.usda",
        ] {
            let p = corpus.join(f);
            assert!(p.is_file(), "seed {f} is in the corpus");
            out.push(p);
        }
    }
    out
}

#[test]
fn seeded_mutants_exit_0_or_2_in_bounded_time() {
    let dir = tempdir("hostile-mutants");
    let seeds = seeds(&dir);
    assert!(seeds.len() >= 5, "seeds: {seeds:?}");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut jobs = Vec::new();
    for (s, seed) in seeds.iter().enumerate() {
        let bytes = std::fs::read(seed).expect("seed");
        let ext = seed.extension().and_then(|e| e.to_str()).unwrap_or("usda");
        for m in 0..MUTANTS_PER_SEED {
            let path = dir.join(format!("m{s:02}_{m:03}.{ext}"));
            std::fs::write(&path, mutate(&bytes, &mut rng, m)).expect("write mutant");
            jobs.push(path);
        }
    }
    // Two at a time: the CI machine has two cores.
    let results: Vec<(PathBuf, Option<i32>, Duration, String)> = std::thread::scope(|s| {
        let (a, b) = jobs.split_at(jobs.len() / 2);
        let run = |list: &[PathBuf]| -> Vec<_> {
            list.iter()
                .map(|p| {
                    let (code, took, err) = info(p);
                    (p.clone(), code, took, err)
                })
                .collect()
        };
        let h = s.spawn(move || run(a));
        let mut out = run(b);
        out.extend(h.join().expect("runner"));
        out
    });
    let (mut opened, mut refused) = (0, 0);
    let mut bad = Vec::new();
    for (path, code, took, err) in &results {
        match code {
            Some(0) => opened += 1,
            Some(2) => {
                refused += 1;
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if !err.contains(name) {
                    bad.push(format!("{}: exit 2 without naming the file: {err}", path.display()));
                }
            }
            other => bad.push(format!("{}: exit {other:?} after {took:.1?}: {err}", path.display())),
        }
    }
    eprintln!(
        "{} mutants of {} seeds: {opened} opened, {refused} refused with exit 2",
        results.len(),
        seeds.len()
    );
    assert_eq!(results.len(), seeds.len() * MUTANTS_PER_SEED);
    assert!(bad.is_empty(), "{} mutants misbehaved:\n{}", bad.len(), bad.join("\n"));
}
