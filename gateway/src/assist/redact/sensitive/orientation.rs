//! Sexual orientation and gender identity.

use super::Category;
use std::sync::LazyLock;

/// Sexual orientation and gender identity (special category data), in the four languages.
/// Found when tried: "je suis homosexuel" reached the LLM as written. "مثلي" is also "like
/// me": redacted all the same, as the bias is towards redacting.
const ORIENTATION: &[&str] = &[
    "homosexuel",
    "homosexuelle",
    "homosexuels",
    "homosexuelles",
    "homosexual",
    "homosexuals",
    "homosexualite",
    "homosexuality",
    "gay",
    "gays",
    "lesbienne",
    "lesbiennes",
    "lesbian",
    "lesbians",
    "bisexuel",
    "bisexuelle",
    "bisexual",
    "transgenre",
    "transgender",
    "transsexuel",
    "transsexuelle",
    "transsexual",
    "queer",
    "lgbt",
    "lgbtq",
    "lgbtqi",
    "مثلي",
    "مثليه",
    "مثليين",
    "مثليات",
    "المثلي",
    "المثليه",
    "المثليين",
    "مثلية",
    "زامل",
    "zamel",
    "mitli",
    "mithli",
    "متحول",
    "متحوله",
    "ميولي",
    // Found when tried: each reached the LLM as written ("mitliya", "mithliya" by their
    // feminine ending, [`latin_forms`]).
    "zamla",
    "zwamel",
    // Found when tried again: as written ("ana mthli").
    "mthli",
    "methli",
    "metli",
    "mtli",
    "trans",
    "pede",
    "pedes",
    "tapette",
    "travesti",
    "شاذ",
    "شاذه",
    "الشواذ",
    "شواذ",
];

/// Words that complete an orientation word ("مثلي الجنس", "متحول جنسيا").
const ORIENTATION_TRAILS: &[&str] = &["الجنس", "جنسيا", "جنسي", "sexuel", "sexuelle", "sexually"];

pub(super) static ORIENTATION_TERMS: LazyLock<Category> =
    LazyLock::new(|| Category::new(ORIENTATION, &[], &[], ORIENTATION_TRAILS));

/// Calls `emit(start, end)` for each word of sexual orientation or gender identity.
pub fn orientation(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    ORIENTATION_TERMS.find(chars, emit);
}
