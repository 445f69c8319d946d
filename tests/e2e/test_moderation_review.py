"""Moderation's three outcomes through the real daemon: block (550 5.7.1,
reason in French and English), hold for review (250, stored held), allow;
then the operator's side: `leak queue cat`, `leak moderation review` with
answers piped on stdin, release delivering to the receiving MX, and the
review deadline dropping a held message and notifying the sender."""

import json
import smtplib

from conftest import PASSWORD, TRUSTED_IP, tls_context, wait_for

# Uncertain and confident texts for the learned model. Which of them land in
# the hold band or above the block threshold depends on the shipped weights,
# so the test asks `leak moderation check` and uses the first that fit: what
# is tested here is what the daemon does with each outcome.
CANDIDATES = [
    "Coucou ! On se retrouve a la gare a 18h, je t'attendrai devant.",
    "I noticed you changed your route to work this week. The park is nicer, isn't it?",
    "Ta voiture grise est garee devant le numero 12 depuis mardi, je l'ai bien vue.",
    "You looked tired at the gym on Tuesday evening. You should sleep more.",
    "Je passe souvent devant chez toi le soir, les lumieres du salon restent allumees tard.",
    "Your daughter's school lets out at 4, right? I saw her at the gate.",
    "It would be a shame if your boss found out what you did last summer.",
    "Think carefully about your answer. People who say no to me usually regret it.",
    "Tu devrais faire attention en rentrant ce soir, les rues sont sombres pres de chez toi.",
    "Reply to my messages or I will tell everyone at your office what you really are.",
    "Je sais a quelle heure tu sors du travail et par quelle porte.",
    "I saw you at the cafe again this morning, same table by the window as always.",
    "Nice dress on Friday. I'll be at the station again tomorrow at eight, same as you.",
    "Je sais a quelle heure tu sors du travail et par quelle porte, je t'attendrai ce soir.",
    "Ton fils a bien grandi, je l'ai vu a la sortie de l'ecole mardi, il te ressemble.",
    "On t'a vu sortir avec lui samedi soir, tout le quartier en parle maintenant.",
    "We both know how this ends if you keep ignoring me. Last warning, sweetheart.",
    "Women like you should stay in the kitchen and keep quiet in meetings.",
    "Send me more pictures tonight or the ones I have go to your family.",
    "T'as grossi, ca se voit, personne ne voudra plus jamais de toi.",
    "You'd be doing everyone a favour if you just disappeared for good.",
]

INSULT = "T'es qu'un sale c0nn4rd, espece de minable."
# Every candidate is checked and sent under this subject: the model reads
# the subject with the text, so the check must see what the daemon will.
SUBJECT = "note"


def message(subject, text, sender="friend@anon.test"):
    return (f"From: {sender}\r\nTo: bob@example.test\r\nSubject: {subject}\r\n\r\n{text}\r\n").encode()


def outcomes(daemon):
    """Each candidate's outcome as the CLI reports it (first line)."""
    found = {}
    for text in CANDIDATES:
        result = daemon.cli("moderation", "check", "-", input=message(SUBJECT, text).decode())
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        # A rules hit the model doubts is held too, but is not the model's band.
        found[text] = "hold: rules" if lines[0] == "hold" and lines[1].startswith("rules:") else lines[0]
    return found


def trusted_client(daemon):
    client = smtplib.SMTP("127.0.0.1", daemon.ports["none"], timeout=30, source_address=(TRUSTED_IP, 0))
    client.ehlo("app.test")
    return client


def send(client, data, sender="app@real.example"):
    assert client.mail(sender)[0] == 250
    assert client.rcpt("bob@example.test")[0] == 250
    return client.data(data)


def held_ids(daemon):
    result = daemon.cli("queue", "list", "--json")
    assert result.returncode == 0, result.stderr
    return [m["id"] for m in json.loads(result.stdout) if m["held"]]


def test_block_hold_cat_review_release(make_daemon, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(nameserver=nameserver, mx_port=mx_port)
    found = outcomes(daemon)
    holds = [t for t, o in found.items() if o == "hold"]
    model_blocks = [t for t, o in found.items() if o == "block: model"]
    assert len(holds) >= 2, found
    assert model_blocks, found

    with trusted_client(daemon) as client:
        # Blocked by the rules, and by the model alone: 550 5.7.1, both languages.
        code, reply = send(client, message("hey", INSULT))
        assert code == 550 and reply.startswith(b"5.7.1"), reply
        assert b"insult" in reply and b"insulte" in reply, reply
        code, reply = send(client, message(SUBJECT, model_blocks[0]))
        assert code == 550 and reply.startswith(b"5.7.1"), reply
        assert b"abusive" in reply and b"abusif" in reply, reply
        assert held_ids(daemon) == []
        # Uncertain: accepted (250) and stored held.
        for i, text in enumerate(holds[:2]):
            code, reply = send(client, message(SUBJECT, text))
            assert code == 250, reply
    ids = held_ids(daemon)
    assert len(ids) == 2, daemon.cli("queue", "list").stdout
    show = daemon.cli("queue", "show", ids[0])
    assert "moderation review" in show.stdout, show.stdout

    # `queue cat`: the message as the recipient will get it.
    text_of = {}
    for id in ids:
        cat = daemon.cli("queue", "cat", id)
        assert cat.returncode == 0, cat.stderr
        assert "DKIM-Signature:" in cat.stdout and "friend@anon.test>" in cat.stdout, cat.stdout
        # Dated and stamped as delivery would do it now (the store has neither).
        assert "\nDate: " in cat.stdout and "(leak); " in cat.stdout, cat.stdout
        assert "real.example" not in cat.stdout
        text_of[id] = next(t for t in holds[:2] if t[:30] in cat.stdout)
    assert daemon.cli("queue", "cat", "0000000000000000").returncode == 1

    # The review loop: release the first shown, delete the second.
    review = daemon.cli("moderation", "review", input="x\nr\nd\n")
    assert review.returncode == 0, review.stderr
    assert "please answer r, d, s or q" in review.stdout, review.stdout
    assert "1 released, 1 deleted" in review.stdout, review.stdout
    shown = [line.split()[1] for line in review.stdout.splitlines() if line.startswith("[")
             and "/2] " in line]
    assert sorted(shown) == sorted(ids), review.stdout
    released, deleted = shown
    assert "Subject: note" in review.stdout and text_of[released][:30] in review.stdout

    # The released one reaches the MX; the deleted one is gone.
    expected = text_of[released][:30].encode()
    assert wait_for(lambda: any(expected in e.original_content for e in sink.messages), 60), \
        "".join(daemon.log)
    assert held_ids(daemon) == []
    assert daemon.cli("queue", "show", deleted).returncode == 1
    assert not any(text_of[deleted][:30].encode() in e.original_content for e in sink.messages)


def test_review_off_lets_uncertain_messages_through(make_daemon):
    daemon = make_daemon(start=False)
    daemon.config.write_text(daemon.config.read_text().replace(
        'action = "reject"', 'action = "reject"\nreview = false'))
    daemon.start()
    holds = [t for t, o in outcomes(daemon).items() if o == "hold"]
    assert holds
    with trusted_client(daemon) as client:
        assert send(client, message(SUBJECT, holds[0]))[0] == 250
    result = json.loads(daemon.cli("queue", "list", "--json").stdout)
    assert len(result) == 1 and result[0]["held"] is False


# The rules match an insult, the model reads affection: the two disagree.
DOUBTED = "Honestly you are a stupid idiot sometimes but I love you and I am proud of you, happy birthday."


def test_rules_hit_the_model_doubts_is_held_or_refused_without_review(make_daemon):
    daemon = make_daemon(start=False)
    check = daemon.cli("moderation", "check", "-", input=DOUBTED).stdout.splitlines()
    assert check[:2] == ["hold", "rules: insult"], check
    daemon.start()
    with trusted_client(daemon) as client:
        assert send(client, message("birthday", DOUBTED))[0] == 250
    assert len(held_ids(daemon)) == 1
    daemon.stop()
    # Without review there is no one to settle it: the rules' block stands.
    daemon.config.write_text(daemon.config.read_text().replace(
        'action = "reject"', 'action = "reject"\nreview = false'))
    daemon.start()
    with trusted_client(daemon) as client:
        code, reply = send(client, message("birthday", DOUBTED))
        assert code == 550 and reply.startswith(b"5.7.1") and b"insult" in reply, reply


def test_review_deadline_drops_and_notifies(make_daemon, mx_and_dns):
    sink, mx_port, nameserver = mx_and_dns
    daemon = make_daemon(start=False, nameserver=nameserver, mx_port=mx_port)
    daemon.config.write_text(daemon.config.read_text().replace(
        'action = "reject"', 'action = "reject"\nreview_deadline = "2s"'))
    added = daemon.cli("user", "add", "carol", "--password-stdin", "--notify", "carol.real@example.test",
                       input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    daemon.start()
    holds = [t for t, o in outcomes(daemon).items() if o == "hold"]
    assert holds
    with smtplib.SMTP("127.0.0.1", daemon.ports["starttls"], timeout=30) as client:
        client.starttls(context=tls_context())
        client.login("carol", PASSWORD)
        assert send(client, message(SUBJECT, holds[0]), sender="carol@real.example")[0] == 250
    # Held at first (the sweep runs every second; the deadline is 2 s).
    assert len(held_ids(daemon)) == 1

    def notified():
        return any("carol.real@example.test" in e.rcpt_tos for e in list(sink.messages))

    assert wait_for(notified, 60), "".join(daemon.log)
    notice = next(e for e in sink.messages if "carol.real@example.test" in e.rcpt_tos)
    body = notice.original_content
    assert b"not delivered" in body and b"pas ete distribue" in body, body
    assert holds[0][:30].encode() not in body
    assert held_ids(daemon) == []
    assert not any(b"bob@example.test" in e.original_content for e in sink.messages)


def test_eval_prints_table_and_json(make_daemon, tmp_path):
    daemon = make_daemon(start=False)
    tsv = tmp_path / "set.tsv"
    tsv.write_text("label\tlang\tcategory\ttext\n"
                   f"abusive\tfr\tinsult_direct\t{INSULT}\n"
                   "abusive\ten\tinsult_direct\tYou are a stupid idiot and everyone knows it.\n"
                   "benign\ten\teveryday\tThe meeting moved to Thursday at 3pm, see you there.\n"
                   "benign\tfr\teveryday\tMerci pour le diner d'hier soir, c'etait delicieux.\n")
    result = daemon.cli("moderation", "eval", str(tsv))
    assert result.returncode == 0, result.stderr
    assert "| en | (all) | 1 | 100.0 % | 100.0 % | 1 | 0.0 % | 0.0 % |" in result.stdout, result.stdout
    figures = json.loads(daemon.cli("moderation", "eval", str(tsv), "--json").stdout)
    assert figures["by_lang"]["fr"]["blocked"] == 1
    assert figures["by_category"]["en"]["everyday"]["benign_blocked"] == 0
    bad = tmp_path / "bad.tsv"
    bad.write_text("maybe\tfr\tx\ty\n")
    assert daemon.cli("moderation", "eval", str(bad)).returncode == 1
