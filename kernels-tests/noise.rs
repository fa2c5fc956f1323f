//! Pure-noise synthesis: exact against the f64 reference, masked samples only, values in [0, 1],
//! the clamped-normal moments, no correlation between neighbours or channels, reproducibility.

mod common;
use common::*;
use purenoise::ops::noise::{fill_noise, NoiseMask, NoiseStats, CIFAR10_MEAN, CIFAR10_STD};
use purenoise::reference;

const SEED: u64 = 0xC0FF_EE00_1234;

/// Mean and std of clamp(mu + sigma Z, 0, 1), Z ~ N(0, 1), by numerical integration.
fn clamped_normal_moments(mu: f64, sigma: f64) -> (f64, f64) {
    let (mut m1, mut m2) = (0.0, 0.0);
    let dz = 1e-4;
    let mut z: f64 = -10.0;
    while z < 10.0 {
        let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt() * dz;
        let v = (mu + sigma * z).clamp(0.0, 1.0);
        m1 += v * density;
        m2 += v * v * density;
        z += dz;
    }
    (m1, (m2 - m1 * m1).sqrt())
}

fn correlation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (ma, mb) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov: f64 = pairs.iter().map(|(a, b)| (a - ma) * (b - mb)).sum::<f64>() / n;
    let va: f64 = pairs.iter().map(|(a, _)| (a - ma).powi(2)).sum::<f64>() / n;
    let vb: f64 = pairs.iter().map(|(_, b)| (b - mb).powi(2)).sum::<f64>() / n;
    cov / (va * vb).sqrt()
}

each_mode!(noise_fills_masked_samples_exactly_and_with_the_right_distribution);
fn noise_fills_masked_samples_exactly_and_with_the_right_distribution(gpu: Gpu) {
    let (n, c, hw) = (64, 3, 32 * 32);
    let mask: Vec<bool> = (0..n).map(|s| s % 2 == 0 || s == n - 1).collect();
    let batch = gpu.upload(&vec![7.0; n * c * hw], &[n, c, 32, 32]).unwrap();
    let stats = NoiseStats::new(&gpu, &CIFAR10_MEAN, &CIFAR10_STD, None).unwrap();
    let mask_t = NoiseMask::new(&gpu, &mask).unwrap();
    fill_noise(&gpu, &batch, &mask_t, &stats, SEED, 5).unwrap();
    let x = read(&gpu, &batch);

    let mut per_channel = vec![Vec::new(); c];
    for s in 0..n {
        let sample = &x[s * c * hw..(s + 1) * c * hw];
        if !mask[s] {
            assert!(
                sample.iter().all(|&v| v == 7.0),
                "natural sample {s} was touched"
            );
            continue;
        }
        assert!(
            sample.iter().all(|&v| (0.0..=1.0).contains(&v)),
            "sample {s} leaves [0, 1]"
        );
        for (ch, values) in per_channel.iter_mut().enumerate() {
            values.extend_from_slice(&sample[ch * hw..(ch + 1) * hw]);
        }
        if s < 4 {
            let want: Vec<f64> = (0..c * hw)
                .map(|w| {
                    reference::noise_pixel(
                        SEED,
                        5,
                        s,
                        w,
                        CIFAR10_MEAN[w / hw] as f64,
                        CIFAR10_STD[w / hw] as f64,
                    )
                })
                .collect();
            assert_close(&format!("noise sample {s}"), sample, &want, 1e-5, 1e-4);
        }
    }
    for (ch, values) in per_channel.iter().enumerate() {
        let (want_mean, want_std) =
            clamped_normal_moments(CIFAR10_MEAN[ch] as f64, CIFAR10_STD[ch] as f64);
        let len = values.len() as f64;
        let mean = values.iter().sum::<f64>() / len;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / len).sqrt();
        assert!(
            (mean - want_mean).abs() < 0.005,
            "channel {ch}: mean {mean}, expected {want_mean}"
        );
        assert!(
            (std - want_std).abs() < 0.005,
            "channel {ch}: std {std}, expected {want_std}"
        );
    }
    let noise_samples: Vec<usize> = (0..n).filter(|&s| mask[s]).collect();
    let pixel = |s: usize, ch: usize, j: usize| x[(s * c + ch) * hw + j];
    let horizontal: Vec<(f64, f64)> = noise_samples
        .iter()
        .flat_map(|&s| {
            (0..hw)
                .filter(|j| j % 32 != 31)
                .map(move |j| (pixel(s, 0, j), pixel(s, 0, j + 1)))
        })
        .collect();
    let across_channels: Vec<(f64, f64)> = noise_samples
        .iter()
        .flat_map(|&s| (0..hw).map(move |j| (pixel(s, 0, j), pixel(s, 1, j))))
        .collect();
    let across_samples: Vec<(f64, f64)> = (0..hw)
        .map(|j| (pixel(noise_samples[0], 2, j), pixel(noise_samples[1], 2, j)))
        .collect();
    for (what, pairs, bound) in [
        ("neighbouring pixels", &horizontal, 0.03),
        ("channels", &across_channels, 0.03),
        ("samples", &across_samples, 0.12),
    ] {
        let r = correlation(pairs);
        assert!(r.abs() < bound, "correlation between {what} is {r}");
    }
}

each_mode!(noise_is_reproducible_from_seed_and_step);
fn noise_is_reproducible_from_seed_and_step(gpu: Gpu) {
    let stats = NoiseStats::new(&gpu, &[0.5], &[0.25], None).unwrap();
    let mask = NoiseMask::new(&gpu, &[true, true]).unwrap();
    let draw = |seed: u64, step: u32| {
        let b = gpu.zeros("test", &[2, 1, 5, 5]).unwrap();
        fill_noise(&gpu, &b, &mask, &stats, seed, step).unwrap();
        read(&gpu, &b)
    };
    let first = draw(1, 0);
    assert_eq!(first, draw(1, 0), "same seed and step, same images");
    assert_ne!(first, draw(1, 1), "another step, other images");
    assert_ne!(first, draw(2, 0), "another seed, other images");
    assert_ne!(first[..25], first[25..], "two samples of one batch differ");
}

each_mode_and_precision!(noise_can_be_normalized_like_natural_images);
/// With f16 activations the batch is f16: the noise is drawn in f32 and stored rounded.
fn noise_can_be_normalized_like_natural_images(gpu: Gpu, dtype: DType) {
    let (mean, std) = ([0.3f32, 0.6], [0.1f32, 0.3]);
    let (norm_mean, norm_std) = ([0.5f32, 0.4], [0.2f32, 0.25]);
    let stats = NoiseStats::new(&gpu, &mean, &std, Some((&norm_mean, &norm_std))).unwrap();
    let batch = upload_as(&gpu, &[0.0; 42], &[1, 2, 3, 7], dtype);
    fill_noise(
        &gpu,
        &batch,
        &NoiseMask::new(&gpu, &[true]).unwrap(),
        &stats,
        9,
        2,
    )
    .unwrap();
    let want: Vec<f64> = (0..42)
        .map(|w| {
            let c = w / 21;
            let v = reference::noise_pixel(9, 2, 0, w, mean[c] as f64, std[c] as f64);
            (v - norm_mean[c] as f64) / norm_std[c] as f64
        })
        .collect();
    let (atol, rtol) = tolerance(dtype, 1e-5, 1e-4);
    assert_close("normalized noise", &read(&gpu, &batch), &want, atol, rtol);
}

#[test]
fn noise_rejects_bad_masks_and_statistics() {
    let gpu = gpu();
    let msg = NoiseStats::new(&gpu, &[0.5, 0.5], &[0.2, 0.0], None)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("std of channel 1 is 0"), "{msg}");
    let msg = NoiseStats::new(&gpu, &[0.5, 0.5], &[0.2], None)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("2 means but 1 std"), "{msg}");
    let stats = NoiseStats::new(&gpu, &CIFAR10_MEAN, &CIFAR10_STD, None).unwrap();
    let batch = gpu.zeros("test", &[4, 3, 2, 2]).unwrap();
    let short = NoiseMask::new(&gpu, &[true, false, true]).unwrap();
    let msg = fill_noise(&gpu, &batch, &short, &stats, 0, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("noise") && msg.contains("mask has 3 entries but the batch has 4 samples"),
        "{msg}"
    );
    let gray = gpu.zeros("test", &[4, 1, 2, 2]).unwrap();
    let mask = NoiseMask::new(&gpu, &[true, false, true, false]).unwrap();
    let msg = fill_noise(&gpu, &gray, &mask, &stats, 0, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("statistics for 3 channels, batch has 1"),
        "{msg}"
    );
}
