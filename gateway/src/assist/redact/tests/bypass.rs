//! Variants an outside bypass probe sent after the audit's request: each reached the LLM
//! and the feedback store as written (only normalised), or, for the workplace, lost a
//! word that is no personal data.
use crate::assist::redact::{redact, PiiKind};

/// The text the LLM is sent.
fn sent(s: &str) -> String {
    redact(s).normalized()
}

/// The probe's request, typed before each variant.
const PREFIX: &str = "je voudrais un papier pour mon fils, mon salaire 12000 dh, ";

fn all_redacted_as(kind: PiiKind, texts: &[&str]) {
    for text in texts {
        assert_eq!(sent(text), kind.placeholder(), "{text}");
    }
}

#[test]
fn darija_diabetes_is_redacted_in_both_scripts() {
    for text in ["عندي السكر", "3ndi ssokkar", "mrid b skkar", "3ndo sokkar"] {
        assert_eq!(sent(text), "[HEALTH]", "{text}");
    }
}

#[test]
fn darija_cancer_and_pregnancy_are_redacted() {
    assert_eq!(sent("3ndi lkancer"), "[HEALTH]");
    assert_eq!(sent("mrat 7amla"), "mrat [HEALTH]");
    assert_eq!(sent("مراتي حاملة"), "مراتي [HEALTH]");
}

#[test]
fn a_feminine_darija_disability_is_redacted() {
    assert_eq!(sent("ana m3a9a"), "ana [HEALTH]");
    assert_eq!(sent("mo3aqa"), "[HEALTH]");
}

#[test]
fn misspelt_and_plural_health_words_are_redacted() {
    all_redacted_as(
        PiiKind::Health,
        &["diabet", "diabette", "kancer", "diabetiques", "soukar"],
    );
}

#[test]
fn french_and_english_conditions_missing_from_the_lists_are_redacted() {
    all_redacted_as(
        PiiKind::Health,
        &[
            "leucémie",
            "leukemia",
            "trisomique",
            "down syndrome",
            "autiste",
            "insuffisance rénale",
            "AVC",
            "fauteuil roulant",
            "wheelchair user",
            "séro+",
            "seropo",
        ],
    );
}

#[test]
fn an_abbreviation_spelled_with_dots_or_spaces_is_redacted() {
    all_redacted_as(
        PiiKind::Health,
        &[
            "V.I.H.",
            "H.I.V",
            "s.i.d.a",
            "s i d a",
            "v-i-h",
            "séro-positif",
        ],
    );
    assert_eq!(sent("ana fiya V.I.H."), "ana [HEALTH]");
    assert_eq!(sent("mon fils a V. I. H"), "mon fils a [HEALTH]");
}

#[test]
fn letters_that_spell_no_term_stay() {
    for s in ["j ai un B.O. a signer", "a b c", "formulaire C.N.S.S"] {
        assert_eq!(redact(s).text, s, "{s}");
    }
}

#[test]
fn a_qualifier_after_a_condition_goes_with_it() {
    for text in [
        "معاق ذهنيا",
        "VIH positive",
        "séro positif",
        "مريض نفسي",
        "handicapé mental",
    ] {
        assert_eq!(sent(text), "[HEALTH]", "{text}");
    }
}

#[test]
fn a_qualifier_alone_stays() {
    for s in [
        "certificat négatif",
        "بغيت نسجل نفسي في الضمان",
        "user account password reset",
        "positive",
    ] {
        assert_eq!(redact(s).text, s, "{s}");
    }
}

#[test]
fn feminine_darija_beliefs_are_redacted() {
    all_redacted_as(PiiKind::Belief, &["msi7iya", "chi3iya", "yahoudiya"]);
}

#[test]
fn other_spellings_and_plurals_of_beliefs_are_redacted() {
    all_redacted_as(
        PiiKind::Belief,
        &[
            "mesihi",
            "masihi",
            "kafer",
            "musulmans",
            "hindou",
            "sunnite",
            "orthodoxe",
        ],
    );
}

#[test]
fn darija_and_slang_orientation_words_are_redacted() {
    all_redacted_as(
        PiiKind::Orientation,
        &["mitliya", "mithliya", "zamla", "trans", "pédé"],
    );
}

/// Found when tried (an outside probe): each reached the LLM as written, the lexicon
/// knowing other spellings ("mithli", "msi7i", "mol7id", "اكتئاب").
#[test]
fn more_darija_spellings_of_special_categories_are_redacted() {
    all_redacted_as(PiiKind::Orientation, &["mthli", "methli", "metliya"]);
    all_redacted_as(PiiKind::Belief, &["mase7i", "mse7i", "mlhd", "mol7ida"]);
    for text in [
        "ana mrid nafsiyan",
        "mrida nafsiya",
        "kan3ani mn lektiab",
        "3ndi l2ikti2ab",
        "ana tayeb mn droga",
        "mdmen 3la droga",
    ] {
        assert!(sent(text).contains("[HEALTH]"), "{text}: {}", sent(text));
    }
}

#[test]
fn darija_feminine_and_slang_detention_words_are_redacted() {
    assert_eq!(sent("كنت محبوس"), "كنت [CONVICTION]");
    all_redacted_as(
        PiiKind::Conviction,
        &[
            "m7bousa",
            "mahkouma",
            "m7kouma",
            "l7ebs",
            "sijn",
            "sjn",
            "taule",
            "garde à vue",
            "arrested for theft",
        ],
    );
}

#[test]
fn a_prison_named_as_a_workplace_stays() {
    for s in [
        "nkhdem f prison",
        "je travaille à la prison de Salé, attestation de travail",
        "I work at the jail and need a pay slip",
        "أعمل في السجن المحلي",
        "kankhdem f l7bs dyal oukacha",
    ] {
        assert_eq!(redact(s).text, s, "{s}");
    }
}

#[test]
fn a_detention_after_a_workplace_or_a_visit_is_still_redacted() {
    assert_eq!(
        sent("nkhdem f prison w kont m7bous"),
        "nkhdem f prison w kont [CONVICTION]"
    );
    // A visit tells a relative's detention: redacted, as the bias is towards redacting.
    assert_eq!(sent("visite au détenu"), "visite au [CONVICTION]");
    assert_eq!(
        sent("visiter mon frère en prison"),
        "visiter mon frere en [CONVICTION]"
    );
}

#[test]
fn a_birth_date_with_spaced_or_underscored_separators_is_redacted() {
    for (text, kept) in [
        ("né le 12 / 03 / 1990", "ne le [DATE]"),
        ("12_03_1990", "[DATE]"),
        ("tzadt 12 / 03 / 1990", "tzadt [DATE]"),
        ("12 - 3 - 85", "[DATE]"),
    ] {
        assert_eq!(sent(text), kept, "{text}");
    }
}

#[test]
fn three_numbers_apart_by_spaces_that_form_a_birth_date_are_redacted() {
    assert_eq!(sent("12 03 1990"), "[DATE]");
    assert_eq!(sent("né le 12 03 2019"), "ne le [DATE]");
}

#[test]
fn numbers_apart_by_spaces_that_are_no_birth_date_stay() {
    for s in [
        "le 12 03 2024 j'ai rendez-vous",
        "rendez-vous le 12 / 05 / 2026",
        "j'ai 2 enfants 3 4 ans",
        "facture 03 2024 onee",
    ] {
        assert_eq!(redact(s).text, s, "{s}");
    }
    // Nor is a number named one, which is redacted as a number.
    assert_eq!(redact("numero 12 03 1990 45").found, [PiiKind::Number]);
}

#[test]
fn a_date_with_its_day_in_words_is_redacted() {
    for (text, kept) in [
        ("née le douze mars 1990", "nee le [DATE]"),
        ("le vingt-deux mai 1985", "le [DATE]"),
        ("le dix sept mai 1985", "le [DATE]"),
        ("born on March twelfth, 1990", "born on [DATE]"),
    ] {
        assert_eq!(sent(text), kept, "{text}");
    }
}

#[test]
fn a_day_in_words_without_a_year_or_a_birth_cue_stays() {
    for s in ["le premier mai", "no one may apply twice", "sept mai"] {
        assert_eq!(redact(s).text, s, "{s}");
    }
}

#[test]
fn a_birth_year_after_a_birth_cue_is_redacted() {
    for (text, kept) in [
        ("né en 1990", "ne en [DATE]"),
        ("twaladt 3am 1990", "twaladt 3am [DATE]"),
        ("born in 1990", "born in [DATE]"),
        ("ولد سنة 1990", "ولد سنه [DATE]"),
        ("date de naissance : 1990", "date de naissance [DATE]"),
    ] {
        assert_eq!(sent(text), kept, "{text}");
    }
}

#[test]
fn a_year_without_a_birth_cue_stays() {
    for s in ["vignette 2024", "né en France", "inscription hajj 2025"] {
        assert_eq!(redact(s).text, s, "{s}");
    }
}

#[test]
fn an_english_address_with_its_street_type_last_is_redacted() {
    assert_eq!(sent("I live at 12 Orange Street"), "i live at [ADDRESS]");
    assert_eq!(sent("4 mall road, casablanca"), "[ADDRESS] casablanca");
}

#[test]
fn road_tax_and_amounts_are_no_address() {
    for s in [
        "pay the road tax for my car",
        "I paid 200 dh road tax",
        "12 road tax",
    ] {
        assert_eq!(redact(s).text, s, "{s}");
    }
}

#[test]
fn the_probe_prefix_stays_and_every_variant_goes() {
    let prefix = sent(PREFIX);
    for x in [
        "عندي السكر",
        "3ndi ssokkar",
        "mrat 7amla",
        "diabette",
        "V.I.H.",
        "msi7iya",
        "mitliya",
        "m7bousa",
        "garde à vue",
        "né le 12 / 03 / 1990",
        "12 03 1990",
        "née le douze mars 1990",
        "né en 1990",
        "I live at 12 Orange Street",
        "معاق ذهنيا",
        "VIH positive",
    ] {
        let out = sent(&format!("{PREFIX}{x}"));
        let rest = out.strip_prefix(&prefix).unwrap_or_default();
        assert!(rest.contains(" ["), "{x}: {out}");
        assert!(
            !rest.contains("positive") && !rest.contains("ذهنيا"),
            "{x}: {out}"
        );
        assert_eq!(
            redact(&format!("{PREFIX}{x}")).text.find(x),
            None,
            "{x}: {out}"
        );
    }
}

/// Found by the AI-endpoint probe: an address with its `@` spelled inside the word, or
/// without its domain's dot, reached the LLM as written.
#[test]
fn an_address_spelled_inside_its_word_or_without_its_dot_is_redacted() {
    all_redacted_as(
        PiiKind::Email,
        &[
            "karim(at)gmail.com",
            "karim[at]gmail[dot]com",
            "Karim.B{AT}menara(point)ma",
            "karim<arobase>gmail.co.ma",
            "karim@gmail",
        ],
    );
    assert_eq!(
        sent("ecrivez a karim(at)gmail.com svp"),
        "ecrivez a [EMAIL] svp"
    );
}

#[test]
fn brackets_and_an_at_sign_that_are_no_address_stay() {
    for text in ["rdv (at) 10h", "salut [at] toi", "merci @DGSN"] {
        assert!(redact(text).found.is_empty(), "{text}");
    }
}

/// Found by the AI-endpoint probe: a phone number typed with the letter O for its zero
/// reached the LLM as written.
#[test]
fn a_phone_number_with_an_o_for_its_zero_is_redacted() {
    all_redacted_as(
        PiiKind::Phone,
        &["O6 12 34 56 78", "o612345678", "O6.12.34.56.78"],
    );
}

#[test]
fn a_darija_word_written_with_digits_keeps_its_o() {
    assert_eq!(sent("3ndi o 7na bghina"), "3ndi o 7na bghina");
}

/// Found by the AI-endpoint probe: an eight-digit card number after "رقم البطاقة" reached
/// the LLM, in Arabic-Indic digits as in ASCII ones: its shape is none of a phone, CNSS,
/// card or RIB number, but the words before it say what it is.
#[test]
fn a_number_the_words_before_it_name_is_redacted_whatever_its_shape() {
    for text in [
        "رقم البطاقة ١٢٣٤٥٦٧٨",
        "رقم البطاقة 12345678",
        "رقم البطاقة ديالي 12345678",
        "numéro de dossier 2023-55871",
        "ra9m l bita9a 12345678",
        "card number 1234 5678",
    ] {
        let shared = crate::assist::shareable_text(text);
        assert!(
            shared.contains("[NUMBER]") || shared.contains("[CNSS]"),
            "{text}: {shared}"
        );
        assert!(
            !shared.contains("5678") && !shared.contains("55871"),
            "{text}: {shared}"
        );
    }
}

#[test]
fn a_short_number_or_an_amount_after_a_number_word_stays() {
    for text in ["numero 3 f la liste", "رقم 15", "numero de compte 12000 dh"] {
        assert_eq!(
            crate::assist::shareable_text(text),
            crate::assist::text::normalize(text),
            "{text}"
        );
    }
}

/// Found in a probe: letters of other scripts that look like Latin ones, and an `@` or a
/// dot written another way, got personal data past the redactor.
#[test]
fn look_alike_letters_and_other_spellings_of_an_address_are_redacted() {
    for (text, kind) in [
        ("CNIE tel \u{039F}7 98 76 54 32", PiiKind::Phone),
        ("CNIE tel \u{041E}7 98 76 54 32", PiiKind::Phone),
        ("tel O6I2345678", PiiKind::Phone),
        ("ma carte \u{0410}\u{0412}123456", PiiKind::Cin),
        ("hassan77(@)hotmail.com", PiiKind::Email),
        ("hassan77%40hotmail.com", PiiKind::Email),
        ("kb.zz85[@]gmail[.]com", PiiKind::Email),
        ("hassan.alaoui77@ hotmail", PiiKind::Email),
        ("hassan.alaoui77 @hotmail.com", PiiKind::Email),
        ("hassan77 at hotmail", PiiKind::Email),
        ("hassan77 chez yahoo", PiiKind::Email),
        // Found in the bypass probe: the `.com` turned the redaction off, and two spaces.
        ("kbenali1990 at gmail.com", PiiKind::Email),
        ("john.doe at outlook.com", PiiKind::Email),
        ("kbenali1990 arobase laposte.net", PiiKind::Email),
        ("kbenali1990  @  gmail.com", PiiKind::Email),
        ("kbenali1990&#64;gmail.com", PiiKind::Email),
        ("hassan77(at)gmail", PiiKind::Email),
    ] {
        let found = redact(text).found;
        assert!(found.contains(&kind), "{text}: {found:?}");
        // Nothing of the number or the address is left for the LLM.
        let shared = sent(text);
        let left = [
            "hassan", "alaoui", "kb", "john", "doe", "gmail", "hotmail", "yahoo",
        ]
        .iter()
        .chain(&["outlook", "laposte", "#"])
        .any(|w| shared.contains(w));
        assert!(
            !left && !shared.chars().any(|c| c.is_ascii_digit()),
            "{text}: {shared}"
        );
    }
    let arabic = sent("\u{62d}\u{633}\u{646}.\u{627}\u{644}\u{639}\u{644}\u{648}\u{64a}@\u{647}\u{648}\u{62a}\u{645}\u{64a}\u{644}.\u{643}\u{648}\u{645}");
    assert_eq!(arabic, "[EMAIL]");
}

#[test]
fn a_word_of_another_script_alone_keeps_its_letters() {
    let russian = "\u{041f}\u{0440}\u{0438}\u{0432}\u{0435}\u{0442}";
    assert_eq!(redact(russian).text, russian);
    assert!(redact("merci @DGSN, at home").found.is_empty());
    // Found in the bypass probe: words about an account were taken for an address.
    for text in [
        "my account at gmail is blocked",
        "receipt at hotmail never came",
        "taxe at gmail they said",
    ] {
        assert!(!redact(text).found.contains(&PiiKind::Email), "{text}");
    }
}

/// Found in a probe: what a citizen says of her name was taken for it.
#[test]
fn what_she_says_of_her_name_is_no_name() {
    for text in [
        "my name is misspelled on my passport",
        "ismi ghalat f la carte nationale",
        "mon nom est mal \u{e9}crit sur la CNIE",
        "\u{627}\u{633}\u{645}\u{64a} \u{645}\u{643}\u{62a}\u{648}\u{628} \u{63a}\u{644}\u{637}",
    ] {
        assert!(
            redact(text).found.is_empty(),
            "{text}: {}",
            redact(text).text
        );
    }
    assert_eq!(redact("my name is Karim Tazi").found, [PiiKind::Name]);
}

/// Found in a probe: years listed one after another were read as a card number.
#[test]
fn years_one_after_another_are_no_card_number() {
    for text in [
        "taxe habitation 2021 2022 2023 2024 2025",
        "imp\u{f4}t revenu 2020 2021 2022 2023 2024",
    ] {
        assert!(
            redact(text).found.is_empty(),
            "{text}: {}",
            redact(text).text
        );
    }
    assert_eq!(redact("carte 4111 1111 1111 1111").found, [PiiKind::Card]);
}

/// Found in the bypass probe: a French, German or Belgian IBAN reached the LLM whole (only
/// Moroccan ones were known), even after the word "iban".
#[test]
fn an_iban_of_any_country_is_redacted() {
    for text in [
        "carte iban FR7630006000011234567890189",
        "DE89370400440532013000",
        "BE68539007547034",
        "mon compte FR76 3000 6000 0112 3456 7890 189 merci",
    ] {
        let found = redact(text).found;
        assert_eq!(found, [PiiKind::Iban], "{text}: {}", redact(text).text);
    }
    // Two letters and digits that fail the check digits are no IBAN.
    assert!(!redact("FR7630006000011234567890180")
        .found
        .contains(&PiiKind::Iban));
}

/// Found in the bypass probe: a street spoken of was taken for someone's address.
#[test]
fn a_street_spoken_of_is_no_address() {
    for text in ["la rue est fermée", "the street is closed", "الشارع مسدودة"] {
        assert!(
            redact(text).found.is_empty(),
            "{text}: {}",
            redact(text).text
        );
    }
    assert_eq!(redact("j'habite 12 rue Ibn Sina").found, [PiiKind::Address]);
}
