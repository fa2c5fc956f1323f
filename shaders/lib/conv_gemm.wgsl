// Implicit-GEMM core of the three convolution kernels, with workgroup-memory tiles (any adapter):
// C[m,n] = sum over k of A(m,k) B(k,n), where the including kernel says what A, B and C are
// through its index functions (a_row/k_pos/a_elem or a_quad, b_quad or b_col/b_elem,
// c_row/c_put), so no im2col matrix is ever materialized. lib/conv_gemm_subgroup.wgsl is the
// variant for lavapipe's 8-wide subgroups.
//
// A workgroup of T = WM x WN threads computes a BM x BN tile of C (BM = WM*TM, BN = WN*TN). Per
// step of BK along k its threads load the A and B tiles from storage with consecutive lanes on
// consecutive addresses (the including kernel picks the lane order that does that for its operands:
// lib/conv_tiles_mn.wgsl, lib/conv_tiles_quads.wgsl or lib/conv_tiles_k.wgsl, which define
// loader/fetch/stash), store them into workgroup memory, and every thread accumulates its TM x TN
// block in registers from vec4 reads: TM+TN shared reads per TM*TN FMAs. The next tile's loads are
// issued into registers before the current tile is multiplied (double buffering through registers,
// as in the well-known CUDA SGEMMs), so global latency overlaps the FMAs. Workgroup z takes the k
// range [z*k_chunk, (z+1)*k_chunk) (split-K; k_chunk = k_total without a split). With BUFFERS = 2
// the tiles are double-buffered in workgroup memory: the staged next tile is stored into the other
// buffer while this one is multiplied, so one barrier per k step suffices instead of two (with
// BUFFERS = 1: store, barrier, multiply, barrier).
//
// src/ops/conv.rs checks the tile constraints (Tile::check): TM, TN in {4, 8, 12, 16}; each
// loader's per-thread loads fit its staging registers (at most 16 scalars or 4 vec4s per
// operand; threads past a tile's last element load nothing); the tiles fit the adapter's
// workgroup memory and its threads its workgroup size.
//
// Bounds: the tiles are written (lib/conv_tiles_*.wgsl, through a_at/b_at) at buffers below
// BUFFERS, rows kk < BK, columns below their BM/4 or BN/4 vec4s, and read at a_at(buf, kk, tm +
// i·WM) with tm + i·WM < BM/4 for i < TM/4 (tn likewise); the staging arrays hold what
// Tile::check bounds (at most 16 scalars and 4 vec4s per thread, at most 4 A rows); global
// memory is reached only through the index functions, whose headers show why those stay in
// bounds.

//!include conv_common.wgsl

override WM: u32 = 8u;
override WN: u32 = 8u;
override TM: u32 = 8u;
override TN: u32 = 8u;
override BK: u32 = 16u;
override BM: u32 = WM * TM;
override BN: u32 = WN * TN;
override T: u32 = WM * WN;
override BUFFERS: u32 = 1u; // 1 or 2: tiles single- or double-buffered in workgroup memory

// The A and B tiles, BUFFERS of each: k rows of BM/4 and BN/4 vec4s, each row one vec4 longer
// (a_stride, b_stride), so that the weight gradient's stores of one column at consecutive k
// (lib/conv_tiles_k.wgsl) spread over the banks instead of all landing in one.
var<workgroup> a_tile: array<vec4<f32>, BUFFERS * BK * (BM / 4u + 1u)>;
var<workgroup> b_tile: array<vec4<f32>, BUFFERS * BK * (BN / 4u + 1u)>;

fn a_stride() -> u32 { return BM / 4u + 1u; }
fn b_stride() -> u32 { return BN / 4u + 1u; }

// The index of vec4 column q of row kk of buffer buf in a_tile, b_tile.
fn a_at(buf: u32, kk: u32, q: u32) -> u32 { return (buf * BK + kk) * a_stride() + q; }
fn b_at(buf: u32, kk: u32, q: u32) -> u32 { return (buf * BK + kk) * b_stride() + q; }

// The loaders' rounds (lib/conv_tiles_*.wgsl): `count` loads of a tile, `per_round` at a time,
// and whether load e of the last round is inside the tile (constant where per_round divides
// count).
fn rounds(count: u32, per_round: u32) -> u32 { return (count + per_round - 1u) / per_round; }
fn in_tile(e: u32, count: u32, per_round: u32) -> bool {
    return count % per_round == 0u || e < count;
}

@compute @workgroup_size(WM * WN)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
    let m0 = wid.x * BM;
    let n0 = wid.y * BN;
    let k_begin = wid.z * p.k_chunk;
    let k_end = min(p.k_total, k_begin + p.k_chunk);
    let ld = loader(m0, lid);
    var staged = fetch(ld, n0, k_begin, k_end);

    // Thread (tm, tn) owns the vec4 columns tm, tm+WM, … (TM/4 of them) of A and tn, tn+WN, …
    // of B: adjacent threads read adjacent vec4s (no bank conflicts on GPUs). The accumulators
    // are sixteen named 4x4 blocks (c<i><j>: A column i, B column j) and every guard compares
    // constants, so the loop body is straight-line code once specialized: lavapipe keeps a
    // loop-indexed accumulator array in memory (six times slower).
    let tm = lid % WM;
    let tn = lid / WM;
    var c00: Block;
    var c01: Block;
    var c02: Block;
    var c03: Block;
    var c10: Block;
    var c11: Block;
    var c12: Block;
    var c13: Block;
    var c20: Block;
    var c21: Block;
    var c22: Block;
    var c23: Block;
    var c30: Block;
    var c31: Block;
    var c32: Block;
    var c33: Block;
    var buf = 0u;
    if (BUFFERS == 2u) {
        stash(ld, staged, 0u);
        workgroupBarrier();
    }
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        if (BUFFERS == 1u) {
            stash(ld, staged, 0u);
            workgroupBarrier();
        }
        let more = k0 + BK < k_end;
        if (more) {
            staged = fetch(ld, n0, k0 + BK, k_end);
        }
        for (var kk = 0u; kk < BK; kk++) {
            let ak = a_at(buf, kk, tm);
            let bk = b_at(buf, kk, tn);
            var a: array<vec4<f32>, 4>;
            var b: array<vec4<f32>, 4>;
            a[0] = a_tile[ak];
            if (TM > 4u) { a[1] = a_tile[ak + 1u * WM]; }
            if (TM > 8u) { a[2] = a_tile[ak + 2u * WM]; }
            if (TM > 12u) { a[3] = a_tile[ak + 3u * WM]; }
            b[0] = b_tile[bk];
            if (TN > 4u) { b[1] = b_tile[bk + 1u * WN]; }
            if (TN > 8u) { b[2] = b_tile[bk + 2u * WN]; }
            if (TN > 12u) { b[3] = b_tile[bk + 3u * WN]; }
            c00 = outer(a[0], b[0], c00);
            if (TN > 4u) { c01 = outer(a[0], b[1], c01); }
            if (TN > 8u) { c02 = outer(a[0], b[2], c02); }
            if (TN > 12u) { c03 = outer(a[0], b[3], c03); }
            if (TM > 4u) { c10 = outer(a[1], b[0], c10); }
            if (TM > 4u && TN > 4u) { c11 = outer(a[1], b[1], c11); }
            if (TM > 4u && TN > 8u) { c12 = outer(a[1], b[2], c12); }
            if (TM > 4u && TN > 12u) { c13 = outer(a[1], b[3], c13); }
            if (TM > 8u) { c20 = outer(a[2], b[0], c20); }
            if (TM > 8u && TN > 4u) { c21 = outer(a[2], b[1], c21); }
            if (TM > 8u && TN > 8u) { c22 = outer(a[2], b[2], c22); }
            if (TM > 8u && TN > 12u) { c23 = outer(a[2], b[3], c23); }
            if (TM > 12u) { c30 = outer(a[3], b[0], c30); }
            if (TM > 12u && TN > 4u) { c31 = outer(a[3], b[1], c31); }
            if (TM > 12u && TN > 8u) { c32 = outer(a[3], b[2], c32); }
            if (TM > 12u && TN > 12u) { c33 = outer(a[3], b[3], c33); }
        }
        // Double-buffered: the next tile goes into the buffer nobody reads in this step; the
        // barrier makes it visible and ends this step's reads of the current one, which the
        // step after next overwrites.
        if (BUFFERS == 2u) {
            if (more) {
                stash(ld, staged, buf ^ 1u);
            }
            buf ^= 1u;
        }
        workgroupBarrier();
    }

    // Each group of four rows has its indices computed once for all its columns.
    let s = wid.z;
    let r0 = rows_at(m0 + tm * 4u);
    store_block(r0, n0 + (tn + 0u * WN) * 4u, s, c00);
    if (TN > 4u) { store_block(r0, n0 + (tn + 1u * WN) * 4u, s, c01); }
    if (TN > 8u) { store_block(r0, n0 + (tn + 2u * WN) * 4u, s, c02); }
    if (TN > 12u) { store_block(r0, n0 + (tn + 3u * WN) * 4u, s, c03); }
    if (TM > 4u) {
        let r1 = rows_at(m0 + (tm + 1u * WM) * 4u);
        store_block(r1, n0 + (tn + 0u * WN) * 4u, s, c10);
        if (TN > 4u) { store_block(r1, n0 + (tn + 1u * WN) * 4u, s, c11); }
        if (TN > 8u) { store_block(r1, n0 + (tn + 2u * WN) * 4u, s, c12); }
        if (TN > 12u) { store_block(r1, n0 + (tn + 3u * WN) * 4u, s, c13); }
    }
    if (TM > 8u) {
        let r2 = rows_at(m0 + (tm + 2u * WM) * 4u);
        store_block(r2, n0 + (tn + 0u * WN) * 4u, s, c20);
        if (TN > 4u) { store_block(r2, n0 + (tn + 1u * WN) * 4u, s, c21); }
        if (TN > 8u) { store_block(r2, n0 + (tn + 2u * WN) * 4u, s, c22); }
        if (TN > 12u) { store_block(r2, n0 + (tn + 3u * WN) * 4u, s, c23); }
    }
    if (TM > 12u) {
        let r3 = rows_at(m0 + (tm + 3u * WM) * 4u);
        store_block(r3, n0 + (tn + 0u * WN) * 4u, s, c30);
        if (TN > 4u) { store_block(r3, n0 + (tn + 1u * WN) * 4u, s, c31); }
        if (TN > 8u) { store_block(r3, n0 + (tn + 2u * WN) * 4u, s, c32); }
        if (TN > 12u) { store_block(r3, n0 + (tn + 3u * WN) * 4u, s, c33); }
    }
}
