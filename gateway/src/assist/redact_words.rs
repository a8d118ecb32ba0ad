//! Personal data found by word lists rather than by shape, for [`redact`](super::redact::redact):
//!
//! - **names without a cue**: common Moroccan given and family names in Arabic and Latin
//!   script ("ana mohamed el idrissi", "محمد الإدريسي"), with the particles that join them
//!   (el, ben, ait, ould, بن, ولد) and, in Latin script, a capitalised word that follows one;
//! - **street addresses** after an address word in Arabic, French, Darija or English ("12 rue
//!   Ibn Sina", "zanqa 5 hay Salam", "شارع محمد الخامس"), up to five words and the house number
//!   before it;
//! - **health conditions** (diabetes, cancer, HIV, pregnancy, dialysis, disability...), which
//!   data protection law treats as sensitive whatever else the text says, and the other
//!   special categories: **sexual orientation**, **religion or belief** (a conversion
//!   included) and **a person's own conviction or detention** (not the words of the
//!   criminal-record-extract service, which routing needs);
//! - **dates written with a month's name** ("12 mars 2015", "12 مارس", "March 12").
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
    // Found when tried: "ana fatima zahra bennani" kept "zahra".
    "zahra",
    "zahrae",
    "zahraa",
    "ezzahra",
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
    "الزهراء",
    "زهراء",
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
    // Found when tried: "hay nahda zanka 12 rabat" kept everything ("zanka" was no cue).
    "zanka",
    "zenka",
    "znka",
    "zan9a",
    "zen9a",
    "zn9a",
    "derb",
    "drb",
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
    // Found when tried: these reached the LLM as written.
    "seropositif",
    "seropositive",
    "seropositifs",
    "seropositives",
    "الايدز",
    "ايدز",
    "handicap",
    "handicape",
    "handicapee",
    "handicapes",
    "handicapees",
    "disability",
    "paraplegique",
    "tetraplegique",
    "aveugle",
    "blind",
    "sourd",
    "sourde",
    "deaf",
    "معاق",
    "معاقه",
    "معوق",
    "معوقه",
    "اعاقه",
    "الاعاقه",
    "m3a9",
    "m3aq",
    "mo3a9",
    "schizophrene",
    "schizophrenes",
    "schizophrenic",
    "bipolaire",
    "bipolar",
    "depressif",
    "depressive",
    "depressed",
    "الفصام",
    "فصام",
    "سكري",
    "sukkar",
    "sukar",
    "sokar",
    "soukar",
    "soukkar",
    "ssokar",
    "ssukkar",
    "kansir",
    "lkanser",
    // Found when tried (an outside bypass probe): each reached the LLM as written. Spellings
    // that only double a letter or write "o" for "ou" ("diabette", "ssokkar") are matched
    // by their key ([`latin_key`]), feminine and plural endings by [`latin_forms`].
    "سكر",
    "skkar",
    "diabet",
    "kancer",
    "leucemie",
    "leukemia",
    "leukaemia",
    "leucemique",
    "trisomie",
    "trisomique",
    "autiste",
    "autistic",
    "avc",
    "wheelchair",
    "sero",
    "seropo",
    "seropos",
    "seroneg",
    "7amla",
    "7amel",
    "7amil",
    "حامله",
    "m3aqa",
    "mo3aq",
    "مختل",
    "مختله",
];
const HEALTH_PHRASES: &[&str] = &[
    "التهاب الكبد",
    "تصفية الدم",
    "ضغط الدم",
    "العلاج الكيميائي",
    "ذوي الاحتياجات الخاصة",
    "الاحتياجات الخاصة",
    // Found when tried: each reached the LLM as written.
    "down syndrome",
    "syndrome de down",
    "متلازمة داون",
    "insuffisance renale",
    "insuffisant renal",
    "insuffisante renale",
    "kidney failure",
    "renal failure",
    "الفشل الكلوي",
    "فشل كلوي",
    "القصور الكلوي",
    "قصور كلوي",
    "fauteuil roulant",
    "كرسي متحرك",
    "مريض نفسي",
    "مريضه نفسيه",
    "مرض نفسي",
    "مريض عقلي",
    "مريضه عقليه",
];
/// Words that say someone has what follows ("مريض بالسرطان", "fiya sukkar", "atteint de
/// cancer"): taken with the condition, so the sentence does not keep "sick with ...". Alone
/// they stay ("malade", "mrid" are words of the health-insurance requests).
const HEALTH_LEADS: &[&str] = &[
    "مريض",
    "مريضه",
    "مصاب",
    "مصابه",
    "مرضى",
    "mrid",
    "mrida",
    "malade",
    "atteint",
    "atteinte",
    "souffre",
    "suffering",
    "suffers",
    "fiya",
    "fia",
    "fih",
    "fiha",
    "عندي",
    "3ndi",
    "3andi",
    "فيا",
    "فيه",
    "فيها",
    // Someone else's: "3ndo sokkar", "عندها السكر".
    "3ndo",
    "3ando",
    "3ndha",
    "3andha",
    "عندو",
    "عنده",
    "عندها",
];
/// Words that qualify the condition before them ("handicapé moteur", "diabète type 2").
const HEALTH_TRAILS: &[&str] = &[
    "moteur",
    "motrice",
    "mental",
    "mentale",
    "visuel",
    "visuelle",
    "auditif",
    "auditive",
    "physique",
    "chronique",
    "chronic",
    "severe",
    "physical",
    "حركي",
    "حركيه",
    "ذهني",
    "ذهنيه",
    "مزمن",
    // Found when tried: "معاق ذهنيا" and "VIH positive" left "[HEALTH] ذهنيا" and "[HEALTH]
    // positive", the qualifier still telling what the condition was.
    "ذهنيا",
    "عقلي",
    "عقليا",
    "عقليه",
    "نفسي",
    "نفسيا",
    "نفسيه",
    "جسدي",
    "جسديا",
    "mentally",
    "positive",
    "positif",
    "positifs",
    "positives",
    "negatif",
    "negative",
    "negatifs",
    "negatives",
    "user",
    "users",
];

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

/// Religion and belief (special category data). Found when tried: "converti au
/// christianisme" and "اعتنق المسيحية" reached the LLM as written. Words of the catalog's
/// own services ("hajj", "الحج", "الأوقاف والشؤون الإسلامية") are not beliefs of the
/// citizen and are not listed.
const BELIEF: &[&str] = &[
    "christianisme",
    "chretien",
    "chretienne",
    "chretiens",
    "christian",
    "christians",
    "christianity",
    "catholique",
    "catholic",
    "protestant",
    "protestante",
    "evangelique",
    "evangelical",
    "juif",
    "juive",
    "juifs",
    "jewish",
    "jew",
    "judaisme",
    "judaism",
    "musulman",
    "musulmane",
    "muslim",
    "islam",
    "athee",
    "athees",
    "atheist",
    "atheism",
    "atheisme",
    "agnostique",
    "agnostic",
    "bouddhiste",
    "buddhist",
    "chiite",
    "shiite",
    "shia",
    "bahai",
    "ahmadi",
    "ahmadiyya",
    "apostat",
    "apostate",
    "murtad",
    "مسيحي",
    "مسيحيه",
    "المسيحيه",
    "المسيحي",
    "المسيحيين",
    "مسيحيين",
    "نصراني",
    "نصرانيه",
    "النصرانيه",
    "يهودي",
    "يهوديه",
    "اليهوديه",
    "مسلم",
    "مسلمه",
    "الاسلام",
    "ملحد",
    "ملحده",
    "الالحاد",
    "الحاد",
    "شيعي",
    "شيعيه",
    "التشيع",
    "بهائي",
    "مرتد",
    "مرتده",
    "تنصر",
    "تنصرت",
    "متنصر",
    "تشيع",
    "tanssara",
    "tanssar",
    "tanassara",
    "tnassar",
    "tnasar",
    "tnassart",
    "tnssar",
    "tnssart",
    "msi7i",
    "masi7i",
    "mesi7i",
    "nasrani",
    "nesrani",
    "yahoudi",
    "yhoudi",
    "lihoudi",
    "mol7id",
    "mul7id",
    "chi3i",
    "shi3i",
    // Found when tried: each reached the LLM as written ("msi7iya", "chi3iya", "yahoudiya"
    // by their feminine ending, "musulmans" by its plural, [`latin_forms`]).
    "mesihi",
    "masihi",
    "msihi",
    "kafer",
    "kafir",
    "كافر",
    "كافره",
    "hindou",
    "hindu",
    "hindouiste",
    "hinduist",
    "هندوسي",
    "sunnite",
    "sunni",
    "orthodoxe",
    "orthodox",
    "بوذي",
    "buddhiste",
];
/// Words that say someone changed religion: taken with the religion named after them
/// ("converti au christianisme", "converted to Islam", "اعتنق المسيحية").
const BELIEF_LEADS: &[&str] = &[
    "converti",
    "convertie",
    "convertis",
    "converted",
    "convert",
    "converts",
    "اعتنق",
    "اعتنقت",
    "اعتناق",
    "اعتنقو",
    "embraced",
    "pratiquant",
    "pratiquante",
    "practising",
    "practicing",
];
/// Little words a lead may be separated from its religion by ("au", "to", "الى").
const LEAD_GLUE: &[&str] = &[
    "au", "a", "to", "la", "le", "l", "el", "al", "de", "du", "d", "en", "الى", "الي", "ل", "b",
    "ب", "f", "ف", "in",
];
/// The most [`LEAD_GLUE`] words between a lead and its term.
const MAX_GLUE: usize = 2;

/// Words after which a known name may go on with names the lists do not hold ("ana
/// youssef lmssari", "اسمي فاطمة الزهراء").
const NAME_CUES: &[&str] = &[
    "ana",
    "انا",
    "smiti",
    "smiyti",
    "esmi",
    "ismi",
    "اسمي",
    "سميتي",
    "appelle",
    "mappelle",
    "suis",
    "am",
    "im",
    "nom",
    "name",
];
/// The most unknown words a cue lets a known name go on with.
const NAME_TAIL: usize = 2;

/// Little words between a work word and its place ("at the", "à la", "f", "في").
const WORK_GLUE: &[&str] = &[
    "a", "au", "la", "le", "l", "el", "at", "in", "the", "dans", "en", "de", "du", "d", "f", "fi",
    "fl", "في", "ف", "b", "ب", "m3a", "avec", "with", "une", "un",
];
/// The most [`WORK_GLUE`] words between a work word and its place.
const MAX_WORK_GLUE: usize = 3;

/// Words that state a person's own conviction or detention (criminal-offence data). Found
/// when tried: "condamne pour vol", "محكوم عليه بالسجن" and "detenu numero 4567 prison
/// oukacha" reached the LLM as written. The service's own words ("casier judiciaire",
/// "السجل العدلي", "fiche anthropométrique", "extrait", "السوابق العدلية") are not listed,
/// and the words after a cue stop at them.
const CONVICTION: &[&str] = &[
    "condamne",
    "condamnee",
    "condamnes",
    "condamnees",
    "convicted",
    "sentenced",
    "detenu",
    "detenue",
    "detenus",
    "detainee",
    "detained",
    "prisonnier",
    "prisonniere",
    "prisoner",
    "inmate",
    "incarcere",
    "incarceree",
    "incarcerated",
    "emprisonne",
    "emprisonnee",
    "imprisoned",
    "prison",
    "jail",
    "محكوم",
    "محكومه",
    "المحكوم",
    "مدان",
    "مدانه",
    "مسجون",
    "مسجونه",
    "سجين",
    "سجينه",
    "السجين",
    "معتقل",
    "معتقله",
    "المعتقل",
    "سجن",
    "السجن",
    "حبس",
    "الحبس",
    "m7koum",
    "mahkoum",
    "m7kom",
    "m7boss",
    "m7bous",
    "mhbous",
    "l7bs",
    "l7abs",
    "7bs",
    "lhbs",
    "lhabs",
    // Found when tried (an outside bypass probe): each reached the LLM as written
    // ("m7bousa", "mahkouma", "m7kouma" by their feminine ending, [`latin_forms`]).
    "محبوس",
    "محبوسه",
    "المحبوس",
    "7ebs",
    "l7ebs",
    "lhebs",
    "sijn",
    "ssijn",
    "sjn",
    "ssjn",
    "sejn",
    "taule",
    "taulard",
    "taularde",
    "arrested",
];
/// Several-word statements of a detention, cues as the words of [`CONVICTION`] are. Found
/// when tried: "garde à vue" reached the LLM as written.
const CONVICTION_PHRASES: &[&str] = &["garde a vue", "police custody", "تحت الحراسه النظريه"];
/// Conviction words that name the place, not the person's state: after [`WORK_WORDS`] they
/// say where someone works. Found when tried: "nkhdem f prison" (I work in a prison) became
/// "nkhdem f [CONVICTION]". Only a job is let through: "visiter mon frère en prison" still
/// tells a relative's detention and goes, as the bias is towards redacting.
const PRISON_PLACES: &[&str] = &[
    "prison",
    "jail",
    "سجن",
    "السجن",
    "حبس",
    "الحبس",
    "l7bs",
    "l7abs",
    "7bs",
    "lhbs",
    "lhabs",
    "7ebs",
    "l7ebs",
    "lhebs",
    "sijn",
    "ssijn",
    "sjn",
    "ssjn",
    "sejn",
    "taule",
];
/// Words that say someone works somewhere: a [`PRISON_PLACES`] word after them (with at most
/// [`MAX_WORK_GLUE`] of [`WORK_GLUE`] between) is a workplace.
const WORK_WORDS: &[&str] = &[
    "nkhdem",
    "nekhdem",
    "kankhdem",
    "kanekhdem",
    "n5dem",
    "kan5dem",
    "khdam",
    "khddam",
    "khdama",
    "khddama",
    "5dam",
    "5dama",
    "khdamt",
    "نخدم",
    "كنخدم",
    "خدام",
    "خدامه",
    "خدمت",
    "اعمل",
    "يعمل",
    "تعمل",
    "اشتغل",
    "يشتغل",
    "موظف",
    "موظفه",
    "حارس",
    "travaille",
    "travaillent",
    "travaillais",
    "travail",
    "bosse",
    "employe",
    "employee",
    "fonctionnaire",
    "gardien",
    "surveillant",
    "surveillante",
    "work",
    "works",
    "worked",
    "working",
    "employed",
    "guard",
    "warden",
];
/// The most words after a conviction cue taken with it ("pour vol", "numero 4567 prison
/// oukacha").
const CONVICTION_TAIL: usize = 4;
/// Service words a conviction's tail stops at, beyond the administrative vocabulary of the
/// [lexicon](super::lexicon): "anthropometrique" and the words of a request.
const CONVICTION_ENDS: &[&str] = &[
    "fiche",
    "anthropometrique",
    "bulletin",
    "et",
    "and",
    "mais",
    "but",
    "w",
    "o",
    "و",
    "je",
    "j",
    "i",
    "ana",
    "انا",
    "bghit",
    "بغيت",
    "khassni",
    "خاصني",
    "اريد",
    "voudrais",
    "veux",
    "want",
    "need",
    "besoin",
    "svp",
    "please",
    "merci",
    "bach",
    "باش",
    "comment",
    "how",
    "kifach",
    "كيفاش",
];
/// Lexicon concepts that name the offence, not a service: a conviction's tail goes on
/// through them ("condamne pour vol").
const OFFENCE_CONCEPTS: &[&str] = &["stolen", "fraud"];

/// Month names, one entry per way of writing one (several words for the Mashriq "كانون
/// الثاني"): French, English, Arabic of the Maghreb and of the Mashriq, Darija in Latin
/// letters. Found when tried: "12 mars 2015" and "12 مارس 2015" reached the LLM as written.
const MONTHS: &[&str] = &[
    "janvier",
    "janv",
    "fevrier",
    "fevr",
    "fev",
    "mars",
    "avril",
    "avr",
    "mai",
    "juin",
    "juillet",
    "juil",
    "aout",
    "septembre",
    "sept",
    "octobre",
    "oct",
    "novembre",
    "nov",
    "decembre",
    "dec",
    "january",
    "jan",
    "february",
    "feb",
    "march",
    "april",
    "apr",
    "may",
    "june",
    "jun",
    "july",
    "jul",
    "august",
    "aug",
    "september",
    "sep",
    "october",
    "november",
    "december",
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "ابريل",
    "إبريل",
    "ماي",
    "مايو",
    "يونيو",
    "يونيه",
    "يوليوز",
    "يوليو",
    "يوليوز",
    "غشت",
    "أغسطس",
    "شتنبر",
    "سبتمبر",
    "أكتوبر",
    "نونبر",
    "نوفمبر",
    "دجنبر",
    "ديسمبر",
    "كانون الثاني",
    "كانون الأول",
    "تشرين الأول",
    "تشرين الثاني",
    "كانون",
    "تشرين",
    "شباط",
    "آذار",
    "نيسان",
    "أيار",
    "حزيران",
    "تموز",
    "آب",
    "أيلول",
    "yanayer",
    "fbrayer",
    "abril",
    "yunyu",
    "yulyuz",
    "ghocht",
    "ghosht",
    "chtanbir",
    "novanbir",
    "dujanbir",
];
/// Endings of a day written as an ordinal ("1er", "12th").
const DAY_ENDINGS: &[&str] = &["er", "re", "st", "nd", "rd", "th"];
/// Words before a date that make it a birth date whatever its year ("né le", "date de
/// naissance", "مزداد في", "tzadt nhar").
const BIRTH_CUES: &[&str] = &[
    "ne",
    "nee",
    "nes",
    "born",
    "naissance",
    "birth",
    "birthday",
    "ازدياد",
    "الازدياد",
    "مزداد",
    "مزداده",
    "ازداد",
    "ازدادت",
    "ولد",
    "ولدت",
    "مولود",
    "مولوده",
    "ميلاد",
    "الميلاد",
    "tzad",
    "tzadt",
    "tzadit",
    "tzadet",
    "mzyad",
    "mazyad",
    "mezyad",
    // Found when tried: "twaladt 3am 1990" reached the LLM as written.
    "twaladt",
    "twladt",
    "tweldt",
    "twelldt",
    "twalad",
    "twlad",
    "tzadit",
    "tzadet",
    "تولدت",
    "تولد",
    "تزاديت",
    "تزاد",
];
/// Little words between a birth cue and a year alone ("né en 1990", "born in 1990", "ولد سنة
/// 1990", "twaladt 3am 1990").
const YEAR_GLUE: &[&str] = &[
    "en", "in", "l", "an", "annee", "year", "the", "le", "3am", "3aam", "f", "fi", "عام", "سنه",
    "في", "ف", "fl",
];
/// Days written as words: a date with a month's name and a year may spell its day ("née le
/// douze mars 1990"). Found when tried: it reached the LLM as written. Only ordinals in
/// English ("one may apply" is no date) and no "un" in French.
const DAY_WORDS: &[&str] = &[
    "premier",
    "deux",
    "trois",
    "quatre",
    "cinq",
    "six",
    "sept",
    "huit",
    "neuf",
    "dix",
    "onze",
    "douze",
    "treize",
    "quatorze",
    "quinze",
    "seize",
    "dix sept",
    "dix huit",
    "dix neuf",
    "vingt",
    "vingt et un",
    "vingt deux",
    "vingt trois",
    "vingt quatre",
    "vingt cinq",
    "vingt six",
    "vingt sept",
    "vingt huit",
    "vingt neuf",
    "trente",
    "trente et un",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "twenty first",
    "twenty second",
    "twenty third",
    "twenty fourth",
    "twenty fifth",
    "twenty sixth",
    "twenty seventh",
    "twenty eighth",
    "twenty ninth",
    "thirtieth",
    "thirty first",
];
/// English street types written after the street's name ("12 Orange Street"). Found when
/// tried: "I live at 12 Orange Street" reached the LLM as written, as "street" only opened an
/// address before a capitalised word.
const STREET_TYPES: &[&str] = &[
    "street",
    "road",
    "avenue",
    "ave",
    "lane",
    "drive",
    "boulevard",
    "blvd",
    "crescent",
];
/// The most name words between a house number and a [`STREET_TYPES`] word.
const STREET_NAME_WORDS: usize = 3;
/// How many words before a date a birth cue may be ("né le 12", "date de naissance 12").
const BIRTH_CUE_REACH: usize = 3;

/// A marker no normalised word starts with: a [`latin_key`] in a [`term_set`].
const KEY_MARK: char = '~';

/// The words of a special category, with the [`latin_key`] of each Latin-script one (marked
/// with [`KEY_MARK`]) so that [`has_form`] finds spellings the list does not hold.
fn term_set(list: &[&str]) -> HashSet<String> {
    let mut out = set(list);
    let keys: Vec<String> = out.iter().filter_map(|w| latin_key(w)).collect();
    out.extend(keys);
    out
}

/// Several-word terms, each as its normalised words.
fn phrase_list(list: &[&str]) -> Vec<Vec<String>> {
    list.iter()
        .map(|p| normalize(p).split(' ').map(str::to_string).collect())
        .collect()
}

/// A Latin-script word's spelling key, marked with [`KEY_MARK`]: "ou" and "o" as "u", a
/// doubled letter as one ("diabette", "ssokkar", "soukar" all key as their listed forms).
/// Digits standing for Arabic letters stay (a "7" is no "h": "7amla", pregnant, is no
/// "hamla", a campaign). `None` for a word in another script or of several parts.
fn latin_key(norm: &str) -> Option<String> {
    if !norm.is_ascii() || norm.contains(' ') || norm.len() < 3 {
        return None;
    }
    let mapped = norm.replace("ou", "u").replace('o', "u");
    let mut out = String::with_capacity(mapped.len() + 1);
    out.push(KEY_MARK);
    let mut prev = None;
    for c in mapped.chars() {
        if Some(c) != prev || c.is_ascii_digit() {
            out.push(c);
        }
        prev = Some(c);
    }
    Some(out)
}

/// A Latin-script word as it may be listed: as it is, without the Darija article "l" glued
/// to it ("lkancer"), and without a feminine or plural ending ("m7bousa", "msi7iya",
/// "diabetiques", "musulmans"), each at least four letters long.
fn latin_forms(norm: &str) -> Vec<String> {
    let mut bases = vec![norm.to_string()];
    if let Some(rest) = norm.strip_prefix('l').filter(|r| r.len() >= 4) {
        bases.push(rest.to_string());
    }
    let mut out = bases.clone();
    for b in &bases {
        if let Some(stem) = b.strip_suffix("iya").or_else(|| b.strip_suffix("iyya")) {
            out.push(format!("{stem}i"));
        }
        for ending in ["s", "a"] {
            if let Some(stem) = b.strip_suffix(ending).filter(|r| r.len() >= 4) {
                out.push(stem.to_string());
            }
        }
    }
    out
}

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
static GLUE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(LEAD_GLUE));
static NAME_CUE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(NAME_CUES));
static CONVICTION_SET: LazyLock<HashSet<String>> = LazyLock::new(|| term_set(CONVICTION));
static CONVICTION_PHRASE_LIST: LazyLock<Vec<Vec<String>>> =
    LazyLock::new(|| phrase_list(CONVICTION_PHRASES));
static PRISON_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(PRISON_PLACES));
static WORK_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(WORK_WORDS));
static WORK_GLUE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(WORK_GLUE));
static YEAR_GLUE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(YEAR_GLUE));
static STREET_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(STREET_TYPES));
static DAY_WORD_LIST: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    let mut days = phrase_list(DAY_WORDS);
    // Longest first: "dix sept" before "dix".
    days.sort_by_key(|d| std::cmp::Reverse(d.len()));
    days
});
static CONVICTION_END_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(CONVICTION_ENDS));
static MONTH_LIST: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    let mut months: Vec<Vec<String>> = MONTHS
        .iter()
        .map(|m| normalize(m).split(' ').map(str::to_string).collect())
        .collect();
    // Longest first: "كانون الثاني" before "كانون".
    months.sort_by_key(|m| std::cmp::Reverse(m.len()));
    months
});
static BIRTH_CUE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(BIRTH_CUES));
static HEALTH_TERMS: LazyLock<Category> =
    LazyLock::new(|| Category::new(HEALTH, HEALTH_PHRASES, HEALTH_LEADS, HEALTH_TRAILS));
static ORIENTATION_TERMS: LazyLock<Category> =
    LazyLock::new(|| Category::new(ORIENTATION, &[], &[], ORIENTATION_TRAILS));
static BELIEF_TERMS: LazyLock<Category> =
    LazyLock::new(|| Category::new(BELIEF, &[], BELIEF_LEADS, &[]));

/// A special category of personal data found by its words: single words, several-word
/// phrases, leads taken with a term that follows them ("مريض بالسرطان", "converti au
/// christianisme") and trails taken with a term before them ("handicapé moteur").
struct Category {
    words: HashSet<String>,
    phrases: Vec<Vec<String>>,
    leads: HashSet<String>,
    trails: HashSet<String>,
}

impl Category {
    fn new(words: &[&str], phrases: &[&str], leads: &[&str], trails: &[&str]) -> Self {
        Category {
            words: term_set(words),
            phrases: phrase_list(phrases),
            leads: set(leads),
            trails: set(trails),
        }
    }

    /// Number of words of the term starting at word `i`, if one does.
    fn term_at(&self, chars: &[char], ws: &[Word], i: usize) -> Option<usize> {
        let phrase = self.phrases.iter().find(|p| {
            i + p.len() <= ws.len() && p.iter().enumerate().all(|(k, w)| ws[i + k].norm == *w)
        });
        if let Some(p) = phrase {
            return Some(p.len());
        }
        // A word with inner hyphens counts joined too ("v-i-h", "séro-positif").
        if has_form(&self.words, &ws[i].norm) || self.has(&ws[i].norm.replace(' ', "")) {
            return Some(1);
        }
        self.spelled_at(chars, ws, i)
    }

    /// Number of words of an abbreviation spelled letter by letter from word `i` ("V.I.H.",
    /// "s i d a"), longest first. Found when tried: "V.I.H." reached the LLM as "v i h".
    fn spelled_at(&self, chars: &[char], ws: &[Word], i: usize) -> Option<usize> {
        let mut letters = String::new();
        let mut run = 0;
        for (k, w) in ws.iter().enumerate().skip(i).take(MAX_SPELLED) {
            let letter = w.norm.len() == 1 && w.norm.chars().all(|c| c.is_ascii_alphabetic());
            let gap_ok = k == i || letter_gap(chars, ws[k - 1].end, w.start);
            if !letter || !gap_ok {
                break;
            }
            letters.push_str(&w.norm);
            run += 1;
        }
        (2..=run).rev().find(|&n| {
            letters
                .get(..n)
                .is_some_and(|l| contains_word(&self.words, l))
        })
    }

    /// End (exclusive, in words) of a lead at word `i` and the term it introduces, with at
    /// most [`MAX_GLUE`] little words between them.
    fn led_term(&self, chars: &[char], ws: &[Word], i: usize) -> Option<usize> {
        if !contains_word(&self.leads, &ws[i].norm) {
            return None;
        }
        for j in i + 1..=i + 1 + MAX_GLUE {
            let w = ws.get(j).filter(|w| w.joined)?;
            if let Some(n) = self.term_at(chars, ws, j) {
                return Some(j + n);
            }
            if !GLUE_SET.contains(&w.norm) {
                return None;
            }
        }
        None
    }

    /// Calls `emit(start, end)` for each term, with its lead and trails.
    fn find(&self, chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
        let ws = words(chars);
        let mut i = 0;
        while i < ws.len() {
            let Some(mut end) = self
                .led_term(chars, &ws, i)
                .or_else(|| self.term_at(chars, &ws, i).map(|n| i + n))
            else {
                i += 1;
                continue;
            };
            while end < ws.len() && ws[end].joined && contains_word(&self.trails, &ws[end].norm) {
                end += 1;
            }
            emit(ws[i].start, ws[end - 1].end);
            i = end;
        }
    }

    /// Whether a normalised word is one of the category's single-word terms.
    fn has(&self, norm: &str) -> bool {
        has_form(&self.words, norm)
    }
}

/// The most letters of an abbreviation spelled letter by letter ("s.i.d.a", "L G B T Q").
const MAX_SPELLED: usize = 6;

/// Whether the characters from `from` to `to` separate the letters of a spelled
/// abbreviation: one to three dots and spaces.
fn letter_gap(chars: &[char], from: usize, to: usize) -> bool {
    chars
        .get(from..to)
        .is_some_and(|g| (1..=3).contains(&g.len()) && g.iter().all(|c| matches!(c, '.' | ' ')))
}

/// Whether `norm` is in `set` as it is, without an Arabic clitic ([`contains_word`]), without
/// the Arabic article after it ("بالسرطان" → "سرطان"), or, for a Latin word, in one of its
/// [`latin_forms`] or by its [`latin_key`] when `set` is a [`term_set`]. Found when tried:
/// "مريض بالسرطان" kept "بالسرطان", as only "سرطان" was listed; "3ndi ssokkar", "diabette",
/// "m7bousa" and "musulmans" reached the LLM as only "sukkar", "diabete", "m7bous" and
/// "musulman" were.
fn has_form(set: &HashSet<String>, norm: &str) -> bool {
    if contains_word(set, norm) {
        return true;
    }
    if norm.is_ascii() {
        return latin_forms(norm)
            .iter()
            .any(|f| set.contains(f) || latin_key(f).is_some_and(|k| set.contains(&k)));
    }
    let bare = ['و', 'ب', 'ل', 'ف', 'ك']
        .iter()
        .find_map(|p| norm.strip_prefix(*p).filter(|r| r.starts_with("ال")))
        .unwrap_or(norm);
    bare.strip_prefix("ال")
        .filter(|rest| rest.chars().count() >= 3)
        .is_some_and(|rest| set.contains(rest))
}

/// Names of the [lexicon](super::lexicon) concepts of a normalised word: non-empty when the
/// word is administrative vocabulary ("passeport", "casier", "طلب").
fn concepts(norm: &str) -> Vec<&'static str> {
    super::text::tokens_of_normalized(norm)
        .iter()
        .flat_map(|t| super::lexicon::concepts_of(t).iter().copied())
        .map(super::lexicon::concept_name)
        .collect()
}

/// Whether a normalised word belongs to a special category ([`health`], [`orientation`],
/// [`beliefs`], [`convictions`]): it gets its own placeholder, not a name's.
fn sensitive(norm: &str) -> bool {
    HEALTH_TERMS.has(norm)
        || ORIENTATION_TERMS.has(norm)
        || BELIEF_TERMS.has(norm)
        || has_form(&CONVICTION_SET, norm)
}

/// Whether word `w` could be a name the lists do not hold ("lmssari", "zahra", "المساري"):
/// letters only, not a stop word, an address word, administrative vocabulary or a word of
/// a special category. An Arabic one must carry the article, as family names do: without
/// capitals nothing else tells "ساكن" ("living") from a name.
pub(super) fn name_like(chars: &[char], w: &Word) -> bool {
    let letters = chars
        .get(w.start..w.end)
        .is_some_and(|cs| cs.len() >= 2 && cs.iter().all(|c| c.is_alphabetic() || *c == '-'));
    let arabic = w.norm.chars().next().is_some_and(|c| !c.is_ascii());
    letters
        && (!arabic || w.norm.starts_with("ال"))
        && !super::text::stopwords::is_stop(&w.norm)
        && !ADDRESS_SET.contains(&w.norm)
        && !ADDRESS_CAP_SET.contains(&w.norm)
        && !ADDRESS_END_SET.contains(&w.norm)
        && !sensitive(&w.norm)
        && concepts(&w.norm).is_empty()
}

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
/// script, a capitalised word right after a known name). An unknown name-like word between
/// two known names is one of them ("fatima zahra bennani"), and after a cue ("ana", "اسمي")
/// up to [`NAME_TAIL`] name-like words go on the run ("ana youssef lmssari"). Found when
/// tried: both kept the unknown part ("ana [NAME] zahra [NAME]", "ana [NAME] lmssari").
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
        let end = known_run_end(chars, &ws, i);
        let end = cued_tail_end(chars, &ws, i, end);
        emit(ws[i].start, ws[end - 1].end);
        i = end;
    }
}

/// End (exclusive) of the run of known names opened at word `i`.
fn known_run_end(chars: &[char], ws: &[Word], i: usize) -> usize {
    let mut end = i + 1;
    while end < ws.len() && end < i + 4 && ws[end].joined {
        let w = &ws[end];
        let next_is_name = ws
            .get(end + 1)
            .is_some_and(|n| n.joined && is_name(&n.norm));
        let part = is_name(&w.norm)
            || (PARTICLE_SET.contains(&w.norm)
                && ws.get(end + 1).is_some_and(|n| {
                    n.joined && (is_name(&n.norm) || capitalised_latin(chars, n))
                }))
            || (capitalised_latin(chars, w) && !super::text::stopwords::is_stop(&w.norm))
            || (next_is_name && name_like(chars, w));
        if !part {
            break;
        }
        end += 1;
    }
    end
}

/// `end` moved over up to [`NAME_TAIL`] name-like words when a cue comes right before the
/// run that starts at word `i`.
fn cued_tail_end(chars: &[char], ws: &[Word], i: usize, mut end: usize) -> usize {
    let cued = ws[i].joined
        && i.checked_sub(1)
            .is_some_and(|p| NAME_CUE_SET.contains(&ws[p].norm));
    if !cued {
        return end;
    }
    let limit = end + NAME_TAIL;
    while end < ws.len() && end < limit && ws[end].joined && name_like(chars, &ws[end]) {
        end += 1;
    }
    end
}

/// How many words after a cue that is also a request's word ("hay", "douar") another
/// address word or a number makes it an address.
const ADDRESS_LOOKAHEAD: usize = 3;

/// Whether another address cue or a house number comes within [`ADDRESS_LOOKAHEAD`] words
/// after word `i`, in the same clause. Found when tried: "hay nahda zanka 12 rabat" kept
/// "hay nahda", as "hay" needed a capitalised word after it ("subsidy for hay").
fn address_follows(ws: &[Word], i: usize) -> bool {
    ws.iter()
        .skip(i + 1)
        .take(ADDRESS_LOOKAHEAD)
        .take_while(|w| w.joined && !ADDRESS_END_SET.contains(&w.norm))
        .any(|w| {
            ADDRESS_SET.contains(&w.norm)
                || ADDRESS_CAP_SET.contains(&w.norm)
                || house_number(&w.norm)
        })
}

/// Whether a normalised word is a house number: 1 to 4 digits that do not read as a year
/// ("appartement avec daam sakane 2024" is a request).
fn house_number(norm: &str) -> bool {
    let year = norm.len() == 4 && (norm.starts_with("19") || norm.starts_with("20"));
    (1..=4).contains(&norm.len()) && norm.chars().all(|c| c.is_ascii_digit()) && !year
}

/// Calls `emit(start, end)` for each address: the house number before the cue, the cue, and
/// up to five words or numbers after it (stopping at punctuation or a function word); and
/// each English address named before its street type ([`streets_named_first`]).
pub fn addresses(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    streets_named_first(chars, emit);
    let ws = words(chars);
    let mut i = 0;
    while i < ws.len() {
        let next = ws.get(i + 1);
        let starts = ADDRESS_SET.contains(&ws[i].norm)
            || (ADDRESS_CAP_SET.contains(&ws[i].norm)
                && (next.is_some_and(|n| {
                    capitalised_latin(chars, n) || n.norm.chars().all(|c| c.is_ascii_digit())
                }) || address_follows(&ws, i)));
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

/// Calls `emit(start, end)` for each English address with its street type last: a house
/// number, one to [`STREET_NAME_WORDS`] name words and one of [`STREET_TYPES`] ("12 Orange
/// Street", "4 the mall road"). A number right before the type ("pay 200 road tax") or
/// an amount's unit between ("200 dh road tax") is no address.
fn streets_named_first(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    for (i, w) in ws.iter().enumerate() {
        if !STREET_SET.contains(&w.norm) {
            continue;
        }
        // `k`: the first word of the name, going back one word at a time.
        for k in (i.saturating_sub(STREET_NAME_WORDS)..i).rev() {
            if !ws[k + 1].joined || !street_name_word(chars, &ws[k]) {
                break;
            }
            let number = k
                .checked_sub(1)
                .filter(|&n| ws[k].joined && house_number(&ws[n].norm));
            if let Some(n) = number {
                emit(ws[n].start, w.end);
                break;
            }
        }
    }
}

/// Whether a word may be part of a street's name: name-like ([`name_like`]) and no unit of an
/// amount.
fn street_name_word(chars: &[char], w: &Word) -> bool {
    name_like(chars, w) && !super::redact::UNIT_WORDS.contains(&w.norm.as_str())
}

/// Calls `emit(start, end)` for each date written with a month's name: a day and a month,
/// with or without a year ("12 mars 2015", "le 1er mai", "12 مارس", "March 12, 2015"). With a
/// year it is taken as [`dates`](super::redact) takes numeric ones (a birth date: ten years
/// ago or more, or any past year after a birth cue); without one nothing tells a birth date
/// from an appointment, so it goes. A month and a year alone ("TVA de mars 2024") stay.
pub fn dates(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    let mut i = 0;
    while i < ws.len() {
        match date_at(chars, &ws, i) {
            Some((end, year)) => {
                let cued = after_birth_cue(&ws, i);
                if year.is_none_or(|y| super::redact::personal_year(y, cued)) {
                    emit(ws[i].start, ws[end - 1].end);
                    i = end;
                    continue;
                }
                i += 1;
            }
            None => i += 1,
        }
    }
}

/// A date at word `i`: its end (exclusive, in words) and its year if it has one.
fn date_at(chars: &[char], ws: &[Word], i: usize) -> Option<(usize, Option<u32>)> {
    let joined = |k: usize| ws.get(k).filter(|w| w.joined);
    // Day first: "12 mars [2015]", "douze mars 1990".
    if day(&ws[i].norm).is_some() {
        if let Some(n) = joined(i + 1).and_then(|_| month_at(ws, i + 1)) {
            let end = i + 1 + n;
            return Some(with_year(chars, ws, end));
        }
    }
    if let Some(d) = day_words_at(ws, i) {
        if let Some(n) = joined(i + d).and_then(|_| month_at(ws, i + d)) {
            return spelled_day_date(chars, ws, i, i + d + n);
        }
    }
    // Month first: "March 12[, 2015]", "March twelfth, 1990".
    let n = month_at(ws, i)?;
    joined(i + n)?;
    if day(&ws[i + n].norm).is_some() {
        return Some(with_year(chars, ws, i + n + 1));
    }
    let d = day_words_at(ws, i + n)?;
    spelled_day_date(chars, ws, i, i + n + d)
}

/// A date whose day is spelled, ending at word `end` before its year: only with a year or
/// after a birth cue ("le premier mai" is a holiday, "sept mai" may be the seventh).
fn spelled_day_date(
    chars: &[char],
    ws: &[Word],
    i: usize,
    end: usize,
) -> Option<(usize, Option<u32>)> {
    let (end, year) = with_year(chars, ws, end);
    (year.is_some() || after_birth_cue(ws, i)).then_some((end, year))
}

/// Number of words of a day written as words ([`DAY_WORDS`]) at word `i`, if one is. One
/// word may hold several parts ("dix-sept", normalised "dix sept").
fn day_words_at(ws: &[Word], i: usize) -> Option<usize> {
    // Each part with the number of words read once it is.
    let mut parts: Vec<(&str, usize)> = Vec::new();
    for (n, w) in ws.iter().skip(i).take(3).enumerate() {
        if n > 0 && !w.joined {
            break;
        }
        let split: Vec<&str> = w.norm.split(' ').collect();
        let last = split.len() - 1;
        parts.extend(
            split
                .into_iter()
                .enumerate()
                .map(|(k, p)| (p, if k == last { n + 1 } else { 0 })),
        );
    }
    DAY_WORD_LIST.iter().find_map(|d| {
        let (_, words) = *parts.get(d.len().checked_sub(1)?)?;
        let same = parts.iter().zip(d).all(|((p, _), w)| p == w);
        (same && words > 0).then_some(words)
    })
}

/// `end` moved over a year right after it (after spaces or a comma), and that year.
fn with_year(chars: &[char], ws: &[Word], end: usize) -> (usize, Option<u32>) {
    let Some(next) = ws.get(end) else {
        return (end, None);
    };
    let gap_ok = chars
        .get(ws[end - 1].end..next.start)
        .is_some_and(|g| g.iter().all(|c| c.is_whitespace() || *c == ','));
    let year = (next.norm.len() == 4)
        .then(|| next.norm.parse::<u32>().ok())
        .flatten()
        .filter(|y| (1900..=2100).contains(y));
    match year {
        Some(y) if gap_ok => (end + 1, Some(y)),
        _ => (end, None),
    }
}

/// The day of a word such as "12", "1er" or "3rd" (1 to 31).
fn day(norm: &str) -> Option<u32> {
    let digits: String = norm.chars().take_while(|c| c.is_ascii_digit()).collect();
    let rest = &norm[digits.len()..];
    let value = digits.parse::<u32>().ok()?;
    let shaped =
        (1..=2).contains(&digits.len()) && (rest.is_empty() || DAY_ENDINGS.contains(&rest));
    (shaped && (1..=31).contains(&value)).then_some(value)
}

/// Number of words of the month's name starting at word `i`, if one does.
fn month_at(ws: &[Word], i: usize) -> Option<usize> {
    MONTH_LIST
        .iter()
        .find(|m| {
            i + m.len() <= ws.len()
                && m.iter()
                    .enumerate()
                    .all(|(k, w)| ws[i + k].norm == *w && (k == 0 || ws[i + k].joined))
        })
        .map(Vec::len)
}

/// Whether a birth cue is among the [`BIRTH_CUE_REACH`] words before word `i`.
fn after_birth_cue(ws: &[Word], i: usize) -> bool {
    ws[i.saturating_sub(BIRTH_CUE_REACH)..i]
        .iter()
        .any(|w| contains_word(&BIRTH_CUE_SET, &w.norm))
}

/// Calls `emit(start, end)` for each year alone right after a birth cue, with at most
/// [`MAX_GLUE`] of [`YEAR_GLUE`] between ("né en 1990", "born in 1990", "twaladt 3am 1990",
/// "ولد سنة 1990"): a birth year says a person's age. Found when tried: "né en 1990" and
/// "twaladt 3am 1990" reached the LLM as written.
pub fn birth_years(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    for (i, w) in ws.iter().enumerate() {
        let year = (w.norm.len() == 4)
            .then(|| w.norm.parse::<u32>().ok())
            .flatten()
            .filter(|&y| y >= 1900 && super::redact::personal_year(y, true));
        if year.is_some() && birth_year_cue(chars, &ws, i) {
            emit(w.start, w.end);
        }
    }
}

/// Whether a birth cue comes before word `i`, with at most [`MAX_GLUE`] of [`YEAR_GLUE`]
/// and a colon between ("date de naissance : 1990").
fn birth_year_cue(chars: &[char], ws: &[Word], i: usize) -> bool {
    let mut k = i;
    for _ in 0..=MAX_GLUE {
        let Some(prev) = k.checked_sub(1) else {
            return false;
        };
        let gap_ok = chars.get(ws[prev].end..ws[k].start).is_some_and(|g| {
            g.iter()
                .all(|c| c.is_whitespace() || matches!(c, ':' | ','))
        });
        if !gap_ok {
            return false;
        }
        if contains_word(&BIRTH_CUE_SET, &ws[prev].norm) {
            return true;
        }
        if !YEAR_GLUE_SET.contains(&ws[prev].norm) {
            return false;
        }
        k = prev;
    }
    false
}

/// Whether a birth cue is among the [`BIRTH_CUE_REACH`] words before char `at`: what makes a
/// numeric date a birth date whatever its year.
pub(super) fn birth_cue_before(chars: &[char], at: usize) -> bool {
    let ws = words(chars.get(..at).unwrap_or_default());
    after_birth_cue(&ws, ws.len())
}

/// Calls `emit(start, end)` for each health condition named, with the words that say
/// someone has it ("مريض بالسرطان", "fiya sukkar") or qualify it ("handicapé moteur").
pub fn health(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    HEALTH_TERMS.find(chars, emit);
}

/// Calls `emit(start, end)` for each word of sexual orientation or gender identity.
pub fn orientation(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    ORIENTATION_TERMS.find(chars, emit);
}

/// Calls `emit(start, end)` for each religion or belief named, with a conversion before it
/// ("converti au christianisme").
pub fn beliefs(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    BELIEF_TERMS.find(chars, emit);
}

/// Calls `emit(start, end)` for each statement of a conviction or a detention: the cue
/// ("condamné", "détenu", "prison", "محكوم", "سجين") and up to [`CONVICTION_TAIL`] words
/// after it ("pour vol", "numéro 4567 prison oukacha"), stopping at punctuation, a word
/// that ends a clause and the vocabulary of a request, so "casier judiciaire" after it
/// stays for routing.
pub fn convictions(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    let mut i = 0;
    while i < ws.len() {
        let cue = conviction_phrase_at(&ws, i)
            .or_else(|| conviction_cue(&ws[i].norm).then_some(1))
            .filter(|_| !adjudged_thing(&ws, i) && !workplace(&ws, i));
        let Some(cue) = cue else {
            i += 1;
            continue;
        };
        let mut end = i + cue;
        let mut tail = 0;
        while end < ws.len() && ws[end].joined {
            if conviction_cue(&ws[end].norm) {
                tail = 0;
            } else if tail == CONVICTION_TAIL || ends_conviction(&ws[end].norm) {
                break;
            } else {
                tail += 1;
            }
            end += 1;
        }
        emit(ws[i].start, ws[end - 1].end);
        i = end;
    }
}

/// Number of words of a [`CONVICTION_PHRASES`] phrase at word `i`, if one starts there.
fn conviction_phrase_at(ws: &[Word], i: usize) -> Option<usize> {
    CONVICTION_PHRASE_LIST
        .iter()
        .find(|p| {
            i + p.len() <= ws.len()
                && p.iter()
                    .enumerate()
                    .all(|(k, w)| ws[i + k].norm == *w && (k == 0 || ws[i + k].joined))
        })
        .map(Vec::len)
}

/// Whether word `i` is a prison named as a workplace: a [`PRISON_PLACES`] word after one of
/// [`WORK_WORDS`], with at most [`MAX_WORK_GLUE`] little words between ("nkhdem f prison",
/// "je travaille à la prison", "I work at the jail", "أعمل في السجن").
fn workplace(ws: &[Word], i: usize) -> bool {
    if !has_form(&PRISON_SET, &ws[i].norm) {
        return false;
    }
    let mut k = i;
    for _ in 0..=MAX_WORK_GLUE {
        if !ws[k].joined {
            return false;
        }
        let Some(prev) = k.checked_sub(1) else {
            return false;
        };
        if contains_word(&WORK_SET, &ws[prev].norm) {
            return true;
        }
        if !WORK_GLUE_SET.contains(&ws[prev].norm) {
            return false;
        }
        k = prev;
    }
    false
}

/// Whether a normalised word states a conviction or a detention. A word made of a hyphen
/// ("ex-détenu") counts by its parts.
fn conviction_cue(norm: &str) -> bool {
    has_form(&CONVICTION_SET, norm) || norm.split(' ').any(|p| CONVICTION_SET.contains(p))
}

/// Words after "محكوم" that make it a thing adjudged, not a person sentenced: "الغرامات
/// المحكوم بها" (the fines imposed), the court-fine service's own words. Found when tried:
/// its name and a dev query lost them.
const ADJUDGED: &[&str] = &["بها", "به", "بيها", "بيه", "بهم"];

/// Whether the cue at word `i` is followed by one of [`ADJUDGED`].
fn adjudged_thing(ws: &[Word], i: usize) -> bool {
    ws.get(i + 1)
        .is_some_and(|n| n.joined && ADJUDGED.contains(&n.norm.as_str()))
}

/// Whether a conviction's tail stops before this word: a clause ends or a request starts.
fn ends_conviction(norm: &str) -> bool {
    if CONVICTION_END_SET.contains(norm) {
        return true;
    }
    let named = concepts(norm);
    !named.is_empty() && !named.iter().all(|c| OFFENCE_CONCEPTS.contains(c))
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
            ["مريض بالسكري", "التهاب الكبد"]
        );
        assert_eq!(found(health, "I am pregnant"), ["pregnant"]);
    }
}
