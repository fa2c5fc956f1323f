// conv2d_backward_input: dx[n,ci,iy,ix] = sum over co,ky,kx of dy[n,co,oy,ox] * w[co,ci,ky,kx]
// where oy*s-p+ky = iy and ox*s-p+kx = ix (the transposed convolution of dy), as an implicit GEMM
// (lib/conv_gemm.wgsl) per stride phase (lib/conv2d_backward_input_index.wgsl) with n = ci;
// border taps read as zero. B is the phase's taps of the weight packed by conv2d_pack_weight as
// [Cout*taps, Cin padded to 4], read as vec4s along n.
// Layouts: dy [N,Cout,Ho,Wo], dx [N,Cin,H,W], f32 NCHW; packed weight as above.
// Workgroup: WM*WN threads (override constants), each computing a TM x TN block of dx.
// Bounds: trusted: see lib/conv2d_backward_input_index.wgsl.
// Elements: act = dy, dx (the packed weight stays f32): f32, or f16 under --precision mixed
// (//!element, gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores round
// once.
// Bindings: 0 params (uniform, lib/conv_common.wgsl), 1 dy (read), 2 packed weight
// (read, vec4), 3 dx (read_write).
// This variant: the workgroup-memory core, for any adapter (conv2d_backward_input_subgroup: lavapipe).
// Reference: reference::conv2d_backward_input
// Test: kernels-tests/conv.rs::conv_kernels_match_reference, kernels-tests/conv.rs::conv_gradients_match_finite_differences

//!include conv2d_backward_input_index.wgsl
//!include conv_packed_b_vec4.wgsl
//!include conv_tiles_mn.wgsl
//!include conv_gemm.wgsl
