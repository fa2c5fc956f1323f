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

    /// Makes room for a new buffer of `bytes` (pooled or owned): releases free pooled buffers as
    /// the pool's bound and the memory limit need, then refuses if the limit is still exceeded.
    fn reserve(&self, what: impl FnOnce() -> String, bytes: u64, pooled: bool) -> Result<()> {
        let limit = self.0.memory_limit.get();
        let mut pool = self.0.pool.borrow_mut();
        match (pooled, limit) {
            (true, _) => pool.make_room(bytes, limit),
            (false, Some(limit)) => pool.make_room_owned(bytes, limit),
            (false, None) => {}
        }
        let held = pool.stats.total();
        match limit {
            Some(limit) if held + bytes > limit => Err(Error::OutOfMemory {
                detail: format!("{} needs {} more", what(), crate::error::human_bytes(bytes)),
                held,
                limit: Some(limit),
            }),
            _ => Ok(()),
        }
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
        let (buffer, buffer_size) = match pooled {
            Some(found) => found,
            None => {
                self.reserve(|| format!("{op}: a tensor of shape {shape:?}"), size, true)?;
                self.0.pool.borrow_mut().record_new(size);
                let buffer = self.0.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(op),
                    size,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (buffer, size)
            }
        };
        let storage = Rc::new(Storage::pooled(
            buffer,
            buffer_size,
            size,
            self.0.pool.clone(),
        ));
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
        self.reserve(|| label.to_string(), bytes.max(4), false)?;
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
