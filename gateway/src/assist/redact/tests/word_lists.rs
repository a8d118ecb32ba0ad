use crate::assist::redact::addresses::addresses;
use crate::assist::redact::names::listed::names;
use crate::assist::redact::sensitive::health::health;

fn found(f: fn(&[char], &mut dyn FnMut(usize, usize)), text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    f(&chars, &mut |s, e| out.push(chars[s..e].iter().collect()));
    out
}

#[test]
fn known_names_are_found_without_a_cue_with_their_particles() {
    assert_eq!(
        found(names, "ana mohamed el idrissi bghit passeport"),
        ["mohamed el idrissi"]
    );
    assert_eq!(
        found(names, "انا محمد الإدريسي بغيت جواز السفر"),
        ["محمد الإدريسي"]
    );
    assert_eq!(found(names, "pour Youssef Benali svp"), ["Youssef Benali"]);
    assert_eq!(found(names, "Fatima Zahra Tazi"), ["Fatima Zahra Tazi"]);
}

#[test]
fn everyday_words_that_are_also_names_are_left() {
    assert!(found(names, "شهادة حسن السيرة").is_empty());
    // "please", "emigrated", "faith", "fair": words before they are names.
    assert!(found(names, "رجاء بغيت جواز السفر").is_empty());
    assert!(found(names, "هاجر ولدي للخارج").is_empty());
    assert!(found(names, "حكم عادل و إيمان").is_empty());
    assert!(found(names, "he said my passport expired").is_empty());
    assert!(found(names, "el passaporte").is_empty());
}

#[test]
fn addresses_are_found_after_their_cue_with_the_house_number() {
    assert_eq!(
        found(addresses, "j'habite au 12 rue Ibn Sina, Rabat"),
        ["12 rue Ibn Sina"]
    );
    assert_eq!(
        found(addresses, "zanqa 5 hay salam casa"),
        ["zanqa 5 hay salam casa"]
    );
    assert_eq!(
        found(addresses, "ساكن ف شارع محمد الخامس"),
        ["شارع محمد الخامس"]
    );
    assert!(found(addresses, "subsidy for hay and barn").is_empty());
    assert_eq!(
        found(addresses, "Residence Al Amal imm 4"),
        ["Residence Al Amal imm 4"]
    );
}

#[test]
fn address_words_that_name_a_request_are_left() {
    for request in [
        "renouveler ma carte de residence",
        "acheter un appartement avec daam sakane",
        "a street vendor licence",
        "autorisation de lotissement",
        "تجديد بطاقة الإقامة",
        "a lot of papers for my file",
    ] {
        assert!(
            found(addresses, request).is_empty(),
            "{request}: {:?}",
            found(addresses, request)
        );
    }
}

#[test]
fn health_conditions_are_found_in_every_language() {
    assert_eq!(
        found(health, "remboursement dialyse et diabète"),
        ["dialyse", "diabète"]
    );
    assert_eq!(
        found(health, "مريض بالسكري و التهاب الكبد"),
        ["مريض بالسكري", "التهاب الكبد"]
    );
    assert_eq!(found(health, "I am pregnant"), ["pregnant"]);
}
