#!/usr/bin/env python3
"""Writes scenes/default.usda, usdrender's bundled default scene (plain Python, no USD library).

An orbiting camera (main_cam) over frames 1-48 at 24 fps looks at: a ground plane, a spinning
hand-made mesh with per-face colours (quads and a pentagon), an implicit sphere, cube, cone and
cylinder, and a PointInstancer of 256 instances of two prototypes whose positions bob over time.
Run it again after editing: `python3 scenes/make_default.py > scenes/default.usda`.
"""
import math

FRAMES = (1, 48)
N_SIDE = 16


def fmt(v):
    return "(" + ", ".join(f"{x:.4g}" for x in v) + ")"


def instancer_positions(frame):
    out = []
    for i in range(N_SIDE):
        for j in range(N_SIDE):
            x = (i - (N_SIDE - 1) / 2) * 1.2
            z = (j - (N_SIDE - 1) / 2) * 1.2
            y = 0.35 + 0.25 * math.sin(0.35 * (i + j) + frame * 2 * math.pi / 48)
            out.append((x, y, z - 14))
    return out


def main():
    p = print
    p("#usda 1.0")
    p("(")
    p('    defaultPrim = "World"')
    p(f"    startTimeCode = {FRAMES[0]}")
    p(f"    endTimeCode = {FRAMES[1]}")
    p("    framesPerSecond = 24")
    p("    timeCodesPerSecond = 24")
    p('    upAxis = "Y"')
    p("    metersPerUnit = 1")
    p('    doc = "usdrender default scene: written by scenes/make_default.py"')
    p(")")
    p("")
    p('def Xform "World"')
    p("{")
    # Camera: orbit around the origin, looking slightly down.
    p('    def Camera "main_cam"')
    p("    {")
    p("        float focalLength = 35")
    p("        float horizontalAperture = 36")
    p("        float verticalAperture = 20.25")
    p("        float2 clippingRange = (0.1, 500)")
    p("        float xformOp:rotateY.timeSamples = {")
    for f in range(FRAMES[0], FRAMES[1] + 1, 4):
        p(f"            {f}: {-30 + 60 * (f - 1) / 47:.4g},")
    p("        }")
    p("        double3 xformOp:translate = (0, 6, 22)")
    p("        float xformOp:rotateX = -14")
    p('        uniform token[] xformOpOrder = ["xformOp:rotateY", "xformOp:translate", "xformOp:rotateX"]')
    p("    }")
    # Ground plane.
    p('    def Mesh "Ground"')
    p("    {")
    p("        int[] faceVertexCounts = [4]")
    p("        int[] faceVertexIndices = [0, 1, 2, 3]")
    p("        point3f[] points = [(-14, 0, 10), (14, 0, 10), (14, 0, -26), (-14, 0, -26)]")
    p("        color3f[] primvars:displayColor = [(0.35, 0.36, 0.38)]")
    p('        uniform token subdivisionScheme = "none"')
    p("    }")
    # Spinning hand-made mesh: a pentagonal prism with one colour per face.
    pts, counts, idx = [], [], []
    for k in range(5):
        a = 2 * math.pi * k / 5
        pts.append((math.cos(a), 0.0, math.sin(a)))
    for k in range(5):
        a = 2 * math.pi * k / 5
        pts.append((math.cos(a), 1.6, math.sin(a)))
    counts.append(5); idx += [0, 1, 2, 3, 4]               # bottom (n-gon)
    counts.append(5); idx += [9, 8, 7, 6, 5]               # top (n-gon)
    for k in range(5):
        counts.append(4); idx += [k, 5 + k, 5 + (k + 1) % 5, (k + 1) % 5]
    colors = [(0.9, 0.2, 0.2), (0.2, 0.8, 0.3), (0.2, 0.4, 0.9), (0.95, 0.8, 0.2), (0.8, 0.3, 0.85), (0.2, 0.85, 0.85), (1.0, 0.55, 0.1)]
    p('    def Mesh "Prism"')
    p("    {")
    p(f"        int[] faceVertexCounts = [{', '.join(map(str, counts))}]")
    p(f"        int[] faceVertexIndices = [{', '.join(map(str, idx))}]")
    p(f"        point3f[] points = [{', '.join(fmt(v) for v in pts)}]")
    # Hard edges: one authored normal per face (uniform), so smoothing does not darken the sides.
    normals = []
    for f_start, count in zip([sum(counts[:i]) for i in range(len(counts))], counts):
        a, b, c = (pts[idx[f_start + k]] for k in range(3))
        u = [b[i] - a[i] for i in range(3)]
        v = [c[i] - a[i] for i in range(3)]
        n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
        length = math.sqrt(sum(x * x for x in n))
        normals.append(tuple(x / length for x in n))
    p(f"        normal3f[] normals = [{', '.join(fmt(n) for n in normals)}] (")
    p('            interpolation = "uniform"')
    p("        )")
    p(f"        color3f[] primvars:displayColor = [{', '.join(fmt(c) for c in colors)}] (")
    p('            interpolation = "uniform"')
    p("        )")
    p('        uniform token subdivisionScheme = "none"')
    p("        double3 xformOp:translate = (0, 0, 0)")
    p("        float xformOp:rotateY.timeSamples = {")
    p(f"            {FRAMES[0]}: 0,")
    p(f"            {FRAMES[1]}: 360,")
    p("        }")
    p("        float3 xformOp:scale = (2, 2, 2)")
    p('        uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:rotateY", "xformOp:scale"]')
    p("    }")
    # Implicit shapes.
    shapes = [
        ("Sphere", "Ball", "double radius = 1.2", (-6, 1.2, 0), (0.95, 0.45, 0.2)),
        ("Cube", "Box", "double size = 2", (6, 1, 0), (0.3, 0.55, 0.95)),
        ("Cone", "Spike", 'double radius = 1\n        double height = 2.5\n        uniform token axis = "Y"', (-6, 1.25, 6), (0.55, 0.9, 0.35)),
        ("Cylinder", "Drum", 'double radius = 1\n        double height = 1.5\n        uniform token axis = "Y"', (6, 0.75, 6), (0.9, 0.85, 0.5)),
    ]
    for typ, name, attrs, pos, col in shapes:
        p(f'    def {typ} "{name}"')
        p("    {")
        p(f"        {attrs}")
        p(f"        color3f[] primvars:displayColor = [{fmt(col)}]")
        p(f"        double3 xformOp:translate = {fmt(pos)}")
        p('        uniform token[] xformOpOrder = ["xformOp:translate"]')
        p("    }")
    # PointInstancer: two prototypes, animated positions.
    n = N_SIDE * N_SIDE
    p('    def PointInstancer "Field"')
    p("    {")
    p("        rel prototypes = [</World/Field/Prototypes/Pebble>, </World/Field/Prototypes/Block>]")
    p(f"        int[] protoIndices = [{', '.join(str((i * 7 + i // N_SIDE) % 2) for i in range(n))}]")
    p("        point3f[] positions.timeSamples = {")
    for f in range(FRAMES[0], FRAMES[1] + 1, 2):
        p(f"            {f}: [{', '.join(fmt(v) for v in instancer_positions(f))}],")
    p("        }")
    p(f"        float3[] scales = [{', '.join(fmt((s, s, s)) for s in (0.5 + 0.25 * ((i * 37) % 5) / 4 for i in range(n)))}]")
    p('        def Scope "Prototypes"')
    p("        {")
    p('            def Sphere "Pebble"')
    p("            {")
    p("                double radius = 0.45")
    p("                color3f[] primvars:displayColor = [(0.85, 0.85, 0.9)]")
    p("            }")
    p('            def Cube "Block"')
    p("            {")
    p("                double size = 0.7")
    p("                color3f[] primvars:displayColor = [(0.95, 0.3, 0.45)]")
    p("            }")
    p("        }")
    p("    }")
    p("}")


if __name__ == "__main__":
    main()
