//! `gromox-export --vcard`: contacts imported from the corpus vCards come back out as vCards
//! with the same names, e-mail addresses and phone numbers.

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
    let exported = gromox_mt::export::export_vcard(&s, 0x09, &mut out, &mut Vec::new()).unwrap();
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
