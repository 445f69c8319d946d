//! Unit tests of the public behaviour on short, hand-picked cases; the
//! labelled corpus in `tests/` measures the rest.

use super::*;

fn verdict(text: &str) -> Option<Category> {
    match Classifier::builtin().classify(&Input {
        subject: "",
        text,
        pseudonym: "",
    }) {
        Verdict::Allow => None,
        Verdict::Block { category, .. } => Some(category),
    }
}

#[track_caller]
fn blocks(text: &str, want: Category) {
    assert_eq!(verdict(text), Some(want), "{text:?}");
}

#[track_caller]
fn passes(text: &str) {
    assert_eq!(verdict(text), None, "{text:?}");
}

#[test]
fn builtin_lexicons_compile() {
    let c = Classifier::builtin();
    assert!(c.lex.rules.len() > 100);
}

#[test]
fn classifier_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Classifier>();
}

#[test]
fn scunthorpe_words_pass() {
    for w in [
        "concours",
        "conseil",
        "réputation",
        "computer",
        "Scunthorpe",
        "assassin",
        "bassesse",
        "cocktail",
        "analyse",
        "therapist",
        "Dickens",
        "cumulative",
        "pénis",
        "cancer du sein",
        "anal fissure",
        "Sussex",
        "grape",
        "shitake",
        "constitution",
        "passionnant",
    ] {
        passes(&format!("Tu as lu ça ? {w}. You should see it: {w}."));
    }
}

#[test]
fn disguises_are_undone() {
    for text in [
        "t'es qu'un c0nn4rd",
        "t'es qu'un s.a.l.o.p.e",
        "espèce de c o n n a r d",
        "f u c k you",
        "f*ck you",
        "t'es qu'un enc*lé",
        "t'es qu'un connnnnnard",
        "you're an @sshole",
        "you are a 1d10t",
        "t'es qu'un \u{0441}\u{043e}nnard",
        "t'es qu'un ｃｏｎｎａｒｄ",
        "t'es qu'un sal\u{200b}ope",
        "t'es qu'un con-nard",
        "you are such a B!TCH",
    ] {
        blocks(text, Category::Insult);
    }
}

#[test]
fn aimed_insults_block_and_confessions_pass() {
    blocks("Salut connard, tu te souviens de moi ?", Category::Insult);
    blocks("Thanks for nothing, asshole.", Category::Insult);
    blocks("you stupid idiot", Category::Insult);
    blocks("Ta mère est une pute.", Category::Insult);
    passes("J'ai été un vrai connard avec toi, pardon.");
    passes("I was such an asshole to you back then.");
    passes("I'm sorry I called you an idiot last week.");
    passes("Your work on the report was sloppy.");
    passes("Ton travail était nul, mais toi tu vaux mieux que ça.");
    passes("Tu es en retard, encore.");
}

#[test]
fn threats_and_incitement_block_but_own_distress_passes() {
    blocks("je vais te tuer", Category::Threat);
    blocks("I will kill you", Category::Threat);
    blocks("Je sais où tu habites.", Category::Threat);
    blocks("go kill yourself", Category::SelfHarmIncitement);
    blocks("Va te pendre.", Category::SelfHarmIncitement);
    passes("I would never hurt you.");
    passes("Je ne vais pas te tuer, promis, je t'apporte des croissants.");
    passes("I'll shoot you an email tomorrow.");
    passes("L'an dernier j'ai pensé à me tuer. Je vais mieux.");
    passes("I wanted to kill myself after the divorce.");
}

#[test]
fn slurs_and_sexual_harassment_block() {
    blocks("sale bougnoule", Category::Slur);
    blocks("suce ma bite", Category::SexualHarassment);
    blocks("send nudes", Category::SexualHarassment);
    passes("Je t'envoie mille baisers.");
    passes("J'ai porté plainte pour viol l'année dernière.");
    passes("I'm gay and I never told you.");
}

#[test]
fn operator_lists_extend_and_override() {
    let block = parse_word_list("# local\nbarnabé # a nickname\nthreat: je te retrouve\n\n");
    assert_eq!(block, ["barnabé", "threat: je te retrouve"]);
    let allow = vec!["pauvre con".to_owned()];
    let c = Classifier::new(&block, &allow);
    let run = |text| {
        c.classify(&Input {
            subject: "",
            text,
            pseudonym: "",
        })
    };
    assert!(matches!(
        run("Salut B4RN4BÉ"),
        Verdict::Block {
            category: Category::Insult,
            ..
        }
    ));
    assert!(matches!(
        run("je te retrouve"),
        Verdict::Block {
            category: Category::Threat,
            ..
        }
    ));
    assert_eq!(run("Il a crié « pauvre con » au ministre."), Verdict::Allow);
}

#[test]
fn verdict_carries_reason_and_match() {
    let c = Classifier::builtin();
    let v = c.classify(&Input {
        subject: "Bonjour",
        text: "t'es qu'un connard",
        pseudonym: "",
    });
    let Verdict::Block {
        category,
        reason,
        matched,
        ..
    } = v
    else {
        panic!("allowed")
    };
    assert_eq!(category.to_string(), "insult");
    assert!(
        reason.is_ascii() && !reason.contains(['\r', '\n']),
        "{reason}"
    );
    assert!(matched.contains("connard"), "{matched}");
}

#[test]
fn pseudonym_is_held_to_name_rules() {
    let c = Classifier::builtin();
    let name = |pseudonym| {
        c.classify(&Input {
            subject: "",
            text: "Bonjour.",
            pseudonym,
        })
    };
    assert!(matches!(name("Le Connard"), Verdict::Block { .. }));
    assert!(matches!(name("TaMereLaPute"), Verdict::Block { .. }));
    assert_eq!(name("Un ami"), Verdict::Allow);
    assert_eq!(name("Dick"), Verdict::Allow);
}

#[test]
fn subject_counts() {
    let c = Classifier::builtin();
    let v = c.classify(&Input {
        subject: "go kill yourself",
        text: "",
        pseudonym: "",
    });
    assert!(matches!(
        v,
        Verdict::Block {
            category: Category::SelfHarmIncitement,
            ..
        }
    ));
}

#[test]
fn reported_quotations_pass_but_bare_ones_block() {
    passes("Someone wrote 'kill yourself' under my post.");
    passes("« Sale pute », voilà ce qu'il m'a crié dans la rue.");
    passes("\"You're a worthless bitch,\" he said.");
    blocks("\"You're a worthless bitch.\"", Category::Insult);
    blocks(
        "'kill yourself' and I mean it",
        Category::SelfHarmIncitement,
    );
    // a slur is never neutralised, quoted or not
    blocks("He wrote \"dirty faggot\" on my door.", Category::Slur);
}

#[test]
fn unlisted_adjectives_are_read_by_shape() {
    blocks("you sweaty pig", Category::Insult);
    blocks("Dear clueless idiot, read the manual.", Category::Insult);
    blocks("Hideous troll, go away.", Category::Insult);
    passes("Holy cow, you did it!");
    passes("you really fool yourself sometimes");
    passes("I hope you forgive idiots like me.");
}

#[test]
fn plurals_contractions_and_body_threats() {
    blocks("Bande de dégénérés", Category::Insult);
    blocks("t es 1 p u t e", Category::Insult);
    blocks("Your mum's a whore", Category::Insult);
    passes("Your mum's a wonderful cook.");
    blocks("I'm going to rip your head off", Category::Threat);
    blocks("Je vais te casser les dents.", Category::Threat);
    passes("Ne te casse pas la tête pour le cadeau.");
    blocks(
        "why don't you just kill yourself",
        Category::SelfHarmIncitement,
    );
    passes("I would never let you hurt yourself.");
}

#[test]
fn scratch_buffers_do_not_leak_between_messages() {
    let c = Classifier::builtin();
    let long = "You are a wonderful friend and ".repeat(2000);
    let check = |text: &str| {
        c.classify(&Input {
            subject: "",
            text,
            pseudonym: "",
        })
    };
    assert_eq!(check(&long), Verdict::Allow);
    assert!(matches!(check("kys"), Verdict::Block { .. }));
    assert_eq!(check("thanks"), Verdict::Allow);
}

#[test]
fn compounds_masks_and_spelled_words() {
    // `cum shit … / @tail` lists every compound; plurals follow.
    blocks("You absolute cumstain.", Category::Insult);
    blocks("you shitgibbons", Category::Insult);
    passes("There is a stain on the cocktail napkin.");
    // A mask prefers a listed insult over a rule literal, and may stand
    // for nothing.
    blocks("you're a c*nt", Category::Insult);
    blocks("t'es qu'un p*d", Category::Slur);
    passes("I was such a c*nt to my sister, sorry.");
    // Spelled letter by letter: blocks anywhere, unless neutralised.
    blocks("s.a.l.o.p.e tout le monde a vu", Category::Insult);
    blocks("r e t a r d", Category::Insult);
    passes("He called me a r e t a r d and I cried.");
    passes("My name is spelled s m i t h.");
}

#[test]
fn sms_aliases_and_veiled_threats() {
    blocks("jsais ou tu habites", Category::Threat);
    blocks("ta mer c une pute", Category::Insult);
    passes("fé gaffe a la route, il y a du verglas");
    blocks("Fais gaffe, on t'attend au parking.", Category::Threat);
    passes("On vous attend au parking pour la livraison.");
    blocks(
        "Si tu portes plainte, tu ne reverras pas ton chat vivant.",
        Category::Threat,
    );
    blocks("I'll beat you senseless.", Category::Threat);
    passes("I finally beat the record.");
}

#[test]
fn word_cache_agrees_with_the_lexicon() {
    // Past the cache's size threshold, each sentence is read as alone.
    let c = Classifier::builtin();
    let filler = "Merci pour le dossier, à demain. ".repeat(300);
    for (text, blocked) in [
        ("you're the most insufferable windbag", true),
        ("I jerk off to your pictures", true),
        ("You are the most considerate neighbour.", false),
    ] {
        let long = format!("{filler}{text}");
        let cached = c.classify(&Input {
            subject: "",
            text: &long,
            pseudonym: "",
        });
        assert_eq!(matches!(cached, Verdict::Block { .. }), blocked, "{text}");
        assert_eq!(verdict(text).is_some(), blocked, "{text}");
    }
}

#[test]
fn class_sets_are_wider_than_64() {
    // Word `i` is spelled in letters ("wab"), as lexicon words are normalised.
    let word = |i: u8| format!("w{}{}", (b'a' + i / 26) as char, (b'a' + i % 26) as char);
    let mut text = String::new();
    for i in 0..100 {
        text.push_str(&format!("[class c{i} +content]\n{}\n", word(i)));
    }
    text.push_str("[rule insult 2]\n@c99 @c70\n");
    let lex = Lexicon::build(&[&text], &[], &[]);
    for i in [0, 63, 64, 99] {
        let mask = lex.class_mask(&format!("c{i}"));
        assert_ne!(mask, 0, "c{i}");
        assert_eq!(lex.classes(lex.lookup(word(i).as_bytes(), 0)), mask, "c{i}");
    }
    assert_eq!(lex.rules.len(), 1);
}

#[test]
fn sixth_round_vocabulary_families() {
    blocks("You drooling window-licker.", Category::Insult);
    blocks("You limp-wristed fairy.", Category::Slur);
    blocks("Sale melon, rentre chez toi.", Category::Slur);
    blocks("Your tyres will be slashed by Friday.", Category::Threat);
    blocks("Ta Clio finira sur cales, tu verras.", Category::Threat);
    blocks("Drink a bottle of bleach.", Category::SelfHarmIncitement);
    blocks(
        "Pay 500 or every contact you have gets to watch.",
        Category::SexualHarassment,
    );
    passes("You're a beautiful fairy, happy birthday!");
    passes("J'ai acheté un melon et une salade.");
    passes("Your tyres will be replaced by Friday.");
    passes("I'm going to put you in hospital for a few days for tests.");
    passes("Never drink bleach.");
}

#[test]
fn hyphenated_compounds_take_the_shape_of_their_second_half() {
    // "attention" opens no shape; the compound is read after "an".
    blocks("You're an attention-seeking whore.", Category::Insult);
    blocks("you money-grubbing bastard", Category::Insult);
    blocks("you desperate homewrecking bitch", Category::Insult);
    passes("You're a hard-working, record-breaking legend.");
    passes("Attention-seeking behaviour is normal in toddlers.");
}

#[test]
fn conditional_threats_need_a_provocation() {
    blocks(
        "If you come back to the club, you'll leave in an ambulance.",
        Category::Threat,
    );
    blocks(
        "Si tu portes plainte, ta boutique va flamber.",
        Category::Threat,
    );
    passes("If you don't wear a helmet, you'll leave in an ambulance.");
    passes("Si tu ne mets pas de casque, tu repars en ambulance.");
    passes("Next time it won't just be a warning, your car will be towed.");
    blocks(
        "Next time it won't just be your car on fire.",
        Category::Threat,
    );
    blocks("Suce-moi et ton CDI est signé.", Category::SexualHarassment);
    passes("Sleep on it and I'll sign off your overtime.");
}

#[test]
fn chains_read_modifiers_of_any_vocabulary() {
    blocks("You brain-dead Tory cunt.", Category::Insult);
    blocks("You holier-than-thou asshole.", Category::Insult);
    blocks("You're a controlling, greedy bitch.", Category::Insult);
    blocks("Shut up, you tone-deaf cow.", Category::Insult);
    // four words at most, a hyphenated compound counting as one
    blocks("you plum tomato garden shed cunt", Category::Insult);
    passes("you plum tomato garden shed door cunt");
    blocks("you plum-tomato-garden-shed-door cunt", Category::Insult);
    // a breaker (verb, determiner, preposition) ends the chain
    passes("You know that asshole John? He got promoted.");
    passes("You met his bitch of a landlord last week.");
    passes("Honestly you deserve better than that lying bastard.");
    passes("You smoke weed every night.");
    passes("You poor bastard, that sounds awful.");
}

#[test]
fn french_tails_and_third_persons() {
    blocks(
        "Sale proprio de merde, répare ta chaudière.",
        Category::Insult,
    );
    blocks("Espèce de facho de merde.", Category::Insult);
    blocks(
        "Espèce de bureaucrate à la con, tamponne mon dossier.",
        Category::Insult,
    );
    blocks("T'es qu'un sale con.", Category::Insult);
    // a determiner before « sale » or « pauvre »: a third person
    passes("Tu connais ce sale con de Paul ?");
    passes("Le chef de service est un sale con arrogant.");
    passes("Je plains ce pauvre type de merde.");
    // a thing, not the reader
    passes("Sale temps de merde aujourd'hui.");
    passes("Cette espèce de chaise à la con m'a cassé le dos.");
}

#[test]
fn harm_idioms_medication_and_games() {
    blocks("Si tu témoignes, je te fais la peau.", Category::Threat);
    blocks("Je vais te descendre, t'entends ?", Category::Threat);
    passes("Je vais te descendre en ville, j'ai la voiture.");
    blocks(
        "Touch my sister again and you'll end up in the ground.",
        Category::Threat,
    );
    passes("Keep drinking like that and you'll end up six feet under, see someone.");
    blocks(
        "We're going to jump you after the derby and you'll leave in an ambulance.",
        Category::Threat,
    );
    blocks(
        "Do the world a favour and swallow your whole prescription.",
        Category::SelfHarmIncitement,
    );
    passes("Take all your pills with food and finish the course.");
    blocks(
        "Fais-toi une overdose et libère le service.",
        Category::SelfHarmIncitement,
    );
    passes("Fais-toi une overdose de séries ce week-end.");
    passes("Samedi soir à Smash Bros, je vais t'exploser.");
    blocks("tu devrai te pendr3", Category::SelfHarmIncitement);
    blocks("you retaaaarded ref, sit down", Category::Insult);
}

#[test]
fn an_open_slot_takes_any_word_but_its_exceptions() {
    let text = "[class ok]\ngenius\n[class brk]\nthe\n[rule insult 2]\nnothing but a -@ok $\n";
    let lex = Lexicon::build(&[text], &[], &[]);
    let index = Index::new(&lex);
    let c = Classifier {
        lex,
        index,
        hyph: 0,
        model_skip: Vec::new(),
    };
    let blocked = |text: &str| {
        let input = Input {
            subject: "",
            text,
            pseudonym: "",
        };
        matches!(c.classify(&input), Verdict::Block { .. })
    };
    // a word no list holds fills the slot
    assert!(blocked("nothing but a grifter."));
    // an exception, a breaker, a word opening a clause, or no word at all do not
    assert!(!blocked("nothing but a genius."));
    assert!(!blocked("nothing but a the."));
    assert!(!blocked("nothing but a, grifter."));
    assert!(!blocked("nothing but a"));
    // the slot holds one word, and the edge must follow it
    assert!(!blocked("nothing but a grifter from Leeds."));
}

#[test]
#[should_panic(expected = "open slot")]
fn a_pattern_cannot_open_on_an_open_slot() {
    Lexicon::build(&["[rule insult 2]\n-@x idiot\n[class x]\nfoo\n"], &[], &[]);
}

#[test]
fn ninth_round_open_frames() {
    // contempt frames with a noun no list holds
    blocks("T'es qu'un escroc et un minable.", Category::Insult);
    blocks("Espèce de magouilleur, rends l'argent.", Category::Insult);
    blocks("Sale arnaqueuse, ton gîte était infect.", Category::Insult);
    blocks("You're nothing but a grifter and a liar.", Category::Insult);
    blocks("You piece of garbage, you ruined it.", Category::Insult);
    blocks("You corrupt little shit.", Category::Insult);
    passes("T'es qu'un débutant, c'est normal de rater.");
    passes("Il n'est qu'un escroc et un minable, ce promoteur.");
    passes("Quelle espèce de poisson as-tu pêché ?");
    passes("Sale temps, hein ? On reste au chaud.");
    passes("He's nothing but a fraud, everyone knows it.");
    passes("You little star, you passed your test!");
    // threats: an intention, a harm verb and the reader's body or property
    blocks(
        "Remets un pied ici et je te plonge la tête dans la friteuse.",
        Category::Threat,
    );
    passes("Je plonge les légumes dans la friteuse deux minutes.");
    blocks("I will break every finger you type with.", Category::Threat);
    passes("I'm going to break every record at the fair this year.");
    blocks(
        "I'm going to lock you in the walk-in freezer.",
        Category::Threat,
    );
    passes("Can you lock the freezer when you leave?");
    blocks("Je vais foutre le feu à ta grange.", Category::Threat);
    passes("Je vais mettre le feu à ta soirée, prépare la piste !");
    blocks(
        "On va te retrouver après le conseil et tu vas pas aimer.",
        Category::Threat,
    );
    passes("On va te retrouver au café vers midi.");
    // sexual intentions, sextortion, self-harm urging, disguises
    blocks(
        "J'ai envie de te prendre sur le plan de travail.",
        Category::SexualHarassment,
    );
    passes("J'ai envie de te prendre dans mes bras, tu me manques.");
    blocks(
        "Si tu m'envoies pas tes photos, tout le groupe saura.",
        Category::SexualHarassment,
    );
    blocks(
        "Avale tous les cachets et débarrasse-nous de toi.",
        Category::SelfHarmIncitement,
    );
    blocks("r3t4rd, ur on the wrong shift", Category::Insult);
    blocks("t'es 1 gro b@tard", Category::Insult);
    blocks("jvé te kasser ta bouche", Category::Threat);
}

/// A thread keeps its token buffers for the next message, but not the
/// tens of MB a large text attachment needed.
#[test]
fn large_texts_do_not_leave_their_buffers_behind() {
    let kept = || {
        SCRATCH.with(|s| {
            let (tokens, text) = s.take();
            let capacity = tokens.buf.capacity();
            s.set((tokens, text));
            capacity
        })
    };
    let c = Classifier::builtin();
    let small = "merci pour ton aide hier, à demain";
    c.classify(&Input {
        subject: "",
        text: small,
        pseudonym: "",
    });
    assert!(kept() > 0, "a small message's buffers are kept");
    let large = "relevé 12 conforme, bâtiment B\n".repeat(100_000);
    c.classify(&Input {
        subject: "",
        text: &large,
        pseudonym: "",
    });
    assert!(kept() <= MAX_KEPT_SCRATCH, "{}", kept());
}

/// A text longer than a window of the rules is read window by window: a
/// threat at its end, or one whose words fall on both sides of a window's
/// edge (with or without line ends), still blocks; innocent filler alone
/// does not.
#[test]
fn large_texts_are_read_by_the_rules_to_their_end() {
    let filler_line = "relevé 12 conforme, bâtiment B, merci à toute l'équipe\n";
    let filler = filler_line.repeat(RULES_WINDOW * 3 / filler_line.len());
    assert_eq!(verdict(&filler), None);
    assert_eq!(verdict(&filler.replace('\n', " ")), None);
    let at_end = format!("{filler}Je sais où tu habites.\n");
    assert_eq!(verdict(&at_end), Some(Category::Threat));
    for cut in [RULES_WINDOW, 2 * RULES_WINDOW] {
        for text in [filler.clone(), filler.replace('\n', " ")] {
            // "I will kill you" spread so that the edge falls inside it.
            for shift in 0..16 {
                let at = text.floor_char_boundary(cut - 8 + shift);
                let mut spread = text.clone();
                spread.insert_str(at, " I will kill you ");
                assert_eq!(verdict(&spread), Some(Category::Threat), "{cut} {shift}");
            }
        }
    }
}
