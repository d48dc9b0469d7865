//! Database migrations for Smilecook GraphQL, one file per change, applied in order by
//! [`Migrator`] at start-up (`smilecook migrate` runs them alone). Every migration works on
//! SQLite and PostgreSQL alike and has a `down`.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_create_users;
mod m20261129_000002_create_sessions;
mod m20261129_000003_create_denylist;
mod m20261129_000004_create_recipes;
mod m20261201_000005_add_credential_epoch;
mod m20261202_000006_session_devices;
mod m20261202_000007_mail_and_resets;
mod m20261202_000008_email_verification;
mod m20261204_000009_mailboxes_and_mail_requests;
mod m20261204_000010_signing_keys;
mod m20261204_000011_service_clients;
mod m20261204_000012_persisted_documents;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_users::Migration),
            Box::new(m20261129_000002_create_sessions::Migration),
            Box::new(m20261129_000003_create_denylist::Migration),
            Box::new(m20261129_000004_create_recipes::Migration),
            Box::new(m20261201_000005_add_credential_epoch::Migration),
            Box::new(m20261202_000006_session_devices::Migration),
            Box::new(m20261202_000007_mail_and_resets::Migration),
            Box::new(m20261202_000008_email_verification::Migration),
            Box::new(m20261204_000009_mailboxes_and_mail_requests::Migration),
            Box::new(m20261204_000010_signing_keys::Migration),
            Box::new(m20261204_000011_service_clients::Migration),
            Box::new(m20261204_000012_persisted_documents::Migration),
        ]
    }
}
