//! Extraction over the whole corpus, in process: every stage pxr loads must open, extract and
//! evaluate its first and last frame without an error or a panic, and the plain data it produces must
//! be consistent (indices in range, one normal/colour/source point per vertex, instances naming
//! meshes that exist, one frame-state entry per dynamic instance and mesh).

mod util;

use std::collections::BTreeMap;
use std::path::Path;

use usdrender::stage::{ExtractOptions, LoadedStage, OpenOptions};

/// Opens, extracts and evaluates `file`; returns the number of instances drawn.
fn extract(file: &Path) -> Result<usize, String> {
    extract_refined(file, 0).map(|(instances, _)| instances)
}

/// As [`extract`], with subdivision surfaces refined `refine_level` times; also returns the
/// triangles drawn.
fn extract_refined(file: &Path, refine_level: u32) -> Result<(usize, u64), String> {
    let mut stage = LoadedStage::open(file, &OpenOptions::default()).map_err(|e| e.to_string())?;
    let timing = stage.timing();
    let first = timing.start.unwrap_or(0.0);
    let scene = stage
        .extract(&ExtractOptions {
            time: first,
            refine_level,
            ..ExtractOptions::default()
        })
        .map_err(|e| e.to_string())?;
    for frame in [first, timing.end.unwrap_or(first)] {
        let mut state = stage.evaluate(&scene, frame).map_err(|e| e.to_string())?;
        // Skinned meshes the renderer poses on the GPU arrive empty; the CPU path fills them.
        usdrender::scene::skinning::skin_pending(&scene, &mut state);
        if state.instance_transforms.len() != scene.dynamic_instances.len()
            || state.mesh_vertices.len() != scene.dynamic_meshes.len()
        {
            return Err(format!(
                "frame {frame}: frame state does not match the scene's dynamic lists"
            ));
        }
        for (v, &m) in state.mesh_vertices.iter().zip(&scene.dynamic_meshes) {
            if v.positions.len() != scene.meshes[m as usize].positions.len() {
                return Err(format!("frame {frame}: animated mesh {} changed its vertex count", m));
            }
        }
    }
    for m in &scene.meshes {
        let n = m.positions.len();
        if !m.indices.iter().all(|&i| (i as usize) < n) {
            return Err(format!("{}: index out of range", m.path));
        }
        if m.normals.len() != n || m.colors.len() != n || m.vertex_points.len() != n {
            return Err(format!("{}: per-vertex arrays of different lengths", m.path));
        }
    }
    if !scene.instances.iter().all(|i| (i.mesh as usize) < scene.meshes.len()) {
        return Err("an instance names a mesh that does not exist".into());
    }
    Ok((scene.instances.len(), scene.drawn_triangles()))
}

/// Every small stage of the corpus (up to 3,000 faces, 259 of them) at each `--complexity`
/// above low: no error, no panic, consistent data, never fewer triangles than at low, and
/// the subdivision surfaces among them really refined (4x the faces a level for quads).
#[test]
fn small_corpus_stages_refine_at_every_complexity() {
    let Some(corpus) = util::corpus() else { return };
    let small: Vec<String> = std::fs::read_to_string(corpus.join("TRUTH.jsonl"))
        .expect("TRUTH.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["loads"].as_bool() == Some(true) && v["meshes"].as_u64().unwrap_or(0) > 0)
        .filter(|v| (1..=3000).contains(&v["faces"].as_u64().unwrap_or(0)))
        .filter_map(|v| Some(v["file"].as_str()?.to_string()))
        .collect();
    std::panic::set_hook(Box::new(|_| {}));
    let (mut refined, mut problems) = (0usize, Vec::new());
    for file in &small {
        let path = corpus.join(file);
        let mut triangles = Vec::new();
        for level in 0..=3 {
            match std::panic::catch_unwind(|| extract_refined(&path, level)) {
                Ok(Ok((_, t))) => triangles.push(t),
                Ok(Err(e)) => problems.push(format!("{file} at level {level}: {e}")),
                Err(_) => problems.push(format!("{file} at level {level}: panicked")),
            }
        }
        if triangles.len() == 4 {
            if triangles.windows(2).any(|w| w[1] < w[0]) {
                problems.push(format!("{file}: fewer triangles when refined: {triangles:?}"));
            }
            if triangles[1] > triangles[0] {
                refined += 1;
            }
        }
    }
    let _ = std::panic::take_hook();
    println!("{} small stages at levels 0-3; {refined} of them refined", small.len());
    for p in &problems {
        println!("refinement problem: {p}");
    }
    assert!(small.len() > 200, "only {} small stages found", small.len());
    assert!(refined > 100, "only {refined} stages refined");
    assert!(problems.is_empty(), "{} problems; see above", problems.len());
}

#[test]
fn every_loadable_corpus_stage_extracts_and_evaluates() {
    let Some(corpus) = util::corpus() else { return };
    let truth: BTreeMap<String, bool> = std::fs::read_to_string(corpus.join("TRUTH.jsonl"))
        .expect("TRUTH.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["file"].as_str()?.to_string(), v["loads"].as_bool()?)))
        .collect();
    // Panics are caught per file and reported; silence the default hook's printing meanwhile.
    std::panic::set_hook(Box::new(|_| {}));
    let (mut ok, mut errors, mut panics) = (0, Vec::new(), Vec::new());
    for (file, loads) in &truth {
        if !loads {
            continue;
        }
        let path = corpus.join(file);
        match std::panic::catch_unwind(|| extract(&path)) {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => errors.push(format!("{file}: {e}")),
            Err(_) => panics.push(file.clone()),
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "extracted {ok} of {} stages pxr loads; {} errors; {} panics",
        ok + errors.len() + panics.len(),
        errors.len(),
        panics.len()
    );
    assert!(ok > 900, "the corpus has ~986 loadable stages; only {ok} extracted");
    assert!(panics.is_empty(), "panicked on: {panics:#?}");
    assert!(errors.is_empty(), "errors on stages pxr loads: {errors:#?}");
}
