//! Batches produced ahead of the consumer by worker threads.
//!
//! Each epoch's plan comes from the [`Sampler`]; workers claim batch numbers from a shared
//! counter, augment into recycled buffers and send them over a bounded channel; the consumer
//! reorders them so batches arrive in plan order. Every image draws its augmentation from its own
//! stream keyed by (seed, epoch, position), so output is identical for any worker count.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

use super::augment::AugmentConfig;
use super::cifar::{Split, IMAGE_BYTES};
use super::error::{DataError, Result};
use super::sampler::{stream_seed, Sampler};

/// A CPU batch ready for upload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// N×3×32×32, NCHW, normalized; all zeros where `noise_mask` is 1.
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
    /// 1 = replace this image by pure noise on the GPU (OPeN), 0 = natural image.
    pub noise_mask: Vec<u32>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn reset(&mut self, n: usize) {
        self.images.resize(n * IMAGE_BYTES, 0.0);
        self.labels.clear();
        self.noise_mask.clear();
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LoaderConfig {
    pub batch_size: usize,
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Finished batches allowed to wait for the consumer.
    pub prefetch: usize,
    /// Drop the last partial batch of an epoch.
    pub drop_last: bool,
    /// Seeds the augmentation streams (the sampler has its own seed).
    pub seed: u64,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 128,
            workers: 2,
            prefetch: 4,
            drop_last: false,
            seed: 0,
        }
    }
}

/// The training subset's images (gathered, contiguous) and labels.
#[derive(Debug)]
pub struct TrainImages {
    pub images: Vec<u8>,
    pub labels: Vec<u32>,
}

impl TrainImages {
    /// Copies the images at `indices` of `train` out of the full training split.
    pub fn gather(train: &Split, indices: &[usize]) -> TrainImages {
        let mut images = Vec::with_capacity(indices.len() * IMAGE_BYTES);
        for &i in indices {
            images.extend_from_slice(train.image(i));
        }
        TrainImages {
            images,
            labels: indices.iter().map(|&i| train.labels[i]).collect(),
        }
    }
}

pub struct Loader {
    data: Arc<TrainImages>,
    sampler: Sampler,
    augment: Arc<AugmentConfig>,
    cfg: LoaderConfig,
}

impl Loader {
    /// `sampler` must have been built from `data.labels`.
    pub fn new(
        data: Arc<TrainImages>,
        sampler: Sampler,
        augment: AugmentConfig,
        cfg: LoaderConfig,
    ) -> Result<Loader> {
        augment.validate()?;
        if cfg.batch_size == 0 {
            return Err(DataError::arg(
                "--batch-size",
                "batch size must be at least 1",
            ));
        }
        if cfg.workers == 0 {
            return Err(DataError::arg(
                "--data-workers",
                "need at least 1 worker thread",
            ));
        }
        if sampler.len() != data.labels.len() {
            return Err(DataError::arg(
                "--subset-indices",
                format!(
                    "sampler covers {} images but the training subset has {}",
                    sampler.len(),
                    data.labels.len()
                ),
            ));
        }
        Ok(Loader {
            data,
            sampler,
            augment: Arc::new(augment),
            cfg,
        })
    }

    pub fn batches_per_epoch(&self) -> usize {
        let n = self.sampler.len();
        if self.cfg.drop_last {
            n / self.cfg.batch_size
        } else {
            n.div_ceil(self.cfg.batch_size)
        }
    }

    pub fn sampler(&self) -> &Sampler {
        &self.sampler
    }

    /// Starts the workers for `epoch` (0-based) and returns the batches in order.
    pub fn epoch(&self, epoch: usize) -> EpochBatches {
        self.epoch_from(epoch, 0)
    }

    /// Like `epoch`, from batch `first` on: a resumed run gets exactly the batches the
    /// interrupted one would have (plans and augmentation are seeded per epoch and position).
    pub fn epoch_from(&self, epoch: usize, first: usize) -> EpochBatches {
        let plan = self.sampler.epoch(epoch);
        let bs = self.cfg.batch_size;
        let total = self.batches_per_epoch();
        let plan = Arc::new(plan);
        let first = first.min(total);
        let next = Arc::new(AtomicUsize::new(first));
        let (tx, rx) = mpsc::sync_channel::<(usize, Batch)>(self.cfg.prefetch.max(1));
        let (free_tx, free_rx) = mpsc::channel::<Batch>();
        let free_rx = Arc::new(Mutex::new(free_rx));
        let epoch_seed = stream_seed(self.cfg.seed, epoch as u64);
        let workers = (0..self.cfg.workers.min((total - first).max(1)))
            .map(|_| {
                let (plan, next, tx, free_rx) =
                    (plan.clone(), next.clone(), tx.clone(), free_rx.clone());
                let (data, augment) = (self.data.clone(), self.augment.clone());
                std::thread::spawn(move || {
                    worker(WorkerCtx {
                        plan: &plan,
                        next: &next,
                        tx,
                        free_rx: &free_rx,
                        data: &data,
                        augment: &augment,
                        batch_size: bs,
                        total,
                        epoch_seed,
                    })
                })
            })
            .collect();
        EpochBatches {
            rx: Some(rx),
            free_tx,
            pending: BTreeMap::new(),
            next: first,
            total,
            workers,
        }
    }
}

struct WorkerCtx<'a> {
    plan: &'a super::sampler::EpochPlan,
    next: &'a AtomicUsize,
    tx: SyncSender<(usize, Batch)>,
    free_rx: &'a Mutex<Receiver<Batch>>,
    data: &'a TrainImages,
    augment: &'a AugmentConfig,
    batch_size: usize,
    total: usize,
    epoch_seed: u64,
}

fn worker(ctx: WorkerCtx<'_>) {
    loop {
        let b = ctx.next.fetch_add(1, Ordering::Relaxed);
        if b >= ctx.total {
            return;
        }
        let start = b * ctx.batch_size;
        let end = (start + ctx.batch_size).min(ctx.plan.indices.len());
        let recycled = ctx.free_rx.lock().ok().and_then(|rx| rx.try_recv().ok());
        let mut batch = recycled.unwrap_or_default();
        batch.reset(end - start);
        for (k, pos) in (start..end).enumerate() {
            let i = ctx.plan.indices[pos];
            let noise = ctx.plan.noise[pos];
            let out = &mut batch.images[k * IMAGE_BYTES..(k + 1) * IMAGE_BYTES];
            if noise {
                // The GPU overwrites this slot with noise; augmenting it would be wasted work.
                out.fill(0.0);
            } else {
                let mut rng = Pcg64Mcg::seed_from_u64(stream_seed(ctx.epoch_seed, pos as u64));
                let src = &ctx.data.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES];
                ctx.augment.apply(src, out, &mut rng);
            }
            batch.labels.push(ctx.data.labels[i]);
            batch.noise_mask.push(noise as u32);
        }
        // The consumer hung up (epoch abandoned): stop quietly.
        if ctx.tx.send((b, batch)).is_err() {
            return;
        }
    }
}

/// The batches of one epoch, in plan order. Dropping it early stops the workers.
pub struct EpochBatches {
    rx: Option<Receiver<(usize, Batch)>>,
    free_tx: Sender<Batch>,
    pending: BTreeMap<usize, Batch>,
    next: usize,
    total: usize,
    workers: Vec<JoinHandle<()>>,
}

impl EpochBatches {
    /// Hands a consumed batch's buffers back so workers reuse them instead of allocating.
    pub fn recycle(&self, batch: Batch) {
        // Workers may all have finished; then the buffer is simply dropped.
        let _ = self.free_tx.send(batch);
    }

    pub fn total(&self) -> usize {
        self.total
    }
}

impl Iterator for EpochBatches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.total {
            return None;
        }
        let rx = self.rx.as_ref()?;
        while !self.pending.contains_key(&self.next) {
            // A closed channel before the last batch means a worker panicked: end the epoch
            // rather than hang.
            let (b, batch) = rx.recv().ok()?;
            self.pending.insert(b, batch);
        }
        let batch = self.pending.remove(&self.next);
        self.next += 1;
        batch
    }
}

impl Drop for EpochBatches {
    fn drop(&mut self) {
        // Closing the receiver first unblocks workers waiting to send.
        self.rx.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Evaluation batches: images in file order, no augmentation, no noise.
pub fn eval_batches<'a>(
    split: &'a Split,
    batch_size: usize,
    mean: [f32; 3],
    std: [f32; 3],
) -> impl Iterator<Item = Batch> + 'a {
    let n = split.len();
    (0..n.div_ceil(batch_size.max(1))).map(move |b| {
        let start = b * batch_size;
        let end = (start + batch_size).min(n);
        let mut batch = Batch::default();
        batch.reset(end - start);
        for (k, i) in (start..end).enumerate() {
            let mut img = [0f32; IMAGE_BYTES];
            for (d, &s) in img.iter_mut().zip(split.image(i)) {
                *d = s as f32 / 255.0;
            }
            super::augment::normalize(
                &img,
                &mut batch.images[k * IMAGE_BYTES..(k + 1) * IMAGE_BYTES],
                mean,
                std,
            );
            batch.labels.push(split.labels[i]);
            batch.noise_mask.push(0);
        }
        batch
    })
}
