//! The gaps a data-protection audit (Law 09-08) reproduced: each of these reached the LLM
//! and the feedback store as written.
use crate::assist::redact::{redact, PiiKind};

fn r(s: &str) -> String {
    redact(s).text
}

/// The audit's query: a request the router sends to the LLM, then the data.
const PREFIX: &str = "je voudrais un papier pour mon fils, mon salaire 12000 dh, ";

#[test]
fn a_phone_number_a_cin_was_seen_in_is_redacted_whole() {
    let sent = r("K 06 12 34 56 78");
    assert!(!sent.contains("56") && !sent.contains("78"), "{sent}");
}

#[test]
fn the_audit_query_keeps_its_request_and_loses_the_data() {
    let sent = redact(&format!("{PREFIX}séropositif")).normalized();
    assert_eq!(
        sent,
        "je voudrais un papier pour mon fils mon salaire 12000 dh [HEALTH]"
    );
}

#[test]
fn french_health_words_are_redacted() {
    for (text, kept) in [
        ("je suis séropositif", "je suis [HEALTH]"),
        ("elle est seropositive", "elle est [HEALTH]"),
        ("mon fils est handicapé moteur", "mon fils est [HEALTH]"),
        ("handicape", "[HEALTH]"),
        ("il est schizophrène", "il est [HEALTH]"),
    ] {
        assert_eq!(r(text), kept, "{text}");
    }
}

#[test]
fn arabic_and_darija_health_words_are_redacted() {
    assert_eq!(r("ابني مريض بالسرطان"), "ابني [HEALTH]");
    assert_eq!(r("ولدي معاق"), "ولدي [HEALTH]");
    assert_eq!(r("ana fiya sukkar"), "ana [HEALTH]");
    assert_eq!(r("3ndi sokar o bghit"), "[HEALTH] o bghit");
    assert_eq!(redact("معاق").found, [PiiKind::Health]);
}

#[test]
fn health_insurance_words_stay() {
    for s in [
        "ملف المرض ديالي فين وصل",
        "dossier maladie f cnss",
        "feuille de maladie, je suis malade",
        "ana mrid bghit maw3id",
    ] {
        assert_eq!(r(s), s, "{s}");
    }
}

#[test]
fn sexual_orientation_is_redacted() {
    for (text, kept) in [
        ("je suis homosexuel", "je suis [ORIENTATION]"),
        ("I am gay", "I am [ORIENTATION]"),
        ("she is a lesbian", "she is a [ORIENTATION]"),
        ("انا مثلي الجنس", "انا [ORIENTATION]"),
    ] {
        assert_eq!(r(text), kept, "{text}");
    }
    assert_eq!(redact("gay").found, [PiiKind::Orientation]);
}

#[test]
fn religion_and_conversion_are_redacted() {
    for (text, kept) in [
        ("converti au christianisme", "[BELIEF]"),
        ("I converted to Islam last year", "I [BELIEF] last year"),
        ("اعتنق المسيحية", "[BELIEF]"),
        ("ana tanssara", "ana [BELIEF]"),
        ("il est juif", "il est [BELIEF]"),
    ] {
        assert_eq!(r(text), kept, "{text}");
    }
    assert_eq!(redact("athée").found, [PiiKind::Belief]);
}

#[test]
fn religious_affairs_service_words_stay() {
    for s in [
        "inscription au tirage du hajj",
        "ministère des Habous et des Affaires islamiques",
        "convertir mon permis étranger",
        "التسجيل في قرعة الحج",
    ] {
        assert_eq!(r(s), s, "{s}");
    }
}

#[test]
fn a_persons_conviction_or_detention_is_redacted() {
    for (text, kept) in [
        ("condamne pour vol", "[CONVICTION]"),
        ("ابني محكوم عليه بالسجن", "ابني [CONVICTION]"),
        ("detenu numero 4567 prison oukacha", "[CONVICTION]"),
        ("my son is in prison", "my son is in [CONVICTION]"),
    ] {
        assert_eq!(r(text), kept, "{text}");
    }
    assert_eq!(redact("condamné pour vol").found, [PiiKind::Conviction]);
}

#[test]
fn criminal_record_service_words_stay_after_a_conviction() {
    assert_eq!(
        r("condamné à 2 ans, besoin extrait du casier judiciaire"),
        "[CONVICTION], besoin extrait du casier judiciaire"
    );
    assert_eq!(
        r("محكوم عليه بالسجن و بغيت السجل العدلي"),
        "[CONVICTION] و بغيت السجل العدلي"
    );
    for s in [
        "extrait du casier judiciaire",
        "السجل العدلي",
        "شهادة السوابق العدلية",
        "fiche anthropométrique",
        "attestation de non condamnation",
        "أداء الغرامات المحكوم بها في مخالفات الرادار",
    ] {
        assert_eq!(r(s), s, "{s}");
    }
}

#[test]
fn a_cin_typed_with_arabic_letters_is_redacted() {
    for (text, kept) in [
        ("ب ج 123456", "[CIN]"),
        ("ك 123456", "[CIN]"),
        ("رقم البطاقة ب ج 123456", "رقم البطاقة [CIN]"),
        ("رقم البطاقة ك 12 34 56", "رقم البطاقة [CIN]"),
        ("بج123456", "[CIN]"),
    ] {
        assert_eq!(r(text), kept, "{text}");
    }
}

#[test]
fn an_amount_after_an_arabic_one_letter_word_is_no_cin() {
    for s in ["شريت دار ب 250000 درهم", "و 12000 dh", "ف 2015"] {
        assert_eq!(r(s), s, "{s}");
    }
    // A phone number after "ب" is a phone number, not a CIN and its last digits.
    assert_eq!(r("ب 06 12 34 56 78"), "ب [PHONE]");
}

#[test]
fn dates_written_with_month_names_are_redacted() {
    for (text, kept) in [
        ("12 mars 2015", "[DATE]"),
        ("12 مارس 2015", "[DATE]"),
        ("né le 12 mars", "né le [DATE]"),
        ("le 1er mai 1990", "le [DATE]"),
        ("born on March 12, 2015", "born on [DATE]"),
        ("مزداد في 3 غشت", "مزداد في [DATE]"),
        ("12 كانون الثاني 1980", "[DATE]"),
        ("3 yulyuz 2001", "[DATE]"),
    ] {
        assert_eq!(r(text), kept, "{text}");
    }
}

#[test]
fn a_month_and_a_year_alone_stay() {
    for s in [
        "déclaration TVA de mars 2024",
        "consulter les notes du 1er semestre",
        "le 12 de chaque mois",
        "vignette 2025",
    ] {
        assert_eq!(r(s), s, "{s}");
    }
}

#[test]
fn a_birth_date_after_a_birth_cue_is_redacted_whatever_its_year() {
    assert_eq!(r("né le 12/03/2018"), "né le [DATE]");
    assert_eq!(r("ولدي مزداد 12 مارس 2019"), "ولدي مزداد [DATE]");
    // Without a cue a recent date is an appointment.
    assert_eq!(r("rdv le 12/05/2025"), "rdv le 12/05/2025");
}

#[test]
fn student_numbers_are_redacted() {
    assert_eq!(r("code massar r130012345"), "code massar [STUDENT_ID]");
    assert_eq!(r("CNE R130012345 svp"), "CNE [STUDENT_ID] svp");
    assert_eq!(redact("R130012345").found, [PiiKind::StudentId]);
}

#[test]
fn moroccan_plates_are_redacted() {
    for (text, kept) in [
        ("tomobil 12345 a 6", "tomobil [PLATE]"),
        ("12345-أ-6", "[PLATE]"),
        ("12345 | ب | 6", "[PLATE]"),
        ("matricule 1234-B-26.", "matricule [PLATE]."),
    ] {
        assert_eq!(r(text), kept, "{text}");
    }
}

#[test]
fn ranges_amounts_and_years_are_no_plates() {
    for s in [
        "de 10 a 15 jours",
        "j'ai 2 enfants de 3 a 4 ans",
        "aide de 500 dh pour 3 a 4 mois",
        "vignette 2024 a 15h",
        "formulaire W18 pour la carte grise",
    ] {
        assert_eq!(r(s), s, "{s}");
    }
}

#[test]
fn a_darija_address_without_capitals_is_redacted() {
    assert_eq!(r("hay nahda zanka 12 rabat"), "[ADDRESS]");
    assert_eq!(r("ana sakn f derb sultan"), "ana sakn f [ADDRESS]");
    // A request's own words stay.
    assert_eq!(
        r("acheter un appartement avec daam sakane 2024"),
        "acheter un appartement avec daam sakane 2024"
    );
}

#[test]
fn a_given_name_partly_missing_from_the_lists_is_redacted_whole() {
    assert_eq!(r("ana fatima zahra bennani"), "ana [NAME]");
    assert_eq!(r("Mme Benali fatima zahra"), "Mme [NAME]");
}

#[test]
fn a_family_name_after_a_cued_given_name_is_redacted() {
    assert_eq!(r("ana youssef lmssari"), "ana [NAME]");
    assert_eq!(
        r("ana Youssef lmssari bghit passport"),
        "ana [NAME] bghit passport"
    );
    // Words of the request after the name stay.
    assert_eq!(r("ana youssef passeport"), "ana [NAME] passeport");
}

#[test]
fn every_placeholder_survives_normalisation() {
    for kind in PiiKind::ALL {
        let text = super::Redacted {
            text: format!("a {} b", kind.placeholder()),
            found: vec![kind],
        };
        assert_eq!(
            text.normalized(),
            format!("a {} b", kind.placeholder()),
            "{kind:?}"
        );
    }
}

#[test]
fn the_audit_prefix_stays_whatever_follows() {
    for x in [
        "homosexuel",
        "condamne pour vol",
        "ب ج 123456",
        "12 mars 2015",
        "r130012345",
        "12345 a 6",
        "hay nahda zanka 12 rabat",
    ] {
        let out = r(&format!("{PREFIX}{x}"));
        assert!(out.starts_with(PREFIX), "{x}: {out}");
        assert!(out[PREFIX.len()..].starts_with('['), "{x}: {out}");
    }
}
