// Where a thread of a Winograd transform (conv2d_winograd_input, conv2d_winograd_output) works:
// thread i = c * stride + t takes channel c of the chunk's tile t, which is image img of the
// chunk, tile row ty and column tx; its column in V, M or Z is i itself. The rows of V, M and Z
// are `stride` long, the chunk's tiles rounded up to a multiple of 4 (so the GEMMs read and
// write them in vec4s), and threads at t >= tiles have no tile. The including kernel declares
// `p` with img0, c_total, h, w, tw, tiles_per_img, tiles and stride, and returns before calling
// this for i >= c_total * stride.
//!include winograd_matrices.wgsl

struct TileSite {
    // Whether the thread has a tile (t < tiles).
    live: bool,
    // Offset of the (img0 + img, c) image plane in the activation tensor.
    plane: u32,
    // The tile's top-left output pixel, (OUT ty, OUT tx).
    y0: u32,
    x0: u32,
}

fn tile_site(i: u32) -> TileSite {
    let c = i / p.stride;
    let t = i - c * p.stride;
    let img = t / p.tiles_per_img;
    let within = t - img * p.tiles_per_img;
    let ty = within / p.tw;
    let tx = within - ty * p.tw;
    return TileSite(t < p.tiles, ((p.img0 + img) * p.c_total + c) * p.h * p.w, ty * OUT, tx * OUT);
}
