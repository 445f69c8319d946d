//! Times the classifier on a 100 KB message (target: under 1 ms).
//!
//! Run with `cargo run --release -p leak-moderation --example bench`.
//! The message mixes French and English prose, accents, a few disguised
//! spellings; it is timed clean and with one disguised insult at the very
//! end (the whole text is scanned either way).

use std::time::{Duration, Instant};

use leak_moderation::{Classifier, Input, Verdict};

const PARAGRAPHS: [&str; 6] = [
    "Je voulais te dire que j'ai beaucoup réfléchi depuis notre dernière conversation. \
     Ton rapport était bâclé, c'est vrai, mais je n'aurais pas dû m'énerver devant toute l'équipe. ",
    "I have been meaning to write to you for months. The analysis you sent was thorough, the \
     cocktail party was lovely, and I am sorry I never said thank you properly. ",
    "Le conseil municipal a voté le budget, la réputation du concours n'est plus à faire, et \
     l'assassin du roman reste mon personnage préféré. Tu vas adorer ce livre ! ",
    "My therapist says honesty matters more than comfort, so here it is: I cheated on my exam, \
     I stole from the register, and I have been in love with you since Scunthorpe. ",
    "Il y a des jours où je me sens nul, où j'ai l'impression d'être un imposteur, mais \
     je pense à toi et ça va mieux. Je t'envoie mille baisers, à très vite. ",
    "The doctor said the biopsy was clear; no cancer, just a cyst. I'll shoot you an email \
     with the details, and we can talk about the lawsuit on Friday. ",
];

/// About `size` bytes of prose, ending with `tail`.
fn message(size: usize, tail: &str) -> String {
    let mut text = String::with_capacity(size + 256);
    let mut i = 0;
    while text.len() < size {
        text.push_str(PARAGRAPHS[i % PARAGRAPHS.len()]);
        if i % 7 == 3 {
            text.push_str("\n\n");
        }
        i += 1;
    }
    text.truncate(text.floor_char_boundary(size - tail.len()));
    text.push_str(tail);
    text
}

/// Classifies `text` `runs` times and prints the timing spread.
fn time(classifier: &Classifier, label: &str, text: &str, blocked: bool) {
    let input = Input {
        subject: "Une lettre",
        text,
        pseudonym: "Un ami",
    };
    assert_eq!(
        matches!(classifier.classify(&input), Verdict::Block { .. }),
        blocked
    );
    let runs = 300;
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(classifier.classify(std::hint::black_box(&input)));
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{label}: {} bytes, median {:?}, p90 {:?}, min {:?} over {runs} runs",
        text.len(),
        times[runs / 2],
        times[runs * 9 / 10],
        times[0]
    );
}

fn main() {
    let start = Instant::now();
    let classifier = Classifier::builtin();
    println!("build: {:?}", start.elapsed());

    let clean = message(100 * 1024, "\n\nÀ bientôt, je t'embrasse.");
    time(&classifier, "benign", &clean, false);
    let insult = message(100 * 1024, "\n\nEt pour finir : t'es qu'un c0nn4rd.");
    time(&classifier, "insult at the end", &insult, true);
}
