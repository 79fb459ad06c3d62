-- Surveys and priorities research, SQLite dialect. Keep in step with ../postgres/0008_surveys.sql.

-- What is asked after a conversation is solved, and when, how and of whom (one row).
-- kind: csat, ces or nps; channel: email or portal; sampling_rate from 0 to 1.
CREATE TABLE survey_settings (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    enabled           BOOLEAN NOT NULL,
    kind              TEXT NOT NULL,
    csat_scale_min    INTEGER NOT NULL,
    csat_scale_max    INTEGER NOT NULL,
    -- Empty: the kind's default question.
    question          TEXT NOT NULL,
    delay_minutes     INTEGER NOT NULL,
    channel           TEXT NOT NULL,
    sampling_rate     REAL NOT NULL,
    min_days_between  INTEGER NOT NULL,
    -- How long a link can be answered.
    answer_days       INTEGER NOT NULL,
    -- Where the links in e-mails point (the address customers reach this server at).
    public_url        TEXT NOT NULL,
    updated_at        INTEGER NOT NULL
);
INSERT INTO survey_settings (id, enabled, kind, csat_scale_min, csat_scale_max, question, delay_minutes, channel,
    sampling_rate, min_days_between, answer_days, public_url, updated_at)
VALUES (1, FALSE, 'csat', 1, 5, '', 60, 'email', 1.0, 30, 14, 'http://localhost:8080', 0);

-- One invitation per surveyed conversation. The link's token is stored only as its SHA-256;
-- the question and the scale are copied so that a later change of the settings does not
-- change what an open link asks. The answer (score, comment, kudos) is written once.
CREATE TABLE survey_invitations (
    id              INTEGER PRIMARY KEY,
    conversation    INTEGER NOT NULL UNIQUE REFERENCES conversations(number),
    customer_id     INTEGER NOT NULL REFERENCES customers(id),
    kind            TEXT NOT NULL,
    scale_min       INTEGER NOT NULL,
    scale_max       INTEGER NOT NULL,
    question        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    outbound_id     INTEGER,
    sent_at         INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    answered_at     INTEGER,
    score           INTEGER,
    comment         TEXT,
    kudos_agent_id  INTEGER REFERENCES agents(id)
);
CREATE INDEX survey_invitations_customer ON survey_invitations(customer_id, sent_at);
CREATE INDEX survey_invitations_answered ON survey_invitations(answered_at, id) WHERE answered_at IS NOT NULL;

-- The service attributes of priorities research: the five SERVQUAL dimensions built in,
-- then the team's own. `key` names the CSV columns importance_<key> and performance_<key>.
CREATE TABLE research_attributes (
    id           INTEGER PRIMARY KEY,
    key          TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    description  TEXT NOT NULL,
    builtin      BOOLEAN NOT NULL,
    active       BOOLEAN NOT NULL,
    position     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
INSERT INTO research_attributes (key, label, description, builtin, active, position, created_at) VALUES
    ('reliability', 'Reliability', 'Doing what was promised, dependably and accurately', TRUE, TRUE, 1, 0),
    ('responsiveness', 'Responsiveness', 'Willingness to help and prompt service', TRUE, TRUE, 2, 0),
    ('assurance', 'Assurance', 'Knowledge and courtesy of the team, and the trust they inspire', TRUE, TRUE, 3, 0),
    ('empathy', 'Empathy', 'Caring, individual attention to each customer', TRUE, TRUE, 4, 0),
    ('tangibles', 'Tangibles', 'The look of our tools, messages and materials', TRUE, TRUE, 5, 0);

-- Invitations to priorities research (a link per customer, answered once).
CREATE TABLE research_invitations (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers(id),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    answered_at  INTEGER
);
CREATE INDEX research_invitations_customer ON research_invitations(customer_id);

-- One row per respondent, with the overall satisfaction (1-7) the key-driver analysis explains.
CREATE TABLE research_responses (
    id                    INTEGER PRIMARY KEY,
    invitation_id         INTEGER UNIQUE REFERENCES research_invitations(id),
    customer_id           INTEGER REFERENCES customers(id),
    overall_satisfaction  INTEGER,
    submitted_at          INTEGER NOT NULL
);

-- Importance and performance (1-7) of each attribute in a response; either may be left out.
CREATE TABLE research_ratings (
    response_id   INTEGER NOT NULL REFERENCES research_responses(id),
    attribute_id  INTEGER NOT NULL REFERENCES research_attributes(id),
    importance    INTEGER,
    performance   INTEGER,
    PRIMARY KEY (response_id, attribute_id)
);
