//! The user directory schema, with Gromox's table and column names (so an operator's SQL,
//! scripts and knowledge carry over), created and upgraded step by step by `gromox-dbop`.
//!
//! [`create`] installs schema version 1 and then runs every step of [`UPGRADES`], so a new
//! database and an upgraded one go through the same statements. The version lives in
//! `options` under the key `schemaversion`. These version numbers are gromox-rs's own.

use crate::db::{Conn, Kind, Val};
use crate::error::{DirError, Result};

/// Schema version 1, SQLite.
const V1_SQLITE: &[&str] = &[
    "CREATE TABLE `options` (`key` TEXT NOT NULL COLLATE NOCASE PRIMARY KEY, `value` TEXT)",
    "CREATE TABLE `orgs` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `name` TEXT NOT NULL, `description` TEXT)",
    "CREATE TABLE `domains` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `org_id` INTEGER NOT NULL DEFAULT 0, \
     `domainname` TEXT NOT NULL COLLATE NOCASE UNIQUE, `homeserver` INTEGER NOT NULL DEFAULT 0, \
     `homedir` TEXT NOT NULL DEFAULT '', `max_user` INTEGER NOT NULL, `title` TEXT NOT NULL DEFAULT '', \
     `address` TEXT NOT NULL DEFAULT '', `admin_name` TEXT NOT NULL DEFAULT '', `tel` TEXT NOT NULL DEFAULT '', \
     `end_day` TEXT NOT NULL, `domain_status` INTEGER NOT NULL DEFAULT 0, `sync_policy` TEXT, `chat_id` TEXT)",
    "CREATE TABLE `groups` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `groupname` TEXT NOT NULL COLLATE NOCASE UNIQUE, \
     `password` TEXT NOT NULL DEFAULT '', `domain_id` INTEGER NOT NULL, `title` TEXT NOT NULL)",
    "CREATE TABLE `users` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `username` TEXT NOT NULL COLLATE NOCASE UNIQUE, \
     `primary_email` TEXT COLLATE NOCASE, `altname` TEXT COLLATE NOCASE UNIQUE, `password` TEXT NOT NULL DEFAULT '', \
     `domain_id` INTEGER NOT NULL, `group_id` INTEGER NOT NULL, `homeserver` INTEGER NOT NULL DEFAULT 0, \
     `maildir` TEXT NOT NULL DEFAULT '', `lang` TEXT NOT NULL DEFAULT '', `timezone` TEXT NOT NULL DEFAULT '', \
     `privilege_bits` INTEGER NOT NULL, `address_status` INTEGER NOT NULL DEFAULT 0, `externid` BLOB, \
     `sync_policy` TEXT, `chat_id` TEXT)",
    "CREATE INDEX `users_domain_id` ON `users` (`domain_id`)",
    "CREATE TABLE `aliases` (`aliasname` TEXT NOT NULL COLLATE NOCASE PRIMARY KEY, `mainname` TEXT NOT NULL COLLATE NOCASE \
     REFERENCES `users` (`username`) ON DELETE CASCADE ON UPDATE CASCADE)",
    "CREATE INDEX `aliases_mainname` ON `aliases` (`mainname`)",
    "CREATE TABLE `altnames` (`user_id` INTEGER NOT NULL REFERENCES `users` (`id`) ON DELETE CASCADE ON UPDATE CASCADE, \
     `altname` TEXT NOT NULL COLLATE NOCASE UNIQUE, PRIMARY KEY (`user_id`, `altname`))",
    "CREATE TABLE `user_properties` (`user_id` INTEGER NOT NULL REFERENCES `users` (`id`) ON DELETE CASCADE ON UPDATE CASCADE, \
     `proptag` INTEGER NOT NULL, `order_id` INTEGER NOT NULL DEFAULT 1, `propval_bin` BLOB, `propval_str` TEXT, \
     PRIMARY KEY (`user_id`, `proptag`, `order_id`))",
    "CREATE TABLE `mlists` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `listname` TEXT NOT NULL COLLATE NOCASE UNIQUE \
     REFERENCES `users` (`username`) ON DELETE CASCADE ON UPDATE CASCADE, `domain_id` INTEGER NOT NULL, \
     `list_type` INTEGER NOT NULL, `list_privilege` INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE `associations` (`list_id` INTEGER NOT NULL, `username` TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY (`list_id`, `username`))",
    "CREATE INDEX `associations_username` ON `associations` (`username`)",
    "CREATE TABLE `specifieds` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `username` TEXT NOT NULL COLLATE NOCASE, `list_id` INTEGER NOT NULL)",
    "CREATE INDEX `specifieds_list_id` ON `specifieds` (`list_id`)",
    "CREATE TABLE `classes` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `classname` TEXT NOT NULL, `listname` TEXT NOT NULL COLLATE NOCASE \
     REFERENCES `users` (`username`) ON DELETE CASCADE ON UPDATE CASCADE, `filters` TEXT, `domain_id` INTEGER NOT NULL)",
    "CREATE TABLE `forwards` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `username` TEXT NOT NULL COLLATE NOCASE UNIQUE, \
     `forward_type` INTEGER NOT NULL DEFAULT 0, `destination` TEXT NOT NULL COLLATE NOCASE)",
];

/// Schema version 1, MySQL/MariaDB (column types as in Gromox).
const V1_MYSQL: &[&str] = &[
    "CREATE TABLE `options` (`key` varchar(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, `value` varchar(255) DEFAULT NULL, \
     PRIMARY KEY (`key`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `orgs` (`id` int(10) unsigned NOT NULL AUTO_INCREMENT, `name` varchar(32) NOT NULL, `description` varchar(128) DEFAULT NULL, \
     PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `domains` (`id` int(10) unsigned NOT NULL AUTO_INCREMENT, `org_id` int(10) unsigned NOT NULL DEFAULT 0, \
     `domainname` varchar(255) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, `homeserver` tinyint(5) NOT NULL DEFAULT 0, \
     `homedir` varchar(128) NOT NULL DEFAULT '', `max_user` int(10) unsigned NOT NULL, `title` varchar(128) NOT NULL DEFAULT '', \
     `address` varchar(128) NOT NULL DEFAULT '', `admin_name` varchar(32) NOT NULL DEFAULT '', `tel` varchar(64) NOT NULL DEFAULT '', \
     `end_day` date NOT NULL, `domain_status` tinyint(4) NOT NULL DEFAULT 0, `sync_policy` text CHARACTER SET ascii COLLATE ascii_general_ci DEFAULT NULL, \
     `chat_id` varchar(26) DEFAULT NULL, PRIMARY KEY (`id`), UNIQUE KEY `domainname` (`domainname`), KEY `homedir` (`homedir`), \
     KEY `org_id` (`org_id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `groups` (`id` int(10) unsigned NOT NULL AUTO_INCREMENT, `groupname` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, \
     `password` varchar(136) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL DEFAULT '', `domain_id` int(10) unsigned NOT NULL, \
     `title` varchar(128) NOT NULL, PRIMARY KEY (`id`), UNIQUE KEY `groupname` (`groupname`), KEY `domain_id` (`domain_id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `users` (`id` int(10) unsigned NOT NULL AUTO_INCREMENT, `username` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, \
     `primary_email` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci DEFAULT NULL, `altname` varchar(64) DEFAULT NULL, \
     `password` varchar(136) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL DEFAULT '', `domain_id` int(10) unsigned NOT NULL, \
     `group_id` int(10) unsigned NOT NULL, `homeserver` tinyint(5) unsigned NOT NULL DEFAULT 0, `maildir` varchar(128) NOT NULL DEFAULT '', \
     `lang` varchar(32) NOT NULL DEFAULT '', `timezone` varchar(64) NOT NULL DEFAULT '', `privilege_bits` int(10) unsigned NOT NULL, \
     `address_status` tinyint(4) NOT NULL DEFAULT 0, `externid` varbinary(64) DEFAULT NULL, \
     `sync_policy` text CHARACTER SET ascii COLLATE ascii_general_ci DEFAULT NULL, `chat_id` varchar(26) DEFAULT NULL, \
     PRIMARY KEY (`id`), UNIQUE KEY `username` (`username`), UNIQUE KEY `domain_id_2` (`domain_id`,`username`), \
     UNIQUE KEY `group_id_2` (`group_id`,`username`), UNIQUE KEY `altname` (`altname`), KEY `group_id` (`group_id`), \
     KEY `domain_id` (`domain_id`), KEY `maildir` (`maildir`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `aliases` (`aliasname` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, \
     `mainname` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, PRIMARY KEY (`aliasname`), KEY `mainname` (`mainname`), \
     CONSTRAINT `aliases_ibfk_1` FOREIGN KEY (`mainname`) REFERENCES `users` (`username`) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `altnames` (`user_id` int(10) unsigned NOT NULL, `altname` varchar(320) NOT NULL, PRIMARY KEY (`user_id`,`altname`), \
     UNIQUE KEY `altname` (`altname`), CONSTRAINT `altnames_ibfk_1` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE ON UPDATE CASCADE) \
     ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `user_properties` (`user_id` int(10) unsigned NOT NULL, `proptag` int(10) unsigned NOT NULL, `order_id` int(10) unsigned NOT NULL DEFAULT 1, \
     `propval_bin` varbinary(4096) DEFAULT NULL, `propval_str` varchar(4096) DEFAULT NULL, PRIMARY KEY (`user_id`,`proptag`,`order_id`), \
     CONSTRAINT `user_properties_ibfk_1` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `mlists` (`id` int(10) unsigned NOT NULL AUTO_INCREMENT, `listname` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, \
     `domain_id` int(10) unsigned NOT NULL, `list_type` tinyint(4) NOT NULL, `list_privilege` tinyint(4) NOT NULL DEFAULT 0, PRIMARY KEY (`id`), \
     UNIQUE KEY `listname` (`listname`), KEY `domain_id` (`domain_id`), CONSTRAINT `mlists_ibfk_1` FOREIGN KEY (`listname`) REFERENCES `users` (`username`) \
     ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `associations` (`list_id` int(10) NOT NULL, `username` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, \
     PRIMARY KEY (`list_id`,`username`), KEY `username` (`username`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `specifieds` (`id` int(10) unsigned NOT NULL AUTO_INCREMENT, `username` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, \
     `list_id` int(10) NOT NULL, PRIMARY KEY (`id`), KEY `list_id` (`list_id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `classes` (`id` int(10) unsigned NOT NULL AUTO_INCREMENT, `classname` varchar(128) NOT NULL, \
     `listname` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, `filters` text DEFAULT NULL, `domain_id` int(10) unsigned NOT NULL, \
     PRIMARY KEY (`id`), KEY `listname` (`listname`), KEY `domain_id` (`domain_id`), CONSTRAINT `classes_ibfk_1` FOREIGN KEY (`domain_id`) REFERENCES `domains` (`id`), \
     CONSTRAINT `classes_ibfk_2` FOREIGN KEY (`listname`) REFERENCES `users` (`username`) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE `forwards` (`id` int(10) unsigned NOT NULL AUTO_INCREMENT, `username` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, \
     `forward_type` tinyint(4) NOT NULL DEFAULT 0, `destination` varchar(320) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, PRIMARY KEY (`id`), \
     UNIQUE KEY `username` (`username`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
];

/// One upgrade step: the version it produces and its statements per backend.
pub struct Upgrade {
    /// Version after this step.
    pub to: u32,
    /// What it does.
    pub what: &'static str,
    /// SQLite statements.
    pub sqlite: &'static [&'static str],
    /// MySQL statements.
    pub mysql: &'static [&'static str],
}

/// The numbered upgrade list (each step moves one version up).
pub const UPGRADES: &[Upgrade] = &[
    Upgrade {
        to: 2,
        what: "servers table (users.homeserver and domains.homeserver refer to servers.id)",
        sqlite: &["CREATE TABLE `servers` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `hostname` TEXT NOT NULL COLLATE NOCASE UNIQUE, \
                   `extname` TEXT NOT NULL COLLATE NOCASE)"],
        mysql: &["CREATE TABLE `servers` (`id` tinyint(5) unsigned NOT NULL AUTO_INCREMENT, `hostname` varchar(255) CHARACTER SET ascii \
                  COLLATE ascii_general_ci NOT NULL, `extname` varchar(255) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, \
                  PRIMARY KEY (`id`), UNIQUE KEY `hostname` (`hostname`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"],
    },
    Upgrade {
        to: 3,
        what: "orgparam table and altnames.magic",
        sqlite: &[
            "CREATE TABLE `orgparam` (`org_id` INTEGER NOT NULL REFERENCES `orgs` (`id`) ON DELETE CASCADE ON UPDATE CASCADE, \
             `key` TEXT NOT NULL COLLATE NOCASE, `value` TEXT, PRIMARY KEY (`org_id`, `key`))",
            "ALTER TABLE `altnames` ADD COLUMN `magic` INTEGER NOT NULL DEFAULT 0",
        ],
        mysql: &[
            "CREATE TABLE `orgparam` (`org_id` int(10) unsigned NOT NULL, `key` varchar(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL, \
             `value` varchar(255) DEFAULT NULL, PRIMARY KEY (`org_id`,`key`), CONSTRAINT `orgparam_ibfk_1` FOREIGN KEY (`org_id`) \
             REFERENCES `orgs` (`id`) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            "ALTER TABLE `altnames` ADD COLUMN `magic` int(10) unsigned NOT NULL DEFAULT 0",
        ],
    },
];

/// The version [`create`] and [`upgrade`] reach.
pub fn latest() -> u32 {
    UPGRADES.last().map_or(1, |u| u.to)
}

/// The schema version of the database, or None if it has no `options` table.
pub fn version(c: &mut Conn<'_>) -> Result<Option<u32>> {
    let probe = match c.kind() {
        Kind::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='options'",
        Kind::Mysql => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema=DATABASE() AND table_name='options'"
        }
    };
    let n = c.row(probe, &[])?.map_or(0, |r| r[0].int());
    if n == 0 {
        return Ok(None);
    }
    let v = c.row("SELECT `value` FROM `options` WHERE `key`='schemaversion'", &[])?;
    Ok(Some(v.map_or(0, |r| r[0].text().parse().unwrap_or(0))))
}

fn set_version(c: &mut Conn<'_>, v: u32) -> Result<()> {
    c.exec("DELETE FROM `options` WHERE `key`='schemaversion'", &[])?;
    c.exec(
        "INSERT INTO `options` (`key`, `value`) VALUES ('schemaversion', ?)",
        &[Val::Text(v.to_string())],
    )?;
    Ok(())
}

/// Create the schema in an empty database (version 1, then every upgrade step).
pub fn create(c: &mut Conn<'_>) -> Result<u32> {
    if let Some(v) = version(c)? {
        return Err(DirError::Schema(format!(
            "the database has a schema already (version {v}); use -U to upgrade"
        )));
    }
    let v1 = match c.kind() {
        Kind::Sqlite => V1_SQLITE,
        Kind::Mysql => V1_MYSQL,
    };
    // MySQL commits DDL implicitly, so no transaction around it; SQLite gets one.
    if c.kind() == Kind::Sqlite {
        c.tx(|c| {
            for s in v1 {
                c.batch(s)?;
            }
            set_version(c, 1)
        })?;
    } else {
        for s in v1 {
            c.batch(s)?;
        }
        set_version(c, 1)?;
    }
    upgrade(c)
}

/// Apply the upgrade steps above the database's version, one by one; returns the new version.
pub fn upgrade(c: &mut Conn<'_>) -> Result<u32> {
    let Some(mut v) = version(c)? else {
        return Err(DirError::Schema(
            "the database has no schema; use -C to create it".into(),
        ));
    };
    if v == 0 {
        return Err(DirError::Schema(
            "options.schemaversion is missing or not a number".into(),
        ));
    }
    if v > latest() {
        return Err(DirError::Schema(format!(
            "schema version {v} is newer than this program knows ({})",
            latest()
        )));
    }
    let from = v;
    for step in UPGRADES.iter().filter(|u| u.to > from) {
        let stmts = match c.kind() {
            Kind::Sqlite => step.sqlite,
            Kind::Mysql => step.mysql,
        };
        if c.kind() == Kind::Sqlite {
            c.tx(|c| {
                for s in stmts {
                    c.batch(s)?;
                }
                set_version(c, step.to)
            })?;
        } else {
            for s in stmts {
                c.batch(s)?;
            }
            set_version(c, step.to)?;
        }
        v = step.to;
    }
    Ok(v)
}

/// Check that the database is at the latest version (the daemons refuse anything else).
pub fn check(c: &mut Conn<'_>) -> Result<()> {
    match version(c)? {
        None => Err(DirError::Schema(
            "the directory database has no schema; run gromox-dbop -C".into(),
        )),
        Some(v) if v < latest() => Err(DirError::Schema(format!(
            "directory schema version {v} is older than {}; run gromox-dbop -U",
            latest()
        ))),
        Some(v) if v > latest() => Err(DirError::Schema(format!(
            "directory schema version {v} is newer than this program knows ({})",
            latest()
        ))),
        Some(_) => Ok(()),
    }
}

/// Create schema version 1 only (tests of the upgrade path).
pub fn create_v1_only(c: &mut Conn<'_>) -> Result<()> {
    let v1 = match c.kind() {
        Kind::Sqlite => V1_SQLITE,
        Kind::Mysql => V1_MYSQL,
    };
    for s in v1 {
        c.batch(s)?;
    }
    set_version(c, 1)
}
