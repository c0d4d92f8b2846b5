CREATE TABLE connections (
    id              TEXT    PRIMARY KEY,
    owner           TEXT    NOT NULL,
    display_name    TEXT    NOT NULL,
    type            TEXT    NOT NULL CHECK (type IN ('saml', 'oidc')),
    state           TEXT    NOT NULL CHECK (state IN ('draft', 'active')),
    enforce_sso     BOOLEAN NOT NULL,
    settings        TEXT    NOT NULL,
    revision        BIGINT  NOT NULL,
    create_time_us  BIGINT  NOT NULL,
    update_time_us  BIGINT  NOT NULL
);

CREATE INDEX connections_by_owner ON connections (owner, create_time_us, id);

-- Several connections may cover one domain (of one owner: the domain service lets one owner verify
-- a domain), so the domain alone is not a key.
CREATE TABLE connection_domains (
    connection_id   TEXT    NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    domain_name     TEXT    NOT NULL,
    position        INTEGER NOT NULL,
    PRIMARY KEY (connection_id, domain_name)
);

CREATE INDEX connection_domains_by_domain ON connection_domains (domain_name);

CREATE TABLE connection_sp_keys (
    connection_id       TEXT    NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    key_id              TEXT    NOT NULL,
    sealed_private_key  TEXT    NOT NULL,
    certificate_pem     TEXT    NOT NULL,
    active              BOOLEAN NOT NULL,
    retire_time_us      BIGINT,
    create_time_us      BIGINT  NOT NULL,
    PRIMARY KEY (connection_id, key_id)
);

-- One row holds the last sequence number. Every change increments it in its transaction, so the row
-- lock orders changes: numbers are handed out in commit order and a reader never skips one.
CREATE TABLE connection_change_counter (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT  NOT NULL
);

INSERT INTO connection_change_counter (id, seq) VALUES (1, 0);

CREATE TABLE connection_changes (
    seq             BIGINT  PRIMARY KEY,
    connection_id   TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    change_time_us  BIGINT  NOT NULL
);

CREATE INDEX connection_changes_by_time ON connection_changes (change_time_us);

CREATE TABLE connection_audit_outbox (
    seq             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,
    parent          TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    resource        TEXT    NOT NULL,
    details         TEXT    NOT NULL,
    event_time_us   BIGINT  NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_us BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL
);

CREATE INDEX connection_audit_outbox_due ON connection_audit_outbox (next_attempt_us, seq);
