//! What a WGSL kernel is to the runtime: its embedded source, the Rust struct that fills its
//! `Params`, and the checks run before its pipeline is created. The registry of every kernel is
//! [`ops::kernels`](crate::ops::kernels), beside the ops whose `Params` types it names.
//!
//! Kernels share helper code (the random generator, the workgroup reduction) through a one-line
//! `//!include <file>` directive, expanded here before naga or wgpu see the source: WGSL has no
//! include of its own, and copying the helper into each kernel would let the copies drift.
//!
//! Each kernel is typed by the Rust struct that fills its uniform `Params` (binding 0), declared
//! with [`kernel_params!`](crate::kernel_params) next to the op that fills it; [`check_params`]
//! compares that struct with the one naga reads from the shader, field by field, when the
//! pipeline is created.

use std::marker::PhantomData;

use crate::error::{Error, Result};

/// One `.wgsl` file in `shaders/`, with entry point `main`, whose `Params` `P` fills: dispatching
/// it takes a `P`, so a kernel cannot be handed another kernel's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Kernel<P> {
    pub shader: Shader,
    params: PhantomData<fn() -> P>,
}

impl<P: KernelParams> Kernel<P> {
    pub const fn new(name: &'static str, source: &'static str, trusted: bool) -> Kernel<P> {
        Kernel {
            shader: Shader {
                name,
                source,
                trusted,
                params: P::LAYOUT,
            },
            params: PhantomData,
        }
    }
}

/// A kernel without its parameter type: what validation, compilation and the tests need.
#[derive(Debug, Clone, Copy)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
    /// Every storage and workgroup access stays in bounds, every loop ends and no integer
    /// division by zero can happen by the kernel's own guards and dispatch sizes (its header's
    /// `Bounds:` line says how), so its module is created without the shader compiler's runtime
    /// checks, unless `Gpu::set_shader_checks` turns them back on.
    pub trusted: bool,
    /// The Rust struct that fills its uniform `Params`.
    pub params: ParamsLayout,
}

/// A Rust struct's layout as [`check_params`] compares it with the shader's.
#[derive(Debug, Clone, Copy)]
pub struct ParamsLayout {
    pub name: &'static str,
    pub size: usize,
    pub fields: &'static [Field],
}

/// One field: its name (as in the WGSL struct), byte offset and scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub scalar: Scalar,
}

/// The scalar types a `Params` field may have: four bytes each, so a `#[repr(C)]` struct of
/// them has no padding and the WGSL struct the same offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    U32,
    F32,
}

impl Scalar {
    fn wgsl(self) -> &'static str {
        match self {
            Scalar::U32 => "u32",
            Scalar::F32 => "f32",
        }
    }
}

/// Rust types that may be a `Params` field.
pub trait ParamScalar {
    const SCALAR: Scalar;
}

impl ParamScalar for u32 {
    const SCALAR: Scalar = Scalar::U32;
}

impl ParamScalar for f32 {
    const SCALAR: Scalar = Scalar::F32;
}

/// A kernel family's uniform `Params` as a Rust struct. Implemented by [`kernel_params!`], which
/// lists the fields for the check against the shader.
///
/// [`kernel_params!`]: crate::kernel_params
pub trait KernelParams: bytemuck::Pod {
    const LAYOUT: ParamsLayout;
}

/// Declares a `#[repr(C)]` Pod struct of `u32` and `f32` fields, named and ordered as in the
/// WGSL `Params` it fills, and its [`KernelParams`] layout.
#[macro_export]
macro_rules! kernel_params {
    ($(#[$meta:meta])* $vis:vis struct $name:ident {
        $($(#[$fmeta:meta])* $fvis:vis $field:ident: $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        impl $crate::gpu::kernels::KernelParams for $name {
            const LAYOUT: $crate::gpu::kernels::ParamsLayout = $crate::gpu::kernels::ParamsLayout {
                name: stringify!($name),
                size: ::std::mem::size_of::<$name>(),
                fields: &[$($crate::gpu::kernels::Field {
                    name: stringify!($field),
                    offset: ::std::mem::offset_of!($name, $field),
                    scalar: <$ty as $crate::gpu::kernels::ParamScalar>::SCALAR,
                }),*],
            };
        }
    };
}

/// Helper files that kernels may include (shared structs and functions, no entry point).
macro_rules! libraries {
    ($($file:literal),* $(,)?) => {
        const LIBRARIES: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../../shaders/lib/", $file)))),*];
    };
}

libraries![
    "bn_plane.wgsl",
    "bn_routing.wgsl",
    "conv2d_backward_input_index.wgsl",
    "conv2d_backward_weight_index.wgsl",
    "conv2d_forward_index.wgsl",
    "conv2d_winograd_gemm_index.wgsl",
    "conv2d_winograd_weight_index.wgsl",
    "conv_common.wgsl",
    "conv_gemm.wgsl",
    "conv_gemm_subgroup.wgsl",
    "conv_packed_b.wgsl",
    "conv_tiles_k.wgsl",
    "conv_tiles_mn.wgsl",
    "grid.wgsl",
    "random.wgsl",
    "reduce.wgsl"
];

/// The kernel's source with `//!include` lines replaced by the library they name (libraries
/// may include libraries; each is expanded where it is first named, and a later include of
/// the same library is dropped, so two libraries may both include a third, and a cycle ends).
pub fn expanded_source(kernel: &Shader) -> Result<String> {
    let mut out = String::with_capacity(kernel.source.len());
    expand_into(kernel, kernel.source, &mut Vec::new(), &mut out)?;
    Ok(out)
}

fn expand_into(
    kernel: &Shader,
    source: &str,
    included: &mut Vec<&'static str>,
    out: &mut String,
) -> Result<()> {
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
            if !included.contains(&lib.0) {
                included.push(lib.0);
                expand_into(kernel, lib.1, included, out)?;
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(())
}

/// Parses and validates the kernel with naga, so a broken shader is reported with its file name
/// and naga's diagnostic instead of a device error later.
pub fn validate(kernel: &Shader) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
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

/// Checks `P`'s layout against the uniform `Params` at @group(0) @binding(0) that naga read from
/// the kernel: the same fields in the same order, with the same names, offsets and scalar types,
/// and the same size. A reordered or renamed field then fails here, naming the kernel and the
/// field, rather than as wrong numbers.
pub fn check_params(kernel: &Shader, module: &naga::Module) -> Result<()> {
    let ours = &kernel.params;
    let err = |message: String| Error::KernelParams {
        kernel: format!("shaders/{}.wgsl", kernel.name),
        message,
    };
    let uniform = module.global_variables.iter().find(|(_, g)| {
        g.space == naga::AddressSpace::Uniform
            && g.binding
                .as_ref()
                .is_some_and(|b| b.group == 0 && b.binding == 0)
    });
    let Some((_, uniform)) = uniform else {
        return Err(err(format!(
            "it declares no uniform at @group(0) @binding(0) for `{}`",
            ours.name
        )));
    };
    let naga::TypeInner::Struct { members, span } = &module.types[uniform.ty].inner else {
        return Err(err(
            "its uniform at @group(0) @binding(0) is not a struct".into()
        ));
    };
    let describe = |m: &naga::StructMember| {
        let ty = match module.types[m.ty].inner {
            naga::TypeInner::Scalar(naga::Scalar {
                kind: naga::ScalarKind::Uint,
                width: 4,
            }) => "u32".to_owned(),
            naga::TypeInner::Scalar(naga::Scalar {
                kind: naga::ScalarKind::Float,
                width: 4,
            }) => "f32".to_owned(),
            ref other => format!("{other:?}"),
        };
        format!(
            "`{}: {ty}` at byte {}",
            m.name.as_deref().unwrap_or("?"),
            m.offset
        )
    };
    for i in 0..members.len().max(ours.fields.len()) {
        let shader_field = members.get(i).map(describe);
        let rust_field = ours
            .fields
            .get(i)
            .map(|f| format!("`{}: {}` at byte {}", f.name, f.scalar.wgsl(), f.offset));
        if shader_field != rust_field {
            return Err(err(format!(
                "field {i} is {} in the shader but {} in `{}`",
                shader_field.as_deref().unwrap_or("missing"),
                rust_field.as_deref().unwrap_or("missing"),
                ours.name
            )));
        }
    }
    if *span as usize != ours.size {
        return Err(err(format!(
            "the shader's struct is {span} bytes, `{}` is {}",
            ours.name, ours.size
        )));
    }
    Ok(())
}
