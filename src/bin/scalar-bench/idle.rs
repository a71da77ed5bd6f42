//! Idle: C connections, each identified and subscribed to one of 100 channels, then left alone.
//! Reports the server's resident memory per connection right after they are set up and once
//! idle connections have given their buffer pages back.

use crate::Opts;
use crate::server::Server;
use std::io;
use std::time::Duration;

/// Runs the workload and prints one result line.
pub fn run(opts: &Opts) -> io::Result<()> {
    let server = Server::start_for(opts)?;
    std::thread::sleep(Duration::from_millis(300));
    let base = server.rss_kib();
    let mut conns = Vec::with_capacity(opts.conns);
    for i in 0..opts.conns {
        let c = server.join(
            &format!("idle{i}@localhost"),
            &format!("#idle{}@localhost", i % 100),
        )?;
        conns.push(c);
    }
    let busy = server.rss_kib();
    std::thread::sleep(Duration::from_secs(5));
    let idle = server.rss_kib();
    let per = |kib: u64| (kib.saturating_sub(base)) as f64 / opts.conns as f64;
    println!(
        "idle C={}: server RSS {base} KiB empty, {busy} KiB just after setup ({:.2} KiB/conn), \
         {idle} KiB after 5 s idle ({:.2} KiB/conn){}",
        opts.conns,
        per(busy),
        per(idle),
        if opts.tls { "; over TLS" } else { "" }
    );
    drop(conns);
    Ok(())
}
