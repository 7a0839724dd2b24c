//! The composed namespace as the other readers of `stage/` walk it: one traversal (instance
//! proxies included) that computes what each prim inherits (visibility, purpose, transform
//! animation, the key its meshes are shared under), and the per-prim questions extraction,
//! bounds, lights and the camera all ask (world transform, visibility at a time, purpose).

use std::collections::HashMap;

use glam::DMat4;
use openusd::sdf;
use openusd::usd;
use openusd_schemas::geom::XformCache;

use super::samples;
use super::values::{self, Time};

/// The gprim types drawn as triangles.
pub fn is_drawable_type(type_name: &str) -> bool {
    matches!(
        type_name,
        "Mesh"
            | "Cube"
            | "Sphere"
            | "Cylinder"
            | "Cylinder_1"
            | "Cone"
            | "Capsule"
            | "Capsule_1"
            | "Plane"
            | "Points"
            | "Skeleton"
            | "BasisCurves"
            | "NurbsCurves"
            | "HermiteCurves"
    )
}

/// What a prim inherits from its ancestors, computed once in traversal order.
#[derive(Debug, Clone, Default)]
pub struct NodeState {
    pub type_name: String,
    /// Invisible at load time (here or above).
    pub invisible: bool,
    /// Visibility authored with time samples here or above.
    pub vis_animated: bool,
    /// The purpose: the prim's own authored one, else its nearest ancestor's (UsdGeom's rule).
    pub purpose: Option<String>,
    /// The world transform may vary over time (an animated op here or above, up to a reset).
    pub xform_animated: bool,
    /// Below a PointInstancer: drawn only through it.
    pub under_instancer: bool,
    /// The key meshes of this prim are shared under: its prototype prim for an instance proxy.
    pub key: String,
    /// Active, loaded, defined and not abstract: a prim that can be drawn or drawn from.
    pub defined: bool,
    /// An instance (instanceable, with a composition arc): UsdImaging draws its prototype's
    /// descendants through it, never the prim itself, even when it is a gprim (Storm's
    /// instancedCubes2NoInstancing references a Cube into six instanceable prims and draws none).
    pub instance: bool,
    /// An instance proxy: below an instance (drawn through its prototype, keyed by it).
    pub proxy: bool,
    /// `model:drawMode` as inherited here (UsdImaging's ComputeDrawMode): what a model prim at
    /// or below this one is drawn as when its draw mode applies.
    pub draw_mode: DrawMode,
    /// Drawn as a stand-in for its whole subtree (see [`super::draw_mode`]).
    pub stand_in: Option<DrawMode>,
    /// Below a stand-in: not drawn.
    pub culled: bool,
}

/// UsdGeomModelAPI's `model:drawMode`, resolved (`inherited` resolves to the parent's value,
/// `default` at the root).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DrawMode {
    /// The prim's own geometry.
    #[default]
    Default,
    /// Three unit axis lines.
    Origin,
    /// The wireframe box of the model's bounds.
    Bounds,
    /// Textured quads on the model's bounds (`model:cardGeometry`).
    Cards,
}

/// The composed namespace as traversed: prims in depth-first order with their inherited state.
pub struct Graph {
    pub order: Vec<sdf::Path>,
    pub nodes: HashMap<sdf::Path, NodeState>,
    pub children: HashMap<sdf::Path, Vec<sdf::Path>>,
}

/// Why the stage is walked, which decides how much is computed per prim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// For drawing: prims that are active, loaded, defined and not abstract, with inherited
    /// visibility, purpose and transform animation. `unloaded`: the stage was opened with its
    /// payloads unloaded, so prims are asked whether they are loaded (an unloaded one is drawn as
    /// its bounds); a stage opened with everything loaded has no such prims, and asking each
    /// prim costs a composition query (about 5% of extracting teapotScene).
    Draw { unloaded: bool },
    /// For `info`: every composed prim (`over` and `class` included, as the corpus' pxr counts
    /// are), with only the type name; cheap, since it is all `info` needs.
    Count,
}

/// The deepest prim namespace walked, as for text layers ([`super::lenient::MAX_NESTING`]).
pub use super::lenient::MAX_NESTING;

/// Unwound out of openusd's traversal (without the panic hook: `resume_unwind`) when a prim
/// nests deeper than [`MAX_NESTING`]; `stage::guarded` turns it into an error naming the prim.
pub struct TooDeep(pub String);

/// Walks the stage once (instance proxies included) and computes inherited state.
pub fn walk(stage: &usd::Stage, cache: &mut XformCache, mode: Walk) -> Graph {
    let predicate = match mode {
        // UsdImaging's own predicate: unloaded prims too (a stage opened with its payloads
        // unloaded draws them as bounds; under LoadAll there are none).
        Walk::Draw { .. } => usd::PrimPredicate::new(
            usd::PrimStatus::ACTIVE.union(usd::PrimStatus::DEFINED),
            usd::PrimStatus::ABSTRACT,
        )
        .with_instance_proxies(true),
        Walk::Count => usd::PrimPredicate::ALL,
    };
    let mut order = Vec::new();
    let traversed = stage.traverse(predicate, |p| {
        // openusd composes each prim by walking its ancestors' paths (quadratic in depth per
        // prim): a chain 2,000 prims deep took 19 s, 5,000 took 300. Stop as text layers stop.
        if p.as_str().bytes().filter(|&b| b == b'/').count() > MAX_NESTING {
            std::panic::resume_unwind(Box::new(TooDeep(p.as_str().chars().take(120).collect())));
        }
        order.push(p.clone())
    });
    if let Err(e) = traversed {
        log::warn!("traversal stopped early: {e}");
    }
    let mut nodes: HashMap<sdf::Path, NodeState> = HashMap::with_capacity(order.len());
    let mut children: HashMap<sdf::Path, Vec<sdf::Path>> = HashMap::new();
    let root = NodeState::default();
    for path in &order {
        visit(stage, cache, mode, path, &root, &mut nodes, &mut children);
    }
    if let Walk::Draw { .. } = mode {
        add_hidden_prototypes(stage, cache, mode, &order, &mut nodes, &mut children);
    }
    Graph { order, nodes, children }
}

/// PointInstancer prototypes the traversal did not reach: a prototype root below an `over`
/// (Storm's ni_pi keeps its prototypes in `over "Dumb"`) is still drawn through the instancer,
/// as UsdImaging walks each prototype from its root. Their subtrees join `nodes` and `children`
/// (not `order`: they are drawn only through the instancer), marked as under an instancer and
/// inheriting nothing from above the prototype root.
fn add_hidden_prototypes(
    stage: &usd::Stage,
    cache: &mut XformCache,
    mode: Walk,
    order: &[sdf::Path],
    nodes: &mut HashMap<sdf::Path, NodeState>,
    children: &mut HashMap<sdf::Path, Vec<sdf::Path>>,
) {
    let instancers: Vec<sdf::Path> = order
        .iter()
        .filter(|p| nodes.get(*p).is_some_and(|n| n.type_name == "PointInstancer"))
        .cloned()
        .collect();
    let proto_parent = NodeState {
        under_instancer: true,
        defined: true,
        ..NodeState::default()
    };
    for pi in instancers {
        let Ok(prim) = stage.prim(pi) else { continue };
        for target in prim.relationship("prototypes").targets().unwrap_or_default() {
            if nodes.contains_key(&target) {
                continue;
            }
            let mut stack = vec![target];
            while let Some(path) = stack.pop() {
                let Ok(p) = stage.prim(path.clone()) else { continue };
                if !p.is_valid().unwrap_or(false) || !p.is_active().unwrap_or(false) {
                    continue;
                }
                visit(stage, cache, mode, &path, &proto_parent, nodes, children);
                let mut kids: Vec<sdf::Path> = p
                    .children()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|k| k.path().clone())
                    .collect();
                kids.reverse(); // depth-first in namespace order
                stack.extend(kids);
            }
        }
    }
}

/// Computes one prim's [`NodeState`] from its parent's (`fallback_parent` when the parent was
/// not visited) and records it and its place among its parent's children.
fn visit(
    stage: &usd::Stage,
    cache: &mut XformCache,
    mode: Walk,
    path: &sdf::Path,
    fallback_parent: &NodeState,
    nodes: &mut HashMap<sdf::Path, NodeState>,
    children: &mut HashMap<sdf::Path, Vec<sdf::Path>>,
) {
    {
        let Ok(prim) = stage.prim(path.clone()) else { return };
        let parent_path = path.parent();
        let known = parent_path.as_ref().and_then(|p| nodes.get(p));
        let parent_known = known.is_some();
        let parent = known.unwrap_or(fallback_parent);
        let authored_type = || {
            prim.type_name()
                .ok()
                .flatten()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default()
        };
        // Drawing goes by the schema the type resolves to, which for a type the registry does not
        // know is the first known one the stage's `fallbackPrimTypes` lists for it (as pxr's
        // UsdPrimTypeInfo); `info` counts the authored type names, as pxr's GetTypeName does.
        let type_name = match mode {
            Walk::Count => authored_type(),
            Walk::Draw { .. } => prim
                .prim_type_info()
                .ok()
                .map(|info| info.schema_type_name().as_str().to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(authored_type),
        };
        let proxy_key = || match prim.is_instance_proxy() {
            Ok(true) => prim
                .prim_in_prototype()
                .ok()
                .flatten()
                .map(|p| p.path().as_str().to_string()),
            _ => None,
        };
        let node = match mode {
            Walk::Count => {
                // Only cameras and render settings need more: whether they are usable.
                let special = type_name == "Camera" || type_name == "RenderSettings";
                NodeState {
                    key: if special { proxy_key() } else { None }.unwrap_or_else(|| path.as_str().to_string()),
                    defined: special
                        && stage
                            .prim_matches(path, usd::PrimPredicate::DEFAULT_PROXIES)
                            .unwrap_or(false),
                    type_name,
                    ..NodeState::default()
                }
            }
            Walk::Draw { unloaded } => {
                // Most prims author none of visibility, purpose and draw mode: one question for the
                // names the layers author (openusd caches them with the prim's index) spares three
                // value resolutions per prim, a tenth of extracting teapotScene's 6,396 prims. A
                // prim under value clips may take values from clip layers alone: asked each time.
                let authored = prim
                    .authored_property_names()
                    .ok()
                    .filter(|_| !samples::under_clips(&prim));
                let may_author = |name: &str| {
                    authored
                        .as_ref()
                        .is_none_or(|names| names.iter().any(|n| n.as_str() == name))
                };
                let own_visibility = may_author("visibility");
                let vis_animated = parent.vis_animated || (own_visibility && samples::varies(&prim, "visibility"));
                let invisible = parent.invisible
                    || (own_visibility
                        && values::token_attr(&prim, "visibility", None).as_deref() == Some("invisible"));
                // UsdGeom's rule (pxr's ComputePurpose): a prim's own authored purpose wins, else
                // the nearest ancestor's; only Imageable prims author one.
                let purpose = may_author("purpose")
                    .then(|| authored_purpose(&prim))
                    .flatten()
                    .or_else(|| parent.purpose.clone());
                let own_animated = cache.transform_might_be_time_varying(&prim).unwrap_or(false);
                let resets = cache.resets_xform_stack(&prim).unwrap_or(false);
                let proxy = if parent_known {
                    parent.instance || parent.proxy
                } else {
                    prim.is_instance_proxy().unwrap_or(false)
                };
                let culled = parent.culled || parent.stand_in.is_some();
                let draw_mode = if may_author("model:drawMode") {
                    super::draw_mode::inherited_mode(&prim, parent.draw_mode)
                } else {
                    parent.draw_mode
                };
                let stand_in = if culled {
                    None
                } else {
                    super::draw_mode::stand_in(&prim, draw_mode, unloaded)
                };
                NodeState {
                    draw_mode,
                    stand_in,
                    culled,
                    invisible,
                    vis_animated,
                    purpose,
                    xform_animated: own_animated || (!resets && parent.xform_animated),
                    under_instancer: parent.under_instancer || parent.type_name == "PointInstancer",
                    // A prim is an instance proxy exactly when its parent is an instance or one:
                    // known from a visited parent, this spares asking every prim (7% of the walk).
                    // Below a proxy that is not itself an instance, the prim's place in the
                    // prototype is its parent's plus its name; below an instance, openusd is asked.
                    key: match (proxy, parent_known && parent.proxy && !parent.instance) {
                        (true, true) => path
                            .name()
                            .map(|name| format!("{}/{name}", parent.key))
                            .unwrap_or_else(|| path.as_str().to_string()),
                        (true, false) => proxy_key().unwrap_or_else(|| path.as_str().to_string()),
                        (false, _) => path.as_str().to_string(),
                    },
                    proxy,
                    defined: true,
                    instance: prim.is_instance().unwrap_or(false),
                    type_name,
                }
            }
        };
        if let Some(pp) = parent_path {
            children.entry(pp).or_default().push(path.clone());
        }
        nodes.insert(path.clone(), node);
    }
}

/// Whether `prim`'s world transform may vary: an animated op on it or an ancestor, up to a reset.
pub fn transform_chain_varies(cache: &mut XformCache, prim: &usd::Prim) -> bool {
    let mut current = Some(prim.clone());
    while let Some(p) = current.filter(|p| !p.path().is_abs_root()) {
        if cache.transform_might_be_time_varying(&p).unwrap_or(false) {
            return true;
        }
        if cache.resets_xform_stack(&p).unwrap_or(false) {
            return false;
        }
        current = p.parent();
    }
    false
}

/// A prim's own authored purpose, which counts only on an Imageable prim (UsdGeomImageable's
/// rule: a typeless `def` or a Material passes its parent's purpose on but authors none).
fn authored_purpose(prim: &usd::Prim) -> Option<String> {
    if !prim.attribute("purpose").has_authored_value().unwrap_or(false) || !prim.is_a("Imageable").unwrap_or(false) {
        return None;
    }
    values::token_attr(prim, "purpose", None)
}

/// Whether a prim of this purpose is drawn: `default` always, others when asked for.
pub(super) fn purpose_drawn(purpose: &Option<String>, purposes: &[String]) -> bool {
    match purpose.as_deref() {
        None | Some("default") | Some("") => true,
        Some(p) => purposes.iter().any(|q| q == p),
    }
}

/// World transform of `prim` at the cache's time, as a glam matrix; identity on error.
pub fn world(cache: &mut XformCache, prim: &usd::Prim) -> DMat4 {
    match cache.local_to_world_transform(prim) {
        Ok(m) => values::to_dmat4(&m),
        Err(e) => {
            log::debug!("{}: {e}", prim.path());
            DMat4::IDENTITY
        }
    }
}

/// Whether `prim` is visible at `time`: no `invisible` opinion on it or an ancestor.
pub fn visible_at(stage: &usd::Stage, path: &sdf::Path, time: Time) -> bool {
    path.ancestors_below_root().all(|p| match stage.prim(p) {
        Ok(prim) => values::token_attr(&prim, "visibility", time).as_deref() != Some("invisible"),
        Err(_) => true,
    })
}
