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
// Workgroup: 256 threads = 256 / S channels × S sample slices, S = override REDUCE_GROUP (a
// power of two up to 16; src/ops/norm.rs picks it with ops::column_reduction from N and C).
// Neighbouring threads take neighbouring channels (interleaved, lib/reduce.wgsl), so loads of
// partials[n·C + c] are coalesced; slice s walks samples s, s + S, …, and group_sum adds the
// slices (both passes: the slot means first, then the M2 combination about them). Dispatch
// ceil(C·S / 256) workgroups; a grid too large spills into y.
// Bounds: trusted: a thread past the last channel (c >= C) reads nothing and writes nothing;
// partials at (n' · C + c) < 2·N·C; stats at < 4C; slots are 0 or 1 (lib/bn_routing.wgsl clamps
// the mask); mask is read only when routed, and then has N entries (checked on the host);
// lib/reduce.wgsl's scratch indices stay below REDUCE_THREADS.
// Bindings: 0 params (uniform, lib/bn_routing.wgsl), 1 partials, 2 mask (read), 3 stats,
// 4 running_mean0, 5 running_var0, 6 running_mean1, 7 running_var1 (read_write).
// Reference: reference::bn_stats, reference::bn_running_update
// Test: kernels-tests/norm.rs::every_mode_matches_the_reference_on_every_mask, kernels-tests/norm.rs::statistics_stay_accurate_when_the_mean_dwarfs_the_spread

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

const REDUCE_THREADS: u32 = 256u;
override REDUCE_GROUP: u32 = 1u;
alias Reduced = vec2f; // one sum per slot
//!include reduce.wgsl

@compute @workgroup_size(REDUCE_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let r = interleaved(lid);
    let c = group_index(wid, nwg, r);
    let slice = r % REDUCE_GROUP;
    // Threads past the last channel sum nothing, but still reach group_sum's barriers.
    let samples = select(0u, p.n, c < p.c);
    let hw = f32(p.hw);
    let m = vec2f(p.m0, p.m1);
    var sum = vec2f(0.0);
    for (var n = slice; n < samples; n += REDUCE_GROUP) {
        sum[slot_of(n)] += partials[n * p.c + c];
    }
    // Planes per slot are m / HW; max() only keeps an empty slot's 0 / 0 finite.
    let mean = group_sum(r, sum) * hw / max(m, vec2f(1.0));
    var m2 = vec2f(0.0);
    for (var n = slice; n < samples; n += REDUCE_GROUP) {
        let s = slot_of(n);
        let d = partials[n * p.c + c] - mean[s];
        m2[s] += partials[(p.n + n) * p.c + c] + hw * d * d;
    }
    let v = group_sum(r, m2) / max(m, vec2f(1.0));
    if (c >= p.c || slice != 0u) { return; }
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
