// The bindings and index functions of conv2d_backward_input (described in shaders/conv2d_backward_input.wgsl),
// shared by its two variants: lib/conv_gemm.wgsl and lib/conv_gemm_subgroup.wgsl as the core.
// Bounds (the kernels are trusted: created without runtime checks): dy is read only for rows
// m < m_total at 0 <= oy < h_out, 0 <= ox < w_out and co < c_out (k < k_total = c_out·nky·nkx);
// wt only for columns n < n_total = c_in, at ky = phase + jy·STRIDE < KS because jy < nky, the
// phase's live taps as src/ops/conv.rs counts them (likewise kx); dx is written only for
// m < m_total (so ty < hp and iy < h, likewise ix) and n < n_total. Integer divisors are
// override constants >= 1 or go through div_small's f32 division.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// The input positions with (iy+p) % s == py and (ix+p) % s == px (one stride phase, one dispatch
// each) receive only the taps ky = py + jy*s, kx = px + jx*s, from output (ay - jy, ax - jx)
// where ay = (iy+p-py)/s: m = (n, ty, tx) over the phase's positions iy = iy0 + ty*s,
// ix = ix0 + tx*s and k = (co, jy, jx) over its live taps, so no zero tap is multiplied.
fn phase_y() -> u32 { return (p.iy0 + p.pad) % STRIDE; }
fn phase_x() -> u32 { return (p.ix0 + p.pad) % STRIDE; }

struct Pos { img: u32, iy: u32, ix: u32 }

fn position(m: u32) -> Pos {
    let hw = p.hp * p.wp;
    let img = div_small(m, hw);
    let ty = div_small(m - img * hw, p.wp);
    let tx = m - img * hw - ty * p.wp;
    return Pos(img, p.iy0 + ty * STRIDE, p.ix0 + tx * STRIDE);
}

// The tap (co, ky index jy, kx index jx) of reduction index k.
fn tap(k: u32) -> vec3<u32> {
    let taps = p.nky * p.nkx;
    let co = div_small(k, taps);
    let jy = div_small(k - co * taps, p.nkx);
    return vec3(co, jy, k - co * taps - jy * p.nkx);
}

// One input position: its image's offset in dy and (ay, ax), signed for the range tests.
struct ARow { base: u32, ay: i32, ax: i32, valid: bool }

fn a_row(m: u32) -> ARow {
    let q = position(m);
    return ARow(q.img * p.c_out * p.h_out * p.w_out,
                i32((q.iy + p.pad - phase_y()) / STRIDE), i32((q.ix + p.pad - phase_x()) / STRIDE),
                m < p.m_total);
}

fn a_elem(r: ARow, k: u32) -> f32 {
    let t = tap(k);
    let oy = r.ay - i32(t.y);
    let ox = r.ax - i32(t.z);
    if (!r.valid || oy < 0 || ox < 0 || oy >= i32(p.h_out) || ox >= i32(p.w_out)) { return 0.0; }
    return dy[r.base + (t.x * p.h_out + u32(oy)) * p.w_out + u32(ox)];
}

struct BCol { ci: u32, valid: bool }

fn b_col(n: u32) -> BCol { return BCol(n, n < p.n_total); }

fn b_elem(c: BCol, k: u32) -> f32 {
    if (!c.valid) { return 0.0; }
    let t = tap(k);
    let ky = phase_y() + t.y * STRIDE;
    let kx = phase_x() + t.z * STRIDE;
    return wt[((t.x * p.c_in + c.ci) * KS + ky) * KS + kx];
}

fn c_store(m: u32, n: u32, split: u32, v: f32) {
    if (m >= p.m_total || n >= p.n_total) { return; }
    let q = position(m);
    dx[((q.img * p.c_in + n) * p.h + q.iy) * p.w + q.ix] = v;
}
