// bn_stats: per-channel batch statistics for training-mode batch norm, and the running-stat update
// (PyTorch semantics): mean = sum x / M, var = sum (x - mean)^2 / M (biased, used to normalize),
// running_mean = (1 - m) * running_mean + m * mean,
// running_var  = (1 - m) * running_var  + m * var * M / (M - 1)   (unbiased), M = N*H*W.
// Two passes over the channel (mean, then squared deviations) avoid E[x^2] - E[x]^2 cancellation.
// Layouts: x [N,C,H,W] f32; mean, var, running_mean, running_var [C].
// Workgroup: 256 threads per channel, workgroup_sum (lib/reduce.wgsl); dispatch C workgroups.
// Bindings: 0 params (uniform), 1 x (read), 2 mean, 3 var, 4 running_mean, 5 running_var (read_write).

struct Params { n: u32, c: u32, hw: u32, momentum: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> var_: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;

//!include reduce.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    let m = p.n * p.hw;
    var s = 0.0;
    for (var t = lid; t < m; t += 256u) {
        s += x[((t / p.hw) * p.c + c) * p.hw + t % p.hw];
    }
    let mu = workgroup_sum(lid, s) / f32(m);
    var q = 0.0;
    for (var t = lid; t < m; t += 256u) {
        let d = x[((t / p.hw) * p.c + c) * p.hw + t % p.hw] - mu;
        q += d * d;
    }
    let v = workgroup_sum(lid, q) / f32(m);
    if (lid == 0u) {
        mean[c] = mu;
        var_[c] = v;
        running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mu;
        running_var[c] = (1.0 - p.momentum) * running_var[c]
                       + p.momentum * v * f32(m) / f32(m - 1u);
    }
}
