//! Finding adapters: list them all, pick the best by default, or the one `--adapter` (or
//! `PURENOISE_ADAPTER`) names.

use serde::Serialize;

use crate::error::{Error, Result};

pub fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env())
}

/// Adapters that can run compute shaders, in the order `purenoise devices` numbers them.
pub fn compute_adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .filter(|a| {
            a.get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
        })
        .collect()
}

/// Lower is better: discrete > integrated > virtual > software, native APIs before GL.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let device = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (device, backend)
}

/// The adapter's name and backend: Vulkan and GL can offer one device under the same name.
pub fn label(info: &wgpu::AdapterInfo) -> String {
    format!("{} on {:?}", info.name, info.backend)
}

/// Index into `adapters` of the best one, or of the one `spec` names: an index, or a
/// case-insensitive part of the name (the best of those that match). `origin` says where `spec`
/// came from (`--adapter`, `PURENOISE_ADAPTER`) in errors and in the note printed when several
/// adapters match.
pub fn choose(adapters: &[wgpu::Adapter], spec: Option<&str>, origin: &str) -> Result<usize> {
    if adapters.is_empty() {
        return Err(Error::Adapter(
            "no adapter with compute support was found. Install a Vulkan driver; on a machine \
             without a GPU, Mesa's software driver works (Debian/Ubuntu: \
             `apt-get install mesa-vulkan-drivers libvulkan1`)"
                .into(),
        ));
    }
    let listing = |indices: &mut dyn Iterator<Item = usize>| {
        indices
            .map(|i| format!("{i}: {}", label(&adapters[i].get_info())))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let best = |indices: &[usize]| {
        indices
            .iter()
            .copied()
            .min_by_key(|&i| rank(&adapters[i].get_info()))
    };
    let Some(spec) = spec else {
        let all: Vec<usize> = (0..adapters.len()).collect();
        return Ok(best(&all).expect("list is not empty"));
    };
    if let Ok(index) = spec.parse::<usize>() {
        if index < adapters.len() {
            return Ok(index);
        }
        return Err(Error::Adapter(format!(
            "{origin} {index}: there are only {} adapters ({}); run `purenoise devices` to see them",
            adapters.len(),
            listing(&mut (0..adapters.len()))
        )));
    }
    let needle = spec.to_lowercase();
    let matching: Vec<usize> = (0..adapters.len())
        .filter(|&i| adapters[i].get_info().name.to_lowercase().contains(&needle))
        .collect();
    let Some(chosen) = best(&matching) else {
        return Err(Error::Adapter(format!(
            "{origin} `{spec}` matches no adapter name; available: {}; give an index or a part \
             of one of these names",
            listing(&mut (0..adapters.len()))
        )));
    };
    if matching.len() > 1 {
        eprintln!(
            "note: {origin} `{spec}` matches {} adapters; using {chosen}: {} (also matched: {}); \
             give an index to pick another",
            matching.len(),
            label(&adapters[chosen].get_info()),
            listing(&mut matching.iter().copied().filter(|&i| i != chosen))
        );
    }
    Ok(chosen)
}

/// One adapter as `purenoise devices` shows it: identity, the limits that matter for training,
/// and the optional features purenoise uses. Sizes are in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRecord {
    /// The index `--adapter` and `PURENOISE_ADAPTER` accept.
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub limits: DeviceLimits,
    pub features: DeviceFeatures,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceLimits {
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_size_x: u32,
    pub max_compute_workgroup_size_y: u32,
    pub max_compute_workgroup_size_z: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_workgroups_per_dimension: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceFeatures {
    pub f16: bool,
    pub subgroups: bool,
    pub timestamp_queries: bool,
}

impl DeviceRecord {
    pub fn of(index: usize, adapter: &wgpu::Adapter) -> DeviceRecord {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let features = adapter.features();
        DeviceRecord {
            index,
            name: info.name,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver,
            driver_info: info.driver_info,
            limits: DeviceLimits {
                max_buffer_size: limits.max_buffer_size,
                max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
                max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
                max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
                max_compute_workgroup_size_x: limits.max_compute_workgroup_size_x,
                max_compute_workgroup_size_y: limits.max_compute_workgroup_size_y,
                max_compute_workgroup_size_z: limits.max_compute_workgroup_size_z,
                max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
                max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            },
            features: DeviceFeatures {
                f16: features.contains(wgpu::Features::SHADER_F16),
                subgroups: features.contains(wgpu::Features::SUBGROUP),
                timestamp_queries: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            },
        }
    }
}

/// Human-readable: the backend beside the name, then the limits and features.
impl std::fmt::Display for DeviceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: u64| format!("{:.0} MiB", b as f64 / 1048576.0);
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let l = &self.limits;
        write!(
            f,
            "[{index}] {name} on {backend}\n    type {kind}, driver {driver} {driver_info}\n    \
             max buffer {buf}, max storage binding {bind}, storage buffers per stage {sb}\n    \
             workgroup: {inv} invocations, size {x}x{y}x{z}, {wgmem} KiB shared, {dim} groups per dimension\n    \
             f16 {f16}, subgroups {sg}, timestamp queries {ts}",
            index = self.index,
            name = self.name,
            backend = self.backend,
            kind = self.device_type,
            driver = self.driver,
            driver_info = self.driver_info,
            buf = mib(l.max_buffer_size),
            bind = mib(l.max_storage_buffer_binding_size),
            sb = l.max_storage_buffers_per_shader_stage,
            inv = l.max_compute_invocations_per_workgroup,
            x = l.max_compute_workgroup_size_x,
            y = l.max_compute_workgroup_size_y,
            z = l.max_compute_workgroup_size_z,
            wgmem = l.max_compute_workgroup_storage_size / 1024,
            dim = l.max_compute_workgroups_per_dimension,
            f16 = yes_no(self.features.f16),
            sg = yes_no(self.features.subgroups),
            ts = yes_no(self.features.timestamp_queries),
        )
    }
}

/// `purenoise devices --json`: every adapter and the one that would be used.
#[derive(Debug, Clone, Serialize)]
pub struct DevicesReport {
    pub adapters: Vec<DeviceRecord>,
    pub selected: Selected,
}

/// The adapter a command would open, by index into `adapters`, with its name and backend.
#[derive(Debug, Clone, Serialize)]
pub struct Selected {
    pub index: usize,
    pub name: String,
    pub backend: String,
}
