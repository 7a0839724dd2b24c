//! MaterialX surface shaders in UsdShade: authored in USD (`info:id = "ND_standard_surface_surfaceshader"`)
//! or translated from a `.mtlx` document by [`crate::material_files::mtlx`]. Standard Surface,
//! OpenPBR, glTF PBR and MaterialX's UsdPreviewSurface are mapped to our model; the node-graph
//! nodes that feed them in practice are reduced to what a material input can carry: a constant,
//! one texture read with a per-channel scale and bias (after a 2x3 transform of its
//! coordinates), or a primvar.
//!
//! Reduced: `image`, `tiledimage`, `gltf_image`, `texcoord`, `geompropvalue`, `constant`,
//! `convert`, `extract`, `swizzle`, `dot`, `normalmap`, `multiply`, `divide`, `add`,
//! `subtract` and `mix` (where one side is constant), and the UsdUVTexture, UsdPrimvarReader and
//! UsdTransform2d nodes. Other MaterialX nodes (noise, ramps, colour correction...) are named in
//! a warning and the input they feed keeps its value. A node that is not MaterialX at all, or a
//! graph with a cycle, fails the material (one warning naming it and the layer it comes from; the
//! prim falls back to displayColor).

use openusd::sdf::{self, Value};
use openusd::usd;

use super::{shader_id, Reader, Source};
use crate::scene::material::{Channel, Input, Material, TextureLookup, Wrap};
use crate::stage::values;
use crate::texture::ColorSpace;

/// The deepest chain of nodes one input may be fed through; deeper is taken for a cycle.
const MAX_DEPTH: usize = 64;

/// The categories of MaterialX's standard library (1.38 and 1.39) and the USD nodes it defines:
/// an `ND_` id whose category is not here is not MaterialX.
const CATEGORIES: &[&str] = &[
    "absval",
    "acos",
    "add",
    "ambientocclusion",
    "anisotropic_vdf",
    "arrayappend",
    "artistic_ior",
    "asin",
    "atan2",
    "bitangent",
    "blackbody",
    "blur",
    "bump",
    "burley_diffuse_bsdf",
    "burn",
    "ceil",
    "cellnoise2d",
    "cellnoise3d",
    "checkerboard",
    "circle",
    "clamp",
    "colorcorrect",
    "combine2",
    "combine3",
    "combine4",
    "conductor_bsdf",
    "conical_edf",
    "constant",
    "contrast",
    "convert",
    "cos",
    "creatematrix",
    "crossproduct",
    "curveadjust",
    "determinant",
    "dielectric_bsdf",
    "difference",
    "disjointover",
    "displacement",
    "distance",
    "divide",
    "dodge",
    "dot",
    "dotproduct",
    "exp",
    "extract",
    "floor",
    "fract",
    "fractal2d",
    "fractal3d",
    "frame",
    "generalized_schlick_bsdf",
    "geomcolor",
    "geompropvalue",
    "geompropvalueuniform",
    "gltf_anisotropy_image",
    "gltf_colorimage",
    "gltf_image",
    "gltf_iridescence_thickness",
    "gltf_normalmap",
    "gltf_pbr",
    "heighttonormal",
    "hextiledimage",
    "hextilednormalmap",
    "hsvadjust",
    "hsvtorgb",
    "ifequal",
    "ifgreater",
    "ifgreatereq",
    "image",
    "in",
    "inside",
    "invert",
    "invertmatrix",
    "layer",
    "ln",
    "luminance",
    "magnitude",
    "mask",
    "matte",
    "max",
    "measured_edf",
    "min",
    "minus",
    "mix",
    "modulo",
    "multiply",
    "noise2d",
    "noise3d",
    "normal",
    "normalize",
    "normalmap",
    "open_pbr_surface",
    "oren_nayar_diffuse_bsdf",
    "out",
    "outside",
    "over",
    "overlay",
    "place2d",
    "plus",
    "position",
    "power",
    "premult",
    "ramp4",
    "ramplr",
    "ramptb",
    "randomcolor",
    "randomfloat",
    "range",
    "remap",
    "rgbtohsv",
    "rotate2d",
    "rotate3d",
    "round",
    "roughness_anisotropy",
    "roughness_dual",
    "safepower",
    "saturate",
    "screen",
    "separate2",
    "separate3",
    "separate4",
    "sheen_bsdf",
    "sign",
    "sin",
    "smoothstep",
    "splitlr",
    "splittb",
    "sqrt",
    "standard_surface",
    "subsurface_bsdf",
    "subtract",
    "surface",
    "surface_unlit",
    "surfacematerial",
    "switch",
    "tan",
    "tangent",
    "texcoord",
    "thin_film_bsdf",
    "thin_surface",
    "tiledimage",
    "time",
    "transformmatrix",
    "transformnormal",
    "transformpoint",
    "transformvector",
    "translucent_bsdf",
    "transpose",
    "triplanarprojection",
    "trianglewave",
    "uniform_edf",
    "unifiednoise2d",
    "unifiednoise3d",
    "unpremult",
    "updirection",
    "UsdPreviewSurface",
    "UsdPrimvarReader",
    "UsdTransform2d",
    "UsdUVTexture",
    "viewdirection",
    "volume",
    "volumematerial",
    "worleynoise2d",
    "worleynoise3d",
];

/// A node id's category and the rest (its types): `ND_image_color3` is (`image`, `color3`).
/// Ids without `ND_` (UsdShade's own `UsdUVTexture`...) are their own category. `None`: not
/// a MaterialX node.
pub(super) fn category(id: &str) -> Option<(&'static str, &str)> {
    let rest = id.strip_prefix("ND_").unwrap_or(id);
    CATEGORIES
        .iter()
        .filter(|c| rest == **c || rest.strip_prefix(**c).is_some_and(|t| t.starts_with('_')))
        .max_by_key(|c| c.len())
        .map(|c| (*c, rest[c.len()..].trim_start_matches('_')))
}

/// What a node output amounts to, as far as a material input can carry it.
#[derive(Debug, Clone)]
enum Signal {
    /// A constant; scalars fill all four channels.
    Const([f32; 4]),
    Texture(TextureLookup),
    /// A primvar read per vertex.
    Primvar {
        name: String,
        fallback: [f32; 4],
    },
    /// Texture coordinates: a primvar through a 2x3 transform (rows s, t; columns s, t, 1).
    Coords {
        primvar: String,
        transform: [[f32; 3]; 2],
    },
}

/// The primvar MaterialX's `texcoord` (index 0) reads, as Storm maps it.
const TEXCOORD_PRIMVAR: &str = "st";

/// Reads the MaterialX surface shader `shader` (node id `id`) of Material `path`.
pub(super) fn read(reader: &mut Reader, path: &sdf::Path, shader: &usd::Prim, id: &str) -> Result<Material, String> {
    let (category, _) = category(id).ok_or_else(|| format!("{} is {id:?}, not a MaterialX node", shader.path()))?;
    let mut graph = Graph { reader, material: path };
    let m = match category {
        "standard_surface" => graph.standard_surface(shader),
        "open_pbr_surface" => graph.open_pbr_surface(shader),
        "gltf_pbr" => graph.gltf_pbr(shader),
        "UsdPreviewSurface" => graph.preview_surface(shader),
        other => Err(format!(
            "the surface shader {} is MaterialX {other:?}, which usdrender does not translate",
            shader.path()
        )),
    };
    m.map_err(|e| match authored_in(shader) {
        Some(layer) => format!("{e} (in {layer})"),
        None => e,
    })
}

/// The layer that holds the strongest opinion on `prim` (for messages).
fn authored_in(prim: &usd::Prim) -> Option<String> {
    prim.prim_stack().ok()?.first().map(|s| s.layer.to_string())
}

struct Graph<'r, 'a> {
    reader: &'r mut Reader<'a>,
    material: &'r sdf::Path,
}

impl Graph<'_, '_> {
    fn warn(&mut self, what: String) {
        self.reader.warnings.push(format!("{}: {what}", self.material));
    }

    /// The signal feeding `inputs:<name>` of `node`; `None` when nothing usable is authored.
    fn input(&mut self, node: &usd::Prim, name: &str, depth: usize) -> Result<Option<Signal>, String> {
        match self.reader.source(node, &format!("inputs:{name}")) {
            Source::Value(v, ..) => Ok(vec4_of(&v).map(Signal::Const)),
            Source::Output(from, out) => self.node(&from, &out, depth + 1),
            Source::None => Ok(None),
        }
    }

    /// The input's signal, or the constant `default`.
    fn input_or(&mut self, node: &usd::Prim, name: &str, default: [f32; 4], depth: usize) -> Result<Signal, String> {
        Ok(self.input(node, name, depth)?.unwrap_or(Signal::Const(default)))
    }

    fn constant(&mut self, node: &usd::Prim, name: &str, default: [f32; 4]) -> Result<[f32; 4], String> {
        Ok(match self.input(node, name, 0)? {
            Some(Signal::Const(c)) => c,
            _ => default,
        })
    }

    fn token(&mut self, node: &usd::Prim, name: &str) -> Option<String> {
        match self.reader.source(node, &format!("inputs:{name}")) {
            Source::Value(v, ..) => values::as_token(&v),
            _ => None,
        }
    }

    /// What output `out` of `node` amounts to.
    fn node(&mut self, node: &usd::Prim, out: &str, depth: usize) -> Result<Option<Signal>, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "the node graph through {} is deeper than {MAX_DEPTH} nodes (a cycle?)",
                node.path()
            ));
        }
        let id = shader_id(node);
        let Some((category, types)) = category(&id) else {
            return Err(if id.is_empty() {
                format!("{} has no info:id; not a MaterialX node", node.path())
            } else {
                format!("{} is {id:?}, not a MaterialX node", node.path())
            });
        };
        let d = depth;
        Ok(match category {
            "image" | "tiledimage" | "gltf_image" | "gltf_colorimage" => Some(self.image(node, category, types, d)?),
            "UsdUVTexture" => Some(Signal::Texture(self.reader.texture(node, out))),
            "texcoord" => Some(Signal::Coords {
                primvar: texcoord_primvar(self.constant(node, "index", [0.0; 4])?[0]),
                transform: TextureLookup::IDENTITY,
            }),
            "geompropvalue" | "geompropvalueuniform" | "UsdPrimvarReader" => {
                let name = self
                    .token(
                        node,
                        if category == "UsdPrimvarReader" {
                            "varname"
                        } else {
                            "geomprop"
                        },
                    )
                    .unwrap_or_default();
                if name.is_empty() {
                    return Ok(None);
                }
                if types.starts_with("vector2") || types.starts_with("float2") {
                    Some(Signal::Coords {
                        primvar: name,
                        transform: TextureLookup::IDENTITY,
                    })
                } else {
                    let fallback = self.constant(
                        node,
                        if category == "UsdPrimvarReader" {
                            "fallback"
                        } else {
                            "default"
                        },
                        [0.0; 4],
                    )?;
                    Some(Signal::Primvar { name, fallback })
                }
            }
            "constant" => self.input(node, "value", d)?,
            "dot" | "convert" => self.input(node, "in", d)?,
            "extract" => {
                let index = self.constant(node, "index", [0.0; 4])?[0].clamp(0.0, 3.0) as usize;
                self.input(node, "in", d)?.map(|s| pick(s, index))
            }
            "swizzle" => {
                let channels = self.token(node, "channels").unwrap_or_default();
                let input = self.input(node, "in", d)?;
                input.map(|s| swizzle(s, &channels))
            }
            "normalmap" => {
                let scale = self.constant(node, "scale", [1.0; 4])?[0];
                match self.input(node, "in", d)? {
                    Some(Signal::Texture(mut l)) => {
                        // (2v - 1) * (scale, scale, 1), on the texel's affine remap.
                        let s = [2.0 * scale, 2.0 * scale, 2.0, 1.0];
                        let b = [-scale, -scale, -1.0, 0.0];
                        for c in 0..4 {
                            l.scale[c] *= s[c];
                            l.bias[c] = l.bias[c] * s[c] + b[c];
                        }
                        Some(Signal::Texture(l))
                    }
                    _ => None,
                }
            }
            "multiply" | "divide" | "add" | "subtract" => {
                let identity = if matches!(category, "multiply" | "divide") {
                    1.0
                } else {
                    0.0
                };
                let a = self.input_or(node, "in1", [identity; 4], d)?;
                let b = self.input_or(node, "in2", [identity; 4], d)?;
                Some(self.arithmetic(node, category, a, b))
            }
            "mix" => {
                let fg = self.input_or(node, "fg", [0.0; 4], d)?;
                let bg = self.input_or(node, "bg", [0.0; 4], d)?;
                let amount = self.input_or(node, "mix", [0.0; 4], d)?;
                Some(self.mix(node, fg, bg, amount))
            }
            "UsdTransform2d" => {
                let rotation = self.constant(node, "rotation", [0.0; 4])?[0];
                let scale = self.constant(node, "scale", [1.0; 4])?;
                let translation = self.constant(node, "translation", [0.0; 4])?;
                let inner = self.input(node, "in", d)?;
                let t = super::transform2d(rotation, [scale[0], scale[1]], [translation[0], translation[1]]);
                inner.map(|s| transform_coords(s, t))
            }
            known => {
                self.warn(format!(
                    "MaterialX node {} ({known}) is not translated; the input it feeds keeps its value",
                    node.path()
                ));
                None
            }
        })
    }

    /// An image read: file, colour space, address modes, default, coordinates.
    fn image(&mut self, node: &usd::Prim, category: &str, types: &str, d: usize) -> Result<Signal, String> {
        let color_space = match self.reader.color_space_of(node, "inputs:file").as_deref() {
            Some("srgb_texture" | "sRGB" | "srgb" | "g22_rec709") => ColorSpace::Srgb,
            Some(_) => ColorSpace::Raw,
            None if types.starts_with("color") => ColorSpace::Auto,
            None => ColorSpace::Raw,
        };
        let texture = self.reader.file(node, "inputs:file", color_space);
        let channel = if types.starts_with("float") {
            Channel::R
        } else {
            Channel::Rgb
        };
        let address = |t: Option<String>| match t.as_deref() {
            Some("clamp") => Wrap::Clamp,
            Some("mirror") => Wrap::Mirror,
            Some("constant") => Wrap::Black,
            _ => Wrap::Repeat,
        };
        let (wrap_s, wrap_t) = if category == "gltf_image" || category == "gltf_colorimage" {
            (Wrap::Repeat, Wrap::Repeat)
        } else {
            (
                address(self.token(node, "uaddressmode")),
                address(self.token(node, "vaddressmode")),
            )
        };
        let fallback = self.constant(node, "default", [0.0; 4])?;
        let (primvar, mut transform) = match self.input(node, "texcoord", d)? {
            Some(Signal::Coords { primvar, transform }) => (primvar, transform),
            _ => (TEXCOORD_PRIMVAR.to_string(), TextureLookup::IDENTITY),
        };
        if category == "tiledimage" {
            // texcoord * uvtiling - uvoffset, as MaterialX's tiledimage graph does.
            let tiling = self.constant(node, "uvtiling", [1.0; 4])?;
            let offset = self.constant(node, "uvoffset", [0.0; 4])?;
            transform = super::compose([[tiling[0], 0.0, -offset[0]], [0.0, tiling[1], -offset[1]]], transform);
        }
        let mut lookup = TextureLookup {
            texture,
            channel,
            wrap_s,
            wrap_t,
            scale: [1.0; 4],
            bias: [0.0; 4],
            fallback,
            st_primvar: primvar,
            st_transform: transform,
        };
        if category == "gltf_colorimage" || category == "gltf_image" {
            let factor = self.constant(node, "factor", [1.0; 4])?;
            lookup.scale = factor;
        }
        Ok(Signal::Texture(lookup))
    }

    fn arithmetic(&mut self, node: &usd::Prim, op: &str, a: Signal, b: Signal) -> Signal {
        use Signal::*;
        let apply = |x: [f32; 4], y: [f32; 4]| -> [f32; 4] {
            std::array::from_fn(|c| match op {
                "multiply" => x[c] * y[c],
                "divide" => {
                    if y[c] == 0.0 {
                        0.0
                    } else {
                        x[c] / y[c]
                    }
                }
                "add" => x[c] + y[c],
                _ => x[c] - y[c],
            })
        };
        match (a, b) {
            (Const(x), Const(y)) => Const(apply(x, y)),
            (Texture(l), Const(k)) => Texture(affine(l, op, k, false)),
            (Const(k), Texture(l)) if op != "divide" => Texture(affine(l, op, k, true)),
            (Coords { primvar, transform }, Const(k)) if matches!(op, "multiply" | "add" | "subtract") => {
                let t = match op {
                    "multiply" => [[k[0], 0.0, 0.0], [0.0, k[1], 0.0]],
                    "add" => [[1.0, 0.0, k[0]], [0.0, 1.0, k[1]]],
                    _ => [[1.0, 0.0, -k[0]], [0.0, 1.0, -k[1]]],
                };
                Coords {
                    primvar,
                    transform: super::compose(t, transform),
                }
            }
            (first, _) => {
                self.warn(format!(
                    "{} ({op}) combines two varying values, which usdrender cannot carry; its first input is used",
                    node.path()
                ));
                first
            }
        }
    }

    /// MaterialX `mix`: bg * (1 - mix) + fg * mix.
    fn mix(&mut self, node: &usd::Prim, fg: Signal, bg: Signal, amount: Signal) -> Signal {
        use Signal::*;
        match (fg, bg, amount) {
            (Const(f), Const(b), Const(m)) => Const(std::array::from_fn(|c| b[c] * (1.0 - m[c]) + f[c] * m[c])),
            (Texture(l), Const(b), Const(m)) => {
                let scaled = affine(l, "multiply", m, false);
                Texture(affine(
                    scaled,
                    "add",
                    std::array::from_fn(|c| b[c] * (1.0 - m[c])),
                    false,
                ))
            }
            (Const(f), Texture(l), Const(m)) => {
                let scaled = affine(l, "multiply", std::array::from_fn(|c| 1.0 - m[c]), false);
                Texture(affine(scaled, "add", std::array::from_fn(|c| f[c] * m[c]), false))
            }
            (Const(f), Const(b), Texture(l)) => {
                // b + (f - b) * m
                let scaled = affine(l, "multiply", std::array::from_fn(|c| f[c] - b[c]), false);
                Texture(affine(scaled, "add", b, false))
            }
            (fg, _, _) => {
                self.warn(format!(
                    "{} (mix) blends varying values, which usdrender cannot carry; its fg input is used",
                    node.path()
                ));
                fg
            }
        }
    }

    fn color(&mut self, signal: Signal, default: [f32; 3]) -> Input<[f32; 3]> {
        match signal {
            Signal::Const(c) => Input::Value([c[0], c[1], c[2]]),
            Signal::Texture(l) => Input::Texture(l),
            Signal::Primvar { name, fallback } => Input::VertexColor {
                primvar: name,
                fallback: [fallback[0], fallback[1], fallback[2]],
            },
            Signal::Coords { .. } => Input::Value(default),
        }
    }

    fn scalar(&mut self, signal: Signal, default: f32) -> Input<f32> {
        match signal {
            Signal::Const(c) => Input::Value(c[0]),
            Signal::Texture(mut l) => {
                if l.channel == Channel::Rgb {
                    l.channel = Channel::R;
                }
                Input::Texture(l)
            }
            Signal::Primvar { name, fallback } => Input::VertexColor {
                primvar: name,
                fallback: fallback[0],
            },
            Signal::Coords { .. } => Input::Value(default),
        }
    }

    /// A colour input times a weight input (base_color * base, emission_color * emission).
    fn weighted(
        &mut self,
        shader: &usd::Prim,
        color: &str,
        color_default: f32,
        weight: &str,
        weight_default: f32,
    ) -> Result<Signal, String> {
        let c = self.input_or(shader, color, [color_default, color_default, color_default, 1.0], 0)?;
        let w = self.input_or(shader, weight, [weight_default; 4], 0)?;
        Ok(self.arithmetic(shader, "multiply", c, w))
    }

    fn normal(&mut self, shader: &usd::Prim, name: &str) -> Result<Option<TextureLookup>, String> {
        Ok(match self.input(shader, name, 0)? {
            Some(Signal::Texture(l)) => Some(l),
            _ => None,
        })
    }

    fn scalar_input(&mut self, shader: &usd::Prim, name: &str, default: f32) -> Result<Input<f32>, String> {
        let s = self.input_or(shader, name, [default; 4], 0)?;
        Ok(self.scalar(s, default))
    }

    /// Specular weight and colour other than white: the specular workflow, F0 from the IOR.
    fn specular_tint(&mut self, m: &mut Material, shader: &usd::Prim, weight: &str, color: &str) -> Result<(), String> {
        let w = self.constant(shader, weight, [1.0; 4])?[0];
        let c = self.constant(shader, color, [1.0; 4])?;
        let dielectric = matches!(m.metallic, Input::Value(x) if x == 0.0);
        if dielectric && (w != 1.0 || c[..3] != [1.0; 3]) {
            let ior = m.ior.value().unwrap_or(1.5);
            let f0 = ((ior - 1.0) / (ior + 1.0)).powi(2);
            m.use_specular_workflow = true;
            m.specular_color = Input::Value([f0 * w * c[0], f0 * w * c[1], f0 * w * c[2]]);
        }
        Ok(())
    }

    /// Autodesk Standard Surface (MaterialX defaults).
    fn standard_surface(&mut self, s: &usd::Prim) -> Result<Material, String> {
        let mut m = Material::preview_surface_defaults(self.material.as_str());
        let diffuse = self.weighted(s, "base_color", 0.8, "base", 1.0)?;
        m.diffuse_color = self.color(diffuse, [0.8; 3]);
        m.metallic = self.scalar_input(s, "metalness", 0.0)?;
        m.roughness = self.scalar_input(s, "specular_roughness", 0.2)?;
        m.ior = self.scalar_input(s, "specular_IOR", 1.5)?;
        m.clearcoat = self.scalar_input(s, "coat", 0.0)?;
        m.clearcoat_roughness = self.scalar_input(s, "coat_roughness", 0.1)?;
        let emission = self.weighted(s, "emission_color", 1.0, "emission", 0.0)?;
        m.emissive_color = self.color(emission, [0.0; 3]);
        m.opacity = self.opacity(s, "opacity", "transmission")?;
        m.normal = self.normal(s, "normal")?;
        self.specular_tint(&mut m, s, "specular", "specular_color")?;
        Ok(m)
    }

    /// OpenPBR Surface (MaterialX 1.39 defaults); emission luminance in nits, 1000 nits drawn as
    /// an emissive colour of 1.
    fn open_pbr_surface(&mut self, s: &usd::Prim) -> Result<Material, String> {
        let mut m = Material::preview_surface_defaults(self.material.as_str());
        let diffuse = self.weighted(s, "base_color", 0.8, "base_weight", 1.0)?;
        m.diffuse_color = self.color(diffuse, [0.8; 3]);
        m.metallic = self.scalar_input(s, "base_metalness", 0.0)?;
        m.roughness = self.scalar_input(s, "specular_roughness", 0.3)?;
        m.ior = self.scalar_input(s, "specular_ior", 1.5)?;
        m.clearcoat = self.scalar_input(s, "coat_weight", 0.0)?;
        m.clearcoat_roughness = self.scalar_input(s, "coat_roughness", 0.0)?;
        let nits = self.weighted(s, "emission_color", 1.0, "emission_luminance", 0.0)?;
        let emission = self.arithmetic(s, "divide", nits, Signal::Const([OPEN_PBR_NITS; 4]));
        m.emissive_color = self.color(emission, [0.0; 3]);
        m.opacity = self.opacity(s, "geometry_opacity", "transmission_weight")?;
        m.normal = self.normal(s, "geometry_normal")?;
        self.specular_tint(&mut m, s, "specular_weight", "specular_color")?;
        Ok(m)
    }

    /// glTF PBR (MaterialX's `gltf_pbr`): alpha modes opaque (0), mask (1) and blend (2).
    fn gltf_pbr(&mut self, s: &usd::Prim) -> Result<Material, String> {
        let mut m = Material::preview_surface_defaults(self.material.as_str());
        let base = self.input_or(s, "base_color", [1.0, 1.0, 1.0, 1.0], 0)?;
        m.diffuse_color = self.color(base, [1.0; 3]);
        m.metallic = self.scalar_input(s, "metallic", 1.0)?;
        m.roughness = self.scalar_input(s, "roughness", 1.0)?;
        m.occlusion = self.scalar_input(s, "occlusion", 1.0)?;
        m.ior = self.scalar_input(s, "ior", 1.5)?;
        m.clearcoat = self.scalar_input(s, "clearcoat", 0.0)?;
        m.clearcoat_roughness = self.scalar_input(s, "clearcoat_roughness", 0.0)?;
        let emission = self.weighted(s, "emissive", 0.0, "emissive_strength", 1.0)?;
        m.emissive_color = self.color(emission, [0.0; 3]);
        let mode = self.constant(s, "alpha_mode", [0.0; 4])?[0] as i32;
        if mode != 0 {
            m.opacity = self.opacity(s, "alpha", "transmission")?;
            if mode == 1 {
                m.opacity_threshold = Input::Value(self.constant(s, "alpha_cutoff", [0.5; 4])?[0]);
            }
        }
        m.normal = self.normal(s, "normal")?;
        Ok(m)
    }

    /// MaterialX's UsdPreviewSurface node: the inputs of UsdPreviewSurface, fed by MaterialX nodes.
    fn preview_surface(&mut self, s: &usd::Prim) -> Result<Material, String> {
        let mut m = Material::preview_surface_defaults(self.material.as_str());
        let c = self.input_or(s, "diffuseColor", [0.18, 0.18, 0.18, 1.0], 0)?;
        m.diffuse_color = self.color(c, [0.18; 3]);
        let e = self.input_or(s, "emissiveColor", [0.0; 4], 0)?;
        m.emissive_color = self.color(e, [0.0; 3]);
        let sc = self.input_or(s, "specularColor", [0.0; 4], 0)?;
        m.specular_color = self.color(sc, [0.0; 3]);
        m.use_specular_workflow = self.constant(s, "useSpecularWorkflow", [0.0; 4])?[0] != 0.0;
        m.metallic = self.scalar_input(s, "metallic", 0.0)?;
        m.roughness = self.scalar_input(s, "roughness", 0.5)?;
        m.clearcoat = self.scalar_input(s, "clearcoat", 0.0)?;
        m.clearcoat_roughness = self.scalar_input(s, "clearcoatRoughness", 0.01)?;
        m.opacity = self.scalar_input(s, "opacity", 1.0)?;
        m.opacity_threshold = self.scalar_input(s, "opacityThreshold", 0.0)?;
        m.ior = self.scalar_input(s, "ior", 1.5)?;
        m.occlusion = self.scalar_input(s, "occlusion", 1.0)?;
        m.normal = self.normal(s, "normal")?;
        Ok(m)
    }

    /// Opacity (a colour or a float; a constant colour is averaged) less a constant transmission,
    /// drawn as transparency.
    fn opacity(&mut self, s: &usd::Prim, opacity: &str, transmission: &str) -> Result<Input<f32>, String> {
        let o = match self.input_or(s, opacity, [1.0; 4], 0)? {
            Signal::Const(c) if self.is_color(s, opacity) => Signal::Const([(c[0] + c[1] + c[2]) / 3.0; 4]),
            other => other,
        };
        let t = self.constant(s, transmission, [0.0; 4])?[0].clamp(0.0, 1.0);
        let o = if t > 0.0 {
            self.arithmetic(s, "multiply", o, Signal::Const([1.0 - t; 4]))
        } else {
            o
        };
        Ok(self.scalar(o, 1.0))
    }

    fn is_color(&mut self, s: &usd::Prim, name: &str) -> bool {
        matches!(
            self.reader.source(s, &format!("inputs:{name}")),
            Source::Value(Value::Vec3f(_) | Value::Vec3d(_) | Value::Vec3h(_), ..)
        )
    }
}

/// Nits drawn as an emissive colour of 1 for OpenPBR's `emission_luminance` (as MaterialX's own
/// OpenPBR to Standard Surface translation divides it).
const OPEN_PBR_NITS: f32 = 1000.0;

/// `texcoord` index n: `st`, then `st1`, `st2`...
fn texcoord_primvar(index: f32) -> String {
    match index as i32 {
        i if i <= 0 => TEXCOORD_PRIMVAR.to_string(),
        i => format!("{TEXCOORD_PRIMVAR}{i}"),
    }
}

/// A value as four channels: scalars fill all four, vectors pad with 0 and alpha 1.
fn vec4_of(v: &Value) -> Option<[f32; 4]> {
    match values::as_f64(v) {
        Some(x) if x.is_finite() => Some([x as f32; 4]),
        _ => values::as_vec4(v),
    }
}

/// `l` combined with the constant `k` by `op`; `k_first`: k op l.
fn affine(mut l: TextureLookup, op: &str, k: [f32; 4], k_first: bool) -> TextureLookup {
    #[allow(clippy::needless_range_loop)] // one channel of scale, bias, fallback and k together
    for c in 0..4 {
        match (op, k_first) {
            ("multiply", _) => {
                l.scale[c] *= k[c];
                l.bias[c] *= k[c];
                l.fallback[c] *= k[c];
            }
            ("divide", _) => {
                let inv = if k[c] == 0.0 { 0.0 } else { 1.0 / k[c] };
                l.scale[c] *= inv;
                l.bias[c] *= inv;
                l.fallback[c] *= inv;
            }
            ("add", _) => {
                l.bias[c] += k[c];
                l.fallback[c] += k[c];
            }
            (_, false) => {
                l.bias[c] -= k[c];
                l.fallback[c] -= k[c];
            }
            (_, true) => {
                l.scale[c] = -l.scale[c];
                l.bias[c] = k[c] - l.bias[c];
                l.fallback[c] = k[c] - l.fallback[c];
            }
        }
    }
    l
}

/// One channel of a signal (`extract`).
fn pick(s: Signal, index: usize) -> Signal {
    match s {
        Signal::Const(c) => Signal::Const([c[index]; 4]),
        Signal::Texture(mut l) => {
            let from = match l.channel {
                Channel::Rgb => index,
                single => single as usize,
            };
            l.channel = match from {
                0 => Channel::R,
                1 => Channel::G,
                2 => Channel::B,
                _ => Channel::A,
            };
            Signal::Texture(l)
        }
        other => other,
    }
}

/// `swizzle`: a single repeated channel picks it; `rgb`/`xyz` and the like pass through.
fn swizzle(s: Signal, channels: &str) -> Signal {
    let index = |c: char| match c {
        'r' | 'x' => Some(0),
        'g' | 'y' => Some(1),
        'b' | 'z' => Some(2),
        'a' | 'w' => Some(3),
        _ => None,
    };
    let picked: Vec<usize> = channels.chars().filter_map(index).collect();
    match picked.as_slice() {
        [first, rest @ ..] if rest.iter().all(|c| c == first) => pick(s, *first),
        _ => s,
    }
}

fn transform_coords(s: Signal, t: [[f32; 3]; 2]) -> Signal {
    match s {
        Signal::Coords { primvar, transform } => Signal::Coords {
            primvar,
            transform: super::compose(t, transform),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_read_from_node_ids() {
        assert_eq!(category("ND_image_color3"), Some(("image", "color3")));
        assert_eq!(category("ND_tiledimage_float"), Some(("tiledimage", "float")));
        assert_eq!(
            category("ND_standard_surface_surfaceshader"),
            Some(("standard_surface", "surfaceshader"))
        );
        assert_eq!(category("ND_multiply_color3FA"), Some(("multiply", "color3FA")));
        assert_eq!(category("ND_UsdUVTexture_23"), Some(("UsdUVTexture", "23")));
        assert_eq!(
            category("UsdPrimvarReader_float2"),
            Some(("UsdPrimvarReader", "float2"))
        );
        assert_eq!(category("ND_dot_float"), Some(("dot", "float")));
        assert_eq!(category("ND_made_up_node_color3"), None);
        assert_eq!(category("ND_imagefoo"), None, "a category is a whole word");
    }

    fn lookup() -> TextureLookup {
        TextureLookup {
            texture: Some(0),
            channel: Channel::Rgb,
            wrap_s: Wrap::Repeat,
            wrap_t: Wrap::Repeat,
            scale: [1.0; 4],
            bias: [0.0; 4],
            fallback: [0.0, 0.0, 0.0, 1.0],
            st_primvar: "st".into(),
            st_transform: TextureLookup::IDENTITY,
        }
    }

    #[test]
    fn constants_fold_into_a_texture_reads_scale_and_bias() {
        let l = affine(lookup(), "multiply", [0.5, 2.0, 1.0, 1.0], false);
        let l = affine(l, "add", [0.1, 0.0, 0.0, 0.0], false);
        assert_eq!(l.scale, [0.5, 2.0, 1.0, 1.0]);
        assert_eq!(l.bias, [0.1, 0.0, 0.0, 0.0]);
        // 1 - texel
        let inv = affine(lookup(), "subtract", [1.0; 4], true);
        assert_eq!(inv.scale, [-1.0; 4]);
        assert_eq!(inv.bias, [1.0; 4]);
        let picked = pick(Signal::Texture(lookup()), 1);
        assert!(matches!(
            picked,
            Signal::Texture(TextureLookup {
                channel: Channel::G,
                ..
            })
        ));
        let broadcast = swizzle(Signal::Texture(lookup()), "bbb");
        assert!(matches!(
            broadcast,
            Signal::Texture(TextureLookup {
                channel: Channel::B,
                ..
            })
        ));
        assert!(matches!(
            swizzle(Signal::Const([1.0, 2.0, 3.0, 4.0]), "z"),
            Signal::Const([3.0, 3.0, 3.0, 3.0])
        ));
    }
}
