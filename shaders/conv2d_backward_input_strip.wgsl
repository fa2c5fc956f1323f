// conv2d_backward_input_strip: the math and results of shaders/conv2d_backward_input.wgsl on the
// subgroup core (lib/conv_gemm_subgroup.wgsl) with A read as pixel strips
// (lib/conv_a_strip.wgsl): for stride-1 3x3 convolutions with padding 1 whose rows are a
// multiple of TM wide (one stride phase: every input position), each lane's TM input pixels lie
// in one row, so a tap reads TM neighbouring values of dy.
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes a TM x TN block of dx.
// Bounds: trusted: see lib/conv2d_backward_input_index.wgsl and lib/conv_a_strip.wgsl.
// Elements: f32 only (the strips read f32 pairs as u64; f16 runs the subgroup variant).
// Bindings: as conv2d_backward_input, with 1 and 2 (dy as scalars, the packed weight as vec4s,
// declared by the index library) unused; 4 dy and 5 the packed weight again, as groups of four
// f32 (array<vec2<u64>>, read).
// Reference: reference::conv2d_backward_input
// Test: kernels-tests/conv.rs::conv_kernels_match_reference

//!include conv2d_backward_input_index.wgsl
//!include conv_packed_b_pairs.wgsl
//!include conv_a_strip.wgsl
//!include conv_b_steps.wgsl
//!include conv_gemm_subgroup.wgsl

@group(0) @binding(4) var<storage, read> a4: array<vec2<u64>>;
@group(0) @binding(5) var<storage, read> wp8: array<vec2<u64>>;

// Input pixels m0.. lie in row iy of image img from column ix; with stride 1 and padding p the
// tap (jy, jx) reads output row iy + p - jy from column ix + p - jx.
fn strip_at(m0: u32) -> LaneA {
    let q = position(m0);
    return LaneA(i32((q.img * p.c_out * p.h_out + q.iy) * p.w_out + q.ix), i32(q.iy), p.h_out,
                 q.ix == 0u, q.ix + TM == p.w_out, m0 < p.m_total);
}

// k = (co, jy, jx): KPos.off is co·h_out·w_out - (jy·w_out + jx).
fn a_tap(kp: KPos) -> Tap {
    return Tap(kp.off + kp.jx + i32(p.pad * p.w_out), i32(p.pad) - kp.jy, i32(p.pad) - kp.jx);
}
