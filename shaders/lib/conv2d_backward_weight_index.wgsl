// The bindings and index functions of conv2d_backward_weight (described in
// shaders/conv2d_backward_weight.wgsl), shared by its two variants: lib/conv_gemm.wgsl and
// lib/conv_gemm_subgroup.wgsl as the core. Loads clamp and select as in conv2d_forward_index.
// Both operands are contiguous along k = (n, oy, ox), so the tiled core loads them with
// consecutive lanes on consecutive k (lib/conv_tiles_k.wgsl).
// Bounds (the kernels are trusted: created without runtime checks): a load's index is the
// selected 0 unless its element is inside: x for rows m < m_total = c_in·KS² at 0 <= iy < h,
// 0 <= ix < w and k < k_total = n·h_out·w_out; dy for columns n < n_total = c_out; part is
// written only for m < m_total, n < n_total, at split = workgroup z, below the splits
// src/ops/conv.rs allocates (it dispatches ceil(k_total / k_chunk) of them). Integer divisors
// are override constants >= 1 or go through div_rcp.

//!element act
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read> dy: array<act>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

// One weight tap m = (ci, ky, kx): its offset in an image of x from the output position's
// (oy*s, ox*s), and (ky-p, kx-p).
struct ARow { off: i32, ky: i32, kx: i32, valid: bool }

fn a_row(m: u32) -> ARow {
    let ci = m / (KS * KS);
    let ky = i32((m - ci * KS * KS) / KS) - i32(p.pad);
    let kx = i32(m - ci * KS * KS) - (ky + i32(p.pad)) * i32(KS) - i32(p.pad);
    return ARow(i32(ci * p.h * p.w) + ky * i32(p.w) + kx, ky, kx, m < p.m_total);
}

// One reduction index k = (img, oy, ox): the offsets of its image's (oy*s, ox*s) in x and of
// its output position in dy (channel 0), and (oy*s, ox*s).
struct KPos { k: u32, x0: u32, dy0: u32, iy: i32, ix: i32, ox: u32, live: bool }

fn k_pos(k: u32, k_end: u32) -> KPos {
    let hw = p.h_out * p.w_out;
    let img = div_rcp(k, hw, p.rcp_plane);
    let oy = div_rcp(k - img * hw, p.w_out, p.rcp_row);
    let ox = k - img * hw - oy * p.w_out;
    let iy = oy * STRIDE;
    let ix = ox * STRIDE;
    return KPos(k, img * p.c_in * p.h * p.w + iy * p.w + ix, img * p.c_out * hw + k - img * hw,
                i32(iy), i32(ix), ox, k < k_end);
}

// k_pos(kp.k + 1) without a division.
fn k_next(kp: KPos, k_end: u32) -> KPos {
    var r = KPos(kp.k + 1u, kp.x0 + STRIDE, kp.dy0 + 1u, kp.iy, kp.ix + i32(STRIDE), kp.ox + 1u,
                 kp.k + 1u < k_end);
    if (r.ox == p.w_out) {
        r.ox = 0u;
        r.ix = 0;
        r.iy += i32(STRIDE);
        r.x0 += STRIDE * p.w - STRIDE * p.w_out;
    }
    if (u32(r.iy) == p.h_out * STRIDE) {
        // The next image: its first position, and dy skips the other channels' planes.
        r.iy = 0;
        r.x0 += p.c_in * p.h * p.w - STRIDE * p.h_out * p.w;
        r.dy0 += (p.c_out - 1u) * p.h_out * p.w_out;
    }
    return r;
}

fn a_elem(r: ARow, kp: KPos) -> f32 {
    let iy = kp.iy + r.ky;
    let ix = kp.ix + r.kx;
    let ok = r.valid && kp.live && u32(iy) < p.h && u32(ix) < p.w;
    let v = f32(x[select(0u, u32(i32(kp.x0) + r.off), ok)]);
    return select(0.0, v, ok);
}

// One output channel: its plane's offset in an image of dy.
struct BCol { off: u32, valid: bool }

fn b_col(n: u32) -> BCol { return BCol(n * p.h_out * p.w_out, n < p.n_total); }

fn b_elem(c: BCol, kp: KPos) -> f32 {
    let ok = c.valid && kp.live;
    let v = f32(dy[select(0u, kp.dy0 + c.off, ok)]);
    return select(0.0, v, ok);
}

struct CRow { m: u32, valid: bool }

// With the tap-row A loader (lib/conv_a_tap_rows.wgsl) the GEMM's rows are virtual, 8 per lane
// holding two tap rows: row v is tap (v / 8)·6 + v % 8 where v % 8 < 6, and no tap otherwise.
override TAP_ROWS: bool = false;

fn c_row(v: u32) -> CRow {
    if (TAP_ROWS) {
        let m = v / 8u * 6u + v % 8u;
        return CRow(m, v % 8u < 6u && m < p.m_total);
    }
    return CRow(v, v < p.m_total);
}

fn c_put(r: CRow, n: u32, split: u32, v: f32) {
    if (r.valid && n < p.n_total) {
        part[(split * p.n_total + n) * p.m_total + r.m] = v;
    }
}

//!include conv_c_rows.wgsl
