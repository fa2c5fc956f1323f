// The sizes of one convolution, shared by its forward and two backward kernels (src/ops/conv.rs
// fills them in this order): input [n, c_in, h, w], weight [c_out, c_in, k, k],
// output [n, c_out, h_out, w_out].
struct Params {
    n: u32, c_in: u32, h: u32, w: u32,
    c_out: u32, h_out: u32, w_out: u32, k: u32,
    stride: u32, pad: u32,
}
