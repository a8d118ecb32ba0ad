//! Very large legacy pages, generated on the fly and streamed in chunks.
//!
//! `large-pages` sites have a `P/releve` of well over a megabyte (a full
//! table of dossiers), and every site has the `P/__estate/big?mb=N` page for
//! benchmarks. Rows are produced ~16 KiB at a time and encoded in the site's
//! charset as they go, so memory does not grow with the page size and the
//! response goes out with chunked transfer encoding.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream;

use crate::charset::Charset;
use crate::html::{escape, layout, Links};
use crate::records::record;
use crate::respond;
use crate::sites::Site;

/// Size of the chunks the page is produced in.
const CHUNK: usize = 16 * 1024;

/// Size of a `large-pages` site's `P/releve`.
pub(crate) const RELEVE_BYTES: u64 = 1_536 * 1024;

/// Where the page body is cut to insert the table rows.
const ROWS_MARK: &str = "\u{1}ROWS\u{1}";

enum Phase {
    Head,
    Rows,
    Tail,
    Done,
}

struct Generator {
    site: &'static Site,
    salt: u64,
    charset: Charset,
    head: String,
    tail: String,
    target: u64,
    emitted: u64,
    row: u64,
    phase: Phase,
}

impl Generator {
    fn next_chunk(&mut self) -> Option<Bytes> {
        let text = match self.phase {
            Phase::Head => {
                self.phase = Phase::Rows;
                std::mem::take(&mut self.head)
            }
            Phase::Rows => {
                let links = Links::new(self.site);
                let mut text = String::with_capacity(CHUNK + 1024);
                while text.len() < CHUNK {
                    self.push_row(&links, &mut text);
                }
                let bytes = self.charset.encode(&text);
                self.emitted += bytes.len() as u64;
                if self.emitted >= self.target {
                    self.phase = Phase::Tail;
                }
                return Some(bytes);
            }
            Phase::Tail => {
                self.phase = Phase::Done;
                std::mem::take(&mut self.tail)
            }
            Phase::Done => return None,
        };
        let bytes = self.charset.encode(&text);
        self.emitted += bytes.len() as u64;
        Some(bytes)
    }

    fn push_row(&mut self, links: &Links<'_>, out: &mut String) {
        let r = record(self.salt, self.row);
        let href = links.href(&format!("suivi?ref={}", r.reference));
        out.push_str(&format!(
            "<tr class=\"l{}\"><td><a href=\"{}\">{}</a></td><td>{}</td><td dir=\"rtl\">{}</td>\
             <td>{}</td><td dir=\"rtl\">{}</td><td>{}</td><td dir=\"rtl\">{}</td><td>{}</td>\
             <td align=\"right\">{},00 DH</td></tr>\n",
            self.row % 2,
            escape(&href),
            escape(&r.reference),
            escape(r.name.0),
            r.name.1,
            escape(r.city.0),
            r.city.1,
            escape(r.status.fr),
            r.status.ar,
            r.date,
            r.amount,
        ));
        self.row += 1;
    }
}

/// A page of at least `target` bytes (in the site's charset), streamed.
pub(crate) fn page(site: &'static Site, site_index: usize, heading: &str, target: u64) -> Response {
    let charset = Charset::of(site);
    let intro = format!(
        "<p>Relevé des dossiers enregistrés - {}. Document généré automatiquement, \
         merci de patienter pendant le chargement.</p>\n\
         <table class=\"releve\" border=\"1\" cellspacing=\"0\" cellpadding=\"2\" width=\"100%\">\n\
         <tr><th>Dossier</th><th>Demandeur</th><th>{}</th><th>Ville</th><th>{}</th>\
         <th>État</th><th>{}</th><th>Date</th><th>Montant</th></tr>\n{ROWS_MARK}</table>",
        escape(&site.title.fr),
        if charset.has_arabic() {
            "الاسم"
        } else {
            "Nom"
        },
        if charset.has_arabic() {
            "المدينة"
        } else {
            "Localité"
        },
        if charset.has_arabic() {
            "الحالة"
        } else {
            "Statut"
        },
    );
    let full = layout(site, heading, &intro);
    let (head, tail) = full.split_once(ROWS_MARK).unwrap_or((full.as_str(), ""));
    let generator = Generator {
        site,
        salt: site_index as u64,
        charset,
        head: head.to_string(),
        tail: tail.to_string(),
        target,
        emitted: 0,
        row: 0,
        phase: Phase::Head,
    };
    let chunks = stream::unfold(generator, |mut generator| async move {
        generator
            .next_chunk()
            .map(|chunk| (Ok::<Bytes, Infallible>(chunk), generator))
    });
    respond::with_body(
        StatusCode::OK,
        charset.html_content_type(),
        Body::from_stream(chunks),
    )
}
