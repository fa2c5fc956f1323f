// The subgroup core's A operand (lib/conv_gemm_subgroup.wgsl) for stride-1 3x3 convolutions
// with padding 1 whose lane rows are TM neighbouring pixels of one image row (the row's width a
// multiple of TM), in f32: at each k = (channel, tap) they read TM neighbouring values of one
// row of the A tensor, shifted by the tap's column offset dx in {-1, 0, 1}. So the lane loads
// the TM / 4 + 1 aligned groups of four that cover them and shifts in registers, instead of TM
// scalars.
//
// Why groups of four, read as two u64: lavapipe turns each load into a loop over its SIMD lanes
// with a branch and an insert per lane and per component, so the cost is the number of
// components, whatever their width; a u64 brings two f32 per component. A group of four then
// costs two components, where four scalars or a vec4<f32> cost four: 10 components per k for
// TM = 16 instead of 16. (Measured on ResNet-32's layers, bench/README.md; texture loads of
// rgba32float texels cost the same as the u64 pairs.)
//
// The including kernel binds the A tensor a second time as `a4` (array<vec2<u64>>: four f32
// each) and provides strip_at(m0) (where the lane's rows start) and a_tap(kp) (the tap at k).
// src/ops/conv.rs picks these kernels only for shapes they serve and adapters with 64-bit
// integers (ConvShape::reads_strips).
// Bounds: a load's index is the selected 0 unless the strip's row is inside the plane, the strip
// and k are live, and the index lies inside a4; values read from outside the image row (the
// group left of a strip at column 0, right of one ending at the last column) reach only
// elements the edge masks zero.

// Where a lane's rows start: `base`, the index in A of its first pixel (channel 0: a multiple
// of 4), that pixel's image row `y` among `h`, whether the strip starts at column 0 (`left`) or
// ends at the row's last column (`right`), and whether its rows exist (`valid`).
struct LaneA { base: i32, y: i32, h: u32, left: bool, right: bool, valid: bool }

fn lane_a(m0: u32) -> LaneA { return strip_at(m0); }

// One k: the offset from `base` of the tap's channel and row at the strip's own column
// (`off`), and the tap's row and column offsets from the strip's pixels (`dy`, `dx`).
struct Tap { off: i32, dy: i32, dx: i32 }

struct AQuads { q0: vec4<f32>, q1: vec4<f32>, q2: vec4<f32>, q3: vec4<f32> }

fn a_quads(a: LaneA, kp: KPos) -> AQuads {
    let t = a_tap(kp);
    let ok = a.valid && kp.live && u32(a.y + t.dy) < a.h;
    // The first group: the one holding the strip's first pixel, or the one before it for dx = -1;
    // the first value then lies at `shift` within it.
    let back = t.dx < 0;
    let first = ((a.base + t.off) >> 2u) - select(0, 1, back);
    let shift = select(t.dx, 3, back);
    let u0 = a_vec(first, ok);
    let u1 = a_vec(first + 1, ok);
    let u2 = a_vec(first + 2, ok);
    var q: AQuads;
    q.q0 = shifted(u0, u1, shift);
    q.q1 = shifted(u1, u2, shift);
    if (TM == 16u) {
        let u3 = a_vec(first + 3, ok);
        let u4 = a_vec(first + 4, ok);
        q.q2 = shifted(u2, u3, shift);
        q.q3 = shifted(u3, u4, shift);
    }
    // Padding: the pixel left of column 0 and right of the last column.
    q.q0.x = select(q.q0.x, 0.0, a.left && back);
    if (TM == 16u) {
        q.q3.w = select(q.q3.w, 0.0, a.right && t.dx > 0);
    } else {
        q.q1.w = select(q.q1.w, 0.0, a.right && t.dx > 0);
    }
    return q;
}

// Group i of four f32 (little-endian: the first value in each u64's low half), zero unless ok.
fn a_vec(i: i32, ok: bool) -> vec4<f32> {
    let inside = ok && i >= 0 && u32(i) < arrayLength(&a4);
    let v = a4[select(0u, u32(i), inside)];
    let f = vec4(bitcast<f32>(u32(v.x & 0xFFFFFFFFlu)), bitcast<f32>(u32(v.x >> 32u)),
                 bitcast<f32>(u32(v.y & 0xFFFFFFFFlu)), bitcast<f32>(u32(v.y >> 32u)));
    return select(vec4(0.0), f, inside);
}

// Four consecutive values starting `shift` (0, 1 or 3) into the eight of u, v.
fn shifted(u: vec4<f32>, v: vec4<f32>, shift: i32) -> vec4<f32> {
    let by1 = vec4(u.yzw, v.x);
    let by3 = vec4(u.w, v.xyz);
    return select(select(u, by1, shift == 1), by3, shift == 3);
}
