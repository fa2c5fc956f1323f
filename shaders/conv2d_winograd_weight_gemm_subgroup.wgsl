// conv2d_winograd_weight_gemm_subgroup: the math and results of
// shaders/conv2d_winograd_weight_gemm.wgsl on the core for adapters with 8-wide subgroups
// (lib/conv_gemm_subgroup.wgsl).
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes a TM x TN block of one part.
// Bounds: trusted: see lib/conv2d_winograd_weight_index.wgsl.
// Bindings: as conv2d_winograd_weight_gemm.
// Reference: reference::conv2d_winograd_weight_gemm
// Test: kernels-tests/winograd.rs::winograd_weight_gradient_kernels_match_reference

//!include conv2d_winograd_weight_index.wgsl
//!include conv_a_rows.wgsl
//!include conv_b_steps.wgsl
//!include conv_gemm_subgroup.wgsl
