//! Where scalar-cli keeps its files: input history and the known-hosts pins.

use std::path::PathBuf;

/// `$XDG_DATA_HOME/scalar-cli/NAME`, else `~/.local/share/scalar-cli/NAME` (when
/// `XDG_DATA_HOME` is unset or not absolute); the folder is created, private to the user, if
/// missing. Err says why there is none: no home to put it in, or the folder cannot be made.
pub fn data_file(name: &str) -> Result<PathBuf, String> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or("set XDG_DATA_HOME or HOME")?;
    let dir = base.join("scalar-cli");
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot make the folder {}: {e}", dir.display()))?;
    Ok(dir.join(name))
}
