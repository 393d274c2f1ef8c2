//! Checks of the system call table: it names every x86-64 call once, agrees
//! with the stub filter about which calls stay on the host, and matches the
//! committed compatibility page.

use super::*;
use crate::platform::filter::{Action, STUB_RULES};
use std::fmt::Write;

/// Every number Linux defines on x86-64, with its name.
fn all_sysnos() -> impl Iterator<Item = Sysno> {
    // `Sysno::iter` stops short of the last call; walk the numbers instead.
    (0..=Sysno::last().id() as usize).filter_map(Sysno::new)
}

#[test]
fn table_names_every_x86_64_syscall_exactly_once() {
    for s in all_sysnos() {
        let rows = TABLE.iter().filter(|e| e.sysno == s).count();
        assert_eq!(rows, 1, "{s} has {rows} rows");
        let nr = i64::from(s.id());
        let e = entry(nr).unwrap_or_else(|| panic!("no entry for {s}"));
        assert_eq!(e.sysno, s);
        assert_eq!(name(nr), s.name());
    }
    assert_eq!(TABLE.len(), all_sysnos().count());
    // Numbers Linux leaves unused have no row (and answer ENOSYS).
    for nr in [-1, 400, 1000] {
        assert!(entry(nr).is_none(), "{nr}");
        assert_eq!(name(nr), format!("syscall_{nr}"));
    }
}

#[test]
fn native_rows_are_the_calls_the_stub_filter_decides() {
    let decided = |nr: i64| {
        STUB_RULES
            .iter()
            .any(|r| r.nr == nr && r.then != Action::Notify)
    };
    let always = |nr: i64| {
        STUB_RULES
            .iter()
            .any(|r| r.nr == nr && r.cond.is_none() && r.then != Action::Notify)
    };
    for e in TABLE {
        let nr = i64::from(e.sysno.id());
        match e.support {
            Support::Native(_) => {
                assert!(
                    decided(nr),
                    "{} is Native but the filter sends it on",
                    e.sysno
                )
            }
            _ => assert!(
                !always(nr),
                "the filter always decides {} itself; its row must be Native",
                e.sysno
            ),
        }
        if decided(nr) {
            assert!(
                !matches!(e.support, Support::Unimplemented(_)),
                "the filter decides {} for some arguments; it is Native or served",
                e.sysno
            );
        }
    }
}

#[test]
fn rows_not_served_answer_enosys_synchronously() {
    for e in TABLE {
        if matches!(e.support, Support::Native(_) | Support::Unimplemented(_)) {
            assert!(matches!(e.handler, Handler::Sync(_)), "{}", e.sysno);
        }
    }
    let err = unimplemented(Sysno::socket, "sockets: not yet").unwrap_err();
    assert_eq!(err.errno, Errno::ENOSYS);
    assert_eq!(err.msg, Some("sockets: not yet"));
    assert_eq!(
        native(Sysno::futex, "test").unwrap_err().errno,
        Errno::ENOSYS
    );
}

/// The compatibility page: every call with its number, support level and
/// note, in number order.
fn compatibility_page() -> String {
    let mut rows: Vec<&Entry> = TABLE.iter().collect();
    rows.sort_by_key(|e| e.sysno.id());
    let count = |label: &str| rows.iter().filter(|e| e.support.label() == label).count();
    let mut s = String::new();
    s.push_str(
        "# System call compatibility (x86-64)\n\
         \n\
         How the sentry answers each Linux system call. Generated from the\n\
         system call table in `src/syscalls/mod.rs`; do not edit by hand. To\n\
         regenerate it after changing the table, run\n\
         `VIGIL_UPDATE_SYSCALLS=1 cargo test -p sentry syscall_page`.\n\
         \n\
         - **Full**: served by the sentry as Linux does.\n\
         - **Partial**: served by the sentry, with the noted gaps.\n\
         - **Native**: decided by the stub's seccomp filter on the host (run\n\
         \x20 natively, failed there, or stopped for the tracer); the note says why.\n\
         - **Unimplemented**: fails with `ENOSYS`; the note says why.\n\
         \n\
         | Support | Calls |\n\
         |---|---:|\n",
    );
    for label in ["Full", "Partial", "Native", "Unimplemented"] {
        let _ = writeln!(s, "| {label} | {} |", count(label));
    }
    let _ = writeln!(s, "| **Total** | {} |", rows.len());
    s.push_str("\n| Number | Name | Support | Note |\n|---:|---|---|---|\n");
    for e in rows {
        let note = e.support.note().replace('|', "\\|");
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {note} |",
            e.sysno.id(),
            e.sysno.name(),
            e.support.label()
        );
    }
    s
}

#[test]
fn syscall_page_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/SYSCALLS.md");
    let page = compatibility_page();
    if std::env::var_os("VIGIL_UPDATE_SYSCALLS").is_some() {
        std::fs::write(path, &page).expect("write SYSCALLS.md");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == page,
        "sentry/SYSCALLS.md does not match the system call table; regenerate it with\n\
         \n    VIGIL_UPDATE_SYSCALLS=1 cargo test -p sentry syscall_page\n\
         \nand commit the result"
    );
}
