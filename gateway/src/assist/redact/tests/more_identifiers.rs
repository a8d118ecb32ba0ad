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

#[test]
fn a_foreign_number_in_international_form_is_one_phone() {
    for s in [
        "+33 6 12 34 56 78",
        "+33612345678",
        "+34 612 34 56 78",
        "+1 (555) 123-4567",
    ] {
        let r = redact(&format!("appelez-moi au {s} svp"));
        assert_eq!(r.text, "appelez-moi au [PHONE] svp", "{s}");
        assert_eq!(r.found, [PiiKind::Phone], "{s}");
    }
    for amount in ["une hausse de +12 000 000 dh", "+15 000 000 mad de plus"] {
        assert_eq!(redact(amount).text, amount, "an amount");
    }
}

/// Found in the last read: "33 6 12 34 56 78" (no `+`) reached the LLM as "[CNSS] 78".
#[test]
fn a_foreign_number_spaced_as_a_phone_without_its_plus_is_one_phone() {
    for s in ["33 6 12 34 56 78", "34 612 34 56 78", "44 7 911 123 456"] {
        let r = redact(&format!("appelez-moi au {s} svp"));
        assert_eq!(r.text, "appelez-moi au [PHONE] svp", "{s}");
    }
    // A list is no phone (from review), nor four groups.
    for kept in ["articles 12, 15, 18, 21, 25, 30", "page 12 of 30"] {
        assert_eq!(redact(kept).text, kept, "{kept}");
    }
    assert_eq!(
        redact("appelez le 33.6.12.34.56.78").text,
        "appelez le [PHONE]"
    );
    assert_eq!(redact("tel:0612345678 2 fois").text, "tel:[PHONE] 2 fois");
}

/// Found when tried: "1 415 555 2671" reached the LLM as written.
#[test]
fn a_north_american_number_without_its_plus_is_one_phone() {
    for s in [
        "1 415 555 2671",
        "415-555-2671",
        "1.212.555.0199",
        "415 555 2671",
    ] {
        let r = redact(&format!("my number is {s} thanks"));
        assert_eq!(r.text, "my number is [PHONE] thanks", "{s}");
    }
    // Not that shape: mixed separators, an area code starting with 1, a last group of
    // three, a price list (a unit after it: from review).
    for kept in [
        "415 555-2671",
        "115 555 2671",
        "1 415 555 267",
        "300 400 5000 dh",
        "prix: 300 400 5000 dirhams",
    ] {
        assert!(!redact(kept).text.contains("[PHONE]"), "{kept}");
    }
}

#[test]
fn a_cin_with_its_letters_spaced_like_its_digits_is_redacted_whole() {
    for s in ["CIN A B 1 2 3 4 5 6", "cin a b 123456", "A B 123456"] {
        let r = redact(s);
        assert!(
            r.text.ends_with("[CIN]") && !r.text.contains(" a ") && !r.text.contains(" A "),
            "{s}: {}",
            r.text
        );
    }
    assert_eq!(
        redact("il y a 12345 personnes").text,
        "il y a 12345 personnes"
    );
}

#[test]
fn a_cin_whose_parts_are_joined_by_dots_slashes_or_underscores_is_redacted_whole() {
    for s in [
        "declaration A.B.123456",
        "declaration A/B/123456",
        "declaration A_B_123456",
        "declaration A-B-123456",
        "declaration AB.123.456",
        "declaration BE/987654",
    ] {
        let r = redact(s);
        assert_eq!(r.text, "declaration [CIN]", "{s}");
    }
    let r = redact("declaration ب.ه.987654");
    assert_eq!(r.text, "declaration [CIN]");
}
