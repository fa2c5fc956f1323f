// bn_backward_input: gradient of batch norm w.r.t. its input, per slot s of the sample
// (lib/bn_routing.wgsl). Slots without a gradient (DAR-BN's noise branch) get dx = 0.
// Training mode (batch statistics, which depend on x), M = m_s:
//   dx = gamma_s * invstd_s * (dy - dbeta_s[c] / M - xhat * dgamma_s[c] / M)
// Eval mode (running statistics are constants): dx = gamma_s * invstd_s * dy.
// With override RELU (fused BN -> ReLU), dy is first zeroed where xhat * gamma_s + beta_s <= 0,
// the ReLU mask recomputed from x (dterms come from bn_backward_plane_sums with the same gate).
// Layouts: x, dy, dx [N,C,H,W] f32; mask [N] u32; stats, dterms [4C]; gamma0, gamma1, beta0,
// beta1 [C] (betas read only with RELU).
// Workgroup: 64 threads; REDUCE_GROUP threads per (sample, channel) plane striding over its
// items of LANES values, as in bn_apply.wgsl (lib/bn_walk.wgsl); a grid too large for x spills
// into y.
// Bounds: trusted: plane < n·c by the guard (so c > 0); x, dy and dx within the plane's
// hw / LANES items (whole vectors, as in bn_apply.wgsl); stats and dterms at < 4C, γ/β at
// c < C; slots 0 or 1.
// Elements: act = x, dy, dx (dterms f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 x, 2 mask, 3 stats, 4 gamma0, 5 gamma1, 6 beta0, 7 beta1
// (read; lib/bn_plane.wgsl), 8 dy, 9 dterms (read), 10 dx (read_write).
// Reference: reference::bn_backward_input
// Test: kernels-tests/norm.rs::every_mode_matches_the_reference_on_every_mask, kernels-tests/norm.rs::gradients_match_finite_differences

//!include bn_plane.wgsl
@group(0) @binding(8) var<storage, read> dy: array<actv>;
@group(0) @binding(9) var<storage, read> dterms: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx: array<actv>;

@compute @workgroup_size(REDUCE_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let plane = group_index(wid, nwg, lid);
    if (plane >= p.n * p.c) { return; }
    let b = plane_at(plane);
    let items = plane_items(plane);
    let first = items.x + lid % REDUCE_GROUP;
    if (((p.trained_slots >> b.slot) & 1u) == 0u) {
        for (var i = first; i < items.y; i += REDUCE_GROUP) { dx[i] = actv(f32v(0.0)); }
        return;
    }
    let dgamma = dterms[b.slot * p.c + b.c];
    let dbeta = dterms[(2u + b.slot) * p.c + b.c];
    let training = p.training == 1u;
    for (var i = first; i < items.y; i += REDUCE_GROUP) {
        let xv = f32v(x[i]);
        let g = relu_gate(f32v(dy[i]), bn_value(xv, b.mean, b.invstd, b.gamma, b.beta));
        let xhat = (xv - b.mean) * b.invstd;
        let correction = select(f32v(0.0), (dbeta + xhat * dgamma) / slot_count(b.slot),
                                training);
        dx[i] = actv(b.gamma * b.invstd * (g - correction));
    }
}
