// The bindings and index functions of conv2d_forward (described in shaders/conv2d_forward.wgsl),
// shared by its two variants: lib/conv_gemm.wgsl and lib/conv_gemm_subgroup.wgsl as the core.
//
// Every load clamps its index to 0 and selects zero where the element lies outside (padding,
// edge tiles, k past the chunk): no branch around a load (lavapipe turns each load into a loop
// over its SIMD lanes, and one under a divergent branch costs more than a wasted load), and no
// index out of bounds, checked or not.
//
// Bounds (the kernels are trusted: created without runtime checks): a load's index is the
// selected 0 unless its element is inside: x for rows m < m_total (so img < n) at 0 <= iy < h,
// 0 <= ix < w and k < k_end <= k_total = c_in·KS² (so ci < c_in); wp for columns n < n_total
// at k < k_total, below the packed weight's ceil(n_total / 32)·k_total·8 vec4s; y is written
// only for m < m_total, n < n_total. Integer divisors are override constants >= 1 (KS, STRIDE)
// or go through div_rcp's multiplication.

//!element act
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read> wp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<act>;

// One output position: the offset in x of its window's top-left corner (signed: it may lie in
// the padding) and that corner's row and column.
struct ARow { corner: i32, iy0: i32, ix0: i32, valid: bool }

fn a_row(m: u32) -> ARow {
    let hw = p.h_out * p.w_out;
    let img = div_rcp(m, hw, p.rcp_plane);
    let oy = div_rcp(m - img * hw, p.w_out, p.rcp_row);
    let ox = m - img * hw - oy * p.w_out;
    let iy0 = i32(oy * STRIDE) - i32(p.pad);
    let ix0 = i32(ox * STRIDE) - i32(p.pad);
    return ARow(i32(img * p.c_in * p.h * p.w) + iy0 * i32(p.w) + ix0, iy0, ix0, m < p.m_total);
}

// One reduction index k = (ci, ky, kx): its tap and offset from the window's corner; `live`
// while k is inside the chunk being reduced.
struct KPos { k: u32, off: i32, ky: i32, kx: i32, live: bool }

fn k_pos(k: u32, k_end: u32) -> KPos {
    let ci = k / (KS * KS);
    let ky = (k - ci * KS * KS) / KS;
    let kx = k - ci * KS * KS - ky * KS;
    return KPos(k, i32((ci * p.h + ky) * p.w + kx), i32(ky), i32(kx), k < k_end);
}

// k_pos(kp.k + 1): the next tap, walked without a division.
fn k_next(kp: KPos, k_end: u32) -> KPos {
    var r = KPos(kp.k + 1u, kp.off + 1, kp.ky, kp.kx + 1, kp.k + 1u < k_end);
    if (r.kx == i32(KS)) {
        r.kx = 0;
        r.ky += 1;
        r.off += i32(p.w) - i32(KS);
    }
    if (r.ky == i32(KS)) {
        r.ky = 0;
        r.off += i32(p.h * p.w) - i32(KS * p.w);
    }
    return r;
}

fn a_elem(r: ARow, kp: KPos) -> f32 {
    let iy = r.iy0 + kp.ky;
    let ix = r.ix0 + kp.kx;
    let ok = r.valid && kp.live && u32(iy) < p.h && u32(ix) < p.w;
    let v = f32(x[select(0u, u32(r.corner + kp.off), ok)]);
    return select(0.0, v, ok);
}

// B: four output channels n..n+3 at a time from the packed weight (k = (ci, ky, kx)).
//!include conv_packed_b.wgsl

// One output position: its offset in y for channel 0.
struct CRow { base: u32, valid: bool }

fn c_row(m: u32) -> CRow {
    let hw = p.h_out * p.w_out;
    let img = div_rcp(m, hw, p.rcp_plane);
    return CRow(img * p.c_out * hw + m - img * hw, m < p.m_total);
}

fn c_put(r: CRow, n: u32, split: u32, v: f32) {
    if (r.valid && n < p.n_total) {
        y[r.base + n * p.h_out * p.w_out] = act(v);
    }
}

//!include conv_c_rows.wgsl
