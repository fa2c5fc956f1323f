//! Portability without a GPU: every kernel in shaders/ is validated by naga and translated by its
//! SPIR-V (Vulkan), MSL (Metal) and HLSL (DX12) backends, so a shader one of them would reject
//! fails here on any machine.

use purenoise::gpu::kernels::{self, Kernel};

#[test]
fn every_shader_file_is_registered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".wgsl").map(str::to_owned))
        .collect();
    files.sort();
    let mut registered: Vec<String> = kernels::ALL.iter().map(|k| k.name.to_owned()).collect();
    registered.sort();
    assert_eq!(
        files, registered,
        "shaders/*.wgsl and gpu::kernels::ALL differ"
    );
}

#[test]
fn every_shader_opens_with_a_header_comment() {
    for k in kernels::ALL {
        let first = k.source.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&format!("// {}:", k.name)),
            "shaders/{}.wgsl: header",
            k.name
        );
        assert!(
            k.source.contains("// Bindings:") && k.source.contains("// Workgroup:"),
            "shaders/{}.wgsl: header must list workgroup and bindings",
            k.name
        );
    }
}

/// naga's backends need override constants resolved first, as wgpu does at pipeline creation.
fn resolved(kernel: &Kernel) -> (naga::Module, naga::valid::ModuleInfo) {
    let (module, info) = kernels::validate(kernel).unwrap_or_else(|e| panic!("{e}"));
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        None,
        &Default::default(),
    )
    .unwrap_or_else(|e| panic!("{}: overrides: {e}", kernel.name));
    (module.into_owned(), info.into_owned())
}

#[test]
fn every_shader_translates_to_spirv_msl_and_hlsl() {
    for kernel in kernels::ALL {
        let (module, info) = resolved(kernel);
        naga::back::spv::write_vec(&module, &info, &Default::default(), None)
            .unwrap_or_else(|e| panic!("{}: SPIR-V: {e}", kernel.name));
        naga::back::msl::write_string(&module, &info, &Default::default(), &Default::default())
            .unwrap_or_else(|e| panic!("{}: MSL: {e}", kernel.name));
        let mut hlsl = String::new();
        naga::back::hlsl::Writer::new(&mut hlsl, &Default::default(), &Default::default())
            .write(&module, &info, None)
            .unwrap_or_else(|e| panic!("{}: HLSL: {e}", kernel.name));
        assert!(
            hlsl.contains("main"),
            "{}: HLSL has no entry point",
            kernel.name
        );
    }
}

#[test]
fn a_broken_shader_is_reported_with_its_file_and_line() {
    let broken = Kernel {
        name: "broken",
        source: "// broken: test\nfn main() { let x: f32 = 1u; }\n",
    };
    let msg = kernels::validate(&broken).err().unwrap().to_string();
    assert!(
        msg.contains("shaders/broken.wgsl") && msg.contains("wgsl:2"),
        "{msg}"
    );
    let missing = Kernel {
        name: "missing",
        source: "//!include nothing.wgsl\n",
    };
    let msg = kernels::validate(&missing).err().unwrap().to_string();
    assert!(msg.contains("nothing.wgsl"), "{msg}");
}
