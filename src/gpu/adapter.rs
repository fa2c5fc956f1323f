//! Finding adapters: list them all, pick the best by default, or the one `--adapter` names.

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

/// `spec` is an index into the list or a case-insensitive substring of the adapter's name.
pub fn choose(adapters: Vec<wgpu::Adapter>, spec: Option<&str>) -> Result<wgpu::Adapter> {
    if adapters.is_empty() {
        return Err(Error::Adapter(
            "no adapter with compute support was found. Install a Vulkan driver; on a machine \
             without a GPU, Mesa's software driver works (Debian/Ubuntu: \
             `apt-get install mesa-vulkan-drivers libvulkan1`)"
                .into(),
        ));
    }
    let names = || {
        adapters
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{i}: {}", a.get_info().name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match spec {
        None => Ok(adapters
            .into_iter()
            .min_by_key(|a| rank(&a.get_info()))
            .expect("list is not empty")),
        Some(spec) => {
            if let Ok(index) = spec.parse::<usize>() {
                let count = adapters.len();
                let listing = names();
                return adapters.into_iter().nth(index).ok_or_else(|| {
                    Error::Adapter(format!(
                        "--adapter {index}: there are only {count} adapters ({listing})"
                    ))
                });
            }
            let needle = spec.to_lowercase();
            let listing = names();
            adapters
                .into_iter()
                .filter(|a| a.get_info().name.to_lowercase().contains(&needle))
                .min_by_key(|a| rank(&a.get_info()))
                .ok_or_else(|| {
                    Error::Adapter(format!(
                        "--adapter `{spec}` matches no adapter name; available: {listing}"
                    ))
                })
        }
    }
}

/// Human-readable description of one adapter and the limits that matter for training.
pub fn describe(index: usize, adapter: &wgpu::Adapter) -> String {
    let info = adapter.get_info();
    let limits = adapter.limits();
    let features = adapter.features();
    let mib = |b: u64| format!("{:.0} MiB", b as f64 / 1048576.0);
    let yes_no = |f: wgpu::Features| if features.contains(f) { "yes" } else { "no" };
    format!(
        "[{index}] {name}\n    backend {backend:?}, type {kind:?}, driver {driver} {driver_info}\n    \
         max buffer {buf}, max storage binding {bind}, storage buffers per stage {sb}\n    \
         workgroup: {inv} invocations, size {x}x{y}x{z}, {wgmem} KiB shared, {dim} groups per dimension\n    \
         f16 {f16}, subgroups {sg}, timestamp queries {ts}",
        name = info.name,
        backend = info.backend,
        kind = info.device_type,
        driver = info.driver,
        driver_info = info.driver_info,
        buf = mib(limits.max_buffer_size),
        bind = mib(limits.max_storage_buffer_binding_size),
        sb = limits.max_storage_buffers_per_shader_stage,
        inv = limits.max_compute_invocations_per_workgroup,
        x = limits.max_compute_workgroup_size_x,
        y = limits.max_compute_workgroup_size_y,
        z = limits.max_compute_workgroup_size_z,
        wgmem = limits.max_compute_workgroup_storage_size / 1024,
        dim = limits.max_compute_workgroups_per_dimension,
        f16 = yes_no(wgpu::Features::SHADER_F16),
        sg = yes_no(wgpu::Features::SUBGROUP),
        ts = yes_no(wgpu::Features::TIMESTAMP_QUERY),
    )
}
