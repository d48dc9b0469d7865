//! The ceiling of the load benchmark's scenario 1 (`bench/run.sh`): a bare axum handler that
//! does what the GraphQL server does for `recipes(first: 20) { edges { node { id name cookTime
//! author { username } } } }`, minus GraphQL. It verifies the bearer token (the server's
//! published key, from the JWKS `bench/run.sh` passes, or HS256 with the same secret,
//! issuer and audience as the server; no denylist lookup, since our `recipes` resolver never
//! consults the token at all), runs the same two SQL statements with plain sqlx (the page:
//! published recipes, newest first, LIMIT 21; then the page's authors by id), decodes every
//! column as sea-orm does, and answers the same JSON.
//!
//! The pool is smilecook's own: `smilecook::db::connect` opens it (same size, same SQLite
//! pragmas, whatever tuning they get) and the ceiling queries its sqlx pool directly, bypassing
//! sea-orm. "The same SQL" is checked, not assumed: at start-up the ceiling asks smilecook's db
//! functions for those two statements (captured through sea-orm's metric callback) and refuses
//! to start if its SQL differs.
//!
//! Environment: `DATABASE_URL` (sqlite or postgres), `CEILING_BIND` (default 127.0.0.1:18081),
//! `JWT_SECRET` (required), `JWT_ISSUER`/`JWT_AUDIENCE` (defaults as the server's).

use std::{
    collections::HashMap,
    env,
    error::Error,
    process::ExitCode,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, jwk::JwkSet};
use sea_orm::{
    DatabaseConnection, DbBackend,
    sqlx::{self, AssertSqlSafe, ColumnIndex, Decode, PgPool, Row, SqlitePool, Type},
};
use serde::Deserialize;
use serde_json::{Value, json};
use smilecook::{
    db::{recipe_pages, users},
    error::Shown,
    recipes::listing::{self, PageArgs},
};
use uuid::Uuid;

type AnyError = Box<dyn Error + Send + Sync>;

const RECIPE_COLUMNS: [&str; 12] = [
    "id",
    "author_id",
    "name",
    "description",
    "num_of_servings",
    "cook_time",
    "ingredients",
    "directions",
    "is_publish",
    "search_text",
    "created_at",
    "updated_at",
];
const USER_COLUMNS: [&str; 10] = [
    "id",
    "username",
    "username_key",
    "email",
    "email_key",
    "password_hash",
    "created_at",
    "credential_epoch",
    "email_verified_at",
    "password_changed_at",
];
/// `first: 20`, plus the one row that tells whether another page follows.
const PAGE_LIMIT: i64 = 21;

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

struct App {
    pool: Pool,
    /// Holds the pool's owner for as long as the ceiling runs.
    _db: DatabaseConnection,
    key: DecodingKey,
    validation: Validation,
    backend: Backend,
    page_sql: Arc<str>,
}

/// The claims smilecook's access tokens carry (`jsonwebtoken` checks exp, nbf, iss, aud).
#[derive(Deserialize)]
#[allow(dead_code)]
struct Claims {
    sub: Uuid,
    jti: Uuid,
    #[serde(rename = "type")]
    token_type: String,
    fresh: bool,
    sid: Uuid,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// A recipe row, every column decoded as sea-orm decodes its `Model`.
#[allow(dead_code)]
struct RecipeRow {
    id: Uuid,
    author_id: Uuid,
    name: String,
    description: String,
    num_of_servings: i32,
    cook_time: i32,
    ingredients: String,
    directions: String,
    is_publish: bool,
    search_text: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A user row, every column decoded.
#[allow(dead_code)]
struct UserRow {
    id: Uuid,
    username: String,
    username_key: String,
    email: String,
    email_key: String,
    password_hash: String,
    created_at: DateTime<Utc>,
    credential_epoch: i64,
    email_verified_at: Option<DateTime<Utc>>,
    password_changed_at: Option<DateTime<Utc>>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ceiling: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), AnyError> {
    let url = env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let secret = env::var("JWT_SECRET").map_err(|_| "set JWT_SECRET")?;
    // The server's JWKS (`bench/run.sh` passes it): its first key verifies, by its algorithm.
    let published: Option<JwkSet> = env::var("JWKS")
        .ok()
        .and_then(|jwks| serde_json::from_str::<JwkSet>(&jwks).ok())
        .filter(|set| !set.keys.is_empty());
    let issuer = env::var("JWT_ISSUER").unwrap_or_else(|_| "smilecook".into());
    let audience = env::var("JWT_AUDIENCE").unwrap_or_else(|_| "smilecook-api".into());
    let bind = env::var("CEILING_BIND").unwrap_or_else(|_| "127.0.0.1:18081".into());
    let mut db = smilecook::db::connect(&url).await?;
    let (backend, pool) = match db.get_database_backend() {
        DbBackend::Sqlite => (
            Backend::Sqlite,
            Pool::Sqlite(db.get_sqlite_connection_pool().clone()),
        ),
        DbBackend::Postgres => (
            Backend::Postgres,
            Pool::Postgres(db.get_postgres_connection_pool().clone()),
        ),
        _ => return Err("SQLite or PostgreSQL only".into()),
    };
    check_same_sql(&mut db, backend).await?;
    let app = App {
        pool,
        _db: db,
        key: match &published {
            Some(set) => DecodingKey::from_jwk(&set.keys[0])?,
            None => DecodingKey::from_secret(secret.as_bytes())?,
        },
        validation: validation(&issuer, &audience, algorithm(published.as_ref())),
        backend,
        page_sql: page_sql(backend).into(),
    };
    let router = Router::new()
        .route("/graphql", post(recipes))
        .with_state(Arc::new(app));
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("ceiling listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}

/// The algorithm of the published key, or HS256 with the secret.
fn algorithm(published: Option<&JwkSet>) -> Algorithm {
    published
        .and_then(|set| set.keys[0].common.key_algorithm)
        .and_then(|alg| format!("{alg:?}").parse().ok())
        .unwrap_or(Algorithm::HS256)
}

/// The same validation rules as `smilecook::auth::keys::Keys`, pinned to `alg`.
fn validation(issuer: &str, audience: &str, alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.algorithms = vec![alg];
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.reject_tokens_expiring_in_less_than = 0;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    validation
}

fn columns(table: &str, names: &[&str]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|c| format!("\"{table}\".\"{c}\""))
        .collect();
    quoted.join(", ")
}

fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".into(),
        Backend::Postgres => format!("${n}"),
    }
}

fn page_sql(backend: Backend) -> String {
    format!(
        "SELECT {} FROM \"recipes\" WHERE \"recipes\".\"is_publish\" = {} \
         ORDER BY \"recipes\".\"created_at\" DESC, \"recipes\".\"id\" DESC LIMIT {}",
        columns("recipes", &RECIPE_COLUMNS),
        placeholder(backend, 1),
        placeholder(backend, 2)
    )
}

fn users_sql(backend: Backend, ids: usize) -> String {
    let list: Vec<String> = (1..=ids).map(|n| placeholder(backend, n)).collect();
    format!(
        "SELECT {} FROM \"users\" WHERE \"users\".\"id\" IN ({})",
        columns("users", &USER_COLUMNS),
        list.join(", ")
    )
}

/// Fails unless smilecook's own functions issue exactly the ceiling's two statements.
async fn check_same_sql(db: &mut DatabaseConnection, backend: Backend) -> Result<(), AnyError> {
    let shown = |e: smilecook::error::AppError| Shown(&e).to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    db.set_metric_callback(move |info| {
        if let Ok(mut seen) = sink.lock() {
            seen.push(info.statement.sql.clone());
        }
    });
    let filter = listing::published_filter(None).map_err(shown)?;
    let window = PageArgs::default().window().map_err(shown)?;
    let page = recipe_pages::page(db, &filter, &window)
        .await
        .map_err(shown)?;
    let mut authors: Vec<Uuid> = page.iter().take(20).map(|r| r.author_id).collect();
    authors.sort_unstable();
    authors.dedup();
    users::find_by_ids(db, &authors).await.map_err(shown)?;
    let theirs = seen.lock().map_err(|_| "poisoned")?.clone();
    let ours = vec![page_sql(backend), users_sql(backend, authors.len())];
    if theirs != ours {
        return Err(format!(
            "the ceiling's SQL differs from smilecook's; update examples/ceiling.rs.\n\
             smilecook: {theirs:#?}\nceiling:   {ours:#?}"
        )
        .into());
    }
    Ok(())
}

async fn recipes(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(message) = verify(&app, &headers) {
        let body = json!({ "errors": [{ "message": message }] });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    match page_with_authors(&app).await {
        Ok(body) => Json(body).into_response(),
        Err(err) => {
            eprintln!("ceiling: {err}");
            let body = json!({ "errors": [{ "message": "internal error" }] });
            (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
        }
    }
}

fn verify(app: &App, headers: &HeaderMap) -> Result<Claims, &'static str> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("no token")?;
    let (scheme, token) = header.trim().split_once(' ').ok_or("malformed header")?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err("malformed header");
    }
    let claims = decode::<Claims>(token.trim(), &app.key, &app.validation)
        .map_err(|_| "invalid token")?
        .claims;
    match claims.token_type.as_str() {
        "access" => Ok(claims),
        _ => Err("not an access token"),
    }
}

async fn page_with_authors(app: &App) -> Result<Value, sqlx::Error> {
    let mut page = fetch_page(app).await?;
    page.truncate(20);
    let mut ids: Vec<Uuid> = page.iter().map(|r| r.author_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let authors = fetch_users(app, &ids).await?;
    let names: HashMap<Uuid, &str> = authors
        .iter()
        .map(|u| (u.id, u.username.as_str()))
        .collect();
    let edges: Vec<Value> = page
        .iter()
        .map(|r| {
            json!({ "node": {
                "id": r.id.to_string(),
                "name": r.name,
                "cookTime": r.cook_time,
                "author": { "username": names.get(&r.author_id) },
            }})
        })
        .collect();
    Ok(json!({ "data": { "recipes": { "edges": edges } } }))
}

async fn fetch_page(app: &App) -> Result<Vec<RecipeRow>, sqlx::Error> {
    match &app.pool {
        Pool::Sqlite(pool) => {
            let query = sqlx::query(AssertSqlSafe(Arc::clone(&app.page_sql)));
            let rows = query.bind(true).bind(PAGE_LIMIT).fetch_all(pool).await?;
            rows.iter().map(recipe_row).collect()
        }
        Pool::Postgres(pool) => {
            let query = sqlx::query(AssertSqlSafe(Arc::clone(&app.page_sql)));
            let rows = query.bind(true).bind(PAGE_LIMIT).fetch_all(pool).await?;
            rows.iter().map(recipe_row).collect()
        }
    }
}

async fn fetch_users(app: &App, ids: &[Uuid]) -> Result<Vec<UserRow>, sqlx::Error> {
    // Built per request, as sea-orm builds it (the IN list follows the number of authors).
    let sql = users_sql(app.backend, ids.len());
    match &app.pool {
        Pool::Sqlite(pool) => {
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?.iter().map(user_row).collect()
        }
        Pool::Postgres(pool) => {
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?.iter().map(user_row).collect()
        }
    }
}

/// The column types every backend must decode (sea-orm decodes the same types).
trait Decodes<R: Row>: Sized + for<'r> Decode<'r, R::Database> + Type<R::Database> {}
impl<R: Row, T> Decodes<R> for T where
    T: for<'r> Decode<'r, <R as Row>::Database> + Type<<R as Row>::Database>
{
}

fn recipe_row<R>(row: &R) -> Result<RecipeRow, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    Uuid: Decodes<R>,
    String: Decodes<R>,
    i32: Decodes<R>,
    bool: Decodes<R>,
    DateTime<Utc>: Decodes<R>,
{
    Ok(RecipeRow {
        id: row.try_get("id")?,
        author_id: row.try_get("author_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        num_of_servings: row.try_get("num_of_servings")?,
        cook_time: row.try_get("cook_time")?,
        ingredients: row.try_get("ingredients")?,
        directions: row.try_get("directions")?,
        is_publish: row.try_get("is_publish")?,
        search_text: row.try_get("search_text")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn user_row<R>(row: &R) -> Result<UserRow, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    Uuid: Decodes<R>,
    String: Decodes<R>,
    DateTime<Utc>: Decodes<R>,
    Option<DateTime<Utc>>: Decodes<R>,
    i64: Decodes<R>,
{
    Ok(UserRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        username_key: row.try_get("username_key")?,
        email: row.try_get("email")?,
        email_key: row.try_get("email_key")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
        credential_epoch: row.try_get("credential_epoch")?,
        email_verified_at: row.try_get("email_verified_at")?,
        password_changed_at: row.try_get("password_changed_at")?,
    })
}
