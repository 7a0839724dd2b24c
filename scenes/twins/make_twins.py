#!/usr/bin/env python3
"""Writes the material twins of tests/material_twins.rs: for each translation usdrender makes
(MDL's OmniPBR, OmniSurface and OmniGlass, a local .mdl module, MaterialX by reference and in
UsdShade, Standard Surface, OpenPBR, glTF PBR), a stage `<name>.usda` whose material is written
that way, and `<name>_twin.usda`, the same stage with a UsdPreviewSurface written by hand from the
translation's documented rules (docs/design.md, "Materials"). The test renders both and expects
the same picture. Plain Python, standard library only.

Run it again after editing, from anywhere: `python3 scenes/twins/make_twins.py`.
"""
import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------
# Textures (tiny PNGs)


def write_png(name, width, height, pixel):
    """pixel(x, y) -> (r, g, b, a) bytes; rows top to bottom."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in pixel(x, y)) for y in range(height)
    )
    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9))
    data += chunk(b"IEND", b"")
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def textures():
    # Colour: a 4x4-cell checker, orange and pale blue.
    write_png("checker.png", 32, 32, lambda x, y: (230, 120, 40, 255) if (x // 8 + y // 8) % 2 else (170, 200, 240, 255))
    # Roughness and metallic: a horizontal ramp in red, vertical stripes in every channel.
    write_png("ramp.png", 32, 32, lambda x, y: (x * 8, 128, 0, 255))
    write_png("stripes.png", 32, 32, lambda x, y: (255, 255, 255, 255) if (x // 4) % 2 else (0, 0, 0, 255))
    # A normal map of gentle bumps (tangent space, 0.5 + n / 2).
    def bump(x, y):
        nx = 0.35 * math.sin(x / 32 * 4 * math.pi)
        ny = 0.35 * math.cos(y / 32 * 4 * math.pi)
        nz = math.sqrt(max(0.0, 1 - nx * nx - ny * ny))
        return (int(127.5 + 127.5 * nx), int(127.5 + 127.5 * ny), int(127.5 + 127.5 * nz), 255)
    write_png("bumps.png", 32, 32, bump)


# ---------------------------------------------------------------------------------------------
# The shared stage: a camera, two lights, a textured ball and a ground card behind it


def sphere_mesh(rings=16, segments=32, radius=1.0):
    points, normals, st, counts, indices = [], [], [], [], []
    for i in range(rings + 1):
        phi = math.pi * i / rings
        for j in range(segments + 1):
            theta = 2 * math.pi * j / segments
            n = (math.sin(phi) * math.cos(theta), math.cos(phi), -math.sin(phi) * math.sin(theta))
            points.append(tuple(radius * c for c in n))
            normals.append(n)
            st.append((j / segments, 1 - i / rings))
    for i in range(rings):
        for j in range(segments):
            a = i * (segments + 1) + j
            b = a + segments + 1
            counts.append(4)
            indices += [a, b, b + 1, a + 1]
    return points, normals, st, counts, indices


def fmt(v):
    return "(" + ", ".join(f"{x:.6g}" for x in v) + ")"


def array(vs):
    return "[" + ", ".join(fmt(v) for v in vs) + "]"


def stage(doc, looks, binding="/World/Looks/M"):
    points, normals, st, counts, indices = sphere_mesh()
    return f"""#usda 1.0
(
    defaultPrim = "World"
    startTimeCode = 1
    endTimeCode = 1
    upAxis = "Y"
    metersPerUnit = 1
    doc = "{doc} (written by scenes/twins/make_twins.py)"
)

def Xform "World"
{{
    def Camera "main_cam"
    {{
        float focalLength = 24
        float horizontalAperture = 20.955
        float verticalAperture = 15.71625
        float2 clippingRange = (0.1, 100)
        double3 xformOp:translate = (0, 0.4, 4.2)
        float xformOp:rotateX = -6
        uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:rotateX"]
    }}

    def DistantLight "Key"
    {{
        float inputs:intensity = 2
        float3 xformOp:rotateXYZ = (-40, 30, 0)
        uniform token[] xformOpOrder = ["xformOp:rotateXYZ"]
    }}

    def DomeLight "Fill"
    {{
        color3f inputs:color = (0.8, 0.85, 1)
        float inputs:intensity = 0.35
    }}

    def Mesh "Ball" (
        prepend apiSchemas = ["MaterialBindingAPI"]
    )
    {{
        int[] faceVertexCounts = {fmt(counts).replace("(", "[").replace(")", "]")}
        int[] faceVertexIndices = {fmt(indices).replace("(", "[").replace(")", "]")}
        point3f[] points = {array(points)}
        normal3f[] normals = {array(normals)} (
            interpolation = "vertex"
        )
        texCoord2f[] primvars:st = {array(st)} (
            interpolation = "vertex"
        )
        uniform token subdivisionScheme = "none"
        rel material:binding = <{binding}>
        double3 xformOp:translate = (0.3, 0, 0)
        float3 xformOp:rotateXYZ = (0, -30, 0)
        uniform token[] xformOpOrder = ["xformOp:translate", "xformOp:rotateXYZ"]
    }}

    def Mesh "Card"
    {{
        int[] faceVertexCounts = [4]
        int[] faceVertexIndices = [0, 1, 2, 3]
        point3f[] points = [(-3, -1.2, -1.5), (3, -1.2, -1.5), (3, 2.5, -1.5), (-3, 2.5, -1.5)]
        color3f[] primvars:displayColor = [(0.35, 0.3, 0.25)]
        uniform token subdivisionScheme = "none"
    }}

{looks}}}
"""


# ---------------------------------------------------------------------------------------------
# Materials


def preview(inputs, shaders=""):
    """The twin: a UsdPreviewSurface at /World/Looks/M. inputs: lines inside the shader."""
    body = "\n".join(f"                {line}" for line in inputs)
    return f"""    def Scope "Looks"
    {{
        def Material "M"
        {{
            token outputs:surface.connect = </World/Looks/M/Surface.outputs:surface>
            def Shader "Surface"
            {{
                uniform token info:id = "UsdPreviewSurface"
{body}
                token outputs:surface
            }}
{shaders}        }}
    }}
"""


def uv_texture(name, file, color_space, output, scale=(1, 1, 1, 1), bias=(0, 0, 0, 0), st_scale=None, st_rotate=0, st_translate=(0, 0)):
    """A UsdUVTexture reading `st` (through a UsdTransform2d when st_scale is given), repeat wrap."""
    st = f"</World/Looks/M/{name}St.outputs:result>"
    transform = ""
    if st_scale is not None:
        transform = f"""            def Shader "{name}Transform"
            {{
                uniform token info:id = "UsdTransform2d"
                float2 inputs:in.connect = {st}
                float2 inputs:scale = {fmt(st_scale)}
                float inputs:rotation = {st_rotate}
                float2 inputs:translation = {fmt(st_translate)}
                float2 outputs:result
            }}
"""
        st = f"</World/Looks/M/{name}Transform.outputs:result>"
    return f"""            def Shader "{name}St"
            {{
                uniform token info:id = "UsdPrimvarReader_float2"
                string inputs:varname = "st"
                float2 outputs:result
            }}
{transform}            def Shader "{name}"
            {{
                uniform token info:id = "UsdUVTexture"
                asset inputs:file = @./{file}@
                token inputs:sourceColorSpace = "{color_space}"
                token inputs:wrapS = "repeat"
                token inputs:wrapT = "repeat"
                float4 inputs:scale = {fmt(scale)}
                float4 inputs:bias = {fmt(bias)}
                float2 inputs:st.connect = {st}
                {"float3" if output == "rgb" else "float"} outputs:{output}
            }}
"""


def mdl(module, material, inputs, render_context_only=True):
    """An MDL material at /World/Looks/M, as Omniverse writes it."""
    body = "\n".join(f"                {line}" for line in inputs)
    return f"""    def Scope "Looks"
    {{
        def Material "M"
        {{
            token outputs:mdl:surface.connect = </World/Looks/M/Shader.outputs:out>
            def Shader "Shader"
            {{
                uniform token info:implementationSource = "sourceAsset"
                uniform asset info:mdl:sourceAsset = @{module}@
                uniform token info:mdl:sourceAsset:subIdentifier = "{material}"
{body}
                token outputs:out
            }}
        }}
    }}
"""


INV_PI = 1 / math.pi


def mul(a, b):
    return tuple(x * y for x, y in zip(a, b))


def pairs():
    out = {}

    # OmniPBR, constants: base = constant * tint, then * brightness; roughness and metallic.
    base = mul(mul((0.8, 0.25, 0.1), (0.9, 0.9, 1.0)), (0.9, 0.9, 0.9))
    out["omnipbr_constants"] = (
        mdl("OmniPBR.mdl", "OmniPBR", [
            "color3f inputs:diffuse_color_constant = (0.8, 0.25, 0.1)",
            "color3f inputs:diffuse_tint = (0.9, 0.9, 1)",
            "float inputs:albedo_brightness = 0.9",
            "float inputs:reflection_roughness_constant = 0.35",
            "float inputs:metallic_constant = 0.2",
        ]),
        preview([
            f"color3f inputs:diffuseColor = {fmt(base)}",
            "float inputs:roughness = 0.35",
            "float inputs:metallic = 0.2",
        ]),
    )

    # OmniPBR, textured: colour texture * tint; roughness = lerp(constant, ramp.r, influence);
    # metallic from stripes at full influence; a normal map at bump_factor 0.5; coordinates
    # divided by texture_scale (a larger scale makes the texture larger).
    st = dict(st_scale=(0.5, 0.5), st_rotate=0, st_translate=(0, 0))
    out["omnipbr_textured"] = (
        mdl("OmniPBR.mdl", "OmniPBR", [
            'asset inputs:diffuse_texture = @./checker.png@ (colorSpace = "sRGB")',
            "color3f inputs:diffuse_tint = (1, 0.8, 0.6)",
            "float inputs:reflection_roughness_constant = 0.6",
            "float inputs:reflection_roughness_texture_influence = 0.5",
            'asset inputs:reflectionroughness_texture = @./ramp.png@ (colorSpace = "raw")',
            "float inputs:metallic_texture_influence = 1",
            'asset inputs:metallic_texture = @./stripes.png@ (colorSpace = "raw")',
            'asset inputs:normalmap_texture = @./bumps.png@ (colorSpace = "raw")',
            "float inputs:bump_factor = 0.5",
            "float2 inputs:texture_scale = (2, 2)",
        ]),
        preview([
            "color3f inputs:diffuseColor.connect = </World/Looks/M/Color.outputs:rgb>",
            "float inputs:roughness.connect = </World/Looks/M/Rough.outputs:r>",
            "float inputs:metallic.connect = </World/Looks/M/Metal.outputs:r>",
            "normal3f inputs:normal.connect = </World/Looks/M/Normal.outputs:rgb>",
        ], uv_texture("Color", "checker.png", "sRGB", "rgb", scale=(1, 0.8, 0.6, 1), **st)
            + uv_texture("Rough", "ramp.png", "raw", "r", scale=(0.5, 0.5, 0.5, 0.5), bias=(0.3, 0.3, 0.3, 0.3), **st)
            + uv_texture("Metal", "stripes.png", "raw", "r", **st)
            + uv_texture("Normal", "bumps.png", "raw", "rgb", scale=(1, 1, 2, 1), bias=(-0.5, -0.5, -1, 0), **st)),
    )

    # OmniSurface: diffuse weight * colour, specular roughness, coat, emission weight * colour.
    out["omnisurface"] = (
        mdl("OmniSurface.mdl", "OmniSurface", [
            "float inputs:diffuse_reflection_weight = 0.7",
            "color3f inputs:diffuse_reflection_color = (0.2, 0.5, 0.9)",
            "float inputs:specular_reflection_roughness = 0.3",
            "float inputs:coat_weight = 0.5",
            "float inputs:coat_roughness = 0.05",
            "float inputs:emission_weight = 0.3",
            "color3f inputs:emission_color = (1, 0.5, 0.2)",
        ]),
        preview([
            f"color3f inputs:diffuseColor = {fmt(mul((0.2, 0.5, 0.9), (0.7,) * 3))}",
            "float inputs:roughness = 0.3",
            "float inputs:clearcoat = 0.5",
            "float inputs:clearcoatRoughness = 0.05",
            f"color3f inputs:emissiveColor = {fmt(mul((1, 0.5, 0.2), (0.3,) * 3))}",
        ]),
    )

    # OmniGlass: drawn as transparency (opacity 0.15) tinted by the glass colour.
    out["omniglass"] = (
        mdl("OmniGlass.mdl", "OmniGlass", [
            "color3f inputs:glass_color = (0.6, 0.9, 0.7)",
            "float inputs:frosting_roughness = 0.1",
            "float inputs:glass_ior = 1.45",
        ]),
        preview([
            "color3f inputs:diffuseColor = (0.6, 0.9, 0.7)",
            "float inputs:roughness = 0.1",
            "float inputs:ior = 1.45",
            "float inputs:opacity = 0.15",
        ]),
    )

    # A local module: an exported call of OmniPBR with literal arguments, one overridden by the
    # USD input of the same name.
    out["local_mdl_call"] = (
        mdl("./looks.mdl", "Brick", ["float inputs:reflection_roughness_constant = 0.4"]),
        preview([
            "color3f inputs:diffuseColor = (0.7, 0.3, 0.2)",
            "float inputs:roughness = 0.4",
            "float inputs:metallic = 0.1",
        ]),
    )

    # A local module: a simple diffuse material with emission; its tint parameter set from USD.
    glow = mul((1.0, 0.8, 0.2), (0.5 * INV_PI,) * 3)
    out["local_mdl_simple"] = (
        mdl("./looks.mdl", "Glow", ["color3f inputs:tint = (0.2, 0.3, 0.8)"]),
        preview([
            "color3f inputs:diffuseColor = (0.2, 0.3, 0.8)",
            "int inputs:useSpecularWorkflow = 1",
            "color3f inputs:specularColor = (0, 0, 0)",
            "float inputs:roughness = 0.9",
            f"color3f inputs:emissiveColor = {fmt(glow)}",
        ]),
    )

    # MaterialX by reference: a .mtlx document's Standard Surface, its base colour an image
    # times a colour, times base.
    out["mtlx_reference"] = (
        """    def Scope "Looks" (
        prepend references = @./looks.mtlx@</MaterialX/Materials>
    )
    {
    }
""",
        preview([
            "color3f inputs:diffuseColor.connect = </World/Looks/M/Color.outputs:rgb>",
            "float inputs:roughness = 0.4",
            "float inputs:metallic = 0.1",
        ], uv_texture("Color", "checker.png", "sRGB", "rgb", scale=(0.8 * 0.9, 0.9 * 0.9, 1.0 * 0.9, 1))),
    )

    # MaterialX in UsdShade: a tiled image (2x2) feeding Standard Surface, roughness through a
    # constant node, metalness from a float image's red.
    out["mtlx_usdshade"] = (
        """    def Scope "Looks"
    {
        def Material "M"
        {
            token outputs:mtlx:surface.connect = </World/Looks/M/Surface.outputs:out>
            def Shader "Surface"
            {
                uniform token info:id = "ND_standard_surface_surfaceshader"
                float inputs:base = 1
                color3f inputs:base_color.connect = </World/Looks/M/Tiled.outputs:out>
                float inputs:specular_roughness.connect = </World/Looks/M/Rough.outputs:out>
                float inputs:metalness.connect = </World/Looks/M/Metal.outputs:out>
                token outputs:out
            }
            def Shader "Tiled"
            {
                uniform token info:id = "ND_tiledimage_color3"
                asset inputs:file = @./checker.png@ (
                    colorSpace = "srgb_texture"
                )
                float2 inputs:uvtiling = (2, 2)
                color3f outputs:out
            }
            def Shader "Rough"
            {
                uniform token info:id = "ND_constant_float"
                float inputs:value = 0.55
                float outputs:out
            }
            def Shader "Metal"
            {
                uniform token info:id = "ND_image_float"
                asset inputs:file = @./stripes.png@
                float outputs:out
            }
        }
    }
""",
        preview([
            "color3f inputs:diffuseColor.connect = </World/Looks/M/Color.outputs:rgb>",
            "float inputs:roughness = 0.55",
            "float inputs:metallic.connect = </World/Looks/M/Metal.outputs:r>",
        ], uv_texture("Color", "checker.png", "sRGB", "rgb", st_scale=(2, 2))
            + uv_texture("Metal", "stripes.png", "raw", "r")),
    )

    # Standard Surface, constants: base * base_color, metalness, roughness, coat, emission.
    out["standard_surface"] = (
        """    def Scope "Looks"
    {
        def Material "M"
        {
            token outputs:mtlx:surface.connect = </World/Looks/M/Surface.outputs:out>
            def Shader "Surface"
            {
                uniform token info:id = "ND_standard_surface_surfaceshader"
                float inputs:base = 0.8
                color3f inputs:base_color = (0.3, 0.6, 0.2)
                float inputs:metalness = 0.5
                float inputs:specular_roughness = 0.3
                float inputs:coat = 0.4
                float inputs:coat_roughness = 0.2
                float inputs:emission = 0.5
                color3f inputs:emission_color = (0.2, 0.2, 1)
                token outputs:out
            }
        }
    }
""",
        preview([
            f"color3f inputs:diffuseColor = {fmt(mul((0.3, 0.6, 0.2), (0.8,) * 3))}",
            "float inputs:metallic = 0.5",
            "float inputs:roughness = 0.3",
            "float inputs:clearcoat = 0.4",
            "float inputs:clearcoatRoughness = 0.2",
            f"color3f inputs:emissiveColor = {fmt(mul((0.2, 0.2, 1), (0.5,) * 3))}",
        ]),
    )

    # OpenPBR: base weight * colour, metalness, roughness, coat; emission in nits / 1000.
    out["open_pbr"] = (
        """    def Scope "Looks"
    {
        def Material "M"
        {
            token outputs:mtlx:surface.connect = </World/Looks/M/Surface.outputs:out>
            def Shader "Surface"
            {
                uniform token info:id = "ND_open_pbr_surface_surfaceshader"
                float inputs:base_weight = 0.9
                color3f inputs:base_color = (0.7, 0.2, 0.6)
                float inputs:base_metalness = 0.3
                float inputs:specular_roughness = 0.45
                float inputs:coat_weight = 0.3
                float inputs:coat_roughness = 0.1
                float inputs:emission_luminance = 300
                color3f inputs:emission_color = (1, 1, 0.5)
                token outputs:out
            }
        }
    }
""",
        preview([
            f"color3f inputs:diffuseColor = {fmt(mul((0.7, 0.2, 0.6), (0.9,) * 3))}",
            "float inputs:metallic = 0.3",
            "float inputs:roughness = 0.45",
            "float inputs:clearcoat = 0.3",
            "float inputs:clearcoatRoughness = 0.1",
            f"color3f inputs:emissiveColor = {fmt(mul((1, 1, 0.5), (0.3,) * 3))}",
        ]),
    )

    # glTF PBR: blended alpha.
    out["gltf_pbr"] = (
        """    def Scope "Looks"
    {
        def Material "M"
        {
            token outputs:mtlx:surface.connect = </World/Looks/M/Surface.outputs:out>
            def Shader "Surface"
            {
                uniform token info:id = "ND_gltf_pbr_surfaceshader"
                color3f inputs:base_color = (0.9, 0.9, 0.2)
                float inputs:metallic = 0
                float inputs:roughness = 0.7
                int inputs:alpha_mode = 2
                float inputs:alpha = 0.6
                token outputs:out
            }
        }
    }
""",
        preview([
            "color3f inputs:diffuseColor = (0.9, 0.9, 0.2)",
            "float inputs:metallic = 0",
            "float inputs:roughness = 0.7",
            "float inputs:opacity = 0.6",
        ]),
    )
    return out


LOOKS_MDL = """mdl 1.6;

import ::df::*;
import ::anno::*;
using ::OmniPBR import OmniPBR;

// Written by scenes/twins/make_twins.py for tests/material_twins.rs.

export material Brick(*)
[[ anno::display_name("Brick") ]]
= OmniPBR(
    diffuse_color_constant: color(0.7, 0.3, 0.2),
    reflection_roughness_constant: 0.8f,
    metallic_constant: 0.1f
);

export material Glow(
    color tint = color(0.1, 0.6, 0.3) [[ anno::display_name("Tint") ]]
)
= material(
    surface: material_surface(
        scattering: df::diffuse_reflection_bsdf(tint: tint),
        emission: material_emission(
            emission: df::diffuse_edf(),
            intensity: color(1.0, 0.8, 0.2) * 0.5,
            mode: intensity_radiant_exitance
        )
    )
);
"""

LOOKS_MTLX = """<?xml version="1.0"?>
<materialx version="1.38" colorspace="lin_rec709">
  <!-- Written by scenes/twins/make_twins.py for tests/material_twins.rs. -->
  <nodegraph name="NG_M">
    <image name="checker" type="color3">
      <input name="file" type="filename" value="checker.png" colorspace="srgb_texture" />
    </image>
    <multiply name="tinted" type="color3">
      <input name="in1" type="color3" nodename="checker" />
      <input name="in2" type="color3" value="0.8, 0.9, 1.0" />
    </multiply>
    <output name="base_color_out" type="color3" nodename="tinted" />
  </nodegraph>
  <standard_surface name="SR_M" type="surfaceshader">
    <input name="base" type="float" value="0.9" />
    <input name="base_color" type="color3" nodegraph="NG_M" output="base_color_out" />
    <input name="specular_roughness" type="float" value="0.4" />
    <input name="metalness" type="float" value="0.1" />
  </standard_surface>
  <surfacematerial name="M" type="material">
    <input name="surfaceshader" type="surfaceshader" nodename="SR_M" />
  </surfacematerial>
</materialx>
"""


def main():
    textures()
    with open(os.path.join(HERE, "looks.mdl"), "w") as f:
        f.write(LOOKS_MDL)
    with open(os.path.join(HERE, "looks.mtlx"), "w") as f:
        f.write(LOOKS_MTLX)
    for name, (translated, twin) in pairs().items():
        with open(os.path.join(HERE, f"{name}.usda"), "w") as f:
            f.write(stage(f"{name}: the translated material", translated))
        with open(os.path.join(HERE, f"{name}_twin.usda"), "w") as f:
            f.write(stage(f"{name}: its UsdPreviewSurface twin", twin))


if __name__ == "__main__":
    main()
