//! `#!` interpreter scripts, parsed with Linux's exact rules.
//!
//! Only the first [`BINPRM_BUF_SIZE`] bytes of the file are looked at. The
//! line runs to the first newline; without one in the buffer, the script is
//! accepted only if the interpreter name visibly ends inside it (so a
//! truncated path is never executed), and the last buffer byte is dropped.
//! Spaces and tabs (nothing else) separate words. The interpreter name runs
//! to the first space, tab or NUL; everything after the following blanks, up
//! to the end of the line with trailing blanks removed, is one optional
//! argument (it may contain spaces; it ends early at a NUL). A carriage
//! return is an ordinary byte, as on Linux.

use super::error::{LoadError, LoadResult};

/// How many leading bytes of a file the format checks see.
pub const BINPRM_BUF_SIZE: usize = 256;

/// The interpreter line of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shebang {
    /// The interpreter path, as written (resolved by the caller's resolver).
    pub interpreter: Vec<u8>,
    /// The optional single argument.
    pub arg: Option<Vec<u8>>,
}

/// Whether `head` (the start of a file) begins with `#!`.
pub fn is_script(head: &[u8]) -> bool {
    head.starts_with(b"#!")
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn ends_word(b: u8) -> bool {
    is_blank(b) || b == 0
}

/// Parses the `#!` line from `head`, the first bytes of the file (at most
/// [`BINPRM_BUF_SIZE`] are used; fewer when the file is shorter). Fails with
/// `ENOEXEC` when the line names no interpreter or the name is cut off by
/// the buffer end. A file holding just `#!` yields an empty name, as on
/// Linux, where opening it then fails. The caller has checked [`is_script`].
pub fn parse_shebang(head: &[u8]) -> LoadResult<Shebang> {
    // A short file reads as if padded with NULs, which end the name.
    let mut buf = [0u8; BINPRM_BUF_SIZE];
    let n = head.len().min(BINPRM_BUF_SIZE);
    buf[..n].copy_from_slice(&head[..n]);
    if !is_script(&buf) {
        return Err(LoadError::NotExecutable("not a #! script"));
    }
    let last = BINPRM_BUF_SIZE - 1;

    let mut end = match buf.iter().position(|&b| b == b'\n') {
        Some(newline) => newline,
        None => {
            // No newline: refuse unless the name ends before the buffer does.
            let name = (2..=last)
                .find(|&i| !is_blank(buf[i]))
                .ok_or(LoadError::NotExecutable("#! line holds only blanks"))?;
            if !(name..=last).any(|i| ends_word(buf[i])) {
                return Err(LoadError::NotExecutable("#! interpreter path truncated"));
            }
            last
        }
    };
    // Index 1 holds '!', so this stops there at the latest.
    while is_blank(buf[end - 1]) {
        end -= 1;
    }
    let name_start = (2..end)
        .find(|&i| !is_blank(buf[i]))
        .ok_or(LoadError::NotExecutable("#! line names no interpreter"))?;
    let name_end = (name_start..end)
        .find(|&i| ends_word(buf[i]))
        .unwrap_or(end);
    let arg = if name_end < end && buf[name_end] != 0 {
        // Trailing blanks are gone, so a non-blank byte follows.
        let start = (name_end..end).find(|&i| !is_blank(buf[i])).unwrap_or(end);
        let text = &buf[start..end];
        let len = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        Some(text[..len].to_vec())
    } else {
        None
    };
    Ok(Shebang {
        interpreter: buf[name_start..name_end].to_vec(),
        arg,
    })
}

/// The argument vector after running a script through its interpreter:
/// `[interpreter, arg?, script, argv[1..]]`, where `script` is the path the
/// script was executed by (the exec filename, or the previous interpreter's
/// name for nested scripts).
pub fn rewrite_argv(shebang: &Shebang, script: &[u8], argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(argv.len() + 2);
    out.push(shebang.interpreter.clone());
    out.extend(shebang.arg.iter().cloned());
    out.push(script.to_vec());
    out.extend(argv.iter().skip(1).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> (String, Option<String>) {
        let sb = parse_shebang(s).unwrap();
        let text = |v: &[u8]| String::from_utf8(v.to_vec()).unwrap();
        (text(&sb.interpreter), sb.arg.as_deref().map(text))
    }

    fn fails(s: &[u8]) {
        assert_eq!(
            parse_shebang(s).unwrap_err().errno(),
            libc::ENOEXEC,
            "{s:?}"
        );
    }

    #[test]
    fn interpreter_and_argument() {
        assert_eq!(parse(b"#!/bin/sh\necho hi\n"), ("/bin/sh".into(), None));
        assert_eq!(
            parse(b"#! /bin/sh -e\n"),
            ("/bin/sh".into(), Some("-e".into()))
        );
        assert_eq!(
            parse(b"#!\t/usr/bin/env  python3 -u  \t\n"),
            ("/usr/bin/env".into(), Some("python3 -u".into()))
        );
        assert_eq!(parse(b"#!/bin/sh"), ("/bin/sh".into(), None));
        assert_eq!(parse(b"#!/bin/sh   \n"), ("/bin/sh".into(), None));
        // Without a newline the padding NULs are not blanks, so Linux sees
        // an empty argument after the trailing blanks.
        assert_eq!(parse(b"#!/bin/sh   "), ("/bin/sh".into(), Some("".into())));
        assert_eq!(parse(b"#!/bin/sh\r\n"), ("/bin/sh\r".into(), None));
        assert_eq!(
            parse(b"#!/bin/sh -x\r\n"),
            ("/bin/sh".into(), Some("-x\r".into()))
        );
        // A NUL ends the name; a NUL right after it means no argument.
        assert_eq!(parse(b"#!/bin/sh\0 -x\n"), ("/bin/sh".into(), None));
        // A NUL inside the argument cuts it short, even to nothing.
        assert_eq!(
            parse(b"#!/bin/sh -x\0y\n"),
            ("/bin/sh".into(), Some("-x".into()))
        );
        assert_eq!(
            parse(b"#!/bin/sh \0y\n"),
            ("/bin/sh".into(), Some("".into()))
        );
    }

    #[test]
    fn no_interpreter() {
        fails(b"#!\n");
        fails(b"#!   \t \n/bin/sh\n");
        // Short file, no newline: the zero padding ends an empty name,
        // which is passed on (Linux then fails to open "" as a file).
        assert_eq!(parse(b"#!"), ("".into(), None));
        fails(&[b"#!".as_slice(), &[b' '; 300]].concat());
    }

    #[test]
    fn long_lines() {
        // The name fits and ends in the buffer: the rest of the line is cut.
        let mut long = b"#!/bin/sh ".to_vec();
        long.extend(std::iter::repeat_n(b'a', 400));
        let (name, arg) = parse(&long);
        assert_eq!(name, "/bin/sh");
        assert_eq!(arg.unwrap().len(), BINPRM_BUF_SIZE - 1 - 10);

        // The name runs past the buffer: refused rather than truncated.
        let mut path = b"#!/".to_vec();
        path.extend(std::iter::repeat_n(b'p', 300));
        fails(&path);
        // Exactly filling the first 255 bytes with the name, blank at 255: ok.
        let mut edge = b"#!/".to_vec();
        edge.extend(std::iter::repeat_n(b'p', 252));
        edge.push(b' ');
        edge.extend(b"more");
        let (name, arg) = parse(&edge);
        assert_eq!((name.len(), arg), (253, None));
        // A name of 255 bytes followed by a newline beyond the buffer: refused.
        let mut over = b"#!/".to_vec();
        over.extend(std::iter::repeat_n(b'p', 253));
        over.push(b'\n');
        fails(&over);
    }

    #[test]
    fn argv_rewrite() {
        let sb = Shebang {
            interpreter: b"/bin/sh".to_vec(),
            arg: Some(b"-e".to_vec()),
        };
        let argv = vec![b"name".to_vec(), b"a".to_vec(), b"b".to_vec()];
        assert_eq!(
            rewrite_argv(&sb, b"./s", &argv),
            [&b"/bin/sh"[..], b"-e", b"./s", b"a", b"b"].map(|s| s.to_vec())
        );
        let sb = Shebang {
            interpreter: b"/bin/sh".to_vec(),
            arg: None,
        };
        assert_eq!(
            rewrite_argv(&sb, b"./s", &[]),
            [&b"/bin/sh"[..], b"./s"].map(|s| s.to_vec())
        );
    }
}
