#!/usr/bin/env python3
"""Pixar's library as the reference for `usdrender bench --evaluate-only`.

Opens STAGE with pxr (`pip install usd-core`) and, for each frame, reads what usdrender's
evaluation produces: every drawn mesh's points and normals, its displayColor and its world
transform. Prints one JSON object: the open time, the first frame's time (cold, as
usdrender's warm-up frame), and the mean ms per frame over the rest.

    python3 benches/pxr_evaluate.py STAGE --frames 0-40
    python3 benches/pxr_evaluate.py STAGE --load-only     # open + read points, vs `usdrender info`
"""

import argparse
import json
import sys
import time


def parse_frames(spec):
    """'0-40' or '0-40x2' or '1,5,10' as a list of floats."""
    out = []
    for part in spec.split(","):
        step = 1.0
        if "x" in part:
            part, step = part.split("x")
            step = float(step)
        if "-" in part[1:]:
            i = part.index("-", 1)
            a, b = float(part[:i]), float(part[i + 1:])
            t = a
            while t <= b + 1e-9:
                out.append(t)
                t += step
        else:
            out.append(float(part))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stage")
    ap.add_argument("--frames", default="0-40")
    ap.add_argument(
        "--load-only",
        action="store_true",
        help="open the stage and read every mesh's points once (what `usdrender info` is compared with)",
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(args.stage)
    if not stage:
        sys.exit(f"cannot open {args.stage}")
    meshes = [
        UsdGeom.Mesh(p)
        for p in Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies(Usd.PrimDefaultPredicate))
        if p.IsA(UsdGeom.Mesh)
    ]
    # Queries resolve each attribute's value source once, as usdrender resolves its tracks once.
    queries = [
        (
            Usd.AttributeQuery(m.GetPointsAttr()),
            Usd.AttributeQuery(m.GetNormalsAttr()),
            Usd.AttributeQuery(m.GetDisplayColorAttr()),
        )
        for m in meshes
    ]
    opened = time.perf_counter() - t0
    if args.load_only:
        n = sum(len(q[0].Get(Usd.TimeCode.EarliestTime()) or []) for q in queries)
        print(json.dumps({"stage": args.stage, "meshes": len(meshes), "points": n, "open_s": round(opened, 4)}))
        return

    frames = parse_frames(args.frames)
    per_frame = []
    for f in frames:
        t = time.perf_counter()
        cache = UsdGeom.XformCache(Usd.TimeCode(f))
        n = 0
        for m, (points, normals, color) in zip(meshes, queries):
            p = points.Get(f)
            normals.Get(f)
            color.Get(f)
            cache.GetLocalToWorldTransform(m.GetPrim())
            n += len(p) if p else 0
        per_frame.append((time.perf_counter() - t) * 1e3)
    rest = per_frame[1:] or per_frame
    print(
        json.dumps(
            {
                "stage": args.stage,
                "meshes": len(meshes),
                "frames": len(frames),
                "open_s": round(opened, 4),
                "first_frame_ms": round(per_frame[0], 3),
                "evaluate_ms_per_frame": round(sum(rest) / len(rest), 3),
                "points_last_frame": n,
            }
        )
    )


if __name__ == "__main__":
    main()
