// Column n of four rows of C for lib/conv_common.wgsl's store_block, one element at a time
// through the including index library's c_put (which guards its own bounds): the direct
// convolutions, whose rows are pixels that need not lie side by side in y or dx, and the
// Winograd weight gradient, whose rows (input channels) need not come in fours.

fn store_column(r: Rows, n: u32, split: u32, v: vec4<f32>) {
    c_put(r.r0, n, split, v.x);
    c_put(r.r1, n, split, v.y);
    c_put(r.r2, n, split, v.z);
    c_put(r.r3, n, split, v.w);
}
