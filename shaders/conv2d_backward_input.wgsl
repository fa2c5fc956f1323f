// conv2d_backward_input: dx[n,ci,iy,ix] = sum over co,ky,kx of dy[n,co,oy,ox] * w[co,ci,ky,kx]
// where oy*s-p+ky = iy and ox*s-p+kx = ix (the transposed convolution of dy), as an implicit GEMM
// (lib/conv_gemm.wgsl) with m = (n,iy,ix), n = ci, k = (co,ky,kx); taps that no output position
// reaches (stride divisibility, borders) read as zero.
// Layouts: dy [N,Cout,Ho,Wo], w [Cout,Cin,K,K], dx [N,Cin,H,W], f32 NCHW.
// Workgroup: WM*WN threads (override constants), each computing a TM x TN block of dx.
// Bindings: 0 params (uniform, lib/conv_gemm.wgsl), 1 dy (read), 2 w (read), 3 dx (read_write).

//!include conv_gemm.wgsl

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// One input position: its image's offset in dy and iy+p, ix+p (signed for the range tests).
struct ARow { base: u32, ty0: i32, tx0: i32, valid: bool }

fn a_row(m: u32) -> ARow {
    let hw = p.h * p.w;
    let img = div_small(m, hw);
    let iy = div_small(m - img * hw, p.w);
    let ix = m - img * hw - iy * p.w;
    return ARow(img * p.c_out * p.h_out * p.w_out, i32(iy + p.pad), i32(ix + p.pad),
                m < p.m_total);
}

fn a_elem(r: ARow, k: u32) -> f32 {
    let co = k / (KS * KS);
    let ky = (k - co * KS * KS) / KS;
    let kx = k - co * KS * KS - ky * KS;
    // oy * stride = iy + pad - ky must be a non-negative multiple of the stride.
    let ty = r.ty0 - i32(ky);
    let tx = r.tx0 - i32(kx);
    if (!r.valid || ty < 0 || tx < 0) { return 0.0; }
    let oy = u32(ty) / STRIDE;
    let ox = u32(tx) / STRIDE;
    if (oy * STRIDE != u32(ty) || ox * STRIDE != u32(tx) || oy >= p.h_out || ox >= p.w_out) {
        return 0.0;
    }
    return dy[r.base + (co * p.h_out + oy) * p.w_out + ox];
}

struct BCol { ci: u32, valid: bool }

fn b_col(n: u32) -> BCol { return BCol(n, n < p.n_total); }

fn b_elem(c: BCol, k: u32) -> f32 {
    if (!c.valid) { return 0.0; }
    let co = k / (KS * KS);
    return wt[(co * p.c_in + c.ci) * KS * KS + k - co * KS * KS];
}

fn c_store(m: u32, n: u32, split: u32, v: f32) {
    if (m >= p.m_total || n >= p.n_total) { return; }
    let hw = p.h * p.w;
    let img = div_small(m, hw);
    dx[(img * p.c_in + n) * hw + m - img * hw] = v;
}
