use crate::assist::redact::{redact, PiiKind};

#[test]
fn passports_dates_and_spelled_out_emails_are_redacted() {
    let r = redact(
        "passeport GK1234567 né le 12/05/1985, écrivez à karim at gmail dot com ou k [at] mail [dot] ma",
    );
    assert_eq!(
        r.text,
        "passeport [PASSPORT] né le [DATE], écrivez à [EMAIL] ou [EMAIL]"
    );
    assert_eq!(
        r.found,
        [
            PiiKind::Passport,
            PiiKind::Date,
            PiiKind::Email,
            PiiKind::Email
        ]
    );
    assert_eq!(redact("date: 1985-05-12").text, "date: [DATE]");
}

#[test]
fn years_service_codes_and_prose_stay() {
    for s in [
        "formulaire 2024 pour le permis",
        "I was at home, dot matrix printer",
        "CIN expirée en 2019",
        "page 12 of 30",
    ] {
        assert_eq!(redact(s).text, s, "{s}");
    }
}
