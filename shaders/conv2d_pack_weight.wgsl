// conv2d_pack_weight: a convolution's weight w [Cout,Cin,K,K] laid out as the B operand that the
// forward or backward-data GEMM reads (src/ops/conv.rs packs it once per call): packed[r, n] for
// rows r = (o, jy, jx) of taps ky = py + jy*s, kx = px + jx*s (jy < nky, jx < nkx) and columns
// n < n_pad, n_pad a multiple of 4 so that the GEMMs read aligned vec4s along n; zero for
// n >= n_cols. Forward: o = ci, n = co, all K x K taps (s = 1, py = px = 0). Backward data, one
// stride phase: o = co, n = ci, the phase's live taps. The source index is
// n*n_step + o*o_step + ky*K + kx.
// Layouts: w f32 [Cout,Cin,K,K]; packed f32 [rows, n_pad] row-major.
// Workgroup: 256 threads, one packed element each; a grid too large for x spills into y.
// Bindings: 0 params (uniform), 1 w (read), 2 packed (read_write).

struct Params {
    rows: u32, n_pad: u32, n_cols: u32, nky: u32,
    nkx: u32, py: u32, px: u32, stride: u32,
    ks: u32, n_step: u32, o_step: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if (i >= p.rows * p.n_pad) { return; }
    let r = i / p.n_pad;
    let n = i % p.n_pad;
    let o = r / (p.nky * p.nkx);
    let jy = r % (p.nky * p.nkx) / p.nkx;
    let jx = r % p.nkx;
    let ky = p.py + jy * p.stride;
    let kx = p.px + jx * p.stride;
    var v = 0.0;
    if (n < p.n_cols) {
        v = w[n * p.n_step + o * p.o_step + ky * p.ks + kx];
    }
    packed[i] = v;
}
