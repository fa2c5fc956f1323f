// Sums over groups of threads. The including kernel declares `const REDUCE_THREADS: u32`, its
// workgroup size (used in @workgroup_size); `REDUCE_GROUP: u32`, a const or override, a power of
// two that divides REDUCE_THREADS: threads lid with the same lid / REDUCE_GROUP form a group; and
// `alias Reduced = …;`, what it sums (f32, or a vector to sum several quantities at the cost of
// one). Every thread of the workgroup must call group_sum (from uniform control flow) with its
// own value; every thread gets its group's total. A thread's position `lid` in the reduction is
// its local_invocation_index, or interleaved(local_invocation_index): any one-to-one numbering
// of the workgroup's threads works.
// Each round folds runs of 8 entries (fewer in the last) into one, so 64 threads take two rounds
// and 256 three: few barriers, which are what a workgroup reduction costs on CPU adapters.
var<workgroup> reduce_scratch: array<Reduced, REDUCE_THREADS>;

//!include groups.wgsl

// Position lid for groups whose threads lie REDUCE_THREADS / REDUCE_GROUP apart: thread t serves
// item t % (REDUCE_THREADS / REDUCE_GROUP) and slice t / (REDUCE_THREADS / REDUCE_GROUP), so
// neighbouring threads serve neighbouring items and their loads of one row of an [rows, items]
// array are coalesced (the column reductions sum_rows and bn_stats). Give it to group_index and
// group_sum in place of the thread's index; the slice is then lid % REDUCE_GROUP.
fn interleaved(t: u32) -> u32 {
    let items = REDUCE_THREADS / REDUCE_GROUP;
    return (t % items) * REDUCE_GROUP + t / items;
}

fn group_sum(lid: u32, value: Reduced) -> Reduced {
    // One thread per group sums nothing: no barriers (the condition is an override, uniform).
    if (REDUCE_GROUP == 1u) { return value; }
    reduce_scratch[lid] = value;
    workgroupBarrier();
    let first = lid - lid % REDUCE_GROUP;
    for (var width = REDUCE_GROUP; width > 1u; ) {
        let next = max(width / 8u, 1u);
        // Entry lid (< first + next) takes lid + next, lid + 2 next, …: other threads read only
        // entries from first + next on, so writing entry lid races with nothing.
        if (lid < first + next) {
            var s = reduce_scratch[lid];
            for (var j = lid + next; j < first + width; j += next) { s += reduce_scratch[j]; }
            reduce_scratch[lid] = s;
        }
        workgroupBarrier();
        width = next;
    }
    let total = reduce_scratch[first];
    // Lets the next call overwrite the scratch only after everyone has read the total.
    workgroupBarrier();
    return total;
}
