//! Text normalisation and tokenisation for citizen queries: the one place that decides
//! what "the same word" means.
//!
//! Citizens write the same request in Modern Standard Arabic, Darija in Arabic
//! script, Darija in Latin script with digits standing for Arabic letters
//! ("l7aj", "9or3a"), French without accents, English, or all of them at once.
//! Before any matching can happen these surface variants have to collapse onto
//! one form: this module is the single place that decides what "the same word"
//! means, and both the index (service texts) and the queries go through it, so
//! whatever it does is applied consistently to both sides.
//!
//! [`fold::normalize`] is a character-level pass (case, Arabic orthography, accents,
//! digits, punctuation, whitespace). [`tokens::tokens`] splits the normalised text into
//! words, drops stop words of every language involved and applies a light,
//! deliberately conservative stemmer (French/English suffixes, Arabic clitics,
//! Darija-Latin digit letters and the assimilated article "l").
//!
//! Rooms, lowest first: [`fold`] (characters), [`stopwords`] (folded with [`fold`]), then
//! [`tokens`] (words, using both).

pub mod fold;
pub mod stopwords;
pub mod tokens;

pub use fold::{canonical, latin_fold, normalize, visible};
pub use tokens::{stem_word, tokens, tokens_of_normalized};
