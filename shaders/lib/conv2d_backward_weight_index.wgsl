// The bindings and index functions of conv2d_backward_weight (described in shaders/conv2d_backward_weight.wgsl),
// shared by its two variants: lib/conv_gemm.wgsl and lib/conv_gemm_subgroup.wgsl as the core.
// Bounds (the kernels are trusted: created without runtime checks): x is read only for rows
// m < m_total = c_in·KS² (so ci < c_in) at 0 <= iy < h, 0 <= ix < w and img < n
// (k < k_total = n·h_out·w_out); dy only for columns n < n_total = c_out; part is written only
// for m < m_total, n < n_total, at split = workgroup z, below the splits src/ops/conv.rs
// allocates (it dispatches ceil(k_total / k_chunk) of them). Integer divisors are override
// constants >= 1 or go through div_small's f32 division.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

// One weight tap: its channel's offset in an image of x and (ky-p, kx-p).
struct ARow { base: u32, ky: i32, kx: i32, valid: bool }

fn a_row(m: u32) -> ARow {
    let ci = m / (KS * KS);
    let ky = (m - ci * KS * KS) / KS;
    let kx = m - ci * KS * KS - ky * KS;
    return ARow(ci * p.h * p.w, i32(ky) - i32(p.pad), i32(kx) - i32(p.pad), m < p.m_total);
}

fn a_elem(r: ARow, k: u32) -> f32 {
    let hw = p.h_out * p.w_out;
    let img = div_small(k, hw);
    let oy = div_small(k - img * hw, p.w_out);
    let ox = k - img * hw - oy * p.w_out;
    let iy = i32(oy * STRIDE) + r.ky;
    let ix = i32(ox * STRIDE) + r.kx;
    if (!r.valid || iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w)) { return 0.0; }
    return x[img * p.c_in * p.h * p.w + r.base + u32(iy) * p.w + u32(ix)];
}

struct BCol { co: u32, valid: bool }

fn b_col(n: u32) -> BCol { return BCol(n, n < p.n_total); }

fn b_elem(c: BCol, k: u32) -> f32 {
    if (!c.valid) { return 0.0; }
    let hw = p.h_out * p.w_out;
    let img = div_small(k, hw);
    return dy[(img * p.c_out + c.co) * hw + k - img * hw];
}

fn c_store(m: u32, n: u32, split: u32, v: f32) {
    if (m >= p.m_total || n >= p.n_total) { return; }
    part[(split * p.n_total + n) * p.m_total + m] = v;
}
