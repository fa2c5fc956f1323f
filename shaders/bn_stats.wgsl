// bn_stats: per-channel batch statistics of one slot (see lib/bn_routing.wgsl) for training-mode
// batch norm, and the running-statistics update (PyTorch semantics), over the M = m_slot values
// of the channel whose sample is routed to the slot:
// mean = sum x / M, var = sum (x - mean)^2 / M (biased, used to normalize); when update_running
// and M >= 2: running_mean = (1 - m) running_mean + m mean,
// running_var = (1 - m) running_var + m var M / (M - 1) (unbiased).
// Two passes (mean, then squared deviations) avoid E[x^2] - E[x]^2 cancellation.
// Layouts: x [N,C,H,W] f32; mask [N] u32; stats [4C]; running_mean, running_var [C].
// Workgroup: 256 threads per channel, workgroup_sum (lib/reduce.wgsl); dispatch C workgroups.
// Bindings: 0 params (uniform, lib/bn_routing.wgsl), 1 x, 2 mask (read), 3 stats,
// 4 running_mean, 5 running_var (read_write).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;

//!include bn_routing.wgsl
//!include reduce.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    let m = slot_count(p.slot);
    var s = 0.0;
    for (var t = lid; t < p.n * p.hw; t += 256u) {
        let sample = t / p.hw;
        if (slot_of(sample) == p.slot) { s += x[(sample * p.c + c) * p.hw + t % p.hw]; }
    }
    let mu = workgroup_sum(lid, s) / m;
    var q = 0.0;
    for (var t = lid; t < p.n * p.hw; t += 256u) {
        let sample = t / p.hw;
        if (slot_of(sample) == p.slot) {
            let d = x[(sample * p.c + c) * p.hw + t % p.hw] - mu;
            q += d * d;
        }
    }
    let v = workgroup_sum(lid, q) / m;
    if (lid == 0u) {
        stats[p.slot * p.c + c] = mu;
        stats[(2u + p.slot) * p.c + c] = v;
        if (p.update_running == 1u && m >= 2.0) {
            running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mu;
            running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * v * m / (m - 1.0);
        }
    }
}
