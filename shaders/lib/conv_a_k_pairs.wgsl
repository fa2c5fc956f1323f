// The subgroup core's A operand (lib/conv_gemm_subgroup.wgsl) where every row is contiguous
// along k in aligned f32 pairs and an iteration's two k steps (STEPS = 2, k0 even) are one
// pair: Winograd's weight gradient, whose rows (input channels of V) run along the tiles. One
// u64 load per row per iteration instead of two, through the including kernel's
// a_k_pair(row, kp) (the row at k and k + 1, guarding its own bounds); the rows as
// lib/conv_a_lane_rows.wgsl keeps them.
//!include conv_a_lane_rows.wgsl

// Rows 4j..4j+3 at k and k + 1.
fn a_pairs(a: LaneA, j: u32, kp: KPos) -> array<vec2<f32>, 4> {
    return array(a_k_pair(a.rows[4u * j], kp), a_k_pair(a.rows[4u * j + 1u], kp),
                 a_k_pair(a.rows[4u * j + 2u], kp), a_k_pair(a.rows[4u * j + 3u], kp));
}

fn firsts(q: array<vec2<f32>, 4>) -> vec4<f32> { return vec4(q[0].x, q[1].x, q[2].x, q[3].x); }
fn seconds(q: array<vec2<f32>, 4>) -> vec4<f32> { return vec4(q[0].y, q[1].y, q[2].y, q[3].y); }

// The iteration's two k steps (k1 = k0 + 1, read with k0's pairs).
fn a_steps(a: LaneA, k0: KPos, k1: KPos, k2: KPos, k3: KPos) -> ASteps {
    var s: ASteps;
    let q0 = a_pairs(a, 0u, k0);
    let q1 = a_pairs(a, 1u, k0);
    s.s0.q0 = firsts(q0);
    s.s1.q0 = seconds(q0);
    s.s0.q1 = firsts(q1);
    s.s1.q1 = seconds(q1);
    if (TM == 16u) {
        let q2 = a_pairs(a, 2u, k0);
        let q3 = a_pairs(a, 3u, k0);
        s.s0.q2 = firsts(q2);
        s.s1.q2 = seconds(q2);
        s.s0.q3 = firsts(q3);
        s.s1.q3 = seconds(q3);
    }
    return s;
}
