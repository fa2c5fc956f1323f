//! The registry of WGSL kernels, embedded at compile time so the binary runs from anywhere.
//!
//! Kernels share helper code (the random generator, the workgroup reduction) through a one-line
//! `//!include <file>` directive, expanded here before naga or wgpu see the source: WGSL has no
//! include of its own, and copying the helper into each kernel would let the copies drift.

use crate::error::{Error, Result};

/// One `.wgsl` file in `shaders/`, with entry point `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub name: &'static str,
    pub source: &'static str,
}

/// Helper files that kernels may include (shared structs and functions, no entry point).
macro_rules! libraries {
    ($($file:literal),* $(,)?) => {
        const LIBRARIES: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../../shaders/lib/", $file)))),*];
    };
}

libraries![
    "bn_routing.wgsl",
    "conv2d_backward_input_index.wgsl",
    "conv2d_backward_weight_index.wgsl",
    "conv2d_forward_index.wgsl",
    "conv_common.wgsl",
    "conv_gemm.wgsl",
    "conv_gemm_subgroup.wgsl",
    "conv_tiles_k.wgsl",
    "conv_tiles_mn.wgsl",
    "random.wgsl",
    "reduce.wgsl"
];

macro_rules! kernels {
    ($($ident:ident = $file:literal),* $(,)?) => {
        $(pub const $ident: Kernel = Kernel {
            name: $file,
            source: include_str!(concat!("../../shaders/", $file, ".wgsl")),
        };)*
        /// Every kernel, for validation tests and warm-up.
        pub const ALL: &[Kernel] = &[$($ident),*];
    };
}

kernels! {
    CONV2D_FORWARD = "conv2d_forward",
    CONV2D_BACKWARD_INPUT = "conv2d_backward_input",
    CONV2D_BACKWARD_WEIGHT = "conv2d_backward_weight",
    CONV2D_FORWARD_SUBGROUP = "conv2d_forward_subgroup",
    CONV2D_BACKWARD_INPUT_SUBGROUP = "conv2d_backward_input_subgroup",
    CONV2D_BACKWARD_WEIGHT_SUBGROUP = "conv2d_backward_weight_subgroup",
    CONV2D_PACK_WEIGHT = "conv2d_pack_weight",
    BN_PLANE_STATS = "bn_plane_stats",
    BN_STATS = "bn_stats",
    BN_APPLY = "bn_apply",
    BN_BACKWARD_PLANE_SUMS = "bn_backward_plane_sums",
    BN_BACKWARD_INPUT = "bn_backward_input",
    RELU_FORWARD = "relu_forward",
    RELU_BACKWARD = "relu_backward",
    ADD = "add",
    ACCUMULATE = "accumulate",
    SCALE_BY = "scale_by",
    DROPOUT = "dropout",
    AVG_POOL_FORWARD = "avg_pool_forward",
    AVG_POOL_BACKWARD = "avg_pool_backward",
    MATMUL = "matmul",
    ADD_BIAS = "add_bias",
    SUM_ROWS = "sum_rows",
    CROSS_ENTROPY = "cross_entropy",
    SGD = "sgd",
    NOISE = "noise",
    SHORTCUT_FORWARD = "shortcut_forward",
    SHORTCUT_BACKWARD = "shortcut_backward",
    BENCH_FMA = "bench_fma",
    BENCH_COPY = "bench_copy",
}

/// The kernel's source with `//!include` lines replaced by the library they name (libraries
/// may include libraries; each is expanded where it is named).
pub fn expanded_source(kernel: &Kernel) -> Result<String> {
    let mut out = String::with_capacity(kernel.source.len());
    expand_into(kernel, kernel.source, 0, &mut out)?;
    Ok(out)
}

/// Deeper than any real chain of libraries: stops a library that includes itself.
const MAX_INCLUDE_DEPTH: usize = 4;

fn expand_into(kernel: &Kernel, source: &str, depth: usize, out: &mut String) -> Result<()> {
    for line in source.lines() {
        if let Some(file) = line.trim().strip_prefix("//!include ") {
            let file = file.trim();
            let lib = LIBRARIES
                .iter()
                .find(|(name, _)| *name == file)
                .ok_or_else(|| Error::Shader {
                    kernel: kernel.name.into(),
                    message: format!("includes `{file}`, which is not in shaders/lib/"),
                })?;
            if depth == MAX_INCLUDE_DEPTH {
                return Err(Error::Shader {
                    kernel: kernel.name.into(),
                    message: format!("includes nested deeper than {MAX_INCLUDE_DEPTH} at `{file}`"),
                });
            }
            expand_into(kernel, lib.1, depth + 1, out)?;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(())
}

/// Parses and validates the kernel with naga, so a broken shader is reported with its file name
/// and naga's diagnostic instead of a device error later.
pub fn validate(kernel: &Kernel) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let source = expanded_source(kernel)?;
    let shader_err = |message: String| Error::Shader {
        kernel: format!("shaders/{}.wgsl", kernel.name),
        message,
    };
    let module =
        naga::front::wgsl::parse_str(&source).map_err(|e| shader_err(e.emit_to_string(&source)))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        // Subgroup operations (the *_subgroup kernels) validate here; wgpu still refuses them on
        // a device without the SUBGROUP feature, and src/ops/conv.rs only picks them with it.
        naga::valid::Capabilities::SUBGROUP,
    )
    .validate(&module)
    .map_err(|e| shader_err(e.emit_to_string(&source)))?;
    Ok((module, info))
}
