// bn_backward_plane_sums: stage 1 of the sums the batch-norm backward pass needs (stage 2:
// sum_rows.wgsl over the samples). For every (sample, channel) plane, over its HW values, in
// the sample's slot s (lib/bn_routing.wgsl):
// sum g and sum g * xhat,  xhat = (x - mean_s[c]) / sqrt(var_s[c] + eps),
// where g = dy, or with override RELU (fused BN -> ReLU) g = dy where xhat * gamma_s + beta_s > 0,
// else 0: the ReLU mask recomputed from x, which is all the forward kept. Planes of a slot
// without a gradient (DAR-BN's noise samples; bit s of trained_slots clear) add 0.
// Layouts: x, dy [N,C,H,W] f32; mask [N] u32; stats [4C]; gamma0, gamma1, beta0, beta1 [C] (read
// only with RELU); partials [N, 4C]: row n holds plane (n, c)'s share of
// dterms = [dgamma0 | dgamma1 | dbeta0 | dbeta1]: sum g * xhat at s·C + c, sum g at (2 + s)·C + c
// and 0 in the other slot's two entries, so dterms is the column sums of partials.
// Workgroup: 64 threads; override REDUCE_GROUP threads per plane, as in bn_plane_stats.wgsl,
// both sums in one group_sum of a vec2 (lib/reduce.wgsl). A grid too large for x spills into y.
// Bounds: trusted: threads past the last plane redo it (min) and write nothing; n·c > 0 in any
// dispatch that runs; x and dy within the plane's hw values; partials at row n < N of [N, 4C];
// slots 0 or 1.
// Bindings: 0 params (uniform, lib/bn_routing.wgsl), 1 x, 2 dy, 3 mask, 4 stats, 5 gamma0,
// 6 gamma1, 7 beta0, 8 beta1 (read), 9 partials (read_write).
// Reference: reference::bn_backward_plane_sums (with sum_rows)
// Test: kernels-tests/norm.rs::every_mode_matches_the_reference_on_every_mask, kernels-tests/norm.rs::gradients_match_finite_differences

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read> gamma0: array<f32>;
@group(0) @binding(6) var<storage, read> gamma1: array<f32>;
@group(0) @binding(7) var<storage, read> beta0: array<f32>;
@group(0) @binding(8) var<storage, read> beta1: array<f32>;
@group(0) @binding(9) var<storage, read_write> partials: array<f32>;

//!include bn_routing.wgsl
const REDUCE_THREADS: u32 = 64u;
override REDUCE_GROUP: u32 = 64u;
alias Reduced = vec2f; // (sum g, sum g * xhat)
//!include reduce.wgsl

@compute @workgroup_size(REDUCE_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let index = group_index(wid, nwg, lid);
    let t = lid % REDUCE_GROUP;
    // Threads past the last plane redo it and write nothing, but still reach group_sum's barriers.
    let valid = index < p.n * p.c;
    let plane = min(index, p.n * p.c - 1u);
    let n = plane / p.c;
    let c = plane % p.c;
    let s = slot_of(n);
    let gamma = select(gamma0[c], gamma1[c], s == 1u);
    let beta = select(beta0[c], beta1[c], s == 1u);
    let mu = mean_of(s, c);
    let invstd = invstd_of(s, c);
    let start = plane * p.hw;
    // A slot without a gradient sums nothing.
    let end = select(start, start + p.hw, ((p.trained_slots >> s) & 1u) == 1u);
    var sums = vec2f(0.0);
    for (var i = start + t; i < end; i += REDUCE_GROUP) {
        let g = relu_gate(dy[i], bn_value(x[i], mu, invstd, gamma, beta));
        sums += vec2f(g, g * (x[i] - mu) * invstd);
    }
    let total = group_sum(lid, sums);
    if (valid && t == 0u) {
        let row = n * 4u * p.c + c;
        partials[row + s * p.c] = total.y;
        partials[row + (1u - s) * p.c] = 0.0;
        partials[row + (2u + s) * p.c] = total.x;
        partials[row + (3u - s) * p.c] = 0.0;
    }
}
