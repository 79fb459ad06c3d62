-- Magic-link sign-in to the customer portal, PostgreSQL dialect. Keep in step with
-- ../sqlite/0007_portal_links.sql.

-- A sign-in link sent by e-mail: only the SHA-256 of its secret is kept. It works once
-- (`used_at`) and until `expires_at`.
CREATE TABLE portal_links (
    id            BIGSERIAL PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    customer_id   BIGINT NOT NULL REFERENCES customers(id),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT
);
CREATE INDEX portal_links_customer_time ON portal_links(customer_id, created_at);

-- Mail that belongs to no conversation (a sign-in link) goes through the same outbound
-- queue, so `outbound_mail.conversation` may now be empty.
ALTER TABLE outbound_mail ALTER COLUMN conversation DROP NOT NULL;
