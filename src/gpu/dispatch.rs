//! Recording: dispatches, clears and copies are checked and recorded, then encoded into one
//! command buffer and submitted together at the next flush.

use std::num::NonZeroU64;

use super::device::Fault;
use super::kernels::Elements;
use super::tensor::Tensor;
use super::timing::PassClock;
use super::{Gpu, Kernel, KernelParams};
use crate::error::{Error, Result};

/// Recorded work, encoded and submitted at the next flush.
pub(super) enum Command {
    Dispatch {
        kernel: &'static str,
        pipeline: wgpu::ComputePipeline,
        params_offset: u64,
        params_size: u64,
        /// Binding number, buffer, offset and size of each tensor the kernel uses.
        bindings: Vec<(u32, wgpu::Buffer, u64, u64)>,
        groups: [u32; 3],
    },
    Clear {
        buffer: wgpu::Buffer,
        offset: u64,
        size: u64,
    },
    Copy {
        src: wgpu::Buffer,
        src_offset: u64,
        dst: wgpu::Buffer,
        dst_offset: u64,
        size: u64,
    },
}

/// Flush on our own once this many commands are waiting, so recording never grows unbounded and
/// a timed submission's passes (at most one per command) fit the pass clock's timestamps.
const MAX_PENDING: usize = (PassClock::CAPACITY / 2) as usize;

impl Gpu {
    pub fn submissions(&self) -> u64 {
        self.0.submissions.get()
    }

    /// Records zero-filling a tensor (in order with dispatches).
    pub fn clear(&self, t: &Tensor) {
        self.push(Command::Clear {
            buffer: t.buffer().clone(),
            offset: t.offset_bytes(),
            size: t.bytes(),
        });
    }

    /// Records copying `len` elements from `src[src_start..]` to `dst[dst_start..]`.
    pub fn copy(
        &self,
        src: &Tensor,
        src_start: usize,
        dst: &Tensor,
        dst_start: usize,
        len: usize,
    ) -> Result<()> {
        if src_start + len > src.numel() || dst_start + len > dst.numel() {
            return Err(Error::Shape {
                op: "copy",
                detail: format!(
                    "{len} elements from {src_start} of {:?} to {dst_start} of {:?} run past the end",
                    src.shape(),
                    dst.shape()
                ),
            });
        }
        let size = src.dtype().size() as u64;
        if src.dtype() != dst.dtype()
            || [src_start, dst_start, len]
                .iter()
                .any(|&e| !(e as u64 * size).is_multiple_of(4))
        {
            // Buffer copies move whole 4-byte words, and never convert.
            return Err(Error::Shape {
                op: "copy",
                detail: format!(
                    "{len} elements from {src_start} of a {:?} tensor to {dst_start} of a {:?} \
                     tensor: copies need one element type and whole 4-byte words",
                    src.dtype(),
                    dst.dtype()
                ),
            });
        }
        if len > 0 {
            self.push(Command::Copy {
                src: src.buffer().clone(),
                src_offset: src.offset_bytes() + src_start as u64 * size,
                dst: dst.buffer().clone(),
                dst_offset: dst.offset_bytes() + dst_start as u64 * size,
                size: len as u64 * size,
            });
        }
        Ok(())
    }

    /// Records one dispatch. `params` fills the kernel's uniform `Params` struct (binding 0);
    /// `tensors` bind to 1, 2, … in order, each named for error messages. Every `//!element`
    /// alias is f32 ([`Gpu::dispatch_as`] chooses).
    pub fn dispatch<P: KernelParams>(
        &self,
        kernel: &Kernel<P>,
        overrides: &[(&str, f64)],
        params: &P,
        tensors: &[(&str, &Tensor)],
        groups: [u32; 3],
    ) -> Result<()> {
        self.dispatch_as(kernel, &[], overrides, params, tensors, groups)
    }

    /// [`Gpu::dispatch`] of the kernel's variant with its `//!element` aliases typed by
    /// `elements` (gpu::kernels); each tensor's element type must be its binding's.
    pub fn dispatch_as<P: KernelParams>(
        &self,
        kernel: &Kernel<P>,
        elements: Elements,
        overrides: &[(&str, f64)],
        params: &P,
        tensors: &[(&str, &Tensor)],
        groups: [u32; 3],
    ) -> Result<()> {
        self.dispatch_lanes(kernel, elements, 1, overrides, params, tensors, groups)
    }

    /// [`Gpu::dispatch_as`] of the kernel's `lanes`-lane variant (1 or 4; gpu::kernels, Lanes):
    /// a tensor bound to a vector array must hold whole vectors.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch_lanes<P: KernelParams>(
        &self,
        kernel: &Kernel<P>,
        elements: Elements,
        lanes: u32,
        overrides: &[(&str, f64)],
        params: &P,
        tensors: &[(&str, &Tensor)],
        groups: [u32; 3],
    ) -> Result<()> {
        let kernel = &kernel.shader;
        let limits = &self.0.limits;
        for (name, t) in tensors {
            // Kernels index elements in 32 bits, whatever the adapter's binding limit allows.
            let elements = (u32::MAX as u64 + 1) * t.dtype().size() as u64;
            let (limit, limit_name) = if elements < limits.max_storage_buffer_binding_size {
                (elements, "2^32 elements (kernels index them in 32 bits)")
            } else {
                (
                    limits.max_storage_buffer_binding_size,
                    "max_storage_buffer_binding_size",
                )
            };
            if t.bytes() > limit {
                return Err(Error::Limit {
                    op: kernel.name,
                    what: format!("tensor `{name}` of shape {:?}", t.shape()),
                    bytes: t.bytes(),
                    limit_name,
                    limit,
                });
            }
        }
        let max_groups = limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max_groups) {
            return Err(Error::Limit {
                op: kernel.name,
                what: format!("a dispatch of {groups:?} workgroups"),
                bytes: *groups.iter().max().unwrap() as u64,
                limit_name: "max_compute_workgroups_per_dimension",
                limit: max_groups as u64,
            });
        }
        if groups.contains(&0) || self.0.skip_kernels.get() {
            return Ok(());
        }
        let (pipeline, bindings, binding_elements, used) =
            self.pipeline(kernel, elements, lanes, overrides)?;
        if bindings != tensors.len() + 1 {
            return Err(Error::Invalid(format!(
                "kernel `{}` declares {bindings} bindings but was given parameters and {} tensors",
                kernel.name,
                tensors.len()
            )));
        }
        for (i, (name, t)) in tensors.iter().enumerate() {
            let element = binding_elements.get(i + 1).copied().flatten();
            // A binding of 64-bit integers is a raw view of the tensor's bytes, which the kernel
            // unpacks itself (the strip convolutions read f32 pairs through it): no element type
            // to compare.
            let raw =
                element.is_some_and(|(s, _)| s.kind == naga::ScalarKind::Uint && s.width == 8);
            // f16 data read as f32 (or the reverse) would be garbage, not an error: refuse it.
            let width = element.filter(|_| !raw).map(|(s, _)| s.width);
            if width.is_some_and(|w| w as usize != t.dtype().size()) {
                return Err(Error::Invalid(format!(
                    "kernel `{}` ({elements:?}) binds `{name}` as {}-byte elements, but the \
                     tensor is {:?}",
                    kernel.name,
                    width.unwrap_or(0),
                    t.dtype()
                )));
            }
            // A partial last vector (or 64-bit word) would lie outside the binding.
            if let Some((s, size)) = element.filter(|(_, size)| raw || *size > 1) {
                let bytes = t.numel() * t.dtype().size();
                let vector_bytes = size as usize * s.width as usize;
                if !bytes.is_multiple_of(vector_bytes) {
                    return Err(Error::Invalid(if raw {
                        format!(
                            "kernel `{}` binds `{name}` as vectors of {size} 64-bit words, but \
                             the tensor's shape {:?} holds {bytes} bytes, not a multiple of \
                             {vector_bytes}",
                            kernel.name,
                            t.shape(),
                        )
                    } else {
                        format!(
                            "kernel `{}` ({lanes} lanes) binds `{name}` as vectors of {size}, \
                             but the tensor's shape {:?} holds {} values, not a multiple of \
                             {size}",
                            kernel.name,
                            t.shape(),
                            t.numel()
                        )
                    }));
                }
            }
        }
        // Uniform structs are padded to 16 bytes.
        let params_size = (size_of::<P>().max(1).div_ceil(16) * 16) as u64;
        let params_offset = {
            let mut arena = self.0.params.borrow_mut();
            let align = limits.min_uniform_buffer_offset_alignment as usize;
            let offset = arena.len().div_ceil(align) * align;
            arena.resize(offset, 0);
            arena.extend_from_slice(bytemuck::bytes_of(params));
            arena.resize(offset + params_size as usize, 0);
            offset as u64
        };
        let bindings = (1..)
            .zip(tensors)
            .filter(|(i, _)| used.get(*i as usize).copied().unwrap_or(false))
            .map(|(i, (_, t))| (i, t.buffer().clone(), t.offset_bytes(), t.bytes()))
            .collect();
        let command = Command::Dispatch {
            kernel: kernel.name,
            pipeline,
            params_offset,
            params_size,
            bindings,
            groups,
        };
        if self.profiling() && !self.has_timestamps() {
            self.profile_alone(kernel.name, || self.push(command));
        } else {
            self.push(command);
        }
        Ok(())
    }

    /// Workgroup counts covering `threads` invocations of a 1-D kernel with `per_group` threads
    /// per workgroup; beyond the per-dimension limit, groups spill into y (kernels fold
    /// `workgroup_id.y * num_workgroups.x + workgroup_id.x` back into one index).
    pub fn grid(&self, threads: u64, per_group: u32) -> [u32; 3] {
        let groups = threads.div_ceil(per_group as u64);
        let max = self.0.limits.max_compute_workgroups_per_dimension as u64;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            let y = groups.div_ceil(max);
            [groups.div_ceil(y) as u32, y as u32, 1]
        }
    }

    fn push(&self, command: Command) {
        let pending = {
            let mut commands = self.0.commands.borrow_mut();
            commands.push(command);
            commands.len()
        };
        if pending >= MAX_PENDING {
            // Device errors stay queued until the next flush or read reports them.
            self.submit_pending();
        }
    }

    /// Submits everything recorded so far and reports any device error raised since the last
    /// report.
    pub fn flush(&self) -> Result<()> {
        self.submit_pending();
        self.take_errors()
    }

    /// Encodes every recorded command into one command buffer and submits it; when its passes
    /// are timed (`Gpu::timing_passes`), waits for it and adds their times.
    pub(super) fn submit_pending(&self) {
        let commands = std::mem::take(&mut *self.0.commands.borrow_mut());
        if commands.is_empty() {
            return;
        }
        let params = std::mem::take(&mut *self.0.params.borrow_mut());
        let params_buffer = self.params_buffer(params.len() as u64);
        if !params.is_empty() {
            self.0.queue.write_buffer(&params_buffer, 0, &params);
        }
        let device = &self.0.device;
        let clock = self.timing_passes().then(|| self.pass_clock());
        let pass_per_dispatch = self.pass_per_dispatch();
        // The kernel of each timed pass, where it holds one dispatch.
        let mut passes: Vec<Option<&'static str>> = Vec::new();
        let mut encoder = device.create_command_encoder(&Default::default());
        let mut index = 0;
        while index < commands.len() {
            match &commands[index] {
                Command::Clear {
                    buffer,
                    offset,
                    size,
                } => {
                    encoder.clear_buffer(buffer, *offset, Some(*size));
                    index += 1;
                }
                Command::Copy {
                    src,
                    src_offset,
                    dst,
                    dst_offset,
                    size,
                } => {
                    encoder.copy_buffer_to_buffer(src, *src_offset, dst, *dst_offset, *size);
                    index += 1;
                }
                Command::Dispatch { .. } => {
                    // Consecutive dispatches share one pass; WebGPU makes each dispatch its own
                    // usage scope, so wgpu orders a dispatch after the writes it reads.
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: clock.as_ref().map(|c| c.writes(passes.len() as u32)),
                    });
                    // The pass's kernel, where it holds one dispatch.
                    let mut alone = None;
                    while let Some(Command::Dispatch {
                        kernel,
                        pipeline,
                        params_offset,
                        params_size,
                        bindings,
                        groups,
                    }) = commands.get(index)
                    {
                        let mut entries = vec![wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &params_buffer,
                                offset: *params_offset,
                                size: NonZeroU64::new(*params_size),
                            }),
                        }];
                        for (binding, buffer, offset, size) in bindings {
                            entries.push(wgpu::BindGroupEntry {
                                binding: *binding,
                                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                    buffer,
                                    offset: *offset,
                                    size: NonZeroU64::new(*size),
                                }),
                            });
                        }
                        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                            // Device errors then name the kernel.
                            label: Some(kernel),
                            layout: &pipeline.get_bind_group_layout(0),
                            entries: &entries,
                        });
                        pass.set_pipeline(pipeline);
                        pass.set_bind_group(0, &bind_group, &[]);
                        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                        index += 1;
                        if pass_per_dispatch {
                            alone = Some(*kernel);
                            break;
                        }
                    }
                    passes.push(alone);
                }
            }
        }
        if let Some(clock) = clock.as_ref().filter(|_| !passes.is_empty()) {
            clock.resolve(&mut encoder, passes.len() as u32);
        }
        self.0.queue.submit([encoder.finish()]);
        self.0.submissions.set(self.0.submissions.get() + 1);
        if let Some(clock) = clock {
            match clock.durations(self, passes.len() as u32) {
                Ok(times) => self.add_pass_times(&passes, &times),
                // Reported with the device's own faults, at the next flush or read.
                Err(e) => self.0.errors.lock().unwrap().push(Fault::Other(format!(
                    "reading the GPU timestamps failed: {e}"
                ))),
            }
        }
    }

    /// The uniform buffer holding every pending dispatch's parameters, grown as needed.
    fn params_buffer(&self, needed: u64) -> wgpu::Buffer {
        let mut slot = self.0.params_buffer.borrow_mut();
        match slot.as_ref() {
            Some(b) if b.size() >= needed => b.clone(),
            _ => {
                let size = needed.max(64 * 1024).next_power_of_two();
                let b = self.0.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("kernel parameters"),
                    size,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                *slot = Some(b.clone());
                b
            }
        }
    }
}
