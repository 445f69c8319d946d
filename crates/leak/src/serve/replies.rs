//! The refusals of the limits, in English and French like the moderation
//! replies: which limit, how large, and when it resets (the counters are
//! per clock hour and per UTC day, see `limits.rs`). ASCII only (French
//! without accents), as SMTP replies are read by every client.

use leak_smtp::Reply;

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// Whose hourly counter is full.
#[derive(Debug, Clone, Copy)]
pub enum Sender {
    /// An authenticated account.
    Account,
    /// A client on a trusted network without an account, counted by address.
    ClientAddress,
}

/// `450 4.7.1` when the sender's hourly limit is reached at `now`.
pub fn hourly_limit(whom: Sender, limit: u64, now: u64) -> Reply {
    let reset = clock(now - now % HOUR + HOUR);
    let (en, fr) = match whom {
        Sender::Account => ("this account", "ce compte"),
        Sender::ClientAddress => ("this client address", "cette adresse client"),
    };
    Reply::new(
        450,
        [4, 7, 1],
        format!(
            "Hourly limit of {limit} messages reached for {en}; try again after {reset} UTC / \
             Limite de {limit} messages par heure atteinte pour {fr} ; reessayez apres {reset} UTC"
        ),
    )
}

/// `450 4.7.1` when a recipient's daily limit is reached.
pub fn recipient_limit(limit: u64) -> Reply {
    Reply::new(
        450,
        [4, 7, 1],
        format!(
            "This recipient has received the daily maximum of {limit} anonymous messages; \
             try again after 00:00 UTC / Ce destinataire a recu le maximum de {limit} messages \
             anonymes par jour ; reessayez apres 00:00 UTC"
        ),
    )
}

/// `451 4.3.0` when a recipient's opt-out or limit (or the account's
/// details) cannot be checked now: in a cluster, the shared database is
/// unreachable. Says nothing of why.
pub fn policy_unavailable() -> Reply {
    Reply::new(
        451,
        [4, 3, 0],
        "Cannot check this recipient now; try again later / \
         Impossible de verifier ce destinataire pour le moment ; reessayez plus tard",
    )
}

/// `451 4.3.0` at MAIL FROM when the sender's hourly limit cannot be
/// checked now (a cluster whose database is unreachable).
pub fn sender_limit_unavailable() -> Reply {
    Reply::new(
        451,
        [4, 3, 0],
        "Cannot check the sending limit now; try again later / \
         Impossible de verifier la limite d'envoi pour le moment ; reessayez plus tard",
    )
}

/// `454 4.7.0` when the account cannot be looked up now (a cluster whose
/// database is unreachable, for an account this node has no copy of).
pub fn auth_unavailable() -> Reply {
    Reply::new(
        454,
        [4, 7, 0],
        "Temporary authentication failure; try again later / \
         Echec temporaire de l'authentification ; reessayez plus tard",
    )
}

/// `HH:MM` of a unix time, UTC.
fn clock(unix: u64) -> String {
    let seconds = unix % DAY;
    format!("{:02}:{:02}", seconds / HOUR, seconds % HOUR / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_reply_names_the_limit_and_the_next_hour() {
        // 2026-12-04 13:59:59 UTC resets at 14:00; 23:30 at 00:00.
        let reply = hourly_limit(Sender::Account, 60, 1_796_392_799).to_string();
        assert!(reply.starts_with("450 4.7.1 Hourly limit of 60 messages reached for this account; try again after 14:00 UTC / Limite de 60 messages par heure"), "{reply}");
        assert!(reply.contains("apres 14:00 UTC"));
        let late = hourly_limit(Sender::ClientAddress, 5, 1_796_427_000).to_string();
        assert!(
            late.contains("this client address; try again after 00:00 UTC"),
            "{late}"
        );
        assert!(reply.is_ascii() && late.is_ascii());
    }

    #[test]
    fn recipient_reply_names_the_limit() {
        let reply = recipient_limit(20).to_string();
        assert!(reply.contains("maximum of 20 anonymous messages"));
        assert!(reply.contains("00:00 UTC") && reply.is_ascii());
    }
}
