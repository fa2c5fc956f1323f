// Implicit-GEMM core of the three convolution kernels for adapters whose subgroups are exactly
// 8 invocations (lavapipe: its SIMD width), the same C = A B through the including kernel's index
// functions as lib/conv_gemm.wgsl, without workgroup memory.
//
// On lavapipe every load whose address is not uniform costs a loop over the 8 lanes, per
// component, whether it reads workgroup or storage memory, so a kernel's speed is set by the
// scalars each lane loads per FMA. The tiled core loads each A and B value twice (a gather into
// workgroup memory, then a read from it) plus a store, and all 8 lanes of a subgroup read the
// same B vec4s: 44 loads and stores per lane per k for its 16 x 16 block. Here lane i of
// subgroup s owns the 8 x 32 block of C at rows m0 + 8i and columns n0 + 32s: it loads its own
// 8 values of A per k straight from storage, and the subgroup's 32 values of B per k are loaded
// once between the 8 lanes (one vec4 each) and handed round with subgroupBroadcast, an extract
// and splat on lavapipe: 12 loads per k for 256 FMAs. (16 x 16 lane blocks, 18 loads per k,
// measured slower even on GEMMs of 16 columns, where half of each 8 x 32 block is idle.)
//
// The reduction index is walked with k_next (no division per step), the forward and backward-
// data B values are one vec4 of the packed weight per lane, and the stores compute each row's
// index once.
// Bounds: no workgroup memory, and constant indices into the lane's arrays; global memory is
// accessed only through the index functions, whose headers show why those stay in bounds.
//
// Requires WM = 8 (lanes, along m), TM = 8, TN = 32; WN is the number of subgroups, which share
// nothing. src/ops/conv.rs picks this core only where the adapter's subgroups are 8 wide.

//!include conv_common.wgsl

override WM: u32 = 8u;
override WN: u32 = 4u;
override TM: u32 = 8u;
override TN: u32 = 32u;

@compute @workgroup_size(WM * WN)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_id) sg: u32) {
    let m0 = wid.x * WM * TM + lane * TM;
    let n0 = wid.y * WN * TN + sg * TN;
    let k_begin = wid.z * p.k_chunk;
    let k_end = min(p.k_total, k_begin + p.k_chunk);

    // The lane's 8 rows of A and the 4 columns of B it loads for the subgroup; constant indices
    // only below, so they stay in registers.
    var arow: array<ARow, 8>;
    for (var r = 0u; r < 8u; r++) {
        arow[r] = a_row(m0 + r);
    }
    let bq = b_quad_at(n0 + lane * 4u);

    // Sixteen named 4x4 blocks (c<i><j>: rows 4i.., columns 4j..): lavapipe keeps a
    // loop-indexed accumulator array in memory.
    var c00: Block;
    var c01: Block;
    var c02: Block;
    var c03: Block;
    var c04: Block;
    var c05: Block;
    var c06: Block;
    var c07: Block;
    var c10: Block;
    var c11: Block;
    var c12: Block;
    var c13: Block;
    var c14: Block;
    var c15: Block;
    var c16: Block;
    var c17: Block;
    var kp = k_pos(k_begin, k_end);
    for (var k = k_begin; k < k_end; k++) {
        let bv = b_quad(bq, kp);
        let a0 = vec4(a_elem(arow[0], kp), a_elem(arow[1], kp), a_elem(arow[2], kp),
                      a_elem(arow[3], kp));
        let a1 = vec4(a_elem(arow[4], kp), a_elem(arow[5], kp), a_elem(arow[6], kp),
                      a_elem(arow[7], kp));
        kp = k_next(kp, k_end);
        // Lane j holds columns 4j..4j+3; subgroupBroadcast takes a constant lane.
        let b0 = subgroupBroadcast(bv, 0u);
        let b1 = subgroupBroadcast(bv, 1u);
        let b2 = subgroupBroadcast(bv, 2u);
        let b3 = subgroupBroadcast(bv, 3u);
        let b4 = subgroupBroadcast(bv, 4u);
        let b5 = subgroupBroadcast(bv, 5u);
        let b6 = subgroupBroadcast(bv, 6u);
        let b7 = subgroupBroadcast(bv, 7u);
        c00 = outer(a0, b0, c00);
        c01 = outer(a0, b1, c01);
        c02 = outer(a0, b2, c02);
        c03 = outer(a0, b3, c03);
        c04 = outer(a0, b4, c04);
        c05 = outer(a0, b5, c05);
        c06 = outer(a0, b6, c06);
        c07 = outer(a0, b7, c07);
        c10 = outer(a1, b0, c10);
        c11 = outer(a1, b1, c11);
        c12 = outer(a1, b2, c12);
        c13 = outer(a1, b3, c13);
        c14 = outer(a1, b4, c14);
        c15 = outer(a1, b5, c15);
        c16 = outer(a1, b6, c16);
        c17 = outer(a1, b7, c17);
    }

    let r0 = rows_at(m0);
    let r1 = rows_at(m0 + 4u);
    store_block(r0, n0, wid.z, c00);
    store_block(r0, n0 + 4u, wid.z, c01);
    store_block(r0, n0 + 8u, wid.z, c02);
    store_block(r0, n0 + 12u, wid.z, c03);
    store_block(r0, n0 + 16u, wid.z, c04);
    store_block(r0, n0 + 20u, wid.z, c05);
    store_block(r0, n0 + 24u, wid.z, c06);
    store_block(r0, n0 + 28u, wid.z, c07);
    store_block(r1, n0, wid.z, c10);
    store_block(r1, n0 + 4u, wid.z, c11);
    store_block(r1, n0 + 8u, wid.z, c12);
    store_block(r1, n0 + 12u, wid.z, c13);
    store_block(r1, n0 + 16u, wid.z, c14);
    store_block(r1, n0 + 20u, wid.z, c15);
    store_block(r1, n0 + 24u, wid.z, c16);
    store_block(r1, n0 + 28u, wid.z, c17);
}
