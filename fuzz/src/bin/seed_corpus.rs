//! Writes `lisafs::fuzz::seeds()` into the corpus directory given as the
//! only argument, so a fuzzing run starts from valid messages of every type
//! instead of having to discover each length field by itself.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("corpus/decode"));
    std::fs::create_dir_all(&dir)?;
    let seeds = lisafs::fuzz::seeds();
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), seed)?;
    }
    println!("{} seeds written to {}", seeds.len(), dir.display());
    Ok(())
}
