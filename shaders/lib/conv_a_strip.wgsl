// The subgroup core's A operand (lib/conv_gemm_subgroup.wgsl) for stride-1 3x3 convolutions
// with padding 1 whose lane rows are TM neighbouring pixels of one image row (the row's width a
// multiple of TM), in f32: at each k = (channel, tap) they read TM neighbouring values of one
// row of the A tensor, shifted by the tap's column offset dx in {-1, 0, 1}. So the lane loads
// the aligned groups of four that cover them once for the row's three taps and shifts in
// registers, instead of TM scalars per tap.
//
// The groups of four are read as two u64 (lib/conv_f32_pairs.wgsl): two load components where
// four scalars or a vec4<f32> cost four. (Measured on ResNet-32's layers, bench/README.md;
// texture loads of rgba32float texels cost the same as the u64 pairs.)
//
// The including kernel binds the A tensor a second time as `a4` (array<vec2<u64>>: four f32
// each) and provides strip_at(m0) (where the lane's rows start) and a_tap(kp) (the tap at k).
// src/ops/conv.rs picks these kernels only for shapes they serve and adapters with 64-bit
// integers (ConvShape::a_loader).
// Bounds: a load's index is the selected 0 unless the strip's row is inside the plane, the strip
// and k are live, and the index lies inside a4; values read from outside the image row (the
// group left of a strip at column 0, right of one ending at the last column) reach only
// elements the edge masks zero.

// Where a lane's rows start: `base`, the index in A of its first pixel (channel 0: a multiple
// of 4), that pixel's image row `y` among `h`, whether the strip starts at column 0 (`left`) or
// ends at the row's last column (`right`), and whether its rows exist (`valid`).
struct LaneA { base: i32, y: i32, h: u32, left: bool, right: bool, valid: bool }

//!include conv_a_groups.wgsl

fn lane_a(m0: u32) -> LaneA { return strip_at(m0); }

// One k: the offset from `base` of the tap's channel and row at the strip's own column
// (`off`), and the tap's row and column offsets from the strip's pixels (`dy`, `dx`).
struct Tap { off: i32, dy: i32, dx: i32 }

// The core's STEPS = 3 k steps: the three taps of one tap row (k0 its first: the k chunks of
// these kernels start at 0 and hold whole rows of KS = 3 taps), which read the same row of A
// shifted by their dx. So the row is loaded once, TM / 4 + 2 groups from the one before the
// strip's first pixel to the one after its last, and each tap takes its window in registers.
fn a_steps(a: LaneA, k0: KPos, k1: KPos, k2: KPos, k3: KPos) -> ASteps {
    let t0 = a_tap(k0);
    let ok = a.valid && u32(a.y + t0.dy) < a.h;
    let first = ((a.base + t0.off) >> 2u) - 1;
    var u: array<vec4<f32>, 6>;
    for (var i = 0u; i < TM / 4u + 2u; i++) {
        u[i] = a_vec(first + i32(i), ok);
    }
    var s: ASteps;
    s.s0 = window(a, u, t0.dx, k0.live);
    s.s1 = window(a, u, a_tap(k1).dx, k1.live);
    s.s2 = window(a, u, a_tap(k2).dx, k2.live);
    return s;
}

// The strip's TM values for column offset dx in {-1, 0, 1} from the row's groups u (u[1] holds
// the strip's first pixel), zero past the image row's ends or where the step is not live.
fn window(a: LaneA, u: array<vec4<f32>, 6>, dx: i32, live: bool) -> AQuads {
    var q: AQuads;
    q.q0 = shifted(u[0], u[1], u[2], dx);
    q.q1 = shifted(u[1], u[2], u[3], dx);
    if (TM == 16u) {
        q.q2 = shifted(u[2], u[3], u[4], dx);
        q.q3 = shifted(u[3], u[4], u[5], dx);
    }
    q.q0.x = select(q.q0.x, 0.0, a.left && dx < 0);
    if (TM == 16u) {
        q.q3.w = select(q.q3.w, 0.0, a.right && dx > 0);
    } else {
        q.q1.w = select(q.q1.w, 0.0, a.right && dx > 0);
    }
    if (!live) {
        q = AQuads();
    }
    return q;
}

// Four consecutive values of the twelve in u, v, w, starting at v's first shifted by dx.
fn shifted(u: vec4<f32>, v: vec4<f32>, w: vec4<f32>, dx: i32) -> vec4<f32> {
    let left = vec4(u.w, v.xyz);
    let right = vec4(v.yzw, w.x);
    return select(select(v, left, dx < 0), right, dx > 0);
}
