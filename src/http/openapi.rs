//! The REST API's OpenAPI 3.1 document, built from the handlers' own annotations
//! (`#[utoipa::path]` next to each handler) while the routes are registered.
//!
//! Every route goes through [`Api`]: [`Api::op`] registers a handler at the method and path of
//! its annotation and adds the operation to the [`Book`]; the few routes that are not REST (the
//! console's files, the widget's script, the websockets) go through [`Api::other`], which says
//! why. The document is therefore the list of registrations; a test compares the number of
//! registrations in the app's own resource map with the book's, so a plain `.route(…)` slipping
//! past [`Api`] fails it.
//!
//! Served at `GET /api/openapi.json` (built once, then cached) and browsable at `GET /api/docs`
//! (Swagger UI, vendored in `apidocs/` and embedded in the binary: no CDN).

use std::sync::OnceLock;

use actix_web::dev::HttpServiceFactory;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, Handler, HttpResponse, Responder, web};
use rust_embed::RustEmbed;
use serde::Serialize;
use utoipa::openapi::path::{HttpMethod, Operation, PathItem, Paths};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Components, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, RefOr, ResponseBuilder,
    Schema, Tag,
};
use utoipa::{PartialSchema, ToSchema};
use utoipa_actix_web::OpenApiFactory;

use super::ApiError;

/// One registration: a method and a full path, with the reason when it is not in the document.
#[derive(Clone, Debug)]
pub struct Registered {
    pub method: Method,
    pub path: String,
    /// The prefix of the scope it is registered in (`path` starts with it).
    pub scope: &'static str,
    /// `None`: documented. `Some(why)`: deliberately left out of the document (not REST).
    pub left_out: Option<&'static str>,
}

/// What the registrations collected: the document's paths and schemas, and every route.
#[derive(Default)]
pub struct Book {
    pub paths: Paths,
    pub schemas: Vec<(String, RefOr<Schema>)>,
    pub routes: Vec<Registered>,
}

/// Registers routes under a path prefix (a scope's, or none), recording each in a [`Book`].
pub struct Api<'a> {
    cfg: &'a mut web::ServiceConfig,
    prefix: &'static str,
    book: &'a mut Book,
}

fn actix_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

impl<'a> Api<'a> {
    /// `prefix`: the path of the scope `cfg` belongs to ("" at the root), which the document's
    /// paths carry in front of the annotations' (scope-relative) paths.
    pub fn new(cfg: &'a mut web::ServiceConfig, prefix: &'static str, book: &'a mut Book) -> Self {
        Api { cfg, prefix, book }
    }

    /// Registers `handler` at the method(s) and path of its `#[utoipa::path]` annotation
    /// (`doc` is the annotation's `__path_<handler>` type) and documents it.
    pub fn op<D, F, Args>(&mut self, doc: D, handler: F) -> &mut Self
    where
        D: OpenApiFactory + utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let relative = D::path();
        doc.schemas(&mut self.book.schemas);
        for (path, item) in doc.paths().paths {
            let full = format!("{}{}", self.prefix, path);
            let mut prefixed = Paths::new();
            prefixed.paths.insert(full, item);
            self.book.paths.merge(prefixed);
        }
        for method in D::methods() {
            let method = actix_method(&method);
            self.book.routes.push(Registered {
                method: method.clone(),
                path: format!("{}{}", self.prefix, relative),
                scope: self.prefix,
                left_out: None,
            });
            self.cfg
                .route(&relative, web::method(method).to(handler.clone()));
        }
        self
    }

    /// Registers a route that is deliberately not in the document (`why`: not REST).
    pub fn other(
        &mut self,
        method: Method,
        path: &str,
        route: actix_web::Route,
        why: &'static str,
    ) -> &mut Self {
        self.record_other(method, path, why);
        self.cfg.route(path, route);
        self
    }

    /// Registers a resource (one route: `method`) that is deliberately not in the document.
    pub fn other_service(
        &mut self,
        method: Method,
        path: &str,
        service: impl HttpServiceFactory + 'static,
        why: &'static str,
    ) -> &mut Self {
        self.record_other(method, path, why);
        self.cfg.service(service);
        self
    }

    fn record_other(&mut self, method: Method, path: &str, why: &'static str) {
        self.book.routes.push(Registered {
            method,
            path: format!("{}{}", self.prefix, path),
            scope: self.prefix,
            left_out: Some(why),
        });
    }

    /// Adds a service that registers no route of its own (a scope whose routes are registered
    /// through their own [`Api`] into the same book).
    pub fn scope(&mut self, service: impl HttpServiceFactory + 'static) -> &mut Self {
        self.cfg.service(service);
        self
    }
}

/// The house error body (`src/http/error.rs`): every error answer of the API.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable machine code and a message for people.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable code: `unauthorized`, `forbidden`, `bad_request`, `not_found`, `conflict`,
    /// `gone`, `unsupported_media_type`, `upstream_failed`, `request_timeout`,
    /// `too_many_requests`, `rate_limited`, `payload_too_large`, `overloaded`, `unavailable`,
    /// `internal`, or a 422's rule (`window_closed`, `config_invalid`, …).
    pub code: String,
    pub message: String,
}

/// Names of the security schemes the annotations use.
pub const CONSOLE: &str = "console";
pub const BUSINESS: &str = "business";

fn security_schemes(components: &mut Components) {
    let bearer = |desc: &str| {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(desc.to_string()))
                .build(),
        )
    };
    let header = |name: &str, desc: &str| {
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, desc)))
    };
    components.add_security_scheme(
        CONSOLE,
        bearer(
            "A person of the console: a login session's token (POST /api/v1/auth/login) or a \
             personal API token (POST /api/v1/me/tokens), as `Authorization: Bearer <token>`.",
        ),
    );
    components.add_security_scheme(
        BUSINESS,
        bearer(
            "A business system's API key (`sbk_…`, created by an admin with scopes), as \
             `Authorization: Bearer sbk_…`. The routes that take it take a console token too.",
        ),
    );
    components.add_security_scheme(
        "website_token",
        header(
            "X-Website-Token",
            "The web chat widget's channel: the website token of the site's channel.",
        ),
    );
    components.add_security_scheme(
        "visitor",
        bearer(
            "The widget's visitor: the `wcv_…` token of POST /api/v1/widget/sessions, as \
             `Authorization: Bearer wcv_…`.",
        ),
    );
    components.add_security_scheme(
        "meta_signature",
        header(
            "X-Hub-Signature-256",
            "Meta's signature of the body: `sha256=<hex HMAC-SHA256 with the app secret>`.",
        ),
    );
    components.add_security_scheme(
        "telegram_secret",
        header(
            "X-Telegram-Bot-Api-Secret-Token",
            "The secret token the gateway gave Telegram when it set the bot's webhook.",
        ),
    );
    components.add_security_scheme(
        "x_signature",
        header(
            "X-Twitter-Webhooks-Signature",
            "X's signature of the body: `sha256=<base64 HMAC-SHA256 with the consumer secret>`.",
        ),
    );
}

/// Every operation answers its errors with the house error body: added as the `default`
/// response where the annotation does not name the status.
fn default_error(operation: &mut Operation) {
    let error = ResponseBuilder::new()
        .description("An error, in the house error body.")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                ))))
                .build(),
        )
        .build();
    operation
        .responses
        .responses
        .entry("default".to_string())
        .or_insert(RefOr::T(error));
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Collects the routes `register` makes (registering them into a throwaway app).
pub fn collect(register: impl FnOnce(&mut web::ServiceConfig, &mut Book)) -> Book {
    let mut book = Book::default();
    let _ = actix_web::App::new().configure(|cfg| register(cfg, &mut book));
    book
}

/// The document of the gateway's REST API.
pub fn build() -> OpenApi {
    let book = collect(|cfg, book| super::register(cfg, book, Vec::new()));
    document(book)
}

/// The document of what a book collected.
pub fn document(book: Book) -> OpenApi {
    let mut paths = book.paths;
    for item in paths.paths.values_mut() {
        operations(item).for_each(default_error);
    }
    let mut components = Components::new();
    components.schemas.extend(book.schemas);
    let mut error_schemas = Vec::new();
    <ErrorBody as ToSchema>::schemas(&mut error_schemas);
    components.schemas.extend(error_schemas);
    components
        .schemas
        .insert("ErrorBody".to_string(), ErrorBody::schema());
    security_schemes(&mut components);
    let left_out: Vec<serde_json::Value> = book
        .routes
        .iter()
        .filter_map(|r| {
            r.left_out.map(|why| {
                serde_json::json!({ "method": r.method.as_str(), "path": r.path, "why": why })
            })
        })
        .collect();
    let mut extensions = utoipa::openapi::extensions::Extensions::default();
    extensions.insert("x-not-rest".to_string(), serde_json::Value::Array(left_out));
    let mut openapi = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Switchboard")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The REST API of the Switchboard gateway: the console's (people, with a \
                     session or a personal token), the administration's, the business API's \
                     (API keys with scopes; same paths as the console's where both are \
                     accepted), the web chat widget's, and the channels' inbound webhooks. \
                     Errors always come in the same body (`ErrorBody`). The websockets \
                     (`GET /api/v1/ws`, `GET /api/v1/widget/ws`) are not REST and are not \
                     described here: `x-not-rest` lists them with the other routes left out.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .tags(Some(tags()))
        .build();
    openapi.extensions = Some(extensions);
    openapi
}

fn tags() -> Vec<Tag> {
    [
        ("auth", "Logging in and out, sessions, personal tokens."),
        (
            "console",
            "The agents' desk: presence, teams, conversations, replies.",
        ),
        ("contacts", "The CRM's contacts (console and business API)."),
        ("segments", "The CRM's saved segments."),
        ("reports", "Supervisors' reports."),
        (
            "admin",
            "Users, teams, tokens, the audit log, configuration reloads.",
        ),
        ("api-keys", "Business systems' API keys."),
        (
            "business",
            "Business systems' actions: a message to a contact, a handoff to a team.",
        ),
        (
            "event-webhooks",
            "Event webhooks: subscriptions, deliveries, replays.",
        ),
        (
            "panel-apps",
            "Business apps shown in the console's customer panel.",
        ),
        ("push", "Web push notifications of the console."),
        ("media", "Attachments."),
        (
            "widget",
            "The web chat widget's API, for visitors of the sites that embed it.",
        ),
        (
            "channels",
            "Inbound webhooks of the channels (Meta, Telegram, X).",
        ),
        ("operations", "Health, readiness, metrics, this document."),
    ]
    .into_iter()
    .map(|(name, description)| {
        let mut tag = Tag::new(name);
        tag.description = Some(description.to_string());
        tag
    })
    .collect()
}

static DOCUMENT: OnceLock<Result<bytes::Bytes, String>> = OnceLock::new();

fn cached() -> Result<bytes::Bytes, ApiError> {
    DOCUMENT
        .get_or_init(|| {
            serde_json::to_vec(&build())
                .map(bytes::Bytes::from)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(ApiError::Internal)
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object))
)]
pub async fn openapi_json() -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(cached()?))
}

#[derive(RustEmbed)]
#[folder = "apidocs/"]
#[exclude = "*.md"]
struct Viewer;

/// The docs page may run no inline script, but Swagger UI sets styles inline.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The API's documentation page (Swagger UI on `/api/openapi.json`).
pub async fn docs_page() -> HttpResponse {
    viewer_file("index.html")
}

/// The documentation page's files (Swagger UI's script and style, the page's start script).
pub async fn docs_asset(file: web::Path<String>) -> HttpResponse {
    viewer_file(&file)
}

fn viewer_file(name: &str) -> HttpResponse {
    let Some(file) = Viewer::get(name) else {
        return HttpResponse::NotFound().finish();
    };
    let content_type = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CSP),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(file.data.into_owned())
}

/// `/api/openapi.json` and `/api/docs`.
pub fn routes(api: &mut Api) {
    api.op(__path_openapi_json, openapi_json)
        .other(
            Method::GET,
            "/api/docs",
            web::get().to(docs_page),
            "the documentation page (HTML)",
        )
        .other(
            Method::GET,
            "/api/docs/{file}",
            web::get().to(docs_asset),
            "the documentation page's files",
        );
}

#[cfg(test)]
mod tests {
    use actix_web::test as actix_test;
    use actix_web::{App, HttpRequest};
    use regex::Regex;

    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_the_error_body_and_schemes() {
        let doc = serde_json::to_value(build()).expect("serializes");
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1"))
        );
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        assert!(doc["components"]["securitySchemes"]["console"].is_object());
        assert!(doc["paths"]["/api/openapi.json"]["get"].is_object());
        assert_eq!(doc["x-not-rest"].as_array().map(Vec::len), Some(10));
        // Every `$ref` names a component that is there.
        fn refs<'v>(value: &'v serde_json::Value, out: &mut Vec<&'v str>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(r) = map.get("$ref").and_then(|r| r.as_str()) {
                        out.push(r);
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 100);
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").expect("a schema");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} is not in the document"
            );
        }
    }

    /// Every operation names its success and its errors; the API's operations name their
    /// credentials, but for the few that are public by design.
    #[test]
    fn every_operation_has_a_success_an_error_and_its_credentials() {
        const PUBLIC: [&str; 4] = [
            "post /api/v1/auth/login",
            "post /api/v1/auth/reset",
            "get /api/openapi.json",
            "get /healthz",
        ];
        let doc = serde_json::to_value(build()).expect("serializes");
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("an item") {
                let responses = operation["responses"].as_object().expect("responses");
                assert!(
                    responses.keys().any(|k| k.starts_with('2')),
                    "{method} {path}: no success"
                );
                assert!(
                    responses.contains_key("default"),
                    "{method} {path}: no error"
                );
                let named = format!("{method} {path}");
                let public = PUBLIC.contains(&named.as_str())
                    || ["/healthz", "/readyz", "/metrics"].contains(&path.as_str())
                    || (method == "get" && path.starts_with("/webhooks/"));
                assert_eq!(
                    operation["security"]
                        .as_array()
                        .is_some_and(|s| !s.is_empty()),
                    !public,
                    "{named}: security {}",
                    operation["security"]
                );
            }
        }
    }

    /// The patterns of the app's resources (each `.route(…)` or `web::resource(…)` is one),
    /// relative to their scope, read from the app's own resource map (whose Debug output is the
    /// only way actix shows it).
    async fn resources(
        register: impl FnOnce(&mut web::ServiceConfig, &mut Book),
    ) -> (Vec<String>, Book) {
        let mut book = Book::default();
        let app = actix_test::init_service(
            App::new()
                .configure(|cfg| register(cfg, &mut book))
                .default_service(web::to(|req: HttpRequest| async move {
                    HttpResponse::Ok().body(format!("{:?}", req.resource_map()))
                })),
        )
        .await;
        let dump = actix_test::call_and_read_body(
            &app,
            actix_test::TestRequest::get()
                .uri("/no-such-route")
                .to_request(),
        )
        .await;
        let dump = String::from_utf8_lossy(&dump).into_owned();
        let node = Regex::new(r#"ResourceMap \{ pattern: ResourceDef \{ id: \d+, name: None, patterns: Single\("((?:[^"\\]|\\.)*)"\)"#)
            .expect("a regex");
        let starts: Vec<(usize, String)> = node
            .captures_iter(&dump)
            .filter_map(|c| Some((c.get(0)?.start(), c.get(1)?.as_str().to_string())))
            .collect();
        let mut leaves = Vec::new();
        for (i, (start, pattern)) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(dump.len(), |(s, _)| *s);
            if dump[*start..end].contains("nodes: None") {
                leaves.push(pattern.clone());
            }
        }
        (leaves, book)
    }

    /// The app's resources not registered through [`Api`] (matched by path to the book's).
    fn unbooked(leaves: &[String], book: &Book) -> Vec<String> {
        let mut left: Vec<&str> = book
            .routes
            .iter()
            .map(|r| &r.path[r.scope.len()..])
            .collect();
        let mut stray = Vec::new();
        for leaf in leaves {
            match left.iter().position(|p| p == leaf) {
                Some(i) => {
                    left.swap_remove(i);
                }
                None => stray.push(leaf.clone()),
            }
        }
        stray
    }

    #[actix_web::test]
    async fn every_route_of_the_app_is_in_the_book() {
        let (leaves, book) =
            resources(|cfg, book| crate::http::register(cfg, book, Vec::new())).await;
        assert_eq!(
            leaves.len(),
            book.routes.len(),
            "the app has {} routes, the book {}; not through `Api`: {:?}",
            leaves.len(),
            book.routes.len(),
            unbooked(&leaves, &book)
        );
        assert!(unbooked(&leaves, &book).is_empty());
        // And every documented route is in the document.
        let doc = serde_json::to_value(document(book)).expect("serializes");
        let (_, book) = resources(|cfg, book| crate::http::register(cfg, book, Vec::new())).await;
        for route in book.routes.iter().filter(|r| r.left_out.is_none()) {
            let method = route.method.as_str().to_ascii_lowercase();
            assert!(
                doc["paths"][&route.path][&method].is_object(),
                "{} {} is not in the document",
                route.method,
                route.path
            );
        }
    }

    #[actix_web::test]
    async fn a_plain_route_slipping_past_the_book_is_noticed() {
        let (leaves, book) = resources(|cfg, book| {
            crate::http::register(cfg, book, Vec::new());
            cfg.route("/api/v2/undocumented", web::get().to(HttpResponse::Ok));
        })
        .await;
        assert_eq!(leaves.len(), book.routes.len() + 1);
        assert_eq!(unbooked(&leaves, &book), ["/api/v2/undocumented"]);
    }
}
