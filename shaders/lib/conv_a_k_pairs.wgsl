// The subgroup core's A operand (lib/conv_gemm_subgroup.wgsl) where every row is contiguous
// along k in aligned f32 pairs and an iteration's two k steps (STEPS = 2, k0 even) are one
// pair: Winograd's weight gradient, whose rows (input channels of V) run along the tiles. One
// u64 load per row per iteration instead of two, through the including kernel's
// a_k_pair(row, kp) (the row at k and k + 1, guarding its own bounds); the rows as
// lib/conv_a_lane_rows.wgsl keeps them.
//!include conv_a_lane_rows.wgsl

// Rows 4j..4j+3 at k and at k + 1.
fn pair_quads(a: LaneA, j: u32, kp: KPos) -> array<vec4<f32>, 2> {
    let p0 = a_k_pair(a.rows[4u * j], kp);
    let p1 = a_k_pair(a.rows[4u * j + 1u], kp);
    let p2 = a_k_pair(a.rows[4u * j + 2u], kp);
    let p3 = a_k_pair(a.rows[4u * j + 3u], kp);
    return array(vec4(p0.x, p1.x, p2.x, p3.x), vec4(p0.y, p1.y, p2.y, p3.y));
}

// The iteration's two k steps (k1 = k0 + 1, read with k0's pairs).
fn a_steps(a: LaneA, k0: KPos, k1: KPos, k2: KPos, k3: KPos) -> ASteps {
    let q0 = pair_quads(a, 0u, k0);
    let q1 = pair_quads(a, 1u, k0);
    var q2: array<vec4<f32>, 2>;
    var q3: array<vec4<f32>, 2>;
    if (TM == 16u) {
        q2 = pair_quads(a, 2u, k0);
        q3 = pair_quads(a, 3u, k0);
    }
    var s: ASteps;
    s.s0 = AQuads(q0[0], q1[0], q2[0], q3[0]);
    s.s1 = AQuads(q0[1], q1[1], q2[1], q3[1]);
    return s;
}
