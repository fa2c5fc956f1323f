// Implicit-GEMM core of the three convolution kernels for adapters whose subgroups are exactly
// 8 invocations (lavapipe: its SIMD width), the same C = A B through the including kernel's index
// functions as lib/conv_gemm.wgsl, without workgroup memory.
//
// On lavapipe every load whose address is not uniform costs a loop over the 8 lanes, per
// component, whether it reads workgroup or storage memory, so the cost of a kernel is the
// number of scalars each lane loads per FMA. The tiled core loads each A and B value twice
// (a gather into workgroup memory, then a read from it) plus a store, and all 8 lanes of a
// subgroup read the same B vec4s: 44 scalar loads and stores per lane per k for 256 FMAs.
// Here lane i of subgroup s owns the 16 x 16 block of C at rows m0 + 16i and columns
// n0 + 16s; it loads its own 16 A values per k straight from storage, and the subgroup's 16 B
// values per k are loaded once between the 8 lanes (each lane one vec4 of a pair of k) and
// handed round with subgroupBroadcast, an extract and splat on lavapipe: 18 loads per k.
//
// Requires WM = 8 (lanes, along m), TM = TN = 16; WN is the number of subgroups, each its own
// 16 columns. src/ops/conv.rs picks this core only where the adapter's subgroups are 8 wide.

//!include conv_common.wgsl

@compute @workgroup_size(WM * WN)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_id) sg: u32) {
    let m0 = wid.x * WM * TM + lane * TM;
    let n0 = wid.y * WN * TN + sg * TN;
    let k_begin = wid.z * p.k_chunk;
    let k_end = min(p.k_total, k_begin + p.k_chunk);

    // The lane's 16 rows of A; constant indices only below, so they stay in registers.
    var arow: array<ARow, 16>;
    for (var r = 0u; r < 16u; r++) {
        arow[r] = a_row(m0 + r);
    }
    // The B vec4 this lane loads for the subgroup: columns n0 + 4j .. n0 + 4j + 3 at k + kl.
    let j = lane % 4u;
    let kl = lane / 4u;
    var bcol: array<BCol, 4>;
    for (var c = 0u; c < 4u; c++) {
        bcol[c] = b_col(n0 + j * 4u + c);
    }

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
    for (var k = k_begin; k < k_end; k += 2u) {
        // Past k_end B is zero and A is read at the last valid k (finite), so the products add
        // nothing; clamping rather than branching keeps every lane on one path.
        let kb = k + kl;
        let kbc = min(kb, k_end - 1u);
        let bv = select(vec4(0.0), vec4(b_elem(bcol[0], kbc), b_elem(bcol[1], kbc),
                                        b_elem(bcol[2], kbc), b_elem(bcol[3], kbc)), kb < k_end);
        // subgroupBroadcast takes a constant lane: lanes 0-3 hold k, lanes 4-7 hold k + 1.
        let q0 = subgroupBroadcast(bv, 0u);
        let q1 = subgroupBroadcast(bv, 1u);
        let q2 = subgroupBroadcast(bv, 2u);
        let q3 = subgroupBroadcast(bv, 3u);
        let q4 = subgroupBroadcast(bv, 4u);
        let q5 = subgroupBroadcast(bv, 5u);
        let q6 = subgroupBroadcast(bv, 6u);
        let q7 = subgroupBroadcast(bv, 7u);
        for (var half = 0u; half < 2u; half++) {
            let ka = min(k + half, k_end - 1u);
            let a0 = a_load(arow[0], arow[1], arow[2], arow[3], ka);
            let a1 = a_load(arow[4], arow[5], arow[6], arow[7], ka);
            let a2 = a_load(arow[8], arow[9], arow[10], arow[11], ka);
            let a3 = a_load(arow[12], arow[13], arow[14], arow[15], ka);
            let b0 = select(q0, q4, half == 1u);
            let b1 = select(q1, q5, half == 1u);
            let b2 = select(q2, q6, half == 1u);
            let b3 = select(q3, q7, half == 1u);
            c00 = outer(a0, b0, c00);
            c01 = outer(a0, b1, c01);
            c02 = outer(a0, b2, c02);
            c03 = outer(a0, b3, c03);
            c10 = outer(a1, b0, c10);
            c11 = outer(a1, b1, c11);
            c12 = outer(a1, b2, c12);
            c13 = outer(a1, b3, c13);
            c20 = outer(a2, b0, c20);
            c21 = outer(a2, b1, c21);
            c22 = outer(a2, b2, c22);
            c23 = outer(a2, b3, c23);
            c30 = outer(a3, b0, c30);
            c31 = outer(a3, b1, c31);
            c32 = outer(a3, b2, c32);
            c33 = outer(a3, b3, c33);
        }
    }

    store_block(m0, n0, wid.z, c00);
    store_block(m0, n0 + 4u, wid.z, c01);
    store_block(m0, n0 + 8u, wid.z, c02);
    store_block(m0, n0 + 12u, wid.z, c03);
    store_block(m0 + 4u, n0, wid.z, c10);
    store_block(m0 + 4u, n0 + 4u, wid.z, c11);
    store_block(m0 + 4u, n0 + 8u, wid.z, c12);
    store_block(m0 + 4u, n0 + 12u, wid.z, c13);
    store_block(m0 + 8u, n0, wid.z, c20);
    store_block(m0 + 8u, n0 + 4u, wid.z, c21);
    store_block(m0 + 8u, n0 + 8u, wid.z, c22);
    store_block(m0 + 8u, n0 + 12u, wid.z, c23);
    store_block(m0 + 12u, n0, wid.z, c30);
    store_block(m0 + 12u, n0 + 4u, wid.z, c31);
    store_block(m0 + 12u, n0 + 8u, wid.z, c32);
    store_block(m0 + 12u, n0 + 12u, wid.z, c33);
}

// Four consecutive rows of A at reduction index k.
fn a_load(r0: ARow, r1: ARow, r2: ARow, r3: ARow, k: u32) -> vec4<f32> {
    return vec4(a_elem(r0, k), a_elem(r1, k), a_elem(r2, k), a_elem(r3, k));
}
