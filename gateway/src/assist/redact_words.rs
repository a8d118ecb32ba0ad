//! Personal data found by word lists rather than by shape, for [`redact`](super::redact::redact):
//!
//! - **names without a cue**: common Moroccan given and family names in Arabic and Latin
//!   script ("ana mohamed el idrissi", "محمد الإدريسي"), with the particles that join them
//!   (el, ben, ait, ould, بن, ولد) and, in Latin script, a capitalised word that follows one;
//! - **street addresses** after an address word in Arabic, French, Darija or English ("12 rue
//!   Ibn Sina", "zanqa 5 hay Salam", "شارع محمد الخامس"), up to five words and the house number
//!   before it;
//! - **health conditions** (diabetes, cancer, HIV, pregnancy, dialysis...), which data
//!   protection law treats as sensitive whatever else the text says.
//!
//! Word lists miss names they do not hold and may catch a word that is also a name; the lists
//! leave out given names that are everyday words in the same language (حسن "good", جمال
//! "beauty", "said"), because a query such as "شهادة حسن السيرة" must keep its meaning for the
//! LLM. The local ranker always sees the citizen's own text: only what leaves the process is
//! redacted.

use super::redact_names::{words, Word};
use super::text::normalize;
use std::collections::HashSet;
use std::sync::LazyLock;

const GIVEN: &[&str] = &[
    // Latin script, the spellings citizens use.
    "mohamed",
    "mohammed",
    "mohammad",
    "mhamed",
    "ahmed",
    "ahmad",
    "youssef",
    "yousef",
    "youssouf",
    "fatima",
    "fatimazahra",
    "fatim",
    "khadija",
    "aicha",
    "aisha",
    "zineb",
    "zaineb",
    "meryem",
    "maryam",
    "mariam",
    "hamza",
    "omar",
    "othmane",
    "otmane",
    "mehdi",
    "amine",
    "yassine",
    "yacine",
    "ayoub",
    "hicham",
    "rachid",
    "abdelaziz",
    "abdellah",
    "abdallah",
    "abdelkader",
    "abderrahim",
    "abderrahmane",
    "abdelilah",
    "abdelhak",
    "abdeslam",
    "abdelmajid",
    "soufiane",
    "sofiane",
    "anas",
    "ilyas",
    "ilias",
    "imane",
    "iman",
    "salma",
    "sara",
    "sarah",
    "hajar",
    "asmae",
    "asmaa",
    "nadia",
    "naima",
    "latifa",
    "samira",
    "laila",
    "leila",
    "houda",
    "ghizlane",
    "siham",
    "karima",
    "hanane",
    "btissam",
    "ibtissam",
    "kawtar",
    "kaoutar",
    "chaimaa",
    "oumaima",
    "wiam",
    "hiba",
    "nisrine",
    "loubna",
    "mounia",
    "malika",
    "rkia",
    "zohra",
    "hind",
    "ikram",
    "jamal",
    "khalid",
    "driss",
    "idriss",
    "brahim",
    "ibrahim",
    "mustapha",
    "mustafa",
    "mostafa",
    "noureddine",
    "nourdine",
    "aziz",
    "lahcen",
    "lhoussaine",
    "hassan",
    "hussein",
    "houssine",
    "hamid",
    "tarik",
    "tariq",
    "adil",
    "nabil",
    "redouane",
    "radouane",
    "reda",
    "zakaria",
    "zakariae",
    "badr",
    "bilal",
    "ismail",
    "smail",
    "karim",
    "jawad",
    "younes",
    "walid",
    "marouane",
    "saad",
    "taha",
    "aymane",
    "ayman",
    "anouar",
    "fouad",
    "mbarek",
    "hmad",
    "abdou",
    "mouad",
    "achraf",
    "ilham",
    "rajae",
    "souad",
    "amina",
    "habiba",
    "touria",
    "rabia",
    "najat",
    "saida",
    "nezha",
    "jamila",
    "fadwa",
    "hasna",
    "dounia",
    "yasmine",
    "widad",
    // Arabic script.
    "محمد",
    "أحمد",
    "يوسف",
    "فاطمة",
    "خديجة",
    "عائشة",
    "زينب",
    "مريم",
    "حمزة",
    "عمر",
    "عثمان",
    "المهدي",
    "مهدي",
    "ياسين",
    "أيوب",
    "هشام",
    "عبدالعزيز",
    "عبدالله",
    "عبدالقادر",
    "عبدالرحيم",
    "عبدالرحمان",
    "عبدالإله",
    "سفيان",
    "أنس",
    "إلياس",
    "سلمى",
    "سارة",
    "أسماء",
    "نادية",
    "نعيمة",
    "سميرة",
    "ليلى",
    "غزلان",
    "سهام",
    "ابتسام",
    "كوثر",
    "شيماء",
    "أميمة",
    "نسرين",
    "لبنى",
    "منية",
    "مليكة",
    "هند",
    "إكرام",
    "خالد",
    "إدريس",
    "إبراهيم",
    "مصطفى",
    "نورالدين",
    "لحسن",
    "الحسين",
    "حسين",
    "حميد",
    "طارق",
    "نبيل",
    "رضوان",
    "زكرياء",
    "بلال",
    "إسماعيل",
    "جواد",
    "يونس",
    "وليد",
    "مروان",
    "طه",
    "أيمن",
    "فؤاد",
    "امبارك",
    "معاذ",
    "أشرف",
    "إلهام",
    "سعاد",
    "حبيبة",
    "ربيعة",
    "نزهة",
    "فدوى",
    "ياسمين",
    "وداد",
];

const FAMILY: &[&str] = &[
    "alaoui",
    "idrissi",
    "bennani",
    "tazi",
    "fassi",
    "berrada",
    "benjelloun",
    "lahlou",
    "sqalli",
    "skalli",
    "chraibi",
    "kettani",
    "benkirane",
    "amrani",
    "lamrani",
    "tahiri",
    "ouazzani",
    "mansouri",
    "bouzidi",
    "benali",
    "cherkaoui",
    "filali",
    "hajji",
    "naciri",
    "slaoui",
    "zniber",
    "guessous",
    "sebti",
    "benmoussa",
    "belhaj",
    "bensaid",
    "kadiri",
    "rachidi",
    "ziani",
    "saidi",
    "bakkali",
    "doukkali",
    "jirari",
    "zerouali",
    "benchekroun",
    "alami",
    "semlali",
    "ouali",
    "el idrissi",
    "el fassi",
    "el amrani",
    "el alami",
    "الإدريسي",
    "العلوي",
    "بناني",
    "التازي",
    "الفاسي",
    "برادة",
    "بنجلون",
    "لحلو",
    "الصقلي",
    "الشرايبي",
    "الكتاني",
    "بنكيران",
    "العمراني",
    "الطاهري",
    "الوزاني",
    "المنصوري",
    "البوزيدي",
    "بنعلي",
    "الشرقاوي",
    "الفيلالي",
    "الناصري",
    "السلاوي",
    "بنموسى",
    "بلحاج",
    "الزياني",
    "السعيدي",
    "البقالي",
    "الدكالي",
    "الجراري",
    "الزروالي",
    "العلمي",
    "القادري",
    "الراشدي",
];

/// Words that join the parts of a name.
const PARTICLES: &[&str] = &[
    "el", "al", "ben", "bin", "ibn", "ait", "ould", "bent", "بن", "ولد", "بنت", "آيت",
];

/// Words after which a street address follows.
const ADDRESS_CUES: &[&str] = &[
    "rue",
    "avenue",
    "boulevard",
    "bd",
    "zanqa",
    "znqa",
    "zenqa",
    "derb",
    "imm",
    "appt",
    "شارع",
    "زنقة",
    "درب",
    "حي",
    "دوار",
];
/// Cues that are also the words of a request ("carte de résidence", "acheter un
/// appartement", "بطاقة الإقامة", "a street vendor"): an address only when a name
/// (capitalised) or a number follows.
const ADDRESS_CUES_CAPITALISED: &[&str] = &[
    "hay",
    "quartier",
    "douar",
    "av",
    "road",
    "street",
    "residence",
    "immeuble",
    "appartement",
    "lotissement",
    "lot",
    "إقامة",
    "عمارة",
    "شقة",
    "تجزئة",
];
/// Words that end an address (what comes next is the request again).
const ADDRESS_ENDS: &[&str] = &[
    "et", "and", "w", "o", "و", "pour", "for", "bach", "باش", "je", "i", "ana", "انا", "bghit",
    "بغيت", "svp", "please", "merci", "à", "a", "in", "f", "ف", "في", "de", "of", "ديال", "dyal",
];

/// Health conditions, in the four languages (single words; several-word terms below).
const HEALTH: &[&str] = &[
    "diabete",
    "diabetes",
    "diabetique",
    "diabetic",
    "sokkar",
    "السكري",
    "cancer",
    "cancers",
    "سرطان",
    "kanser",
    "vih",
    "hiv",
    "sida",
    "aids",
    "السيدا",
    "enceinte",
    "pregnant",
    "pregnancy",
    "grossesse",
    "حامل",
    "الحمل",
    "depression",
    "اكتئاب",
    "hypertension",
    "asthme",
    "asthma",
    "الربو",
    "hepatite",
    "hepatitis",
    "dialyse",
    "dialysis",
    "alzheimer",
    "epilepsie",
    "epilepsy",
    "الصرع",
    "tuberculose",
    "tuberculosis",
    "السل",
    "chimiotherapie",
    "chemotherapy",
    "schizophrenie",
    "schizophrenia",
    "autisme",
    "autism",
    "التوحد",
];
const HEALTH_PHRASES: &[&str] = &["التهاب الكبد", "تصفية الدم", "ضغط الدم", "العلاج الكيميائي"];

fn set(list: &[&str]) -> HashSet<String> {
    list.iter()
        .map(|w| normalize(w))
        .filter(|w| !w.is_empty())
        .collect()
}

static GIVEN_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(GIVEN));
static FAMILY_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(FAMILY));
static PARTICLE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(PARTICLES));
static ADDRESS_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(ADDRESS_CUES));
static ADDRESS_CAP_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(ADDRESS_CUES_CAPITALISED));
static ADDRESS_END_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(ADDRESS_ENDS));
static HEALTH_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(HEALTH));
static HEALTH_PHRASE_LIST: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    HEALTH_PHRASES
        .iter()
        .map(|p| normalize(p).split(' ').map(str::to_string).collect())
        .collect()
});

/// Whether `norm`, or `norm` without an Arabic clitic (و ب ل ف ك: "and", "with", "for"...;
/// "بال" is "ب" + "ال"), is in `set`.
fn contains_word(set: &HashSet<String>, norm: &str) -> bool {
    if set.contains(norm) {
        return true;
    }
    ['و', 'ب', 'ل', 'ف', 'ك'].iter().any(|p| {
        norm.strip_prefix(*p)
            .filter(|rest| rest.chars().count() >= 3)
            .is_some_and(|rest| set.contains(rest))
    })
}

fn is_name(norm: &str) -> bool {
    contains_word(&GIVEN_SET, norm) || contains_word(&FAMILY_SET, norm)
}

fn capitalised_latin(chars: &[char], w: &Word) -> bool {
    let first = chars.get(w.start).copied().unwrap_or(' ');
    first.is_ascii_uppercase() && chars[w.start..w.end].iter().any(|c| c.is_lowercase())
}

/// Calls `emit(start, end)` for each run of known names (with their particles and, in Latin
/// script, a capitalised word right after a known name).
pub fn names(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    let mut i = 0;
    while i < ws.len() {
        // A particle opens a name only when a known name follows it ("el idrissi").
        let opens = is_name(&ws[i].norm)
            || (PARTICLE_SET.contains(&ws[i].norm)
                && ws.get(i + 1).is_some_and(|n| n.joined && is_name(&n.norm)));
        if !opens {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < ws.len() && end < i + 4 && ws[end].joined {
            let w = &ws[end];
            let part = is_name(&w.norm)
                || (PARTICLE_SET.contains(&w.norm)
                    && ws.get(end + 1).is_some_and(|n| {
                        n.joined && (is_name(&n.norm) || capitalised_latin(chars, n))
                    }))
                || (capitalised_latin(chars, w) && !super::text::stopwords::is_stop(&w.norm));
            if !part {
                break;
            }
            end += 1;
        }
        emit(ws[i].start, ws[end - 1].end);
        i = end;
    }
}

/// Calls `emit(start, end)` for each address: the house number before the cue, the cue, and
/// up to five words or numbers after it (stopping at punctuation or a function word).
pub fn addresses(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    let mut i = 0;
    while i < ws.len() {
        let next = ws.get(i + 1);
        let starts = ADDRESS_SET.contains(&ws[i].norm)
            || (ADDRESS_CAP_SET.contains(&ws[i].norm)
                && next.is_some_and(|n| {
                    capitalised_latin(chars, n) || n.norm.chars().all(|c| c.is_ascii_digit())
                }));
        let Some(first) = next.filter(|n| starts && n.joined) else {
            i += 1;
            continue;
        };
        if ADDRESS_END_SET.contains(&first.norm) {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < ws.len()
            && end < i + 6
            && ws[end].joined
            && !ADDRESS_END_SET.contains(&ws[end].norm)
        {
            end += 1;
        }
        // "12 rue ...": the house number goes too.
        let start = match i.checked_sub(1).map(|p| &ws[p]) {
            Some(p) if ws[i].joined && p.norm.chars().all(|c| c.is_ascii_digit()) => p.start,
            _ => ws[i].start,
        };
        emit(start, ws[end - 1].end);
        i = end;
    }
}

/// Calls `emit(start, end)` for each health condition named.
pub fn health(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    let mut i = 0;
    'words: while i < ws.len() {
        for phrase in HEALTH_PHRASE_LIST.iter() {
            let n = phrase.len();
            if i + n <= ws.len() && (0..n).all(|k| ws[i + k].norm == phrase[k]) {
                emit(ws[i].start, ws[i + n - 1].end);
                i += n;
                continue 'words;
            }
        }
        if contains_word(&HEALTH_SET, &ws[i].norm) {
            emit(ws[i].start, ws[i].end);
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ["بالسكري", "التهاب الكبد"]
        );
        assert_eq!(found(health, "I am pregnant"), ["pregnant"]);
    }
}
