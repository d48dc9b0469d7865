//! Pagination cursors: opaque to clients, but inside a versioned text naming the ordering it
//! belongs to and the row's place in it (`v1:cook_time:asc:45:<uuid>`), in URL-safe base64.
//! A cursor is a position, not a snapshot: it stays valid while rows come and go.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::DateTime;
use uuid::Uuid;

use crate::{
    db::recipe_pages::{Direction, Order, OrderField, Position, SortValue},
    error::{AppError, AppResult},
};

const VERSION: &str = "v1";

pub fn encode(order: Order, position: &Position) -> String {
    let value = match &position.value {
        SortValue::Time(t) => t.timestamp_micros().to_string(),
        SortValue::Int(n) => n.to_string(),
    };
    let text = format!(
        "{VERSION}:{}:{}:{value}:{}",
        field_name(order.field),
        direction_name(order.direction),
        position.id
    );
    URL_SAFE_NO_PAD.encode(text)
}

/// The position `cursor` marks in `order`; BAD_USER_INPUT (field `after`) when it is garbled
/// or was made for another ordering.
pub fn decode(cursor: &str, order: Order) -> AppResult<Position> {
    let invalid = || {
        AppError::input(
            "after",
            "This cursor is not valid: pass a `cursor` or `endCursor` from an earlier page.",
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let parts: Vec<&str> = text.split(':').collect();
    let [VERSION, field, direction, value, id] = parts[..] else {
        return Err(invalid());
    };
    if field != field_name(order.field) || direction != direction_name(order.direction) {
        return Err(AppError::input(
            "after",
            "This cursor belongs to another ordering: use it with the `orderBy` it came from.",
        ));
    }
    let value = match order.field {
        OrderField::CreatedAt => value
            .parse()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .map(SortValue::Time),
        OrderField::CookTime | OrderField::NumOfServings => value.parse().ok().map(SortValue::Int),
    };
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok(Position {
        value: value.ok_or_else(invalid)?,
        id,
    })
}

fn field_name(field: OrderField) -> &'static str {
    match field {
        OrderField::CreatedAt => "created_at",
        OrderField::CookTime => "cook_time",
        OrderField::NumOfServings => "num_of_servings",
    }
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Asc => "asc",
        Direction::Desc => "desc",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOK_ASC: Order = Order {
        field: OrderField::CookTime,
        direction: Direction::Asc,
    };

    #[test]
    fn a_cursor_decodes_to_the_position_it_encodes() {
        let position = Position {
            value: SortValue::Time(crate::time::now()),
            id: Uuid::now_v7(),
        };
        let cursor = encode(Order::default(), &position);
        assert_eq!(decode(&cursor, Order::default()).ok(), Some(position));
    }

    #[test]
    fn a_cursor_is_refused_by_another_ordering() {
        let position = Position {
            value: SortValue::Int(45),
            id: Uuid::now_v7(),
        };
        let cursor = encode(COOK_ASC, &position);
        let desc = Order {
            direction: Direction::Desc,
            ..COOK_ASC
        };
        assert!(decode(&cursor, COOK_ASC).is_ok());
        assert!(decode(&cursor, desc).is_err());
        assert!(decode(&cursor, Order::default()).is_err());
    }

    #[test]
    fn garbled_cursors_are_refused() {
        let forged = URL_SAFE_NO_PAD.encode("v1:cook_time:asc:many:not-a-uuid");
        for bad in ["", "!!!", "djE", forged.as_str()] {
            assert!(decode(bad, COOK_ASC).is_err(), "{bad} should be refused");
        }
    }
}
