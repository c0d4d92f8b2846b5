CREATE TABLE domains (
    owner           TEXT    NOT NULL,
    domain_name     TEXT    NOT NULL,
    display_name    TEXT    NOT NULL,
    token           TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'verified')),
    create_time_us  BIGINT  NOT NULL,
    verify_time_us  BIGINT,
    next_check_us   BIGINT,
    check_until_us  BIGINT  NOT NULL,
    PRIMARY KEY (owner, domain_name)
);

-- A domain is verified by one owner at most: the second owner's verification fails on this index.
CREATE UNIQUE INDEX domains_one_verified_owner ON domains (domain_name) WHERE state = 'verified';
CREATE INDEX domains_due ON domains (next_check_us) WHERE next_check_us IS NOT NULL;

CREATE TABLE domain_attempts (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner           TEXT    NOT NULL,
    domain_name     TEXT    NOT NULL,
    attempt_time_us BIGINT  NOT NULL,
    outcome         TEXT    NOT NULL,
    found_values    TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    automatic       BOOLEAN NOT NULL,
    FOREIGN KEY (owner, domain_name) REFERENCES domains (owner, domain_name) ON DELETE CASCADE
);

CREATE INDEX domain_attempts_by_domain ON domain_attempts (owner, domain_name, id DESC);
