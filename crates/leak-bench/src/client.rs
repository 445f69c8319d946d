//! A minimal SMTP client: enough to greet, send one transaction after another
//! on the same session, and read (multi-line) replies, plus what the session
//! mode needs: STARTTLS (the caller wraps the stream, see `tls.rs`) and AUTH
//! PLAIN. No pipelining.

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest reply line accepted (RFC 5321 says 512; some servers are generous).
const MAX_LINE: usize = 4096;

/// One SMTP reply: the code and the text of its last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

impl Reply {
    /// 2xx (or 3xx, for DATA's go-ahead).
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// An SMTP session over any byte stream.
pub struct Client<S> {
    stream: BufReader<S>,
    timeout: Duration,
    /// How long the last `send` waited from writing the final `.` to the
    /// reply: the server's own end-of-DATA work (store, fsync).
    pub last_dot_wait: Option<Duration>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Reads the greeting and sends EHLO. Fails unless both are positive.
    pub async fn start(stream: S, helo: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut client = Client {
            stream: BufReader::new(stream),
            timeout,
            last_dot_wait: None,
        };
        let greeting = client.read_reply().await?;
        anyhow::ensure!(greeting.code == 220, "greeting: {greeting}");
        client.ehlo(helo).await?;
        Ok(client)
    }

    async fn ehlo(&mut self, helo: &str) -> anyhow::Result<()> {
        let ehlo = self.command(&format!("EHLO {helo}")).await?;
        anyhow::ensure!(ehlo.code == 250, "EHLO: {ehlo}");
        Ok(())
    }

    /// Sends STARTTLS and hands back the raw stream for the handshake.
    /// Fails unless the server answers 220 and has sent nothing more.
    pub async fn starttls(mut self) -> anyhow::Result<S> {
        let reply = self.command("STARTTLS").await?;
        anyhow::ensure!(reply.code == 220, "STARTTLS: {reply}");
        anyhow::ensure!(
            self.stream.buffer().is_empty(),
            "the server sent data before the TLS handshake"
        );
        Ok(self.stream.into_inner())
    }

    /// A session over a stream that just finished STARTTLS: no greeting,
    /// EHLO again (RFC 3207).
    pub async fn resume(stream: S, helo: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut client = Client {
            stream: BufReader::new(stream),
            timeout,
            last_dot_wait: None,
        };
        client.ehlo(helo).await?;
        Ok(client)
    }

    /// AUTH PLAIN (RFC 4616) in one line; the reply (235 on success).
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> anyhow::Result<Reply> {
        use base64::Engine as _;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.command(&format!("AUTH PLAIN {token}")).await
    }

    /// Sends one command line (without CRLF) and reads its reply.
    pub async fn command(&mut self, line: &str) -> anyhow::Result<Reply> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.write(&bytes).await?;
        self.read_reply().await
    }

    /// One transaction: MAIL, RCPT, DATA, body, `.`. Returns the first
    /// negative reply (after which the session is reset with RSET), or the
    /// reply to the final dot. `body` must already be CRLF-terminated and
    /// dot-stuffed.
    pub async fn send(&mut self, from: &str, to: &str, body: &[u8]) -> anyhow::Result<Reply> {
        self.last_dot_wait = None;
        for line in [format!("MAIL FROM:<{from}>"), format!("RCPT TO:<{to}>")] {
            let reply = self.command(&line).await?;
            if !reply.is_positive() {
                self.reset().await?;
                return Ok(reply);
            }
        }
        let go_ahead = self.command("DATA").await?;
        if go_ahead.code != 354 {
            self.reset().await?;
            return Ok(go_ahead);
        }
        self.write(body).await?;
        self.write(b".\r\n").await?;
        let dot = std::time::Instant::now();
        let reply = self.read_reply().await?;
        self.last_dot_wait = Some(dot.elapsed());
        Ok(reply)
    }

    /// Ends the session politely.
    pub async fn quit(mut self) -> anyhow::Result<()> {
        self.command("QUIT").await?;
        Ok(())
    }

    async fn reset(&mut self) -> anyhow::Result<()> {
        let reply = self.command("RSET").await?;
        anyhow::ensure!(reply.code == 250, "RSET: {reply}");
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let stream = self.stream.get_mut();
        tokio::time::timeout(self.timeout, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| anyhow::anyhow!("timed out writing to the server"))??;
        Ok(())
    }

    /// Reads lines until one has a space (or nothing) after the code.
    async fn read_reply(&mut self) -> anyhow::Result<Reply> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = tokio::time::timeout(self.timeout, self.read_line(&mut line))
                .await
                .map_err(|_| anyhow::anyhow!("timed out waiting for a reply"))??;
            anyhow::ensure!(read > 0, "connection closed by the server");
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let code = text
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| anyhow::anyhow!("malformed reply line: {text:?}"))?;
            match text.as_bytes().get(3) {
                Some(b'-') => continue,
                None | Some(b' ') => {
                    return Ok(Reply {
                        code,
                        text: text.get(4..).unwrap_or("").to_string(),
                    })
                }
                Some(_) => anyhow::bail!("malformed reply line: {text:?}"),
            }
        }
    }

    async fn read_line(&mut self, line: &mut Vec<u8>) -> anyhow::Result<usize> {
        let read = (&mut self.stream)
            .take(MAX_LINE as u64)
            .read_until(b'\n', line)
            .await?;
        anyhow::ensure!(
            read == 0 || line.ends_with(b"\n"),
            "reply line longer than {MAX_LINE} bytes or cut short"
        );
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// A scripted server: answers each expected client line with a reply.
    async fn serve(mut server: tokio::io::DuplexStream, script: Vec<(&'static str, &'static str)>) {
        server.write_all(b"220 hi\r\n").await.unwrap();
        let mut seen = Vec::new();
        for (expect, answer) in script {
            while !String::from_utf8_lossy(&seen).contains(expect) {
                let mut buf = [0u8; 1024];
                let n = server.read(&mut buf).await.unwrap();
                assert!(n > 0, "client closed before sending {expect:?}");
                seen.extend_from_slice(&buf[..n]);
            }
            seen.clear();
            server.write_all(answer.as_bytes()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn multi_line_ehlo_and_a_transaction() {
        let (client, server) = duplex(4096);
        let script = vec![
            ("EHLO x\r\n", "250-hi\r\n250-PIPELINING\r\n250 SIZE 100\r\n"),
            ("MAIL FROM:<a@b>\r\n", "250 ok\r\n"),
            ("RCPT TO:<c@d>\r\n", "250 ok\r\n"),
            ("DATA\r\n", "354 go\r\n"),
            ("body\r\n.\r\n", "250 2.0.0 Queued as 42\r\n"),
        ];
        let task = tokio::spawn(serve(server, script));
        let mut smtp = Client::start(client, "x", Duration::from_secs(5))
            .await
            .unwrap();
        let reply = smtp.send("a@b", "c@d", b"body\r\n").await.unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(reply.text, "2.0.0 Queued as 42");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn refusal_at_rcpt_resets_the_session() {
        let (client, server) = duplex(4096);
        let script = vec![
            ("EHLO x\r\n", "250 hi\r\n"),
            ("MAIL FROM:<a@b>\r\n", "250 ok\r\n"),
            ("RCPT TO:<c@d>\r\n", "450 4.7.1 later\r\n"),
            ("RSET\r\n", "250 reset\r\n"),
        ];
        let task = tokio::spawn(serve(server, script));
        let mut smtp = Client::start(client, "x", Duration::from_secs(5))
            .await
            .unwrap();
        let reply = smtp.send("a@b", "c@d", b"body\r\n").await.unwrap();
        assert_eq!(
            reply,
            Reply {
                code: 450,
                text: "4.7.1 later".into()
            }
        );
        task.await.unwrap();
    }

    #[tokio::test]
    async fn malformed_and_closed_replies_are_errors() {
        let (client, mut server) = duplex(4096);
        server.write_all(b"hello there\r\n").await.unwrap();
        let result = Client::start(client, "x", Duration::from_secs(5)).await;
        assert!(result.is_err());

        let (client, server) = duplex(4096);
        drop(server);
        let result = Client::start(client, "x", Duration::from_secs(5)).await;
        assert!(result
            .err()
            .unwrap()
            .to_string()
            .contains("connection closed"));
    }
}
