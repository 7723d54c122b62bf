//! Access to the recorded Node vectors in `../shared/vectors` (tests only).

use std::path::PathBuf;

/// The vectors folder: `HYDRA_VECTORS`, else `../shared/vectors` beside the checkout.
pub fn vectors_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("HYDRA_VECTORS") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}

/// The text of `examples/{name}`; panics with a clear message when the vectors are missing.
pub fn vector(name: &str) -> String {
    let path = vectors_dir().join("examples").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "test vector {} missing ({e}); set HYDRA_VECTORS to the shared vectors folder",
            path.display()
        )
    })
}
