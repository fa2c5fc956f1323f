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
// Workgroup: 64 threads; override REDUCE_GROUP threads per plane striding over its items of
// LANES values (lib/bn_walk.wgsl), each summing per lane, both sums in one group_sum of a vec2
// (lib/reduce.wgsl). A grid too large for x spills into y.
// Bounds: trusted: threads past the last plane redo it (min) and write nothing; n·c > 0 in any
// dispatch that runs; x and dy within the plane's hw / LANES items (whole vectors, as in
// bn_apply.wgsl); partials at row n < N of [N, 4C]; slots 0 or 1.
// Elements: act = x, dy (partials f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 x, 2 mask, 3 stats, 4 gamma0, 5 gamma1, 6 beta0, 7 beta1
// (read; lib/bn_plane.wgsl), 8 dy (read), 9 partials (read_write).
// Reference: reference::bn_backward_plane_sums (with sum_rows)
// Test: kernels-tests/norm.rs::every_mode_matches_the_reference_on_every_mask, kernels-tests/norm.rs::gradients_match_finite_differences

//!include bn_plane.wgsl
@group(0) @binding(8) var<storage, read> dy: array<actv>;
@group(0) @binding(9) var<storage, read_write> partials: array<f32>;
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
    let b = plane_at(plane);
    let s = b.slot;
    let items = plane_items(plane);
    // A slot without a gradient sums nothing.
    let end = select(items.x, items.y, ((p.trained_slots >> s) & 1u) == 1u);
    var sum_g = f32v(0.0);
    var sum_gx = f32v(0.0);
    for (var i = items.x + t; i < end; i += REDUCE_GROUP) {
        let xv = f32v(x[i]);
        let g = relu_gate(f32v(dy[i]), bn_value(xv, b.mean, b.invstd, b.gamma, b.beta));
        sum_g += g;
        sum_gx += g * (xv - b.mean) * b.invstd;
    }
    let total = group_sum(lid, vec2f(lane_sum(sum_g), lane_sum(sum_gx)));
    if (valid && t == 0u) {
        let row = b.sample * 4u * p.c + b.c;
        partials[row + s * p.c] = total.y;
        partials[row + (1u - s) * p.c] = 0.0;
        partials[row + (2u + s) * p.c] = total.x;
        partials[row + (3u - s) * p.c] = 0.0;
    }
}
