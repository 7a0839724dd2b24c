//! Asset paths to bytes: anchoring an authored path to the layer that wrote it, reading plain
//! files and members of `.usdz` packages, and expanding `<UDIM>` tile sets.
//!
//! Anchoring and package access go through openusd's own resolver pieces
//! (`DefaultResolver::create_identifier`, `open_asset`, `usdz::package_contains`), so
//! `pkg.usdz[tex/a.png]`, a path relative to a layer inside a usdz, and nested packages all
//! behave as they do when openusd composes the stage. Unlike pxr's default resolver there is no
//! search path: a relative path is looked for beside its layer and nowhere else (not in the
//! working directory), so a render does not depend on where it was started.
//!
//! Which layer authored a value: openusd's `Attribute::get::<sdf::AssetPath>()` already anchors to
//! the strongest opinion's layer and fills `resolved_path()` when the file exists; pass that
//! (absolute) path with `anchor = None`. It cannot resolve a `<UDIM>` pattern (no such file), so
//! for those pass the authored path with [`anchor_of`] as the anchor.

use std::path::Path;

use openusd::ar::{self, DefaultResolver, ResolvedPath, Resolver};
use openusd::usd;
use rayon::prelude::*;

use crate::scene::material::Texture;
use crate::texture::ColorSpace;

/// The `<UDIM>` token of a tile-set path.
const UDIM: &str = "<UDIM>";
/// UDIM tiles looked for: ten columns by ten rows.
const UDIM_TILES: std::ops::RangeInclusive<u32> = 1001..=1100;

/// The identifier of the layer holding the strongest opinion for `prim_path`'s attribute
/// `attr_name` (its default value), for anchoring an asset path it authors; `None` when nothing
/// authored one (use the root layer then).
pub fn anchor_of(stage: &usd::Stage, prim_path: &str, attr_name: &str) -> Option<String> {
    let attr = stage.attribute(format!("{prim_path}.{attr_name}").as_str()).ok()?;
    let info = attr.resolve_info().ok()?;
    info.spec_site().map(|site| site.layer.clone())
}

/// Asset lookups for one anchor, through one resolver (so that, inside an [`ar::CacheScope`], a
/// package's directory is read once however many members are asked for).
struct Lookup {
    resolver: DefaultResolver,
    anchor: String,
}

impl Lookup {
    /// `anchor` is a layer identifier; `None` means the root layer.
    fn new(stage: &usd::Stage, anchor: Option<&str>) -> Lookup {
        let anchor = match anchor {
            Some(a) => a.to_string(),
            None => stage.root_layer().identifier().to_string(),
        };
        Lookup {
            resolver: DefaultResolver::new(),
            anchor,
        }
    }

    /// Where `asset` points: the identifier openusd's resolver makes of it, anchored to the
    /// layer. A package member comes back as `/abs/pkg.usdz[member]`.
    fn locate(&self, asset: &str) -> Result<String, String> {
        if asset.trim().is_empty() {
            return Err("empty asset path".into());
        }
        let anchor = &self.anchor;
        // An anchor with no location (an anonymous layer) would anchor to the working directory.
        if !Path::new(&outer_file(anchor)).is_absolute() && !Path::new(asset).is_absolute() {
            return Err(format!(
                "{asset}: cannot anchor a relative path to layer {anchor}, which has no location"
            ));
        }
        let id = self.resolver.create_identifier(asset, Some(&ResolvedPath::new(anchor)));
        // A relative identifier means the resolver did not find the file beside the layer and
        // left it for a search-path lookup, which usdrender does not do.
        if !Path::new(&outer_file(&id)).is_absolute() {
            let dir = Path::new(&outer_file(anchor))
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            return Err(format!("{asset}: not found (looked beside {})", dir.display()));
        }
        Ok(id)
    }

    /// Whether the located asset exists (a file, or a member of an existing package).
    fn exists(&self, id: &str) -> bool {
        match ar::split_package_relative_path_outer(id) {
            // package_contains says yes for a package it cannot open, so the read reports why.
            Some((package, inner)) => {
                Path::new(&package).is_file() && openusd::usdz::package_contains(&self.resolver, &package, &inner)
            }
            None => Path::new(id).is_file(),
        }
    }

    /// The bytes of a located asset; `asset` (as authored) is for messages.
    fn read(&self, asset: &str, id: &str) -> Result<Vec<u8>, String> {
        if !self.exists(id) {
            return Err(format!("{asset}: not found (looked for {id})"));
        }
        // A member of a package that names it twice is the first of them, as in pxr.
        let first =
            super::package::first_member(&self.resolver, id).map_err(|e| format!("{asset}: cannot open {id}: {e}"))?;
        let mut handle = match first {
            Some(member) => member,
            None => self
                .resolver
                .open_asset(&ResolvedPath::new(id))
                .map_err(|e| format!("{asset}: cannot open {id}: {e}"))?,
        };
        handle.read_all().map_err(|e| format!("{asset}: cannot read {id}: {e}"))
    }
}

/// The file part of an identifier: the outermost package of `pkg.usdz[member]`, else itself.
fn outer_file(id: &str) -> String {
    ar::split_package_relative_path_outer(id).map_or_else(|| id.to_string(), |(package, _)| package)
}

/// Resolves `asset` (as authored; `anchor` is the identifier of the layer that authored it, or
/// `None` for the root layer) and reads the bytes. Returns the resolved name and the bytes.
/// Absolute paths are read as they are; `pkg.usdz[member]` and paths relative to a layer inside
/// a usdz read package members.
pub fn read_asset(stage: &usd::Stage, anchor: Option<&str>, asset: &str) -> Result<(String, Vec<u8>), String> {
    let lookup = Lookup::new(stage, anchor);
    let id = lookup.locate(asset)?;
    let bytes = lookup.read(asset, &id)?;
    Ok((id, bytes))
}

/// Reads and decodes a texture, a `<UDIM>` set included: tiles 1001..1100 are looked for beside
/// the pattern (inside a usdz too), decoded in parallel and assembled by
/// [`crate::texture::assemble_udim`].
pub fn load_texture(
    stage: &usd::Stage,
    anchor: Option<&str>,
    asset: &str,
    color_space: ColorSpace,
) -> Result<Texture, String> {
    if !asset.contains(UDIM) {
        let (name, bytes) = read_asset(stage, anchor, asset)?;
        return crate::texture::decode(&bytes, &name, color_space);
    }
    let lookup = Lookup::new(stage, anchor);
    // One scope for the whole set: a package holding the tiles is opened once, not per tile.
    let scope = ar::CacheScope::begin();
    let mut tiles = Vec::new();
    for number in UDIM_TILES {
        let tile = asset.replace(UDIM, &number.to_string());
        let Ok(id) = lookup.locate(&tile) else { continue };
        if lookup.exists(&id) {
            tiles.push((number, lookup.read(&tile, &id)?, id));
        }
    }
    drop(scope);
    if tiles.is_empty() {
        let first = asset.replace(UDIM, "1001");
        let looked = lookup.locate(&first).unwrap_or(first);
        return Err(format!(
            "{asset}: no UDIM tiles found (looked for tiles 1001..1100, e.g. {looked})"
        ));
    }
    // Check the atlas size from the image headers before decoding any tile.
    let mut sizes = Vec::with_capacity(tiles.len());
    for (number, bytes, id) in &tiles {
        let (w, h) = crate::texture::dimensions(bytes, id)?;
        sizes.push((*number, w, h));
    }
    crate::texture::udim_layout(asset, &sizes)?;
    let tile_numbers: Vec<u32> = tiles.iter().map(|(n, _, _)| *n).collect();
    let decoded: Result<Vec<(u32, Texture)>, String> = tiles
        .into_par_iter()
        .map(|(number, bytes, id)| Ok((number, crate::texture::decode_level0(&bytes, &id, color_space)?)))
        .collect();
    let mut atlas = crate::texture::assemble_udim(decoded?)?;
    // Name the set by its pattern: the first tile's resolved name with `<UDIM>` put back.
    if let Some(first) = tile_numbers.first() {
        let digits = first.to_string();
        if let Some(at) = atlas.name.rfind(&digits) {
            atlas.name.replace_range(at..at + digits.len(), UDIM);
        }
    }
    Ok(atlas)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use openusd::sdf;

    use super::*;
    use crate::scene::material::TexelFormat;
    use crate::stage::{LoadedStage, OpenOptions};

    fn temp_dir() -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "usdrender-assets-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// A `w`x`h` RGB PNG filled with `rgb`.
    fn png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb(rgb));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
        out.into_inner()
    }

    fn open(path: &Path) -> LoadedStage {
        LoadedStage::open(path, &OpenOptions::default()).expect("open stage")
    }

    const MATERIAL: &str = "#usda 1.0\ndef Shader \"Tex\"\n{\n    asset inputs:file = @FILE@\n}\n";

    #[test]
    fn reads_files_beside_the_root_layer_and_names_missing_ones() {
        let dir = temp_dir();
        std::fs::create_dir_all(dir.join("tex")).unwrap();
        std::fs::write(dir.join("tex/a.png"), png(2, 2, [10, 20, 30])).unwrap();
        let root = dir.join("root.usda");
        std::fs::write(&root, MATERIAL.replace("FILE", "tex/a.png")).unwrap();
        let s = open(&root);
        let (name, bytes) = read_asset(&s.stage, None, "tex/a.png").expect("read");
        assert!(name.ends_with("tex/a.png"), "{name}");
        assert_eq!(bytes, std::fs::read(dir.join("tex/a.png")).unwrap());
        let (_, same) = read_asset(&s.stage, None, "./tex/a.png").expect("file-relative");
        assert_eq!(same, bytes);
        // Absolute paths are read as they are, whatever the anchor.
        let abs = dir.join("tex/a.png");
        let (_, same) = read_asset(&s.stage, Some("/nowhere/layer.usda"), abs.to_str().unwrap()).expect("abs");
        assert_eq!(same, bytes);
        let tex = load_texture(&s.stage, None, "tex/a.png", ColorSpace::Auto).expect("decode");
        assert_eq!((tex.width, tex.height, tex.format), (2, 2, TexelFormat::Rgba8Srgb));
        assert_eq!(&tex.mips[0][..4], &[10, 20, 30, 255]);

        for missing in ["tex/missing.png", "./tex/missing.png"] {
            let err = read_asset(&s.stage, None, missing).expect_err("missing file");
            assert!(err.contains("missing.png") && err.contains("not found"), "{err}");
            assert!(
                err.contains(dir.file_name().unwrap().to_str().unwrap()),
                "names where: {err}"
            );
        }
        // No search path: a file in the working directory is not found from here.
        assert!(read_asset(&s.stage, None, "Cargo.toml").is_err());
    }

    #[test]
    fn anchors_to_the_layer_that_authored_the_value() {
        let dir = temp_dir();
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/b.png"), png(1, 1, [1, 2, 3])).unwrap();
        std::fs::write(dir.join("sub/layer.usda"), MATERIAL.replace("FILE", "b.png")).unwrap();
        let root = dir.join("root.usda");
        std::fs::write(&root, "#usda 1.0\n(\n    subLayers = [@./sub/layer.usda@]\n)\n").unwrap();
        let s = open(&root);
        let anchor = anchor_of(&s.stage, "/Tex", "inputs:file").expect("an opinion");
        assert!(anchor.ends_with("sub/layer.usda"), "{anchor}");
        let (name, _) = read_asset(&s.stage, Some(&anchor), "b.png").expect("beside its layer");
        assert!(name.ends_with("sub/b.png"), "{name}");
        let err = read_asset(&s.stage, None, "b.png").expect_err("not beside the root layer");
        assert!(err.contains("b.png"), "{err}");
        assert_eq!(anchor_of(&s.stage, "/Tex", "inputs:nothing"), None);
        // openusd's value resolution anchors the same way (what the stage side can use directly).
        let value = s
            .stage
            .attribute("/Tex.inputs:file")
            .unwrap()
            .get::<sdf::AssetPath>()
            .unwrap();
        let resolved = value
            .and_then(|v| v.resolved_path().map(str::to_string))
            .expect("resolved");
        assert!(resolved.ends_with("sub/b.png"), "{resolved}");
        assert!(read_asset(&s.stage, None, &resolved).is_ok());
    }

    #[test]
    fn reads_usdz_members_by_package_path_and_from_layers_inside() {
        let dir = temp_dir();
        let pkg = dir.join("pkg.usdz");
        let mut zip = openusd::usdz::ArchiveWriter::create(&pkg).expect("create usdz");
        let scene = MATERIAL.replace("FILE", "tex/c.png");
        zip.add_layer("scene.usda", scene.as_bytes()).unwrap();
        zip.add_layer("sub/layer.usda", MATERIAL.replace("FILE", "../tex/c.png").as_bytes())
            .unwrap();
        zip.add_layer("tex/c.png", &png(3, 1, [200, 100, 0])).unwrap();
        zip.add_layer("tex/d_1001.png", &png(2, 2, [255, 0, 0])).unwrap();
        zip.add_layer("tex/d_1002.png", &png(2, 2, [0, 255, 0])).unwrap();
        zip.finish().unwrap();
        let root = dir.join("root.usda");
        std::fs::write(&root, MATERIAL.replace("FILE", "pkg.usdz[tex/c.png]")).unwrap();

        // Package-relative syntax from a plain layer.
        let s = open(&root);
        let (name, bytes) = read_asset(&s.stage, None, "pkg.usdz[tex/c.png]").expect("member");
        assert!(name.ends_with("pkg.usdz[tex/c.png]"), "{name}");
        let tex = crate::texture::decode(&bytes, &name, ColorSpace::Raw).unwrap();
        assert_eq!((tex.width, tex.height, tex.format), (3, 1, TexelFormat::Rgba8Unorm));
        let err = read_asset(&s.stage, None, "pkg.usdz[tex/none.png]").expect_err("no member");
        assert!(err.contains("tex/none.png") && err.contains("pkg.usdz"), "{err}");

        // The usdz as the stage: its root layer anchors members, and so does a layer inside it.
        let s = open(&pkg);
        let (name, same) = read_asset(&s.stage, None, "tex/c.png").expect("from the package root");
        assert!(name.ends_with("pkg.usdz[tex/c.png]"), "{name}");
        assert_eq!(same, bytes);
        let inner = format!("{}[sub/layer.usda]", pkg.display());
        let (_, same) = read_asset(&s.stage, Some(&inner), "../tex/c.png").expect("from a layer inside");
        assert_eq!(same, bytes);

        // UDIM tiles inside the package, its directory read once for the 100 tile lookups.
        let parses = openusd::usdz::package_stats().directory_parses;
        let atlas = load_texture(&s.stage, None, "tex/d_<UDIM>.png", ColorSpace::Auto).expect("udim");
        assert_eq!(openusd::usdz::package_stats().directory_parses - parses, 1);
        assert_eq!(atlas.udim_tiles, [2, 1]);
        assert_eq!((atlas.width, atlas.height), (4, 2));
        assert_eq!(&atlas.mips[0][..4], &[255, 0, 0, 255]);
        assert_eq!(&atlas.mips[0][8..12], &[0, 255, 0, 255]);
        assert!(atlas.name.ends_with("pkg.usdz[tex/d_<UDIM>.png]"), "{}", atlas.name);
    }

    #[test]
    fn udim_sets_beside_the_layer_and_missing_sets() {
        let dir = temp_dir();
        std::fs::write(dir.join("t_1001.png"), png(4, 4, [255, 255, 255])).unwrap();
        // A smaller tile in the second row is resampled to the largest tile size.
        std::fs::write(dir.join("t_1012.png"), png(2, 2, [0, 0, 255])).unwrap();
        let root = dir.join("root.usda");
        std::fs::write(&root, MATERIAL.replace("FILE", "t_<UDIM>.png")).unwrap();
        let s = open(&root);
        let atlas = load_texture(&s.stage, None, "t_<UDIM>.png", ColorSpace::Auto).expect("udim");
        assert_eq!(atlas.udim_tiles, [2, 2]);
        assert_eq!((atlas.width, atlas.height), (8, 8));
        let texel = |x: usize, y: usize| atlas.mips[0][(y * 8 + x) * 4..(y * 8 + x) * 4 + 4].to_vec();
        // Row v = 0 is the bottom block of the image; tile 1012 is column 1 of row 1 (top right).
        assert_eq!(texel(0, 7), vec![255, 255, 255, 255]);
        assert_eq!(texel(7, 0), vec![0, 0, 255, 255]);
        assert_eq!(texel(0, 0), vec![0, 0, 0, 0], "tile 1011 is missing");
        assert_eq!(texel(7, 7), vec![0, 0, 0, 0], "tile 1002 is missing");
        assert_eq!(atlas.mips.len(), 4);

        let err = load_texture(&s.stage, None, "none_<UDIM>.png", ColorSpace::Auto).expect_err("no tiles");
        assert!(err.contains("none_<UDIM>.png") && err.contains("1001"), "{err}");
    }

    /// The shared corpus, or `None` after saying why (a failure under `CI=true`).
    fn corpus() -> Option<PathBuf> {
        let dir = match std::env::var_os("USDRENDER_CORPUS") {
            Some(d) => PathBuf::from(d),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
        };
        if dir.join("openusd/usdImagingGL").is_dir() {
            return Some(dir);
        }
        let msg = "shared corpus not found (../shared/corpus or USDRENDER_CORPUS): asset corpus test skipped";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("{msg}");
        None
    }

    #[test]
    fn corpus_usdz_members_and_udim_sets() {
        let Some(corpus) = corpus() else { return };
        // A texture authored `@./r_normal_map.png@` by the layer inside a usd-wg package.
        let s = open(&corpus.join("usd-wg/test_assets/NormalsTextureBiasAndScale/NormalsTextureBiasAndScale.usdz"));
        let shader = "/NormalsTextureBiasAndScale/Looks/RNormals/NormalTexture";
        let anchor = anchor_of(&s.stage, shader, "inputs:file").expect("authored");
        let tex = load_texture(&s.stage, Some(&anchor), "./r_normal_map.png", ColorSpace::Raw).expect("member");
        assert!(
            tex.name.ends_with("NormalsTextureBiasAndScale.usdz[r_normal_map.png]"),
            "{}",
            tex.name
        );
        assert_eq!((tex.width, tex.height, tex.format), (256, 256, TexelFormat::Rgba8Unorm));
        // As PIL reads the member.
        assert_eq!(&tex.mips[0][(5 * 256 + 3) * 4..][..4], &[127, 127, 255, 255]);
        assert_eq!(&tex.mips[0][(50 * 256 + 100) * 4..][..4], &[126, 246, 175, 255]);

        let s = open(&corpus.join("tinyusdz/models/texture-cat-plane.usdz"));
        let tex = load_texture(&s.stage, None, "textures/texture-cat.jpg", ColorSpace::Auto).expect("member");
        assert_eq!((tex.width, tex.height, tex.format), (768, 768, TexelFormat::Rgba8Srgb));

        // Storm's UDIM test: tiles 1001..1013 without 1007, beside the layer.
        let s = open(&corpus.join("openusd/usdImagingGL/testUsdImagingGLUsdUdims/usdUdims.usda"));
        let anchor = anchor_of(&s.stage, "/Scene/Looks/MainMaterial/Diffuse", "inputs:file");
        let start = std::time::Instant::now();
        let atlas = load_texture(&s.stage, anchor.as_deref(), "texture_<UDIM>.jpg", ColorSpace::Auto).expect("udim");
        eprintln!(
            "usdUdims: 12 tiles read, decoded and assembled in {:.0} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(atlas.udim_tiles, [10, 2]);
        assert_eq!((atlas.width, atlas.height), (5120, 1024));
        assert!(
            atlas.name.ends_with("testUsdImagingGLUsdUdims/texture_<UDIM>.jpg"),
            "{}",
            atlas.name
        );
    }
}
