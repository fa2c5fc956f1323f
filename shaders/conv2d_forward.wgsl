// conv2d_forward: y[n,co,oy,ox] = sum over ci,ky,kx of x[n,ci,oy*s-p+ky,ox*s-p+kx] * w[co,ci,ky,kx]
// (no bias, zero padding), as an implicit GEMM (lib/conv_gemm.wgsl) with m = (n,oy,ox), n = co,
// k = (ci,ky,kx): A is the never-stored im2col of x, B the weight packed as [Cin*K*K, Cout
// padded to 4] by conv2d_pack_weight, so B rows are contiguous along n and read as vec4s.
// Layouts: x [N,Cin,H,W], y [N,Cout,Ho,Wo], f32 NCHW; packed weight as above.
// Workgroup: WM*WN threads (override constants), each computing a TM x TN block of y.
// Bounds: trusted: see lib/conv2d_forward_index.wgsl.
// Elements: act = x, y (the packed weight stays f32): f32, or f16 under --precision mixed
// (//!element, gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores round
// once.
// Bindings: 0 params (uniform, lib/conv_common.wgsl), 1 x (read), 2 packed weight
// (read, vec4), 3 y (read_write).
// This variant: the workgroup-memory core, for any adapter (conv2d_forward_subgroup: lavapipe).
// Reference: reference::conv2d_forward
// Test: kernels-tests/conv.rs::conv_kernels_match_reference

//!include conv2d_forward_index.wgsl
//!include conv_packed_b_vec4.wgsl
//!include conv_tiles_mn.wgsl
//!include conv_gemm.wgsl
