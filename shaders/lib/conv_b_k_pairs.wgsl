// The iteration's two k steps of B for the subgroup core (lib/conv_gemm_subgroup.wgsl, STEPS =
// 2, k0 even) where every column is contiguous along k in aligned f32 pairs (Winograd's weight
// gradient: output channels of Z along the tiles): one u64 load per column per iteration,
// through the including kernel's b_k_pair(col, kp) (the column at k and k + 1, guarding its
// own bounds).
//!include conv_b_cols.wgsl

fn b_steps(b: BQuad, k0: KPos, k1: KPos, k2: KPos, k3: KPos) -> BSteps {
    let p0 = b_k_pair(b.c0, k0);
    let p1 = b_k_pair(b.c1, k0);
    let p2 = b_k_pair(b.c2, k0);
    let p3 = b_k_pair(b.c3, k0);
    var s: BSteps;
    s.s0 = vec4(p0.x, p1.x, p2.x, p3.x);
    s.s1 = vec4(p0.y, p1.y, p2.y, p3.y);
    return s;
}
