//! Names the commit a build comes from, for `scalard --version` and the metrics' build info:
//! every build of an unreleased tree says `0.1.0`, which tells an operator reporting a bug
//! nothing. `SCALAR_COMMIT` is the short hash (`unknown` outside a git checkout, a source
//! tarball say), and a build is rerun when the checked-out commit changes.

use std::path::Path;
use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=10", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SCALAR_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // A commit moves the branch HEAD names (its loose ref file, or packed-refs), a checkout or
    // a detached commit moves HEAD. In a `git worktree` HEAD is in the worktree's own git dir
    // but refs and packed-refs are in the common one (the main checkout's `.git`): looking for
    // the ref beside HEAD found nothing there, and a worktree's builds kept the old commit.
    // Only paths that exist: Cargo reruns the script at every build for one that does not.
    let (Some(dir), Some(common)) = (
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ) else {
        return;
    };
    let mut watched = vec![format!("{dir}/HEAD"), format!("{common}/packed-refs")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        let loose = Path::new(&common).join(&branch);
        // A branch only in packed-refs gets its loose file at its next commit, in a folder
        // that exists: that folder is watched until then.
        match (loose.exists(), loose.parent()) {
            (false, Some(folder)) => watched.push(folder.display().to_string()),
            _ => watched.push(loose.display().to_string()),
        }
    }
    for path in watched.iter().filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
}
