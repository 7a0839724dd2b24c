//! The order of a frame's GPU work, recorded into one command encoder: shadow maps that need it,
//! the opaque surfaces (forward, or a visibility pass then compute shading), the blended ones,
//! the colour and AOV passes, and the copies into the frame's readback slot.

use super::geometry::MeshDraw;
use super::pipelines::OpaquePipelines;
use super::post::ComputeStage;
use super::readback::{
    ts_index, Readback, Segment, SEGMENT_ALIGN, TIMESTAMP_BYTES, TS_FRAME_BEGIN, TS_PASS_BEGIN, TS_PASS_END,
    TS_POST_END,
};
use super::renderer::Renderer;
use super::targets::oit_attachment;
use super::visibility::Visibility;

/// Which part of a frame one submission is: the whole frame (`first` and `last`), or one of its
/// motion-blur shutter samples. Only the first records the frame's start timestamp; only the
/// last runs the colour and AOV passes and the readback copies; the others end by adding their
/// image into the accumulation buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SubFrame {
    pub(super) first: bool,
    pub(super) last: bool,
}

impl Renderer {
    /// Whether this frame's camera has clipping planes (written by `write_frame_state`).
    fn clipping(&self) -> bool {
        self.last_globals.is_some_and(|g| g.clip_count[0] > 0)
    }

    /// Records the frame (render pass, then the copies into `slot`'s readback buffer) and submits
    /// it; or, for a shutter sample before the last (`part`), its passes and the accumulation.
    pub(super) fn encode_and_submit(&self, slot: usize, readback: Readback, part: SubFrame) -> wgpu::SubmissionIndex {
        let device = &self.gpu.device;
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        if let Some(t) = self.timestamps.as_ref().filter(|_| part.first) {
            // An empty pass, for the timestamp that starts the frame.
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("frame start"),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &t.query_set,
                    beginning_of_pass_write_index: Some(ts_index(slot, TS_FRAME_BEGIN)),
                    end_of_pass_write_index: None,
                }),
            });
        }
        // The GPU time spans the opaque pass and, where there is one, the blended pass.
        // `draws` holds the opaque meshes first, those the prepass covers before the cut-outs
        // (see `Geometry::build`).
        let first_blended = self.draws.partition_point(|d| !d.translucent);
        // The prepass has no fragment stage to discard what clipping planes remove, so frames
        // with planes go without it (the pipelines then test and write depth themselves).
        let clipping = self.clipping();
        let prepassed = if self.prepass && self.visibility.is_none() && !clipping {
            self.draws[..first_blended].partition_point(|d| !d.cutout)
        } else {
            0
        };
        // The GPU time spans the prepass (where there is one) to the opaque or blended pass.
        let prepass_timestamp_writes = self.timestamps.as_ref().map(|t| wgpu::RenderPassTimestampWrites {
            query_set: &t.query_set,
            beginning_of_pass_write_index: Some(ts_index(slot, TS_PASS_BEGIN)),
            end_of_pass_write_index: None,
        });
        // (wgpu refuses timestamp writes with neither index.)
        let timestamp_writes = self
            .timestamps
            .as_ref()
            .filter(|_| prepassed == 0 || self.oit.is_none())
            .map(|t| wgpu::RenderPassTimestampWrites {
                query_set: &t.query_set,
                beginning_of_pass_write_index: (prepassed == 0).then_some(ts_index(slot, TS_PASS_BEGIN)),
                end_of_pass_write_index: self.oit.is_none().then_some(ts_index(slot, TS_PASS_END)),
            });
        let oit_timestamp_writes = self.timestamps.as_ref().map(|t| wgpu::RenderPassTimestampWrites {
            query_set: &t.query_set,
            beginning_of_pass_write_index: None,
            end_of_pass_write_index: Some(ts_index(slot, TS_PASS_END)),
        });
        let set_buffers = |pass: &mut wgpu::RenderPass<'_>| {
            pass.set_bind_group(0, &self.bind_group, &[]);
            pass.set_vertex_buffer(0, self.buffers.positions.slice(..));
            pass.set_vertex_buffer(1, self.buffers.normals.slice(..));
            pass.set_vertex_buffer(2, self.buffers.colors.slice(..));
            pass.set_vertex_buffer(3, self.buffers.instances.slice(..));
            pass.set_vertex_buffer(4, self.buffers.uvs.slice(..));
            pass.set_index_buffer(self.buffers.indices.slice(..), wgpu::IndexFormat::Uint32);
            // The harness's data window: surfaces are drawn only there (shadow maps are not
            // clipped, they light what is).
            if let Some([x, y, w, h]) = self.scissor {
                pass.set_scissor_rect(x, y, w, h);
            }
        };
        // `choose`: the pipeline for a draw (switched only when it changes); `None` keeps the
        // one set.
        let draw = |pass: &mut wgpu::RenderPass<'_>, draws: &[MeshDraw], choose: Option<&OpaquePipelines>| {
            let mut bound = u32::MAX;
            let mut current: Option<&wgpu::RenderPipeline> = None;
            for d in draws {
                if let Some(p) = choose.map(|c| c.for_draw(d, prepassed > 0, clipping)) {
                    if !current.is_some_and(|c| std::ptr::eq(c, p)) {
                        pass.set_pipeline(p);
                        current = Some(p);
                    }
                }
                if d.material != bound {
                    pass.set_bind_group(1, &self.material_groups[d.material as usize], &[]);
                    bound = d.material;
                }
                pass.draw_indexed(d.indices.clone(), d.base_vertex, d.instances.clone());
            }
        };
        // Skinned points first: everything after reads the vertex buffers they write.
        if let Some(skinning) = &self.skinning {
            skinning.encode(&mut encoder);
        }
        if let Some(shadows) = &self.shadows {
            // Maps whose light and geometry did not move keep last frame's depth.
            for layer in shadows.layers[..shadows.active].iter().filter(|l| l.redraw) {
                let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("shadow pass"),
                    color_attachments: &[],
                    depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                        view: &layer.view,
                        depth_ops: Some(wgpu::Operations {
                            load: wgpu::LoadOp::Clear(1.0),
                            store: wgpu::StoreOp::Store,
                        }),
                        stencil_ops: None,
                    }),
                    timestamp_writes: None,
                    occlusion_query_set: None,
                    multiview_mask: None,
                });
                pass.set_pipeline(&shadows.pipeline);
                pass.set_bind_group(0, &layer.bind_group, &[]);
                pass.set_vertex_buffer(0, self.buffers.positions.slice(..));
                pass.set_vertex_buffer(1, self.buffers.instances.slice(..));
                pass.set_index_buffer(self.buffers.indices.slice(..), wgpu::IndexFormat::Uint32);
                for d in &self.draws[..first_blended] {
                    pass.draw_indexed(d.indices.clone(), d.base_vertex, d.instances.clone());
                }
            }
        }
        if let Some(vis) = &self.visibility {
            self.encode_compute_shading(&mut encoder, vis, first_blended, slot, &set_buffers);
        }
        // Depth prepass: positions only, so the shading pass below shades each pixel once, not once
        // per overlapping surface (fragment work is the slow kind on the H100).
        if prepassed > 0 {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("depth prepass"),
                color_attachments: &[],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &self.depth_view,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(0.0),
                        store: wgpu::StoreOp::Store,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: prepass_timestamp_writes,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            set_buffers(&mut pass);
            // The layout has the material group; the prepass reads none of it.
            pass.set_bind_group(1, &self.material_groups[0], &[]);
            pass.set_pipeline(&self.depth_pipeline);
            for d in &self.draws[..prepassed] {
                pass.draw_indexed(d.indices.clone(), d.base_vertex, d.instances.clone());
            }
        }
        if self.visibility.is_none() {
            let (view, resolve_target) = match &self.msaa_view {
                Some(msaa) => (msaa, Some(&self.resolve_view)),
                None => (&self.resolve_view, None),
            };
            let color = Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target,
                ops: wgpu::Operations {
                    // Transparent black: alpha is coverage, as usdrecord writes it.
                    load: wgpu::LoadOp::Clear(if self.shows_dome {
                        wgpu::Color::TRANSPARENT
                    } else {
                        self.clear_color
                    }),
                    // The multisampled image is only needed until it is resolved.
                    store: if resolve_target.is_some() {
                        wgpu::StoreOp::Discard
                    } else {
                        wgpu::StoreOp::Store
                    },
                },
            });
            // AOVs are kept (multisampled, unresolved) for the gather pass. Ids clear to u32::MAX,
            // "nothing drawn"; the gather pass fills in depth and normal there from the ids.
            let aov_attachment = |i: usize| {
                self.aov.as_ref().map(|a| wgpu::RenderPassColorAttachment {
                    view: &a.views[i],
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(if i >= 2 {
                            wgpu::Color {
                                r: u32::MAX as f64,
                                g: 0.0,
                                b: 0.0,
                                a: 0.0,
                            }
                        } else {
                            wgpu::Color::TRANSPARENT
                        }),
                        store: wgpu::StoreOp::Store,
                    },
                })
            };
            let attachments = [
                color,
                aov_attachment(0),
                aov_attachment(1),
                aov_attachment(2),
                aov_attachment(3),
            ];
            let used = if self.aov.is_some() { 5 } else { 1 };
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("mesh pass"),
                color_attachments: &attachments[..used],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &self.depth_view,
                    // Reversed Z: 0 is the far plane.
                    depth_ops: Some(wgpu::Operations {
                        load: if prepassed > 0 {
                            wgpu::LoadOp::Load
                        } else {
                            wgpu::LoadOp::Clear(0.0)
                        },
                        // The blended pass tests against it.
                        store: if self.oit.is_some() {
                            wgpu::StoreOp::Store
                        } else {
                            wgpu::StoreOp::Discard
                        },
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            if first_blended > 0 {
                set_buffers(&mut pass);
                draw(&mut pass, &self.draws[..first_blended], Some(&self.opaque_pipelines));
            }
        }
        if let Some(oit) = &self.oit {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("blended pass (OIT)"),
                color_attachments: &[
                    oit_attachment(oit.accum_msaa.as_ref(), &oit.accum, 0.0),
                    oit_attachment(oit.reveal_msaa.as_ref(), &oit.reveal, 1.0),
                ],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &self.depth_view,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Load,
                        store: wgpu::StoreOp::Discard,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: oit_timestamp_writes,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            set_buffers(&mut pass);
            pass.set_pipeline(&self.translucent_pipeline);
            draw(&mut pass, &self.draws[first_blended..], None);
        }
        if !part.last {
            // A shutter sample before the last: its composite joins the sum, and the next sample
            // may draw over the targets (the queue orders its writes after these reads).
            if let (Some(m), Some(c)) = (&self.motion, &self.color_pass) {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("motion blur accumulate"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&m.accumulate);
                pass.set_bind_group(0, &c.bind_group, &[]);
                pass.dispatch_workgroups(self.width.div_ceil(8), self.height.div_ceil(8), 1);
            }
            return self.gpu.queue.submit([encoder.finish()]);
        }
        // Per-pixel work after the pass runs as compute (cheap on the H100, unlike fragment work):
        // the linear/8-bit conversion and the AOV gather, each writing tightly packed buffers.
        let stages: Vec<&ComputeStage> = [self.color_pass.as_ref(), self.aov.as_ref().map(|a| &a.gather)]
            .into_iter()
            .flatten()
            .collect();
        for (i, stage) in stages.iter().enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("post pass"),
                timestamp_writes: self.timestamps.as_ref().filter(|_| i + 1 == stages.len()).map(|t| {
                    wgpu::ComputePassTimestampWrites {
                        query_set: &t.query_set,
                        beginning_of_pass_write_index: None,
                        end_of_pass_write_index: Some(ts_index(slot, TS_POST_END)),
                    }
                }),
            });
            pass.set_pipeline(&stage.pipeline);
            pass.set_bind_group(0, &stage.bind_group, &[]);
            pass.dispatch_workgroups(self.width.div_ceil(8), self.height.div_ceil(8), 1);
        }
        let buffer = &self.slots[slot].buffer;
        if readback == Readback::Frame {
            let copy = |encoder: &mut wgpu::CommandEncoder, from: Option<&wgpu::Buffer>, to: Option<Segment>| {
                if let (Some(from), Some(to)) = (from, to) {
                    encoder.copy_buffer_to_buffer(from, 0, buffer, to.offset, Some(to.size));
                }
            };
            if let Some(c) = &self.color_pass {
                copy(&mut encoder, c.outputs[0].as_ref(), Some(self.layout.color));
                copy(&mut encoder, c.outputs[1].as_ref(), self.layout.linear);
            }
            if let Some(a) = &self.aov {
                for (out, seg) in a.gather.outputs.iter().zip(self.layout.aovs) {
                    copy(&mut encoder, out.as_ref(), seg);
                }
            }
        }
        if let (Some(t), Some(seg)) = (&self.timestamps, self.layout.timestamps) {
            let at = SEGMENT_ALIGN * slot as u64;
            encoder.resolve_query_set(&t.query_set, ts_index(slot, 0)..ts_index(slot + 1, 0), &t.resolve, at);
            encoder.copy_buffer_to_buffer(&t.resolve, at, buffer, seg.offset, Some(TIMESTAMP_BYTES));
        }
        self.gpu.queue.submit([encoder.finish()])
    }

    /// The compute path's opaque surfaces: the visibility pass (instance slot and triangle per
    /// sample, and the depth the blended pass tests against), then the compute shading pass, which
    /// writes the resolved image the colour pass reads.
    pub(super) fn encode_compute_shading(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        vis: &Visibility,
        first_blended: usize,
        slot: usize,
        set_buffers: &dyn Fn(&mut wgpu::RenderPass<'_>),
    ) {
        let attachment = |view, clear| {
            Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(clear),
                    store: wgpu::StoreOp::Store,
                },
            })
        };
        // No surface: instance slot u32::MAX (NO_INSTANCE in shaders/visibility.wgsl).
        let none = wgpu::Color {
            r: u32::MAX as f64,
            g: 0.0,
            b: 0.0,
            a: 0.0,
        };
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("visibility pass"),
            color_attachments: &[
                attachment(&vis.instance_view, none),
                attachment(&vis.triangle_view, wgpu::Color::TRANSPARENT),
            ],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: &self.depth_view,
                // Reversed Z: 0 is the far plane.
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(0.0),
                    // The blended pass tests against it.
                    store: if self.oit.is_some() {
                        wgpu::StoreOp::Store
                    } else {
                        wgpu::StoreOp::Discard
                    },
                }),
                stencil_ops: None,
            }),
            timestamp_writes: self.timestamps.as_ref().map(|t| wgpu::RenderPassTimestampWrites {
                query_set: &t.query_set,
                beginning_of_pass_write_index: Some(ts_index(slot, TS_PASS_BEGIN)),
                end_of_pass_write_index: None,
            }),
            occlusion_query_set: None,
            multiview_mask: None,
        });
        set_buffers(&mut pass);
        // Only cut-outs read their material's textures (opacity); the others bind any group.
        pass.set_bind_group(1, &self.material_groups[0], &[]);
        let mut bound = 0;
        let mut cutouts = None;
        let plain = if self.clipping() {
            &vis.plain_clipped
        } else {
            &vis.plain
        };
        for d in &self.draws[..first_blended] {
            if cutouts != Some(d.cutout) {
                pass.set_pipeline(if d.cutout { &vis.cutout } else { plain });
                cutouts = Some(d.cutout);
            }
            if d.cutout && d.material != bound {
                pass.set_bind_group(1, &self.material_groups[d.material as usize], &[]);
                bound = d.material;
            }
            pass.draw_indexed(d.indices.clone(), d.base_vertex, d.instances.clone());
        }
        drop(pass);
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("compute shading pass"),
            // The GPU time ends here unless a blended pass follows.
            timestamp_writes: self.timestamps.as_ref().filter(|_| self.oit.is_none()).map(|t| {
                wgpu::ComputePassTimestampWrites {
                    query_set: &t.query_set,
                    beginning_of_pass_write_index: None,
                    end_of_pass_write_index: Some(ts_index(slot, TS_PASS_END)),
                }
            }),
        });
        pass.set_pipeline(&vis.shade);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.set_bind_group(1, &vis.table_group, &[]);
        pass.set_bind_group(2, &vis.bind_group, &[]);
        pass.dispatch_workgroups(self.width.div_ceil(8), self.height.div_ceil(8), 1);
    }
}
