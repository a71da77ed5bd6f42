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
    /// rustls refused the pair (typically: the key does not match the certificate, or the key
    /// type is not supported).
    Rustls(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Pem { path, what, err } => write!(f, "{}: {}", path.display(), pem_words(err, what)),
            TlsError::NoCertificate(path) => write!(f, "{}: no certificate in it", path.display()),
            TlsError::Rustls(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                write!(
                    f,
                    "the private key does not match the certificate (a key from another pair?)"
                )
            }
            TlsError::Rustls(e) => write!(f, "certificate and key refused: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// A PEM error in words: rustls's own shows a missing END marker as an array of bytes, and an
/// empty file as "no items found".
fn pem_words(err: &pem::Error, what: &str) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    match err {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "cut short: the \"-----END {}-----\" line is missing (a file still being written?)",
            text(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!("a malformed BEGIN line: {}", text(line)),
        pem::Error::Base64Decode(e) => format!("not valid base64 inside a section: {e}"),
        pem::Error::NoItemsFound => format!("no {what} in it"),
        other => other.to_string(),
    }
}

/// The PEM files a TLS listener serves, and the configuration built from them.
pub struct TlsFiles {
    /// The certificate chain, leaf first (certbot's `fullchain.pem`).
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1; certbot's `privkey.pem`).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads both files and builds a server configuration: TLS 1.3 and 1.2 with rustls's safe
    /// defaults (ring provider), no client certificates.
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let chain = load_chain(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|err| TlsError::Pem {
            path: self.key.clone(),
            what: "private key (PKCS#8, PKCS#1 or SEC1)",
            err,
        })?;
        let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .map_err(TlsError::Rustls)?;
        Ok(Arc::new(config))
    }
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |err| TlsError::Pem {
        path: path.to_path_buf(),
        what: "certificate",
        err,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(pem_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err)?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    };
    if marked_as_ca(leaf) {
        log::warn!(
            "TLS: the certificate in {} says it is a CA's (basicConstraints CA:TRUE, as `openssl \
             req -x509` makes by default): clients that check certificates refuse it as a \
             server's own; make it again with -addext basicConstraints=critical,CA:FALSE",
            path.display()
        );
    }
    Ok(chain)
}

/// Whether a certificate says it is a CA's (basicConstraints CA:TRUE), which no verifying
/// client takes for a server's own certificate: verified against itself as the only trust
/// anchor, webpki refuses it for exactly that before anything else about the path.
fn marked_as_ca(cert: &CertificateDer<'_>) -> bool {
    let (Ok(ee), Ok(anchor)) = (
        webpki::EndEntityCert::try_from(cert),
        webpki::anchor_from_trusted_cert(cert),
    ) else {
        return false;
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
    matches!(verdict, Err(webpki::Error::CaUsedAsEndEntity))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

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
    fn a_certificate_marked_as_a_cas_is_told_apart() {
        let cert = |ca: bool| {
            let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            if ca {
                params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            }
            let key = rcgen::KeyPair::generate().unwrap();
            params.self_signed(&key).unwrap().der().clone()
        };
        assert!(marked_as_ca(&cert(true)));
        assert!(!marked_as_ca(&cert(false)));
        assert!(
            !marked_as_ca(&CertificateDer::from(vec![1, 2, 3])),
            "not a certificate at all"
        );
    }
}
