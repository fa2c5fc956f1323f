// bn_backward_reduce: per-channel sums for the batch-norm backward pass of one slot
// (lib/bn_routing.wgsl), over the elements whose sample is routed to it:
// dbeta_s[c] = sum g,  dgamma_s[c] = sum g * xhat,  xhat = (x - mean_s[c]) / sqrt(var_s[c] + eps),
// where g = dy, or with override RELU (fused BN -> ReLU) g = dy where xhat * gamma + beta > 0,
// else 0: the ReLU mask recomputed from x, which is all the forward kept.
// Layouts: x, dy [N,C,H,W] f32; mask [N] u32; stats, dterms [4C]; gamma, beta [C] (the slot's
// layer; read only with RELU).
// Workgroup: 256 threads per channel, workgroup_sum (lib/reduce.wgsl); dispatch C workgroups.
// Bindings: 0 params (uniform, lib/bn_routing.wgsl), 1 x, 2 dy, 3 mask, 4 stats, 5 gamma,
// 6 beta (read), 7 dterms (read_write).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dterms: array<f32>;

//!include bn_routing.wgsl
//!include reduce.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    let mu = mean_of(p.slot, c);
    let invstd = invstd_of(p.slot, c);
    let g = gamma[c];
    let b = beta[c];
    var sum_dy = 0.0;
    var sum_dy_xhat = 0.0;
    for (var t = lid; t < p.n * p.hw; t += 256u) {
        let sample = t / p.hw;
        if (slot_of(sample) != p.slot) { continue; }
        let i = (sample * p.c + c) * p.hw + t % p.hw;
        let d = relu_gate(dy[i], bn_value(x[i], p.slot, c, g, b));
        sum_dy += d;
        sum_dy_xhat += d * (x[i] - mu) * invstd;
    }
    let db = workgroup_sum(lid, sum_dy);
    let dg = workgroup_sum(lid, sum_dy_xhat);
    if (lid == 0u) {
        dterms[p.slot * p.c + c] = dg;
        dterms[(2u + p.slot) * p.c + c] = db;
    }
}
