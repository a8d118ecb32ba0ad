//! Stop words of the languages citizens mix in one query.
//!
//! A query like "bghit nchouf wach 3ndi chi mokhalafa dyal radar" carries two
//! content words among ten; without a stop list the Darija glue ("bghit",
//! "dyal", "wach") would dominate lexical scores and make every Darija query
//! look alike. The lists cover grammar words and the few verbs every request
//! starts with ("I want", "how do I", "where", "I need") in Modern Standard
//! Arabic, Darija (Arabic and Latin script), French and English. Content
//! words, even very frequent ones such as "demande" or "طلب", are left to
//! the ranker's IDF weighting instead.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::fold::{latin_fold, normalize};

const ARABIC: &str = "من إلى الى على عن في مع هل ما ماذا كيف كيفية أين اين متى لماذا لما هذا هذه ذلك تلك التي الذي الذين \
هو هي هم أنا انا نحن أنت انت أن إن لا لم لن قد كل بعد قبل عند عبر أو او ثم حتى يمكن يمكنني أريد ارغب أرغب أود \
لي له لها به بها فيه فيها منه منها عليه عليها إلي الي ذات بين أي اي كان كانت يكون تكون هناك هنا نعم شكرا السلام عليكم \
مرحبا الرجاء المرجو أحتاج احتاج أستطيع اجل أجل خلال لدى لدي حول ضد وهو وهي وما وفي ومن يتم تم هي";

const DARIJA_AR: &str = "بغيت بغينا بغا بغات بغيتي نبغي كيفاش كيفاه فين فاين واش شنو شنوا اشنو أشنو علاش شحال \
ديال ديالي ديالك ديالو ديالها ديالنا ديالكم ديالهم دالي ف فـ ل و ولا ولى راه راني راها راهم \
هاد هادي هادا هادشي هادو داك ديك شي كاين كاينة كاينه كاينين باش إلا ايلا دابا غير غادي غا بزاف شوية مازال \
خاصني خاصنا خاص خاصو خاصها ندير نديرو دير ناخد ناخذ نشوف نعرف نمشي عندي عندنا عندو عندها ليا ليه ليها لينا عليا \
حيت حتى واحد وحدة معايا صافي عافاك الله سلام مرحبا أشنو آش اش كي كيف منين فوقاش وقتاش";

const FRENCH: &str = "le la les l un une des du de d au aux et ou où en dans pour par sur avec sans sous ce cet cette ces \
mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs je j tu il elle on nous vous ils elles me m te t se s \
lui y a est suis es sont etre être ai as avons avez ont été ete etait était qui que qu quoi quel quelle quels quelles \
comment quand combien pourquoi ne n pas plus tres très bien faire fais fait veux voudrais voudrait peux peut puis dois \
doit faut besoin svp merci bonjour bonsoir salut chez comme si mais donc alors depuis tout tous toute toutes aussi \
encore deja déjà an ans annee années ici la là c ca ça cela ceci quoi moi toi vers ya il-y-a cest c'est";

const ENGLISH: &str = "the a an and or of to in on at for from with by about as is are am was were be been being do \
does did how what where when which who whom why can could should would will shall may might must i me my mine you \
your yours we our us they them their he she his her it its this that these those there here want wanted need needs \
please hi hello hey thanks thank get got have has had just so not no yes any some also into out up if then than \
im i'm dont don't let lets year years old";

const DARIJA_LATIN: &str = "bghit bgheet bghina bgha bghat nbghi kifach kifash kifah kif fin fen fein wach wash \
ach chno chnou chnu achno ach7al ch7al chhal dyal dyali dyalek dyalk dyalo dyalha dyalna dyalkom dyalhom diali dial \
fi f l m3a ma3a mn men min 3la ala o w wa ana nta nti howa hiya 7na ntoma homa li lli elli had hadi hada hadak hadik \
hadchi chi shi kayn kayna kaynin bach bash ila ida daba db ghir gha ghadi ghan ghi wla awla walakin 7ta hta bzaf \
chwiya mazal ya salam slm salamu khoya khti 3afak 3fak 3afakom allah llah rah raha rani rahom khassni khasni khasna \
khass khas khasso ndir ndiro dir nakhod nakhd nakhed nchouf nchof nchuf n3ref n3rf nmchi 3ndi 3andi 3ndna liya lia \
lih liha 3liya ktr kter wahed wa7ed wa7d hit 7it dak dik mlli melli mli fach fo9ach imta chkoun chkon ki";

fn set() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = HashSet::new();
        for list in [ARABIC, DARIJA_AR, FRENCH, ENGLISH, DARIJA_LATIN] {
            for raw in list.split_whitespace() {
                let n = normalize(raw);
                for w in n.split(' ').filter(|w| !w.is_empty()) {
                    set.insert(w.to_string());
                    if w.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
                        set.insert(latin_fold(w));
                    }
                }
            }
        }
        set
    })
}

/// Whether a normalised word (see [`normalize`]) is a stop word in any of
/// the supported languages.
pub fn is_stop(word: &str) -> bool {
    set().contains(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_language() {
        for w in [
            "من", "بغيت", "ديال", "le", "pour", "the", "how", "bghit", "dyal", "fin", "kifach",
        ] {
            assert!(is_stop(&normalize(w)), "{w}");
        }
        // Folded Darija spelling of a listed word.
        assert!(is_stop(&latin_fold("ch7al")));
    }

    #[test]
    fn content_words_are_kept() {
        for w in ["passeport", "جواز", "cnss", "radar", "الما", "demande"] {
            assert!(!is_stop(&normalize(w)), "{w}");
        }
    }
}
