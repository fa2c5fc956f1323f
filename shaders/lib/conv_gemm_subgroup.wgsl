// Implicit-GEMM core of the three convolution kernels for adapters whose subgroups are exactly
// 8 invocations (lavapipe: its SIMD width), the same C = A B through the including kernel's index
// functions as lib/conv_gemm.wgsl, without workgroup memory.
//
// On lavapipe every load whose address is not uniform costs a loop over the 8 lanes, per
// component, whether it reads workgroup or storage memory, so a kernel's speed is set by the
// components each lane loads per FMA. The tiled core loads each A and B value twice (a gather into
// workgroup memory, then a read from it) plus a store, and all 8 lanes of a subgroup read the
// same B vec4s: 44 loads and stores per lane per k for its 16 x 16 block. Here lane i of
// subgroup s owns the 8 x 32 block of C at rows m0 + 8i and columns n0 + 32s: it loads its own
// 8 values of A per k straight from storage, and the subgroup's 32 values of B per k are loaded
// once between the 8 lanes (one vec4 each) and handed round with subgroupBroadcast, an extract
// and splat on lavapipe: 12 loads per k for 256 FMAs.
//
// A comes through the including kernel's A loader: LaneA, lane_a(m0) and a_steps(lane, k0..k3)
// (the lane's rows at each of the iteration's k steps, in fours), from lib/conv_a_rows.wgsl (a
// scalar per row, any GEMM), lib/conv_a_quads.wgsl (four rows per load: Winograd's tiles),
// lib/conv_a_k_pairs.wgsl (two k steps per load: Winograd's weight gradient),
// lib/conv_a_strip.wgsl (pixel strips of 3x3 stride-1 layers) or lib/conv_a_tap_rows.wgsl
// (their weight gradient); B through its B reader's BQuad, b_quad_at(n) and b_steps(bq,
// k0..k3) (the lane's four columns at each step), from lib/conv_b_steps.wgsl (one b_quad per
// step), lib/conv_b_k_pairs.wgsl (two steps per load) or lib/conv_b_groups.wgsl (the tap-row
// weight gradient's four steps at once).
//
// Each loop iteration takes STEPS k steps, loading all their operands first: lavapipe carries
// each accumulator round a loop through memory under the loop's lane mask, so a block then
// takes STEPS FMAs per round trip. Two steps were 12-15 % faster than one on ResNet-32's layers
// with 8-row lanes, and four separately loaded steps slower (their code no longer fits the
// CPU's caches); the strip and tap-row loaders take three and four, whose loads they share.
// Steps past k_end read zeros.
//
// The reduction index is walked with k_next (no division per step), the forward and backward-
// data B values are one vec4 of the packed weight per lane, and the stores compute each row's
// index once.
// Bounds: no workgroup memory, and constant indices into the lane's arrays; global memory is
// accessed only through the index functions, whose headers show why those stay in bounds.
//
// Small-channel layers (16 columns: ResNet-32's first stage, the stem) would leave half of each
// 8 x 32 block idle, so two narrower lane blocks reuse the same sixteen accumulators: 8 x 16
// (half the FMAs, the same loads per lane) and 16 x 16 (the upper eight accumulators hold rows
// 8..15 instead of columns 16..31: 16 + 4 loads per k for 256 FMAs; 2x faster than 8 x 32 on
// 16 columns, bench/README.md). TM and TN are override constants, so the blocks a shape does
// not use are compiled out.
//
// Requires WM = 8 (lanes, along m) and (TM, TN) = (8, 32), (8, 16) or (16, 16); WN is the
// number of subgroups, which share nothing. src/ops/conv.rs picks this core only where the
// adapter's subgroups are 8 wide, and checks the blocking (Tile::check).

//!include conv_common.wgsl

override WM: u32 = 8u;
override WN: u32 = 4u;
override TM: u32 = 8u;
override TN: u32 = 32u;

// k steps per loop iteration: 1 or 2 with lib/conv_a_rows.wgsl (2 for 8-row lanes; Winograd's
// GEMMs keep the default 2 with either row loader); 3 for the strip kernels (one tap row:
// lib/conv_a_strip.wgsl loads it once for its three taps); 4 for the tap-row weight gradient
// (four neighbouring pixels: lib/conv_a_tap_rows.wgsl loads them once for three taps).
override STEPS: u32 = 2u;

// What the A loader and the B reader hand the core for an iteration: the lane's rows 4j..4j+3
// of A (q<j>; q2 and q3 only where TM = 16) and its four columns of B, at each k step (s1, s2
// and s3 only where STEPS is at least 2, 3 and 4).
struct AQuads { q0: vec4<f32>, q1: vec4<f32>, q2: vec4<f32>, q3: vec4<f32> }

struct ASteps { s0: AQuads, s1: AQuads, s2: AQuads, s3: AQuads }

struct BSteps { s0: vec4<f32>, s1: vec4<f32>, s2: vec4<f32>, s3: vec4<f32> }

// One k step's columns of B for the subgroup, broadcast (lane j holds columns 4j..4j+3;
// subgroupBroadcast takes a constant lane); b4..b7 only where TN = 32.
struct BCols { b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>,
               b4: vec4<f32>, b5: vec4<f32>, b6: vec4<f32>, b7: vec4<f32> }

fn b_cols(bv: vec4<f32>) -> BCols {
    var o: BCols;
    o.b0 = subgroupBroadcast(bv, 0u);
    o.b1 = subgroupBroadcast(bv, 1u);
    o.b2 = subgroupBroadcast(bv, 2u);
    o.b3 = subgroupBroadcast(bv, 3u);
    if (TN == 32u) {
        o.b4 = subgroupBroadcast(bv, 4u);
        o.b5 = subgroupBroadcast(bv, 5u);
        o.b6 = subgroupBroadcast(bv, 6u);
        o.b7 = subgroupBroadcast(bv, 7u);
    }
    return o;
}

// c plus the iteration's STEPS rank-one updates of one 4x4 block, back to back.
fn steps(c: Block, a0: vec4<f32>, b0: vec4<f32>, a1: vec4<f32>, b1: vec4<f32>, a2: vec4<f32>,
         b2: vec4<f32>, a3: vec4<f32>, b3: vec4<f32>) -> Block {
    var r = outer(a0, b0, c);
    if (STEPS >= 2u) {
        r = outer(a1, b1, r);
    }
    if (STEPS >= 3u) {
        r = outer(a2, b2, r);
    }
    if (STEPS == 4u) {
        r = outer(a3, b3, r);
    }
    return r;
}

@compute @workgroup_size(WM * WN)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_id) sg: u32) {
    let m0 = wid.x * WM * TM + lane * TM;
    let n0 = wid.y * WN * TN + sg * TN;
    let k_begin = wid.z * p.k_chunk;
    let k_end = min(p.k_total, k_begin + p.k_chunk);

    // The lane's TM rows of A (the including kernel's A loader) and the 4 columns of B it loads
    // for the subgroup (lanes past TN / 4 load columns no block uses).
    let la = lane_a(m0);
    let bq = b_quad_at(n0 + lane * 4u);

    // Sixteen named 4x4 blocks (c<i><j>: rows 4i.., columns 4j.. for TN = 32; with TN = 16,
    // c<i>4..c<i>7 hold rows 4i + 8.. of columns 0..15 when TM = 16 and are unused when TM = 8):
    // lavapipe keeps a loop-indexed accumulator array in memory.
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
    for (var k = k_begin; k < k_end; k += STEPS) {
        // All the iteration's loads first, then each block takes its STEPS updates at once:
        // lavapipe carries each block round the loop through memory under the loop's lane mask.
        let k0 = kp;
        let k1 = k_next(k0, k_end);
        var k2 = k1;
        var k3 = k1;
        kp = k1;
        if (STEPS >= 2u) {
            k2 = k_next(k1, k_end);
            kp = k2;
        }
        if (STEPS >= 3u) {
            k3 = k_next(k2, k_end);
            kp = k3;
        }
        if (STEPS == 4u) {
            kp = k_next(k3, k_end);
        }
        let a = a_steps(la, k0, k1, k2, k3);
        let b = b_steps(bq, k0, k1, k2, k3);
        let o = b_cols(b.s0);
        var q: BCols;
        var r: BCols;
        var t: BCols;
        if (STEPS >= 2u) {
            q = b_cols(b.s1);
        }
        if (STEPS >= 3u) {
            r = b_cols(b.s2);
        }
        if (STEPS == 4u) {
            t = b_cols(b.s3);
        }
        c00 = steps(c00, a.s0.q0, o.b0, a.s1.q0, q.b0, a.s2.q0, r.b0, a.s3.q0, t.b0);
        c01 = steps(c01, a.s0.q0, o.b1, a.s1.q0, q.b1, a.s2.q0, r.b1, a.s3.q0, t.b1);
        c02 = steps(c02, a.s0.q0, o.b2, a.s1.q0, q.b2, a.s2.q0, r.b2, a.s3.q0, t.b2);
        c03 = steps(c03, a.s0.q0, o.b3, a.s1.q0, q.b3, a.s2.q0, r.b3, a.s3.q0, t.b3);
        c10 = steps(c10, a.s0.q1, o.b0, a.s1.q1, q.b0, a.s2.q1, r.b0, a.s3.q1, t.b0);
        c11 = steps(c11, a.s0.q1, o.b1, a.s1.q1, q.b1, a.s2.q1, r.b1, a.s3.q1, t.b1);
        c12 = steps(c12, a.s0.q1, o.b2, a.s1.q1, q.b2, a.s2.q1, r.b2, a.s3.q1, t.b2);
        c13 = steps(c13, a.s0.q1, o.b3, a.s1.q1, q.b3, a.s2.q1, r.b3, a.s3.q1, t.b3);
        if (TN == 32u) {
            c04 = steps(c04, a.s0.q0, o.b4, a.s1.q0, q.b4, a.s2.q0, r.b4, a.s3.q0, t.b4);
            c05 = steps(c05, a.s0.q0, o.b5, a.s1.q0, q.b5, a.s2.q0, r.b5, a.s3.q0, t.b5);
            c06 = steps(c06, a.s0.q0, o.b6, a.s1.q0, q.b6, a.s2.q0, r.b6, a.s3.q0, t.b6);
            c07 = steps(c07, a.s0.q0, o.b7, a.s1.q0, q.b7, a.s2.q0, r.b7, a.s3.q0, t.b7);
            c14 = steps(c14, a.s0.q1, o.b4, a.s1.q1, q.b4, a.s2.q1, r.b4, a.s3.q1, t.b4);
            c15 = steps(c15, a.s0.q1, o.b5, a.s1.q1, q.b5, a.s2.q1, r.b5, a.s3.q1, t.b5);
            c16 = steps(c16, a.s0.q1, o.b6, a.s1.q1, q.b6, a.s2.q1, r.b6, a.s3.q1, t.b6);
            c17 = steps(c17, a.s0.q1, o.b7, a.s1.q1, q.b7, a.s2.q1, r.b7, a.s3.q1, t.b7);
        } else if (TM == 16u) {
            c04 = steps(c04, a.s0.q2, o.b0, a.s1.q2, q.b0, a.s2.q2, r.b0, a.s3.q2, t.b0);
            c05 = steps(c05, a.s0.q2, o.b1, a.s1.q2, q.b1, a.s2.q2, r.b1, a.s3.q2, t.b1);
            c06 = steps(c06, a.s0.q2, o.b2, a.s1.q2, q.b2, a.s2.q2, r.b2, a.s3.q2, t.b2);
            c07 = steps(c07, a.s0.q2, o.b3, a.s1.q2, q.b3, a.s2.q2, r.b3, a.s3.q2, t.b3);
            c14 = steps(c14, a.s0.q3, o.b0, a.s1.q3, q.b0, a.s2.q3, r.b0, a.s3.q3, t.b0);
            c15 = steps(c15, a.s0.q3, o.b1, a.s1.q3, q.b1, a.s2.q3, r.b1, a.s3.q3, t.b1);
            c16 = steps(c16, a.s0.q3, o.b2, a.s1.q3, q.b2, a.s2.q3, r.b2, a.s3.q3, t.b2);
            c17 = steps(c17, a.s0.q3, o.b3, a.s1.q3, q.b3, a.s2.q3, r.b3, a.s3.q3, t.b3);
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
    } else if (TM == 16u) {
        let r2 = rows_at(m0 + 8u);
        let r3 = rows_at(m0 + 12u);
        store_block(r2, n0, wid.z, c04);
        store_block(r2, n0 + 4u, wid.z, c05);
        store_block(r2, n0 + 8u, wid.z, c06);
        store_block(r2, n0 + 12u, wid.z, c07);
        store_block(r3, n0, wid.z, c14);
        store_block(r3, n0 + 4u, wid.z, c15);
        store_block(r3, n0 + 8u, wid.z, c16);
        store_block(r3, n0 + 12u, wid.z, c17);
    }
}
