//! World bounds as `UsdGeomBBoxCache` computes them for framing (the usdImagingGL harness's
//! `-frameAll` and usdrecord's framing camera): a boundable prim counts by its authored `extent`
//! when it has one (a PointInstancer's covers its instances, and its prototypes are not visited),
//! a model by its `extentsHint` (per purpose), an implicit shape by the extent its parameters give,
//! and only other prims without either by the geometry usdrender drew for them. Boundable lights
//! count too, and curves and points (which usdrender does not draw yet), as they do for pxr.

use std::collections::HashMap;

use glam::DVec3;
use openusd::sdf;
use openusd::usd;
use openusd_schemas::geom::XformCache;

use super::graph::{self, purpose_drawn, Graph};
use super::values::{self, Time};
use crate::scene::Bounds;

/// Prim types that are UsdGeomBoundable: their `extent` bounds them and what is below them.
fn is_boundable(type_name: &str) -> bool {
    graph::is_drawable_type(type_name)
        || matches!(
            type_name,
            "PointInstancer"
                | "Points"
                | "BasisCurves"
                | "NurbsCurves"
                | "HermiteCurves"
                | "NurbsPatch"
                | "TetMesh"
                | "SphereLight"
                | "RectLight"
                | "DiskLight"
                | "CylinderLight"
                | "PortalLight"
        )
}

/// The authored `extent` of a prim as a box (possibly empty: pxr treats min > max as no box);
/// `None` when not authored or malformed.
fn authored_extent(prim: &usd::Prim, time: Time) -> Option<Bounds> {
    if !prim.attribute("extent").has_authored_value().unwrap_or(false) {
        return None;
    }
    // An extent of another length is not one: pxr computes the bounds instead.
    let e = values::raw(prim, "extent", time)
        .as_ref()
        .and_then(values::as_dvec3_array)?;
    match e.as_slice() {
        [min, max] => Some(Bounds {
            min: DVec3::from(*min),
            max: DVec3::from(*max),
        }),
        _ => None,
    }
}

/// The extent UsdLux computes for a boundable light with none authored.
fn light_extent(prim: &usd::Prim, type_name: &str, time: Time) -> Option<Bounds> {
    let f = |name: &str, fallback: f64| values::f64_attr(prim, name, time).unwrap_or(fallback);
    let half = match type_name {
        "SphereLight" => DVec3::splat(f("inputs:radius", 0.5)),
        "DiskLight" => {
            let r = f("inputs:radius", 0.5);
            DVec3::new(r, r, 0.0)
        }
        "RectLight" => DVec3::new(f("inputs:width", 1.0) / 2.0, f("inputs:height", 1.0) / 2.0, 0.0),
        "CylinderLight" => {
            let r = f("inputs:radius", 0.5);
            DVec3::new(f("inputs:length", 1.0) / 2.0, r, r)
        }
        _ => return None,
    };
    Some(Bounds { min: -half, max: half })
}

/// The extent UsdGeom's `ComputeExtent` gives an implicit shape with none authored, from its
/// parameters (the tessellation usdrender draws is smaller: a sphere's 10-sided rings reach
/// `radius * sin 72deg` across, so framing by it brings the camera closer than pxr's).
/// Cylinder_1 and Capsule_1 (radiusTop, radiusBottom) are left to what was drawn.
fn implicit_extent(prim: &usd::Prim, type_name: &str, time: Time) -> Option<Bounds> {
    let f = |name: &str, fallback: f64| values::f64_attr(prim, name, time).unwrap_or(fallback);
    // (across the axis, along the axis), turned onto the `axis` token (Z when not X or Y).
    let round = |radius: f64, half_height: f64| {
        let along = |axis: usize| {
            let mut h = DVec3::splat(radius);
            h[axis] = half_height;
            h
        };
        match values::token_attr(prim, "axis", None).as_deref() {
            Some("X") => along(0),
            Some("Y") => along(1),
            _ => along(2),
        }
    };
    let half = match type_name {
        "Cube" => DVec3::splat(f("size", 2.0) / 2.0),
        "Sphere" => DVec3::splat(f("radius", 1.0)),
        "Cylinder" | "Cone" => round(f("radius", 1.0), f("height", 2.0) / 2.0),
        "Capsule" => {
            let r = f("radius", 0.5);
            round(r, f("height", 1.0) / 2.0 + r)
        }
        "Plane" => {
            let (w, l) = (f("width", 2.0) / 2.0, f("length", 2.0) / 2.0);
            match values::token_attr(prim, "axis", None).as_deref() {
                Some("X") => DVec3::new(0.0, l, w),
                Some("Y") => DVec3::new(w, 0.0, l),
                _ => DVec3::new(w, l, 0.0),
            }
        }
        _ => return None,
    };
    let half = half.abs();
    half.is_finite().then_some(Bounds { min: -half, max: half })
}

/// The extent UsdGeom computes for curves and points with none authored: their points grown by
/// half the widest width (usdrender does not draw these yet, so nothing drawn stands in).
fn points_extent(prim: &usd::Prim, type_name: &str, time: Time) -> Option<Bounds> {
    if !matches!(type_name, "BasisCurves" | "NurbsCurves" | "HermiteCurves" | "Points") {
        return None;
    }
    let points = values::vec3_array_attr(prim, "points", time)?;
    let pad = values::raw(prim, "widths", time)
        .as_ref()
        .and_then(values::as_float_array)
        .map_or(0.0, |w| {
            w.iter().copied().filter(|w| w.is_finite()).fold(0.0f32, f32::max) as f64 / 2.0
        });
    let mut b = Bounds::EMPTY;
    b.include_points(&glam::DMat4::IDENTITY, &points);
    if b.is_empty() {
        return None;
    }
    Some(Bounds {
        min: b.min - DVec3::splat(pad),
        max: b.max + DVec3::splat(pad),
    })
}

/// A model's `extentsHint` for the purposes drawn: pairs of (min, max) for default, render,
/// proxy and guide, in that order (UsdGeomModelAPI); `None` when not authored or not a model.
fn extents_hint(prim: &usd::Prim, time: Time, purposes: &[String]) -> Option<Bounds> {
    if !prim.attribute("extentsHint").has_authored_value().unwrap_or(false) || !prim.is_model().unwrap_or(false) {
        return None;
    }
    let hint = values::raw(prim, "extentsHint", time)
        .as_ref()
        .and_then(values::as_dvec3_array)?;
    let mut out = Bounds::EMPTY;
    for (k, purpose) in ["default", "render", "proxy", "guide"].into_iter().enumerate() {
        if k > 0 && !purposes.iter().any(|p| p == purpose) {
            continue;
        }
        if let (Some(min), Some(max)) = (hint.get(2 * k), hint.get(2 * k + 1)) {
            let (min, max) = (DVec3::from(*min), DVec3::from(*max));
            if min.cmple(max).all() {
                out.include_point(min);
                out.include_point(max);
            }
        }
    }
    Some(out)
}

/// The prims below `path` in the graph (instance proxies included).
fn descendants(stage: &usd::Stage, graph: &Graph, path: &sdf::Path) -> Vec<usd::Prim> {
    let mut out = Vec::new();
    let mut stack = vec![path.clone()];
    while let Some(p) = stack.pop() {
        if let Some(kids) = graph.children.get(&p) {
            for k in kids {
                if let Ok(prim) = stage.prim(k.clone()) {
                    out.push(prim);
                }
                stack.push(k.clone());
            }
        }
    }
    out
}

/// World bounds of the stage at the cache's time (set by the caller to `time`), over the drawn
/// purposes. `drawn` holds, per drawn top-level prim (gprim or PointInstancer), the world bounds
/// of what usdrender drew for it: the fallback for a boundable with no authored extent.
pub fn frame_bounds(
    stage: &usd::Stage,
    graph: &Graph,
    cache: &mut XformCache,
    time: Time,
    purposes: &[String],
    drawn: &HashMap<sdf::Path, Bounds>,
) -> Bounds {
    bounds_over(stage, graph, cache, &graph.order, None, time, purposes, drawn)
}

/// A model's bounds in its own space (its transform left out) as UsdImaging's draw modes take
/// them (`UsdGeomBBoxCache::ComputeUntransformedBound` over the default, render and proxy
/// purposes, extentsHint used): the box its `bounds` and `cards` stand-ins are drawn on.
pub fn model_bounds(stage: &usd::Stage, graph: &Graph, cache: &mut XformCache, root: &usd::Prim, time: Time) -> Bounds {
    let mut paths = Vec::new();
    let mut stack = vec![root.path().clone()];
    while let Some(p) = stack.pop() {
        if let Some(kids) = graph.children.get(&p) {
            stack.extend(kids.iter().rev().cloned());
        }
        paths.push(p);
    }
    let world = graph::world(cache, root);
    let space = if world.determinant().abs() > 1e-300 {
        world.inverse()
    } else {
        glam::DMat4::IDENTITY
    };
    let purposes = ["render".to_string(), "proxy".to_string()];
    bounds_over(
        stage,
        graph,
        cache,
        &paths,
        Some(space),
        time,
        &purposes,
        &HashMap::new(),
    )
}

/// The bounds of the prims `paths` (in depth-first order) and what is below them, in world space,
/// or (`space`: world to a model's space) in a model's space, where prims below a
/// PointInstancer count too and a Mesh with no authored extent counts by its points.
#[allow(clippy::too_many_arguments)]
fn bounds_over(
    stage: &usd::Stage,
    graph: &Graph,
    cache: &mut XformCache,
    paths: &[sdf::Path],
    space: Option<glam::DMat4>,
    time: Time,
    purposes: &[String],
    drawn: &HashMap<sdf::Path, Bounds>,
) -> Bounds {
    let mut out = Bounds::EMPTY;
    let mut pruned: Option<&sdf::Path> = None;
    let model = space.is_some();
    let space = space.unwrap_or(glam::DMat4::IDENTITY);
    for path in paths {
        if pruned.is_some_and(|p| path.has_prefix(p)) {
            continue;
        }
        pruned = None;
        let Some(node) = graph.nodes.get(path) else { continue };
        if node.invisible || (node.under_instancer && !model) {
            // Invisible here means invisible below, too.
            pruned = Some(path);
            continue;
        }
        if !purpose_drawn(&node.purpose, purposes) {
            // A descendant may author a purpose that is drawn.
            continue;
        }
        let Ok(prim) = stage.prim(path.clone()) else { continue };
        if let Some(hint) = extents_hint(&prim, time, purposes) {
            out.include_box(&(space * graph::world(cache, &prim)), &hint);
            pruned = Some(path);
            continue;
        }
        if node.type_name == "SkelRoot" {
            // Boundable, with UsdSkel's computed extent when none is authored; one with no
            // skeleton below leaves its children to be bounded one by one.
            let extent = authored_extent(&prim, time).or_else(|| {
                let below = descendants(stage, graph, path);
                super::skel::root_extent(stage, cache, &prim, &below, time)
            });
            if let Some(local) = extent {
                out.include_box(&(space * graph::world(cache, &prim)), &local);
                pruned = Some(path);
            }
            continue;
        }
        if !is_boundable(&node.type_name) {
            continue;
        }
        pruned = Some(path);
        let local = authored_extent(&prim, time)
            .or_else(|| light_extent(&prim, &node.type_name, time))
            .or_else(|| points_extent(&prim, &node.type_name, time))
            .or_else(|| implicit_extent(&prim, &node.type_name, time))
            .or_else(|| {
                // Nothing of a model's was drawn: a Mesh counts by its points, as pxr's.
                (model && node.type_name == "Mesh").then(|| {
                    let mut b = Bounds::EMPTY;
                    let points = values::vec3_array_attr(&prim, "points", time).unwrap_or_default();
                    b.include_points(&glam::DMat4::IDENTITY, &points);
                    b
                })
            });
        match local {
            Some(local) => out.include_box(&(space * graph::world(cache, &prim)), &local),
            None => {
                if let Some(b) = drawn.get(path) {
                    out.include_point(b.min);
                    out.include_point(b.max);
                }
            }
        }
    }
    out
}
