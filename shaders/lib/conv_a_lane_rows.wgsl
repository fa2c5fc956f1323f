// A lane's TM rows of A for the subgroup core's per-row loaders (lib/conv_a_rows.wgsl,
// lib/conv_a_k_pairs.wgsl), from the including index library's ARow and a_row(m), indexed by
// constants only (the loops over TM unroll), so they stay in registers.

struct LaneA { rows: array<ARow, 16> }

fn lane_a(m0: u32) -> LaneA {
    var a: LaneA;
    for (var r = 0u; r < TM; r++) {
        a.rows[r] = a_row(m0 + r);
    }
    return a;
}
