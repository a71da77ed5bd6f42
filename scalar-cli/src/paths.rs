//! Where scalar-cli keeps its files: input history and the known-hosts pins.

use std::path::PathBuf;

/// `$XDG_DATA_HOME/scalar-cli/NAME`, else `~/.local/share/scalar-cli/NAME` (when
/// `XDG_DATA_HOME` is unset or not absolute); the folder is created, private to the user, if
/// missing. `None` if there is no home to put it in.
pub fn data_file(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    let dir = base.join("scalar-cli");
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .ok()?;
    Some(dir.join(name))
}
