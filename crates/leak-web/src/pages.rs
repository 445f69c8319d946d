//! The opt-out pages: static, bilingual (French first, English after, each
//! marked with its `lang`), no script, no remote resources, readable at any
//! zoom. Nothing from the request is ever written into them.

/// The page around `body`.
fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 38rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #111; background: #fff; }}
button {{ font-size: 1.1rem; padding: .6rem 1.2rem; border: 2px solid #111; border-radius: .3rem; background: #fff; color: #111; cursor: pointer; }}
button:focus {{ outline: 3px solid #0050b3; outline-offset: 2px; }}
section + section {{ margin-top: 1.5rem; border-top: 1px solid #999; padding-top: 1rem; }}
</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"#
    )
}

/// `GET` with a valid token: what the button does, and the button.
pub(crate) fn confirm_form() -> String {
    layout(
        "Ne plus recevoir de messages anonymes / Stop anonymous messages",
        r#"<section>
<h1>Ne plus recevoir de messages anonymes</h1>
<p>Vous avez reçu un message envoyé anonymement via ce serveur. En confirmant, votre adresse ne recevra plus aucun message anonyme de ce serveur, quel qu'en soit l'expéditeur.</p>
</section>
<section lang="en">
<h1>Stop receiving anonymous messages</h1>
<p>You received a message sent anonymously through this server. If you confirm, your address will receive no more anonymous messages from this server, whoever the sender.</p>
</section>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<p><button type="submit" id="confirm">Confirmer / <span lang="en">Confirm</span></button></p>
</form>"#,
    )
}

/// After the opt-out is stored.
pub(crate) fn done() -> String {
    layout(
        "Désinscription confirmée / Opt-out confirmed",
        r#"<section>
<h1 id="done">Désinscription confirmée</h1>
<p>Votre adresse ne recevra plus de messages anonymes de ce serveur.</p>
</section>
<section lang="en">
<h1>Opt-out confirmed</h1>
<p>Your address will not receive anonymous messages from this server any more.</p>
</section>"#,
    )
}

/// A token that does not open.
pub(crate) fn invalid_link() -> String {
    layout(
        "Lien non valide / Invalid link",
        r#"<section>
<h1>Lien non valide</h1>
<p>Ce lien de désinscription n'est pas valide. Utilisez le lien complet figurant dans le message reçu.</p>
</section>
<section lang="en">
<h1>Invalid link</h1>
<p>This opt-out link is not valid. Use the complete link from the message you received.</p>
</section>"#,
    )
}

/// The store failed.
pub(crate) fn try_later() -> String {
    layout(
        "Réessayez plus tard / Try again later",
        r#"<section>
<h1>Réessayez plus tard</h1>
<p>Votre demande n'a pas pu être enregistrée. Réessayez dans quelques minutes.</p>
</section>
<section lang="en">
<h1>Try again later</h1>
<p>Your request could not be recorded. Please try again in a few minutes.</p>
</section>"#,
    )
}
