// bn_apply: y = (x - mean_s[c]) / sqrt(var_s[c] + eps) * gamma_s[c] + beta_s[c], where s is the
// sample's slot (lib/bn_routing.wgsl). Training mode passes the batch statistics from bn_stats,
// eval mode the running statistics packed the same way. DAR-BN binds the same gamma/beta for
// both slots; AuxBN binds its auxiliary layer's as slot 1. Override RELU: y = max(that, 0), the
// pre-activation units' BN -> ReLU in one pass (also run again in backward to recompute y for
// the convolution that consumed it, instead of keeping y). Override RESIDUAL: r is added before
// the ReLU, y = max(bn(x) + r, 0): a post-activation residual block's BN, shortcut sum and ReLU
// in one pass over x, r and y (without it r is not read; the host binds x there).
// Layouts: x, r, y [N,C,H,W] f32; mask [N] u32; stats [4C]; gamma0, beta0, gamma1, beta1 [C].
// Workgroup: 64 threads; REDUCE_GROUP threads per (sample, channel) plane, each reading its
// plane's slot, statistics and parameters once and then striding over the plane's items of
// LANES values (lib/bn_walk.wgsl); a grid too large for x spills into y.
// Bounds: trusted: plane < n·c by the guard (so c > 0); x, r and y within the plane's hw / LANES
// items (LANES = 4 only where hw is a multiple of 4, so the arrays hold whole vectors: checked
// by the host and at dispatch; r has x's shape, checked on the host); stats at < 4C and γ/β at
// c < C; slots 0 or 1 (lib/bn_routing.wgsl clamps the mask).
// Elements: act = x, y, r (statistics, γ, β f32): f32, or f16 under --precision mixed (//!element,
// gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores round once.
// Bindings: 0 params (uniform), 1 x, 2 mask, 3 stats, 4 gamma0, 5 gamma1, 6 beta0, 7 beta1
// (read; lib/bn_plane.wgsl), 8 y (read_write), 9 r (read).
// Reference: reference::bn_apply
// Test: kernels-tests/norm.rs::every_mode_matches_the_reference_on_every_mask

//!include bn_plane.wgsl
@group(0) @binding(8) var<storage, read_write> y: array<actv>;
@group(0) @binding(9) var<storage, read> r: array<actv>;

override RESIDUAL: bool = false;

@compute @workgroup_size(REDUCE_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let plane = group_index(wid, nwg, lid);
    if (plane >= p.n * p.c) { return; }
    let b = plane_at(plane);
    let items = plane_items(plane);
    for (var i = items.x + lid % REDUCE_GROUP; i < items.y; i += REDUCE_GROUP) {
        var v = bn_value(f32v(x[i]), b.mean, b.invstd, b.gamma, b.beta);
        if (RESIDUAL) { v += f32v(r[i]); }
        y[i] = actv(select(v, max(v, f32v(0.0)), RELU));
    }
}
