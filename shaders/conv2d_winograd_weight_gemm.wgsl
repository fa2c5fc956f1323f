// conv2d_winograd_weight_gemm: the T*T products of the Winograd F(m x m, 3x3) weight gradient
// (T = m + 2), one per transform position xi, in `splits` parts over the tiles:
// part[xi*splits + s, co, ci] = sum over the part's tiles t of v[xi, ci, t] * z[xi, co, t], as
// one GEMM of the shared core (lib/conv_gemm.wgsl) with m = ci, n = co, k = (xi, t), split along
// k (lib/conv2d_winograd_weight_index.wgsl).
// Layouts: v f32 [T*T, Cin, stride] (conv2d_winograd_input of x; stride: the tiles rounded up
// to a multiple of 4, zeros past them); z f32 [T*T, Cout, stride] (conv2d_winograd_input's
// output-gradient transform of dy); part f32 [chunks*T*T*splits, Cout, Cin] (summed and
// transformed by conv2d_winograd_filter_grad).
// Workgroup: WM*WN threads (override constants), each computing a TM x TN block of one part.
// Bounds: trusted: see lib/conv2d_winograd_weight_index.wgsl.
// Bindings: 0 params (uniform, lib/conv_common.wgsl), 1 v (read, vec4), 2 z (read, vec4),
// 3 part (read_write).
// This variant: the workgroup-memory core, for any adapter (conv2d_winograd_weight_gemm_subgroup:
// lavapipe).
// Reference: reference::conv2d_winograd_weight_gemm
// Test: kernels-tests/winograd.rs::winograd_weight_gradient_kernels_match_reference

//!include conv2d_winograd_weight_index.wgsl
//!include conv_tiles_k_quads.wgsl
//!include conv_gemm.wgsl

@group(0) @binding(1) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> zg: array<vec4<f32>>;

// Rows k..k+3 (k a multiple of 4) of input channel r of A (V) and of output channel c of B
// (Z), zero past k_end or the row.
fn a_k_quad(r: ARow, kp: KPos) -> vec4<f32> {
    let ok = r.valid && kp.live;
    return select(vec4(0.0), v[select(0u, (kp.va + r.off) / 4u, ok)], ok);
}

fn b_k_quad(c: BCol, kp: KPos) -> vec4<f32> {
    let ok = c.valid && kp.live;
    return select(vec4(0.0), zg[select(0u, (kp.za + c.off) / 4u, ok)], ok);
}
