//! A buffer pool: tensors return their buffer here when dropped, and the next tensor of the same
//! byte size takes it back, so a training step allocates nothing once every shape has been seen.
//!
//! Reuse needs no fence: commands run in recording order on one queue, so a buffer recycled after
//! its last reader was recorded is only written after that reader ran. (Uploads are the
//! exception; `Gpu::upload` flushes pending work before writing.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Default)]
pub struct Pool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Bytes held by the pool in all (in use or free).
    pub held_bytes: u64,
    /// Most bytes ever held, the peak GPU memory of pooled tensors.
    pub peak_bytes: u64,
    /// Buffers created (not reused), to check that a steady state allocates nothing.
    pub allocations: u64,
}

impl Pool {
    pub fn take(&mut self, size: u64) -> Option<wgpu::Buffer> {
        self.free.get_mut(&size).and_then(Vec::pop)
    }

    pub fn record_new(&mut self, size: u64) {
        self.held_bytes += size;
        self.peak_bytes = self.peak_bytes.max(self.held_bytes);
        self.allocations += 1;
    }

    fn give_back(&mut self, size: u64, buffer: wgpu::Buffer) {
        self.free.entry(size).or_default().push(buffer);
    }

    /// Drops every free buffer (memory goes back to the driver).
    pub fn trim(&mut self) {
        for (size, buffers) in self.free.drain() {
            self.held_bytes -= size * buffers.len() as u64;
        }
    }
}

/// A GPU buffer owned by tensors; pooled ones go back to their pool on drop.
pub struct Storage {
    pub buffer: wgpu::Buffer,
    pub size: u64,
    pool: Option<Rc<RefCell<Pool>>>,
}

impl Storage {
    pub fn pooled(buffer: wgpu::Buffer, size: u64, pool: Rc<RefCell<Pool>>) -> Self {
        Storage {
            buffer,
            size,
            pool: Some(pool),
        }
    }

    /// A buffer that lives as long as its tensors (parameter arenas).
    pub fn owned(buffer: wgpu::Buffer, size: u64) -> Self {
        Storage {
            buffer,
            size,
            pool: None,
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.borrow_mut().give_back(self.size, self.buffer.clone());
        }
    }
}
