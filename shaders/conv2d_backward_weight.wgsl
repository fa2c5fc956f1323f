// conv2d_backward_weight: dw[co,ci,ky,kx] = sum over n,oy,ox of dy[n,co,oy,ox] * x[n,ci,oy*s-p+ky,ox*s-p+kx]
// as an implicit GEMM (lib/conv_gemm.wgsl) with m = (ci,ky,kx), n = co, k = (n,oy,ox). The long
// k range is split across workgroups (z): split z writes its partial sums to part[z], which
// src/ops/conv.rs sums with sum_rows (with one split, part is dw itself).
// Layouts: x [N,Cin,H,W], dy [N,Cout,Ho,Wo], part [splits,Cout,Cin*K*K], f32 NCHW.
// Workgroup: WM*WN threads (override constants), each computing a TM x TN block of dw.
// Bounds: trusted: see lib/conv2d_backward_weight_index.wgsl.
// Elements: act = x, dy (the weight-gradient partials stay f32): f32, or f16 under --precision
// mixed (//!element, gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores
// round once.
// Bindings: 0 params (uniform, lib/conv_common.wgsl), 1 x (read), 2 dy (read), 3 part (read_write).
// This variant: the workgroup-memory core, for any adapter (conv2d_backward_weight_subgroup: lavapipe).
// Reference: reference::conv2d_backward_weight
// Test: kernels-tests/conv.rs::conv_kernels_match_reference, kernels-tests/conv.rs::conv_gradients_match_finite_differences

//!include conv2d_backward_weight_index.wgsl
//!include conv_tiles_k.wgsl
//!include conv_gemm.wgsl
