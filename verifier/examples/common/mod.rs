//! What the examples share (not an example itself: a folder without `main.rs`).

/// The value after `name` on the command line (`--name value`); a default is the caller's
/// `.unwrap_or_else`.
pub fn arg(args: &[String], name: &str) -> Result<String, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .ok_or_else(|| format!("missing {name}"))
}
