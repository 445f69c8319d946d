//! SMTP replies as typed values. Every reply the server sends is built here or
//! by a [`crate::Backend`], never formatted ad hoc in the session.

use std::fmt;

/// One SMTP reply: a code, an RFC 3463 enhanced status code and a text.
/// The text must be safe to show to a client: no internals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: [u8; 3],
    pub text: String,
}

impl Reply {
    /// A reply; CR and LF in `text` are replaced so a reply is always one line.
    pub fn new(code: u16, status: [u8; 3], text: impl Into<String>) -> Reply {
        let text: String = text.into();
        let text = text.replace(['\r', '\n'], " ");
        Reply { code, status, text }
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The reply as it goes on the wire, CRLF-terminated.
    pub fn to_wire(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    pub fn ok(text: impl Into<String>) -> Reply {
        Reply::new(250, [2, 0, 0], text)
    }

    pub(crate) fn too_many_connections() -> Reply {
        Reply::new(421, [4, 7, 0], "Too many connections, try again later")
    }
    pub(crate) fn idle_timeout() -> Reply {
        Reply::new(421, [4, 4, 2], "Idle timeout, closing connection")
    }
    pub(crate) fn shutting_down() -> Reply {
        Reply::new(421, [4, 3, 2], "Server shutting down, try again later")
    }
    pub(crate) fn session_too_long() -> Reply {
        Reply::new(421, [4, 4, 2], "Session too long, closing connection")
    }
    pub(crate) fn too_many_junk_commands() -> Reply {
        Reply::new(
            421,
            [4, 7, 0],
            "Too many commands without progress, closing connection",
        )
    }
    pub(crate) fn busy_try_later() -> Reply {
        Reply::new(
            454,
            [4, 7, 0],
            "Too many authentications in progress, try again later",
        )
    }
    pub(crate) fn line_too_long() -> Reply {
        Reply::new(500, [5, 5, 2], "Line too long")
    }
    pub(crate) fn unknown_command() -> Reply {
        Reply::new(500, [5, 5, 1], "Command not recognized")
    }
    pub(crate) fn too_many_errors() -> Reply {
        Reply::new(421, [4, 7, 0], "Too many errors, closing connection")
    }
    pub(crate) fn syntax(what: &str) -> Reply {
        Reply::new(501, [5, 5, 4], format!("Syntax error, expected {what}"))
    }
    pub(crate) fn bad_sequence(text: &str) -> Reply {
        Reply::new(503, [5, 5, 1], text)
    }
    pub(crate) fn not_implemented() -> Reply {
        Reply::new(502, [5, 5, 1], "Command not implemented")
    }
    pub(crate) fn auth_required() -> Reply {
        Reply::new(530, [5, 7, 0], "Authentication required")
    }
    pub(crate) fn encryption_required() -> Reply {
        Reply::new(538, [5, 7, 11], "Encryption required: use STARTTLS first")
    }
    pub(crate) fn message_too_big() -> Reply {
        Reply::new(552, [5, 3, 4], "Message too big")
    }
    pub(crate) fn too_many_recipients() -> Reply {
        Reply::new(452, [4, 5, 3], "Too many recipients")
    }
    /// A temporary failure whose cause stays in the server's logs.
    pub fn local_error() -> Reply {
        Reply::new(451, [4, 3, 0], "Local error, try again later")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [class, subject, detail] = self.status;
        write!(
            f,
            "{} {class}.{subject}.{detail} {}\r\n",
            self.code, self.text
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Reply;

    #[test]
    fn wire_form_is_one_line() {
        let reply = Reply::new(550, [5, 7, 1], "no\r\nMAIL FROM:<x>");
        assert_eq!(reply.to_string(), "550 5.7.1 no  MAIL FROM:<x>\r\n");
    }
}
