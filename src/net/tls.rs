//! TLS for the shell: loading the certificate chain and key from PEM files into a rustls
//! [`ServerConfig`], the per-connection TLS state, and the policy for plain TCP peers.
//!
//! rustls is driven through its non-blocking API from the poll loop (see `conn.rs`); nothing
//! here blocks except reading the PEM files, which happens at start and on SIGHUP.

use crate::proto::is_loopback;
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether a plain connection's first bytes are a TLS handshake record's header (type 22,
/// version 3.x): a TLS client's ClientHello. Never a Scalar frame's start, whose third byte
/// begins a CBOR map (0xa0 and up), not a TLS version's minor number (0 to 4).
pub fn starts_like_client_hello(bytes: &[u8]) -> bool {
    matches!(bytes, [0x16, 0x03, 0..=4, ..])
}

/// Why a certificate or key could not be loaded.
#[derive(Debug)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    Pem {
        /// The file.
        path: PathBuf,
        /// What it should hold: "certificate" or "private key".
        what: &'static str,
        /// What went wrong.
        err: pem::Error,
    },
    /// The certificate file holds no certificate.
    NoCertificate(PathBuf),
    /// A file is larger than any certificate chain or key ([`MAX_PEM`]): not the right file.
    TooLarge(PathBuf),
    /// The key file holds only a passphrase-protected key, which a server starting unattended
    /// cannot open.
    EncryptedKey(PathBuf),
    /// rustls refused the pair (typically: the key does not match the certificate, or the key
    /// type is not supported).
    Rustls(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Pem { path, what, err } => {
                write!(f, "{}: {}", path.display(), crate::tls::pem_words(err, what))
            }
            TlsError::NoCertificate(path) => write!(f, "{}: no certificate in it", path.display()),
            TlsError::TooLarge(path) => write!(
                f,
                "{}: larger than {} KiB, more than any certificate chain or key",
                path.display(),
                MAX_PEM >> 10
            ),
            TlsError::EncryptedKey(path) => write!(
                f,
                "{}: the private key is encrypted with a passphrase; scalard needs it unencrypted \
                 (`openssl pkey -in KEY -out PLAIN`, then keep PLAIN readable only by scalard)",
                path.display()
            ),
            TlsError::Rustls(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                write!(
                    f,
                    "the private key does not match the certificate (a key from another pair?)"
                )
            }
            // ring's signers take no other keys; rustls says only that none could parse it.
            TlsError::Rustls(rustls::Error::General(why)) if why.contains("failed to parse private key") => {
                write!(
                    f,
                    "the private key is of a kind this server cannot sign with: RSA of 2048 bits \
                     or more, ECDSA on P-256 or P-384, or Ed25519 (not P-521 or Ed448)"
                )
            }
            TlsError::Rustls(e) => write!(f, "certificate and key refused: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The most bytes read from a certificate or key file: a long chain is a few KiB. A device or
/// a wrong file is refused rather than read without end.
pub const MAX_PEM: u64 = 1 << 20;

/// Whether PEM text holds a passphrase-protected private key.
fn is_encrypted_key(pem: &[u8]) -> bool {
    let has = |needle: &[u8]| pem.windows(needle.len()).any(|w| w == needle);
    has(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || has(b"Proc-Type: 4,ENCRYPTED")
}

/// The PEM files a TLS listener serves, and the configuration built from them.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (certbot's `fullchain.pem`).
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1; certbot's `privkey.pem`).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads both files and builds a server configuration: TLS 1.3 and 1.2 with rustls's safe
    /// defaults (ring provider), no client certificates. Logs what clients will refuse in the
    /// certificate, and its fingerprint.
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let (config, doubt) = self.load_quietly()?;
        // Only once it is the one in use: a certificate refused with its key is not, and a
        // warning about it would be taken for one about the certificate kept.
        if let Some(doubt) = doubt {
            log::warn!("{doubt}");
        }
        Ok(config)
    }

    /// [`load`](TlsFiles::load), returning what clients will refuse in the certificate rather
    /// than logging it: `scalard check` says it as its other warnings (found by QA: a raw log
    /// line among them).
    pub fn load_quietly(&self) -> Result<(Arc<ServerConfig>, Option<String>), TlsError> {
        let chain = load_chain(&self.cert)?;
        let fingerprint = chain.first().map(|leaf| crate::tls::Fingerprint::of(leaf));
        let refused = chain.first().and_then(refused_by_clients);
        let what = "private key (PKCS#8, PKCS#1 or SEC1)";
        let key = read_pem(&self.key, what).and_then(|pem| {
            PrivateKeyDer::from_pem_slice(&pem).map_err(|err| {
                // Encrypted PKCS#8, or OpenSSL's older encrypted PKCS#1 / SEC1 headers.
                if is_encrypted_key(&pem) {
                    return TlsError::EncryptedKey(self.key.clone());
                }
                TlsError::Pem {
                    path: self.key.clone(),
                    what,
                    err,
                }
            })
        })?;
        let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .map_err(TlsError::Rustls)?;
        // What clients pin (`scalar-cli --tofu`, `trust`): the operator can hand it out from
        // here.
        if let Some(fp) = fingerprint {
            log::info!("TLS certificate {}: {fp}", self.cert.display());
        }
        let doubt = refused.map(|why| {
            format!(
                "TLS: the certificate in {} {why}: clients that check certificates will refuse it",
                self.cert.display()
            )
        });
        Ok((Arc::new(config), doubt))
    }
}

/// A PEM file's bytes, at most [`MAX_PEM`] of them, if it is a regular file ([`crate::regular`]):
/// `what` names what it should hold in an error.
pub(crate) fn read_pem(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    crate::regular::open(path)
        .and_then(|f| f.take(MAX_PEM + 1).read_to_end(&mut bytes))
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            what,
            err: pem::Error::Io(e),
        })?;
    match bytes.len() as u64 > MAX_PEM {
        true => Err(TlsError::TooLarge(path.to_path_buf())),
        false => Ok(bytes),
    }
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |err| TlsError::Pem {
        path: path.to_path_buf(),
        what: "certificate",
        err,
    };
    let pem = read_pem(path, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(chain)
}

/// Why clients that check certificates will refuse this one as a server's own, if they will
/// for a reason of its own: it has expired, is not valid yet, or says it is a CA's
/// (basicConstraints CA:TRUE). Verified against itself as the only trust anchor, webpki checks
/// these before anything that depends on the issuer, and in that order.
fn refused_by_clients(cert: &CertificateDer<'_>) -> Option<&'static str> {
    let (Ok(ee), Ok(anchor)) = (
        webpki::EndEntityCert::try_from(cert),
        webpki::anchor_from_trusted_cert(cert),
    ) else {
        return None;
    };
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let anchors = [anchor];
    let verdict = ee.verify_for_usage(
        algorithms.all,
        &anchors,
        &[],
        rustls::pki_types::UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    match verdict {
        Err(webpki::Error::CertExpired { .. }) => Some("has expired (see its notAfter date)"),
        Err(webpki::Error::CertNotValidYet { .. }) => {
            Some("is not valid yet (see its notBefore date, and this machine's clock)")
        }
        Err(webpki::Error::CaUsedAsEndEntity) => Some(
            "says it is a CA's (basicConstraints CA:TRUE, as `openssl req -x509` makes by \
             default; make it again with -addext basicConstraints=critical,CA:FALSE), or the \
             chain's first certificate is not the server's own (the file must hold the leaf \
             first)",
        ),
        _ => None,
    }
}

/// Which peers may use plain (unencrypted) TCP listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlainPolicy {
    /// Anyone who can reach a plain listener.
    #[default]
    Any,
    /// Only loopback peers (127.0.0.0/8, ::1, and ::ffff:127.x.y.z); others are closed right
    /// after accept, with a log line, and must use TLS.
    Loopback,
}

impl PlainPolicy {
    /// Whether a plain connection from `peer` is served.
    pub fn allows(self, peer: IpAddr) -> bool {
        match self {
            PlainPolicy::Any => true,
            PlainPolicy::Loopback => is_loopback(peer),
        }
    }
}

/// For tests: a server configuration with a fresh self-signed certificate for `localhost`,
/// and that certificate (for a client to trust).
#[cfg(test)]
pub(crate) fn self_signed() -> (ServerConfig, CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let cert = ck.cert.der().clone();
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    (config, cert)
}

/// For tests: a client configuration that trusts `cert` only.
#[cfg(test)]
pub(crate) fn client_trusting(cert: CertificateDer<'static>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A PEM file of [`MAX_PEM`] bytes is read; one byte more is refused as `TooLarge`, with
    /// the file named, rather than read into memory whatever its size.
    #[test]
    fn a_pem_file_past_the_bound_is_refused() {
        let dir = crate::store::sqlite::tests::TempDir::new("pem");
        let at = dir.0.join("at.pem");
        let past = dir.0.join("past.pem");
        let bound = usize::try_from(MAX_PEM).unwrap();
        std::fs::write(&at, vec![b'x'; bound]).unwrap();
        std::fs::write(&past, vec![b'x'; bound + 1]).unwrap();
        assert_eq!(read_pem(&at, "certificate").map(|b| b.len()).ok(), Some(bound));
        let e = match read_pem(&past, "certificate") {
            Ok(b) => panic!("{} bytes read past the bound", b.len()),
            Err(e) => e,
        };
        assert!(matches!(&e, TlsError::TooLarge(p) if *p == past), "{e}");
        assert!(e.to_string().contains("larger than 1024 KiB"), "{e}");
    }

    #[test]
    fn loopback_in_every_form() {
        let yes: [IpAddr; 4] = [
            Ipv4Addr::LOCALHOST.into(),
            Ipv4Addr::new(127, 3, 2, 1).into(),
            Ipv6Addr::LOCALHOST.into(),
            Ipv4Addr::LOCALHOST.to_ipv6_mapped().into(),
        ];
        let no: [IpAddr; 5] = [
            Ipv4Addr::new(192, 0, 2, 7).into(),
            Ipv4Addr::UNSPECIFIED.into(),
            "2001:db8::1".parse().unwrap(),
            Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().into(),
            // IPv4-compatible (not mapped) ::127.0.0.1 is not loopback.
            "::7f00:1".parse().unwrap(),
        ];
        for ip in yes {
            assert!(is_loopback(ip), "{ip}");
            assert!(PlainPolicy::Loopback.allows(ip), "{ip}");
        }
        for ip in no {
            assert!(!is_loopback(ip), "{ip}");
            assert!(!PlainPolicy::Loopback.allows(ip), "{ip}");
            assert!(PlainPolicy::Any.allows(ip), "{ip}");
        }
    }

    #[test]
    fn a_client_hello_is_told_from_a_frame_of_the_same_length() {
        let config = client_trusting(self_signed().1);
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut hello = Vec::new();
        client.write_tls(&mut hello).unwrap();
        assert!(starts_like_client_hello(&hello));
        // A frame of 0x0316 bytes: its payload starts with a map, as every message does.
        assert!(!starts_like_client_hello(&[0x16, 0x03, 0xa1, 0x00, 0x01]));
        assert!(!starts_like_client_hello(&[0x16, 0x03]), "too short to tell");
    }

    #[test]
    fn certificates_clients_will_refuse_are_told_apart() {
        let cert = |ca: bool, from_year: i32, to_year: i32| {
            let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            if ca {
                params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            }
            params.not_before = rcgen::date_time_ymd(from_year, 1, 1);
            params.not_after = rcgen::date_time_ymd(to_year, 1, 1);
            let key = rcgen::KeyPair::generate().unwrap();
            params.self_signed(&key).unwrap().der().clone()
        };
        let why = |c| refused_by_clients(&c).unwrap_or("fine");
        assert!(why(cert(true, 2000, 4000)).contains("CA's"));
        assert!(why(cert(false, 2000, 2001)).contains("expired"));
        assert!(why(cert(false, 3999, 4000)).contains("not valid yet"));
        assert_eq!(why(cert(false, 2000, 4000)), "fine");
        assert_eq!(
            why(CertificateDer::from(vec![1, 2, 3])),
            "fine",
            "not a certificate at all"
        );
    }

    /// What clients will refuse comes back from `load_quietly` for `scalard check` to say as
    /// its warnings do; a certificate they take has nothing to say.
    #[test]
    fn load_quietly_returns_what_load_would_warn_of() {
        let dir = std::env::temp_dir().join(format!("scalar-tls-doubt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for ca in [true, false] {
            let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            if ca {
                params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            }
            let key = rcgen::KeyPair::generate().unwrap();
            let files = TlsFiles {
                cert: dir.join("cert.pem"),
                key: dir.join("key.pem"),
            };
            std::fs::write(&files.cert, params.self_signed(&key).unwrap().pem()).unwrap();
            std::fs::write(&files.key, key.serialize_pem()).unwrap();
            let (_, doubt) = files.load_quietly().unwrap();
            match ca {
                true => assert!(doubt.is_some_and(|d| d.contains("says it is a CA's"))),
                false => assert_eq!(doubt, None),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
