// conv2d_winograd_gemm: the T*T products of Winograd F(m x m, 3x3) (T = m + 2: 16 for F(2x2),
// 36 for F(4x4)), one per position xi of the T x T transform:
// prod[xi, n, t] = sum over c of v[xi, c, t] * u[xi, c, n], for tiles t and output columns n
// (the forward pass's output channels, the backward-data pass's input channels), as one GEMM of
// the shared core (lib/conv_gemm.wgsl) with m = t, n, k = (xi, c), split along k by xi
// (lib/conv2d_winograd_gemm_index.wgsl).
// Layouts: v f32 [T*T, C, stride] (conv2d_winograd_input; stride: the tiles rounded up to a
// multiple of 4), read as vec4s along the tiles; u the filter transform packed by
// conv2d_winograd_filter as [T*T*C, n padded to 32] in blocks of 32 columns, read as vec4s;
// prod f32 [T*T, n, stride] (read by conv2d_winograd_output).
// Workgroup: WM*WN threads (override constants), each computing a TM x TN block of one product.
// Bounds: trusted: see lib/conv2d_winograd_gemm_index.wgsl.
// Bindings: 0 params (uniform, lib/conv_common.wgsl), 1 v (read, vec4), 2 packed u (read,
// vec4), 3 prod (read_write, vec4).
// This variant: the workgroup-memory core, for any adapter (conv2d_winograd_gemm_subgroup:
// lavapipe).
// Reference: reference::conv2d_winograd_gemm
// Test: kernels-tests/winograd.rs::winograd_transforms_match_reference

//!include conv2d_winograd_gemm_index.wgsl
//!include conv_packed_b_vec4.wgsl
//!include conv_tiles_quads.wgsl
//!include conv_gemm.wgsl

@group(0) @binding(1) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> prod: array<vec4<f32>>;

fn v_quad(i: u32) -> vec4<f32> { return v[i]; }
fn put_prod_quad(i: u32, values: vec4<f32>) { prod[i] = values; }
