//! Host I/O: uploads, and read-backs through reused staging buffers.

use super::tensor::{DType, Tensor};
use super::Gpu;
use crate::error::{Error, Result};

impl Gpu {
    /// Copies host data into a new tensor.
    pub fn upload(&self, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        self.upload_as(data, shape, DType::F32)
    }

    /// Copies host data into a new tensor of element type `dtype` (F32, or F16: each value
    /// rounded to the nearest f16 on the host).
    pub fn upload_as(&self, data: &[f32], shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self.alloc("upload", shape, dtype)?;
        match dtype {
            DType::F16 => {
                let bits: Vec<u16> = data
                    .iter()
                    .map(|&v| half::f16::from_f32(v).to_bits())
                    .collect();
                self.write(&t, bytemuck::cast_slice(&bits))?;
            }
            _ => self.write(&t, bytemuck::cast_slice(data))?,
        }
        Ok(t)
    }

    /// Copies host u32 data (labels, masks) into a new tensor.
    pub fn upload_u32(&self, data: &[u32], shape: &[usize]) -> Result<Tensor> {
        let t = self.alloc("upload", shape, DType::U32)?;
        self.write(&t, bytemuck::cast_slice(data))?;
        Ok(t)
    }

    /// Overwrites a tensor's contents from the host, given in its element type.
    pub fn write(&self, t: &Tensor, bytes: &[u8]) -> Result<()> {
        let size = t.dtype().size();
        if bytes.len() != t.numel() * size {
            return Err(Error::Shape {
                op: "upload",
                detail: format!(
                    "{} values given for a tensor of shape {:?}",
                    bytes.len() / size,
                    t.shape()
                ),
            });
        }
        // Buffer writes are whole words: an odd f16 count gets its padding value (zero).
        let padded;
        let bytes = if bytes.len().is_multiple_of(4) {
            bytes
        } else {
            padded = [bytes, &[0; 2]].concat();
            &padded[..]
        };
        // queue.write_buffer lands before the *next* submission's commands, so commands
        // recorded so far (which may still read this recycled buffer) must be submitted first.
        self.flush()?;
        if !bytes.is_empty() {
            self.0
                .queue
                .write_buffer(t.buffer(), t.offset_bytes(), bytes);
        }
        Ok(())
    }

    /// Reads a tensor back to the host (flushes pending work and waits for it); f16 values
    /// come back widened to f32, exactly.
    pub fn read(&self, t: &Tensor) -> Result<Vec<f32>> {
        let bytes = self.read_bytes(t)?;
        Ok(match t.dtype() {
            DType::F16 => bytemuck::cast_slice::<u8, u16>(&bytes)[..t.numel()]
                .iter()
                .map(|&b| half::f16::from_bits(b).to_f32())
                .collect(),
            _ => bytemuck::cast_slice(&bytes).to_vec(),
        })
    }

    pub fn read_u32(&self, t: &Tensor) -> Result<Vec<u32>> {
        let bytes = self.read_bytes(t)?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }

    fn read_bytes(&self, t: &Tensor) -> Result<Vec<u8>> {
        if t.numel() == 0 {
            return Ok(Vec::new());
        }
        // Whole words, as copies need: an odd f16 count reads its padding value too.
        let size = t.bytes();
        if size == 0 {
            return Ok(Vec::new());
        }
        self.flush()?;
        let staging = self
            .0
            .staging
            .borrow_mut()
            .get_mut(&size)
            .and_then(Vec::pop)
            .unwrap_or_else(|| {
                self.0.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("readback"),
                    size,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            });
        let mut encoder = self.0.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(t.buffer(), t.offset_bytes(), &staging, 0, size);
        self.0.queue.submit([encoder.finish()]);
        let bytes = self.map_read(&staging)?;
        staging.unmap();
        self.0
            .staging
            .borrow_mut()
            .entry(size)
            .or_default()
            .push(staging);
        Ok(bytes)
    }

    /// Maps a submitted MAP_READ buffer once the GPU is done with it, and copies it out.
    pub(super) fn map_read(&self, staging: &wgpu::Buffer) -> Result<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| Error::Device("readback was never completed".into()))?
            .map_err(|e| Error::Device(format!("mapping a readback buffer failed: {e}")))?;
        let bytes = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Device(format!("reading a mapped buffer failed: {e}")))?
            .to_vec();
        Ok(bytes)
    }
}
