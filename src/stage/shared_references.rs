//! Unchanged references composed once: a prim that brings an asset in by reference or payload,
//! and that the stage's own layers leave alone below it, is made instanceable in an anonymous
//! layer before anything is composed, so openusd composes the asset once per distinct arc (asset,
//! prim, layer offset, variant selections) instead of once per prim.
//!
//! Why: openusd composes every prim index on its own; the teapot field (1,600 references to one
//! teapot, 27,205 prims) took 2.4 s to traverse, against 0.8 s shared (docs/design.md, "Loading
//! reference-heavy stages"). Pixar's library composes the same stage unshared in about 0.5 s.
//!
//! Why the picture cannot change: instancing discards exactly the opinions the stage's own layer
//! stack (root, sublayers, session) authors *below* an instance root, and the prims chosen here
//! have none; everything else (arcs, their layer offsets and variant selections, opinions inside
//! the referenced assets) is part of openusd's instancing key, so two prims share a prototype
//! only when their subtrees compose identically. The instance root itself keeps its own
//! opinions (transform, visibility, material binding). A prim is left alone when:
//! - it is not an `Xform` or `Scope` in the stage's own layers (an instanceable gprim would not
//!   be drawn itself, as UsdImaging draws only an instance's prototype);
//! - it authors `instanceable` (either way) or value clips in those layers (clips are not part of
//!   openusd's key);
//! - any relationship or connection in those layers targets it or a prim below it (a collection,
//!   a binding or a PointInstancer's prototypes reaching into the subtree).

use std::collections::{HashMap, HashSet};

use openusd::sdf::{self, Path, Value};
use openusd::usd;

/// What the stage's own layer stack authors on one prim path.
#[derive(Default)]
struct Site {
    arcs: bool,
    type_name: Option<String>,
    /// `instanceable`, `clips` or `clipSets` authored: leave the prim as authored.
    keep: bool,
}

/// Prims whose references can be composed once, in namespace order.
pub fn candidates(stage: &usd::Stage) -> Vec<Path> {
    let mut sites: HashMap<Path, Site> = HashMap::new();
    // Prims with an opinion (a prim or property spec) strictly below them, or targeted (at or
    // below) by a relationship or connection.
    let mut touched: HashSet<Path> = HashSet::new();
    for id in stage.layer_stack() {
        let Some(layer) = stage.layer(&id) else { continue };
        let data = layer.data();
        for spec in data.spec_paths() {
            let path = spec.strip_all_variant_selections();
            let prim = path.prim_path();
            if spec.is_property_path() {
                touched.extend(prim.strict_ancestors());
                for field in ["targetPaths", "connectionPaths"] {
                    if let Ok(Some(value)) = data.try_field(&spec, field) {
                        if let Value::PathListOp(op) = value.as_ref() {
                            for target in op.flatten() {
                                let target = prim.make_absolute(&target).prim_path();
                                touched.extend(target.ancestors());
                            }
                        }
                    }
                }
                continue;
            }
            if !spec.is_prim_path() || path.is_abs_root() {
                continue;
            }
            touched.extend(path.strict_ancestors());
            let site = sites.entry(path).or_default();
            site.arcs |= data.has_field(&spec, "references") || data.has_field(&spec, "payload");
            site.keep |= ["instanceable", "clips", "clipSets"]
                .iter()
                .any(|f| data.has_field(&spec, f));
            // Layers come strongest first: the first typeName met is the composed one here.
            if site.type_name.is_none() {
                if let Ok(Some(value)) = data.try_field(&spec, "typeName") {
                    if let Value::Token(t) = value.as_ref() {
                        site.type_name = Some(t.as_str().to_string());
                    }
                }
            }
        }
    }
    let mut out: Vec<Path> = sites
        .into_iter()
        .filter(|(path, site)| {
            site.arcs
                && !site.keep
                && matches!(site.type_name.as_deref(), Some("Xform" | "Scope"))
                && !touched.contains(path)
        })
        .map(|(path, _)| path)
        .collect();
    out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    out
}

/// Makes `paths` instanceable through one anonymous sublayer of the root layer (one change, made
/// before anything is composed). Returns how many prims it covers.
pub fn share(stage: &usd::Stage, paths: &[Path]) -> Result<usize, String> {
    if paths.is_empty() {
        return Ok(0);
    }
    let mut layer = sdf::Layer::new_anonymous("usdrender-shared-references");
    layer
        .edit(|edit| {
            for path in paths {
                sdf::PrimSpec::over(edit.data_mut(), path.clone())?.set_instanceable(true);
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    let root = stage.root_layer().identifier().to_owned();
    stage
        .insert_layer(&root, 0, layer, sdf::LayerOffset::IDENTITY)
        .map_err(|e| e.to_string())?;
    Ok(paths.len())
}
