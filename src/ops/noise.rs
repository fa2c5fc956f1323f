//! Pure-noise images for OPeN: masked samples of a batch are replaced, on the GPU and in place,
//! by per-channel clamped Gaussian noise drawn from a counter-based generator, so a run is
//! reproducible from its seed and no random data crosses from the CPU.

use crate::error::{shape_err, Error, Result};
use crate::gpu::{kernels, Gpu, WORKGROUP};
use crate::tensor::{DType, Tensor};

/// CIFAR-10's per-channel mean and std, which the reference uses both to normalize natural
/// images and to draw noise.
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
pub const CIFAR10_STD: [f32; 3] = [0.2023, 0.1994, 0.2010];

/// The per-channel distribution of noise pixels, uploaded once.
pub struct NoiseStats {
    channels: usize,
    /// mean[C], std[C], shift[C], scale[C] (see shaders/noise.wgsl)
    table: Tensor,
}

impl NoiseStats {
    /// Noise pixels ~ clamp(N(mean_c, std_c), 0, 1); with `normalize = Some((m, s))` they are then
    /// mapped to (v - m_c) / s_c like natural images.
    pub fn new(
        gpu: &Gpu,
        mean: &[f32],
        std: &[f32],
        normalize: Option<(&[f32], &[f32])>,
    ) -> Result<NoiseStats> {
        let channels = mean.len();
        let ones = vec![1.0; channels];
        let zeros = vec![0.0; channels];
        let (shift, scale) = normalize.unwrap_or((&zeros, &ones));
        for (name, values) in [("std", std), ("shift", shift), ("scale", scale)] {
            if values.len() != channels {
                return Err(Error::Invalid(format!(
                    "noise statistics: {channels} means but {} {name} values",
                    values.len()
                )));
            }
        }
        for (name, values) in [("std", std), ("normalization std", scale)] {
            if let Some((c, v)) = values
                .iter()
                .enumerate()
                .find(|(_, v)| !(**v > 0.0 && v.is_finite()))
            {
                return Err(Error::Invalid(format!(
                    "noise statistics: {name} of channel {c} is {v}; it must be positive and finite"
                )));
            }
        }
        let table: Vec<f32> = [mean, std, shift, scale].concat();
        Ok(NoiseStats {
            channels,
            table: gpu.upload(&table, &[4 * channels])?,
        })
    }
}

/// Replaces the samples of `batch` [N, C, H, W] whose `mask` [N] (u32) entry is 1 by noise.
/// `step` should differ between batches so every batch gets fresh noise.
pub fn fill_noise(
    gpu: &Gpu,
    batch: &Tensor,
    mask: &Tensor,
    stats: &NoiseStats,
    seed: u64,
    step: u32,
) -> Result<()> {
    const OP: &str = "noise";
    let [n, c, h, w] = batch.nchw(OP, "batch")?;
    if mask.dtype() != DType::U32 || mask.shape() != [n] {
        return shape_err(
            OP,
            format!(
                "the mask must hold one u32 per sample ({n}), got {:?} {:?}",
                mask.dtype(),
                mask.shape()
            ),
        );
    }
    if stats.channels != c {
        return shape_err(
            OP,
            format!("statistics for {} channels, batch has {c}", stats.channels),
        );
    }
    gpu.dispatch(
        &kernels::NOISE,
        &[],
        &[
            n as u32,
            c as u32,
            (h * w) as u32,
            step,
            seed as u32,
            (seed >> 32) as u32,
        ],
        &[
            ("mask", mask),
            ("statistics", &stats.table),
            ("batch", batch),
        ],
        gpu.grid(batch.numel() as u64, WORKGROUP),
    )
}
