//! Rewrites `specs/vectors/{issue,present,verify}/` from the seeded generator.

#[path = "../tests/support/gen.rs"]
mod generator;

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/vectors");
    for dir in ["issue", "present", "verify", "evidence", "request"] {
        let d = root.join(dir);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
        std::fs::create_dir_all(&d)?;
    }
    let files = generator::generate();
    for (path, text) in &files {
        std::fs::write(root.join(path), text)?;
    }
    println!("wrote {} vector files", files.len());
    Ok(())
}
