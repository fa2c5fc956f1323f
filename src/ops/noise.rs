//! Pure-noise images for OPeN: masked samples of a batch are replaced, on the GPU and in place,
//! by per-channel clamped Gaussian noise drawn from a counter-based generator, so a run is
//! reproducible from its seed and no random data crosses from the CPU.

use super::kernels;
use crate::error::{shape_err, Error, Result};
use crate::gpu::tensor::Tensor;
use crate::gpu::{Gpu, WORKGROUP};
use crate::kernel_params;

kernel_params! {
    /// `Params` of shaders/noise.wgsl: the batch's sizes, the step and the 64-bit seed's halves.
    pub struct NoiseParams {
        pub n: u32,
        pub c: u32,
        pub hw: u32,
        pub step: u32,
        pub seed_lo: u32,
        pub seed_hi: u32,
    }
}

/// CIFAR-10's per-channel mean and std, which the reference uses both to normalize natural
/// images and to draw noise.
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
pub const CIFAR10_STD: [f32; 3] = [0.2023, 0.1994, 0.2010];

/// Which samples of a batch are pure noise: a u32 per sample on the GPU (1 = noise), which the
/// noise and batch-norm kernels route on, and the counts on the host, which size their work.
#[derive(Clone)]
pub struct NoiseMask {
    tensor: Tensor,
    noise: usize,
}

impl NoiseMask {
    pub fn new(gpu: &Gpu, is_noise: &[bool]) -> Result<NoiseMask> {
        let words: Vec<u32> = is_noise.iter().map(|&b| u32::from(b)).collect();
        Ok(NoiseMask {
            tensor: gpu.upload_u32(&words, &[words.len()])?,
            noise: is_noise.iter().filter(|&&b| b).count(),
        })
    }

    pub fn tensor(&self) -> &Tensor {
        &self.tensor
    }

    pub fn len(&self) -> usize {
        self.tensor.numel()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn noise_count(&self) -> usize {
        self.noise
    }

    pub fn natural_count(&self) -> usize {
        self.len() - self.noise
    }

    /// Errors unless the mask has one entry per sample of a batch of `n`.
    pub fn check_batch(&self, op: &'static str, n: usize) -> Result<()> {
        if self.len() != n {
            return shape_err(
                op,
                format!(
                    "the noise mask has {} entries but the batch has {n} samples",
                    self.len()
                ),
            );
        }
        Ok(())
    }
}

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

/// Replaces the samples of `batch` [N, C, H, W] that `mask` marks as noise by noise images.
/// `step` should differ between batches so every batch gets fresh noise.
pub fn fill_noise(
    gpu: &Gpu,
    batch: &Tensor,
    mask: &NoiseMask,
    stats: &NoiseStats,
    seed: u64,
    step: u32,
) -> Result<()> {
    const OP: &str = "noise";
    let [n, c, h, w] = batch.nchw(OP, "batch")?;
    mask.check_batch(OP, n)?;
    if stats.channels != c {
        return shape_err(
            OP,
            format!("statistics for {} channels, batch has {c}", stats.channels),
        );
    }
    gpu.dispatch_as(
        &kernels::NOISE,
        &super::act(batch),
        &[],
        &NoiseParams {
            n: n as u32,
            c: c as u32,
            hw: (h * w) as u32,
            step,
            seed_lo: seed as u32,
            seed_hi: (seed >> 32) as u32,
        },
        &[
            ("mask", &mask.tensor),
            ("statistics", &stats.table),
            ("batch", batch),
        ],
        gpu.grid(batch.numel() as u64, WORKGROUP),
    )
}
