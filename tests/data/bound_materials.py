#!/usr/bin/env python3
"""Ground truth for material binding: for each stage of the usdImagingGL material tests, every drawn
gprim (instance proxies and PointInstancer prototypes included) and the Material pxr binds to it
for the `preview` purpose (then all-purpose), as Storm resolves it. Writes one JSON object per line:
{"file": <corpus-relative path>, "prim": <path>, "material": <path or null>}.

Usage: python3 tests/data/bound_materials.py [corpus dir] > tests/data/bound_materials.jsonl
"""
import json
import os
import sys

from pxr import Usd, UsdGeom, UsdShade

DIRS = [
    "openusd/usdImagingGL/testUsdImagingGL" + name
    for name in [
        "PreviewSurface",
        "GeomSubsets",
        "InstancingWithMaterials",
        "InvalidMaterial",
        "ShadeMaterial",
        "MaterialTag",
    ]
]
GPRIMS = {"Mesh", "Cube", "Sphere", "Cylinder", "Cylinder_1", "Cone", "Capsule", "Capsule_1", "Plane"}


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../shared/corpus")
    for d in DIRS:
        folder = os.path.join(corpus, d)
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".usda", ".usd", ".usdc")):
                continue
            stage = Usd.Stage.Open(os.path.join(folder, name))
            if stage is None:
                continue
            # Only stages whose root is a scene (not a layer referenced by another one) matter, but
            # listing every file keeps the script simple; the test compares every listed prim.
            for prim in stage.Traverse(Usd.TraverseInstanceProxies()):
                if prim.GetTypeName() not in GPRIMS:
                    continue
                material, _ = UsdShade.MaterialBindingAPI(prim).ComputeBoundMaterial(UsdShade.Tokens.preview)
                print(json.dumps({
                    "file": f"{d}/{name}",
                    "prim": str(prim.GetPath()),
                    "material": str(material.GetPath()) if material else None,
                }))
                # GeomSubsets of the materialBind family: each subset's own binding.
                if prim.GetTypeName() == "Mesh":
                    for subset in UsdShade.MaterialBindingAPI(prim).GetMaterialBindSubsets():
                        m, _ = UsdShade.MaterialBindingAPI(subset.GetPrim()).ComputeBoundMaterial(UsdShade.Tokens.preview)
                        print(json.dumps({
                            "file": f"{d}/{name}",
                            "prim": str(subset.GetPath()),
                            "material": str(m.GetPath()) if m else None,
                        }))


if __name__ == "__main__":
    main()
