//! Adapter enumeration and selection: one entry per physical GPU, Vulkan preferred, and one wgpu
//! Device per adapter for the life of the process.
//!
//! The wgpu `Instance` and every `Adapter` it returns live in a process-wide registry: GL breaks
//! when two Adapter objects for one context are used on two threads, and dropping a GL Device can
//! blank another live one (shared/GPU.md pitfall 5), so devices are created once, on first use,
//! and shared by every renderer on that adapter.

use std::sync::{Arc, Mutex, OnceLock};

use crate::{Error, Result};

/// Which adapters to render with (from `--adapters`, `--include-cpu`, `--all-backends`).
#[derive(Clone, Debug, Default)]
pub struct AdapterSelection {
    /// Comma list of indices (as `--list-adapters` prints them), name substrings, or `pci:<bus id>`.
    /// `None` takes every GPU.
    pub spec: Option<String>,
    /// Keep software (CPU) adapters even when a real GPU is present.
    pub include_cpu: bool,
    /// Keep each GPU once per backend (Vulkan and GL) instead of once.
    pub all_backends: bool,
}

/// What `--list-adapters` prints about one adapter.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub pci_bus_id: String,
    pub vendor: u32,
    pub device: u32,
}

impl AdapterSummary {
    /// `Vulkan/llvmpipe (LLVM 15.0.6, 256 bits)`: how logs and tests name an adapter.
    pub fn label(&self) -> String {
        format!("{}/{}", self.backend, self.name)
    }
}

/// One selected adapter. Cheap to clone; the device behind it is created once and shared.
#[derive(Clone)]
pub struct GpuAdapter {
    pub summary: AdapterSummary,
    pub(crate) slot: Arc<AdapterSlot>,
}

impl GpuAdapter {
    /// Creates the adapter's device on a thread of its own, so that it is ready (or has failed,
    /// which the renderer then reports) by the time a renderer asks for it. Creating a device
    /// costs tens of milliseconds per adapter: `render` does it while the stage loads.
    pub fn open_device_in_background(&self) {
        let slot = Arc::clone(&self.slot);
        let spawned = std::thread::Builder::new()
            .name("usdrender-device".into())
            .spawn(move || {
                let _ = slot.device();
            });
        if let Err(e) = spawned {
            log::debug!("{}: device made on first use ({e})", self.summary.label());
        }
    }
}

impl std::fmt::Debug for GpuAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuAdapter").field("summary", &self.summary).finish()
    }
}

/// An adapter from the registry and its one device.
pub(crate) struct AdapterSlot {
    pub(crate) adapter: wgpu::Adapter,
    pub(crate) info: wgpu::AdapterInfo,
    /// `None` until first use; then the device or the reason it could not be made (kept, because
    /// wgpu refuses a second `request_device` on one adapter).
    device: Mutex<Option<std::result::Result<SharedDevice, String>>>,
}

/// A device, its queue, and the reason it was lost, if it was.
#[derive(Clone)]
pub(crate) struct SharedDevice {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) lost: Arc<Mutex<Option<String>>>,
}

impl SharedDevice {
    /// The device-loss message, if the device is gone.
    pub(crate) fn lost_reason(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }
}

impl AdapterSlot {
    fn label(&self) -> String {
        format!("{:?}/{}", self.info.backend, self.info.name)
    }

    /// The adapter's device, created on first call. Errors name the adapter.
    pub(crate) fn device(&self) -> Result<SharedDevice> {
        let gpu_err = |reason: String| Error::Gpu {
            adapter: self.label(),
            reason,
        };
        let mut guard = self
            .device
            .lock()
            .map_err(|_| gpu_err("device registry poisoned".into()))?;
        if let Some(done) = guard.as_ref() {
            return done.clone().map_err(gpu_err);
        }
        let made = self.request_device();
        *guard = Some(made.clone());
        made.map_err(gpu_err)
    }

    fn request_device(&self) -> std::result::Result<SharedDevice, String> {
        // Ask for what the adapter has: GL and software adapters fall short of WebGPU's defaults,
        // and nothing here needs more than the adapter offers.
        // Asked for only where offered; the renderer works without them. Timestamp queries time the
        // render pass on the GPU (bench figures, `last_gpu_ms`). Adapter-specific format features
        // let the id AOVs (R32Uint) be multisampled where the hardware can (WebGPU guarantees 1x).
        // The primitive index lets the visibility buffer name triangles (compute shading).
        let required_features = self.adapter.features()
            & (wgpu::Features::TIMESTAMP_QUERY
                | wgpu::Features::TEXTURE_ADAPTER_SPECIFIC_FORMAT_FEATURES
                | wgpu::Features::PRIMITIVE_INDEX);
        let desc = wgpu::DeviceDescriptor {
            label: Some("usdrender device"),
            required_features,
            required_limits: self.adapter.limits(),
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(self.adapter.request_device(&desc)).map_err(|e| format!("cannot create device: {e}"))?;
        let lost = Arc::new(Mutex::new(None));
        let lost_cb = Arc::clone(&lost);
        let label = self.label();
        device.set_device_lost_callback(move |reason, message| {
            // Dropping the device at exit reports `Destroyed`; only real losses are errors.
            if reason != wgpu::DeviceLostReason::Destroyed {
                log::error!("{label}: device lost: {message}");
            }
            if let Ok(mut l) = lost_cb.lock() {
                *l = Some(format!("device lost ({reason:?}): {message}"));
            }
        });
        // Validation errors outside an error scope would otherwise panic in wgpu's default handler.
        let label = self.label();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            log::error!("{label}: uncaptured GPU error: {e}");
        }));
        log::info!(
            "adapter {}: backend {:?}, {:?}, driver {} {}",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info
        );
        Ok(SharedDevice { device, queue, lost })
    }
}

/// The process-wide instance and every adapter it found, in wgpu's order.
struct Registry {
    _instance: wgpu::Instance,
    slots: Vec<Arc<AdapterSlot>>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut desc = wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN | wgpu::Backends::GL,
            flags: wgpu::InstanceFlags::from_build_config(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        }
        .with_env(); // WGPU_BACKEND narrows the backends; WGPU_DEBUG etc. tune the flags
                     // We issue no indirect draws; wgpu's indirect-validation compute pipeline is what fails
                     // device creation on GL 3.3 drivers (shared/GPU.md pitfall 3).
        desc.flags.remove(wgpu::InstanceFlags::VALIDATION_INDIRECT_CALL);
        let backends = desc.backends;
        let instance = wgpu::Instance::new(desc);
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        let slots = adapters
            .into_iter()
            .map(|adapter| {
                let info = adapter.get_info();
                Arc::new(AdapterSlot {
                    adapter,
                    info,
                    device: Mutex::new(None),
                })
            })
            .collect::<Vec<_>>();
        log::debug!("wgpu found {} adapter(s) on {backends:?}", slots.len());
        Registry {
            _instance: instance,
            slots,
        }
    })
}

fn summary(index: usize, info: &wgpu::AdapterInfo) -> AdapterSummary {
    AdapterSummary {
        index,
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        pci_bus_id: info.device_pci_bus_id.clone(),
        vendor: info.vendor,
        device: info.device,
    }
}

/// Whether two adapters are the same physical GPU seen through two backends.
fn same_gpu(a: &wgpu::AdapterInfo, b: &wgpu::AdapterInfo) -> bool {
    if !a.device_pci_bus_id.is_empty() && !b.device_pci_bus_id.is_empty() {
        return a.device_pci_bus_id.eq_ignore_ascii_case(&b.device_pci_bus_id);
    }
    if a.vendor != 0 && a.device != 0 && b.vendor != 0 && b.device != 0 {
        return (a.vendor, a.device) == (b.vendor, b.device);
    }
    // GL reports no PCI ids and often no device id; its renderer string is the Vulkan name,
    // sometimes with a suffix ("NVIDIA H100 80GB HBM3/PCIe/SSE2").
    let (a, b) = (a.name.trim().to_lowercase(), b.name.trim().to_lowercase());
    !a.is_empty() && !b.is_empty() && (a.starts_with(&b) || b.starts_with(&a))
}

fn backend_rank(b: wgpu::Backend) -> u8 {
    match b {
        wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Metal | wgpu::Backend::Dx12 => 1,
        wgpu::Backend::Gl => 2,
        _ => 3,
    }
}

/// The adapters as listed (and numbered) for a given `all_backends`: Vulkan first; without
/// `all_backends`, a non-Vulkan adapter is dropped when a better-ranked adapter is the same GPU.
/// Identical GPUs on one backend are kept apart (eight H100s are eight Vulkan adapters).
fn listed(all_backends: bool) -> Vec<Arc<AdapterSlot>> {
    let mut slots: Vec<Arc<AdapterSlot>> = registry().slots.clone();
    // Stable: keeps wgpu's order within a backend.
    slots.sort_by_key(|s| backend_rank(s.info.backend));
    if all_backends {
        return slots;
    }
    let mut kept: Vec<Arc<AdapterSlot>> = Vec::new();
    for s in slots {
        let duplicate = kept
            .iter()
            .any(|k| k.info.backend != s.info.backend && same_gpu(&k.info, &s.info));
        let gl_twice = s.info.backend == wgpu::Backend::Gl
            && kept
                .iter()
                .any(|k| k.info.backend == wgpu::Backend::Gl && same_gpu(&k.info, &s.info));
        if duplicate || gl_twice {
            log::debug!(
                "{:?}/{}: same GPU as an adapter listed earlier; left out",
                s.info.backend,
                s.info.name
            );
        } else {
            kept.push(s);
        }
    }
    kept
}

/// Every adapter wgpu sees, numbered as `--adapters` takes them.
pub fn list_adapters(all_backends: bool) -> Vec<AdapterSummary> {
    listed(all_backends)
        .iter()
        .enumerate()
        .map(|(i, s)| summary(i, &s.info))
        .collect()
}

/// The adapters to render with. Without a spec: every listed GPU, leaving software adapters out
/// when a real GPU exists (unless `include_cpu`). A spec names adapters explicitly, software ones
/// included. Nothing matching is an error that lists what exists.
pub fn select_adapters(sel: &AdapterSelection) -> Result<Vec<GpuAdapter>> {
    let slots = listed(sel.all_backends);
    let all: Vec<(AdapterSummary, Arc<AdapterSlot>)> = slots
        .into_iter()
        .enumerate()
        .map(|(i, s)| (summary(i, &s.info), s))
        .collect();
    let describe = || {
        if all.is_empty() {
            "wgpu found no adapters (no Vulkan or GL driver; on a machine without a GPU install \
             mesa-vulkan-drivers for lavapipe)"
                .to_string()
        } else {
            let names: Vec<String> = all.iter().map(|(s, _)| format!("{}: {}", s.index, s.label())).collect();
            format!("available: {}", names.join("; "))
        }
    };
    let mut chosen: Vec<usize> = Vec::new();
    match sel.spec.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            let has_gpu = all.iter().any(|(_, s)| s.info.device_type != wgpu::DeviceType::Cpu);
            for (i, (_, s)) in all.iter().enumerate() {
                if sel.include_cpu || !has_gpu || s.info.device_type != wgpu::DeviceType::Cpu {
                    chosen.push(i);
                }
            }
        }
        Some(spec) => {
            for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let before = chosen.len();
                let matches: Vec<usize> = if let Ok(n) = item.parse::<usize>() {
                    if n < all.len() {
                        vec![n]
                    } else {
                        vec![]
                    }
                } else if let Some(bus) = item.strip_prefix("pci:") {
                    all.iter()
                        .enumerate()
                        .filter(|(_, (s, _))| pci_matches(&s.pci_bus_id, bus))
                        .map(|(i, _)| i)
                        .collect()
                } else {
                    let needle = item.to_lowercase();
                    all.iter()
                        .enumerate()
                        .filter(|(_, (s, _))| s.label().to_lowercase().contains(&needle))
                        .map(|(i, _)| i)
                        .collect()
                };
                for i in matches {
                    if !chosen.contains(&i) {
                        chosen.push(i);
                    }
                }
                if chosen.len() == before && !matches_nothing_new_is_ok(item, &all) {
                    return Err(Error::NoAdapter(format!(
                        "--adapters {item:?} matches no adapter; {}",
                        describe()
                    )));
                }
            }
        }
    }
    if chosen.is_empty() {
        return Err(Error::NoAdapter(describe()));
    }
    Ok(chosen
        .into_iter()
        .map(|i| GpuAdapter {
            summary: all[i].0.clone(),
            slot: Arc::clone(&all[i].1),
        })
        .collect())
}

/// An item that only repeats adapters already chosen (`0,llvmpipe`) is fine; one that matches
/// nothing at all is a typo worth stopping for.
fn matches_nothing_new_is_ok(item: &str, all: &[(AdapterSummary, Arc<AdapterSlot>)]) -> bool {
    if let Ok(n) = item.parse::<usize>() {
        return n < all.len();
    }
    if let Some(bus) = item.strip_prefix("pci:") {
        return all.iter().any(|(s, _)| pci_matches(&s.pci_bus_id, bus));
    }
    let needle = item.to_lowercase();
    all.iter().any(|(s, _)| s.label().to_lowercase().contains(&needle))
}

/// `0000:65:00.0` matches `65:00.0` too: the PCI domain is usually zero and often left off.
fn pci_matches(have: &str, want: &str) -> bool {
    let (have, want) = (normalise_pci(have), normalise_pci(want));
    !have.is_empty() && !want.is_empty() && (have == want || have.ends_with(&format!(":{want}")))
}

/// Lower case, and the domain without its leading zeros: nvidia-smi writes `00000000:65:00.0`
/// where wgpu writes `0000:65:00.0`.
fn normalise_pci(id: &str) -> String {
    let id = id.trim().to_lowercase();
    match id.split_once(':') {
        // domain:bus:device.function has two colons; bus:device.function has one.
        Some((domain, rest)) if rest.contains(':') => {
            let domain = domain.trim_start_matches('0');
            format!("{}:{rest}", if domain.is_empty() { "0" } else { domain })
        }
        _ => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_ids_match_with_or_without_domain() {
        assert!(pci_matches("0000:65:00.0", "0000:65:00.0"));
        assert!(pci_matches("0000:65:00.0", "65:00.0"));
        assert!(!pci_matches("0000:65:00.0", "5:00.0"));
        assert!(!pci_matches("", "65:00.0"));
        // nvidia-smi's eight-digit domain names the same device as wgpu's four-digit one.
        assert!(pci_matches("0000:65:00.0", "00000000:65:00.0"));
        assert!(pci_matches("0000:65:00.0", "00000000:65:00.0".to_uppercase().as_str()));
        assert!(!pci_matches("0001:65:00.0", "00000000:65:00.0"));
    }

    fn info(name: &str, backend: wgpu::Backend, vendor: u32, device: u32, bus: &str) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            name: name.into(),
            vendor,
            device,
            device_type: wgpu::DeviceType::DiscreteGpu,
            device_pci_bus_id: bus.into(),
            driver: String::new(),
            driver_info: String::new(),
            backend,
            ..wgpu::AdapterInfo::new(wgpu::DeviceType::DiscreteGpu, backend)
        }
    }

    #[test]
    fn same_gpu_by_bus_then_ids_then_name() {
        use wgpu::Backend::{Gl, Vulkan};
        let a = info("NVIDIA H100 80GB HBM3", Vulkan, 0x10de, 0x2330, "0000:65:00.0");
        let b = info("NVIDIA H100 80GB HBM3", Vulkan, 0x10de, 0x2330, "0000:66:00.0");
        assert!(!same_gpu(&a, &b), "two identical cards on different buses are two GPUs");
        let gl = info("NVIDIA H100 80GB HBM3/PCIe/SSE2", Gl, 0x10de, 0, "");
        assert!(same_gpu(&a, &gl), "GL's renderer string extends the Vulkan name");
        let gl = info("llvmpipe (LLVM 15.0.6, 256 bits)", Gl, 0, 0, "");
        let vk = info("llvmpipe (LLVM 15.0.6, 256 bits)", Vulkan, 0x10005, 0, "");
        assert!(same_gpu(&vk, &gl));
    }
}
