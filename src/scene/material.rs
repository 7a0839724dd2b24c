//! Materials as the renderer sees them: UsdPreviewSurface inputs, each a constant, a texture
//! lookup or the mesh's per-vertex colour, plus the fallback look of a mesh with no usable
//! material (displayColor under the simple lighting model Storm uses for it).

/// A material bound to one or more instances. `Scene::materials[0]` is always
/// [`Material::display_color`], the look of a mesh with no (usable) material binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    /// The Material prim (or `"<displayColor>"` for the fallback), for messages.
    pub path: String,
    pub model: ShadingModel,
    pub diffuse_color: Input<[f32; 3]>,
    pub emissive_color: Input<[f32; 3]>,
    pub use_specular_workflow: bool,
    pub specular_color: Input<[f32; 3]>,
    pub metallic: Input<f32>,
    pub roughness: Input<f32>,
    pub clearcoat: Input<f32>,
    pub clearcoat_roughness: Input<f32>,
    pub opacity: Input<f32>,
    pub opacity_threshold: Input<f32>,
    pub ior: Input<f32>,
    /// Tangent-space normal map (UsdPreviewSurface `normal` connected to a texture); `None` keeps
    /// the geometric normal. A constant `normal` value is ignored, as Storm does.
    pub normal: Option<TextureLookup>,
    pub occlusion: Input<f32>,
    /// UsdPreviewSurface `displacement`, where the Material's displacement output is connected
    /// to the surface shader: how far each vertex moves along its normal, in world units
    /// ([`crate::scene::displacement`]). `Value(0.0)`: nothing moves.
    pub displacement: Input<f32>,
}

/// How a material is shaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShadingModel {
    /// No usable material: the mesh's displayColor/displayOpacity under Storm's fallback
    /// (fixed-function style) lighting: ambient + diffuse N.L + specular (N.H)^shininess.
    #[default]
    DisplayColor,
    /// UsdPreviewSurface (GGX specular, Lambert diffuse, clearcoat, as Storm's previewSurface).
    PreviewSurface,
}

/// One material input: what the UsdPreviewSurface input is connected to, or its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<T> {
    /// Authored value, or the spec's fallback when unauthored.
    Value(T),
    /// Connected to a UsdUVTexture output.
    Texture(TextureLookup),
    /// Connected to a UsdPrimvarReader: the mesh's per-vertex colour attribute carries that
    /// primvar (rgb for colour inputs, alpha for scalar ones; `Mesh::colors`). `fallback` is used
    /// by the extractor where the primvar is missing.
    VertexColor { primvar: String, fallback: T },
}

impl<T: Copy> Input<T> {
    /// The constant value, if the input is one.
    pub fn value(&self) -> Option<T> {
        match self {
            Input::Value(v) => Some(*v),
            _ => None,
        }
    }

    pub fn texture(&self) -> Option<&TextureLookup> {
        match self {
            Input::Texture(t) => Some(t),
            _ => None,
        }
    }
}

/// A UsdUVTexture read: which image, which output channel(s), how to wrap and remap.
#[derive(Debug, Clone, PartialEq)]
pub struct TextureLookup {
    /// Index into `Scene::textures`; `None` when the file is missing or unreadable (the lookup
    /// then returns `fallback`, as Storm does; the extractor warns once per file).
    pub texture: Option<u32>,
    /// The UsdUVTexture output connected (`r`, `g`, `b`, `a` or `rgb`).
    pub channel: Channel,
    pub wrap_s: Wrap,
    pub wrap_t: Wrap,
    /// `inputs:scale` and `inputs:bias`: result = texel * scale + bias, per channel (rgba).
    pub scale: [f32; 4],
    pub bias: [f32; 4],
    /// `inputs:fallback`: returned when there is no texture.
    pub fallback: [f32; 4],
    /// The texture coordinates come from this primvar (the UsdPrimvarReader_float2 feeding `st`);
    /// the extractor puts it in `Mesh::uvs`. Empty when `st` is unconnected (coordinates 0,0).
    pub st_primvar: String,
    /// UsdTransform2d between the reader and the texture, as a 2x3 matrix (rows: s, t; columns:
    /// s, t, 1): st' = M * (s, t, 1). Identity when there is none.
    pub st_transform: [[f32; 3]; 2],
}

impl TextureLookup {
    pub const IDENTITY: [[f32; 3]; 2] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
}

/// A UsdUVTexture output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channel {
    R,
    G,
    B,
    A,
    #[default]
    Rgb,
}

/// UsdUVTexture `wrapS` / `wrapT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Wrap {
    #[default]
    Repeat,
    Mirror,
    Clamp,
    /// Outside [0, 1] the lookup returns (0, 0, 0, 0) before scale and bias.
    Black,
}

impl Material {
    /// The look of a mesh with no usable material: its displayColor and displayOpacity.
    pub fn display_color() -> Material {
        Material {
            path: "<displayColor>".into(),
            model: ShadingModel::DisplayColor,
            diffuse_color: Input::VertexColor {
                primvar: "displayColor".into(),
                fallback: [0.5, 0.5, 0.5],
            },
            opacity: Input::VertexColor {
                primvar: "displayOpacity".into(),
                fallback: 1.0,
            },
            ..Material::preview_surface_defaults("<displayColor>")
        }
    }

    /// UsdPreviewSurface with every input at the spec's fallback value.
    pub fn preview_surface_defaults(path: &str) -> Material {
        Material {
            path: path.into(),
            model: ShadingModel::PreviewSurface,
            diffuse_color: Input::Value([0.18, 0.18, 0.18]),
            emissive_color: Input::Value([0.0, 0.0, 0.0]),
            use_specular_workflow: false,
            specular_color: Input::Value([0.0, 0.0, 0.0]),
            metallic: Input::Value(0.0),
            roughness: Input::Value(0.5),
            clearcoat: Input::Value(0.0),
            clearcoat_roughness: Input::Value(0.01),
            opacity: Input::Value(1.0),
            opacity_threshold: Input::Value(0.0),
            ior: Input::Value(1.5),
            normal: None,
            occlusion: Input::Value(1.0),
            displacement: Input::Value(0.0),
        }
    }

    /// Whether the material moves the vertices of what it is bound to.
    pub fn displaces(&self) -> bool {
        !matches!(self.displacement, Input::Value(d) if d == 0.0)
    }

    /// Every texture lookup of the material, in a fixed order (the GPU side binds them by slot).
    pub fn lookups(&self) -> [Option<&TextureLookup>; TEXTURE_SLOTS] {
        [
            self.diffuse_color.texture(),
            self.emissive_color.texture(),
            self.specular_color.texture(),
            self.metallic.texture(),
            self.roughness.texture(),
            self.clearcoat.texture(),
            self.clearcoat_roughness.texture(),
            self.opacity.texture(),
            self.opacity_threshold.texture(),
            self.ior.texture(),
            self.normal.as_ref(),
            self.occlusion.texture(),
        ]
    }

    /// Calls `f` on every texture lookup of the material.
    pub fn for_each_lookup_mut(&mut self, mut f: impl FnMut(&mut TextureLookup)) {
        fn input<T>(i: &mut Input<T>, f: &mut impl FnMut(&mut TextureLookup)) {
            if let Input::Texture(l) = i {
                f(l);
            }
        }
        input(&mut self.diffuse_color, &mut f);
        input(&mut self.emissive_color, &mut f);
        input(&mut self.specular_color, &mut f);
        input(&mut self.metallic, &mut f);
        input(&mut self.roughness, &mut f);
        input(&mut self.clearcoat, &mut f);
        input(&mut self.clearcoat_roughness, &mut f);
        input(&mut self.opacity, &mut f);
        input(&mut self.opacity_threshold, &mut f);
        input(&mut self.ior, &mut f);
        if let Some(l) = &mut self.normal {
            f(l);
        }
        input(&mut self.occlusion, &mut f);
        input(&mut self.displacement, &mut f);
    }

    /// Whether the material can be anything but opaque (blended, not cut out).
    pub fn may_blend(&self) -> bool {
        let cutout = !matches!(self.opacity_threshold, Input::Value(t) if t <= 0.0);
        !cutout && !matches!(self.opacity, Input::Value(o) if o >= 1.0)
    }
}

/// Texture slots of a material, in [`Material::lookups`] order.
pub const TEXTURE_SLOTS: usize = 12;

/// A decoded texture image with its mip chain, uploaded once per device.
#[derive(Debug, Clone, PartialEq)]
pub struct Texture {
    /// The resolved file (or `package.usdz[member]`), for messages.
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub format: TexelFormat,
    /// Level 0 first, each tightly packed rows of `format` texels, halving to 1x1.
    pub mips: Vec<Vec<u8>>,
    /// A `<UDIM>` set assembled into one atlas of `[columns, rows]` tiles: coordinates are divided
    /// by these before the lookup. `[1, 1]` for a plain image.
    pub udim_tiles: [u32; 2],
}

impl Texture {
    /// A 1x1 texture of one linear RGBA colour: a placeholder while a file is decoded, or a
    /// stand-in for one that failed.
    pub fn solid(name: &str, rgba: [f32; 4]) -> Texture {
        Texture {
            name: name.to_string(),
            width: 1,
            height: 1,
            format: TexelFormat::Rgba8Unorm,
            mips: vec![rgba.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8).to_vec()],
            udim_tiles: [1, 1],
        }
    }
}

/// Texel formats a decoded texture can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TexelFormat {
    /// 8-bit sRGB-encoded colour, linear alpha (decoded to linear by the sampler).
    Rgba8Srgb,
    /// 8-bit values read as they are (sourceColorSpace raw, or auto on a non-colour image).
    Rgba8Unorm,
    /// Half floats (EXR, HDR, 16-bit images).
    Rgba16Float,
    /// Full floats.
    Rgba32Float,
}

impl TexelFormat {
    pub fn bytes_per_texel(self) -> usize {
        match self {
            TexelFormat::Rgba8Srgb | TexelFormat::Rgba8Unorm => 4,
            TexelFormat::Rgba16Float => 8,
            TexelFormat::Rgba32Float => 16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_material_reads_vertex_colour_and_blends_only_when_translucent() {
        let m = Material::display_color();
        assert_eq!(m.model, ShadingModel::DisplayColor);
        assert!(m.may_blend(), "displayOpacity may be below 1");
        let mut p = Material::preview_surface_defaults("/M");
        assert!(!p.may_blend());
        p.opacity = Input::Value(0.5);
        assert!(p.may_blend());
        p.opacity_threshold = Input::Value(0.5);
        assert!(!p.may_blend(), "a cut-out does not blend");
        assert_eq!(p.lookups().iter().flatten().count(), 0);
    }
}
