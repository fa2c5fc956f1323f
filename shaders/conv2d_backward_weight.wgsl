// conv2d_backward_weight: dw[co,ci,ky,kx] = sum over n,oy,ox of dy[n,co,oy,ox] * x[n,ci,oy*s-p+ky,ox*s-p+kx]
// Layouts: x [N,Cin,H,W], dy [N,Cout,Ho,Wo], dw [Cout,Cin,K,K], f32 NCHW.
// Workgroup: 256 threads per weight element, each summing a strided share of the N*Ho*Wo terms,
// then workgroup_sum (lib/reduce.wgsl); a grid too large for x spills into y.
// Bindings: 0 params (uniform, lib/conv_params.wgsl), 1 x (read), 2 dy (read), 3 dw (read_write).

//!include conv_params.wgsl

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

//!include reduce.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let wi = wid.y * nwg.x + wid.x;
    // Uniform per workgroup, so every thread reaches the barriers below.
    let in_range = wi < p.c_out * p.c_in * p.k * p.k;
    let kx = wi % p.k;
    let ky = (wi / p.k) % p.k;
    let ci = (wi / (p.k * p.k)) % p.c_in;
    let co = wi / (p.k * p.k * p.c_in);
    var acc = 0.0;
    let terms = select(0u, p.n * p.h_out * p.w_out, in_range);
    for (var t = lid; t < terms; t += 256u) {
        let ox = t % p.w_out;
        let oy = (t / p.w_out) % p.h_out;
        let n = t / (p.w_out * p.h_out);
        let iy = i32(oy * p.stride + ky) - i32(p.pad);
        let ix = i32(ox * p.stride + kx) - i32(p.pad);
        if (iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w)) { continue; }
        acc += dy[((n * p.c_out + co) * p.h_out + oy) * p.w_out + ox]
             * x[((n * p.c_in + ci) * p.h + u32(iy)) * p.w + u32(ix)];
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u && in_range) { dw[wi] = total; }
}
