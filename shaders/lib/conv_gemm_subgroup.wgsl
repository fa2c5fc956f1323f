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
// and splat on lavapipe: 12 loads per k for 256 FMAs.
//
// The reduction index is walked with k_next (no division per step), the forward and backward-
// data B values are one vec4 of the packed weight per lane, and the stores compute each row's
// index once.
// Bounds: no workgroup memory, and constant indices into the lane's arrays; global memory is
// accessed only through the index functions, whose headers show why those stay in bounds.
//
// Lane blocks of 8 or 16 rows (TM) by 16 or 32 columns (TN), override constants, so the blocks
// a shape does not use are compiled out: 8 x 16 for 16-column GEMMs (ResNet-32's first stage,
// the stem), where 8 x 32 would leave half of each block idle; 16 x 16 and 16 x 32, which take
// the loop's per-k cost (the index walk, the bounds selects, the broadcasts) over twice the
// FMAs (bench/README.md has what each gained).
//
// Requires WM = 8 (lanes, along m), TM in {8, 16}, TN in {16, 32}; WN is the number of
// subgroups, which share nothing. src/ops/conv.rs picks this core only where the adapter's
// subgroups are 8 wide, and checks the blocking (Tile::check).

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

    // The lane's TM rows of A and the 4 columns of B it loads for the subgroup (lanes past
    // TN / 4 load columns no block uses); constant indices only below, so they stay in registers.
    var arow: array<ARow, 16>;
    for (var r = 0u; r < TM; r++) {
        arow[r] = a_row(m0 + r);
    }
    let bq = b_quad_at(n0 + lane * 4u);

    // Named 4x4 blocks (c<i><j>: rows 4i.., columns 4j..; i < TM / 4, j < TN / 4): lavapipe
    // keeps a loop-indexed accumulator array in memory.
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
    var c20: Block;
    var c21: Block;
    var c22: Block;
    var c23: Block;
    var c24: Block;
    var c25: Block;
    var c26: Block;
    var c27: Block;
    var c30: Block;
    var c31: Block;
    var c32: Block;
    var c33: Block;
    var c34: Block;
    var c35: Block;
    var c36: Block;
    var c37: Block;
    var kp = k_pos(k_begin, k_end);
    for (var k = k_begin; k < k_end; k++) {
        let bv = b_quad(bq, kp);
        let a0 = vec4(a_elem(arow[0], kp), a_elem(arow[1], kp), a_elem(arow[2], kp),
                      a_elem(arow[3], kp));
        let a1 = vec4(a_elem(arow[4], kp), a_elem(arow[5], kp), a_elem(arow[6], kp),
                      a_elem(arow[7], kp));
        var a2: vec4<f32>;
        var a3: vec4<f32>;
        if (TM == 16u) {
            a2 = vec4(a_elem(arow[8], kp), a_elem(arow[9], kp), a_elem(arow[10], kp),
                      a_elem(arow[11], kp));
            a3 = vec4(a_elem(arow[12], kp), a_elem(arow[13], kp), a_elem(arow[14], kp),
                      a_elem(arow[15], kp));
        }
        kp = k_next(kp, k_end);
        // Lane j holds columns 4j..4j+3; subgroupBroadcast takes a constant lane.
        let b0 = subgroupBroadcast(bv, 0u);
        let b1 = subgroupBroadcast(bv, 1u);
        let b2 = subgroupBroadcast(bv, 2u);
        let b3 = subgroupBroadcast(bv, 3u);
        c00 = outer(a0, b0, c00);
        c01 = outer(a0, b1, c01);
        c02 = outer(a0, b2, c02);
        c03 = outer(a0, b3, c03);
        c10 = outer(a1, b0, c10);
        c11 = outer(a1, b1, c11);
        c12 = outer(a1, b2, c12);
        c13 = outer(a1, b3, c13);
        if (TM == 16u) {
            c20 = outer(a2, b0, c20);
            c21 = outer(a2, b1, c21);
            c22 = outer(a2, b2, c22);
            c23 = outer(a2, b3, c23);
            c30 = outer(a3, b0, c30);
            c31 = outer(a3, b1, c31);
            c32 = outer(a3, b2, c32);
            c33 = outer(a3, b3, c33);
        }
        if (TN == 32u) {
            let b4 = subgroupBroadcast(bv, 4u);
            let b5 = subgroupBroadcast(bv, 5u);
            let b6 = subgroupBroadcast(bv, 6u);
            let b7 = subgroupBroadcast(bv, 7u);
            c04 = outer(a0, b4, c04);
            c05 = outer(a0, b5, c05);
            c06 = outer(a0, b6, c06);
            c07 = outer(a0, b7, c07);
            c14 = outer(a1, b4, c14);
            c15 = outer(a1, b5, c15);
            c16 = outer(a1, b6, c16);
            c17 = outer(a1, b7, c17);
            if (TM == 16u) {
                c24 = outer(a2, b4, c24);
                c25 = outer(a2, b5, c25);
                c26 = outer(a2, b6, c26);
                c27 = outer(a2, b7, c27);
                c34 = outer(a3, b4, c34);
                c35 = outer(a3, b5, c35);
                c36 = outer(a3, b6, c36);
                c37 = outer(a3, b7, c37);
            }
        }
    }

    let r0 = rows_at(m0);
    let r1 = rows_at(m0 + 4u);
    store_block(r0, n0, wid.z, c00);
    store_block(r0, n0 + 4u, wid.z, c01);
    store_block(r0, n0 + 8u, wid.z, c02);
    store_block(r0, n0 + 12u, wid.z, c03);
    store_block(r1, n0, wid.z, c10);
    store_block(r1, n0 + 4u, wid.z, c11);
    store_block(r1, n0 + 8u, wid.z, c12);
    store_block(r1, n0 + 12u, wid.z, c13);
    if (TN == 32u) {
        store_block(r0, n0 + 16u, wid.z, c04);
        store_block(r0, n0 + 20u, wid.z, c05);
        store_block(r0, n0 + 24u, wid.z, c06);
        store_block(r0, n0 + 28u, wid.z, c07);
        store_block(r1, n0 + 16u, wid.z, c14);
        store_block(r1, n0 + 20u, wid.z, c15);
        store_block(r1, n0 + 24u, wid.z, c16);
        store_block(r1, n0 + 28u, wid.z, c17);
    }
    if (TM == 16u) {
        let r2 = rows_at(m0 + 8u);
        let r3 = rows_at(m0 + 12u);
        store_block(r2, n0, wid.z, c20);
        store_block(r2, n0 + 4u, wid.z, c21);
        store_block(r2, n0 + 8u, wid.z, c22);
        store_block(r2, n0 + 12u, wid.z, c23);
        store_block(r3, n0, wid.z, c30);
        store_block(r3, n0 + 4u, wid.z, c31);
        store_block(r3, n0 + 8u, wid.z, c32);
        store_block(r3, n0 + 12u, wid.z, c33);
        if (TN == 32u) {
            store_block(r2, n0 + 16u, wid.z, c24);
            store_block(r2, n0 + 20u, wid.z, c25);
            store_block(r2, n0 + 24u, wid.z, c26);
            store_block(r2, n0 + 28u, wid.z, c27);
            store_block(r3, n0 + 16u, wid.z, c34);
            store_block(r3, n0 + 20u, wid.z, c35);
            store_block(r3, n0 + 24u, wid.z, c36);
            store_block(r3, n0 + 28u, wid.z, c37);
        }
    }
}
