//! scalar-cli against a minimal conforming server: one that leaves out the extension types
//! (64–74), as PROTOCOL.md §4 allows, played by a proxy in front of scalard that answers them
//! 103. The user is told what the server lacks, in words, not a refusal meant for developers.

mod common;

use common::*;

/// What the user must not see for a part the server leaves out: the protocol's name of the
/// code, or a failing exit, meant for a client's bug.
fn says_it_plainly(text: &str) {
    assert!(
        !text.contains("unknown_type") && !text.contains("server refused"),
        "{text}"
    );
}

/// `conversations`, the only one-shot mode using an extension type (71): a server without the
/// list has none, as one without history (docs/CLI.md: exit 0, said on standard error), not
/// "server refused: 103 unknown_type" and exit 4.
#[test]
fn conversations_without_the_list_say_so_and_succeed() {
    let server = Server::start();
    let port = no_extensions_proxy(server.addr());
    let home = TempDir::new();
    let mut c = cli(&server, &home);
    c.env("SCALAR_SERVER", format!("127.0.0.1:{port}"))
        .args(["--id", "m", "conversations"]);
    let r = run(c, b"");
    assert_eq!((r.code(), r.stdout.as_str()), (0, ""), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("has no list of your conversations: it leaves out that optional part")
            && r.stderr.contains("this does not mean there are none"),
        "{}",
        r.stderr
    );
    says_it_plainly(&r.stderr);
}

/// The chat's commands that need an extension: each says the server leaves it out, and the
/// chat goes on (a core command still works after them).
#[test]
fn chat_commands_of_extensions_say_the_server_lacks_them() {
    let server = Server::start();
    let port = no_extensions_proxy(server.addr());
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.env("SCALAR_SERVER", format!("127.0.0.1:{port}"));
    let mut pty = chat_with(cmd, "alice");
    pty.command("/join #x", "joined #x");
    pty.command(
        "/topic new words",
        "cannot change the topic of #x: the server leaves out",
    );
    pty.command("/away lunch", "cannot set your status: the server leaves out");
    pty.command("/names", "cannot list the members of #x: the server leaves out");
    pty.command(
        "/conversations",
        "has no list of your conversations: it leaves out",
    );
    pty.command("still here", "alice: still here");
    says_it_plainly(&pty.text());
}
