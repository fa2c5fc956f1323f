// The bindings and index functions of conv2d_backward_input (described in
// shaders/conv2d_backward_input.wgsl), shared by its two variants: lib/conv_gemm.wgsl and
// lib/conv_gemm_subgroup.wgsl as the core. Loads clamp and select as in conv2d_forward_index.
// Bounds (the kernels are trusted: created without runtime checks): a load's index is the
// selected 0 unless its element is inside: dy for rows m < m_total at 0 <= oy < h_out,
// 0 <= ox < w_out and co < c_out (k < k_total = c_out·nky·nkx); the packed weight for columns
// n < n_total = c_in at k < k_total; dx is written only for m < m_total (so iy < h, ix < w) and
// n < n_total. Integer divisors are override constants >= 1 or go through div_rcp.

//!element act
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<act>;
@group(0) @binding(2) var<storage, read> wp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx: array<act>;

// The input positions with (iy+p) % s == py and (ix+p) % s == px (one stride phase, one dispatch
// each) receive only the taps ky = py + jy*s, kx = px + jx*s, from output (ay - jy, ax - jx)
// where ay = (iy+p-py)/s: m = (n, ty, tx) over the phase's positions iy = iy0 + ty*s,
// ix = ix0 + tx*s and k = (co, jy, jx) over its live taps, so no zero tap is multiplied.
struct Pos { img: u32, iy: u32, ix: u32 }

fn position(m: u32) -> Pos {
    let hw = p.hp * p.wp;
    let img = div_rcp(m, hw, p.rcp_plane);
    let ty = div_rcp(m - img * hw, p.wp, p.rcp_row);
    let tx = m - img * hw - ty * p.wp;
    return Pos(img, p.iy0 + ty * STRIDE, p.ix0 + tx * STRIDE);
}

// One input position: the offset in dy of output (ay, ax) (signed: it may lie past the edge)
// and (ay, ax) for the range tests.
struct ARow { corner: i32, ay: i32, ax: i32, valid: bool }

fn a_row(m: u32) -> ARow {
    let q = position(m);
    let ay = i32((q.iy + p.pad - (p.iy0 + p.pad) % STRIDE) / STRIDE);
    let ax = i32((q.ix + p.pad - (p.ix0 + p.pad) % STRIDE) / STRIDE);
    return ARow(i32(q.img * p.c_out * p.h_out * p.w_out) + ay * i32(p.w_out) + ax, ay, ax,
                m < p.m_total);
}

// One reduction index k = (co, jy, jx) and its offset from (ay, ax) in dy.
struct KPos { k: u32, off: i32, jy: i32, jx: i32, live: bool }

fn k_pos(k: u32, k_end: u32) -> KPos {
    let co = div_rcp(k, p.nky * p.nkx, p.rcp_taps);
    let jy = div_rcp(k - co * p.nky * p.nkx, p.nkx, p.rcp_nkx);
    let jx = k - co * p.nky * p.nkx - jy * p.nkx;
    let off = i32(co * p.h_out * p.w_out) - i32(jy * p.w_out + jx);
    return KPos(k, off, i32(jy), i32(jx), k < k_end);
}

// k_pos(kp.k + 1) without a division.
fn k_next(kp: KPos, k_end: u32) -> KPos {
    var r = KPos(kp.k + 1u, kp.off - 1, kp.jy, kp.jx + 1, kp.k + 1u < k_end);
    if (r.jx == i32(p.nkx)) {
        r.jx = 0;
        r.jy += 1;
        r.off += i32(p.nkx) - i32(p.w_out);
    }
    if (r.jy == i32(p.nky)) {
        r.jy = 0;
        r.off += i32(p.nky * p.w_out) + i32(p.h_out * p.w_out);
    }
    return r;
}

fn a_elem(r: ARow, kp: KPos) -> f32 {
    let oy = r.ay - kp.jy;
    let ox = r.ax - kp.jx;
    let ok = r.valid && kp.live && u32(oy) < p.h_out && u32(ox) < p.w_out;
    let v = f32(dy[select(0u, u32(r.corner + kp.off), ok)]);
    return select(0.0, v, ok);
}

// B: four input channels n..n+3 at a time from the phase's packed weight (k = (co, jy, jx)).
//!include conv_packed_b.wgsl

// One input position: its offset in dx for channel 0.
struct CRow { base: u32, valid: bool }

fn c_row(m: u32) -> CRow {
    let q = position(m);
    return CRow((q.img * p.c_in * p.h + q.iy) * p.w + q.ix, m < p.m_total);
}

fn c_put(r: CRow, n: u32, split: u32, v: f32) {
    if (r.valid && n < p.n_total) {
        dx[r.base + n * p.h * p.w] = act(v);
    }
}

//!include conv_c_rows.wgsl
