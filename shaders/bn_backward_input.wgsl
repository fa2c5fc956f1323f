// bn_backward_input: gradient of batch norm w.r.t. its input, per slot s of the sample
// (lib/bn_routing.wgsl). Slots without a gradient (DAR-BN's noise branch) get dx = 0.
// Training mode (batch statistics, which depend on x), M = m_s:
//   dx = gamma_s * invstd_s * (dy - dbeta_s[c] / M - xhat * dgamma_s[c] / M)
// Eval mode (running statistics are constants): dx = gamma_s * invstd_s * dy.
// With override RELU (fused BN -> ReLU), dy is first zeroed where xhat * gamma_s + beta_s <= 0,
// the ReLU mask recomputed from x (dterms come from bn_backward_plane_sums with the same gate).
// Layouts: x, dy, dx [N,C,H,W] f32; mask [N] u32; stats, dterms [4C]; gamma0, gamma1, beta0,
// beta1 [C] (betas read only with RELU).
// Workgroup: 64 threads per (sample, channel) plane, striding over its pixels, as in
// bn_apply.wgsl; one workgroup per plane, a grid too large for x spilling into y.
// Bounds: trusted: plane < n·c by the guard (so c > 0); x, dy and dx within the plane's hw values;
// stats and dterms at < 4C, γ/β at c < C; slots 0 or 1.
// Bindings: 0 params (uniform, lib/bn_routing.wgsl), 1 x, 2 dy, 3 mask, 4 stats, 5 gamma0,
// 6 gamma1, 7 beta0, 8 beta1, 9 dterms (read), 10 dx (read_write).
// Reference: reference::bn_backward_input
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
@group(0) @binding(9) var<storage, read> dterms: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx: array<f32>;

//!include bn_routing.wgsl

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let plane = wid.y * nwg.x + wid.x;
    if (plane >= p.n * p.c) { return; }
    let c = plane % p.c;
    let s = slot_of(plane / p.c);
    let end = (plane + 1u) * p.hw;
    if (((p.trained_slots >> s) & 1u) == 0u) {
        for (var i = plane * p.hw + lid; i < end; i += 64u) { dx[i] = 0.0; }
        return;
    }
    let gamma = select(gamma0[c], gamma1[c], s == 1u);
    let beta = select(beta0[c], beta1[c], s == 1u);
    let invstd = invstd_of(s, c);
    let mu = mean_of(s, c);
    let dgamma = dterms[s * p.c + c];
    let dbeta = dterms[(2u + s) * p.c + c];
    let training = p.training == 1u;
    for (var i = plane * p.hw + lid; i < end; i += 64u) {
        let g = relu_gate(dy[i], bn_value(x[i], mu, invstd, gamma, beta));
        let xhat = (x[i] - mu) * invstd;
        let correction = select(0.0, (dbeta + xhat * dgamma) / slot_count(s), training);
        dx[i] = gamma * invstd * (g - correction);
    }
}
