// conv2d_forward_strip: the math and results of shaders/conv2d_forward.wgsl on the subgroup core
// (lib/conv_gemm_subgroup.wgsl) with A read as pixel strips (lib/conv_a_strip.wgsl): for
// stride-1 3x3 convolutions with padding 1 whose output rows are a multiple of TM wide, each
// lane's TM output pixels lie in one row, so a tap reads TM neighbouring values of x.
// Workgroup: WN subgroups of WM = 8 lanes; each lane computes a TM x TN block of y.
// Bounds: trusted: see lib/conv2d_forward_index.wgsl and lib/conv_a_strip.wgsl.
// Elements: f32 only (the strips read f32 pairs as u64; f16 runs the subgroup variant).
// Bindings: as conv2d_forward, with 1 and 2 (x as scalars, the packed weight as vec4s,
// declared by the index library) unused; 4 x and 5 the packed weight again, as groups of four
// f32 (array<vec2<u64>>, read).
// Reference: reference::conv2d_forward
// Test: kernels-tests/conv.rs::conv_kernels_match_reference

//!include conv2d_forward_index.wgsl
//!include conv_packed_b_pairs.wgsl
//!include conv_a_strip.wgsl
//!include conv_b_steps.wgsl
//!include conv_gemm_subgroup.wgsl

@group(0) @binding(4) var<storage, read> a4: array<vec2<u64>>;
@group(0) @binding(5) var<storage, read> wp8: array<vec2<u64>>;

// Output pixels m0.. lie in row oy of image img from column ox0 (a_row's window corner, with
// stride 1 at (oy - pad, ox0 - pad)); they read input row oy + dy from column ox0 + dx.
fn strip_at(m0: u32) -> LaneA {
    let r = a_row(m0);
    let pad = i32(p.pad);
    let ox0 = r.ix0 + pad;
    return LaneA(r.corner + pad * i32(p.w) + pad, r.iy0 + pad, p.h, ox0 == 0,
                 u32(ox0) + TM == p.w, r.valid);
}

// k = (ci, ky, kx): KPos.off is (ci·h + ky)·w + kx.
fn a_tap(kp: KPos) -> Tap {
    return Tap(kp.off - kp.kx - i32(p.pad * p.w), kp.ky - i32(p.pad), kp.kx - i32(p.pad));
}
