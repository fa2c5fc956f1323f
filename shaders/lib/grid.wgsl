// Where a workgroup stands in the dispatch: Gpu::grid spills a grid too large for x into y, so
// workgroups are numbered row by row, wid.y * nwg.x + wid.x. One formula for every kernel (a
// thread's element is workgroup_index(wid, nwg) * threads per workgroup + lid).
fn workgroup_index(wid: vec3u, nwg: vec3u) -> u32 {
    return wid.y * nwg.x + wid.x;
}
