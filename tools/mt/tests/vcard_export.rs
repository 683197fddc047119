//! `gromox-export --vcard`: contacts imported from the corpus vCards come back out as vCards
//! with the same names, e-mail addresses and phone numbers.

use gromox_convert::vcard_export::VcardVersion;
use gromox_mt::cli::{produce_files, Mode};
use gromox_mt::import::{Importer, Options};

#[test]
fn corpus_vcards_round_trip_through_a_store() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../common/convert/tests/fixtures/vcf");
    let files: Vec<String> = ["vobject-radicale-1238-0.vcf", "vobject-simple_3_0_test.vcf"]
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .filter(|p| std::path::Path::new(p).is_file())
        .collect();
    assert!(!files.is_empty(), "fixtures missing in {}", dir.display());
    let mut stream = Vec::new();
    let (n, failed) = produce_files(&mut stream, &files, Mode::Vcard, &mut Vec::new()).unwrap();
    assert!(n > 0 && failed == 0);
    let t = tempfile::tempdir().unwrap();
    let mut s = exmdbd::Store::create_private(t.path(), "alice@example.org", "en", false, &Default::default()).unwrap();
    Importer::new(&mut s, Options::default(), Box::new(std::io::sink()))
        .unwrap()
        .run(&stream[..], &mut Vec::new())
        .unwrap();
    let mut out = Vec::new();
    let exported = gromox_mt::export::export_vcard(&s, 0x09, VcardVersion::V30, &mut out, &mut Vec::new()).unwrap();
    assert_eq!(exported, n);
    let text = String::from_utf8(out).unwrap();
    let back = gromox_convert::vcard::vcards_to_contacts(&text);
    assert_eq!(back.len() as u64, n);
    // Same display names (as a set) as a direct conversion of the input files.
    let mut want: Vec<String> = files
        .iter()
        .flat_map(|f| gromox_convert::vcard::vcards_to_contacts(&String::from_utf8_lossy(&std::fs::read(f).unwrap())))
        .filter_map(|c| c.get_str(0x3001).map(str::to_string))
        .collect();
    let mut got: Vec<String> = back
        .iter()
        .filter_map(|c| c.get_str(0x3001).map(str::to_string))
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

/// A distribution list (a group vCard) imported into the Contacts folder comes back out as a
/// vCard 4.0 group with its members, and as the 3.0 Apple form.
#[test]
fn distribution_lists_export_as_group_vcards() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("team.vcf");
    std::fs::write(
        &src,
        "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nFN:Team\r\nMEMBER:mailto:ann@example.org\r\n\
         MEMBER:mailto:ben@example.org\r\nEND:VCARD\r\n",
    )
    .unwrap();
    let mut stream = Vec::new();
    let files = vec![src.display().to_string()];
    assert_eq!(
        produce_files(&mut stream, &files, Mode::Vcard, &mut Vec::new()).unwrap(),
        (1, 0)
    );
    let sdir = t.path().join("store");
    let mut s = exmdbd::Store::create_private(&sdir, "alice@example.org", "en", false, &Default::default()).unwrap();
    Importer::new(&mut s, Options::default(), Box::new(std::io::sink()))
        .unwrap()
        .run(&stream[..], &mut Vec::new())
        .unwrap();
    assert_eq!(s.list_messages(exmdbd::layout::fid::CONTACTS, false).unwrap().len(), 1);
    for (version, want) in [
        (
            VcardVersion::V40,
            [
                "KIND:group",
                "MEMBER:mailto:ann@example.org",
                "MEMBER:mailto:ben@example.org",
            ],
        ),
        (
            VcardVersion::V30,
            [
                "X-ADDRESSBOOKSERVER-KIND:group",
                "X-ADDRESSBOOKSERVER-MEMBER:mailto:ann@example.org",
                "X-ADDRESSBOOKSERVER-MEMBER:mailto:ben@example.org",
            ],
        ),
    ] {
        let mut out = Vec::new();
        let n = gromox_mt::export::export_vcard(&s, 0x09, version, &mut out, &mut Vec::new()).unwrap();
        assert_eq!(n, 1);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("FN:Team\r\n"), "{text}");
        for w in want {
            assert!(text.lines().any(|l| l.starts_with(w)), "{w} missing in {text}");
        }
    }
}
