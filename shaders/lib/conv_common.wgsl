// What the two implicit-GEMM cores (conv_gemm.wgsl, conv_gemm_subgroup.wgsl) share: the kernel
// size and stride, the convolution's sizes, division by a host-computed reciprocal, and the 4x4
// accumulator blocks with their stores through the including kernel's c_row/c_put. Each core
// declares its own tile constants, with defaults it can run (naga's backends are checked with
// the defaults).
//
// Tile sizes, the kernel size and the stride are override constants, so loops over them unroll
// and divisions by them become multiplications.

override KS: u32 = 3u;
override STRIDE: u32 = 1u;

// The sizes of one convolution (src/ops/conv.rs fills them in this order): input
// [n, c_in, h, w], weight [c_out, c_in, KS, KS], output [n, c_out, h_out, w_out]; the GEMM view
// of the kernel at hand; for the backward-data kernel only, its stride phase (zero otherwise):
// the first input row and column of the phase, its rows and columns, and its live kernel taps
// per axis; and the reciprocals of the kernel's runtime divisors (below), as f32.
struct Params {
    n: u32, c_in: u32, h: u32, w: u32,
    c_out: u32, h_out: u32, w_out: u32, pad: u32,
    m_total: u32, n_total: u32, k_total: u32, k_chunk: u32,
    iy0: u32, ix0: u32, hp: u32, wp: u32,
    nky: u32, nkx: u32,
    // 1 / (positions per image of the m or k dimension) and 1 / (its row length): h_out*w_out
    // and w_out (forward, weight gradient), hp*wp and wp (backward data); 1 / (live taps) and
    // 1 / nkx (backward data).
    rcp_plane: f32, rcp_row: f32, rcp_taps: f32, rcp_nkx: f32,
}

// a / b for a < 2^22, given r = 1/b rounded to f32 by the host: f32(a) * r is within one of the
// quotient and the two selects make it exact. A multiply instead of a division: vector units
// have no integer division (lavapipe turns a u32 division by a runtime value into one scalar
// division per lane) and a float division costs several multiplies on GPUs.
fn div_rcp(a: u32, b: u32, r: f32) -> u32 {
    var q = u32(f32(a) * r);
    q = select(q, q - 1u, q * b > a);
    q = select(q, q + 1u, (q + 1u) * b <= a);
    return q;
}

// The vec4 index of columns 4q..4q+3 of row k in a weight packed by conv2d_pack_weight: blocks
// of 32 columns, each [k_total rows, 8 vec4s], so a subgroup's 32 columns stream contiguously
// along k and a k row's vec4s are consecutive within a block.
fn packed_quad(k: u32, q: u32) -> u32 {
    return ((q / 8u) * p.k_total + k) * 8u + q % 8u;
}

// A 4x4 block of C: c[j] holds rows m..m+3 of column n+j.
struct Block { c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32> }

// acc + a b^T for a column of four rows and a row of four columns.
fn outer(a: vec4<f32>, b: vec4<f32>, acc: Block) -> Block {
    return Block(fma(a, vec4(b.x), acc.c0), fma(a, vec4(b.y), acc.c1),
                 fma(a, vec4(b.z), acc.c2), fma(a, vec4(b.w), acc.c3));
}

// Four rows of C, their indices computed once (c_row) for all the columns stored into them.
struct Rows { r0: CRow, r1: CRow, r2: CRow, r3: CRow }

fn rows_at(m: u32) -> Rows {
    return Rows(c_row(m), c_row(m + 1u), c_row(m + 2u), c_row(m + 3u));
}

// Columns n..n+3 of four rows, each column through the including index library's
// store_column(rows, n, split, values): lib/conv_c_rows.wgsl (a c_put per row) or its own
// (Winograd's GEMM: the four rows in one store).
fn store_block(r: Rows, n: u32, split: u32, blk: Block) {
    store_column(r, n, split, blk.c0);
    store_column(r, n + 1u, split, blk.c1);
    store_column(r, n + 2u, split, blk.c2);
    store_column(r, n + 3u, split, blk.c3);
}
