//! docs/guide.md shows this example's files: its blocks marked `<!-- file: PATH -->` must be
//! those files, byte for byte (a file's blocks joined by a blank line). scripts/check-outside.sh
//! builds the same blocks in a crate of their own.

use std::collections::BTreeMap;
use std::path::Path;

const GUIDE: &str = include_str!("../../../docs/guide.md");
const MARK: &str = "<!-- file: ";

/// The guide's files: each marked block's lines, by path, in order.
fn guide_files() -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut lines = GUIDE.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line.strip_prefix(MARK).and_then(|l| l.strip_suffix(" -->")) else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(fence.starts_with("```"), "no code block after {line}");
        let mut block = String::new();
        for l in lines.by_ref().take_while(|l| !l.starts_with("```")) {
            block.push_str(l);
            block.push('\n');
        }
        let file = files.entry(path.to_string()).or_default();
        if !file.is_empty() {
            file.push('\n');
        }
        file.push_str(&block);
    }
    files
}

fn example_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn the_guide_shows_the_example_files_as_they_are() {
    let files = guide_files();
    for path in [
        "src/lib.rs",
        "src/main.rs",
        "tests/service.rs",
        "Dockerfile",
    ] {
        let shown = files
            .get(path)
            .unwrap_or_else(|| panic!("the guide shows no {path}"));
        let actual = example_file(path);
        if *shown != actual {
            let at = shown.lines().zip(actual.lines()).position(|(a, b)| a != b);
            panic!(
                "docs/guide.md's {path} differs from examples/starter-service/{path} \
                 (first at line {}): update the guide",
                at.map_or("end".to_string(), |n| (n + 1).to_string())
            );
        }
    }
}

/// The dependency names of one section of a manifest (`[dependencies]`, …).
fn dependencies(manifest: &str, section: &str) -> Vec<String> {
    let mut names: Vec<String> = manifest
        .lines()
        .skip_while(|l| l.trim() != section)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split(['=', '.']).next())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty() && !name.starts_with('#'))
        // The workspace names the core crate by its library's name.
        .map(|name| {
            if name == "hydra-core" {
                "hydra-rs-core".into()
            } else {
                name
            }
        })
        .collect();
    names.sort();
    names
}

#[test]
fn the_guide_manifest_has_the_example_dependencies() {
    let files = guide_files();
    let shown = files
        .get("Cargo.toml")
        .expect("the guide shows no Cargo.toml");
    let actual = example_file("Cargo.toml");
    for section in ["[dependencies]", "[dev-dependencies]"] {
        assert_eq!(
            dependencies(shown, section),
            dependencies(&actual, section),
            "{section}"
        );
    }
}

/// Refers to every item it is given, so this file compiles only while each exists, and lists
/// them in `NAMED`. `fn` items are referred to as values, `type`s through `PhantomData`,
/// `mod`ules with `use`; `= expr` refers to a generic one with its types given.
macro_rules! named {
    ($($kind:ident $($seg:ident)::+ $(= $e:expr)?;)*) => {
        const NAMED: &[&str] = &[$(stringify!($($seg)::+)),*];
        #[allow(dead_code, unused_imports)]
        fn refer_to_each() {
            $(named!(@one $kind [$($seg)::+] $($e)?);)*
        }
    };
    (@one fn [$($p:tt)*]) => { let _ = $($p)*; };
    (@one $kind:ident [$($p:tt)*] $e:expr) => { let _ = $e; };
    (@one type [$($p:tt)*]) => { let _ = std::marker::PhantomData::<$($p)*>; };
    (@one mod [$($p:tt)*]) => { use $($p)* as _; };
}

named! {
    type hydra_core::ApiResponse;
    fn hydra_core::ApiResponse::envelope;
    fn hydra_core::ApiResponse::json;
    fn hydra_core::ApiResponse::json_as = hydra_core::ApiResponse::json_as::<serde_json::Value>;
    type hydra_core::Config;
    fn hydra_core::Config::get;
    type hydra_core::ConfigLoader;
    fn hydra_core::ConfigLoader::load;
    type hydra_core::Hydra;
    fn hydra_core::Hydra::api_request;
    fn hydra_core::Hydra::broadcast;
    fn hydra_core::Hydra::config;
    fn hydra_core::Hydra::connect;
    fn hydra_core::Hydra::find_service;
    fn hydra_core::Hydra::get_all_service_routes;
    fn hydra_core::Hydra::get_config;
    fn hydra_core::Hydra::get_service_health;
    fn hydra_core::Hydra::get_service_health_all;
    fn hydra_core::Hydra::get_service_health_log;
    fn hydra_core::Hydra::get_service_nodes;
    fn hydra_core::Hydra::get_service_presence;
    fn hydra_core::Hydra::get_service_routes;
    fn hydra_core::Hydra::get_services;
    fn hydra_core::Hydra::has_service_presence;
    fn hydra_core::Hydra::health_entry;
    fn hydra_core::Hydra::instance_id;
    fn hydra_core::Hydra::list_config;
    fn hydra_core::Hydra::log;
    fn hydra_core::Hydra::mark_queued_message;
    fn hydra_core::Hydra::messages;
    fn hydra_core::Hydra::put_config;
    fn hydra_core::Hydra::queue_depth;
    fn hydra_core::Hydra::queue_message;
    fn hydra_core::Hydra::redis;
    fn hydra_core::Hydra::register_routes = hydra_core::Hydra::register_routes::<String>;
    fn hydra_core::Hydra::register_service;
    fn hydra_core::Hydra::remove_config;
    fn hydra_core::Hydra::reply;
    fn hydra_core::Hydra::reply_with;
    fn hydra_core::Hydra::request;
    fn hydra_core::Hydra::send;
    fn hydra_core::Hydra::service_name;
    fn hydra_core::Hydra::shutdown;
    fn hydra_core::Hydra::subscriptions_restored;
    fn hydra_core::Hydra::take_queued_message;
    fn hydra_core::Hydra::withdraw;
    fn hydra_core::Messages::recv;
    type hydra_core::QueuedMessage;
    fn hydra_core::Route::parse;
    fn hydra_core::Umf::from_value;
    fn hydra_core::Umf::new = |to: String, from: String, body: serde_json::Value| {
        hydra_core::Umf::new(to, from, body)
    };
    fn hydra_core::Umf::parse;
    fn hydra_core::Umf::sign;
    fn hydra_core::Umf::to_short;
    fn hydra_core::Umf::verify;
    fn hydra_core::Umf::with_type = |m: hydra_core::Umf| m.with_type("ping");
    mod hydra_core::metrics;
    mod hydra_core::response;
    fn hydra_core::response::envelope;
    fn hydra_core::response::status_text;
    mod hydra_core::umf;
    type hydra_service::ApiError;
    fn hydra_service::BoundService::hydra;
    fn hydra_service::BoundService::serve = |b: hydra_service::BoundService| {
        b.serve(std::future::pending::<()>())
    };
    fn hydra_service::BoundService::spawn;
    fn hydra_service::Envelope::created = |r: serde_json::Value| hydra_service::Envelope::created(r);
    fn hydra_service::Envelope::new = |r: serde_json::Value| hydra_service::Envelope::new(200, r);
    fn hydra_service::Envelope::ok = |r: serde_json::Value| hydra_service::Envelope::ok(r);
    fn hydra_service::HydraService::bind;
    fn hydra_service::HydraService::get = |s: hydra_service::HydraService| {
        s.get("/", || async { "" })
    };
    fn hydra_service::HydraService::layer = |s: hydra_service::HydraService| s.layer(axum::Extension(()));
    fn hydra_service::HydraService::new;
    fn hydra_service::HydraService::registered_routes;
    fn hydra_service::HydraService::route;
    fn hydra_service::HydraService::run;
    type hydra_service::Json = std::marker::PhantomData::<hydra_service::Json<()>>;
    fn hydra_service::RunningService::hydra;
    fn hydra_service::RunningService::stop;
    fn hydra_service::json_response;
    fn hydra_service::shutdown_signal;
    fn hydra_service::startup::load_config_or_exit;
}

#[test]
fn every_rust_item_the_guide_names_exists() {
    // `hydra_core::…` and `hydra_service::…` paths written alone between backticks.
    let mut missing = Vec::new();
    for piece in GUIDE.split('`') {
        let is_path = piece.starts_with("hydra_core::") || piece.starts_with("hydra_service::");
        let plain = piece
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if is_path && plain && !NAMED.iter().any(|n| n.replace(' ', "") == piece) {
            missing.push(piece);
        }
    }
    assert!(
        missing.is_empty(),
        "add to `named!` in this file: {missing:?}"
    );
}
