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
/// renamed over it, so a crash never leaves half a file. The temporary file is always a new
/// one: its name can be guessed, and opening one planted in a shared folder would write
/// through a symbolic link to a file of someone else's choosing.
pub fn write_private(path: &Path, text: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    // Unique per write: two threads of one process may write the same file at once.
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}.{n}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        // A leftover of a killed writer whose PID this process now has; removing a link
        // removes the link, and one planted again in between fails `create_new`.
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })?;
    sweep(path);
    Ok(())
}

/// Removes the temporary files of writes to `path` whose process is gone: one killed between
/// creating its file and renaming it (a closed terminal's SIGHUP ends the client while another
/// of its threads writes) leaves `NAME.tmpPID.N` behind, which nothing else would take away.
/// A live process's file, or one of a PID reused since, is left alone, and so is one written
/// to in the last [`STALE`]: a PID is this host's and this namespace's, and a data directory
/// shared with a container or over NFS holds others' (found in review).
fn sweep(path: &Path) {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{stem}.tmp");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(pid, n)| n.parse::<u64>().ok().and(pid.parse::<libc::pid_t>().ok()));
        // SAFETY: kill with signal 0 sends nothing; it only asks whether the process exists.
        let gone = |pid| {
            let asked = unsafe { libc::kill(pid, 0) };
            asked != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        };
        let old = || {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= STALE))
        };
        if pid.is_some_and(|pid| pid > 0 && gone(pid)) && old() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Counts this process's writes, for unique temporary names.
static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How long a temporary file is left before it counts as a dead writer's: no write takes it.
const STALE: std::time::Duration = std::time::Duration::from_secs(600);

#[cfg(test)]
mod tests {
    use super::*;

    /// A write takes away what a killed client's write left (found by QA: a
    /// `channel-marks.tmp…` after a SIGHUP), not a live process's file nor another file's.
    #[test]
    fn a_write_sweeps_temporary_files_of_dead_processes() {
        let dir = std::env::temp_dir().join(format!("scalar-cli-paths-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let file = |name: String| {
            let p = dir.join(name);
            std::fs::write(&p, "x").unwrap();
            let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(hour_ago).unwrap();
            p
        };
        let stale = file(format!("channel-marks.tmp{dead}.0"));
        // Numbered past any write's: this process's writes count from 0 across its tests, and
        // one numbered 7 here was this test's own (a failure once in a while in CI runs).
        let live = file(format!("channel-marks.tmp{}.{}", std::process::id(), u64::MAX));
        let other = file(format!("inbox-marks.tmp{dead}.0"));
        let odd = file("channel-marks.tmpx.0".to_string());
        // A file of a dead PID written to just now: another host's or namespace's writer.
        let fresh = dir.join(format!("channel-marks.tmp{dead}.1"));
        std::fs::write(&fresh, "x").unwrap();
        write_private(&dir.join("channel-marks"), "a\n").unwrap();
        assert!(!stale.exists(), "the dead writer's file is gone");
        assert!(live.exists() && other.exists() && odd.exists() && fresh.exists());
        assert_eq!(std::fs::read_to_string(dir.join("channel-marks")).unwrap(), "a\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A link planted at a temporary file's name (it is PID and a count) is not written
    /// through: the file it points at keeps its text, and the written file is a plain file.
    #[test]
    fn a_write_never_follows_a_planted_link() {
        let dir = std::env::temp_dir().join(format!("scalar-cli-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        // Every name this process's next writes could take (other tests write too).
        let next = WRITES.load(std::sync::atomic::Ordering::Relaxed);
        for n in next..next + 1000 {
            let link = dir.join(format!("known-hosts.tmp{}.{n}", std::process::id()));
            std::os::unix::fs::symlink(&victim, link).unwrap();
        }
        let path = dir.join("known-hosts");
        write_private(&path, "pins\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "pins\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
