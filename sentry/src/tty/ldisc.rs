//! The line discipline of an emulated terminal (Linux's `n_tty`): what
//! happens to bytes typed into the terminal (written to the master) before
//! the replica's reader sees them, and to bytes the replica writes before
//! the master's reader sees them.
//!
//! Input: `ICRNL`/`INLCR`/`IGNCR`/`ISTRIP`, `IXON` (start/stop characters
//! are consumed), `ISIG` (the interrupt, quit and suspend characters become
//! signals for the foreground process group, which the caller sends),
//! canonical mode (`ICANON`: lines, `VERASE`, `VWERASE`, `VKILL`, `VEOF`,
//! `VLNEXT`) or raw mode (`VMIN`/`VTIME`), and echo (`ECHO`, `ECHOE`,
//! `ECHOK`, `ECHOKE`, `ECHOCTL`, `ECHONL`). Output: `OPOST` with `ONLCR`,
//! `OCRNL`, `ONLRET` and tab expansion (`XTABS`).
//!
//! Pure data: no locks, no blocking, no signals sent. The terminal that
//! owns it ([`super::Terminal`]) does those.

use std::collections::VecDeque;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Input the replica has not read yet, at most (Linux's `N_TTY_BUF_SIZE`).
pub const INPUT_CAPACITY: usize = 4096;
/// Output the master has not read yet, at most.
pub const OUTPUT_CAPACITY: usize = 16 << 10;
/// The most output one byte can become (a tab expanded to spaces).
const MAX_EXPANSION: usize = 8;

/// `struct termios` as the `TCGETS`/`TCSETS` ioctls exchange it (the
/// kernel's layout: 19 control characters, no speed fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; 19],
}

/// `B38400 | CS8 | CREAD`, what Linux gives both ends of a new pty.
const PTY_CFLAG: u32 = libc::B38400 | libc::CS8 | libc::CREAD;

impl Termios {
    /// A new pty replica's settings (Linux's `tty_std_termios` for
    /// devpts): cooked, echoing, signals on.
    pub fn replica_default() -> Termios {
        let mut cc = [0u8; 19];
        for (i, c) in [
            (libc::VINTR, 0x03),
            (libc::VQUIT, 0x1c),
            (libc::VERASE, 0x7f),
            (libc::VKILL, 0x15),
            (libc::VEOF, 0x04),
            (libc::VTIME, 0),
            (libc::VMIN, 1),
            (libc::VSTART, 0x11),
            (libc::VSTOP, 0x13),
            (libc::VSUSP, 0x1a),
            (libc::VREPRINT, 0x12),
            (libc::VDISCARD, 0x0f),
            (libc::VWERASE, 0x17),
            (libc::VLNEXT, 0x16),
        ] {
            cc[i] = c;
        }
        Termios {
            iflag: libc::ICRNL | libc::IXON,
            oflag: libc::OPOST | libc::ONLCR,
            cflag: PTY_CFLAG,
            lflag: libc::ISIG
                | libc::ICANON
                | libc::ECHO
                | libc::ECHOE
                | libc::ECHOK
                | libc::ECHOCTL
                | libc::ECHOKE
                | libc::IEXTEN,
            line: 0,
            cc,
        }
    }

    /// A new pty master's settings: raw. Linux keeps them apart from the
    /// replica's, and nothing but `TCGETS` on the master reads them.
    pub fn master_default() -> Termios {
        Termios {
            iflag: 0,
            oflag: 0,
            lflag: 0,
            ..Termios::replica_default()
        }
    }

    fn i(&self, f: u32) -> bool {
        self.iflag & f != 0
    }

    fn o(&self, f: u32) -> bool {
        self.oflag & f != 0
    }

    fn l(&self, f: u32) -> bool {
        self.lflag & f != 0
    }

    /// Whether `c` is the control character at `index` (a 0 entry is
    /// `_POSIX_VDISABLE`: it matches nothing).
    fn is(&self, index: usize, c: u8) -> bool {
        self.cc[index] != 0 && self.cc[index] == c
    }
}

/// What receiving input produced besides queued bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// How many input bytes were taken; the rest must be offered again
    /// once the reader has made room.
    pub consumed: usize,
    /// Signals (`SIGINT`, `SIGQUIT`, `SIGTSTP`) for the foreground
    /// process group, in order.
    pub signals: Vec<i32>,
}

/// One terminal's line discipline: settings and the two queues.
#[derive(Debug)]
pub struct LineDiscipline {
    pub termios: Termios,
    /// Canonical mode: finished lines, each with its terminator (an empty
    /// one is an end-of-file mark: `VEOF` on an empty line).
    lines: VecDeque<Vec<u8>>,
    /// Canonical mode: the line being edited.
    line: Vec<u8>,
    /// Raw mode: bytes as they came.
    raw: VecDeque<u8>,
    /// The next character is taken literally (after `VLNEXT`).
    literal_next: bool,
    /// For the master's reader.
    output: VecDeque<u8>,
    /// Output column, for tab expansion and erasing tabs.
    column: usize,
}

impl Default for LineDiscipline {
    fn default() -> LineDiscipline {
        LineDiscipline::new(Termios::replica_default())
    }
}

/// Characters echoed as `^X` with `ECHOCTL`: controls other than tab and
/// newline, and DEL.
fn echoed_as_caret(c: u8) -> bool {
    (c < 0x20 && c != b'\t' && c != b'\n') || c == 0x7f
}

impl LineDiscipline {
    pub fn new(termios: Termios) -> LineDiscipline {
        LineDiscipline {
            termios,
            lines: VecDeque::new(),
            line: Vec::new(),
            raw: VecDeque::new(),
            literal_next: false,
            output: VecDeque::new(),
            column: 0,
        }
    }

    fn canonical(&self) -> bool {
        self.termios.l(libc::ICANON)
    }

    fn queued_input(&self) -> usize {
        self.lines.iter().map(Vec::len).sum::<usize>() + self.line.len() + self.raw.len()
    }

    /// Bytes a read may return now (`FIONREAD` on the replica): finished
    /// lines in canonical mode, everything in raw mode.
    pub fn readable(&self) -> usize {
        self.lines.iter().map(Vec::len).sum::<usize>() + self.raw.len()
    }

    /// Whether a replica read would return now (with data or end of file).
    pub fn read_ready(&self) -> bool {
        if self.canonical() {
            return !self.lines.is_empty();
        }
        let (min, time) = self.min_time();
        !self.raw.is_empty() || (min == 0 && time == 0)
    }

    fn min_time(&self) -> (usize, u8) {
        (
            usize::from(self.termios.cc[libc::VMIN]),
            self.termios.cc[libc::VTIME],
        )
    }

    /// Whether more input can be taken now.
    pub fn input_room(&self) -> bool {
        // Canonical input is never refused: past the limit, characters are
        // dropped, as Linux does, so a writer cannot wedge the terminal.
        self.canonical() || self.raw.len() < INPUT_CAPACITY
    }

    /// Bytes waiting for the master's reader (`FIONREAD` on the master).
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// Whether a replica write can take at least one byte.
    pub fn output_room(&self) -> bool {
        self.output.len() + MAX_EXPANSION <= OUTPUT_CAPACITY
    }

    /// Changes the settings; lines and bytes already queued stay readable.
    pub fn set_termios(&mut self, t: Termios) {
        let was_canonical = self.canonical();
        self.termios = t;
        if was_canonical && !self.canonical() {
            for l in self.lines.drain(..) {
                self.raw.extend(l);
            }
            self.raw.extend(self.line.drain(..));
        } else if !was_canonical && self.canonical() && !self.raw.is_empty() {
            // What raw mode queued becomes one readable line.
            self.lines.push_back(self.raw.drain(..).collect());
        }
    }

    /// Discards unread input (`TCIFLUSH`).
    pub fn flush_input(&mut self) {
        self.lines.clear();
        self.line.clear();
        self.raw.clear();
        self.literal_next = false;
    }

    /// Discards unread output (`TCOFLUSH`).
    pub fn flush_output(&mut self) {
        self.output.clear();
    }

    /// Takes bytes typed into the terminal.
    pub fn receive(&mut self, data: &[u8]) -> Received {
        let mut r = Received::default();
        for &byte in data {
            if !self.input_room() {
                break;
            }
            r.consumed += 1;
            if let Some(sig) = self.receive_byte(byte) {
                r.signals.push(sig);
            }
        }
        r
    }

    /// One input byte; returns the signal it raises, if any.
    fn receive_byte(&mut self, byte: u8) -> Option<i32> {
        let t = self.termios;
        let mut c = byte;
        if t.i(libc::ISTRIP) {
            c &= 0x7f;
        }
        if self.literal_next {
            self.literal_next = false;
            self.take(c);
            return None;
        }
        if c == b'\r' {
            if t.i(libc::IGNCR) {
                return None;
            }
            if t.i(libc::ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.i(libc::INLCR) {
            c = b'\r';
        }
        if t.i(libc::IXON) && (t.is(libc::VSTART, c) || t.is(libc::VSTOP, c)) {
            // Flow control is not emulated: output never stops, and the
            // characters are not input.
            return None;
        }
        if t.l(libc::ISIG) {
            let sig = if t.is(libc::VINTR, c) {
                Some(libc::SIGINT)
            } else if t.is(libc::VQUIT, c) {
                Some(libc::SIGQUIT)
            } else if t.is(libc::VSUSP, c) {
                Some(libc::SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = sig {
                if !t.l(libc::NOFLSH) {
                    self.flush_input();
                    self.flush_output();
                }
                if t.l(libc::ECHO) {
                    self.echo(c);
                }
                return Some(sig);
            }
        }
        if self.canonical() {
            self.canonical_byte(c);
        } else {
            self.raw.push_back(c);
            if t.l(libc::ECHO) {
                self.echo(c);
            }
        }
        None
    }

    fn canonical_byte(&mut self, c: u8) {
        let t = self.termios;
        let extended = t.l(libc::IEXTEN);
        if t.is(libc::VERASE, c) {
            self.erase(false);
        } else if extended && t.is(libc::VWERASE, c) {
            self.erase(true);
        } else if t.is(libc::VKILL, c) {
            self.kill_line(c);
        } else if t.is(libc::VEOF, c) {
            // Ends the line without being part of it, and is not echoed.
            let line = std::mem::take(&mut self.line);
            self.lines.push_back(line);
        } else if extended && t.is(libc::VLNEXT, c) {
            self.literal_next = true;
            if t.l(libc::ECHO) && t.l(libc::ECHOCTL) {
                // Linux shows "^" and backs over it until the next byte.
                self.put_raw_output(b"^\x08");
            }
        } else if c == b'\n' || t.is(libc::VEOL, c) || t.is(libc::VEOL2, c) {
            if t.l(libc::ECHO) || (c == b'\n' && t.l(libc::ECHONL)) {
                self.echo(c);
            }
            self.line.push(c);
            let line = std::mem::take(&mut self.line);
            self.lines.push_back(line);
        } else {
            self.take(c);
        }
    }

    /// An ordinary character: queued (dropped past the line limit, as
    /// Linux does, keeping room for the newline) and echoed.
    fn take(&mut self, c: u8) {
        if self.canonical() {
            if self.queued_input() >= INPUT_CAPACITY - 1 {
                return;
            }
            self.line.push(c);
        } else {
            self.raw.push_back(c);
        }
        if self.termios.l(libc::ECHO) {
            self.echo(c);
        }
    }

    /// `VERASE` (one character) or `VWERASE` (the word before the cursor).
    fn erase(&mut self, word: bool) {
        let t = self.termios;
        let erase_char = t.cc[if word { libc::VWERASE } else { libc::VERASE }];
        let mut seen_word = false;
        while let Some(&c) = self.line.last() {
            if word {
                let blank = c == b' ' || c == b'\t';
                if blank && seen_word {
                    break;
                }
                seen_word |= !blank;
            }
            self.line.pop();
            if t.l(libc::ECHO) {
                if t.l(libc::ECHOE) {
                    let width = if t.l(libc::ECHOCTL) && echoed_as_caret(c) {
                        2
                    } else {
                        1
                    };
                    for _ in 0..width {
                        self.put_raw_output(b"\x08 \x08");
                    }
                } else {
                    self.echo(erase_char);
                }
            }
            if !word {
                break;
            }
        }
    }

    fn kill_line(&mut self, kill: u8) {
        let t = self.termios;
        if t.l(libc::ECHO) && t.l(libc::ECHOKE) && t.l(libc::ECHOE) {
            while !self.line.is_empty() {
                self.erase(false);
            }
            return;
        }
        self.line.clear();
        if t.l(libc::ECHO) {
            self.echo(kill);
            if t.l(libc::ECHOK) {
                self.echo(b'\n');
            }
        }
    }

    /// Echoes an input character: `^X` for controls with `ECHOCTL`, else
    /// the character through output processing.
    fn echo(&mut self, c: u8) {
        if self.termios.l(libc::ECHOCTL) && echoed_as_caret(c) {
            self.put_raw_output(&[b'^', c ^ 0x40]);
        } else {
            self.put_output(c);
        }
    }

    /// Bytes for the master that need no processing; dropped when the
    /// output is full (echo is best effort, as in Linux).
    fn put_raw_output(&mut self, bytes: &[u8]) {
        if self.output.len() + bytes.len() > OUTPUT_CAPACITY {
            return;
        }
        for &b in bytes {
            self.track_column(b);
            self.output.push_back(b);
        }
    }

    /// A bare newline only moves down a line: the column returns to 0 on a
    /// carriage return, or where `ONLCR`/`ONLRET` say so ([`Self::put_output`]).
    fn track_column(&mut self, b: u8) {
        match b {
            b'\r' => self.column = 0,
            0x08 => self.column = self.column.saturating_sub(1),
            b'\t' => self.column = (self.column / 8 + 1) * 8,
            c if c >= 0x20 && c != 0x7f => self.column += 1,
            _ => {}
        }
    }

    /// One output character through `OPOST` processing.
    fn put_output(&mut self, c: u8) {
        let t = self.termios;
        if !t.o(libc::OPOST) {
            self.put_raw_output(&[c]);
            return;
        }
        match c {
            b'\n' if t.o(libc::ONLCR) => self.put_raw_output(b"\r\n"),
            b'\n' if t.o(libc::ONLRET) => {
                self.put_raw_output(b"\n");
                self.column = 0;
            }
            b'\r' if t.o(libc::OCRNL) => self.put_output_newline(),
            b'\t' if t.oflag & libc::TABDLY == libc::XTABS => {
                let spaces = 8 - self.column % 8;
                self.put_raw_output(&b"        "[..spaces]);
            }
            c => self.put_raw_output(&[c]),
        }
    }

    fn put_output_newline(&mut self) {
        self.put_raw_output(b"\n");
        if self.termios.o(libc::ONLRET) {
            self.column = 0;
        }
    }

    /// Bytes the replica writes: processed into the output queue. Returns
    /// how many were taken (fewer when the output is full).
    pub fn write(&mut self, data: &[u8]) -> usize {
        let mut n = 0;
        for &c in data {
            if !self.output_room() {
                break;
            }
            self.put_output(c);
            n += 1;
        }
        n
    }

    /// A read by the replica: `None` if it must wait. In canonical mode it
    /// returns at most one line, and 0 at an end-of-file mark.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        if buf.is_empty() {
            return Some(0);
        }
        if self.canonical() {
            let first = self.lines.front_mut()?;
            let n = first.len().min(buf.len());
            buf[..n].copy_from_slice(&first[..n]);
            if n == first.len() {
                self.lines.pop_front();
            } else {
                first.drain(..n);
            }
            return Some(n);
        }
        let (min, time) = self.min_time();
        let want = min.clamp(1, buf.len());
        if self.raw.is_empty() && min == 0 {
            // VMIN 0: a poll when VTIME is 0. A VTIME timeout is not
            // emulated: such a read waits for the first byte.
            return if time == 0 { Some(0) } else { None };
        }
        // With VTIME set, VMIN is only a target: the inter-byte timer
        // (not emulated) would end the read once bytes have come.
        if self.raw.len() < want && (time == 0 || self.raw.is_empty()) {
            return None;
        }
        let n = self.raw.len().min(buf.len());
        for (dst, src) in buf.iter_mut().zip(self.raw.drain(..n)) {
            *dst = src;
        }
        Some(n)
    }

    /// A read by the master: what the replica wrote and the echoes.
    pub fn read_output(&mut self, buf: &mut [u8]) -> usize {
        let n = self.output.len().min(buf.len());
        for (dst, src) in buf.iter_mut().zip(self.output.drain(..n)) {
            *dst = src;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(l: &mut LineDiscipline, input: &[u8]) -> Received {
        l.receive(input)
    }

    fn out(l: &mut LineDiscipline) -> Vec<u8> {
        let mut buf = vec![0u8; OUTPUT_CAPACITY];
        let n = l.read_output(&mut buf);
        buf.truncate(n);
        buf
    }

    fn read(l: &mut LineDiscipline, max: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; max];
        l.read(&mut buf).map(|n| buf[..n].to_vec())
    }

    #[test]
    fn termios_has_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<Termios>(), 36);
        let t = Termios::replica_default();
        assert_eq!(t.cc[libc::VINTR], 3);
        assert_eq!(t.cc[libc::VMIN], 1);
        assert_eq!(t.cflag, 0o277);
    }

    #[test]
    fn canonical_lines_with_cr_translation_and_echo() {
        let mut l = LineDiscipline::default();
        let r = typed(&mut l, b"echo hi\r");
        assert_eq!(r.consumed, 8);
        assert!(r.signals.is_empty());
        assert_eq!(out(&mut l), b"echo hi\r\n");
        assert_eq!(l.readable(), 8);
        assert_eq!(read(&mut l, 100).unwrap(), b"echo hi\n");
        assert_eq!(read(&mut l, 100), None);
    }

    #[test]
    fn an_unfinished_line_is_not_readable() {
        let mut l = LineDiscipline::default();
        typed(&mut l, b"abc");
        assert!(!l.read_ready());
        assert_eq!(l.readable(), 0);
        assert_eq!(read(&mut l, 10), None);
        typed(&mut l, b"\n");
        assert!(l.read_ready());
    }

    #[test]
    fn reads_return_one_line_at_a_time_and_may_split_one() {
        let mut l = LineDiscipline::default();
        typed(&mut l, b"one\ntwo\n");
        assert_eq!(read(&mut l, 2).unwrap(), b"on");
        assert_eq!(read(&mut l, 100).unwrap(), b"e\n");
        assert_eq!(read(&mut l, 100).unwrap(), b"two\n");
    }

    #[test]
    fn erase_kill_and_word_erase() {
        let mut l = LineDiscipline::default();
        typed(&mut l, b"abx\x7fc\n");
        assert_eq!(out(&mut l), b"abx\x08 \x08c\r\n");
        assert_eq!(read(&mut l, 100).unwrap(), b"abc\n");
        // Erasing an echoed control character takes back both columns.
        typed(&mut l, b"\x01\x7f\n");
        assert_eq!(out(&mut l), b"^A\x08 \x08\x08 \x08\r\n");
        assert_eq!(read(&mut l, 100).unwrap(), b"\n");
        // Kill with ECHOKE erases the line on the screen.
        typed(&mut l, b"xy\x15z\n");
        assert_eq!(out(&mut l), b"xy\x08 \x08\x08 \x08z\r\n");
        assert_eq!(read(&mut l, 100).unwrap(), b"z\n");
        // Word erase takes the last word and the blanks after it.
        typed(&mut l, b"ls foo  \x17bar\n");
        assert_eq!(read(&mut l, 100).unwrap(), b"ls bar\n");
        // Erase never goes back past the start of the line.
        out(&mut l);
        typed(&mut l, b"\x7f\x7fq\n");
        assert_eq!(out(&mut l), b"q\r\n");
    }

    #[test]
    fn kill_without_echoke_echoes_the_character_and_newline() {
        let mut l = LineDiscipline::default();
        let mut t = l.termios;
        t.lflag &= !libc::ECHOKE;
        l.set_termios(t);
        typed(&mut l, b"ab\x15");
        assert_eq!(out(&mut l), b"ab^U\r\n");
    }

    #[test]
    fn eof_ends_a_line_and_on_an_empty_one_reads_zero() {
        let mut l = LineDiscipline::default();
        typed(&mut l, b"abc\x04");
        assert_eq!(out(&mut l), b"abc");
        assert_eq!(read(&mut l, 100).unwrap(), b"abc");
        assert_eq!(read(&mut l, 100), None);
        typed(&mut l, b"\x04");
        assert_eq!(read(&mut l, 100).unwrap(), b"");
        assert_eq!(read(&mut l, 100), None);
    }

    #[test]
    fn signal_characters_flush_echo_and_raise() {
        let mut l = LineDiscipline::default();
        let r = typed(&mut l, b"sleep 100\x03");
        assert_eq!(r.signals, vec![libc::SIGINT]);
        assert_eq!(out(&mut l), b"^C");
        assert_eq!(l.readable(), 0);
        typed(&mut l, b"\n");
        assert_eq!(read(&mut l, 100).unwrap(), b"\n");
        assert_eq!(typed(&mut l, b"\x1c").signals, vec![libc::SIGQUIT]);
        assert_eq!(typed(&mut l, b"\x1a").signals, vec![libc::SIGTSTP]);
        // Without ISIG they are ordinary input.
        let mut t = l.termios;
        t.lflag &= !libc::ISIG;
        l.set_termios(t);
        out(&mut l);
        assert!(typed(&mut l, b"\x03\n").signals.is_empty());
        assert_eq!(read(&mut l, 100).unwrap(), b"\x03\n");
    }

    #[test]
    fn noflsh_keeps_input_across_a_signal() {
        let mut l = LineDiscipline::default();
        let mut t = l.termios;
        t.lflag |= libc::NOFLSH;
        l.set_termios(t);
        typed(&mut l, b"ab\x03c\n");
        assert_eq!(read(&mut l, 100).unwrap(), b"abc\n");
    }

    #[test]
    fn disabled_control_characters_match_nothing() {
        let mut l = LineDiscipline::default();
        // VEOL is 0 (disabled): a NUL byte is ordinary input.
        typed(&mut l, b"a\0b\n");
        assert_eq!(read(&mut l, 100).unwrap(), b"a\0b\n");
    }

    #[test]
    fn literal_next_quotes_a_special_character() {
        let mut l = LineDiscipline::default();
        let r = typed(&mut l, b"\x16\x03\n");
        assert!(r.signals.is_empty());
        assert_eq!(read(&mut l, 100).unwrap(), b"\x03\n");
    }

    #[test]
    fn raw_mode_with_vmin_and_vtime() {
        let mut l = LineDiscipline::default();
        let mut t = l.termios;
        t.lflag &= !(libc::ICANON | libc::ECHO);
        l.set_termios(t);
        typed(&mut l, b"ab");
        assert!(out(&mut l).is_empty());
        assert_eq!(read(&mut l, 1).unwrap(), b"a");
        assert_eq!(read(&mut l, 10).unwrap(), b"b");
        assert_eq!(read(&mut l, 10), None);
        // VMIN 3: wait for three bytes.
        t.cc[libc::VMIN] = 3;
        l.set_termios(t);
        typed(&mut l, b"xy");
        assert_eq!(read(&mut l, 10), None);
        typed(&mut l, b"z");
        assert_eq!(read(&mut l, 10).unwrap(), b"xyz");
        // VMIN 0, VTIME 0: a poll.
        t.cc[libc::VMIN] = 0;
        l.set_termios(t);
        assert!(l.read_ready());
        assert_eq!(read(&mut l, 10).unwrap(), b"");
        // Raw input fills up; the writer must wait.
        let r = typed(&mut l, &[b'x'; INPUT_CAPACITY + 10]);
        assert_eq!(r.consumed, INPUT_CAPACITY);
        assert!(!l.input_room());
    }

    #[test]
    fn switching_modes_keeps_queued_input() {
        let mut l = LineDiscipline::default();
        typed(&mut l, b"line\npart");
        let mut t = l.termios;
        t.lflag &= !libc::ICANON;
        l.set_termios(t);
        assert_eq!(read(&mut l, 100).unwrap(), b"line\npart");
        typed(&mut l, b"raw");
        t.lflag |= libc::ICANON;
        l.set_termios(t);
        assert_eq!(read(&mut l, 100).unwrap(), b"raw");
    }

    #[test]
    fn output_processing() {
        let mut l = LineDiscipline::default();
        assert_eq!(l.write(b"a\nb\n"), 4);
        assert_eq!(out(&mut l), b"a\r\nb\r\n");
        let mut t = l.termios;
        t.oflag |= libc::XTABS;
        l.set_termios(t);
        l.write(b"ab\tc");
        assert_eq!(out(&mut l), b"ab      c");
        t.oflag &= !libc::OPOST;
        l.set_termios(t);
        l.write(b"x\n");
        assert_eq!(out(&mut l), b"x\n");
        // A full output queue takes no more.
        let big = vec![b'y'; OUTPUT_CAPACITY];
        let n = l.write(&big);
        assert!(n < OUTPUT_CAPACITY && n > 0);
        assert_eq!(l.write(b"z"), 0);
        assert!(!l.output_room());
    }

    #[test]
    fn a_newline_returns_the_column_only_with_onlcr_or_onlret() {
        let mut l = LineDiscipline::default();
        let mut t = l.termios;
        t.oflag = (t.oflag | libc::XTABS) & !libc::ONLCR;
        l.set_termios(t);
        l.write(b"ab\n\tc");
        assert_eq!(out(&mut l), b"ab\n      c");
        t.oflag |= libc::ONLRET;
        l.set_termios(t);
        l.write(b"ab\n\tc");
        assert_eq!(out(&mut l), b"ab\n        c");
    }

    #[test]
    fn echo_off_and_echonl() {
        let mut l = LineDiscipline::default();
        let mut t = l.termios;
        t.lflag &= !libc::ECHO;
        l.set_termios(t);
        typed(&mut l, b"secret\n");
        assert!(out(&mut l).is_empty());
        t.lflag |= libc::ECHONL;
        l.set_termios(t);
        typed(&mut l, b"pw\n");
        assert_eq!(out(&mut l), b"\r\n");
    }

    #[test]
    fn a_long_canonical_line_is_cut_but_still_ends() {
        let mut l = LineDiscipline::default();
        let r = typed(&mut l, &vec![b'a'; INPUT_CAPACITY + 100]);
        assert_eq!(r.consumed, INPUT_CAPACITY + 100);
        typed(&mut l, b"\n");
        let line = read(&mut l, INPUT_CAPACITY * 2).unwrap();
        assert_eq!(line.len(), INPUT_CAPACITY);
        assert_eq!(line.last(), Some(&b'\n'));
    }
}
