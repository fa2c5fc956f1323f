// The subgroup core's A operand (lib/conv_gemm_subgroup.wgsl) for the weight gradient of
// stride-1 3x3 convolutions with padding 1 whose rows are a multiple of 4 wide, in f32, with
// TM = 8 and STEPS = 4: the rows of A are the weight's taps m = (ci, ky, kx), k = (n, oy, ox).
//
// The three taps kx of one tap row (ci, ky) read one row of x, shifted by kx - 1, and four
// neighbouring k (one group of four pixels ox0..ox0+3) read four neighbouring values of it: 12
// values of A from the 6 x values at ox0 - 1 .. ox0 + 4, held by 3 aligned groups of four. So
// each lane's 8 rows are two whole tap rows (its six taps; rows 6 and 7 stay zero) and it
// loads 3 groups per tap row per 4 k steps, as f32 pairs (lib/conv_f32_pairs.wgsl): 12 load
// components for 32 values of A, where lib/conv_a_rows.wgsl loads 32 scalars. The GEMM's rows
// are then virtual, 8 per lane, and the index library's c_row maps them back to taps (TAP_ROWS).
//
// The including kernel binds x a second time as `a4` (array<vec2<u64>>: four f32 each). Its k
// chunks start at multiples of 4 (of 16: src/ops/conv.rs) and the rows' width w is a multiple
// of 4, so each iteration's four k steps are one aligned group of four pixels of one row.
// Bounds: a load's index is the selected 0 unless its tap row exists, lies inside the image
// (0 <= oy + ky - 1 < h), and the index lies inside a4; values read from outside the image row
// (left of column 0, right of the last column) reach only the elements the edge masks zero.

//!include conv_a_groups.wgsl

// One tap row (ci, ky): its offset in an image of x from (oy, ox0) at kx = 1, its row offset
// ky - 1, and whether it exists.
struct TapRow { off: i32, dy: i32, valid: bool }

struct LaneA { r0: TapRow, r1: TapRow }

fn tap_row(r: u32) -> TapRow {
    let ci = r / KS;
    let ky = i32(r - ci * KS) - i32(p.pad);
    return TapRow(i32(ci * p.h * p.w) + ky * i32(p.w), ky, r < p.c_in * KS);
}

// Lane l (m0 = 8l) holds tap rows 2l and 2l + 1.
fn lane_a(m0: u32) -> LaneA { return LaneA(tap_row(m0 / 4u), tap_row(m0 / 4u + 1u)); }

fn a_steps(a: LaneA, k0: KPos, k1: KPos, k2: KPos, k3: KPos) -> ASteps {
    let u = row_values(a.r0, k0);
    let v = row_values(a.r1, k0);
    var s: ASteps;
    s.s0 = step_quads(u, v, 0u, k0);
    s.s1 = step_quads(u, v, 1u, k1);
    s.s2 = step_quads(u, v, 2u, k2);
    s.s3 = step_quads(u, v, 3u, k3);
    return s;
}

// The 12 values of x at ox0 - 4 .. ox0 + 7 in tap row r at the group's image row (zero outside
// the image), the ones left of column 0 and right of the last column zeroed.
fn row_values(r: TapRow, k0: KPos) -> array<f32, 12> {
    let ok = r.valid && u32(k0.iy + r.dy) < p.h;
    let first = (i32(k0.x0) + r.off) / 4 - 1;
    let g0 = a_vec(first, ok);
    let g1 = a_vec(first + 1, ok);
    let g2 = a_vec(first + 2, ok);
    var f = array<f32, 12>(g0.x, g0.y, g0.z, g0.w, g1.x, g1.y, g1.z, g1.w, g2.x, g2.y, g2.z,
                           g2.w);
    // Pixel ox0 - 1 is the padding left of column 0 where ox0 = 0; ox0 + 4 right of the last.
    f[3] = select(f[3], 0.0, k0.ix == 0);
    f[8] = select(f[8], 0.0, u32(k0.ix) + 4u == p.w);
    return f;
}

// Rows 0..7 at step s (pixel ox0 + s): taps kx = 0, 1, 2 of each tap row read x at
// ox0 + s + kx - 1, value 3 + s + kx; zero where the step is not live.
fn step_quads(u: array<f32, 12>, v: array<f32, 12>, s: u32, kp: KPos) -> AQuads {
    var q: AQuads;
    q.q0 = vec4(u[3u + s], u[4u + s], u[5u + s], v[3u + s]);
    q.q1 = vec4(v[4u + s], v[5u + s], 0.0, 0.0);
    if (!kp.live) {
        q = AQuads();
    }
    return q;
}
