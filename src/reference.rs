//! Plain-Rust f64 references for every kernel: the simplest loops that compute the same thing,
//! against which the GPU kernels are tested (the llm.c way). Each is named after the kernel it
//! checks (`conv2d_backward_input` checks shaders/conv2d_backward_input.wgsl); each shader's
//! header names its reference and its test (`// Reference:`, `// Test:`), and
//! kernels-tests/shaders.rs checks that both exist. Layouts match the kernels (NCHW, row-major);
//! shapes are passed alongside the flat data.

/// [N, C, H, W]
pub type Shape4 = [usize; 4];

/// Batch norm's epsilon (PyTorch's default).
pub const BN_EPS: f64 = 1e-5;

fn at(s: Shape4, n: usize, c: usize, y: usize, x: usize) -> usize {
    ((n * s[1] + c) * s[2] + y) * s[3] + x
}

/// Output height/width of a convolution.
pub fn conv_out(size: usize, k: usize, stride: usize, pad: usize) -> usize {
    (size + 2 * pad - k) / stride + 1
}

/// The input pixel a kernel tap reads, or None in the zero padding.
fn tap(o: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    (o * stride + k).checked_sub(pad).filter(|&i| i < size)
}

/// Calls `f(x index, w index, y index)` for every multiply-add of a convolution (taps that land
/// in the zero padding are skipped).
fn conv_taps(
    xs: Shape4,
    ws: Shape4,
    stride: usize,
    pad: usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    let (ho, wo) = (
        conv_out(xs[2], ws[2], stride, pad),
        conv_out(xs[3], ws[3], stride, pad),
    );
    let ys = [xs[0], ws[0], ho, wo];
    for n in 0..xs[0] {
        for co in 0..ws[0] {
            for oy in 0..ho {
                for ox in 0..wo {
                    for ci in 0..xs[1] {
                        for ky in 0..ws[2] {
                            for kx in 0..ws[3] {
                                if let (Some(iy), Some(ix)) = (
                                    tap(oy, ky, stride, pad, xs[2]),
                                    tap(ox, kx, stride, pad, xs[3]),
                                ) {
                                    f(
                                        at(xs, n, ci, iy, ix),
                                        at(ws, co, ci, ky, kx),
                                        at(ys, n, co, oy, ox),
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn conv_output_len(xs: Shape4, ws: Shape4, stride: usize, pad: usize) -> usize {
    xs[0] * ws[0] * conv_out(xs[2], ws[2], stride, pad) * conv_out(xs[3], ws[3], stride, pad)
}

/// y = x * w: a convolution without bias, zero-padded.
pub fn conv2d_forward(
    x: &[f64],
    xs: Shape4,
    w: &[f64],
    ws: Shape4,
    stride: usize,
    pad: usize,
) -> Vec<f64> {
    let mut y = vec![0.0; conv_output_len(xs, ws, stride, pad)];
    conv_taps(xs, ws, stride, pad, |xi, wi, yi| y[yi] += x[xi] * w[wi]);
    y
}

/// dx of `conv2d_forward` for output gradient `dy`, with x of shape `xs`.
pub fn conv2d_backward_input(
    dy: &[f64],
    w: &[f64],
    ws: Shape4,
    xs: Shape4,
    stride: usize,
    pad: usize,
) -> Vec<f64> {
    let mut dx = vec![0.0; xs.iter().product()];
    conv_taps(xs, ws, stride, pad, |xi, wi, yi| dx[xi] += dy[yi] * w[wi]);
    dx
}

/// dw of `conv2d_forward` for output gradient `dy`, with w of shape `ws`.
pub fn conv2d_backward_weight(
    x: &[f64],
    xs: Shape4,
    dy: &[f64],
    ws: Shape4,
    stride: usize,
    pad: usize,
) -> Vec<f64> {
    let mut dw = vec![0.0; ws.iter().product()];
    conv_taps(xs, ws, stride, pad, |xi, wi, yi| dw[wi] += dy[yi] * x[xi]);
    dw
}

/// The weight [Cout, Cin, K, K] as the B operand of the forward GEMM (`phase` None: rows
/// (ci, ky, kx), columns co) or of the backward-data GEMM of stride phase `[py, px]` (rows
/// (co, jy, jx) over the taps ky = py + jy*stride, kx = px + jx*stride, columns ci); columns
/// zero-padded to a multiple of 32 and stored in blocks of 32 columns, each [rows, 32] row-major.
/// Returns the data and [rows, padded columns].
pub fn conv2d_pack_weight(
    w: &[f64],
    ws: Shape4,
    stride: usize,
    phase: Option<[usize; 2]>,
) -> (Vec<f64>, [usize; 2]) {
    let [c_out, c_in, k, _] = ws;
    let (outer, cols, [py, px], step) = match phase {
        None => (c_in, c_out, [0, 0], 1),
        Some(p) => (c_out, c_in, p, stride),
    };
    let kys: Vec<usize> = (py..k).step_by(step).collect();
    let kxs: Vec<usize> = (px..k).step_by(step).collect();
    let n_pad = cols.div_ceil(32) * 32;
    let rows = outer * kys.len() * kxs.len();
    let mut out = Vec::new();
    for block in 0..n_pad / 32 {
        for o in 0..outer {
            for &ky in &kys {
                for &kx in &kxs {
                    for n in block * 32..block * 32 + 32 {
                        let (co, ci) = if phase.is_none() { (n, o) } else { (o, n) };
                        let inside = n < cols;
                        out.push(match inside {
                            true => w[((co * c_in + ci) * k + ky) * k + kx],
                            false => 0.0,
                        });
                    }
                }
            }
        }
    }
    (out, [rows, n_pad])
}

/// Per-channel (mean, biased variance) over N, H, W: the batch statistics of the samples given,
/// which bn_plane_stats (per plane) and bn_stats (per channel and slot) compute.
pub fn bn_stats(x: &[f64], s: Shape4) -> (Vec<f64>, Vec<f64>) {
    let m = (s[0] * s[2] * s[3]) as f64;
    let values = |c: usize| {
        (0..s[0]).flat_map(move |n| (0..s[2] * s[3]).map(move |j| (n * s[1] + c) * s[2] * s[3] + j))
    };
    let mean: Vec<f64> = (0..s[1])
        .map(|c| values(c).map(|i| x[i]).sum::<f64>() / m)
        .collect();
    let var = (0..s[1])
        .map(|c| values(c).map(|i| (x[i] - mean[c]).powi(2)).sum::<f64>() / m)
        .collect();
    (mean, var)
}

/// y = (x - mean) / sqrt(var + eps) * gamma + beta, per channel.
pub fn bn_apply(
    x: &[f64],
    s: Shape4,
    mean: &[f64],
    var: &[f64],
    gamma: &[f64],
    beta: &[f64],
) -> Vec<f64> {
    let hw = s[2] * s[3];
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / hw) % s[1];
            (v - mean[c]) / (var[c] + BN_EPS).sqrt() * gamma[c] + beta[c]
        })
        .collect()
}

/// Running statistics after one training step (PyTorch: unbiased variance, momentum m).
pub fn bn_running_update(
    rm: &[f64],
    rv: &[f64],
    mean: &[f64],
    var: &[f64],
    count: usize,
    momentum: f64,
) -> (Vec<f64>, Vec<f64>) {
    let unbias = count as f64 / (count as f64 - 1.0);
    let rm = rm
        .iter()
        .zip(mean)
        .map(|(r, m)| (1.0 - momentum) * r + momentum * m)
        .collect();
    let rv = rv
        .iter()
        .zip(var)
        .map(|(r, v)| (1.0 - momentum) * r + momentum * v * unbias)
        .collect();
    (rm, rv)
}

/// (dgamma, dbeta) of `bn_apply` for output gradient `dy`: the per-plane sums
/// bn_backward_plane_sums computes, added over the samples (by sum_rows).
pub fn bn_backward_plane_sums(
    x: &[f64],
    s: Shape4,
    dy: &[f64],
    mean: &[f64],
    var: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let hw = s[2] * s[3];
    let (mut dgamma, mut dbeta) = (vec![0.0; s[1]], vec![0.0; s[1]]);
    for i in 0..x.len() {
        let c = (i / hw) % s[1];
        dgamma[c] += dy[i] * (x[i] - mean[c]) / (var[c] + BN_EPS).sqrt();
        dbeta[c] += dy[i];
    }
    (dgamma, dbeta)
}

/// dx of `bn_apply`; in training mode mean/var are x's own statistics (so dx carries the
/// correction through them, from `bn_backward_plane_sums`).
pub fn bn_backward_input(
    x: &[f64],
    s: Shape4,
    dy: &[f64],
    mean: &[f64],
    var: &[f64],
    gamma: &[f64],
    training: bool,
) -> Vec<f64> {
    let hw = s[2] * s[3];
    let m = (s[0] * hw) as f64;
    let (dgamma, dbeta) = bn_backward_plane_sums(x, s, dy, mean, var);
    (0..x.len())
        .map(|i| {
            let c = (i / hw) % s[1];
            let invstd = 1.0 / (var[c] + BN_EPS).sqrt();
            let xhat = (x[i] - mean[c]) * invstd;
            let correction = if training {
                (dbeta[c] + xhat * dgamma[c]) / m
            } else {
                0.0
            };
            gamma[c] * invstd * (dy[i] - correction)
        })
        .collect()
}

pub fn relu_forward(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| v.max(0.0)).collect()
}

/// a + b elementwise, then max(·, 0) with `relu` (kernel `add`, override RELU).
pub fn add(a: &[f64], b: &[f64], relu: bool) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(a, b)| if relu { (a + b).max(0.0) } else { a + b })
        .collect()
}

/// Column sums of a row-major [rows, cols] array (kernel `sum_rows`).
pub fn sum_rows(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..cols)
        .map(|j| (0..rows).map(|i| x[i * cols + j]).sum())
        .collect()
}

pub fn relu_backward(y: &[f64], dy: &[f64]) -> Vec<f64> {
    y.iter()
        .zip(dy)
        .map(|(y, g)| if *y > 0.0 { *g } else { 0.0 })
        .collect()
}

/// The dropout multiplier of each element: 0 or 1/(1-p), from the same Philox draw as the kernel.
pub fn dropout_scale(len: usize, p: f32, seed: u64, stream: u32) -> Vec<f64> {
    (0..len)
        .map(|i| {
            let bits = crate::random::philox4x32(
                [i as u32, stream, 0, 0],
                [seed as u32, (seed >> 32) as u32],
            )[0];
            if crate::random::unit_float(bits) >= p {
                1.0 / (1.0 - p as f64)
            } else {
                0.0
            }
        })
        .collect()
}

/// Global average pool [N,C,H,W] -> [N,C].
pub fn avg_pool_forward(x: &[f64], s: Shape4) -> Vec<f64> {
    let hw = s[2] * s[3];
    x.chunks(hw)
        .map(|c| c.iter().sum::<f64>() / hw as f64)
        .collect()
}

pub fn avg_pool_backward(dy: &[f64], s: Shape4) -> Vec<f64> {
    let hw = s[2] * s[3];
    dy.iter()
        .flat_map(|g| std::iter::repeat_n(g / hw as f64, hw))
        .collect()
}

/// y = x W^T + b with x [rows, in], W [out, in].
pub fn linear(x: &[f64], w: &[f64], b: &[f64], rows: usize, inp: usize, out: usize) -> Vec<f64> {
    let mut y = vec![0.0; rows * out];
    for r in 0..rows {
        for o in 0..out {
            y[r * out + o] = b[o]
                + (0..inp)
                    .map(|k| x[r * inp + k] * w[o * inp + k])
                    .sum::<f64>();
        }
    }
    y
}

/// (dx, dW, db) of `linear`.
pub fn linear_backward(
    x: &[f64],
    w: &[f64],
    dy: &[f64],
    rows: usize,
    inp: usize,
    out: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0; rows * inp];
    let mut dw = vec![0.0; out * inp];
    let mut db = vec![0.0; out];
    for r in 0..rows {
        for o in 0..out {
            let g = dy[r * out + o];
            db[o] += g;
            for k in 0..inp {
                dx[r * inp + k] += g * w[o * inp + k];
                dw[o * inp + k] += g * x[r * inp + k];
            }
        }
    }
    (dx, dw, db)
}

/// (mean softmax cross-entropy, d loss / d logits) for logits [rows, classes].
pub fn cross_entropy(logits: &[f64], labels: &[u32], classes: usize) -> (f64, Vec<f64>) {
    let rows = labels.len();
    let mut loss = 0.0;
    let mut grad = vec![0.0; logits.len()];
    for (r, &label) in labels.iter().enumerate() {
        let z = &logits[r * classes..(r + 1) * classes];
        let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = zmax + z.iter().map(|v| (v - zmax).exp()).sum::<f64>().ln();
        loss += lse - z[label as usize];
        for j in 0..classes {
            let one_hot = if j == label as usize { 1.0 } else { 0.0 };
            grad[r * classes + j] = ((z[j] - lse).exp() - one_hot) / rows as f64;
        }
    }
    (loss / rows as f64, grad)
}

/// One SGD step in place (PyTorch: d = g + wd w; v = mu v + d; w -= lr v).
pub fn sgd(w: &mut [f64], g: &[f64], v: &mut [f64], lr: f64, momentum: f64, weight_decay: f64) {
    for i in 0..w.len() {
        let d = g[i] + weight_decay * w[i];
        v[i] = momentum * v[i] + d;
        w[i] -= lr * v[i];
    }
}

/// shaders/step_status.wgsl's status: the bits of `loss`, and 1 when any of `x` is NaN or
/// infinite.
pub fn step_status(x: &[f32], loss: f32) -> [u32; 2] {
    [loss.to_bits(), x.iter().any(|v| !v.is_finite()) as u32]
}

/// Pixel `within` (= c*H*W + j) of noise sample `sample`, before normalization: the same Philox
/// draw and Box-Muller transform as shaders/noise.wgsl, in f64.
pub fn noise_pixel(seed: u64, step: u32, sample: usize, within: usize, mean: f64, std: f64) -> f64 {
    let bits = crate::random::philox4x32(
        [within as u32, sample as u32, step, 0],
        [seed as u32, (seed >> 32) as u32],
    );
    let u1 = 1.0 - crate::random::unit_float(bits[0]) as f64;
    let u2 = crate::random::unit_float(bits[1]) as f64;
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (mean + std * z).clamp(0.0, 1.0)
}

/// The samples `idx` of an NCHW tensor, as a smaller NCHW tensor.
pub fn gather(x: &[f64], s: Shape4, idx: &[usize]) -> (Vec<f64>, Shape4) {
    let per = s[1] * s[2] * s[3];
    let out = idx
        .iter()
        .flat_map(|&n| x[n * per..(n + 1) * per].iter().copied())
        .collect();
    (out, [idx.len(), s[1], s[2], s[3]])
}

/// Writes the samples of `src` (from `gather`) back to positions `idx` of `dst`.
pub fn scatter(dst: &mut [f64], s: Shape4, idx: &[usize], src: &[f64]) {
    let per = s[1] * s[2] * s[3];
    for (k, &n) in idx.iter().enumerate() {
        dst[n * per..(n + 1) * per].copy_from_slice(&src[k * per..(k + 1) * per]);
    }
}

/// ResNet-32's option-A shortcut: x[:, :, ::2, ::2] with `pad` zero channels on each side.
pub fn shortcut_forward(x: &[f64], s: Shape4, pad: usize) -> (Vec<f64>, Shape4) {
    let os = [s[0], s[1] + 2 * pad, s[2].div_ceil(2), s[3].div_ceil(2)];
    let mut y = vec![0.0; os.iter().product()];
    for n in 0..s[0] {
        for c in 0..s[1] {
            for oy in 0..os[2] {
                for ox in 0..os[3] {
                    y[at(os, n, c + pad, oy, ox)] = x[at(s, n, c, 2 * oy, 2 * ox)];
                }
            }
        }
    }
    (y, os)
}

/// dx of `shortcut_forward` (input shape `s`) for output gradient `dy`: dy's value at every
/// sampled position of the input's channels, 0 elsewhere.
pub fn shortcut_backward(dy: &[f64], s: Shape4, pad: usize) -> Vec<f64> {
    let os = [s[0], s[1] + 2 * pad, s[2].div_ceil(2), s[3].div_ceil(2)];
    let mut dx = vec![0.0; s.iter().product()];
    for n in 0..s[0] {
        for c in 0..s[1] {
            for oy in 0..os[2] {
                for ox in 0..os[3] {
                    dx[at(s, n, c, 2 * oy, 2 * ox)] = dy[at(os, n, c + pad, oy, ox)];
                }
            }
        }
    }
    dx
}

/// x times the one-element scale `s[0]` (kernel `scale_by`).
pub fn scale_by(x: &[f64], s: f64) -> Vec<f64> {
    x.iter().map(|v| v * s).collect()
}

/// What each of `threads` threads of shaders/bench_fma.wgsl writes: eight chains of vec4s,
/// a ← a·m + c for `iters` rounds from s + k (s = thread · 1e-7, chain k), summed.
pub fn bench_fma(threads: usize, iters: usize) -> Vec<f64> {
    let m = [0.9999, 0.9998, 0.9997, 0.9996];
    (0..threads)
        .map(|i| {
            let s = i as f64 * 1e-7;
            (0..8)
                .flat_map(|k| m.iter().map(move |&m| (s + k as f64, m)))
                .map(|(mut a, m)| {
                    for _ in 0..iters {
                        a = a * m + 1e-4;
                    }
                    a
                })
                .sum()
        })
        .collect()
}

/// shaders/bench_copy.wgsl's dst: src · 2.
pub fn bench_copy(src: &[f64]) -> Vec<f64> {
    src.iter().map(|v| v * 2.0).collect()
}
