//! A buffer pool: tensors return their buffer here when dropped, and a later tensor takes it back,
//! so a training step creates few buffers, or none, once every shape has been seen.
//!
//! A free buffer serves any tensor from a quarter of its size up to its own (the smallest that
//! fits), so the forward's wide activations serve narrower tensors. Buffers cannot be merged,
//! though: the backward walks the stages from narrow to wide and needs buffers larger than the
//! ones it frees. So the pool keeps what it holds within a sixth (at least 64 MiB) above the most
//! that live tensors have asked for at once: before a new buffer would take it past that, free
//! buffers go back to the driver, largest first. (Tensors cannot be views into one shared heap instead: wgpu forbids
//! binding a buffer read-only and read-write in one dispatch.) A WRN-28-10 step at batch 128
//! then holds 1.17× its tensors' peak where reuse by exact size held 1.42×, and a warm step
//! re-creates 0–10 buffers, depending on the model (`bench memory` counts them).
//!
//! Reuse needs no fence: commands run in recording order on one queue, so a buffer recycled after
//! its last reader was recorded is only written after that reader ran. (Uploads are the
//! exception; `Gpu::upload` flushes pending work before writing.)

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A free buffer is lent to tensors down to this fraction (1/N) of its size.
const LEND_DOWN_TO: u64 = 4;
/// The pool holds at most this fraction (1/N) more than its tensors' peak…
const HEADROOM: u64 = 6;
/// …or this many bytes more, if that is larger: small steps keep their buffers rather than
/// re-create them each step to save a few MiB (WRN-16-4 at batch 128 in mixed precision
/// re-created 39 per step without it).
const HEADROOM_FLOOR: u64 = 64 << 20;

/// What the pool holds, in bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Asked for by live tensors (their buffers may be up to four times as large).
    pub in_use: u64,
    /// Held in all (in use or free for reuse).
    pub held: u64,
    /// Most ever held, pooled and owned together: the process's peak GPU memory.
    pub peak: u64,
    /// Most ever in use at once by live tensors and owned buffers: what the step needs. Below
    /// `peak` by what the pool keeps free for reuse and lends beyond a tensor's size (at most a
    /// sixth of its tensors' peak or 64 MiB together, see the module notes).
    pub peak_in_use: u64,
    /// Buffers created rather than reused.
    pub allocations: u64,
    /// Free buffers returned to the driver to keep the pool near its tensors' peak (or under
    /// the memory limit). With `allocations`, what a warm step re-creates.
    pub releases: u64,
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
    /// Free buffers by size.
    free: BTreeMap<u64, Vec<wgpu::Buffer>>,
    /// The most that live tensors asked for at once since the pool was last trimmed: what the
    /// pool's holdings are kept near.
    peak_requested: u64,
    pub stats: MemoryStats,
}

impl Pool {
    /// A free buffer for a tensor of `size` bytes, if one fits: the smallest of `size` to four
    /// times `size` bytes. Returns the buffer and its size.
    pub fn take(&mut self, size: u64) -> Option<(wgpu::Buffer, u64)> {
        let found = *self
            .free
            .range(size..=size.saturating_mul(LEND_DOWN_TO))
            .next()?
            .0;
        let buffer = self.pop_free(found)?;
        self.note_request(size);
        Some((buffer, found))
    }

    /// Takes a free buffer of `size` bytes out of the free lists, removing the size's entry
    /// with its last buffer (so every entry has one).
    fn pop_free(&mut self, size: u64) -> Option<wgpu::Buffer> {
        let buffers = self.free.get_mut(&size)?;
        let buffer = buffers.pop();
        if buffers.is_empty() {
            self.free.remove(&size);
        }
        buffer
    }

    fn note_request(&mut self, size: u64) {
        self.stats.in_use += size;
        self.stats.note_peaks();
        self.peak_requested = self.peak_requested.max(self.stats.in_use);
    }

    /// Before a new pooled buffer of `size` bytes: returns free buffers to the driver, largest
    /// first, until the pool holds at most the headroom above its tensors' peak with it, and all
    /// GPU memory stays within `limit`, or nothing is free.
    pub fn make_room(&mut self, size: u64, limit: Option<u64>) {
        let peak = self.peak_requested.max(self.stats.in_use + size);
        let target = peak + (peak / HEADROOM).max(HEADROOM_FLOOR);
        while self.stats.held + size > target
            || limit.is_some_and(|l| self.stats.total() + size > l)
        {
            if !self.release_largest() {
                break;
            }
        }
    }

    /// Before a new owned buffer of `size` bytes: frees what the memory limit needs.
    pub fn make_room_owned(&mut self, size: u64, limit: u64) {
        while self.stats.total() + size > limit && self.release_largest() {}
    }

    fn release_largest(&mut self) -> bool {
        let Some(&size) = self.free.keys().next_back() else {
            return false;
        };
        if self.pop_free(size).is_some() {
            self.stats.held -= size;
        }
        self.stats.releases += 1;
        true
    }

    pub fn record_owned(&mut self, size: u64) {
        self.stats.owned += size;
        self.stats.note_peaks();
    }

    pub fn record_new(&mut self, size: u64) {
        self.stats.held += size;
        self.stats.allocations += 1;
        self.note_request(size);
    }

    fn give_back(&mut self, requested: u64, size: u64, buffer: wgpu::Buffer) {
        self.stats.in_use -= requested;
        self.free.entry(size).or_default().push(buffer);
    }

    /// Drops every free buffer (memory goes back to the driver) and starts the tensors' peak
    /// afresh, so the temporaries of one phase (tuning) do not loosen the next one's bound.
    pub fn trim(&mut self) {
        for (size, buffers) in std::mem::take(&mut self.free) {
            self.stats.held -= size * buffers.len() as u64;
        }
        self.peak_requested = self.stats.in_use;
    }
}

/// A GPU buffer owned by tensors; pooled ones go back to their pool on drop.
pub struct Storage {
    pub buffer: wgpu::Buffer,
    /// The buffer's size, and the bytes its tensor asked for (the same for owned buffers).
    pub size: u64,
    requested: u64,
    pool: Rc<RefCell<Pool>>,
    /// Whether the buffer goes back to the pool for reuse, or is released when dropped.
    pooled: bool,
}

impl Storage {
    pub fn pooled(
        buffer: wgpu::Buffer,
        size: u64,
        requested: u64,
        pool: Rc<RefCell<Pool>>,
    ) -> Self {
        Storage {
            buffer,
            size,
            requested,
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
            requested: size,
            pool,
            pooled: false,
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let mut pool = self.pool.borrow_mut();
        if self.pooled {
            pool.give_back(self.requested, self.size, self.buffer.clone());
        } else {
            pool.stats.owned -= self.size;
        }
    }
}
