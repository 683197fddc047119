//! Configuration keys of the directory, authentication and LDAP (Gromox's `mysql_adaptor.cfg`,
//! `ldap_adaptor.cfg` and `authmgr.cfg` names). Add [`config_keys`] to a program's
//! [`gromox_base::Spec`] and [`CONFIG_FILES`] to its per-program files.

use gromox_base::{KeyDef, Kind};

/// Per-program files holding these keys, searched along `config_file_path`.
pub const CONFIG_FILES: &[&str] = &["mysql_adaptor.cfg", "ldap_adaptor.cfg", "authmgr.cfg"];

/// Every key of this crate with its default.
pub fn config_keys() -> Vec<KeyDef> {
    let int = |min, max| Kind::Int { min, max };
    vec![
        KeyDef::new("directory_backend", "sqlite", Kind::Choice(&["sqlite", "mysql"]),
            "user directory backend: sqlite (<state_path>/directory.sqlite3) or mysql (MySQL/MariaDB)"),
        KeyDef::new("directory_sqlite_path", "", Kind::Path,
            "SQLite directory file (empty: <state_path>/directory.sqlite3)"),
        KeyDef::new("mysql_host", "localhost", Kind::Str, "MySQL/MariaDB server host"),
        KeyDef::new("mysql_port", "3306", int(1, 65535), "MySQL/MariaDB server port"),
        KeyDef::new("mysql_username", "root", Kind::Str, "MySQL user"),
        KeyDef::new("mysql_password", "", Kind::Str, "MySQL password"),
        KeyDef::new("mysql_dbname", "email", Kind::Str, "MySQL database name"),
        KeyDef::new("connection_num", "8", int(1, 1000), "database connections kept in the pool"),
        KeyDef::new("mysql_rdwr_timeout", "0", Kind::Duration, "MySQL read/write timeout (0: none)"),
        KeyDef::new("mysql_tls", "no", Kind::Bool, "use TLS to the MySQL server"),
        KeyDef::new("mysql_tls_ca", "", Kind::Path, "CA bundle (PEM) for the MySQL server certificate (empty: built-in roots)"),
        KeyDef::new("mysql_tls_skip_verify", "no", Kind::Bool, "do not verify the MySQL server certificate (testing only)"),
        KeyDef::new("mysql_object_cache_lifetime", "30s", Kind::Duration,
            "how long directory lookups are cached (0: no cache)"),
        KeyDef::new("recipient_delimiter", "+", Kind::Str,
            "characters separating a local part from its extension (user+ext@domain); empty: none"),
        KeyDef::new("auth_backend_selection",
            "externid",
            Kind::Choice(&["externid", "ldap", "always_mysql", "always_ldap", "allow_all", "deny_all"]),
            "externid (also ldap, always_mysql, always_ldap, as in Gromox): users with externid authenticate by LDAP, \
             others by SQL hash; allow_all: any password of an active user; deny_all: nobody",
        ),
        KeyDef::new("auth_fail_delay", "1s", Kind::Duration, "delay before answering a failed authentication"),
        KeyDef::new("userfilter_rl_maxtries", "10", int(0, 1_000_000),
            "failed logins per user and per address within userfilter_rl_window before further attempts are refused (0: no limit)"),
        KeyDef::new("userfilter_rl_window", "1min", Kind::Duration, "window of userfilter_rl_maxtries"),
        KeyDef::new("userfilter_banlist", "", Kind::Str,
            "user names and IP addresses always refused, separated by spaces or commas"),
        KeyDef::new("ldap_host", "", Kind::Str, "LDAP server: ldap://host:port or ldaps://host:port (empty: no LDAP)"),
        KeyDef::new("ldap_bind_user", "", Kind::Str, "DN to bind as for searches (empty: anonymous)"),
        KeyDef::new("ldap_bind_pass", "", Kind::Str, "password of ldap_bind_user"),
        KeyDef::new("ldap_start_tls", "no", Kind::Bool, "upgrade ldap:// connections with StartTLS (RFC 4511 §4.14)"),
        KeyDef::new("ldap_tls_ca", "", Kind::Path, "CA bundle (PEM) for the LDAP server certificate"),
        KeyDef::new("ldap_mail_attr", "mail", Kind::Str, "LDAP attribute holding the user's e-mail address"),
        KeyDef::new("ldap_search_base", "", Kind::Str, "LDAP search base DN"),
        KeyDef::new("ldap_timeout", "10s", Kind::Duration, "LDAP connect/read timeout"),
        KeyDef::new("data_connections", "4", int(1, 1000), "pooled LDAP connections"),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_validate_and_are_documented() {
        let keys = super::config_keys();
        let mut cfg = gromox_base::Config::defaults("test", &keys);
        for k in &keys {
            cfg.set(&k.name, &k.default)
                .unwrap_or_else(|e| panic!("default of {} does not validate: {e}", k.name));
            assert!(!k.help.is_empty(), "{} has no help", k.name);
        }
        assert_eq!(
            cfg.duration("mysql_object_cache_lifetime"),
            std::time::Duration::from_secs(30)
        );
        assert!(cfg.set("directory_backend", "oracle").is_err());
        let readme = include_str!("../README.md");
        for k in &keys {
            assert!(
                readme.contains(&format!("`{}`", k.name)),
                "{} missing in README.md",
                k.name
            );
        }
    }
}
