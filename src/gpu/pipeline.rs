//! The pipeline cache: each kernel validated by naga, checked against its `Params` struct and
//! compiled once per set of override constants and runtime-check mode.

use super::tensor::{DType, Precision};
use super::{kernels, Gpu};
use crate::error::{Error, Result};

/// A compiled pipeline, the number of resource bindings its kernel declares, the element type
/// of each storage binding (kernels::binding_elements) and whether the kernel uses each binding
/// (kernels::used_bindings).
pub(super) type Compiled = (
    wgpu::ComputePipeline,
    usize,
    Vec<Option<(naga::Scalar, u32)>>,
    Vec<bool>,
);

impl Gpu {
    /// The compute pipeline for a kernel with given element types, lanes
    /// (kernels::expanded_source_lanes) and override constants, compiled once per runtime-check
    /// mode.
    pub(super) fn pipeline(
        &self,
        kernel: &kernels::Shader,
        elements: kernels::Elements,
        lanes: u32,
        overrides: &[(&str, f64)],
    ) -> Result<Compiled> {
        let trusted = kernel.trusted && !self.0.shader_checks.get();
        let key = format!(
            "{}{elements:?} lanes {lanes}{overrides:?} trusted {trusted}",
            kernel.name
        );
        if let Some(p) = self.0.pipelines.borrow().get(&key) {
            return Ok(p.clone());
        }
        if elements.iter().any(|(_, t)| *t == DType::F16) {
            self.check_precision(Precision::Mixed)?;
        }
        // naga first: its diagnostics name the file and line; wgpu's would arrive asynchronously.
        let (naga_module, info) = kernels::validate_lanes(kernel, elements, lanes)?;
        kernels::check_params(kernel, &naga_module)?;
        let bindings = naga_module
            .global_variables
            .iter()
            .filter(|(_, g)| g.binding.is_some())
            .count();
        let binding_elements = kernels::binding_elements(&naga_module);
        let used = kernels::used_bindings(&naga_module, &info);
        let source = kernels::expanded_source_lanes(kernel, elements, lanes)?;
        let scope = self
            .0
            .device
            .push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        let module = if trusted {
            // SAFETY: a trusted kernel keeps every access in bounds, ends every loop and never
            // divides an integer by zero through its own guards and the dispatch sizes its op
            // computes (the audit in its header, and src/ops/kernels.rs); the kernel tests run
            // each one against the f64 references with and without the runtime checks.
            unsafe {
                self.0
                    .device
                    .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        } else {
            self.0.device.create_shader_module(desc)
        };
        let pipeline = self
            .0
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.name),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: overrides,
                    ..Default::default()
                },
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Shader {
                kernel: format!("shaders/{}.wgsl", kernel.name),
                message: e.to_string(),
            });
        }
        let compiled = (pipeline, bindings, binding_elements, used);
        self.0.pipelines.borrow_mut().insert(key, compiled.clone());
        Ok(compiled)
    }

    /// Errors unless this adapter can run `precision`: `mixed` needs SHADER_F16 (f16 storage
    /// and arithmetic in shaders).
    pub fn check_precision(&self, precision: Precision) -> Result<()> {
        if precision == Precision::Mixed && !self.0.features.contains(wgpu::Features::SHADER_F16) {
            return Err(Error::Invalid(format!(
                "`--precision mixed` needs f16 shaders (the SHADER_F16 feature), which adapter \
                 `{}` ({:?}) does not offer; use `--precision f32`",
                self.0.info.name, self.0.info.backend
            )));
        }
        Ok(())
    }
}
