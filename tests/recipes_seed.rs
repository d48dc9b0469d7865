//! `smilecook seed`: demo users who can log in, recipes four in five published, and a second
//! run that refuses and changes nothing.

use sea_orm::DatabaseConnection;
use smilecook::{
    auth::password::{HashThreads, PasswordHasher, Verified},
    config,
    db::{self, recipe_pages::Filter},
    seed::{self, DEMO_PASSWORD, SeedError},
};

/// A new, empty database: an SQLite file, or with `TEST_DATABASE_URL` a new PostgreSQL
/// database on that server (as the HTTP tests' harness does).
async fn fresh_database(dir: &tempfile::TempDir) -> String {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        return format!("sqlite://{}?mode=rwc", dir.path().join("seed.db").display());
    };
    let name = format!("smilecook_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(&base).await.expect("connect");
    let create = format!("CREATE DATABASE \"{name}\"");
    sea_orm::ConnectionTrait::execute_unprepared(&admin, &create)
        .await
        .expect("create database");
    let slash = base.rfind('/').expect("a database path");
    format!("{}/{name}", &base[..slash])
}

async fn count(db: &DatabaseConnection, published: Option<bool>) -> u64 {
    let filter = Filter {
        published,
        ..Filter::default()
    };
    db::recipe_pages::count(db, &filter).await.expect("count")
}

#[tokio::test]
async fn seeding_writes_demo_users_and_recipes_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(&dir).await;
    let config =
        config::from_args(["smilecook", &format!("--database-url={url}")]).expect("config");

    let seeded = seed::run(&config, 25).await.expect("first seeding");
    let again = seed::run(&config, 25).await;

    assert_eq!((seeded.recipes, seeded.published), (25, 20));
    assert!(
        matches!(again, Err(SeedError::AlreadySeeded("ada"))),
        "{again:?}"
    );
    let db = db::connect(&url).await.expect("connect");
    assert_eq!(count(&db, None).await, 25, "the refused run wrote nothing");
    assert_eq!(count(&db, Some(true)).await, 20);
    let hasher = PasswordHasher::new(8, 1, HashThreads::SINGLE).expect("hasher");
    for name in seed::DEMO_USERS {
        let found = db::users::find_credentials(&db, name).await.ok().flatten();
        let (_, hash) = found.unwrap_or_else(|| panic!("{name} exists"));
        let verified = hasher
            .verify(DEMO_PASSWORD.into(), Some(hash.hash))
            .await
            .ok();
        assert!(
            matches!(verified, Some(Verified::Yes { .. })),
            "{name} logs in"
        );
    }
}
