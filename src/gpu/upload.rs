//! What a frame writes to the GPU before it is drawn: only what changed since the last frame
//! (camera, lights and shadow placement, changed instance matrices, animated vertices, animated
//! materials).

use super::layout::{BackgroundParams, Globals, InstanceRaw, MaterialRaw, ShadeParams};
use super::renderer::{uniform_sh, Renderer};
use super::shading::{assign_table_entries, build_rig, pack_material};
use crate::scene::FrameState;

impl Renderer {
    /// Writes only what changed since the last frame.
    pub(super) fn write_frame_state(&mut self, state: &FrameState) {
        let queue = &self.gpu.queue;
        let view_proj = state
            .camera
            .view_projection_px(self.width, self.height, self.pixel_aspect);
        // Drawn upside down (FLIP_Y): the clip-space mirror, so the compute passes' pixel -> clip
        // (rows from the framebuffer's top) and clip_to_world below follow it unchanged.
        let view_proj = if super::raster::FLIP_Y {
            glam::DMat4::from_scale(glam::DVec3::new(1.0, -1.0, 1.0)) * view_proj
        } else {
            view_proj
        };
        let mut globals = Globals::new(&view_proj, &state.camera.to_world, state.camera.lens.orthographic);
        // Carried to world space here, in f64, so the shaders test the position they already have.
        globals.set_clip_planes(&state.camera.world_clip_planes());
        globals.set_viewport(self.width, self.height);

        // Lights: the stage's (animated ones replaced), the headlight or the harness rig.
        for (&i, light) in self.dynamic_lights.iter().zip(&state.lights) {
            if let Some(slot) = self.stage_lights.get_mut(i as usize) {
                slot.clone_from(light);
            }
        }
        let rig = build_rig(
            self.look,
            self.headlight,
            &self.stage_lights,
            &state.camera,
            &mut self.light_scratch,
        );
        if let Some(shadows) = &mut self.shadows {
            shadows.place(&mut self.light_scratch, queue, &self.shadow_views);
        }
        if self.light_scratch != self.written_lights && !self.light_scratch.is_empty() {
            queue.write_buffer(&self.lights_buffer, 0, bytemuck::cast_slice(&self.light_scratch));
        }
        self.written_lights.clone_from(&self.light_scratch);
        globals.shading = rig.fallback;
        globals.lighting = [self.light_scratch.len() as u32, rig.unlit as u32, 0, self.dome_mips];
        // The dome: lighting where the look lights with it, and the background where asked.
        let dome_space = |rotation: glam::Mat3| {
            // World to dome space: the inverse of the dome's (orthonormalized) rotation.
            let r = glam::Mat3::from_cols(
                rotation.x_axis.normalize_or(glam::Vec3::X),
                rotation.y_axis.normalize_or(glam::Vec3::Y),
                rotation.z_axis.normalize_or(glam::Vec3::Z),
            )
            .transpose();
            [
                r.x_axis.extend(0.0).to_array(),
                r.y_axis.extend(0.0).to_array(),
                r.z_axis.extend(0.0).to_array(),
            ]
        };
        let dome_color = |texture: Option<u32>, color: [f32; 3]| {
            let textured = texture.is_some() && self.dome_mips > 0;
            [color[0], color[1], color[2], textured as u32 as f32]
        };
        if let Some((texture, color, rotation)) = rig.dome {
            globals.lighting[2] = 1;
            globals.dome_color = dome_color(texture, color);
            globals.dome_from_world = dome_space(rotation);
            globals.dome_sh = if globals.dome_color[3] > 0.5 {
                self.dome_sh
            } else {
                uniform_sh()
            };
        }
        // What the colour pass composites: the dome behind (when asked), the blended surfaces over.
        let clip_to_world = view_proj.inverse();
        let background = BackgroundParams {
            clip_to_world: if clip_to_world.is_finite() {
                clip_to_world.as_mat4().to_cols_array_2d()
            } else {
                glam::Mat4::IDENTITY.to_cols_array_2d()
            },
            dome_from_world: rig
                .background
                .map_or(globals.dome_from_world, |(_, _, rotation)| dome_space(rotation)),
            dome_color: rig
                .background
                .map_or([0.0; 4], |(texture, color, _)| dome_color(texture, color)),
            flags: [
                (self.dome_visible && rig.background.is_some()) as u32,
                self.oit.is_some() as u32,
                0,
                0,
            ],
        };
        if self.last_background != Some(background) {
            queue.write_buffer(&self.background_buffer, 0, bytemuck::bytes_of(&background));
            self.last_background = Some(background);
        }

        // Animated material inputs.
        for (&i, material) in self.dynamic_materials.iter().zip(&state.materials) {
            let textures = &self.textures;
            let mut raw = pack_material(material, |t| textures.tiles(t));
            assign_table_entries(&mut raw, material, &self.texture_table);
            // Another texture file this frame (a file with time samples): the forward pipelines
            // bind it through the material's group (allocates, on those frames only).
            let files = |m: &crate::scene::Material| m.lookups().map(|l| l.and_then(|l| l.texture));
            if self.materials.get(i as usize).map(files) != Some(files(material)) {
                if let Some(group) = self.material_groups.get_mut(i as usize) {
                    *group = self
                        .textures
                        .bind_group(&self.gpu.device, &self.materials_layout, material);
                }
            }
            queue.write_buffer(
                &self.materials_buffer,
                i as u64 * std::mem::size_of::<MaterialRaw>() as u64,
                bytemuck::bytes_of(&raw),
            );
            if let Some(m) = self.materials.get_mut(i as usize) {
                m.clone_from(material);
            }
        }

        if self.last_globals != Some(globals) {
            queue.write_buffer(&self.globals_buffer, 0, bytemuck::bytes_of(&globals));
            self.last_globals = Some(globals);
            if let Some(v) = &self.visibility {
                let c = if self.shows_dome {
                    wgpu::Color::TRANSPARENT
                } else {
                    self.clear_color
                };
                let params = ShadeParams {
                    clip_to_world: background.clip_to_world,
                    clear: [c.r as f32, c.g as f32, c.b as f32, c.a as f32],
                    size: [self.width, self.height, self.sample_count, 0],
                };
                queue.write_buffer(&v.params, 0, bytemuck::bytes_of(&params));
            }
        }

        let mut changed: Option<(usize, usize)> = None;
        for (slot, m) in self.dynamic_slots.iter().zip(&state.instance_transforms) {
            let Some(slot) = *slot else { continue };
            let old = &self.instance_mirror[slot];
            let raw = InstanceRaw::new(m, old.double_sided())
                .with_ids(old.ids[0], old.ids[1], old.ids[2])
                .with_facing(old.ids[3]);
            if self.instance_mirror[slot] != raw {
                self.instance_mirror[slot] = raw;
                changed = Some(changed.map_or((slot, slot), |(lo, hi)| (lo.min(slot), hi.max(slot))));
            }
        }
        let mut moved = changed.is_some();
        if let Some((lo, hi)) = changed {
            let offset = (lo * std::mem::size_of::<InstanceRaw>()) as u64;
            queue.write_buffer(
                &self.buffers.instances,
                offset,
                bytemuck::cast_slice(&self.instance_mirror[lo..=hi]),
            );
        }

        // Skinned meshes left pending by the evaluation are posed by the skinning pass: only
        // their poses are written here.
        if let Some(skinning) = &mut self.skinning {
            moved |= skinning.write(&self.gpu.device, queue, &self.animation.skinned, state);
        }

        // Runs of animated meshes adjacent in the vertex buffers go in one write each: the
        // scratch vectors keep their capacity from frame to frame.
        let (positions, normals) = &mut self.vertex_scratch;
        positions.clear();
        normals.clear();
        let mut run_start: Option<u64> = None;
        let flush = |start: &mut Option<u64>, positions: &mut Vec<[f32; 3]>, normals: &mut Vec<[f32; 3]>| {
            if let Some(first) = start.take() {
                queue.write_buffer(&self.buffers.positions, first * 12, bytemuck::cast_slice(positions));
                queue.write_buffer(&self.buffers.normals, first * 12, bytemuck::cast_slice(normals));
            }
            positions.clear();
            normals.clear();
        };
        for (i, (dm, new)) in self.dynamic_meshes.iter_mut().zip(&state.mesh_vertices).enumerate() {
            let Some(dm) = dm else { continue };
            // A pending skinned mesh the pass does not pose (a device without it, influences it
            // cannot read) is skinned here, on this thread: the CPU reference path.
            let cpu_skinned;
            let new = match self.skinned_slots.get(i).copied().flatten() {
                Some(k) if new.positions.is_empty() => {
                    if self.skinning.as_ref().is_some_and(|s| s.handles(i)) {
                        continue;
                    }
                    let m = &self.animation.skinned[k];
                    let Some(frame) = state.skinning.get(m.frame) else {
                        continue;
                    };
                    cpu_skinned = m.vertices(frame, None);
                    &cpu_skinned
                }
                _ => &**new,
            };
            if new.positions.len() != dm.vertex_count {
                if !dm.warned {
                    log::warn!(
                        "frame {}: an animated mesh brings {} positions for {} vertices; left as it was",
                        state.frame,
                        new.positions.len(),
                        dm.vertex_count
                    );
                    dm.warned = true;
                }
                continue;
            }
            let next = run_start.map(|s| s + positions.len() as u64);
            if next != Some(dm.first_vertex) {
                flush(&mut run_start, positions, normals);
                run_start = Some(dm.first_vertex);
            }
            positions.extend_from_slice(&new.positions);
            if new.normals.len() == dm.vertex_count {
                normals.extend_from_slice(&new.normals);
            } else {
                // Positions without normals: smooth normals from the new positions (allocates;
                // the stage normally supplies normals).
                normals.extend(crate::scene::compute_normals(&new.positions, &dm.indices));
            }
            moved = true;
        }
        flush(&mut run_start, positions, normals);

        // Shadow maps are drawn again only where their light or the geometry moved (on a static
        // scene, the lit teapot field's two maps cost the H100 as much as shading its image).
        if let Some(shadows) = &mut self.shadows {
            shadows.choose_redraws(moved);
        }
    }
}
