// conv2d_backward_input: dx[n,ci,iy,ix] = sum over co,ky,kx of dy[n,co,oy,ox] * w[co,ci,ky,kx]
// where oy*s-p+ky = iy and ox*s-p+kx = ix (the transposed convolution of dy), as an implicit GEMM
// (lib/conv_gemm.wgsl) per stride phase (below) with n = ci; border taps read as zero.
// Layouts: dy [N,Cout,Ho,Wo], w [Cout,Cin,K,K], dx [N,Cin,H,W], f32 NCHW.
// Workgroup: WM*WN threads (override constants), each computing a TM x TN block of dx.
// Bounds: trusted: see lib/conv2d_backward_input_index.wgsl.
// Bindings: 0 params (uniform, lib/conv_common.wgsl), 1 dy (read), 2 w (read), 3 dx (read_write).
// This variant: the workgroup-memory core, for any adapter (conv2d_backward_input_subgroup: lavapipe).

//!include conv2d_backward_input_index.wgsl
//!include conv_gemm.wgsl
