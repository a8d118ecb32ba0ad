//! Error pages: what a citizen sees when something went wrong, in the portal's four
//! languages (hers first), with the request id support staff need. Never an empty body.

use super::html::{escape, in_every_language};
use super::{LocalResponse, Localized};
use crate::lang::Lang;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use std::sync::Arc;

/// What went wrong, from the citizen's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    NotFound,
    HeadersTooLarge,
    BadGateway,
    GatewayTimeout,
    /// A form (a request that is not idempotent) reached the site, which did not answer (in
    /// time, or closed the connection): it may have been recorded, and sending it again may
    /// make a second one. Found when tried: a slow site saved an application after the
    /// citizen was told "try again". A 504, or a 502 for a connection the site ended.
    MaybeReceived,
    Unavailable,
    /// The legacy site answered with a server error of its own (a 500, or another 5xx than
    /// those above), whose page the portal's replaces (`[legacy] error_pages`); sent with
    /// the site's status.
    SiteError,
    /// The identity provider cannot be reached to log in.
    LoginUnavailable,
    /// The login could not be completed (expired, replayed or refused).
    LoginFailed,
    /// Logged in, but the service is for professionals.
    ProfessionalOnly,
    /// Sessions cannot be checked right now (session store down).
    SessionsUnavailable,
    /// Refused: the request came from somewhere it may not (another service's page).
    Forbidden,
    /// A method no service takes (`TRACE`, `TRACK`, `CONNECT`, unknown ones).
    MethodNotAllowed,
    /// A rate limit: too many requests from this address, session or for this service.
    TooManyRequests,
    /// Too many logins started from this address are still in progress (each is held for
    /// ten minutes unless finished, and counted for up to twelve): found when tried, the
    /// rate limit's "wait a moment" was a wait of up to twelve minutes behind a shared
    /// connection (the page said "ten at most" until a probe read its `Retry-After`).
    TooManyLogins,
    /// A host this gateway does not serve.
    MisdirectedRequest,
    /// The service cannot be reached at all right now (its breaker is open, or every
    /// backend is down): come back after `Retry-After`.
    Maintenance,
    /// The request body is larger than the service takes.
    PayloadTooLarge,
    /// The request target is longer than the portal takes.
    UriTooLong,
    /// The citizen stopped sending the body the request announced.
    RequestTimeout,
    /// A form was sent to a service that needs a login, without a live session (it timed
    /// out while the citizen filled the form in): what was sent is lost, and the page says
    /// so and links to the login ([`session_ended_page`]).
    SessionEnded,
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorKind::GatewayTimeout | ErrorKind::MaybeReceived => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::SiteError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::LoginUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::LoginFailed => StatusCode::BAD_REQUEST,
            ErrorKind::ProfessionalOnly => StatusCode::FORBIDDEN,
            ErrorKind::SessionsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::TooManyRequests | ErrorKind::TooManyLogins => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::MisdirectedRequest => StatusCode::MISDIRECTED_REQUEST,
            ErrorKind::Maintenance => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UriTooLong => StatusCode::URI_TOO_LONG,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::SessionEnded => StatusCode::UNAUTHORIZED,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Title and explanation in each language (Arabic, Amazigh, French, English: the
    /// order of [`Lang::ALL`]).
    fn texts(self) -> [(&'static str, &'static str, &'static str); 4] {
        match self {
            ErrorKind::BadRequest => [
                ("ar", "طلب غير صالح", "لا يمكن معالجة هذا الطلب. تحقق من العنوان ثم أعد المحاولة."),
                ("zgh", "ⵜⵓⵜⵜⵔⴰ ⵓⵔ ⵉⵚⵃⵉⵏ", "ⵓⵔ ⵜⵣⵎⵉⵔ ⵜⵓⵜⵜⵔⴰ ⴰ ⴰⴷ ⵜⵜⵓⵙⴽⴰⵔ. ⵙⵙⵏⵇⴷ ⴰⵏⵙⴰ, ⵜⴰⵍⵙⴷ ⴰⵔⵎ."),
                ("fr", "Requête invalide", "Cette requête ne peut pas être traitée. Vérifiez l'adresse puis réessayez."),
                ("en", "Bad request", "This request cannot be processed. Check the address and try again."),
            ],
            ErrorKind::NotFound => [
                ("ar", "الخدمة غير موجودة", "لا توجد خدمة في هذا العنوان. يمكنك العثور على جميع الخدمات في الصفحة الرئيسية للبوابة."),
                ("zgh", "ⵜⴰⵎⴰⵡⴰⵙⵜ ⵓⵔ ⵜⵍⵍⵉ", "ⵓⵔ ⵜⵍⵍⵉ ⴽⵔⴰ ⵏ ⵜⵎⴰⵡⴰⵙⵜ ⴳ ⵓⵏⵙⴰ ⴰ. ⵜⵉⵎⴰⵡⴰⵙⵉⵏ ⴰⴽⴽⵯ ⵍⵍⴰⵏⵜ ⴳ ⵜⴰⵙⵏⴰ ⵜⴰⵎⵣⵡⴰⵔⵓⵜ ⵏ ⵓⵡⵡⵓⵔ."),
                ("fr", "Service introuvable", "Aucun service n'existe à cette adresse. Tous les services sont listés sur l'accueil du portail."),
                ("en", "Service not found", "There is no service at this address. Every service is listed on the portal's home page."),
            ],
            ErrorKind::HeadersTooLarge => [
                ("ar", "رؤوس الطلب كبيرة جدا", "أرسل متصفحك بيانات كثيرة (غالبا ملفات تعريف الارتباط). امسحها ثم أعد المحاولة."),
                ("zgh", "ⵉⵙⴼⴽⴰ ⵏ ⵜⵓⵜⵜⵔⴰ ⵓⴳⴳⴰⵔ", "ⵢⵓⵣⵏ ⵓⵏⴰⴳⵉⵍ ⵏⵏⴽ ⵉⵙⴼⴽⴰ ⵓⴳⴳⴰⵔ (ⵙ ⵓⵎⴰⵜⴰ ⵜⵉⴽⵓⴽⵉⵢⵉⵏ). ⴽⴽⵙ ⵜⵏ, ⵜⴰⵍⵙⴷ ⴰⵔⵎ."),
                ("fr", "En-têtes trop volumineux", "Votre navigateur a envoyé trop de données (souvent des cookies). Effacez-les puis réessayez."),
                ("en", "Request headers too large", "Your browser sent too much data (often cookies). Clear them and try again."),
            ],
            ErrorKind::MethodNotAllowed => [
                ("ar", "طريقة الطلب غير مقبولة", "لا تقبل البوابة هذا النوع من الطلبات."),
                ("zgh", "ⵜⵓⵜⵜⵔⴰ ⵓⵔ ⵉⵜⵜⵓⵇⴱⴰⵍⵏ", "ⴰⵡⵡⵓⵔ ⵓⵔ ⵉⵇⴱⵉⵍ ⴰⵏⴰⵡ ⴰ ⵏ ⵜⵓⵜⵜⵔⴰ."),
                ("fr", "Méthode non autorisée", "Le portail n'accepte pas ce type de requête."),
                ("en", "Method not allowed", "The portal does not accept this kind of request."),
            ],
            ErrorKind::TooManyRequests => [
                ("ar", "طلبات كثيرة جدا", "وصلت إلى البوابة طلبات كثيرة من جهتك في وقت قصير. انتظر قليلا ثم أعد المحاولة."),
                ("zgh", "ⵜⵓⵜⵜⵔⵉⵡⵉⵏ ⵓⴳⴳⴰⵔ", "ⵢⵓⵙⴷ ⵖⵔ ⵓⵡⵡⵓⵔ ⵓⴳⴳⴰⵔ ⵏ ⵜⵓⵜⵜⵔⵉⵡⵉⵏ ⵙⵖⵓⵔⴽ ⴳ ⵢⴰⵏ ⵓⵣⵎⵣ ⵉⵎⵥⵥⵉⵏ. ⵔⴰⵊⵓ ⵉⵎⵉⴽ, ⵜⴰⵍⵙⴷ ⴰⵔⵎ."),
                ("fr", "Trop de requêtes", "Le portail a reçu trop de requêtes de votre part en peu de temps. Patientez un instant puis réessayez."),
                ("en", "Too many requests", "The portal received too many requests from you in a short time. Wait a moment and try again."),
            ],
            ErrorKind::TooManyLogins => [
                ("ar", "عمليات تسجيل دخول كثيرة جدا", "بدأت من اتصالك عمليات تسجيل دخول كثيرة لم تكتمل (الاتصال المشترك يحسبها كلها). أعد المحاولة بعد بضع دقائق، ربع ساعة على الأكثر؛ الخدمات التي لا تتطلب تسجيل الدخول تبقى متاحة."),
                ("zgh", "ⵉⴽⵛⵛⵓⵎⵏ ⵓⴳⴳⴰⵔ", "ⴱⴷⴰⵏ ⵙⴳ ⵓⵣⴷⴰⵢ ⵏⵏⴽ ⵓⴳⴳⴰⵔ ⵏ ⵉⴽⵛⵛⵓⵎⵏ ⵓⵔ ⵉⴽⵎⵎⵍⵏ. ⴰⵍⵙ ⴰⵔⵎ ⴷⴼⴼⵉⵔ ⴽⵔⴰ ⵏ ⵜⵓⵙⴷⵉⴷⵉⵏ; ⵜⵉⵎⴰⵡⴰⵙⵉⵏ ⵢⴰⴹⵏⵉⵏ ⵅⴷⴷⵎⵏⵜ."),
                ("fr", "Trop de connexions en cours", "Trop de connexions ont été commencées depuis votre connexion internet sans être terminées (une connexion partagée les compte toutes). Réessayez dans quelques minutes, un quart d'heure au plus ; les services sans connexion restent accessibles."),
                ("en", "Too many logins in progress", "Too many logins were started from your internet connection and not finished (a shared connection counts them all). Try again in a few minutes, a quarter of an hour at most; services that need no login remain available."),
            ],
            ErrorKind::Maintenance => [
                ("ar", "الخدمة في فترة صيانة", "موقع الإدارة المعنية متوقف حاليا. أعد المحاولة بعد بضع دقائق؛ باقي خدمات البوابة تعمل."),
                ("zgh", "ⵜⴰⵎⴰⵡⴰⵙⵜ ⵜⵃⴱⵙ ⵉ ⵓⵙⵏⴼⵍ", "ⴰⵙⵉⵜ ⵏ ⵜⵏⴱⴰⴹⵜ ⵢⵃⴱⵙ ⴷⵖⵉ. ⴰⵍⵙ ⴰⵔⵎ ⴷⴼⴼⵉⵔ ⵉⵎⵉⴽ; ⵜⵉⵎⴰⵡⴰⵙⵉⵏ ⵢⴰⴹⵏⵉⵏ ⵏ ⵓⵡⵡⵓⵔ ⵅⴷⴷⵎⵏⵜ."),
                ("fr", "Service en maintenance", "Le site de l'administration concernée est momentanément arrêté. Réessayez dans quelques minutes ; les autres services du portail fonctionnent."),
                ("en", "Service under maintenance", "The administration's site is down for now. Try again in a few minutes; the portal's other services are working."),
            ],
            ErrorKind::MisdirectedRequest => [
                ("ar", "عنوان غير معروف", "هذا العنوان لا يخص البوابة. افتح البوابة من عنوانها الرسمي."),
                ("zgh", "ⴰⵏⵙⴰ ⵓⵔ ⵉⵜⵜⵓⵙⵙⵏⵏ", "ⴰⵏⵙⴰ ⴰ ⵓⵔ ⴷ ⵡⵉⵏ ⵓⵡⵡⵓⵔ. ⵕⵥⵎ ⴰⵡⵡⵓⵔ ⵙⴳ ⵓⵏⵙⴰ ⵏⵏⵙ ⴰⵏⴰⵎⵓⵔ."),
                ("fr", "Adresse inconnue", "Cette adresse n'est pas celle du portail. Ouvrez le portail depuis son adresse officielle."),
                ("en", "Unknown address", "This address is not the portal's. Open the portal from its official address."),
            ],
            ErrorKind::PayloadTooLarge => [
                ("ar", "الملف أو البيانات كبيرة جدا", "حجم ما أرسلته يتجاوز ما تقبله هذه الخدمة. قلص حجم الملف ثم أعد المحاولة."),
                ("zgh", "ⴰⵙⵏⴰⵡⵏ ⵉⵎⵇⵇⵓⵔ ⴱⵣⵣⴰⴼ", "ⵎⴰ ⵜⵓⵣⵏⴷ ⵉⵣⵔⵉ ⵎⴰ ⵜⵇⴱⵍ ⵜⵎⴰⵡⴰⵙⵜ ⴰ. ⵙⵎⵥⵥⵉ ⴰⵙⵏⴰⵡⵏ, ⵜⴰⵍⵙⴷ ⴰⵔⵎ."),
                ("fr", "Envoi trop volumineux", "Ce que vous avez envoyé dépasse la taille acceptée par ce service. Réduisez le fichier puis réessayez."),
                ("en", "Upload too large", "What you sent is larger than this service accepts. Make the file smaller and try again."),
            ],
            ErrorKind::RequestTimeout => [
                ("ar", "انتهت مهلة الإرسال", "لم يصل ما كنت ترسله كاملا في الوقت المحدد. تحقق من اتصالك ثم أعد المحاولة."),
                ("zgh", "ⵉⴽⵎⵎⵍ ⵓⵣⵎⵣ ⵏ ⵓⵣⵏ", "ⵎⴰ ⵜⵜⴰⵣⵏⴷ ⵓⵔ ⵢⵓⵙⵉ ⵎⵍⵉⵃ ⴳ ⵓⵣⵎⵣ ⵏⵏⵙ. ⵙⵙⵏⵇⴷ ⴰⵣⴷⴰⵢ ⵏⵏⴽ, ⵜⴰⵍⵙⴷ ⴰⵔⵎ."),
                ("fr", "Envoi interrompu", "Ce que vous envoyiez n'est pas arrivé en entier à temps. Vérifiez votre connexion puis réessayez."),
                ("en", "Sending timed out", "What you were sending did not arrive in full in time. Check your connection and try again."),
            ],
            ErrorKind::UriTooLong => [
                ("ar", "العنوان طويل جدا", "عنوان الصفحة المطلوبة طويل جدا. عد إلى الصفحة الرئيسية للبوابة."),
                ("zgh", "ⴰⵏⵙⴰ ⵖⵣⵣⵉⴼ ⴱⵣⵣⴰⴼ", "ⴰⵏⵙⴰ ⵏ ⵜⴰⵙⵏⴰ ⵍⵍⵉ ⵜⵔⵉⴷ ⵖⵣⵣⵉⴼ ⴱⵣⵣⴰⴼ. ⵓⵖⵓⵍ ⵖⵔ ⵜⴰⵙⵏⴰ ⵜⴰⵎⵣⵡⴰⵔⵓⵜ ⵏ ⵓⵡⵡⵓⵔ."),
                ("fr", "Adresse trop longue", "L'adresse demandée est trop longue. Revenez à l'accueil du portail."),
                ("en", "Address too long", "The requested address is too long. Go back to the portal's home page."),
            ],
            ErrorKind::BadGateway => [
                ("ar", "خدمة الوزارة لا تستجيب", "تعذر الاتصال بموقع الإدارة المعنية. أعد المحاولة بعد لحظات."),
                ("zgh", "ⴰⵙⵉⵜ ⵏ ⵜⵏⴱⴰⴹⵜ ⵓⵔ ⴷ ⵢⵔⴰⵔ", "ⵓⵔ ⵉⵣⵎⵉⵔ ⵓⵡⵡⵓⵔ ⴰⴷ ⵢⴰⵡⴹ ⴰⵙⵉⵜ ⵏ ⵜⵏⴱⴰⴹⵜ. ⴰⵍⵙ ⴰⵔⵎ ⴷⴼⴼⵉⵔ ⵉⵎⵉⴽ."),
                ("fr", "Le service du ministère ne répond pas", "Le site de l'administration concernée est injoignable. Réessayez dans quelques instants."),
                ("en", "The ministry's service is not responding", "The administration's site could not be reached. Please try again in a moment."),
            ],
            ErrorKind::GatewayTimeout => [
                ("ar", "خدمة الوزارة بطيئة جدا", "لم يجب موقع الإدارة المعنية في الوقت المحدد. أعد المحاولة بعد لحظات."),
                ("zgh", "ⴰⵙⵉⵜ ⵏ ⵜⵏⴱⴰⴹⵜ ⵉⵄⵟⵟⵍ ⴱⵣⵣⴰⴼ", "ⴰⵙⵉⵜ ⵏ ⵜⵏⴱⴰⴹⵜ ⵓⵔ ⴷ ⵢⵔⴰⵔ ⴳ ⵓⵣⵎⵣ ⵏⵏⵙ. ⴰⵍⵙ ⴰⵔⵎ ⴷⴼⴼⵉⵔ ⵉⵎⵉⴽ."),
                ("fr", "Le service du ministère met trop de temps à répondre", "Le site de l'administration concernée n'a pas répondu à temps. Réessayez dans quelques instants."),
                ("en", "The ministry's service took too long", "The administration's site did not answer in time. Please try again in a moment."),
            ],
            ErrorKind::MaybeReceived => [
                ("ar", "ربما وصل طلبك", "لم يجب موقع الإدارة المعنية، لكنه ربما تلقى ما أرسلته. قبل إعادة الإرسال، تحقق في الخدمة (طلباتك أو بريدك الإلكتروني) مما إذا كان قد سجل، لتفادي طلب مكرر."),
                ("zgh", "ⴰⵙⵉⵜ ⵏ ⵜⵏⴱⴰⴹⵜ ⵉⵄⵟⵟⵍ ⴱⵣⵣⴰⴼ", "ⴰⵙⵉⵜ ⵏ ⵜⵏⴱⴰⴹⵜ ⵓⵔ ⴷ ⵢⵔⴰⵔ, ⵎⴰⵛⴰ ⵎⴰ ⵜⵓⵣⵏⴷ ⵉⵣⵎⵔ ⴰⴷ ⵢⴰⵡⴹ ⵜⴰⵎⴰⵡⴰⵙⵜ. ⵙⵙⵏⵇⴷ ⴳ ⵜⵎⴰⵡⴰⵙⵜ ⵇⴱⵍ ⴰⴷ ⵜⴰⵍⵙⴷ ⴰⵣⵏ."),
                ("fr", "Votre demande a peut-être été reçue", "Le site de l'administration concernée n'a pas répondu, mais il a peut-être reçu ce que vous avez envoyé. Avant de renvoyer le formulaire, vérifiez dans le service (vos demandes, vos e-mails) s'il a été enregistré, pour éviter une demande en double."),
                ("en", "Your request may have been received", "The administration's site did not answer, but it may have received what you sent. Before sending the form again, check in the service (your requests, your e-mails) whether it was recorded, to avoid a duplicate request."),
            ],
            ErrorKind::SiteError => [
                ("ar", "خطأ في خدمة الوزارة", "تعذر على موقع الإدارة المعنية إتمام هذا الطلب. أعد المحاولة بعد لحظات؛ وإذا كنت قد أرسلت استمارة، فتحقق في الخدمة مما إذا كانت قد سجلت قبل إعادة إرسالها."),
                ("zgh", "ⵜⴰⵣⴳⵍⵜ ⴳ ⵓⵙⵉⵜ ⵏ ⵜⵏⴱⴰⴹⵜ", "ⵜⴹⵕⴰ ⵢⴰⵜ ⵜⵣⴳⵍⵜ ⴳ ⵓⵙⵉⵜ ⵏ ⵜⵏⴱⴰⴹⵜ. ⴰⵍⵙ ⴰⵔⵎ ⴷⴼⴼⵉⵔ ⵉⵎⵉⴽ; ⵙⵙⵏⵇⴷ ⴳ ⵜⵎⴰⵡⴰⵙⵜ ⵇⴱⵍ ⴰⴷ ⵜⴰⵍⵙⴷ ⴰⵣⵏ."),
                ("fr", "Erreur du service du ministère", "Le site de l'administration concernée n'a pas pu traiter cette demande. Réessayez dans quelques instants ; si vous avez envoyé un formulaire, vérifiez dans le service s'il a été enregistré avant de le renvoyer."),
                ("en", "The ministry's service had an error", "The administration's site could not complete this request. Please try again in a moment; if you sent a form, check in the service whether it was recorded before sending it again."),
            ],
            ErrorKind::Unavailable => [
                ("ar", "الخدمة غير متاحة مؤقتا", "الخدمة غير متاحة حاليا. أعد المحاولة لاحقا."),
                ("zgh", "ⵜⴰⵎⴰⵡⴰⵙⵜ ⵓⵔ ⵜⵍⵍⵉ ⴷⵖⵉ", "ⵜⴰⵎⴰⵡⴰⵙⵜ ⵓⵔ ⵜⵍⵍⵉ ⴷⵖⵉ. ⴰⵍⵙ ⴰⵔⵎ ⴷⴼⴼⵉⵔ."),
                ("fr", "Service temporairement indisponible", "Le service est momentanément indisponible. Réessayez plus tard."),
                ("en", "Service temporarily unavailable", "The service is unavailable right now. Please try again later."),
            ],
            ErrorKind::LoginUnavailable => [
                ("ar", "تسجيل الدخول غير متاح مؤقتا", "تعذر الاتصال بخدمة التعريف. الخدمات العمومية تبقى متاحة؛ أعد المحاولة بعد لحظات."),
                ("zgh", "ⴰⴽⵛⴰⵎ ⵓⵔ ⵉⵍⵍⵉ ⴷⵖⵉ", "ⵓⵔ ⵉⵣⵎⵉⵔ ⵓⵡⵡⵓⵔ ⴰⴷ ⵢⴰⵡⴹ ⵜⴰⵎⴰⵡⴰⵙⵜ ⵏ ⵜⴰⵏⴰⴽⵜ. ⵜⵉⵎⴰⵡⴰⵙⵉⵏ ⵜⵉⵏⴰⵎⵓⵔⵉⵏ ⵅⴷⴷⵎⵏⵜ; ⴰⵍⵙ ⴰⵔⵎ ⴷⴼⴼⵉⵔ ⵉⵎⵉⴽ."),
                ("fr", "Connexion momentanément indisponible", "Le service d'identification est injoignable. Les services publics restent accessibles ; réessayez dans quelques instants."),
                ("en", "Login temporarily unavailable", "The identity service cannot be reached. Public services remain available; please try again shortly."),
            ],
            ErrorKind::LoginFailed => [
                ("ar", "تعذر إتمام تسجيل الدخول", "انتهت صلاحية محاولة الدخول أو سبق استعمالها. أعد تسجيل الدخول من البداية."),
                ("zgh", "ⴰⴽⵛⴰⵎ ⵓⵔ ⵉⴽⵎⵎⵍ", "ⴰⵔⵎ ⴰ ⵏ ⵓⴽⵛⴰⵎ ⵢⵓⵖ ⵜ ⵓⵣⵎⵣ ⵏⵖ ⵉⵜⵜⵓⵙⵎⵔⵙ ⵢⴰⴷ. ⴰⵍⵙ ⴰⴽⵛⴰⵎ ⵙⴳ ⵓⵙⵏⵜⵉ."),
                ("fr", "La connexion n'a pas pu aboutir", "Cette tentative de connexion a expiré ou a déjà été utilisée. Recommencez la connexion."),
                ("en", "The login could not be completed", "This login attempt expired or was already used. Please log in again."),
            ],
            ErrorKind::ProfessionalOnly => [
                ("ar", "هذه الخدمة مخصصة للمهنيين", "حسابك لا يحمل صفة مهني (مقاولة، موثق، معشر...). سجل الدخول بحساب مهني للوصول إلى هذه الخدمة."),
                ("zgh", "ⵜⴰⵎⴰⵡⴰⵙⵜ ⴰ ⵉ ⵉⵎⵙⵡⵓⵔⵉⵜⵏ", "ⴰⵎⵉⴹⴰⵏ ⵏⵏⴽ ⵓⵔ ⵖⵓⵔⵙ ⴰⵙⵎⵉⵍ ⵏ ⵓⵎⵙⵡⵓⵔⵉ (ⵜⴰⵙⵏⵓⵔⴰⵢⵜ, ⴰⵎⵓⵜⵉⵇ, ⴰⵎⵙⵙⵓⴷⵙ...). ⴽⵛⵎ ⵙ ⵢⴰⵏ ⵓⵎⵉⴹⴰⵏ ⴰⵎⵙⵡⵓⵔⵉ ⴰⴷ ⵜⵙⵎⵔⵙⴷ ⵜⴰⵎⴰⵡⴰⵙⵜ ⴰ."),
                ("fr", "Service réservé aux professionnels", "Votre compte n'a pas le profil professionnel (entreprise, notaire, transitaire...). Connectez-vous avec un compte professionnel pour accéder à ce service."),
                ("en", "This service is for professionals", "Your account does not have the professional profile (company, notary, customs broker...). Log in with a professional account to use this service."),
            ],
            ErrorKind::SessionsUnavailable => [
                ("ar", "الخدمات المحمية غير متاحة مؤقتا", "لا يمكن التحقق من جلستك حاليا. الخدمات العمومية تبقى متاحة؛ أعد المحاولة بعد لحظات."),
                ("zgh", "ⵜⵉⵎⴰⵡⴰⵙⵉⵏ ⵙ ⵓⴽⵛⴰⵎ ⵓⵔ ⵍⵍⵉⵏⵜ ⴷⵖⵉ", "ⵓⵔ ⵜⵣⵎⵉⵔ ⵜⵖⵉⵎⵉⵜ ⵏⵏⴽ ⴰⴷ ⵜⵜⵓⵙⵙⵏⵇⴷ ⴷⵖⵉ. ⵜⵉⵎⴰⵡⴰⵙⵉⵏ ⵜⵉⵏⴰⵎⵓⵔⵉⵏ ⵅⴷⴷⵎⵏⵜ; ⴰⵍⵙ ⴰⵔⵎ ⴷⴼⴼⵉⵔ ⵉⵎⵉⴽ."),
                ("fr", "Services connectés momentanément indisponibles", "Votre session ne peut pas être vérifiée pour le moment. Les services publics restent accessibles ; réessayez dans quelques instants."),
                ("en", "Signed-in services temporarily unavailable", "Your session cannot be checked right now. Public services remain available; please try again shortly."),
            ],
            ErrorKind::Forbidden => [
                ("ar", "طلب مرفوض", "أرسلت صفحة خدمة أخرى هذا الطلب نيابة عنك، فتم رفضه لحمايتك. افتح الخدمة مباشرة من البوابة."),
                ("zgh", "ⵜⵓⵜⵜⵔⴰ ⵜⵜⵓⵔⴼⴹ", "ⵜⴰⵙⵏⴰ ⵏ ⵢⴰⵜ ⵜⵎⴰⵡⴰⵙⵜ ⵢⴰⴹⵏ ⴰⵢ ⵢⵓⵣⵏⵏ ⵜⵓⵜⵜⵔⴰ ⴰ ⴳ ⵓⵎⴽⴰⵏ ⵏⵏⴽ, ⵜⵜⵓⵔⴼⴹ ⴰⴷ ⴽ ⵜⵃⴹⵓ. ⵕⵥⵎ ⵜⴰⵎⴰⵡⴰⵙⵜ ⵙⴳ ⵓⵡⵡⵓⵔ."),
                ("fr", "Requête refusée", "Cette requête a été envoyée par la page d'un autre service à votre place ; elle a été refusée pour vous protéger. Ouvrez le service depuis le portail."),
                ("en", "Request refused", "This request was sent on your behalf by another service's page, so it was refused to protect you. Open the service from the portal."),
            ],
            ErrorKind::SessionEnded => [
                ("ar", "انتهت جلستك", "لم يصل ما أرسلته إلى الخدمة لأن جلستك انتهت. سجل الدخول من جديد، ثم أعد إرسال الاستمارة."),
                ("zgh", "ⵜⴰⵖⵉⵎⵉⵜ ⵏⵏⴽ ⵜⴽⵎⵎⵍ", "ⵎⴰ ⵜⵓⵣⵏⴷ ⵓⵔ ⵢⵓⵙⵉ ⵖⵔ ⵜⵎⴰⵡⴰⵙⵜ ⵍⵍⵉⵖ ⵜⴽⵎⵎⵍ ⵜⵖⵉⵎⵉⵜ ⵏⵏⴽ. ⴰⵍⵙ ⴰⴽⵛⴰⵎ, ⵜⴰⵍⵙⴷ ⴰⵣⵏ."),
                ("fr", "Votre session a pris fin", "Ce que vous avez envoyé n'a pas été transmis au service, car votre session avait pris fin. Reconnectez-vous, puis envoyez à nouveau le formulaire."),
                ("en", "Your session has ended", "What you sent did not reach the service, because your session had ended. Log in again, then send the form again."),
            ],
            ErrorKind::Internal => [
                ("ar", "خطأ داخلي", "حدث خطأ في البوابة. تم تسجيله وسنعالجه."),
                ("zgh", "ⵜⴰⵣⴳⵍⵜ ⵜⴰⴳⵯⵏⵙⴰⵏⵜ", "ⵜⴹⵕⴰ ⵢⴰⵜ ⵜⵣⴳⵍⵜ ⴳ ⵓⵡⵡⵓⵔ. ⵜⵜⵓⵙⵊⵍ, ⴰⴷ ⵜⵜⵓⵙⴳⴳⵎ."),
                ("fr", "Erreur interne", "Une erreur est survenue dans le portail. Elle a été enregistrée."),
                ("en", "Internal error", "Something went wrong in the portal. It has been logged."),
            ],
        }
    }
}

/// The error page for `kind` on the portal's origin, quoting `request_id` (by default the
/// request's trace id).
pub fn error_page(kind: ErrorKind, request_id: &str) -> LocalResponse {
    error_page_answered_as(kind, kind.status(), request_id, None, "/")
}

/// The error page for `kind`, sent with `status` (its kind's, but a form's "may have been
/// received" is a 502 when the site ended the connection, a 504 when it did not answer in
/// time: the page quotes the status it is sent with; found when tried, a 502 whose page
/// said 504, the number the citizen reads to support disagreeing with the log), quoting
/// `request_id` and, when it differs (the id came from a trusted proxy), the trace id too.
/// `home` is the portal's address as a link from where the page is served: `/` on the
/// portal's origin, the portal's absolute URL on a service's own origin or a legacy host,
/// where `/` is the service (its maintenance page linked back to itself: found when
/// tried). Where the page is written, it is put in the reader's language and given the
/// right `home` ([`LocalResponse::localized`]).
pub fn error_page_answered_as(
    kind: ErrorKind,
    status: StatusCode,
    request_id: &str,
    trace_id: Option<&str>,
    home: &str,
) -> LocalResponse {
    ErrorPage {
        kind,
        status,
        id: quoted_id(request_id, trace_id),
        next: None,
    }
    .respond(home)
}

/// The [`ErrorKind::SessionEnded`] page: its link is `login` (which brings the citizen back
/// to the form), not the portal's home.
pub fn session_ended_page(request_id: &str, login: &str, home: &str) -> LocalResponse {
    login_again_page(ErrorKind::SessionEnded, request_id, login, home)
}

/// The page for `kind` (a page that tells the citizen to log in again) whose link is
/// `login`, not the portal's home. Found when tried: a login whose last answer a flaky
/// network lost was told, at the reload, to log in again, with only a link home.
pub fn login_again_page(
    kind: ErrorKind,
    request_id: &str,
    login: &str,
    home: &str,
) -> LocalResponse {
    ErrorPage {
        kind,
        status: kind.status(),
        id: quoted_id(request_id, None),
        next: Some(Link {
            href: login.to_owned(),
            labels: [
                "سجل الدخول من جديد",
                "ⴰⵍⵙ ⴰⴽⵛⴰⵎ",
                "Se reconnecter",
                "Log in again",
            ],
        }),
    }
    .respond(home)
}

/// The security policy of an error page: the gateway's own, but a page of the same origin
/// may frame it. The error answers a request for a legacy page, and a legacy site made of
/// frames (seven of the catalog's) loads its pages in frames of its own: found when tried,
/// under `frame-ancestors 'none'` the browser showed "refused to connect" in the frame
/// instead of the page, so a payment form that timed out inside a frame told the citizen
/// nothing had been sent, where the page says it may have been received. Legacy pages are
/// framed only by their own origin too (`chain::body`), and no other origin may frame it.
fn framed_by_its_own_origin() -> ((HeaderName, HeaderValue), (HeaderName, HeaderValue)) {
    (
        (
            http::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(super::security::CONTENT_SECURITY_POLICY_FRAMED_BY_ITSELF),
        ),
        (
            http::header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        ),
    )
}

/// What "back to the portal" says, in the order of [`Lang::ALL`].
pub const BACK_TO_THE_PORTAL: [&str; 4] = [
    "العودة إلى البوابة",
    "ⵓⵖⵓⵍ ⵖⵔ ⵓⵡⵡⵓⵔ",
    "Retour au portail",
    "Back to the portal",
];

/// What "request reference" says, in the order of [`Lang::ALL`].
const REQUEST_REFERENCE: [&str; 4] = [
    "رقم الطلب",
    "ⵓⵟⵟⵓⵏ ⵏ ⵜⵓⵜⵜⵔⴰ",
    "Référence de la requête",
    "Request reference",
];

/// The request id as the page quotes it (escaped), with the trace id when it differs.
fn quoted_id(request_id: &str, trace_id: Option<&str>) -> String {
    match trace_id.filter(|t| !t.is_empty() && *t != request_id) {
        Some(t) => format!("{} · trace {}", escape(request_id), escape(t)),
        None => escape(request_id).into_owned(),
    }
}

/// Where an error page sends the citizen next, and what the link says (in the order of
/// [`Lang::ALL`]).
#[derive(Debug)]
struct Link {
    href: String,
    labels: [&'static str; 4],
}

/// An error page as what it says, rendered where it is written: every language on one
/// page (the reader may not read the one her browser names), hers first.
#[derive(Debug)]
struct ErrorPage {
    kind: ErrorKind,
    /// What it is sent with (its kind's, but for [`error_page_answered_as`]).
    status: StatusCode,
    /// Escaped already.
    id: String,
    /// `None`: back to the portal's home.
    next: Option<Link>,
}

impl ErrorPage {
    /// The answer, rendered Arabic first (the portal's default) linking `home`.
    fn respond(self, home: &str) -> LocalResponse {
        let status = self.status;
        let body = self.render(Lang::Ar, home);
        let (policy, frames) = framed_by_its_own_origin();
        LocalResponse::html_bytes(status, body)
            .with_header(policy.0, policy.1)
            .with_header(frames.0, frames.1)
            .localized(Arc::new(self), Lang::Ar, home)
    }
}

impl Localized for ErrorPage {
    fn render(&self, lang: Lang, home: &str) -> Bytes {
        let texts = self.kind.texts();
        // Its links leave a legacy frame the page may be shown in (see
        // `framed_by_its_own_origin`): found in a bypass probe, "back to the portal" loaded
        // the portal inside the frame, which refused it.
        let (href, labels) = match &self.next {
            Some(link) => (escape(&link.href), link.labels),
            None => (escape(home), BACK_TO_THE_PORTAL),
        };
        let id = &self.id;
        let status = self.status.as_u16();
        // In the page's own language (its `<html lang>`, the first section's): a French
        // title was read with an Arabic voice (found when tried).
        let title = format!("{status} {}", texts[lang.index()].1);
        // Left to right in every page: in an Arabic one "404 · id" read "id · 404".
        let footer = format!("<span dir=\"ltr\">{status} · <code>{id}</code></span>");
        in_every_language(lang, &title, &footer, home, |l| {
            let i = l.index();
            let (_, title, text) = texts[i];
            let (quote, label) = (REQUEST_REFERENCE[i], labels[i]);
            format!(
                "<h1>{title}</h1><p>{text}</p><p>{quote}: <code>{id}</code></p><p><a href=\"{href}\" target=\"_top\">{label}</a></p>"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_pages_title_is_in_the_pages_language() {
        let page = error_page(ErrorKind::NotFound, "id");
        let html = String::from_utf8_lossy(&page.body);
        assert!(html.contains("<html lang=\"ar\""), "{html}");
        let title = html
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .expect("a title");
        assert!(title.contains(ErrorKind::NotFound.texts()[0].1), "{title}");
        // Found when tried: in the Arabic page the footer's "404 · id" read "id · 404".
        assert!(
            html.contains("<span dir=\"ltr\">404 · <code>id</code>"),
            "{html}"
        );
    }

    #[test]
    fn every_error_page_has_four_languages_and_the_request_id() {
        for kind in [
            ErrorKind::BadRequest,
            ErrorKind::NotFound,
            ErrorKind::HeadersTooLarge,
            ErrorKind::BadGateway,
            ErrorKind::GatewayTimeout,
            ErrorKind::MaybeReceived,
            ErrorKind::Unavailable,
            ErrorKind::SiteError,
            ErrorKind::LoginUnavailable,
            ErrorKind::LoginFailed,
            ErrorKind::ProfessionalOnly,
            ErrorKind::SessionsUnavailable,
            ErrorKind::Forbidden,
            ErrorKind::SessionEnded,
            ErrorKind::TooManyLogins,
            ErrorKind::Internal,
        ] {
            let page = error_page(kind, "req-123");
            let body = std::str::from_utf8(&page.body).expect("utf-8");
            assert_eq!(page.status, kind.status());
            for lang in ["lang=\"ar\"", "lang=\"zgh\"", "lang=\"fr\"", "lang=\"en\""] {
                assert!(body.contains(lang), "{kind:?} lacks {lang}");
            }
            assert!(body.contains("req-123"));
        }
    }

    /// Found in a bypass probe: shown in a legacy site's frame, the page's links loaded the
    /// portal inside the frame, which the portal's pages refuse.
    #[test]
    fn an_error_pages_links_leave_the_frame_it_is_shown_in() {
        let page = session_ended_page("id", "/auth/login", "/");
        let html = String::from_utf8_lossy(&page.body);
        assert!(
            html.contains("href=\"/auth/login\" target=\"_top\""),
            "{html}"
        );
        assert!(
            html.contains("class=\"brand\" href=\"/\" target=\"_top\""),
            "{html}"
        );
    }

    #[test]
    fn request_ids_are_escaped() {
        let page = error_page(ErrorKind::NotFound, "<script>");
        let body = std::str::from_utf8(&page.body).expect("utf-8");
        assert!(!body.contains("<script>"));
    }
}
