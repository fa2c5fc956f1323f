// Implicit-GEMM core of the three convolution kernels for adapters whose subgroups are exactly
// 8 invocations (lavapipe: its SIMD width), the same C = A B through the including kernel's index
// functions as lib/conv_gemm.wgsl, without workgroup memory.
//
// On lavapipe every load whose address is not uniform costs a loop over the 8 lanes, per
// component, whether it reads workgroup or storage memory, so a kernel's speed is set by the
// scalars each lane loads per FMA. The tiled core loads each A and B value twice (a gather into
// workgroup memory, then a read from it) plus a store, and all 8 lanes of a subgroup read the
// same B vec4s: 44 loads and stores per lane per k for its 16 x 16 block. Here lane i of
// subgroup s owns the TM x TN block of C at rows m0 + TM*i and columns n0 + TN*s; it loads its
// own TM values of A per k straight from storage, and the subgroup's TN values of B per k are
// loaded once between the 8 lanes (one vec4 each) and handed round with subgroupBroadcast, an
// extract and splat on lavapipe. Per k and lane: TM + TN/8 loads for TM*TN FMAs, so the wide
// block (TM = 8, TN = 32: 12 loads) reads a third less per FMA than the square one (16 x 16:
// 18), which layers of 16 columns take instead of computing half padding.
//
// Requires WM = 8 (lanes, along m) and (TM, TN) = (16, 16) or (8, 32); WN is the number of
// subgroups, which share nothing. src/ops/conv.rs picks this core only where the adapter's
// subgroups are 8 wide.

//!include conv_common.wgsl

override WM: u32 = 8u;
override WN: u32 = 4u;
override TM: u32 = 8u;
override TN: u32 = 32u;

@compute @workgroup_size(WM * WN)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_id) sg: u32) {
    let nb = TN / 4u;
    let k_step = WM / nb;
    let m0 = wid.x * WM * TM + lane * TM;
    let n0 = wid.y * WN * TN + sg * TN;
    let k_begin = wid.z * p.k_chunk;
    let k_end = min(p.k_total, k_begin + p.k_chunk);

    // The lane's rows of A; constant indices only below, so they stay in registers.
    var arow: array<ARow, 16>;
    for (var r = 0u; r < TM; r++) {
        arow[r] = a_row(m0 + r);
    }
    // The B vec4 this lane loads for the subgroup: column block lane % nb at k + lane / nb.
    let kl = lane / nb;
    var bcol: array<BCol, 4>;
    for (var c = 0u; c < 4u; c++) {
        bcol[c] = b_col(n0 + (lane % nb) * 4u + c);
    }

    // Sixteen named 4x4 blocks, block t at row vec4 t / nb and column block t % nb: lavapipe
    // keeps a loop-indexed accumulator array in memory.
    var c0: Block;
    var c1: Block;
    var c2: Block;
    var c3: Block;
    var c4: Block;
    var c5: Block;
    var c6: Block;
    var c7: Block;
    var c8: Block;
    var c9: Block;
    var c10: Block;
    var c11: Block;
    var c12: Block;
    var c13: Block;
    var c14: Block;
    var c15: Block;
    for (var k = k_begin; k < k_end; k += k_step) {
        // Past k_end B is zero and A is read at the last valid k (finite), so the products add
        // nothing; clamping rather than branching keeps every lane on one path.
        let kb = k + kl;
        let kbc = min(kb, k_end - 1u);
        let bv = select(vec4(0.0), vec4(b_elem(bcol[0], kbc), b_elem(bcol[1], kbc),
                                        b_elem(bcol[2], kbc), b_elem(bcol[3], kbc)), kb < k_end);
        // subgroupBroadcast takes a constant lane; lane h*nb + j holds column block j of k + h.
        var q: array<vec4<f32>, 8>;
        q[0] = subgroupBroadcast(bv, 0u);
        q[1] = subgroupBroadcast(bv, 1u);
        q[2] = subgroupBroadcast(bv, 2u);
        q[3] = subgroupBroadcast(bv, 3u);
        q[4] = subgroupBroadcast(bv, 4u);
        q[5] = subgroupBroadcast(bv, 5u);
        q[6] = subgroupBroadcast(bv, 6u);
        q[7] = subgroupBroadcast(bv, 7u);
        for (var h = 0u; h < k_step; h++) {
            let ka = min(k + h, k_end - 1u);
            var a: array<vec4<f32>, 4>;
            a[0] = a_load(arow[0], arow[1], arow[2], arow[3], ka);
            a[1] = a_load(arow[4], arow[5], arow[6], arow[7], ka);
            if (TM > 8u) {
                a[2] = a_load(arow[8], arow[9], arow[10], arow[11], ka);
                a[3] = a_load(arow[12], arow[13], arow[14], arow[15], ka);
            }
            let b = h * nb;
            c0 = outer(a[0u / nb], q[b + 0u % nb], c0);
            c1 = outer(a[1u / nb], q[b + 1u % nb], c1);
            c2 = outer(a[2u / nb], q[b + 2u % nb], c2);
            c3 = outer(a[3u / nb], q[b + 3u % nb], c3);
            c4 = outer(a[4u / nb], q[b + 4u % nb], c4);
            c5 = outer(a[5u / nb], q[b + 5u % nb], c5);
            c6 = outer(a[6u / nb], q[b + 6u % nb], c6);
            c7 = outer(a[7u / nb], q[b + 7u % nb], c7);
            c8 = outer(a[8u / nb], q[b + 8u % nb], c8);
            c9 = outer(a[9u / nb], q[b + 9u % nb], c9);
            c10 = outer(a[10u / nb], q[b + 10u % nb], c10);
            c11 = outer(a[11u / nb], q[b + 11u % nb], c11);
            c12 = outer(a[12u / nb], q[b + 12u % nb], c12);
            c13 = outer(a[13u / nb], q[b + 13u % nb], c13);
            c14 = outer(a[14u / nb], q[b + 14u % nb], c14);
            c15 = outer(a[15u / nb], q[b + 15u % nb], c15);
        }
    }

    store_block(m0 + (0u / nb) * 4u, n0 + (0u % nb) * 4u, wid.z, c0);
    store_block(m0 + (1u / nb) * 4u, n0 + (1u % nb) * 4u, wid.z, c1);
    store_block(m0 + (2u / nb) * 4u, n0 + (2u % nb) * 4u, wid.z, c2);
    store_block(m0 + (3u / nb) * 4u, n0 + (3u % nb) * 4u, wid.z, c3);
    store_block(m0 + (4u / nb) * 4u, n0 + (4u % nb) * 4u, wid.z, c4);
    store_block(m0 + (5u / nb) * 4u, n0 + (5u % nb) * 4u, wid.z, c5);
    store_block(m0 + (6u / nb) * 4u, n0 + (6u % nb) * 4u, wid.z, c6);
    store_block(m0 + (7u / nb) * 4u, n0 + (7u % nb) * 4u, wid.z, c7);
    store_block(m0 + (8u / nb) * 4u, n0 + (8u % nb) * 4u, wid.z, c8);
    store_block(m0 + (9u / nb) * 4u, n0 + (9u % nb) * 4u, wid.z, c9);
    store_block(m0 + (10u / nb) * 4u, n0 + (10u % nb) * 4u, wid.z, c10);
    store_block(m0 + (11u / nb) * 4u, n0 + (11u % nb) * 4u, wid.z, c11);
    store_block(m0 + (12u / nb) * 4u, n0 + (12u % nb) * 4u, wid.z, c12);
    store_block(m0 + (13u / nb) * 4u, n0 + (13u % nb) * 4u, wid.z, c13);
    store_block(m0 + (14u / nb) * 4u, n0 + (14u % nb) * 4u, wid.z, c14);
    store_block(m0 + (15u / nb) * 4u, n0 + (15u % nb) * 4u, wid.z, c15);
}

// Four consecutive rows of A at reduction index k.
fn a_load(r0: ARow, r1: ARow, r2: ARow, r3: ARow, k: u32) -> vec4<f32> {
    return vec4(a_elem(r0, k), a_elem(r1, k), a_elem(r2, k), a_elem(r3, k));
}
