//! Recipes. `search_text` is the lower-cased name, description and ingredients (lower-cased in
//! Rust, so case folding is the same on SQLite and PostgreSQL). The indexes serve keyset
//! pagination: every listing orders by one column and breaks ties by `id`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const ORDER_COLUMNS: [&str; 3] = ["created_at", "cook_time", "num_of_servings"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("recipes")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("author_id"))
                    .col(string_len("name", 100))
                    .col(text("description"))
                    .col(integer("num_of_servings"))
                    .col(integer("cook_time"))
                    .col(text("ingredients"))
                    .col(text("directions"))
                    .col(boolean("is_publish"))
                    .col(text("search_text"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recipes_author")
                            .from("recipes", "author_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for column in ORDER_COLUMNS {
            for (prefix, lead) in [("published", "is_publish"), ("author", "author_id")] {
                manager
                    .create_index(
                        Index::create()
                            .name(format!("idx_recipes_{prefix}_{column}"))
                            .table("recipes")
                            .col(lead)
                            .col(column)
                            .col("id")
                            .if_not_exists()
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("recipes").to_owned())
            .await
    }
}
