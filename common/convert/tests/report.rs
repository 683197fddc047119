//! MDN and DSN generation: the reports read back through our own MIME
//! import as the report classes Outlook shows as read receipts and
//! non-delivery reports.

use gromox_convert::mime_in::mime_to_mapi;
use gromox_convert::props::filetime;
use gromox_convert::report::{dsn, mdn, Action, Disposition, RecipientStatus};

const ORIGINAL: &[u8] = b"From: Olga Sender <olga@example.org>\r\nTo: ann@example.net, bob@example.net\r\nSubject: Quarterly numbers\r\nMessage-ID: <q1@example.org>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nDisposition-Notification-To: olga@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n";

fn when() -> u64 {
    filetime(2026, 11, 23, 8, 30, 0).unwrap()
}

fn class(raw: &[u8]) -> String {
    mime_to_mapi(raw).get_str(0x001A).unwrap_or("").to_string()
}

#[test]
fn read_receipt_and_deletion_notice() {
    let original = mime_to_mapi(ORIGINAL);
    let r = mdn(
        &original,
        Disposition::Displayed,
        "ann@example.net",
        "gromox-rs; exmdbd",
        when(),
    );
    let text = String::from_utf8_lossy(&r).into_owned();
    assert!(
        text.contains("Content-Type: multipart/report; report-type=disposition-notification;"),
        "{text}"
    );
    assert!(text.contains("To: Olga Sender <olga@example.org>\r\n"), "{text}");
    assert!(text.contains("Subject: Read: Quarterly numbers\r\n"), "{text}");
    assert!(text.contains("Original-Message-ID: <q1@example.org>\r\n"), "{text}");
    assert!(
        text.contains("Disposition: manual-action/MDN-sent-manually; displayed\r\n"),
        "{text}"
    );
    assert!(text.contains("Content-Type: text/rfc822-headers\r\n"), "{text}");
    assert!(text.contains("Date: Mon, 23 Nov 2026 08:30:00 +0000\r\n"), "{text}");
    assert_eq!(class(&r), "REPORT.IPM.Note.IPNRN");
    let d = mdn(&original, Disposition::Deleted, "ann@example.net", "gromox-rs", when());
    assert!(String::from_utf8_lossy(&d).contains("automatic-action/MDN-sent-automatically; deleted"));
    assert_eq!(class(&d), "REPORT.IPM.Note.IPNNRN");
}

fn st(rcpt: &str, action: Action, status: &str, diag: Option<&str>) -> RecipientStatus {
    RecipientStatus {
        recipient: rcpt.into(),
        action,
        status: status.into(),
        diagnostic: diag.map(str::to_string),
        remote_mta: None,
    }
}

#[test]
fn bounces_delays_and_successes() {
    let r = dsn(
        ORIGINAL,
        Some("bounces@example.org"),
        &[
            st(
                "ann@example.net",
                Action::Failed,
                "5.1.1",
                Some("550 5.1.1 User unknown"),
            ),
            st("bob@example.net", Action::Delivered, "2.0.0", None),
        ],
        "mx.example.net",
        when(),
    );
    let text = String::from_utf8_lossy(&r).into_owned();
    assert!(text.contains("report-type=delivery-status"), "{text}");
    assert!(text.contains("To: <bounces@example.org>\r\n"), "{text}");
    assert!(
        text.contains("From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"),
        "{text}"
    );
    assert!(text.contains("Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; ann@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\nFinal-Recipient: rfc822; bob@example.net\r\nAction: delivered\r\nStatus: 2.0.0\r\n"), "{text}");
    assert!(
        text.contains("Subject: Quarterly numbers\r\nMessage-ID: <q1@example.org>"),
        "original headers\n{text}"
    );
    assert_eq!(class(&r), "REPORT.IPM.Note.NDR");

    let ok = dsn(
        ORIGINAL,
        None,
        &[st("bob@example.net", Action::Delivered, "2.0.0", None)],
        "mx",
        when(),
    );
    assert!(String::from_utf8_lossy(&ok).contains("To: Olga Sender <olga@example.org>\r\n"));
    assert_eq!(class(&ok), "REPORT.IPM.Note.DR");
    let later = dsn(
        ORIGINAL,
        None,
        &[st("bob@example.net", Action::Delayed, "4.4.1", None)],
        "mx",
        when(),
    );
    assert_eq!(class(&later), "REPORT.IPM.Note.Delayed.DR");
    // Bad input stays inside its field: no injected header, default status.
    let evil = dsn(
        ORIGINAL,
        Some("x@y\r\nBcc: victim@example.org"),
        &[st(
            "a@b\r\nX-Evil: 1",
            Action::Failed,
            "9.9.9\r\nX: y",
            Some("boom\r\nX-Evil: 2"),
        )],
        "mx",
        when(),
    );
    let e = String::from_utf8_lossy(&evil).into_owned();
    assert!(
        !e.contains("\r\nBcc:") && !e.contains("\r\nX-Evil:") && !e.contains("\r\nX: y"),
        "{e}"
    );
    assert!(e.contains("Status: 5.0.0\r\n"), "{e}");
}
