#!/usr/bin/env python3
"""Ground truth for PointInstancer instance transforms: for each stage of the usdImagingGL
PointInstancer and Instancing tests, every PointInstancer (instance proxies included) at each time
a test renders it (its `-times`, else the stage's start time code, else 0), the per-instance
matrices of pxr's ComputeInstanceTransformsAtTime(time, time, ExcludeProtoXform, IgnoreMask).
Writes one JSON object per line: {"file": <corpus-relative path>, "prim": <path>, "time": t,
"transforms": [[16 numbers, row-major as Gf stores them], ...]}.

Usage: python3 tests/data/instance_transforms.py [corpus dir] > tests/data/instance_transforms.jsonl
"""
import json
import os
import sys

from pxr import Usd, UsdGeom

DIRS = ["openusd/usdImagingGL/testUsdImagingGL" + name for name in ["PointInstancer", "Instancing"]]


def test_times(folder):
    """Stage file name -> the times its tests render (empty: the default time)."""
    times = {}
    with open(os.path.join(folder, "TESTS.json")) as f:
        for test in json.load(f)["tests"]:
            args = test["args"]
            if "-stage" not in args:
                continue
            stage = os.path.basename(args[args.index("-stage") + 1])
            ts = times.setdefault(stage, set())
            if "-times" in args:
                for a in args[args.index("-times") + 1:]:
                    if a.startswith("-"):
                        break
                    ts.add(float(a))
    return times


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../shared/corpus")
    for d in DIRS:
        folder = os.path.join(corpus, d)
        for name, times in sorted(test_times(folder).items()):
            stage = Usd.Stage.Open(os.path.join(folder, name))
            if stage is None:
                continue
            if not times:
                times = {stage.GetStartTimeCode() if stage.HasAuthoredTimeCodeRange() else 0.0}
            for prim in stage.Traverse(Usd.TraverseInstanceProxies()):
                if not prim.IsA(UsdGeom.PointInstancer):
                    continue
                pi = UsdGeom.PointInstancer(prim)
                for t in sorted(times):
                    xforms = pi.ComputeInstanceTransformsAtTime(
                        Usd.TimeCode(t), Usd.TimeCode(t),
                        UsdGeom.PointInstancer.ExcludeProtoXform, UsdGeom.PointInstancer.IgnoreMask)
                    print(json.dumps({
                        "file": f"{d}/{name}",
                        "prim": str(prim.GetPath()),
                        "time": t,
                        "transforms": [[round(x, 9) for row in m for x in row] for m in xforms],
                    }))


if __name__ == "__main__":
    main()
