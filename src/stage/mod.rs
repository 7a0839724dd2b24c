//! The only module that imports openusd: opens a stage, reads its timing, chooses the camera and
//! copies geometry, materials (bound UsdPreviewSurface networks) and UsdLux lights out into plain
//! [`crate::scene`] data, then evaluates what changes per frame.

pub mod assets;
mod bounds;
mod camera;
mod draw_mode;
mod extract;
#[doc(hidden)]
pub mod fixtures;
mod graph;
mod info;
mod lenient;
mod lights;
mod material;
mod mesh;
mod motion;
mod package;
mod samples;
mod shared_references;
mod skel;
mod timing;
mod usda_lint;
mod values;

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use openusd::usd;
use openusd_schemas::geom::XformCache;

use crate::frames::Timing;
use crate::scene::animation::Animation;
use crate::scene::shutter::Shutter;
use crate::scene::{Camera, CameraChoice, FrameState, Scene};
use crate::{Error, Result};

pub use camera::CameraInfo;
pub use info::StageInfo;
pub use values::DEFAULT_TIME;

/// How to open a stage.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// A layer composed over the stage, as usdrecord's `--sessionLayer`.
    pub session_layer: Option<PathBuf>,
    /// `--max-memory`: what the stage's budgets are shares of (default: the machine's memory).
    pub max_memory: Option<u64>,
    /// Compose every reference on its own, even where the stage leaves it unchanged (by default
    /// such references are composed once and shared: [`shared_references`]). The picture is the
    /// same either way; tests use this to show it.
    pub separate_references: bool,
    /// Open with every payload unloaded and draw each unloaded prim as the box of its bounds
    /// (the usdImagingGL harness's `-unloadedAsBounds`).
    pub unloaded_as_bounds: bool,
}

/// What one open stage may hold, as shares of `--max-memory` (default: the machine's memory):
/// half for a layer file (a text layer is held whole, parsed), a quarter (at most 2 GiB) for
/// decoded time samples, a quarter for decoded textures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub layer_bytes: u64,
    pub sample_bytes: u64,
    pub texture_bytes: u64,
}

impl Budget {
    pub fn of(max_memory: Option<u64>) -> Budget {
        let total = max_memory
            .or_else(crate::machine::total_memory_bytes)
            .unwrap_or(16 << 30);
        Budget {
            layer_bytes: total / 2,
            sample_bytes: (total / 4).min(2 << 30),
            texture_bytes: total / 4,
        }
    }
}

/// Which prims to draw, and from which camera.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// `--camera`: a prim path, or a camera name that must be unique.
    pub camera: Option<String>,
    /// Purposes drawn besides `default` (`render` unless the user asks otherwise).
    pub purposes: Vec<String>,
    /// The time code at which static state (and the framing camera's bounds) is taken;
    /// [`DEFAULT_TIME`] reads the stage at USD's default time, with nothing animated.
    pub time: f64,
    /// Subdivision levels for subdivision surfaces (`--complexity`: low 0, medium 1, high 2,
    /// veryhigh 3); 0 draws their control meshes, as Storm at its default complexity.
    pub refine_level: u32,
    /// Also bound what is drawn at the default time code (`Scene::default_frame_bounds`), which
    /// the usdImagingGL harness's `-frameAll` frames; a second pass over every gprim, so only
    /// harness mode asks for it.
    pub default_time_bounds: bool,
    /// Storm's `-shading points`: each static surface is drawn as
    /// [`crate::scene::VERTEX_POINT_PIXELS`]-wide discs, a Mesh prim as every point it authors,
    /// those of hole faces and of no face included (HdSt's points repr draws the whole points
    /// array), other shapes as the points of their vertices; animated meshes keep their surfaces.
    pub points_shading: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            camera: None,
            purposes: vec!["render".into()],
            time: 0.0,
            refine_level: 0,
            default_time_bounds: false,
            points_shading: false,
        }
    }
}

/// What `extract` leaves behind for `evaluate`.
struct Extracted {
    graph: graph::Graph,
    plan: extract::FramePlan,
    camera: Option<usd::Prim>,
    framing: Camera,
    purposes: Vec<String>,
}

/// An open stage. Not `Send` (openusd's stage is `Rc`-based): open and use it on one thread.
pub struct LoadedStage {
    path: PathBuf,
    stage: usd::Stage,
    /// Warnings found while extracting (bad topology, primvar lengths...).
    notes: Vec<String>,
    /// Warnings from opening (the lenient reader), kept across extractions.
    open_notes: Vec<String>,
    cache: XformCache,
    extracted: Option<Extracted>,
    /// Time-sample tracks of the large animated arrays, read one sample at a time.
    samples: Rc<RefCell<samples::SampleStore>>,
    budget: Budget,
    /// What the chosen camera was warned about (its clipping planes), across frames.
    camera_warned: camera::Warned,
    /// Opened with its payloads unloaded (`unloaded_as_bounds`): the walk asks which prims are.
    payloads_unloaded: bool,
}

/// Runs an openusd call, turning a panic inside it into an error naming the file (a last resort:
/// openusd is not expected to panic, but a user's file must never take the process down).
fn guarded<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            if let Some(graph::TooDeep(prim)) = panic.downcast_ref::<graph::TooDeep>() {
                return Err(Error::Stage {
                    path: path.to_path_buf(),
                    reason: format!(
                        "prim {prim}... nests more than {} levels deep, more than usdrender reads: refused",
                        graph::MAX_NESTING
                    ),
                });
            }
            let msg = crate::error::panic_text(&*panic);
            Err(Error::Stage {
                path: path.to_path_buf(),
                reason: format!("internal error while {what}: {msg}"),
            })
        }
    }
}

impl LoadedStage {
    /// Opens a stage with full composition (sublayers, references, payloads, variants, instancing).
    pub fn open(path: &Path, options: &OpenOptions) -> Result<LoadedStage> {
        let open_err = |reason: String| Error::StageOpen {
            path: path.to_path_buf(),
            reason,
        };
        if std::fs::metadata(path).is_err() {
            return Err(open_err("no such file".into()));
        }
        let budget = Budget::of(options.max_memory);
        lenient::check_layer_file(&path.to_string_lossy(), budget.layer_bytes).map_err(|e| open_err(e.to_string()))?;
        let root = path
            .to_str()
            .ok_or_else(|| open_err("the path is not valid UTF-8".into()))?;
        // Warnings about the layers read, from either resolver.
        let layer_notes = lenient::Notes::default();
        let stage = guarded(path, "opening", || {
            let mut builder = usd::Stage::builder()
                .schema_registry(openusd_schemas::schema_registry())
                .resolver(lenient::LenientResolver::new(false, budget.layer_bytes).with_notes(layer_notes.clone()));
            if options.unloaded_as_bounds {
                builder = builder.load(usd::InitialLoadSet::LoadNone);
            }
            if let Some(session) = &options.session_layer {
                if !session.is_file() {
                    return Err(open_err(format!("session layer {} does not exist", session.display())));
                }
                let session = session
                    .to_str()
                    .ok_or_else(|| open_err("session layer path is not UTF-8".into()))?;
                builder = builder.session_layer(session);
            }
            match builder.open(root) {
                Ok(stage) => Ok((stage, None)),
                Err(first) => Self::open_lenient(root, options, budget.layer_bytes, &layer_notes).map_err(|e| {
                    log::debug!("lenient retry failed too: {e}");
                    open_err(first.to_string())
                }),
            }
        })?;
        let (stage, note) = stage;
        if !options.separate_references {
            guarded(path, "sharing unchanged references", || {
                match shared_references::share(&stage, &shared_references::candidates(&stage)) {
                    Ok(n) => log::debug!("{}: {n} unchanged references composed once", path.display()),
                    Err(e) => log::warn!("{}: references composed one by one: {e}", path.display()),
                }
                Ok(())
            })?;
        }
        let mut open_notes: Vec<String> = note.into_iter().collect();
        open_notes.extend(
            layer_notes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .drain(..),
        );
        Ok(LoadedStage {
            path: path.to_path_buf(),
            stage,
            notes: Vec::new(),
            open_notes,
            cache: XformCache::default(),
            extracted: None,
            samples: Rc::new(RefCell::new(samples::SampleStore::with_budget(budget.sample_bytes))),
            budget,
            camera_warned: camera::Warned::default(),
            payloads_unloaded: options.unloaded_as_bounds,
        })
    }

    /// Retries a text stage openusd's parser rejected, through [`lenient::LenientResolver`]; on
    /// success, a note saying so joins the warnings.
    fn open_lenient(
        root: &str,
        options: &OpenOptions,
        max_layer_bytes: u64,
        notes: &lenient::Notes,
    ) -> Result<(usd::Stage, Option<String>), String> {
        let mut builder = usd::Stage::builder()
            .schema_registry(openusd_schemas::schema_registry())
            .resolver(lenient::LenientResolver::new(true, max_layer_bytes).with_notes(notes.clone()));
        if options.unloaded_as_bounds {
            builder = builder.load(usd::InitialLoadSet::LoadNone);
        }
        if let Some(session) = options.session_layer.as_ref().and_then(|s| s.to_str()) {
            builder = builder.session_layer(session);
        }
        let stage = builder.open(root).map_err(|e| e.to_string())?;
        let note = format!("{root}: read with usdrender's lenient usda reader (pxr-accepted syntax openusd rejects)");
        log::debug!("{note}");
        Ok((stage, Some(note)))
    }

    /// How drawing walks this stage.
    fn draw_walk(&self) -> graph::Walk {
        graph::Walk::Draw {
            unloaded: self.payloads_unloaded,
        }
    }

    /// The stage's timing, from its root layer (and session layer), never from sublayers.
    pub fn timing(&self) -> Timing {
        timing::read(&self.stage)
    }

    /// Composition errors (each naming the layer and prim) and extraction warnings so far.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .stage
            .composition_errors()
            .iter()
            .map(describe_diagnostic)
            .collect();
        if let Some(name) = self.stage.default_prim() {
            if self.default_prim_path().is_none() && !name.as_str().is_empty() {
                out.push(format!(
                    "{}: defaultPrim {:?} names no prim",
                    self.path.display(),
                    name.as_str()
                ));
            }
        }
        if let Some(axis) = timing::authored_up_axis(&self.stage).filter(|a| a != "Y" && a != "Z") {
            out.push(format!(
                "{}: upAxis {axis:?} is neither Y nor Z; framed as Z (usdrecord's rule)",
                self.path.display()
            ));
        }
        out.extend(self.open_notes.iter().cloned());
        out.extend(self.notes.iter().cloned());
        out
    }

    /// The defaultPrim as a path, when it names a prim that exists (openusd returns the authored
    /// name even when it names nothing; pxr returns no prim).
    fn default_prim_path(&self) -> Option<String> {
        let name = self.stage.default_prim()?;
        let path = openusd::sdf::Path::abs_root().append_path(name.as_str()).ok()?;
        let prim = self.stage.prim(path.clone()).ok()?;
        prim.is_valid().unwrap_or(false).then(|| path.as_str().to_string())
    }

    /// Extracts static geometry and the state at `options.time`, and chooses the camera.
    pub fn extract(&mut self, options: &ExtractOptions) -> Result<Scene> {
        let path = self.path.clone();
        let _samples = samples::Scope::enter(&self.samples);
        guarded(&path, "extracting", || self.extract_inner(options))
    }

    fn extract_inner(&mut self, options: &ExtractOptions) -> Result<Scene> {
        let started = std::time::Instant::now();
        self.samples.borrow_mut().default_time = options.time.is_nan();
        let walk = self.draw_walk();
        let graph = graph::walk(&self.stage, &mut self.cache, walk);
        let walked = started.elapsed();
        let choice = camera::choose(&self.stage, &graph, options.camera.as_deref())?;
        // Warnings of this extraction replace those of an earlier one.
        let mut notes = Vec::new();
        let (mut scene, mut plan) = extract::extract(
            &self.stage,
            &graph,
            &mut self.cache,
            options.time,
            &options.purposes,
            options.refine_level,
            options.default_time_bounds,
            options.points_shading,
            self.budget.texture_bytes,
            &mut notes,
        );
        self.notes = notes;
        scene.up_axis = timing::up_axis(&self.stage);
        scene.animation = Arc::new(Animation {
            meshes: std::mem::take(&mut plan.animated),
            skinned: std::mem::take(&mut plan.skinned),
            linear: self.stage.interpolation_type() == usd::InterpolationType::Linear,
            cache: samples::cache(),
        });
        log::info!(
            "camera: {} (rule {})",
            choice.path.as_deref().unwrap_or("framing camera"),
            choice.rule.as_str()
        );
        let framing = Camera::framing(scene.framing_bounds(), scene.up_axis);
        let camera = choice.path.as_ref().and_then(|p| self.stage.prim(p.as_str()).ok());
        scene.camera = choice;
        log::debug!(
            "extracted {} meshes, {} instances ({} dynamic), {} animated meshes in {:.2?} (the walk of {} prims {:.2?})",
            scene.meshes.len(),
            scene.instances.len(),
            scene.dynamic_instances.len(),
            scene.dynamic_meshes.len(),
            started.elapsed(),
            graph.order.len(),
            walked
        );
        self.extracted = Some(Extracted {
            graph,
            plan,
            camera,
            framing,
            purposes: options.purposes.clone(),
        });
        Ok(scene)
    }

    /// What changes at time code `frame`: dynamic instance matrices, animated points, the camera.
    /// The stage's part ([`LoadedStage::evaluate_stage_part`]) and then the plain-data part
    /// ([`Animation::evaluate`]) on this thread, one after the other.
    pub fn evaluate(&mut self, scene: &Scene, frame: f64) -> Result<FrameState> {
        let mut state = self.evaluate_stage_part(scene, frame)?;
        complete_frame(scene, &mut state)?;
        Ok(state)
    }

    /// What only the stage can evaluate at `frame`: transforms, visibility, instancers,
    /// materials, lights, the camera, and the animated meshes that have no track. The slots of
    /// `Scene::animation`'s meshes are left empty for [`complete_frame`], which needs no stage
    /// and runs on any thread.
    pub fn evaluate_stage_part(&mut self, scene: &Scene, frame: f64) -> Result<FrameState> {
        let path = self.path.clone();
        let _samples = samples::Scope::enter(&self.samples);
        guarded(&path, "evaluating a frame", || self.evaluate_inner(scene, frame))
    }

    /// The chosen camera's `shutter:open` and `shutter:close` at `frame`, in time codes relative
    /// to it: USD's fallback [0, 0] when unauthored, for the framing camera and before
    /// [`LoadedStage::extract`]. Read only for motion blur, so other renders pay nothing for it.
    pub fn camera_shutter(&self, frame: f64) -> Shutter {
        match self.extracted.as_ref().and_then(|ex| ex.camera.as_ref()) {
            Some(prim) => camera::shutter(prim, values::at(frame)),
            None => Shutter::INSTANT,
        }
    }

    /// Whether the stage's RenderSettings turn motion blur off (`disableMotionBlur` or
    /// `instantaneousShutter`); `false` before [`LoadedStage::extract`].
    pub fn motion_blur_disabled(&self) -> bool {
        self.extracted
            .as_ref()
            .is_some_and(|ex| camera::render_settings_disable_motion_blur(&self.stage, &ex.graph))
    }

    fn evaluate_inner(&mut self, scene: &Scene, frame: f64) -> Result<FrameState> {
        let Some(ex) = &self.extracted else {
            return Err(Error::Stage {
                path: self.path.clone(),
                reason: "evaluate called before extract".into(),
            });
        };
        if ex.plan.matrices != scene.dynamic_instances.len()
            || ex.plan.meshes.len() != scene.dynamic_meshes.len()
            || ex.plan.materials.dynamic.len() != scene.dynamic_materials.len()
            || ex.plan.lights.len() != scene.dynamic_lights.len()
        {
            return Err(Error::Stage {
                path: self.path.clone(),
                reason: "the scene passed to evaluate is not the one this stage extracted".into(),
            });
        }
        let mut notes = Vec::new();
        let (instance_transforms, mesh_vertices, skinning) = extract::evaluate(
            &self.stage,
            &ex.graph,
            &mut self.cache,
            &ex.plan,
            scene,
            frame,
            &ex.purposes,
            &mut notes,
        );
        // New textures cannot join the scene per frame: only those loaded at extraction are used.
        let mut textures = ex.plan.materials.textures.clone();
        let materials = ex
            .plan
            .materials
            .dynamic
            .iter()
            .map(|(index, source)| {
                match source {
                    material::Animated::Prim(path) => {
                        material::read_at(&self.stage, path, frame, &mut textures, &mut notes)
                    }
                    material::Animated::Card(card) => {
                        draw_mode::card_material_at(&self.stage, card, frame, &mut textures, &mut notes)
                    }
                }
                .or_else(|| scene.materials.get(*index as usize).cloned())
                .unwrap_or_else(crate::scene::Material::display_color)
            })
            .collect();
        let lights = lights::evaluate(
            &self.stage,
            &mut self.cache,
            &ex.plan.lights,
            &scene.lights,
            frame,
            &mut textures,
            &mut notes,
        );
        let camera = match &ex.camera {
            Some(prim) => camera::read(&mut self.cache, prim, values::at(frame), &mut self.camera_warned),
            None => ex.framing,
        };
        // A camera with NaN or infinite values would render a blank frame without a word.
        let finite = camera.to_world.is_finite()
            && [
                camera.lens.focal_length,
                camera.lens.horizontal_aperture,
                camera.lens.vertical_aperture,
                camera.lens.horizontal_aperture_offset,
                camera.lens.vertical_aperture_offset,
                camera.clipping.0,
                camera.clipping.1,
            ]
            .iter()
            .all(|x| x.is_finite());
        if !finite {
            let name = ex
                .camera
                .as_ref()
                .map_or("the framing camera".to_string(), |p| p.path().as_str().to_string());
            return Err(Error::Frame {
                frame: frame.to_string(),
                reason: format!("camera {name} has NaN or infinite values (transform, lens or clipping range)"),
            });
        }
        Ok(FrameState {
            frame,
            camera,
            instance_transforms,
            mesh_vertices,
            materials,
            lights,
            skinning,
            motion: Vec::new(),
        })
    }

    /// The per-instance transforms of the PointInstancer at `path` at time code `time`, one per
    /// instance with a position, masks ignored and prototype roots excluded: what pxr's
    /// `ComputeInstanceTransformsAtTime(time, time, ExcludeProtoXform, IgnoreMask)` answers.
    /// For checking instancing against pxr; `None` when there is no such prim.
    pub fn point_instancer_transforms(&self, path: &str, time: f64) -> Option<Vec<glam::DMat4>> {
        let prim = self.stage.prim(path).ok()?;
        let attrs = extract::InstancerAttrs::read(&prim, values::at(time));
        let n = attrs.proto_indices.len().min(attrs.positions.len());
        Some((0..n).map(|i| attrs.matrix(i)).collect())
    }

    /// Every gprim of the stage (instance proxies and PointInstancer prototypes included, drawn or
    /// not) and each of its `materialBind` GeomSubsets, with the Material path bound to it for the
    /// preview purpose (`None`: no binding, or a target that is not a Material prim), as
    /// `UsdShadeMaterialBindingAPI::ComputeBoundMaterial` answers. For checking binding against pxr.
    pub fn bound_materials(&mut self) -> Vec<(String, Option<String>)> {
        let walk = self.draw_walk();
        let graph = graph::walk(&self.stage, &mut self.cache, walk);
        let mut out = Vec::new();
        for path in &graph.order {
            let Some(node) = graph.nodes.get(path) else { continue };
            // Gprims only: a Skeleton's bones are drawn but bind no material.
            if !graph::is_drawable_type(&node.type_name) || node.type_name == "Skeleton" {
                continue;
            }
            // As pxr, a target that is not a Material prim binds nothing.
            let bound = |p: &openusd::sdf::Path| {
                material::bound_material(&self.stage, p)
                    .filter(|m| material::is_material(&self.stage, m))
                    .map(|m| m.as_str().to_string())
            };
            out.push((path.as_str().to_string(), bound(path)));
            if node.type_name == "Mesh" {
                if let Ok(prim) = self.stage.prim(path.clone()) {
                    for (subset, _) in material::material_subsets(&prim, None) {
                        out.push((subset.as_str().to_string(), bound(&subset)));
                    }
                }
            }
        }
        out
    }

    /// The `info` report: timing, cameras and the chosen one, geometry counts, lights, warnings.
    pub fn info(&mut self, options: &ExtractOptions) -> Result<StageInfo> {
        let path = self.path.clone();
        let _samples = samples::Scope::enter(&self.samples);
        guarded(&path, "reading stage info", || self.info_inner(options))
    }

    fn info_inner(&mut self, options: &ExtractOptions) -> Result<StageInfo> {
        let timing = self.timing();
        let all = graph::walk(&self.stage, &mut self.cache, graph::Walk::Count);
        let cameras = camera::describe(&self.stage, &all, &mut self.cache);
        let camera = match camera::choose(&self.stage, &all, options.camera.as_deref()) {
            Ok(CameraChoice { path, rule }) => serde_json::json!({ "path": path, "rule": rule.as_str() }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        let (counts, lights) = info::count(&self.stage, &all);
        Ok(StageInfo {
            file: self.path.display().to_string(),
            fps: timing.fps,
            tcps: timing.tcps,
            start: timing.start,
            end: timing.end,
            frames: StageInfo::frames_value(&timing),
            up_axis: timing::authored_up_axis(&self.stage).unwrap_or_else(|| "Y".into()),
            meters_per_unit: timing::meters_per_unit(&self.stage),
            default_prim: self.default_prim_path(),
            cameras,
            camera,
            meshes: counts.meshes,
            points: counts.points,
            faces: counts.faces,
            point_instancers: counts.point_instancers,
            pi_instances: counts.pi_instances,
            n_lights: lights.len() as u64,
            lights,
            light_types: counts.light_types,
            materials: counts.materials,
            shader_ids: counts.shader_ids,
            warnings: self.warnings(),
        })
    }
}

/// Writes the layer `src` (any format openusd reads) as a usdc crate file at `dst`: for tests
/// and tools that need crate files (per-sample reads, hostile-input tests) without Pixar's tools.
pub fn write_usdc(src: &Path, dst: &Path) -> Result<()> {
    let err = |reason: String| Error::Stage {
        path: src.to_path_buf(),
        reason,
    };
    let src_str = src.to_str().ok_or_else(|| err("the path is not valid UTF-8".into()))?;
    let dst_str = dst
        .to_str()
        .ok_or_else(|| err("the output path is not valid UTF-8".into()))?;
    let layer = openusd::sdf::Layer::open(src_str).map_err(|e| err(e.to_string()))?;
    layer
        .export(dst_str)
        .map_err(|e| err(format!("cannot write {}: {e}", dst.display())))
}

/// Fills the animated meshes' slots of a frame evaluated by
/// [`LoadedStage::evaluate_stage_part`]: plain data, any thread. A sample that cannot be read is
/// an error naming the prim and the frame. Skinned meshes the renderer skins on the GPU
/// ([`crate::scene::skinning::SkinnedMesh::on_gpu`]) are left empty: readers of their points call
/// [`crate::scene::skinning::skin_pending`].
pub fn complete_frame(scene: &Scene, state: &mut FrameState) -> Result<()> {
    scene
        .animation
        .evaluate(scene, state.frame, &mut state.mesh_vertices)
        .map_err(|e| Error::Frame {
            frame: e.frame.to_string(),
            reason: format!("{}: cannot read its points: {}", e.prim, e.reason),
        })?;
    // Skinned meshes the renderer skins in its compute pass keep their slots empty (pending):
    // only their pose travels with the frame. The rest (subdivided ones) are skinned here.
    crate::scene::skinning::evaluate(
        &scene.animation.skinned,
        &state.skinning,
        &mut state.mesh_vertices,
        crate::scene::skinning::Which::NotOnGpu,
        |slot| {
            scene
                .dynamic_meshes
                .get(slot)
                .and_then(|&i| scene.meshes.get(i as usize))
        },
    );
    Ok(())
}

/// A composition diagnostic worded for the user, naming the layer and the prim.
fn describe_diagnostic(d: &openusd::pcp::CompositionDiagnostic) -> String {
    use openusd::pcp::CompositionDiagnostic as D;
    match d {
        D::UnresolvedLayer {
            asset_path,
            arc,
            introduced_by,
            site_path,
        } => {
            format!("could not open @{asset_path}@ for a {arc:?} arc authored in {introduced_by} on prim {site_path}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
