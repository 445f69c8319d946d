"""End to end: what the recipient's server receives says nothing about who
wrote, and innocent text arrives as written.

Messages shaped like the ones Thunderbird, Apple Mail, Outlook and git
send-email write, in several languages, go through the running daemon to a
real receiving SMTP server (aiosmtpd as the MX, found through dnsmasq)."""

import email
import email.policy
import json
import smtplib

import pytest

from conftest import PASSWORD, tls_context, wait_for

# The account `jean` declares his names and private address as aliases.
ALIASES = ["Jean Dupont", "jd1987@example.org"]
NOTIFY = "jean.notify@example.org"


@pytest.fixture
def setup(make_daemon, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(start=False, nameserver=nameserver, mx_port=mx_port)
    args = ["user", "add", "jean", "--password-stdin", "--notify", NOTIFY]
    for alias in ALIASES:
        args += ["--alias", alias]
    result = daemon.cli(*args, input=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    listing = daemon.cli("user", "list").stdout
    assert "jean\tnotify=jean.notify@example.org\taliases=2" in listing, listing
    daemon.start()
    return daemon, sink


def submit(daemon, mail_from, recipients, message):
    """Submits as the account `jean` over STARTTLS, as a mail client does."""
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        client.login("jean", PASSWORD)
        return client.sendmail(mail_from, recipients, message.replace("\n", "\r\n").encode())


def delivered(daemon, sink, token):
    """The delivered message whose subject carries `token`, parsed."""
    def find():
        return [e for e in sink.messages if token.encode() in e.original_content]
    assert wait_for(lambda: find()), "".join(daemon.log[-30:])
    raw = find()[0].original_content
    return email.message_from_bytes(raw, policy=email.policy.default), raw.decode("utf-8", "replace")


def body(message, subtype="plain"):
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""


THUNDERBIRD_FR = """\
From: Jean Dupont <colleague@anon.test>
To: "Maman chérie" <mom@example.test>
Cc: "Boss (le chef)" <boss@example.test>
Subject: TR: RE: Compte rendu tb-fr
Date: Mon, 23 Nov 2026 14:03:11 +0530
User-Agent: Mozilla Thunderbird
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Bonjour, voici un long paragraphe que le client a coupé pour le \ntransport sans que ce soit un vrai retour à la ligne.

Le 23/11/2026 à 14:02, Bob Martin a écrit :
> Tu peux m'envoyer le compte rendu ?

-------- Message transféré --------
Sujet : 	Compte rendu
Date : 	Mon, 23 Nov 2026 14:02:05 +0530
De : 	Bob Martin <bob@example.test>
Pour : 	Jean Dupont <jd1987@example.org>

Le compte rendu est en pièce jointe.

Jean
"""


def test_thunderbird_french_reply_and_forward(setup):
    daemon, sink = setup
    submit(daemon, "colleague@anon.test", ["mom@example.test", "boss@example.test"], THUNDERBIRD_FR)
    message, raw = delivered(daemon, sink, "tb-fr")
    # The prefilled display name is not the pseudonym: the category label is.
    assert message["From"].addresses[0].display_name == "Un collègue"
    assert message["From"].addresses[0].addr_spec == "colleague@anon.test"
    # Recipients' address-book names are gone, the addresses stay as written.
    assert str(message["To"]) == "mom@example.test"
    assert str(message["Cc"]) == "boss@example.test"
    assert "Maman" not in raw and "chef" not in raw
    assert message["Subject"] == "Fwd: Re: Compte rendu tb-fr"
    for canary in ["Dupont", "jd1987", "+0530", "14:02:05", "Thunderbird", "14:02, Bob"]:
        assert canary not in raw, canary
    text = body(message)
    assert "coupé pour le \ntransport" in text.replace("\r\n", "\n"), text
    assert message.get_body(preferencelist=("plain",)).get_param("format") == "flowed"
    assert "> Tu peux m'envoyer le compte rendu ?" in text
    assert "Le compte rendu est en pièce jointe." in text
    assert "\nJean\n" not in text.replace("\r\n", "\n")


APPLE_DE = """\
From: Jean Dupont <friend+Der.Fuchs@anon.test>
To: Bob Martin <bob@example.test>
Subject: AW: WG: Termin apple-de
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit
X-Mailer: iPhone Mail (21F90)
MIME-Version: 1.0

Passt mir gut, bis Donnerstag.

Von meinem iPhone gesendet

Anfang der weitergeleiteten Nachricht:

Von: Bob Martin <bob@example.test>
Betreff: Termin
Datum: 23. November 2026 um 14:02:05 GMT+5:30
An: Jean Dupont <jd1987@example.org>

Donnerstag um zehn?

Am 23.11.2026 um 14:02 schrieb Bob Martin <bob@example.test>:
> Wann hast du Zeit?
"""


def test_apple_mail_german_with_a_custom_pseudonym(setup):
    daemon, sink = setup
    submit(daemon, "friend+Der.Fuchs@anon.test", ["bob@example.test"], APPLE_DE)
    message, raw = delivered(daemon, sink, "apple-de")
    assert message["From"].addresses[0].display_name == "Der Fuchs"
    assert message["From"].addresses[0].addr_spec == "friend@anon.test"
    assert message["Subject"] == "Re: Fwd: Termin apple-de"
    for canary in ["Dupont", "jd1987", "GMT+5:30", "14:02", "iPhone", "Fuchs@", "+Der"]:
        assert canary not in raw, canary
    text = body(message)
    for kept in ["Passt mir gut, bis Donnerstag.", "Donnerstag um zehn?", "> Wann hast du Zeit?"]:
        assert kept in text, text


OUTLOOK_ES = """\
From: Jean Dupont <jd1987@example.org>
To: bob@example.test
Subject: RV: Presupuesto outlook-es
Content-Type: multipart/alternative; boundary="_000_DB7PR01"
MIME-Version: 1.0
Thread-Index: AQHayCANARY

--_000_DB7PR01
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Te reenv=EDo el presupuesto.

Saludos,
Jean Dupont
Director t=E9cnico
Canary Holdings S.L.
Calle Mayor 12, 28013 Madrid
Tel. +34 912 345 678

________________________________
De: Bob Martin <bob@example.test>
Enviado: lunes, 23 de noviembre de 2026 14:02
Para: Jean Dupont <jd1987@example.org>
Asunto: Presupuesto

El presupuesto es 1200 euros.

--_000_DB7PR01
Content-Type: text/html; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

<html><body><p>Te reenv=EDo el presupuesto, firmado <b>J</b>ean <i>D</i>upont y =
<span>Jean Du</span><span>pont</span>.</p><p><a href=3D"mailto:jd1987%40example.org">Escr=EDbeme</a></p>
<p>Saludos,</p><p>Jean Dupont</p><p>Director t=E9cnico</p><p>Canary&nbsp;Holdings S.L.</p>
<p>Calle Mayor 12, 28013 Madrid</p><p>Tel. +34 912 345 678</p>
<div><b>De:</b> Bob Martin &lt;bob@example.test&gt;<br><b>Enviado:</b> lunes, 23 de noviembre de 2026 14:02:05<br><b>Para:</b> Jean<br><b>Asunto:</b> Presupuesto</div>
<p>El presupuesto es 1200 euros.</p></body></html>

--_000_DB7PR01--
"""


def test_outlook_spanish_with_split_names_and_unmarked_signature(setup):
    daemon, sink = setup
    submit(daemon, "jd1987@example.org", ["bob@example.test"], OUTLOOK_ES)
    message, raw = delivered(daemon, sink, "outlook-es")
    assert message["From"].addresses[0].display_name == "Quelqu'un"
    assert message["Subject"] == "Fwd: Presupuesto outlook-es"
    text = body(message)
    html = body(message, "html")
    for canary in ["jd1987", "Dupont", "Canary Holdings", "912 345", "Calle Mayor", "14:02",
                   "Director", "Thread-Index"]:
        assert canary not in raw, canary
        assert canary not in text and canary not in html, canary
    assert "Te reenvío el presupuesto." in text and "Saludos," in text and "Saludos," in html
    assert "El presupuesto es 1200 euros." in text and "El presupuesto es 1200 euros." in html
    assert "mailto:someone@anon.test" in html
    assert "<b>Quelqu'un</b>" in html


GIT_SEND_EMAIL = """\
From: Jean Dupont <jean.dupont@corp.example>
To: bob@example.test
Subject: [PATCH v2] parser: accept folded headers git-en
Date: Mon, 23 Nov 2026 14:02:05 +0530
Message-Id: <20261123083205.4242-1-jean.dupont@corp.example>
X-Mailer: git-send-email 2.43.0
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit

Folded headers were read as two headers; join continuation lines first.
Contact the list if anything breaks.

Signed-off-by: Jean Dupont <jean.dupont@corp.example>
---
 src/parser.rs | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/src/parser.rs b/src/parser.rs
--- a/src/parser.rs
+++ b/src/parser.rs
@@ -1 +1 @@
-let line = next();
+let line = unfold(next());
-- 
2.43.0
"""


def test_git_send_email_patch_keeps_the_diff(setup):
    daemon, sink = setup
    submit(daemon, "jean.dupont@corp.example", ["bob@example.test"], GIT_SEND_EMAIL)
    message, raw = delivered(daemon, sink, "git-en")
    for canary in ["Dupont", "corp.example", "+0530", "git-send-email", "2.43.0"]:
        assert canary not in raw, canary
    text = body(message).replace("\r\n", "\n")
    assert "Signed-off-by: Quelqu'un <someone@anon.test>" in text
    assert "Contact the list if anything breaks." in text
    assert "--- a/src/parser.rs\n+++ b/src/parser.rs\n@@ -1 +1 @@\n" in text, text
    assert "+let line = unfold(next());" in text


ATTRIBUTIONS = [
    ("it", "Il giorno lun 23 nov 2026 alle ore 14:02 Bob <bob@example.test> ha scritto:"),
    ("nl", "Op ma 23 nov. 2026 om 14:02 schreef Bob <bob@example.test>:"),
    ("pt", "Em seg., 23 de nov. de 2026 às 14:02, Bob <bob@example.test> escreveu:"),
    ("es", "El lun, 23 nov 2026 a las 14:02, Bob (<bob@example.test>) escribió:"),
]


def test_attributions_in_other_languages(setup):
    daemon, sink = setup
    for language, attribution in ATTRIBUTIONS:
        submit(daemon, "colleague@anon.test", ["bob@example.test"],
               f"From: colleague@anon.test\nTo: bob@example.test\nSubject: attr-{language}\n"
               "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
               f"Risposta.\n\n{attribution}\n> domanda\n")
    for language, _ in ATTRIBUTIONS:
        message, raw = delivered(daemon, sink, f"attr-{language}")
        text = body(message)
        assert "14:02" not in raw and "Bob" not in text, (language, text)
        assert "> domanda" in text and "Risposta." in text


INNOCENT = """\
From: Contact <contact@corp.example>
To: Alice Dupont <alice.dupont@example.test>
Subject: Prends contact avec Paul innocent
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Prends contact avec Paul et Alice Dupont demain.
Le président a écrit :
que la séance est levée.
--
Ce tiret double n'est pas une signature : la suite reste.
Elle compte plusieurs lignes.

Et plusieurs paragraphes, avec des phrases complètes.
Martin viendra aussi.
____________________
Ce paragraphe suit une ligne de soulignés et reste.
"""


def test_innocent_text_arrives_unchanged(setup):
    daemon, sink = setup
    submit(daemon, "contact@corp.example", ["alice.dupont@example.test"], INNOCENT)
    message, raw = delivered(daemon, sink, "innocent")
    assert message["Subject"] == "Prends contact avec Paul innocent"
    assert str(message["To"]) == "alice.dupont@example.test"
    text = body(message).replace("\r\n", "\n")
    original = INNOCENT.split("\n\n", 1)[1]
    assert text.startswith(original), text
    assert "corp.example" not in raw


def refused_copy(daemon, cc, subject):
    """The reply refusing Jean's message to bob@ with `cc` in Cc."""
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(daemon, "jean.dupont@corp.example", ["bob@example.test", cc],
               f"From: Jean Dupont <jean.dupont@corp.example>\nTo: bob@example.test\n"
               f"Cc: Moi <{cc}>\nSubject: {subject}\n\nCoucou.\n")
    assert refused.value.smtp_code == 550
    return refused.value.smtp_error.decode()


def test_a_copy_to_the_senders_own_address_is_refused(setup):
    daemon, sink = setup
    for cc in [NOTIFY, "JD1987@example.org", "jean.dupont@corp.example"]:
        reply = refused_copy(daemon, cc, "self-copy")
        assert "5.7.1" in reply and "own address" in reply and "la votre" in reply, reply
    assert daemon.queue_ids() == set()
    assert not any(b"self-copy" in e.original_content for e in sink.messages)


def test_an_address_carrying_the_senders_name_is_refused_beside_others(setup):
    """Jean Dupont copying his personal mailbox at another provider: the
    other recipients would see jean.dupont@…; alone in To, only its owner
    sees it (a namesake, a relative), and it goes through."""
    daemon, sink = setup
    for cc in ["jean.dupont@perso.example", "JDupont+copie@perso.example"]:
        reply = refused_copy(daemon, cc, "named-copy")
        assert "5.7.1" in reply and "carries your name" in reply and "Cci" in reply, reply
    assert daemon.queue_ids() == set()
    submit(daemon, "jean.dupont@corp.example", ["jdupont@example.test"],
           "From: Jean Dupont <jean.dupont@corp.example>\nTo: jdupont@example.test\n"
           "Subject: named-alone\n\nCoucou.\n")
    message, raw = delivered(daemon, sink, "named-alone")
    assert str(message["To"]) == "jdupont@example.test"
    assert not any(b"named-copy" in e.original_content for e in sink.messages)


OUTLOOK_BLOCKS = [
    ("en", "Sent with Spark",
     "-----Original Message-----\nFrom: Bob Martin <bob@example.test>\n"
     "Sent: Monday, November 23, 2026 2:02:05 PM\nTo: Jean Dupont <jd1987@example.org>\nSubject: Plan"),
    ("fr", "Envoyé de mon iPhone",
     "________________________________\nDe : Bob Martin <bob@example.test>\n"
     "Envoyé : lundi 23 novembre 2026 14:02:05\nÀ : Jean Dupont <jd1987@example.org>\nObjet : Plan"),
    ("de", "Gesendet von Outlook für Android",
     "________________________________\nVon: Bob Martin <bob@example.test>\n"
     "Gesendet: Montag, 23. November 2026 14:02:05\nAn: Jean Dupont <jd1987@example.org>\nBetreff: Plan"),
]


def test_outlook_blocks_and_taglines_in_other_languages(setup):
    daemon, sink = setup
    for language, tagline, block in OUTLOOK_BLOCKS:
        submit(daemon, "colleague@anon.test", ["bob@example.test"],
               f"From: Jean Dupont <colleague@anon.test>\nTo: bob@example.test\n"
               f"Subject: outlook-{language}\nContent-Type: text/plain; charset=utf-8\n"
               "Content-Transfer-Encoding: 8bit\n\n"
               "Answer first.\nWrite to https://lists.example.test/join?u=jd1987%40example.org\n\n"
               f"{tagline}\n\n{block}\n\nThe plan is ready.\n")
    for language, tagline, _ in OUTLOOK_BLOCKS:
        message, raw = delivered(daemon, sink, f"outlook-{language}")
        text = body(message)
        for canary in [tagline, "14:02", "Bob Martin", "jd1987", "Dupont", "Original Message", "____"]:
            assert canary not in text, (language, canary, text)
        assert "Answer first." in text and "The plan is ready." in text, text
        assert "join?u=colleague@anon.test" in text, text


def test_custom_pseudonyms_are_moderated(setup):
    daemon, sink = setup
    message = ("From: Jean Dupont <friend@anon.test>\nX-Leak-Pseudonym: {}\nTo: bob@example.test\n"
               "Subject: {}\n\nBonjour, je pense souvent à toi.\n")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(daemon, "friend@anon.test", ["bob@example.test"],
               message.format("Le Gros Encule", "pseudo-refused"))
    assert refused.value.smtp_code == 550 and b"5.7.1" in refused.value.smtp_error
    submit(daemon, "friend@anon.test", ["bob@example.test"],
           message.format("=?utf-8?q?Le_H=C3=A9risson?=", "pseudo-ok"))
    delivered_message, raw = delivered(daemon, sink, "pseudo-ok")
    assert delivered_message["From"].addresses[0].display_name == "Le Hérisson"
    assert "X-Leak-Pseudonym" not in raw and "Dupont" not in raw
    assert not any(b"pseudo-refused" in e.original_content for e in sink.messages)


HTML_TRICKS = """\
From: Jean Dupont <jd1987@example.org>
To: bob@example.test
Subject: css tricks
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head><style>p::after{{content:"Jean Dupont, jd1987@example.org"}}{extra}</style></head>
<body><p>See you at the meeting.</p><font face="Jean Dupont">ok</font>
<input type="text" value="Jean Dupont jd1987@example.org">{body}</body></html>
"""


def test_text_shown_by_css_and_attributes_is_scrubbed_and_moderated(setup):
    """Red-team findings: CSS strings and kept attributes carried the
    sender's name; `attr()`, `<bdo>` and a bidi override showed text
    moderation never read (or read backwards)."""
    daemon, sink = setup
    submit(daemon, "jd1987@example.org", ["bob@example.test"],
           HTML_TRICKS.format(extra="b{unicode-bidi:bidi-override;direction:rtl}",
                              body="<p>Bien \u202eà\u202c toi, <bdo dir=rtl>sruojuot</bdo></p>"))
    # What is tested is the scrubbing: should the model hold this odd
    # mixture of languages for review (it scored 0.70 in French with the
    # model of writers 1-9), the operator's release sends it as it is.
    for held in json.loads(daemon.cli("queue", "list", "--held", "--json").stdout):
        daemon.cli("queue", "release", held["id"])
    message, raw = delivered(daemon, sink, "css tricks")
    html = body(message, "html")
    assert "dupont" not in raw.lower() and "jd1987" not in raw, html
    assert "{-leak-unicode-bidi:" in html and "<bdo" not in html and "\u202e" not in html, html
    assert "See you at the meeting." in html

    # An insult placed in an attribute and shown through CSS attr() is read
    # by moderation: never delivered as is.
    insult = HTML_TRICKS.format(
        extra="span::after{content:attr(face)}",
        body='<p>Hi.<span face="You are a stupid worthless idiot and everyone hates you"></span></p>',
    ).replace("css tricks", "attr trick")
    try:
        submit(daemon, "jd1987@example.org", ["bob@example.test"], insult)
    except smtplib.SMTPDataError as refused:
        assert refused.smtp_code == 550
    else:
        held = json.loads(daemon.cli("queue", "list", "--held", "--json").stdout)
        assert len(held) == 1, held
        assert "moderation" in daemon.cli("queue", "show", held[0]["id"]).stdout
    assert not any(b"attr trick" in m.original_content for m in sink.messages)


REDTEAM_2 = """\
From: Jean Dupont <jean.dupont@corp.example>
To: bob@example.test
Subject: red team two
Disposition-Notification-To: Jean D <jd.private@home.example>
Return-Receipt-To: <receipts-jd@isp.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mixed"

--mixed
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8; format=flowed
Content-Transfer-Encoding: 8bit

Voici le plan, relu par Jean \nDupont hier. Accus\u00e9 demand\u00e9 par jd.private@home.example.
Profil : https://example.org/u/jean.dupont?ref=jean%20dupont
Ou \u00e9cris \u00e0 jean_dupont@gmail.example ou jdupont@outlook.example.

--alt
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

<html><head><style>p::after{content:"\\4a ean \\44 upont"}</style></head><body>
<p>Voici le plan, relu par Je&shy;an Du\u200bpont et Jean <nobr>Dupont</nobr>.</p>
<p><a href="https://example.org/u/jean.dupont?ref=jean%20dupont">profil</a>
<a href="mailto:dupont.jean@yahoo.example">\u00e9crire</a>, accus\u00e9 : receipts-jd@isp.example</p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class=MsoNormal><b>From:</b> Jean Dupont<br><b>Sent:</b> Monday, November 23, 2026 2:02 PM<br>
<b>To:</b> Bob Martin<br><b>Subject:</b> Plan<o:p></o:p></p></div>
<p>Le plan est pr\u00eat ?</p>
</body></html>

--alt--
--mixed
Content-Type: text/markdown; charset=utf-8
Content-Disposition: attachment; filename="jean-dupont-notes.md"

# Notes de Jean Dupont

--mixed--
"""


def test_red_team_two_names_split_variants_urls_receipts_and_reply_headers(setup):
    """Issue 11, second red team: a name split by invisible characters,
    markup or a flowed soft break, the sender's address at other domains
    and in URLs, read-receipt addresses quoted in the body, a CSS-escaped
    name, an Outlook reply header without an address and a file name —
    none of them reaches the recipient, and the text around them does."""
    daemon, sink = setup
    submit(daemon, "jean.dupont@corp.example", ["bob@example.test"], REDTEAM_2)
    message, raw = delivered(daemon, sink, "red team two")
    decoded = [raw]
    for part in message.walk():
        if not part.is_multipart():
            decoded.append(part.get_content() if part.get_content_maintype() == "text"
                           else "")
            decoded.append(part.get_filename() or "")
    everything = "\n".join(decoded)
    for canary in ["dupont", "jd.private", "receipts-jd", "corp.example", "gmail.example",
                   "outlook.example", "yahoo.example", "2:02 pm", "disposition-notification",
                   "\\4a ean"]:
        assert canary not in everything.lower(), (canary, everything)
    text = body(message).replace("\r\n", "\n")
    assert "relu par Quelqu'un" in text, text
    assert "https://example.org/u/Quelqu%27un?ref=Quelqu%27un" in text, text
    assert "someone@anon.test ou someone@anon.test" in text, text
    html = body(message, "html")
    assert "relu par Quelqu'un et Quelqu'un" in html, html
    assert 'href="https://example.org/u/Quelqu%27un?ref=Quelqu%27un"' in html, html
    assert 'href="mailto:someone@anon.test"' in html, html
    assert "Le plan est prêt ?" in html and "Bob Martin" not in html, html
    names = [part.get_filename() for part in message.walk() if part.get_filename()]
    assert names == ["Quelqu'un-notes.md"], names
