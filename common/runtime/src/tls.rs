//! TLS material: loading PEM certificate chains and keys into a rustls server configuration
//! (ring provider), client configurations trusting a PEM CA bundle (for the suite's outgoing
//! TLS: LDAP, the SMTP relay), and making a self-signed certificate on first start (rcgen).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::RuntimeError;

fn pem_err(path: &Path, e: rustls_pki_types::pem::Error) -> RuntimeError {
    match e {
        rustls_pki_types::pem::Error::Io(source) => RuntimeError::File {
            path: path.to_owned(),
            source,
        },
        other => RuntimeError::BadPem {
            path: path.to_owned(),
            reason: format!("{other:?}"),
        },
    }
}

/// The system's CA bundle (Debian's `ca-certificates`).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A rustls client configuration (ring provider, safe default versions) trusting the
/// certificates in the PEM bundle `ca_file` (empty: [`SYSTEM_CA_BUNDLE`]); servers are verified
/// against it and the name connected to.
pub fn client_config(ca_file: &str) -> Result<Arc<rustls::ClientConfig>, RuntimeError> {
    let path = Path::new(if ca_file.is_empty() { SYSTEM_CA_BUNDLE } else { ca_file });
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(path).map_err(|e| pem_err(path, e))? {
        let _ = roots.add(c.map_err(|e| pem_err(path, e))?);
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Protocol versions for a `tls_min_proto`-style setting: `"1.2"` or `"1.3"`.
pub fn versions(min_version: &str) -> Result<&'static [&'static rustls::SupportedProtocolVersion], RuntimeError> {
    static BOTH: [&rustls::SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];
    static ONLY13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match min_version.trim() {
        "1.2" | "tls1.2" | "" => Ok(&BOTH),
        "1.3" | "tls1.3" => Ok(&ONLY13),
        other => Err(RuntimeError::TlsVersion(other.to_owned())),
    }
}

fn read_pem(
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), RuntimeError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| pem_err(cert_pem, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert_pem, e))?;
    if certs.is_empty() {
        return Err(RuntimeError::BadPem {
            path: cert_pem.to_owned(),
            reason: "no CERTIFICATE block found".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => RuntimeError::BadPem {
            path: key_pem.to_owned(),
            reason: "no PRIVATE KEY block found".into(),
        },
        e => pem_err(key_pem, e),
    })?;
    Ok((certs, key))
}

/// The server certificate in use, replaceable at run time (SIGHUP after a renewal): every new
/// handshake uses the certificate loaded last.
#[derive(Debug)]
pub struct CertReloader {
    cert_pem: PathBuf,
    key_pem: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertReloader {
    fn load(cert_pem: &Path, key_pem: &Path, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, RuntimeError> {
        let (certs, key) = read_pem(cert_pem, key_pem)?;
        let ck = CertifiedKey::from_der(certs, key, provider).map_err(|e| RuntimeError::BadPem {
            path: key_pem.to_owned(),
            reason: format!("key does not fit certificate {}: {e}", cert_pem.display()),
        })?;
        Ok(Arc::new(ck))
    }

    /// Read the certificate and key files again. On error the previous certificate stays.
    pub fn reload(&self) -> Result<(), RuntimeError> {
        let ck = Self::load(&self.cert_pem, &self.key_pem, &self.provider)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = ck;
        Ok(())
    }
}

impl rustls::server::ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// Load a PEM certificate chain and private key (PKCS#8, PKCS#1 or SEC1) into a rustls server
/// configuration using the ring provider. Errors name the offending file.
pub fn load_server_config(
    cert_pem: &Path,
    key_pem: &Path,
    min_version: &str,
) -> Result<Arc<rustls::ServerConfig>, RuntimeError> {
    Ok(load_reloadable(cert_pem, key_pem, min_version)?.0)
}

/// Like [`load_server_config`], and also return the [`CertReloader`] through which the
/// certificate can be replaced while the server runs, e.g. from a [`crate::Control::on_reload`]
/// hook.
pub fn load_reloadable(
    cert_pem: &Path,
    key_pem: &Path,
    min_version: &str,
) -> Result<(Arc<rustls::ServerConfig>, Arc<CertReloader>), RuntimeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = versions(min_version)?;
    let reloader = Arc::new(CertReloader {
        cert_pem: cert_pem.to_owned(),
        key_pem: key_pem.to_owned(),
        current: RwLock::new(CertReloader::load(cert_pem, key_pem, &provider)?),
        provider: provider.clone(),
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_cert_resolver(reloader.clone());
    // Mail clients reconnect often; stateless tickets would need key rotation, keep the
    // default in-memory session cache only.
    cfg.send_tls13_tickets = 0;
    Ok((Arc::new(cfg), reloader))
}

/// Write a new self-signed certificate for `hostnames` (first one is the subject) to `cert_out`
/// and its private key to `key_out` (mode 0600), both PEM.
pub fn self_signed(hostnames: &[String], cert_out: &Path, key_out: &Path) -> Result<(), RuntimeError> {
    let names: Vec<String> = if hostnames.is_empty() {
        vec!["localhost".to_owned()]
    } else {
        hostnames.to_vec()
    };
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| RuntimeError::CertGen(e.to_string()))?;
    write_private(key_out, ck.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert_out, ck.cert.pem()).map_err(|source| RuntimeError::File {
        path: cert_out.to_owned(),
        source,
    })?;
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), RuntimeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| RuntimeError::File {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(data).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_replaces_certificate_and_keeps_old_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("cert.pem");
        let k = dir.path().join("key.pem");
        self_signed(&["one.example.test".into()], &c, &k).unwrap();
        let (_cfg, r) = load_reloadable(&c, &k, "1.2").unwrap();
        let first = r.current.read().unwrap().cert[0].clone();
        self_signed(&["two.example.test".into()], &c, &k).unwrap();
        r.reload().unwrap();
        let second = r.current.read().unwrap().cert[0].clone();
        assert_ne!(first, second);
        std::fs::write(&k, "garbage").unwrap();
        let e = r.reload().unwrap_err().to_string();
        assert!(e.contains("key.pem"), "{e}");
        assert_eq!(r.current.read().unwrap().cert[0], second);
    }

    #[test]
    fn self_signed_loads_and_errors_name_files() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("cert.pem");
        let k = dir.path().join("key.pem");
        self_signed(&["mail.example.test".into()], &c, &k).unwrap();
        load_server_config(&c, &k, "1.2").unwrap();
        load_server_config(&c, &k, "1.3").unwrap();
        assert!(matches!(
            load_server_config(&c, &k, "1.1"),
            Err(RuntimeError::TlsVersion(_))
        ));
        let missing = dir.path().join("nope.pem");
        let e = load_server_config(&missing, &k, "1.2").unwrap_err().to_string();
        assert!(e.contains("nope.pem"), "{e}");
        // key file given as cert: no certificate inside
        let e = load_server_config(&k, &k, "1.2").unwrap_err().to_string();
        assert!(e.contains("key.pem") && e.contains("CERTIFICATE"), "{e}");
        let e = load_server_config(&c, &c, "1.2").unwrap_err().to_string();
        assert!(e.contains("cert.pem"), "{e}");
    }
}
