// bn_backward_reduce: per-channel sums for the batch-norm backward pass:
// dbeta[c] = sum dy,  dgamma[c] = sum dy * xhat,  xhat = (x - mean[c]) / sqrt(var[c] + eps).
// Layouts: x, dy [N,C,H,W] f32; mean, var, dgamma, dbeta [C].
// Workgroup: 256 threads per channel, workgroup_sum (lib/reduce.wgsl); dispatch C workgroups.
// Bindings: 0 params (uniform), 1 x, 2 dy, 3 mean, 4 var (read), 5 dgamma, 6 dbeta (read_write).

struct Params { n: u32, c: u32, hw: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> var_: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;

//!include reduce.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    let mu = mean[c];
    let invstd = inverseSqrt(var_[c] + p.eps);
    var sum_dy = 0.0;
    var sum_dy_xhat = 0.0;
    for (var t = lid; t < p.n * p.hw; t += 256u) {
        let i = ((t / p.hw) * p.c + c) * p.hw + t % p.hw;
        sum_dy += dy[i];
        sum_dy_xhat += dy[i] * (x[i] - mu) * invstd;
    }
    let db = workgroup_sum(lid, sum_dy);
    let dg = workgroup_sum(lid, sum_dy_xhat);
    if (lid == 0u) {
        dbeta[c] = db;
        dgamma[c] = dg;
    }
}
