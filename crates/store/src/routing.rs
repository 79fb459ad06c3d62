//! Channel routing: the group a new web form or chat conversation goes to, and the web
//! form's topics, each with its group.

use crate::{run, Result, Store, Tx};

stored_row! {
    /// One route as stored: a channel (`web`, `chat`), a topic (`""`: the channel's default)
    /// and its group.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ChannelRouteRow {
        pub channel: String,
        pub topic: String,
        pub group_id: i64,
        pub position: i64,
    }
}

impl Tx {
    /// Replaces every route with `routes`.
    pub async fn replace_channel_routes(&mut self, routes: &[ChannelRouteRow]) -> Result<()> {
        run!(tx self, |c| {
            sqlx::query("DELETE FROM channel_routes").execute(&mut *c).await?;
            for route in routes {
                sqlx::query(
                    "INSERT INTO channel_routes (channel, topic, group_id, position) VALUES ($1, $2, $3, $4)",
                )
                .bind(&route.channel)
                .bind(&route.topic)
                .bind(route.group_id)
                .bind(route.position)
                .execute(&mut *c)
                .await?;
            }
            Ok(())
        })
    }
}

impl Store {
    /// Every route, by channel and position.
    pub async fn channel_routes(&self) -> Result<Vec<ChannelRouteRow>> {
        run!(read self, |p| Ok(sqlx::query_as(
            "SELECT channel, topic, group_id, position FROM channel_routes ORDER BY channel, position, topic"
        )
        .fetch_all(p)
        .await?))
    }
}
