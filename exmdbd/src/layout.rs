//! Default folder trees of private and public stores, at Gromox's fixed folder ids, with
//! localized display names.

/// Fixed private folder ids (Gromox's PRIVATE_FID_*).
pub mod fid {
    pub const ROOT: u64 = 0x01;
    pub const DEFERRED_ACTION: u64 = 0x02;
    pub const SPOOLER_QUEUE: u64 = 0x03;
    pub const SHORTCUTS: u64 = 0x04;
    pub const FINDER: u64 = 0x05;
    pub const VIEWS: u64 = 0x06;
    pub const COMMON_VIEWS: u64 = 0x07;
    pub const SCHEDULE: u64 = 0x08;
    pub const IPMSUBTREE: u64 = 0x09;
    pub const SENT_ITEMS: u64 = 0x0a;
    pub const DELETED_ITEMS: u64 = 0x0b;
    pub const OUTBOX: u64 = 0x0c;
    pub const INBOX: u64 = 0x0d;
    pub const DRAFT: u64 = 0x0e;
    pub const CALENDAR: u64 = 0x0f;
    pub const JOURNAL: u64 = 0x10;
    pub const NOTES: u64 = 0x11;
    pub const TASKS: u64 = 0x12;
    pub const CONTACTS: u64 = 0x13;
    pub const QUICKCONTACTS: u64 = 0x14;
    pub const IMCONTACTLIST: u64 = 0x15;
    pub const GALCONTACTS: u64 = 0x16;
    pub const JUNK: u64 = 0x17;
    pub const LOCAL_FREEBUSY: u64 = 0x18;
    pub const SYNC_ISSUES: u64 = 0x19;
    pub const CONFLICTS: u64 = 0x1a;
    pub const LOCAL_FAILURES: u64 = 0x1b;
    pub const SERVER_FAILURES: u64 = 0x1c;
    pub const CONVERSATION_ACTION_SETTINGS: u64 = 0x1d;
    /// Public store: root, IPM_SUBTREE, NON_IPM_SUBTREE, EFORMS REGISTRY.
    pub const PUB_ROOT: u64 = 0x01;
    pub const PUB_IPMSUBTREE: u64 = 0x02;
    pub const PUB_NONIPMSUBTREE: u64 = 0x03;
    pub const PUB_EFORMSREGISTRY: u64 = 0x04;
    /// First id of the store-wide range used for new folders.
    pub const FIRST_CUSTOM: u64 = 0x100;
}

/// One default folder.
#[derive(Debug, Clone, Copy)]
pub struct DefaultFolder {
    pub id: u64,
    pub parent: Option<u64>,
    /// Key into the name table (English name).
    pub name: &'static str,
    pub container_class: Option<&'static str>,
    /// Hidden from IPM views (PR_ATTR_HIDDEN).
    pub hidden: bool,
}

const fn f(id: u64, parent: u64, name: &'static str, cc: Option<&'static str>, hidden: bool) -> DefaultFolder {
    DefaultFolder {
        id,
        parent: Some(parent),
        name,
        container_class: cc,
        hidden,
    }
}

/// The private tree in creation order (the order fixes the change numbers, as in Gromox).
pub const PRIVATE_TREE: &[DefaultFolder] = &[
    DefaultFolder {
        id: fid::ROOT,
        parent: None,
        name: "Root Container",
        container_class: None,
        hidden: true,
    },
    f(fid::IPMSUBTREE, fid::ROOT, "Top of Information Store", None, false),
    f(fid::INBOX, fid::IPMSUBTREE, "Inbox", Some("IPF.Note"), false),
    f(fid::DRAFT, fid::IPMSUBTREE, "Drafts", Some("IPF.Note"), false),
    f(fid::OUTBOX, fid::IPMSUBTREE, "Outbox", Some("IPF.Note"), false),
    f(fid::SENT_ITEMS, fid::IPMSUBTREE, "Sent Items", Some("IPF.Note"), false),
    f(
        fid::DELETED_ITEMS,
        fid::IPMSUBTREE,
        "Deleted Items",
        Some("IPF.Note"),
        false,
    ),
    f(fid::CONTACTS, fid::IPMSUBTREE, "Contacts", Some("IPF.Contact"), false),
    f(
        fid::CALENDAR,
        fid::IPMSUBTREE,
        "Calendar",
        Some("IPF.Appointment"),
        false,
    ),
    f(fid::JOURNAL, fid::IPMSUBTREE, "Journal", Some("IPF.Journal"), false),
    f(fid::NOTES, fid::IPMSUBTREE, "Notes", Some("IPF.StickyNote"), false),
    f(fid::TASKS, fid::IPMSUBTREE, "Tasks", Some("IPF.Task"), false),
    f(
        fid::QUICKCONTACTS,
        fid::CONTACTS,
        "Quick Contacts",
        Some("IPF.Contact.MOC.QuickContacts"),
        true,
    ),
    f(
        fid::IMCONTACTLIST,
        fid::CONTACTS,
        "IM Contacts List",
        Some("IPF.Contact.MOC.ImContactList"),
        true,
    ),
    f(
        fid::GALCONTACTS,
        fid::CONTACTS,
        "GAL Contacts",
        Some("IPF.Contact.GalContacts"),
        true,
    ),
    f(fid::JUNK, fid::IPMSUBTREE, "Junk Email", Some("IPF.Note"), false),
    f(
        fid::CONVERSATION_ACTION_SETTINGS,
        fid::IPMSUBTREE,
        "Conversation Action Settings",
        Some("IPF.Configuration"),
        true,
    ),
    f(fid::DEFERRED_ACTION, fid::ROOT, "Deferred Action", None, true),
    f(fid::COMMON_VIEWS, fid::ROOT, "Common Views", None, true),
    f(fid::SCHEDULE, fid::ROOT, "Schedule", None, true),
    f(fid::FINDER, fid::ROOT, "Finder", None, true),
    f(fid::VIEWS, fid::ROOT, "Views", None, true),
    f(fid::SHORTCUTS, fid::ROOT, "Shortcuts", None, true),
    f(
        fid::SYNC_ISSUES,
        fid::IPMSUBTREE,
        "Sync Issues",
        Some("IPF.Note"),
        false,
    ),
    f(fid::CONFLICTS, fid::SYNC_ISSUES, "Conflicts", Some("IPF.Note"), false),
    f(
        fid::LOCAL_FAILURES,
        fid::SYNC_ISSUES,
        "Local Failures",
        Some("IPF.Note"),
        false,
    ),
    f(
        fid::SERVER_FAILURES,
        fid::SYNC_ISSUES,
        "Server Failures",
        Some("IPF.Note"),
        false,
    ),
    f(fid::LOCAL_FREEBUSY, fid::ROOT, "Freebusy Data", None, true),
    f(fid::SPOOLER_QUEUE, fid::ROOT, "Spooler Queue", Some("IPF.Note"), true),
];

/// The public tree.
pub const PUBLIC_TREE: &[DefaultFolder] = &[
    DefaultFolder {
        id: fid::PUB_ROOT,
        parent: None,
        name: "Root Container",
        container_class: None,
        hidden: true,
    },
    f(fid::PUB_IPMSUBTREE, fid::PUB_ROOT, "IPM_SUBTREE", None, false),
    f(fid::PUB_NONIPMSUBTREE, fid::PUB_ROOT, "NON_IPM_SUBTREE", None, true),
    f(
        fid::PUB_EFORMSREGISTRY,
        fid::PUB_NONIPMSUBTREE,
        "EFORMS REGISTRY",
        None,
        true,
    ),
];

/// Receive folders of a new private store (message class → folder).
pub const RECEIVE_TABLE: &[(&str, u64)] = &[
    ("", fid::INBOX),
    ("IPC", fid::ROOT),
    ("IPM", fid::INBOX),
    ("REPORT.IPM", fid::INBOX),
];

/// Languages with translated folder names.
pub const LANGUAGES: &[&str] = &["en", "de", "fr", "es", "it", "nl", "pt", "ja", "zh"];

// Order of the translated names in each row of NAMES.
const KEYS: [&str; 16] = [
    "Top of Information Store",
    "Inbox",
    "Drafts",
    "Outbox",
    "Sent Items",
    "Deleted Items",
    "Calendar",
    "Journal",
    "Notes",
    "Tasks",
    "Contacts",
    "Junk Email",
    "Sync Issues",
    "Conflicts",
    "Local Failures",
    "Server Failures",
];

const NAMES: &[(&str, [&str; 16])] = &[
    (
        "de",
        [
            "Oberste Ebene des Informationsspeichers",
            "Posteingang",
            "Entwürfe",
            "Postausgang",
            "Gesendete Elemente",
            "Gelöschte Elemente",
            "Kalender",
            "Journal",
            "Notizen",
            "Aufgaben",
            "Kontakte",
            "Junk-E-Mail",
            "Synchronisierungsprobleme",
            "Konflikte",
            "Lokale Fehler",
            "Serverfehler",
        ],
    ),
    (
        "fr",
        [
            "Haut de la banque d'informations",
            "Boîte de réception",
            "Brouillons",
            "Boîte d'envoi",
            "Éléments envoyés",
            "Éléments supprimés",
            "Calendrier",
            "Journal",
            "Notes",
            "Tâches",
            "Contacts",
            "Courrier indésirable",
            "Problèmes de synchronisation",
            "Conflits",
            "Échecs locaux",
            "Échecs du serveur",
        ],
    ),
    (
        "es",
        [
            "Parte superior del almacén de información",
            "Bandeja de entrada",
            "Borradores",
            "Bandeja de salida",
            "Elementos enviados",
            "Elementos eliminados",
            "Calendario",
            "Diario",
            "Notas",
            "Tareas",
            "Contactos",
            "Correo no deseado",
            "Problemas de sincronización",
            "Conflictos",
            "Errores locales",
            "Errores del servidor",
        ],
    ),
    (
        "it",
        [
            "Inizio archivio informazioni",
            "Posta in arrivo",
            "Bozze",
            "Posta in uscita",
            "Posta inviata",
            "Posta eliminata",
            "Calendario",
            "Diario",
            "Note",
            "Attività",
            "Contatti",
            "Posta indesiderata",
            "Problemi di sincronizzazione",
            "Conflitti",
            "Errori locali",
            "Errori del server",
        ],
    ),
    (
        "nl",
        [
            "Bovenkant van gegevensarchief",
            "Postvak IN",
            "Concepten",
            "Postvak UIT",
            "Verzonden items",
            "Verwijderde items",
            "Agenda",
            "Journaal",
            "Notities",
            "Taken",
            "Contactpersonen",
            "Ongewenste e-mail",
            "Synchronisatieproblemen",
            "Conflicten",
            "Lokale fouten",
            "Serverfouten",
        ],
    ),
    (
        "pt",
        [
            "Topo do Repositório de Informações",
            "Caixa de Entrada",
            "Rascunhos",
            "Caixa de Saída",
            "Itens Enviados",
            "Itens Excluídos",
            "Calendário",
            "Diário",
            "Anotações",
            "Tarefas",
            "Contatos",
            "Lixo Eletrônico",
            "Problemas de Sincronização",
            "Conflitos",
            "Falhas Locais",
            "Falhas do Servidor",
        ],
    ),
    (
        "ja",
        [
            "情報ストアのトップ",
            "受信トレイ",
            "下書き",
            "送信トレイ",
            "送信済みアイテム",
            "削除済みアイテム",
            "予定表",
            "履歴",
            "メモ",
            "タスク",
            "連絡先",
            "迷惑メール",
            "同期の失敗",
            "競合",
            "ローカルエラー",
            "サーバーエラー",
        ],
    ),
    (
        "zh",
        [
            "信息存储顶部",
            "收件箱",
            "草稿",
            "发件箱",
            "已发送邮件",
            "已删除邮件",
            "日历",
            "日记",
            "便笺",
            "任务",
            "联系人",
            "垃圾邮件",
            "同步问题",
            "冲突",
            "本地失败",
            "服务器失败",
        ],
    ),
];

/// The display name of a default folder in `lang` (`de`, `de_DE`, `de-AT.UTF-8` all select
/// German); English for unknown languages and untranslated folders.
pub fn folder_name(english: &'static str, lang: &str) -> &'static str {
    let l = lang.get(..2).unwrap_or("en").to_ascii_lowercase();
    let Some(idx) = KEYS.iter().position(|k| *k == english) else {
        return english;
    };
    NAMES
        .iter()
        .find(|(code, _)| *code == l)
        .map(|(_, row)| row[idx])
        .unwrap_or(english)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names() {
        assert_eq!(folder_name("Inbox", "de_DE.UTF-8"), "Posteingang");
        assert_eq!(folder_name("Inbox", "xx"), "Inbox");
        assert_eq!(folder_name("Root Container", "de"), "Root Container");
        assert_eq!(folder_name("Sent Items", "ja"), "送信済みアイテム");
    }
}
