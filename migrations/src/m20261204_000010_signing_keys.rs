//! Signing keys, kept in the database so that every instance signs and verifies with the same
//! set: the public JWK and the private key (PKCS#8, encrypted with a key derived from the server
//! secret), when the key was made, when it starts signing (a new key is published first), and
//! when it was revoked. `generation` is unique: of two instances rotating at once, one wins.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("signing_keys")
                    .if_not_exists()
                    .col(string("kid").primary_key())
                    .col(string("alg"))
                    .col(big_integer_uniq("generation"))
                    .col(text("public_jwk"))
                    .col(text("private_key"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("activates_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("signing_keys").to_owned())
            .await
    }
}
