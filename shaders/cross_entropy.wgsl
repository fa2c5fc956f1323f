// cross_entropy: softmax cross-entropy averaged over the batch, forward and backward fused.
// loss = (1/N) * sum_i (lse_i - z[i, label_i]),  lse_i = max_i + log(sum_j exp(z[i,j] - max_i)),
// dlogits[i,j] = (exp(z[i,j] - lse_i) - [j == label_i]) / N. Subtracting the row max keeps large
// logits finite.
// Layouts: logits, dlogits [N,K] row-major f32; labels [N] u32 (checked < K on the host); loss [1].
// Workgroup: one workgroup of 256 threads; thread t handles rows t, t+256, …; the loss is summed
// with group_sum (lib/reduce.wgsl). Dispatch exactly 1 workgroup.
// Bounds: trusted: rows < n and columns < k of [n, k] logits and dlogits; each label is clamped to
// k - 1, so one that bypassed the host's check (upload_labels) cannot index past its row; loss at
// 0.
// Bindings: 0 params (uniform), 1 logits (read), 2 labels (read), 3 loss, 4 dlogits (read_write).
// Reference: reference::cross_entropy
// Test: kernels-tests/linear_loss.rs::cross_entropy_matches_reference_and_is_stable

struct Params { n: u32, k: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

const REDUCE_THREADS: u32 = 256u;
const REDUCE_GROUP: u32 = REDUCE_THREADS;
alias Reduced = f32;
//!include reduce.wgsl

@compute @workgroup_size(REDUCE_THREADS)
fn main(@builtin(local_invocation_index) lid: u32) {
    let inv_n = 1.0 / f32(p.n);
    var total = 0.0;
    for (var row = lid; row < p.n; row += 256u) {
        let base = row * p.k;
        var zmax = logits[base];
        for (var j = 1u; j < p.k; j++) { zmax = max(zmax, logits[base + j]); }
        var s = 0.0;
        for (var j = 0u; j < p.k; j++) { s += exp(logits[base + j] - zmax); }
        let lse = zmax + log(s);
        let label = min(labels[row], p.k - 1u);
        total += lse - logits[base + label];
        for (var j = 0u; j < p.k; j++) {
            let one_hot = select(0.0, 1.0, j == label);
            dlogits[base + j] = (exp(logits[base + j] - lse) - one_hot) * inv_n;
        }
    }
    let sum = group_sum(lid, total);
    if (lid == 0u) { loss[0] = sum * inv_n; }
}
