//! Numbers read out in words.

use super::*;

#[test]
fn a_phone_number_read_out_in_french_words_is_a_phone() {
    assert_eq!(
        r("mon numéro zéro six douze trente-quatre cinquante-six soixante-dix-huit merci"),
        "mon numéro [PHONE] merci"
    );
    assert_eq!(
        r("appelez le zéro six, douze, trente quatre, cinquante six"),
        "appelez le [PHONE]"
    );
    assert_eq!(
        redact("zero six one two three four five six seven eight").found,
        vec![PiiKind::Phone]
    );
}

#[test]
fn a_phone_number_read_out_in_darija_or_arabic_is_a_phone() {
    assert_eq!(
        r("nemra dyali sifr stta tnach khamsa w tlatin"),
        "nemra dyali [PHONE]"
    );
    assert_eq!(r("رقمي صفر ستة اثنا عشر أربعة وثلاثين"), "رقمي [PHONE]");
}

#[test]
fn digits_among_number_words_are_part_of_the_number() {
    assert_eq!(r("gsm zéro 6 douze 34 cinquante-six 78"), "gsm [PHONE]");
}

#[test]
fn five_number_words_in_a_row_are_a_number_of_unknown_kind() {
    assert_eq!(
        r("ma cin ab cent vingt trois quatre cinq six"),
        "ma cin ab [NUMBER]"
    );
    assert_eq!(
        redact("cnss one two three four five six seven eight nine").found,
        vec![PiiKind::Number]
    );
}

#[test]
fn ordinary_numbers_in_words_are_left_alone() {
    for text in [
        "acte de naissance pour deux enfants",
        "trois ou quatre mois de retard",
        "né en mille neuf cent quatre-vingt-dix",
        "bghit jouj nusakh dyal lactes",
        "أريد ثلاث نسخ من عقد الازدياد",
        "one or two copies please",
        "vingt et un jours",
    ] {
        assert_eq!(redact(text).found, vec![], "{text}");
    }
}

/// Found in a bypass probe: each of these reached the LLM as written, or its first digits did.
#[test]
fn hyphens_wide_separators_typos_and_other_spellings_do_not_hide_a_phone_number() {
    for text in [
        "zero-six-one-two-three-four-five-six-seven-eight",
        "zéro-six-douze-trente-quatre-cinquante-six-soixante-dix-huit",
        "zéro-six douze-trente-quatre cinquante-six-soixante-dix-huit",
        "zéro six douze trent-quatre cinquante-six soixante-dix-huit",
        "zéro  -  six  -  douze  -  trente-quatre  -  cinquante-six",
        "06 douze 34 56 78",
        "sifer sitta tnach tlatin rb3a khamsin",
        "صفر سته اثناعشر اربعه وثلاثين سته وخمسين",
        "zero six one tow three four five six seven eight",
        "sifr sitta wahed tnin tlata rb3a khamsa stta",
    ] {
        let r = redact(&format!("perdu papiers, tel {text}"));
        assert_eq!(r.found, vec![PiiKind::Phone], "{text}: {}", r.text);
        assert_eq!(r.text, "perdu papiers, tel [PHONE]", "{text}");
    }
}

/// Found in a second bypass probe: each reached the LLM as written.
#[test]
fn runs_without_a_zero_fillers_long_groups_and_more_darija_are_read_out_too() {
    for (text, kind) in [
        (
            "six-douze-trente-quatre-cinquante-six-soixante-dix-huit",
            PiiKind::Number,
        ),
        ("BE un-deux-trois-quatre-cinq-six", PiiKind::Number),
        (
            "one-two-three-four-five-six-seven-eight-nine",
            PiiKind::Number,
        ),
        ("wahed-jouj-tlata-rb3a-khamsa-stta", PiiKind::Number),
        (
            "zéro six .......... douze trente-quatre cinquante-six",
            PiiKind::Phone,
        ),
        (
            "zéro six puis douze puis trente-quatre puis cinquante-six",
            PiiKind::Phone,
        ),
        ("061234 cinquante-six soixante-dix-huit", PiiKind::Phone),
        ("zéro six 12 345678", PiiKind::Phone),
        (
            "sfr stta wahd tnin tlata arba3a khmsa stta sab3a",
            PiiKind::Phone,
        ),
        (
            "tes3a tmenya sab3a sta khamsa arba3a tlata",
            PiiKind::Number,
        ),
    ] {
        let r = redact(&format!("j'ai perdu mes papiers {text}"));
        assert_eq!(r.found, vec![kind], "{text}: {}", r.text);
    }
}

/// Found in a second bypass probe: these lost their numbers, which say nothing of a
/// citizen, on their way to the LLM.
#[test]
fn dates_times_lists_of_years_and_amounts_keep_their_numbers() {
    for text in [
        "le 01/02/2024 à dix heures",
        "2021 2022 2023 et 2024, trois en retard",
        "trois fois: 2021, 2022, 2023, 2024",
        "cent cinquante mille deux cents dirhams",
        "twenty one thousand five hundred dirhams",
        "un acte, deux copies, trois photos, quatre timbres, cinq enveloppes",
    ] {
        let r = redact(text);
        assert!(
            !r.found.contains(&PiiKind::Number) && !r.found.contains(&PiiKind::Phone),
            "{text}: {}",
            r.text
        );
    }
}
