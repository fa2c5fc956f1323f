// conv2d_forward: y[n,co,oy,ox] = sum over ci,ky,kx of x[n,ci,oy*s-p+ky,ox*s-p+kx] * w[co,ci,ky,kx]
// (no bias, zero padding). Layouts: x [N,Cin,H,W], w [Cout,Cin,K,K], y [N,Cout,Ho,Wo], f32 NCHW.
// Workgroup: 256 threads, one output element each; a grid too large for x spills into y.
// Bindings: 0 params (uniform, lib/conv_params.wgsl), 1 x (read), 2 w (read), 3 y (read_write).

//!include conv_params.wgsl

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if (i >= p.n * p.c_out * p.h_out * p.w_out) { return; }
    let ox = i % p.w_out;
    let oy = (i / p.w_out) % p.h_out;
    let co = (i / (p.w_out * p.h_out)) % p.c_out;
    let n = i / (p.w_out * p.h_out * p.c_out);
    // Signed so that the padded border is a plain range test.
    let iy0 = i32(oy * p.stride) - i32(p.pad);
    let ix0 = i32(ox * p.stride) - i32(p.pad);
    var acc = 0.0;
    for (var ci = 0u; ci < p.c_in; ci++) {
        let x_base = (n * p.c_in + ci) * p.h * p.w;
        let w_base = (co * p.c_in + ci) * p.k * p.k;
        for (var ky = 0u; ky < p.k; ky++) {
            let iy = iy0 + i32(ky);
            if (iy < 0 || iy >= i32(p.h)) { continue; }
            for (var kx = 0u; kx < p.k; kx++) {
                let ix = ix0 + i32(kx);
                if (ix < 0 || ix >= i32(p.w)) { continue; }
                acc += x[x_base + u32(iy) * p.w + u32(ix)] * wt[w_base + ky * p.k + kx];
            }
        }
    }
    y[i] = acc;
}
