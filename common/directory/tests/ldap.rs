//! LDAP authentication against a real slapd (Debian packages `slapd` and `ldap-utils`) on
//! 127.0.0.1 with a random port and a throwaway configuration. Skipped with a loud message
//! when slapd is not installed.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gromox_directory::{AuthError, Authenticator, Directory};

fn find(bin: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists())
}

struct Slapd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LDIF: &str = "\
dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: cn=reader,dc=example,dc=org
objectClass: person
cn: reader
sn: reader
userPassword: readerpw

dn: uid=lu,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: lu
cn: LDAP User
sn: User
mail: lu@example.org
userPassword: ldap-pw-123

dn: uid=twin1,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: twin1
cn: Twin
sn: Twin
mail: twin@example.org
userPassword: twinpw

dn: uid=twin2,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: twin2
cn: Twin
sn: Twin
mail: twin@example.org
userPassword: twinpw
";

fn start_slapd(tls: bool) -> Option<Slapd> {
    let (Some(slapd), Some(slapadd)) = (find("slapd"), find("slapadd")) else {
        eprintln!("\n*** SKIP LDAP tests: slapd not installed (apt-get install -y slapd ldap-utils) ***\n");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let modpath = [
        "/usr/lib/ldap",
        "/usr/lib/x86_64-linux-gnu/ldap",
        "/usr/lib/aarch64-linux-gnu/ldap",
    ]
    .iter()
    .find(|p| Path::new(p).join("back_mdb.la").exists() || Path::new(p).join("back_mdb.so").exists())
    .copied()
    .unwrap_or("/usr/lib/ldap");
    let conf = dir.path().join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\nmodulepath {modpath}\nmoduleload back_mdb\n\
             pidfile {0}/slapd.pid\n\
             access to attrs=userPassword by anonymous auth by * none\naccess to * by * read\n\
             database mdb\nmaxsize 10485760\nsuffix \"dc=example,dc=org\"\nrootdn \"cn=admin,dc=example,dc=org\"\n\
             rootpw adminpw\ndirectory {1}\nindex mail eq\n",
            dir.path().display(),
            db.display()
        ),
    )
    .unwrap();
    if tls {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "gromox test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
        let mut c = std::fs::read_to_string(&conf).unwrap();
        c = c.replacen(
            "database mdb",
            &format!(
                "TLSCertificateFile {0}/cert.pem\nTLSCertificateKeyFile {0}/key.pem\ndatabase mdb",
                dir.path().display()
            ),
            1,
        );
        std::fs::write(&conf, c).unwrap();
    }
    let ldif = dir.path().join("data.ldif");
    std::fs::write(&ldif, LDIF).unwrap();
    let st = Command::new(&slapadd)
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(&ldif)
        .output()
        .unwrap();
    assert!(st.status.success(), "slapadd: {}", String::from_utf8_lossy(&st.stderr));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&slapd)
        .arg("-f")
        .arg(&conf)
        .arg("-h")
        .arg(format!("ldap://127.0.0.1:{port}/"))
        .arg("-d")
        .arg("0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let s = Slapd { child, port, dir };
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "slapd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(s)
}

#[test]
fn externid_user_logs_in_with_ldap_password_only() {
    let Some(slapd) = start_slapd(false) else { return };
    let b = common::sqlite();
    b.add_config(&format!(
        "ldap_host = ldap://127.0.0.1:{}\nldap_bind_user = cn=reader,dc=example,dc=org\nldap_bind_pass = readerpw\n\
         ldap_search_base = dc=example,dc=org\nldap_mail_attr = mail\ndata_connections = 2\n",
        slapd.port
    ));
    assert_eq!(b.dbop(&["-C"]).0, 0);
    b.ok(&["domain", "add", "example.org"]);
    for u in ["lu", "twin", "sqlonly"] {
        let (c, _, e) = b.admin(
            &["user", "add", &format!("{u}@example.org"), "--password-stdin"],
            "sql-pw-456",
        );
        assert_eq!(c, 0, "{e}");
    }
    b.ok(&["user", "set", "lu@example.org", "--externid", "lu"]);
    b.ok(&["user", "set", "twin@example.org", "--externid", "twin"]);
    let d = Arc::new(Directory::open(&b.config()).unwrap());
    let (log, buf) = common::capture_log();
    let auth = Authenticator::new(&b.config(), d, log);
    let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();

    let ok = auth
        .authenticate("lu@example.org", "ldap-pw-123", peer, "LOGIN")
        .unwrap();
    assert!(ok.via_ldap);
    assert_eq!(
        auth.authenticate("lu@example.org", "sql-pw-456", peer, "LOGIN")
            .unwrap_err(),
        AuthError::BadCredentials
    );
    assert_eq!(
        auth.authenticate("lu@example.org", "", peer, "LOGIN").unwrap_err(),
        AuthError::BadCredentials
    );
    // Pooled connections are reused: many logins in a row work.
    for _ in 0..5 {
        assert!(auth
            .authenticate("lu@example.org", "ldap-pw-123", peer, "LOGIN")
            .is_ok());
    }
    // Two LDAP entries with the same mail: ambiguous, refused.
    assert_eq!(
        auth.authenticate("twin@example.org", "twinpw", peer, "LOGIN")
            .unwrap_err(),
        AuthError::BadCredentials
    );
    // Users without externid keep using the SQL hash.
    assert!(
        !auth
            .authenticate("sqlonly@example.org", "sql-pw-456", peer, "LOGIN")
            .unwrap()
            .via_ldap
    );
    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    assert!(!text.contains("ldap-pw-123") && !text.contains("sql-pw-456"), "{text}");

    // The admin tool's end-to-end check goes the same way.
    let (code, out, err) = b.admin(&["auth-test", "lu@example.org"], "ldap-pw-123");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(LDAP)"), "{out}");

    // A wrong search password is a server-side error, not a login.
    b.add_config("ldap_bind_pass = wrong\n");
    let d = Arc::new(Directory::open(&b.config()).unwrap());
    let auth = Authenticator::new(&b.config(), d, gromox_base::log::discard());
    assert!(matches!(
        auth.authenticate("lu@example.org", "ldap-pw-123", peer, "LOGIN"),
        Err(AuthError::Temporary(_))
    ));
}

#[test]
fn starttls_with_the_servers_ca_and_refused_with_another() {
    let Some(slapd) = start_slapd(true) else { return };
    let b = common::sqlite();
    b.add_config(&format!(
        "ldap_host = ldap://127.0.0.1:{}\nldap_start_tls = yes\nldap_tls_ca = {}\n\
         ldap_bind_user = cn=reader,dc=example,dc=org\nldap_bind_pass = readerpw\nldap_search_base = dc=example,dc=org\n",
        slapd.port,
        slapd.dir.path().join("ca.pem").display()
    ));
    assert_eq!(b.dbop(&["-C"]).0, 0);
    b.ok(&["domain", "add", "example.org"]);
    b.ok(&["user", "add", "lu@example.org", "--externid", "lu"]);
    let d = Arc::new(Directory::open(&b.config()).unwrap());
    let auth = Authenticator::new(&b.config(), d, gromox_base::log::discard());
    let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    assert!(
        auth.authenticate("lu@example.org", "ldap-pw-123", peer, "LOGIN")
            .unwrap()
            .via_ldap
    );
    assert_eq!(
        auth.authenticate("lu@example.org", "nope", peer, "LOGIN").unwrap_err(),
        AuthError::BadCredentials
    );

    // A CA that did not sign the server certificate: no login, a temporary error.
    let other = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = p.self_signed(&key).unwrap();
    std::fs::write(other.path().join("ca.pem"), ca.pem()).unwrap();
    b.add_config(&format!("ldap_tls_ca = {}\n", other.path().join("ca.pem").display()));
    let d = Arc::new(Directory::open(&b.config()).unwrap());
    let auth = Authenticator::new(&b.config(), d, gromox_base::log::discard());
    assert!(matches!(
        auth.authenticate("lu@example.org", "ldap-pw-123", peer, "LOGIN"),
        Err(AuthError::Temporary(_))
    ));
}
