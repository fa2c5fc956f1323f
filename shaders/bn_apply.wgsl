// bn_apply: y = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c]. Training mode passes the
// batch statistics from bn_stats (biased variance), eval mode the running statistics.
// Layouts: x, y [N,C,H,W] f32; mean, var, gamma, beta [C].
// Workgroup: 256 threads, one element each; a grid too large for x spills into y.
// Bindings: 0 params (uniform), 1 x, 2 mean, 3 var, 4 gamma, 5 beta (read), 6 y (read_write).

struct Params { n: u32, c: u32, hw: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> var_: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if (i >= p.n * p.c * p.hw) { return; }
    let c = (i / p.hw) % p.c;
    y[i] = (x[i] - mean[c]) * inverseSqrt(var_[c] + p.eps) * gamma[c] + beta[c];
}
