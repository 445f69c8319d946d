//! Thunderbird autoconfig (the "clientConfig" v1.1 format that Thunderbird,
//! K-9/Thunderbird for Android and others read): served at
//! `/.well-known/autoconfig/mail/config-v1.1.xml` and, for an
//! `autoconfig.<domain>` host pointed at the web listener,
//! `/mail/config-v1.1.xml`. It names leak's submission listeners (implicit
//! TLS first, RFC 8314) and no incoming server: leak keeps no mailbox.
//! The user name is left to the user: it is the account name, not the
//! category address the client sends from (docs/clients.md).

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::fmt::Write as _;
use std::sync::Arc;

/// What the file announces: the anonymizer domain and the submission
/// listeners as clients reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Autoconfig {
    /// `anonymizer.domain`: the domain of the addresses users send from.
    pub domain: String,
    /// `server.hostname`: where clients connect.
    pub hostname: String,
    /// Ports of implicit-TLS submission listeners (465).
    pub implicit_ports: Vec<u16>,
    /// Ports of STARTTLS submission listeners (587).
    pub starttls_ports: Vec<u16>,
}

impl Autoconfig {
    /// The XML document.
    pub fn xml(&self) -> String {
        let domain = escape(&self.domain);
        let mut out = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n",
        );
        let _ = writeln!(out, "  <emailProvider id=\"{domain}\">");
        let _ = writeln!(out, "    <domain>{domain}</domain>");
        let _ = writeln!(
            out,
            "    <displayName>Anonymous mail ({domain})</displayName>"
        );
        let _ = writeln!(out, "    <displayShortName>{domain}</displayShortName>");
        let servers = self
            .implicit_ports
            .iter()
            .map(|port| (port, "SSL"))
            .chain(self.starttls_ports.iter().map(|port| (port, "STARTTLS")));
        for (port, socket) in servers {
            out.push_str("    <outgoingServer type=\"smtp\">\n");
            let _ = writeln!(out, "      <hostname>{}</hostname>", escape(&self.hostname));
            let _ = writeln!(out, "      <port>{port}</port>");
            let _ = writeln!(out, "      <socketType>{socket}</socketType>");
            out.push_str("      <authentication>password-cleartext</authentication>\n");
            out.push_str("    </outgoingServer>\n");
        }
        out.push_str("    <documentation url=\"https://");
        out.push_str(&domain);
        out.push_str("/\">\n      <descr lang=\"en\">Outgoing only: log in with your account name; send from category@");
        out.push_str(&domain);
        out.push_str(".</descr>\n      <descr lang=\"fr\">Envoi seulement : identifiant = nom du compte ; adresse d'envoi categorie@");
        out.push_str(&domain);
        out.push_str(".</descr>\n    </documentation>\n  </emailProvider>\n</clientConfig>\n");
        out
    }
}

/// The two autoconfig paths.
pub(crate) fn routes(config: Autoconfig) -> Router {
    let document = Arc::new(config.xml());
    let serve = move || {
        let document = document.clone();
        async move {
            (
                [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
                document.as_str().to_owned(),
            )
                .into_response()
        }
    };
    Router::new()
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(serve.clone()),
        )
        .route("/mail/config-v1.1.xml", get(serve))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::Autoconfig;

    #[test]
    fn lists_implicit_tls_first_and_no_incoming_server() {
        let xml = Autoconfig {
            domain: "anon.example".into(),
            hostname: "mail.anon.example".into(),
            implicit_ports: vec![465],
            starttls_ports: vec![587],
        }
        .xml();
        let ssl = xml.find("<port>465</port>").unwrap();
        let starttls = xml.find("<port>587</port>").unwrap();
        assert!(ssl < starttls);
        assert!(xml.contains("<socketType>SSL</socketType>"));
        assert!(!xml.contains("incomingServer"));
    }
}
