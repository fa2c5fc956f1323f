//! Tensors: a shape and a view into a GPU buffer. Cloning shares the buffer; the buffer goes
//! back to the pool when the last clone is dropped.

use std::rc::Rc;

use super::pool::Storage;
use crate::error::{shape_err, Result};

/// Element type: f32 for values, u32 for labels and masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    U32,
}

#[derive(Clone)]
pub struct Tensor {
    storage: Rc<Storage>,
    offset: u64,
    shape: Vec<usize>,
    dtype: DType,
}

impl Tensor {
    /// Whether no other tensor (clone or view) shares this one's buffer, so writing it in place
    /// cannot change a value anyone else reads.
    pub fn is_sole_owner(&self) -> bool {
        Rc::strong_count(&self.storage) == 1
    }

    pub fn from_storage(
        storage: Rc<Storage>,
        offset: u64,
        shape: Vec<usize>,
        dtype: DType,
    ) -> Self {
        Tensor {
            storage,
            offset,
            shape,
            dtype,
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes bound for this tensor (at least 4: WebGPU rejects empty bindings).
    pub fn bytes(&self) -> u64 {
        (self.numel().max(1) * 4) as u64
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.storage.buffer
    }

    pub fn offset_bytes(&self) -> u64 {
        self.offset
    }

    /// The same data under another shape with the same number of elements.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if shape.iter().product::<usize>() != self.numel() {
            return shape_err(
                "reshape",
                format!("cannot view {:?} as {shape:?}", self.shape),
            );
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            ..self.clone()
        })
    }

    /// Elements `start .. start + len` as a 1-D view (bindings need `start * 4` aligned to the
    /// adapter's storage offset alignment).
    pub fn slice(&self, start: usize, len: usize) -> Tensor {
        Tensor {
            offset: self.offset + start as u64 * 4,
            shape: vec![len],
            ..self.clone()
        }
    }

    /// `[N, C, H, W]` of a 4-D tensor, or an error naming the op.
    pub fn nchw(&self, op: &'static str, name: &str) -> Result<[usize; 4]> {
        match self.shape[..] {
            [n, c, h, w] => Ok([n, c, h, w]),
            _ => shape_err(
                op,
                format!("`{name}` must be 4-D [N, C, H, W], got {:?}", self.shape),
            ),
        }
    }

    /// `[rows, cols]` of a 2-D tensor, or an error naming the op.
    pub fn matrix(&self, op: &'static str, name: &str) -> Result<[usize; 2]> {
        match self.shape[..] {
            [r, c] => Ok([r, c]),
            _ => shape_err(op, format!("`{name}` must be 2-D, got {:?}", self.shape)),
        }
    }

    /// Errors unless this tensor has exactly `shape`.
    pub fn expect_shape(&self, op: &'static str, name: &str, shape: &[usize]) -> Result<()> {
        if self.shape != shape {
            return shape_err(
                op,
                format!("`{name}` must have shape {shape:?}, got {:?}", self.shape),
            );
        }
        Ok(())
    }
}
