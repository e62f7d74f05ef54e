//! The web console, served by the gateway: the files of `console/` embedded in the binary at
//! build time (rust-embed), so `cargo run --release` is all it takes.
//!
//! Every file but `index.html` is served under a content-hashed name
//! (`/assets/app.3f9a1c0b.js`) with a year-long immutable cache lifetime; `index.html` (at `/`)
//! is always revalidated and names the hashed files. Modules import each other by relative
//! paths; those imports are rewritten to the hashed names too, so a module's hash covers the
//! modules it imports (a change anywhere below gives every importer a new name) and a browser
//! never mixes two versions. The plain names are served too (revalidated), for anything that
//! asks for them.
//!
//! Two files live at stable paths, revalidated: the service worker at `/sw.js` (its scope is
//! the whole console; the gateway writes into it the hashed files of the shell to keep, and a
//! version that changes with them, so a new build installs a new worker) and the PWA manifest
//! at `/manifest.webmanifest` (its icons named by their hashed paths).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use regex::Regex;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "console/"]
#[exclude = "tools/*"]
#[exclude = "*.md"]
struct Files;

/// One file as served.
struct Asset {
    body: Arc<[u8]>,
    content_type: &'static str,
    /// Its hashed path under `/assets/`.
    hashed: String,
    etag: String,
}

/// The console's files, indexed once.
pub struct Console {
    index: Arc<[u8]>,
    index_etag: String,
    /// `/sw.js` and `/manifest.webmanifest`: body and ETag.
    worker: (Arc<[u8]>, String),
    manifest: (Arc<[u8]>, String),
    /// By path under `/assets/`, plain and hashed.
    assets: HashMap<String, Arc<Asset>>,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("html") => "text/html; charset=utf-8",
        Some("mp3") => "audio/mpeg",
        Some("ogg") => "audio/ogg",
        Some("wav") => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// `import … from "./x.js"`, `export … from "../y.js"`, `import("./z.js")`.
static RELATIVE_IMPORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}/[^"']+)(["'])"#)
        .unwrap_or_else(|e| panic!("the import pattern compiles: {e}"))
});

/// `/assets/<path>` in the index.
static INDEX_ASSET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"/assets/([A-Za-z0-9_./-]+)"#)
        .unwrap_or_else(|e| panic!("the asset pattern compiles: {e}"))
});

/// `dir/name.ext` → `dir/name.<hash>.ext`.
fn hashed_name(path: &str, body: &[u8]) -> String {
    let hash = format!("{:08x}", xxhash_rust::xxh3::xxh3_64(body) as u32);
    match path.rsplit_once('.') {
        Some((stem, ext)) if !stem.ends_with('/') => format!("{stem}.{hash}.{ext}"),
        _ => format!("{path}.{hash}"),
    }
}

/// Resolve `./x.js` (or `../x.js`) against the directory of `from`.
fn resolve(from: &str, relative: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for segment in relative.split('/') {
        match segment {
            "." | "" => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

impl Console {
    /// Index the embedded files.
    pub fn load() -> Console {
        let raw: HashMap<String, Vec<u8>> = Files::iter()
            .filter_map(|path| Files::get(&path).map(|f| (path.to_string(), f.data.into_owned())))
            .collect();
        let mut done: HashMap<String, (Vec<u8>, String)> = HashMap::new();
        let paths: Vec<String> = raw.keys().cloned().collect();
        for path in &paths {
            let mut visiting = Vec::new();
            finish(path, &raw, &mut done, &mut visiting);
        }
        let mut assets = HashMap::new();
        for (path, (body, hashed)) in done {
            if path == "index.html" {
                continue;
            }
            let asset = Arc::new(Asset {
                etag: format!("\"{}\"", hashed.rsplit('/').next().unwrap_or(&hashed)),
                content_type: content_type(&path),
                body: body.into(),
                hashed: hashed.clone(),
            });
            assets.insert(path, asset.clone());
            assets.insert(hashed, asset);
        }
        let index = raw
            .get("index.html")
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| "<!doctype html><title>Switchboard</title>".to_owned());
        let index = INDEX_ASSET
            .replace_all(&index, |c: &regex::Captures| match assets.get(&c[1]) {
                Some(asset) => format!("/assets/{}", asset.hashed),
                None => c[0].to_owned(),
            })
            .into_owned();
        let index_etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(index.as_bytes()));
        let manifest = raw
            .get("manifest.webmanifest")
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| "{}".to_owned());
        let manifest = INDEX_ASSET
            .replace_all(&manifest, |c: &regex::Captures| match assets.get(&c[1]) {
                Some(asset) => format!("/assets/{}", asset.hashed),
                None => c[0].to_owned(),
            })
            .into_owned();
        let worker = service_worker(
            raw.get("sw.js").map(Vec::as_slice).unwrap_or_default(),
            &assets,
        );
        Console {
            index: index.into_bytes().into(),
            index_etag,
            worker: with_etag(worker.into_bytes()),
            manifest: with_etag(manifest.into_bytes()),
            assets,
        }
    }

    /// How many files are served (hashed names not counted twice).
    pub fn len(&self) -> usize {
        self.assets.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }

    /// The hashed path of a file, for tests and the index.
    pub fn hashed(&self, path: &str) -> Option<&str> {
        self.assets.get(path).map(|a| a.hashed.as_str())
    }
}

fn with_etag(body: Vec<u8>) -> (Arc<[u8]>, String) {
    let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body));
    (body.into(), etag)
}

/// The service worker with the shell it keeps: every hashed script, style, catalog and icon
/// (not the worker or the manifest themselves), and a version naming that set.
fn service_worker(source: &[u8], assets: &HashMap<String, Arc<Asset>>) -> String {
    let mut shell: Vec<String> = assets
        .iter()
        .filter(|(path, asset)| {
            **path == asset.hashed
                && !path.starts_with("sw.")
                && !path.starts_with("manifest.")
                && [".js", ".css", ".json", ".svg", ".png"]
                    .iter()
                    .any(|ext| path.ends_with(ext))
        })
        .map(|(_, asset)| format!("/assets/{}", asset.hashed))
        .collect();
    shell.sort();
    let list = serde_json::to_string(&shell).unwrap_or_else(|_| "[]".to_owned());
    let version = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(list.as_bytes()));
    String::from_utf8_lossy(source)
        .replacen(
            "const VERSION = 'dev';",
            &format!("const VERSION = '{version}';"),
            1,
        )
        .replacen("const SHELL = [];", &format!("const SHELL = {list};"), 1)
}

/// The body of `path` with its relative imports pointing at hashed names, and its hashed name:
/// depth first, so an importer's hash covers what it imports. An import cycle keeps the plain
/// name for the edge that closes it.
fn finish(
    path: &str,
    raw: &HashMap<String, Vec<u8>>,
    done: &mut HashMap<String, (Vec<u8>, String)>,
    visiting: &mut Vec<String>,
) -> Option<String> {
    if let Some((_, hashed)) = done.get(path) {
        return Some(hashed.clone());
    }
    if visiting.iter().any(|p| p == path) {
        return None;
    }
    let body = raw.get(path)?;
    visiting.push(path.to_owned());
    let is_module = path.ends_with(".js") || path.ends_with(".mjs");
    let body = if is_module {
        let text = String::from_utf8_lossy(body).into_owned();
        let mut rewritten = String::with_capacity(text.len());
        let mut last = 0;
        for c in RELATIVE_IMPORT.captures_iter(&text) {
            let (Some(whole), Some(spec)) = (c.get(0), c.get(3)) else {
                continue;
            };
            rewritten.push_str(&text[last..whole.start()]);
            let target = resolve(path, spec.as_str())
                .and_then(|target| finish(&target, raw, done, visiting).map(|h| (target, h)));
            match target {
                Some((_, hashed)) => {
                    // Keep the import relative: the same directory walk, the hashed file name.
                    let depth = path.matches('/').count();
                    let up = "../".repeat(depth);
                    let relative = if depth == 0 {
                        format!("./{hashed}")
                    } else {
                        format!("{up}{hashed}")
                    };
                    rewritten.push_str(&format!("{}{}{}{}", &c[1], &c[2], relative, &c[4]));
                }
                None => rewritten.push_str(whole.as_str()),
            }
            last = whole.end();
        }
        rewritten.push_str(&text[last..]);
        rewritten.into_bytes()
    } else {
        body.clone()
    };
    visiting.pop();
    let hashed = hashed_name(path, &body);
    done.insert(path.to_owned(), (body, hashed.clone()));
    Some(hashed)
}

fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

/// `GET /`: the console's page, always revalidated. Its policy frames the registered panel
/// apps' origins only, read from the store at every load (a registration applies at the next
/// load on every node); when the store does not answer, no frame.
pub async fn index(
    req: HttpRequest,
    console: web::Data<Console>,
    state: web::Data<super::AppState>,
) -> HttpResponse {
    let origins: Vec<String> = match state.panel_apps.all().await {
        Ok(apps) => apps
            .iter()
            .filter_map(|a| crate::integrations::panel_apps::origin(&a.url))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "panel apps not read: the console frames none");
            Vec::new()
        }
    };
    let csp = super::headers::console_csp(&origins);
    if not_modified(&req, &console.index_etag) {
        // A 304's headers update the cached page's: it must carry the page's policy (the
        // data policy every other answer gets would block the page's own scripts).
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, console.index_etag.clone()))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::CONTENT_SECURITY_POLICY, csp))
            .finish();
    }
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, console.index_etag.clone()))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .body(console.index.to_vec())
}

/// The service worker's policy: it fetches (and keeps) the console's own files, nothing else.
pub const WORKER_CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// A file at a stable path, always revalidated.
fn revalidated(
    req: &HttpRequest,
    (body, etag): &(Arc<[u8]>, String),
    content_type: &'static str,
    csp: Option<&'static str>,
) -> HttpResponse {
    let unchanged = not_modified(req, etag);
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, etag.clone()));
    if let Some(csp) = csp {
        response.insert_header((header::CONTENT_SECURITY_POLICY, csp));
    }
    if unchanged {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .body(body.to_vec())
}

/// `GET /sw.js`: the service worker (scope `/`).
pub async fn worker(req: HttpRequest, console: web::Data<Console>) -> HttpResponse {
    revalidated(
        &req,
        &console.worker,
        "text/javascript; charset=utf-8",
        Some(WORKER_CSP),
    )
}

/// `GET /manifest.webmanifest`: the PWA manifest.
pub async fn manifest(req: HttpRequest, console: web::Data<Console>) -> HttpResponse {
    revalidated(&req, &console.manifest, "application/manifest+json", None)
}

/// `GET /assets/{path}`: a hashed name is immutable for a year; a plain one is revalidated.
pub async fn asset(
    req: HttpRequest,
    console: web::Data<Console>,
    path: web::Path<String>,
) -> HttpResponse {
    let path = path.into_inner();
    let Some(asset) = console.assets.get(&path) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such file");
    };
    let immutable = asset.hashed == path;
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    if not_modified(&req, &asset.etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, asset.etag.clone()))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    let mut response = HttpResponse::Ok();
    response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, asset.etag.clone()));
    response.body(asset.body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve() {
        assert_eq!(resolve("app.js", "./store.js").as_deref(), Some("store.js"));
        assert_eq!(
            resolve("screens/list.js", "../vendor/preact.module.js").as_deref(),
            Some("vendor/preact.module.js")
        );
        assert_eq!(resolve("a.js", "../../x.js"), None);
    }

    #[test]
    fn an_importers_name_follows_what_it_imports() {
        let mut raw = HashMap::new();
        raw.insert(
            "app.js".to_owned(),
            b"import { a } from './lib/a.js';\nexport const x = a;".to_vec(),
        );
        raw.insert(
            "lib/a.js".to_owned(),
            b"import { b } from \"../b.js\"; export const a = b;".to_vec(),
        );
        raw.insert("b.js".to_owned(), b"export const b = 1;".to_vec());
        let mut done = HashMap::new();
        let app = finish("app.js", &raw, &mut done, &mut Vec::new()).expect("hashed");
        let a = done["lib/a.js"].1.clone();
        let b = done["b.js"].1.clone();
        let app_body = String::from_utf8(done["app.js"].0.clone()).expect("utf-8");
        assert!(app_body.contains(&format!("'./{a}'")), "{app_body}");
        let a_body = String::from_utf8(done["lib/a.js"].0.clone()).expect("utf-8");
        assert!(a_body.contains(&format!("\"../{b}\"")), "{a_body}");

        // Change the leaf: every importer gets a new name.
        raw.insert("b.js".to_owned(), b"export const b = 2;".to_vec());
        let mut again = HashMap::new();
        let app2 = finish("app.js", &raw, &mut again, &mut Vec::new()).expect("hashed");
        assert_ne!(app, app2);
        assert_ne!(again["lib/a.js"].1, a);
    }

    #[test]
    fn the_worker_names_the_shell_and_the_manifest_the_hashed_icons() {
        let console = Console::load();
        let worker = String::from_utf8_lossy(&console.worker.0).into_owned();
        let app = console.hashed("app.js").expect("app.js");
        assert!(worker.contains(&format!("\"/assets/{app}\"")), "{worker}");
        assert!(
            !worker.contains("const VERSION = 'dev';"),
            "a version is set"
        );
        let manifest: serde_json::Value =
            serde_json::from_slice(&console.manifest.0).expect("the manifest is JSON");
        let icon = console.hashed("icon-192.png").expect("icon-192.png");
        assert_eq!(manifest["icons"][0]["src"], format!("/assets/{icon}"));
    }

    #[test]
    fn the_embedded_console_is_indexed() {
        let console = Console::load();
        assert!(!console.is_empty());
        let index = String::from_utf8_lossy(&console.index).into_owned();
        assert!(
            !index.contains("/assets/app.js"),
            "the index names hashed files: {index}"
        );
    }
}
