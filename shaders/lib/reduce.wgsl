// Workgroup-wide sum. The including kernel declares `const REDUCE_THREADS: u32`, its workgroup
// size (a power of two), and uses it in @workgroup_size. Every thread of the workgroup must call
// it (from uniform control flow) with its own value; every thread gets the total.
var<workgroup> reduce_scratch: array<f32, REDUCE_THREADS>;

fn workgroup_sum(lid: u32, value: f32) -> f32 {
    reduce_scratch[lid] = value;
    workgroupBarrier();
    for (var half = REDUCE_THREADS / 2u; half > 0u; half >>= 1u) {
        if (lid < half) { reduce_scratch[lid] += reduce_scratch[lid + half]; }
        workgroupBarrier();
    }
    let total = reduce_scratch[0];
    // Lets the next call overwrite the scratch only after everyone has read the total.
    workgroupBarrier();
    return total;
}
