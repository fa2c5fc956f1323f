// Groups of threads, as lib/reduce.wgsl describes them (the including kernel declares
// REDUCE_THREADS and REDUCE_GROUP), for kernels that give each group one item, such as one
// plane, whether or not they sum over it.

//!include grid.wgsl

// The group of thread lid across the whole dispatch (workgroups numbered as lib/grid.wgsl
// does).
fn group_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
    return workgroup_index(wid, nwg) * (REDUCE_THREADS / REDUCE_GROUP) + lid / REDUCE_GROUP;
}
