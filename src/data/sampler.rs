//! Per-epoch sampling plans: ERM, class-balanced re-sampling (RS), deferred RS (DRS) and OPeN
//! (deferred RS where drawn minority images are replaced by pure noise).

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::error::{DataError, Result};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SamplerKind {
    /// Each image once per epoch, shuffled.
    Erm,
    /// Class-balanced sampling with replacement.
    Rs,
    /// ERM before the deferral epoch, RS from it on.
    Drs,
    /// ERM before the deferral epoch, then RS with pure-noise replacement.
    Open,
}

#[derive(Clone, Copy, Debug)]
pub struct SamplerConfig {
    pub kind: SamplerKind,
    /// First epoch (0-based) at which DRS/OPeN switch from ERM to re-sampling.
    pub defer_epoch: usize,
    /// OPeN's δ: an image of class c becomes noise with probability (1 − n_c/n_max)·δ.
    pub delta: f64,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            kind: SamplerKind::Open,
            defer_epoch: 160,
            delta: 1.0 / 3.0,
            seed: 0,
        }
    }
}

/// One epoch: positions into the training subset, and for each a noise flag.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochPlan {
    pub indices: Vec<usize>,
    pub noise: Vec<bool>,
}

#[derive(Clone, Debug)]
pub struct Sampler {
    cfg: SamplerConfig,
    labels: Vec<u32>,
    by_class: Vec<Vec<usize>>,
    /// Per class, the OPeN replacement probability (1 − n_c/n_max)·δ.
    noise_p: Vec<f64>,
}

/// Derives an independent stream per (seed, epoch) so any epoch can be regenerated alone.
pub(crate) fn stream_seed(seed: u64, tag: u64) -> u64 {
    // splitmix64 finaliser.
    let mut z = seed ^ tag.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Sampler {
    /// `labels` are the labels of the training subset, in subset order.
    pub fn new(labels: &[u32], num_classes: usize, cfg: SamplerConfig) -> Result<Sampler> {
        if !(0.0..=1.0).contains(&cfg.delta) {
            return Err(DataError::arg(
                "--delta",
                format!("δ must be in [0, 1], got {}", cfg.delta),
            ));
        }
        if labels.is_empty() {
            return Err(DataError::arg(
                "--subset-indices",
                "the training subset is empty; nothing to sample",
            ));
        }
        let mut by_class = vec![Vec::new(); num_classes];
        for (i, &l) in labels.iter().enumerate() {
            let Some(members) = by_class.get_mut(l as usize) else {
                return Err(DataError::arg(
                    "--dataset",
                    format!("image {i} has label {l}, but the dataset has {num_classes} classes"),
                ));
            };
            members.push(i);
        }
        let n_max = by_class.iter().map(Vec::len).max().unwrap_or(0) as f64;
        let noise_p = by_class
            .iter()
            .map(|v| (1.0 - v.len() as f64 / n_max) * cfg.delta)
            .collect();
        Ok(Sampler {
            cfg,
            labels: labels.to_vec(),
            by_class,
            noise_p,
        })
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Label of subset position `i`.
    pub fn label(&self, i: usize) -> u32 {
        self.labels[i]
    }

    /// Per-class OPeN noise probability.
    pub fn noise_probabilities(&self) -> &[f64] {
        &self.noise_p
    }

    /// The plan for `epoch` (0-based); deterministic in (seed, epoch).
    pub fn epoch(&self, epoch: usize) -> EpochPlan {
        let mut rng = Pcg64::seed_from_u64(stream_seed(self.cfg.seed, epoch as u64));
        let resample = match self.cfg.kind {
            SamplerKind::Erm => false,
            SamplerKind::Rs => true,
            SamplerKind::Drs | SamplerKind::Open => epoch >= self.cfg.defer_epoch,
        };
        let n = self.labels.len();
        if !resample {
            let mut indices: Vec<usize> = (0..n).collect();
            // Fisher–Yates.
            for i in (1..n).rev() {
                indices.swap(i, rng.random_range(0..=i));
            }
            return EpochPlan {
                indices,
                noise: vec![false; n],
            };
        }
        // Weight 1/n_c per image gives every non-empty class total weight 1, so drawing a class
        // uniformly and then an image of it uniformly is the same distribution.
        let classes: Vec<usize> = (0..self.by_class.len())
            .filter(|&c| !self.by_class[c].is_empty())
            .collect();
        let open = self.cfg.kind == SamplerKind::Open;
        let mut indices = Vec::with_capacity(n);
        let mut noise = Vec::with_capacity(n);
        for _ in 0..n {
            let c = classes[rng.random_range(0..classes.len())];
            let members = &self.by_class[c];
            indices.push(members[rng.random_range(0..members.len())]);
            noise.push(open && rng.random::<f64>() < self.noise_p[c]);
        }
        EpochPlan { indices, noise }
    }
}
