// conv2d_forward_subgroup: the math and results of shaders/conv2d_forward.wgsl
// on the core for adapters with 8-wide subgroups (lib/conv_gemm_subgroup.wgsl).
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes an 8 x 32 block of y.
// Bounds: trusted: see lib/conv2d_forward_index.wgsl.
// Elements: act = x, y (the packed weight stays f32): f32, or f16 under --precision mixed
// (//!element, gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores round
// once.
// Bindings: as conv2d_forward.
// Reference: reference::conv2d_forward
// Test: kernels-tests/conv.rs::conv_kernels_match_reference

//!include conv2d_forward_index.wgsl
//!include conv_packed_b_vec4.wgsl
//!include conv_a_rows.wgsl
//!include conv_b_steps.wgsl
//!include conv_gemm_subgroup.wgsl
