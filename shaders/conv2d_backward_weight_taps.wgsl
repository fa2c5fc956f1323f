// conv2d_backward_weight_taps: the math and results of shaders/conv2d_backward_weight.wgsl on
// the subgroup core (lib/conv_gemm_subgroup.wgsl) with A read by tap rows
// (lib/conv_a_tap_rows.wgsl): for stride-1 3x3 convolutions with padding 1 whose rows are a
// multiple of 4 wide, each lane holds two whole tap rows (six taps) and each loop iteration
// takes four neighbouring pixels (STEPS = 4), so the x values its taps share are loaded once,
// and dy in groups of four pixels (lib/conv_b_groups.wgsl).
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes an 8 x TN block of the partial
// weight gradient (TM = 8: rows 6 and 7 are zero), over 8 virtual rows per two tap rows.
// Bounds: trusted: see lib/conv2d_backward_weight_index.wgsl and lib/conv_a_tap_rows.wgsl.
// Elements: f32 only (x is read as f32 pairs in u64; f16 runs the subgroup variant).
// Bindings: as conv2d_backward_weight, with 1 and 2 (x and dy as scalars, declared by the
// index library) unused, and 4 x and 5 dy again, as groups of four f32 (array<vec2<u64>>,
// read).
// Reference: reference::conv2d_backward_weight
// Test: kernels-tests/conv.rs::conv_kernels_match_reference

//!include conv2d_backward_weight_index.wgsl
//!include conv_a_tap_rows.wgsl
//!include conv_b_groups.wgsl
//!include conv_gemm_subgroup.wgsl

@group(0) @binding(4) var<storage, read> a4: array<vec2<u64>>;
@group(0) @binding(5) var<storage, read> b4: array<vec2<u64>>;
