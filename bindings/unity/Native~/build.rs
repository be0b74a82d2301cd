//! Generates the C# P/Invoke declarations (`../Runtime/Native/NativeMethods.g.cs`) from the
//! `extern "C"` surface with csbindgen: delegates rather than C# 9 function pointers (Mono's
//! `mcs` takes C# 7 at most), no `nint`/`nuint`, and `__Internal` on iOS (static linking).

fn main() {
    println!("cargo:rerun-if-changed=src/abi.rs");
    println!("cargo:rerun-if-changed=src/exports.rs");
    csbindgen::Builder::default()
        .input_extern_file("src/abi.rs")
        .input_extern_file("src/exports.rs")
        .csharp_dll_name("payseal_unity")
        .csharp_dll_name_if("UNITY_IOS && !UNITY_EDITOR", "__Internal")
        .csharp_namespace("PaySeal.Native")
        .csharp_class_name("NativeMethods")
        .csharp_class_accessibility("internal")
        .csharp_use_function_pointer(false)
        .csharp_use_nint_types(false)
        .generate_csharp_file("../Runtime/Native/NativeMethods.g.cs")
        .expect("csbindgen: cannot write ../Runtime/Native/NativeMethods.g.cs");
}
