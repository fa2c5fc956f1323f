//! One training step, defined once (as llm.c's `gpt2_forward`/`gpt2_backward`/`gpt2_update`):
//! noise into the batch, forward, cross-entropy, backward, the loss check (and, under dynamic loss
//! scaling, the gradient check: see [`super::loss_scale`]) and the SGD update.
//! The training loop, `dump-step`, `bench train` and `bench memory` all run [`Step::run`], so
//! what the benchmarks time and account is what training does.

use super::loss_scale::{LossScaler, Update};
use super::trainer::{argmax, mix};
use crate::autograd::Tape;
use crate::error::Result;
use crate::gpu::tensor::Tensor;
use crate::gpu::Gpu;
use crate::models::{Model, Pass};
use crate::ops::noise::{fill_noise, NoiseMask, NoiseStats};
use crate::ops::{cross_entropy, loss::upload_labels};
use crate::optim::{step_status, Sgd};

/// Salts of the run seed: the noise and dropout streams are independent of each other and of
/// the data order.
const NOISE_SALT: u64 = 0x006e_6f69_7365;
const DROPOUT_SALT: u64 = 0x6472_6f70;

/// One batch as the loader hands it over: normalized images `[n, 3, 32, 32]`, labels, and 1
/// where an image is replaced by pure noise.
#[derive(Clone, Copy)]
pub struct StepBatch<'a> {
    pub images: &'a [f32],
    pub labels: &'a [u32],
    pub noise_mask: &'a [u32],
}

/// What a step leaves on the GPU after backward: the network input after noise replacement,
/// the logits and the loss (the gradients are in the parameter store).
pub struct StepOutputs {
    pub input: Tensor,
    pub logits: Tensor,
    pub loss: Tensor,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepResult {
    Applied {
        loss: f32,
        /// Training images whose largest logit is their label.
        correct: usize,
    },
    /// The loss was not finite, or (with a loss scaler) the gradients were not finite even at
    /// the smallest scale; the update was not applied.
    NotFinite { loss: f32 },
    /// The gradients, computed at loss scale `scale`, overflowed: the update was skipped and
    /// the scaler backed off.
    Overflow {
        loss: f32,
        correct: usize,
        scale: f32,
    },
}

/// The model a step trains, the noise it draws, and the run's seed (noise and dropout are
/// drawn from it and the step's index).
pub struct Step<'a> {
    pub gpu: &'a Gpu,
    pub model: &'a Model,
    pub noise: &'a NoiseStats,
    pub seed: u64,
}

impl Step<'_> {
    /// Forward and backward of one batch: uploads it and its mask, replaces the masked images
    /// with noise, runs the model in training mode and the loss, and back-propagates into the
    /// parameter store's (zeroed) gradients, seeding the backward pass with `loss_scale` (1 for
    /// the gradients themselves).
    pub fn forward_backward(
        &self,
        batch: &StepBatch,
        global_step: usize,
        loss_scale: f32,
    ) -> Result<StepOutputs> {
        let gpu = self.gpu;
        let n = batch.labels.len();
        let x = self.model.input(gpu, batch.images, n)?;
        let is_noise: Vec<bool> = batch.noise_mask.iter().map(|&m| m != 0).collect();
        let mask = NoiseMask::new(gpu, &is_noise)?;
        if mask.noise_count() > 0 {
            fill_noise(
                gpu,
                &x,
                &mask,
                self.noise,
                mix(self.seed, NOISE_SALT),
                global_step as u32,
            )?;
        }
        let labels = upload_labels(gpu, batch.labels, self.model.config.classes)?;
        self.model.params.zero_grad();
        let mut tape = Tape::new(gpu);
        let input = tape.constant(x.clone());
        let pass = Pass {
            training: true,
            mask: Some(&mask),
            dropout_seed: mix(self.seed, DROPOUT_SALT ^ global_step as u64),
        };
        let logits = self.model.forward(&mut tape, &input, &pass)?;
        let loss = cross_entropy(&mut tape, &logits, &labels)?;
        tape.backward_scaled(&loss, &self.model.params, loss_scale)?;
        Ok(StepOutputs {
            input: x,
            logits: logits.value,
            loss: loss.value,
        })
    }

    /// One whole step: [`Step::forward_backward`], then `inspect` (which may read what the step
    /// computed before the update changes the parameters), then the loss read back and, when it
    /// is finite, the SGD update. `bn_backup` (empty, or one tensor per BN buffer) keeps a copy
    /// of the BN statistics taken before the forward pass, put back when the loss is not finite,
    /// so a skipped step leaves no trace. With a `scaler` the backward pass runs at its scale,
    /// the gradients' finiteness is read back with the loss, and the scaler decides whether the
    /// update is applied (unscaled) or skipped for overflow.
    pub fn run(
        &self,
        batch: &StepBatch,
        global_step: usize,
        sgd: &Sgd,
        bn_backup: &[Tensor],
        scaler: Option<&mut LossScaler>,
        inspect: impl FnOnce(&StepOutputs) -> Result<()>,
    ) -> Result<StepResult> {
        let gpu = self.gpu;
        let buffers: Vec<Tensor> = self
            .model
            .params
            .buffers()
            .map(|(_, t)| t.clone())
            .collect();
        // The forward pass updates the BN statistics; keep a copy to undo a skipped step.
        for (b, backup) in buffers.iter().zip(bn_backup) {
            gpu.copy(b, 0, backup, 0, b.numel())?;
        }
        let scale = scaler.as_ref().map_or(1.0, |s| s.scale);
        let outputs = self.forward_backward(batch, global_step, scale)?;
        inspect(&outputs)?;
        let StepOutputs {
            input,
            logits,
            loss,
        } = outputs;
        drop(input);
        // Read before the update, so a non-finite loss (or gradient) never reaches the
        // parameters.
        let (loss, overflow) = match scaler {
            None => (gpu.read(&loss)?[0], false),
            Some(_) => {
                let [_, gradients, _] = self.model.params.arenas();
                let status = gpu.read_u32(&step_status(gpu, &gradients, &loss)?)?;
                (f32::from_bits(status[0]), status[1] != 0)
            }
        };
        let update = match scaler {
            Some(s) if loss.is_finite() => s.update(overflow),
            _ => Update::Applied,
        };
        if !loss.is_finite() || update == Update::NotFiniteAtMinimum {
            for (b, backup) in buffers.iter().zip(bn_backup) {
                gpu.copy(backup, 0, b, 0, b.numel())?;
            }
            return Ok(StepResult::NotFinite { loss });
        }
        let predictions = argmax(&gpu.read(&logits)?, self.model.config.classes);
        let correct = predictions
            .iter()
            .zip(batch.labels)
            .filter(|(p, l)| p == l)
            .count();
        if update == Update::Overflow {
            // As PyTorch's scaler.step: only the optimizer is skipped; the BN statistics keep
            // the finite forward pass's update.
            return Ok(StepResult::Overflow {
                loss,
                correct,
                scale,
            });
        }
        sgd.step_unscaled(&self.model.params, 1.0 / scale)?;
        Ok(StepResult::Applied { loss, correct })
    }
}
