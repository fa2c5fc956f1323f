//! Dynamic loss scaling on the GPU: the gradient check and the unscaling SGD against the
//! references, and whole training steps of resnet-8: an overflow is detected and skipped without
//! touching weights or momentum, and a scaled step equals the unscaled one.

mod common;
use common::*;
use purenoise::models::{BnMode, Model, ModelConfig};
use purenoise::ops::noise::NoiseStats;
use purenoise::optim::{step_status, Sgd};
use purenoise::params::ParamStore;
use purenoise::reference;
use purenoise::train::loss_scale::LossScaler;
use purenoise::train::step::{Step, StepBatch, StepResult};
use rand::Rng;

each_mode!(step_status_flags_every_non_finite_value);
fn step_status_flags_every_non_finite_value(gpu: Gpu) {
    let mut rng = rng(30);
    // One element; around one round of a workgroup's threads (256) and around a workgroup's
    // span (256 threads × 8 elements); many workgroups.
    for len in [1, 255, 256, 257, 2047, 2048, 2049, 70_001] {
        // Finite extremes must not be flagged: the largest float, the smallest normal and a
        // subnormal, and negative zero.
        let mut base: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
        for (i, v) in [f32::MAX, -f32::MAX, f32::MIN_POSITIVE, 1e-40, -0.0]
            .into_iter()
            .enumerate()
        {
            base[(i * 97) % len] = v;
        }
        let mut cases = vec![("finite", base.clone())];
        for (what, bad) in [
            ("NaN", f32::NAN),
            ("+inf", f32::INFINITY),
            ("-inf", f32::NEG_INFINITY),
        ] {
            for at in [0, len / 2, len - 1] {
                let mut x = base.clone();
                x[at] = bad;
                cases.push((what, x));
            }
        }
        cases.push(("all NaN", vec![f32::NAN; len]));
        for (what, x) in cases {
            let loss = rng.random_range(-5.0f32..5.0);
            let status = step_status(
                &gpu,
                &gpu.upload(&x, &[len]).unwrap(),
                &gpu.upload(&[loss], &[1]).unwrap(),
            )
            .unwrap();
            assert_eq!(
                gpu.read_u32(&status).unwrap(),
                reference::step_status(&x, loss),
                "{what}, {len} elements"
            );
        }
    }
    // A non-finite loss is handed over as it is.
    let status = step_status(
        &gpu,
        &gpu.upload(&[1.0], &[1]).unwrap(),
        &gpu.upload(&[f32::NAN], &[1]).unwrap(),
    )
    .unwrap();
    assert!(f32::from_bits(gpu.read_u32(&status).unwrap()[0]).is_nan());
}

each_mode!(sgd_unscales_the_gradients);
fn sgd_unscales_the_gradients(gpu: Gpu) {
    let mut rng = rng(31);
    let shapes: [&[usize]; 3] = [&[3, 5], &[1], &[7, 2, 3]];
    let build = |w: &[Vec<f64>]| {
        let mut builder = ParamStore::builder();
        for (i, s) in shapes.iter().enumerate() {
            builder.param(
                &format!("p{i}"),
                s,
                w[i].iter().map(|&v| v as f32).collect(),
            );
        }
        builder.build(&gpu).unwrap()
    };
    let mut w: Vec<Vec<f64>> = shapes
        .iter()
        .map(|s| random(&mut rng, s.iter().product()))
        .collect();
    let (scaled, plain) = (build(&w), build(&w));
    let mut v: Vec<Vec<f64>> = w.iter().map(|p| vec![0.0; p.len()]).collect();
    let sgd = Sgd {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 5e-4,
    };
    let scale = 2f64.powi(20);
    for _ in 0..3 {
        scaled.zero_grad();
        plain.zero_grad();
        for (i, id) in plain.ids().enumerate() {
            let g = random(&mut rng, w[i].len());
            let times = |s: f64| g.iter().map(|v| v * s).collect::<Vec<_>>();
            purenoise::ops::accumulate(&gpu, &plain.grad(id), &upload(&gpu, &g, shapes[i]))
                .unwrap();
            purenoise::ops::accumulate(
                &gpu,
                &scaled.grad(id),
                &upload(&gpu, &times(scale), shapes[i]),
            )
            .unwrap();
            reference::sgd(&mut w[i], &g, &mut v[i], 0.1, 0.9, 5e-4);
        }
        sgd.step(&plain).unwrap();
        sgd.step_unscaled(&scaled, (1.0 / scale) as f32).unwrap();
    }
    for (i, id) in scaled.ids().enumerate() {
        let name = scaled.name(id);
        assert_close(
            &format!("{name} after 3 steps"),
            &read(&gpu, &scaled.value(id)),
            &w[i],
            1e-6,
            1e-5,
        );
        // A power-of-two scale unscales exactly: the same bits as the unscaled update.
        assert_eq!(
            (
                gpu.read(&scaled.value(id)).unwrap(),
                gpu.read(&scaled.momentum(id)).unwrap()
            ),
            (
                gpu.read(&plain.value(id)).unwrap(),
                gpu.read(&plain.momentum(id)).unwrap()
            ),
            "{name}"
        );
    }
}

/// resnet-8 (DAR-BN) with a random batch of 6, two of them noise.
struct Setup {
    gpu: Gpu,
    model: Model,
    noise: NoiseStats,
    images: Vec<f32>,
    labels: Vec<u32>,
    mask: Vec<u32>,
}

const SGD: Sgd = Sgd {
    lr: 0.05,
    momentum: 0.9,
    weight_decay: 5e-4,
};

impl Setup {
    fn new(gpu: &Gpu) -> Setup {
        let mut rng = rng(32);
        let n = 6;
        let config = ModelConfig {
            kind: "resnet-8".parse().unwrap(),
            classes: 10,
            bn: BnMode::DarBn,
            dropout: 0.0,
        };
        Setup {
            gpu: gpu.clone(),
            model: Model::new(gpu, config, 9).unwrap(),
            noise: NoiseStats::new(gpu, &[0.5; 3], &[0.25; 3], None).unwrap(),
            images: (0..n * 3 * 32 * 32)
                .map(|_| rng.random_range(-2.0..2.0))
                .collect(),
            labels: (0..n).map(|_| rng.random_range(0..10)).collect(),
            mask: (0..n).map(|i| u32::from(i >= 4)).collect(),
        }
    }

    /// One step at `global_step`, with `scaler` when given; returns the result and the
    /// parameter gradients the backward pass left (scaled, when scaling).
    fn step(&self, global_step: usize, scaler: Option<&mut LossScaler>) -> (StepResult, Vec<f32>) {
        let step = Step {
            gpu: &self.gpu,
            model: &self.model,
            noise: &self.noise,
            seed: 4,
        };
        let batch = StepBatch {
            images: &self.images,
            labels: &self.labels,
            noise_mask: &self.mask,
        };
        let mut grads = Vec::new();
        let result = step
            .run(&batch, global_step, &SGD, &[], scaler, |_| {
                grads = self.gpu.read(&self.model.params.arenas()[1])?;
                Ok(())
            })
            .unwrap();
        (result, grads)
    }

    /// Weights, gradients and momentum arenas, then every BN buffer.
    fn state(&self) -> Vec<Vec<f32>> {
        let p = &self.model.params;
        let mut out: Vec<Vec<f32>> = p
            .arenas()
            .iter()
            .map(|t| self.gpu.read(t).unwrap())
            .collect();
        out.extend(p.buffers().map(|(_, t)| self.gpu.read(t).unwrap()));
        out
    }
}

each_mode!(an_overflow_skips_the_update_and_backs_off);
fn an_overflow_skips_the_update_and_backs_off(gpu: Gpu) {
    let (a, b) = (Setup::new(&gpu), Setup::new(&gpu));
    // A first, applied step, so that momentum is not zero.
    for s in [&a, &b] {
        assert!(matches!(s.step(0, None).0, StepResult::Applied { .. }));
    }
    // The classifier's weights times 2^64 make the gradients flowing back from it large
    // (about 1e20; the loss stays finite), so that 2^126 times them is beyond f32. At 2^126
    // alone, resnet-8's gradients here stay finite.
    for s in [&a, &b] {
        let fc = s
            .model
            .params
            .value(s.model.params.find("linear.weight").unwrap());
        let big: Vec<f32> = gpu
            .read(&fc)
            .unwrap()
            .iter()
            .map(|w| w * 2f32.powi(64))
            .collect();
        gpu.write(&fc, bytemuck::cast_slice(&big)).unwrap();
    }
    let before = a.state();
    assert!(before[2].iter().any(|&m| m != 0.0), "momentum is still 0");
    let mut huge = LossScaler::new(2f32.powi(126), 2000);
    let (result, grads) = a.step(1, Some(&mut huge));
    assert!(
        grads.iter().any(|g| !g.is_finite()),
        "the scaled gradients stayed finite"
    );
    let StepResult::Overflow { loss, scale, .. } = result else {
        panic!("an overflow was not detected: {result:?}")
    };
    assert_eq!(scale, 2f32.powi(126));
    assert_eq!(
        (huge.scale, huge.skipped, huge.growth_tracker),
        (2f32.powi(125), 1, 0)
    );
    let after = a.state();
    assert_eq!(after[0], before[0], "weights changed in a skipped step");
    assert_eq!(after[2], before[2], "momentum changed in a skipped step");
    // The BN running statistics keep the forward pass's update, as under PyTorch's GradScaler:
    // the same as after the unscaled step of the same batch (whose loss is also the same).
    let (unscaled, _) = b.step(1, None);
    let StepResult::Applied { loss: want, .. } = unscaled else {
        panic!("{unscaled:?}")
    };
    assert_eq!(loss, want);
    let reference = b.state();
    assert!(
        after[3..] != before[3..],
        "the forward pass left BN as it was"
    );
    assert_eq!(after[3..], reference[3..], "BN statistics");
}

each_mode!(a_scaled_step_equals_the_unscaled_one);
fn a_scaled_step_equals_the_unscaled_one(gpu: Gpu) {
    let (a, b) = (Setup::new(&gpu), Setup::new(&gpu));
    let mut scaler = LossScaler::new(65536.0, 2);
    for global_step in 0..3 {
        let scale = scaler.scale;
        let (scaled, scaled_grads) = a.step(global_step, Some(&mut scaler));
        let (plain, plain_grads) = b.step(global_step, None);
        assert!(matches!(scaled, StepResult::Applied { .. }), "{scaled:?}");
        // The unscaled loss is the one reported.
        assert_eq!(scaled, plain, "step {global_step}");
        // Multiplying by a power of two is exact in floating point, so every product and sum
        // of the backward pass (linear in the seed) scales exactly: the gradients are the
        // unscaled ones times the scale, to the bit, and 1/scale in SGD gives them back.
        // Only values below the normal range could differ (scaled up, they keep bits an
        // unscaled subnormal, or a flush to zero, loses); none arise here.
        let times: Vec<f32> = plain_grads.iter().map(|g| g * scale).collect();
        assert_eq!(scaled_grads, times, "gradients at step {global_step}");
        let (sa, sb) = (a.state(), b.state());
        assert_eq!(sa[0], sb[0], "weights after step {global_step}");
        assert_eq!(sa[2], sb[2], "momentum after step {global_step}");
        assert_eq!(sa[3..], sb[3..], "BN statistics after step {global_step}");
    }
    // Two finite steps per growth: 2^16 → 2^17 after the second step.
    assert_eq!((scaler.scale, scaler.growth_tracker), (131072.0, 1));
}
