// conv2d_winograd_weight_gemm_subgroup: the math and results of
// shaders/conv2d_winograd_weight_gemm.wgsl on the core for adapters with 8-wide subgroups
// (lib/conv_gemm_subgroup.wgsl).
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes a TM x TN block of one part.
// Bounds: trusted: see lib/conv2d_winograd_weight_index.wgsl.
// Bindings: as conv2d_winograd_weight_gemm, with v and z read as scalars.
// Reference: reference::conv2d_winograd_weight_gemm
// Test: kernels-tests/winograd.rs::winograd_weight_gradient_kernels_match_reference

//!include conv2d_winograd_weight_index.wgsl
//!include conv_a_rows.wgsl
//!include conv_b_quad.wgsl
//!include conv_b_steps.wgsl
//!include conv_gemm_subgroup.wgsl

@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> zg: array<f32>;

// Input channel r of A (V) and output channel c of B (Z) at k, zero past k_end or the row.
fn a_elem(r: ARow, kp: KPos) -> f32 {
    let ok = r.valid && kp.live;
    let val = v[select(0u, kp.va + r.off, ok)];
    return select(0.0, val, ok);
}

fn b_elem(c: BCol, kp: KPos) -> f32 {
    let ok = c.valid && kp.live;
    let val = zg[select(0u, kp.za + c.off, ok)];
    return select(0.0, val, ok);
}
