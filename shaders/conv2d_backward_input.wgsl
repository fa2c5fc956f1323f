// conv2d_backward_input: dx[n,ci,iy,ix] = sum over co,ky,kx of dy[n,co,oy,ox] * w[co,ci,ky,kx]
// where oy*s-p+ky = iy and ox*s-p+kx = ix (the transposed convolution of dy).
// Layouts: dy [N,Cout,Ho,Wo], w [Cout,Cin,K,K], dx [N,Cin,H,W], f32 NCHW.
// Workgroup: 256 threads, one input element each; a grid too large for x spills into y.
// Bindings: 0 params (uniform, lib/conv_params.wgsl), 1 dy (read), 2 w (read), 3 dx (read_write).

//!include conv_params.wgsl

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if (i >= p.n * p.c_in * p.h * p.w) { return; }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let ci = (i / (p.w * p.h)) % p.c_in;
    let n = i / (p.w * p.h * p.c_in);
    var acc = 0.0;
    for (var ky = 0u; ky < p.k; ky++) {
        // oy * stride = iy + pad - ky must be a non-negative multiple of the stride.
        let ty = i32(iy + p.pad) - i32(ky);
        if (ty < 0 || u32(ty) % p.stride != 0u) { continue; }
        let oy = u32(ty) / p.stride;
        if (oy >= p.h_out) { continue; }
        for (var kx = 0u; kx < p.k; kx++) {
            let tx = i32(ix + p.pad) - i32(kx);
            if (tx < 0 || u32(tx) % p.stride != 0u) { continue; }
            let ox = u32(tx) / p.stride;
            if (ox >= p.w_out) { continue; }
            for (var co = 0u; co < p.c_out; co++) {
                acc += dy[((n * p.c_out + co) * p.h_out + oy) * p.w_out + ox]
                     * wt[((co * p.c_in + ci) * p.k + ky) * p.k + kx];
            }
        }
    }
    dx[i] = acc;
}
