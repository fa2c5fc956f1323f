// The bindings and index functions of conv2d_forward (described in shaders/conv2d_forward.wgsl),
// shared by its two variants: lib/conv_gemm.wgsl and lib/conv_gemm_subgroup.wgsl as the core.
// Bounds (the kernels are trusted: created without runtime checks): x is read only for rows
// m < m_total (so img < n) at 0 <= iy < h, 0 <= ix < w and ci < c_in (k < k_total = c_in·KS²);
// wt only for columns n < n_total = c_out at k < k_total; y is written only for m < m_total,
// n < n_total. Integer divisors are override constants >= 1 (KS, STRIDE) or go through
// div_small's f32 division.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// One output position: its image's offset in x and its window's top-left corner (signed, so
// the padded border is a plain range test).
struct ARow { base: u32, iy0: i32, ix0: i32, valid: bool }

fn a_row(m: u32) -> ARow {
    let hw = p.h_out * p.w_out;
    let img = div_small(m, hw);
    let oy = div_small(m - img * hw, p.w_out);
    let ox = m - img * hw - oy * p.w_out;
    return ARow(img * p.c_in * p.h * p.w, i32(oy * STRIDE) - i32(p.pad),
                i32(ox * STRIDE) - i32(p.pad), m < p.m_total);
}

fn a_elem(r: ARow, k: u32) -> f32 {
    let ci = k / (KS * KS);
    let ky = (k - ci * KS * KS) / KS;
    let kx = k - ci * KS * KS - ky * KS;
    let iy = r.iy0 + i32(ky);
    let ix = r.ix0 + i32(kx);
    if (!r.valid || iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w)) { return 0.0; }
    return x[r.base + (ci * p.h + u32(iy)) * p.w + u32(ix)];
}

struct BCol { base: u32, valid: bool }

fn b_col(n: u32) -> BCol { return BCol(n * p.k_total, n < p.n_total); }

fn b_elem(c: BCol, k: u32) -> f32 {
    if (!c.valid) { return 0.0; }
    return wt[c.base + k];
}

fn c_store(m: u32, n: u32, split: u32, v: f32) {
    if (m >= p.m_total || n >= p.n_total) { return; }
    let hw = p.h_out * p.w_out;
    let img = div_small(m, hw);
    y[(img * p.c_out + n) * hw + m - img * hw] = v;
}
