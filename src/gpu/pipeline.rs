//! The pipeline cache: each kernel validated by naga, checked against its `Params` struct and
//! compiled once per set of override constants and runtime-check mode.

use super::{kernels, Gpu};
use crate::error::{Error, Result};

impl Gpu {
    /// The compute pipeline for a kernel with given override constants, compiled once per
    /// runtime-check mode.
    pub(super) fn pipeline(
        &self,
        kernel: &kernels::Shader,
        overrides: &[(&str, f64)],
    ) -> Result<(wgpu::ComputePipeline, usize)> {
        let trusted = kernel.trusted && !self.0.shader_checks.get();
        let key = format!("{}{:?} trusted {trusted}", kernel.name, overrides);
        if let Some(p) = self.0.pipelines.borrow().get(&key) {
            return Ok(p.clone());
        }
        // naga first: its diagnostics name the file and line; wgpu's would arrive asynchronously.
        let (naga_module, _) = kernels::validate(kernel)?;
        kernels::check_params(kernel, &naga_module)?;
        let bindings = naga_module
            .global_variables
            .iter()
            .filter(|(_, g)| g.binding.is_some())
            .count();
        let source = kernels::expanded_source(kernel)?;
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
        self.0
            .pipelines
            .borrow_mut()
            .insert(key, (pipeline.clone(), bindings));
        Ok((pipeline, bindings))
    }
}
