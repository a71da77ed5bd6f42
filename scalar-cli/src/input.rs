//! Reading lines of text to send, with a bound: a line is read only up to the largest body a
//! message may carry, so an endless line without a newline costs bounded memory, and a line
//! that is too long or not UTF-8 is reported as such rather than cut or mangled.

use scalar::proto::MAX_BODY;
use std::io::{self, BufRead};

/// Why a line cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadLine {
    /// Longer than [`MAX_BODY`] bytes.
    TooLong,
    /// Not valid UTF-8.
    NotUtf8,
}

impl BadLine {
    /// The problem, for a message that names the line.
    pub fn describe(&self) -> String {
        match self {
            BadLine::TooLong => format!("longer than {MAX_BODY} bytes, the most a message may carry"),
            BadLine::NotUtf8 => "not valid UTF-8".into(),
        }
    }
}

/// Checks that a text fits in a body.
pub fn check_len(text: &str) -> Result<(), BadLine> {
    if text.len() > MAX_BODY {
        Err(BadLine::TooLong)
    } else {
        Ok(())
    }
}

/// Reads the next line without its `\n` or `\r\n`: `Ok(None)` at the end of input. At most
/// `MAX_BODY` + 2 bytes are held, whatever the input.
pub fn read_line(r: &mut impl BufRead) -> io::Result<Option<Result<String, BadLine>>> {
    let mut line = Vec::new();
    let mut any = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (buf.get(..i).unwrap_or_default(), Some(i + 1)),
            None => (buf, None),
        };
        // Room for the body plus a trailing '\r'; one byte more proves the line is too long.
        if line.len() + chunk.len() > MAX_BODY + 1 {
            // The rest of the line belongs to the refused line: it must not come back as a
            // line (or a command) of its own.
            skip_line(r)?;
            return Ok(Some(Err(BadLine::TooLong)));
        }
        line.extend_from_slice(chunk);
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.len() > MAX_BODY {
        return Ok(Some(Err(BadLine::TooLong)));
    }
    Ok(Some(String::from_utf8(line).map_err(|_| BadLine::NotUtf8)))
}

/// Consumes input up to and including the next `\n` (or to the end).
fn skip_line(r: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<Result<String, BadLine>> {
        let mut r = io::BufReader::with_capacity(7, input);
        std::iter::from_fn(|| read_line(&mut r).unwrap()).collect()
    }

    #[test]
    fn lines() {
        assert_eq!(
            all(b"a\nbc\r\n\nlast"),
            [Ok("a".into()), Ok("bc".into()), Ok("".into()), Ok("last".into())]
        );
        assert_eq!(all(b""), []);
        assert_eq!(all(b"\xff\nok\n"), [Err(BadLine::NotUtf8), Ok("ok".into())]);
    }

    #[test]
    fn long_lines() {
        let max = "x".repeat(MAX_BODY);
        assert_eq!(all(format!("{max}\r\n").as_bytes()), [Ok(max.clone())]);
        let over = format!("{max}y\n");
        assert_eq!(all(over.as_bytes()), [Err(BadLine::TooLong)]);
        let tail = format!("{max}{max}/quit\nnext\n");
        assert_eq!(
            all(tail.as_bytes()),
            [Err(BadLine::TooLong), Ok("next".into())],
            "no tail line"
        );
    }
}
