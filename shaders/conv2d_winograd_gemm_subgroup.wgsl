// conv2d_winograd_gemm_subgroup: the math and results of shaders/conv2d_winograd_gemm.wgsl on
// the core for adapters with 8-wide subgroups (lib/conv_gemm_subgroup.wgsl).
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes an 8 x 32 block of one product.
// Bounds: trusted: see lib/conv2d_winograd_gemm_index.wgsl.
// Bindings: as conv2d_winograd_gemm.
// Reference: reference::conv2d_winograd_gemm
// Test: kernels-tests/winograd.rs::winograd_transforms_match_reference

//!include conv2d_winograd_gemm_index.wgsl
//!include conv_packed_b_vec4.wgsl
//!include conv_a_rows.wgsl
//!include conv_b_steps.wgsl
//!include conv_gemm_subgroup.wgsl
