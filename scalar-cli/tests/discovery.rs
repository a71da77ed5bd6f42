//! `--server DOMAIN`: the servers found through SRV records, from a fake DNS server on
//! 127.0.0.1 pointing at a real scalard on 127.0.0.1. Nothing leaves the loopback network.

mod common;

use common::{Server, TempDir, cli, run};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// An SRV record: priority, weight, port, target.
type Srv<'a> = (u16, u16, u16, &'a str);

/// A UDP DNS server on 127.0.0.1: SRV records by name, NXDOMAIN for other names. Stops on drop.
struct FakeDns {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl FakeDns {
    /// `records`: the SRV record of each name.
    fn start(records: &[(&str, Srv<'_>)]) -> FakeDns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = socket.local_addr().unwrap();
        let table: HashMap<String, (u16, u16, u16, String)> = records
            .iter()
            .map(|(n, (p, w, port, t))| (n.to_string(), (*p, *w, *port, t.to_string())))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let quit = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !quit.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&answer(&buf[..n], &table), from);
                }
            }
        });
        FakeDns { addr, stop }
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The answer to `query`: its header and question, then the SRV record of its name, if any.
fn answer(query: &[u8], table: &HashMap<String, (u16, u16, u16, String)>) -> Vec<u8> {
    let (mut labels, mut at) = (Vec::new(), 12);
    while query[at] != 0 {
        let len = usize::from(query[at]);
        labels.push(String::from_utf8_lossy(&query[at + 1..at + 1 + len]).into_owned());
        at += 1 + len;
    }
    let mut p = query.to_vec();
    let Some((priority, weight, port, target)) = table.get(&labels.join(".")) else {
        p[2..4].copy_from_slice(&[0x81, 0x83]); // NXDOMAIN
        return p;
    };
    p[2..4].copy_from_slice(&[0x81, 0x80]);
    p[6..8].copy_from_slice(&[0, 1]);
    let mut rdata = Vec::new();
    for n in [priority, weight, port] {
        rdata.extend_from_slice(&n.to_be_bytes());
    }
    for label in target.split('.').filter(|l| !l.is_empty()) {
        rdata.push(label.len() as u8);
        rdata.extend_from_slice(label.as_bytes());
    }
    rdata.push(0);
    p.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60]);
    p.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    p.extend_from_slice(&rdata);
    p
}

#[test]
fn a_domain_alone_is_found_through_srv() {
    let server = Server::start();
    let dns = FakeDns::start(&[("_scalar._tcp.chat.test", (0, 0, server.port, "127.0.0.1"))]);
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.args([
        "--resolver",
        &dns.addr.to_string(),
        "--server",
        "chat.test",
        "ping",
    ]);
    let r = run(cmd, b"");
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn servers_are_tried_in_order_and_tls_is_kept() {
    let server = Server::start();
    // The TLS server DNS names first listens nowhere: the plain one is tried next.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dns = FakeDns::start(&[
        ("_scalars._tcp.chat.test", (0, 0, closed, "127.0.0.1")),
        ("_scalar._tcp.chat.test", (0, 0, server.port, "127.0.0.1")),
    ]);
    let home = TempDir::new();
    let mut cmd = cli(&server, &home);
    cmd.env("SCALAR_RESOLVER", dns.addr.to_string())
        .env("SCALAR_SERVER", "chat.test")
        .arg("ping");
    let r = run(cmd, b"");
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("trying the next server"), "{}", r.stderr);

    // With --tls a plain server will not do: the TLS one fails, and that is the end.
    let mut cmd = cli(&server, &home);
    cmd.args([
        "--resolver",
        &dns.addr.to_string(),
        "-s",
        "chat.test",
        "--tls",
        "ping",
    ]);
    let r = run(cmd, b"");
    assert_eq!(r.code(), 3, "{}{}", r.stdout, r.stderr);

    // Only a plain server, and TLS asked for: refused before connecting.
    let dns = FakeDns::start(&[("_scalar._tcp.plain.test", (0, 0, server.port, "127.0.0.1"))]);
    let mut cmd = cli(&server, &home);
    cmd.args([
        "--resolver",
        &dns.addr.to_string(),
        "-s",
        "plain.test",
        "--tls",
        "ping",
    ]);
    let r = run(cmd, b"");
    assert_eq!(r.code(), 3, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no TLS server"), "{}", r.stderr);
}
