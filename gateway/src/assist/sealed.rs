//! A citizen's query sealed into an opaque, short-lived token, so that the search page's
//! address (`/search?t=<token>`) says nothing of what she asked.
//!
//! Why: a query in the address (`/search?q=...`) is written into the browser's history
//! and its address-bar suggestions (the next user of a shared computer reads it), into
//! the access log of every proxy or CDN in front of the gateway, and into each link of
//! the page that carries it back (the language switcher, the login's way back). Citizens
//! type their identity card numbers, their children's names and their illnesses into the
//! box. The box therefore posts its query, and the gateway answers with a redirect to the
//! sealed address (POST/redirect/GET: the Back button and a reload work as for any
//! page), which any instance sharing the deployment's secret can open.
//!
//! The seal is AES-256-GCM under a key derived from the deployment's
//! `identity.pairwise_secret` with a label of its own (see the decision cache's keys),
//! with a random nonce per token: a token is unreadable and unforgeable without that
//! secret. It opens only with the `binding` it was sealed with (the portal gives each
//! browser a random one in a cookie): an address read from a log in front of the gateway,
//! or passed on, opens to nothing elsewhere. It carries its own expiry, after which it
//! opens to nothing (a history entry on a shared computer shows the empty box once its
//! [`SEALED_FOR`] has passed), and its length says the query's only to [`PADDED_TO`]
//! bytes. Without the secret, the key is random for the process's life.

use super::cache::derived_key;
use crate::config::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// How long a sealed query opens: long enough for a citizen to come back to her answers
/// from a legacy site's forms with the Back button, short enough that a shared computer's
/// history does not keep them for the next citizen.
pub const SEALED_FOR: u64 = 30 * 60;

/// Bound to this purpose (and then to the binding): a token sealed by another use of the
/// same key does not open.
const PURPOSE: &[u8] = b"egov-gateway search query v1";
/// The expiry's bytes and the query's length, before the query.
const HEAD_LEN: usize = 8 + 2;
/// AES-GCM's tag.
const TAG_LEN: usize = 16;
/// What is sealed (expiry, length, query) is padded to a multiple of this.
pub const PADDED_TO: usize = 32;

/// The longest query, in bytes, whose token is at most `token_chars` long (base64url of
/// the nonce, the padded plaintext and the tag).
pub fn longest_sealable(token_chars: usize) -> usize {
    let bytes = token_chars / 4 * 3 + (token_chars % 4).saturating_sub(1);
    let plain = bytes.saturating_sub(NONCE_LEN + TAG_LEN) / PADDED_TO * PADDED_TO;
    plain.saturating_sub(HEAD_LEN).min(usize::from(u16::MAX))
}

/// The associated data of a token bound to `binding`.
fn aad(binding: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(PURPOSE.len() + binding.len());
    aad.extend_from_slice(PURPOSE);
    aad.extend_from_slice(binding);
    aad
}

/// Why a token did not open; each is answered the same way (the empty box), and each is
/// named for the log and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unsealed {
    #[error("not a token: not base64url, or too short")]
    Malformed,
    #[error("not sealed by this deployment, or altered")]
    Forged,
    #[error("expired")]
    Expired,
}

impl Unsealed {
    /// Its name in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Forged => "forged",
            Self::Expired => "expired",
        }
    }
}

/// Seals and opens queries under the deployment's key.
pub struct SealedQueries {
    key: LessSafeKey,
}

impl SealedQueries {
    /// Under a key derived from `deployment_secret`, or a random one without it.
    pub fn new(deployment_secret: Option<&Secret>) -> Self {
        let bytes = derived_key(deployment_secret, b"egov-gateway search token key v1");
        let key = UnboundKey::new(&AES_256_GCM, &bytes).expect("AES-256-GCM takes a 32-byte key");
        Self {
            key: LessSafeKey::new(key),
        }
    }

    /// `query` sealed for `binding` until `now` + [`SEALED_FOR`] (seconds since the
    /// epoch), as base64url. A query longer than 65,535 bytes is cut (the portal's are
    /// cut far shorter first, see [`longest_sealable`]).
    pub fn seal(&self, query: &str, binding: &[u8], now: u64) -> String {
        let mut end = query.len().min(usize::from(u16::MAX));
        while !query.is_char_boundary(end) {
            end -= 1;
        }
        let query = &query.as_bytes()[..end];
        let plain = (HEAD_LEN + query.len()).div_ceil(PADDED_TO) * PADDED_TO;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut sealed = Vec::with_capacity(NONCE_LEN + plain + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&now.saturating_add(SEALED_FOR).to_be_bytes());
        sealed.extend_from_slice(&(query.len() as u16).to_be_bytes());
        sealed.extend_from_slice(query);
        sealed.resize(NONCE_LEN + plain, 0);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(binding).as_slice()),
                &mut sealed[NONCE_LEN..],
            )
            .expect("AES-GCM seals any length a request can carry");
        sealed.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The query sealed in `token`, if it is this deployment's, sealed for `binding`,
    /// unaltered and not expired at `now`.
    pub fn open(&self, token: &str, binding: &[u8], now: u64) -> Result<String, Unsealed> {
        let mut sealed = URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .map_err(|_| Unsealed::Malformed)?;
        if sealed.len() < NONCE_LEN + HEAD_LEN + TAG_LEN {
            return Err(Unsealed::Malformed);
        }
        let (nonce, body) = sealed.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealed::Malformed)?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(binding).as_slice()), body)
            .map_err(|_| Unsealed::Forged)?;
        let (head, rest) = plain.split_at(HEAD_LEN);
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&head[..8]);
        if u64::from_be_bytes(expiry) <= now {
            return Err(Unsealed::Expired);
        }
        let len = usize::from(u16::from_be_bytes([head[8], head[9]]));
        // Sealed from a `&str` by this code: anything else was sealed by something else.
        let query = rest.get(..len).ok_or(Unsealed::Forged)?;
        String::from_utf8(query.to_vec()).map_err(|_| Unsealed::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        crate::config::Secrets::default()
            .with_env("EGOV_TEST_DEPLOYMENT", s)
            .resolve(&crate::config::SecretRef::Env(
                "EGOV_TEST_DEPLOYMENT".into(),
            ))
            .expect("a secret given in memory")
    }

    const NOW: u64 = 1_800_000_000;
    /// The browser's binding.
    const ME: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_sealed_query_opens_to_itself_and_shows_none_of_its_words() {
        let sealed = SealedQueries::new(Some(&secret("deployment")));
        let query = "تجديد البطاقة الوطنية AB123456 لابني يوسف";
        let token = sealed.seal(query, ME, NOW);
        assert_eq!(sealed.open(&token, ME, NOW + 60).as_deref(), Ok(query));
        assert!(!token.contains("AB123456"), "{token}");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "safe in a query string as it is: {token}"
        );
        assert_ne!(
            sealed.seal(query, ME, NOW),
            token,
            "a fresh nonce per token"
        );
    }

    #[test]
    fn every_instance_of_a_deployment_opens_the_others_tokens_and_no_other_deployment_does() {
        let one = SealedQueries::new(Some(&secret("deployment")));
        let other_instance = SealedQueries::new(Some(&secret("deployment")));
        let elsewhere = SealedQueries::new(Some(&secret("another deployment")));
        let token = one.seal("passeport", ME, NOW);
        assert_eq!(
            other_instance.open(&token, ME, NOW).as_deref(),
            Ok("passeport")
        );
        assert_eq!(elsewhere.open(&token, ME, NOW), Err(Unsealed::Forged));
        let random = SealedQueries::new(None);
        assert_eq!(random.open(&token, ME, NOW), Err(Unsealed::Forged));
    }

    #[test]
    fn a_token_opens_only_with_the_binding_it_was_sealed_for() {
        let sealed = SealedQueries::new(Some(&secret("deployment")));
        let token = sealed.seal("passeport", ME, NOW);
        assert_eq!(
            sealed.open(&token, b"another browser", NOW),
            Err(Unsealed::Forged)
        );
        assert_eq!(sealed.open(&token, b"", NOW), Err(Unsealed::Forged));
    }

    #[test]
    fn a_tokens_length_tells_the_querys_only_to_the_padding() {
        let sealed = SealedQueries::new(None);
        let lengths: Vec<usize> = (0..=PADDED_TO - HEAD_LEN)
            .map(|n| sealed.seal(&"a".repeat(n), ME, NOW).len())
            .collect();
        assert!(lengths.iter().all(|&l| l == lengths[0]), "{lengths:?}");
        let next = sealed.seal(&"a".repeat(PADDED_TO - HEAD_LEN + 1), ME, NOW);
        assert!(next.len() > lengths[0]);
    }

    #[test]
    fn the_longest_sealable_query_makes_a_token_of_at_most_the_room_given() {
        let sealed = SealedQueries::new(None);
        for room in [0, 36, 47, 48, 49, 50, 51, 100, 2048, 8182] {
            let fits = longest_sealable(room);
            let token = sealed.seal(&"a".repeat(fits), ME, NOW);
            assert!(token.len() <= room || fits == 0, "{room}: {}", token.len());
            let longer = sealed.seal(&"a".repeat(fits + 1), ME, NOW);
            assert!(longer.len() > room, "{room}: {fits} is not the longest");
        }
    }

    #[test]
    fn a_token_expires_after_its_time() {
        let sealed = SealedQueries::new(Some(&secret("deployment")));
        let token = sealed.seal("passeport", ME, NOW);
        assert!(sealed.open(&token, ME, NOW + SEALED_FOR - 1).is_ok());
        assert_eq!(
            sealed.open(&token, ME, NOW + SEALED_FOR),
            Err(Unsealed::Expired)
        );
    }

    #[test]
    fn an_altered_or_invented_token_does_not_open() {
        let sealed = SealedQueries::new(Some(&secret("deployment")));
        let token = sealed.seal("passeport", ME, NOW);
        // Each byte of it altered in turn: the nonce, the expiry, the query, the tag.
        let raw = URL_SAFE_NO_PAD.decode(&token).expect("base64url");
        for i in 0..raw.len() {
            let mut altered = raw.clone();
            altered[i] ^= 0x01;
            assert_eq!(
                sealed.open(&URL_SAFE_NO_PAD.encode(&altered), ME, NOW),
                Err(Unsealed::Forged),
                "byte {i}"
            );
        }
        assert_eq!(
            sealed.open(&URL_SAFE_NO_PAD.encode(&raw[..raw.len() - 1]), ME, NOW),
            Err(Unsealed::Forged)
        );
        for invented in ["", "AAAA", "not base64!", &"A".repeat(50)] {
            assert_eq!(
                sealed.open(invented, ME, NOW),
                Err(Unsealed::Malformed),
                "{invented:?}"
            );
        }
    }
}
