// sum_rows: out[j] = sum over i of x[i, j] (column sums): a linear layer's bias gradient, the sum
// of split-K partial weight gradients, batch norm's dγ/dβ over the samples.
// Layouts: x [M, N] row-major f32, out [N].
// Workgroup: 256 threads = 256 / S columns × S row slices, S = override REDUCE_GROUP (a power of
// two up to 16; ops::column_reduction picks it from M and N). Neighbouring threads take
// neighbouring columns (interleaved, lib/reduce.wgsl), so a row's loads are coalesced; slice s
// sums rows s, s + S, …, and group_sum adds the S slices of a column (no barriers when S = 1).
// A grid too large for x spills into y.
// Bounds: trusted: a thread past the last column (col >= n) reads nothing and writes nothing;
// x at row·n + col < m·n, its length; out at col < n; lib/reduce.wgsl's scratch indices stay
// below REDUCE_THREADS.
// Bindings: 0 params (uniform), 1 x (read), 2 out (read_write).
// Reference: reference::sum_rows
// Test: kernels-tests/elementwise.rs::column_sums_match_the_reference_for_every_slicing

struct Params { m: u32, n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const REDUCE_THREADS: u32 = 256u;
override REDUCE_GROUP: u32 = 1u;
alias Reduced = f32;
//!include reduce.wgsl

@compute @workgroup_size(REDUCE_THREADS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
    let r = interleaved(lid);
    let col = group_index(wid, nwg, r);
    let slice = r % REDUCE_GROUP;
    // Threads past the last column sum nothing, but still reach group_sum's barriers.
    let rows = select(0u, p.m, col < p.n);
    var s = 0.0;
    for (var row = slice; row < rows; row += REDUCE_GROUP) { s += x[row * p.n + col]; }
    let total = group_sum(r, s);
    if (col < p.n && slice == 0u) { out[col] = total; }
}
