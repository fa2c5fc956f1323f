// Four columns n..n+3 of a GEMM's B operand for the subgroup core (b_quad_at, b_quad), built
// from the including index library's single-column reader: its BCol, b_col(n) and
// b_elem(col, kp), which guard their own bounds.
//!include conv_b_cols.wgsl

fn b_quad(b: BQuad, kp: KPos) -> vec4<f32> {
    return vec4(b_elem(b.c0, kp), b_elem(b.c1, kp), b_elem(b.c2, kp), b_elem(b.c3, kp));
}
