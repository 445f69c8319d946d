//! Times the full decision (rules + learned model) on a typical message
//! (about 300 words) and on a 100 KB one, and prints the process's peak
//! memory. Budget: 2 ms and 300 MB for a typical message on one core.
//!
//! Run with `cargo run --release -p leak-moderation --example bench_decide`.

use std::time::{Duration, Instant};

use leak_moderation::learned::model::Model;
use leak_moderation::{Classifier, Input};

const PARAGRAPHS: [&str; 4] = [
    "Bonjour Claire, je voulais te remercier pour ton aide la semaine dernière. Le dossier \
     est enfin parti chez le notaire et tout le monde était soulagé. ",
    "I have been meaning to write to you for months. The analysis you sent was thorough, the \
     party was lovely, and I am sorry I never said thank you properly. ",
    "Je passe souvent devant ta maison le soir, et je vois que la lumière du salon reste \
     allumée tard. Tu devrais te reposer un peu, tu as l'air fatiguée. ",
    "The doctor said the biopsy was clear; no cancer, just a cyst. I'll send you the details \
     and we can talk about the move on Friday. ",
];

/// About `words` words of mixed prose.
fn message(words: usize) -> String {
    let mut text = String::new();
    let mut i = 0;
    while text.split_whitespace().count() < words {
        text.push_str(PARAGRAPHS[i % PARAGRAPHS.len()]);
        i += 1;
    }
    text
}

fn time(label: &str, runs: usize, mut f: impl FnMut()) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{label}: median {:?}, p90 {:?}, min {:?} over {runs} runs",
        times[runs / 2],
        times[runs * 9 / 10],
        times[0]
    );
}

/// The peak resident set size in MB, from /proc (Linux).
fn peak_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let start = Instant::now();
    let classifier = Classifier::builtin();
    let model = Model::builtin();
    println!("build (rules + model): {:?}", start.elapsed());
    for (label, text) in [
        ("typical (300 words)", message(300)),
        ("100 KB", message(16_000)),
    ] {
        println!("{label}: {} bytes", text.len());
        let input = Input {
            subject: "Des nouvelles",
            text: &text,
            pseudonym: "",
        };
        time("  model score alone", 300, || {
            std::hint::black_box(model.score(std::hint::black_box(&text)));
        });
        time("  decide (rules + model)", 300, || {
            std::hint::black_box(classifier.decide(std::hint::black_box(&input)));
        });
    }
    if let Some(mb) = peak_mb() {
        println!("peak resident memory: {mb:.1} MB");
    }
}
