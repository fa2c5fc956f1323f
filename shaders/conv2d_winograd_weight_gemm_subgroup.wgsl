// conv2d_winograd_weight_gemm_subgroup: the math and results of
// shaders/conv2d_winograd_weight_gemm.wgsl on the core for adapters with 8-wide subgroups
// (lib/conv_gemm_subgroup.wgsl).
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes a TM x TN block of one part.
// Bounds: trusted: see lib/conv2d_winograd_weight_index.wgsl.
// Bindings: as conv2d_winograd_weight_gemm, with v and z read as f32 pairs along k (array<u64>:
// lib/conv_f32_pairs.wgsl), one load for the core's two k steps per iteration.
// Reference: reference::conv2d_winograd_weight_gemm
// Test: kernels-tests/winograd.rs::winograd_weight_gradient_kernels_match_reference

//!include conv2d_winograd_weight_index.wgsl
//!include conv_a_k_pairs.wgsl
//!include conv_b_k_pairs.wgsl
//!include conv_gemm_subgroup.wgsl
//!include conv_f32_pairs.wgsl

@group(0) @binding(1) var<storage, read> v2: array<u64>;
@group(0) @binding(2) var<storage, read> z2: array<u64>;

// Input channel r of A (V) and output channel c of B (Z) at k and k + 1 (k even), zero past
// k_end or the row (both or neither: the host keeps k_end and the rows even).
fn a_k_pair(r: ARow, kp: KPos) -> vec2<f32> {
    let ok = r.valid && kp.live;
    return select(vec2(0.0), f32x2(v2[select(0u, kp.va + r.off, ok) / 2u]), ok);
}

fn b_k_pair(c: BCol, kp: KPos) -> vec2<f32> {
    let ok = c.valid && kp.live;
    return select(vec2(0.0), f32x2(z2[select(0u, kp.za + c.off, ok) / 2u]), ok);
}
