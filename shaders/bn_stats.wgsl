// bn_stats: stage 2 of the training-mode batch statistics (stage 1: bn_plane_stats.wgsl), both
// slots (lib/bn_routing.wgsl) in one pass, and the running-statistics update (PyTorch
// semantics). Per channel c and slot s, from the k_s planes (n, c) of the samples routed to s,
// each of HW values with mean mean_p and M2_p = sum (x - mean_p)^2:
// mean_s = sum mean_p / k_s,  M2_s = sum M2_p + HW sum (mean_p - mean_s)^2 (Chan et al.'s exact
// combination of equal-sized parts: the two-pass accuracy, no E[x^2] - E[x]^2 cancellation),
// var_s = M2_s / M (biased, used to normalize), M = m_s = k_s HW. An empty slot gets 0 and 0
// (nothing reads them). When bit s of trained_slots is set and M >= 2, slot s's layer:
// running_mean = (1 - m) running_mean + m mean_s,
// running_var = (1 - m) running_var + m var_s M / (M - 1) (unbiased).
// Layouts: partials [2·N·C] (bn_plane_stats: means at n·C + c, M2 at N·C + n·C + c); mask [N]
// u32; stats [4C]; running_mean0, running_var0 (slot 0's layer), running_mean1, running_var1
// (slot 1's: AuxBN's auxiliary layer; DAR-BN and ordinary BN bind the main layer again, which
// slot 1 never updates) [C].
// Workgroup: 64 threads, one channel each, looping over the samples (N·C values in all, little
// next to stage 1's N·C·HW); dispatch ceil(C / 64) workgroups.
// Bounds: trusted: c < C by the guard; partials at (n' · C + c) < 2·N·C; stats at < 4C; slots are 0
// or 1 (lib/bn_routing.wgsl clamps the mask); mask is read only when routed, and then has N entries
// (checked on the host).
// Bindings: 0 params (uniform, lib/bn_routing.wgsl), 1 partials, 2 mask (read), 3 stats,
// 4 running_mean0, 5 running_var0, 6 running_mean1, 7 running_var1 (read_write).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean0: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var0: array<f32>;
@group(0) @binding(6) var<storage, read_write> running_mean1: array<f32>;
@group(0) @binding(7) var<storage, read_write> running_var1: array<f32>;

//!include bn_routing.wgsl

// Whether slot s's batch statistics update its layer's running statistics.
fn updates(s: u32, m: f32) -> bool {
    return ((p.trained_slots >> s) & 1u) == 1u && m >= 2.0;
}

fn blend(running: f32, batch: f32) -> f32 {
    return (1.0 - p.momentum) * running + p.momentum * batch;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
    let c = gid.x;
    if (c >= p.c) { return; }
    let hw = f32(p.hw);
    let m = vec2f(p.m0, p.m1);
    var sum = vec2f(0.0);
    for (var n = 0u; n < p.n; n++) { sum[slot_of(n)] += partials[n * p.c + c]; }
    // Planes per slot are m / HW; max() only keeps an empty slot's 0 / 0 finite.
    let mean = sum * hw / max(m, vec2f(1.0));
    var m2 = vec2f(0.0);
    for (var n = 0u; n < p.n; n++) {
        let s = slot_of(n);
        let d = partials[n * p.c + c] - mean[s];
        m2[s] += partials[(p.n + n) * p.c + c] + hw * d * d;
    }
    let v = m2 / max(m, vec2f(1.0));
    for (var s = 0u; s < 2u; s++) {
        stats[s * p.c + c] = mean[s];
        stats[(2u + s) * p.c + c] = v[s];
    }
    if (updates(0u, m.x)) {
        running_mean0[c] = blend(running_mean0[c], mean.x);
        running_var0[c] = blend(running_var0[c], v.x * m.x / (m.x - 1.0));
    }
    if (updates(1u, m.y)) {
        running_mean1[c] = blend(running_mean1[c], mean.y);
        running_var1[c] = blend(running_var1[c], v.y * m.y / (m.y - 1.0));
    }
}
