#!/usr/bin/env python3
"""Ground truth for UsdSkel skinning: for every stage of the corpus that pxr sees skeletons in
(TRUTH.jsonl's `skel_prims`), the world-space points of each skinned Mesh at the stage's first,
middle and last time code and at its quarters (a cycle often comes back to the rest pose at the
middle), or at its default time when it has no range, as pxr's own
`UsdSkel.BakeSkinning` writes them: blend shapes, linear or dual-quaternion skinning, the
geomBindTransform, and the mesh's transform at that time.
Writes one JSON object per line: {"file": <corpus-relative path>, "prim": <mesh path>,
"time": t, "points": [[x, y, z], ...]} (world space).

Usage: python3 tests/data/skinned_points.py [corpus dir] > tests/data/skinned_points.jsonl
"""
import json
import os
import sys

from pxr import Gf, Usd, UsdGeom, UsdSkel


def skinned_meshes(stage):
    """Mesh prims a skeleton deforms, as pxr's UsdSkel.Cache finds them under each SkelRoot."""
    cache = UsdSkel.Cache()
    out = []
    for prim in stage.Traverse(Usd.TraverseInstanceProxies()):
        if not prim.IsA(UsdSkel.Root):
            continue
        root = UsdSkel.Root(prim)
        cache.Populate(root, Usd.TraverseInstanceProxies())
        for binding in cache.ComputeSkelBindings(root, Usd.TraverseInstanceProxies()):
            for query in binding.GetSkinningTargets():
                mesh = query.GetPrim()
                if mesh.IsA(UsdGeom.Mesh):
                    out.append(str(mesh.GetPath()))
    return sorted(set(out))


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../shared/corpus")
    files = []
    with open(os.path.join(corpus, "TRUTH.jsonl")) as f:
        for line in f:
            t = json.loads(line)
            if t.get("skel_prims") and t.get("loads"):
                files.append(t["file"])
    for rel in sorted(files):
        stage = Usd.Stage.Open(os.path.join(corpus, rel))
        if stage is None:
            continue
        meshes = skinned_meshes(stage)
        if not meshes:
            continue
        if stage.HasAuthoredTimeCodeRange():
            start, end = stage.GetStartTimeCode(), stage.GetEndTimeCode()
            times = sorted({start, end} | {float(round(start + (end - start) * k / 4)) for k in (1, 2, 3)})
        else:
            times = [None]
        # Baked into the session layer: the files on disk are not touched.
        stage.SetEditTarget(stage.GetSessionLayer())
        interval = Gf.Interval(times[0], times[-1]) if times[0] is not None else Gf.Interval.GetFullInterval()
        if not UsdSkel.BakeSkinning(stage.Traverse(), interval):
            print(f"{rel}: BakeSkinning failed", file=sys.stderr)
            continue
        for path in meshes:
            prim = stage.GetPrimAtPath(path)
            for t in times:
                code = Usd.TimeCode(t) if t is not None else Usd.TimeCode.Default()
                points = UsdGeom.Mesh(prim).GetPointsAttr().Get(code)
                if points is None:
                    continue
                world = UsdGeom.Xformable(prim).ComputeLocalToWorldTransform(code)
                pts = [world.Transform(Gf.Vec3d(p)) for p in points]
                print(json.dumps({
                    "file": rel,
                    "prim": path,
                    "time": t,
                    "points": [[round(c, 6) for c in p] for p in pts],
                }))


if __name__ == "__main__":
    main()
