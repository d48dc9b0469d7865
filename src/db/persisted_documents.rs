//! The `persisted_documents` table: operations by the id clients send instead of their text.
//! Trusted rows come from a frontend's manifest (`smilecook documents trust`, or
//! `TRUSTED_DOCUMENTS` at start); the others were registered by clients as automatic persisted
//! queries and are kept to a number, the oldest dropped first.

use sea_orm::{
    ActiveValue::Set, QueryOrder, QuerySelect, TransactionTrait, entity::prelude::*,
    sea_query::OnConflict,
};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "persisted_documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The SHA-256 of `body`, in hex.
    pub hash: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub trusted: bool,
    /// Unix milliseconds.
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id.to_owned()).one(db).await
}

/// A trusted document with this text (by its SHA-256).
pub async fn find_trusted(db: &impl ConnectionTrait, hash: &str) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::Hash.eq(hash))
        .filter(Column::Trusted.eq(true))
        .one(db)
        .await
}

/// Keeps a client's document under its hash (nothing when the id is known already), then drops
/// the oldest client documents beyond `keep`.
pub async fn register(
    db: &impl ConnectionTrait,
    hash: &str,
    body: &str,
    now_ms: i64,
    keep: u64,
) -> Result<(), DbErr> {
    let row = ActiveModel {
        id: Set(hash.to_owned()),
        hash: Set(hash.to_owned()),
        body: Set(body.to_owned()),
        trusted: Set(false),
        created_at: Set(now_ms),
    };
    Entity::insert(row)
        .on_conflict_do_nothing_on([Column::Id])
        .exec_without_returning(db)
        .await?;
    let beyond: Vec<String> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Trusted.eq(false))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .offset(keep)
        .limit(100)
        .into_tuple()
        .all(db)
        .await?;
    if !beyond.is_empty() {
        Entity::delete_many()
            .filter(Column::Id.is_in(beyond))
            .filter(Column::Trusted.eq(false))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Trusts every `(id, hash, body)` of a manifest, in one transaction: new ids are added, known
/// ones take the manifest's text and become trusted.
pub async fn trust(
    db: &DatabaseConnection,
    documents: &[(String, String, String)],
    now_ms: i64,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    for chunk in documents.chunks(200) {
        let rows = chunk.iter().map(|(id, hash, body)| ActiveModel {
            id: Set(id.clone()),
            hash: Set(hash.clone()),
            body: Set(body.clone()),
            trusted: Set(true),
            created_at: Set(now_ms),
        });
        Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(Column::Id)
                    .update_columns([Column::Hash, Column::Body, Column::Trusted])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await
}

/// The trusted documents, by id.
pub async fn trusted(db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::Trusted.eq(true))
        .order_by_asc(Column::Id)
        .all(db)
        .await
}

/// Stops trusting a document (a client may still have registered the same text); false when
/// no trusted document has this id.
pub async fn distrust(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let result = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::Trusted.eq(true))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
