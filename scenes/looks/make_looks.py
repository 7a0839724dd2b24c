#!/usr/bin/env python3
"""Writes the look scenes of tests/looks.rs: small stages, one per shading feature, and their
tiny textures (plain Python, standard library only; no USD library).

Run it again after editing, from anywhere: `python3 scenes/looks/make_looks.py`.
Every stage has a `main_cam` (4:3 aperture, rendered at 160x120) and one frame. The positions the
tests probe (tests/looks.rs) are computed from the same numbers: change them together.

  materials.usda     PreviewSurface inputs and the four ways a material gets bound
  textures.usda      UsdUVTexture: checker, repeat wrap, UsdTransform2d, scale/bias, fallback,
                     UsdPrimvarReader colour
  lights.usda        distant + sphere + rect lights, colour, exposure, a ShapingAPI cone, a shadow
  dome.usda          a lat-long DomeLight on a rough and a shiny sphere
  transparency.usda  overlapping opacity-0.5 quads, an opacityThreshold cut-out
  headlight.usda     no lights: the usdrecord headlight rule
"""
import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------
# Textures


def write_png(path, width, height, pixels, channels):
    """pixels: rows top to bottom, each a list of tuples of `channels` bytes (8-bit)."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    color_type = {3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)
    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9))
    data += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


CHECK_WHITE = (235, 235, 235, 255)
CHECK_DARK = (40, 40, 40, 255)
CHECK_RED = (220, 30, 30, 255)


def checker():
    """16x16, 4x4 cells; the cell at st (0, 0) (bottom-left of the image) is red, so a wrong
    flip or rotation shows."""
    rows = []
    for y in range(16):
        row = []
        for x in range(16):
            i, j = x // 4, (15 - y) // 4  # cell column, cell row counted from the bottom (t)
            if (i, j) == (0, 0):
                row.append(CHECK_RED)
            else:
                row.append(CHECK_WHITE if (i + j) % 2 == 0 else CHECK_DARK)
        rows.append(row)
    write_png(os.path.join(HERE, "checker.png"), 16, 16, rows, 4)


def cutout():
    """16x16 orange, alpha 0 in a disc of radius 5 texels at the centre (the hole)."""
    rows = []
    for y in range(16):
        row = []
        for x in range(16):
            inside = math.hypot(x + 0.5 - 8, y + 0.5 - 8) < 5
            row.append((240, 140, 30, 0 if inside else 255))
        rows.append(row)
    write_png(os.path.join(HERE, "cutout.png"), 16, 16, rows, 4)


def sky():
    """32x16 lat-long: blue sky in the upper half (+Y), brown ground in the lower, a small sun."""
    rows = []
    for y in range(16):
        row = []
        for x in range(32):
            if y < 8:
                k = y / 7  # 0 at the zenith, 1 at the horizon
                c = (int(50 + 120 * k), int(100 + 100 * k), int(230 + 10 * k))
            else:
                k = (y - 8) / 7
                c = (int(120 - 50 * k), int(85 - 35 * k), int(55 - 25 * k))
            if y in (3, 4) and x in (8, 9):
                c = (255, 250, 220)
            row.append(c)
        rows.append(row)
    write_png(os.path.join(HERE, "sky.png"), 32, 16, rows, 3)


# ---------------------------------------------------------------------------------------------
# USD text helpers


def header(doc):
    return f"""#usda 1.0
(
    defaultPrim = "World"
    startTimeCode = 1
    endTimeCode = 1
    upAxis = "Y"
    metersPerUnit = 1
    doc = "{doc} (written by scenes/looks/make_looks.py)"
)
"""


def camera(translate, rotate_x=0.0, focal=18.0):
    """A 4:3 camera (36 mm-style apertures in tenths of a unit, as USD's defaults)."""
    return f"""    def Camera "main_cam"
    {{
        float focalLength = {focal}
        float horizontalAperture = 20.955
        float verticalAperture = 15.71625
        float2 clippingRange = (0.1, 100)
        double3 xformOp:translate = {fmt(translate)}
        float xformOp:rotateX = {rotate_x}
        uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:rotateX"]
    }}
"""


def fmt(v):
    return "(" + ", ".join(f"{x:.6g}" for x in v) + ")"


def value(v):
    if isinstance(v, tuple):
        return fmt(v)
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def surface(name, inputs, extra_shaders="", indent="        "):
    """A Material with one UsdPreviewSurface. `inputs`: (type, name, value or '<connection>')."""
    lines = []
    for typ, key, v in inputs:
        if isinstance(v, str) and v.startswith("<"):
            lines.append(f"{indent}        {typ} inputs:{key}.connect = {v}")
        else:
            lines.append(f"{indent}        {typ} inputs:{key} = {value(v)}")
    body = "\n".join(lines)
    return f"""{indent}def Material "{name}"
{indent}{{
{indent}    token outputs:surface.connect = <Surface.outputs:surface>
{indent}    def Shader "Surface"
{indent}    {{
{indent}        uniform token info:id = "UsdPreviewSurface"
{body}
{indent}        token outputs:surface
{indent}    }}
{extra_shaders}{indent}}}
"""


def xform(translate=(0, 0, 0), rotate=None, indent="        "):
    ops = [f"{indent}double3 xformOp:translate = {fmt(translate)}"]
    order = ['"xformOp:translate"']
    if rotate is not None:
        ops.append(f"{indent}float3 xformOp:rotateXYZ = {fmt(rotate)}")
        order.append('"xformOp:rotateXYZ"')
    ops.append(f"{indent}uniform token[] xformOpOrder = [{', '.join(order)}]")
    return "\n".join(ops) + "\n"


def quad_mesh(name, center, size, st_scale=1.0, binding=None, extra="", indent="    "):
    """A square facing +Z with st 0..st_scale from its bottom-left corner."""
    h = size / 2
    s = st_scale
    bind = f'{indent}    rel material:binding = <{binding}>\n' if binding else ""
    api = ' (\n' + f'{indent}    prepend apiSchemas = ["MaterialBindingAPI"]\n{indent})' if binding else ""
    return f"""{indent}def Mesh "{name}"{api}
{indent}{{
{indent}    int[] faceVertexCounts = [4]
{indent}    int[] faceVertexIndices = [0, 1, 2, 3]
{indent}    point3f[] points = [(-{h}, -{h}, 0), ({h}, -{h}, 0), ({h}, {h}, 0), (-{h}, {h}, 0)]
{indent}    normal3f[] normals = [(0, 0, 1), (0, 0, 1), (0, 0, 1), (0, 0, 1)] (
{indent}        interpolation = "vertex"
{indent}    )
{indent}    texCoord2f[] primvars:st = [(0, 0), ({s}, 0), ({s}, {s}), (0, {s})] (
{indent}        interpolation = "vertex"
{indent}    )
{indent}    uniform token subdivisionScheme = "none"
{extra}{bind}{xform(center, indent=indent + "    ")}{indent}}}
"""


def cube_faces(half):
    """Points, counts and indices of a cube: faces +Y, -Y, +Z, -Z, +X, -X, each counter-clockwise
    seen from outside."""
    axes = [(0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1), (1, 0, 0), (-1, 0, 0)]
    points, indices = [], []
    for n in axes:
        # Tangents u, v with u x v = n: u any unit axis across n, v = n x u.
        u = (0, 1, 0) if n[0] != 0 else (1, 0, 0)
        v = (n[1] * u[2] - n[2] * u[1], n[2] * u[0] - n[0] * u[2], n[0] * u[1] - n[1] * u[0])
        base = len(points)
        for a, b in [(-1, -1), (1, -1), (1, 1), (-1, 1)]:
            points.append(tuple(half * (n[k] + a * u[k] + b * v[k]) for k in range(3)))
        indices += [base, base + 1, base + 2, base + 3]
    return points, [4] * 6, indices


# ---------------------------------------------------------------------------------------------
# Scenes

# materials.usda: row 1 varies PreviewSurface inputs, row 2 the bindings.
MAT_SPHERES = [  # name, x, inputs
    ("Diffuse", -2.5, [("color3f", "diffuseColor", (0.8, 0.1, 0.1)), ("float", "roughness", 0.6)]),
    ("Gold", -1.5, [("color3f", "diffuseColor", (1.0, 0.77, 0.34)), ("float", "metallic", 1.0), ("float", "roughness", 0.2)]),
    ("RoughMetal", -0.5, [("color3f", "diffuseColor", (0.9, 0.9, 0.9)), ("float", "metallic", 1.0), ("float", "roughness", 0.8)]),
    ("SpecularWorkflow", 0.5, [("color3f", "diffuseColor", (0.05, 0.1, 0.4)), ("int", "useSpecularWorkflow", 1), ("color3f", "specularColor", (0.2, 1.0, 0.3)), ("float", "roughness", 0.3)]),
    ("Emissive", 1.5, [("color3f", "diffuseColor", (0, 0, 0)), ("color3f", "emissiveColor", (1.0, 0.5, 0.0))]),
    ("Clearcoat", 2.5, [("color3f", "diffuseColor", (0.1, 0.2, 0.8)), ("float", "roughness", 0.7), ("float", "clearcoat", 1.0), ("float", "clearcoatRoughness", 0.25)]),
]
# Row 2: x of the inherited, collected (in, out) and subset cubes, and of the uncoated twin of
# the Clearcoat sphere (same base, no clearcoat).
MAT_ROW2_X = (-2.6, -1.3, 0.0, 1.3, 2.6)
MAT_ROW1_Y = 0.8
MAT_ROW2_Y = -0.8
MAT_CUBE_ROTATE = (25, 35, 0)


def materials():
    out = [header("PreviewSurface inputs and material bindings")]
    out.append('def Xform "World"\n{\n')
    out.append(camera((0, 0, 5.5)))
    out.append("""    def DistantLight "Key"
    {
        float inputs:intensity = 1.2
        float inputs:angle = 1
        float xformOp:rotateY = -30
        float xformOp:rotateX = -40
        uniform token[] xformOpOrder = ["xformOp:rotateY", "xformOp:rotateX"]
    }
    def DomeLight "Fill"
    {
        color3f inputs:color = (1, 1, 1)
        float inputs:intensity = 0.4
    }
""")
    out.append('    def Scope "Looks"\n    {\n')
    for name, _, inputs in MAT_SPHERES:
        out.append(surface(name, inputs))
    out.append(surface("Green", [("color3f", "diffuseColor", (0.1, 0.7, 0.15)), ("float", "roughness", 0.5)]))
    out.append(surface("Purple", [("color3f", "diffuseColor", (0.55, 0.1, 0.75)), ("float", "roughness", 0.5)]))
    out.append(surface("Yellow", [("color3f", "diffuseColor", (0.9, 0.8, 0.05)), ("float", "roughness", 0.5)]))
    out.append(surface("Teal", [("color3f", "diffuseColor", (0.05, 0.6, 0.6)), ("float", "roughness", 0.5)]))
    out.append(surface("Uncoated", [("color3f", "diffuseColor", (0.1, 0.2, 0.8)), ("float", "roughness", 0.7)]))
    out.append("    }\n")
    # Row 1: direct bindings.
    for name, x, _ in MAT_SPHERES:
        out.append(f"""    def Sphere "{name}" (
        prepend apiSchemas = ["MaterialBindingAPI"]
    )
    {{
        double radius = 0.45
        rel material:binding = </World/Looks/{name}>
{xform((x, MAT_ROW1_Y, 0))}    }}
""")
    # Row 2: inherited, collection (in and out), GeomSubset split.
    out.append(f"""    def Xform "Inherited" (
        prepend apiSchemas = ["MaterialBindingAPI"]
    )
    {{
        rel material:binding = </World/Looks/Green>
        def Cube "Cube"
        {{
            double size = 0.8
{xform((MAT_ROW2_X[0], MAT_ROW2_Y, 0), MAT_CUBE_ROTATE, "            ")}        }}
    }}
    def Xform "Collected" (
        prepend apiSchemas = ["MaterialBindingAPI", "CollectionAPI:purple"]
    )
    {{
        uniform token collection:purple:expansionRule = "expandPrims"
        rel collection:purple:includes = </World/Collected/In>
        rel material:binding:collection:purple = [</World/Collected.collection:purple>, </World/Looks/Purple>]
        def Cube "In"
        {{
            double size = 0.8
{xform((MAT_ROW2_X[1], MAT_ROW2_Y, 0), MAT_CUBE_ROTATE, "            ")}        }}
        def Cube "Out"
        {{
            double size = 0.8
            color3f[] primvars:displayColor = [(0.5, 0.5, 0.5)]
{xform((MAT_ROW2_X[2], MAT_ROW2_Y, 0), MAT_CUBE_ROTATE, "            ")}        }}
    }}
""")
    points, counts, indices = cube_faces(0.4)
    out.append(f"""    def Mesh "Split"
    {{
        int[] faceVertexCounts = {list(counts)}
        int[] faceVertexIndices = {list(indices)}
        point3f[] points = [{', '.join(fmt(p) for p in points)}]
        uniform token subdivisionScheme = "none"
        uniform token subsetFamily:materialBind:familyType = "partition"
{xform((MAT_ROW2_X[3], MAT_ROW2_Y, 0), MAT_CUBE_ROTATE)}        def GeomSubset "Top" (
            prepend apiSchemas = ["MaterialBindingAPI"]
        )
        {{
            uniform token elementType = "face"
            uniform token familyName = "materialBind"
            int[] indices = [0]
            rel material:binding = </World/Looks/Yellow>
        }}
        def GeomSubset "Sides" (
            prepend apiSchemas = ["MaterialBindingAPI"]
        )
        {{
            uniform token elementType = "face"
            uniform token familyName = "materialBind"
            int[] indices = [1, 2, 3, 4, 5]
            rel material:binding = </World/Looks/Teal>
        }}
    }}
    def Sphere "Uncoated" (
        prepend apiSchemas = ["MaterialBindingAPI"]
    )
    {{
        double radius = 0.45
        rel material:binding = </World/Looks/Uncoated>
{xform((MAT_ROW2_X[4], MAT_ROW2_Y, 0))}    }}
}}
""")
    return "".join(out)


# textures.usda: six quads in a 3x2 grid, lit by the headlight (no lights).
TEX_QUADS = [  # name, centre, st scale
    ("Checker", (-2.0, 1.0, 0), 1.0),
    ("Repeat", (0.0, 1.0, 0), 2.0),
    ("Rotate", (2.0, 1.0, 0), 1.0),
    ("ScaleBias", (-2.0, -1.0, 0), 1.0),
    ("Missing", (0.0, -1.0, 0), 1.0),
    ("Primvar", (2.0, -1.0, 0), 1.0),
]
TEX_SIZE = 1.6


def texture_material(name, file, extra_inputs=(), transform=None, fallback=None):
    """A material whose diffuseColor reads `file` through st (optionally a UsdTransform2d)."""
    st_source = "<../St.outputs:result>"
    transform_shader = ""
    if transform is not None:
        st_source = "<../Transform.outputs:result>"
        transform_shader = f"""            def Shader "Transform"
            {{
                uniform token info:id = "UsdTransform2d"
                float2 inputs:in.connect = <../St.outputs:result>
                float inputs:rotation = {transform}
                float2 outputs:result
            }}
"""
    inputs = "\n".join(f"                {t} inputs:{k} = {value(v)}" for t, k, v in extra_inputs)
    if fallback is not None:
        inputs += f"\n                float4 inputs:fallback = {fmt(fallback)}"
    shaders = f"""            def Shader "St"
            {{
                uniform token info:id = "UsdPrimvarReader_float2"
                string inputs:varname = "st"
                float2 outputs:result
            }}
{transform_shader}            def Shader "Texture"
            {{
                uniform token info:id = "UsdUVTexture"
                asset inputs:file = @{file}@
                float2 inputs:st.connect = {st_source}
                token inputs:wrapS = "repeat"
                token inputs:wrapT = "repeat"
                token inputs:sourceColorSpace = "sRGB"
{inputs}
                float3 outputs:rgb
            }}
"""
    return surface(
        name,
        [("color3f", "diffuseColor", "<../Texture.outputs:rgb>"), ("float", "roughness", 0.9)],
        shaders,
    )


def textures():
    out = [header("UsdUVTexture, UsdTransform2d and UsdPrimvarReader on quads")]
    out.append('def Xform "World"\n{\n')
    out.append(camera((0, 0, 6)))
    out.append('    def Scope "Looks"\n    {\n')
    out.append(texture_material("Checker", "./checker.png"))
    out.append(texture_material("Repeat", "./checker.png"))
    out.append(texture_material("Rotate", "./checker.png", transform=90))
    out.append(texture_material(
        "ScaleBias", "./checker.png",
        extra_inputs=[("float4", "scale", (0.5, 0.5, 0.5, 1.0)), ("float4", "bias", (0.5, 0.0, 0.0, 0.0))],
    ))
    out.append(texture_material("Missing", "./no_such_texture.png", fallback=(0.1, 0.7, 0.2, 1.0)))
    out.append(surface(
        "Primvar",
        [("color3f", "diffuseColor", "<../Tint.outputs:result>"), ("float", "roughness", 0.9)],
        """            def Shader "Tint"
            {
                uniform token info:id = "UsdPrimvarReader_float3"
                string inputs:varname = "tint"
                float3 inputs:fallback = (1, 0, 1)
                float3 outputs:result
            }
""",
    ))
    out.append("    }\n")
    for name, centre, st in TEX_QUADS:
        extra = ""
        if name == "Primvar":
            extra = """        color3f[] primvars:tint = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)] (
            interpolation = "vertex"
        )
"""
        out.append(quad_mesh(name, centre, TEX_SIZE, st, f"/World/Looks/{name}", extra))
    out.append("}\n")
    return "".join(out)


# lights.usda: a ground plane and a cube, seen from above at an angle.
LIGHTS_CAMERA = ((0, 4, 6), -33.0)


def lights():
    out = [header("UsdLux distant, sphere, rect and cone lights; a distant light's shadow")]
    out.append('def Xform "World"\n{\n')
    out.append(camera(LIGHTS_CAMERA[0], LIGHTS_CAMERA[1]))
    out.append('    def Scope "Looks"\n    {\n')
    out.append(surface("Ground", [("color3f", "diffuseColor", (0.7, 0.7, 0.7)), ("float", "roughness", 0.9)]))
    out.append(surface("Box", [("color3f", "diffuseColor", (0.8, 0.6, 0.3)), ("float", "roughness", 0.6)]))
    out.append("    }\n")
    out.append("""    def Mesh "Ground" (
        prepend apiSchemas = ["MaterialBindingAPI"]
    )
    {
        int[] faceVertexCounts = [4]
        int[] faceVertexIndices = [0, 1, 2, 3]
        point3f[] points = [(-6, 0, 4), (6, 0, 4), (6, 0, -6), (-6, 0, -6)]
        normal3f[] normals = [(0, 1, 0), (0, 1, 0), (0, 1, 0), (0, 1, 0)] (
            interpolation = "vertex"
        )
        uniform token subdivisionScheme = "none"
        rel material:binding = </World/Looks/Ground>
    }
    def Cube "Box" (
        prepend apiSchemas = ["MaterialBindingAPI"]
    )
    {
        double size = 1
        rel material:binding = </World/Looks/Box>
        double3 xformOp:translate = (0, 0.5, 0)
        uniform token[] xformOpOrder = ["xformOp:translate"]
    }
    # The sun: travels along (-0.5, -0.866, 0), so the box's shadow falls on the -X side.
    def DistantLight "Sun" (
        prepend apiSchemas = ["ShadowAPI"]
    )
    {
        color3f inputs:color = (1, 0.95, 0.85)
        float inputs:intensity = 0.7
        float inputs:angle = 0.5
        bool inputs:shadow:enable = 1
        float xformOp:rotateY = 90
        float xformOp:rotateX = -60
        uniform token[] xformOpOrder = ["xformOp:rotateY", "xformOp:rotateX"]
    }
    # Storm's simple lights have no distance falloff: intensities are those of a distant light.
    # A red sphere light on the right, brightened by exposure (0.15 x 2^1).
    def SphereLight "Red"
    {
        color3f inputs:color = (1, 0.15, 0.1)
        float inputs:intensity = 0.15
        float inputs:exposure = 1
        float inputs:radius = 0.1
        double3 xformOp:translate = (2.6, 0.6, -1.5)
        uniform token[] xformOpOrder = ["xformOp:translate"]
    }
    # A blue rect light above the back left, facing down.
    def RectLight "Blue"
    {
        color3f inputs:color = (0.2, 0.4, 1)
        float inputs:intensity = 0.3
        float inputs:width = 0.6
        float inputs:height = 0.6
        double3 xformOp:translate = (-2.6, 1.5, -2.5)
        float xformOp:rotateX = -90
        uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:rotateX"]
    }
    # A green spot straight down onto (1.8, 0, 1.2): a disc of radius 2 tan 15 = 0.54.
    def SphereLight "Spot" (
        prepend apiSchemas = ["ShapingAPI"]
    )
    {
        color3f inputs:color = (0.2, 1, 0.2)
        float inputs:intensity = 0.8
        float inputs:radius = 0.05
        float inputs:shaping:cone:angle = 15
        float inputs:shaping:cone:softness = 0
        double3 xformOp:translate = (1.8, 2, 1.2)
        float xformOp:rotateX = -90
        uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:rotateX"]
    }
}
""")
    return "".join(out)


def dome():
    out = [header("A lat-long DomeLight on a rough and a shiny sphere")]
    out.append('def Xform "World"\n{\n')
    out.append(camera((0, 0, 4)))
    out.append('    def Scope "Looks"\n    {\n')
    out.append(surface("Rough", [("color3f", "diffuseColor", (0.8, 0.8, 0.8)), ("float", "roughness", 0.9)]))
    out.append(surface("Shiny", [("color3f", "diffuseColor", (0.95, 0.95, 0.95)), ("float", "metallic", 1.0), ("float", "roughness", 0.05)]))
    out.append("    }\n")
    for name, x in [("Rough", -0.8), ("Shiny", 0.8)]:
        out.append(f"""    def Sphere "{name}" (
        prepend apiSchemas = ["MaterialBindingAPI"]
    )
    {{
        double radius = 0.6
        rel material:binding = </World/Looks/{name}>
{xform((x, 0, 0))}    }}
""")
    out.append("""    def DomeLight "Sky"
    {
        float inputs:intensity = 1
        asset inputs:texture:file = @./sky.png@
        token inputs:texture:format = "latlong"
    }
}
""")
    return "".join(out)


# transparency.usda: two overlapping opacity-0.5 quads in front of an opaque sphere, and a cut-out.
TR_RED = ((-0.6, 0.3, 0), 1.6)
TR_BLUE = ((0.4, -0.3, 0.3), 1.6)
TR_SPHERE = ((0.9, 0.5, -1.5), 0.5)
TR_CUTOUT = ((-2.4, 0, 0), 1.4)


def transparency():
    out = [header("Blended opacity and an opacityThreshold cut-out")]
    out.append('def Xform "World"\n{\n')
    out.append(camera((0, 0, 6)))
    out.append('    def Scope "Looks"\n    {\n')
    out.append(surface("Red", [("color3f", "diffuseColor", (0.9, 0.1, 0.1)), ("float", "opacity", 0.5)]))
    out.append(surface("Blue", [("color3f", "diffuseColor", (0.1, 0.2, 0.9)), ("float", "opacity", 0.5)]))
    out.append(surface("Opaque", [("color3f", "diffuseColor", (0.2, 0.8, 0.2))]))
    out.append(surface(
        "Cutout",
        [
            ("color3f", "diffuseColor", "<../Texture.outputs:rgb>"),
            ("float", "opacity", "<../Texture.outputs:a>"),
            ("float", "opacityThreshold", 0.5),
        ],
        """            def Shader "St"
            {
                uniform token info:id = "UsdPrimvarReader_float2"
                string inputs:varname = "st"
                float2 outputs:result
            }
            def Shader "Texture"
            {
                uniform token info:id = "UsdUVTexture"
                asset inputs:file = @./cutout.png@
                float2 inputs:st.connect = <../St.outputs:result>
                token inputs:wrapS = "clamp"
                token inputs:wrapT = "clamp"
                float3 outputs:rgb
                float outputs:a
            }
""",
    ))
    out.append("    }\n")
    out.append(f"""    def Sphere "Behind" (
        prepend apiSchemas = ["MaterialBindingAPI"]
    )
    {{
        double radius = {TR_SPHERE[1]}
        rel material:binding = </World/Looks/Opaque>
{xform(TR_SPHERE[0])}    }}
""")
    out.append(quad_mesh("RedQuad", TR_RED[0], TR_RED[1], binding="/World/Looks/Red"))
    out.append(quad_mesh("BlueQuad", TR_BLUE[0], TR_BLUE[1], binding="/World/Looks/Blue"))
    out.append(quad_mesh("Cutout", TR_CUTOUT[0], TR_CUTOUT[1], binding="/World/Looks/Cutout"))
    out.append("}\n")
    return "".join(out)


def headlight():
    out = [header("No lights: usdrecord's camera headlight (auto) or none (--headlight off)")]
    out.append('def Xform "World"\n{\n')
    out.append(camera((0, 0, 5)))
    out.append('    def Scope "Looks"\n    {\n')
    out.append(surface("White", [("color3f", "diffuseColor", (0.8, 0.8, 0.8)), ("float", "roughness", 0.5)]))
    out.append("    }\n")
    out.append(f"""    def Sphere "Ball" (
        prepend apiSchemas = ["MaterialBindingAPI"]
    )
    {{
        double radius = 0.8
        rel material:binding = </World/Looks/White>
{xform((-1.0, 0, 0))}    }}
    def Cube "Box"
    {{
        double size = 1.2
        color3f[] primvars:displayColor = [(0.3, 0.5, 0.9)]
{xform((1.2, 0, 0), (20, 30, 0))}    }}
}}
""")
    return "".join(out)


def main():
    checker()
    cutout()
    sky()
    for name, make in [
        ("materials", materials),
        ("textures", textures),
        ("lights", lights),
        ("dome", dome),
        ("transparency", transparency),
        ("headlight", headlight),
    ]:
        with open(os.path.join(HERE, f"{name}.usda"), "w") as f:
            f.write(make())


if __name__ == "__main__":
    main()
