//! Tensors: a shape and a view into a GPU buffer. Cloning shares the buffer; the buffer goes
//! back to the pool when the last clone is dropped.

use std::rc::Rc;

use super::pool::Storage;
use crate::error::{shape_err, Result};

/// Element type: f32 for values, u32 for labels and masks, f16 for activations and their
/// gradients under `--precision mixed` (storage only: kernels compute in f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    U32,
    F16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::F16 => 2,
        }
    }

    /// The WGSL scalar type a kernel's `//!element` alias stands for.
    pub fn wgsl(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::U32 => "u32",
            DType::F16 => "f16",
        }
    }

    /// Bytes a buffer or binding of `numel` elements takes: WebGPU binds, copies and clears
    /// whole 4-byte words and rejects empty bindings, so an odd number of f16 values gets one
    /// padding value and an empty tensor one word.
    pub fn padded_bytes(self, numel: usize) -> u64 {
        ((numel * self.size()).max(1).next_multiple_of(4)) as u64
    }
}

/// How a model stores its activations: `f32` everywhere, or `mixed` (activations, the tensors
/// saved for backward and activation gradients in f16; parameters, their gradients, momentum,
/// BN statistics, the classifier head and every sum in f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Mixed,
}

impl Precision {
    /// The element type of activations and their gradients.
    pub fn activations(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Mixed => DType::F16,
        }
    }

    /// The flag value: `f32` or `mixed`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Mixed => "mixed",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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

    /// Bytes bound for this tensor ([`DType::padded_bytes`]: whole 4-byte words, at least one).
    pub fn bytes(&self) -> u64 {
        self.dtype.padded_bytes(self.numel())
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

    /// Elements `start .. start + len` as a 1-D view (bindings need its byte offset aligned to
    /// the adapter's storage offset alignment).
    pub fn slice(&self, start: usize, len: usize) -> Tensor {
        Tensor {
            offset: self.offset + (start * self.dtype.size()) as u64,
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
