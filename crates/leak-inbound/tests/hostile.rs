//! What arrives on port 25 is written by anyone: the readers of bounces,
//! reports and addresses must never panic, whatever the bytes.

use leak_inbound::reports::{optout_token, parse_bounce, parse_complaint};
use leak_inbound::Addresses;
use proptest::prelude::*;

fn addresses() -> Addresses {
    Addresses {
        domain: "anon.example".into(),
        optout: Some("optout@anon.example".into()),
        categories: vec!["someone".into()],
    }
}

/// Fragments of real reports, shuffled and cut, so inputs reach the DSN
/// and ARF code paths rather than failing at the first header.
fn report_like() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n",
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n",
        "\r\n--b\r\n",
        "Content-Type: message/delivery-status\r\n\r\n",
        "Content-Type: message/feedback-report\r\n\r\n",
        "Content-Type: text/rfc822-headers\r\n\r\n",
        "Final-Recipient: rfc822; ",
        "Original-Rcpt-To: ",
        "Status: 5.1.1\r\n",
        "Action: failed\r\n",
        "Feedback-Type: abuse\r\n",
        "List-Unsubscribe: <https://a/optout/",
        "<x@y>",
        "\r\n\r\n",
        "\u{e9}\u{0}\u{7f}",
        "--b--\r\n",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|parts| parts.concat().into_bytes())
}

proptest! {
    #[test]
    fn readers_never_panic_on_report_like_input(bytes in report_like()) {
        let _ = parse_bounce(&bytes);
        let _ = parse_complaint(&bytes);
        let _ = optout_token(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn readers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = parse_bounce(&bytes);
        let _ = parse_complaint(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = optout_token(&text);
        let _ = addresses().classify(&text);
    }
}
