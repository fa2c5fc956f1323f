// Implicit-GEMM core of the three convolution kernels, with workgroup-memory tiles (any adapter):
// C[m,n] = sum over k of A(m,k) B(k,n), where the including kernel says what A, B and C are
// through its index functions (a_row/a_elem, b_col/b_elem, c_store), so no im2col matrix is ever
// materialized. lib/conv_gemm_subgroup.wgsl is the variant for lavapipe's 8-wide subgroups.
//
// A workgroup of WM x WN threads computes a BM x BN tile of C (BM = WM*TM, BN = WN*TN). Per step
// of BK along k it gathers the A and B tiles into workgroup memory as vec4s, then every thread
// accumulates its TM x TN block in registers from vec4 reads: on a GPU that is TM+TN shared
// reads per TM*TN FMAs; on lavapipe, where every memory read costs a per-lane loop, it is what
// keeps the FMA units busy. Workgroup z takes the k range [z*k_chunk, (z+1)*k_chunk) (split-K;
// k_chunk = k_total without a split).
//
// The index functions must not branch around their loads: lavapipe turns every load into a
// loop over its SIMD lanes, and one under a divergent branch costs more than a wasted load, so
// they clamp the index (in range even for rows and columns past the edge) and select zero.
//
// Bounds: the tiles are written at kk·am + fa with kk < BK, fa < am, and read at columns
// tm + i·WM < am for i < TM/4 (tn + j·WN < bn likewise), all within their BK·am and BK·bn
// vec4s; global memory is accessed only through the index functions, whose headers show why
// those stay in bounds.
//
// src/ops/conv.rs checks the tile constraints: TM, TN in {4, 8, 12, 16}; WM*WN divisible by
// WM*TM/4 and by WN*TN/4.

//!include conv_common.wgsl

override WM: u32 = 8u;
override WN: u32 = 8u;
override TM: u32 = 8u;
override TN: u32 = 8u;
override BK: u32 = 16u;

var<workgroup> a_tile: array<vec4<f32>, BK * WM * TM / 4u>;
var<workgroup> b_tile: array<vec4<f32>, BK * WN * TN / 4u>;

@compute @workgroup_size(WM * WN)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
    let am = WM * TM / 4u; // vec4s per k row of the A tile
    let bn = WN * TN / 4u;
    let threads = WM * WN;
    let m0 = wid.x * WM * TM;
    let n0 = wid.y * WN * TN;
    let k_begin = wid.z * p.k_chunk;
    let k_end = min(p.k_total, k_begin + p.k_chunk);

    // Each thread gathers one vec4 column of each tile (fixed m or n) at every threads/am-th
    // k row, so the per-row index work (divisions included) is done once here.
    let fa = lid % am;
    let fb = lid % bn;
    var arow: array<ARow, 4>;
    var bcol: array<BCol, 4>;
    for (var c = 0u; c < 4u; c++) {
        arow[c] = a_row(m0 + fa * 4u + c);
        bcol[c] = b_col(n0 + fb * 4u + c);
    }

    // Thread (tm, tn) owns the vec4 columns tm, tm+WM, … (TM/4 of them) of A and tn, tn+WN, …
    // of B: adjacent threads read adjacent vec4s (no bank conflicts on GPUs). The accumulators
    // are sixteen named 4x4 blocks (c<i><j>: A column i, B column j) and every guard compares
    // constants, so the loop body is straight-line code once specialized: lavapipe keeps a
    // loop-indexed accumulator array in memory (six times slower), and each of its workgroup
    // reads costs a loop over the SIMD lanes, so a thread needs many FMAs per read.
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
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        for (var kk = lid / am; kk < BK; kk += threads / am) {
            let k = k0 + kk;
            var v = vec4(0.0);
            if (k < k_end) {
                v = vec4(a_elem(arow[0], k), a_elem(arow[1], k), a_elem(arow[2], k),
                         a_elem(arow[3], k));
            }
            a_tile[kk * am + fa] = v;
        }
        for (var kk = lid / bn; kk < BK; kk += threads / bn) {
            let k = k0 + kk;
            var v = vec4(0.0);
            if (k < k_end) {
                v = vec4(b_elem(bcol[0], k), b_elem(bcol[1], k), b_elem(bcol[2], k),
                         b_elem(bcol[3], k));
            }
            b_tile[kk * bn + fb] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let ak = kk * am + tm;
            let bk = kk * bn + tn;
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
        workgroupBarrier();
    }

    store_block(m0 + (tm + 0u * WM) * 4u, n0 + (tn + 0u * WN) * 4u, wid.z, c00);
    if (TN > 4u) {
        store_block(m0 + (tm + 0u * WM) * 4u, n0 + (tn + 1u * WN) * 4u, wid.z, c01);
    }
    if (TN > 8u) {
        store_block(m0 + (tm + 0u * WM) * 4u, n0 + (tn + 2u * WN) * 4u, wid.z, c02);
    }
    if (TN > 12u) {
        store_block(m0 + (tm + 0u * WM) * 4u, n0 + (tn + 3u * WN) * 4u, wid.z, c03);
    }
    if (TM > 4u) {
        store_block(m0 + (tm + 1u * WM) * 4u, n0 + (tn + 0u * WN) * 4u, wid.z, c10);
    }
    if (TM > 4u && TN > 4u) {
        store_block(m0 + (tm + 1u * WM) * 4u, n0 + (tn + 1u * WN) * 4u, wid.z, c11);
    }
    if (TM > 4u && TN > 8u) {
        store_block(m0 + (tm + 1u * WM) * 4u, n0 + (tn + 2u * WN) * 4u, wid.z, c12);
    }
    if (TM > 4u && TN > 12u) {
        store_block(m0 + (tm + 1u * WM) * 4u, n0 + (tn + 3u * WN) * 4u, wid.z, c13);
    }
    if (TM > 8u) {
        store_block(m0 + (tm + 2u * WM) * 4u, n0 + (tn + 0u * WN) * 4u, wid.z, c20);
    }
    if (TM > 8u && TN > 4u) {
        store_block(m0 + (tm + 2u * WM) * 4u, n0 + (tn + 1u * WN) * 4u, wid.z, c21);
    }
    if (TM > 8u && TN > 8u) {
        store_block(m0 + (tm + 2u * WM) * 4u, n0 + (tn + 2u * WN) * 4u, wid.z, c22);
    }
    if (TM > 8u && TN > 12u) {
        store_block(m0 + (tm + 2u * WM) * 4u, n0 + (tn + 3u * WN) * 4u, wid.z, c23);
    }
    if (TM > 12u) {
        store_block(m0 + (tm + 3u * WM) * 4u, n0 + (tn + 0u * WN) * 4u, wid.z, c30);
    }
    if (TM > 12u && TN > 4u) {
        store_block(m0 + (tm + 3u * WM) * 4u, n0 + (tn + 1u * WN) * 4u, wid.z, c31);
    }
    if (TM > 12u && TN > 8u) {
        store_block(m0 + (tm + 3u * WM) * 4u, n0 + (tn + 2u * WN) * 4u, wid.z, c32);
    }
    if (TM > 12u && TN > 12u) {
        store_block(m0 + (tm + 3u * WM) * 4u, n0 + (tn + 3u * WN) * 4u, wid.z, c33);
    }
}
