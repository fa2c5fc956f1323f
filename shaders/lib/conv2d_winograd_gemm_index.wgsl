// The bindings and index functions of conv2d_winograd_gemm (described in
// shaders/conv2d_winograd_gemm.wgsl), shared by its two variants: lib/conv_gemm.wgsl and
// lib/conv_gemm_subgroup.wgsl as the core.
//
// The T*T GEMMs of the Winograd transform positions xi are one GEMM split along k: k = xi*c + ci
// over k_total = T*T*c, and workgroup z reduces the chunk [z*c, (z+1)*c) (k_chunk = c), so its
// split index is xi and it writes product xi whole; the cores need no change for it.
//
// Bounds (the kernels are trusted: created without runtime checks): a load's index is the
// selected 0 unless its element is inside: v for rows m < m_total at k < k_end <= k_total
// (k*m_total + m < T*T*c*tiles, v's length); the packed filter for columns n < n_total at
// k < k_total (lib/conv_packed_b.wgsl); m is written only for rows m < m_total and columns
// n < n_total, at split (xi) < T*T (the host dispatches T*T workgroups along z).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> wp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> prod: array<f32>;

// One tile (row of A and C).
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

fn a_elem(r: ARow, kp: KPos) -> f32 {
    let ok = r.valid && kp.live;
    let val = v[select(0u, kp.k * p.m_total + r.m, ok)];
    return select(0.0, val, ok);
}

// B: four columns n..n+3 at a time from the transformed, packed filter.
//!include conv_packed_b.wgsl

struct CRow { m: u32, valid: bool }

fn c_row(m: u32) -> CRow {
    return CRow(m, m < p.m_total);
}

// The split index is the transform position xi.
fn c_put(r: CRow, n: u32, split: u32, val: f32) {
    if (r.valid && n < p.n_total) {
        prod[(split * p.n_total + n) * p.m_total + r.m] = val;
    }
}
