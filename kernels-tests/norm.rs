//! Batch norm in its three forms — ordinary, DAR-BN and AuxBN — in training and eval mode, alone
//! and with the fused ReLU, against a reference composed from plain f64 batch norm (and ReLU)
//! applied to the natural and the noise samples separately; gradient checks; the properties the
//! paper relies on; and what the fused op keeps for backward. The same for the fused
//! BN → add shortcut → ReLU of post-activation blocks, against BN, then add and ReLU in f64.

mod common;
use common::*;
use purenoise::autograd::Tape;
use purenoise::gpu::tensor::Tensor;
use purenoise::gpu::Gpu;
use purenoise::ops;
use purenoise::ops::noise::NoiseMask;
use purenoise::ops::norm::{
    batch_norm, batch_norm_add_relu, batch_norm_add_relu_forward, batch_norm_backward,
    batch_norm_eval_forward, batch_norm_recompute, batch_norm_train_forward, unpack_gradients,
    BatchNorm, BnParams, BnVars,
};
use purenoise::params::ParamStore;
use purenoise::reference::{self as r, Shape4};
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Standard,
    DarBn,
    AuxBn,
}

const MODES: [Mode; 3] = [Mode::Standard, Mode::DarBn, Mode::AuxBn];
/// Plane sizes (H·W) on both paths of the per-plane kernels (src/ops/norm.rs, `Plan::walk`):
/// one value per item where H·W is not a multiple of 4 (9, 10, 81, 143, 529, 15, 1) and four
/// where it is (400, 64, 28, 4, 144); and threads per plane, mostly not dividing the plane's
/// items: sized as for a GPU, 8 up to 81 one-value items, 16 at 143, 64 at 529, and with four
/// lanes 8 up to 16 items (64 pixels), 16 at 36, 32 at 100; sized for a CPU adapter, 1 up to 15
/// items (7 and 1 four-value ones too), 2 at 16 four-value items, 4 at 36, 8 at 81 and at 100,
/// 16 at 143, 64 at 529.
/// Plane counts leave the last workgroup's planes partly unused; batches of one, on each path.
/// The batches of 11, 33 and 70 split each channel's samples into 2, 8 and 16 slices in the
/// second stages when work is sized as for a GPU (`ops::column_slices`: bn_stats over N × C,
/// sum_rows over N × 4C; CPU adapters take 1), none a multiple of its slices, with channel
/// counts that leave the last workgroup's channels (256 / slices) partly unused, on 1×1 and 8×8
/// planes.
const SHAPES: [Shape4; 13] = [
    [6, 5, 3, 3],
    [4, 3, 2, 5],
    [3, 17, 9, 9],
    [3, 2, 13, 11],
    [2, 3, 20, 20],
    [2, 2, 23, 23],
    [1, 3, 3, 5],
    [11, 19, 1, 1],
    [33, 35, 8, 8],
    [70, 19, 1, 1],
    [1, 3, 4, 7],
    [5, 7, 2, 2],
    [3, 5, 12, 12],
];

#[derive(Clone)]
struct Layer {
    gamma: Vec<f64>,
    beta: Vec<f64>,
    rm: Vec<f64>,
    rv: Vec<f64>,
}

fn layer(rng: &mut rand_pcg::Pcg64, c: usize) -> Layer {
    Layer {
        gamma: random(rng, c).iter().map(|v| 1.0 + 0.5 * v).collect(),
        beta: random(rng, c),
        rm: random(rng, c),
        rv: random(rng, c).iter().map(|v| v.abs() + 0.5).collect(),
    }
}

/// Natural images around 0 with per-channel offsets; noise samples on another scale, so mixing
/// their statistics up would show.
fn input(rng: &mut rand_pcg::Pcg64, s: Shape4, mask: &[bool]) -> Vec<f64> {
    let per = s[1] * s[2] * s[3];
    random(rng, s.iter().product())
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if mask[i / per] {
                0.5 + 0.2 * v
            } else {
                3.0 * v + ((i / (s[2] * s[3])) % s[1]) as f64
            }
        })
        .collect()
}

fn masks(n: usize, rng: &mut rand_pcg::Pcg64) -> Vec<Vec<bool>> {
    let mut mixed: Vec<bool> = (0..n).map(|_| rng.random_bool(0.4)).collect();
    mixed[0] = false;
    mixed[n - 1] = true;
    vec![
        vec![false; n],
        vec![true; n],
        (0..n).map(|i| i != 1).collect(),     // one natural sample
        (0..n).map(|i| i == n - 1).collect(), // one noise sample
        mixed,
    ]
}

/// One group of samples that share statistics in the reference: which samples, which layer
/// (0 main, 1 aux), whether it updates running statistics and carries gradients.
struct Group {
    samples: Vec<usize>,
    layer: usize,
    keeps_running: bool,
    grad: bool,
}

fn groups(mode: Mode, mask: &[bool]) -> Vec<Group> {
    let pick = |noise: bool| {
        (0..mask.len())
            .filter(|&i| mask[i] == noise)
            .collect::<Vec<_>>()
    };
    let all = (0..mask.len()).collect();
    match mode {
        Mode::Standard => vec![Group {
            samples: all,
            layer: 0,
            keeps_running: true,
            grad: true,
        }],
        Mode::DarBn => vec![
            Group {
                samples: pick(false),
                layer: 0,
                keeps_running: true,
                grad: true,
            },
            Group {
                samples: pick(true),
                layer: 0,
                keeps_running: false,
                grad: false,
            },
        ],
        Mode::AuxBn => vec![
            Group {
                samples: pick(false),
                layer: 0,
                keeps_running: true,
                grad: true,
            },
            Group {
                samples: pick(true),
                layer: 1,
                keeps_running: true,
                grad: true,
            },
        ],
    }
}

struct RefResult {
    y: Vec<f64>,
    layers: [Layer; 2],
    dx: Vec<f64>,
    /// (dgamma, dbeta) of the main and aux layers
    dparams: [(Vec<f64>, Vec<f64>); 2],
}

/// How a case routes samples: the mode, the noise mask, training or eval mode, and whether a
/// ReLU is fused after the batch norm.
#[derive(Clone, Copy)]
struct Setup<'a> {
    mode: Mode,
    mask: &'a [bool],
    training: bool,
    relu: bool,
}

/// The reference: plain batch norm (then ReLU) applied to each group on its own.
fn reference(setup: Setup, s: Shape4, x: &[f64], dy: &[f64], layers: &[Layer; 2]) -> RefResult {
    let Setup {
        mode,
        mask,
        training,
        relu,
    } = setup;
    let c = s[1];
    let mut out = RefResult {
        y: vec![0.0; x.len()],
        layers: layers.clone(),
        dx: vec![0.0; x.len()],
        dparams: [(vec![0.0; c], vec![0.0; c]), (vec![0.0; c], vec![0.0; c])],
    };
    for g in groups(mode, mask) {
        if g.samples.is_empty() {
            continue;
        }
        let l = &layers[g.layer];
        let (xs, ss) = r::gather(x, s, &g.samples);
        let (mut dys, _) = r::gather(dy, s, &g.samples);
        let (mean, var) = if training {
            r::bn_stats(&xs, ss)
        } else {
            (l.rm.clone(), l.rv.clone())
        };
        let mut ys = r::bn_apply(&xs, ss, &mean, &var, &l.gamma, &l.beta);
        if relu {
            ys = r::relu_forward(&ys);
            dys = r::relu_backward(&ys, &dys);
        }
        r::scatter(&mut out.y, s, &g.samples, &ys);
        let count = ss[0] * ss[2] * ss[3];
        if training && g.keeps_running && count >= 2 {
            let (rm, rv) = r::bn_running_update(&l.rm, &l.rv, &mean, &var, count, 0.1);
            out.layers[g.layer].rm = rm;
            out.layers[g.layer].rv = rv;
        }
        if g.grad {
            let dx = r::bn_backward_input(&xs, ss, &dys, &mean, &var, &l.gamma, training);
            let (dg, db) = r::bn_backward_plane_sums(&xs, ss, &dys, &mean, &var);
            r::scatter(&mut out.dx, s, &g.samples, &dx);
            out.dparams[g.layer] = (dg, db);
        }
    }
    out
}

struct GpuLayer {
    gamma: Tensor,
    beta: Tensor,
    rm: Tensor,
    rv: Tensor,
}

impl GpuLayer {
    fn new(gpu: &Gpu, l: &Layer) -> GpuLayer {
        let c = [l.gamma.len()];
        GpuLayer {
            gamma: upload(gpu, &l.gamma, &c),
            beta: upload(gpu, &l.beta, &c),
            rm: upload(gpu, &l.rm, &c),
            rv: upload(gpu, &l.rv, &c),
        }
    }

    fn params(&self) -> BnParams<'_> {
        BnParams {
            gamma: &self.gamma,
            beta: &self.beta,
            running_mean: &self.rm,
            running_var: &self.rv,
        }
    }
}

struct GpuResult {
    y: Vec<f64>,
    running: [[Vec<f64>; 2]; 2],
    dx: Vec<f64>,
    dparams: [[Vec<f64>; 2]; 2],
}

/// The batch norm on the GPU with x, y, dy and dx stored as `dtype` (x and dy must be values
/// it holds: `stored`).
fn run_gpu(
    gpu: &Gpu,
    setup: Setup,
    s: Shape4,
    [x, dy]: [&[f64]; 2],
    layers: &[Layer; 2],
    dtype: DType,
) -> GpuResult {
    let Setup {
        mode,
        mask,
        training,
        relu,
    } = setup;
    let g = [
        GpuLayer::new(gpu, &layers[0]),
        GpuLayer::new(gpu, &layers[1]),
    ];
    let noise_mask = NoiseMask::new(gpu, mask).unwrap();
    let bn = BatchNorm {
        main: g[0].params(),
        aux: (mode == Mode::AuxBn).then(|| g[1].params()),
        mask: (mode != Mode::Standard).then_some(&noise_mask),
        relu,
    };
    let xt = upload_as(gpu, x, &s, dtype);
    let [y, stats] = if training {
        batch_norm_train_forward(gpu, &xt, &bn)
    } else {
        batch_norm_eval_forward(gpu, &xt, &bn)
    }
    .unwrap();
    // What backward rebuilds for a convolution's weight gradient must be the forward's output.
    let again = batch_norm_recompute(gpu, &xt, &stats, &bn).unwrap();
    assert_eq!(read(gpu, &again), read(gpu, &y), "recomputed output");
    let [dx, dterms] = batch_norm_backward(
        gpu,
        &xt,
        &upload_as(gpu, dy, &s, dtype),
        &stats,
        &bn,
        training,
    )
    .unwrap();
    let grads = unpack_gradients(gpu, &dterms).unwrap();
    GpuResult {
        y: read(gpu, &y),
        running: g.each_ref().map(|l| [read(gpu, &l.rm), read(gpu, &l.rv)]),
        dx: read(gpu, &dx),
        dparams: grads
            .each_ref()
            .map(|[dg, db]| [read(gpu, dg), read(gpu, db)]),
    }
}

/// y and dx are stored as `dtype` (`tolerance`); the statistics and dγ/dβ are f32 sums in both
/// precisions.
fn compare(case: &str, got: &GpuResult, want: &RefResult, aux_used: bool, dtype: DType) {
    let (atol, rtol) = tolerance(dtype, 1e-4, 1e-4);
    assert_close(&format!("y {case}"), &got.y, &want.y, atol, rtol);
    let (atol, rtol) = tolerance(dtype, 1e-4, 1e-3);
    assert_close(&format!("dx {case}"), &got.dx, &want.dx, atol, rtol);
    for l in 0..if aux_used { 2 } else { 1 } {
        assert_close(
            &format!("running_mean[{l}] {case}"),
            &got.running[l][0],
            &want.layers[l].rm,
            1e-5,
            1e-4,
        );
        assert_close(
            &format!("running_var[{l}] {case}"),
            &got.running[l][1],
            &want.layers[l].rv,
            1e-5,
            1e-4,
        );
        assert_close(
            &format!("dgamma[{l}] {case}"),
            &got.dparams[l][0],
            &want.dparams[l].0,
            1e-4,
            1e-3,
        );
        assert_close(
            &format!("dbeta[{l}] {case}"),
            &got.dparams[l][1],
            &want.dparams[l].1,
            1e-4,
            1e-3,
        );
    }
}

each_mode_and_precision!(every_mode_matches_the_reference_on_every_mask);
fn every_mode_matches_the_reference_on_every_mask(gpu: Gpu, dtype: DType) {
    let mut rng = rng(40);
    // Sized for this adapter, then as for a GPU (the second stages' slices, even on lavapipe).
    for (s, as_gpu) in SHAPES.iter().flat_map(|&s| [(s, false), (s, true)]) {
        gpu.set_size_as_gpu(as_gpu);
        for mask in masks(s[0], &mut rng) {
            for mode in MODES {
                for (training, relu) in [(true, false), (false, false), (true, true), (false, true)]
                {
                    let layers = [layer(&mut rng, s[1]), layer(&mut rng, s[1])];
                    let x = stored(dtype, &input(&mut rng, s, &mask));
                    let dy = stored(dtype, &random(&mut rng, x.len()));
                    let setup = Setup {
                        mode,
                        mask: &mask,
                        training,
                        relu,
                    };
                    let got = run_gpu(&gpu, setup, s, [&x, &dy], &layers, dtype);
                    let want = reference(setup, s, &x, &dy, &layers);
                    let case = format!(
                        "{mode:?} {s:?} mask {mask:?} training {training} relu {relu} \
                         sized as for a GPU {as_gpu} {dtype:?}"
                    );
                    compare(&case, &got, &want, mode == Mode::AuxBn, dtype);
                }
            }
        }
    }
}

each_mode_and_precision!(statistics_stay_accurate_when_the_mean_dwarfs_the_spread);
/// Channels whose mean is large next to their spread (offsets up to 3000, noise ±0.1), in both
/// slots: the batch statistics keep the two-pass accuracy, where E[x²] − E[x]² in f32 loses the
/// variance to cancellation (checked below: it misses by far more than the tolerance). With f16
/// activations (which cannot hold ±0.1 around 3000: their step there is 2) offsets up to 750
/// and steps of 0.5 (exact in f16 there), so the statistics still come from f16 inputs summed in
/// f32 and the one-pass formula still fails.
fn statistics_stay_accurate_when_the_mean_dwarfs_the_spread(gpu: Gpu, dtype: DType) {
    let mut rng = rng(46);
    let mut naive_error: f64 = 0.0;
    // The second: 37 samples in 8 slices per channel when sized as for a GPU (bn_stats'
    // parallel combination). The last two: planes of four-value items, summed per lane.
    for (s, as_gpu) in [
        ([6, 3, 13, 11], false),
        ([37, 5, 11, 13], false),
        ([37, 5, 11, 13], true),
        ([6, 3, 12, 12], false),
        ([37, 5, 12, 12], true),
    ] {
        gpu.set_size_as_gpu(as_gpu);
        let mask: Vec<bool> = (0..s[0]).map(|n| n % 3 == 1).collect();
        naive_error = naive_error.max(mean_dwarfs_spread_case(&gpu, &mut rng, s, &mask, dtype));
    }
    assert!(
        naive_error > 100.0 * 1e-3,
        "E[x²] − E[x]² in f32 is only off by {naive_error} here: the case tests nothing"
    );
}

/// One shape of the test above; returns the relative error of the one-pass f32 formula.
fn mean_dwarfs_spread_case(
    gpu: &Gpu,
    rng: &mut rand_pcg::Pcg64,
    s: Shape4,
    mask: &[bool],
    dtype: DType,
) -> f64 {
    let per = s[1] * s[2] * s[3];
    let (natural, noise, step) = match dtype {
        DType::F16 => (250.0, -125.0, 0.5),
        _ => (1000.0, -500.0, 0.0),
    };
    // f16: spreads of whole steps of 0.5 (-1 … 1); f32: ±0.1.
    let spread = |v: f64| match step {
        0.0 => 0.1 * v,
        _ => (2.0 * v).round() * step,
    };
    // Values as the GPU holds them, widened to f64 for the reference.
    let x: Vec<f64> = random(rng, s.iter().product())
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = (i / (s[2] * s[3])) % s[1];
            let offset = if mask[i / per] { noise } else { natural } * (c % 3 + 1) as f64;
            offset + spread(*v)
        })
        .collect();
    let x = stored(dtype, &x);
    let layers = [layer(rng, s[1]), layer(rng, s[1])].map(|l| GpuLayer::new(gpu, &l));
    let noise_mask = NoiseMask::new(gpu, mask).unwrap();
    let bn = BatchNorm {
        main: layers[0].params(),
        aux: Some(layers[1].params()),
        mask: Some(&noise_mask),
        relu: false,
    };
    let [_, stats] = batch_norm_train_forward(gpu, &upload_as(gpu, &x, &s, dtype), &bn).unwrap();
    let stats = read(gpu, &stats);
    let c = s[1];
    let mut naive_error: f64 = 0.0;
    for slot in 0..2 {
        let samples: Vec<usize> = (0..s[0]).filter(|&n| mask[n] == (slot == 1)).collect();
        let (xs, ss) = r::gather(&x, s, &samples);
        let (mean, var) = r::bn_stats(&xs, ss);
        let got_mean = &stats[slot * c..(slot + 1) * c];
        let got_var = &stats[(2 + slot) * c..(3 + slot) * c];
        assert_close(
            &format!("mean of slot {slot}, {s:?}"),
            got_mean,
            &mean,
            0.0,
            1e-6,
        );
        assert_close(
            &format!("var of slot {slot}, {s:?}"),
            got_var,
            &var,
            0.0,
            1e-3,
        );
        // The one-pass formula in f32, summed in order.
        let m = (ss[0] * ss[2] * ss[3]) as f32;
        for ch in 0..c {
            let (mut sum, mut sum_sq) = (0.0f32, 0.0f32);
            for n in 0..ss[0] {
                for j in 0..ss[2] * ss[3] {
                    let v = xs[(n * c + ch) * ss[2] * ss[3] + j] as f32;
                    sum += v;
                    sum_sq += v * v;
                }
            }
            let naive = sum_sq / m - (sum / m) * (sum / m);
            naive_error = naive_error.max((f64::from(naive) - var[ch]).abs() / var[ch]);
        }
    }
    naive_error
}

each_mode!(darbn_running_statistics_are_those_of_plain_bn_over_the_natural_samples);
fn darbn_running_statistics_are_those_of_plain_bn_over_the_natural_samples(gpu: Gpu) {
    let mut rng = rng(41);
    let s = [8, 4, 3, 3];
    let mask = [false, true, true, false, false, true, false, true];
    let layers = [layer(&mut rng, 4), layer(&mut rng, 4)];
    let x = input(&mut rng, s, &mask);
    let got = run_gpu(
        &gpu,
        Setup {
            mode: Mode::DarBn,
            mask: &mask,
            training: true,
            relu: false,
        },
        s,
        [&x, &vec![0.0; x.len()]],
        &layers,
        DType::F32,
    );
    let natural: Vec<usize> = (0..8).filter(|&i| !mask[i]).collect();
    let (xn, sn) = r::gather(&x, s, &natural);
    let (mean, var) = r::bn_stats(&xn, sn);
    let (rm, rv) = r::bn_running_update(
        &layers[0].rm,
        &layers[0].rv,
        &mean,
        &var,
        natural.len() * 9,
        0.1,
    );
    assert_close("running mean", &got.running[0][0], &rm, 1e-5, 1e-5);
    assert_close("running var", &got.running[0][1], &rv, 1e-5, 1e-4);
}

each_mode!(darbn_without_noise_is_exactly_ordinary_bn);
fn darbn_without_noise_is_exactly_ordinary_bn(gpu: Gpu) {
    let mut rng = rng(42);
    let s = [5, 6, 4, 3];
    let mask = [false; 5];
    let layers = [layer(&mut rng, 6), layer(&mut rng, 6)];
    let x = input(&mut rng, s, &mask);
    let dy = random(&mut rng, x.len());
    for (training, relu) in [(true, false), (false, false), (true, true)] {
        let plain = run_gpu(
            &gpu,
            Setup {
                mode: Mode::Standard,
                mask: &mask,
                training,
                relu,
            },
            s,
            [&x, &dy],
            &layers,
            DType::F32,
        );
        let routed = run_gpu(
            &gpu,
            Setup {
                mode: Mode::DarBn,
                mask: &mask,
                training,
                relu,
            },
            s,
            [&x, &dy],
            &layers,
            DType::F32,
        );
        assert_eq!(plain.y, routed.y);
        assert_eq!(plain.dx, routed.dx);
        assert_eq!(plain.running[0], routed.running[0]);
        assert_eq!(plain.dparams[0], routed.dparams[0]);
    }
}

each_mode!(darbn_noise_branch_carries_no_gradient);
fn darbn_noise_branch_carries_no_gradient(gpu: Gpu) {
    let mut rng = rng(43);
    let s = [6, 3, 3, 3];
    let mask = [false, true, false, true, true, false];
    let layers = [layer(&mut rng, 3), layer(&mut rng, 3)];
    let x = input(&mut rng, s, &mask);
    let dy = random(&mut rng, x.len());
    let base = run_gpu(
        &gpu,
        Setup {
            mode: Mode::DarBn,
            mask: &mask,
            training: true,
            relu: false,
        },
        s,
        [&x, &dy],
        &layers,
        DType::F32,
    );
    let per = 27;
    for n in (0..6).filter(|&n| mask[n]) {
        assert!(
            base.dx[n * per..(n + 1) * per].iter().all(|&g| g == 0.0),
            "noise sample {n} got a gradient"
        );
    }
    // Changing the loss on noise samples changes no gradient at all.
    let mut dy2 = dy.clone();
    for (i, g) in dy2.iter_mut().enumerate() {
        if mask[i / per] {
            *g += 10.0;
        }
    }
    let changed = run_gpu(
        &gpu,
        Setup {
            mode: Mode::DarBn,
            mask: &mask,
            training: true,
            relu: false,
        },
        s,
        [&x, &dy2],
        &layers,
        DType::F32,
    );
    assert_eq!(base.dx, changed.dx);
    assert_eq!(base.dparams[0], changed.dparams[0]);
}

each_mode!(gradients_match_finite_differences);
/// On a plane of one-value items (2×3) and one of four-value items (2×4).
fn gradients_match_finite_differences(gpu: Gpu) {
    let mut rng = rng(44);
    let mask = [false, true, false, false, true];
    for (s, mode) in [[5, 2, 2, 3], [5, 3, 2, 4]]
        .into_iter()
        .flat_map(|s| MODES.map(|mode| (s, mode)))
    {
        let per = s[1] * s[2] * s[3];
        for (training, relu) in [(true, false), (false, false), (true, true), (false, true)] {
            let layers = [layer(&mut rng, s[1]), layer(&mut rng, s[1])];
            let x = input(&mut rng, s, &mask);
            let mut dy = random(&mut rng, x.len());
            if mode == Mode::DarBn {
                // DAR-BN's gradient is that of the natural outputs alone (noise is under no_grad).
                for (i, g) in dy.iter_mut().enumerate() {
                    if mask[i / per] {
                        *g = 0.0;
                    }
                }
            }
            let got = run_gpu(
                &gpu,
                Setup {
                    mode,
                    mask: &mask,
                    training,
                    relu,
                },
                s,
                [&x, &dy],
                &layers,
                DType::F32,
            );
            let case = format!("{mode:?} {s:?} training {training} relu {relu}");
            let forward = |x: &[f64], layers: &[Layer; 2]| {
                reference(
                    Setup {
                        mode,
                        mask: &mask,
                        training,
                        relu,
                    },
                    s,
                    x,
                    &dy,
                    layers,
                )
                .y
            };
            let numeric_dx = numeric_grad(&x, |x| dot(&dy, &forward(x, &layers)));
            if mode == Mode::DarBn {
                // Finite differences see the natural outputs only (dy is 0 on noise), but still
                // move noise inputs, whose own statistics do not reach natural outputs: so the
                // numeric gradient on noise inputs is 0 as well.
                assert!(numeric_dx
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask[i / per])
                    .all(|(_, g)| g.abs() < 1e-6));
            }
            assert_close(&format!("dx fd {case}"), &got.dx, &numeric_dx, 1e-3, 1e-3);
            check_param_grads(mode, &layers, &got.dparams, &case, |ls| {
                dot(&dy, &forward(&x, ls))
            });
        }
    }
}

/// γ and β gradients (each layer the mode uses) against central differences of `loss`.
fn check_param_grads(
    mode: Mode,
    layers: &[Layer; 2],
    dparams: &[[Vec<f64>; 2]; 2],
    case: &str,
    loss: impl Fn(&[Layer; 2]) -> f64,
) {
    for l in 0..if mode == Mode::AuxBn { 2 } else { 1 } {
        let with = |f: &dyn Fn(&mut Layer, &[f64]), v: &[f64]| {
            let mut ls = layers.clone();
            f(&mut ls[l], v);
            loss(&ls)
        };
        let dg = numeric_grad(&layers[l].gamma, |g| with(&|l, v| l.gamma = v.to_vec(), g));
        let db = numeric_grad(&layers[l].beta, |b| with(&|l, v| l.beta = v.to_vec(), b));
        assert_close(
            &format!("dgamma[{l}] fd {case}"),
            &dparams[l][0],
            &dg,
            1e-3,
            1e-3,
        );
        assert_close(
            &format!("dbeta[{l}] fd {case}"),
            &dparams[l][1],
            &db,
            1e-3,
            1e-3,
        );
    }
}

/// x -> BN -> ReLU -> conv -> pool -> cross-entropy on the tape, DAR-BN routed, the BN and ReLU
/// fused or as two ops. Returns the gradients (x, gamma, beta, conv weight) and the bytes the
/// pool got back when the model dropped the ReLU's output after the conv consumed it.
fn bn_relu_conv_step(gpu: &Gpu, fused: bool) -> (Vec<Vec<f64>>, u64) {
    let mut rng = rng(45);
    let (s, k) = ([3, 4, 5, 3], 3);
    let mask = [false, true, false];
    let l = layer(&mut rng, s[1]);
    let mut b = ParamStore::builder();
    let x_id = b.param("x", &s, f32s(&input(&mut rng, s, &mask)));
    let gamma_id = b.param("bn.weight", &[s[1]], f32s(&l.gamma));
    let beta_id = b.param("bn.bias", &[s[1]], f32s(&l.beta));
    let w_id = b.param(
        "conv.weight",
        &[k, s[1], 3, 3],
        f32s(&random(&mut rng, k * s[1] * 9)),
    );
    let rm = b.buffer("bn.running_mean", &[s[1]], f32s(&l.rm));
    let rv = b.buffer("bn.running_var", &[s[1]], f32s(&l.rv));
    let params = b.build(gpu).unwrap();
    let noise = NoiseMask::new(gpu, &mask).unwrap();
    let labels = ops::loss::upload_labels(gpu, &[0, 2, 1], k).unwrap();
    let mut tape = Tape::new(gpu);
    let [x, gamma, beta, w] = [x_id, gamma_id, beta_id, w_id].map(|id| tape.param(&params, id));
    let vars = BnVars {
        gamma: &gamma,
        beta: &beta,
        running_mean: params.buffer(rm),
        running_var: params.buffer(rv),
    };
    let a = if fused {
        batch_norm(&mut tape, &x, vars, None, Some(&noise), true, true).unwrap()
    } else {
        let h = batch_norm(&mut tape, &x, vars, None, Some(&noise), true, false).unwrap();
        ops::relu(&mut tape, &h).unwrap()
    };
    let h = ops::conv2d(&mut tape, &a, &w, 1, 1).unwrap();
    let in_use = gpu.memory_stats().in_use;
    drop(a);
    let released = in_use - gpu.memory_stats().in_use;
    let pooled = ops::global_avg_pool(&mut tape, &h).unwrap();
    let loss = ops::cross_entropy(&mut tape, &pooled, &labels).unwrap();
    tape.backward(&loss, &params).unwrap();
    let grads = [x_id, gamma_id, beta_id, w_id].map(|id| read(gpu, &params.grad(id)));
    (grads.to_vec(), released)
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

each_mode!(fused_relu_keeps_no_output_and_gives_the_same_gradients_as_bn_then_relu);
fn fused_relu_keeps_no_output_and_gives_the_same_gradients_as_bn_then_relu(gpu: Gpu) {
    let (fused, released) = bn_relu_conv_step(&gpu, true);
    let (separate, kept) = bn_relu_conv_step(&gpu, false);
    let output_bytes = 3 * 4 * 5 * 3 * 4;
    // Fused, the conv keeps the recipe (x and the statistics, kept anyway), not the output.
    assert_eq!(released, output_bytes, "fused output not released");
    assert_eq!(
        kept, 0,
        "the unfused ReLU output should be kept by the conv"
    );
    for (name, (f, s)) in ["dx", "dgamma", "dbeta", "dweight"]
        .iter()
        .zip(fused.iter().zip(&separate))
    {
        assert_close(name, f, s, 1e-6, 1e-5);
    }
}

/// The reference of BN → add `r` → ReLU: `reference` without ReLU, the sum and ReLU in f64, and
/// the batch norm's backward fed the ReLU-masked gradient; returns it and that masked gradient
/// (the residual's).
fn reference_add_relu(
    setup: Setup,
    s: Shape4,
    x: &[f64],
    r: &[f64],
    dy: &[f64],
    layers: &[Layer; 2],
) -> (RefResult, Vec<f64>) {
    let plain = Setup {
        relu: false,
        ..setup
    };
    let bn = reference(plain, s, x, &vec![0.0; x.len()], layers);
    let y = r::add(&bn.y, r, true);
    let masked = r::relu_backward(&y, dy);
    let mut out = reference(plain, s, x, &masked, layers);
    out.y = y;
    (out, masked)
}

/// The fused BN → add → ReLU kernel on the GPU (`setup.relu` is implied), and its backward as the
/// tape runs it (`residual_add_relu`'s, then the batch norm's without a gate); returns the
/// results and the residual's gradient.
fn run_gpu_add_relu(
    gpu: &Gpu,
    setup: Setup,
    s: Shape4,
    [x, r, dy]: [&[f64]; 3],
    layers: &[Layer; 2],
    dtype: DType,
) -> (GpuResult, Vec<f64>) {
    let g = [
        GpuLayer::new(gpu, &layers[0]),
        GpuLayer::new(gpu, &layers[1]),
    ];
    let noise_mask = NoiseMask::new(gpu, setup.mask).unwrap();
    let bn = BatchNorm {
        main: g[0].params(),
        aux: (setup.mode == Mode::AuxBn).then(|| g[1].params()),
        mask: (setup.mode != Mode::Standard).then_some(&noise_mask),
        relu: true,
    };
    let xt = upload_as(gpu, x, &s, dtype);
    let rt = upload_as(gpu, r, &s, dtype);
    let [y, stats] = batch_norm_add_relu_forward(gpu, &xt, &rt, &bn, setup.training).unwrap();
    let dyt = upload_as(gpu, dy, &s, dtype);
    let dr = ops::activation::relu_backward(gpu, &y, &dyt).unwrap();
    let plain = BatchNorm { relu: false, ..bn };
    let [dx, dterms] = batch_norm_backward(gpu, &xt, &dr, &stats, &plain, setup.training).unwrap();
    let grads = unpack_gradients(gpu, &dterms).unwrap();
    let result = GpuResult {
        y: read(gpu, &y),
        running: g.each_ref().map(|l| [read(gpu, &l.rm), read(gpu, &l.rv)]),
        dx: read(gpu, &dx),
        dparams: grads
            .each_ref()
            .map(|[dg, db]| [read(gpu, dg), read(gpu, db)]),
    };
    (result, read(gpu, &dr))
}

/// A residual of the size of the normalized values, so that the sum crosses 0 often.
fn residual(rng: &mut rand_pcg::Pcg64, len: usize) -> Vec<f64> {
    random(rng, len).iter().map(|v| 1.5 * v).collect()
}

each_mode_and_precision!(add_relu_matches_the_reference_on_every_mask);
fn add_relu_matches_the_reference_on_every_mask(gpu: Gpu, dtype: DType) {
    let mut rng = rng(47);
    for s in SHAPES {
        for mask in masks(s[0], &mut rng) {
            for mode in MODES {
                for training in [true, false] {
                    let layers = [layer(&mut rng, s[1]), layer(&mut rng, s[1])];
                    let x = stored(dtype, &input(&mut rng, s, &mask));
                    let r = stored(dtype, &residual(&mut rng, x.len()));
                    let dy = stored(dtype, &random(&mut rng, x.len()));
                    let setup = Setup {
                        mode,
                        mask: &mask,
                        training,
                        relu: true,
                    };
                    let (got, got_dr) =
                        run_gpu_add_relu(&gpu, setup, s, [&x, &r, &dy], &layers, dtype);
                    let (want, want_dr) = reference_add_relu(setup, s, &x, &r, &dy, &layers);
                    let case =
                        format!("{mode:?} {s:?} mask {mask:?} training {training} {dtype:?}");
                    assert!(
                        want.y.contains(&0.0) && want.y.iter().any(|&v| v > 0.0),
                        "{case}: the ReLU should cut some sums and pass others"
                    );
                    compare(
                        &format!("add+relu {case}"),
                        &got,
                        &want,
                        mode == Mode::AuxBn,
                        dtype,
                    );
                    assert_close(&format!("dresidual {case}"), &got_dr, &want_dr, 1e-5, 1e-5);
                }
            }
        }
    }
}

each_mode!(add_relu_gradients_match_finite_differences);
fn add_relu_gradients_match_finite_differences(gpu: Gpu) {
    let mut rng = rng(48);
    let s = [5, 2, 2, 3];
    let mask = [false, true, false, false, true];
    let per = 12;
    for mode in MODES {
        for training in [true, false] {
            let layers = [layer(&mut rng, 2), layer(&mut rng, 2)];
            let x = input(&mut rng, s, &mask);
            let r = residual(&mut rng, x.len());
            let mut dy = random(&mut rng, x.len());
            if mode == Mode::DarBn {
                // As in gradients_match_finite_differences: noise outputs are under no_grad.
                for (i, g) in dy.iter_mut().enumerate() {
                    if mask[i / per] {
                        *g = 0.0;
                    }
                }
            }
            let setup = Setup {
                mode,
                mask: &mask,
                training,
                relu: true,
            };
            let (got, got_dr) =
                run_gpu_add_relu(&gpu, setup, s, [&x, &r, &dy], &layers, DType::F32);
            let case = format!("{mode:?} training {training}");
            let loss = |x: &[f64], r: &[f64], layers: &[Layer; 2]| {
                dot(&dy, &reference_add_relu(setup, s, x, r, &dy, layers).0.y)
            };
            let numeric_dx = numeric_grad(&x, |x| loss(x, &r, &layers));
            assert_close(&format!("dx fd {case}"), &got.dx, &numeric_dx, 1e-3, 1e-3);
            let numeric_dr = numeric_grad(&r, |r| loss(&x, r, &layers));
            assert_close(
                &format!("dresidual fd {case}"),
                &got_dr,
                &numeric_dr,
                1e-3,
                1e-3,
            );
            check_param_grads(mode, &layers, &got.dparams, &case, |ls| loss(&x, &r, ls));
        }
    }
}

/// x, shortcut -> BN -> add -> ReLU -> pool -> cross-entropy on the tape in every mode, fused
/// (`batch_norm_add_relu`) or as BN then `residual_add_relu`; returns the gradients of x, the
/// shortcut, and each layer's gamma and beta.
fn bn_add_relu_step(gpu: &Gpu, mode: Mode, fused: bool) -> Vec<Vec<f64>> {
    let mut rng = rng(49);
    let s = [4, 3, 5, 3];
    let mask = [false, true, false, true];
    let ls = [layer(&mut rng, s[1]), layer(&mut rng, s[1])];
    let mut b = ParamStore::builder();
    let x_id = b.param("x", &s, f32s(&input(&mut rng, s, &mask)));
    let r_id = b.param("r", &s, f32s(&residual(&mut rng, s.iter().product())));
    let ids = ["bn", "bn_noise"].map(|name| {
        let c = [s[1]];
        let l = &ls[usize::from(name != "bn")];
        (
            b.param(&format!("{name}.weight"), &c, f32s(&l.gamma)),
            b.param(&format!("{name}.bias"), &c, f32s(&l.beta)),
            b.buffer(&format!("{name}.running_mean"), &c, f32s(&l.rm)),
            b.buffer(&format!("{name}.running_var"), &c, f32s(&l.rv)),
        )
    });
    let params = b.build(gpu).unwrap();
    let noise = NoiseMask::new(gpu, &mask).unwrap();
    let labels = ops::loss::upload_labels(gpu, &[0, 2, 1, 1], s[1]).unwrap();
    let mut tape = Tape::new(gpu);
    let [x, r] = [x_id, r_id].map(|id| tape.param(&params, id));
    let gb = ids.map(|(g, b, _, _)| [g, b].map(|id| tape.param(&params, id)));
    let vars = |l: usize| BnVars {
        gamma: &gb[l][0],
        beta: &gb[l][1],
        running_mean: params.buffer(ids[l].2),
        running_var: params.buffer(ids[l].3),
    };
    let aux = (mode == Mode::AuxBn).then(|| vars(1));
    let routing = (mode != Mode::Standard).then_some(&noise);
    let h = if fused {
        batch_norm_add_relu(&mut tape, &x, &r, vars(0), aux, routing, true).unwrap()
    } else {
        let y = batch_norm(&mut tape, &x, vars(0), aux, routing, true, false).unwrap();
        ops::residual_add_relu(&mut tape, &y, &r).unwrap()
    };
    let pooled = ops::global_avg_pool(&mut tape, &h).unwrap();
    let loss = ops::cross_entropy(&mut tape, &pooled, &labels).unwrap();
    tape.backward(&loss, &params).unwrap();
    let mut grads = vec![read(gpu, &params.grad(x_id)), read(gpu, &params.grad(r_id))];
    for (g, b, _, _) in ids {
        grads.extend([read(gpu, &params.grad(g)), read(gpu, &params.grad(b))]);
    }
    grads
}

each_mode!(fused_add_relu_on_the_tape_gives_the_gradients_of_bn_then_add_relu);
fn fused_add_relu_on_the_tape_gives_the_gradients_of_bn_then_add_relu(gpu: Gpu) {
    let names = [
        "dx",
        "dshortcut",
        "dgamma",
        "dbeta",
        "aux dgamma",
        "aux dbeta",
    ];
    for mode in MODES {
        let fused = bn_add_relu_step(&gpu, mode, true);
        let separate = bn_add_relu_step(&gpu, mode, false);
        assert!(
            fused[1].iter().any(|&g| g != 0.0),
            "{mode:?}: the shortcut got no gradient: the case tests nothing"
        );
        for (name, (f, s)) in names.iter().zip(fused.iter().zip(&separate)) {
            assert_close(&format!("{name} {mode:?}"), f, s, 1e-6, 1e-5);
        }
    }
}

#[test]
fn bad_input_is_named() {
    let gpu = gpu();
    let c3 = gpu.zeros("test", &[3]).unwrap();
    let p = BnParams {
        gamma: &c3,
        beta: &c3,
        running_mean: &c3,
        running_var: &c3,
    };
    let plain = BatchNorm {
        main: p,
        aux: None,
        mask: None,
        relu: false,
    };
    let x = gpu.zeros("test", &[1, 3, 1, 1]).unwrap();
    let msg = batch_norm_train_forward(&gpu, &x, &plain)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("more than one value per channel"), "{msg}");
    let x = gpu.zeros("test", &[2, 4, 2, 2]).unwrap();
    let msg = batch_norm_train_forward(&gpu, &x, &plain)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("`gamma` must have shape [4], got [3]"),
        "{msg}"
    );
    let x = gpu.zeros("test", &[2, 3, 2, 2]).unwrap();
    let mask = NoiseMask::new(&gpu, &[true, false, false]).unwrap();
    let routed = BatchNorm {
        mask: Some(&mask),
        ..plain
    };
    let msg = batch_norm_train_forward(&gpu, &x, &routed)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("batch_norm") && msg.contains("noise mask has 3 entries but the batch has 2"),
        "{msg}"
    );
    let c4 = gpu.zeros("test", &[4]).unwrap();
    let aux = BnParams { gamma: &c4, ..p };
    let msg = batch_norm_train_forward(
        &gpu,
        &x,
        &BatchNorm {
            aux: Some(aux),
            ..routed
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        msg.contains("`aux gamma` must have shape [3], got [4]"),
        "{msg}"
    );
    let x = gpu.zeros("test", &[2, 3, 2, 2]).unwrap();
    let wrong = gpu.zeros("test", &[2, 3, 2, 1]).unwrap();
    let with_relu = BatchNorm {
        relu: true,
        ..plain
    };
    let msg = batch_norm_add_relu_forward(&gpu, &x, &wrong, &with_relu, true)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("`residual` must have shape [2, 3, 2, 2], got [2, 3, 2, 1]"),
        "{msg}"
    );
    let msg = batch_norm_add_relu_forward(&gpu, &x, &x, &plain, true)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("relu: true"), "{msg}");
}
