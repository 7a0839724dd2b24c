//! UsdPreviewSurface displacement, as Storm applies it: each drawn vertex moves along its normal
//! by the material's `displacement` (a constant, a texture lookup at the vertex's texture
//! coordinates, or a primvar), in world units: Storm moves the eye-space position along the
//! eye-space normal, so the model's scale does not scale the distance. The normals stay as they
//! are (Storm shades with the undisplaced ones too).
//!
//! Static surfaces are displaced once, at load, in their own space: the forward and compute
//! shading paths and the shadow maps then all see the same surface, and no pass pays per frame.
//! A mesh drawn through several transforms is displaced through the first that can be inverted
//! (the distance is exact for every instance whose transform has the same scale).

use glam::{Mat3, Vec3};

use super::material::{Channel, Input, TextureLookup, Wrap};
use super::{Facing, Scene, Texture};

/// Displaces every static surface whose instances all draw with one displacing material.
/// Returns one warning per mesh left undisplaced: animated points (their frames bring new
/// positions) or a mesh that instances draw with different materials.
pub fn displace(scene: &mut Scene) -> Vec<String> {
    let mut warnings = Vec::new();
    // Per mesh: the material its instances draw with (None: several), and the first
    // invertible transform.
    let mut used: Vec<Option<(Option<u32>, Option<Mat3>)>> = vec![None; scene.meshes.len()];
    for inst in &scene.instances {
        let Some(entry) = used.get_mut(inst.mesh as usize) else {
            continue;
        };
        let m3 = Mat3::from_mat4(inst.transform);
        let invertible = (m3.determinant().abs() > 1e-20).then_some(m3);
        match entry {
            None => *entry = Some((Some(inst.material), invertible)),
            Some((material, transform)) => {
                if *material != Some(inst.material) {
                    *material = None;
                }
                if transform.is_none() {
                    *transform = invertible;
                }
            }
        }
    }
    for (index, entry) in used.into_iter().enumerate() {
        let Some((material, transform)) = entry else { continue };
        let mesh = &scene.meshes[index];
        if mesh.facing != Facing::Surface {
            continue;
        }
        let displacing = |m: &u32| scene.materials.get(*m as usize).is_some_and(|m| m.displaces());
        let Some(material) = material else {
            let any = scene
                .instances
                .iter()
                .filter(|i| i.mesh as usize == index)
                .any(|i| displacing(&i.material));
            if any {
                warnings.push(format!(
                    "{}: drawn with several materials, some displacing: displacement not applied",
                    mesh.path
                ));
            }
            continue;
        };
        if !displacing(&material) {
            continue;
        }
        if scene.dynamic_meshes.contains(&(index as u32)) {
            warnings.push(format!("{}: displacement of animated points is not applied", mesh.path));
            continue;
        }
        let input = scene.materials[material as usize].displacement.clone();
        let textures = &scene.textures;
        let mesh = &mut scene.meshes[index];
        displace_mesh(mesh, &input, transform.unwrap_or(Mat3::IDENTITY), |t| {
            textures.get(t as usize).map(|t| t.as_ref())
        });
    }
    warnings
}

/// Moves each vertex of `mesh` along its normal by `input`, `distance` world units through
/// `transform` (the mesh's placement, without translation).
fn displace_mesh<'a>(
    mesh: &mut super::Mesh,
    input: &Input<f32>,
    transform: Mat3,
    texture: impl Fn(u32) -> Option<&'a Texture>,
) {
    let inverse = transform.inverse();
    let normal_matrix = inverse.transpose();
    for v in 0..mesh.positions.len() {
        let Some(n) = mesh.normals.get(v).map(|n| Vec3::from(*n)) else {
            break;
        };
        let world_normal = (normal_matrix * n).normalize_or_zero();
        if world_normal == Vec3::ZERO {
            continue;
        }
        let distance = match input {
            Input::Value(d) => *d,
            Input::Texture(lookup) => {
                let st = mesh.uvs.get(v).copied().unwrap_or([0.0, 0.0]);
                match lookup.texture.and_then(&texture) {
                    Some(t) => channel(lookup, sample(t, lookup, st)),
                    None => channel(lookup, lookup.fallback),
                }
            }
            Input::VertexColor { fallback, .. } => {
                mesh.colors.get(v).or(mesh.colors.first()).map_or(*fallback, |c| c[3])
            }
        };
        if distance == 0.0 || !distance.is_finite() {
            continue;
        }
        let offset = inverse * (world_normal * distance);
        let p = Vec3::from(mesh.positions[v]) + offset;
        mesh.positions[v] = p.to_array();
    }
}

/// The lookup's channel of a remapped texel.
fn channel(lookup: &TextureLookup, texel: [f32; 4]) -> f32 {
    match lookup.channel {
        Channel::R | Channel::Rgb => texel[0],
        Channel::G => texel[1],
        Channel::B => texel[2],
        Channel::A => texel[3],
    }
}

/// A bilinear lookup of the texture's full-resolution level at `st`, as the shader's `lookup`:
/// the st transform, wrap modes (black outside [0, 1] for `Wrap::Black`), USD's t running up
/// the image, UDIM tiles, then scale and bias.
fn sample(tex: &Texture, lookup: &TextureLookup, st: [f32; 2]) -> [f32; 4] {
    let m = lookup.st_transform;
    let u = m[0][0] * st[0] + m[0][1] * st[1] + m[0][2];
    let v = m[1][0] * st[0] + m[1][1] * st[1] + m[1][2];
    let outside = |x: f32, wrap: Wrap| wrap == Wrap::Black && !(0.0..=1.0).contains(&x);
    if outside(u, lookup.wrap_s) || outside(v, lookup.wrap_t) {
        return std::array::from_fn(|i| lookup.bias[i]);
    }
    let tiles = [tex.udim_tiles[0].max(1) as f32, tex.udim_tiles[1].max(1) as f32];
    let (x, y) = (u / tiles[0], 1.0 - v / tiles[1]);
    let fx = x * tex.width as f32 - 0.5;
    let fy = y * tex.height as f32 - 0.5;
    let (x0, y0) = (fx.floor(), fy.floor());
    let (ax, ay) = (fx - x0, fy - y0);
    let at = |xi: f32, yi: f32| -> [f32; 4] {
        let xi = wrap_texel(xi as i64, tex.width, lookup.wrap_s);
        let yi = wrap_texel(yi as i64, tex.height, lookup.wrap_t);
        crate::texture::texel(tex, 0, xi, yi).unwrap_or([0.0; 4])
    };
    let (a, b, c, d) = (at(x0, y0), at(x0 + 1.0, y0), at(x0, y0 + 1.0), at(x0 + 1.0, y0 + 1.0));
    std::array::from_fn(|i| {
        let top = a[i] + (b[i] - a[i]) * ax;
        let bottom = c[i] + (d[i] - c[i]) * ax;
        (top + (bottom - top) * ay) * lookup.scale[i] + lookup.bias[i]
    })
}

/// A texel index wrapped into `0..size` as the sampler's address mode would.
fn wrap_texel(i: i64, size: u32, wrap: Wrap) -> u32 {
    let n = size.max(1) as i64;
    let wrapped = match wrap {
        Wrap::Repeat => i.rem_euclid(n),
        Wrap::Mirror => {
            let period = i.rem_euclid(2 * n);
            if period < n {
                period
            } else {
                2 * n - 1 - period
            }
        }
        Wrap::Clamp | Wrap::Black => i.clamp(0, n - 1),
    };
    wrapped as u32
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use glam::Mat4;

    use super::*;
    use crate::scene::material::{Material, TexelFormat};
    use crate::scene::{Instance, Mesh};

    /// A unit quad in the XY plane facing +Z, texture coordinates across it.
    fn quad() -> Mesh {
        Mesh {
            path: "/Quad".into(),
            positions: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
            normals: vec![[0.0, 0.0, 1.0]; 4],
            uvs: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
            indices: vec![0, 1, 2, 0, 2, 3],
            ..Mesh::default()
        }
    }

    fn scene_with(material: Material, transforms: &[Mat4]) -> Scene {
        let mut scene = Scene {
            meshes: vec![quad()],
            materials: vec![Material::display_color(), material],
            ..Scene::default()
        };
        for t in transforms {
            scene.instances.push(Instance {
                mesh: 0,
                transform: *t,
                material: 1,
            });
        }
        scene
    }

    fn lookup(texture: u32) -> TextureLookup {
        TextureLookup {
            texture: Some(texture),
            channel: Channel::R,
            wrap_s: Wrap::Clamp,
            wrap_t: Wrap::Clamp,
            scale: [1.0; 4],
            bias: [0.0; 4],
            fallback: [0.0; 4],
            st_primvar: "st".into(),
            st_transform: TextureLookup::IDENTITY,
        }
    }

    #[test]
    fn a_constant_moves_every_vertex_along_its_normal_in_world_units() {
        let mut m = Material::preview_surface_defaults("/M");
        m.displacement = Input::Value(0.5);
        // Scaled by 4: half a world unit is an eighth of a unit in the mesh's space.
        let mut scene = scene_with(m, &[Mat4::from_scale(Vec3::splat(4.0))]);
        assert!(displace(&mut scene).is_empty());
        for p in &scene.meshes[0].positions {
            assert!((p[2] - 0.125).abs() < 1e-6, "{p:?}");
        }
    }

    #[test]
    fn a_texture_moves_each_vertex_by_its_own_texel() {
        // 2x1 texels: left 0, right 1 (rows run down, so t does not matter here).
        let tex = Texture {
            name: "ramp".into(),
            width: 2,
            height: 1,
            format: TexelFormat::Rgba8Unorm,
            mips: vec![vec![0, 0, 0, 255, 255, 0, 0, 255]],
            udim_tiles: [1, 1],
        };
        let mut m = Material::preview_surface_defaults("/M");
        m.displacement = Input::Texture(TextureLookup {
            scale: [2.0; 4],
            ..lookup(0)
        });
        let mut scene = scene_with(m, &[Mat4::IDENTITY]);
        scene.textures = vec![Arc::new(tex)];
        assert!(displace(&mut scene).is_empty());
        let z: Vec<f32> = scene.meshes[0].positions.iter().map(|p| p[2]).collect();
        // s = 0 reads the left texel (0), s = 1 the right one (1, scaled by 2).
        assert_eq!(z, vec![0.0, 2.0, 2.0, 0.0]);
    }

    #[test]
    fn animated_and_shared_meshes_are_left_alone_with_a_warning() {
        let mut m = Material::preview_surface_defaults("/M");
        m.displacement = Input::Value(1.0);
        let mut scene = scene_with(m.clone(), &[Mat4::IDENTITY]);
        scene.dynamic_meshes = vec![0];
        let warnings = displace(&mut scene);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("/Quad"));
        assert_eq!(scene.meshes[0].positions, quad().positions);

        let mut scene = scene_with(m, &[Mat4::IDENTITY, Mat4::IDENTITY]);
        scene.instances[1].material = 0;
        assert_eq!(displace(&mut scene).len(), 1);
        assert_eq!(scene.meshes[0].positions, quad().positions);
    }

    #[test]
    fn wrap_modes_address_texels_as_samplers_do() {
        assert_eq!(wrap_texel(-1, 4, Wrap::Repeat), 3);
        assert_eq!(wrap_texel(4, 4, Wrap::Repeat), 0);
        assert_eq!(wrap_texel(-1, 4, Wrap::Mirror), 0);
        assert_eq!(wrap_texel(4, 4, Wrap::Mirror), 3);
        assert_eq!(wrap_texel(9, 4, Wrap::Clamp), 3);
    }
}
