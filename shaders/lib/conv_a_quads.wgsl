// The subgroup core's A operand (lib/conv_gemm_subgroup.wgsl) where a lane's TM rows lie side by
// side in memory in aligned groups of four at every k (Winograd's V, whose rows are tiles in a
// row stride padded to four): one load of four rows instead of four, from the including index
// library's ARow, a_row(m) (m a multiple of 4) and a_quad(row, kp) (rows m..m+3 at k), which
// guard their own bounds.

struct LaneA { r0: ARow, r1: ARow, r2: ARow, r3: ARow }

fn lane_a(m0: u32) -> LaneA {
    return LaneA(a_row(m0), a_row(m0 + 4u), a_row(m0 + 8u), a_row(m0 + 12u));
}

// Rows 4j..4j+3 of A at k (q2 and q3 only where TM = 16).
fn a_quads(a: LaneA, kp: KPos) -> AQuads {
    var q: AQuads;
    q.q0 = a_quad(a.r0, kp);
    q.q1 = a_quad(a.r1, kp);
    if (TM == 16u) {
        q.q2 = a_quad(a.r2, kp);
        q.q3 = a_quad(a.r3, kp);
    }
    return q;
}

//!include conv_a_steps.wgsl
