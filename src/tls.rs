//! Client-side TLS settings for [`Client`](crate::client::Client): which server certificates
//! to trust.
//!
//! Three ways to trust a server:
//!
//! - [`Tls::webpki_roots`]: a certificate chaining to the Mozilla roots (the webpki-roots
//!   crate), valid for the host name dialled;
//! - [`Tls::with_ca_file`]: a certificate chaining to the CAs of a PEM file, for a private CA;
//! - [`Tls::pinned`]: trust on first use, as Gemini clients do, for self-signed servers: the
//!   certificate is accepted when its SHA-256 [`Fingerprint`] is the one pinned for the server,
//!   or, when none is pinned yet, whatever it is (the caller then pins it). Names, dates and
//!   issuers are not checked; the pin is the trust. The handshake signatures still are, so the
//!   server must hold the certificate's private key.
//!
//! All use the `ring` provider, as the server does.

/// The rustls this crate uses, for callers that inspect [`ClientError::Tls`] errors.
///
/// [`ClientError::Tls`]: crate::client::ClientError::Tls
pub use rustls;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The SHA-256 of a certificate's DER encoding: what trust on first use pins.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of(cert_der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(cert_der).into())
    }

    /// Parses 64 hex digits (either case), optionally after `sha256:`, or as `openssl x509
    /// -noout -fingerprint -sha256` prints them: `sha256 Fingerprint=AB:CD:…` (pairs
    /// separated by colons; the prefix in any case, or none).
    pub fn parse(s: &str) -> Option<Fingerprint> {
        let lower = s.trim().to_ascii_lowercase();
        let digits = ["sha256:", "sha256 fingerprint="]
            .iter()
            .find_map(|p| lower.strip_prefix(p))
            .unwrap_or(&lower)
            .as_bytes();
        let hex: Vec<u8> = match digits.len() {
            64 => digits.to_vec(),
            // Every third byte a colon, between pairs.
            95 if digits.iter().skip(2).step_by(3).all(|&b| b == b':') => {
                digits.chunks(3).flat_map(|c| c.iter().take(2)).copied().collect()
            }
            _ => return None,
        };
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |b: u8| char::from(b).to_digit(16);
            *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
        }
        Some(Fingerprint(out))
    }

    /// The 64 lowercase hex digits, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// `sha256:` and 64 lowercase hex digits, as the known-hosts file and the messages write it.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A pinned server presented another certificate. Travels inside rustls's error (as
/// `CertificateError::Other`) out of the handshake, where the client turns it into
/// [`ClientError::PinMismatch`](crate::client::ClientError::PinMismatch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinMismatch {
    /// The pin on record.
    pub expected: Fingerprint,
    /// The certificate the server presented.
    pub got: Fingerprint,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate {} does not match the pinned {}",
            self.got, self.expected
        )
    }
}

impl std::error::Error for PinMismatch {}

/// A PEM error in words: rustls's own shows a missing END marker as an array of bytes, and an
/// empty file as "no items found".
pub fn pem_words(err: &pem::Error, what: &str) -> String {
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

/// Why TLS settings could not be made.
#[derive(Debug)]
pub enum TlsSetupError {
    /// The CA file could not be read or holds no usable certificate.
    CaFile(String),
    /// rustls refused the configuration.
    Rustls(rustls::Error),
}

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSetupError::CaFile(s) => f.write_str(s),
            TlsSetupError::Rustls(e) => write!(f, "TLS setup: {e}"),
        }
    }
}

impl std::error::Error for TlsSetupError {}

/// How a [`Client`](crate::client::Client) secures its connection: a rustls client
/// configuration, cheap to clone.
#[derive(Clone, Debug)]
pub struct Tls {
    config: Arc<ClientConfig>,
}

/// The CA certificates of the PEM file at `path`, each checked to be usable as a root: what
/// [`Tls::with_cas`] takes. Err says what is wrong with the file (none in it included).
pub fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    match CertificateDer::pem_file_iter(path) {
        Ok(certs) => usable_cas(path, certs),
        Err(e) => Err(ca_file_error(path, pem_words(&e, "CERTIFICATE"))),
    }
}

/// [`ca_certificates`] of `pem`, the bytes of the file at `path` read by the caller.
pub fn ca_certificates_in(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    usable_cas(path, CertificateDer::pem_slice_iter(pem))
}

fn ca_file_error(path: &Path, why: String) -> TlsSetupError {
    TlsSetupError::CaFile(format!("CA file {}: {why}", path.display()))
}

/// The certificates `certs` of the CA file at `path`, if there are some and each is usable.
fn usable_cas(
    path: &Path,
    certs: impl Iterator<Item = Result<CertificateDer<'static>, pem::Error>>,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bad = |why: String| ca_file_error(path, why);
    let certs = certs
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_words(&e, "CERTIFICATE")))?;
    root_store(&certs).map_err(|e| bad(format!("unusable certificate: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE in it".into()));
    }
    Ok(certs)
}

/// A root store of `cas`.
fn root_store(cas: &[CertificateDer<'static>]) -> Result<RootCertStore, rustls::Error> {
    let mut roots = RootCertStore::empty();
    for cert in cas {
        roots.add(cert.clone())?;
    }
    Ok(roots)
}

/// The crypto the client uses: ring, as the server does, rather than a process-wide default
/// that another crate in the build could change.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, TlsSetupError> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Rustls)
}

impl Tls {
    /// Trusts certificates chaining to the Mozilla roots (webpki-roots), for the host dialled.
    pub fn webpki_roots() -> Result<Tls, TlsSetupError> {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Tls::with_roots(roots)
    }

    /// Trusts certificates chaining to the CA certificates of a PEM file, for the host dialled.
    pub fn with_ca_file(path: &Path) -> Result<Tls, TlsSetupError> {
        Tls::with_cas(&ca_certificates(path)?)
    }

    /// Trusts certificates chaining to `cas`, CA certificates read earlier
    /// ([`ca_certificates`]), for the host dialled.
    pub fn with_cas(cas: &[CertificateDer<'static>]) -> Result<Tls, TlsSetupError> {
        Tls::with_roots(
            root_store(cas).map_err(|e| TlsSetupError::CaFile(format!("unusable certificate: {e}")))?,
        )
    }

    fn with_roots(roots: RootCertStore) -> Result<Tls, TlsSetupError> {
        let config = builder()?.with_root_certificates(roots).with_no_client_auth();
        Ok(Tls {
            config: Arc::new(config),
        })
    }

    /// Trust on first use: accepts the certificate whose fingerprint is `pin`, or any when
    /// `pin` is `None` (read the one presented with
    /// [`Client::peer_fingerprint`](crate::client::Client::peer_fingerprint) and pin it). A
    /// different certificate fails the handshake with [`PinMismatch`].
    pub fn pinned(pin: Option<Fingerprint>) -> Result<Tls, TlsSetupError> {
        let verifier = PinVerifier {
            pin,
            algorithms: provider().signature_verification_algorithms,
        };
        let config = builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Tls {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }
}

/// Whether bytes read from a server start like a TLS record (an alert or a handshake, TLS
/// 1.x): what a TLS server answers a client that sent plain frames, before it closes.
pub fn starts_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, ..])
}

/// The host part of `HOST:PORT` or `[V6]:PORT` (or a bare host), as the name the certificate
/// must carry and the SNI to send. An IP address becomes `ServerName::IpAddress`.
pub fn server_name(server: &str) -> Option<ServerName<'static>> {
    let host = if let Some(rest) = server.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        match server.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => server,
        }
    };
    ServerName::try_from(host.to_string()).ok()
}

/// The trust-on-first-use verifier: the pin replaces the chain, name and date checks; the
/// handshake signatures are still checked, by the provider's own code.
#[derive(Debug)]
struct PinVerifier {
    pin: Option<Fingerprint>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity.as_ref());
        match self.pin {
            Some(expected) if expected != got => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch { expected, got }))),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_and_print() {
        let f = Fingerprint::of(b"cert");
        let s = f.to_string();
        assert!(s.starts_with("sha256:") && s.len() == 7 + 64, "{s}");
        assert_eq!(Fingerprint::parse(&s), Some(f));
        assert_eq!(Fingerprint::parse(&f.hex().to_uppercase()), Some(f));
        // As openssl prints it.
        let pairs: Vec<String> = f.0.iter().map(|b| format!("{b:02X}")).collect();
        let openssl = format!("sha256 Fingerprint={}", pairs.join(":"));
        assert_eq!(Fingerprint::parse(&openssl), Some(f));
        assert_eq!(
            Fingerprint::parse(&format!("SHA256:{}\n", pairs.join(":"))),
            Some(f)
        );
        assert_eq!(Fingerprint::parse(&pairs.join(":")), Some(f));
        // A colon out of place: "A:B" where "AB:" belongs.
        let mut misplaced = pairs.join(":").into_bytes();
        misplaced.swap(1, 2);
        assert_eq!(Fingerprint::parse(std::str::from_utf8(&misplaced).unwrap()), None);
        for bad in [
            "",
            "sha256:",
            "abc",
            &"g".repeat(64),
            &"a".repeat(63),
            &"a".repeat(65),
        ] {
            assert_eq!(Fingerprint::parse(bad), None, "{bad}");
        }
        assert_eq!(Fingerprint::parse("sha256:é"), None);
    }

    #[test]
    fn server_names() {
        let name = |s: &str| server_name(s).map(|n| n.to_str().into_owned());
        assert_eq!(name("chat.example.org:7667").as_deref(), Some("chat.example.org"));
        assert_eq!(name("127.0.0.1:7667").as_deref(), Some("127.0.0.1"));
        assert_eq!(name("[::1]:7667").as_deref(), Some("::1"));
        assert!(matches!(
            server_name("127.0.0.1:1"),
            Some(ServerName::IpAddress(_))
        ));
        assert_eq!(name("bad host:1"), None);
    }

    #[test]
    fn configs_build() {
        assert!(Tls::webpki_roots().is_ok());
        assert!(Tls::pinned(None).is_ok());
        let missing = Tls::with_ca_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/ca.pem"), "{missing}");
    }
}
