//! Frame evaluation in parallel and out of order gives the same frames as evaluation in order:
//! the stage's part runs in frame order on one thread and the plain-data part on a pool, so a
//! frame must not depend on which frames were evaluated before it or beside it.
//!
//! Over every perf stage and every animated stage of the corpus (TRUTH.jsonl: animated meshes
//! or xformables), at the first, middle and last frame of its range plus a few times inside the
//! usual sample ranges (a fractional one included). Without the corpus the test says so and
//! passes, except under `CI=true`.

mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use usdrender::evaluate;
use usdrender::job::Job;

/// The animated stages of the corpus, by TRUTH.jsonl, and the perf stages.
fn stages(corpus: &Path) -> Vec<String> {
    let truth = std::fs::read_to_string(corpus.join("TRUTH.jsonl")).expect("TRUTH.jsonl");
    let mut out: Vec<String> = truth
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|d| d["loads"].as_bool() == Some(true))
        .filter(|d| d["animated_meshes"].as_u64().unwrap_or(0) + d["animated_xformables"].as_u64().unwrap_or(0) > 0)
        .filter_map(|d| d["file"].as_str().map(String::from))
        .collect();
    for perf in [
        "perf-wrappers/teapot_field_40x40_refs.usda",
        "perf-wrappers/vehicles_pointinstancer_10k_anim.usdc",
        "perf-wrappers/chess_grid_3x3_flat.usda",
        "perf-wrappers/chess_grid_8x8_instanced.usda",
    ] {
        out.push(perf.to_string());
    }
    out
}

/// The times checked: first, middle and last of the range, and times inside the sample ranges
/// the corpus' animations use (teapotScene's root range is one frame while it animates 0-480).
fn times(range: &[f64]) -> Vec<f64> {
    let mut t = vec![
        range[0],
        range[range.len() / 2],
        range[range.len() - 1],
        range[0] + 0.5,
        10.0,
        47.5,
    ];
    t.sort_by(f64::total_cmp);
    t.dedup();
    t
}

#[test]
fn parallel_out_of_order_evaluation_equals_evaluation_in_order() {
    let Some(corpus) = util::corpus() else { return };
    let list = stages(&corpus);
    assert!(
        list.len() >= 50,
        "found only {} animated stages in TRUTH.jsonl",
        list.len()
    );
    let pool = evaluate::pool(3).expect("pool");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for file in &list {
        let path = corpus.join(file);
        let job = Job::new(&path, "/tmp/unused.####.png").expect("job");
        let Ok(mut opened) = evaluate::open(&job) else {
            // Stages usdrender refuses (bad timing) are covered by the CLI tests.
            continue;
        };
        let times = times(&opened.frames);
        // In order, one after the other, on this thread.
        let in_order: Vec<String> = times
            .iter()
            .map(|&t| {
                format!(
                    "{:?}",
                    opened.stage.evaluate(&opened.scene, t).map_err(|e| e.to_string())
                )
            })
            .collect();
        // Backwards, the plain part on the pool.
        let scene = Arc::new(std::mem::take(&mut opened.scene));
        let parallel: Mutex<BTreeMap<usize, String>> = Mutex::default();
        let index_of = |t: f64| times.iter().position(|&x| x == t).expect("a checked time");
        evaluate::frames_in_parallel(
            &mut opened.stage,
            &scene,
            &opened.sampling,
            times.iter().rev().map(|&t| (t, t)),
            &pool,
            |_| true,
            |frame, result, _| {
                let text = format!("{:?}", result.map_err(|e| e.to_string()));
                parallel.lock().expect("lock").insert(index_of(frame), text);
            },
        );
        let parallel = parallel.into_inner().expect("lock");
        assert_eq!(parallel.len(), times.len(), "{file}: every frame reaches done");
        for (i, t) in times.iter().enumerate() {
            if parallel[&i] != in_order[i] {
                mismatches.push(format!("{file} at {t}"));
            }
        }
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} stages could be opened");
    assert!(mismatches.is_empty(), "frames differ: {mismatches:?}");
}
