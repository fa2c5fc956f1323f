// Four columns n..n+3 of a GEMM's B operand for the subgroup core (BQuad, b_quad_at), from the
// including index library's BCol and b_col(n), for a reader of one column at a time
// (lib/conv_b_quad.wgsl, lib/conv_b_k_pairs.wgsl).

struct BQuad { c0: BCol, c1: BCol, c2: BCol, c3: BCol }

fn b_quad_at(n: u32) -> BQuad {
    return BQuad(b_col(n), b_col(n + 1u), b_col(n + 2u), b_col(n + 3u));
}
