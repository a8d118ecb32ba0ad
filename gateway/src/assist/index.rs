//! Inverted index behind the [`Ranker`](super::ranker::Ranker).
//!
//! Built once from the service documents and immutable afterwards. Every
//! field entry (name, keyword, example, description) is tokenised and
//! indexed as its stems, the lexicon concepts of those stems, and unordered
//! pairs of adjacent stems/concepts; each term's posting list stores, per
//! service, the BM25F term frequency already length-normalised per field and
//! saturated (`tf / (k1 + tf)`), so query time is a sum of
//! `weight · idf · sat` over the postings of the query's own terms. The
//! vocabulary of surface words (catalog stems and lexicon variants) carries a
//! trigram index for typo-tolerant lookups.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::fuzzy::Fuzzy;
use super::lexicon;
use super::text::tokens;

/// One service as the ranker sees it; `names` and `descriptions` are in
/// ar, fr, en order.
#[derive(Debug, Clone, Default)]
pub struct ServiceDoc {
    /// Service id (`config/services/<ministry>/<id>.toml`).
    pub id: String,
    /// Display names in ar, fr, en.
    pub names: [String; 3],
    /// Descriptions in ar, fr, en.
    pub descriptions: [String; 3],
    /// Catalog keywords (mixed languages).
    pub keywords: Vec<String>,
    /// Example utterances citizens type for this service.
    pub examples: Vec<String>,
}

const NAME: usize = 0;
const KEYWORD: usize = 1;
const EXAMPLE: usize = 2;
const DESCRIPTION: usize = 3;
/// BM25F weight of a term occurrence per field (name, keyword, example,
/// description): names and keywords are curated, descriptions verbose.
const FIELD_WEIGHT: [f32; 4] = [2.0, 2.0, 1.2, 0.7];
/// BM25F length normalisation per field.
const FIELD_B: [f32; 4] = [0.5, 0.4, 0.4, 0.7];
const K1: f32 = 1.2;
/// Multiplicative hasher for the per-query `doc id → score` accumulator:
/// keys are small dense integers, SipHash's DoS resistance buys nothing.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(super) type Accumulator = HashMap<u32, (f32, u64), BuildHasherDefault<IdHasher>>;

#[derive(Debug, Clone, Copy)]
pub(super) struct Posting {
    pub(super) doc: u32,
    /// Saturated, length-normalised BM25F term frequency `tf / (k1 + tf)`.
    pub(super) sat: f32,
}

#[derive(Debug)]
pub(super) struct Surface {
    pub(super) term: Option<u32>,
    pub(super) concepts: Vec<u32>,
    pub(super) generic: bool,
    pub(super) key: String,
}

/// The inverted index: term dictionary, posting lists, IDF, and the
/// surface vocabulary with its fuzzy index.
#[derive(Debug)]
pub(super) struct Index {
    pub(super) terms: HashMap<String, u32>,
    pub(super) idf: Vec<f32>,
    pub(super) postings: Vec<Vec<Posting>>,
    pub(super) surface_ids: HashMap<String, u32>,
    pub(super) surfaces: Vec<Surface>,
    pub(super) fuzzy: Fuzzy,
    /// Largest possible IDF, which scales scores to the catalog size.
    pub(super) scale: f32,
    /// Terms listed by more services than this only add to services that
    /// rarer terms already found, bounding the per-query accumulator.
    pub(super) seed_df: usize,
}

/// Key of a token inside pair terms: its first concept, else the stem.
pub(super) fn pair_key(stem: &str) -> String {
    match lexicon::concepts_of(stem).first() {
        Some(&c) => format!("~{}", lexicon::concept_name(c)),
        None => stem.to_string(),
    }
}

pub(super) fn pair(a: &str, b: &str) -> Option<String> {
    match a.cmp(b) {
        std::cmp::Ordering::Less => Some(format!("{a}|{b}")),
        std::cmp::Ordering::Greater => Some(format!("{b}|{a}")),
        std::cmp::Ordering::Equal => None,
    }
}

#[derive(Default)]
struct Builder {
    terms: HashMap<String, u32>,
}

impl Builder {
    fn id(&mut self, term: String) -> u32 {
        let next = u32::try_from(self.terms.len()).unwrap_or(u32::MAX);
        *self.terms.entry(term).or_insert(next)
    }
}

impl Index {
    /// Indexes `docs`; document ids are positions in the slice.
    pub(super) fn build(docs: &[ServiceDoc]) -> Index {
        let mut b = Builder::default();
        let mut stems = BTreeSet::new();
        let mut doc_tf: Vec<HashMap<u32, [f32; 4]>> = Vec::with_capacity(docs.len());
        let mut doc_len: Vec<[f32; 4]> = Vec::with_capacity(docs.len());
        for doc in docs {
            let mut tf: HashMap<u32, [f32; 4]> = HashMap::new();
            let mut len = [0f32; 4];
            let entries = (doc.names.iter().map(|t| (NAME, t)))
                .chain(doc.keywords.iter().map(|t| (KEYWORD, t)))
                .chain(doc.examples.iter().map(|t| (EXAMPLE, t)))
                .chain(doc.descriptions.iter().map(|t| (DESCRIPTION, t)));
            // Entries of one field the router reads as the same words count once: copies
            // with a `.` or `!` added took another service's searches (found when tried).
            let mut read: Vec<(usize, Vec<String>)> = Vec::new();
            for (field, text) in entries {
                let toks = tokens(text);
                let set = super::terms::word_set(&toks);
                if read.iter().any(|(f, s)| *f == field && *s == set) {
                    continue;
                }
                read.push((field, set));
                len[field] += toks.len() as f32;
                let mut add = |term: u32| tf.entry(term).or_insert([0.0; 4])[field] += 1.0;
                for t in &toks {
                    add(b.id(t.clone()));
                    for &c in lexicon::concepts_of(t) {
                        add(b.id(format!("~{}", lexicon::concept_name(c))));
                    }
                    stems.insert(t.clone());
                }
                let keys: Vec<String> = toks.iter().map(|t| pair_key(t)).collect();
                for w in keys.windows(2) {
                    if let Some(p) = pair(&w[0], &w[1]) {
                        add(b.id(p));
                    }
                }
            }
            doc_tf.push(tf);
            doc_len.push(len);
        }

        let n = docs.len().max(1) as f32;
        let mut avg = [0f32; 4];
        for len in &doc_len {
            for f in 0..4 {
                avg[f] += len[f] / n;
            }
        }
        let mut postings: Vec<Vec<Posting>> = vec![Vec::new(); b.terms.len()];
        for (d, (tf, len)) in doc_tf.iter().zip(&doc_len).enumerate() {
            let Ok(doc) = u32::try_from(d) else { break };
            for (&term, counts) in tf {
                let mut x = 0.0;
                for f in 0..4 {
                    if counts[f] > 0.0 && avg[f] > 0.0 {
                        let norm = 1.0 - FIELD_B[f] + FIELD_B[f] * len[f] / avg[f];
                        x += FIELD_WEIGHT[f] * counts[f] / norm;
                    }
                }
                if let Some(list) = postings.get_mut(term as usize) {
                    list.push(Posting {
                        doc,
                        sat: x / (K1 + x),
                    });
                }
            }
        }
        let idf = postings
            .iter()
            .map(|p| {
                let df = p.len() as f32;
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            })
            .collect();

        stems.extend(lexicon::table().keys().cloned());
        let mut surface_ids = HashMap::with_capacity(stems.len());
        let mut surfaces = Vec::with_capacity(stems.len());
        for (i, s) in stems.iter().enumerate() {
            let Ok(id) = u32::try_from(i) else { break };
            let cs = lexicon::concepts_of(s);
            surfaces.push(Surface {
                term: b.terms.get(s).copied(),
                concepts: cs
                    .iter()
                    .filter_map(|&c| {
                        b.terms
                            .get(&format!("~{}", lexicon::concept_name(c)))
                            .copied()
                    })
                    .collect(),
                generic: cs.iter().any(|&c| lexicon::is_generic(c)),
                key: pair_key(s),
            });
            surface_ids.insert(s.clone(), id);
        }
        let fuzzy = Fuzzy::build(stems.iter().map(String::as_str));
        Index {
            terms: b.terms,
            idf,
            postings,
            surface_ids,
            surfaces,
            fuzzy,
            scale: (1.0 + (n - 0.5) / 1.5).ln().max(0.1),
            seed_df: (docs.len() / 8).max(32),
        }
    }

    fn idf(&self, term: u32) -> f32 {
        self.idf.get(term as usize).copied().unwrap_or(0.0)
    }

    /// Scores services for weighted query terms `(term, weight, token mask)`:
    /// `doc → (Σ weight · idf · sat, OR of masks)`.
    ///
    /// Term-at-a-time, rarest first. Only terms listed by at most `seed_df`
    /// services may add candidates; commoner ones only boost the candidates
    /// found so far, looked up by binary search when that is cheaper than
    /// scanning their long posting list. The accumulator therefore holds the
    /// services reached by the query's distinctive terms, not the catalog.
    pub(super) fn accumulate(&self, qterms: &mut [(u32, f32, u64)]) -> Accumulator {
        qterms.sort_by(|a, b| self.idf(b.0).total_cmp(&self.idf(a.0)));
        let mut acc = Accumulator::default();
        for &(term, w, mask) in qterms.iter() {
            let Some(list) = self.postings.get(term as usize) else {
                continue;
            };
            let weight = w * self.idf(term);
            if list.len() <= self.seed_df {
                for p in list {
                    let e = acc.entry(p.doc).or_insert((0.0, 0));
                    e.0 += weight * p.sat;
                    e.1 |= mask;
                }
            } else if acc.len() * 16 < list.len() {
                for (doc, e) in acc.iter_mut() {
                    if let Ok(i) = list.binary_search_by_key(doc, |p| p.doc) {
                        e.0 += weight * list[i].sat;
                        e.1 |= mask;
                    }
                }
            } else {
                for p in list {
                    if let Some(e) = acc.get_mut(&p.doc) {
                        e.0 += weight * p.sat;
                        e.1 |= mask;
                    }
                }
            }
        }
        acc
    }
}
