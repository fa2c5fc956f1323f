// conv2d_backward_input_subgroup: the math and results of shaders/conv2d_backward_input.wgsl
// on the core for adapters with 8-wide subgroups (lib/conv_gemm_subgroup.wgsl).
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes an 8 x 32 block of dx.
// Bounds: trusted: see lib/conv2d_backward_input_index.wgsl.
// Elements: act = dy, dx (the packed weight stays f32): f32, or f16 under --precision mixed
// (//!element, gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores round
// once.
// Bindings: as conv2d_backward_input.
// Reference: reference::conv2d_backward_input
// Test: kernels-tests/conv.rs::conv_kernels_match_reference

//!include conv2d_backward_input_index.wgsl
//!include conv_packed_b_vec4.wgsl
//!include conv_a_rows.wgsl
//!include conv_b_steps.wgsl
//!include conv_gemm_subgroup.wgsl
