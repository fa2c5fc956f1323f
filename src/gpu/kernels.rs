//! What a WGSL kernel is to the runtime: its embedded source, the Rust struct that fills its
//! `Params`, and the checks run before its pipeline is created. The registry of every kernel is
//! [`ops::kernels`](crate::ops::kernels), beside the ops whose `Params` types it names.
//!
//! Kernels share helper code (the random generator, the workgroup reduction) through a one-line
//! `//!include <file>` directive, expanded here before naga or wgpu see the source: WGSL has no
//! include of its own, and copying the helper into each kernel would let the copies drift.
//!
//! **Element types.** A kernel that may store its activations in f16 names their type with a
//! `//!element NAME` line (`//!element act`) and declares those arrays as `array<act>`, reading
//! with `f32(x[i])` and writing with `act(v)`, so all its arithmetic stays f32. The runtime
//! expands the line into `alias NAME = f32;` or `alias NAME = f16;` by what the dispatch asks for
//! ([`Elements`]; unnamed aliases are f32), and puts `enable f16;` first when any is f16: one
//! source per kernel, and the f32 expansion is the kernel as it always was (`f32(v)` of an f32
//! is the value itself). Pipelines are cached per kernel, overrides and element types, and
//! every dispatch checks each bound tensor's element type against its binding's.
//!
//! **Lanes.** A kernel that may move four consecutive values per load and store (where the op's
//! layout allows it) declares `//!lanes LANES`, expanded into `const LANES: u32 = 1u;` or `4u;`,
//! and `//!vector NAME TYPE` lines, expanded into `alias NAME = TYPE;` or
//! `alias NAME = vec4<TYPE>;` with the same choice (TYPE: a scalar type or an `//!element`
//! alias). Written with those aliases (`f32v(x[i])`, `actv(v)`: WGSL's arithmetic mixes vectors
//! and scalars, a scalar constructor of a vector splats it), one source is both the scalar
//! kernel and its four-lane variant ([`expanded_source_lanes`], [`Gpu::dispatch_lanes`]).
//!
//! [`Gpu::dispatch_lanes`]: super::Gpu::dispatch_lanes
//!
//! Each kernel is typed by the Rust struct that fills its uniform `Params` (binding 0), declared
//! with [`kernel_params!`](crate::kernel_params) next to the op that fills it; [`check_params`]
//! compares that struct with the one naga reads from the shader, field by field, when the
//! pipeline is created.

use std::marker::PhantomData;

use super::tensor::DType;
use crate::error::{Error, Result};

/// The element type each of a kernel's `//!element` aliases stands for in one pipeline; an alias
/// not listed is f32.
pub type Elements<'a> = &'a [(&'a str, DType)];

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
    "bn_walk.wgsl",
    "conv2d_backward_input_index.wgsl",
    "conv2d_backward_weight_index.wgsl",
    "conv2d_forward_index.wgsl",
    "conv2d_winograd_gemm_index.wgsl",
    "conv2d_winograd_weight_index.wgsl",
    "conv_a_groups.wgsl",
    "conv_a_k_pairs.wgsl",
    "conv_a_lane_rows.wgsl",
    "conv_a_quads.wgsl",
    "conv_a_rows.wgsl",
    "conv_a_steps.wgsl",
    "conv_a_tap_rows.wgsl",
    "conv_a_strip.wgsl",
    "conv_b_cols.wgsl",
    "conv_b_groups.wgsl",
    "conv_b_k_pairs.wgsl",
    "conv_b_quad.wgsl",
    "conv_b_steps.wgsl",
    "conv_c_rows.wgsl",
    "conv_common.wgsl",
    "conv_f32_pairs.wgsl",
    "conv_gemm.wgsl",
    "conv_gemm_subgroup.wgsl",
    "conv_packed_b.wgsl",
    "conv_packed_b_pairs.wgsl",
    "conv_packed_b_vec4.wgsl",
    "conv_tiles_b_quads.wgsl",
    "conv_tiles_k.wgsl",
    "conv_tiles_k_quads.wgsl",
    "conv_tiles_mn.wgsl",
    "conv_tiles_quads.wgsl",
    "grid.wgsl",
    "groups.wgsl",
    "random.wgsl",
    "reduce.wgsl",
    "winograd_matrices.wgsl",
    "winograd_tile.wgsl"
];

/// The kernel's source with `//!include` lines replaced by the library they name (libraries
/// may include libraries; each is expanded where it is first named, and a later include of
/// the same library is dropped, so two libraries may both include a third, and a cycle ends),
/// and every `//!element` alias f32.
pub fn expanded_source(kernel: &Shader) -> Result<String> {
    expanded_source_as(kernel, &[])
}

/// [`expanded_source`] with the `//!element` aliases typed by `elements` (f32 or f16 each;
/// `enable f16;` first when any is f16). An alias the kernel does not declare is an error.
pub fn expanded_source_as(kernel: &Shader, elements: Elements) -> Result<String> {
    expanded_source_lanes(kernel, elements, 1)
}

/// [`expanded_source_as`] with `lanes` (1 or 4) values per `//!vector` alias (module docs); 4
/// needs a kernel that declares `//!lanes`.
pub fn expanded_source_lanes(kernel: &Shader, elements: Elements, lanes: u32) -> Result<String> {
    let shader_err = |message: String| Error::Shader {
        kernel: format!("shaders/{}.wgsl", kernel.name),
        message,
    };
    if !matches!(lanes, 1 | 4) {
        return Err(shader_err(format!(
            "asked for {lanes} lanes; kernels have 1 or 4"
        )));
    }
    let mut out = String::with_capacity(kernel.source.len());
    let mut declared = Vec::new();
    if elements.iter().any(|(_, t)| *t == DType::F16) {
        out.push_str("enable f16;\n");
    }
    let mut expansion = Expansion {
        elements,
        lanes,
        included: Vec::new(),
        declared: &mut declared,
        has_lanes: false,
        out: &mut out,
    };
    expansion.expand(kernel, kernel.source)?;
    if lanes != 1 && !expansion.has_lanes {
        return Err(shader_err(format!(
            "has no {lanes}-lane variant (no `//!lanes` line)"
        )));
    }
    for (name, dtype) in elements {
        if !declared.iter().any(|d| d == name) {
            return Err(shader_err(format!(
                "declares no element type `{name}` (no `//!element {name}` line)"
            )));
        }
        if !matches!(dtype, DType::F32 | DType::F16) {
            return Err(shader_err(format!(
                "element type `{name}` may be f32 or f16, not {dtype:?}"
            )));
        }
    }
    Ok(out)
}

/// The `//!element` aliases a kernel declares (its own and its libraries').
pub fn element_names(kernel: &Shader) -> Result<Vec<String>> {
    Ok(directives(kernel)?.0)
}

/// Whether a kernel has a four-lane variant (declares `//!lanes`, itself or in a library).
pub fn has_lanes(kernel: &Shader) -> Result<bool> {
    Ok(directives(kernel)?.1)
}

/// The element aliases a kernel declares, and whether it declares `//!lanes`.
fn directives(kernel: &Shader) -> Result<(Vec<String>, bool)> {
    let mut declared = Vec::new();
    let mut out = String::new();
    let mut expansion = Expansion {
        elements: &[],
        lanes: 1,
        included: Vec::new(),
        declared: &mut declared,
        has_lanes: false,
        out: &mut out,
    };
    expansion.expand(kernel, kernel.source)?;
    let has_lanes = expansion.has_lanes;
    Ok((declared, has_lanes))
}

/// One expansion of a kernel's directives into `out`.
struct Expansion<'a> {
    elements: Elements<'a>,
    lanes: u32,
    included: Vec<&'static str>,
    declared: &'a mut Vec<String>,
    has_lanes: bool,
    out: &'a mut String,
}

impl Expansion<'_> {
    fn expand(&mut self, kernel: &Shader, source: &str) -> Result<()> {
        let shader_err = |message: String| Error::Shader {
            kernel: format!("shaders/{}.wgsl", kernel.name),
            message,
        };
        for line in source.lines() {
            let line_trimmed = line.trim();
            if let Some(file) = line_trimmed.strip_prefix("//!include ") {
                let file = file.trim();
                let lib = LIBRARIES
                    .iter()
                    .find(|(name, _)| *name == file)
                    .ok_or_else(|| Error::Shader {
                        kernel: kernel.name.into(),
                        message: format!("includes `{file}`, which is not in shaders/lib/"),
                    })?;
                if !self.included.contains(&lib.0) {
                    self.included.push(lib.0);
                    self.expand(kernel, lib.1)?;
                }
            } else if let Some(name) = line_trimmed.strip_prefix("//!element ") {
                let name = name.trim();
                let dtype = self
                    .elements
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(DType::F32, |(_, t)| *t);
                self.out
                    .push_str(&format!("alias {name} = {};\n", dtype.wgsl()));
                self.declared.push(name.to_owned());
            } else if let Some(name) = line_trimmed.strip_prefix("//!lanes ") {
                self.out
                    .push_str(&format!("const {}: u32 = {}u;\n", name.trim(), self.lanes));
                self.has_lanes = true;
            } else if let Some(rest) = line_trimmed.strip_prefix("//!vector ") {
                let [name, ty] = rest.split_whitespace().collect::<Vec<_>>()[..] else {
                    return Err(shader_err(format!(
                        "`{line_trimmed}` must be `//!vector NAME TYPE`"
                    )));
                };
                let ty = if self.lanes == 1 {
                    ty.to_owned()
                } else {
                    format!("vec{}<{ty}>", self.lanes)
                };
                self.out.push_str(&format!("alias {name} = {ty};\n"));
            } else {
                self.out.push_str(line);
                self.out.push('\n');
            }
        }
        Ok(())
    }
}

/// Parses and validates the kernel with naga, so a broken shader is reported with its file name
/// and naga's diagnostic instead of a device error later.
pub fn validate(kernel: &Shader) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    validate_as(kernel, &[])
}

/// [`validate`] of the kernel with its `//!element` aliases typed by `elements`.
pub fn validate_as(
    kernel: &Shader,
    elements: Elements,
) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    validate_lanes(kernel, elements, 1)
}

/// [`validate_as`] of the kernel's `lanes`-lane variant ([`expanded_source_lanes`]).
pub fn validate_lanes(
    kernel: &Shader,
    elements: Elements,
    lanes: u32,
) -> Result<(naga::Module, naga::valid::ModuleInfo)> {
    let source = expanded_source_lanes(kernel, elements, lanes)?;
    let shader_err = |message: String| Error::Shader {
        kernel: format!("shaders/{}.wgsl", kernel.name),
        message,
    };
    let module =
        naga::front::wgsl::parse_str(&source).map_err(|e| shader_err(e.emit_to_string(&source)))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        // Subgroup operations (the *_subgroup kernels), f16 (the mixed-precision variants) and
        // 64-bit integers (the *_strip kernels) validate here; wgpu still refuses them on a
        // device without the SUBGROUP, SHADER_F16 or SHADER_INT64 feature, src/ops/conv.rs only
        // picks subgroup and strip kernels with them, and Gpu::check_precision refuses
        // `--precision mixed` without f16.
        naga::valid::Capabilities::SUBGROUP
            | naga::valid::Capabilities::SHADER_FLOAT16
            | naga::valid::Capabilities::SHADER_INT64,
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

/// The element type of each storage binding of a validated module, by binding number, with the
/// values per array element (1, or a vector's size): what a dispatch checks its tensors against
/// (`None` for the uniform and non-array bindings).
pub fn binding_elements(module: &naga::Module) -> Vec<Option<(naga::Scalar, u32)>> {
    by_binding(module, |_, g| match module.types[g.ty].inner {
        naga::TypeInner::Array { base, .. } => match module.types[base].inner {
            naga::TypeInner::Scalar(s) => Some((s, 1)),
            naga::TypeInner::Vector { scalar, size } => Some((scalar, size as u32)),
            _ => None,
        },
        _ => None,
    })
}

/// Whether the entry point reads or writes each binding, by number: wgpu derives the pipeline's
/// layout from those alone, so a binding that a shared library declares and this kernel never
/// touches (the strip convolutions' scalar view of A) is left out of its bind group.
pub fn used_bindings(module: &naga::Module, info: &naga::valid::ModuleInfo) -> Vec<bool> {
    let entry = info.get_entry_point(0);
    by_binding(module, |handle, _| !entry[handle].is_empty())
}

/// `of(global)` for each resource binding of the module, indexed by binding number (the default
/// where no global has that number).
fn by_binding<T: Clone + Default>(
    module: &naga::Module,
    of: impl Fn(naga::Handle<naga::GlobalVariable>, &naga::GlobalVariable) -> T,
) -> Vec<T> {
    let mut out = Vec::new();
    for (handle, g) in module.global_variables.iter() {
        let Some(b) = &g.binding else { continue };
        let i = b.binding as usize;
        if out.len() <= i {
            out.resize(i + 1, T::default());
        }
        out[i] = of(handle, g);
    }
    out
}
