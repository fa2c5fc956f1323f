// conv2d_winograd_gemm_subgroup: the math and results of shaders/conv2d_winograd_gemm.wgsl on
// the core for adapters with 8-wide subgroups (lib/conv_gemm_subgroup.wgsl).
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes an 8 x 32 block of one product.
// Bounds: trusted: see lib/conv2d_winograd_gemm_index.wgsl.
// Bindings: as conv2d_winograd_gemm, with v (binding 1) and prod (3) as groups of four f32
// (array<vec2<u64>>: lib/conv_f32_pairs.wgsl), half the loads and stores of vec4s on lavapipe.
// Reference: reference::conv2d_winograd_gemm
// Test: kernels-tests/winograd.rs::winograd_transforms_match_reference

//!include conv2d_winograd_gemm_index.wgsl
//!include conv_packed_b_vec4.wgsl
//!include conv_a_quads.wgsl
//!include conv_b_steps.wgsl
//!include conv_gemm_subgroup.wgsl
//!include conv_f32_pairs.wgsl

@group(0) @binding(1) var<storage, read> a4: array<vec2<u64>>;
@group(0) @binding(3) var<storage, read_write> prod8: array<vec2<u64>>;

fn v_quad(i: u32) -> vec4<f32> { return f32x4(a4[i]); }
fn put_prod_quad(i: u32, values: vec4<f32>) { prod8[i] = f32_pairs(values); }
