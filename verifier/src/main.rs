//! `payseal-verifier`: see `payseal_verifier::cli`.

fn main() -> std::process::ExitCode {
    payseal_verifier::cli::main()
}
