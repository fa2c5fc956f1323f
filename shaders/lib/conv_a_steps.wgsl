// The iteration's STEPS k steps of A for the subgroup core (lib/conv_gemm_subgroup.wgsl), one
// a_quads each, from the including A loader's per-step reader (lib/conv_a_rows.wgsl: a scalar
// per row; lib/conv_a_quads.wgsl: a group of four rows per load).

fn a_steps(a: LaneA, k0: KPos, k1: KPos, k2: KPos, k3: KPos) -> ASteps {
    var s: ASteps;
    s.s0 = a_quads(a, k0);
    if (STEPS >= 2u) {
        s.s1 = a_quads(a, k1);
    }
    if (STEPS >= 3u) {
        s.s2 = a_quads(a, k2);
    }
    if (STEPS == 4u) {
        s.s3 = a_quads(a, k3);
    }
    return s;
}
