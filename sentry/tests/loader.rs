//! The loader against real binaries and against Linux itself.
//!
//! Programs are compiled with gcc into a temporary directory: a static, a
//! static-pie and a dynamic PIE build of the same probe. Their computed
//! mappings are compared with `readelf -lW`; then each probe is run by the
//! host kernel with address randomization off (`setarch -R`) and reports
//! what Linux built (brk, auxv, the raw initial stack), which must equal
//! what the loader builds for the same exec, byte for byte. `#!` scripts
//! are compared with Linux the same way. A property test feeds mutated ELF
//! files to the parser, which must fail cleanly rather than panic.
//!
//! Needs gcc with static glibc, binutils and util-linux's `setarch`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use proptest::prelude::*;
use sentry::loader::*;

/// A host file, for tests only: the sentry reads application files through
/// its VFS, never by host path.
struct HostFile {
    file: std::fs::File,
    size: u64,
}

impl ExecFile for HostFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, i32> {
        self.file
            .read_at(buf, offset)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    }
}

fn open_host(path: &Path) -> Result<HostFile, i32> {
    let file = std::fs::File::open(path).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let meta = file
        .metadata()
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(libc::EACCES);
    }
    Ok(HostFile {
        file,
        size: meta.len(),
    })
}

/// Opens interpreters on the host file system, standing in for the VFS.
struct HostResolver;

impl Resolver for HostResolver {
    type File = HostFile;
    fn open(&mut self, path: &[u8]) -> Result<HostFile, i32> {
        open_host(Path::new(OsStr::from_bytes(path)))
    }
}

/// The test programs, compiled once per test binary.
struct Programs {
    _dir: tempfile::TempDir,
    /// (build name, path) of the probe built static, static-pie and PIE.
    probes: Vec<(&'static str, PathBuf)>,
    argv_printer: PathBuf,
}

fn programs() -> &'static Programs {
    static PROGRAMS: OnceLock<Programs> = OnceLock::new();
    PROGRAMS.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let src = |name: &str| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/programs/{name}.c"))
        };
        let compile = |name: &str, out: &str, flags: &[&str]| {
            let path = dir.join(out);
            let st = Command::new("gcc")
                .args(flags)
                .args(["-O2", "-o"])
                .arg(&path)
                .arg(src(name))
                .status()
                .unwrap();
            assert!(st.success(), "gcc {flags:?} {name}");
            path
        };
        let probes = vec![
            (
                "static",
                compile("loader_probe", "probe-static", &["-static", "-no-pie"]),
            ),
            (
                "static-pie",
                compile("loader_probe", "probe-static-pie", &["-static-pie"]),
            ),
            (
                "pie",
                compile("loader_probe", "probe-pie", &["-pie", "-fPIE"]),
            ),
        ];
        let argv_printer = compile("loader_argv", "argv", &["-static"]);
        Programs {
            _dir: tmp,
            probes,
            argv_printer,
        }
    })
}

fn bytes(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn request<'a>(
    filename: &'a [u8],
    argv: &'a [Vec<u8>],
    envp: &'a [Vec<u8>],
    rlimit: u64,
) -> ExecRequest<'a> {
    ExecRequest {
        filename,
        argv,
        envp,
        stack_rlimit: rlimit,
        pie_random: 0,
        mmap_base: mmap_base(rlimit, 0, 0),
    }
}

fn load_path(
    path: &Path,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    rlimit: u64,
) -> Result<LoadedImage, LoadError> {
    let filename = path.as_os_str().as_bytes();
    let file = open_host(path).map_err(|errno| LoadError::Errno {
        what: "open",
        errno,
    })?;
    load(
        &mut HostResolver,
        file,
        &request(filename, argv, envp, rlimit),
    )
}

/// What `readelf -lW` says about a file.
#[derive(Debug, Default)]
struct ReadElf {
    entry: u64,
    /// (offset, vaddr, filesz, memsz, flags)
    loads: Vec<(u64, u64, u64, u64, String)>,
    interp: Option<String>,
    phdr: Option<u64>,
    phoff: u64,
    phnum: u64,
    stack_flags: Option<String>,
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn readelf(path: &Path) -> ReadElf {
    let out = Command::new("readelf")
        .arg("-lW")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut r = ReadElf::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Entry", "point", e] => r.entry = hex(e),
            ["There", "are", n, "program", "headers,", "starting", "at", "offset", off] => {
                r.phnum = n.parse().unwrap();
                r.phoff = off.parse().unwrap();
            }
            ["LOAD", off, va, _pa, fsz, msz, rest @ ..] => {
                let flags = rest[..rest.len() - 1].concat();
                r.loads.push((hex(off), hex(va), hex(fsz), hex(msz), flags));
            }
            ["PHDR", _off, va, ..] => r.phdr = Some(hex(va)),
            ["GNU_STACK", _off, _va, _pa, _fsz, _msz, rest @ ..] => {
                r.stack_flags = Some(rest[..rest.len() - 1].concat())
            }
            ["[Requesting", "program", "interpreter:", p] => {
                r.interp = Some(p.trim_end_matches(']').to_string())
            }
            _ => {}
        }
    }
    r
}

/// Checks a placed image against readelf's program headers.
fn assert_matches_readelf(img: &ElfImage, re: &ReadElf, what: &str) {
    let page = PAGE_SIZE;
    let loads: Vec<_> = re.loads.iter().filter(|l| l.3 > 0).collect();
    assert_eq!(img.segments.len(), loads.len(), "{what}: segment count");
    assert_eq!(img.entry, img.bias + re.entry, "{what}: entry");
    assert_eq!(u64::from(img.phnum), re.phnum, "{what}: phnum");
    let phdr = re.phdr.unwrap_or_else(|| {
        let l = re
            .loads
            .iter()
            .find(|l| l.0 <= re.phoff && re.phoff < l.0 + l.2)
            .unwrap();
        l.1 + re.phoff - l.0
    });
    assert_eq!(img.phdr_addr, img.bias + phdr, "{what}: AT_PHDR");
    for (seg, &&(off, va, fsz, msz, ref flags)) in img.segments.iter().zip(&loads) {
        let addr = img.bias + va;
        assert_eq!(seg.start, addr & !(page - 1), "{what}: start of {va:#x}");
        assert_eq!(
            seg.end,
            (addr + msz).div_ceil(page) * page,
            "{what}: end of {va:#x}"
        );
        assert_eq!(
            seg.file_offset,
            off - va % page,
            "{what}: offset of {va:#x}"
        );
        assert_eq!(
            seg.file_len,
            (va % page + fsz).div_ceil(page) * page,
            "{what}: file part of {va:#x}"
        );
        assert_eq!(
            (seg.data_addr, seg.data_offset, seg.data_len),
            (addr, off, fsz),
            "{what}: data of {va:#x}"
        );
        let bss_in_page = msz > fsz && (addr + fsz) % page != 0;
        assert_eq!(
            seg.zero_from,
            bss_in_page.then_some(addr + fsz),
            "{what}: zeroing of {va:#x}"
        );
        let prot = Prot::from_segment_flags(
            (if flags.contains('R') { 4 } else { 0 })
                | (if flags.contains('W') { 2 } else { 0 })
                | (if flags.contains('E') { 1 } else { 0 }),
        );
        assert_eq!(seg.prot, prot, "{what}: prot of {va:#x}");
    }
    let top = loads.iter().map(|l| img.bias + l.1 + l.3).max().unwrap();
    // The end of the image, whether or not brk starts there.
    assert_eq!(img.brk, top.div_ceil(page) * page, "{what}: brk");
}

#[test]
fn mappings_match_readelf() {
    let argv = bytes(&["probe"]);
    for (build, path) in &programs().probes {
        let img = load_path(path, &argv, &[], 8 << 20).unwrap();
        let re = readelf(path);
        assert_matches_readelf(&img.executable, &re, build);
        assert_eq!(
            img.stack_executable,
            re.stack_flags.as_deref().is_some_and(|f| f.contains('E'))
        );
        assert_eq!(
            img.interpreter_path
                .as_deref()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            re.interp
        );
        match *build {
            "static" => assert_eq!(img.executable.kind, ElfKind::Executable),
            "static-pie" => {
                // A loader: placed right below the mmap base.
                assert_eq!(img.executable.kind, ElfKind::SharedObject);
                assert_eq!(
                    img.executable.segments.last().unwrap().end,
                    mmap_base(8 << 20, 0, 0)
                );
            }
            _ => {
                assert_eq!(img.executable.bias, 0x5555_5555_4000);
                let ld = img
                    .interpreter
                    .as_ref()
                    .expect("dynamic PIE has a dynamic linker");
                let ld_path = re.interp.as_deref().unwrap();
                assert_matches_readelf(ld, &readelf(Path::new(ld_path)), ld_path);
                assert_eq!(ld.segments.last().unwrap().end, mmap_base(8 << 20, 0, 0));
                assert_eq!(img.entry, ld.entry);
                assert_eq!(img.aux_values().base, ld.bias);
            }
        }
        if img.interpreter.is_none() {
            assert_eq!(img.entry, img.executable.entry);
        }
    }
}

/// What the probe reported about its own exec.
struct Probe {
    values: HashMap<String, u64>,
    auxv: Vec<(u64, u64)>,
    stack: Vec<u8>,
}

fn run_probe(path: &Path, argv: &[&str], env: &[(&str, &str)]) -> Option<Probe> {
    let out = Command::new("setarch")
        .arg("-R")
        .arg(path)
        .args(&argv[1..])
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "setarch -R failed ({}); skipping",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let mut probe = Probe {
        values: HashMap::new(),
        auxv: Vec::new(),
        stack: Vec::new(),
    };
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["aux", k, v] => probe.auxv.push((hex(k), hex(v))),
            ["stack", data] => {
                probe.stack = (0..data.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&data[i..i + 2], 16).unwrap())
                    .collect()
            }
            [k, v] => {
                probe.values.insert(k.to_string(), hex(v));
            }
            _ => panic!("unexpected probe output {line:?}"),
        }
    }
    Some(probe)
}

#[test]
fn image_and_stack_match_linux() {
    let argv_text = ["", "a", "b c", "", "last"];
    // Sorted by name: that is the order `Command` passes them in.
    let env = [
        ("A", "1"),
        ("EMPTY", ""),
        ("LONG", &"x".repeat(3000)),
        ("PATH", "/usr/bin:/bin"),
    ];
    for (build, path) in &programs().probes {
        let path_text = path.to_str().unwrap();
        let mut argv_all = argv_text.to_vec();
        argv_all[0] = path_text;
        let Some(probe) = run_probe(path, &argv_all, &env) else {
            return;
        };
        let v = |k: &str| probe.values[k];
        let aux = |k: u64| probe.auxv.iter().find(|e| e.0 == k).map(|e| e.1);
        let rlimit = v("rlimit");

        let argv = bytes(&argv_all);
        let envp: Vec<Vec<u8>> = env
            .iter()
            .map(|(k, val)| format!("{k}={val}").into_bytes())
            .collect();
        let img = load_path(path, &argv, &envp, rlimit).unwrap();

        assert_eq!(
            aux(at::PHDR),
            Some(img.executable.phdr_addr),
            "{build}: AT_PHDR"
        );
        assert_eq!(
            aux(at::ENTRY),
            Some(img.executable.entry),
            "{build}: AT_ENTRY"
        );
        assert_eq!(v("start_brk"), img.brk, "{build}: start_brk");
        // An infinite stack rlimit switches Linux to the bottom-up layout,
        // which the caller would have to ask for.
        if rlimit != u64::MAX {
            assert_eq!(
                aux(at::BASE),
                Some(img.aux_values().base),
                "{build}: AT_BASE"
            );
        }

        // Rebuild Linux's stack from the same inputs: what only the host
        // knows (credentials, hwcaps, vDSO, extra entries, random bytes)
        // is taken from the probe.
        assert_eq!(v("top"), STACK_TOP);
        let random_at = (aux(at::RANDOM).unwrap() - v("sp")) as usize;
        let known: Vec<u64> = [
            at::SYSINFO_EHDR,
            at::MINSIGSTKSZ,
            at::HWCAP,
            at::PAGESZ,
            at::CLKTCK,
            at::PHDR,
            at::PHENT,
            at::PHNUM,
            at::BASE,
            at::FLAGS,
            at::ENTRY,
            at::UID,
            at::EUID,
            at::GID,
            at::EGID,
            at::SECURE,
            at::RANDOM,
            at::HWCAP2,
            at::EXECFN,
            at::PLATFORM,
            at::NULL,
        ]
        .to_vec();
        let values = AuxValues {
            uid: aux(at::UID).unwrap(),
            euid: aux(at::EUID).unwrap(),
            gid: aux(at::GID).unwrap(),
            egid: aux(at::EGID).unwrap(),
            hwcap: aux(at::HWCAP).unwrap(),
            hwcap2: aux(at::HWCAP2).unwrap(),
            sysinfo_ehdr: aux(at::SYSINFO_EHDR),
            minsigstksz: aux(at::MINSIGSTKSZ).unwrap(),
            extra: probe
                .auxv
                .iter()
                .copied()
                .filter(|e| !known.contains(&e.0))
                .collect(),
            ..img.aux_values()
        };
        let spec = StackSpec {
            stack_top: STACK_TOP,
            argv: &img.argv,
            envp: &envp,
            execfn: path.as_os_str().as_bytes(),
            random: probe.stack[random_at..random_at + 16].try_into().unwrap(),
            platform: Some(PLATFORM),
            shift: 0,
            aux: values,
        };
        let st = build_stack(&spec).unwrap();
        assert_eq!(st.auxv, probe.auxv, "{build}: auxv");
        assert_eq!(st.sp, v("sp"), "{build}: initial rsp");
        assert_eq!(
            (st.arg_start, st.arg_end, st.env_start, st.env_end),
            (v("arg_start"), v("arg_end"), v("env_start"), v("env_end")),
            "{build}: string ranges"
        );
        assert_eq!(st.bytes.len(), probe.stack.len(), "{build}: stack size");
        let differ: Vec<(u64, u8, u8)> = (0..st.bytes.len())
            .filter(|&i| st.bytes[i] != probe.stack[i])
            .map(|i| (st.sp + i as u64, st.bytes[i], probe.stack[i]))
            .collect();
        assert!(
            differ.is_empty(),
            "{build}: stack bytes differ from Linux's at (address, ours, Linux's) {differ:x?}"
        );
    }
}

/// Runs `script` on the host and through the loader with the same argv;
/// both must agree on the resulting argv or on the errno.
fn compare_script(script: &Path) {
    let argv = bytes(&["name", "x", "y z"]);
    let linux = Command::new(script)
        .arg0("name")
        .args(["x", "y z"])
        .output();
    let ours = load_path(script, &argv, &[], 8 << 20);
    let content = std::fs::read(script).unwrap();
    match (linux, ours) {
        (Ok(out), Ok(img)) => {
            assert!(out.status.success());
            let mut printed: Vec<Vec<u8>> =
                out.stdout.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
            printed.pop();
            assert_eq!(
                img.argv,
                printed,
                "argv for {:?}",
                String::from_utf8_lossy(&content)
            );
        }
        (Err(e), Err(ours)) => {
            assert_eq!(
                Some(ours.errno()),
                e.raw_os_error(),
                "errno for {:?}",
                String::from_utf8_lossy(&content)
            )
        }
        (linux, ours) => panic!(
            "disagreement for {:?}: Linux {:?}, loader {:?}",
            String::from_utf8_lossy(&content),
            linux.map(|o| o.stdout),
            ours.map(|i| i.argv)
        ),
    }
}

use std::os::unix::process::CommandExt;

fn write_script(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn scripts_match_linux() {
    let progs = programs();
    let dir = tempfile::tempdir().unwrap();
    let p = progs.argv_printer.to_str().unwrap();
    let long_arg = format!("#!{p} {}\n", "a".repeat(300));
    let long_name = format!("#!/{}\n", "p".repeat(300));
    let cases: Vec<Vec<u8>> = [
        format!("#!{p}\n"),
        format!("#!{p} -x\n"),
        format!("#! {p}  a  b \t\n"),
        format!("#!\t{p}\t-x\t\n"),
        format!("#!{p}"),
        format!("#!{p}   "),
        format!("#!{p}\0 -x\n"),
        format!("#!{p} -x\0y\n"),
        format!("#!{p} \0y\n"),
        format!("#!{p}\r\n"),
        format!("#!{p} -x\r\n"),
        "#!\n".into(),
        "#!   \n".into(),
        "#!/nonexistent/interpreter\n".into(),
        long_arg,
        long_name,
        "plain text, no #!\n".into(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    for (i, contents) in cases.iter().enumerate() {
        compare_script(&write_script(dir.path(), &format!("s{i}"), contents));
    }

    // Nested scripts, up to and past Linux's limit.
    let mut prev = progs.argv_printer.clone();
    for depth in 1..=MAX_SCRIPT_DEPTH + 2 {
        let arg = if depth % 2 == 0 { " opt" } else { "" };
        let contents = format!("#!{}{arg}\n", prev.display());
        prev = write_script(dir.path(), &format!("nest{depth}"), contents.as_bytes());
        compare_script(&prev);
        let depth_seen = load_path(&prev, &bytes(&["n"]), &[], 8 << 20).map(|i| i.script_depth);
        if depth <= MAX_SCRIPT_DEPTH {
            assert_eq!(depth_seen, Ok(depth));
        } else {
            assert_eq!(depth_seen.unwrap_err().errno(), libc::ELOOP);
        }
    }
}

#[test]
fn missing_dynamic_linker_is_enoent() {
    let pie = std::fs::read(&programs().probes[2].1).unwrap();
    let re = readelf(&programs().probes[2].1);
    let interp = re.interp.unwrap();
    // Point PT_INTERP at a path of the same length that does not exist.
    let at = pie
        .windows(interp.len())
        .position(|w| w == interp.as_bytes())
        .unwrap();
    let mut patched = pie.clone();
    patched[at + 1] = b'X';
    struct Nothing;
    impl Resolver for Nothing {
        type File = Vec<u8>;
        fn open(&mut self, _: &[u8]) -> Result<Vec<u8>, i32> {
            Err(libc::ENOENT)
        }
    }
    let argv = bytes(&["p"]);
    let err = load(&mut Nothing, patched, &request(b"p", &argv, &[], 8 << 20)).unwrap_err();
    assert_eq!(err.errno(), libc::ENOENT);
}

/// Serves every path with the same bytes, so a mutated file is also its
/// own interpreter.
struct Echo(Vec<u8>);

impl Resolver for Echo {
    type File = Vec<u8>;
    fn open(&mut self, _: &[u8]) -> Result<Vec<u8>, i32> {
        Ok(self.0.clone())
    }
}

fn real_elf() -> &'static [Vec<u8>] {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        programs()
            .probes
            .iter()
            .map(|(_, p)| std::fs::read(p).unwrap())
            .collect()
    })
}

/// Values that stress the arithmetic when written over a header field.
fn nasty_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX - 0xfff),
        Just(1 << 63),
        Just(TASK_SIZE),
        Just(TASK_SIZE - 1),
        Just(ELF_ET_DYN_BASE),
        Just(0x1000),
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_mutated_binaries(
        which in 0usize..3,
        bytes in prop::collection::vec((0usize..1024, any::<u8>()), 0..12),
        words in prop::collection::vec((0usize..1024, nasty_u64()), 0..4),
        truncate in prop::option::of(0usize..8192),
    ) {
        let mut file = real_elf()[which].clone();
        for (at, b) in bytes {
            file[at] = b;
        }
        for (at, w) in words {
            file[at..at + 8].copy_from_slice(&w.to_le_bytes());
        }
        if let Some(len) = truncate {
            file.truncate(len);
        }
        if let Ok(elf) = ElfFile::parse(&file) {
            // Whatever parses must place without panicking, at any base.
            for base in [0, PAGE_SIZE, mmap_base(8 << 20, 0, 0), TASK_SIZE, u64::MAX] {
                if let Ok(bias) = elf.interpreter_bias(base) {
                    let _ = elf.place(bias);
                }
                if let Ok(bias) = elf.executable_bias(base, base) {
                    let _ = elf.place(bias);
                }
            }
        }
        let argv = vec![b"p".to_vec()];
        let _ = load(&mut Echo(file.clone()), file, &request(b"p", &argv, &[], 8 << 20));
    }

    #[test]
    fn shebang_parser_never_panics(line in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut head = b"#!".to_vec();
        head.extend(line);
        if let Ok(sb) = parse_shebang(&head) {
            prop_assert!(!sb.interpreter.iter().any(|&b| b == 0 || b == b' ' || b == b'\t' || b == b'\n'));
            prop_assert!(sb.interpreter.len() < BINPRM_BUF_SIZE);
            if let Some(arg) = sb.arg {
                prop_assert!(!arg.contains(&0) && !arg.contains(&b'\n'));
            }
        }
    }

    #[test]
    fn stack_always_decodes(
        argv in prop::collection::vec(prop::collection::vec(1u8..=255, 0..40), 0..8),
        envp in prop::collection::vec(prop::collection::vec(1u8..=255, 0..40), 0..8),
        shift in 0u64..8192,
        top in (0x10_0000u64..TASK_SIZE).prop_map(|t| t & !7),
    ) {
        let spec = StackSpec {
            stack_top: top,
            argv: &argv,
            envp: &envp,
            execfn: b"/x",
            random: [7; 16],
            platform: Some(PLATFORM),
            shift,
            aux: AuxValues { pagesz: PAGE_SIZE, ..AuxValues::default() },
        };
        let st = build_stack(&spec).unwrap();
        prop_assert_eq!(st.sp % 16, 0);
        prop_assert_eq!(st.sp + st.bytes.len() as u64, top & !15);
        let word = |addr: u64| {
            let at = (addr - st.sp) as usize;
            u64::from_le_bytes(st.bytes[at..at + 8].try_into().unwrap())
        };
        let cstr = |addr: u64| {
            let at = (addr - st.sp) as usize;
            let len = st.bytes[at..].iter().position(|&b| b == 0).unwrap();
            st.bytes[at..at + len].to_vec()
        };
        prop_assert_eq!(word(st.sp), argv.len() as u64);
        let mut slot = st.sp + 8;
        for a in &argv {
            prop_assert_eq!(&cstr(word(slot)), a);
            slot += 8;
        }
        prop_assert_eq!(word(slot), 0);
        slot += 8;
        for e in &envp {
            prop_assert_eq!(&cstr(word(slot)), e);
            slot += 8;
        }
        prop_assert_eq!(word(slot), 0);
        slot += 8;
        for &(k, v) in &st.auxv {
            prop_assert_eq!((word(slot), word(slot + 8)), (k, v));
            slot += 16;
        }
        prop_assert_eq!(st.auxv.last(), Some(&(at::NULL, 0)));
        prop_assert!(slot <= st.random_addr);
    }
}
