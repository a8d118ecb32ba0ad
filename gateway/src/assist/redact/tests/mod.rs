use super::*;

mod audit_gaps;
mod bypass;
mod more_identifiers;
mod normalized;
mod spelled;
mod word_lists;

fn r(s: &str) -> String {
    redact(s).text
}

#[test]
fn cin_numbers() {
    assert_eq!(r("CIN AB123456 svp"), "CIN [CIN] svp");
    assert_eq!(r("ma carte K 12345 expirée"), "ma carte [CIN] expirée");
    assert_eq!(r("رقم البطاقة BE654321"), "رقم البطاقة [CIN]");
    assert_eq!(r("cin dyali jk98765"), "cin dyali [CIN]");
    assert_eq!(redact("AB123456").found, vec![PiiKind::Cin]);
}

#[test]
fn phone_numbers() {
    assert_eq!(r("appelez-moi au 06 12 34 56 78"), "appelez-moi au [PHONE]");
    assert_eq!(r("+212 6 12 34 56 78"), "[PHONE]");
    assert_eq!(r("+212612345678 merci"), "[PHONE] merci");
    assert_eq!(
        r("fixe 0522-12-34-56, gsm 0712.34.56.78"),
        "fixe [PHONE], gsm [PHONE]"
    );
    assert_eq!(r("نمرتي 0661234567 عافاك"), "نمرتي [PHONE] عافاك");
    assert_eq!(r("00212 5 22 12 34 56"), "[PHONE]");
    assert_eq!(r("tel:0612345678 2 fois"), "tel:[PHONE] 2 fois");
    assert_eq!(r("gsm (06) 12.34.56.78"), "gsm ([PHONE]");
    for written in [
        "06،12،34،56،78",
        "06٬12٬34٬56٬78",
        "06,12,34,56,78",
        "06 12  34 56 78",
        "06 - 12 - 34 - 56 - 78",
        "06–12–34–56–78",
    ] {
        assert_eq!(r(&format!("tel {written}")), "tel [PHONE]", "{written}");
    }
    assert_eq!(r("cnss 123·456·789"), "cnss [CNSS]");
}

#[test]
fn a_lower_case_cin_typed_after_its_cue_is_redacted() {
    assert_eq!(r("cin ab 123456"), "cin [CIN]");
    assert_eq!(r("CIN ab 123456"), "CIN [CIN]");
    assert_eq!(
        r("numero de carte nationale: jb 654321"),
        "numero de carte nationale: [CIN]"
    );
    assert_eq!(r("رقم البطاقة be 654321"), "رقم البطاقة [CIN]");
    assert_eq!(r("cin AB-123456"), "cin [CIN]");
    assert_eq!(r("cin AB 12 34 56"), "cin [CIN]");
    assert_eq!(r("ma carte ab 123456"), "ma carte [CIN]");
    // A word that merely contains a cue is none.
    assert_eq!(r("vaccin le 123456"), "vaccin le 123456");
    // Without a cue, two lower-case letters and a number are prose.
    assert_eq!(
        r("aide de 500 dh, le 100000 dh"),
        "aide de 500 dh, le 100000 dh"
    );
}

#[test]
fn emails_cnss_rib_iban_cards() {
    assert_eq!(
        r("mon mail: youssef.alami+rdv@gmail.com."),
        "mon mail: [EMAIL]."
    );
    assert_eq!(r("البريد ديالي a_b@mail.co.ma"), "البريد ديالي [EMAIL]");
    assert_eq!(
        r("immatriculation CNSS 123456789"),
        "immatriculation CNSS [CNSS]"
    );
    assert_eq!(r("رقم الضمان 987654321"), "رقم الضمان [CNSS]");
    assert_eq!(r("RIB 011 780 0000123456789012 34"), "RIB [RIB]");
    assert_eq!(r("rib: 011780000012345678901234"), "rib: [RIB]");
    assert_eq!(r("IBAN MA64 0117 8000 0012 3456 7890 1234"), "IBAN [IBAN]");
    assert_eq!(
        r("carte 4111 1111 1111 1111 exp 12/26"),
        "carte [CARD] exp 12/26"
    );
    let all = redact("a@b.ma 0612345678 AB123456 123456789");
    assert_eq!(
        all.found,
        vec![PiiKind::Email, PiiKind::Phone, PiiKind::Cin, PiiKind::Cnss]
    );
}

#[test]
fn names_after_cues() {
    assert_eq!(
        r("Bonjour, je m'appelle Youssef Alami et je veux un passeport"),
        "Bonjour, je m'appelle [NAME] et je veux un passeport"
    );
    assert_eq!(
        r("my name is John Smith, I need a visa"),
        "my name is [NAME], I need a visa"
    );
    assert_eq!(
        r("salam smiti karim bennani, bghit lpassport"),
        "salam smiti [NAME], bghit lpassport"
    );
    assert_eq!(
        r("ana Youssef o bghit njded lcarte"),
        "ana [NAME] o bghit njded lcarte"
    );
    assert_eq!(
        r("اسمي محمد العلوي و بغيت جواز السفر"),
        "اسمي [NAME] و بغيت جواز السفر"
    );
    assert_eq!(
        r("السيدة فاطمة الزهراء تطلب موعد"),
        "السيدة [NAME] تطلب موعد"
    );
    assert_eq!(
        r("rdv pour Mme Benali demain"),
        "rdv pour Mme [NAME] demain"
    );
    assert_eq!(r("M. Karim Tazi"), "M. [NAME]");
    assert_eq!(redact("je m'appelle Sara").found, vec![PiiKind::Name]);
}

#[test]
fn ordinary_text_is_untouched() {
    for s in [
        "renouvellement passeport 2024",
        "ma fille a 16 ans",
        "بنتي كملات 16 عام",
        "formulaire W18 pour la carte grise",
        "aide de 500 dh, logement 100000 درهم",
        "rdv le 12/05/2025 à 10h30",
        "ana f Italia o bghit rdv",
        "ana 3ndi 19 3am",
        "déclaration IR 2024 et TVA",
        "appelez le 3737 ou le 2727",
        "dossier 2023/145 au tribunal",
        "je suis Marocain",
        "",
    ] {
        let out = redact(s);
        assert_eq!(out.text, s);
        assert!(out.found.is_empty(), "{s}: {:?}", out.found);
    }
}

#[test]
fn never_panics() {
    for s in [
        "@",
        "a@",
        "@b.c",
        "+",
        "+2",
        "MA",
        "ma 1",
        "K",
        "🙂@🙂.ma",
        "اسمي",
        "je m'appelle",
        "0",
        "06 12 34",
    ] {
        let _ = redact(s);
    }
}
