//! The four samplers: coverage, class balance, deferral and OPeN's noise rates.

use purenoise::data::sampler::{Sampler, SamplerConfig, SamplerKind};

/// Long-tailed labels: 2000 of class 0, 500 of class 1, 100 of class 2, 20 of class 3.
fn labels() -> Vec<u32> {
    let mut l = Vec::new();
    for (c, n) in [(0u32, 2000usize), (1, 500), (2, 100), (3, 20)] {
        l.extend(std::iter::repeat_n(c, n));
    }
    // Interleave so class blocks are not contiguous.
    l.sort_by_key(|&c| (c * 7919) % 13);
    l
}

fn cfg(kind: SamplerKind) -> SamplerConfig {
    SamplerConfig {
        kind,
        defer_epoch: 3,
        delta: 1.0 / 3.0,
        seed: 42,
    }
}

fn is_permutation(idx: &[usize], n: usize) -> bool {
    let mut s = idx.to_vec();
    s.sort_unstable();
    s == (0..n).collect::<Vec<_>>()
}

#[test]
fn erm_is_a_seeded_shuffle() {
    let l = labels();
    let s = Sampler::new(&l, 4, cfg(SamplerKind::Erm)).unwrap();
    let e0 = s.epoch(0);
    assert!(is_permutation(&e0.indices, l.len()));
    assert!(e0.noise.iter().all(|&n| !n));
    assert_ne!(e0.indices, (0..l.len()).collect::<Vec<_>>());
    assert_ne!(e0.indices, s.epoch(1).indices);
    assert_eq!(
        e0,
        Sampler::new(&l, 4, cfg(SamplerKind::Erm)).unwrap().epoch(0)
    );
    let other = SamplerConfig {
        seed: 43,
        ..cfg(SamplerKind::Erm)
    };
    assert_ne!(
        e0.indices,
        Sampler::new(&l, 4, other).unwrap().epoch(0).indices
    );
}

fn class_freq(s: &Sampler, idx: &[usize]) -> [f64; 4] {
    let mut f = [0f64; 4];
    for &i in idx {
        f[s.label(i) as usize] += 1.0;
    }
    f.map(|v| v / idx.len() as f64)
}

#[test]
fn rs_balances_classes_with_replacement() {
    let l = labels();
    let s = Sampler::new(&l, 4, cfg(SamplerKind::Rs)).unwrap();
    let mut all = Vec::new();
    for e in 0..10 {
        let p = s.epoch(e);
        assert_eq!(p.indices.len(), l.len());
        assert!(p.noise.iter().all(|&n| !n));
        all.extend(p.indices);
    }
    // 26,200 draws: each class ≈ 1/4 (binomial sd ≈ 0.0027).
    for f in class_freq(&s, &all) {
        assert!((f - 0.25).abs() < 0.015, "{f}");
    }
    // With replacement: the 20 class-3 images are each drawn ~65 times per epoch on average.
    let p = s.epoch(0);
    let mut seen = vec![0usize; l.len()];
    for &i in &p.indices {
        seen[i] += 1;
    }
    assert!(seen.iter().any(|&c| c > 1));
}

#[test]
fn drs_defers_resampling() {
    let l = labels();
    let s = Sampler::new(&l, 4, cfg(SamplerKind::Drs)).unwrap();
    for e in 0..3 {
        assert!(is_permutation(&s.epoch(e).indices, l.len()), "epoch {e}");
    }
    let f = class_freq(&s, &s.epoch(3).indices);
    assert!(f[3] > 0.2, "epoch 3 must re-sample: class-3 share {}", f[3]);
}

#[test]
fn open_noise_rate_per_class() {
    let l = labels();
    let s = Sampler::new(&l, 4, cfg(SamplerKind::Open)).unwrap();
    // (1 − n_c/n_max)·δ with n_max = 2000, δ = 1/3.
    let want = [0.0, 0.75 / 3.0, 0.95 / 3.0, 0.99 / 3.0];
    for (got, want) in s.noise_probabilities().iter().zip(want) {
        assert!((got - want).abs() < 1e-12);
    }
    for e in 0..3 {
        let p = s.epoch(e);
        assert!(is_permutation(&p.indices, l.len()));
        assert!(
            p.noise.iter().all(|&n| !n),
            "no noise before the deferral epoch"
        );
    }
    let (mut drawn, mut noisy) = ([0f64; 4], [0f64; 4]);
    for e in 3..23 {
        let p = s.epoch(e);
        for (&i, &n) in p.indices.iter().zip(&p.noise) {
            let c = s.label(i) as usize;
            drawn[c] += 1.0;
            noisy[c] += n as u8 as f64;
        }
    }
    assert_eq!(noisy[0], 0.0, "the largest class is never replaced");
    for c in 1..4 {
        let rate = noisy[c] / drawn[c];
        // ≈ 13,000 draws per class: sd of the rate < 0.005.
        assert!(
            (rate - want[c]).abs() < 0.02,
            "class {c}: {rate} vs {}",
            want[c]
        );
    }
}

#[test]
fn bad_sampler_settings() {
    let l = labels();
    let bad = SamplerConfig {
        delta: 1.5,
        ..cfg(SamplerKind::Open)
    };
    let e = Sampler::new(&l, 4, bad).unwrap_err().to_string();
    assert!(e.starts_with("--delta:"), "{e}");
    assert!(Sampler::new(&[], 4, cfg(SamplerKind::Erm)).is_err());
}
