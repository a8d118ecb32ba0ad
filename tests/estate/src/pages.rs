//! The content pages of a legacy site: home, application form, tracking,
//! thank-you, login, logout, contact, site map, and the frames trio
//! (frameset, menu, content with its map `<iframe>`).
//!
//! Each function returns the page as a Rust string in the site's look (see
//! `html::layout`); `respond::html` encodes it in the site's
//! charset. Texts mix the catalog's Arabic and French like the real sites do.

use crate::charset::Charset;
use crate::html::{arabic, escape, layout, Links};
use crate::records::{status_of, updated_of};
use crate::sites::{Quirk, Site};

/// The list of documents every 2008 ministry site asked for.
const PIECES: &str = r#"<h3>Pièces à fournir</h3>
<ul>
<li>Copie de la carte nationale d'identité électronique (recto-verso)</li>
<li>Deux photos d'identité récentes, format 35x45 mm, fond blanc</li>
<li>Extrait d'acte de naissance datant de moins de trois mois</li>
<li>Certificat de résidence délivré par l'autorité locale</li>
<li>Quittance de paiement du droit de timbre</li>
</ul>"#;

const HORAIRES: &str = r#"<h3>Horaires d'ouverture des guichets</h3>
<p>Du lundi au jeudi de 8h30 à 16h30, le vendredi de 8h30 à 11h30 et de 15h00 à 16h30.
Pendant le mois de Ramadan : de 9h00 à 15h00.</p>"#;

/// The site's introduction: summary in both languages, documents, hours.
fn introduction(site: &Site, links: &Links<'_>) -> String {
    let charset = Charset::of(site);
    let mut out = format!(
        r#"<p class="chapeau"><b>{}</b></p>
<p>{}</p>
{}
{}
{}
{}"#,
        escape(&site.title.fr),
        escape(&site.summary.fr),
        arabic(charset, "h2", &site.title.ar),
        arabic(charset, "p", &site.summary.ar),
        PIECES,
        HORAIRES,
    );
    out.push_str(&format!(
        r#"<h3>Actualités</h3>
<ul class="actualites">
<li><b>12/03/2008</b> - Mise en ligne du nouveau formulaire de <a href="{demande}">demande</a>.</li>
<li><b>05/01/2008</b> - Vous pouvez désormais <a href="{suivi}">suivre votre dossier</a> en ligne.</li>
<li><b>20/11/2007</b> - Maintenance programmée du serveur le samedi de 22h00 à 02h00.</li>
</ul>"#,
        demande = escape(&links.href("demande")),
        suivi = escape(&links.href("suivi")),
    ));
    out
}

/// The home page (`P/`, or `P/accueil` on `self-redirects` sites).
pub(crate) fn home(site: &Site) -> String {
    let links = Links::new(site);
    let mut content = introduction(site, &links);
    if site.has(Quirk::LargePages) {
        content.push_str(&format!(
            r#"<p><a href="{}">Consulter le relevé complet des dossiers</a> (document volumineux).</p>"#,
            escape(&links.href("releve"))
        ));
    }
    layout(site, "Accueil", &content)
}

/// The frameset that `frames` sites serve as their home page.
pub(crate) fn frameset(site: &Site) -> String {
    let charset = Charset::of(site);
    let links = Links::new(site);
    format!(
        r#"<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Frameset//EN" "http://www.w3.org/TR/html4/frameset.dtd">
<html lang="fr">
<head>
{meta}
<title>{title}</title>
</head>
<frameset cols="230,*" frameborder="0" border="0" framespacing="0">
<frame src="{menu}" name="menu" scrolling="no" noresize>
<frame src="{contenu}" name="contenu" scrolling="auto">
<noframes>
<body>
<p>Votre navigateur ne supporte pas les cadres. / {noframes_ar}</p>
<p>{summary}</p>
<p><a href="{contenu_rel}">Accéder au contenu</a> - <a href="{menu_rel}">Menu</a></p>
</body>
</noframes>
</frameset>
</html>
"#,
        meta = charset.meta(),
        title = escape(&site.title.fr),
        menu = escape(&links.own("menu")),
        contenu = escape(&links.own("contenu")),
        noframes_ar = if charset.has_arabic() {
            "متصفحك لا يدعم الإطارات"
        } else {
            "Frames non supportées"
        },
        summary = escape(&site.summary.fr),
        contenu_rel = escape(&links.href("contenu")),
        menu_rel = escape(&links.href("menu")),
    )
}

/// The left frame of a `frames` site.
pub(crate) fn menu(site: &Site) -> String {
    let links = Links::new(site);
    let mut items = String::new();
    for (rel, label) in [
        ("contenu", "Présentation"),
        ("demande", "Déposer une demande"),
        ("suivi", "Suivi de dossier"),
        ("carte", "Nos guichets"),
        ("contact", "Contact"),
    ] {
        items.push_str(&format!(
            r#"<li><a href="{}" target="contenu">{}</a></li>"#,
            escape(&links.href(rel)),
            label
        ));
    }
    let content = format!(r#"<ul class="menu-gauche">{items}</ul>"#);
    layout(site, "Menu", &content)
}

/// The main frame of a `frames` site, with the map of offices in an `<iframe>`.
pub(crate) fn contenu(site: &Site) -> String {
    let links = Links::new(site);
    let mut content = introduction(site, &links);
    content.push_str(&format!(
        r#"<h3>Nos guichets</h3>
<iframe src="{}" width="600" height="400" frameborder="0" scrolling="no" name="carte">
<a href="{}">Voir la carte des guichets</a></iframe>"#,
        escape(&links.own("carte")),
        escape(&links.href("carte")),
    ));
    layout(site, "Présentation", &content)
}

/// The map of offices shown in the `<iframe>` of `frames` sites.
pub(crate) fn carte(site: &Site) -> String {
    let content = r#"<p>Carte des guichets (nécessite Macromedia Flash Player 8).</p>
<object classid="clsid:D27CDB6E-AE6D-11cf-96B8-444553540000" width="580" height="360">
<param name="movie" value="carte.swf"><embed src="carte.swf" width="580" height="360"></embed>
</object>
<ul><li>Rabat - Avenue Mohammed V</li><li>Casablanca - Boulevard Zerktouni</li><li>Fès - Avenue Hassan II</li></ul>"#;
    layout(site, "Carte des guichets", content)
}

/// The application form.
pub(crate) fn demande(site: &Site) -> String {
    let links = Links::new(site);
    let charset = Charset::of(site);
    let content = format!(
        r#"<p>Veuillez remplir le formulaire ci-dessous. Les champs marqués d'un astérisque (*) sont obligatoires.</p>
{ar}
<form method="post" action="{action}" name="formDemande" onsubmit="return verifierFormulaire(this)">
<table class="formulaire">
<tr><td>Nom * :</td><td><input type="text" name="nom" size="30"></td></tr>
<tr><td>Prénom * :</td><td><input type="text" name="prenom" size="30"></td></tr>
<tr><td>N° CIN * :</td><td><input type="text" name="cin" size="12" maxlength="10"></td></tr>
<tr><td>Ville :</td><td><select name="ville"><option>Rabat</option><option>Casablanca</option><option>Fès</option><option>Marrakech</option></select></td></tr>
<tr><td>Téléphone :</td><td><input type="text" name="tel" size="14"></td></tr>
<tr><td colspan="2"><input type="submit" value="Envoyer la demande"> <input type="reset" value="Annuler"></td></tr>
</table>
</form>
{pieces}"#,
        ar = arabic(
            charset,
            "p",
            "المرجو ملء الاستمارة أسفله. الخانات المشار إليها بعلامة النجمة إجبارية."
        ),
        action = escape(&links.form_action()),
        pieces = PIECES,
    );
    layout(site, "Déposer une demande", &content)
}

/// The tracking page; shows the dossier `reference` when given.
pub(crate) fn suivi(site: &Site, reference: Option<&str>) -> String {
    let links = Links::new(site);
    let charset = Charset::of(site);
    let mut content = format!(
        r#"<form method="get" action="{}">
<p>Numéro de dossier : <input type="text" name="ref" size="20"> <input type="submit" value="Rechercher"></p>
</form>"#,
        escape(&links.href("suivi"))
    );
    if let Some(reference) = reference.filter(|r| !r.is_empty()) {
        let status = status_of(reference);
        content.push_str(&format!(
            r#"<table class="resultat" border="1" cellspacing="0">
<tr><th>Dossier</th><th>État</th><th>{}</th><th>Dernière mise à jour</th></tr>
<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>
</table>"#,
            if charset.has_arabic() {
                "الحالة"
            } else {
                "Etat"
            },
            escape(reference),
            status.fr,
            if charset.has_arabic() {
                status.ar
            } else {
                status.code
            },
            updated_of(reference),
        ));
    } else {
        content.push_str("<p>Saisissez le numéro figurant sur votre récépissé de dépôt.</p>");
    }
    layout(site, "Suivi de dossier", &content)
}

/// The page a submitted form redirects to.
pub(crate) fn merci(site: &Site) -> String {
    let charset = Charset::of(site);
    let links = Links::new(site);
    let content = format!(
        r#"<p class="succes">Merci, votre demande a bien été enregistrée. Un récépissé vous sera envoyé par courrier.</p>
{}
<p><a href="{}">Retour à l'accueil</a></p>"#,
        arabic(charset, "p", "شكرا، لقد تم تسجيل طلبكم بنجاح."),
        escape(&links.href("")),
    );
    layout(site, "Demande enregistrée", &content)
}

/// The members' login page (sites without `self-redirects`).
pub(crate) fn login(site: &Site) -> String {
    let links = Links::new(site);
    let content = format!(
        r#"<form method="post" action="{}">
<p>Identifiant : <input type="text" name="login"> Mot de passe : <input type="password" name="pwd">
<input type="submit" value="Connexion"></p></form>"#,
        escape(&links.form_action())
    );
    layout(site, "Espace membre", &content)
}

/// The logout page (on `self-redirects` sites it also sends a `Refresh` header).
pub(crate) fn deconnexion(site: &Site) -> String {
    let links = Links::new(site);
    let content = format!(
        r#"<p>Vous avez été déconnecté. Vous allez être redirigé vers la page d'accueil dans 5 secondes.</p>
<p><a href="{}">Cliquez ici si la redirection ne fonctionne pas</a>.</p>"#,
        escape(&links.href("accueil"))
    );
    layout(site, "Déconnexion", &content)
}

/// The contact page.
pub(crate) fn contact(site: &Site) -> String {
    let content = format!(
        r#"<p>{}</p>
<p>Adresse : Quartier administratif, Rabat-Chellah<br>Tél. : 05 37 00 00 00 - Fax : 05 37 00 00 01<br>
Courriel : webmaster@{}</p>"#,
        escape(&site.owner.fr),
        escape(site.host.trim_start_matches("www.")),
    );
    layout(site, "Contact", &content)
}

/// The site map.
pub(crate) fn plan(site: &Site) -> String {
    let links = Links::new(site);
    let mut content = String::from("<ul>");
    for (rel, label) in [
        ("", "Accueil"),
        ("demande", "Déposer une demande"),
        ("suivi", "Suivi de dossier"),
        ("contact", "Contact"),
    ] {
        content.push_str(&format!(
            r#"<li><a href="{}">{}</a></li>"#,
            escape(&links.href(rel)),
            label
        ));
    }
    content.push_str("</ul>");
    layout(site, "Plan du site", &content)
}
