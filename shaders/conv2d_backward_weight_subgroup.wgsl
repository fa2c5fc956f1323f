// conv2d_backward_weight_subgroup: the math and results of shaders/conv2d_backward_weight.wgsl
// on the core for adapters with 8-wide subgroups (lib/conv_gemm_subgroup.wgsl).
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes an 8 x 32 block of part.
// Bounds: trusted: see lib/conv2d_backward_weight_index.wgsl.
// Elements: act = x, dy (the weight-gradient partials stay f32): f32, or f16 under --precision
// mixed (//!element, gpu::kernels); loads widen to f32 and all arithmetic and sums are f32, stores
// round once.
// Bindings: as conv2d_backward_weight.
// Reference: reference::conv2d_backward_weight
// Test: kernels-tests/conv.rs::conv_kernels_match_reference

//!include conv2d_backward_weight_index.wgsl
//!include conv_a_rows.wgsl
//!include conv_b_quad.wgsl
//!include conv_b_steps.wgsl
//!include conv_gemm_subgroup.wgsl
