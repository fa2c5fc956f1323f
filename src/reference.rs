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

/// The dropout multiplier of each element: 0 or 1/(1-p), from the same Philox draw as the kernel
/// (element i: component i % 4 of the block for counter i / 4).
pub fn dropout_scale(len: usize, p: f32, seed: u64, stream: u32) -> Vec<f64> {
    (0..len)
        .map(|i| {
            let bits = crate::random::philox4x32(
                [(i / 4) as u32, stream, 0, 0],
                [seed as u32, (seed >> 32) as u32],
            )[i % 4];
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

/// The transform matrices of Winograd F(m x m, 3x3) (Lavin & Gray 2015) for m = 2 or 4, as
/// shaders/lib/winograd_matrices.wgsl holds them: B^T (T x T), G (T x 3) and A^T (m x T),
/// T = m + 2. F(2x2) interpolates at 0, 1, -1 and infinity; F(4x4) at 0, 1, -1, 2, -2 and
/// infinity.
pub struct Winograd {
    /// The output tile's side m.
    pub m: usize,
    /// The transformed tile's side T = m + 2.
    pub t: usize,
    pub bt: Vec<Vec<f64>>,
    pub g: Vec<[f64; 3]>,
    pub at: Vec<Vec<f64>>,
}

impl Winograd {
    pub fn new(m: usize) -> Winograd {
        let rows = |r: &[&[f64]]| r.iter().map(|r| r.to_vec()).collect::<Vec<_>>();
        let (bt, g, at) = match m {
            2 => (
                rows(&[
                    &[1.0, 0.0, -1.0, 0.0],
                    &[0.0, 1.0, 1.0, 0.0],
                    &[0.0, -1.0, 1.0, 0.0],
                    &[0.0, 1.0, 0.0, -1.0],
                ]),
                vec![
                    [1.0, 0.0, 0.0],
                    [0.5, 0.5, 0.5],
                    [0.5, -0.5, 0.5],
                    [0.0, 0.0, 1.0],
                ],
                rows(&[&[1.0, 1.0, 1.0, 0.0], &[0.0, 1.0, -1.0, -1.0]]),
            ),
            4 => (
                rows(&[
                    &[4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
                    &[0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
                    &[0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
                    &[0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
                    &[0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
                    &[0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
                ]),
                vec![
                    [1.0 / 4.0, 0.0, 0.0],
                    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
                    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
                    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
                    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
                    [0.0, 0.0, 1.0],
                ],
                rows(&[
                    &[1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
                    &[0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
                    &[0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
                    &[0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
                ]),
            ),
            _ => panic!("Winograd F({m}x{m}, 3x3) is not one of F(2x2) and F(4x4)"),
        };
        Winograd {
            m,
            t: m + 2,
            bt,
            g,
            at,
        }
    }

    /// Positions of the transformed tile, T * T.
    pub fn positions(&self) -> usize {
        self.t * self.t
    }

    /// The m x m output tiles of a 3x3, stride-1, padding-1 convolution of an `h` x `w` image:
    /// rows and columns of tiles (the last one partial on a side m does not divide).
    pub fn tiles(&self, h: usize, w: usize) -> [usize; 2] {
        [h.div_ceil(self.m), w.div_ceil(self.m)]
    }

    /// (image, tile row, tile column) of tile `t` of a chunk, `tiles` = [rows, columns] per image.
    fn site(t: usize, [th, tw]: [usize; 2]) -> (usize, usize, usize) {
        (t / (th * tw), t % (th * tw) / tw, t % tw)
    }
}

/// The filter transform of Winograd `wg`: U = G g G^T for each 3x3 filter g of
/// w [Cout, Cin, 3, 3]; for the forward GEMM (`flip` false: rows (xi, ci), columns co,
/// g = w[co, ci]) or the backward-data GEMM (`flip`: rows (xi, co), columns ci, g = w[co, ci]
/// rotated by 180 degrees), xi = T*a + b the transform position; packed as `conv2d_pack_weight`
/// packs (columns zero-padded to a multiple of 32, in blocks of 32). Returns the data and
/// [rows, padded columns].
pub fn conv2d_winograd_filter(
    wg: &Winograd,
    w: &[f64],
    ws: Shape4,
    flip: bool,
) -> (Vec<f64>, [usize; 2]) {
    let [c_out, c_in, _, _] = ws;
    let (outer, cols) = if flip { (c_out, c_in) } else { (c_in, c_out) };
    let t = wg.t;
    let n_pad = cols.div_ceil(32) * 32;
    let rows = wg.positions() * outer;
    let mut out = vec![0.0; rows * n_pad];
    for o in 0..outer {
        for n in 0..cols {
            let (co, ci) = if flip { (o, n) } else { (n, o) };
            let g = |ky: usize, kx: usize| match flip {
                false => w[((co * c_in + ci) * 3 + ky) * 3 + kx],
                true => w[((co * c_in + ci) * 3 + 2 - ky) * 3 + 2 - kx],
            };
            for a in 0..t {
                for b in 0..t {
                    let mut u = 0.0;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            u += wg.g[a][ky] * g(ky, kx) * wg.g[b][kx];
                        }
                    }
                    let k = (a * t + b) * outer + o;
                    out[((n / 32) * rows + k) * 32 + n % 32] = u;
                }
            }
        }
    }
    (out, [rows, n_pad])
}

/// The input transform of Winograd `wg` for images `img0 .. img0 + images` of x [N, C, H, W]:
/// for each channel c and tile t = (img, ty, tx), the T x T patch d at rows m*ty-1 .. m*ty+m,
/// columns m*tx-1 .. m*tx+m (zero outside), V = B^T d B, stored [T*T (xi = T*a + b), C, tiles].
pub fn conv2d_winograd_input(
    wg: &Winograd,
    x: &[f64],
    xs: Shape4,
    img0: usize,
    images: usize,
) -> Vec<f64> {
    let [_, c_total, h, w] = xs;
    let per_img = wg.tiles(h, w);
    let tiles = images * per_img[0] * per_img[1];
    let (m, t_side) = (wg.m, wg.t);
    let mut v = vec![0.0; wg.positions() * c_total * tiles];
    for c in 0..c_total {
        for t in 0..tiles {
            let (img, ty, tx) = Winograd::site(t, per_img);
            let d = |r: usize, s: usize| {
                let (iy, ix) = ((m * ty + r).checked_sub(1), (m * tx + s).checked_sub(1));
                match (iy, ix) {
                    (Some(iy), Some(ix)) if iy < h && ix < w => x[at(xs, img0 + img, c, iy, ix)],
                    _ => 0.0,
                }
            };
            for a in 0..t_side {
                for b in 0..t_side {
                    let mut sum = 0.0;
                    for r in 0..t_side {
                        for s in 0..t_side {
                            sum += wg.bt[a][r] * d(r, s) * wg.bt[b][s];
                        }
                    }
                    v[((a * t_side + b) * c_total + c) * tiles + t] = sum;
                }
            }
        }
    }
    v
}

/// The `positions` products of Winograd: prod[xi, n, t] = sum over c of v[xi, c, t] *
/// u[xi*c_total + c, n], v as `conv2d_winograd_input` lays it out ([positions, c_total, tiles])
/// and u packed as `conv2d_winograd_filter` packs it (`u_shape` [positions*c_total, padded
/// columns]); prod [positions, n_cols, tiles].
pub fn conv2d_winograd_gemm(
    v: &[f64],
    u: &[f64],
    u_shape: [usize; 2],
    [c_total, n_cols, tiles]: [usize; 3],
) -> Vec<f64> {
    let rows = u_shape[0];
    let positions = rows / c_total;
    let u_at = |k: usize, n: usize| u[((n / 32) * rows + k) * 32 + n % 32];
    let mut prod = vec![0.0; positions * n_cols * tiles];
    for xi in 0..positions {
        for n in 0..n_cols {
            for t in 0..tiles {
                prod[(xi * n_cols + n) * tiles + t] = (0..c_total)
                    .map(|c| v[(xi * c_total + c) * tiles + t] * u_at(xi * c_total + c, n))
                    .sum();
            }
        }
    }
    prod
}

/// The output transform of Winograd `wg`: for each channel and tile of `prod`
/// [T*T, C, tiles] (images `img0 ..` of y [N, C, H, W]), Y = A^T M A, written into `y` at rows
/// m*ty .. m*ty+m-1 and columns m*tx .. m*tx+m-1 inside the image; the rest of `y` is left as
/// it is.
pub fn conv2d_winograd_output(wg: &Winograd, prod: &[f64], y: &mut [f64], ys: Shape4, img0: usize) {
    let [_, c_total, h, w] = ys;
    let per_img = wg.tiles(h, w);
    let tiles = prod.len() / (wg.positions() * c_total);
    let (m, t_side) = (wg.m, wg.t);
    for c in 0..c_total {
        for t in 0..tiles {
            let (img, ty, tx) = Winograd::site(t, per_img);
            for i in 0..m {
                for j in 0..m {
                    let (oy, ox) = (m * ty + i, m * tx + j);
                    if oy >= h || ox >= w {
                        continue;
                    }
                    let mut sum = 0.0;
                    for a in 0..t_side {
                        for b in 0..t_side {
                            sum += wg.at[i][a]
                                * prod[((a * t_side + b) * c_total + c) * tiles + t]
                                * wg.at[j][b];
                        }
                    }
                    y[at(ys, img0 + img, c, oy, ox)] = sum;
                }
            }
        }
    }
}

/// The output-gradient transform of the Winograd `wg` weight gradient for images
/// `img0 .. img0 + images` of dy [N, C, H, W]: for each channel c and tile t = (img, ty, tx),
/// the m x m tile e of dy at rows m*ty .. m*ty+m-1 and columns m*tx .. m*tx+m-1 (zero outside)
/// becomes Z = A e A^T, stored [T*T (xi = T*a + b), C, tiles].
pub fn conv2d_winograd_output_grad(
    wg: &Winograd,
    dy: &[f64],
    ys: Shape4,
    img0: usize,
    images: usize,
) -> Vec<f64> {
    let [_, c_total, h, w] = ys;
    let per_img = wg.tiles(h, w);
    let tiles = images * per_img[0] * per_img[1];
    let (m, t_side) = (wg.m, wg.t);
    let mut z = vec![0.0; wg.positions() * c_total * tiles];
    for c in 0..c_total {
        for t in 0..tiles {
            let (img, ty, tx) = Winograd::site(t, per_img);
            for a in 0..t_side {
                for b in 0..t_side {
                    let mut sum = 0.0;
                    for i in 0..m {
                        for j in 0..m {
                            let (oy, ox) = (m * ty + i, m * tx + j);
                            if oy < h && ox < w {
                                sum +=
                                    wg.at[i][a] * dy[at(ys, img0 + img, c, oy, ox)] * wg.at[j][b];
                            }
                        }
                    }
                    z[((a * t_side + b) * c_total + c) * tiles + t] = sum;
                }
            }
        }
    }
    z
}

/// The `positions` products of the Winograd weight gradient: s[xi, co, ci] = sum over tiles t
/// of v[xi, ci, t] * z[xi, co, t], v [positions, c_in, tiles] (`conv2d_winograd_input` of x),
/// z [positions, c_out, tiles] (`conv2d_winograd_output_grad` of dy); s [positions, c_out, c_in].
pub fn conv2d_winograd_weight_gemm(
    v: &[f64],
    z: &[f64],
    [positions, c_in, c_out, tiles]: [usize; 4],
) -> Vec<f64> {
    let mut s = vec![0.0; positions * c_out * c_in];
    for xi in 0..positions {
        for co in 0..c_out {
            for ci in 0..c_in {
                s[(xi * c_out + co) * c_in + ci] = (0..tiles)
                    .map(|t| v[(xi * c_in + ci) * tiles + t] * z[(xi * c_out + co) * tiles + t])
                    .sum();
            }
        }
    }
    s
}

/// The last step of the Winograd `wg` weight gradient: the parts
/// [chunks * T*T * splits, c_out, c_in] (index (chunk * T*T + xi) * splits + s) summed into S
/// per filter and xi, then dw = G^T S G per filter; dw [c_out, c_in, 3, 3].
pub fn conv2d_winograd_filter_grad(
    wg: &Winograd,
    part: &[f64],
    [chunks, splits]: [usize; 2],
    c_out: usize,
    c_in: usize,
) -> Vec<f64> {
    let (t_side, positions) = (wg.t, wg.positions());
    let filters = c_out * c_in;
    let mut dw = vec![0.0; filters * 9];
    for f in 0..filters {
        let s = |xi: usize| -> f64 {
            (0..chunks)
                .flat_map(|c| {
                    (0..splits).map(move |q| ((c * positions + xi) * splits + q) * filters + f)
                })
                .map(|i| part[i])
                .sum()
        };
        for ky in 0..3 {
            for kx in 0..3 {
                let mut sum = 0.0;
                for a in 0..t_side {
                    for b in 0..t_side {
                        sum += wg.g[a][ky] * s(a * t_side + b) * wg.g[b][kx];
                    }
                }
                dw[f * 9 + ky * 3 + kx] = sum;
            }
        }
    }
    dw
}
