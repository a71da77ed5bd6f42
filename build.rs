//! Names the commit a build comes from, for `scalard --version` and the metrics' build info:
//! every build of an unreleased tree says `0.1.0`, which tells an operator reporting a bug
//! nothing. `SCALAR_COMMIT` is the short hash (`unknown` outside a git checkout, a source
//! tarball say), and a build is rerun when the checked-out commit changes.

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
    // HEAD names a branch, whose ref file (or packed-refs) changes with each commit. Only
    // files that exist: Cargo reruns the script at every build for one that does not.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let head = git(&["symbolic-ref", "-q", "HEAD"]);
        let files = ["HEAD".to_string(), "packed-refs".to_string()];
        for file in files.iter().chain(head.as_ref()) {
            let path = format!("{dir}/{file}");
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
