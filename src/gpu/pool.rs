//! A buffer pool: tensors return their buffer here when dropped, and the next tensor of the same
//! byte size takes it back, so a training step allocates nothing once every shape has been seen.
//!
//! Reuse needs no fence: commands run in recording order on one queue, so a buffer recycled after
//! its last reader was recorded is only written after that reader ran. (Uploads are the
//! exception; `Gpu::upload` flushes pending work before writing.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// What the pool holds, in bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Held by live tensors.
    pub in_use: u64,
    /// Held in all (in use or free for reuse).
    pub held: u64,
    /// Most ever held, pooled and owned together: the process's peak GPU memory.
    pub peak: u64,
    /// Most ever in use at once by live tensors and owned buffers. Below `peak` by what reuse
    /// by exact size cannot share: free buffers of one size are not lent to tensors of another.
    pub peak_in_use: u64,
    /// Buffers created rather than reused; constant once a training step is warm.
    pub allocations: u64,
    /// Held outside the pool by dedicated buffers (parameter arenas).
    pub owned: u64,
}

impl MemoryStats {
    /// Every GPU buffer this process holds for tensors and parameters.
    pub fn total(&self) -> u64 {
        self.held + self.owned
    }

    /// Raises the peaks to what is held and in use now.
    fn note_peaks(&mut self) {
        self.peak = self.peak.max(self.total());
        self.peak_in_use = self.peak_in_use.max(self.in_use + self.owned);
    }
}

#[derive(Default)]
pub struct Pool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    pub stats: MemoryStats,
}

impl Pool {
    pub fn take(&mut self, size: u64) -> Option<wgpu::Buffer> {
        let buffer = self.free.get_mut(&size).and_then(Vec::pop)?;
        self.stats.in_use += size;
        self.stats.note_peaks();
        Some(buffer)
    }

    pub fn record_owned(&mut self, size: u64) {
        self.stats.owned += size;
        self.stats.note_peaks();
    }

    pub fn record_new(&mut self, size: u64) {
        let s = &mut self.stats;
        s.in_use += size;
        s.held += size;
        s.note_peaks();
        s.allocations += 1;
    }

    fn give_back(&mut self, size: u64, buffer: wgpu::Buffer) {
        self.stats.in_use -= size;
        self.free.entry(size).or_default().push(buffer);
    }

    /// Drops every free buffer (memory goes back to the driver).
    pub fn trim(&mut self) {
        for (size, buffers) in self.free.drain() {
            self.stats.held -= size * buffers.len() as u64;
        }
    }
}

/// A GPU buffer owned by tensors; pooled ones go back to their pool on drop.
pub struct Storage {
    pub buffer: wgpu::Buffer,
    pub size: u64,
    pool: Rc<RefCell<Pool>>,
    /// Whether the buffer goes back to the pool for reuse, or is released when dropped.
    pooled: bool,
}

impl Storage {
    pub fn pooled(buffer: wgpu::Buffer, size: u64, pool: Rc<RefCell<Pool>>) -> Self {
        Storage {
            buffer,
            size,
            pool,
            pooled: true,
        }
    }

    /// A buffer that lives as long as its tensors (parameter arenas), counted as owned.
    pub fn owned(buffer: wgpu::Buffer, size: u64, pool: Rc<RefCell<Pool>>) -> Self {
        pool.borrow_mut().record_owned(size);
        Storage {
            buffer,
            size,
            pool,
            pooled: false,
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let mut pool = self.pool.borrow_mut();
        if self.pooled {
            pool.give_back(self.size, self.buffer.clone());
        } else {
            pool.stats.owned -= self.size;
        }
    }
}
