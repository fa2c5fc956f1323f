// bn_backward_input: gradient of batch norm w.r.t. its input.
// Training mode (batch statistics, which depend on x), M = N*H*W:
//   dx = gamma * invstd * (dy - dbeta[c] / M - xhat * dgamma[c] / M)
// Eval mode (override TRAINING = false; running statistics are constants): dx = gamma * invstd * dy.
// xhat = (x - mean[c]) * invstd, invstd = 1 / sqrt(var[c] + eps); dgamma/dbeta from bn_backward_reduce.
// Layouts: x, dy, dx [N,C,H,W] f32; mean, var, gamma, dgamma, dbeta [C].
// Workgroup: 256 threads, one element each; a grid too large for x spills into y.
// Bindings: 0 params (uniform), 1 x, 2 dy, 3 mean, 4 var, 5 gamma, 6 dgamma, 7 dbeta (read),
// 8 dx (read_write).

override TRAINING: bool = true;

struct Params { n: u32, c: u32, hw: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> var_: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> dgamma: array<f32>;
@group(0) @binding(7) var<storage, read> dbeta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if (i >= p.n * p.c * p.hw) { return; }
    let c = (i / p.hw) % p.c;
    let invstd = inverseSqrt(var_[c] + p.eps);
    let m = f32(p.n * p.hw);
    let xhat = (x[i] - mean[c]) * invstd;
    // In eval mode the correction terms are multiplied by zero but still read, which keeps the
    // bindings statically used (auto layouts drop unused ones).
    let correction = select(0.0, 1.0, TRAINING) * (dbeta[c] + xhat * dgamma[c]) / m;
    dx[i] = gamma[c] * invstd * (dy[i] - correction);
}
