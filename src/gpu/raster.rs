//! What the mesh pipelines of both shading paths share (forward in `renderer.rs`, the visibility
//! buffer in `visibility.rs`): how instanced triangles are rasterized and depth-tested, and the
//! textures the size of the image.

/// Whether the main pass draws the image upside down (its view-projection times diag(1, -1, 1, 1)),
/// the gather passes (colour, AOVs) writing the rows back in order. Storm draws in OpenGL, whose
/// framebuffer rows run bottom to top; we draw in wgpu, whose rows run top to bottom. Both rasterize
/// with the standard 4x MSAA sample positions in their own framebuffer, so read back, Storm's
/// sample pattern is the vertical mirror of ours, and a one-pixel line or a diagonal edge is
/// covered as Storm covers its mirror image. Drawn upside down, ours is Storm's. Its cost: front
/// faces turn clockwise on screen ([`front_face`]), the scissor's y is mirrored, screen-space y
/// derivatives and the compute path's "one pixel down" point the other way (`Globals::viewport.z`),
/// and the gather passes write row `height - 1 - y` (`flip_y` of `ColorParams`, `AovParams`).
/// Shadow maps are not flipped. Switched on for testUsdImagingGLCurves' lines: IoU see the
/// commit that turned it on.
pub const FLIP_Y: bool = true;

/// The winding of front faces in the main pass's framebuffer: counter-clockwise as authored, turned
/// clockwise by the [`FLIP_Y`] mirror.
pub fn front_face() -> wgpu::FrontFace {
    if FLIP_Y {
        wgpu::FrontFace::Cw
    } else {
        wgpu::FrontFace::Ccw
    }
}

/// `[x, y, w, h]` of the image (rows top to bottom) in the main pass's framebuffer.
pub fn framebuffer_rect([x, y, w, h]: [u32; 4], height: u32) -> [u32; 4] {
    if FLIP_Y {
        [x, height.saturating_sub(y + h), w, h]
    } else {
        [x, y, w, h]
    }
}

/// What `device` can do with `format`: the adapter's own abilities where the device has
/// adapter-specific format features, WebGPU's guarantees otherwise (R32Uint: 1x MSAA only).
pub fn format_features(
    adapter: &wgpu::Adapter,
    device: &wgpu::Device,
    format: wgpu::TextureFormat,
) -> wgpu::TextureFormatFeatures {
    if device
        .features()
        .contains(wgpu::Features::TEXTURE_ADAPTER_SPECIFIC_FORMAT_FEATURES)
    {
        adapter.get_texture_format_features(format)
    } else {
        format.guaranteed_format_features(device.features())
    }
}

/// A texture of the image's size.
pub fn image_texture(
    device: &wgpu::Device,
    name: &str,
    (width, height): (u32, u32),
    format: wgpu::TextureFormat,
    samples: u32,
    usage: wgpu::TextureUsages,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(name),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: samples,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage,
        view_formats: &[],
    })
}

/// One mesh pipeline: the mesh vertex streams through `vertex_entry`, a fragment stage where
/// `fragment` names one (entry point and override constants), into `targets`.
pub struct MeshPipeline<'a> {
    pub name: &'a str,
    pub module: &'a wgpu::ShaderModule,
    pub layout: &'a wgpu::PipelineLayout,
    pub vertex_entry: &'a str,
    pub buffers: &'a [Option<wgpu::VertexBufferLayout<'a>>],
    pub fragment: Option<(&'a str, &'a [(&'a str, f64)])>,
    /// Whether the scene has camera-facing meshes (curves, points): without, the vertex shader's
    /// facing code compiles away (the `CAMERA_FACING` override).
    pub camera_facing: bool,
    pub targets: &'a [Option<wgpu::ColorTargetState>],
    pub depth_format: wgpu::TextureFormat,
    /// `false` where the depth is already laid down (the forward pass after its prepass).
    pub depth_write: bool,
    /// Reversed Z: nearer is greater.
    pub depth_compare: wgpu::CompareFunction,
    pub samples: u32,
}

impl MeshPipeline<'_> {
    pub fn build(&self, device: &wgpu::Device) -> wgpu::RenderPipeline {
        device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some(self.name),
            layout: Some(self.layout),
            vertex: wgpu::VertexState {
                module: self.module,
                entry_point: Some(self.vertex_entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: if self.camera_facing {
                        &[]
                    } else {
                        &[("CAMERA_FACING", 0.0)]
                    },
                    ..Default::default()
                },
                buffers: self.buffers,
            },
            primitive: wgpu::PrimitiveState {
                topology: wgpu::PrimitiveTopology::TriangleList,
                front_face: front_face(),
                // No culling: single-sided meshes seen from behind still show (usdrecord draws
                // them too); the shader lights whichever side faces the camera.
                cull_mode: None,
                ..Default::default()
            },
            depth_stencil: Some(wgpu::DepthStencilState {
                format: self.depth_format,
                depth_write_enabled: Some(self.depth_write),
                depth_compare: Some(self.depth_compare),
                stencil: Default::default(),
                bias: Default::default(),
            }),
            multisample: wgpu::MultisampleState {
                count: self.samples,
                mask: !0,
                alpha_to_coverage_enabled: false,
            },
            fragment: self.fragment.map(|(entry, constants)| wgpu::FragmentState {
                module: self.module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    ..Default::default()
                },
                targets: self.targets,
            }),
            multiview_mask: None,
            cache: None,
        })
    }
}
