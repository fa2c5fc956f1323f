// Four columns n..n+3 of a GEMM's B operand for the subgroup core (b_quad_at, b_quad), built
// from the including index library's single-column reader: its BCol, b_col(n) and
// b_elem(col, kp), which guard their own bounds.
struct BQuad { c0: BCol, c1: BCol, c2: BCol, c3: BCol }

fn b_quad_at(n: u32) -> BQuad {
    return BQuad(b_col(n), b_col(n + 1u), b_col(n + 2u), b_col(n + 3u));
}

fn b_quad(b: BQuad, kp: KPos) -> vec4<f32> {
    return vec4(b_elem(b.c0, kp), b_elem(b.c1, kp), b_elem(b.c2, kp), b_elem(b.c3, kp));
}
