// The subgroup core's A operand (lib/conv_gemm_subgroup.wgsl), one scalar load per row per k:
// the lane's TM rows through the including index library's ARow, a_row(m) and a_elem(row, kp),
// which guard their own bounds. Any GEMM; lib/conv_a_strip.wgsl loads fewer values where a
// lane's rows are neighbouring pixels of one image row.

//!include conv_a_lane_rows.wgsl

// Rows 4j..4j+3 of A at k.
fn a_quads(a: LaneA, kp: KPos) -> AQuads {
    var q: AQuads;
    q.q0 = vec4(a_elem(a.rows[0], kp), a_elem(a.rows[1], kp), a_elem(a.rows[2], kp),
                a_elem(a.rows[3], kp));
    q.q1 = vec4(a_elem(a.rows[4], kp), a_elem(a.rows[5], kp), a_elem(a.rows[6], kp),
                a_elem(a.rows[7], kp));
    if (TM == 16u) {
        q.q2 = vec4(a_elem(a.rows[8], kp), a_elem(a.rows[9], kp), a_elem(a.rows[10], kp),
                    a_elem(a.rows[11], kp));
        q.q3 = vec4(a_elem(a.rows[12], kp), a_elem(a.rows[13], kp), a_elem(a.rows[14], kp),
                    a_elem(a.rows[15], kp));
    }
    return q;
}

//!include conv_a_steps.wgsl
