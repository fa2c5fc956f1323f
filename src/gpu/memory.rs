//! Memory accounting: tensors from the buffer pool, owned arenas, and the memory limit.

use std::rc::Rc;

use super::pool::Storage;
use super::tensor::{DType, Tensor};
use super::{Gpu, MemoryStats};
use crate::error::{Error, Result};

impl Gpu {
    /// Bytes the buffer pool holds (tensors only; parameter arenas are fixed).
    pub fn memory_stats(&self) -> MemoryStats {
        self.0.pool.borrow().stats
    }

    /// Caps every GPU buffer this process holds at `bytes` (None: only the driver's limit), so a
    /// run sized for a smaller GPU fails here the way it would there, with the numbers.
    pub fn set_memory_limit(&self, bytes: Option<u64>) {
        self.0.memory_limit.set(bytes);
    }

    pub fn memory_limit(&self) -> Option<u64> {
        self.0.memory_limit.get()
    }

    /// Makes room for a new buffer of `bytes` under the memory limit, releasing free pooled
    /// buffers (of other sizes) first.
    fn reserve(&self, what: impl FnOnce() -> String, bytes: u64) -> Result<()> {
        let Some(limit) = self.0.memory_limit.get() else {
            return Ok(());
        };
        if self.memory_stats().total() + bytes > limit {
            self.trim_pool();
        }
        let held = self.memory_stats().total();
        if held + bytes > limit {
            return Err(Error::OutOfMemory {
                detail: format!("{} needs {} more", what(), crate::error::human_bytes(bytes)),
                held,
                limit: Some(limit),
            });
        }
        Ok(())
    }

    /// Returns free pooled buffers to the driver.
    pub fn trim_pool(&self) {
        self.0.pool.borrow_mut().trim();
    }

    /// A new (uninitialized) tensor from the pool.
    pub fn alloc(&self, op: &'static str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let numel: usize = shape.iter().product();
        // Zero-sized bindings are invalid and bindings are whole words (DType::padded_bytes).
        let size = dtype.padded_bytes(numel);
        self.check_buffer(op, &format!("tensor of shape {shape:?}"), size)?;
        let pooled = self.0.pool.borrow_mut().take(size);
        let buffer = match pooled {
            Some(b) => b,
            None => {
                self.reserve(|| format!("{op}: a tensor of shape {shape:?}"), size)?;
                self.0.pool.borrow_mut().record_new(size);
                self.0.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(op),
                    size,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            }
        };
        let storage = Rc::new(Storage::pooled(buffer, size, self.0.pool.clone()));
        Ok(Tensor::from_storage(storage, 0, shape.to_vec(), dtype))
    }

    /// A zero-filled tensor.
    pub fn zeros(&self, op: &'static str, shape: &[usize]) -> Result<Tensor> {
        let t = self.alloc(op, shape, DType::F32)?;
        self.clear(&t);
        Ok(t)
    }

    /// A dedicated buffer outside the pool (parameter arenas), zero-filled by wgpu.
    pub fn create_owned(&self, label: &'static str, bytes: u64) -> Result<Rc<Storage>> {
        self.check_buffer(label, label, bytes)?;
        self.reserve(|| label.to_string(), bytes.max(4))?;
        let buffer = self.0.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Rc::new(Storage::owned(
            buffer,
            bytes.max(4),
            self.0.pool.clone(),
        )))
    }
}
