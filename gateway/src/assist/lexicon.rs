//! Cross-language lexicon of administrative vocabulary.
//!
//! Lexical matching only works when the query and the service text share a
//! word. A citizen writing "lkhatiya" (Darija, Latin script), "الخطية"
//! (Darija), "غرامة" (Arabic), "amende" (French) or "fine" (English) means one
//! thing; this table maps each of those surface forms to a shared concept
//! ("fine") that the ranker indexes next to the words themselves, so a query
//! in one language can reach a service described in another. It holds common
//! administrative vocabulary and the French loanwords Moroccans write in
//! Arabic or Latin letters (لاكارط, lpermi, باسبور, diwana), not phrases of
//! particular queries.
//!
//! Variants are written as people type them; they go through the same
//! [`tokens`](super::text::tokens) pipeline as everything else when the
//! table is loaded, so spelling variants only need listing when stemming and
//! folding do not already merge them. Each variant must yield exactly one
//! token (checked by a test).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::text::tokens;

/// `(concept, whitespace-separated variants)`.
pub const CONCEPTS: &[(&str, &str)] = &[
    // Identity and civil status.
    ("card", "بطاقة بطاقات لاكارط كارط الكارط كارطة carte cartes card cards lcarte karta bitaqa btaqa"),
    ("national", "وطنية الوطنية ناسيونال nationale national wataniya wat3niya nasional nasyonal"),
    ("identity", "تعريف التعريف هوية identite identity cin cnie id"),
    ("passport", "جواز باسبور الباسبور بسبور passeport passport passports pasport paspor baspor lpaspor passpor"),
    ("renew", "تجديد جدد نجدد نجددها يجدد تجدد renouveler renouvellement renouvelement renew renewal renewing njded njdded njeddedha tjdid tajdid jded"),
    ("lost", "ضاع ضاعت ضاعو ضياع ضايع مضيعة فقدان perte perdu perdue lost lose tlef tleft tlfat daa3 da3 d3at"),
    ("stolen", "سرقة سرقو تسرق تسرقات تسرقلي vol vole volee stolen stole theft tsr9at tser9at ser9o sri9a"),
    ("expired", "انتهاء منتهي منتهية سالات صالحية الصلاحية expire expiree expired expiry tsalat salat perime perimee"),
    ("appointment", "موعد مواعيد رونديفو رانديفو rendez rdv appointment appointments slot maw3id maw3id randevu rendevous"),
    ("consulate", "قنصلية القنصلية قنصليه consulat consulate consular consulaire qonsoliya l9onsoliya konsoliya"),
    ("abroad", "الخارج برا etranger etrangere abroad foreign kharij lkharij bra mre"),
    ("birth", "ولادة الولادة ازدياد الازدياد تزاد تزاديت naissance birth born izdiyad wilada tzad tzadit"),
    ("certificate", "شهادة شهادات certificat attestation certificate certificates chahada chahadat chhada"),
    ("extract", "مستخرج موجزة extrait extract"),
    ("copy", "نسخة نسخ كوبي copie copy nuskha noskha"),
    ("full", "كاملة كامل integrale integral full complete complet kamila kamla"),
    ("criminal", "عدلي العدلي سوابق السوابق casier judiciaire criminal kazi lcasier sawabiq"),
    ("court", "محكمة المحكمة محاكم tribunal court courts mahkama lmahkama mahakim"),
    ("file", "ملف الملف ملفات dossier dossiers file ddossier malaf milaf"),
    ("fine", "غرامة الغرامة غرامات خطية الخطية amende amendes fine fines khatiya lkhatiya ghrama ghramat contravention"),
    ("radar", "رادار الرادار radar radars flash flashe flashani flachani"),
    ("speed", "سرعة السرعة vitesse speed speeding sor3a"),
    ("nationality", "جنسية الجنسية nationalite nationality citizenship jinsiya ljinsiya jensiya"),
    ("marriage", "زواج الزواج mariage marriage zwaj zawaj"),
    ("divorce", "طلاق الطلاق divorce tla9"),
    ("post", "بريد البريد بوسطة البوسطة لابوسطة courrier poste mail post bosta lbosta"),
    ("address", "عنوان العنوان adresse address l3onwan 3onwan"),
    ("change", "تغيير تبديل نبدل نبدلو بدلت changement changer change modifier nbeddel nbdel tbdil bddel"),
    ("move", "رحلت رحلنا déménagement demenagement demenager demenage moved moving rhlt r7alt"),
    // Taxes and customs.
    ("tax", "ضريبة الضريبة ضرائب الضرائب ضريبه impot impots taxe taxes tax dariba daraib dara2ib"),
    ("income", "دخل الدخل مدخول revenu revenus income dakhl madkhoul"),
    ("rent", "كراء الكرا كرا كنكري نكري loyer loyers locatif location rent rental kra lkra kera"),
    ("vat", "tva vat مضافة تيفا التيفا"),
    ("declare", "تصريح التصريح صرح نصرح يصرح كنصرح نصرحو تصرح declarer declaration declare declari ndeclari ndeclariw tdeclari tasri7"),
    ("vignette", "فينييت لافينييت الفينييت فينيت vignette vignettes vinyet vinyette lvinyet tsav"),
    ("vehicle", "سيارة سيارات طوموبيل طونوبيل الطوموبيل لوطو voiture vehicule vehicle car cars tomobil tonobil tomobile loto"),
    ("pay", "أداء الأداء اداء خلص نخلص نخلصو نخلصها تخلص خلاص payer paiement paie pay payment paying nkhles nkhls nkhlsha nkhlesha nkhlso khles khlas tkhlas"),
    ("customs", "جمارك الجمارك جمركي جمركية ديوانة الديوانة douane douanes douanier customs diwana douana adii"),
    ("import", "استيراد مستورد importer importe import imported importation"),
    ("goods", "بضائع سلعة السلعة سلع marchandise marchandises goods sel3a sl3a"),
    ("phone", "هاتف تيليفون بورطابل التيليفون telephone phone portable smartphone tilifon"),
    // Work and social security.
    ("job", "شغل الشغل عمل travail emploi job jobs work khedma khdma lkhedma boulot"),
    ("dismissed", "طرد طردوني تجريت licencie licenciement licencier chomage fired dismissed unemployment unemployed tjerrit tjrit jerrawni"),
    ("employee", "أجير أجراء الأجراء خدام خدامين الخدامة salarie salaries employe employes employee employees worker workers khddam khddama lkhddama"),
    ("employer", "مشغل باطرون employeur employer patron"),
    ("cnss", "ضمان الضمان cnss damane dman"),
    ("pension", "تقاعد التقاعد معاش المعاش متقاعد retraite retraité retraite pension pensioner retirement retired mo3ach lmo3ach retret ta9a3od t9a3od lta9a3od"),
    ("salary", "أجر أجور الأجرة salaire salaires salary salaries wages payroll"),
    ("contribution", "اشتراك اشتراكات cotisation cotisations contribution contributions"),
    ("day", "أيام الأيام نهار jours jour days nhar iyam"),
    // Health.
    ("sick", "مرض المرض maladie malade sick illness medical lmarad mrid"),
    ("reimburse", "تعويض التعويض استرجاع remboursement rembourser rembourse reimbursement reimburse refund ta3wid t3wid"),
    ("hospital", "مستشفى المستشفى سبيطار السبيطار hopital hospital sbitar sbitar chu"),
    ("doctor", "طبيب الطبيب دكتور medecin docteur doctor tbib specialiste specialist"),
    ("insurance", "تأمين التأمين تغطية التغطية assurance insurance coverage ta2min taghtiya"),
    ("ramed", "راميد الراميد ramed ramid"),
    // Education.
    ("grades", "نقط النقط نقاط notes note grades marks nnoqat noqat no9at"),
    ("bac", "بكالوريا البكالوريا باكالوريا الباكالوريا باك الباك bac baccalaureat baccalaureate lbac"),
    ("free_candidate", "أحرار احرار libre libres independent 7or a7rar hor"),
    ("scholarship", "منحة المنحة منحتي bourse bourses scholarship grant min7a lmin7a minha minhaty"),
    ("dorm", "حي الحي ليسيتي cite dorm dormitory residence hebergement lisiti"),
    ("university", "جامعة جامعي الجامعي الجامعية universite universitaire university etudiant student jami3a jami3i"),
    ("diploma", "ديبلوم الديبلوم ماستر الماستر diplome diplomes diploma degree diplom master"),
    ("exam", "امتحان الامتحان امتحانات examen examens exam exams imtihan ndouz ndowz ندوز"),
    ("equivalence", "معادلة المعادلة نعادل equivalence equivalent recognition recognised recognized reconnaissance mo3adala"),
    ("training", "تكوين التكوين formation training vocational takwin"),
    ("school", "مدرسة المدرسة قراية ecole school lycee college madrasa"),
    // Transport.
    ("permit", "رخصة الرخصة رخص ترخيص permis permi lpermi lpermis bermi البيرمي بيرمي licence license permit rokhsa rokhas"),
    ("driving", "سياقة السياقة conduire conduite driving driver"),
    ("infraction", "مخالفة المخالفة مخالفات infraction infractions violation violations ticket mokhalafa mukhalafa contravention"),
    ("grey", "رمادية الرمادية كريز grise gris grey gray griz"),
    ("points", "points point رصيد"),
    ("transfer", "موتاسيون الموتاسيون mutation mutasyon transfert transfer transferer"),
    ("photo", "صورة الصورة تصويرة التصويرة photo photos picture tswira sora"),
    // Land, housing, building.
    ("property", "ملكية الملكية propriete proprietaire property ownership owner milkiya lmilkiya"),
    ("land", "أرض الأرض لارض بقعة عقار عقاري العقاري terrain foncier fonciere land plot ard l2ard lard"),
    ("house", "دار الدار منزل سكن مسكن شقة maison logement appartement house home apartment flat dar ch9a chqa"),
    ("buy", "شراء شريت نشري اقتناء acheter achat acquisition buy bought buying purchase chrit nchri chra"),
    ("build", "بناء البناء نبني بنيت construire construction construit build building bni lbni nbni"),
    ("title", "titre title ltitre"),
    // Business.
    ("company", "شركة الشركة شركات مقاولة المقاولة societe entreprise company business firm charika sharika sarl"),
    ("name", "اسم الاسم تسمية سمية denomination nom name smiya"),
    ("brand", "علامة العلامة ماركة الماركة marque marques brand trademark lmarque lmarka marka"),
    ("investment", "استثمار الاستثمار استثماري نستثمر investissement investir investment invest investor istitmar"),
    ("tender", "صفقة صفقات الصفقات marche marches tender tenders bid procurement soumission sfa9a sfa9at"),
    ("contest", "مباراة مباريات المباراة concours mobara mobarat mubarat"),
    ("recruitment", "توظيف التوظيف وظيفة الوظيفة recrutement recruitment hiring tawdif wadifa lwadifa"),
    ("self_employed", "ذاتي الذاتي self freelance freelancer dati"),
    ("food", "غذائية الغذائية أغذية مأكولات ماكلة مطعم alimentaire aliments alimentation food restaurant traiteur makla lmakla"),
    ("complaint", "شكاية الشكاية شكايات شكوى نشكي تشكي reclamation plainte plaindre complaint complain chikaya nchki tchki chkaya"),
    ("shop", "تاجر التاجر حانوت الحانوت محل commercant commerce magasin boutique shop store trader hanout 7anout"),
    ("fraud", "غش الغش غشني fraude fraud ghech ghach"),
    // Agriculture, energy, water.
    ("agriculture", "فلاحة الفلاحة فلاحي الفلاحي فلاح agricole agriculture farm farmer farming agricultural fla7a lfla7a fellah ferme firma"),
    ("irrigation", "سقي السقي تنقيط irrigation drip sa9y sqi"),
    ("tractor", "جرار تراكتور tracteur tractor traktor"),
    ("livestock", "ماشية مواشي بقر بقرة غنم حولي elevage betail vache vaches mouton moutons livestock cattle cow cows sheep bagar bagra ghnem"),
    ("electricity", "كهرباء الكهرباء ضو الضو electricite electricity power courant dow daw trisinti"),
    ("water", "الماء الما eau water lma"),
    ("meter", "عداد العداد كونطور الكونطور compteur meter kontor"),
    ("connect", "ربط الربط نربط branchement raccordement connection connect rbet nrbet"),
    ("bill", "فاتورة الفاتورة فواتير facture factures bill bills invoice fatora fatoura fatura lfatora"),
    // Elections, religion, social aid.
    ("vote", "تصويت التصويت نصوت انتخابات الانتخابات انتخابية الانتخابية vote voter voting election elections electoral electorale nvoti intikhabat"),
    ("hajj", "حج الحج hajj haj pelerinage pilgrimage l7aj hadj"),
    ("lottery", "قرعة القرعة tirage lottery draw qor3a 9or3a"),
    ("aid", "دعم الدعم مساعدة aide aid subsidy subvention support da3m d3m"),
    ("social", "اجتماعي الاجتماعي sociale social ijtima3i"),
    ("family", "أسرة الأسرة عائلة العائلة عايلة menage famille household family 3a2ila l3a2ila 3ayla"),
    ("children", "أطفال الأطفال وليدات ولاد enfants enfant children kids wlad lwlad drari"),
    ("registered", "مسجل مسجلة msjel msajal mssjel inscrit inscrite enrolled"),
    ("state", "دولة الدولة حكومة الحكومة dawla etat state government gouvernement"),
    ("public", "عمومي عمومية العمومي العمومية public publique publics 3omomi 3omomiya"),
    ("register", "تسجيل التسجيل نتسجل نسجل سجل inscription inscrire register registration enrol enrolment ntsjel tsjil tsjel nsjel"),
    ("track", "تتبع نتبع مآل suivi suivre track tracking follow status nt3eba3 tatabo3"),
    ("amo", "أمو امو لامو amo"),
    ("tadamon", "تضامن tadamon tadamun tadamoun solidarite solidarity"),
    ("anapec", "أنابيك انابيك لانابيك anapec lanapec"),
    ("ofppt", "ofppt lofppt ista"),
    ("onssa", "أونسا اونسا onssa"),
    ("massar", "مسار massar"),
    ("online", "أونلاين انترنت الإنترنت إلكترونيا الكترونيا ligne online internet"),
    ("request", "طلب الطلب demande demander request apply application talab"),
    // Vague, generic vocabulary: on its own it never identifies a service.
    ("document", "وثيقة وثائق الوثيقة ورقة الورقة وراق document documents papier papiers paper papers wra9 lwra9 wraq watiqa"),
    ("administration", "إدارة الإدارة ادارة administration administratif commune جماعة الجماعة office bureau mairie municipalite بلدية البلدية baladiya mo9ata3a مقاطعة المقاطعة قيادة القيادة l9iyada qiyada caidat"),
    ("problem", "مشكل مشكلة مشاكل probleme problem issue mochkil mouchkil"),
    ("help", "مساعدة عاونوني aide help assistance information info renseignement question"),
    ("service", "خدمة خدمات service services"),
    ("form", "مطبوع استمارة formulaire form forms"),
    ("free_of_charge", "مجاني مجانا مجانية فابور gratuit gratuite gratuits gratuites gratuitement free fabor"),
];

/// Concepts too vague to identify a service by themselves ("j'ai besoin d'un
/// papier", "3ndi mochkil m3a la commune").
pub const GENERIC: &[&str] = &[
    "document",
    "administration",
    "problem",
    "help",
    "service",
    "form",
    "request",
    "online",
    "certificate",
    "file",
    // Found in a bypass probe: "wifi gratuit", "netflix gratuit" and "free movies" were
    // offered the free health insurance and the bac's free candidates.
    "free_of_charge",
    // Found in a probe: "bghit nchri chi pizza", "where can I buy a sim card" went to the
    // housing aid (its examples buy a flat) with confidence 0.97: buying names no service,
    // what is bought does.
    "buy",
];

/// Stemmed surface form → indices into [`CONCEPTS`].
pub fn table() -> &'static HashMap<String, Vec<u16>> {
    static TABLE: OnceLock<HashMap<String, Vec<u16>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map: HashMap<String, Vec<u16>> = HashMap::new();
        for (i, (_, variants)) in CONCEPTS.iter().enumerate() {
            let Ok(id) = u16::try_from(i) else { break };
            for v in variants.split_whitespace() {
                for t in tokens(v) {
                    let ids = map.entry(t).or_default();
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
        }
        map
    })
}

/// Concepts of one stemmed token (empty when the word is not in the table).
pub fn concepts_of(token: &str) -> &'static [u16] {
    table().get(token).map_or(&[], Vec::as_slice)
}

/// Name of concept `id` (as used in [`CONCEPTS`]).
pub fn concept_name(id: u16) -> &'static str {
    CONCEPTS.get(usize::from(id)).map_or("", |c| c.0)
}

/// Whether concept `id` is one of the [`GENERIC`] ones (a word with any
/// generic sense, like "aide" = help / aid, is too weak to name a service).
pub fn is_generic(id: u16) -> bool {
    GENERIC.contains(&concept_name(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_is_one_token() {
        for (name, variants) in CONCEPTS {
            for v in variants.split_whitespace() {
                assert_eq!(tokens(v).len(), 1, "{name}: {v:?} -> {:?}", tokens(v));
            }
        }
    }

    #[test]
    fn generic_concepts_exist() {
        for g in GENERIC {
            assert!(CONCEPTS.iter().any(|c| c.0 == *g), "{g}");
        }
    }

    #[test]
    fn languages_meet_on_a_concept() {
        let fine = |w: &str| {
            let t = tokens(w);
            t.first()
                .map(|t| {
                    concepts_of(t)
                        .iter()
                        .map(|&c| concept_name(c))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        for w in ["lkhatiya", "الخطية", "غرامة", "amendes", "fine"] {
            assert!(fine(w).contains(&"fine"), "{w}");
        }
        for w in ["باسبور", "passeport", "paspor", "lpassport"] {
            assert!(fine(w).contains(&"passport"), "{w}");
        }
    }
}
