//! EHLO and HELO: the client's greeting and the extensions leak offers.

use super::{Next, Session};
use crate::reply::Reply;
use crate::server::ListenerMode;
use smtp_proto::{
    EhloResponse, AUTH_LOGIN, AUTH_PLAIN, EXT_8BIT_MIME, EXT_AUTH, EXT_ENHANCED_STATUS_CODES,
    EXT_PIPELINING, EXT_SIZE, EXT_SMTP_UTF8, EXT_START_TLS,
};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(super) fn ehlo(&mut self, host: String) -> Next {
        self.helo = Some(host);
        self.end_transaction();
        let settings = &self.shared.settings;
        let mut response = EhloResponse::new(settings.hostname.as_str());
        response.capabilities =
            EXT_PIPELINING | EXT_SIZE | EXT_8BIT_MIME | EXT_SMTP_UTF8 | EXT_ENHANCED_STATUS_CODES;
        response.size = settings.max_message_size;
        if self.mode == ListenerMode::StartTls && !self.info.tls && self.shared.tls.is_some() {
            response.capabilities |= EXT_START_TLS;
        }
        // Passwords never travel in plaintext: AUTH exists only under TLS.
        if self.info.tls {
            response.capabilities |= EXT_AUTH;
            response.auth_mechanisms = AUTH_PLAIN | AUTH_LOGIN;
        }
        let mut wire = Vec::with_capacity(256);
        response
            .write(&mut wire)
            .expect("writing to a Vec cannot fail");
        // smtp-proto greets with a joke; operators expect a plain first line.
        let first_line_end = wire.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut out = format!("250-{} Hello\r\n", settings.hostname).into_bytes();
        out.extend_from_slice(&wire[first_line_end..]);
        self.conn.queue_raw(&out);
        Next::Continue
    }

    pub(super) fn helo(&mut self, host: String) -> Next {
        self.helo = Some(host);
        self.end_transaction();
        let hostname = self.shared.settings.hostname.clone();
        self.reply(Reply::new(250, [2, 0, 0], hostname))
    }
}
