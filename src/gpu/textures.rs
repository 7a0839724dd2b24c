//! Material textures on one device: each `Scene::textures` image uploaded once with its mips,
//! samplers shared by wrap mode, and one bind group per material naming its textures by slot.

use std::collections::HashMap;

use crate::scene::material::{TexelFormat, Texture, Wrap, TEXTURE_SLOTS};
use crate::scene::{Material, Scene};

/// An uploaded texture and its UDIM grid.
pub struct Uploaded {
    pub view: wgpu::TextureView,
    pub udim_tiles: [u32; 2],
    pub mip_levels: u32,
}

/// The textures of a scene on one device.
pub struct SceneTextures {
    /// One entry per `Scene::textures` image; `None` where it could not be uploaded (its lookups
    /// read their fallback; a warning was logged).
    pub uploaded: Vec<Option<Uploaded>>,
    /// 1x1 white, bound where a slot has no texture.
    pub placeholder: wgpu::TextureView,
    samplers: HashMap<(Wrap, Wrap), wgpu::Sampler>,
}

/// One entry of a scene's texture table: a texture (`Scene::textures` index) and the wrap modes it
/// is sampled with.
pub type TableEntry = (u32, Wrap, Wrap);

/// The bind group layout of a material's textures: `TEXTURE_SLOTS` textures, then as many samplers.
pub fn material_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    slots_layout(
        device,
        "material textures layout",
        TEXTURE_SLOTS,
        wgpu::ShaderStages::FRAGMENT | wgpu::ShaderStages::COMPUTE,
    )
}

/// The compute shading pass's texture table layout: `slots` textures and samplers.
pub fn table_layout(device: &wgpu::Device, slots: usize) -> wgpu::BindGroupLayout {
    slots_layout(device, "texture table layout", slots, wgpu::ShaderStages::COMPUTE)
}

/// `slots` filterable 2D textures and samplers at [`super::visibility::table_binding`].
fn slots_layout(device: &wgpu::Device, label: &str, slots: usize, stages: wgpu::ShaderStages) -> wgpu::BindGroupLayout {
    let mut entries = Vec::with_capacity(2 * slots);
    for i in 0..slots {
        let [texture, sampler] = super::visibility::table_binding(i);
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: texture,
            visibility: stages,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        });
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: sampler,
            visibility: stages,
            ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
            count: None,
        });
    }
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    })
}

fn address(w: Wrap) -> wgpu::AddressMode {
    match w {
        Wrap::Repeat => wgpu::AddressMode::Repeat,
        Wrap::Mirror => wgpu::AddressMode::MirrorRepeat,
        // Black is clamp plus a test in the shader (border colours need an optional feature).
        Wrap::Clamp | Wrap::Black => wgpu::AddressMode::ClampToEdge,
    }
}

fn create_sampler(device: &wgpu::Device, s: Wrap, t: Wrap) -> wgpu::Sampler {
    device.create_sampler(&wgpu::SamplerDescriptor {
        label: Some("material sampler"),
        address_mode_u: address(s),
        address_mode_v: address(t),
        address_mode_w: wgpu::AddressMode::Repeat,
        mag_filter: wgpu::FilterMode::Linear,
        min_filter: wgpu::FilterMode::Linear,
        mipmap_filter: wgpu::MipmapFilterMode::Linear,
        ..Default::default()
    })
}

/// Half floats from floats (Rgba32Float is not filterable without an optional feature).
fn to_half(bytes: &[u8]) -> Vec<u8> {
    bytes
        .chunks_exact(4)
        .flat_map(|c| {
            let f = f32::from_le_bytes([c[0], c[1], c[2], c[3]]).clamp(-65504.0, 65504.0);
            half::f16::from_f32(f).to_le_bytes()
        })
        .collect()
}

fn upload(device: &wgpu::Device, queue: &wgpu::Queue, t: &Texture) -> Result<Uploaded, String> {
    let limit = device.limits().max_texture_dimension_2d;
    if t.width == 0 || t.height == 0 || t.width > limit || t.height > limit {
        return Err(format!(
            "{}x{} is outside this adapter's 1..={limit}",
            t.width, t.height
        ));
    }
    let (format, convert) = match t.format {
        TexelFormat::Rgba8Srgb => (wgpu::TextureFormat::Rgba8UnormSrgb, false),
        TexelFormat::Rgba8Unorm => (wgpu::TextureFormat::Rgba8Unorm, false),
        TexelFormat::Rgba16Float => (wgpu::TextureFormat::Rgba16Float, false),
        TexelFormat::Rgba32Float => (wgpu::TextureFormat::Rgba16Float, true),
    };
    let bpp = t.format.bytes_per_texel();
    // Only the levels whose size matches are used: a short or odd chain is cut where it breaks.
    let mut levels = 0u32;
    let (mut w, mut h) = (t.width, t.height);
    for mip in &t.mips {
        if mip.len() != w as usize * h as usize * bpp {
            break;
        }
        levels += 1;
        if w == 1 && h == 1 {
            break;
        }
        w = (w / 2).max(1);
        h = (h / 2).max(1);
    }
    if levels == 0 {
        return Err("its image data does not match its size".into());
    }
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some(&t.name),
        size: wgpu::Extent3d {
            width: t.width,
            height: t.height,
            depth_or_array_layers: 1,
        },
        mip_level_count: levels,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    let (mut w, mut h) = (t.width, t.height);
    for (level, mip) in t.mips.iter().take(levels as usize).enumerate() {
        // Borrowed as it is (a copy of a large level 0 was a transient gigabyte per adapter).
        let data: std::borrow::Cow<'_, [u8]> = if convert { to_half(mip).into() } else { mip[..].into() };
        let row = data.len() / h as usize;
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &texture,
                mip_level: level as u32,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            &data,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(row as u32),
                rows_per_image: Some(h),
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
        w = (w / 2).max(1);
        h = (h / 2).max(1);
    }
    Ok(Uploaded {
        view: texture.create_view(&wgpu::TextureViewDescriptor::default()),
        udim_tiles: t.udim_tiles,
        mip_levels: levels,
    })
}

impl SceneTextures {
    /// Uploads every texture of `scene`: each was loaded for a material (at extraction, or as a
    /// time sample of an animated file, which later frames read) or a dome light.
    pub fn upload(device: &wgpu::Device, queue: &wgpu::Queue, scene: &Scene, label: &str) -> SceneTextures {
        let uploaded = scene
            .textures
            .iter()
            .map(|t| {
                upload(device, queue, t)
                    .map_err(|e| log::warn!("{label}: texture {}: {e}; its lookups use their fallback", t.name))
                    .ok()
            })
            .collect();
        let white = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("placeholder texture"),
            size: wgpu::Extent3d {
                width: 1,
                height: 1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        queue.write_texture(
            white.as_image_copy(),
            &[255; 4],
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4),
                rows_per_image: Some(1),
            },
            wgpu::Extent3d {
                width: 1,
                height: 1,
                depth_or_array_layers: 1,
            },
        );
        SceneTextures {
            uploaded,
            placeholder: white.create_view(&wgpu::TextureViewDescriptor::default()),
            samplers: HashMap::new(),
        }
    }

    /// The UDIM grid of texture `i` when it is on the device.
    pub fn tiles(&self, i: u32) -> Option<[u32; 2]> {
        self.uploaded.get(i as usize)?.as_ref().map(|u| u.udim_tiles)
    }

    /// The dome texture's view and mip count, when it is on the device.
    pub fn get(&self, i: u32) -> Option<&Uploaded> {
        self.uploaded.get(i as usize)?.as_ref()
    }

    /// The distinct uploaded textures and wrap modes that `materials` read, in first-use order:
    /// the texture table of the compute shading pass. An animated material (index in `dynamic`)
    /// may read any of the scene's textures through a textured input in a later frame (a file
    /// with time samples), so each such input brings every texture with its wrap modes. `None`
    /// when they do not fit the table's `slots` entries.
    pub fn table_entries(&self, materials: &[Material], dynamic: &[u32], slots: usize) -> Option<Vec<TableEntry>> {
        let mut entries: Vec<TableEntry> = Vec::new();
        let mut add = |entry: TableEntry| {
            if self.get(entry.0).is_some() && !entries.contains(&entry) {
                entries.push(entry);
            }
        };
        for (i, m) in materials.iter().enumerate() {
            let animated = dynamic.contains(&(i as u32));
            for l in m.lookups().into_iter().flatten() {
                if let Some(t) = l.texture {
                    add((t, l.wrap_s, l.wrap_t));
                }
                if animated {
                    for t in 0..self.uploaded.len() as u32 {
                        add((t, l.wrap_s, l.wrap_t));
                    }
                }
            }
        }
        (entries.len() <= slots).then_some(entries)
    }

    /// A bind group with the texture table's entries by index (the placeholder after them), for
    /// [`table_layout`] of `slots` entries.
    pub fn table_bind_group(
        &mut self,
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        table: &[TableEntry],
        slots: usize,
    ) -> wgpu::BindGroup {
        let wrap = |i: usize| table.get(i).map_or((Wrap::Repeat, Wrap::Repeat), |e| (e.1, e.2));
        for i in 0..slots {
            let w = wrap(i);
            self.samplers
                .entry(w)
                .or_insert_with(|| create_sampler(device, w.0, w.1));
        }
        let mut entries = Vec::with_capacity(2 * slots);
        for i in 0..slots {
            let view = table
                .get(i)
                .and_then(|e| self.get(e.0))
                .map_or(&self.placeholder, |u| &u.view);
            let [texture, sampler] = super::visibility::table_binding(i);
            entries.push(wgpu::BindGroupEntry {
                binding: texture,
                resource: wgpu::BindingResource::TextureView(view),
            });
            entries.push(wgpu::BindGroupEntry {
                binding: sampler,
                resource: wgpu::BindingResource::Sampler(&self.samplers[&wrap(i)]),
            });
        }
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("texture table"),
            layout,
            entries: &entries,
        })
    }

    /// A bind group with `material`'s textures by slot.
    pub fn bind_group(
        &mut self,
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        material: &Material,
    ) -> wgpu::BindGroup {
        let lookups = material.lookups();
        let mut wraps = [(Wrap::Repeat, Wrap::Repeat); TEXTURE_SLOTS];
        for (slot, l) in lookups.iter().enumerate() {
            if let Some(l) = l {
                wraps[slot] = (l.wrap_s, l.wrap_t);
            }
        }
        for w in wraps {
            self.samplers
                .entry(w)
                .or_insert_with(|| create_sampler(device, w.0, w.1));
        }
        let mut entries = Vec::with_capacity(2 * TEXTURE_SLOTS);
        for (slot, l) in lookups.iter().enumerate() {
            let view = l
                .and_then(|l| l.texture)
                .and_then(|i| self.get(i))
                .map_or(&self.placeholder, |u| &u.view);
            entries.push(wgpu::BindGroupEntry {
                binding: slot as u32,
                resource: wgpu::BindingResource::TextureView(view),
            });
        }
        for (slot, w) in wraps.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: (TEXTURE_SLOTS + slot) as u32,
                resource: wgpu::BindingResource::Sampler(&self.samplers[w]),
            });
        }
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&material.path),
            layout,
            entries: &entries,
        })
    }
}
