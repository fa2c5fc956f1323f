// conv2d_forward: y[n,co,oy,ox] = sum over ci,ky,kx of x[n,ci,oy*s-p+ky,ox*s-p+kx] * w[co,ci,ky,kx]
// (no bias, zero padding), as an implicit GEMM (lib/conv_gemm.wgsl) with m = (n,oy,ox), n = co,
// k = (ci,ky,kx): A is the never-stored im2col of x, B the weight seen as [Cout, Cin*K*K].
// Layouts: x [N,Cin,H,W], w [Cout,Cin,K,K], y [N,Cout,Ho,Wo], f32 NCHW.
// Workgroup: WM*WN threads (override constants), each computing a TM x TN block of y.
// Bounds: trusted: see lib/conv2d_forward_index.wgsl.
// Bindings: 0 params (uniform, lib/conv_common.wgsl), 1 x (read), 2 w (read), 3 y (read_write).
// This variant: the workgroup-memory core, for any adapter (conv2d_forward_subgroup: lavapipe).

//!include conv2d_forward_index.wgsl
//!include conv_gemm.wgsl
