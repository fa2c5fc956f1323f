//! A small network through the tape — conv → BN → ReLU → conv → BN → ReLU → residual add → pool
//! → linear → cross-entropy — against the same network written with the f64 references: the
//! loss, every parameter gradient, and the parameters and running statistics after three SGD
//! steps. Also: activations are released after backward, and a warm step allocates nothing.

mod common;
use common::*;
use purenoise::autograd::Tape;
use purenoise::gpu::Gpu;
use purenoise::ops;
use purenoise::ops::norm::BnVars;
use purenoise::optim::Sgd;
use purenoise::params::{BufferId, ParamId, ParamStore};
use purenoise::reference::{self as r, Shape4};

const N: usize = 4;
const C: usize = 6;
const H: usize = 7;
const W: usize = 5;
const K: usize = 5;
const SGD: Sgd = Sgd {
    lr: 0.1,
    momentum: 0.9,
    weight_decay: 5e-4,
};

/// Parameter names and shapes, in the order both networks use.
const PARAMS: [(&str, &[usize]); 8] = [
    ("conv1.weight", &[C, 3, 3, 3]),
    ("bn1.weight", &[C]),
    ("bn1.bias", &[C]),
    ("conv2.weight", &[C, C, 3, 3]),
    ("bn2.weight", &[C]),
    ("bn2.bias", &[C]),
    ("fc.weight", &[K, C]),
    ("fc.bias", &[K]),
];

struct GpuNet {
    params: ParamStore,
    ids: Vec<ParamId>,
    /// running mean, running var of bn1 then bn2
    stats: Vec<BufferId>,
}

fn init(rng: &mut rand_pcg::Pcg64) -> Vec<Vec<f64>> {
    PARAMS
        .iter()
        .map(|(name, shape)| {
            let v = random(rng, shape.iter().product());
            // BN scales near 1 like a real init, but not exactly, so dgamma matters.
            if name.ends_with("bn1.weight") || name.ends_with("bn2.weight") {
                v.iter().map(|x| 1.0 + 0.2 * x).collect()
            } else {
                v
            }
        })
        .collect()
}

impl GpuNet {
    fn new(gpu: &Gpu, init: &[Vec<f64>]) -> GpuNet {
        let mut b = ParamStore::builder();
        let ids = PARAMS
            .iter()
            .zip(init)
            .map(|((name, shape), v)| b.param(name, shape, v.iter().map(|&x| x as f32).collect()))
            .collect();
        let stats = ["bn1", "bn2"]
            .iter()
            .flat_map(|bn| {
                [
                    b.buffer(&format!("{bn}.running_mean"), &[C], vec![0.0; C]),
                    b.buffer(&format!("{bn}.running_var"), &[C], vec![1.0; C]),
                ]
            })
            .collect();
        GpuNet {
            params: b.build(gpu).unwrap(),
            ids,
            stats,
        }
    }

    /// Forward and backward of one batch; returns the loss (gradients land in the store).
    fn step(&self, gpu: &Gpu, x: &[f64], labels: &[u32]) -> f64 {
        let mut tape = Tape::new(gpu);
        let p: Vec<_> = self
            .ids
            .iter()
            .map(|&id| tape.param(&self.params, id))
            .collect();
        let s = |i: usize| self.params.buffer(self.stats[i]);
        let x = tape.constant(upload(gpu, x, &[N, 3, H, W]));
        let labels = ops::loss::upload_labels(gpu, labels, K).unwrap();
        let h = ops::conv2d(&mut tape, &x, &p[0], 1, 1).unwrap();
        let bn1 = BnVars {
            gamma: &p[1],
            beta: &p[2],
            running_mean: s(0),
            running_var: s(1),
        };
        // The first BN -> ReLU fused (its output recomputed for the conv's weight gradient),
        // the second as two ops: both paths must give the reference's gradients.
        let a = ops::batch_norm(&mut tape, &h, bn1, None, None, true, true).unwrap();
        let h = ops::conv2d(&mut tape, &a, &p[3], 1, 1).unwrap();
        let bn2 = BnVars {
            gamma: &p[4],
            beta: &p[5],
            running_mean: s(2),
            running_var: s(3),
        };
        let h = ops::batch_norm(&mut tape, &h, bn2, None, None, true, false).unwrap();
        let b = ops::relu(&mut tape, &h).unwrap();
        let c = ops::residual_add(&mut tape, &a, &b).unwrap();
        let pooled = ops::global_avg_pool(&mut tape, &c).unwrap();
        let logits = ops::linear(&mut tape, &pooled, &p[6], &p[7]).unwrap();
        let loss = ops::cross_entropy(&mut tape, &logits, &labels).unwrap();
        tape.backward(&loss, &self.params).unwrap();
        read(gpu, &loss.value)[0]
    }
}

/// The same network on the CPU in f64: returns (loss, gradients) and updates running stats.
fn reference_step(
    p: &[Vec<f64>],
    running: &mut [Vec<f64>],
    x: &[f64],
    labels: &[u32],
) -> (f64, Vec<Vec<f64>>) {
    let xs: Shape4 = [N, 3, H, W];
    let hs: Shape4 = [N, C, H, W];
    let (w1s, w2s): (Shape4, Shape4) = ([C, 3, 3, 3], [C, C, 3, 3]);
    let m = N * H * W;
    let h1 = r::conv2d_forward(x, xs, &p[0], w1s, 1, 1);
    let (m1, v1) = r::bn_stats(&h1, hs);
    let a = r::relu_forward(&r::bn_apply(&h1, hs, &m1, &v1, &p[1], &p[2]));
    let h2 = r::conv2d_forward(&a, hs, &p[3], w2s, 1, 1);
    let (m2, v2) = r::bn_stats(&h2, hs);
    let b = r::relu_forward(&r::bn_apply(&h2, hs, &m2, &v2, &p[4], &p[5]));
    let c: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let pooled = r::avg_pool_forward(&c, hs);
    let logits = r::linear(&pooled, &p[6], &p[7], N, C, K);
    let (loss, dlogits) = r::cross_entropy(&logits, labels, K);
    for (i, (mean, var)) in [(&m1, &v1), (&m2, &v2)].into_iter().enumerate() {
        let (rm, rv) =
            r::bn_running_update(&running[2 * i], &running[2 * i + 1], mean, var, m, 0.1);
        running[2 * i] = rm;
        running[2 * i + 1] = rv;
    }

    let (dpooled, dfw, dfb) = r::linear_backward(&pooled, &p[6], &dlogits, N, C, K);
    let dc = r::avg_pool_backward(&dpooled, hs);
    let dn2 = r::relu_backward(&b, &dc);
    let dh2 = r::bn_backward_input(&h2, hs, &dn2, &m2, &v2, &p[4], true);
    let (dg2, db2) = r::bn_backward_plane_sums(&h2, hs, &dn2, &m2, &v2);
    let da2 = r::conv2d_backward_input(&dh2, &p[3], w2s, hs, 1, 1);
    let dw2 = r::conv2d_backward_weight(&a, hs, &dh2, w2s, 1, 1);
    let da: Vec<f64> = dc.iter().zip(&da2).map(|(x, y)| x + y).collect();
    let dn1 = r::relu_backward(&a, &da);
    let dh1 = r::bn_backward_input(&h1, hs, &dn1, &m1, &v1, &p[1], true);
    let (dg1, db1) = r::bn_backward_plane_sums(&h1, hs, &dn1, &m1, &v1);
    let dw1 = r::conv2d_backward_weight(x, xs, &dh1, w1s, 1, 1);
    (loss, vec![dw1, dg1, db1, dw2, dg2, db2, dfw, dfb])
}

fn batch(rng: &mut rand_pcg::Pcg64) -> (Vec<f64>, Vec<u32>) {
    let x = random(rng, N * 3 * H * W);
    let labels = (0..N as u32).map(|i| (i * 3 + 1) % K as u32).collect();
    (x, labels)
}

each_mode!(small_network_matches_reference_for_three_sgd_steps);
fn small_network_matches_reference_for_three_sgd_steps(gpu: Gpu) {
    three_sgd_steps(gpu);
}

each_mode!(small_network_with_winograd_matches_reference);
/// The same with all passes of both convolutions tuned to Winograd F(2x2, 3x3), then to
/// F(4x4, 3x3) (ops::conv::winograd; the weight gradients in two parts), as `train --tune` may
/// choose.
fn small_network_with_winograd_matches_reference(gpu: Gpu) {
    use purenoise::gpu::tensor::DType;
    use purenoise::ops::conv::winograd::{self, Variant};
    use purenoise::ops::conv::{choice, choice_text, ConvKernel, ConvShape, Pass, Tile};
    for variant in Variant::ALL {
        for c_in in [3, C] {
            let x = gpu.zeros("test", &[N, c_in, H, W]).unwrap();
            let w = gpu.zeros("test", &[C, c_in, 3, 3]).unwrap();
            let s = ConvShape::new(&x, &w, 1, 1).unwrap();
            for pass in Pass::ALL {
                let [m, n] = winograd::gemm(&s, pass, variant);
                let kernel = ConvKernel::Winograd(variant, Tile::choose(&gpu, m, n));
                let splits = if pass == Pass::BackwardWeight { 2 } else { 1 };
                gpu.set_tuned(
                    s.tuning_key(pass, DType::F32),
                    Some(choice_text(kernel, splits)),
                );
                assert_eq!(choice(&gpu, &s, pass, DType::F32), (kernel, splits));
            }
        }
        three_sgd_steps(gpu.clone());
    }
}

fn three_sgd_steps(gpu: Gpu) {
    let mut rng = rng(20);
    let mut p = init(&mut rng);
    let net = GpuNet::new(&gpu, &p);
    let mut running = vec![vec![0.0; C], vec![1.0; C], vec![0.0; C], vec![1.0; C]];
    let mut v: Vec<Vec<f64>> = p.iter().map(|w| vec![0.0; w.len()]).collect();
    for step in 0..3 {
        let (x, labels) = batch(&mut rng);
        net.params.zero_grad();
        let loss = net.step(&gpu, &x, &labels);
        let (want_loss, grads) = reference_step(&p, &mut running, &x, &labels);
        assert_close(
            &format!("loss at step {step}"),
            &[loss],
            &[want_loss],
            1e-5,
            1e-5,
        );
        for (i, (name, _)) in PARAMS.iter().enumerate() {
            let got = read(&gpu, &net.params.grad(net.ids[i]));
            assert_close(
                &format!("grad of {name} at step {step}"),
                &got,
                &grads[i],
                1e-5,
                1e-3,
            );
            r::sgd(&mut p[i], &grads[i], &mut v[i], 0.1, 0.9, 5e-4);
        }
        SGD.step(&net.params).unwrap();
    }
    for (i, (name, _)) in PARAMS.iter().enumerate() {
        let got = read(&gpu, &net.params.value(net.ids[i]));
        assert_close(&format!("{name} after 3 steps"), &got, &p[i], 1e-5, 1e-4);
    }
    for (i, id) in net.stats.iter().enumerate() {
        assert_close(
            &format!("running stat {i} after 3 steps"),
            &read(&gpu, net.params.buffer(*id)),
            &running[i],
            1e-5,
            1e-4,
        );
    }
}

#[test]
fn backward_releases_activations_and_a_warm_step_allocates_nothing() {
    let gpu = gpu();
    let mut rng = rng(21);
    let net = GpuNet::new(&gpu, &init(&mut rng));
    let (x, labels) = batch(&mut rng);
    let before = gpu.memory_stats();
    net.params.zero_grad();
    net.step(&gpu, &x, &labels);
    SGD.step(&net.params).unwrap();
    let after_first = gpu.memory_stats();
    assert_eq!(
        after_first.in_use, before.in_use,
        "every activation and gradient went back to the pool"
    );
    assert!(
        after_first.peak > before.peak,
        "the step used pooled memory"
    );
    // The pool lends buffers across sizes, so the second step may still settle which tensor
    // takes which buffer (creating one or two); from the third on nothing changes.
    let mut after = Vec::new();
    for _ in 0..3 {
        net.params.zero_grad();
        net.step(&gpu, &x, &labels);
        SGD.step(&net.params).unwrap();
        after.push(gpu.memory_stats());
    }
    assert!(after[0].allocations - after_first.allocations <= 2);
    assert_eq!(
        (after[1].allocations, after[1].peak),
        (after[0].allocations, after[0].peak),
        "a warm step creates no buffers"
    );
    assert_eq!(after[2], after[1]);
}
