//! Where scalar-cli keeps its files: input history, the known-hosts pins and where each
//! account left its inbox.

use std::io::Write;
use std::path::{Path, PathBuf};

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

/// Writes `text` as the whole file at `path`: to a temporary file beside it (mode 0600), then
/// renamed over it, so a crash never leaves half a file.
pub fn write_private(path: &Path, text: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    // Unique per write: two threads of one process may write the same file at once.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}.{n}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}
