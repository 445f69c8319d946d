//! leak-web: the HTTP side of recipients' consent.
//!
//! - `GET /optout/{token}`: a small bilingual (French, English) page that
//!   says what the link does, with one button (a plain HTML form: works
//!   without JavaScript and with screen readers).
//! - `POST /optout/{token}` with the body `List-Unsubscribe=One-Click`: opts
//!   the address out at once and answers `200` with a confirmation page.
//!   This is both RFC 8058's one-click request (sent by mailbox providers
//!   when the recipient presses "unsubscribe") and the page's button.
//! - `GET /health`: `200 ok`, for the reverse proxy and monitoring.
//! - `GET /.well-known/autoconfig/mail/config-v1.1.xml` (and
//!   `/mail/config-v1.1.xml` for an `autoconfig.<domain>` host): the mail
//!   client autoconfig file naming leak's submission listeners.
//!
//! The token is opened by [`leak_consent::Suppression::open_token`]: it
//! carries the normalised address encrypted and authenticated under the
//! server secret, so nothing has to be looked up to know whom it names, and
//! no other address can be substituted. A `GET` never changes anything
//! (link scanners fetch links in mail). The HTTP server is axum over hyper;
//! leak listens on `[web] bind` in plain HTTP and expects the operator's
//! reverse proxy to terminate TLS for `[web] public_url`.
//!
//! # Layout
//!
//! - `lib.rs`: the router, [`serve`] and the handlers.
//! - `pages.rs`: the HTML pages.
//! - `autoconfig.rs`: the mail-client autoconfig document.

mod autoconfig;
mod pages;

pub use autoconfig::Autoconfig;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leak_consent::{Source, Suppression};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The RFC 8058 body (and the page's form field).
const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// The router, for [`serve`] and for tests that drive it directly.
pub fn router(list: Arc<Suppression>, autoconfig: Autoconfig) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/optout/{token}", get(page).post(opt_out))
        // The only body leak reads is 26 bytes long.
        .layer(DefaultBodyLimit::max(4096))
        .with_state(list)
        .merge(autoconfig::routes(autoconfig))
}

/// Serves HTTP on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    list: Arc<Suppression>,
    autoconfig: Autoconfig,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(list, autoconfig))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

/// `GET /optout/{token}`: the page with the button; nothing changes yet.
async fn page(State(list): State<Arc<Suppression>>, Path(token): Path<String>) -> Response {
    match list.open_token(&token) {
        Ok(_) => html(StatusCode::OK, pages::confirm_form()),
        Err(_) => html(StatusCode::NOT_FOUND, pages::invalid_link()),
    }
}

/// `POST /optout/{token}`: the one-click opt-out.
async fn opt_out(
    State(list): State<Arc<Suppression>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(address) = list.open_token(&token) else {
        return html(StatusCode::NOT_FOUND, pages::invalid_link());
    };
    if !is_one_click(&body) {
        return html(StatusCode::BAD_REQUEST, pages::confirm_form());
    }
    match list.add(&address, Source::Web, None, unix_now()).await {
        Ok((hash, new)) => {
            // The hash only: the web log never holds the address.
            tracing::info!(%hash, new, source = "web", "opt-out recorded");
            html(StatusCode::OK, pages::done())
        }
        Err(error) => {
            tracing::error!(%error, "opt-out could not be stored");
            html(StatusCode::SERVICE_UNAVAILABLE, pages::try_later())
        }
    }
}

/// Whether a form body holds `List-Unsubscribe=One-Click` (RFC 8058 §3.1;
/// other fields, such as a button's, are ignored).
fn is_one_click(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .split('&')
        .any(|pair| pair.trim() == ONE_CLICK)
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(body),
    )
        .into_response()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::is_one_click;

    #[test]
    fn one_click_body() {
        assert!(is_one_click(b"List-Unsubscribe=One-Click"));
        assert!(is_one_click(b"List-Unsubscribe=One-Click&go=1"));
        assert!(!is_one_click(b""));
        assert!(!is_one_click(b"List-Unsubscribe=Other"));
    }
}
