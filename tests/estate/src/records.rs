//! Plausible administrative records, generated deterministically.
//!
//! Legacy pages are full of dossier tables (case numbers, applicants, cities,
//! statuses, dates); the large pages, the tracking page and the SOAP service
//! all draw from here so the same reference always shows the same status and
//! the pages look like a real back office without storing anything.

use crate::chaos::splitmix64;

/// A dossier status, in the service's codes and both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) code: &'static str,
    pub(crate) fr: &'static str,
    pub(crate) ar: &'static str,
}

const STATUSES: [Status; 3] = [
    Status {
        code: "EN_COURS",
        fr: "En cours de traitement",
        ar: "في طور المعالجة",
    },
    Status {
        code: "VALIDE",
        fr: "Validé",
        ar: "مقبول",
    },
    Status {
        code: "REJETE",
        fr: "Rejeté",
        ar: "مرفوض",
    },
];

const CITIES: [(&str, &str); 12] = [
    ("Rabat", "الرباط"),
    ("Casablanca", "الدار البيضاء"),
    ("Fès", "فاس"),
    ("Marrakech", "مراكش"),
    ("Tanger", "طنجة"),
    ("Agadir", "أكادير"),
    ("Oujda", "وجدة"),
    ("Meknès", "مكناس"),
    ("Kénitra", "القنيطرة"),
    ("Tétouan", "تطوان"),
    ("Laâyoune", "العيون"),
    ("Béni Mellal", "بني ملال"),
];

const NAMES: [(&str, &str); 8] = [
    ("Mohammed El Amrani", "محمد العمراني"),
    ("Fatima Zahra Bennani", "فاطمة الزهراء بناني"),
    ("Youssef Alaoui", "يوسف العلوي"),
    ("Khadija Tazi", "خديجة التازي"),
    ("Hicham Berrada", "هشام برادة"),
    ("Naïma Chraïbi", "نعيمة الشرايبي"),
    ("Abdelkader Ouazzani", "عبد القادر الوزاني"),
    ("Salma Benjelloun", "سلمى بنجلون"),
];

const DOCUMENTS: [(&str, &str); 8] = [
    ("Extrait d'acte de naissance", "نسخة موجزة من رسم الولادة"),
    ("Certificat de résidence", "شهادة السكنى"),
    ("Fiche anthropométrique", "بطاقة السوابق"),
    ("Attestation de salaire", "شهادة الأجر"),
    ("Copie de la CNIE", "نسخة من البطاقة الوطنية"),
    ("Certificat de vie", "شهادة الحياة"),
    ("Attestation de scolarité", "شهادة مدرسية"),
    ("Quittance de paiement", "وصل الأداء"),
];

/// FNV-1a of a string, finished with splitmix64.
pub(crate) fn hash_str(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(h)
}

/// The status of a dossier, a pure function of its reference.
pub(crate) fn status_of(reference: &str) -> Status {
    STATUSES[(hash_str(reference) % STATUSES.len() as u64) as usize]
}

/// Last update of a dossier (`YYYY-MM-DD`), a pure function of its reference.
pub(crate) fn updated_of(reference: &str) -> String {
    iso_date(splitmix64(hash_str(reference)))
}

/// A date between 2006-01-01 and 2012-12-31 picked by `h`, as `YYYY-MM-DD`.
pub(crate) fn iso_date(h: u64) -> String {
    let (y, m, d) = civil_from_days(13_149 + (h % 2_557) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to (year, month, day) — Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// One row of a dossier table.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) reference: String,
    pub(crate) name: (&'static str, &'static str),
    pub(crate) city: (&'static str, &'static str),
    pub(crate) status: Status,
    pub(crate) date: String,
    pub(crate) amount: u64,
}

/// The `n`-th dossier of a site (identified by `salt`, e.g. its index).
pub(crate) fn record(salt: u64, n: u64) -> Record {
    let h = splitmix64(splitmix64(salt) ^ n);
    let year = 2006 + (h % 7);
    let reference = format!("{}/{:03}/{:06}", year, (h >> 8) % 900 + 100, n + 1);
    Record {
        status: status_of(&reference),
        date: iso_date(h >> 16),
        name: NAMES[((h >> 24) % NAMES.len() as u64) as usize],
        city: CITIES[((h >> 32) % CITIES.len() as u64) as usize],
        amount: 50 + (h >> 40) % 4_950,
        reference,
    }
}

/// A document held for a citizen.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub(crate) id: String,
    pub(crate) title: (&'static str, &'static str),
    pub(crate) issued: String,
}

/// The documents held for a CIN: three to five, a pure function of the CIN.
pub(crate) fn documents_of(cin: &str) -> Vec<Document> {
    let h = hash_str(cin);
    let count = 3 + (h % 3) as usize;
    (0..count)
        .map(|i| {
            let hi = splitmix64(h ^ i as u64);
            Document {
                id: format!("DOC-{:08X}", hi as u32),
                title: DOCUMENTS[(hi >> 32) as usize % DOCUMENTS.len()],
                issued: iso_date(hi >> 8),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_stay_in_range() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(iso_date(0), "2006-01-01");
        assert_eq!(iso_date(2_556), "2012-12-31");
    }

    #[test]
    fn status_is_a_function_of_the_reference() {
        assert_eq!(status_of("2008/123/000001"), status_of("2008/123/000001"));
        let codes: std::collections::HashSet<_> = (0..50)
            .map(|i| status_of(&format!("REF-{i}")).code)
            .collect();
        assert_eq!(codes.len(), 3);
    }
}
