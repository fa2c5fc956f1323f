// sum_rows: out[n] = sum over m of x[m,n] (column sums: the bias gradient of a linear layer).
// Layouts: x [M,N] row-major f32, out [N].
// Workgroup: 256 threads, one column each; a grid too large for x spills into y.
// Bounds: trusted: x at row·n + col < m·n, its length (col < n by the guard); out at col < n.
// Bindings: 0 params (uniform), 1 x (read), 2 out (read_write).

struct Params { m: u32, n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let col = (wid.y * nwg.x + wid.x) * 256u + lid;
    if (col >= p.n) { return; }
    var s = 0.0;
    for (var row = 0u; row < p.m; row++) { s += x[row * p.n + col]; }
    out[col] = s;
}
