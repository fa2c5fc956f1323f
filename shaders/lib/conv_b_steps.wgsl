// The iteration's STEPS k steps of B for the subgroup core (lib/conv_gemm_subgroup.wgsl), one
// b_quad each, from the including kernel's B reader (lib/conv_packed_b.wgsl or
// lib/conv_b_quad.wgsl).

fn b_steps(b: BQuad, k0: KPos, k1: KPos, k2: KPos, k3: KPos) -> BSteps {
    var s: BSteps;
    s.s0 = b_quad(b, k0);
    if (STEPS >= 2u) {
        s.s1 = b_quad(b, k1);
    }
    if (STEPS >= 3u) {
        s.s2 = b_quad(b, k2);
    }
    if (STEPS == 4u) {
        s.s3 = b_quad(b, k3);
    }
    return s;
}
