// The bindings and index functions of conv2d_winograd_gemm (described in
// shaders/conv2d_winograd_gemm.wgsl), shared by its two variants: lib/conv_gemm.wgsl with
// lib/conv_tiles_quads.wgsl and lib/conv_gemm_subgroup.wgsl with lib/conv_a_quads.wgsl as the
// core. Each variant binds V (binding 1) and the products (binding 3) as groups of four f32 and
// reads and writes group i through v_quad(i) and put_prod_quad(i, values): vec4s, or f32 pairs
// on lavapipe (lib/conv_f32_pairs.wgsl).
//
// The T*T GEMMs of the Winograd transform positions xi are one GEMM split along k: k = xi*c + ci
// over k_total = T*T*c, and workgroup z reduces the chunk [z*c, (z+1)*c) (k_chunk = c), so its
// split index is xi and it writes product xi whole; the cores need no change for it. Its rows
// are V's row stride (m_total: the tiles rounded up to a multiple of 4), so a row of A is whole
// vec4s from a multiple of 4; the rows past the tiles are the input transform's zeros, and the
// output transform never reads their products.
//
// Bounds (the kernels are trusted: created without runtime checks): a load's index is the
// selected 0 unless its element is inside: v for rows m..m+3 with m < m_total at k < k_end <=
// k_total (m_total, m multiples of 4; (k*m_total + m)/4 < T*T*c*m_total/4, v's length in
// groups of four); the packed filter for columns n < n_total at k < k_total
// (lib/conv_packed_b.wgsl); the products are written only for rows m..m+3 with m < m_total and
// columns n < n_total, at split (xi) < T*T (the host dispatches T*T workgroups along z), below
// their T*T*n_total*m_total/4 groups of four.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> wp: array<vec4<f32>>;

// One tile (row of A and C), or the first of four.
struct ARow { m: u32, valid: bool }

fn a_row(m: u32) -> ARow {
    return ARow(m, m < p.m_total);
}

// One reduction index k = (xi, ci), live while inside the chunk being reduced.
struct KPos { k: u32, live: bool }

fn k_pos(k: u32, k_end: u32) -> KPos {
    return KPos(k, k < k_end);
}

fn k_next(kp: KPos, k_end: u32) -> KPos {
    return KPos(kp.k + 1u, kp.k + 1u < k_end);
}

// Rows m..m+3 of A (m a multiple of 4) at k.
fn a_quad(r: ARow, kp: KPos) -> vec4<f32> {
    let ok = r.valid && kp.live;
    let val = v_quad(select(0u, (kp.k * p.m_total + r.m) / 4u, ok));
    return select(vec4(0.0), val, ok);
}

// B: four columns n..n+3 at a time from the transformed, packed filter.
//!include conv_packed_b.wgsl

struct CRow { m: u32, valid: bool }

fn c_row(m: u32) -> CRow {
    return CRow(m, m < p.m_total);
}

// Column n of rows m..m+3 (rows_at's four rows: m a multiple of 4) of product `split` (the
// transform position xi), in one store of four.
fn store_column(r: Rows, n: u32, split: u32, v: vec4<f32>) {
    if (r.r0.valid && n < p.n_total) {
        put_prod_quad(((split * p.n_total + n) * p.m_total + r.r0.m) / 4u, v);
    }
}
