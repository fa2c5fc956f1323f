// Group i of four f32 of the packed weight for lib/conv_packed_b.wgsl: the vec4 wp[i].

fn packed_b(i: u32) -> vec4<f32> { return wp[i]; }
