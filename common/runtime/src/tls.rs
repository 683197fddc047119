//! TLS material: loading PEM certificate chains and keys into a rustls server configuration
//! (ring provider), and making a self-signed certificate on first start (rcgen).

use std::path::Path;
use std::sync::Arc;

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

/// Load a PEM certificate chain and private key (PKCS#8, PKCS#1 or SEC1) into a rustls server
/// configuration using the ring provider. Errors name the offending file.
pub fn load_server_config(
    cert_pem: &Path,
    key_pem: &Path,
    min_version: &str,
) -> Result<Arc<rustls::ServerConfig>, RuntimeError> {
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions(min_version)?)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| RuntimeError::BadPem {
            path: key_pem.to_owned(),
            reason: format!("key does not fit certificate {}: {e}", cert_pem.display()),
        })?;
    // Mail clients reconnect often; stateless tickets would need key rotation, keep the
    // default in-memory session cache only.
    cfg.send_tls13_tickets = 0;
    Ok(Arc::new(cfg))
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
