//! The threaded batch producer: order, content, determinism across worker counts, buffer reuse,
//! early drop; plus evaluation batches and the throughput benchmark.

use std::sync::Arc;

use purenoise::data::augment::{AugmentConfig, AugmentLevel};
use purenoise::data::bench::{bench_data, BenchDataArgs};
use purenoise::data::cifar::{Split, IMAGE_BYTES};
use purenoise::data::loader::{eval_batches, Batch, Loader, LoaderConfig, TrainImages};
use purenoise::data::sampler::{Sampler, SamplerConfig, SamplerKind};

const N: usize = 1000;

fn data() -> Arc<TrainImages> {
    // Image i is filled with (i % 251); class sizes are long-tailed: label = ⌊log2(i + 1)⌋ % 10.
    Arc::new(TrainImages {
        images: (0..N * IMAGE_BYTES)
            .map(|k| ((k / IMAGE_BYTES) % 251) as u8)
            .collect(),
        labels: (0..N).map(|i| (i + 1).ilog2() % 10).collect(),
    })
}

fn loader(kind: SamplerKind, level: AugmentLevel, workers: usize, batch: usize) -> Loader {
    let d = data();
    let sampler = Sampler::new(
        &d.labels,
        10,
        SamplerConfig {
            kind,
            defer_epoch: 0,
            delta: 1.0,
            seed: 5,
        },
    )
    .unwrap();
    let aug = AugmentConfig {
        level,
        ..AugmentConfig::full([0.0; 3], [1.0; 3])
    };
    Loader::new(
        d,
        sampler,
        aug,
        LoaderConfig {
            batch_size: batch,
            workers,
            prefetch: 2,
            drop_last: false,
            seed: 11,
        },
    )
    .unwrap()
}

#[test]
fn batches_follow_the_epoch_plan() {
    let l = loader(SamplerKind::Open, AugmentLevel::None, 2, 64);
    assert_eq!(l.batches_per_epoch(), 16);
    let plan = l.sampler().epoch(4);
    let batches: Vec<Batch> = l.epoch(4).collect();
    assert_eq!(batches.len(), 16);
    assert_eq!(batches[15].len(), N - 15 * 64);
    let d = data();
    for (b, batch) in batches.iter().enumerate() {
        assert_eq!(batch.images.len(), batch.len() * IMAGE_BYTES);
        for k in 0..batch.len() {
            let pos = b * 64 + k;
            let i = plan.indices[pos];
            assert_eq!(batch.labels[k], d.labels[i]);
            assert_eq!(batch.noise_mask[k], plan.noise[pos] as u32);
            // No augmentation, mean 0, std 1: the pixels are the source bytes / 255; slots the
            // GPU fills with noise are left zero.
            let want = if plan.noise[pos] {
                0.0
            } else {
                (i % 251) as f32 / 255.0
            };
            assert_eq!(batch.images[k * IMAGE_BYTES + 100], want);
        }
    }
    let noisy: u32 = batches.iter().flat_map(|b| &b.noise_mask).sum();
    assert!(
        noisy > 100,
        "OPeN with δ = 1 replaces many minority draws: {noisy}"
    );
}

#[test]
fn output_is_identical_for_any_worker_count() {
    let one: Vec<Batch> = loader(SamplerKind::Rs, AugmentLevel::Full, 1, 50)
        .epoch(2)
        .collect();
    let three: Vec<Batch> = loader(SamplerKind::Rs, AugmentLevel::Full, 3, 50)
        .epoch(2)
        .collect();
    assert_eq!(one.len(), 20);
    assert_eq!(one, three);
    let other_epoch: Vec<Batch> = loader(SamplerKind::Rs, AugmentLevel::Full, 3, 50)
        .epoch(3)
        .collect();
    assert_ne!(one, other_epoch);
    // A resumed epoch continues with exactly the batches the full one had.
    let resumed: Vec<Batch> = loader(SamplerKind::Rs, AugmentLevel::Full, 2, 50)
        .epoch_from(2, 7)
        .collect();
    assert_eq!(resumed, one[7..]);
}

#[test]
fn recycled_buffers_and_early_drop() {
    let l = loader(SamplerKind::Erm, AugmentLevel::Full, 2, 100);
    let mut it = l.epoch(0);
    let mut seen = Vec::new();
    while let Some(b) = it.next() {
        seen.extend_from_slice(&b.labels);
        it.recycle(b);
    }
    assert_eq!(seen.len(), N);
    // Dropping an epoch after one batch must not hang the workers.
    let mut it = l.epoch(1);
    assert!(it.next().is_some());
    drop(it);
}

#[test]
fn eval_batches_are_plain_normalized_images() {
    let split = Split {
        images: (0..5 * IMAGE_BYTES)
            .map(|k| (k / IMAGE_BYTES * 50) as u8)
            .collect(),
        labels: vec![0, 1, 2, 3, 4],
        coarse_labels: None,
        source: "test".into(),
    };
    let b: Vec<Batch> = eval_batches(&split, 2, [0.5; 3], [0.5; 3]).collect();
    assert_eq!(b.len(), 3);
    assert_eq!(b[2].labels, vec![4]);
    assert_eq!(b[1].noise_mask, vec![0, 0]);
    assert!((b[1].images[IMAGE_BYTES] - (150.0 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
}

#[test]
fn bad_loader_settings() {
    let d = data();
    let s = Sampler::new(&d.labels, 10, SamplerConfig::default()).unwrap();
    let aug = AugmentConfig::full([0.0; 3], [1.0; 3]);
    let cfg = LoaderConfig {
        batch_size: 0,
        ..LoaderConfig::default()
    };
    let e = Loader::new(d.clone(), s.clone(), aug.clone(), cfg)
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("--batch-size:"), "{e}");
    let cfg = LoaderConfig {
        workers: 0,
        ..LoaderConfig::default()
    };
    let e = Loader::new(d, s, aug, cfg).err().unwrap().to_string();
    assert!(e.starts_with("--data-workers:"), "{e}");
}

#[test]
fn bench_reports_throughput() {
    let r = bench_data(&BenchDataArgs {
        data_dir: None,
        augment: AugmentLevel::Full,
        data_workers: 2,
        batch_size: 128,
        images: 10_000,
    })
    .unwrap();
    assert_eq!(r.images, 10_000);
    assert!(r.images_per_sec > 0.0);
    println!("{r}");
}
