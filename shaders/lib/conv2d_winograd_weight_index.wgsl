// The index functions of conv2d_winograd_weight_gemm (described in
// shaders/conv2d_winograd_weight_gemm.wgsl), shared by its two variants, which bind V and Z and
// read them: lib/conv_gemm.wgsl as the core, reading both operands in vec4s of four
// consecutive k (lib/conv_tiles_k_quads.wgsl), and lib/conv_gemm_subgroup.wgsl, reading a
// scalar per row and k.
//
// The T*T products (transform positions xi), each reduced over the tiles in `splits` parts, are
// one GEMM split along k: k = xi*tp + t over k_total = T*T*tp, tp = splits*k_chunk the tiles
// padded to whole parts (p.wp), so workgroup z reduces part z % splits of product z / splits,
// and writes it at part index z_base + z (p.iy0: earlier chunks of images come first).
//
// V's and Z's rows are p.hp long: the tiles rounded up to a multiple of 4, the input transforms
// having written zeros past the tiles, so the reduction may run over the whole row. The host
// keeps k_chunk, and so the parts and their starts, multiples of 4: k = 4j and its row's next
// three are one aligned vec4 of V or Z, all inside or all past k_end and p.hp.
//
// Bounds (the kernels are trusted: created without runtime checks): a load's index is the
// selected 0 unless its element (or its four, for a vec4 at k = 4j) is inside: v for rows
// m < m_total = c_in, z for columns n < n_total = c_out, both at xi < T*T (k < k_total) and
// t < p.hp, below their T*T*channels*p.hp elements; part is written only for m < m_total,
// n < n_total, at z_base + z below the parts src/ops/conv/winograd.rs allocates (it dispatches
// T*T*splits workgroups along z per chunk). xi goes through div_rcp (exact below 2^22; the
// host checks).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

// One input channel (row of A: V's plane offset at xi = 0).
struct ARow { off: u32, valid: bool }

fn a_row(m: u32) -> ARow { return ARow(m * p.hp, m < p.m_total); }

// One reduction index k = (xi, t): the offsets of xi's planes in v and z (channel 0) plus t.
struct KPos { k: u32, va: u32, za: u32, t: u32, live: bool }

fn k_pos(k: u32, k_end: u32) -> KPos {
    let xi = div_rcp(k, p.wp, p.rcp_plane);
    let t = k - xi * p.wp;
    return KPos(k, xi * p.c_in * p.hp + t, xi * p.c_out * p.hp + t, t,
                k < k_end && t < p.hp);
}

// k_pos(kp.k + 1) without a division: a chunk of k never crosses into the next xi.
fn k_next(kp: KPos, k_end: u32) -> KPos {
    return KPos(kp.k + 1u, kp.va + 1u, kp.za + 1u, kp.t + 1u,
                kp.k + 1u < k_end && kp.t + 1u < p.hp);
}

// One output channel (column of B: Z's plane offset at xi = 0).
struct BCol { off: u32, valid: bool }

fn b_col(n: u32) -> BCol { return BCol(n * p.hp, n < p.n_total); }

struct CRow { m: u32, valid: bool }

fn c_row(m: u32) -> CRow { return CRow(m, m < p.m_total); }

fn c_put(r: CRow, n: u32, split: u32, val: f32) {
    if (r.valid && n < p.n_total) {
        part[((p.iy0 + split) * p.n_total + n) * p.m_total + r.m] = val;
    }
}

//!include conv_c_rows.wgsl
